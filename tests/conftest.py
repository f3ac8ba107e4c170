"""Shared test setup: CPU only, fast XLA compiles, a persistent compilation cache for reruns."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The tests run short programs, so compile time dominates: XLA's cheapest CPU backend settings
# halve it (the slower generated code costs far less than the compile it saves). Set before jax
# initialises its backend; subprocesses (the notebook's kernel) inherit them.
_FAST_COMPILE_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
_XLA_FLAGS = os.environ.get("XLA_FLAGS", "")
if _FAST_COMPILE_FLAGS not in _XLA_FLAGS:  # the xdist workers inherit the controller's
    os.environ["XLA_FLAGS"] = f"{_XLA_FLAGS} {_FAST_COMPILE_FLAGS}".strip()

import jax  # noqa: E402

_CACHE = os.path.join(os.path.dirname(os.path.dirname(__file__)), ".jax_cache")
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
