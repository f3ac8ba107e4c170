"""Agent assembly: baselines sized to HCMRL's memory parameter budget."""

from hcmrl_jax.rl import PPOConfig, param_count
from tests.rl.helpers import SMALL, of_kind


def test_baselines_match_the_hcmrl_parameter_budget():
    config = PPOConfig(**SMALL)
    hcmrl = param_count(config)
    counts = {kind: param_count(of_kind(config, kind)) for kind in ("mlp", "gru", "transformer")}
    for kind, count in counts.items():
        assert abs(count - hcmrl) / hcmrl <= 0.10, (kind, count, hcmrl)
    # The training-only decoders (observation reconstruction, VAE decoder) are extra.
    assert param_count(config, acting_only=False) > hcmrl
