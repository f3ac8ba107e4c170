"""Procedural generation of a story world, its plot and its threads (runs in ``reset_env``).

Solvable by construction:

* Characters get one of three roles from a random permutation: ``num_dead_at_start`` are dead
  before the story begins, ``num_plot_kills`` are *victims* (alive until the plot goal that kills
  them), the rest are *survivors* (alive to the end, unless the author kills them).
* Every secret's first keeper is a survivor, so each secret can always still be learned.
* Plot goal ``i`` only names characters alive at goal ``i``: victims appear until their killing
  goal, never after. The killer of a victim is one of the victim's rivals when one is available.
* Threads name survivors only, so every thread stays resolvable at any time.
* Objects are never destroyed: whoever is alive can go and take one wherever it is.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax.story.rules import event_tokens, mark_seen, object_places
from envs_jax.story.types import (
    CARRIES,
    DROP,
    IS_AT,
    KILL,
    KIN,
    KNOWS,
    LIES,
    LIES_DEAD,
    MEET,
    NONE_TOKEN,
    NUM_CONTRADICTIONS,
    NUM_OUTCOME_FLAGS,
    RIVAL,
    STRANGER,
    TAKE,
    TELL,
    Facts,
    StoryConfig,
    StoryParams,
    StoryState,
)
from envs_jax.story.types import FRIEND as FRIEND_RELATION

#: Verbs a (non-killing) plot goal draws from, uniformly.
GOAL_VERBS = (MEET, TAKE, DROP, TELL)
#: Verbs a thread's resolving event draws from, uniformly.
THREAD_VERBS = (MEET, TAKE, TELL)


class Draws:
    """Every uniform number a world needs, from a single draw, handed out by name.

    One ``jax.random.uniform`` call keeps the generator's compiled program small (each random
    call is its own threefry computation); every named part is an independent slice.

    Args:
        key: PRNG key.
        shapes: name -> shape of each part.
    """

    def __init__(self, key: jax.Array, shapes: dict[str, tuple[int, ...]]):
        sizes = [int(np.prod(shape)) for shape in shapes.values()]
        flat = jax.random.uniform(key, (sum(sizes),))
        offsets = np.cumsum([0, *sizes])
        self.parts = {
            name: flat[offsets[i] : offsets[i + 1]].reshape(shape)
            for i, (name, shape) in enumerate(shapes.items())
        }

    def __getitem__(self, name: str) -> jax.Array:
        return self.parts[name]


def below(u: jax.Array, n: int | jax.Array) -> jax.Array:
    """Uniform integers in [0, n) from uniforms in [0, 1) (int32, same shape)."""
    return jnp.minimum((u * n).astype(jnp.int32), n - 1)


def masked_choice(u: jax.Array, allowed: jax.Array) -> jax.Array:
    """A uniformly random index among the True entries of ``allowed``.

    Args:
        u: float [..., N] uniforms in [0, 1).
        allowed: bool [..., N].

    Returns:
        int32 [...] (index 0 when nothing is allowed).
    """
    return jnp.argmax(jnp.where(allowed, u, -1.0), axis=-1).astype(jnp.int32)


def random_order(u: jax.Array) -> jax.Array:
    """A uniformly random permutation (int32 [N]) from N uniforms."""
    return jnp.argsort(u).astype(jnp.int32)


def _relations(u: jax.Array, params: StoryParams) -> jax.Array:
    """int32 [C, C] symmetric relations drawn per pair with the params' probabilities."""
    num_characters = u.shape[0]
    edges = jnp.cumsum(jnp.stack([params.friend_prob, params.rival_prob, params.kin_prob]))
    drawn = jnp.select(
        [u < edges[0], u < edges[1], u < edges[2]], [FRIEND_RELATION, RIVAL, KIN], STRANGER
    )
    rows, cols = jnp.meshgrid(jnp.arange(num_characters), jnp.arange(num_characters), indexing="ij")
    symmetric = jnp.where(rows < cols, drawn, drawn.T)
    return jnp.where(rows == cols, STRANGER, symmetric).astype(jnp.int32)


