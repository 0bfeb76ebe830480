"""Per-layer statistics of a :class:`~dnncourse.lab.diagnostics.GradientFlowInspector`, against depth.

- :func:`plot_activation_stats`: mean and standard deviation of each layer's output (or activation);
- :func:`plot_gradient_norms`: the gradient norm reaching each layer: vanishing and exploding gradients;
- :func:`plot_dead_fraction`: the share of dead units per layer;
- :func:`plot_layer_histograms`: overlaid per-layer histograms, coloured by depth.

Each takes the inspector (after its ``with`` block) and an optional ``ax``, and returns the axes.
Chapters 5 and 6.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from dnncourse import _validation as check
from dnncourse.lab.diagnostics import GradientFlowInspector

__all__ = ["plot_activation_stats", "plot_gradient_norms", "plot_dead_fraction", "plot_layer_histograms"]


def plot_activation_stats(
    inspector: GradientFlowInspector,
    ax: Axes | None = None,
    *,
    which: str = "output",
    label: str | None = None,
    color: str | None = None,
) -> Axes:
    """Mean (dashed) and standard deviation (solid) of each layer's output against depth.

    ``which="output"`` uses the selected layers' outputs :math:`z`; ``which="activation"`` the
    outputs of the activations that follow them.
    """
    check.one_of("which", which, ("output", "activation"))
    prefix = "act" if which == "output" else "post"
    ax = ax if ax is not None else plt.gca()
    depth, std = inspector.by_depth(f"{prefix}_std")
    _, mean = inspector.by_depth(f"{prefix}_mean")
    tag = f"{label}: " if label else ""
    (line,) = ax.plot(depth, std, marker="o", ms=3, color=color, label=f"{tag}std")
    ax.plot(depth, mean, ls="--", marker="s", ms=3, color=line.get_color(), label=f"{tag}mean")
    ax.set_xlabel("layer (depth)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("activation statistic")
    ax.set_title(
        "Layer outputs: mean and standard deviation"
        if which == "output"
        else "Activations: mean and standard deviation"
    )
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
    if legend and records:
        ax.legend(fontsize=7, ncol=2)
    return ax
