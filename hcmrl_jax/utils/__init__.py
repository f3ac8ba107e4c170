"""Run utilities: metrics on the host, logs, checkpoints, config JSON and pictures (leaves of the
library)."""

from hcmrl_jax.utils.checkpoint import RunCheckpointer, abstract_tree, strong_types
from hcmrl_jax.utils.logging import MetricsLogger, TrainingProgress, read_tensorboard_scalars
from hcmrl_jax.utils.metrics import (
    ema,
    flatten_metrics,
    lag_bin_labels,
    lag_success_rate,
    mean_and_std,
    metrics_to_rows,
    read_jsonl,
    rows_to_columns,
)
from hcmrl_jax.utils.serialization import config_differences, config_from_dict, config_to_dict
from hcmrl_jax.utils.visualization import (
    plot_kind_curves,
    plot_kind_lag_success,
    plot_lag_success,
    plot_learning_curves,
    plot_memory_attention,
    plot_seed_curves,
)

__all__ = [
    "MetricsLogger",
    "RunCheckpointer",
    "TrainingProgress",
    "abstract_tree",
    "config_differences",
    "config_from_dict",
    "config_to_dict",
    "ema",
    "flatten_metrics",
    "lag_bin_labels",
    "lag_success_rate",
    "mean_and_std",
    "metrics_to_rows",
    "plot_kind_curves",
    "plot_kind_lag_success",
    "plot_lag_success",
    "plot_learning_curves",
    "plot_memory_attention",
    "plot_seed_curves",
    "read_jsonl",
    "read_tensorboard_scalars",
    "rows_to_columns",
    "strong_types",
]
