"""Exercises of the "Regularization" chapter: inverted dropout, the L2 penalty, ridge regression, early stopping."""

from __future__ import annotations

import numpy as np
import torch

from dnncourse.dropout import apply_dropout_mask
from dnncourse.exercises import Case, Exercise
from dnncourse.regularization import early_stopping_epochs, l2_penalty, ridge_solution

__all__ = ["EXERCISES"]

_CHAPTER = "08_regularization"


def _l2_penalty_and_grad(W: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The library's :func:`~dnncourse.regularization.l2_penalty` and its gradient by autograd."""
    W = W.detach().clone().requires_grad_(True)
    value = l2_penalty(W, lam, include_biases=True)  # include_biases: also accept a 1-D weight vector
    (grad,) = torch.autograd.grad(value, W)
    return value.detach(), grad


def _random_dropout_case(rng: np.random.Generator) -> dict:
    shape = tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(1, 3))))
    p = float(rng.choice([0.1, 0.25, 0.5, 0.8]))
    return {"x": rng.normal(0, 2, size=shape), "mask": rng.random(shape) >= p, "p": p}


def _random_weight_case(rng: np.random.Generator) -> dict:
    shape = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
    return {"W": rng.normal(0, 1, size=shape), "lam": float(rng.uniform(0, 2))}


def _random_ridge_case(rng: np.random.Generator) -> dict:
    n, d = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    return {"A": rng.normal(0, 1, size=(n, d)), "b": rng.normal(0, 1, size=n), "lam": float(10.0 ** rng.uniform(-2, 1))}


def _random_curve_case(rng: np.random.Generator) -> dict:
    n = int(rng.integers(3, 30))
    # A noisy U-shaped validation curve, as in real training.
    t = np.arange(n)
    curve = (t - rng.uniform(0, n)) ** 2 / n + rng.normal(0, 0.5, size=n) + 1.0
    return {"values": curve, "patience": int(rng.integers(1, 6)), "min_delta": float(rng.choice([0.0, 0.1]))}


EXERCISES = (
    Exercise(
        id="inverted_dropout",
        function="inverted_dropout",
        reference=apply_dropout_mask,
        points=2,
        chapter=_CHAPTER,
        public_cases=(
            Case(
                {"x": np.array([1.0, 2.0, 3.0, 4.0]), "mask": np.array([True, False, True, False]), "p": 0.5},
                "half dropped",
            ),
            Case(
                {"x": np.array([[1.0, -1.0], [0.5, 2.0]]), "mask": np.ones((2, 2), dtype=bool), "p": 0.2},
                "nothing dropped, p = 0.2",
            ),
            Case({"x": np.array([1.0, 2.0]), "mask": np.zeros(2, dtype=bool), "p": 1.0}, "p = 1: everything dropped"),
        ),
        random_case=_random_dropout_case,
        torch_inputs=True,
        hint="Multiply by the mask (convert it to x's dtype) and divide by the keep probability 1 - p; "
        "for p = 1 return zeros (0 / 0 would give NaN).",
    ),
    Exercise(
        id="l2_penalty_and_grad",
        function="l2_penalty_and_grad",
        reference=_l2_penalty_and_grad,
        points=2,
        chapter=_CHAPTER,
        public_cases=(
            Case({"W": np.array([[1.0, -2.0], [0.0, 3.0]]), "lam": 0.1}, "a 2 x 2 weight matrix"),
            Case({"W": np.array([[0.5, 0.5, 0.5]]), "lam": 0.0}, "lam = 0"),
        ),
        random_case=_random_weight_case,
        torch_inputs=True,
        hint="The penalty is lam / 2 times the sum of squared entries; its gradient is lam * W (same shape as W).",
    ),
    Exercise(
        id="ridge_solution",
        function="ridge_solution",
        reference=ridge_solution,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case({"A": np.array([[1.0, 1.0]]), "b": np.array([2.0]), "lam": 1.0}, "one equation, two unknowns"),
            Case({"A": np.eye(3), "b": np.array([1.0, 2.0, 3.0]), "lam": 1.0}, "A = I: every entry halves"),
            Case(
                {"A": np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), "b": np.array([1.0, 0.0, 2.0]), "lam": 0.5},
                "tall A",
            ),
        ),
        random_case=_random_ridge_case,
        torch_inputs=True,
        rtol=1e-6,
        hint="Set the gradient 2 A^T (A x - b) + 2 lam x to zero: "
        "solve (A^T A + lam I) x = A^T b with torch.linalg.solve.",
    ),
    Exercise(
        id="early_stopping_epochs",
        function="early_stopping_epochs",
        reference=early_stopping_epochs,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case(
                {"values": np.array([1.0, 0.8, 0.6, 0.65, 0.7, 0.61, 0.9, 0.5]), "patience": 3, "min_delta": 0.0},
                "stops at epoch 5",
            ),
            Case({"values": np.array([1.0, 0.9, 0.8]), "patience": 2, "min_delta": 0.0}, "never stops"),
            Case({"values": np.array([1.0, 0.6, 0.58, 0.57, 0.2]), "patience": 2, "min_delta": 0.05}, "min_delta"),
        ),
        random_case=_random_curve_case,
        hint="Keep best, best_epoch and a counter of epochs without improvement (value < best - min_delta); "
        "reset the counter on improvement and stop when it reaches patience. "
        "Return (best_epoch, stopped_epoch or None).",
    ),
)
