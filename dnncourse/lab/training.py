"""The training loop every chapter uses: :func:`train` and :func:`evaluate`.

It is deliberately one readable loop (shuffle, mini-batch, forward, loss, backward, step) with four
optional hooks that later chapters plug into: a learning-rate ``scheduler`` stepped after every
iteration (chapter 4), a ``penalty`` added to the loss (L1/L2, chapter 8), an
``after_backward`` call between ``backward()`` and ``step()`` (gradient clipping or recording, chapter 5),
and an ``on_epoch_end`` call that can stop training (early stopping, chapter 8).

Randomness is local: ``train(..., seed=s)`` shuffles with its own generator and runs the model's random
layers (dropout) under a forked copy of PyTorch's generator seeded with ``s``, so a run is repeatable
whatever ran before it, and the process-wide generator is the same after the call as before.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from dnncourse import _validation as check
from dnncourse.core import forked_rng
from dnncourse.lab.data import Dataset
from dnncourse.lab.models import model_device

__all__ = ["History", "train", "evaluate", "default_loss"]


@dataclass
class History:
    """What happened during training.

    ``iteration_loss`` has one entry per mini-batch (iteration); the other lists one per epoch.
    ``wall_time`` is the cumulative training time in seconds at the end of each epoch (it varies between
    runs, so chapters plot it but never print it).
    """

    iteration_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    wall_time: list[float] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_loss)


def default_loss(y: torch.Tensor) -> nn.Module:
    """Cross-entropy for integer class labels, mean squared error for float targets."""
    return nn.MSELoss() if y.is_floating_point() else nn.CrossEntropyLoss()


@torch.no_grad()
def evaluate(
    model: nn.Module, data: Dataset, loss_fn: Callable | None = None, batch_size: int = 4096
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``data`` in eval mode (accuracy is NaN for regression).

    The data is moved to the model's device; the model's train/eval mode is restored afterwards.
    """
    if len(data) == 0:
        raise ValueError("data is empty: cannot evaluate on 0 examples")
    loss_fn = loss_fn or default_loss(data.y)
    device = model_device(model, data.X.device)
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0.0
    for start in range(0, len(data), batch_size):
        X = data.X[start : start + batch_size].to(device)
        y = data.y[start : start + batch_size].to(device)
        out = model(X)
        total_loss += loss_fn(out, y).item() * len(y)
        if not y.is_floating_point():
            correct += (out.argmax(dim=1) == y).sum().item()
    model.train(was_training)
    accuracy = correct / len(data) if not data.y.is_floating_point() else math.nan
    return total_loss / len(data), accuracy


def _show_progress(progress: bool | None) -> bool:
    # The notebook execution command and the test suite set DNNCOURSE_NO_PROGRESS, so the bar
    # never lands in the stored outputs; interactively (Jupyter, Colab) it is on by default.
    if progress is None:
        return not os.environ.get("DNNCOURSE_NO_PROGRESS")
    return progress


def train(
    model: nn.Module,
    data: Dataset,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    batch_size: int = 64,
    loss_fn: Callable | None = None,
    val: Dataset | None = None,
    device: torch.device | str | None = None,
    seed: int | None = 0,
    penalty: Callable[[nn.Module], torch.Tensor] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    after_backward: Callable[[nn.Module], None] | None = None,
    on_epoch_end: Callable[[int, History], bool | None] | None = None,
    progress: bool | None = None,
) -> History:
    """Train ``model`` on ``data`` with mini-batch gradient descent and return its :class:`History`.

    Args:
        optimizer: any ``torch.optim.Optimizer`` over ``model``'s parameters (``dnncourse.optim`` too).
        epochs: passes over the training data; an epoch is ``ceil(len(data) / batch_size)`` iterations.
        batch_size: examples per mini-batch (``len(data)`` gives full-batch gradient descent, 1 gives SGD).
        loss_fn: defaults to cross-entropy for class labels and MSE for float targets.
        val: data evaluated (in eval mode) after each epoch.
        device: where to train; defaults to the device the model's parameters are on.
        seed: seeds the shuffling and, on a forked copy of PyTorch's generator, the model's random layers
            (dropout masks), so a run is repeatable; the global generator is left as it was. ``None``
            draws everything from the global generators instead.
        penalty: ``penalty(model)`` is added to the loss before ``backward()`` (e.g. an L2 penalty).
        scheduler: a learning-rate schedule over ``optimizer`` (``dnncourse.schedules`` or
            ``torch.optim.lr_scheduler``), stepped once per iteration, after ``optimizer.step()``: give its
            lengths in iterations (``epochs * ceil(len(data) / batch_size)`` in all).
        after_backward: called with the model after ``backward()`` and before ``optimizer.step()``.
        on_epoch_end: called with ``(epoch, history)``; returning ``True`` stops training.
        progress: show a progress line; ``None`` shows it except when notebooks are executed for storage.
    """
    epochs = check.integer("epochs", epochs, minimum=1)
    batch_size = check.integer("batch_size", batch_size, minimum=1)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    if len(data) == 0:
        raise ValueError("data is empty: cannot train on 0 examples")
    if seed is not None:
        seed = check.integer("seed", seed, 0, 2**64 - 1)
    device = torch.device(device) if device is not None else model_device(model, data.X.device)
    model.to(device)
    X, y = data.X.to(device), data.y.to(device)
    loss_fn = loss_fn or default_loss(y)
    classify = not y.is_floating_point()
    # The order of the examples: drawn on the CPU (the same on every device), then moved.
    shuffle = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
    show = _show_progress(progress)
    history = History()
    n = len(y)
    start = time.perf_counter()
    with forked_rng(seed, device) if seed is not None else contextlib.nullcontext():
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(n, generator=shuffle).to(device)  # (n,)
            epoch_loss, epoch_correct = 0.0, 0.0
            for first in range(0, n, batch_size):
                index = order[first : first + batch_size]
                X_batch, y_batch = X[index], y[index]  # (b, d), (b,) or (b, k)
                out = model(X_batch)
                loss = loss_fn(out, y_batch)
                objective = loss + penalty(model) if penalty is not None else loss
                optimizer.zero_grad(set_to_none=True)
                objective.backward()
                if after_backward is not None:
                    after_backward(model)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                value = loss.item()  # one device synchronisation per iteration
                history.iteration_loss.append(value)
                epoch_loss += value * len(index)
                if classify:
                    epoch_correct += (out.argmax(dim=1) == y_batch).sum().item()
            history.train_loss.append(epoch_loss / n)
            history.train_accuracy.append(epoch_correct / n if classify else math.nan)
            if val is not None:
                val_loss, val_accuracy = evaluate(model, val, loss_fn)
                history.val_loss.append(val_loss)
                history.val_accuracy.append(val_accuracy)
            history.wall_time.append(time.perf_counter() - start)
            if show:
                text = f"\repoch {epoch + 1}/{epochs}  loss {history.train_loss[-1]:.4f}"
                if val is not None:
                    text += f"  val loss {history.val_loss[-1]:.4f}"
                print(text, end="", file=sys.stderr, flush=True)
            if on_epoch_end is not None and on_epoch_end(epoch, history):
                history.stopped_early = True
                break
    if show:
        print(file=sys.stderr, flush=True)
    return history
