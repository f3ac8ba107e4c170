"""Generates an episode's event script: every game's items, scheduled onto one timeline.

Each played game runs ``num_lanes`` lanes. A lane is a sequence of items; an item shows one or
more info events ("reveals") and, ``lag`` steps after its first reveal, asks one question whose
answer depends on what the reveals showed. A lane's next item starts only after its question,
so a lane's subject (a card face, a board row, a colour, a key) names at most one open item at a
time and every question is unambiguous. All lanes of all games are laid on one timeline: the
events are sorted by their wanted step and each is pushed to the first free step at or after it
(``actual_i = i + cummax_k<=i(wanted_k - k)`` over the sorted order), so order is kept and no
two events share a step. Steps that no event takes are interludes, whose stray card is a hash
of the step. The schedule is stored compactly: the first ``max_events`` events in time order.
Everything is vectorised (an argsort, a cumulative max, one scatter, gathers; no loop over
time), and all its randomness comes from a single draw of random bits.
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

# Wanted step of an event that does not play (a skipped item, an unused counting card); far
# beyond any script, so such events sort last and are dropped.
_NEVER = 1 << 30
#: ``Script.step`` of the unused entries after the last event: beyond any step of an episode.
NO_STEP = int(np.iinfo(np.int16).max)
# Odd 32-bit constants of the integer hash behind the interlude cards (golden ratio, then the
# two multipliers of a well-mixing 32-bit finaliser).
_GOLDEN = np.uint32(0x9E3779B9)
_MIX_A = np.uint32(0x7FEB352D)
_MIX_B = np.uint32(0x846CA68B)
# A uniform float keeps the top 24 of 32 random bits (a float32 mantissa holds 24).
_DROPPED_BITS = 8
_UNIT_SCALE = 1.0 / (1 << 24)


class _RandomStream:
    """Hands out slices of one flat draw of random bits.

    Every random number of a script comes from a single ``jax.random.bits`` call: XLA compiles
    each threefry draw separately and slowly (seconds per draw on a busy CPU, worse for
    multi-dimensional shapes), so one draw keeps the reset's compile time small. With
    ``bits=None`` the stream only counts what is asked of it (see :func:`_random_budget`).

    Args:
        bits: uint32 [n] random bits, or None to count.
    """

    def __init__(self, bits: jax.Array | None):
        self._bits = bits
        # Each word becomes a float in [0, 1) once, here, so a draw is just a slice.
        self._unit = (
            None if bits is None else (bits >> _DROPPED_BITS).astype(jnp.float32) * _UNIT_SCALE
        )
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
        """int32 uniform in ``[minval, maxval)``; ``maxval > minval`` (may be traced)."""
        minval = jnp.asarray(minval, jnp.int32)
        span = jnp.asarray(maxval, jnp.int32) - minval
        offset = jnp.floor(self.uniform(shape) * span.astype(jnp.float32)).astype(jnp.int32)
        return minval + jnp.minimum(offset, span - 1)


@struct.dataclass
class Script:
    """One episode's schedule of game events, in time order; ``E`` is ``max_events``.

    Steps that hold no event are interludes; their card is :func:`interlude_card`.
    """

    step: jax.Array  # [E] int16, step of each event (ascending); NO_STEP after the last one
    event: jax.Array  # [E] int8, game * NUM_PHASES + phase of each event
    fields: jax.Array  # [E, 3] int8, (subject, value, result) of each event
    memory: jax.Array  # [E] int8, at a decision: the remembered value it needs; else 0
    lag: jax.Array  # [E] int16, at a decision: steps since that value was shown; else -1
    seed: jax.Array  # [] uint32, seed of the interlude cards
    horizon: jax.Array  # [] int32, steps that play: min(max_steps_in_episode, episode_length)
    num_decisions: jax.Array  # [] int32, decisions in the schedule


@struct.dataclass
class _Items:
    """One game's items, before scheduling. ``L`` lanes, ``J`` items per lane, ``R`` reveals."""

    reveal_fields: jax.Array  # [L, J, R, 3] int32, fields of each reveal
    reveal_present: jax.Array  # [L, J, R] bool, whether each reveal is part of the item
    reveal_frac: jax.Array  # [L, J, R] float32, when each reveal comes, as a fraction of lag
    question_fields: jax.Array  # [L, J, 3] int32, fields of the question
    memory: jax.Array  # [L, J] int32, the remembered value the question needs
    needed: jax.Array  # [L, J] int32, which reveal shows that value


