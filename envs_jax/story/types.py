"""Static config, sweepable params, state and the event vocabulary of the story benchmark."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from flax import struct
from gymnax.environments import environment

# Verbs. The first NUM_ACTION_VERBS are the author's; the rest only narrate the prologue.
REST, GO, MEET, TAKE, DROP, TELL, KILL = 0, 1, 2, 3, 4, 5, 6
IS_AT, LIES_DEAD, LIES, CARRIES, KNOWS = 7, 8, 9, 10, 11
NUM_ACTION_VERBS = 7
NUM_VERBS = 12

# Kinds of the second argument ("object" slot) of an event.
ARG_NONE, ARG_CHARACTER, ARG_OBJECT, ARG_SECRET = 0, 1, 2, 3
#: Kind of each verb's argument, by verb id.
VERB_ARG_KIND = np.array(
    [
        ARG_NONE,  # rest
        ARG_NONE,  # go
        ARG_CHARACTER,  # meet
        ARG_OBJECT,  # take
        ARG_OBJECT,  # drop
        ARG_SECRET,  # tell
        ARG_CHARACTER,  # kill
        ARG_NONE,  # is-at
        ARG_NONE,  # lies-dead
        ARG_OBJECT,  # lies
        ARG_OBJECT,  # carries
        ARG_SECRET,  # knows
    ],
    np.int32,
)
#: Whether each verb has a character as its subject (``lies`` has none: the object lies there).
VERB_HAS_SUBJECT = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1], np.bool_)
#: Whether each verb names a place (all but ``rest``).
VERB_HAS_PLACE = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], np.bool_)

# Contradiction kinds, the order of ``info["contradiction"]``.
DEAD_ACTS, OBJECT_ELSEWHERE, SECRET_UNLEARNED = 0, 1, 2
NUM_CONTRADICTIONS = 3
CONTRADICTION_NAMES = ("dead character acts", "object is elsewhere", "secret never learned")

# Flags of ``obs["outcome"]``: the three contradiction kinds, then these.
INVALID_FLAG, GOAL_FLAG, THREAD_FLAG = 3, 4, 5
NUM_OUTCOME_FLAGS = 6

# Relations between characters (flavour for the plot generator and the text renderer).
STRANGER, FRIEND, RIVAL, KIN = 0, 1, 2, 3
RELATION_NAMES = ("stranger", "friend", "rival", "kin")

# Token ids shared by every configuration; verbs, characters, objects, secrets, places follow.
NONE_TOKEN, ANY_TOKEN = 0, 1
VERB_TOKEN_BASE = 2


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Token layout of the shared event vocabulary (one embedding table for every slot).

    ``0`` none (an empty slot), ``1`` anywhere (a goal's place wildcard), then the verbs, the
    characters, the objects, the secrets and the places, in that order.
    """

    num_characters: int  # C
    num_objects: int  # O
    num_secrets: int  # S
    num_places: int  # P

    @property
    def character_base(self) -> int:
        return VERB_TOKEN_BASE + NUM_VERBS

    @property
    def object_base(self) -> int:
        return self.character_base + self.num_characters

    @property
    def secret_base(self) -> int:
        return self.object_base + self.num_objects

    @property
    def place_base(self) -> int:
        return self.secret_base + self.num_secrets

    @property
    def size(self) -> int:
        return self.place_base + self.num_places

    def arg_base(self) -> np.ndarray:
        """int32 [4] first token of each argument kind (none, character, object, secret)."""
        return np.array([0, self.character_base, self.object_base, self.secret_base], np.int32)


@dataclasses.dataclass(frozen=True)
class StoryConfig:
    """Static, shape-defining sizes of a story world."""

    num_characters: int = 8  # C characters
    num_places: int = 6  # P places
    num_objects: int = 6  # O objects
    num_secrets: int = 4  # S secrets, each known at first by one character
    num_goals: int = 12  # G plot goals, one per chapter, completed in order
    num_threads: int = 4  # T threads (promises) opened by completing some goals
    num_dead_at_start: int = 1  # characters already dead when the story begins
    num_plot_kills: int = 2  # plot goals that kill a character (victims leave the plot)
    history_len: int = 32  # K events kept in a ring for the text renderer

    def __post_init__(self):
        minimums = {
            "num_characters": 2,
            "num_places": 2,
            "num_objects": 1,
            "num_secrets": 1,
            "num_goals": 1,
            "num_threads": 0,
            "num_dead_at_start": 0,
            "num_plot_kills": 0,
            "history_len": 1,
        }
        for name, low in minimums.items():
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool):
                raise ValueError(f"{name} must be an int, got {value!r}")
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        if self.num_threads > self.num_goals - 1:
            raise ValueError(
                f"num_threads must be <= num_goals - 1 = {self.num_goals - 1} (each thread is "
                f"opened by a different goal before the last), got {self.num_threads}"
            )
        if self.num_plot_kills > self.num_goals:
            raise ValueError(
                f"num_plot_kills must be <= num_goals = {self.num_goals}, got {self.num_plot_kills}"
            )
        survivors = self.num_characters - self.num_dead_at_start - self.num_plot_kills
        if survivors < 2:
            raise ValueError(
                "num_dead_at_start + num_plot_kills must leave at least 2 characters alive to the "
                f"end (num_characters - 2 = {self.num_characters - 2}), got "
                f"{self.num_dead_at_start} + {self.num_plot_kills}"
            )

    @property
    def num_args(self) -> int:
        """Size of the argument slot of an action: max(C, O, S)."""
        return max(self.num_characters, self.num_objects, self.num_secrets)

    @property
    def action_factors(self) -> tuple[int, int, int, int]:
        """(verbs, C, max(C, O, S), P): the sizes of the flat action's components (verb,
        subject, argument, place), row-major as :func:`~envs_jax.story.rules.decode_action`
        reads them; their product is ``num_actions``. A policy can give each its own logits
        (``PPOConfig.action_factors``)."""
        return (NUM_ACTION_VERBS, self.num_characters, self.num_args, self.num_places)

    @property
    def num_actions(self) -> int:
        """A = NUM_ACTION_VERBS * C * max(C, O, S) * P."""
        return NUM_ACTION_VERBS * self.num_characters * self.num_args * self.num_places

    @property
    def prologue_len(self) -> int:
        """L = C + O + S: one narrated fact per character, object and secret."""
        return self.num_characters + self.num_objects + self.num_secrets

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self.num_characters, self.num_objects, self.num_secrets, self.num_places)

    @property
    def privileged_size(self) -> int:
        """F = 2C + 2O + C*S + 5T entries of the privileged fact vector."""
        c, o, s, t = self.num_characters, self.num_objects, self.num_secrets, self.num_threads
        return 2 * c + 2 * o + c * s + 5 * t


