"""Data sets and what models do with them: scatter plots, decision boundaries, function fits, weight images.

- :func:`plot_dataset`: a scatter of a 2-D classification data set, one colour per class.
- :func:`plot_decision_boundary`: what a 2-D classifier predicts everywhere in the plane, with the data on top.
- :func:`plot_function_fit`: a 1-D regression fit, optionally with the scaled hidden units that sum to it.
- :func:`plot_weight_images`: the rows of a weight matrix shown as small images (first-layer "features").

Every function takes an optional ``ax`` (or ``axes``) to draw into and returns what it drew on, so a
chapter can arrange panels freely. Tensors may live on any device: they are moved to the CPU before
they reach NumPy. Introduced in chapter 1 ("Why deep learning").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap, ListedColormap

from dnncourse import _validation as check
from dnncourse.lab.data import Dataset
from dnncourse.lab.models import model_device
from dnncourse.viz.style import COLORS, CYCLE

__all__ = ["plot_dataset", "plot_decision_boundary", "plot_function_fit", "plot_weight_images"]

# Probability of class 1 from blue (class 0) through white to orange (class 1).
_BINARY_CMAP = LinearSegmentedColormap.from_list("dnncourse_binary", [COLORS["blue"], "#ffffff", COLORS["orange"]])


def to_numpy(t: torch.Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    """A NumPy copy of a tensor on any device (``.cpu()`` first), or the array itself."""
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def _model_dtype(model: object) -> torch.dtype:
    """The floating-point dtype of ``model``'s first parameter (float32 for a plain callable)."""
    parameters = getattr(model, "parameters", None)
    if callable(parameters):
        for p in parameters():
            if p.is_floating_point():
                return p.dtype
    return torch.float32


def _check_2d_classification(data: Dataset) -> None:
    if not isinstance(data, Dataset):
        raise ValueError(f"data must be a dnncourse.lab.data.Dataset, got {type(data).__name__}")
    if data.n_features != 2:
        raise ValueError(f"data must have 2 features to be drawn in the plane, got {data.n_features}")
    if data.y.is_floating_point():
        raise ValueError("data must have integer class labels (a classification data set), got float targets")


def plot_dataset(data: Dataset, ax: Axes | None = None, *, title: str | None = None, size: float = 12) -> Axes:
    """Scatter a 2-D classification data set, one colour (and label ``class k``) per class."""
    _check_2d_classification(data)
    ax = ax if ax is not None else plt.gca()
    X, y = to_numpy(data.X), to_numpy(data.y)
    for k in range(int(y.max()) + 1):
        mine = y == k
        ax.scatter(
            X[mine, 0],
            X[mine, 1],
            s=size,
            color=CYCLE[k % len(CYCLE)],
            edgecolors="white",
            linewidths=0.4,
            label=f"class {k}",
        )
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title if title is not None else data.name)
    return ax


@torch.no_grad()
def plot_decision_boundary(
    model: Callable[[torch.Tensor], torch.Tensor],
    data: Dataset,
    ax: Axes | None = None,
    *,
    resolution: int = 200,
    title: str | None = None,
    colorbar: bool = False,
) -> Axes:
    """Colour the plane by what ``model`` predicts and draw ``data`` on top.

    ``model`` maps a ``(m, 2)`` float tensor to scores of shape ``(m, k)`` (``k >= 2``: class logits, the
    prediction is the argmax) or ``(m, 1)`` / ``(m,)`` (one logit for class 1, predicted where it is > 0).
    For two classes the background shows the probability of class 1 (blue = class 0, orange = class 1)
    and the decision boundary (probability 1/2) is drawn as a black line; ``colorbar=True`` adds the colour
    scale of that probability beside the axes. For more classes each region gets its class colour (the
    legend of the data names them).

    The grid of ``resolution x resolution`` points spans the data with a 10% margin. It is created on the
    model's device and in its dtype (those of its first parameter, else ``data.X``'s device and float32),
    the model is put in eval mode for the evaluation (its mode is restored afterwards), and the scores
    come back with ``.cpu()``.
    """
    _check_2d_classification(data)
    resolution = check.integer("resolution", resolution, minimum=2)
    ax = ax if ax is not None else plt.gca()
    X = to_numpy(data.X)
    low, high = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * (high - low) + 1e-6
    u = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    v = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    U, V = np.meshgrid(u, v)  # (resolution, resolution) each
    device = model_device(model, data.X.device)
    points = np.stack([U.ravel(), V.ravel()], axis=1)  # (r*r, 2)
    grid = torch.as_tensor(points, dtype=_model_dtype(model), device=device)
    was_training = getattr(model, "training", None)
    if was_training is not None:
        model.eval()
    scores = model(grid)
    if was_training is not None:
        model.train(was_training)
    if scores.ndim == 1:
        scores = scores[:, None]  # (r*r,) -> (r*r, 1)
    if scores.ndim != 2 or scores.shape[0] != grid.shape[0]:
        raise ValueError(f"model must return scores of shape (m, k) or (m,), got {tuple(scores.shape)}")
    n_classes = max(2, scores.shape[1], data.n_classes)
    if scores.shape[1] <= 2:
        if scores.shape[1] == 1:
            p1 = torch.sigmoid(scores[:, 0])
        else:
            p1 = torch.softmax(scores, dim=1)[:, 1]
        P = to_numpy(p1.float()).reshape(U.shape)  # (resolution, resolution)
        filled = ax.contourf(U, V, P, levels=np.linspace(0, 1, 11), cmap=_BINARY_CMAP, alpha=0.6, vmin=0, vmax=1)
        ax.contour(U, V, P, levels=[0.5], colors=COLORS["black"], linewidths=1.5)
        if colorbar:
            scale = ax.figure.colorbar(filled, ax=ax, ticks=[0, 0.25, 0.5, 0.75, 1], fraction=0.05, pad=0.03)
            scale.set_label("probability of class 1")
    else:
        predicted = to_numpy(scores.argmax(dim=1)).reshape(U.shape)  # (resolution, resolution)
        cmap = ListedColormap([CYCLE[k % len(CYCLE)] for k in range(n_classes)])
        ax.contourf(U, V, predicted, levels=np.arange(n_classes + 1) - 0.5, cmap=cmap, alpha=0.35)
    plot_dataset(data, ax, title=title if title is not None else data.name, size=10)
    ax.set_aspect("auto")  # the grid fixes the limits; the two features may have different units
    ax.set_xlim(u[0], u[-1])
    ax.set_ylim(v[0], v[-1])
    return ax


