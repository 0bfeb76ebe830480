"""Exercises of the "Batch normalization" chapter (7): the forward pass, folding, the backward pass.

- ``batchnorm_forward``: training-mode batch norm and PyTorch's update of the running statistics.
- ``fold_batchnorm_into_next``: fold an eval-mode batch norm into the linear layer *after* it (the
  chapter derives the fold into the layer before it; this one the student derives).
- ``batchnorm_backward``: the classic exercise, the gradients of ``y = gamma * x_hat + beta``. It is
  checked twice on every case, random shapes included: against centred finite differences of
  ``L = sum(dy * y)`` and against the library's hand-written backward (:func:`dnncourse.norm.batchnorm_backward`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from dnncourse.exercises import Case, Exercise
from dnncourse.gradcheck import numerical_gradient
from dnncourse.norm import batch_norm, fold_batchnorm_into_next_params

__all__ = ["EXERCISES", "batch_norm_numpy", "batchnorm_backward_numpy", "check_batchnorm_backward"]

_CHAPTER = "07_batch_normalization"
_GRADIENTS = ("dx", "dgamma", "dbeta")
_FD_TOLERANCE = 1e-6  # relative difference to the finite-difference gradient (float64; see dnncourse.gradcheck)
_LIBRARY_TOLERANCE = 1e-9  # relative difference to the library's backward


def _float64(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64)).clone()


def batch_norm_numpy(
    x, gamma, beta, running_mean, running_var, momentum: float = 0.1, eps: float = 1e-5, training: bool = True
):
    """:func:`dnncourse.norm.batch_norm` for NumPy arrays: returns ``(y, new_running_mean, new_running_var)``.

    The reference of the ``batchnorm_forward`` exercise. ``x`` is (N, C) or (N, C, *); the inputs are not
    modified. Computed in float64 by the library's function, so it is the same code path as the module.
    """
    x_t, mean_t, var_t = _float64(x), _float64(running_mean), _float64(running_var)
    y = batch_norm(x_t, _float64(gamma), _float64(beta), mean_t, var_t, training=training, momentum=momentum, eps=eps)
    return y.numpy(), mean_t.numpy(), var_t.numpy()


def batchnorm_backward_numpy(dy, x, gamma, eps: float = 1e-5):
    """``(dx, dgamma, dbeta)`` of training-mode batch norm, by the library, for NumPy arrays.

    ``x`` and the upstream gradient ``dy = dL/dy`` are (N, C), ``gamma`` is (C,). The forward
    ``y = gamma * x_hat + beta`` runs through :class:`dnncourse.norm.BatchNormFunction` in float64 and
    ``y.backward(dy)`` calls its hand-written backward. ``beta`` does not enter any of the three gradients.
    """
    x_t = _float64(x).requires_grad_()
    gamma_t = _float64(gamma).requires_grad_()
    beta_t = torch.zeros_like(gamma_t, requires_grad=True)
    y = batch_norm(x_t, gamma_t, beta_t, None, None, training=True, eps=eps)  # (N, C)
    y.backward(_float64(dy))
    return x_t.grad.numpy(), gamma_t.grad.numpy(), beta_t.grad.numpy()


def _forward_numpy(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """Training-mode batch norm written out in NumPy (independent of the library), (N, C) -> (N, C)."""
    mu_B = x.mean(axis=0)  # (C,)
    sigma2_B = ((x - mu_B) ** 2).mean(axis=0)  # (C,) biased
    return gamma * (x - mu_B) / np.sqrt(sigma2_B + eps) + beta  # (N, C)


def _finite_difference_gradients(dy, x, gamma, eps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centred finite differences of ``L = sum(dy * y)`` with respect to x, gamma and beta (float64)."""
    dy, x, gamma = (np.asarray(a, dtype=np.float64) for a in (dy, x, gamma))
    beta = np.zeros_like(gamma)

    def loss(x_, gamma_, beta_) -> float:
        return float((dy * _forward_numpy(x_, gamma_, beta_, eps)).sum())

    return (
        numerical_gradient(lambda x_: loss(x_, gamma, beta), x),
        numerical_gradient(lambda g_: loss(x, g_, beta), gamma),
        numerical_gradient(lambda b_: loss(x, gamma, b_), beta),
    )


