"""Exercises of the "Batch normalization" chapter: the training-mode forward pass and folding into a layer."""

from __future__ import annotations

import numpy as np
import torch

from dnncourse.exercises import Case, Exercise
from dnncourse.norm import batch_norm, fold_batchnorm_params

__all__ = ["EXERCISES", "batch_norm_numpy"]

_CHAPTER = "07_batch_normalization"


def batch_norm_numpy(
    x, gamma, beta, running_mean, running_var, momentum: float = 0.1, eps: float = 1e-5, training: bool = True
):
    """:func:`dnncourse.norm.batch_norm` for NumPy arrays: returns ``(y, new_running_mean, new_running_var)``.

    The reference of the ``batchnorm_forward`` exercise. ``x`` is (N, C) or (N, C, *); the inputs are not
    modified. Computed in float64 by the library's function, so it is the same code path as the module.
    """

    def as_tensor(a) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float64).clone()

    x_t, mean_t, var_t = as_tensor(x), as_tensor(running_mean), as_tensor(running_var)
    y = batch_norm(x_t, as_tensor(gamma), as_tensor(beta), mean_t, var_t, training=training, momentum=momentum, eps=eps)
    return y.numpy(), mean_t.numpy(), var_t.numpy()


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


def _random_fold_case(rng: np.random.Generator) -> dict:
    c, d = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    return {
        "W": rng.normal(0, 1, size=(c, d)),
        "b": rng.normal(0, 1, size=c),
        "gamma": rng.normal(1, 0.5, size=c),
        "beta": rng.normal(0, 1, size=c),
        "mean": rng.normal(0, 2, size=c),
        "var": rng.uniform(0.1, 4, size=c),
        "eps": 1e-5,
    }


_WORKED_EXAMPLE = {
    "x": np.array([[3.0], [5.0], [8.0], [9.0], [11.0], [24.0]]),
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
        id="fold_batchnorm_weights",
        function="fold_batchnorm_weights",
        reference=fold_batchnorm_params,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case(
                {
                    "W": np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]]),
                    "b": np.array([0.5, 0.0, -2.0]),
                    "gamma": np.array([1.0, 2.0, 0.5]),
                    "beta": np.array([0.0, 1.0, -1.0]),
                    "mean": np.array([1.0, -1.0, 0.0]),
                    "var": np.array([4.0, 1.0, 0.25]),
                    "eps": 0.0,
                },
                "three units, eps = 0",
            ),
        ),
        random_case=_random_fold_case,
        rtol=1e-7,
        hint=(
            "With s = gamma / sqrt(var + eps) (one number per output unit): W' = s[:, None] * W scales row c "
            "of W by s_c, and b' = s * (b - mean) + beta. Don't forget gamma."
        ),
    ),
)