@torch.no_grad()
def plot_function_fit(
    model: Callable[[torch.Tensor], torch.Tensor],
    data: Dataset,
    ax: Axes | None = None,
    *,
    target: Callable[[np.ndarray], np.ndarray] | None = None,
    show_units: bool = False,
    resolution: int = 400,
    title: str | None = None,
) -> Axes:
    """Draw a 1-D regression data set, the model's prediction and, optionally, the true function.

    With ``show_units=True`` the model must be a one-hidden-layer :class:`~dnncourse.lab.models.MLP`; each
    hidden unit's contribution ``v_j * sigma(w_j x + b_j)`` is drawn as a thin line, so the reader sees
    the prediction as their sum (plus the output bias). Evaluation happens on the model's device, in its
    dtype. The true function is drawn dotted on top of the prediction, so it stays visible where the two
    agree.
    """
    if not isinstance(data, Dataset) or data.n_features != 1:
        raise ValueError("data must be a dnncourse.lab.data.Dataset with one input feature")
    ax = ax if ax is not None else plt.gca()
    x_data, y_data = to_numpy(data.X)[:, 0], to_numpy(data.y).reshape(len(data), -1)[:, 0]
    ax.scatter(x_data, y_data, s=8, color=COLORS["sky"], alpha=0.7, label="data")
    x = np.linspace(x_data.min(), x_data.max(), resolution)
    device = model_device(model, data.X.device)
    grid = torch.as_tensor(x[:, None], dtype=_model_dtype(model), device=device)  # (resolution, 1)
    if target is not None:
        ax.plot(x, target(x), color=COLORS["black"], linestyle=":", linewidth=1.5, label="true function", zorder=3)
    if show_units:
        blocks = getattr(model, "blocks", None)
        if blocks is None or len(blocks) != 1:
            raise ValueError("show_units=True needs a one-hidden-layer dnncourse MLP")
        h = model.hidden(grid)[0]  # (resolution, width)
        contributions = to_numpy(h * model.head.weight[0])  # (resolution, width): v_j * h_j(x)
        for j in range(contributions.shape[1]):
            ax.plot(
                x,
                contributions[:, j],
                color=COLORS["green"],
                linewidth=0.8,
                alpha=0.6,
                label="scaled hidden units" if j == 0 else None,
            )
    prediction = to_numpy(model(grid)).reshape(resolution, -1)[:, 0]
    ax.plot(x, prediction, color=COLORS["vermillion"], label="network")
    ax.set_xlabel("input $x$")
    ax.set_ylabel("output $y$")
    if title is not None:
        ax.set_title(title)
    return ax


def plot_weight_images(
    weights: torch.Tensor | np.ndarray,
    shape: tuple[int, int] = (8, 8),
    *,
    n: int | None = None,
    n_cols: int = 8,
    axes: Sequence[Axes] | None = None,
    title: str | None = None,
    colorbar: bool = False,
):
    """Show the first ``n`` rows of ``weights`` (``(units, h*w)``) as ``h x w`` images, one panel each.

    Each image uses a symmetric diverging scale (blue negative, white zero, orange positive), so a pixel
    that increases a unit's input is orange. By default each image is scaled to its own largest weight;
    with ``colorbar=True`` all images share one scale, shown by a colour bar labelled "weight". Returns
    the figure.
    """
    W = to_numpy(weights)
    if W.ndim != 2 or W.shape[1] != shape[0] * shape[1]:
        raise ValueError(f"weights must have shape (units, {shape[0] * shape[1]}) for shape={shape}, got {W.shape}")
    n = W.shape[0] if n is None else check.integer("n", n, 1, W.shape[0])
    n_rows = math.ceil(n / n_cols)
    if axes is None:
        fig, axes = plt.subplots(n_rows, min(n, n_cols), figsize=(1.2 * min(n, n_cols), 1.25 * n_rows), squeeze=False)
    axes = np.asarray(axes, dtype=object).ravel()
    shared_limit = np.abs(W[:n]).max() + 1e-12
    image_drawn = None
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i >= n:
            continue
        image = W[i].reshape(shape)  # (h*w,) -> (h, w)
        limit = shared_limit if colorbar else np.abs(image).max() + 1e-12
        image_drawn = ax.imshow(image, cmap=_BINARY_CMAP, vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(f"unit {i}", fontsize=8)
    figure = axes[0].figure
    if title is not None:
        figure.suptitle(title)
        figure.subplots_adjust(top=1 - 0.45 / figure.get_figheight())  # room for the title above the panel titles
    if colorbar and image_drawn is not None:
        figure.subplots_adjust(right=0.88)
        scale = figure.colorbar(image_drawn, ax=list(axes), fraction=0.03, pad=0.02)
        scale.set_label("weight")
    return figure
