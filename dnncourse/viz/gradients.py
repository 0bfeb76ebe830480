"""Per-layer statistics of a :class:`~dnncourse.lab.diagnostics.GradientFlowInspector`, against depth.

- :func:`plot_activation_stats`: mean and standard deviation of each layer's output (or activation);
- :func:`plot_gradient_norms`: the gradient norm reaching each layer: vanishing and exploding gradients;
- :func:`plot_dead_fraction`: the share of dead units per layer;
- :func:`plot_layer_histograms`: overlaid per-layer histograms, coloured by depth.

Each takes the inspector (after its ``with`` block) and an optional ``ax``, and returns the axes. The
depth axis has integer ticks; a logarithmic axis is labelled at powers of ten only (at most about six
labels), or at 1-2-5 steps when its data spans less than about a decade. Chapters 5 and 6.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from dnncourse import _validation as check
from dnncourse.lab.diagnostics import GradientFlowInspector

__all__ = ["plot_activation_stats", "plot_gradient_norms", "plot_dead_fraction", "plot_layer_histograms"]


def _tidy_log_axis(axis: Axis, data: np.ndarray) -> None:
    """Readable labels on a logarithmic axis whose positive data is ``data``.

    Over more than about a decade: labels at powers of ten only, at most about six (matplotlib's default
    also labels some minor ticks, which crowd a short axis). Over less: ticks at 1, 2 and 5 times the
    powers of ten, labelled as plain numbers (``0.05``, ``0.1``, ``0.2``), so that the axis has labels.
    """
    data = data[np.isfinite(data) & (data > 0)]
    if data.size == 0:
        return
    decades = math.log10(float(data.max()) / float(data.min()))
    if decades >= 1.2:
        axis.set_major_locator(LogLocator(base=10.0, numticks=7))
        axis.set_minor_locator(LogLocator(base=10.0, subs=np.arange(2, 10), numticks=100))
    else:
        axis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
        axis.set_minor_locator(LogLocator(base=10.0, subs=np.arange(1, 10), numticks=100))
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _line_data_of_stairs(ax: Axes) -> np.ndarray:
    """The heights of every histogram drawn with ``ax.stairs`` so far (one flat array)."""
    heights = [np.asarray(patch.get_data().values, dtype=float) for patch in ax.patches if hasattr(patch, "get_data")]
    return np.concatenate(heights) if heights else np.array([])


def _line_data(ax: Axes, coordinate: str) -> np.ndarray:
    """Every ``x`` or ``y`` value of the lines drawn on ``ax`` so far (one flat array)."""
    values = [np.asarray(getattr(line, f"get_{coordinate}data")(), dtype=float) for line in ax.get_lines()]
    return np.concatenate(values) if values else np.array([])


def plot_activation_stats(
    inspector: GradientFlowInspector,
    ax: Axes | None = None,
    *,
    which: str = "output",
    stats: tuple[str, ...] = ("std", "mean"),
    logy: bool = False,
    label: str | None = None,
    color: str | None = None,
) -> Axes:
    """Standard deviation (solid) and mean (dashed) of each layer's output against depth.

    ``which="output"`` uses the selected layers' outputs :math:`z`; ``which="activation"`` the
    outputs of the activations that follow them. ``stats`` picks the curves (``"std"``, ``"mean"``);
    with ``stats=("std",)`` the line is labelled ``label`` alone, and ``logy=True`` (standard deviations
    only: a mean can be negative) draws it on a logarithmic axis.
    """
    check.one_of("which", which, ("output", "activation"))
    if not stats or any(stat not in ("std", "mean") for stat in stats):
        raise ValueError(f"stats must be a non-empty tuple of 'std' and 'mean', got {stats!r}")
    if logy and "mean" in stats:
        raise ValueError(f"logy=True needs stats=('std',): a mean can be negative, got stats={stats!r}")
    prefix = "act" if which == "output" else "post"
    ax = ax if ax is not None else plt.gca()
    single = len(stats) == 1
    tag = f"{label}: " if label else ""
    for stat in stats:
        depth, values = inspector.by_depth(f"{prefix}_{stat}")
        text = label if single else f"{tag}{stat}"
        style = {"ls": "-", "marker": "o"} if stat == "std" else {"ls": "--", "marker": "s"}
        (line,) = ax.plot(depth, values, ms=3, color=color, label=text, **style)
        color = line.get_color()  # the mean in the colour of the std
    ax.set_xlabel("layer (depth)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    names = {"std": "standard deviation", "mean": "mean"}
    ax.set_ylabel(names[stats[0]] if single else "activation statistic")
    what = "Layer outputs" if which == "output" else "Activations"
    ax.set_title(f"{what}: {' and '.join(names[stat] for stat in stats)}")
    if logy:
        ax.set_yscale("log")
        _tidy_log_axis(ax.yaxis, _line_data(ax, "y"))
    if label is not None or not single:
        ax.legend()
    return ax


def plot_gradient_norms(
    inspector: GradientFlowInspector,
    ax: Axes | None = None,
    logy: bool = True,
    *,
    which: str = "weight",
    label: str | None = None,
    color: str | None = None,
) -> Axes:
    """Per-layer gradient norm against depth.

    ``which="weight"`` plots :math:`\\lVert\\partial L/\\partial W^{(l)}\\rVert_2`, ``"output"`` plots
    :math:`\\lVert\\partial L/\\partial z^{(l)}\\rVert_2`, ``"both"`` plots both.
    """
    check.one_of("which", which, ("weight", "output", "both"))
    ax = ax if ax is not None else plt.gca()
    color_used = color
    if which in ("weight", "both"):
        depth, norms = inspector.by_depth("weight_grad_norm")
        text = label if which == "weight" else f"{label + ': ' if label else ''}weights"
        (line,) = ax.plot(depth, norms, marker="o", ms=3, color=color, label=text)
        color_used = line.get_color()
    if which in ("output", "both"):
        depth, norms = inspector.by_depth("grad_norm")
        text = label if which == "output" else f"{label + ': ' if label else ''}layer outputs"
        ax.plot(depth, norms, marker="s", ms=3, ls="--" if which == "both" else "-", color=color_used, label=text)
    if logy:
        ax.set_yscale("log")
        _tidy_log_axis(ax.yaxis, _line_data(ax, "y"))
    ax.set_xlabel("layer (depth)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(r"$\|\partial L/\partial W^{(l)}\|_2$" if which == "weight" else "gradient norm")
    ax.set_title("Gradient norm per layer")
    if label is not None or which == "both":
        ax.legend()
    return ax


def plot_dead_fraction(
    inspector: GradientFlowInspector, ax: Axes | None = None, *, label: str | None = None, color: str | None = None
) -> Axes:
    """Fraction of dead units (zero on the whole batch) of each layer's activation, in percent."""
    ax = ax if ax is not None else plt.gca()
    depth, dead = inspector.by_depth("dead_fraction")
    ax.plot(depth, 100 * dead, marker="o", ms=3, color=color, label=label)
    ax.set_xlabel("layer (depth)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("dead units (%)")
    ax.set_title("Dead units per layer")
    if label is not None:
        ax.legend()
    return ax


def plot_layer_histograms(
    inspector: GradientFlowInspector,
    ax: Axes | None = None,
    *,
    which: str = "activation",
    layers: list[int] | None = None,
    density: bool = True,
    logy: bool = False,
    cmap: str = "viridis",
    legend: bool = True,
) -> Axes:
    """Overlaid per-layer histograms, coloured by depth (Glorot and Bengio's figure style).

    Args:
        which: ``"activation"`` (output of the activation after each layer, falling back to the
            layer output when none follows), ``"output"`` (layer outputs :math:`z`), ``"gradient"``
            (:math:`\\partial L/\\partial z`), ``"gradient_log10"``
            (:math:`\\log_{10}\\lvert\\partial L/\\partial z\\rvert` over the non-zero entries: vanishing gradients
            show as a shift to the left) or
            ``"weight_gradient"`` (:math:`\\partial L/\\partial W`).
        layers: indices (0-based, as in ``LayerStats.index``) of the layers to draw; default all.
        density: normalise each histogram to unit area.
        logy: a logarithmic count (or density) axis, for tails many orders of magnitude thinner.
        legend: draw the legend on ``ax``; ``False`` leaves it to the caller (for example one figure
            legend outside the panels: ``fig.legend(*ax.get_legend_handles_labels(), ...)``).
    """
    attributes = {
        "activation": "post_hist",
        "output": "act_hist",
        "gradient": "grad_hist",
        "gradient_log10": "grad_log_hist",
        "weight_gradient": "weight_grad_hist",
    }
    check.one_of("which", which, attributes)
    ax = ax if ax is not None else plt.gca()
    records = [r for r in inspector.stats() if layers is None or r.index in layers]
    colors = plt.get_cmap(cmap)(np.linspace(0.0, 0.9, max(len(records), 1)))
    for record, c in zip(records, colors):
        hist = getattr(record, attributes[which])
        if hist is None and which == "activation":
            hist = record.act_hist
        if hist is None:
            continue
        counts, edges = hist
        heights = counts / max(counts.sum() * np.diff(edges).mean(), 1e-300) if density else counts
        ax.stairs(heights, edges, color=c, lw=1.5, label=f"layer {record.index + 1}")
    xlabels = {
        "activation": "activation value",
        "output": "layer output $z$",
        "gradient": r"$\partial L/\partial z$",
        "gradient_log10": r"$\log_{10}|\partial L/\partial z|$",
        "weight_gradient": r"$\partial L/\partial W$",
    }
    ax.set_xlabel(xlabels[which])
    ax.set_ylabel("density" if density else "count")
    ax.set_title(f"Per-layer histograms ({which.replace('_', ' ')})")
    if logy:
        ax.set_yscale("log")
        _tidy_log_axis(ax.yaxis, _line_data_of_stairs(ax))
    if legend and records:
        ax.legend(fontsize=7, ncol=2)
    return ax
