"""Host-side renderers of one (unbatched) story state: readable text and a small picture."""

from __future__ import annotations

import colorsys
from typing import Any

import jax
import numpy as np

from envs_jax.render import tile_grid
from envs_jax.story.types import (
    ANY_TOKEN,
    ARG_CHARACTER,
    ARG_NONE,
    ARG_OBJECT,
    CONTRADICTION_NAMES,
    GOAL_FLAG,
    INVALID_FLAG,
    NONE_TOKEN,
    NUM_CONTRADICTIONS,
    NUM_VERBS,
    RELATION_NAMES,
    STRANGER,
    THREAD_FLAG,
    VERB_ARG_KIND,
    VERB_TOKEN_BASE,
    StoryConfig,
)

CHARACTER_NAMES = (
    "Ada", "Bram", "Cora", "Dov", "Elin", "Fenn", "Gwen", "Hal",
    "Iris", "Jory", "Kett", "Lio", "Mira", "Ned", "Orla", "Pim",
)  # fmt: skip
PLACE_NAMES = (
    "the mill", "the chapel", "the harbour", "the market", "the old tower", "the inn",
    "the forest", "the bridge", "the manor", "the well", "the crossroads", "the orchard",
)  # fmt: skip
OBJECT_NAMES = (
    "the silver key", "the old map", "the dagger", "the ledger", "the locket", "the lantern",
    "the sealed letter", "the ring", "the compass", "the hourglass", "the seal", "the flute",
)  # fmt: skip
SECRET_NAMES = (
    "the forged will", "the hidden heir", "the poisoned well", "the stolen gold",
    "the false name", "the broken vow", "the buried crown", "the secret door",
)  # fmt: skip

#: Sentence templates by verb id; {s} subject, {a} argument, {p} place.
SENTENCES = (
    "Time passes.",
    "{s} goes to {p}.",
    "{s} meets {a} at {p}.",
    "{s} takes {a} at {p}.",
    "{s} leaves {a} at {p}.",
    "{s} reveals {a} at {p}.",
    "{s} kills {a} at {p}.",
    "{s} is at {p}.",
    "{s} lies dead at {p}.",
    "{a} lies at {p}.",
    "{s} carries {a}, at {p}.",
    "{s}, at {p}, knows of {a}.",
)
assert len(SENTENCES) == NUM_VERBS

#: Pixels per cell of the RGB picture.
TILE = 10


def entity_name(names: tuple[str, ...], index: int) -> str:
    """The name of entity ``index``; lists that run out repeat with a numeral."""
    base = names[index % len(names)]
    return base if index < len(names) else f"{base} {index // len(names) + 1}"


class Namer:
    """Turns token and index arrays of one configuration into words."""

    def __init__(self, config: StoryConfig):
        self.config = config
        self.vocab = config.vocabulary

    def character(self, i: int) -> str:
        return entity_name(CHARACTER_NAMES, int(i))

    def place(self, i: int) -> str:
        return entity_name(PLACE_NAMES, int(i))

    def object(self, i: int) -> str:
        return entity_name(OBJECT_NAMES, int(i))

    def secret(self, i: int) -> str:
        return entity_name(SECRET_NAMES, int(i))

    def sentence(self, tokens: Any) -> str:
        """One event (int [4] tokens) as an English sentence."""
        tokens = [int(x) for x in np.asarray(tokens)]
        if tokens[0] == NONE_TOKEN:
            return "(nothing)"
        verb = tokens[0] - VERB_TOKEN_BASE
        vocab = self.vocab
        subject = self.character(tokens[1] - vocab.character_base) if tokens[1] else ""
        kind = VERB_ARG_KIND[verb]
        if kind == ARG_NONE:
            arg = ""
        elif kind == ARG_CHARACTER:
            arg = self.character(tokens[2] - vocab.character_base)
        elif kind == ARG_OBJECT:
            arg = self.object(tokens[2] - vocab.object_base)
        else:
            arg = self.secret(tokens[2] - vocab.secret_base)
        if tokens[3] == ANY_TOKEN:
            place = "any place"
        elif tokens[3] >= vocab.place_base:
            place = self.place(tokens[3] - vocab.place_base)
        else:
            place = ""
        text = SENTENCES[verb].format(s=subject, a=arg, p=place)
        return text[0].upper() + text[1:]


