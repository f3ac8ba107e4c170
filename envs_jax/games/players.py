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
``progress[0]``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs_jax.games import types as gt
from envs_jax.games.env import Games
from envs_jax.scripted import ScriptedPlayer


def player(env: Games, remember: bool) -> ScriptedPlayer:
    """The scripted player (see the module docstring); ``remember`` is static."""
    config = env.config
    num_choices = config.num_choices

    def blank():
        return {
            "value": jnp.zeros((gt.NUM_GAMES, config.num_lanes), jnp.int32),  # [G, L]
            "known": jnp.zeros((gt.NUM_GAMES, config.num_lanes), jnp.bool_),  # [G, L]
            "count": jnp.zeros((config.num_lanes,), jnp.int32),  # [L] cards since last asked
        }

    def init(key, obs, state, params):
        del key, obs, state, params
        return blank()

    def act(key, table, obs, state, params):
        del state
        table = table if remember else blank()
        game, phase = obs["game"], obs["phase"]
        subject, value, result = obs["fields"][0], obs["fields"][1], obs["fields"][2]
        info = phase == gt.INFO
        # Write what an info event shows (battleship: only the hit's column).
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
        known = table["known"].at[game, subject].set(writes | table["known"][game, subject])
        is_count = game == gt.COUNTING
        count = table["count"].at[subject].add((info & is_count).astype(jnp.int32))

        # From the table.
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
        have = jnp.where(is_count, count[subject] > 0, known[game, subject])

        # The odds of what is on show.
        key_choice, key_count = jax.random.split(key)
        not_partner = jnp.arange(num_choices) != value
        choice = jax.random.categorical(
            key_choice,
            jnp.where((game == gt.CONCENTRATION) & ~not_partner, -jnp.inf, jnp.zeros(num_choices)),
        )
        guessed_count = jax.random.randint(key_count, (), 1, config.max_count + 1)
        guess = jnp.select(
            [game == gt.HIGHER_LOWER, game == gt.MATCH, is_count],
            [
                jnp.where(2 * value > num_choices - 1, config.higher_action, config.lower_action),
                jnp.where(params.match_same_prob >= 0.5, config.yes_action, config.no_action),
                guessed_count,
            ],
            choice,
        )
        action = jnp.where(info, config.continue_action, jnp.where(have, recalled, guess))

        # A question on a counting colour restarts its count; a question ends the lane's item.
        asked = ~info
        count = count.at[subject].set(jnp.where(asked & is_count, 0, count[subject]))
        known = known.at[game, subject].set(known[game, subject] & ~asked)
        return action.astype(jnp.int32), {"value": stored, "known": known, "count": count}

    name = "remembering" if remember else "reactive"
    return ScriptedPlayer(name=f"games-{name}", init=init, act=act)


def players(env: Games) -> dict[str, ScriptedPlayer]:
    """``{"remembering": ..., "reactive": ...}`` for ``env``."""
    return {"remembering": player(env, True), "reactive": player(env, False)}