def _lanes(config: GamesConfig) -> jax.Array:
    """Lane index of every item, [L, J] int32."""
    lane = jnp.arange(config.num_lanes, dtype=jnp.int32)[:, None]
    return jnp.broadcast_to(lane, (config.num_lanes, config.max_items_per_lane))


def _fields(subject: jax.Array, value: jax.Array, result: jax.Array) -> jax.Array:
    """Stacks broadcastable int arrays into event fields [..., 3] int32."""
    subject, value, result = jnp.broadcast_arrays(subject, value, result)
    return jnp.stack([subject, value, result], axis=-1).astype(jnp.int32)


def _other_value(rng: _RandomStream, value: jax.Array, num_values: int) -> jax.Array:
    """A uniform value in ``[0, num_values)`` different from ``value`` (same shape)."""
    shift = rng.randint(value.shape, 1, num_values)
    return (value + shift) % num_values


def _single_reveal(
    config: GamesConfig, reveal_value: jax.Array, question_value: jax.Array, memory: jax.Array
) -> _Items:
    """Items that show one (lane, value) card and later ask about it."""
    lane = _lanes(config)
    zero = jnp.zeros_like(lane)
    return _Items(
        reveal_fields=_fields(lane, reveal_value, zero)[:, :, None, :],
        reveal_present=jnp.ones(lane.shape + (1,), jnp.bool_),
        reveal_frac=jnp.zeros(lane.shape + (1,), jnp.float32),
        question_fields=_fields(lane, question_value, zero),
        memory=memory.astype(jnp.int32),
        needed=zero,
    )


def _spread_fracs(rng: _RandomStream, shape: tuple[int, ...]) -> jax.Array:
    """Reveal times as fractions of the lag: the first at 0, the others uniform in [0, 1)."""
    fracs = rng.uniform(shape)
    return fracs.at[..., 0].set(0.0)


def _concentration(rng: _RandomStream, config: GamesConfig, params: EnvParams) -> _Items:
    """Face ``lane`` is flipped at slot a; later its partner is flipped at slot b != a and the
    player must point at slot a."""
    del params
    shape = (config.num_lanes, config.max_items_per_lane)
    slot_a = rng.randint(shape, 0, config.num_choices)
    slot_b = _other_value(rng, slot_a, config.num_choices)
    return _single_reveal(config, slot_a, slot_b, slot_a)


def _battleship(rng: _RandomStream, config: GamesConfig, params: EnvParams) -> _Items:
    """Shots at distinct columns of row ``lane`` report hit or miss (one hit); later the player
    must fire at the column that hit."""
    del params
    lane = _lanes(config)
    shots = config.battleship_shots
    order = jnp.argsort(rng.uniform(lane.shape + (config.num_choices,)), axis=-1)
    columns = order[..., :shots].astype(jnp.int32)  # [L, J, shots] distinct columns
    hit = rng.randint(lane.shape, 0, shots)
    result = jnp.where(jnp.arange(shots) == hit[..., None], gt.HIT, gt.MISS)
    zero = jnp.zeros_like(lane)
    return _Items(
        reveal_fields=_fields(lane[..., None], columns, result),
        reveal_present=jnp.ones(lane.shape + (shots,), jnp.bool_),
        reveal_frac=_spread_fracs(rng, lane.shape + (shots,)),
        question_fields=_fields(lane, zero, zero),
        memory=jnp.take_along_axis(columns, hit[..., None], axis=-1)[..., 0],
        needed=hit,
    )


def _counting(rng: _RandomStream, config: GamesConfig, params: EnvParams) -> _Items:
    """1 .. max_count cards of colour ``lane`` (each with a card value, a distractor) are dealt;
    later the player must say how many."""
    del params
    lane = _lanes(config)
    cards = config.max_count
    count = rng.randint(lane.shape, 1, cards + 1)
    values = rng.randint(lane.shape + (cards,), 0, config.num_choices)
    zero = jnp.zeros_like(lane)
    return _Items(
        reveal_fields=_fields(lane[..., None], values, 0),
        reveal_present=jnp.arange(cards) < count[..., None],
        reveal_frac=_spread_fracs(rng, lane.shape + (cards,)),
        question_fields=_fields(lane, zero, zero),
        memory=count,
        needed=zero,  # the first card, the oldest one the count needs
    )


