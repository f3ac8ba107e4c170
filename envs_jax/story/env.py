"""The :class:`Story` environment (see the package docstring for the full description)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from envs_jax.core import MemoryEnv, ObservationDict, clip_action, memory_info
from envs_jax.story.generator import generate
from envs_jax.story.render import render_rgb, render_text
from envs_jax.story.rules import (
    apply_event,
    check_event,
    decode_action,
    event_tokens,
    grammar_mask,
    mark_seen,
    object_places,
    token_matches,
)
from envs_jax.story.types import (
    ARG_CHARACTER,
    ARG_OBJECT,
    ARG_SECRET,
    NONE_TOKEN,
    NUM_OUTCOME_FLAGS,
    REST,
    VERB_ARG_KIND,
    Facts,
    StoryConfig,
    StoryParams,
    StoryState,
)
from envs_jax.validation import PROBABILITY, integer, real


class Written(NamedTuple):
    """The author's action, written into the world (or not)."""

    allowed: jax.Array  # [] bool the grammar (and the prologue) allowed the action
    verb: jax.Array  # [] int32 the verb written (REST when not allowed)
    subject: jax.Array  # [] int32
    arg: jax.Array  # [] int32
    place: jax.Array  # [] int32
    acting: jax.Array  # [] bool an event other than rest
    contradiction: jax.Array  # [3] bool which contradiction kinds the event commits
    consistent: jax.Array  # [] bool it contradicts nothing
    applied: jax.Array  # [] bool it changed the world (acting and consistent)
    facts: Facts  # the world's facts after the event
    narrating: jax.Array  # [] bool the next observation narrates a prologue fact
    narrated: jax.Array  # [4] int32 that fact (verb, subject, argument, place)
    shown: jax.Array  # [4] int32 the event the next observation shows
    tokens: jax.Array  # [4] int32 its tokens


class Threads(NamedTuple):
    """The threads after the step (``T = num_threads``)."""

    hit: jax.Array  # [T] bool resolved by this event
    bonus: jax.Array  # [] float32 reward for resolving them
    lag: jax.Array  # [] int32 the longest wait of a resolved thread, -1 if none
    kept: jax.Array  # [T] bool kept after their full wait
    open_time: jax.Array  # [T] int32 when each opened, -1 if not yet
    new_thread: jax.Array  # [4] int32 the thread this event opened (NONE_TOKEN if none)


