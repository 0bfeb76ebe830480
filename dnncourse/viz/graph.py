"""The computation graph of chapter 1's small autograd, drawn with every node's value and gradient."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from dnncourse.autograd import Value, topological_order
from dnncourse.viz.style import COLORS

__all__ = ["plot_computation_graph"]


def plot_computation_graph(root, ax: Axes | None = None, *, title: str | None = None) -> Axes:
    """Draw the computation graph that produced the scalar :class:`~dnncourse.autograd.Value` ``root``.

    Inputs are on the left and ``root`` on the right; a node's column is the length of the longest path
    from an input to it, and an input or a constant sits just left of the first node that uses it. Each
    box shows the node's name (or the operation that made it), its value (black) and, after
    ``root.backward()``, its gradient d root / d node (vermillion). Arrows point forward; the gradients
    flow against them.
    """
    if not isinstance(root, Value):
        raise ValueError(f"root must be a dnncourse.autograd.Value, got {type(root).__name__}")
    ax = ax if ax is not None else plt.gca()
    order = topological_order(root)  # parents before children
    column: dict[int, int] = {}
    for node in order:
        column[id(node)] = 1 + max((column[id(p)] for p in node._parents), default=-1)
    first_use: dict[int, int] = {}  # the leftmost column that uses each node
    for node in order:
        for parent in node._parents:
            first_use[id(parent)] = min(first_use.get(id(parent), column[id(node)]), column[id(node)])
    for node in order:  # a leaf (an input or a constant) sits just left of its first use
        if not node._parents and node is not root:
            column[id(node)] = first_use[id(node)] - 1
    rows: dict[int, int] = {}
    position: dict[int, tuple[float, float]] = {}
    for node in order:
        c = column[id(node)]
        rows[c] = rows.get(c, 0) + 1
        position[id(node)] = (float(c), -float(rows[c] - 1))
    for c, count in rows.items():  # centre each column vertically
        for node in order:
            if column[id(node)] == c:
                x, y = position[id(node)]
                position[id(node)] = (x, y + (count - 1) / 2)

    def fmt(a: np.ndarray) -> str:
        return f"{float(a):.4f}" if a.size == 1 else f"array{a.shape}"

    for node in order:
        x, y = position[id(node)]
        for parent in node._parents:
            px, py = position[id(parent)]
            ax.annotate(
                "",
                xy=(x - 0.28, y),
                xytext=(px + 0.28, py),
                arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 1.2},
            )
        label = node.name or (node._op if node._op else "const")
        ax.text(
            x,
            y + 0.12,
            label,
            ha="center",
            va="center",
            fontsize=11,
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.5", "facecolor": "#f2f2f2", "edgecolor": COLORS["blue"]},
        )
        ax.text(x, y - 0.16, f"value {fmt(node.data)}", ha="center", va="center", fontsize=8, color=COLORS["black"])
        ax.text(x, y - 0.3, f"grad {fmt(node.grad)}", ha="center", va="center", fontsize=8, color=COLORS["vermillion"])
    n_columns = max(rows) + 1
    n_rows = max(rows.values())
    ax.set_xlim(-0.6, n_columns - 0.4)
    ax.set_ylim(-(n_rows - 1) / 2 - 0.6, (n_rows - 1) / 2 + 0.5)
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    return ax