def _recall(rng: _RandomStream, config: GamesConfig, params: EnvParams) -> _Items:
    """Key ``lane`` is shown with a value; later the player must repeat the value."""
    del params
    shape = (config.num_lanes, config.max_items_per_lane)
    value = rng.randint(shape, 0, config.num_choices)
    return _single_reveal(config, value, jnp.zeros_like(value), value)


def _higher_lower(rng: _RandomStream, config: GamesConfig, params: EnvParams) -> _Items:
    """Reference ``lane`` is shown with a value; later a different value is shown and the player
    must say whether it is higher or lower than the reference."""
    del params
    shape = (config.num_lanes, config.max_items_per_lane)
    value = rng.randint(shape, 0, config.num_choices)
    challenger = _other_value(rng, value, config.num_choices)
    return _single_reveal(config, value, challenger, value)


def _match(rng: _RandomStream, config: GamesConfig, params: EnvParams) -> _Items:
    """Sample ``lane`` is shown with a value; later a value is shown and the player must say
    whether it is the same (delayed match-to-sample)."""
    shape = (config.num_lanes, config.max_items_per_lane)
    value = rng.randint(shape, 0, config.num_choices)
    same = rng.uniform(shape) < params.match_same_prob
    probe = jnp.where(same, value, _other_value(rng, value, config.num_choices))
    return _single_reveal(config, value, probe, value)


_GAME_ITEMS = {
    gt.CONCENTRATION: _concentration,
    gt.BATTLESHIP: _battleship,
    gt.COUNTING: _counting,
    gt.RECALL: _recall,
    gt.HIGHER_LOWER: _higher_lower,
    gt.MATCH: _match,
}