class Story(MemoryEnv):
    """Procedural story writing: the agent is the author of a generated world's story.

    Args:
        config: a :class:`StoryConfig` (its defaults when None).
        privileged: add the hidden fact table to the observation (key ``"privileged"``).
    """

    config_cls = StoryConfig
    params_cls = StoryParams
    env_id = "story"
    param_rules = {
        "max_steps_in_episode": integer(1),
        "chapter_len": integer(1),
        "goal_reward": real(),
        "thread_reward": real(),
        "thread_full_lag": integer(1),
        "contradiction_penalty": real(0),
        "invalid_action_penalty": real(0),
        "anywhere_prob": PROBABILITY,
        "carried_prob": PROBABILITY,
        "friend_prob": PROBABILITY,
        "rival_prob": PROBABILITY,
        "kin_prob": PROBABILITY,
    }

    def __init__(self, config: StoryConfig | None = None, privileged: bool = False):
        super().__init__(config, privileged)
        self._grammar = grammar_mask(self.config)
        self._rest_only = np.zeros_like(self._grammar)
        self._rest_only[0] = True

    @property
    def default_params(self) -> StoryParams:
        return StoryParams()

    @property
    def num_actions(self) -> int:
        return self.config.num_actions

    def action_space(self, params: StoryParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.config.num_actions)

    def observation_space(self, params: StoryParams | None = None) -> spaces.Dict:
        cfg = self.config
        top = cfg.vocabulary.size - 1
        obs = {
            "event": spaces.Box(0, top, (4,), jnp.int32),
            "outcome": spaces.Box(0, 1, (NUM_OUTCOME_FLAGS,), jnp.int32),
            "place": spaces.Box(0, cfg.num_places - 1, (), jnp.int32),
            "present": spaces.Box(0, 1, (cfg.num_characters,), jnp.int32),
            "goal": spaces.Box(0, top, (4,), jnp.int32),
            "thread": spaces.Box(0, top, (4,), jnp.int32),
            "action_mask": spaces.Box(0, 1, (cfg.num_actions,), jnp.bool_),
        }
        if self.privileged:
            obs["privileged"] = spaces.Box(0, top, (cfg.privileged_size,), jnp.int32)
        return ObservationDict(obs)

    # ----------------------------------------------------------------------------------------
    def reset_env(self, key: jax.Array, params: StoryParams) -> tuple[dict, StoryState]:
        state = generate(key, self.config, params)
        return self.get_obs(state, params), state

    def step_env(
        self, key: jax.Array, state: StoryState, action: jax.Array, params: StoryParams
    ) -> tuple[dict, StoryState, jax.Array, jax.Array, dict[str, Any]]:
        del key  # the story is deterministic given the author's events
        cfg = self.config
        t = state.time
        written = self._write(state, clip_action(action, cfg.num_actions))

        # Plot goals: the current goal is on show from its chapter's first step.
        num_goals = cfg.num_goals
        goal_index = state.goal_index
        goal_open = (goal_index < num_goals) & (t >= self._unlock_time(goal_index, params))
        goal_tokens = state.goals[jnp.minimum(goal_index, num_goals - 1)]
        fact_lag = self._fact_lag(state, written, goal_open, goal_tokens)
        goal_hit = written.applied & goal_open & token_matches(goal_tokens, written.tokens)
        goal_done_time = jnp.where(
            goal_hit & (jnp.arange(num_goals) == goal_index), t + 1, state.goal_done_time
        )
        threads = self._threads(state, written, goal_hit, params)

        reward = (
            params.goal_reward * goal_hit
            + threads.bonus
            - params.contradiction_penalty * jnp.sum(written.contradiction)
            - params.invalid_action_penalty * ~written.allowed
        ).astype(jnp.float32)

        # The scene in focus, and what the next observation shows of whom.
        narrating = written.narrating
        focus = jnp.where(
            narrating, written.narrated[3], jnp.where(written.applied, written.place, state.focus)
        )
        present = written.facts.alive & (written.facts.char_place == focus)
        outcome = jnp.concatenate(
            [
                written.contradiction.astype(jnp.int32),
                jnp.stack([~written.allowed, goal_hit, jnp.any(threads.hit)]).astype(jnp.int32),
            ]
        )
        char_seen, obj_seen, secret_seen = mark_seen(
            cfg,
            (state.char_seen, state.obj_seen, state.secret_seen),
            written.shown,
            present,
            t + 1,
            narrating | written.applied,
        )

        new_state = state.replace(
            time=t + 1,
            facts=written.facts,
            goal_index=goal_index + goal_hit.astype(jnp.int32),
            goal_done_time=goal_done_time,
            thread_open_time=threads.open_time,
            thread_resolved=state.thread_resolved | threads.hit,
            thread_kept=threads.kept,
            char_seen=char_seen,
            obj_seen=obj_seen,
            secret_seen=secret_seen,
            last_event=written.tokens,
            last_outcome=outcome,
            last_thread=threads.new_thread,
            focus=focus.astype(jnp.int32),
            **self._record(state, written, outcome),
            contradictions=state.contradictions + written.contradiction.astype(jnp.int32),
        )
        terminated = self.is_terminated(new_state, params)
        # Success: goals written and threads kept (after the full wait), in a story without
        # a contradiction; a reactive author can copy goals but neither keep threads nor
        # avoid contradicting facts it was told long ago.
        done = new_state.goal_index + jnp.sum(threads.kept)
        success = jnp.where(
            jnp.any(new_state.contradictions > 0), 0.0, done / (num_goals + cfg.num_threads)
        )
        info = memory_info(jnp.maximum(fact_lag, threads.lag), written.consistent, success)
        info["contradiction"] = written.contradiction.astype(jnp.int32)
        info["invalid_action"] = ~written.allowed
        info["goal_completed"] = goal_hit
        info["thread_resolved"] = jnp.any(threads.hit)
        return self.get_obs(new_state, params), new_state, reward, terminated, info

    def _write(self, state: StoryState, action: jax.Array) -> Written:
        """Writes the action's event into the world, unless it is forbidden (then it is a
        ``rest``, with a penalty) or contradicts the story (then the world does not change).

        Args:
            state: the state before the step.
            action: int32 [] in range.
        """
        cfg = self.config
        prologue_len = cfg.prologue_len
        t = state.time
        narrating = t + 1 < prologue_len
        in_prologue = t < prologue_len - 1
        allowed = jnp.asarray(self._grammar)[action] & (~in_prologue | (action == 0))
        verb, subject, arg, place = decode_action(cfg, action)
        verb = jnp.where(allowed, verb, REST)
        acting = verb != REST

        contradiction = check_event(state.facts, verb, subject, arg, place) & acting
        consistent = ~jnp.any(contradiction)
        applied = acting & consistent
        facts = apply_event(state.facts, verb, subject, arg, place, applied)
        # What the next observation shows: the next prologue fact, or the event written. The
        # author can only rest while the prologue is told, so the two never compete.
        narrated = state.prologue[jnp.minimum(t + 1, prologue_len - 1)]
        written = jnp.stack([verb, subject, arg, place])
        shown = jnp.where(narrating, narrated, written)
        return Written(
            allowed=allowed,
            verb=verb,
            subject=subject,
            arg=arg,
            place=place,
            acting=acting,
            contradiction=contradiction,
            consistent=consistent,
            applied=applied,
            facts=facts,
            narrating=narrating,
            narrated=narrated,
            shown=shown,
            tokens=event_tokens(cfg, shown[0], shown[1], shown[2], shown[3]),
        )

    def _fact_lag(
        self, state: StoryState, written: Written, goal_open: jax.Array, goal_tokens: jax.Array
    ) -> jax.Array:
        """The memory lag of the event (int32 [], -1 when none): the stalest fact it relied on
        that the observation it was written from did not show.

        Entities named by the goal or thread on show count as shown now (the plot guarantees
        the goal can be written), so copying the goal on show is no memory decision; an event
        relying only on what is shown reports no lag.
        """
        cfg = self.config
        t = state.time
        subject, arg = written.subject, written.arg
        kind = jnp.asarray(VERB_ARG_KIND)[written.verb]
        not_needed = jnp.iinfo(jnp.int32).max  # a verb without an argument relies on none
        on_show = jnp.stack([jnp.where(goal_open, goal_tokens, NONE_TOKEN), state.last_thread])
        char_token = subject + cfg.vocabulary.character_base
        arg_token = jnp.asarray(cfg.vocabulary.arg_base())[kind] + arg

        def shown_now(token):
            return jnp.any(on_show[:, 1:3] == token)

        char_arg = jnp.clip(arg, 0, cfg.num_characters - 1)
        oldest = jnp.minimum(
            jnp.where(shown_now(char_token), t, state.char_seen[subject]),
            jnp.where(
                shown_now(arg_token),
                t,
                jnp.select(
                    [kind == ARG_CHARACTER, kind == ARG_OBJECT, kind == ARG_SECRET],
                    [
                        state.char_seen[char_arg],
                        state.obj_seen[jnp.clip(arg, 0, cfg.num_objects - 1)],
                        state.secret_seen[jnp.clip(arg, 0, cfg.num_secrets - 1)],
                    ],
                    not_needed,
                ),
            ),
        )
        return jnp.where(written.acting & (t - oldest > 0), t - oldest, -1)

    @staticmethod
    def _threads(
        state: StoryState, written: Written, goal_hit: jax.Array, params: StoryParams
    ) -> Threads:
        """Threads: resolving an open one pays more the longer it has waited; completing its
        goal opens one (shown once, in the next observation)."""
        t = state.time
        open_threads = (state.thread_open_time >= 0) & ~state.thread_resolved
        hit = written.applied & open_threads & token_matches(state.threads, written.tokens)
        waited = t - state.thread_open_time
        ramp = jnp.minimum(1.0, waited / jnp.maximum(params.thread_full_lag, 1))
        opened = goal_hit & (state.thread_opener == state.goal_index)
        new_thread = jnp.sum(jnp.where(opened[:, None], state.threads, 0), axis=0)
        return Threads(
            hit=hit,
            bonus=jnp.sum(jnp.where(hit, params.thread_reward * ramp, 0.0)),
            lag=jnp.max(jnp.where(hit, waited, -1), initial=-1),
            kept=state.thread_kept | (hit & (waited >= params.thread_full_lag)),
            open_time=jnp.where(opened, t + 1, state.thread_open_time),
            new_thread=jnp.where(jnp.any(opened), new_thread, NONE_TOKEN).astype(jnp.int32),
        )

    def _record(self, state: StoryState, written: Written, outcome: jax.Array) -> dict:
        """The story ring's fields after the step: it keeps every narrated or written event
        (not rests)."""
        history_len = self.config.history_len
        record = written.narrating | written.acting
        slot = jax.lax.rem(state.history_count, jnp.int32(history_len))
        at_slot = (jnp.arange(history_len) == slot) & record
        return {
            "history": jnp.where(at_slot[:, None], written.tokens, state.history),
            "history_outcome": jnp.where(at_slot[:, None], outcome, state.history_outcome),
            "history_time": jnp.where(at_slot, state.time + 1, state.history_time),
            "history_count": state.history_count + record.astype(jnp.int32),
        }

    def is_terminated(self, state: StoryState, params: StoryParams) -> jax.Array:
        """The story is finished: every goal completed and every thread resolved."""
        return (state.goal_index >= self.config.num_goals) & jnp.all(state.thread_resolved)

    def _unlock_time(self, goal_index: jax.Array, params: StoryParams) -> jax.Array:
        """int32 [] the first observation time at which goal ``goal_index`` is on show."""
        return self.config.prologue_len + goal_index * params.chapter_len

    # ----------------------------------------------------------------------------------------
    def get_obs(self, state: StoryState, params: StoryParams, key: Any = None) -> dict:
        """The observation of a state (see the module docstring for the keys)."""
        cfg = self.config
        facts = state.facts
        goal_index = state.goal_index
        goal_on = (goal_index < cfg.num_goals) & (
            state.time >= self._unlock_time(goal_index, params)
        )
        goal = jnp.where(goal_on, state.goals[jnp.minimum(goal_index, cfg.num_goals - 1)], 0)
        in_prologue = state.time < cfg.prologue_len - 1
        present = facts.alive & (facts.char_place == state.focus)
        obs = {
            "event": state.last_event,
            "outcome": state.last_outcome,
            "place": state.focus,
            "present": present.astype(jnp.int32),
            "goal": goal.astype(jnp.int32),
            "thread": state.last_thread,
            "action_mask": jnp.where(
                in_prologue, jnp.asarray(self._rest_only), jnp.asarray(self._grammar)
            ),
        }
        if self.privileged:
            obs["privileged"] = self.privileged_facts(state)
        return obs

    def privileged_facts(self, state: StoryState) -> jax.Array:
        """int32 [F] the hidden fact table, ``F = 2C + 2O + C*S + 5T``.

        Layout: alive [C] (0/1); each character's place [C]; each object's carrier + 1 [O]
        (0 when it lies); each object's place [O] (its carrier's when carried); who knows which
        secret [C * S] (0/1, row-major); each thread's status [T] (0 not opened, 1 open,
        2 resolved); each thread's resolving event [T * 4] (tokens).
        """
        facts = state.facts
        status = jnp.where(state.thread_resolved, 2, jnp.where(state.thread_open_time >= 0, 1, 0))
        parts = [
            facts.alive.astype(jnp.int32),
            facts.char_place,
            facts.obj_holder + 1,
            object_places(facts),
            facts.knows.reshape(-1).astype(jnp.int32),
            status.astype(jnp.int32),
            state.threads.reshape(-1),
        ]
        return jnp.concatenate(parts).astype(jnp.int32)

    # ----------------------------------------------------------------------------------------
    def render_text(self, state: StoryState, params: StoryParams) -> str:
        return render_text(self.config, state, params)

    def render_rgb(self, state: StoryState, params: StoryParams) -> np.ndarray:
        return render_rgb(self.config, state, params)
