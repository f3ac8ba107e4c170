"""Host-side metric helpers (numbers derived by hand) and the PNG writers."""

import numpy as np
import pytest

from hcmrl_jax.utils.metrics import (
    ema,
    flatten_metrics,
    lag_bin_labels,
    lag_success_rate,
    mean_and_std,
    metrics_to_rows,
    rows_to_columns,
)
from hcmrl_jax.utils.visualization import (
    plot_kind_lag_success,
    plot_lag_success,
    plot_learning_curves,
    plot_memory_attention,
    plot_seed_curves,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_flatten_names_vector_entries():
    columns = flatten_metrics(
        {
            "return": np.array([1.0, 2.0]),
            "lag": np.array([[1, 2], [3, 4]]),
            "m": np.zeros((2, 2, 1)),
        },
        vector_names={"lag": ("short<", "long")},
    )
    assert sorted(columns) == ["lag/long", "lag/short_", "m/0_0", "m/1_0", "return"]
    np.testing.assert_array_equal(columns["lag/long"], [2.0, 4.0])
    with pytest.raises(ValueError, match="updates"):
        flatten_metrics({"a": np.zeros(2), "b": np.zeros(3)})
    with pytest.raises(ValueError, match="entry names"):
        flatten_metrics({"lag": np.zeros((2, 3))}, vector_names={"lag": ("a", "b")})


def test_rows_round_trip_with_missing_values():
    metrics = {"r": np.array([np.nan, 1.5]), "update": np.array([5.0, 6.0])}
    rows = metrics_to_rows(metrics, first_update=4, steps_per_update=10)
    assert rows == [
        {"update": 5, "env_steps": 50, "r": None},
        {"update": 6, "env_steps": 60, "r": 1.5},
    ]
    columns = rows_to_columns(rows + [{"update": 7, "env_steps": 70}])
    np.testing.assert_array_equal(columns["r"], [np.nan, 1.5, np.nan])


def test_lag_labels_and_rates():
    assert lag_bin_labels((0, 100, 1_000, 5_000)) == ("0_100", "100_1k", "1k_5k", "5k_inf")
    with pytest.raises(ValueError, match="increasing"):
        lag_bin_labels((0, 100, 50))
    rates = lag_success_rate(np.array([4, 0, 2]), np.array([3, 0, 2]))
    np.testing.assert_array_equal(rates, [0.75, np.nan, 1.0])


def test_ema_and_seed_statistics():
    # ema with weight 0.5: debiased averages 1, (0.5*0.5+0.5*3)/0.75 = 7/3; NaN is skipped.
    np.testing.assert_allclose(
        ema(np.array([np.nan, 1.0, np.nan, 3.0]), 0.5), [np.nan, 1, 1, 7 / 3]
    )
    mean, std = mean_and_std(np.array([[1.0, np.nan, np.nan], [3.0, 2.0, np.nan]]))
    np.testing.assert_array_equal(mean, [2.0, 2.0, np.nan])
    np.testing.assert_array_equal(std, [1.0, 0.0, np.nan])


def _is_png(path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(8) == PNG_MAGIC


def test_plots_write_pngs(tmp_path):
    steps = np.arange(1, 6) * 100.0
    columns = {"env_steps": steps, "return": np.array([0, 1, np.nan, 2, 3.0])}
    plot_learning_curves(columns, str(tmp_path / "curve.png"), keys=("return", "success"))
    plot_seed_curves(steps, np.stack([steps, steps * 2]), str(tmp_path / "seeds.png"))
    time, heads = 12, 2
    weights = {
        "immediate": np.random.default_rng(0).dirichlet(np.ones(4), size=(time, heads)),
        "short-term": np.zeros((time, 3)),
    }
    plot_memory_attention(weights, np.full((time, 3), 1 / 3), str(tmp_path / "attention.png"))
    plot_lag_success(("a", "b"), np.array([0.5, np.nan]), np.array([2, 0]), str(tmp_path / "l.png"))
    for name in ("curve", "seeds", "attention", "l"):
        assert _is_png(tmp_path / f"{name}.png")
    with pytest.raises(ValueError, match="none of"):
        plot_learning_curves(columns, keys=("loss",))
    with pytest.raises(ValueError, match="curves must be"):
        plot_seed_curves(steps, np.zeros((2, 3)))


def _texts(figure) -> list[str]:
    return [text.get_text() for axis in figure.axes for text in axis.texts]


def test_plots_say_what_is_missing_and_keep_legends_off_the_data():
    # recall-by-lag: an empty bin says so, and the x axis is labelled.
    figure = plot_lag_success(("0_100", "100_1k"), np.array([0.5, np.nan]), np.array([4, 0]))
    (axis,) = figure.axes
    assert "lag" in axis.get_xlabel()
    assert "no decisions\nat this lag" in _texts(figure) and "n=4" in _texts(figure)
    # A learning-curve panel with no finite value says so instead of staying blank.
    columns = {"env_steps": np.arange(1.0, 4.0), "recall_lag_5k_inf": np.full(3, np.nan)}
    figure = plot_learning_curves(
        columns, keys=("recall_lag_5k_inf",), empty_note="no decisions at this lag"
    )
    assert _texts(figure) == ["no decisions at this lag"]
    # The tier-mix legend sits beside the stacked areas, not over them.
    figure = plot_memory_attention({}, np.full((12, 3), 1 / 3))
    figure.canvas.draw()
    (axis,) = figure.axes
    legend = axis.get_legend().get_window_extent()
    assert legend.x0 >= axis.get_window_extent().x1


def test_lag_bars_draw_intervals_within_zero_and_one():
    from matplotlib.collections import LineCollection

    figure = plot_kind_lag_success(
        ["0_100", "100_1k"],
        {
            "a": {"0_100": {"mean": 0.9, "ci95": 0.5}, "100_1k": {"mean": 0.1, "ci95": 0.4}},
            "b": {"0_100": {"mean": None, "ci95": None}, "100_1k": {"mean": 0.5, "ci95": 0.1}},
        },
    )
    segments = [
        segment
        for collection in figure.axes[0].collections
        if isinstance(collection, LineCollection)
        for segment in collection.get_segments()
    ]
    heights = np.concatenate([segment[:, 1] for segment in segments])
    assert heights.min() == pytest.approx(0.0) and heights.max() == pytest.approx(1.0)
    assert {0.4, 0.6} <= {round(float(h), 6) for h in heights}  # b's interval, unclipped
