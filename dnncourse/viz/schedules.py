"""Learning-rate schedules and range tests, drawn (chapter "Learning rates").

- :func:`plot_schedules`: the learning rate of each step for several schedules (for example the lists
  :func:`dnncourse.schedules.lr_curve` returns);
- :func:`plot_range_test`: the loss of one or several range tests against the learning rate (log scale),
  raw and smoothed, with the suggestion and the steepest descent marked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from dnncourse.range_test import RangeTestResult

__all__ = ["plot_schedules", "plot_range_test"]


def plot_schedules(
    curves: Mapping[str, Sequence[float]],
    ax: Axes | None = None,
    *,
    xlabel: str = "step t",
    logy: bool = False,
    title: str | None = None,
) -> Axes:
    """One line per schedule: ``curves`` maps a name to the learning rates :math:`\\eta_0, \\eta_1, \\dots`.

    The legend goes to the right of the axes, away from the curves. Returns the axes.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError(f"curves must be a non-empty mapping name -> learning rates, got {curves!r}")
    ax = ax if ax is not None else plt.subplots(figsize=(7.2, 3.4))[1]
    for name, rates in curves.items():
        rates = np.asarray(rates, dtype=float)
        if rates.ndim != 1 or len(rates) == 0 or not np.all(np.isfinite(rates)):
            raise ValueError(f"curves[{name!r}] must be a non-empty sequence of finite learning rates")
        ax.plot(np.arange(len(rates)), rates, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate $\\eta_t$")
    if logy:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    if title is not None:
        ax.set_title(title)
    return ax


def plot_range_test(
    results: RangeTestResult | Mapping[str, RangeTestResult],
    ax: Axes | None = None,
    *,
    marks: bool = True,
    title: str | None = None,
) -> Axes:
    """The range test's loss against the learning rate (log scale): raw losses faint, smoothed solid.

    ``results`` is one :class:`~dnncourse.range_test.RangeTestResult` or a mapping name -> result (one
    colour each). With ``marks``, a circle marks the suggestion (a tenth of the minimum) and a triangle
    the steepest descent on each smoothed curve. The loss axis is cut at twice the largest smoothed loss
    before the minimum, so that the divergence at the end does not flatten the rest (say so in the text).
    """
    if isinstance(results, RangeTestResult):
        results = {"": results}
    if not isinstance(results, Mapping) or not results:
        raise ValueError(f"results must be a RangeTestResult or a non-empty mapping of them, got {results!r}")
    ax = ax if ax is not None else plt.subplots(figsize=(6.4, 3.8))[1]
    top = 0.0
    for name, result in results.items():
        if not isinstance(result, RangeTestResult):
            raise ValueError(f"results[{name!r}] must be a RangeTestResult, got {type(result).__name__}")
        (line,) = ax.plot(result.lrs, result.smoothed, label=name or None)
        color = line.get_color()
        ax.plot(result.lrs, result.losses, color=color, alpha=0.25, linewidth=1.0)
        k_min = int(np.argmin(result.smoothed))
        top = max(top, float(np.max(result.smoothed[: k_min + 1])))
        if marks:
            for lr, marker in ((result.suggestion, "o"), (result.steepest, "^")):
                if math.isfinite(lr):
                    y = np.interp(np.log(lr), np.log(result.lrs), result.smoothed)
                    ax.plot([lr], [y], marker=marker, color=color, markersize=8, markeredgecolor="black", linestyle="")
    ax.set_xscale("log")
    ax.set_ylim(0, 2 * top)
    ax.set_xlabel("learning rate $\\eta$ (log scale)")
    ax.set_ylabel("mini-batch loss")
    handles, labels = ax.get_legend_handles_labels()
    if marks:
        handles += [
            plt.Line2D([], [], marker="o", color="gray", markeredgecolor="black", linestyle=""),
            plt.Line2D([], [], marker="^", color="gray", markeredgecolor="black", linestyle=""),
        ]
        labels += ["suggestion (minimum / 10)", "steepest descent"]
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    if title is not None:
        ax.set_title(title)
    return ax
