"""Passive recall (id ``"recall"``): a probe of how far back an agent can remember one fact.

A cue, one of ``N = num_cues`` values drawn uniformly when the episode's world is generated, is
shown at ``t = 0`` and never again. Every step shows ``F = num_distractors`` noise features,
each independently +1 or -1 (from the reset key at ``t = 0`` and from the step key afterwards,
so they carry no information). At ``t = L`` (``L = EnvParams.lag``) a query flag is raised;
the action taken at that step is the answer, and the episode ends. Nothing in between matters:
the probe is *passive*, so the only way to answer better than chance is to carry the cue
across ``L`` steps of noise. Sweeping ``lag`` (a traced ``EnvParams`` leaf, no recompile)
measures recall against the distance in time.

This is a probe, not one of the four long-horizon benchmarks: it has one decision per episode
and no skill to learn besides remembering.

Observation (dict of float32 leaves):

================ ======= ==================================================================
key              shape   meaning
================ ======= ==================================================================
``cue``          [N]     one-hot of the cue at ``t = 0``; all zeros afterwards
``distractors``  [F]     independent +1 / -1 noise, fresh every step
``query``        [1]     1.0 at ``t = L`` (answer now), else 0.0
``cue_hint``     [N]     privileged twin only: the cue's one-hot at every step
================ ======= ==================================================================

Action: ``Discrete(N)``: the answer "the cue was ``a``". Actions at steps other than ``t = L``
do nothing. Out-of-range actions are clipped into ``[0, N - 1]``. There is no action mask.

Reward: at ``t = L``, +1 if the action equals the cue, else ``-1 / (N - 1)``; 0 at every other
step. The penalty makes uniform guessing worth exactly 0 in expectation.

Termination: ``terminated`` at the query step ``t = L``, so an episode is ``L + 1`` steps
long. ``max_steps_in_episode`` (default 100,000) truncates as usual; it must exceed ``lag``
for the query ever to come (otherwise every episode is truncated with return 0).

Memory statistics (``info``): ``lag`` is ``L`` at the query step and -1 elsewhere, ``recall``
whether the answer was right, ``success`` 1.0 at the query step when the answer was right and
0.0 otherwise (so the episode's final success is 1 for a right answer, 0 for a wrong one).

Levels:

* chance (any player that cannot remember, e.g. one acting on the current observation only,
  which must answer the query without seeing the cue): expected return 0, success ``1 / N``;
* perfect (a player that keeps the cue from ``t = 0``): return 1, success 1.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from envs_jax.core import NO_LAG, MemoryEnv, clip_action, memory_info
from envs_jax.render import tile_grid
from envs_jax.validation import integer

#: Answer stored in the state before the query has been answered.
NO_ANSWER: int = -1
#: Cell ids of the RGB renderer (rows: cue, distractors, query and answer, progress).
BLANK, CUE_OFF, CUE_ON, MINUS, PLUS, QUERY_OFF, QUERY_ON, RIGHT, WRONG, PAST, FUTURE = range(11)
PALETTE = np.array(
    [
        [255, 255, 255],  # blank
        [210, 210, 210],  # cue slot, not shown
        [40, 120, 230],  # the cue, shown
        [60, 40, 120],  # distractor -1
        [250, 215, 120],  # distractor +1
        [210, 210, 210],  # no query
        [240, 170, 20],  # query now
        [40, 170, 60],  # right answer
        [210, 50, 50],  # wrong answer
        [90, 90, 90],  # elapsed time, up to the query
        [200, 200, 200],  # time to go, up to the query
    ],
    np.uint8,
)
#: Width, in cells, of the RGB renderer's progress bar (at least).
PROGRESS_CELLS: int = 16
#: Side of one RGB cell in pixels.
TILE: int = 8


@dataclasses.dataclass(frozen=True)
class RecallConfig:
    """Shape-defining sizes (static under ``jit``); validated on construction."""

    num_cues: int = 2  # N: values the cue can take; also the number of actions
    num_distractors: int = 8  # F: +1/-1 noise features shown every step

    def __post_init__(self) -> None:
        for name, minimum in (("num_cues", 2), ("num_distractors", 0)):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise ValueError(f"RecallConfig.{name}: must be an int, got {value!r}")
            if value < minimum:
                raise ValueError(f"RecallConfig.{name}: must be >= {minimum}, got {value!r}")


@struct.dataclass
class EnvParams(environment.EnvParams):
    """Sweepable values; every field is a pytree leaf (no recompilation when changed)."""

    lag: int = 300  # L: steps from the cue (t = 0) to the query (t = L)
    max_steps_in_episode: int = 100_000  # time limit; must exceed lag for the query to come

    def __post_init__(self) -> None:
        # Runs on host construction and on every unflatten (tracers included): only concrete
        # numbers are checked.
        for name, minimum in (("lag", 0), ("max_steps_in_episode", 1)):
            value = getattr(self, name)
            if isinstance(value, numbers.Real) and value < minimum:
                raise ValueError(f"EnvParams.{name}: must be >= {minimum}, got {value!r}")


@struct.dataclass
class EnvState(environment.EnvState):
    """One episode of the probe."""

    time: jax.Array  # [] int32, steps taken in this episode
    cue: jax.Array  # [] int32, the cue in [0, N), drawn at reset
    distractors: jax.Array  # [F] float32, the +1/-1 noise of the current observation
    answer: jax.Array  # [] int32, the action taken at the query, NO_ANSWER before it


def one_hot_cue(cue: jax.Array, num_cues: int, visible: jax.Array) -> jax.Array:
    """The cue as a float32 [N] one-hot where ``visible`` (bool []), zeros elsewhere."""
    return jax.nn.one_hot(cue, num_cues, dtype=jnp.float32) * jnp.asarray(visible, jnp.float32)


def signs_from_bits(bits: jax.Array) -> jax.Array:
    """+1 / -1 from the lowest bit of each word, float32 with the shape of ``bits``."""
    return jnp.where(bits & 1, 1.0, -1.0).astype(jnp.float32)


def draw_distractors(key: jax.Array, num_distractors: int) -> jax.Array:
    """Independent +1 / -1 features, float32 [F] (one batch of random bits: cheap to compile)."""
    return signs_from_bits(jax.random.bits(key, (num_distractors,), jnp.uint32))


def draw_world(key: jax.Array, num_cues: int, num_distractors: int) -> tuple[jax.Array, jax.Array]:
    """The cue (int32 [], uniform in [0, N) up to a bias below N / 2**32) and the first
    distractors (float32 [F]), from one batch of random bits."""
    bits = jax.random.bits(key, (1 + num_distractors,), jnp.uint32)
    cue = (bits[0] % jnp.uint32(num_cues)).astype(jnp.int32)
    return cue, signs_from_bits(bits[1:])


def answer_reward(correct: jax.Array, num_cues: int) -> jax.Array:
    """+1 for a right answer, ``-1 / (N - 1)`` for a wrong one (float32 []): a uniform guess
    earns ``1 / N - (N - 1) / N / (N - 1) = 0`` in expectation."""
    return jnp.where(correct, 1.0, -1.0 / (num_cues - 1)).astype(jnp.float32)


class PassiveRecall(MemoryEnv):
    """The passive recall probe (see the module docstring).

    Args:
        config: static sizes; ``RecallConfig()`` when None.
        privileged: add ``"cue_hint"`` (the cue's one-hot, every step) to the observation.
    """

    config_cls = RecallConfig
    params_cls = EnvParams
    env_id = "recall"
    param_rules = {"lag": integer(0), "max_steps_in_episode": integer(1)}

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    @property
    def num_actions(self) -> int:
        return self.config.num_cues

    def action_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.config.num_cues)

    def observation_space(self, params: EnvParams) -> spaces.Dict:
        num_cues = self.config.num_cues
        space = {
            "cue": spaces.Box(0.0, 1.0, (num_cues,), jnp.float32),
            "distractors": spaces.Box(-1.0, 1.0, (self.config.num_distractors,), jnp.float32),
            "query": spaces.Box(0.0, 1.0, (1,), jnp.float32),
        }
        if self.privileged:
            space["cue_hint"] = spaces.Box(0.0, 1.0, (num_cues,), jnp.float32)
        return spaces.Dict(space)

    def _observe(self, state: EnvState, params: EnvParams) -> dict[str, jax.Array]:
        num_cues = self.config.num_cues
        obs = {
            "cue": one_hot_cue(state.cue, num_cues, state.time == 0),
            "distractors": state.distractors,
            "query": (state.time == params.lag).astype(jnp.float32)[None],
        }
        if self.privileged:
            obs["cue_hint"] = one_hot_cue(state.cue, num_cues, True)
        return obs

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[dict[str, jax.Array], EnvState]:
        """Draws the cue and the first distractors from ``key`` and shows the cue."""
        cue, distractors = draw_world(key, self.config.num_cues, self.config.num_distractors)
        state = EnvState(
            time=jnp.zeros((), jnp.int32),
            cue=cue,
            distractors=distractors,
            answer=jnp.full((), NO_ANSWER, jnp.int32),
        )
        return self._observe(state, params), state

    def step_env(
        self, key: jax.Array, state: EnvState, action: Any, params: EnvParams
    ) -> tuple[dict[str, jax.Array], EnvState, jax.Array, jax.Array, dict[str, jax.Array]]:
        """Scores the answer at the query step (else nothing) and shows fresh distractors."""
        action = clip_action(action, self.config.num_cues)
        lag = jnp.asarray(params.lag, jnp.int32)
        is_query = state.time == lag
        right = jnp.logical_and(is_query, action == state.cue)
        reward = jnp.where(is_query, answer_reward(right, self.config.num_cues), 0.0)
        state = state.replace(
            time=state.time + 1,
            distractors=draw_distractors(key, self.config.num_distractors),
            answer=jnp.where(is_query, action, state.answer),
        )
        info = memory_info(jnp.where(is_query, lag, NO_LAG), right, right.astype(jnp.float32))
        terminated = self.is_terminated(state, params)
        return self._observe(state, params), state, reward, terminated, info

    def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
        """True once the query has been answered."""
        del params
        return state.answer != NO_ANSWER

    def render_text(self, state: EnvState, params: EnvParams) -> str:
        """One line, e.g. ``t=12/300 cue=? distractors=+-+-++-- query=no``.

        The cue is printed at ``t = 0`` (and by the privileged twin, in brackets, always); after
        the query the line adds the answer and whether it was right.
        """
        time, lag = int(state.time), int(params.lag)
        cue = int(state.cue)
        shown = str(cue) if time == 0 else "?"
        if self.privileged and time > 0:
            shown += f" ({cue})"
        signs = "".join("+" if x > 0 else "-" for x in np.asarray(state.distractors))
        query = "yes" if time == lag else "no"
        line = f"t={time}/{lag} cue={shown} distractors={signs} query={query}"
        answer = int(state.answer)
        if answer != NO_ANSWER:
            line += f" answer={answer} ({'right' if answer == cue else 'wrong'})"
        return line

    def render_rgb(self, state: EnvState, params: EnvParams) -> np.ndarray:
        """Four rows of cells, uint8 [4 * 8, W * 8, 3] with ``W = max(N, F, 16)``.

        Row 1: the cue slots (the cue blue while it is shown; the twin shows it always); row 2:
        the distractors (dark violet -1, light amber +1); row 3: the query flag (orange when
        asked) and, once answered, a green (right) or red (wrong) cell; row 4: time elapsed
        towards the query (dark) and to go (light).
        """
        config = self.config
        width = max(config.num_cues, config.num_distractors, PROGRESS_CELLS)
        grid = np.full((4, width), BLANK, np.int64)
        time, lag, cue = int(state.time), int(params.lag), int(state.cue)
        grid[0, : config.num_cues] = CUE_OFF
        if time == 0 or self.privileged:
            grid[0, cue] = CUE_ON
        grid[1, : config.num_distractors] = np.where(np.asarray(state.distractors) > 0, PLUS, MINUS)
        grid[2, 0] = QUERY_ON if time == lag else QUERY_OFF
        answer = int(state.answer)
        if answer != NO_ANSWER:
            grid[2, 1] = RIGHT if answer == cue else WRONG
        elapsed = int(round(PROGRESS_CELLS * min(time / max(lag, 1), 1.0)))
        grid[3, :PROGRESS_CELLS] = FUTURE
        grid[3, :elapsed] = PAST
        return tile_grid(grid, PALETTE, tile=TILE)
