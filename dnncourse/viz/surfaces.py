"""Loss surfaces and the paths optimizers take on them: contour plots and animations (chapters 2 and 3).

:func:`plot_contours` draws paths (from :mod:`dnncourse.lab.trajectories`) over the contour lines of a
:class:`~dnncourse.lab.surfaces.Surface`; :func:`animate` turns the same picture into an HTML/JavaScript
player (matplotlib's ``HTMLWriter``, as used by ``FuncAnimation.to_jshtml``) that plays on the static
site with no kernel and no network.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tempfile
from collections.abc import Callable, Mapping
from html import escape
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import HTMLWriter
from matplotlib.axes import Axes

from dnncourse import _validation as check
from dnncourse.lab.surfaces import Surface
from dnncourse.viz.style import COLORS, path_colors

__all__ = ["plot_contours", "animate"]


def _levels(Z: np.ndarray, levels: int, log_levels: bool) -> tuple[np.ndarray, np.ndarray]:
    """The field to contour and its levels: log-spaced heights above the grid's minimum if asked."""
    if not log_levels:
        return Z, np.linspace(Z.min(), Z.max(), levels)
    height = Z - Z.min()  # >= 0
    top = float(height.max())
    positive = height[height > 0]
    bottom = max(float(np.percentile(positive, 0.5)), top * 1e-6) if positive.size else top
    return height, np.geomspace(bottom, top, levels)


def plot_contours(
    surface: Surface,
    paths: Mapping[str, np.ndarray] | None = None,
    ax: Axes | None = None,
    *,
    levels: int = 30,
    log_levels: bool = True,
    title: str | None = None,
    n: int = 200,
    show_critical_points: bool = True,
    markers: bool = False,
) -> Axes:
    """Contour lines of ``surface`` with its minima (stars), saddles (crosses) and each path in a course colour.

    ``paths`` maps a legend label to a path (k, 2) (NaN rows, from a diverged run, are skipped); the
    first point of each path is drawn as a circle. ``log_levels`` spaces the contour levels
    geometrically in the height above the lowest grid value, which shows both steep walls and flat
    floors. ``markers=True`` also marks every iterate (useful for short paths). The view is
    ``surface.bounds``; parts of a path outside it are clipped. Returns the axes.
    """
    levels = check.integer("levels", levels, minimum=2)
    paths = dict(paths or {})
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.6))
    X, Y, Z = surface.grid(n)
    field, heights = _levels(Z, levels, log_levels)
    ax.contour(X, Y, field, levels=heights, cmap="viridis", linewidths=0.8, alpha=0.7)
    if show_critical_points:
        landmarks = ((surface.minima, "*", 13, "minimum"), (surface.saddles, "X", 9, "saddle point"))
        for points, marker, size, name in landmarks:
            for i, (px, py) in enumerate(points):
                label = name if i == 0 else None  # one legend entry per kind
                ax.plot(px, py, marker=marker, markersize=size, color=COLORS["black"], ls="none", label=label, zorder=5)
    for (label, path), color in zip(paths.items(), path_colors(paths).values()):
        path = np.asarray(path, dtype=np.float64)
        ax.plot(
            path[:, 0],
            path[:, 1],
            color=color,
            linewidth=1.6,
            label=label,
            zorder=4,
            marker="o" if markers else None,
            markersize=2.5,
        )
        ax.plot(path[0, 0], path[0, 1], marker="o", markersize=7, color=color, markeredgecolor="white", zorder=6)
    (xmin, xmax), (ymin, ymax) = surface.bounds
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_xlabel(r"$\theta_1$")
    ax.set_ylabel(r"$\theta_2$")
    ax.set_title(title if title is not None else surface.name)
    ax.grid(False)
    if paths or (show_critical_points and (surface.minima or surface.saddles)):
        ax.legend(loc="upper right", fontsize=8, frameon=True, framealpha=0.9)
    return ax


# Replacements for the font-awesome icons of matplotlib's player, so that the page loads nothing
# from a CDN: plain Unicode symbols that every browser font has.
_ICONS = {
    "fa fa-minus": "&#8722;",  # minus
    "fa fa-fast-backward": "&#9198;",  # first frame
    "fa fa-step-backward": "&#9664;&#9646;",  # previous frame
    "fa fa-play fa-flip-horizontal": "&#9664;",  # play backwards
    "fa fa-pause": "&#10073;&#10073;",  # pause
    "fa fa-play": "&#9654;",  # play
    "fa fa-step-forward": "&#9646;&#9654;",  # next frame
    "fa fa-fast-forward": "&#9197;",  # last frame
    "fa fa-plus": "+",  # plus
}


def _stable_html(html: str, alt: str) -> str:
    """Make matplotlib's player HTML reproducible and self-contained.

    The player's element ids embed a random ``uuid4().hex``; it is replaced by a hash of the rest
    of the page, so that the same animation gives byte-identical HTML (strict nbval compares it) and
    two different animations on one page still get different ids. The font-awesome stylesheet link
    (a CDN request) is removed and its icons are replaced by Unicode symbols.
    """
    ids = set(re.findall(r"_anim_img([0-9a-f]{32})", html))
    if len(ids) != 1:
        raise RuntimeError("unexpected animation HTML: cannot find its element id")
    (random_id,) = ids
    html = re.sub(r'<link rel="stylesheet"\s+href="https://[^"]*font-awesome[^"]*">\s*', "", html)
    for icon, symbol in _ICONS.items():
        html = html.replace(f'<i class="{icon}"></i>', symbol)
    html = html.replace(
        f'<img id="_anim_img{random_id}">', f'<img id="_anim_img{random_id}" alt="{escape(alt, quote=True)}">'
    )
    stable_id = "dnn" + hashlib.sha1(html.replace(random_id, "").encode()).hexdigest()[:16]
    return html.replace(random_id, stable_id)