def generate(key: jax.Array, config: StoryConfig, params: StoryParams) -> StoryState:
    """Generates a world, its plot and threads, and the initial state (time 0).

    Args:
        key: PRNG key of the episode.
        config: static sizes.
        params: sweepable generation probabilities.

    Returns:
        The initial :class:`StoryState`: the first prologue fact is on show.
    """
    c, p, o, s = config.num_characters, config.num_places, config.num_objects, config.num_secrets
    g, t, d, k = (
        config.num_goals,
        config.num_threads,
        config.num_dead_at_start,
        config.num_plot_kills,
    )
    u = Draws(
        key,
        {
            "roles": (c,),
            "places": (c,),
            "keepers": (s, c),
            "carried": (o,),
            "carriers": (o, c),
            "lying": (o,),
            "relations": (c, c),
            "kill_slots": (g,),
            "goal_verbs": (g,),
            "goal_subjects": (g, c),
            "goal_targets": (g, c),
            "goal_args": (g,),
            "goal_places": (g,),
            "goal_anywhere": (g,),
            "thread_openers": (max(g - 1, 1),),
            "thread_verbs": (t,),
            "thread_subjects": (t, c),
            "thread_targets": (t, c),
            "thread_args": (t,),
            "thread_places": (t,),
            "prologue": (config.prologue_len,),
        },
    )
    chars = jnp.arange(c)

    # Roles: rank in a random permutation.
    rank = jnp.argsort(random_order(u["roles"]))
    alive = rank >= d
    victim = alive & (rank < d + k)
    survivor = rank >= d + k
    char_place = below(u["places"], p)

    keepers = masked_choice(u["keepers"], survivor[None, :])
    knows = chars[:, None] == keepers[None, :]

    carried = u["carried"] < params.carried_prob
    carriers = masked_choice(u["carriers"], alive[None, :])
    obj_holder = jnp.where(carried, carriers, -1)
    obj_place = jnp.where(carried, char_place[carriers], below(u["lying"], p))
    facts = Facts(
        alive=alive,
        char_place=char_place.astype(jnp.int32),
        obj_holder=obj_holder.astype(jnp.int32),
        obj_place=obj_place.astype(jnp.int32),
        knows=knows,
    )
    relations = _relations(u["relations"], params)

    goal_events = _plot(u, config, params, alive, victim, rank, relations)
    thread_events, thread_opener = _threads(u, config, survivor)
    prologue = _prologue(u["prologue"], config, facts, keepers)
    # One token conversion for the goals, the threads and the first narrated fact.
    events = jnp.concatenate([goal_events, thread_events, prologue[:1]], axis=0)
    tokens = jax.vmap(lambda e: event_tokens(config, e[0], e[1], e[2], e[3]))(events)
    goals, threads, first = tokens[:g], tokens[g : g + t], tokens[g + t]

    focus = prologue[0, 3]
    present = alive & (char_place == focus)
    zeros = tuple(jnp.zeros((n,), jnp.int32) for n in (c, o, s))
    char_seen, obj_seen, secret_seen = mark_seen(
        config, zeros, prologue[0], present, jnp.int32(0), jnp.bool_(True)
    )
    history_len = config.history_len
    no_outcome = jnp.zeros((NUM_OUTCOME_FLAGS,), jnp.int32)
    return StoryState(
        time=jnp.int32(0),
        facts=facts,
        relations=relations,
        prologue=prologue,
        goals=goals,
        goal_index=jnp.int32(0),
        goal_done_time=jnp.full((g,), -1, jnp.int32),
        threads=threads,
        thread_opener=thread_opener,
        thread_open_time=jnp.full((t,), -1, jnp.int32),
        thread_resolved=jnp.zeros((t,), jnp.bool_),
        thread_kept=jnp.zeros((t,), jnp.bool_),
        char_seen=char_seen,
        obj_seen=obj_seen,
        secret_seen=secret_seen,
        last_event=first,
        last_outcome=no_outcome,
        last_thread=jnp.full((4,), NONE_TOKEN, jnp.int32),
        focus=focus.astype(jnp.int32),
        history=jnp.zeros((history_len, 4), jnp.int32).at[0].set(first),
        history_outcome=jnp.zeros((history_len, NUM_OUTCOME_FLAGS), jnp.int32),
        history_time=jnp.full((history_len,), -1, jnp.int32).at[0].set(0),
        history_count=jnp.int32(1),
        contradictions=jnp.zeros((NUM_CONTRADICTIONS,), jnp.int32),
    )


