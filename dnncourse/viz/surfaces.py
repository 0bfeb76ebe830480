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

__all__ = ["plot_contours", "fit_bounds", "zoom_inset", "animate"]


Bounds = tuple[tuple[float, float], tuple[float, float]]  # ((xmin, xmax), (ymin, ymax))


def _levels(Z: np.ndarray, levels: int, log_levels: bool) -> tuple[np.ndarray, np.ndarray]:
    """The field to contour and its levels: log-spaced heights above the grid's minimum if asked."""
    if not log_levels:
        return Z, np.linspace(Z.min(), Z.max(), levels)
    height = Z - Z.min()  # >= 0
    top = float(height.max())
    positive = height[height > 0]
    bottom = max(float(np.percentile(positive, 0.5)), top * 1e-6) if positive.size else top
    return height, np.geomspace(bottom, top, levels)


def fit_bounds(surface: Surface, paths: Mapping[str, np.ndarray], margin: float = 0.05) -> Bounds:
    """The surface's window, grown (never shrunk) to hold every point of every path that did not diverge.

    A path with NaN rows (a run that diverged, see :func:`dnncourse.lab.trajectories.run`) is left out, so
    that one runaway path does not shrink the picture to a dot. ``margin`` is the share of the window's
    width and height added on each side where it grows.
    """
    (xmin, xmax), (ymin, ymax) = surface.bounds
    kept = [np.asarray(path, dtype=np.float64) for path in paths.values()]
    kept = [path for path in kept if path.size and not np.isnan(path).any()]
    if kept:
        points = np.concatenate(kept)  # (total points, 2)
        dx, dy = margin * (xmax - xmin), margin * (ymax - ymin)
        (low_x, low_y), (high_x, high_y) = points.min(axis=0), points.max(axis=0)
        xmin, xmax = (low_x - dx if low_x < xmin else xmin), (high_x + dx if high_x > xmax else xmax)
        ymin, ymax = (low_y - dy if low_y < ymin else ymin), (high_y + dy if high_y > ymax else ymax)
    return (float(xmin), float(xmax)), (float(ymin), float(ymax))


def _check_bounds(bounds) -> Bounds:
    try:
        (xmin, xmax), (ymin, ymax) = bounds
        values = [float(xmin), float(xmax), float(ymin), float(ymax)]
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be ((xmin, xmax), (ymin, ymax)), 'fit' or None, got {bounds!r}") from None
    if not (all(np.isfinite(values)) and values[0] < values[1] and values[2] < values[3]):
        raise ValueError(f"bounds must be ((xmin, xmax), (ymin, ymax)) with min < max, got {bounds!r}")
    return (values[0], values[1]), (values[2], values[3])


def _path_colors(paths: Mapping[str, np.ndarray], colors: Mapping[str, str] | None) -> dict[str, str]:
    chosen = path_colors(paths)
    if colors:
        chosen.update({label: color for label, color in colors.items() if label in chosen})
    return chosen


def _draw_starts(ax: Axes, paths: Mapping[str, np.ndarray], size: float = 8) -> None:
    """One ring at each distinct starting point, *under* the paths, so that a path that barely moves stays visible."""
    starts = {tuple(np.round(np.asarray(path, dtype=np.float64)[0], 12)) for path in paths.values() if len(path)}
    for x, y in sorted(starts):
        ax.plot(
            x,
            y,
            marker="o",
            markersize=size,
            markerfacecolor="white",
            markeredgecolor=COLORS["black"],
            markeredgewidth=1.2,
            linestyle="none",
            zorder=3,
        )


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
    colors: Mapping[str, str] | None = None,
    linestyles: Mapping[str, str] | None = None,
    ends: bool = False,
    bounds: Bounds | str | None = None,
    legend: bool = True,
) -> Axes:
    """Contour lines of ``surface`` with its minima (stars), saddles (crosses) and each path in a course colour.

    ``paths`` maps a legend label to a path (k, 2) (NaN rows, from a diverged run, are skipped). Each
    distinct starting point is drawn once, as a ring *under* the paths (a path that barely moves stays
    visible); ``ends=True`` also marks where each path ended with a dot in its colour, and
    ``markers=True`` marks every iterate (useful for short paths). ``colors`` and ``linestyles`` override
    the colour or line style of some paths, by label (default: the course's path colours in order, solid).
    ``log_levels`` spaces the contour levels geometrically in the height above the lowest grid value,
    which shows both steep walls and flat floors.

    ``bounds`` is the window: ``None`` for ``surface.bounds``, ``"fit"`` for that window grown to hold
    every path that did not diverge (:func:`fit_bounds`), or ``((xmin, xmax), (ymin, ymax))``; parts of a
    path outside it are clipped. ``legend=False`` draws no legend. Returns the axes.
    """
    levels = check.integer("levels", levels, minimum=2)
    paths = {label: np.asarray(path, dtype=np.float64) for label, path in (paths or {}).items()}
    for label, path in paths.items():
        if path.ndim != 2 or path.shape[1] != 2:
            raise ValueError(f"paths[{label!r}] must be an array of shape (k, 2), got shape {path.shape}")
    if isinstance(bounds, str):
        check.one_of("bounds", bounds, ("fit",))
        window = fit_bounds(surface, paths)
    else:
        window = surface.bounds if bounds is None else _check_bounds(bounds)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.6))
    X, Y, Z = surface.grid(n, bounds=window)
    field, heights = _levels(Z, levels, log_levels)
    ax.contour(X, Y, field, levels=heights, cmap="viridis", linewidths=0.8, alpha=0.7)
    if show_critical_points:
        landmarks = ((surface.minima, "*", 13, "minimum"), (surface.saddles, "X", 9, "saddle point"))
        for points, marker, size, name in landmarks:
            for i, (px, py) in enumerate(points):
                label = name if i == 0 else None  # one legend entry per kind
                ax.plot(px, py, marker=marker, markersize=size, color=COLORS["black"], ls="none", label=label, zorder=5)
    _draw_starts(ax, paths)
    chosen = _path_colors(paths, colors)
    for label, path in paths.items():
        ax.plot(
            path[:, 0],
            path[:, 1],
            color=chosen[label],
            linewidth=1.6,
            linestyle=(linestyles or {}).get(label, "-"),
            label=label,
            zorder=4,
            marker="o" if markers else None,
            markersize=2.5,
        )
        finite = path[np.all(np.isfinite(path), axis=1)]  # (k', 2)
        if ends and len(finite):
            ax.plot(*finite[-1], marker="o", markersize=6, color=chosen[label], markeredgecolor="white", zorder=6)
    (xmin, xmax), (ymin, ymax) = window
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_xlabel(r"$\theta_1$")
    ax.set_ylabel(r"$\theta_2$")
    ax.set_title(title if title is not None else surface.name)
    ax.grid(False)
    if legend and (paths or (show_critical_points and (surface.minima or surface.saddles))):
        ax.legend(loc="upper right", fontsize=8, frameon=True, framealpha=0.9)
    return ax


