"""The one plotting style of the book.

Every figure uses :func:`use_style`: an opaque white background (so figures stay readable when the
site is in dark mode), labelled axes, a light grid, and the Okabe-Ito colour-blind-safe palette. The
palette is defined here once: :data:`COLORS` by name, :data:`CYCLE` in the order figures use it.
"""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib as mpl
from cycler import cycler

__all__ = ["COLORS", "CYCLE", "path_colors", "use_style"]

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
# The order in which figures use them: line k of an axes, class k of a data set, run k of a comparison.
CYCLE: tuple[str, ...] = tuple(
    COLORS[name] for name in ("blue", "orange", "green", "vermillion", "sky", "purple", "black", "yellow")
)
# Optimizer paths on a contour plot: the cycle without black (the minima's stars) and yellow (too pale on
# the contour lines).
_PATH_CYCLE = tuple(color for color in CYCLE if color not in (COLORS["black"], COLORS["yellow"]))

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
    "axes.prop_cycle": cycler(color=list(CYCLE)),
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


def path_colors(names: Iterable[str]) -> dict[str, str]:
    """The colour of each named path, in order: the course cycle without black and yellow."""
    return {name: _PATH_CYCLE[i % len(_PATH_CYCLE)] for i, name in enumerate(names)}
