"""Generates an episode's schedule: every game's items, laid onto one timeline.

Each played game runs ``num_lanes`` lanes. A lane is a sequence of items; an item shows one or
more info events ("reveals") and, ``lag`` steps after its first reveal, asks one question whose
answer depends on what the reveals showed. A lane's next item starts only after its question,
so a lane's subject (a card face, a board row, a colour, a key) names at most one open item at a
time and every question is unambiguous.

All games share one layout, so the whole generator is a handful of array operations: items are
``[G, L, J]`` (game, lane, item) and every item has ``P = R + 1`` event slots, ``R`` reveals
(the most any game uses; unused ones never play) and the question last. The events are sorted
by their wanted step and each is pushed to the first free step at or after it
(``placed_i = i + cummax_k<=i(wanted_k - k)`` over the sorted order), which keeps their order and
gives every event its own step. The schedule keeps the first ``max_events`` events in time
order; steps between them are interludes, whose stray card is a hash of the step. No loop over
time, and all randomness comes from one keyed hash of a counter.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs_jax.games import types as gt
from envs_jax.games.types import EnvParams, GamesConfig
from envs_jax.hashing import GOLDEN_GAMMA, games_bits, mix32, unit_floats

# Wanted step of an event that does not play (a skipped item, an unused reveal slot); far
# beyond any episode, so such events sort last and are dropped.
_NEVER = 1 << 30
#: ``Script.step`` of the unused entries after the last event: beyond any step of an episode.
NO_STEP = int(np.iinfo(np.int16).max)


class _RandomStream:
    """Hands out slices of one flat array of random bits.

    Every random number of a schedule comes from one array
    (:func:`envs_jax.hashing.games_bits`): XLA compiles each random draw separately, so one draw
    keeps the reset's compile time small. With ``bits=None`` the stream only counts what is
    asked of it (see :func:`_random_budget`).

    Args:
        bits: uint32 [n] random bits, or None to count.
    """

    def __init__(self, bits: jax.Array | None):
        self._bits = bits
        # Each word becomes a float in [0, 1) once, here, so a draw is just a slice.
        self._unit = None if bits is None else unit_floats(bits)
        self.used = 0

    def _slice(self, source: jax.Array | None, shape: tuple[int, ...], dtype: Any) -> jax.Array:
        size = math.prod(shape)
        if source is None:
            out = jnp.zeros(shape, dtype)
        else:
            out = source[self.used : self.used + size].reshape(shape)
        self.used += size
        return out

    def bits(self, shape: tuple[int, ...]) -> jax.Array:
        """uint32 random words."""
        return self._slice(self._bits, shape, jnp.uint32)

    def uniform(self, shape: tuple[int, ...], minval: Any = 0.0, maxval: Any = 1.0) -> jax.Array:
        """float32 uniform in ``[minval, maxval)`` (24 random bits each)."""
        unit = self._slice(self._unit, shape, jnp.float32)
        return minval + unit * (jnp.asarray(maxval, jnp.float32) - minval)

    def randint(self, shape: tuple[int, ...], minval: Any, maxval: Any) -> jax.Array:
        """int32 uniform in ``[minval, maxval)``; ``maxval > minval`` (either may be traced)."""
        minval = jnp.asarray(minval, jnp.int32)
        span = jnp.asarray(maxval, jnp.int32) - minval
        offset = jnp.floor(self.uniform(shape) * span.astype(jnp.float32)).astype(jnp.int32)
        return minval + jnp.minimum(offset, span - 1)


@struct.dataclass
class Script:
    """One episode's schedule of game events, in time order; ``E`` is ``max_events``.

    The columns are named by ``types.TIMING_*`` and ``types.CARD_*``; ``lag`` is -1 off
    decisions, and the last card column is the shot result of an info event or the remembered
    value of a decision. Steps that hold no event are interludes, whose card is
    :func:`interlude_card`.
    """

    timing: jax.Array  # [E, 2] int16, (step, lag) per event; step NO_STEP after the last one
    cards: jax.Array  # [E, 4] int8, (event id, subject, value, result or memory) per event
    seed: jax.Array  # [] uint32, seed of the interlude cards
    horizon: jax.Array  # [] int32, steps that play: min(max_steps_in_episode, episode_length)
    num_decisions: jax.Array  # [] int32, decisions in the schedule


def _max_reveals(config: GamesConfig) -> int:
    return max(config.reveals_per_item(game) for game in gt.PLAYED_GAMES)


def _timelines(
    rng: _RandomStream, config: GamesConfig, params: EnvParams
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Start step, lag and played flag of every item, each [G, L, J].

    Lags are log-uniform in ``[lag_min, lag_max]``; an item's question is at ``start + lag`` and
    the lane's next item starts ``1 + gap`` steps later, ``gap`` uniform in ``[0, item_gap_max]``.
    """
    shape = (gt.NUM_PLAYED_GAMES, config.num_lanes, config.max_items_per_lane)
    lag_min = jnp.maximum(jnp.asarray(params.lag_min, jnp.int32), 1)
    lag_max = jnp.maximum(jnp.asarray(params.lag_max, jnp.int32), lag_min)
    log_lag = rng.uniform(
        shape,
        minval=jnp.log(lag_min.astype(jnp.float32)),
        maxval=jnp.log(lag_max.astype(jnp.float32)),
    )
    lag = jnp.clip(jnp.round(jnp.exp(log_lag)).astype(jnp.int32), lag_min, lag_max)
    gap = rng.randint(shape, 0, jnp.maximum(jnp.asarray(params.item_gap_max, jnp.int32), 0) + 1)
    start_max = jnp.maximum(jnp.asarray(params.lane_start_max, jnp.int32), 0)
    first_start = rng.randint(shape[:2] + (1,), 0, start_max + 1)
    period = lag + 1 + gap
    start = first_start + jnp.cumsum(period, axis=-1) - period
    rates = jnp.asarray(params.game_rates, jnp.float32)
    played = rng.uniform(shape) < rates[:, None, None]
    return start, lag, played


