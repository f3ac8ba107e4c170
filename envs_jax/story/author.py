"""Scripted authors: a baseline that remembers what it was shown, and the same without memory.

:class:`ScriptedAuthor` keeps a *belief* about the world, a :class:`Facts` table it updates from
each observation with the world's own rules (:func:`envs_jax.story.rules.apply_event`): the
prologue's facts, every event written without contradiction, and who is in the scene. From the
belief it plans the next event toward the goal on show, or, between chapters, toward the oldest
remembered thread once it has waited ``thread_patience`` steps:

* ``take`` o (at p): take it where it is; if it must be taken at p, first bring it there (its
  carrier goes to p, or the subject takes it and goes).
* ``drop`` o at p: take it first if the subject does not carry it.
* ``tell`` k: if the subject does not know k, a character believed to know it tells it where the
  subject is (a random other character when nobody is known to).
* ``meet``/``kill``: written directly (at the subject's place when any place will do).

With ``remember=False`` the belief is rebuilt from the current observation alone each step:
unknown places are guessed at random, nobody is believed to know a secret, threads are seen only
in the step they open. Comparing the two measures what memory is worth in a given world.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs_jax.story.env import Story
from envs_jax.story.rules import (
    apply_event,
    decode_tokens,
    encode_action,
    object_places,
    token_matches,
)
from envs_jax.story.types import (
    DROP,
    GO,
    INVALID_FLAG,
    NONE_TOKEN,
    TAKE,
    TELL,
    THREAD_FLAG,
    Facts,
    StoryParams,
)


@struct.dataclass
class AuthorState:
    """What a scripted author carries from one step to the next."""

    belief: Facts  # the author's belief about the fact table
    threads: jax.Array  # [T, 4] int32, remembered open threads' events (tokens)
    thread_time: jax.Array  # [T] int32, observation time each was opened, -1 for a free slot
    time: jax.Array  # [] int32, time of the last observation taken in (-1 before the first)


class ScriptedAuthor:
    """A rule-based author for :class:`Story`, with or without memory.

    Args:
        env: the story environment (its config sizes the belief).
        remember: keep the belief across steps (False: only the current observation).
        thread_patience: steps a thread must have waited before the author keeps it; None uses
            ``params.thread_full_lag`` (the wait that earns the full thread reward).
    """

    def __init__(self, env: Story, remember: bool = True, thread_patience: int | None = None):
        self.env = env
        self.config = env.config
        self.remember = bool(remember)
        self.thread_patience = thread_patience

    def initial_state(self, key: jax.Array) -> AuthorState:
        """The belief before any observation: everyone alive, places guessed, no secrets known."""
        cfg = self.config
        key_chars, key_objs = jax.random.split(key)
        belief = Facts(
            alive=jnp.ones((cfg.num_characters,), jnp.bool_),
            char_place=jax.random.randint(key_chars, (cfg.num_characters,), 0, cfg.num_places),
            obj_holder=jnp.full((cfg.num_objects,), -1, jnp.int32),
            obj_place=jax.random.randint(key_objs, (cfg.num_objects,), 0, cfg.num_places),
            knows=jnp.zeros((cfg.num_characters, cfg.num_secrets), jnp.bool_),
        )
        return AuthorState(
            belief=belief,
            threads=jnp.zeros((cfg.num_threads, 4), jnp.int32),
            thread_time=jnp.full((cfg.num_threads,), -1, jnp.int32),
            time=jnp.int32(-1),
        )

    def observe(
        self,
        key: jax.Array,
        state: AuthorState,
        obs: dict,
        remember: bool | jax.Array | None = None,
    ) -> AuthorState:
        """Takes in one observation (the reset one first).

        Args:
            key: PRNG key (guesses for a forgetful author).
            state: the author's state.
            obs: the observation.
            remember: overrides the constructor's ``remember``; may be a traced bool [], so one
                compiled rollout can run both authors.
        """
        remember = self.remember if remember is None else remember
        if remember is not True:
            blank = self.initial_state(key).replace(time=state.time)
            state = jax.tree.map(lambda kept, new: jnp.where(remember, kept, new), state, blank)
        cfg = self.config
        time = state.time + 1
        belief = state.belief
        present = obs["present"] > 0
        belief = belief.replace(
            char_place=jnp.where(present, obs["place"], belief.char_place),
            alive=belief.alive | present,
        )
        verb, subject, arg, place = decode_tokens(cfg, obs["event"])
        rejected = jnp.any(obs["outcome"][: INVALID_FLAG + 1] > 0)
        written = (obs["event"][0] != NONE_TOKEN) & ~rejected
        belief = apply_event(belief, verb, subject, arg, place, written)

        threads, thread_time = state.threads, state.thread_time
        if cfg.num_threads:
            kept = token_matches(threads, obs["event"]) & (obs["outcome"][THREAD_FLAG] > 0)
            thread_time = jnp.where(kept, -1, thread_time)
            opened = obs["thread"][0] != NONE_TOKEN
            free = thread_time < 0
            slot = (jnp.arange(cfg.num_threads) == jnp.argmax(free)) & opened & jnp.any(free)
            threads = jnp.where(slot[:, None], obs["thread"], threads)
            thread_time = jnp.where(slot, time, thread_time)
        return AuthorState(belief=belief, threads=threads, thread_time=thread_time, time=time)

    def act(self, key: jax.Array, state: AuthorState, obs: dict, params: StoryParams) -> jax.Array:
        """The next action (int32 []) given the belief and the current observation."""
        in_prologue = ~jnp.any(obs["action_mask"][1:])
        goal = obs["goal"]
        goal_on = goal[0] != NONE_TOKEN
        patience = params.thread_full_lag if self.thread_patience is None else self.thread_patience
        if self.config.num_threads:
            age = state.time - state.thread_time
            ready = (state.thread_time >= 0) & (age >= patience)
            oldest = jnp.argmax(jnp.where(ready, age, -1))
            target = jnp.where(goal_on, goal, state.threads[oldest])
            active = goal_on | jnp.any(ready)
        else:
            target, active = goal, goal_on
        action = self._plan(key, state.belief, target)
        return jnp.where(active & ~in_prologue, action, 0).astype(jnp.int32)

    def step(
        self,
        key: jax.Array,
        state: AuthorState,
        obs: dict,
        params: StoryParams,
        remember: bool | jax.Array | None = None,
    ) -> tuple[AuthorState, jax.Array]:
        """``observe`` then ``act``: the new author state and the action for ``obs``."""
        key_observe, key_act = jax.random.split(key)
        state = self.observe(key_observe, state, obs, remember)
        return state, self.act(key_act, state, obs, params)

    def _plan(self, key: jax.Array, belief: Facts, target: jax.Array) -> jax.Array:
        """The next event toward ``target`` (int32 [4] tokens), as a flat action."""
        cfg = self.config
        verb, subject, arg, place = decode_tokens(cfg, target)

        def write(v, s, a, p):
            return encode_action(cfg, v, s, a, p)

        here = belief.char_place[subject]
        at = jnp.where(place < 0, here, place)
        obj = jnp.clip(arg, 0, cfg.num_objects - 1)
        obj_at = object_places(belief)[obj]
        holder = belief.obj_holder[obj]
        take_here = (place < 0) | (obj_at == place)
        take = jnp.where(
            take_here,
            write(TAKE, subject, obj, obj_at),
            jnp.where(holder >= 0, write(GO, holder, 0, place), write(TAKE, subject, obj, obj_at)),
        )
        drop = jnp.where(
            holder == subject, write(DROP, subject, obj, at), write(TAKE, subject, obj, obj_at)
        )

        secret = jnp.clip(arg, 0, cfg.num_secrets - 1)
        chars = jnp.arange(cfg.num_characters)
        knowers = belief.knows[:, secret] & belief.alive & (chars != subject)
        guess = (subject + 1 + jax.random.randint(key, (), 0, cfg.num_characters - 1)) % (
            cfg.num_characters
        )
        helper = jnp.where(jnp.any(knowers), jnp.argmax(knowers), guess)
        tell = jnp.where(
            belief.knows[subject, secret],
            write(TELL, subject, secret, at),
            write(TELL, helper, secret, here),
        )
        direct = write(verb, subject, arg, at)
        return jnp.select([verb == TAKE, verb == DROP, verb == TELL], [take, drop, tell], direct)
