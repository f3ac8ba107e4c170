"""Fixtures shared by the per-env test modules; a module names its env in ``ENV_ID``."""

from __future__ import annotations

from typing import Any

import jax
import pytest

import envs_jax
from tests.envs import configs


@pytest.fixture(scope="module")
def small(request) -> tuple[Any, Any]:
    """``(env, params)``: the module's env in its small configuration (``configs.SMALL``)."""
    env_id = request.module.ENV_ID
    return envs_jax.make(env_id, **configs.SMALL[env_id])


@pytest.fixture(scope="module")
def twin(request) -> tuple[Any, Any]:
    """``(env, params)``: the privileged twin of :func:`small`."""
    env_id = request.module.ENV_ID
    return envs_jax.make(env_id, privileged=True, **configs.SMALL[env_id])


@pytest.fixture(scope="module")
def step_env(small):
    """The jitted ``step_env`` of :func:`small` (no auto-reset; params are an argument)."""
    env, _ = small
    return jax.jit(env.step_env)
