"""Networks: attention, policies, value functions and baselines.

Import submodules directly (``from hcmrl_jax.models.attention import ...``). This package
initialiser stays free of imports because ``hcmrl_jax.memory`` imports
``hcmrl_jax.models.attention`` while the policy modules import ``hcmrl_jax.memory``; importing
them here would make the import circular.
"""