def zoom_inset(
    ax: Axes,
    surface: Surface,
    paths: Mapping[str, np.ndarray],
    center: tuple[float, float],
    half_width: float,
    *,
    where: tuple[float, float, float, float] = (0.03, 0.55, 0.4, 0.4),
    colors: Mapping[str, str] | None = None,
    label: str | None = None,
) -> Axes:
    """A magnified view of ``paths`` around ``center``, drawn in a small inset of ``ax``.

    The inset shows the square window ``center ± half_width`` (in the units of the parameters) with the
    surface's contour lines and a dot where each path ended, at ``where`` = (x, y, width, height) in
    axes fractions of ``ax``; lines join it to the region it magnifies. Paths keep the colours they
    have in ``ax`` when ``colors`` is the same mapping. ``label`` is written in the inset's corner (by
    default the magnification). Returns the inset axes.
    """
    half_width = check.positive("half_width", half_width)
    cx, cy = (float(c) for c in center)
    window = ((cx - half_width, cx + half_width), (cy - half_width, cy + half_width))
    inset = ax.inset_axes(list(where))
    plot_contours(
        surface,
        paths,
        inset,
        levels=12,
        title="",
        n=80,
        show_critical_points=False,
        colors=colors,
        ends=True,
        bounds=window,
        legend=False,
    )
    inset.set_xlabel("")
    inset.set_ylabel("")
    inset.set_xticks([])
    inset.set_yticks([])
    for spine in inset.spines.values():
        spine.set_visible(True)
        spine.set_color(COLORS["black"])
    if label is None:
        xmin, xmax = ax.get_xlim()
        label = f"×{(xmax - xmin) / (2 * half_width):.0f}"
    inset.text(
        0.97,
        0.05,
        label,
        transform=inset.transAxes,
        ha="right",
        va="bottom",
        fontsize=7,
        bbox=dict(facecolor="white", edgecolor="none", alpha=0.8),
    )
    ax.indicate_inset_zoom(inset, edgecolor=COLORS["black"], alpha=0.6)
    return inset


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
        # One line of base64 (no line breaks): the frame is one token, which the test suite's sanitizer
        # replaces as a whole, since frames are images and are not compared byte for byte.
        self._saved_frames.append(base64.b64encode(buffer.getvalue()).decode("ascii"))


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
    colors: Mapping[str, str] | None = None,
    bounds: Bounds | str | None = None,
):
    """An animation of ``paths`` moving over the contours of ``surface``, as self-contained HTML.

    ``alt`` is the text alternative of the player's image for screen readers (by default it names the
    surface and the paths). ``colors`` and ``bounds`` are those of :func:`plot_contours` (``"fit"``
    grows the window to hold the paths).

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

    if isinstance(bounds, str):
        check.one_of("bounds", bounds, ("fit",))
        bounds = fit_bounds(surface, paths)
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    plot_contours(surface, {}, ax, levels=levels, log_levels=log_levels, title=title, bounds=bounds)
    _draw_starts(ax, paths, size=6)
    colors = _path_colors(paths, colors)
    lines, heads = {}, {}
    for label in paths:
        (lines[label],) = ax.plot([], [], color=colors[label], linewidth=1.6, label=label, zorder=4)
        (heads[label],) = ax.plot(
            [], [], marker="o", markersize=7, color=colors[label], markeredgecolor="white", linestyle="none", zorder=6
        )
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