def _lane_timelines(
    rng: _RandomStream, config: GamesConfig, params: EnvParams
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Start step, lag and played flag of every item of every game, each [G, L, J]."""
    shape = (gt.NUM_PLAYED_GAMES, config.num_lanes, config.max_items_per_lane)
    lag_min = jnp.maximum(jnp.asarray(params.lag_min, jnp.int32), 1)
    lag_max = jnp.maximum(jnp.asarray(params.lag_max, jnp.int32), lag_min)
    log_lag = rng.uniform(
        shape,
        minval=jnp.log(lag_min.astype(jnp.float32)),
        maxval=jnp.log(lag_max.astype(jnp.float32)),
    )
    lag = jnp.clip(jnp.round(jnp.exp(log_lag)).astype(jnp.int32), lag_min, lag_max)
    gap_max = jnp.maximum(jnp.asarray(params.item_gap_max, jnp.int32), 0)
    gap = rng.randint(shape, 0, gap_max + 1)
    start_max = jnp.maximum(jnp.asarray(params.lane_start_max, jnp.int32), 0)
    first_start = rng.randint(shape[:2] + (1,), 0, start_max + 1)
    # An item's question is at start + lag; the lane's next item starts 1 + gap steps later.
    period = lag + 1 + gap
    start = first_start + jnp.cumsum(period, axis=-1) - period
    rates = jnp.asarray(params.game_rates, jnp.float32)
    played = rng.uniform(shape) < rates[:, None, None]
    return start, lag, played


def _flatten_items(
    game: int, items: _Items, start: jax.Array, lag: jax.Array, played: jax.Array
) -> dict[str, jax.Array]:
    """Flattens one game's items into events (reveals then question, item by item).

    Returns arrays over the game's ``n = L * J * (R + 1)`` events: ``wanted`` [n] int32 step,
    ``event`` [n] int32 id, ``fields`` [n, 3] int32, ``memory`` [n] int32, ``question`` [n] bool
    and ``needed`` [n] int32 (index, within this game's events, of the reveal a question needs).
    """
    num_lanes, num_items, num_reveals = items.reveal_present.shape
    per_item = num_reveals + 1
    reveal_step = start[..., None] + jnp.floor(items.reveal_frac * lag[..., None]).astype(jnp.int32)
    wanted = jnp.concatenate([reveal_step, (start + lag)[..., None]], axis=-1)
    present = jnp.concatenate(
        [items.reveal_present & played[..., None], played[..., None]], axis=-1
    )
    is_question = jnp.arange(per_item) == num_reveals  # [R + 1]
    event = jnp.where(
        is_question, game * gt.NUM_PHASES + gt.DECISION, game * gt.NUM_PHASES + gt.INFO
    ).astype(jnp.int32)
    fields = jnp.concatenate([items.reveal_fields, items.question_fields[:, :, None, :]], axis=2)
    memory = jnp.where(is_question, items.memory[..., None], 0)
    item_index = jnp.arange(num_lanes * num_items, dtype=jnp.int32).reshape(num_lanes, num_items)
    needed = item_index * per_item + items.needed  # [L, J]
    shape = (num_lanes, num_items, per_item)
    return {
        "wanted": jnp.where(present, wanted, _NEVER).reshape(-1),
        "event": jnp.broadcast_to(event, shape).reshape(-1),
        "fields": fields.reshape(-1, gt.NUM_FIELDS),
        "memory": memory.reshape(-1),
        "question": jnp.broadcast_to(is_question, shape).reshape(-1),
        "needed": jnp.broadcast_to(needed[..., None], shape).reshape(-1),
    }


def generate_script(key: jax.Array, config: GamesConfig, params: EnvParams) -> Script:
    """Generates one episode's script from ``key``.

    Args:
        key: PRNG key of the episode.
        config: static sizes.
        params: sweepable values (lags, gaps, game rates, time limit).

    Returns:
        The :class:`Script`: the events placed before ``min(max_steps_in_episode,
        episode_length)``, in time order, at most ``max_events`` of them (the latest dropped).
    """
    rng = _RandomStream(jax.random.bits(key, (_random_budget(config),), jnp.uint32))
    script = _generate(rng, config, params)
    if rng.used != _random_budget(config):
        raise RuntimeError("the random budget does not match the generator's draws")
    return script


@functools.cache
def _random_budget(config: GamesConfig) -> int:
    """Number of random words one script draws (counted by tracing the generator once)."""
    counter = _RandomStream(None)
    jax.eval_shape(lambda: _generate(counter, config, EnvParams()))
    return counter.used


def _generate(rng: _RandomStream, config: GamesConfig, params: EnvParams) -> Script:
    """The body of :func:`generate_script`, drawing from ``rng``."""
    start, lag, played = _lane_timelines(rng, config, params)
    blocks, offset = [], 0
    for index, game in enumerate(gt.PLAYED_GAMES):
        items = _GAME_ITEMS[game](rng, config, params)
        block = _flatten_items(game, items, start[index], lag[index], played[index])
        block["needed"] = block["needed"] + offset
        offset += block["wanted"].shape[0]
        blocks.append(block)
    events = {name: jnp.concatenate([b[name] for b in blocks]) for name in blocks[0]}

    # Schedule: sort by wanted step, push each event to the first free step at or after it.
    # The kept events (placed before the horizon) are then a prefix of the sorted order.
    num_events = events["wanted"].shape[0]
    order = jnp.argsort(events["wanted"], stable=True)
    rank = jnp.arange(num_events, dtype=jnp.int32)
    placed = rank + jax.lax.cummax(events["wanted"][order] - rank, axis=0)
    step_of = jnp.zeros((num_events,), jnp.int32).at[order].set(placed)  # in generation order
    lags = placed - step_of[events["needed"][order]]
    horizon = jnp.clip(
        jnp.asarray(params.max_steps_in_episode, jnp.int32), 1, config.episode_length
    )

    def first(sorted_values: jax.Array, fill: Any) -> jax.Array:
        """The first ``max_events`` entries of an array in sorted order, padded with ``fill``."""
        values = sorted_values[: config.max_events]
        padding = config.max_events - values.shape[0]
        if padding > 0:
            pad = jnp.full((padding,) + values.shape[1:], fill, values.dtype)
            values = jnp.concatenate([values, pad])
        return values

    kept = first(placed, _NEVER) < horizon
    question = first(events["question"][order], False) & kept
    return Script(
        step=jnp.where(kept, first(placed, NO_STEP), NO_STEP).astype(jnp.int16),
        event=first(events["event"][order], gt.INTERLUDE_EVENT).astype(jnp.int8),
        fields=first(events["fields"][order], 0).astype(jnp.int8),
        memory=first(events["memory"][order], 0).astype(jnp.int8),
        lag=jnp.where(question, first(lags, -1), -1).astype(jnp.int16),
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
    mixed = jnp.asarray(seed, jnp.uint32) ^ (jnp.asarray(time).astype(jnp.uint32) * _GOLDEN)
    mixed = (mixed ^ (mixed >> 16)) * _MIX_A
    mixed = (mixed ^ (mixed >> 15)) * _MIX_B
    mixed = mixed ^ (mixed >> 16)
    subject = (mixed % config.num_lanes).astype(jnp.int32)
    value = ((mixed >> 16) % config.num_choices).astype(jnp.int32)
    return jnp.stack([subject, value, jnp.zeros_like(subject)], axis=-1)
