"""Host-side renderers of the games marathon: a text log and a timeline picture."""

from __future__ import annotations

import numpy as np

from envs_jax.games import types as gt
from envs_jax.games.generator import interlude_card
from envs_jax.games.types import EnvState, GamesConfig
from envs_jax.render import tile_grid

TIMELINE_WIDTH = 64  # steps per row of the timeline picture
TILE = 4  # pixels per step in the timeline picture
RECENT_STEPS = 4  # earlier steps listed by the text renderer

# One colour per game (interlude first); info events are drawn dimmer than decisions, and
# steps already played dimmer still.
_GAME_COLOURS = np.array(
    [
        [90, 90, 90],  # interlude
        [230, 80, 80],  # concentration
        [70, 130, 230],  # battleship
        [240, 190, 60],  # counting
        [90, 200, 110],  # recall
        [190, 100, 220],  # higher_lower
        [60, 210, 210],  # match
    ],
    np.float32,
)
_INFO_SHADE = 0.55  # brightness of an info event relative to a decision
_PAST_SHADE = 0.35  # brightness of a played step relative to a future one
_CURSOR = np.array([255, 255, 255], np.uint8)
_EMPTY = np.array([0, 0, 0], np.uint8)  # padding after the last step
_SCORE = np.array([80, 220, 80], np.uint8)  # filled part of the score bar
_SCORE_BACK = np.array([40, 40, 40], np.uint8)  # empty part of the score bar

# Palette ids used by the timeline picture.
_PAST_BASE = gt.NUM_EVENTS
_CURSOR_ID = 2 * gt.NUM_EVENTS
_EMPTY_ID = _CURSOR_ID + 1
_SCORE_ID = _CURSOR_ID + 2
_SCORE_BACK_ID = _CURSOR_ID + 3


def _palette() -> np.ndarray:
    event_colours = []
    for game in range(gt.NUM_GAMES):
        for phase in range(gt.NUM_PHASES):
            shade = 1.0 if phase == gt.DECISION else _INFO_SHADE
            event_colours.append(_GAME_COLOURS[game] * shade)
    future = np.asarray(event_colours)
    past = future * _PAST_SHADE
    extra = np.stack([_CURSOR, _EMPTY, _SCORE, _SCORE_BACK]).astype(np.float32)
    return np.concatenate([future, past, extra]).round().astype(np.uint8)


PALETTE = _palette()


def describe_event(event: int, fields: np.ndarray, memory: int, lag: int) -> str:
    """One line a person can read: what the event shows and, for a decision, its answer."""
    game, phase = divmod(int(event), gt.NUM_PHASES)
    subject, value, result = (int(f) for f in fields)
    name = gt.GAME_NAMES[game].replace("_", "/")
    asks = phase == gt.DECISION
    if game == gt.INTERLUDE:
        return f"[{name}] a stray card ({subject}, {value}); nothing to remember"
    if game == gt.CONCENTRATION:
        text = f"face {subject} turned up at slot {value}"
        if asks:
            text += f" - where is its partner? (slot {memory})"
    elif game == gt.BATTLESHIP:
        if asks:
            text = f"fire at row {subject} - which column hit? (column {memory})"
        else:
            outcome = "HIT" if result == gt.HIT else "miss"
            text = f"shot at row {subject}, column {value}: {outcome}"
    elif game == gt.COUNTING:
        if asks:
            text = f"how many colour-{subject} cards since last asked? ({memory})"
        else:
            text = f"a colour-{subject} card (value {value})"
    elif game == gt.RECALL:
        text = (
            f"what does key {subject} hold? ({memory})" if asks else f"key {subject} holds {value}"
        )
    elif game == gt.HIGHER_LOWER:
        if asks:
            word = "higher" if value > memory else "lower"
            text = f"is {value} higher or lower than reference {subject}? ({word} than {memory})"
        else:
            text = f"reference {subject} is {value}"
    else:  # match
        if asks:
            word = "yes" if value == memory else "no"
            text = f"is {value} the same as sample {subject}? ({word}, it was {memory})"
        else:
            text = f"sample {subject} is {value}"
    if asks:
        text += f", shown {lag} steps ago"
    return f"[{name}] {'DECIDE' if asks else 'info'}: {text}"


