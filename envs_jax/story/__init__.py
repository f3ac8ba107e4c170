"""Procedural story writing: the agent is the author of a generated world's story.

Each episode generates a world from the reset key: ``C`` characters (some already dead, the rest
standing at places, related as friends, rivals or kin), ``P`` places, ``O`` objects (lying at a
place or carried by someone) and ``S`` secrets (each known at first by one character). It also
generates a plot of ``G`` goals, one per chapter, and ``T`` threads. A goal is an event the story
must contain (e.g. "Cora takes the ledger at any place", "Bram kills Dov at the inn"); completing
some goals opens a thread, a promise the story makes (e.g. "Ada will reveal the forged will at the
mill"), which any later event may keep. Solvable by construction (see
:mod:`envs_jax.story.generator`).

The episode opens with a prologue of ``L = C + O + S`` steps that narrates the world's initial
facts, one per step, in random order: where each character is (or lies dead), where each object
lies or who carries it, who knows each secret. Then the agent writes the story, one event per
step. Events follow the world's rules (:mod:`envs_jax.story.rules`): an event brings its subject
to its place (``meet`` and ``kill`` bring the other character too); ``take`` puts an object in
the subject's hands, ``drop`` leaves it at the place, carried objects travel with their carrier;
``tell`` teaches a secret to every living character present; ``kill`` kills, and the victim's
objects fall where they die.

What must be remembered: the observation shows only the last event and the current scene (the
place in focus and who is alive there), never the fact table. To write a goal without
contradicting the story, the author must remember the prologue and everything it wrote since:
who is dead (the prologue's dead, its own killings), where each object is now (shown in the
prologue, moved by its own events thousands of steps before), who has learned which secret. A
thread is shown once, when it opens; keeping it later means remembering its event for hundreds
of steps, and it pays more the longer it waited.

Observation (dict; tokens index one shared vocabulary of ``V = 2 + 12 + C + O + S + P`` ids:
``0`` none, ``1`` any place, then the 12 verbs, the characters, objects, secrets and places):

=================  ==============  ==========================================================
key                shape, dtype    meaning
=================  ==============  ==========================================================
``event``          [4] int32       the event just written or narrated: verb, subject,
                                   argument (character, object or secret), place tokens
``outcome``        [6] int32       0/1: contradictions (dead acts, object elsewhere, secret
                                   unlearned), action not grammatical, goal written, thread
                                   resolved
``place``          [] int32        the place in focus, in [0, P)
``present``        [C] int32       1 for each living character at the place in focus
``goal``           [4] int32       the current plot goal's event tokens (place may be the
                                   ANY token); all 0 while the next chapter has not begun
``thread``         [4] int32       the thread the last event opened (all 0 otherwise): the
                                   only time the thread is shown
``action_mask``    [A] bool        grammatical actions (only ``rest`` during the prologue)
``privileged``     [F] int32       privileged twin only: the hidden fact table, see
                                   :meth:`Story.privileged_facts`; ``F = 2C + 2O + CS + 5T``
=================  ==============  ==========================================================

Action: ``Discrete(A)``, ``A = 7 * C * N * P`` with ``N = max(C, O, S)``: action
``((verb * C + subject) * N + argument) * P + place`` writes the event (verb, subject, argument,
place). Verbs: 0 ``rest`` (only as action 0), 1 ``go`` (argument 0), 2 ``meet`` (a character),
3 ``take`` / 4 ``drop`` (an object), 5 ``tell`` (a secret), 6 ``kill`` (a character). The mask
forbids only ungrammatical actions (an argument beyond its kind's count, meeting or killing
oneself, non-canonical ``rest``/``go``) and, during the prologue, everything but ``rest``; it
never masks a contradiction, which the author must avoid by remembering. A masked action is
written as ``rest`` and costs ``invalid_action_penalty``. Out-of-range actions are clipped into
``[0, A - 1]`` (``clip_action``).

Contradictions (``info["contradiction"]``, int32 [3]; a contradicted event is rejected: the
world does not change): 0 a dead character acts, or is met or killed; 1 the object is elsewhere
(``take`` where the object is not, ``drop`` of an object the subject does not carry); 2 the subject
``tell`` s a secret it never learned.

Reward: ``goal_reward`` for writing the current goal's event (on or after its chapter's first
step ``L + i * chapter_len``); ``thread_reward * min(1, lag / thread_full_lag)`` for writing an
open thread's event ``lag`` steps after it opened; minus ``contradiction_penalty`` per
contradiction kind; minus ``invalid_action_penalty`` for a masked action.

Termination: every goal written and every thread resolved. Truncation at
``max_steps_in_episode`` (3,200 by default; the last chapter begins at step 2,768).

Memory statistics (``info``): every written event (not ``rest``) is a memory decision; its
``lag`` is the time since the stalest fact it relied on was last shown (its subject's and other
character's life, the object's whereabouts, the secret's keepers; a character is shown when named
by an event or present in the scene), or since the thread it resolves opened, whichever is
longer. ``recall`` is True when the event contradicts nothing. ``success`` is the fraction of
plot goals written. ``info`` also holds ``contradiction`` [3] int32, ``invalid_action``,
``goal_completed`` and ``thread_resolved`` (bool []).

Baselines: :class:`ScriptedAuthor` plans from a belief it updates with the world's rules; with
``remember=True`` it writes every goal and keeps every thread without a contradiction, with
``remember=False`` (the current observation only) it guesses, contradicts the story and loses
the threads. The text renderer prints the world, the plot, the threads and the last
``history_len`` events as sentences; the RGB renderer draws places, characters (the dead crossed
out), objects, goals and threads as coloured tiles.
"""

from envs_jax.story.author import ScriptedAuthor
from envs_jax.story.env import Story
from envs_jax.story.types import Facts, StoryConfig, StoryParams, StoryState

__all__ = ["Facts", "ScriptedAuthor", "Story", "StoryConfig", "StoryParams", "StoryState"]
