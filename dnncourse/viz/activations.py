"""The activation functions of chapter 5 and their derivatives, one panel each."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from dnncourse.activations import ACTIVATIONS

__all__ = ["plot_activations"]


def plot_activations(
    names: Sequence[str] | None = None, x_range: tuple[float, float] = (-4.0, 4.0), axes=None
) -> Figure:
    """Plot each activation of :data:`dnncourse.activations.ACTIVATIONS` (solid) with its hand-written
    derivative (dashed), one panel each.

    ``names`` picks and orders the activations (default: all). ``axes`` may be a flat sequence of at least
    ``len(names)`` axes. Returns the figure.
    """
    names = list(ACTIVATIONS) if names is None else list(names)
    unknown = [n for n in names if n not in ACTIVATIONS]
    if unknown:
        raise ValueError(f"names must be keys of ACTIVATIONS ({', '.join(ACTIVATIONS)}), got {unknown!r}")
    if axes is None:
        cols = min(len(names), 3)
        rows = math.ceil(len(names) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), sharex=True, squeeze=False)
        axes = axes.ravel()
    fig = axes[0].figure
    x = torch.linspace(*x_range, 801, dtype=torch.float64)
    for ax, name in zip(axes, names):
        info = ACTIVATIONS[name]
        ax.plot(x.numpy(), info.function(x).numpy(), label="$f(x)$")
        ax.plot(x.numpy(), info.derivative(x).numpy(), ls="--", label="$f'(x)$")
        ax.axhline(0, color="#888888", lw=0.8)
        ax.set_title(name)
        ax.set_xlabel("$x$")
        ax.set_ylim(-2, 4)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    axes[0].legend(loc="upper left")
    fig.tight_layout()
    return fig