def timeline(config: GamesConfig, state: EnvState) -> dict[str, np.ndarray]:
    """The episode step by step, on the host: ``event`` [T] event id, ``fields`` [T, 3],
    ``memory`` [T] and ``lag`` [T] (-1 off decisions), interludes included."""
    length = config.episode_length
    timing = np.asarray(state.timing, np.int64)
    cards = np.asarray(state.cards, np.int64)
    valid = timing[:, gt.TIMING_STEP] < int(state.horizon)
    where = timing[valid, gt.TIMING_STEP]
    event = np.full(length, gt.INTERLUDE_EVENT, np.int64)
    event[where] = cards[valid, gt.CARD_EVENT]
    decision = event % gt.NUM_PHASES == gt.DECISION
    fields = np.asarray(interlude_card(state.seed, np.arange(length), config), np.int64)
    fields[where, 0] = cards[valid, gt.CARD_SUBJECT]
    fields[where, 1] = cards[valid, gt.CARD_VALUE]
    fields[where, 2] = cards[valid, gt.CARD_EXTRA]
    memory = np.where(decision, fields[:, 2], 0)
    fields[decision, 2] = gt.NO_RESULT
    lag = np.full(length, -1, np.int64)
    lag[where] = timing[valid, gt.TIMING_LAG]
    return {"event": event, "fields": fields, "memory": memory, "lag": lag}


def _step_line(script: dict[str, np.ndarray], step: int) -> str:
    if step >= len(script["event"]):
        return f"t={step:>5}  (after the schedule: interlude)"
    line = describe_event(
        int(script["event"][step]),
        script["fields"][step],
        int(script["memory"][step]),
        int(script["lag"][step]),
    )
    return f"t={step:>5}  {line}"


def render_text(config: GamesConfig, state: EnvState, max_steps: int) -> str:
    """The score, the last decision's outcome, the current event and a few before it."""
    script = timeline(config, state)
    time = int(state.time)
    decisions = max(int(state.num_decisions), 1)
    feedback = ("none yet", "right", "wrong")[int(state.feedback)]
    lines = [
        f"Games marathon  t={time}/{max_steps}  score {int(state.num_correct)}/"
        f"{int(state.num_decisions)} decisions ({int(state.num_correct) / decisions:.3f}), "
        f"{int(state.decisions_seen)} met so far; last decision: {feedback}",
        f"now:    {_step_line(script, time)}",
    ]
    for step in range(max(time - RECENT_STEPS, 0), time):
        lines.append(f"before: {_step_line(script, step)}")
    return "\n".join(lines)


def render_rgb(config: GamesConfig, state: EnvState) -> np.ndarray:
    """The whole schedule as a timeline (one cell per step, a row per ``TIMELINE_WIDTH`` steps)
    under a score bar: colour = game, bright = decision, dim = played, white = now."""
    length = config.episode_length
    time = int(state.time)
    ids = timeline(config, state)["event"]
    ids = np.where(np.arange(length) < time, ids + _PAST_BASE, ids)
    if time < length:
        ids[time] = _CURSOR_ID
    rows = -(-length // TIMELINE_WIDTH)
    grid = np.full(rows * TIMELINE_WIDTH, _EMPTY_ID, np.int64)
    grid[:length] = ids
    grid = grid.reshape(rows, TIMELINE_WIDTH)
    score = int(state.num_correct) / max(int(state.num_decisions), 1)
    bar = np.full((1, TIMELINE_WIDTH), _SCORE_BACK_ID, np.int64)
    bar[0, : int(round(score * TIMELINE_WIDTH))] = _SCORE_ID
    spacer = np.full((1, TIMELINE_WIDTH), _EMPTY_ID, np.int64)
    return tile_grid(np.concatenate([bar, spacer, grid]), PALETTE, tile=TILE)