def _items(rng: _RandomStream, config: GamesConfig, params: EnvParams) -> dict[str, jax.Array]:
    """The payload of every item of every game, in the shared layout.

    Per game (``s`` = the lane, the item's subject):

    * concentration: reveal (s, slot a); question (s, slot b != a), answer a.
    * battleship: ``battleship_shots`` reveals (s, distinct column, hit/miss), one hit;
      question (s), answer the column that hit.
    * counting: 1 .. ``max_count`` reveals (s, distractor card value); question (s), answer
      how many.
    * recall: reveal (s, v); question (s), answer v.
    * higher_lower: reveal (s, v); question (s, w != v), answer higher or lower.
    * match: reveal (s, v); question (s, w), w = v with ``match_same_prob``; answer yes or no.

    Returns:
        ``reveal_fields`` [G, L, J, R, 3] int32, ``reveal_count`` [G, L, J] int32 (reveals
        that play, the first ones), ``reveal_frac`` [G, L, J, R] float32 (when each reveal
        comes, as a fraction of the lag; the first at 0), ``question_fields`` [G, L, J, 3]
        int32, ``memory`` [G, L, J] int32 (the remembered value the question needs) and
        ``needed`` [G, L, J] int32 (the reveal that shows it).
    """
    num_values, shots, cards = config.num_choices, config.battleship_shots, config.max_count
    reveals = _max_reveals(config)
    shape = (gt.NUM_PLAYED_GAMES, config.num_lanes, config.max_items_per_lane)
    game = np.asarray(gt.PLAYED_GAMES)[:, None, None]  # [G, 1, 1] static game ids
    lane = jnp.broadcast_to(jnp.arange(config.num_lanes, dtype=jnp.int32)[:, None], shape)

    value = rng.randint(shape, 0, num_values)  # slot a, v, the reference, the sample
    other = (value + rng.randint(shape, 1, num_values)) % num_values  # a different value
    same = rng.uniform(shape) < params.match_same_prob
    count = rng.randint(shape, 1, cards + 1)
    hit = rng.randint(shape, 0, shots)
    # Distinct columns for the shots: where the largest of uniform keys lie, one set per item.
    columns = jax.lax.top_k(rng.uniform(shape + (num_values,)), reveals)[1].astype(jnp.int32)
    card_values = rng.randint(shape + (reveals,), 0, num_values)
    slot = np.arange(reveals)  # [R]
    frac = jnp.where(slot == 0, 0.0, rng.uniform(shape + (reveals,)))
    is_battleship, is_counting = game == gt.BATTLESHIP, game == gt.COUNTING
    reveal_value = jnp.where(
        is_battleship[..., None],
        columns,
        jnp.where(is_counting[..., None], card_values, value[..., None]),
    )
    result = jnp.where(slot == hit[..., None], gt.HIT, gt.MISS)
    reveal_result = jnp.where(is_battleship[..., None], result, gt.NO_RESULT)
    hit_column = jnp.take_along_axis(columns, hit[..., None], axis=-1)[..., 0]
    question_value = jnp.select(
        [game == gt.CONCENTRATION, game == gt.HIGHER_LOWER, game == gt.MATCH],
        [other, other, jnp.where(same, value, other)],
        0,
    )
    static_count = np.asarray([config.reveals_per_item(g) for g in gt.PLAYED_GAMES])
    return {
        "reveal_fields": jnp.stack(
            [jnp.broadcast_to(lane[..., None], reveal_value.shape), reveal_value, reveal_result],
            axis=-1,
        ),
        "reveal_count": jnp.where(is_counting, count, static_count[:, None, None]),
        "reveal_frac": frac,
        "question_fields": jnp.stack([lane, question_value, jnp.zeros_like(lane)], axis=-1),
        "memory": jnp.where(is_battleship, hit_column, jnp.where(is_counting, count, value)),
        "needed": jnp.where(is_battleship, hit, 0),  # counting: the first card, the oldest
    }


