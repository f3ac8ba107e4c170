"""The ``Games`` environment: a marathon of interleaved memory games.

Six games run side by side on one timeline of ``episode_length`` steps (default 2,048). Each
game has ``num_lanes`` lanes (default 8); a lane plays items one after another, and an item
shows one or more cards (info events) and asks one question ``lag`` steps after its first card,
with ``lag`` log-uniform in ``[lag_min, lag_max]`` (default 100 .. 1,600 steps). With the
defaults an episode holds about 450 game events, ~145 of them decisions; the other steps are
interludes that show a stray card (a distractor). The games (``s`` is the item's subject, its
lane):

* concentration: face ``s`` is turned up at slot ``a``; later its partner turns up at slot
  ``b != a`` and the player must point at slot ``a``.
* battleship: ``battleship_shots`` shots at distinct columns of row ``s`` report hit or miss
  (one hit); later, "fire at row ``s``": the player must choose the column that hit.
* counting: 1 .. ``max_count`` cards of colour ``s`` are dealt; later the player must say how
  many were dealt since the last time colour ``s`` was asked about.
* recall: key ``s`` is shown holding ``v``; later the player must repeat ``v``.
* higher_lower: reference ``s`` is shown as ``v``; later a value ``w != v`` is shown and the
  player must say whether it is higher or lower than the reference.
* match: sample ``s`` is shown as ``v``; later a value ``w`` is shown (``w == v`` with
  ``match_same_prob``) and the player must say whether it is the same.

What must be remembered, and why: every card is shown exactly once and a question shows only
the subject (and, for higher/lower and match, the new value), so the answer lies only in what
was shown ``lag`` steps before, among the other open items of all games (``6 * num_lanes``
items are open at once). A lane's next item starts only after its question, so every question
is unambiguous: a player that keeps a table of everything shown answers every question right
(return 1.0), one without memory can only guess among the allowed actions (~0.25).

Observation (dict; ``N = num_choices``, ``L = num_lanes``, ``V = max(N, L, 3)``,
``A = N + 5``):

================ ============ ======= ============================================================
key              shape        dtype   meaning
================ ============ ======= ============================================================
``game``         []           int32   current game, in [0, 7): interlude, concentration,
                                      battleship, counting, recall, higher_lower, match
``phase``        []           int32   0 = info (nothing to decide), 1 = decision
``fields``       [3]          int32   (subject, value, result) of the current event, in [0, V)
``feedback``     []           int32   last step's decision: 0 none, 1 right, 2 wrong
``progress``     [2]          float32 (time / max_steps_in_episode, decisions met / decisions)
``action_mask``  [A]          bool    actions that apply to the current event
``privileged``   [2]          int32   twin only: (answer action, remembered value), both in
                                      [0, max(A, V))
================ ============ ======= ============================================================

Nothing of the past is in the (plain) observation.

Action: ``Discrete(N + 5)``: ``0 .. N-1`` choose a slot / column / value / count, then ``N``
yes, ``N + 1`` no, ``N + 2`` higher, ``N + 3`` lower, ``N + 4`` continue. The mask allows only
continue at info events; at a decision it allows the choices (counting: ``0 .. max_count``) or
the yes/no or higher/lower pair. Out-of-range actions are clipped into ``[0, A - 1]``. A masked
action at a decision is a wrong answer; any action at an info event just continues.

Reward: ``1 / D`` for each right answer, where ``D`` is the number of decisions in the episode
(those before ``min(max_steps_in_episode, episode_length)``), so perfect play returns 1.0 and
``info["success"]`` (right answers so far / ``D``) is the normalised return so far.
``info["lag"]`` at a decision is the number of steps since the value it needs was shown (for
counting: since the first card counted; for battleship: since the hit was reported), else -1;
``info["decision_kind"]`` at a decision is its game's index in ``Games.decision_kinds``
(concentration, battleship, counting, recall, higher_lower, match), else -1.

Termination: none; the marathon ends by truncation at ``max_steps_in_episode`` (default
``episode_length``), which the player sees through ``progress[0]``. A time limit beyond
``episode_length`` only adds interludes.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from envs_jax.core import NO_LAG, MemoryEnv, ObservationDict, clip_action, memory_info
from envs_jax.games import render
from envs_jax.games import types as gt
from envs_jax.games.generator import generate_script, interlude_card
from envs_jax.games.types import EnvParams, EnvState, GamesConfig
from envs_jax.validation import PROBABILITY, check_order, integer, weights


class Games(MemoryEnv):
    """The sequential decision games marathon (see the module docstring).

    Args:
        config: static sizes; ``GamesConfig()`` when None.
        privileged: add ``"privileged"`` (the answer and the remembered value) to the
            observation.
    """

    config_cls = GamesConfig
    params_cls = EnvParams
    env_id = "games"
    decision_kinds = gt.GAME_NAMES[gt.PLAYED_GAMES[0] :]
    param_rules = {
        "max_steps_in_episode": integer(1),
        "lag_min": integer(1),
        "lag_max": integer(1),
        "item_gap_max": integer(0),
        "lane_start_max": integer(0),
        "match_same_prob": PROBABILITY,
        "game_rates": weights(gt.NUM_PLAYED_GAMES, high=1.0),
    }

    def check_params(self, params: EnvParams) -> None:
        check_order("EnvParams", params, "lag_min", "lag_max")

    def __init__(self, config: GamesConfig | None = None, privileged: bool = False):
        super().__init__(config, privileged)
        self._mask_table = self._build_mask_table()  # [NUM_EVENTS, A] bool, host constant

    def _build_mask_table(self) -> np.ndarray:
        config = self.config
        table = np.zeros((gt.NUM_EVENTS, config.num_actions), np.bool_)
        for game in range(gt.NUM_GAMES):
            table[game * gt.NUM_PHASES + gt.INFO, config.continue_action] = True
            decision = table[game * gt.NUM_PHASES + gt.DECISION]
            if game in (gt.CONCENTRATION, gt.BATTLESHIP, gt.RECALL):
                decision[: config.num_choices] = True
            elif game == gt.COUNTING:
                decision[: config.max_count + 1] = True
            elif game == gt.HIGHER_LOWER:
                decision[[config.higher_action, config.lower_action]] = True
            elif game == gt.MATCH:
                decision[[config.yes_action, config.no_action]] = True
            else:  # the interlude never asks
                decision[config.continue_action] = True
        return table

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self.config.episode_length)

    @property
    def num_actions(self) -> int:
        return self.config.num_actions

    def action_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.config.num_actions)

    def observation_space(self, params: EnvParams | None = None) -> spaces.Dict:
        config = self.config

        def ints(num_ids: int, shape: tuple[int, ...] = ()) -> spaces.Box:
            return spaces.Box(0, num_ids - 1, shape, jnp.int32)

        space = {
            "game": ints(gt.NUM_GAMES),
            "phase": ints(gt.NUM_PHASES),
            "fields": ints(config.field_vocab, (gt.NUM_FIELDS,)),
            "feedback": ints(gt.NUM_FEEDBACKS),
            "progress": spaces.Box(0.0, 1.0, (gt.NUM_PROGRESS,), jnp.float32),
            "action_mask": spaces.Box(0, 1, (config.num_actions,), jnp.bool_),
        }
        if self.privileged:
            space["privileged"] = ints(
                max(config.num_actions, config.field_vocab), (gt.NUM_PRIVILEGED,)
            )
        return ObservationDict(space)

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[dict[str, jax.Array], EnvState]:
        """Generates the episode's schedule from ``key`` and shows its first step."""
        script = generate_script(key, self.config, params)
        zero = jnp.zeros((), jnp.int32)
        state = EnvState(
            time=zero,
            timing=script.timing,
            cards=script.cards,
            cursor=zero,
            seed=script.seed,
            horizon=script.horizon,
            num_decisions=script.num_decisions,
            decisions_seen=zero,
            num_correct=zero,
            feedback=jnp.full((), gt.NO_FEEDBACK, jnp.int32),
        )
        return self._observe(state, params), state

    def _current(
        self, state: EnvState
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
        """The step at ``state.time``: whether it is a game event ([] bool), its event id
        ([] int32), fields ([3] int32), remembered value ([] int32) and lag ([] int32); an
        interlude (with its hashed card) when no game event falls on it."""
        index = jnp.minimum(state.cursor, self.config.max_events - 1)
        timing = state.timing[index].astype(jnp.int32)  # [2]
        card = state.cards[index].astype(jnp.int32)  # [4]
        is_event = (
            (state.cursor < self.config.max_events)
            & (timing[gt.TIMING_STEP] == state.time)
            & (state.time < state.horizon)
        )
        event = jnp.where(is_event, card[gt.CARD_EVENT], gt.INTERLUDE_EVENT)
        is_decision = event % gt.NUM_PHASES == gt.DECISION
        extra = card[gt.CARD_EXTRA]
        fields = jnp.where(
            is_event,
            jnp.stack(
                [
                    card[gt.CARD_SUBJECT],
                    card[gt.CARD_VALUE],
                    jnp.where(is_decision, gt.NO_RESULT, extra),
                ]
            ),
            interlude_card(state.seed, state.time, self.config),
        )
        memory = jnp.where(is_decision, extra, 0)
        lag = jnp.where(is_event, timing[gt.TIMING_LAG], NO_LAG)
        return is_event, event, fields, memory, lag

    def _answer(self, event: jax.Array, fields: jax.Array, memory: jax.Array) -> jax.Array:
        """The right action for an event (continue at info events), int32 []."""
        config = self.config
        game = event // gt.NUM_PHASES
        shown = fields[1]
        higher_lower = jnp.where(shown > memory, config.higher_action, config.lower_action)
        match = jnp.where(shown == memory, config.yes_action, config.no_action)
        decision = jnp.where(
            game == gt.HIGHER_LOWER, higher_lower, jnp.where(game == gt.MATCH, match, memory)
        )
        is_decision = event % gt.NUM_PHASES == gt.DECISION
        return jnp.where(is_decision, decision, config.continue_action).astype(jnp.int32)

    def _observe(self, state: EnvState, params: EnvParams) -> dict[str, jax.Array]:
        _, event, fields, memory, _ = self._current(state)
        max_steps = jnp.maximum(jnp.asarray(params.max_steps_in_episode, jnp.float32), 1.0)
        progress = jnp.stack(
            [
                state.time.astype(jnp.float32) / max_steps,
                state.decisions_seen.astype(jnp.float32)
                / jnp.maximum(state.num_decisions, 1).astype(jnp.float32),
            ]
        )
        obs = {
            "game": event // gt.NUM_PHASES,
            "phase": event % gt.NUM_PHASES,
            "fields": fields,
            "feedback": state.feedback,
            "progress": jnp.clip(progress, 0.0, 1.0),
            "action_mask": jnp.asarray(self._mask_table)[event],
        }
        if self.privileged:
            obs["privileged"] = jnp.stack([self._answer(event, fields, memory), memory])
        return obs

    def step_env(
        self, key: jax.Array, state: EnvState, action: Any, params: EnvParams
    ) -> tuple[dict[str, jax.Array], EnvState, jax.Array, jax.Array, dict[str, jax.Array]]:
        """Scores the action against the current event and moves to the next step.

        The step is deterministic (``key`` is unused): the schedule was drawn at reset.
        """
        del key
        action = clip_action(action, self.config.num_actions)
        is_event, event, fields, memory, lag = self._current(state)
        is_decision = event % gt.NUM_PHASES == gt.DECISION
        correct = jnp.logical_and(is_decision, action == self._answer(event, fields, memory))
        denominator = jnp.maximum(state.num_decisions, 1).astype(jnp.float32)
        num_correct = state.num_correct + correct.astype(jnp.int32)
        feedback = jnp.where(
            is_decision, jnp.where(correct, gt.RIGHT, gt.WRONG), gt.NO_FEEDBACK
        ).astype(jnp.int32)
        state = state.replace(
            time=state.time + 1,
            cursor=state.cursor + is_event.astype(jnp.int32),
            decisions_seen=state.decisions_seen + is_decision.astype(jnp.int32),
            num_correct=num_correct,
            feedback=feedback,
        )
        reward = correct.astype(jnp.float32) / denominator
        info = memory_info(
            jnp.where(is_decision, lag, NO_LAG),
            correct,
            num_correct.astype(jnp.float32) / denominator,
        )
        # The played games are ids 1..6; decision_kinds lists them from 0.
        info["decision_kind"] = jnp.where(
            is_decision, event // gt.NUM_PHASES - gt.PLAYED_GAMES[0], -1
        ).astype(jnp.int32)
        return self._observe(state, params), state, reward, self.is_terminated(state, params), info

    def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
        """Always False: the marathon has no natural end, only its time limit."""
        del params
        return jnp.zeros_like(state.time, dtype=jnp.bool_)

    def render_text(self, state: EnvState, params: EnvParams) -> str:
        """Score, last decision, the current event and the few before it, in words."""
        return render.render_text(
            self.config, jax.device_get(state), int(params.max_steps_in_episode)
        )

    def render_rgb(self, state: EnvState, params: EnvParams) -> np.ndarray:
        """The schedule as a timeline under a score bar, uint8 [H, W, 3] (see ``render``)."""
        del params
        return render.render_rgb(self.config, jax.device_get(state))
