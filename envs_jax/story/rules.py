"""The rules of the story world as pure functions on one (unbatched) fact table.

Shared by the environment and by the scripted authors (:mod:`envs_jax.story.author`), which apply
the same rules to their belief about the world. Every function works on fixed-size arrays with
iota comparisons instead of loops, so it jits, vmaps and stays cheap.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax.story.types import (
    ANY_TOKEN,
    ARG_CHARACTER,
    ARG_NONE,
    ARG_OBJECT,
    ARG_SECRET,
    CARRIES,
    DROP,
    IS_AT,
    KILL,
    KNOWS,
    LIES,
    LIES_DEAD,
    MEET,
    NONE_TOKEN,
    NUM_ACTION_VERBS,
    NUM_CONTRADICTIONS,
    NUM_VERBS,
    REST,
    TAKE,
    TELL,
    VERB_ARG_KIND,
    VERB_HAS_PLACE,
    VERB_HAS_SUBJECT,
    VERB_TOKEN_BASE,
    Facts,
    StoryConfig,
)


def decode_action(config: StoryConfig, action: jax.Array) -> tuple[jax.Array, ...]:
    """Splits a flat action into its event fields.

    ``action = ((verb * C + subject) * N + argument) * P + place`` with ``N = max(C, O, S)``.

    Args:
        config: the static sizes.
        action: int32 [] in ``[0, A)``.

    Returns:
        ``(verb, subject, argument, place)``, each int32 [].
    """
    p, n, c = config.num_places, config.num_args, config.num_characters
    # Unsigned division of the (non-negative) index compiles without sign fix-ups.
    index = jnp.asarray(action, jnp.int32).astype(jnp.uint32)
    p, n, c = np.uint32(p), np.uint32(n), np.uint32(c)
    place, rest = index % p, index // p
    arg, rest = rest % n, rest // n
    fields = (rest // c, rest % c, arg, place)
    return tuple(field.astype(jnp.int32) for field in fields)


def encode_action(
    config: StoryConfig, verb: jax.Array, subject: jax.Array, arg: jax.Array, place: jax.Array
) -> jax.Array:
    """Inverse of :func:`decode_action`: int32 [] flat action index."""
    p, n, c = config.num_places, config.num_args, config.num_characters
    index = ((verb * c + subject) * n + arg) * p + place
    return jnp.asarray(index, jnp.int32)


def grammar_mask(config: StoryConfig) -> np.ndarray:
    """The actions that are grammatical in every world (host-side constant).

    ``rest`` only as action 0; ``go`` only with argument 0; ``meet`` and ``kill`` need another
    character as argument; ``take``/``drop`` an object index < O; ``tell`` a secret index < S.

    Returns:
        bool [A].
    """
    c, n, p = config.num_characters, config.num_args, config.num_places
    verb, subject, arg, place = np.meshgrid(
        np.arange(NUM_ACTION_VERBS), np.arange(c), np.arange(n), np.arange(p), indexing="ij"
    )
    arg_kind = VERB_ARG_KIND[verb]
    arg_size = np.array([1, c, config.num_objects, config.num_secrets])[arg_kind]
    ok = arg < arg_size
    ok &= np.where(arg_kind == ARG_CHARACTER, arg != subject, True)
    ok &= np.where(verb == REST, (subject == 0) & (place == 0), True)
    return ok.reshape(-1)


def event_tokens(
    config: StoryConfig, verb: jax.Array, subject: jax.Array, arg: jax.Array, place: jax.Array
) -> jax.Array:
    """Tokens of an event given by indices (``place`` < 0 gives the ANY token).

    Returns:
        int32 [4]: verb, subject, argument, place tokens (NONE where the verb has no such slot).
    """
    vocab = config.vocabulary
    kind = jnp.asarray(VERB_ARG_KIND)[verb]
    subject_tok = jnp.where(
        jnp.asarray(VERB_HAS_SUBJECT)[verb], vocab.character_base + subject, NONE_TOKEN
    )
    arg_tok = jnp.where(kind == ARG_NONE, NONE_TOKEN, jnp.asarray(vocab.arg_base())[kind] + arg)
    place_tok = jnp.where(place < 0, ANY_TOKEN, vocab.place_base + place)
    place_tok = jnp.where(jnp.asarray(VERB_HAS_PLACE)[verb], place_tok, NONE_TOKEN)
    return jnp.stack([VERB_TOKEN_BASE + verb, subject_tok, arg_tok, place_tok]).astype(jnp.int32)


def decode_tokens(config: StoryConfig, tokens: jax.Array) -> tuple[jax.Array, ...]:
    """Indices of an event given by tokens; the inverse of :func:`event_tokens`.

    Args:
        config: the static sizes.
        tokens: int32 [4].

    Returns:
        ``(verb, subject, argument, place)`` int32 []; ``verb`` is REST for an empty event, absent
        slots are 0 and an ANY (or absent) place is -1.
    """
    vocab = config.vocabulary
    verb = jnp.clip(tokens[0] - VERB_TOKEN_BASE, 0, NUM_VERBS - 1)
    kind = jnp.asarray(VERB_ARG_KIND)[verb]
    subject = jnp.maximum(tokens[1] - vocab.character_base, 0)
    arg = jnp.where(kind == ARG_NONE, 0, tokens[2] - jnp.asarray(vocab.arg_base())[kind])
    place = jnp.where(tokens[3] >= vocab.place_base, tokens[3] - vocab.place_base, -1)
    return verb, subject, jnp.maximum(arg, 0), place


def token_matches(pattern: jax.Array, tokens: jax.Array) -> jax.Array:
    """Whether an event matches goal or thread patterns (an ANY place matches every place).

    Args:
        pattern: int32 [..., 4] tokens of goals or threads.
        tokens: int32 [4] tokens of an event.

    Returns:
        bool [...].
    """
    same = jnp.all(pattern[..., :3] == tokens[:3], axis=-1)
    place_ok = (pattern[..., 3] == ANY_TOKEN) | (pattern[..., 3] == tokens[3])
    return same & place_ok


def object_places(facts: Facts) -> jax.Array:
    """int32 [O] effective place of each object: its carrier's place, or where it lies."""
    carrier = jnp.maximum(facts.obj_holder, 0)
    return jnp.where(facts.obj_holder >= 0, facts.char_place[carrier], facts.obj_place)


