"""Training curves: the one function that draws what :func:`dnncourse.lab.training.train` recorded.

:func:`plot_history` draws one or several runs, each a :class:`~dnncourse.lab.training.History` or a
list of them (the same run with several seeds: drawn as the mean and a band from the minimum to the
maximum). Training curves are solid and validation curves dashed, in the same colour per run; one panel
per metric (loss, and accuracy in % for classification).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from dnncourse import _validation as check
from dnncourse.lab.training import History

__all__ = ["plot_history"]

_X_LABELS = {"epoch": "epoch", "iteration": "iteration (mini-batch)", "wall_time": "wall time (s)"}


def _runs(histories: Mapping[str, History | Sequence[History]]) -> dict[str, list[History]]:
    """Each run as a non-empty list of histories (one per seed)."""
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError(f"histories must be a non-empty mapping name -> History (or list of them), got {histories!r}")
    runs = {}
    for name, run in histories.items():
        seeds = [run] if isinstance(run, History) else list(run)
        if not seeds or not all(isinstance(h, History) for h in seeds):
            raise ValueError(f"histories[{name!r}] must be a History or a non-empty list of them, got {run!r}")
        runs[name] = seeds
    return runs


def _is_classification(history: History) -> bool:
    return bool(history.train_accuracy) and not math.isnan(history.train_accuracy[0])


def _curve(seeds: list[History], name: str, metric: str, split: str, x: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(xs, values)`` with values of shape (seeds, points), or ``None`` if this split was not recorded."""
    attribute = "iteration_loss" if x == "iteration" else f"{split}_{metric}"
    lists = [getattr(h, attribute) for h in seeds]
    if not any(lists):
        return None
    if len({len(values) for values in lists}) != 1:
        raise ValueError(f"the histories of {name!r} have {attribute} lists of different lengths: cannot average them")
    values = np.array(lists, dtype=float)  # (seeds, points)
    if x == "wall_time":
        xs = np.array([h.wall_time for h in seeds], dtype=float).mean(axis=0)  # (points,)
    else:
        xs = np.arange(1, values.shape[1] + 1)
    return xs, (100 * values if metric == "accuracy" else values)


def plot_history(
    histories: Mapping[str, History | Sequence[History]],
    axes: Axes | Sequence[Axes] | None = None,
    *,
    metrics: str | Sequence[str] | None = None,
    splits: str | Sequence[str] = ("train", "val"),
    x: str = "epoch",
    logy: bool = False,
    title: str | None = None,
) -> np.ndarray:
    """Draw training curves of several runs; returns the array of axes drawn on (one per metric).

    Args:
        histories: run name -> :class:`~dnncourse.lab.training.History`, or a list of histories (several
            seeds of one run: drawn as their mean with a band from min to max). Names become the legend.
        axes: where to draw: one axes per metric (a single axes for one metric); by default a new figure.
        metrics: ``"loss"`` and/or ``"accuracy"`` (in %); default: the loss, and the accuracy when the runs
            are classifications.
        splits: ``"train"`` (solid) and/or ``"val"`` (dashed); a split a run did not record is skipped.
        x: ``"epoch"``, ``"iteration"`` (the training loss of every mini-batch) or ``"wall_time"`` (seconds
            since the start of training, averaged over the seeds: it varies between machines, so plot it
            but do not print it).
        logy: logarithmic loss axis.
        title: a title above the figure.

    Each run takes the next colour of the axes' cycle (the course palette), and the same colour on
    every panel.
    """
    runs = _runs(histories)
    check.one_of("x", x, _X_LABELS)
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    for split in splits:
        check.one_of("splits", split, ("train", "val"))
    if metrics is None:
        classify = any(_is_classification(seeds[0]) for seeds in runs.values())
        metrics = ("loss", "accuracy") if classify and x != "iteration" else ("loss",)
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    for metric in metrics:
        check.one_of("metrics", metric, ("loss", "accuracy"))
    if x == "iteration" and (metrics != ("loss",) or "train" not in splits):
        raise ValueError("x='iteration' is only recorded for the training loss (metrics='loss', splits='train')")
    if axes is None:
        _, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.6), squeeze=False)
    axes = np.atleast_1d(np.asarray(axes, dtype=object)).ravel()
    if len(axes) < len(metrics):
        raise ValueError(f"axes must hold one axes per metric ({len(metrics)}), got {len(axes)}")
    for ax, metric in zip(axes, metrics):
        drawn = 0
        for name, seeds in runs.items():
            color = None  # the first curve of a run takes the next colour of the cycle, the others reuse it
            for split in splits:
                curve = _curve(seeds, name, metric, split, x)
                if curve is None:
                    continue
                xs, values = curve
                label = name if len(splits) == 1 else f"{name} ({split})"
                style = {"linestyle": "--" if split == "val" else "-", "linewidth": 1.0 if x == "iteration" else 2.0}
                (line,) = ax.plot(xs, values.mean(axis=0), color=color, label=label, **style)
                color = line.get_color()
                if len(seeds) > 1:
                    ax.fill_between(xs, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2, linewidth=0)
                drawn += 1
        if drawn == 0:
            raise ValueError(f"no run recorded {metric!r} for splits {splits} (was val= given to train?)")
        ax.set_xlabel(_X_LABELS[x])
        ax.set_ylabel("accuracy (%)" if metric == "accuracy" else "loss")
        if logy and metric == "loss":
            ax.set_yscale("log")
        if drawn > 1:
            ax.legend(fontsize=8)
    if title is not None:
        axes[0].figure.suptitle(title)
    return axes[: len(metrics)]