@struct.dataclass
class StoryParams(environment.EnvParams):
    """Sweepable values of the story benchmark (every field is a pytree leaf)."""

    max_steps_in_episode: int = 3200  # episode length before truncation
    chapter_len: int = 250  # goal i is shown from step prologue_len + i * chapter_len on
    goal_reward: float = 1.0  # reward for writing the current plot goal's event
    thread_reward: float = 1.0  # full reward for resolving a thread
    thread_full_lag: int = 500  # a thread pays thread_reward * min(1, lag / thread_full_lag)
    contradiction_penalty: float = 0.25  # subtracted per contradiction kind an event commits
    invalid_action_penalty: float = 0.05  # subtracted for an action the mask forbids
    anywhere_prob: float = 0.5  # probability that a plot goal may happen at any place
    carried_prob: float = 0.25  # probability that an object starts in a character's hands
    friend_prob: float = 0.25  # probability that a pair of characters are friends
    rival_prob: float = 0.2  # probability that a pair of characters are rivals
    kin_prob: float = 0.15  # probability that a pair of characters are kin


@struct.dataclass
class Facts:
    """The world's fact table (hidden from the plain observation)."""

    alive: jax.Array  # [C] bool, whether each character lives
    char_place: jax.Array  # [C] int32, where each character is (the dead: where they died)
    obj_holder: jax.Array  # [O] int32, the character carrying each object, -1 if it lies
    obj_place: jax.Array  # [O] int32, where each object lies (stale while carried)
    knows: jax.Array  # [C, S] bool, who knows which secret


@struct.dataclass
class StoryState(environment.EnvState):
    """State of one story. ``time`` counts the steps taken (the observation's time)."""

    facts: Facts  # the hidden fact table
    relations: jax.Array  # [C, C] int32, symmetric relation ids (STRANGER .. KIN)
    prologue: jax.Array  # [L, 4] int32, narrated initial facts as (verb, subject, arg, place)
    goals: jax.Array  # [G, 4] int32, tokens of each plot goal's event (place may be ANY)
    goal_index: jax.Array  # [] int32, goals completed so far (the current goal's index)
    goal_done_time: jax.Array  # [G] int32, observation time each goal was written, -1 if not
    threads: jax.Array  # [T, 4] int32, tokens of each thread's resolving event
    thread_opener: jax.Array  # [T] int32, index of the goal whose completion opens the thread
    thread_open_time: jax.Array  # [T] int32, observation time it was opened, -1 if not yet
    thread_resolved: jax.Array  # [T] bool, whether the thread has been resolved
    thread_kept: jax.Array  # [T] bool, resolved after waiting at least thread_full_lag steps
    char_seen: jax.Array  # [C] int32, last observation time each character was shown
    obj_seen: jax.Array  # [O] int32, last observation time each object was shown
    secret_seen: jax.Array  # [S] int32, last observation time each secret was shown
    last_event: jax.Array  # [4] int32, tokens of the event shown in the observation
    last_outcome: jax.Array  # [6] int32, 0/1 outcome flags of that event
    last_thread: jax.Array  # [4] int32, tokens of the thread opened by it (NONE if none)
    focus: jax.Array  # [] int32, the place in focus (the scene)
    history: jax.Array  # [K, 4] int32, ring of the last K events written or narrated
    history_outcome: jax.Array  # [K, 6] int32, their outcome flags
    history_time: jax.Array  # [K] int32, observation time of each (-1 in unused slots)
    history_count: jax.Array  # [] int32, events recorded so far (next slot = count % K)
    contradictions: jax.Array  # [3] int32, contradictions committed this episode, per kind
