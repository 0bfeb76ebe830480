"""dnncourse.viz.schedules: the figures of the "Learning rates" chapter draw what they are given."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dnncourse import schedules, viz
from dnncourse.range_test import RangeTestResult, smooth_losses


def fake_result(seed=0):
    rng = np.random.default_rng(seed)
    lrs = np.geomspace(1e-4, 1.0, 50)
    losses = 2.3 - 2.0 / (1 + np.exp(-np.log(lrs / 1e-2))) + (lrs / 0.3) ** 3 + rng.normal(0, 0.02, 50)
    smoothed = smooth_losses(losses, 0.9)
    return RangeTestResult(lrs, losses, smoothed, float(lrs[np.argmin(smoothed)]), 1e-2, True)


def test_plot_schedules_draws_one_line_per_schedule():
    curves = {
        "cosine": schedules.lr_curve(lambda o: schedules.CosineAnnealingLR(o, T_max=20), 20, lr=0.1),
        "step": schedules.lr_curve(lambda o: schedules.StepLR(o, step_size=5, gamma=0.5), 20, lr=0.1),
    }
    ax = viz.plot_schedules(curves)
    assert [line.get_label() for line in ax.get_lines()] == ["cosine", "step"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), curves["cosine"])
    assert ax.get_ylim()[0] == 0 and ax.get_legend() is not None
    plt.close("all")
    with pytest.raises(ValueError, match="curves must be a non-empty mapping"):
        viz.plot_schedules({})
    with pytest.raises(ValueError, match="curves\\['bad'\\] must be a non-empty sequence of finite learning rates"):
        viz.plot_schedules({"bad": [0.1, float("nan")]})


def test_plot_range_test_draws_smoothed_and_raw_curves_with_marks():
    results = {"a": fake_result(0), "b": fake_result(1)}
    ax = viz.plot_range_test(results)
    lines = ax.get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), results["a"].smoothed)  # smoothed first, then raw
    np.testing.assert_allclose(lines[1].get_ydata(), results["a"].losses)
    marks = [line for line in lines if line.get_marker() in ("o", "^")]
    assert len(marks) == 4  # suggestion and steepest descent of each curve
    assert ax.get_xscale() == "log" and ax.get_ylim()[0] == 0
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["a", "b", "suggestion (minimum / 10)", "steepest descent"]
    plt.close("all")
    with pytest.raises(ValueError, match="results\\['x'\\] must be a RangeTestResult, got dict"):
        viz.plot_range_test({"x": {}})
