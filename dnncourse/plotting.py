"""Plotting helpers shared by every chapter, all drawn in the course style (:func:`dnncourse.use_style`).

- :func:`plot_dataset`: a scatter of a 2-D classification data set, one colour per class.
- :func:`plot_decision_boundary`: what a 2-D classifier predicts everywhere in the plane, with the data on top.
- :func:`plot_loss_curves`: loss (or any other per-epoch / per-iteration list) of several runs on one axes.
- :func:`plot_history`: loss and accuracy of several runs, train and validation, side by side.
- :func:`plot_function_fit`: a 1-D regression fit, optionally with the scaled hidden units that sum to it.
- :func:`plot_weight_images`: the rows of a weight matrix shown as small images (first-layer "features").
- :func:`plot_computation_graph`: a :class:`~dnncourse.autograd.Value` graph with each node's value and gradient.

Every function takes an optional ``ax`` (or ``axes``) to draw into and returns what it drew on, so a
chapter can arrange panels freely. Tensors may live on any device: they are moved to the CPU before
they reach NumPy. Introduced in chapter 1 ("Why deep learning").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, LinearSegmentedColormap

from dnncourse.data import Dataset
from dnncourse.style import COLORS
from dnncourse.training import History

__all__ = [
    "CLASS_COLORS",
    "plot_dataset",
    "plot_decision_boundary",
    "plot_loss_curves",
    "plot_history",
    "plot_function_fit",
    "plot_weight_images",
    "plot_computation_graph",
]

# Class k is drawn in CLASS_COLORS[k % len(CLASS_COLORS)] (Okabe-Ito: colour-blind safe).
CLASS_COLORS = tuple(
    COLORS[name] for name in ("blue", "orange", "green", "vermillion", "sky", "purple", "black", "yellow")
)

# Probability of class 1 from blue (class 0) through white to orange (class 1).
_BINARY_CMAP = LinearSegmentedColormap.from_list("dnncourse_binary", [COLORS["blue"], "#ffffff", COLORS["orange"]])


def _numpy(t: torch.Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    """A NumPy copy of a tensor on any device (``.cpu()`` first), or the array itself."""
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def _model_device(model: Callable, fallback: torch.device) -> torch.device:
    """The device of the model's first parameter, or ``fallback`` for a parameter-free callable."""
    parameters = getattr(model, "parameters", None)
    if callable(parameters):
        for p in parameters():
            return p.device
    return fallback


def _check_2d_classification(data: Dataset) -> None:
    if not isinstance(data, Dataset):
        raise ValueError(f"data must be a dnncourse.data.Dataset, got {type(data).__name__}")
    if data.n_features != 2:
        raise ValueError(f"data must have 2 features to be drawn in the plane, got {data.n_features}")
    if data.y.is_floating_point():
        raise ValueError("data must have integer class labels (a classification data set), got float targets")


def plot_dataset(data: Dataset, ax: Axes | None = None, *, title: str | None = None, size: float = 12) -> Axes:
    """Scatter a 2-D classification data set, one colour (and label ``class k``) per class."""
    _check_2d_classification(data)
    ax = ax if ax is not None else plt.gca()
    X, y = _numpy(data.X), _numpy(data.y)
    for k in range(int(y.max()) + 1):
        mine = y == k
        ax.scatter(
            X[mine, 0], X[mine, 1], s=size, color=CLASS_COLORS[k % len(CLASS_COLORS)],
            edgecolors="white", linewidths=0.4, label=f"class {k}",
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
) -> Axes:
    """Colour the plane by what ``model`` predicts and draw ``data`` on top.

    ``model`` maps a ``(m, 2)`` float tensor to scores of shape ``(m, k)`` (``k >= 2``: class logits, the
    prediction is the argmax) or ``(m, 1)`` / ``(m,)`` (one logit for class 1, predicted where it is > 0).
    For two classes the background shows the probability of class 1 (blue = class 0, orange = class 1)
    and the decision boundary (probability 1/2) is drawn as a black line; for more classes each region
    gets its class colour.

    The grid of ``resolution x resolution`` points spans the data with a 10% margin. It is created on the
    model's device (the device of its first parameter, else that of ``data.X``), the model is put in eval
    mode for the evaluation (its mode is restored afterwards), and the scores come back with ``.cpu()``.
    """
    _check_2d_classification(data)
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
    ax = ax if ax is not None else plt.gca()
    X = _numpy(data.X)
    low, high = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * (high - low) + 1e-6
    u = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    v = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    U, V = np.meshgrid(u, v)  # (resolution, resolution) each
    device = _model_device(model, data.X.device)
    grid = torch.as_tensor(np.stack([U.ravel(), V.ravel()], axis=1), dtype=torch.float32, device=device)  # (r*r, 2)
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
        P = _numpy(p1.float()).reshape(U.shape)  # (resolution, resolution)
        ax.contourf(U, V, P, levels=np.linspace(0, 1, 11), cmap=_BINARY_CMAP, alpha=0.6, vmin=0, vmax=1)
        ax.contour(U, V, P, levels=[0.5], colors=COLORS["black"], linewidths=1.5)
    else:
        predicted = _numpy(scores.argmax(dim=1)).reshape(U.shape)  # (resolution, resolution)
        cmap = ListedColormap([CLASS_COLORS[k % len(CLASS_COLORS)] for k in range(n_classes)])
        ax.contourf(U, V, predicted, levels=np.arange(n_classes + 1) - 0.5, cmap=cmap, alpha=0.35)
    plot_dataset(data, ax, title=title if title is not None else data.name, size=10)
    ax.set_aspect("auto")  # the grid fixes the limits; the two features may have different units
    ax.set_xlim(u[0], u[-1])
    ax.set_ylim(v[0], v[-1])
    return ax


