"""Exercises of the "Optimizers" chapter: one step of momentum, RMSProp and Adam, in NumPy."""

from __future__ import annotations

import numpy as np

from dnncourse.exercises import Case, Exercise
from dnncourse.optim import adam_update, momentum_update, rmsprop_update

__all__ = ["EXERCISES"]

_CHAPTER = "03_optimizers"


def _shape(rng: np.random.Generator) -> tuple[int, ...]:
    return tuple(int(n) for n in rng.integers(1, 6, size=int(rng.integers(1, 3))))


def _random_momentum(rng: np.random.Generator) -> dict:
    shape = _shape(rng)
    return {
        "theta": rng.normal(size=shape),
        "grad": rng.normal(size=shape),
        "v": rng.normal(size=shape),
        "lr": float(rng.uniform(1e-3, 0.5)),
        "momentum": float(rng.uniform(0.0, 0.99)),
    }


def _random_rmsprop(rng: np.random.Generator) -> dict:
    shape = _shape(rng)
    return {
        "theta": rng.normal(size=shape),
        "grad": rng.normal(size=shape),
        "r": rng.uniform(0.0, 2.0, size=shape),
        "lr": float(rng.uniform(1e-4, 0.1)),
        "rho": float(rng.uniform(0.5, 0.999)),
        "eps": 1e-8,
    }


def _random_adam(rng: np.random.Generator) -> dict:
    shape = _shape(rng)
    return {
        "theta": rng.normal(size=shape),
        "grad": rng.normal(size=shape),
        "m": rng.normal(scale=0.1, size=shape),
        "v": rng.uniform(0.0, 0.1, size=shape),
        "t": int(rng.integers(1, 50)),
        "lr": float(rng.uniform(1e-4, 0.1)),
        "beta1": float(rng.uniform(0.5, 0.95)),
        "beta2": float(rng.uniform(0.9, 0.9999)),
        "eps": 1e-8,
    }


_ONE = np.array([1.0])
_ZERO = np.array([0.0])

EXERCISES = (
    Exercise(
        id="momentum_update",
        function="momentum_update",
        reference=momentum_update,
        points=2,
        chapter=_CHAPTER,
        public_cases=(
            Case({"theta": _ONE, "grad": np.array([0.5]), "v": _ZERO, "lr": 0.1, "momentum": 0.9}, "first step: v = g"),
            Case(
                {
                    "theta": np.array([1.0, -2.0]),
                    "grad": np.array([0.5, 0.5]),
                    "v": np.array([1.0, -1.0]),
                    "lr": 0.1,
                    "momentum": 0.9,
                },
                "a velocity already built up",
            ),
            Case(
                {
                    "theta": np.array([[1.0, 2.0], [3.0, 4.0]]),
                    "grad": np.ones((2, 2)),
                    "v": np.ones((2, 2)),
                    "lr": 0.5,
                    "momentum": 0.0,
                },
                "momentum 0 is plain gradient descent",
            ),
        ),
        random_case=_random_momentum,
        rtol=1e-10,
        hint="PyTorch's form: first v_new = momentum * v + grad, then theta_new = theta - lr * v_new. Return both.",
    ),
    Exercise(
        id="rmsprop_update",
        function="rmsprop_update",
        reference=rmsprop_update,
        points=2,
        chapter=_CHAPTER,
        public_cases=(
            Case(
                {"theta": _ONE, "grad": np.array([2.0]), "r": _ZERO, "lr": 0.01, "rho": 0.9, "eps": 1e-8},
                "first step from an empty cache",
            ),
            Case(
                {
                    "theta": np.array([1.0, -1.0, 0.0]),
                    "grad": np.array([0.1, -3.0, 0.0]),
                    "r": np.array([0.5, 0.5, 0.0]),
                    "lr": 0.1,
                    "rho": 0.99,
                    "eps": 1e-8,
                },
                "a zero gradient with an empty cache (eps matters)",
            ),
        ),
        random_case=_random_rmsprop,
        rtol=1e-10,
        hint="r_new = rho * r + (1 - rho) * grad**2; theta_new = theta - lr * grad / (np.sqrt(r_new) + eps) "
        "(eps outside the square root, as in PyTorch).",
    ),
    Exercise(
        id="adam_update",
        function="adam_update",
        reference=adam_update,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case(
                {
                    "theta": _ONE,
                    "grad": np.array([0.5]),
                    "m": _ZERO,
                    "v": _ZERO,
                    "t": 1,
                    "lr": 0.1,
                    "beta1": 0.9,
                    "beta2": 0.999,
                    "eps": 1e-8,
                },
                "first step: the step is lr * sign(grad)",
            ),
            Case(
                {
                    "theta": np.array([1.0, -2.0]),
                    "grad": np.array([0.3, -0.1]),
                    "m": np.array([0.05, 0.02]),
                    "v": np.array([0.001, 0.002]),
                    "t": 10,
                    "lr": 0.01,
                    "beta1": 0.9,
                    "beta2": 0.999,
                    "eps": 1e-8,
                },
                "step 10",
            ),
        ),
        random_case=_random_adam,
        rtol=1e-10,
        hint="Update m and v first, then bias-correct with 1 - beta**t (t is this step's number, starting at 1), "
        "then theta_new = theta - lr * m_hat / (np.sqrt(v_hat) + eps). Return (theta_new, m_new, v_new).",
    ),
)
