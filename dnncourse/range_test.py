"""The learning-rate range test (Smith 2017): one short run with a growing learning rate.

Train for ``steps`` mini-batches while the learning rate grows geometrically from ``lr_min`` to
``lr_max``, :math:`\\eta_k = \\eta_\\text{min}\\, \\gamma^k` with :math:`\\gamma = (\\eta_\\text{max} /
\\eta_\\text{min})^{1/(K-1)}`, and record the loss of each mini-batch. (Smith grew the rate linearly over a
few epochs and watched the accuracy; this is the variant of fastai's learning-rate finder, Howard &
Gugger 2020, which grows it exponentially, so that every decade of rates gets the same number of steps,
and watches the loss.) Plotted against :math:`\\log \\eta`, the loss first stays flat (the steps are too
small to matter), then falls (the useful range), then shoots up (the steps overshoot: on a quadratic with
largest curvature :math:`L`, gradient descent diverges once :math:`\\eta > 2/L`). The test stops as soon
as the loss has clearly diverged.

The mini-batch losses are noisy, so they are smoothed with an exponential moving average whose bias
towards the initial zero is corrected, exactly as Adam corrects its moments:

.. math:: a_k = \\beta a_{k-1} + (1 - \\beta)\\, \\ell_k, \\quad a_0 = 0, \\qquad \\bar\\ell_k = a_k / (1 - \\beta^k).

Two readings of the curve are common (fastai's learning-rate finder offered both, as ``lr_min`` and
``lr_steep``), and :class:`RangeTestResult` reports both:

* the **suggestion**: a tenth of the learning rate at the **minimum** of the smoothed loss. At the
  minimum the rate is already about to become too large; a tenth of it sits inside the range where the
  loss falls;
* the **steepest descent**: the learning rate where the smoothed loss falls fastest per unit of
  :math:`\\log\\eta`, before the smoothed minimum. Depending on the optimizer it lies above or below
  the suggestion (the chapter measures both readings against a sweep of constant rates).

Divergence follows fastai's convention: stop when the smoothed loss exceeds ``diverge_factor`` (4) times
its lowest value so far, or when a loss is not finite. See chapter "Learning rates".
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from dnncourse import _validation as check
from dnncourse.core import forked_rng
from dnncourse.lab.training import default_loss
from dnncourse.schedules import exponential_decay

__all__ = ["RangeTestResult", "range_test", "smooth_losses", "steepest_descent_lr", "steepest_lr"]


@dataclass(frozen=True)
class RangeTestResult:
    """What one range test measured. Arrays have one entry per step run (``k`` steps, ``k <= steps``)."""

    lrs: np.ndarray  # (k,) the learning rate of each step
    losses: np.ndarray  # (k,) the mini-batch loss of each step (before that step's update)
    smoothed: np.ndarray  # (k,) the bias-corrected moving average of the losses
    lr_at_minimum: float  # where the smoothed loss was lowest
    steepest: float  # where the smoothed loss fell fastest, before its minimum (NaN if it never fell)
    diverged: bool  # True if the test stopped early because the loss diverged

    @property
    def suggestion(self) -> float:
        """The suggested learning rate: a tenth of :attr:`lr_at_minimum`."""
        return self.lr_at_minimum / 10

    @property
    def stop_lr(self) -> float:
        """The last learning rate tried (where the loss diverged, if it did)."""
        return float(self.lrs[-1])


def smooth_losses(losses: Any, beta: float = 0.98) -> np.ndarray:
    """The bias-corrected exponential moving average :math:`\\bar\\ell_k` of a sequence of losses.

    ``beta=0`` returns the losses unchanged. Shape ``(k,)`` in, ``(k,)`` out.
    """
    losses = np.asarray(losses, dtype=float)
    if losses.ndim != 1:
        raise ValueError(f"losses must be a 1-D sequence, got shape {losses.shape}")
    beta = check.in_range("beta", beta, 0.0, 1.0, closed="left")
    smoothed = np.empty_like(losses)
    average = 0.0
    for k, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss  # a_k = β a_{k-1} + (1 − β) ℓ_k
        smoothed[k - 1] = average / (1 - beta**k)  # bias correction
    return smoothed


def steepest_descent_lr(lrs: Any, smoothed: Any) -> float:
    """The learning rate where the smoothed loss falls fastest per unit of :math:`\\log\\eta`.

    Only the part of the curve up to the minimum of ``smoothed`` counts (after it the loss rises). The
    slope of segment :math:`k` is :math:`(\\bar\\ell_{k+1} - \\bar\\ell_k) / (\\ln\\eta_{k+1} - \\ln\\eta_k)`;
    the result is :math:`\\eta_k` at the left end of the most negative one. NaN when the smoothed loss
    never falls (its minimum is the first point).
    """
    lrs, smoothed = np.asarray(lrs, dtype=float), np.asarray(smoothed, dtype=float)
    if lrs.ndim != 1 or lrs.shape != smoothed.shape or len(lrs) < 2:
        raise ValueError(
            f"lrs and smoothed must be 1-D with the same length >= 2, got shapes {lrs.shape} and {smoothed.shape}"
        )
    if not np.all(lrs > 0) or not np.all(np.diff(lrs) > 0):
        raise ValueError("lrs must be positive and increasing")
    k_min = int(np.nanargmin(smoothed))
    if k_min == 0:
        return math.nan
    slopes = np.diff(smoothed[: k_min + 1]) / np.diff(np.log(lrs[: k_min + 1]))  # (k_min,)
    return float(lrs[int(np.argmin(slopes))])


def range_test(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Any,
    *,
    lr_min: float = 1e-5,
    lr_max: float = 10.0,
    steps: int = 100,
    batch_size: int = 64,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    beta: float = 0.98,
    diverge_factor: float = 4.0,
    seed: int = 0,
) -> RangeTestResult:
    """Run the learning-rate range test and return a :class:`RangeTestResult`.

    Args:
        model, optimizer: what to test; the optimizer's parameter groups all get the same learning rate
            :math:`\\eta_k`. Both are **restored** afterwards (parameters, buffers, optimizer state and
            learning rates, train/eval mode), also when the test raises, so they are ready for the real run.
        data: a data set with tensors ``X`` (n, d) and ``y`` (for example ``lab.data.load_digits().train``);
            moved to the model's device.
        lr_min, lr_max: the learning rates of the first and of the last step.
        steps: the number :math:`K` of mini-batches (the test stops earlier if the loss diverges).
        batch_size: examples per mini-batch (``len(data)`` or more: full-batch gradient descent).
        loss_fn: defaults to cross-entropy for class labels and mean squared error for float targets.
        beta: smoothing of the losses (0: none; fastai uses 0.98).
        diverge_factor: stop when the smoothed loss exceeds this multiple of its lowest value.
        seed: draws the mini-batches (on the CPU, so every device sees the same batches) and seeds
            PyTorch's generator for the run (dropout); the caller's global random state is left as it was.
    """
    lr_min, lr_max = check.positive("lr_min", lr_min), check.positive("lr_max", lr_max)
    if not lr_max > lr_min:
        raise ValueError(f"lr_max must be larger than lr_min={lr_min!r}, got {lr_max!r}")
    steps, batch_size = check.integer("steps", steps, minimum=2), check.integer("batch_size", batch_size, minimum=1)
    beta = check.in_range("beta", beta, 0.0, 1.0, closed="left")
    if not check.positive("diverge_factor", diverge_factor) > 1:
        raise ValueError(f"diverge_factor must be larger than 1, got {diverge_factor!r}")
    seed = check.integer("seed", seed, 0, 2**64 - 1)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    first = next(model.parameters(), None)
    if first is None:
        raise ValueError("model has no parameters to train")
    n = len(data.y)
    if n == 0:
        raise ValueError("data is empty: cannot run a range test on 0 examples")
    device = first.device
    X, y = data.X.to(device), data.y.to(device)
    loss_fn = loss_fn or default_loss(y)
    batch_size = min(batch_size, n)
    gamma = (lr_max / lr_min) ** (1 / (steps - 1))  # η_k = η_min γ^k reaches η_max at k = K − 1

    saved_model, saved_optimizer = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    was_training = model.training
    lrs, losses, diverged = [], [], False
    try:
        with forked_rng(seed, device):
            order = _batch_order(n, batch_size, steps, seed)  # (steps * batch_size,) indices into data
            model.train()
            best, average = math.inf, 0.0
            for k in range(steps):
                eta = exponential_decay(k, lr_min, gamma)
                for group in optimizer.param_groups:
                    group["lr"] = eta
                index = order[k * batch_size : (k + 1) * batch_size].to(device)
                loss = loss_fn(model(X[index]), y[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                lrs.append(eta)
                losses.append(loss.item())
                average = beta * average + (1 - beta) * losses[-1]
                smoothed = average / (1 - beta ** (k + 1))
                best = min(best, smoothed)
                if not math.isfinite(smoothed) or smoothed > diverge_factor * best:
                    diverged = True
                    break
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        optimizer.zero_grad(set_to_none=True)
        model.train(was_training)

    lrs_array, losses_array = np.array(lrs), np.array(losses)
    smoothed_array = smooth_losses(losses_array, beta)
    k = int(np.isfinite(smoothed_array).sum())  # the test stops at the first non-finite loss: the curve is [:k]
    steepest = steepest_descent_lr(lrs_array[:k], smoothed_array[:k]) if k >= 2 else math.nan
    lr_at_minimum = float(lrs_array[int(np.argmin(smoothed_array[:k]))]) if k >= 1 else math.nan
    return RangeTestResult(lrs_array, losses_array, smoothed_array, lr_at_minimum, steepest, diverged)


def steepest_lr(lrs: Any, losses: Any, beta: float = 0.98) -> float:
    """The steepest descent of a recorded range-test curve: smooth the losses (:func:`smooth_losses`),
    then take the steepest descent before the smoothed minimum (:func:`steepest_descent_lr`)."""
    return steepest_descent_lr(lrs, smooth_losses(losses, beta))


def _batch_order(n: int, batch_size: int, steps: int, seed: int) -> torch.Tensor:
    """Indices of ``steps`` mini-batches: shuffled passes over the data, one after the other (CPU)."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    passes = math.ceil(steps * batch_size / n)
    return torch.cat([torch.randperm(n, generator=generator) for _ in range(passes)])