def generate_script(key: jax.Array, config: GamesConfig, params: EnvParams) -> Script:
    """Generates one episode's schedule from ``key``.

    Args:
        key: PRNG key of the episode.
        config: static sizes.
        params: sweepable values (lags, gaps, game rates, time limit).

    Returns:
        The :class:`Script`: the events placed before ``min(max_steps_in_episode,
        episode_length)``, in time order, at most ``max_events`` of them (the latest dropped).
    """
    budget = _random_budget(config)
    rng = _RandomStream(games_bits(key, budget))
    script = _generate(rng, config, params)
    if rng.used != budget:
        raise RuntimeError("the random budget does not match the generator's draws")
    return script


@functools.cache
def _random_budget(config: GamesConfig) -> int:
    """Number of random words one schedule draws (counted by tracing the generator once)."""
    counter = _RandomStream(None)
    jax.eval_shape(lambda: _generate(counter, config, EnvParams()))
    return counter.used


def _generate(rng: _RandomStream, config: GamesConfig, params: EnvParams) -> Script:
    """The body of :func:`generate_script`, drawing from ``rng``."""
    start, lag, played = _timelines(rng, config, params)
    items = _items(rng, config, params)
    reveals = _max_reveals(config)
    per_item = reveals + 1  # event slots of an item: the reveals, then the question
    game = np.asarray(gt.PLAYED_GAMES)[:, None, None, None]  # [G, 1, 1, 1]
    slot = np.arange(per_item)  # [P]
    is_question = slot == reveals

    # Every event slot of every item, [G, L, J, P]. Battleship's shots all come in the first
    # lag - lag_min steps, so that its question, like every other, comes at least lag_min after
    # the report it needs (the hit), not a few steps after a late hit.
    lag_min = jnp.minimum(jnp.asarray(params.lag_min, jnp.int32), lag)
    span = jnp.where(game[..., 0] == gt.BATTLESHIP, lag - lag_min, lag)
    reveal_step = start[..., None] + jnp.floor(items["reveal_frac"] * span[..., None]).astype(
        jnp.int32
    )
    wanted = jnp.concatenate([reveal_step, (start + lag)[..., None]], axis=-1)
    present = played[..., None] & (is_question | (slot < items["reveal_count"][..., None]))
    event = game * gt.NUM_PHASES + np.where(is_question, gt.DECISION, gt.INFO)
    fields = jnp.concatenate([items["reveal_fields"], items["question_fields"][..., None, :]], -2)
    # A question's result field is always NO_RESULT: its column carries the remembered value.
    extra = jnp.where(is_question, items["memory"][..., None], fields[..., gt.NUM_FIELDS - 1])
    item_index = np.arange(math.prod(start.shape)).reshape(start.shape)
    needed = item_index * per_item + items["needed"]  # [G, L, J] flat index of the needed reveal
    shape = wanted.shape
    num_slots = math.prod(shape)

    # Schedule: sort by wanted step, push each event to the first free step at or after it.
    # The events placed before the horizon are then a prefix of the sorted order.
    wanted = jnp.where(present, wanted, _NEVER).reshape(-1)
    order = jnp.argsort(wanted, stable=True)
    rank = jnp.arange(num_slots, dtype=jnp.int32)
    placed = rank + jax.lax.cummax(wanted[order] - rank, axis=0)
    step_of = jnp.zeros((num_slots,), jnp.int32).at[order].set(placed)  # in slot order
    needed_sorted = jnp.broadcast_to(needed[..., None], shape).reshape(-1)[order]
    lags = placed - step_of[needed_sorted]
    horizon = jnp.clip(
        jnp.asarray(params.max_steps_in_episode, jnp.int32), 1, config.episode_length
    )

    # Everything an event carries, as int32 columns [G, L, J, P, 4], then in time order.
    cards = jnp.concatenate(
        [jnp.broadcast_to(event, shape)[..., None], fields[..., :-1], extra[..., None]], axis=-1
    )
    cards = cards.reshape(num_slots, gt.NUM_CARD_COLUMNS)[order][: config.max_events]
    timing = jnp.stack([placed, lags], axis=-1)[: config.max_events]
    question = jnp.broadcast_to(is_question, shape).reshape(-1)[order][: config.max_events]
    padding = config.max_events - timing.shape[0]
    if padding > 0:  # fewer candidate events than the capacity
        cards = jnp.pad(cards, ((0, padding), (0, 0)))
        timing = jnp.pad(timing, ((0, padding), (0, 0)), constant_values=_NEVER)
        question = jnp.pad(question, (0, padding))
    kept = timing[:, 0] < horizon
    question = question & kept
    timing = jnp.stack(
        [jnp.where(kept, timing[:, 0], NO_STEP), jnp.where(question, timing[:, 1], -1)], axis=-1
    )
    cards = jnp.where(kept[:, None], cards, 0)  # entries past the last event are never read
    return Script(
        timing=timing.astype(jnp.int16),
        cards=cards.astype(jnp.int8),
        seed=rng.bits(()),
        horizon=horizon,
        num_decisions=jnp.sum(question).astype(jnp.int32),
    )


def interlude_card(seed: jax.Array, time: jax.Array, config: GamesConfig) -> jax.Array:
    """The stray card an interlude shows at ``time``: (subject, value, 0), int32 [..., 3] for
    ``time`` of shape [...].

    A hash of the episode's seed and the step, so interludes are part of the generated world
    (like the schedule) and cost no random draw and no storage per step.
    """
    golden = jnp.uint32(GOLDEN_GAMMA)
    mixed = mix32(jnp.asarray(seed, jnp.uint32) ^ (jnp.asarray(time).astype(jnp.uint32) * golden))
    subject = (mixed % config.num_lanes).astype(jnp.int32)
    value = ((mixed >> 16) % config.num_choices).astype(jnp.int32)
    return jnp.stack([subject, value, jnp.zeros_like(subject)], axis=-1)