def _host(state: Any) -> Any:
    return jax.tree.map(np.asarray, jax.device_get(state))


def render_text(config: StoryConfig, state: Any, params: Any) -> str:
    """The world, the plot, the threads and the last ``history_len`` events, as text.

    Args:
        config: the static sizes.
        state: one unbatched :class:`StoryState`.
        params: its :class:`StoryParams`.

    Returns:
        A multi-line string a person can read.
    """
    st = _host(state)
    facts = st.facts
    name = Namer(config)
    time = int(st.time)
    c, o = config.num_characters, config.num_objects
    carrier = np.maximum(facts.obj_holder, 0)
    obj_place = np.where(facts.obj_holder >= 0, facts.char_place[carrier], facts.obj_place)
    lines = [
        f"== The story at step {time} of {int(params.max_steps_in_episode)} "
        f"(goals {int(st.goal_index)}/{config.num_goals}) ==",
        "",
        "Characters:",
    ]
    for i in range(c):
        state_word = "alive" if facts.alive[i] else "dead"
        parts = [f"{state_word}, at {name.place(facts.char_place[i])}"]
        held = [name.object(j) for j in range(o) if facts.obj_holder[j] == i]
        if held:
            parts.append("carries " + ", ".join(held))
        known = [name.secret(k) for k in range(config.num_secrets) if facts.knows[i, k]]
        if known:
            parts.append("knows " + ", ".join(known))
        ties = [
            f"{RELATION_NAMES[st.relations[i, j]]} of {name.character(j)}"
            for j in range(c)
            if j != i and st.relations[i, j] != STRANGER
        ]
        if ties:
            parts.append(", ".join(ties))
        lines.append(f"  {name.character(i)}: " + "; ".join(parts))
    lines.append("Objects:")
    for j in range(o):
        where = name.place(obj_place[j])
        if facts.obj_holder[j] >= 0:
            where = f"carried by {name.character(facts.obj_holder[j])}, at {where}"
        else:
            where = f"lies at {where}"
        lines.append(f"  {name.object(j)}: {where}")
    lines.append("Secrets:")
    for k in range(config.num_secrets):
        knowers = [name.character(i) for i in range(c) if facts.knows[i, k]]
        lines.append(f"  {name.secret(k)}: known to {', '.join(knowers) or 'nobody'}")

    lines += ["", f"Plot ({int(st.goal_index)} of {config.num_goals} goals written):"]
    for g in range(config.num_goals):
        unlock = config.prologue_len + g * int(params.chapter_len)
        if st.goal_done_time[g] >= 0:
            status = f"[x] written at step {int(st.goal_done_time[g])}"
        elif g == st.goal_index and time >= unlock:
            status = f"[>] on show since step {unlock}"
        else:
            status = f"[ ] from step {unlock}"
        lines.append(f"  {g + 1:2d}. {name.sentence(st.goals[g])}  {status}")
    if config.num_threads:
        lines.append("Threads (promises the story made):")
    for t in range(config.num_threads):
        opened = int(st.thread_open_time[t])
        if st.thread_resolved[t]:
            status = f"resolved (opened at step {opened})"
        elif opened >= 0:
            status = f"open since step {opened}"
        else:
            status = f"opens with goal {int(st.thread_opener[t]) + 1}"
        lines.append(f"  - {name.sentence(st.threads[t])}  [{status}]")
    counts = ", ".join(
        f"{CONTRADICTION_NAMES[i]}: {int(st.contradictions[i])}" for i in range(NUM_CONTRADICTIONS)
    )
    lines.append(f"Contradictions this episode: {counts}")

    recorded = int(st.history_count)
    kept = min(recorded, config.history_len)
    lines += ["", f"The story so far (last {kept} of {recorded} events):"]
    for n in range(recorded - kept, recorded):
        slot = n % config.history_len
        flags = st.history_outcome[slot]
        notes = [
            f"contradiction: {CONTRADICTION_NAMES[i]}"
            for i in range(NUM_CONTRADICTIONS)
            if flags[i]
        ]
        if flags[GOAL_FLAG]:
            notes.append("goal written")
        if flags[THREAD_FLAG]:
            notes.append("thread resolved")
        suffix = f"  [{'; '.join(notes)}]" if notes else ""
        text = name.sentence(st.history[slot])
        lines.append(f"  step {int(st.history_time[slot]):5d}: {text}{suffix}")
    if st.last_outcome[INVALID_FLAG]:
        lines.append("  (the last action was not grammatical: written as a rest)")
    present = [
        name.character(i) for i in range(c) if facts.alive[i] and facts.char_place[i] == st.focus
    ]
    lines.append(f"Scene: {name.place(st.focus)}; present: {', '.join(present) or 'nobody'}.")
    return "\n".join(lines)


