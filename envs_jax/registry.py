"""``envs_jax.make``: the benchmarks by id, and every gymnax id passed through."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import gymnax

from envs_jax.wrappers import FlattenObservationWrapper

#: The four long-horizon benchmarks, by id; each is a package ``envs_jax.<id>``.
BENCHMARK_IDS: tuple[str, ...] = ("crafting", "navigation", "games", "story")
#: The recall probe: a one-decision env that measures how far back an agent remembers.
PROBE_ID = "recall"

#: Env id -> (module, class), imported on first use: benchmark ``<id>`` is the class
#: ``<Id>`` of the package ``envs_jax.<id>``; then the recall probe.
_ENV_CLASSES: dict[str, tuple[str, str]] = {
    **{env_id: (f"envs_jax.{env_id}", env_id.capitalize()) for env_id in BENCHMARK_IDS},
    PROBE_ID: ("envs_jax.recall", "PassiveRecall"),
}

#: Every id `make` accepts: the four benchmarks first, the recall probe, then gymnax's own.
registered_envs: list[str] = [*_ENV_CLASSES, *gymnax.registered_envs]


def _split_overrides(
    env_id: str, overrides: dict[str, Any], config_fields: set[str], param_fields: set[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    config_kwargs, param_kwargs = {}, {}
    for key, value in overrides.items():
        if key in config_fields:
            config_kwargs[key] = value
        elif key in param_fields:
            param_kwargs[key] = value
        else:
            known = sorted(config_fields | param_fields)
            raise ValueError(f"{env_id!r} has no option {key!r}; known options: {known}")
    return config_kwargs, param_kwargs


def make(
    env_id: str, privileged: bool = False, flat: bool = False, **overrides: Any
) -> tuple[Any, Any]:
    """Builds an environment and its parameters, like ``gymnax.make``.

    Args:
        env_id: one of :data:`registered_envs`: ``"crafting"``, ``"navigation"``, ``"games"``,
            ``"story"``, the probe ``"recall"``, or any gymnax id (e.g.
            ``"MemoryChain-bsuite"``).
        privileged: benchmarks only: the twin whose observation shows the hidden information.
        flat: wrap the env in :class:`envs_jax.wrappers.FlattenObservationWrapper` (one float32
            vector per observation, a ``Box`` space; ids one-hot, the action mask last).
        **overrides: fields of the env's static config (shape-defining sizes) or of its
            ``EnvParams`` (sweepable values), by name. For gymnax ids, ``EnvParams`` fields go to
            the params and anything else to the constructor.

    Returns:
        ``(env, params)``.

    Raises:
        KeyError: unknown ``env_id`` (the message lists the known ones).
        ValueError: an override that is neither a config nor a params field, a value out of
            its field's range (every ``EnvParams`` field is checked, see
            :meth:`envs_jax.core.MemoryEnv.validate_params`), or a ``privileged`` not a bool.
    """
    if not isinstance(privileged, bool):
        raise ValueError(f"privileged must be True or False, got {privileged!r}")
    if not isinstance(flat, bool):
        raise ValueError(f"flat must be True or False, got {flat!r}")
    if flat:
        env, params = make(env_id, privileged=privileged, **overrides)
        return FlattenObservationWrapper(env), params
    if env_id in _ENV_CLASSES:
        module_name, class_name = _ENV_CLASSES[env_id]
        env_cls = getattr(importlib.import_module(module_name), class_name)
        config_fields = {f.name for f in dataclasses.fields(env_cls.config_cls)}
        param_fields = {f.name for f in dataclasses.fields(env_cls.params_cls)}
        config_kwargs, param_kwargs = _split_overrides(
            env_id, overrides, config_fields, param_fields
        )
        env = env_cls(env_cls.config_cls(**config_kwargs), privileged=privileged)
        return env, env.validate_params(env.default_params.replace(**param_kwargs))
    if env_id in gymnax.registered_envs:
        if privileged:
            raise ValueError(f"gymnax env {env_id!r} has no privileged twin")
        default_params = gymnax.make(env_id)[1]
        param_fields = {f.name for f in dataclasses.fields(default_params)}
        param_kwargs = {k: v for k, v in overrides.items() if k in param_fields}
        ctor_kwargs = {k: v for k, v in overrides.items() if k not in param_fields}
        try:
            env, params = gymnax.make(env_id, **ctor_kwargs)
        except TypeError as error:
            raise ValueError(
                f"{env_id!r} rejected options {sorted(ctor_kwargs)}: {error}; "
                f"its EnvParams fields are {sorted(param_fields)}"
            ) from error
        return env, params.replace(**param_kwargs)
    raise KeyError(f"unknown env id {env_id!r}; known ids: {registered_envs}")
