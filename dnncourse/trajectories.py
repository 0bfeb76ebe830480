"""Run optimizers on 2-D surfaces and draw their paths: static contour plots and animations.

:func:`run` puts a two-component parameter at a starting point and lets any ``torch.optim``
optimizer (the course's own ``dnncourse.optim`` ones included) minimize a
:class:`~dnncourse.landscapes.Surface`; it returns the path of the parameter. :func:`gradient_descent`
is the plain NumPy reference :math:`\\theta_{k+1} = \\theta_k - \\eta \\nabla J(\\theta_k)`, and
:func:`minibatch_gradient_descent` its stochastic version on a least-squares surface built from
data. :func:`plot_contours` draws paths over the contour lines of a surface; :func:`animate` turns
the same picture into an HTML/JavaScript player (matplotlib's ``HTMLWriter``, as used by
``FuncAnimation.to_jshtml``) that plays on the static site with no kernel.

Paths are NumPy arrays of shape ``(steps + 1, 2)``: row ``k`` is :math:`\\theta_k`, row 0 the start.
Used in chapter 2 ("Optimization challenges") and chapter 3 ("Optimizers").
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re
import tempfile
from collections.abc import Callable, Mapping
from html import escape
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.animation import HTMLWriter
from matplotlib.axes import Axes
from torch import Tensor

from dnncourse.landscapes import LeastSquares, Surface
from dnncourse.style import COLORS

__all__ = [
    "DIVERGED",
    "run",
    "gradient_descent",
    "minibatch_gradient_descent",
    "steps_to_reach",
    "path_colors",
    "plot_contours",
    "animate",
]

# A parameter whose coordinates grow past this size is treated as diverged (the path is cut there).
DIVERGED = 1e6

# Path colours, in order: the course palette without yellow (too pale on white) and black (minima).
_PATH_COLORS = ("blue", "vermillion", "green", "orange", "purple", "sky")


def _start_point(surface: Surface, start) -> np.ndarray:
    point = np.asarray(surface.start if start is None else start, dtype=np.float64).reshape(-1)
    if point.shape != (2,) or not np.all(np.isfinite(point)):
        raise ValueError(f"start must be two finite numbers, got {start!r}")
    return point


def _check_steps(steps: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    return int(steps)


def _diverged(theta: np.ndarray) -> bool:
    return not (np.all(np.isfinite(theta)) and np.max(np.abs(theta)) <= DIVERGED)


def run(
    surface: Surface,
    make_optimizer: Callable[[list[Tensor]], torch.optim.Optimizer],
    start=None,
    steps: int = 100,
) -> np.ndarray:
    """Minimize ``surface.f`` with the optimizer ``make_optimizer([theta])`` and return the path (steps + 1, 2).

    ``theta`` is a float64 tensor of shape (2,) starting at ``start`` (default ``surface.start``).
    Each step computes :math:`J(\\theta)` with ``surface.f``, back-propagates, and calls
    ``optimizer.step()``, exactly like a training loop. For example::

        path = run(rosenbrock(), lambda params: torch.optim.SGD(params, lr=1e-3), steps=200)

    Divergence: if :math:`\\theta` becomes non-finite or a coordinate exceeds ``DIVERGED`` in size,
    the run stops and the remaining rows of the path are NaN (the diverging point itself is kept if
    it is finite, so a plot shows the last jump). ``np.isnan(path).any()`` tells that it diverged.
    """
    steps = _check_steps(steps)
    theta = torch.tensor(_start_point(surface, start), dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([theta])
    path = np.full((steps + 1, 2), np.nan)
    path[0] = theta.detach().numpy()

    def closure() -> Tensor:  # optimizers such as L-BFGS re-evaluate the loss through it
        optimizer.zero_grad()
        loss = surface.f(theta)
        loss.backward()
        return loss

    for k in range(1, steps + 1):
        if isinstance(optimizer, torch.optim.LBFGS):
            optimizer.step(closure)
        else:
            closure()
            optimizer.step()
        point = theta.detach().numpy().copy()
        if np.all(np.isfinite(point)):
            path[k] = point
        if _diverged(point):
            break
    return path


def gradient_descent(surface: Surface, lr: float, steps: int = 100, start=None) -> np.ndarray:
    """Plain gradient descent :math:`\\theta_{k+1} = \\theta_k - \\eta\\, \\nabla J(\\theta_k)` with the exact gradient.

    A NumPy loop (float64) that uses ``surface.grad``: the reference the optimizers of
    ``torch.optim`` and ``dnncourse.optim`` are tested against. Returns the path (steps + 1, 2), cut
    with NaN rows on divergence exactly as :func:`run` does.
    """
    if not (isinstance(lr, (int, float, np.floating)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    steps = _check_steps(steps)
    path = np.full((steps + 1, 2), np.nan)
    theta = _start_point(surface, start)
    path[0] = theta
    for k in range(1, steps + 1):
        g = surface.grad(torch.from_numpy(theta)).numpy()  # (2,)
        theta = theta - lr * g
        if np.all(np.isfinite(theta)):
            path[k] = theta
        if _diverged(theta):
            break
    return path


def minibatch_gradient_descent(
    problem: LeastSquares, lr: float, batch_size: int, epochs: int = 1, start=None, seed: int = 0
) -> np.ndarray:
    """Mini-batch gradient descent on a :class:`~dnncourse.landscapes.LeastSquares` surface.

    Each epoch shuffles the :math:`n` examples and walks through them in :math:`\\lceil n/B \\rceil`
    batches of ``batch_size`` :math:`B` (the last one may be smaller); each batch is one iteration
    :math:`\\theta \\leftarrow \\theta - \\eta\\, \\hat g_B(\\theta)`. ``batch_size = n`` is batch gradient
    descent, ``batch_size = 1`` stochastic gradient descent. Returns one row per iteration plus the
    start: shape (epochs * ceil(n / B) + 1, 2).
    """
    n = problem.x.numel()
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be an integer in [1, {n}], got {batch_size!r}")
    if not (isinstance(lr, (int, float, np.floating)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    epochs = _check_steps(epochs)
    generator = torch.Generator().manual_seed(seed)
    theta = torch.from_numpy(_start_point(problem, start))  # (2,)
    path = [theta.numpy().copy()]
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)  # (n,)
        for index in order.split(batch_size):  # ceil(n / B) batches
            theta = theta - lr * problem.minibatch_grad(theta, index)
            path.append(theta.numpy().copy())
    return np.array(path)


def steps_to_reach(path: np.ndarray, surface: Surface, tol: float) -> int | None:
    """The first step ``k`` with :math:`J(\\theta_k) - J^\\star \\le` ``tol``, or ``None`` if the path never gets there.

    :math:`J^\\star` is the value at the surface's lowest listed minimum.
    """
    best = min(surface.value(m) for m in surface.minima)
    values = surface.f(torch.from_numpy(np.asarray(path, dtype=np.float64))).numpy() - best  # (steps + 1,)
    hits = np.flatnonzero(values <= tol)  # NaN rows compare False
    return int(hits[0]) if hits.size else None


def path_colors(names) -> dict[str, str]:
    """The course colour of each path name, in order (blue, vermillion, green, orange, purple, sky, ...)."""
    return {name: COLORS[_PATH_COLORS[i % len(_PATH_COLORS)]] for i, name in enumerate(names)}


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
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise ValueError(f"levels must be an integer >= 2, got {levels!r}")
    paths = dict(paths or {})
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.6))
    X, Y, Z = surface.grid(n)
    field, heights = _levels(Z, levels, log_levels)
    ax.contour(X, Y, field, levels=heights, cmap="viridis", linewidths=0.8, alpha=0.7)
    if show_critical_points:
        for i, (mx, my) in enumerate(surface.minima):
            ax.plot(mx, my, marker="*", markersize=13, color=COLORS["black"], linestyle="none",
                    label="minimum" if i == 0 else None, zorder=5)
        for i, (sx, sy) in enumerate(surface.saddles):
            ax.plot(sx, sy, marker="X", markersize=9, color=COLORS["black"], linestyle="none",
                    label="saddle point" if i == 0 else None, zorder=5)
    for (label, path), color in zip(paths.items(), path_colors(paths).values()):
        path = np.asarray(path, dtype=np.float64)
        ax.plot(path[:, 0], path[:, 1], color=color, linewidth=1.6, label=label, zorder=4,
                marker="o" if markers else None, markersize=2.5)
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
    html = html.replace(f'<img id="_anim_img{random_id}">', f'<img id="_anim_img{random_id}" alt="{escape(alt, quote=True)}">')
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

    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or not 2 <= frames <= 200:
        raise ValueError(f"frames must be an integer in [2, 200], got {frames!r}")
    if not (isinstance(interval, (int, np.integer)) and interval > 0):
        raise ValueError(f"interval must be a positive integer (milliseconds), got {interval!r}")
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
        (heads[label],) = ax.plot([], [], marker="o", markersize=7, color=colors[label],
                                  markeredgecolor="white", linestyle="none", zorder=6)
        ax.plot(path[0, 0], path[0, 1], marker="o", markersize=5, color=colors[label], zorder=6)
    ax.legend(loc="upper right", fontsize=8, frameon=True, framealpha=0.9)
    counter = ax.text(0.02, 0.03, "", transform=ax.transAxes, fontsize=9,
                      bbox=dict(facecolor="white", edgecolor="none", alpha=0.8))
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
