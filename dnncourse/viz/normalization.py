"""Which values each normalization layer of chapter 7 averages over, drawn as shaded cubes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from dnncourse.viz.style import COLORS

__all__ = ["draw_normalization_axes"]


def draw_normalization_axes(axes=None) -> Figure:
    """Draw the N x C x (H, W) cube four times, shading the values one normalizer averages over.

    Batch norm: one channel over all N and H, W. Layer norm: one example over all C and H, W.
    Instance norm: one example and one channel. Group norm: one example and a group of channels.
    Returns the matplotlib figure (the picture of {cite}`wu2018group`, redrawn).
    """
    panels = {  # title: (N range, C range) shaded, always over every (H, W)
        "Batch norm": ((0, 4), (0, 1)),
        "Layer norm": ((0, 1), (0, 6)),
        "Instance norm": ((0, 1), (0, 1)),
        "Group norm": ((0, 1), (0, 2)),
    }
    if axes is None:
        fig = plt.figure(figsize=(11, 3.2))
        axes = [fig.add_subplot(1, 4, i + 1, projection="3d") for i in range(4)]
    fig = axes[0].figure
    n_size, c_size, hw_size = 4, 6, 3
    for ax, (title, ((n0, n1), (c0, c1))) in zip(axes, panels.items()):
        filled = np.zeros((n_size, c_size, hw_size), dtype=bool)
        filled[n0:n1, c0:c1, :] = True
        facecolors = np.full(filled.shape, "#f2f2f2", dtype=object)  # light grey: not in the statistic
        facecolors[filled] = COLORS["blue"]  # blue: averaged together
        ax.voxels(np.ones_like(filled), facecolors=facecolors, edgecolor="#777777", linewidth=0.3)
        ax.set_xlabel("N (batch)", labelpad=-8)
        ax.set_ylabel("C (channels)", labelpad=-8)
        ax.set_zlabel("H, W", labelpad=-10)
        ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
        ax.set_title(title)
        ax.view_init(elev=20, azim=-50)
        ax.set_box_aspect((n_size, c_size, hw_size))
    return fig
