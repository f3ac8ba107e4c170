"""Scripted players for the games marathon as :class:`envs_jax.scripted.ScriptedPlayer` objects.

Both run one policy; they differ only in a table of what the info events showed.

* ``remembering``: keeps the last value shown for every (game, lane) (concentration's slot, the
  column of battleship's hit, recall's value, higher/lower's reference, match's sample) and a
  running card count per counting colour, and answers every question from it.
* ``reactive``: the best player on the current observation alone. Nothing of the answer is on
  show at a question, so it plays the odds of what is: concentration, a slot other than the
  partner's (1 in N - 1); higher/lower, "higher" when the new value lies in the upper half (the
  reference is uniform over the other values, so this is right with probability
  ``max(w, N - 1 - w) / (N - 1)``, about 3/4); match, "yes" when ``match_same_prob >= 1/2``;
  battleship, recall and counting, a uniform guess among the possible answers (counting:
  1 .. ``max_count``, never the masked-in 0 that no first question has).

Neither reads the env state beyond ``state.time`` (the step count, also shown as
``progress[0]``). Both are :func:`table_policy` with a memory window (forever, or none);
:func:`table_policy` also plays with any window, forgetting entries older than it, and can
guess uniformly among the allowed actions instead of playing the odds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from envs_jax.games import types as gt
from envs_jax.games.env import Games
from envs_jax.games.types import EnvParams
from envs_jax.scripted import ScriptedPlayer

#: ``stamp`` of a table entry never written (or cleared by its question): older than any window.
NEVER = -(2**30)
#: A memory window no entry outlives: the remembering player's.
FOREVER = 2**30 - 1

#: The player's table: per (game, lane) the last value shown and when; per counting colour the
#: cards dealt since it was last asked and when the first of them came.
Table = dict[str, jax.Array]


def table_policy(
    env: Games, guess_uniformly: bool = False
) -> tuple[Callable[[], Table], Callable[..., tuple[jax.Array, Table]]]:
    """A table-keeping policy with a memory window, as ``(init, act)``.

    ``init() -> table``; ``act(key, table, obs, time, window, params) -> (action, table)``:
    writes what an info event shows (battleship: only the hit's column) with the step ``time``,
    answers a question from an entry at most ``window`` steps old (0: only what is on show now,
    :data:`FOREVER`: everything; ``window`` may be traced), and otherwise guesses: the odds of
    what is on show (see the module docstring), or uniformly among the allowed actions when
    ``guess_uniformly`` (static). A question clears its entry (the lane's item is over).
    """
    config = env.config
    num_choices = config.num_choices

    def init() -> Table:
        return {
            "value": jnp.zeros((gt.NUM_GAMES, config.num_lanes), jnp.int32),  # [G, L]
            "stamp": jnp.full((gt.NUM_GAMES, config.num_lanes), NEVER, jnp.int32),  # [G, L]
            "count": jnp.zeros((config.num_lanes,), jnp.int32),  # [L] cards since last asked
            "count_start": jnp.full((config.num_lanes,), NEVER, jnp.int32),  # [L] first card
        }

    def guess_odds(key: jax.Array, game, value, params: EnvParams) -> jax.Array:
        key_choice, key_count = jax.random.split(key)
        not_partner = jnp.arange(num_choices) != value
        choice = jax.random.categorical(
            key_choice,
            jnp.where((game == gt.CONCENTRATION) & ~not_partner, -jnp.inf, jnp.zeros(num_choices)),
        )
        guessed_count = jax.random.randint(key_count, (), 1, config.max_count + 1)
        return jnp.select(
            [game == gt.HIGHER_LOWER, game == gt.MATCH, game == gt.COUNTING],
            [
                jnp.where(2 * value > num_choices - 1, config.higher_action, config.lower_action),
                jnp.where(params.match_same_prob >= 0.5, config.yes_action, config.no_action),
                guessed_count,
            ],
            choice,
        )

    def act(
        key: jax.Array,
        table: Table,
        obs: dict[str, jax.Array],
        time: jax.Array,
        window: Any,
        params: EnvParams,
    ) -> tuple[jax.Array, Table]:
        game, phase = obs["game"], obs["phase"]
        subject, value, result = obs["fields"][0], obs["fields"][1], obs["fields"][2]
        info = phase == gt.INFO
        writes = info & (
            (game == gt.CONCENTRATION)
            | ((game == gt.BATTLESHIP) & (result == gt.HIT))
            | (game == gt.RECALL)
            | (game == gt.HIGHER_LOWER)
            | (game == gt.MATCH)
        )
        stored = (
            table["value"]
            .at[game, subject]
            .set(jnp.where(writes, value, table["value"][game, subject]))
        )
        stamps = (
            table["stamp"]
            .at[game, subject]
            .set(jnp.where(writes, time, table["stamp"][game, subject]))
        )
        is_count = game == gt.COUNTING
        card = info & is_count
        first_card = card & (table["count"][subject] == 0)
        count = table["count"].at[subject].add(card.astype(jnp.int32))
        count_start = (
            table["count_start"]
            .at[subject]
            .set(jnp.where(first_card, time, table["count_start"][subject]))
        )

        # From the table, if the entry is young enough.
        remembered = stored[game, subject]
        recalled = jnp.where(
            game == gt.HIGHER_LOWER,
            jnp.where(value > remembered, config.higher_action, config.lower_action),
            jnp.where(
                game == gt.MATCH,
                jnp.where(value == remembered, config.yes_action, config.no_action),
                jnp.where(is_count, count[subject], remembered),
            ),
        )
        have = jnp.where(
            is_count,
            (count[subject] > 0) & (time - count_start[subject] <= window),
            time - stamps[game, subject] <= window,
        )
        if guess_uniformly:
            guess = jax.random.categorical(key, jnp.where(obs["action_mask"], 0.0, -jnp.inf))
        else:
            guess = guess_odds(key, game, value, params)
        action = jnp.where(info, config.continue_action, jnp.where(have, recalled, guess))

        # A question on a counting colour restarts its count; a question ends the lane's item.
        asked = ~info
        count = count.at[subject].set(jnp.where(asked & is_count, 0, count[subject]))
        stamps = stamps.at[game, subject].set(jnp.where(asked, NEVER, stamps[game, subject]))
        table = {"value": stored, "stamp": stamps, "count": count, "count_start": count_start}
        return action.astype(jnp.int32), table

    return init, act


def player(env: Games, remember: bool) -> ScriptedPlayer:
    """The scripted player (see the module docstring); ``remember`` is static."""
    init_table, act_on_table = table_policy(env)
    window = FOREVER if remember else 0

    def init(key, obs, state, params):
        del key, obs, state, params
        return init_table()

    def act(key, table, obs, state, params):
        # The reactive player starts every step from an empty table: nothing it saw before
        # reaches its decision.
        table = table if remember else init_table()
        return act_on_table(key, table, obs, state.time, window, params)

    name = "remembering" if remember else "reactive"
    return ScriptedPlayer(name=f"games-{name}", init=init, act=act)


def players(env: Games) -> dict[str, ScriptedPlayer]:
    """``{"remembering": ..., "reactive": ...}`` for ``env``."""
    return {"remembering": player(env, True), "reactive": player(env, False)}