def check_event(
    facts: Facts, verb: jax.Array, subject: jax.Array, arg: jax.Array, place: jax.Array
) -> jax.Array:
    """The contradictions an author's event commits against the facts.

    Kinds (see ``CONTRADICTION_NAMES``): a dead character acts or is met/killed; the object to
    take is not at the event's place, or the object to drop is not in the subject's hands; the
    subject tells a secret it never learned. Narration verbs and ``rest`` commit none.

    Args:
        facts: the fact table.
        verb, subject, arg, place: int32 [] event indices (``arg`` below the size of its kind).

    Returns:
        bool [3].
    """
    num_c, num_o, num_s = facts.alive.shape[0], facts.obj_holder.shape[0], facts.knows.shape[1]
    acting = (verb != REST) & (verb < NUM_ACTION_VERBS)
    kind = jnp.asarray(VERB_ARG_KIND)[verb]
    char_arg = jnp.clip(arg, 0, num_c - 1)
    obj = jnp.clip(arg, 0, num_o - 1)
    secret = jnp.clip(arg, 0, num_s - 1)
    dead = ~facts.alive[subject] | ((kind == ARG_CHARACTER) & ~facts.alive[char_arg])
    elsewhere = ((verb == TAKE) & (object_places(facts)[obj] != place)) | (
        (verb == DROP) & (facts.obj_holder[obj] != subject)
    )
    unlearned = (verb == TELL) & ~facts.knows[subject, secret]
    flags = jnp.stack([dead, elsewhere, unlearned]) & acting
    assert flags.shape == (NUM_CONTRADICTIONS,)
    return flags


