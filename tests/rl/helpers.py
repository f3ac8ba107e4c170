"""Shared helpers of the trainer tests."""

import jax

#: XLA options that halve compile times of the training programs on CPU (the test runs are
#: short, so the slower generated code costs less than the compile it saves).
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def compile_fast(fn, *args):
    """``jax.jit(fn)`` compiled for ``args`` with :data:`FAST_COMPILE`."""
    return jax.jit(fn).lower(*args).compile(FAST_COMPILE)
