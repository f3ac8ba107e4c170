"""Scripted story authors as :class:`envs_jax.scripted.ScriptedPlayer` objects.

* ``remembering``: :class:`envs_jax.story.author.ScriptedAuthor` with its belief kept across
  steps (the prologue's facts and every event written), planning toward the goal on show and,
  between chapters, toward the oldest remembered thread once it has waited ``thread_full_lag``.
* ``reactive``: the best author that sees only the current observation. It copies the goal on
  show (at the scene's place when the goal allows any place). When the observation shows that
  copy rejected, it searches systematically, using the rejected event on show as its only
  state: for ``take``/``drop`` it tries to take the object at place 0, 1, ... and then brings it
  to the goal's place; for ``tell`` it brings the subject to the place and asks character 0,
  1, ... to tell the secret there. Each failed try is a contradiction; without memory there is
  no cheaper way to learn where an object lies or who knows a secret. A
  thread is on show only in the step it opens, so it writes it at once (for almost no reward).
  Both read nothing of the env state.
"""

from __future__ import annotations

import jax.numpy as jnp

from envs_jax.scripted import ScriptedPlayer
from envs_jax.story.author import ScriptedAuthor
from envs_jax.story.env import Story
from envs_jax.story.rules import decode_tokens, encode_action
from envs_jax.story.types import DROP, GO, INVALID_FLAG, NONE_TOKEN, TAKE, TELL


def remembering_author(env: Story) -> ScriptedPlayer:
    """The scripted author with memory (see the module docstring)."""
    author = ScriptedAuthor(env, remember=True)

    def init(key, obs, state, params):
        del obs, state, params
        return author.initial_state(key)

    def act(key, carry, obs, state, params):
        del state
        carry, action = author.step(key, carry, obs, params)
        return action, carry

    return ScriptedPlayer(name="story-remembering", init=init, act=act)


def reactive_author(env: Story) -> ScriptedPlayer:
    """The best memoryless author we could script (see the module docstring)."""
    config = env.config
    num_chars, num_places = config.num_characters, config.num_places

    def init(key, obs, state, params):
        del key, obs, state, params
        return jnp.zeros((), jnp.int32)

    def act(key, carry, obs, state, params):
        del key, state, params
        in_prologue = ~jnp.any(obs["action_mask"][1:])
        goal_on = obs["goal"][0] != NONE_TOKEN
        thread_on = obs["thread"][0] != NONE_TOKEN
        target = jnp.where(goal_on, obs["goal"], obs["thread"])
        verb, subject, arg, place = decode_tokens(config, target)
        at = jnp.where(place < 0, obs["place"], place)
        # The event on show (what was written last) and whether it was rejected.
        last_verb, last_subject, last_arg, last_place = decode_tokens(config, obs["event"])
        rejected = jnp.any(obs["outcome"][: INVALID_FLAG + 1] > 0)

        def write(v, s_, a, p_):
            return encode_action(config, v, s_, a, p_)

        copy = write(verb, subject, arg, at)
        is_copy = jnp.all(obs["event"][:3] == target[:3])
        # take / drop: find the object by taking it at place 0, 1, ... (the rejected event on
        # show says where the search stands), then bring it to the goal's place.
        finding = (last_verb == TAKE) & (last_subject == subject) & (last_arg == arg)
        take_next = write(TAKE, subject, arg, jnp.where(finding & rejected, last_place + 1, 0))
        searching_obj = (verb == TAKE) | (verb == DROP)
        brought = (last_verb == GO) & (last_subject == subject)
        after_find = jnp.where(
            (verb == TAKE) & (place >= 0) & (last_place != place) & ~brought,
            write(GO, subject, 0, place),
            copy,
        )
        obj_action = jnp.where(
            is_copy & rejected,
            take_next,
            jnp.where(
                finding & rejected & (last_place + 1 < num_places),
                take_next,
                jnp.where(finding & ~rejected, after_find, copy),
            ),
        )
        # tell: bring the subject to the place, then ask characters 0, 1, ... to tell it there.
        spot = jnp.where(place < 0, 0, place)
        asking = (last_verb == TELL) & (last_subject != subject) & (last_arg == arg)
        helper = jnp.where(asking & rejected, last_subject + 1, 0)
        helper = jnp.where(helper == subject, helper + 1, helper)
        ask = write(TELL, jnp.minimum(helper, num_chars - 1), arg, spot)
        tell_action = jnp.where(
            is_copy & rejected,
            write(GO, subject, 0, spot),
            jnp.where(
                brought & ~rejected,
                ask,
                jnp.where(asking & rejected & (helper < num_chars), ask, copy),
            ),
        )
        action = jnp.where(searching_obj, obj_action, jnp.where(verb == TELL, tell_action, copy))
        action = jnp.where((goal_on | thread_on) & ~in_prologue, action, 0)
        return action.astype(jnp.int32), carry

    return ScriptedPlayer(name="story-reactive", init=init, act=act)


def players(env: Story) -> dict[str, ScriptedPlayer]:
    """``{"remembering": ..., "reactive": ...}`` for ``env``."""
    return {"remembering": remembering_author(env), "reactive": reactive_author(env)}