def _gradient_scale(dy, x, gamma, eps) -> float:
    """The size a gradient of this case is measured against: ``||dy|| (1 + max|gamma| / sqrt(min sigma2_B + eps))``.

    A floor for the relative errors below, so that a gradient that is exactly zero (a constant ``dy`` gives
    ``dx = 0``) is compared with the size it would have, not with the rounding noise around zero.
    """
    sigma2_B = np.asarray(x, dtype=np.float64).var(axis=0)  # (C,) biased
    gain = float(np.abs(gamma).max() / np.sqrt(sigma2_B.min() + eps))
    return float(np.linalg.norm(dy)) * (1.0 + gain)


def _relative_difference(a: np.ndarray, b: np.ndarray, floor: float) -> float:
    """``||a - b|| / max(||a||, ||b||, floor)`` (Euclidean norms over all entries)."""
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), floor))


def check_batchnorm_backward(inputs: Mapping[str, Any], answer: Any) -> str | None:
    """``None`` if ``answer`` is the right ``(dx, dgamma, dbeta)`` for ``inputs``, else what is wrong.

    Each gradient is compared with centred finite differences of ``L = sum(dy * y)`` (relative difference
    below 1e-6) and with the library's hand-written backward (below 1e-9); relative to the gradient's
    size, or to :func:`_gradient_scale` where the gradient is (nearly) zero.
    """
    if not isinstance(answer, tuple) or len(answer) != 3:
        n = len(answer) if isinstance(answer, tuple) else 1
        return f"expected a tuple of 3 arrays (dx, dgamma, dbeta), got {n} value(s)"
    dy, x, gamma, eps = inputs["dy"], inputs["x"], inputs["gamma"], inputs["eps"]
    numeric = _finite_difference_gradients(dy, x, gamma, eps)
    library = batchnorm_backward_numpy(dy, x, gamma, eps)
    floor = _gradient_scale(dy, x, gamma, eps)
    for name, got, fd, ref in zip(_GRADIENTS, answer, numeric, library):
        if got is None or np.shape(got) != ref.shape:
            return f"{name}: expected shape {ref.shape}, got {None if got is None else np.shape(got)}"
        got = np.asarray(got, dtype=np.float64)
        if not np.all(np.isfinite(got)):
            return f"{name}: contains NaN or infinity"
        error = _relative_difference(got, fd, floor)
        if error > _FD_TOLERANCE:
            shown = f": expected {np.array2string(fd, precision=6)}, got {np.array2string(got, precision=6)}"
            return (
                f"{name} differs from the finite-difference gradient of L = sum(dy * y) "
                f"(relative difference {error:.3g}, tolerance {_FD_TOLERANCE:g})" + (shown if got.size <= 6 else "")
            )
        error = _relative_difference(got, ref, floor)
        if error > _LIBRARY_TOLERANCE:
            return (
                f"{name} differs from the library's backward (relative difference {error:.3g}, "
                f"tolerance {_LIBRARY_TOLERANCE:g}): compute in float64"
            )
    return None


def _random_batchnorm_case(rng: np.random.Generator) -> dict:
    n, c = int(rng.integers(2, 33)), int(rng.integers(1, 9))
    return {
        "x": rng.normal(rng.normal(0, 3, size=c), rng.uniform(0.1, 5, size=c), size=(n, c)),
        "gamma": rng.normal(1, 0.5, size=c),
        "beta": rng.normal(0, 1, size=c),
        "running_mean": rng.normal(0, 1, size=c),
        "running_var": rng.uniform(0.5, 2, size=c),
        "momentum": float(rng.uniform(0.01, 0.5)),
        "eps": float(10.0 ** rng.integers(-5, -2)),
    }


def _random_fold_next_case(rng: np.random.Generator) -> dict:
    k, c = int(rng.integers(1, 9)), int(rng.integers(1, 9))  # the next layer maps C -> K values
    return {
        "W": rng.normal(0, 1, size=(k, c)),
        "b": rng.normal(0, 1, size=k),
        "gamma": rng.normal(1, 0.5, size=c),
        "beta": rng.normal(0, 1, size=c),
        "mean": rng.normal(0, 2, size=c),
        "var": rng.uniform(0.1, 4, size=c),
        "eps": float(10.0 ** rng.integers(-5, -2)),
    }


def _random_backward_case(rng: np.random.Generator) -> dict:
    n, c = int(rng.integers(2, 33)), int(rng.integers(1, 9))  # a new shape (N, C) for every case
    return {
        "dy": rng.normal(0, 1, size=(n, c)),
        "x": rng.normal(rng.normal(0, 3, size=c), rng.uniform(0.2, 5, size=c), size=(n, c)),
        "gamma": rng.normal(1, 0.5, size=c),
        "eps": float(10.0 ** rng.integers(-5, -2)),
    }


