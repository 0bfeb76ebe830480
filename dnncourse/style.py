"""The one plotting style of the book.

Every figure uses :func:`use_style`: an opaque white background (so figures stay readable when the
site is in dark mode), labelled axes, a light grid, and the Okabe-Ito colour-blind-safe palette.
"""

from __future__ import annotations

import matplotlib as mpl
from cycler import cycler

__all__ = ["COLORS", "use_style"]

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
COLORS = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}
_CYCLE = [COLORS[name] for name in ("blue", "orange", "green", "vermillion", "sky", "purple", "black", "yellow")]

_RC = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "figure.facecolor": "white",  # opaque: readable in the theme's dark mode
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "axes.facecolor": "white",
    "axes.edgecolor": "#333333",
    "axes.labelcolor": "#111111",
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "axes.grid": True,
    "axes.prop_cycle": cycler(color=_CYCLE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.8,
    "legend.frameon": False,
    "lines.linewidth": 2.0,
    "image.cmap": "viridis",  # perceptually uniform and colour-blind safe
    "font.size": 10,
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "animation.html": "jshtml",
    "animation.embed_limit": 20.0,  # MB
}


def use_style() -> None:
    """Apply the course style to every figure drawn from now on (matplotlib ``rcParams``)."""
    mpl.rcParams.update(_RC)
