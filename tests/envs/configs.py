"""Small configurations of every env, shared by the conformance checks and the per-env tests.

Small worlds compile and run fast; each dict holds ``envs_jax.make`` overrides (static config
fields and ``EnvParams`` fields alike).
"""

from __future__ import annotations

#: Crafting: a small open world (all terrain kinds, creatures), one iron and one diamond.
CRAFTING = {"map_size": 16, "max_creatures": 4, "initial_cows": 0, "num_iron": 1, "num_diamonds": 1}
#: Crafting params: no creatures spawn, and the vitals drain slowly.
CRAFTING_PEACEFUL = {
    "cow_spawn_prob": 0.0,
    "zombie_spawn_prob_day": 0.0,
    "zombie_spawn_prob_night": 0.0,
    "skeleton_spawn_prob": 0.0,
    "hunger_period": 100_000,
    "thirst_period": 100_000,
    "fatigue_period": 100_000,
}
#: Crafting params: all grass (no water, mountains or trees).
CRAFTING_FLAT = {"water_level": 99.0, "mountain_level": 99.0, "tree_density": 0.0}

#: Navigation: a 3x3-room building, small enough to compile and run fast, large enough for
#: chains of keys.
NAVIGATION = dict(
    rooms_high=3,
    rooms_wide=3,
    room_size=3,
    view_size=5,
    num_colours=3,
    num_locked_doors=4,
    num_extra_doors=2,
    num_landmarks=4,
)
#: Navigation: two tiny rooms and no locks, where random actions reach targets often.
NAVIGATION_TINY = dict(
    rooms_high=1,
    rooms_wide=2,
    room_size=2,
    view_size=3,
    num_colours=1,
    num_locked_doors=0,
    num_extra_doors=0,
    num_landmarks=2,
)

#: Games: a short marathon: 256 steps, 3 lanes per game, lags of 20 .. 150 steps.
GAMES = dict(
    episode_length=256,
    num_choices=8,
    num_lanes=3,
    max_items_per_lane=4,
    battleship_shots=2,
    max_count=3,
    max_events=192,
    lag_min=20,
    lag_max=150,
    item_gap_max=8,
    lane_start_max=32,
)

#: Story: 4 characters (1 dead at start, 1 plot victim), 3 places, 3 objects, 2 secrets,
#: 4 goals 20 steps apart, 2 threads; 336 actions; prologue of 9 steps.
STORY = dict(
    num_characters=4,
    num_places=3,
    num_objects=3,
    num_secrets=2,
    num_goals=4,
    num_threads=2,
    num_dead_at_start=1,
    num_plot_kills=1,
    history_len=8,
    chapter_len=20,
    thread_full_lag=30,
    max_steps_in_episode=150,
)

#: Recall: the cue at t = 0, the query at t = RECALL_LAG, four cues, six distractors.
RECALL_LAG = 20
RECALL_CUES = 4
RECALL = dict(lag=RECALL_LAG, num_cues=RECALL_CUES, num_distractors=6)

#: The small configuration of every env, by id.
SMALL: dict[str, dict] = {
    "crafting": CRAFTING,
    "navigation": NAVIGATION,
    "games": GAMES,
    "story": STORY,
    "recall": RECALL,
}
