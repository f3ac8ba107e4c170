"""Scripted story authors as :class:`envs_jax.scripted.ScriptedPlayer` objects.

* ``remembering``: :class:`envs_jax.story.author.ScriptedAuthor` with its belief kept across
  steps (the prologue's facts and every event written), planning toward the goal on show and,
  between chapters, toward the oldest remembered thread once it has waited ``thread_full_lag``.
* ``reactive``: the best author that sees only the current observation. It writes only events
  the observation proves consistent and rests otherwise, so it never contradicts the story and
  never does worse than resting throughout (return 0). The plot names only living characters,
  so a ``meet`` or ``kill`` goal is copied as shown (at the scene's place when the goal allows
  any place). A ``take``, ``drop`` or ``tell`` goal needs where the object lies, who carries
  it or who knows the secret, which the observation shows only right after an event that
  settled it: the event on show, accepted, of the same object or secret (a ``drop`` of the
  object just taken by the goal's subject; a ``take`` of the object just dropped, at that
  place; a ``tell`` of the secret just told in the scene where the goal's subject stands
  alive). Any other such goal is left unwritten: a blind try is right about once in the
  number of places or characters and each wrong one costs ``contradiction_penalty`` (an
  earlier version searched place by place and scored -291 at the default configuration).
  A thread is on show only in the step it opens and pays by the time it waited, so it is
  never written.
  Both read nothing of the env state.
"""

from __future__ import annotations

import jax.numpy as jnp

from envs_jax.scripted import ScriptedPlayer
from envs_jax.story.author import ScriptedAuthor
from envs_jax.story.env import Story
from envs_jax.story.rules import decode_tokens, encode_action
from envs_jax.story.types import DROP, INVALID_FLAG, KILL, MEET, NONE_TOKEN, TAKE, TELL


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

    def init(key, obs, state, params):
        del key, obs, state, params
        return jnp.zeros((), jnp.int32)

    def act(key, carry, obs, state, params):
        del key, state, params
        in_prologue = ~jnp.any(obs["action_mask"][1:])
        goal_on = obs["goal"][0] != NONE_TOKEN
        verb, subject, arg, place = decode_tokens(config, obs["goal"])
        at = jnp.where(place < 0, obs["place"], place)
        # The event on show (written last) and whether the world accepted it.
        last_verb, last_subject, last_arg, last_place = decode_tokens(config, obs["event"])
        accepted = ~jnp.any(obs["outcome"][: INVALID_FLAG + 1] > 0)
        same_arg = accepted & (last_arg == arg)
        safe = (
            (verb == MEET)
            | (verb == KILL)
            # The goal's subject took the object in the event on show: it carries it.
            | ((verb == DROP) & same_arg & (last_verb == TAKE) & (last_subject == subject))
            # The object was just dropped at a known place: take it there.
            | (
                (verb == TAKE)
                & same_arg
                & (last_verb == DROP)
                & ((place < 0) | (place == last_place))
            )
            # The secret was just told in this scene, where the subject stands alive.
            | ((verb == TELL) & same_arg & (last_verb == TELL) & (obs["present"][subject] > 0))
        )
        at = jnp.where((verb == TAKE) & (place < 0) & (last_verb == DROP), last_place, at)
        action = encode_action(config, verb, subject, arg, at)
        action = jnp.where(goal_on & safe & ~in_prologue, action, 0)
        return action.astype(jnp.int32), carry

    return ScriptedPlayer(name="story-reactive", init=init, act=act)


def players(env: Story) -> dict[str, ScriptedPlayer]:
    """``{"remembering": ..., "reactive": ...}`` for ``env``."""
    return {"remembering": remembering_author(env), "reactive": reactive_author(env)}