def _plot(
    u: Draws,
    config: StoryConfig,
    params: StoryParams,
    alive: jax.Array,
    victim: jax.Array,
    rank: jax.Array,
    relations: jax.Array,
) -> jax.Array:
    """int32 [G, 4] the plot goals' events as (verb, subject, argument, place; -1 any)."""
    c, p, o, s = config.num_characters, config.num_places, config.num_objects, config.num_secrets
    g, d, k = config.num_goals, config.num_dead_at_start, config.num_plot_kills
    chars = jnp.arange(c)
    # The goal slot at which each victim is killed (never, i.e. G, for the others).
    slots = random_order(u["kill_slots"])[: max(k, 1)]
    kill_slot = jnp.where(victim, slots[jnp.clip(rank - d, 0, max(k, 1) - 1)], g)
    killed_here = kill_slot[None, :] == jnp.arange(g)[:, None]  # [G, C]
    is_kill = jnp.any(killed_here, axis=1)
    victim_at = jnp.argmax(killed_here, axis=1)
    available = alive[None, :] & (kill_slot[None, :] > jnp.arange(g)[:, None])  # [G, C]

    verb = jnp.asarray(GOAL_VERBS)[below(u["goal_verbs"], len(GOAL_VERBS))]
    verb = jnp.where(is_kill, KILL, verb)
    rivals = (relations[victim_at] == RIVAL) & available
    prefer_rival = is_kill & jnp.any(rivals, axis=1)
    subject = masked_choice(u["goal_subjects"], jnp.where(prefer_rival[:, None], rivals, available))
    target = masked_choice(u["goal_targets"], available & (chars[None, :] != subject[:, None]))
    arg = jnp.select(
        [verb == MEET, verb == KILL, verb == TELL],
        [target, victim_at, below(u["goal_args"], s)],
        below(u["goal_args"], o),
    )
    anywhere = u["goal_anywhere"] < params.anywhere_prob
    place = jnp.where(anywhere, -1, below(u["goal_places"], p))
    return jnp.stack([verb, subject, arg, place], axis=1).astype(jnp.int32)


def _threads(u: Draws, config: StoryConfig, survivor: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Threads' resolving events (int32 [T, 4] indices) and their opening goals (int32 [T])."""
    c, p, o, s = config.num_characters, config.num_places, config.num_objects, config.num_secrets
    t = config.num_threads
    chars = jnp.arange(c)
    opener = jnp.sort(random_order(u["thread_openers"])[:t]).astype(jnp.int32)
    verb = jnp.asarray(THREAD_VERBS)[below(u["thread_verbs"], len(THREAD_VERBS))]
    subject = masked_choice(u["thread_subjects"], survivor[None, :])
    target = masked_choice(
        u["thread_targets"], survivor[None, :] & (chars[None, :] != subject[:, None])
    )
    arg = jnp.select(
        [verb == MEET, verb == TAKE],
        [target, below(u["thread_args"], o)],
        below(u["thread_args"], s),
    )
    place = below(u["thread_places"], p)
    events = jnp.stack([verb, subject, arg, place], axis=1).reshape(t, 4)
    return events.astype(jnp.int32), opener


def _prologue(u: jax.Array, config: StoryConfig, facts: Facts, keepers: jax.Array) -> jax.Array:
    """int32 [L, 4] the initial facts as event indices, one per character, object and secret.

    Args:
        u: float [L] uniforms that shuffle the telling order.
    """
    c, o, s = config.num_characters, config.num_objects, config.num_secrets
    chars = jnp.arange(c)

    def events(verb, subject, arg, place):
        return jnp.stack(jnp.broadcast_arrays(verb, subject, arg, place), axis=1)

    char_facts = events(
        jnp.where(facts.alive, IS_AT, LIES_DEAD), chars, jnp.zeros_like(chars), facts.char_place
    )
    carried = facts.obj_holder >= 0
    obj_facts = events(
        jnp.where(carried, CARRIES, LIES),
        jnp.maximum(facts.obj_holder, 0),
        jnp.arange(o),
        object_places(facts),
    )
    secret_facts = events(jnp.full((s,), KNOWS), keepers, jnp.arange(s), facts.char_place[keepers])
    every = jnp.concatenate([char_facts, obj_facts, secret_facts], axis=0)
    return every[random_order(u)].astype(jnp.int32)