def _palette(config: StoryConfig) -> np.ndarray:
    """uint8 [V, 3] colours: fixed ids, then one hue per character, then per object (twice)."""
    fixed = [
        (24, 26, 34),  # 0 background
        (70, 80, 100),  # 1 place
        (200, 200, 120),  # 2 place in focus
        (60, 60, 60),  # 3 goal pending
        (220, 180, 40),  # 4 goal on show
        (60, 190, 90),  # 5 goal written
        (90, 90, 110),  # 6 thread not opened
        (80, 140, 230),  # 7 thread open
        (150, 90, 210),  # 8 thread resolved
    ]

    def hues(n: int, saturation: float, value: float) -> list[tuple[int, int, int]]:
        return [
            tuple(int(255 * x) for x in colorsys.hsv_to_rgb(i / max(n, 1), saturation, value))
            for i in range(n)
        ]

    characters = hues(config.num_characters, 0.75, 0.95)
    objects = hues(config.num_objects, 0.35, 0.95)
    carried = hues(config.num_objects, 0.35, 0.6)
    return np.array(fixed + characters + objects + carried, np.uint8)


def render_rgb(config: StoryConfig, state: Any, params: Any) -> np.ndarray:
    """A picture of the world: one row per place, then the plot and the threads.

    Each place row shows the place (highlighted when in focus), one column per character (its
    colour when there, crossed out in black when it lies dead there) and one column per object
    (light when lying there, darker when carried by someone there). Below: one cell per plot goal
    (grey pending, yellow on show, green written) and one per thread (grey, blue open, purple
    resolved).

    Returns:
        uint8 [(P + 3) * TILE, W * TILE, 3], ``W = max(C + O + 2, G, T)``.
    """
    st = _host(state)
    facts = st.facts
    c, o, p = config.num_characters, config.num_objects, config.num_places
    g, t = config.num_goals, config.num_threads
    char_base, obj_base = 9, 9 + c
    carried_base = obj_base + o
    width = max(c + o + 2, g, t)
    ids = np.zeros((p + 3, width), np.int64)
    ids[:p, 0] = 1
    ids[int(st.focus), 0] = 2
    for i in range(c):
        ids[facts.char_place[i], 1 + i] = char_base + i
    carrier = np.maximum(facts.obj_holder, 0)
    obj_place = np.where(facts.obj_holder >= 0, facts.char_place[carrier], facts.obj_place)
    for j in range(o):
        base = carried_base if facts.obj_holder[j] >= 0 else obj_base
        ids[obj_place[j], c + 2 + j] = base + j
    on_show = int(st.time) >= config.prologue_len + int(st.goal_index) * int(params.chapter_len)
    for k in range(g):
        current = k == st.goal_index and on_show
        ids[p + 1, k] = 5 if st.goal_done_time[k] >= 0 else (4 if current else 3)
    for k in range(t):
        opened = st.thread_open_time[k] >= 0
        ids[p + 2, k] = 8 if st.thread_resolved[k] else (7 if opened else 6)
    image = tile_grid(ids, _palette(config), tile=TILE)
    diagonal = np.arange(TILE)
    for i in np.flatnonzero(~facts.alive):
        top, left = facts.char_place[i] * TILE, (1 + i) * TILE
        image[top + diagonal, left + diagonal] = 0
        image[top + diagonal, left + TILE - 1 - diagonal] = 0
    return image