def _series(history: History, per: str, split: str, key: str) -> list[float]:
    if per == "iteration":
        if split != "train" or key != "loss":
            raise ValueError("per='iteration' is only recorded for the training loss (split='train', key='loss')")
        return history.iteration_loss
    return getattr(history, f"{split}_{key}")


def plot_loss_curves(
    histories: Mapping[str, History],
    ax: Axes | None = None,
    *,
    per: str = "epoch",
    split: str = "train",
    ylabel: str = "loss",
    logy: bool = False,
    key: str = "loss",
) -> Axes:
    """One line per run: the loss per epoch (``per="epoch"``) or per mini-batch (``per="iteration"``).

    Args:
        histories: run name -> :class:`~dnncourse.training.History`; the names become the legend.
        per: ``"epoch"`` (``History.train_loss`` / ``val_loss``) or ``"iteration"`` (``History.iteration_loss``,
            training only).
        split: ``"train"`` or ``"val"`` (per epoch only).
        ylabel: the y-axis label.
        logy: logarithmic y axis (useful when losses span decades).
        key: ``"loss"`` or ``"accuracy"`` (the History list ``f"{split}_{key}"``; accuracies are drawn in %).
    """
    if per not in ("epoch", "iteration"):
        raise ValueError(f"per must be 'epoch' or 'iteration', got {per!r}")
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if key not in ("loss", "accuracy"):
        raise ValueError(f"key must be 'loss' or 'accuracy', got {key!r}")
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError(f"histories must be a non-empty mapping name -> History, got {histories!r}")
    ax = ax if ax is not None else plt.gca()
    for name, history in histories.items():
        values = np.asarray(_series(history, per, split, key), dtype=float)
        if values.size == 0:
            raise ValueError(f"history {name!r} has no {split} {key} per {per} (was val= given to train?)")
        if key == "accuracy":
            values = 100 * values
        steps = np.arange(1, len(values) + 1)
        ax.plot(steps, values, label=name, linewidth=1.0 if per == "iteration" else 2.0)
    ax.set_xlabel("iteration (mini-batch)" if per == "iteration" else "epoch")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if len(histories) > 1:
        ax.legend()
    return ax