_SIX_NUMBERS = np.array([[3.0], [5.0], [8.0], [9.0], [11.0], [24.0]])  # the chapter's worked example, (6, 1)

_WORKED_EXAMPLE = {
    "x": _SIX_NUMBERS,
    "gamma": np.array([1.0]),
    "beta": np.array([0.0]),
    "running_mean": np.array([0.0]),
    "running_var": np.array([1.0]),
    "momentum": 0.1,
    "eps": 1e-5,
}

EXERCISES = (
    Exercise(
        id="batchnorm_forward",
        function="batchnorm_forward",
        reference=batch_norm_numpy,
        points=4,
        chapter=_CHAPTER,
        public_cases=(
            Case(_WORKED_EXAMPLE, "the six-number worked example"),
            Case(
                {
                    "x": np.array([[1.0, 10.0], [3.0, 20.0], [8.0, 60.0], [0.0, 30.0]]),
                    "gamma": np.array([2.0, 0.5]),
                    "beta": np.array([1.0, -1.0]),
                    "running_mean": np.array([0.5, 25.0]),
                    "running_var": np.array([4.0, 100.0]),
                    "momentum": 0.25,
                    "eps": 1e-5,
                },
                "two channels, scale and shift, momentum 0.25",
            ),
        ),
        random_case=_random_batchnorm_case,
        rtol=1e-6,
        hint=(
            "Per column: mu_B = mean, sigma2_B = mean of squared deviations (biased, divide by m); "
            "y = gamma * (x - mu_B) / sqrt(sigma2_B + eps) + beta. The running variance is updated with the "
            "UNBIASED variance sigma2_B * m / (m - 1), and new = (1 - momentum) * old + momentum * batch."
        ),
    ),
    Exercise(
        id="fold_batchnorm_into_next",
        function="fold_batchnorm_into_next",
        reference=fold_batchnorm_into_next_params,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case(
                {
                    "W": np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]]),
                    "b": np.array([0.5, -2.0]),
                    "gamma": np.array([1.0, 2.0, 0.5]),
                    "beta": np.array([0.0, 1.0, -1.0]),
                    "mean": np.array([1.0, -1.0, 0.0]),
                    "var": np.array([4.0, 1.0, 0.25]),
                    "eps": 0.0,
                },
                "three channels into two outputs, eps = 0",
            ),
        ),
        random_case=_random_fold_next_case,
        rtol=1e-7,
        hint=(
            "Write BN(h) = s * (h - mean) + beta with s = gamma / sqrt(var + eps), one number per channel, and "
            "substitute it into W h + b. Each channel c of h meets column c of W, so s scales columns, not "
            "rows; everything that does not multiply h (beta and -s * mean) goes through W into the bias."
        ),
    ),
    Exercise(
        id="batchnorm_backward",
        function="batchnorm_backward",
        reference=batchnorm_backward_numpy,
        points=5,
        chapter=_CHAPTER,
        public_cases=(
            Case(
                {
                    "dy": np.array([[0.5], [-1.0], [2.0], [0.0], [1.5], [-0.5]]),
                    "x": _SIX_NUMBERS,
                    "gamma": np.array([1.0]),
                    "eps": 1e-5,
                },
                "the six-number worked example",
            ),
            Case(
                {
                    "dy": np.array([[1.0, -2.0], [1.0, -2.0], [1.0, -2.0]]),
                    "x": np.array([[1.0, 4.0], [2.0, -1.0], [6.0, 0.5]]),
                    "gamma": np.array([3.0, -0.5]),
                    "eps": 1e-5,
                },
                "the same upstream gradient for every example",
            ),
            Case(
                {
                    "dy": np.array([[1.0, 0.3], [-2.0, 0.1], [0.5, -0.4], [0.5, 0.0]]),
                    "x": np.array([[2.0, 10.0], [-1.0, 30.0], [0.0, 20.0], [3.0, 20.0]]),
                    "gamma": np.array([2.0, 0.5]),
                    "eps": 1e-3,
                },
                "two channels, eps = 1e-3",
            ),
        ),
        random_case=_random_backward_case,
        property_check=check_batchnorm_backward,
        hint=(
            "dbeta and dgamma are sums over the batch (axis 0) of dy and of dy * x_hat. For dx, each x_i reaches "
            "every x_hat_j three ways: directly (only j = i), through mu_B and through sigma2_B; add the three "
            "paths (chain rule), per column. Two checks by hand: a dy that is the same for every example gives "
            "dx = 0, and dy = x_hat gives dx = 0 up to eps."
        ),
    ),
)