def apply_event(
    facts: Facts,
    verb: jax.Array,
    subject: jax.Array,
    arg: jax.Array,
    place: jax.Array,
    enabled: jax.Array,
) -> Facts:
    """The facts after an event (author's or narrated), when ``enabled``; unchanged otherwise.

    Effects: every event with a subject and a place brings the subject there (travel is implied);
    ``meet`` and ``kill`` bring the other character too; ``take`` puts the object in the
    subject's hands; ``drop`` leaves it at the place; ``tell`` teaches the secret to every living
    character present after the event; ``kill`` kills the other character, whose objects fall
    where they die. Narration verbs set the fact they state. Carried objects travel with their
    carrier (see :func:`object_places`). Effects are not checked here (see :func:`check_event`).

    Args:
        facts: the fact table.
        verb, subject, arg, place: int32 [] event indices.
        enabled: bool [] whether the event happens.

    Returns:
        The new :class:`Facts`.
    """
    num_c, num_o, num_s = facts.alive.shape[0], facts.obj_holder.shape[0], facts.knows.shape[1]
    chars, objs, secrets = jnp.arange(num_c), jnp.arange(num_o), jnp.arange(num_s)
    kind = jnp.asarray(VERB_ARG_KIND)[verb]
    is_subject = (chars == subject) & jnp.asarray(VERB_HAS_SUBJECT)[verb]
    is_target = (chars == arg) & (kind == ARG_CHARACTER)
    is_object = (objs == arg) & (kind == ARG_OBJECT) & enabled
    is_secret = (secrets == arg) & (kind == ARG_SECRET)

    moves = enabled & (is_subject | (is_target & ((verb == MEET) | (verb == KILL))))
    moves &= verb != REST
    char_place = jnp.where(moves, place, facts.char_place)

    killed = enabled & is_target & (verb == KILL)
    dies = killed | (enabled & is_subject & (verb == LIES_DEAD))
    revives = enabled & is_subject & (verb == IS_AT)
    alive = (facts.alive & ~dies) | revives

    taken = is_object & ((verb == TAKE) | (verb == CARRIES))
    dropped = is_object & ((verb == DROP) | (verb == LIES))
    victim = jnp.where(verb == KILL, arg, -1)
    fall = enabled & (verb == KILL) & (facts.obj_holder == victim) & (facts.obj_holder >= 0)
    obj_holder = jnp.where(taken, subject, facts.obj_holder)
    obj_holder = jnp.where(dropped | fall, -1, obj_holder)
    obj_place = jnp.where(dropped | fall, place, facts.obj_place)

    listeners = alive & (char_place == place) & enabled & (verb == TELL)
    learns = (listeners[:, None] & is_secret[None, :]) | (
        (enabled & (verb == KNOWS) & is_subject)[:, None] & is_secret[None, :]
    )
    knows = facts.knows | learns
    return Facts(
        alive=alive,
        char_place=char_place.astype(jnp.int32),
        obj_holder=obj_holder.astype(jnp.int32),
        obj_place=obj_place.astype(jnp.int32),
        knows=knows,
    )


def mark_seen(
    config: StoryConfig,
    seen: tuple[jax.Array, jax.Array, jax.Array],
    event: jax.Array,
    present: jax.Array,
    time: jax.Array,
    enabled: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Records what an observation shows: the entities of its event and who is in the scene.

    Args:
        config: the static sizes.
        seen: int32 [C], [O], [S] last times each character, object and secret was shown.
        event: int32 [4] the event on show as indices (verb, subject, argument, place).
        present: bool [C] the characters in the scene (shown whatever the event).
        time: int32 [] the observation's time.
        enabled: bool [] whether the event states facts (narrated, or written without
            contradiction); a contradicted event shows nothing true.

    Returns:
        The updated ``(char_seen, obj_seen, secret_seen)``.
    """
    char_seen, obj_seen, secret_seen = seen
    verb, subject, arg = event[0], event[1], event[2]
    kind = jnp.asarray(VERB_ARG_KIND)[verb]
    has_subject = jnp.asarray(VERB_HAS_SUBJECT)[verb]
    chars = jnp.arange(config.num_characters)
    shown = ((chars == subject) & has_subject) | ((chars == arg) & (kind == ARG_CHARACTER))
    shown = (shown & enabled) | present
    objs, secrets = jnp.arange(config.num_objects), jnp.arange(config.num_secrets)
    obj_shown = (objs == arg) & (kind == ARG_OBJECT) & enabled
    secret_shown = (secrets == arg) & (kind == ARG_SECRET) & enabled
    return (
        jnp.where(shown, time, char_seen).astype(jnp.int32),
        jnp.where(obj_shown, time, obj_seen).astype(jnp.int32),
        jnp.where(secret_shown, time, secret_seen).astype(jnp.int32),
    )
