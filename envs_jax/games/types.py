"""Names, static config, sweepable params and the state of the games marathon."""

from __future__ import annotations

import dataclasses
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment

# --- games. Id 0 is the interlude between game events (shown, never asked about).
GAME_NAMES: tuple[str, ...] = (
    "interlude",
    "concentration",
    "battleship",
    "counting",
    "recall",
    "higher_lower",
    "match",
)
INTERLUDE, CONCENTRATION, BATTLESHIP, COUNTING, RECALL, HIGHER_LOWER, MATCH = range(7)
NUM_GAMES = len(GAME_NAMES)  # ids in the "game" observation, interlude included
PLAYED_GAMES: tuple[int, ...] = tuple(range(1, NUM_GAMES))  # the games that ask questions
NUM_PLAYED_GAMES = len(PLAYED_GAMES)

# --- phases: an event either shows something (info) or asks for a decision.
INFO, DECISION = 0, 1
NUM_PHASES = 2
NUM_EVENTS = NUM_GAMES * NUM_PHASES  # event id = game * NUM_PHASES + phase
INTERLUDE_EVENT = INTERLUDE * NUM_PHASES + INFO

# --- field 2 of a battleship shot report.
NO_RESULT, MISS, HIT = 0, 1, 2
NUM_SHOT_RESULTS = 3

# --- the "feedback" observation: the outcome of the previous step's decision.
NO_FEEDBACK, RIGHT, WRONG = 0, 1, 2
NUM_FEEDBACKS = 3

NUM_FIELDS = 3  # (subject, value, result) of the current event

# Columns of the schedule's tables (``EnvState.cards`` and ``EnvState.timing``).
# The last card column holds an info event's shot result or a decision's remembered value (a
# decision's result field is always NO_RESULT), which keeps the stored schedule small.
CARD_EVENT, CARD_SUBJECT, CARD_VALUE, CARD_EXTRA = range(4)
NUM_CARD_COLUMNS = 4  # event id, subject, value, result (info) or remembered value (decision)
TIMING_STEP, TIMING_LAG = range(2)
NUM_PROGRESS = 2  # (episode progress, decisions progress)
NUM_PRIVILEGED = 2  # (answer action, remembered value)
NUM_NAMED_ACTIONS = 5  # yes, no, higher, lower, continue (after the num_choices choices)

# Largest values the schedule stores in int8 / int16 arrays.
_INT8_MAX = int(np.iinfo(np.int8).max)
_INT16_MAX = int(np.iinfo(np.int16).max)


@dataclasses.dataclass(frozen=True)
class GamesConfig:
    """Shape-defining sizes (static under ``jit``); validated on construction.

    The default schedule holds about 460 game events (at most ~550; ~150 decisions) in 2,048
    steps; shorter lags fit more items, so raise ``max_events`` (and ``max_items_per_lane``)
    with them.
    """

    episode_length: int = 2048  # steps the schedule spans; also the default time limit
    num_choices: int = 16  # "choose" actions: slots, board columns, card values, counts
    num_lanes: int = 8  # items of each game open at once: card faces, rows, colours, keys
    max_items_per_lane: int = 16  # capacity of each lane's item sequence (later items dropped)
    max_events: int = 640  # capacity of the stored schedule; the latest events beyond it drop
    battleship_shots: int = 3  # shot reports per battleship row (one hit, the rest misses)
    max_count: int = 5  # a counting window holds 1 .. max_count cards of its colour

    def __post_init__(self):
        def need(ok: bool, name: str, problem: str) -> None:
            if not ok:
                raise ValueError(f"GamesConfig.{name}: {problem}, got {getattr(self, name)!r}")

        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            need(
                isinstance(value, numbers.Integral) and not isinstance(value, bool),
                field.name,
                "must be an int",
            )
        need(2 <= self.episode_length <= _INT16_MAX, "episode_length", "must be in [2, 32767]")
        need(2 <= self.num_choices <= _INT8_MAX, "num_choices", "must be in [2, 127]")
        need(1 <= self.num_lanes <= _INT8_MAX, "num_lanes", "must be in [1, 127]")
        need(self.max_items_per_lane >= 1, "max_items_per_lane", "must be >= 1")
        need(
            1 <= self.max_events <= self.episode_length,
            "max_events",
            "must be in [1, episode_length] (one event per step at most)",
        )
        need(
            1 <= self.battleship_shots <= self.num_choices,
            "battleship_shots",
            "must be in [1, num_choices] (the shots of a row hit distinct columns)",
        )
        need(
            1 <= self.max_count < self.num_choices,
            "max_count",
            "must be in [1, num_choices - 1] (a count is answered with a choice action)",
        )

    @property
    def num_actions(self) -> int:
        """``num_choices`` choices, then yes, no, higher, lower, continue."""
        return self.num_choices + NUM_NAMED_ACTIONS

    @property
    def yes_action(self) -> int:
        return self.num_choices

    @property
    def no_action(self) -> int:
        return self.num_choices + 1

    @property
    def higher_action(self) -> int:
        return self.num_choices + 2

    @property
    def lower_action(self) -> int:
        return self.num_choices + 3

    @property
    def continue_action(self) -> int:
        return self.num_choices + 4

    @property
    def field_vocab(self) -> int:
        """Number of ids an event field can hold (lanes, choices and shot results)."""
        return max(self.num_choices, self.num_lanes, NUM_SHOT_RESULTS)

    def reveals_per_item(self, game: int) -> int:
        """Info events an item of ``game`` shows before its question."""
        if game == BATTLESHIP:
            return self.battleship_shots
        if game == COUNTING:
            return self.max_count
        return 1