class _PalettePNGWriter(HTMLWriter):
    """matplotlib's HTML player with small frames: each frame is rendered by ``render()`` and saved
    as a 64-colour PNG (a tenth of the size of matplotlib's RGBA frames, with no timestamp)."""

    def __init__(self, render: Callable[[], np.ndarray], fps: float):
        super().__init__(fps=fps, embed_frames=True, default_mode="loop")
        self.render = render  # () -> (height, width, 3) uint8 image of the current frame
        self.frame_format = "png"  # whatever rcParams["animation.frame_format"] says

    def grab_frame(self, **savefig_kwargs) -> None:
        from PIL import Image

        image = Image.fromarray(self.render()).quantize(
            colors=64, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
        buffer = io.BytesIO()
        image.save(buffer, format="png")
        self._saved_frames.append(base64.encodebytes(buffer.getvalue()).decode("ascii"))


def animate(
    surface: Surface,
    paths: Mapping[str, np.ndarray],
    *,
    frames: int = 60,
    interval: int = 80,
    dpi: int = 72,
    title: str | None = None,
    levels: int = 20,
    log_levels: bool = True,
    figsize: tuple[float, float] = (5.6, 4.0),
    alt: str | None = None,
):
    """An animation of ``paths`` moving over the contours of ``surface``, as self-contained HTML.

    ``alt`` is the text alternative of the player's image for screen readers (by default it names the
    surface and the paths).

    Frame :math:`j` of ``frames`` shows every path up to step :math:`\\lfloor j\\,(k-1)/(\\text{frames}-1) \\rceil`
    (k = the longest path's length), with a dot at the current point. The frames are PNG images at
    ``dpi`` dots per inch embedded in matplotlib's JavaScript player (``HTMLWriter``, the engine of
    ``FuncAnimation.to_jshtml``; the frames are blitted over a background drawn once and stored as
    64-colour PNGs to keep the page small), so the result plays on a static web page with no kernel. The HTML is
    deterministic (see ``_stable_html``), needs no network, and the figure is closed so that no static
    copy is shown. ``interval`` is the delay between frames in milliseconds.

    Returns an ``IPython.display.HTML`` object (its ``.data`` is the HTML string).
    """
    from IPython.display import HTML

    frames = check.integer("frames", frames, 2, 200)
    interval = check.integer("interval (milliseconds)", interval, minimum=1)
    if not paths:
        raise ValueError("paths must hold at least one path to animate")
    paths = {label: np.asarray(path, dtype=np.float64) for label, path in paths.items()}
    longest = max(len(path) for path in paths.values())
    frame_steps = np.round(np.linspace(0, longest - 1, min(frames, longest))).astype(int)  # (frames,)

    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    plot_contours(surface, {}, ax, levels=levels, log_levels=log_levels, title=title)
    colors = path_colors(paths)
    lines, heads = {}, {}
    for label, path in paths.items():
        (lines[label],) = ax.plot([], [], color=colors[label], linewidth=1.6, label=label, zorder=4)
        (heads[label],) = ax.plot(
            [], [], marker="o", markersize=7, color=colors[label], markeredgecolor="white", linestyle="none", zorder=6
        )
        ax.plot(path[0, 0], path[0, 1], marker="o", markersize=5, color=colors[label], zorder=6)
    ax.legend(loc="upper right", fontsize=8, frameon=True, framealpha=0.9)
    counter = ax.text(
        0.02, 0.03, "", transform=ax.transAxes, fontsize=9, bbox=dict(facecolor="white", edgecolor="none", alpha=0.8)
    )
    fig.tight_layout()

    def draw(j: int):
        step = int(frame_steps[j])
        for label, path in paths.items():
            shown = path[: min(step, len(path) - 1) + 1]  # (step + 1, 2)
            lines[label].set_data(shown[:, 0], shown[:, 1])
            finite = shown[np.all(np.isfinite(shown), axis=1)]
            heads[label].set_data(finite[-1:, 0], finite[-1:, 1])
        counter.set_text(f"step {step}")
        return [*lines.values(), *heads.values(), counter]

    canvas = fig.canvas
    canvas.draw()  # the contours, legend and labels: drawn once, then restored under every frame
    background = canvas.copy_from_bbox(fig.bbox)
    moving = [*lines.values(), *heads.values(), counter]

    def render() -> np.ndarray:  # blit the moving artists over the background
        canvas.restore_region(background)
        for artist in moving:
            ax.draw_artist(artist)
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()  # (height, width, 4) -> (height, width, 3)

    writer = _PalettePNGWriter(render, fps=1000 / interval)
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "animation.html"
        with writer.saving(fig, str(target), dpi=dpi):
            for j in range(len(frame_steps)):
                draw(j)
                writer.grab_frame()
        html = target.read_text()
    plt.close(fig)
    if alt is None:
        alt = f"Animation of the paths of {', '.join(paths)} on the {surface.name} surface, step by step."
    return HTML(_stable_html(html, alt))