def plot_history(
    histories: Mapping[str, History],
    axes: Sequence[Axes] | None = None,
    *,
    logy: bool = False,
    title: str | None = None,
) -> np.ndarray:
    """Loss (left) and accuracy in % (right) per epoch of several runs: training solid, validation dashed.

    Accuracy is drawn only for runs that have it (classification); a regression history gives the loss
    panel alone. Returns the array of axes drawn on (create them with ``plt.subplots(1, 2)`` to pass ``axes``).
    """
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError(f"histories must be a non-empty mapping name -> History, got {histories!r}")
    classify = any(h.train_accuracy and not math.isnan(h.train_accuracy[0]) for h in histories.values())
    n_panels = 2 if classify else 1
    if axes is None:
        _, axes = plt.subplots(1, n_panels, figsize=(5.2 * n_panels, 3.6), squeeze=False)
        axes = axes[0]
    axes = np.atleast_1d(np.asarray(axes, dtype=object))
    if len(axes) < n_panels:
        raise ValueError(f"axes must hold {n_panels} axes for these histories, got {len(axes)}")
    for i, (name, history) in enumerate(histories.items()):
        color = CLASS_COLORS[i % len(CLASS_COLORS)]
        for panel, key in enumerate(("loss", "accuracy")[:n_panels]):
            scale = 100 if key == "accuracy" else 1
            train = scale * np.asarray(getattr(history, f"train_{key}"), dtype=float)
            axes[panel].plot(np.arange(1, len(train) + 1), train, color=color, label=f"{name} (train)")
            val = scale * np.asarray(getattr(history, f"val_{key}"), dtype=float)
            if val.size:
                axes[panel].plot(
                    np.arange(1, len(val) + 1), val, color=color, linestyle="--", label=f"{name} (val)"
                )
    axes[0].set_ylabel("loss")
    if logy:
        axes[0].set_yscale("log")
    if classify:
        axes[1].set_ylabel("accuracy (%)")
    for ax in axes[:n_panels]:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    if title is not None:
        axes[0].figure.suptitle(title)
    return axes


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

    With ``show_units=True`` the model must be a one-hidden-layer :class:`~dnncourse.models.MLP`; each
    hidden unit's contribution ``v_j * sigma(w_j x + b_j)`` is drawn as a thin line, so the reader sees
    the prediction as their sum (plus the output bias). Evaluation happens on the model's device.
    """
    if not isinstance(data, Dataset) or data.n_features != 1:
        raise ValueError("data must be a dnncourse.data.Dataset with one input feature")
    ax = ax if ax is not None else plt.gca()
    x_data, y_data = _numpy(data.X)[:, 0], _numpy(data.y).reshape(len(data), -1)[:, 0]
    ax.scatter(x_data, y_data, s=8, color=COLORS["sky"], alpha=0.7, label="data")
    x = np.linspace(x_data.min(), x_data.max(), resolution)
    device = _model_device(model, data.X.device)
    grid = torch.as_tensor(x[:, None], dtype=torch.float32, device=device)  # (resolution, 1)
    if target is not None:
        ax.plot(x, target(x), color=COLORS["black"], linestyle=":", linewidth=1.5, label="true function")
    if show_units:
        blocks = getattr(model, "blocks", None)
        if blocks is None or len(blocks) != 1:
            raise ValueError("show_units=True needs a one-hidden-layer dnncourse MLP")
        h = model.hidden(grid)[0]  # (resolution, width)
        contributions = _numpy(h * model.head.weight[0])  # (resolution, width): v_j * h_j(x)
        for j in range(contributions.shape[1]):
            ax.plot(x, contributions[:, j], color=COLORS["green"], linewidth=0.8, alpha=0.6,
                    label="scaled hidden units" if j == 0 else None)
    prediction = _numpy(model(grid)).reshape(resolution, -1)[:, 0]
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
):
    """Show the first ``n`` rows of ``weights`` (``(units, h*w)``) as ``h x w`` images, one panel each.

    Each image uses a symmetric diverging scale (blue negative, white zero, orange positive), so a pixel
    that increases a unit's input is orange. Returns the figure.
    """
    W = _numpy(weights)
    if W.ndim != 2 or W.shape[1] != shape[0] * shape[1]:
        raise ValueError(f"weights must have shape (units, {shape[0] * shape[1]}) for shape={shape}, got {W.shape}")
    n = W.shape[0] if n is None else n
    if not 1 <= n <= W.shape[0]:
        raise ValueError(f"n must be in [1, {W.shape[0]}], got {n!r}")
    n_rows = math.ceil(n / n_cols)
    if axes is None:
        fig, axes = plt.subplots(n_rows, min(n, n_cols), figsize=(1.2 * min(n, n_cols), 1.25 * n_rows), squeeze=False)
    axes = np.asarray(axes, dtype=object).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i >= n:
            continue
        image = W[i].reshape(shape)  # (h*w,) -> (h, w)
        limit = np.abs(image).max() + 1e-12
        ax.imshow(image, cmap=_BINARY_CMAP, vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(f"unit {i}", fontsize=8)
    figure = axes[0].figure
    if title is not None:
        figure.suptitle(title)
        figure.subplots_adjust(top=1 - 0.45 / figure.get_figheight())  # room for the title above the panel titles
    return figure


def plot_computation_graph(root, ax: Axes | None = None, *, title: str | None = None) -> Axes:
    """Draw the computation graph that produced the scalar :class:`~dnncourse.autograd.Value` ``root``.

    Inputs are on the left and ``root`` on the right; a node's column is the length of the longest path
    from an input to it. Each box shows the node's name (or the operation that made it), its value (black)
    and, after ``root.backward()``, its gradient d root / d node (vermillion). Arrows point forward; the
    gradients flow against them.
    """
    from dnncourse.autograd import Value, topological_order

    if not isinstance(root, Value):
        raise ValueError(f"root must be a dnncourse.autograd.Value, got {type(root).__name__}")
    ax = ax if ax is not None else plt.gca()
    order = topological_order(root)  # parents before children
    column: dict[int, int] = {}
    for node in order:
        column[id(node)] = 1 + max((column[id(p)] for p in node._parents), default=-1)
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
            ax.annotate("", xy=(x - 0.28, y), xytext=(px + 0.28, py),
                        arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 1.2})
        label = node.name or (node._op if node._op else "const")
        ax.text(x, y + 0.12, label, ha="center", va="center", fontsize=11, fontweight="bold",
                bbox={"boxstyle": "round,pad=0.5", "facecolor": "#f2f2f2", "edgecolor": COLORS["blue"]})
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