def _default_game_rates() -> jax.Array:
    return jnp.ones((NUM_PLAYED_GAMES,), jnp.float32)


@struct.dataclass
class EnvParams(environment.EnvParams):
    """Sweepable values; every field is a pytree leaf (no recompilation when changed).

    Each game runs ``num_lanes`` lanes; a lane plays items one after another: an item's first
    reveal, ``lag`` steps later its question, then a pause of up to ``item_gap_max`` steps. Lags
    are log-uniform in ``[lag_min, lag_max]``; events that collide are pushed to the next free
    step, so realised lags (reported in ``info["lag"]``) can be a few steps longer.
    """

    max_steps_in_episode: int = 2048  # time limit; events after it (or episode_length) drop
    lag_min: int = 100  # shortest span (steps) from an item's first reveal to its question
    lag_max: int = 1600  # longest span (steps) from an item's first reveal to its question
    item_gap_max: int = 64  # a lane pauses 0 .. this many steps between two items
    lane_start_max: int = 256  # a lane's first item starts at a uniform step in [0, this]
    match_same_prob: float = 0.5  # chance that a match question shows the remembered value
    game_rates: jax.Array = struct.field(  # [6] float32 chance that an item of each game plays
        default_factory=_default_game_rates
    )

    def __post_init__(self):
        # Runs on host construction and on every pytree unflatten (tracers included), so only
        # concrete numbers are checked and only sequences are converted.
        if isinstance(self.game_rates, list | tuple):
            object.__setattr__(self, "game_rates", jnp.asarray(self.game_rates, jnp.float32))

        def concrete(name: str) -> float | None:
            value = getattr(self, name)
            return float(value) if isinstance(value, numbers.Real) else None

        def need(ok: bool, name: str, problem: str) -> None:
            if not ok:
                raise ValueError(f"EnvParams.{name}: {problem}, got {getattr(self, name)!r}")

        for name in ("max_steps_in_episode", "lag_min"):
            value = concrete(name)
            need(value is None or value >= 1, name, "must be >= 1")
        for name in ("item_gap_max", "lane_start_max"):
            value = concrete(name)
            need(value is None or value >= 0, name, "must be >= 0")
        lag_min, lag_max = concrete("lag_min"), concrete("lag_max")
        need(
            lag_max is None or lag_min is None or lag_max >= lag_min,
            "lag_max",
            "must be >= lag_min",
        )
        same = concrete("match_same_prob")
        need(same is None or 0.0 <= same <= 1.0, "match_same_prob", "must be in [0, 1]")
        rates = self.game_rates
        if isinstance(rates, np.ndarray | jax.Array) and not isinstance(rates, jax.core.Tracer):
            need(  # leading axes are allowed: a batch of params for a vmapped sweep
                np.ndim(rates) >= 1 and np.shape(rates)[-1] == NUM_PLAYED_GAMES,
                "game_rates",
                f"must have {NUM_PLAYED_GAMES} entries, one rate per game {GAME_NAMES[1:]}",
            )
            need(
                bool(np.all((np.asarray(rates) >= 0) & (np.asarray(rates) <= 1))),
                "game_rates",
                "must lie in [0, 1]",
            )


@struct.dataclass
class EnvState(environment.EnvState):
    """One episode: its schedule of game events (drawn at reset) and the score so far.

    ``E`` is ``GamesConfig.max_events``; the columns of ``timing`` and ``cards`` are named by
    ``TIMING_*`` and ``CARD_*``. A step reads the event at ``cursor`` when its step is ``time``,
    and an interlude otherwise.
    """

    time: jax.Array  # [] int32, steps taken in this episode
    timing: jax.Array  # [E, 2] int16, per game event (time order): step (NO_STEP after the
    # last event) and, at a decision, steps since the needed value was shown (else -1)
    cards: jax.Array  # [E, 4] int8, per game event: id (game * NUM_PHASES + phase), subject,
    # value, and the shot result (info events) or the remembered value it needs (decisions)
    cursor: jax.Array  # [] int32, index of the first game event not yet played
    seed: jax.Array  # [] uint32, seed of the interlude cards
    horizon: jax.Array  # [] int32, steps whose events play: min(time limit, episode_length)
    num_decisions: jax.Array  # [] int32, decisions in the schedule
    decisions_seen: jax.Array  # [] int32, decisions met so far
    num_correct: jax.Array  # [] int32, decisions answered right so far
    feedback: jax.Array  # [] int32, outcome of the last step's decision (NO_FEEDBACK/RIGHT/WRONG)
