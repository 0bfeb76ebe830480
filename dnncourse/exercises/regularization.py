"""Exercises of the "Regularization" chapter (chapter 8).

1. ``ridge_solution``: the closed-form minimizer of the ridge objective.
2. ``early_stopping_epochs``: the early-stopping rule with patience, replayed on a validation curve.
3. ``mc_dropout_predict``: Monte Carlo dropout, the average of the predicted probabilities of several
   random subnetworks (given their masks), for a network with one hidden layer.
4. ``label_smoothing_loss_and_grad``: cross-entropy against smoothed targets and its gradient with
   respect to the logits, derived by hand.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dnncourse.dropout import apply_dropout_mask
from dnncourse.exercises import Case, Exercise
from dnncourse.regularization import early_stopping_epochs, ridge_solution

__all__ = ["EXERCISES"]

_CHAPTER = "08_regularization"


def _mc_dropout_predict(x, W1, b1, W2, b2, masks, p):
    """The library's inverted dropout (:func:`~dnncourse.dropout.apply_dropout_mask`) in a 1-hidden-layer ReLU
    network, one pass per mask, softmax probabilities averaged over the passes."""
    passes = []
    for mask in masks:  # mask: (n, h), one random subnetwork per example
        h = torch.relu(x @ W1.T + b1)  # (n, d) @ (d, h) -> (n, h)
        z = apply_dropout_mask(h, mask, p) @ W2.T + b2  # (n, h) @ (h, c) -> (n, c)
        passes.append(torch.softmax(z, dim=1))
    return torch.stack(passes).mean(dim=0)  # (k, n, c) -> (n, c)


def _label_smoothing_loss_and_grad(z, y, eps):
    """PyTorch's cross-entropy with ``label_smoothing`` and its gradient by autograd (an independent reference)."""
    z = z.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(z, y, label_smoothing=eps)
    (grad,) = torch.autograd.grad(loss, z)
    return loss.detach(), grad


def _random_ridge_case(rng: np.random.Generator) -> dict:
    n, d = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    return {"A": rng.normal(0, 1, size=(n, d)), "b": rng.normal(0, 1, size=n), "lam": float(10.0 ** rng.uniform(-2, 1))}


def _random_curve_case(rng: np.random.Generator) -> dict:
    n = int(rng.integers(3, 25))  # at most 24 epochs: a failing case shows the whole curve
    # A noisy U-shaped validation curve, as in real training.
    t = np.arange(n)
    curve = (t - rng.uniform(0, n)) ** 2 / n + rng.normal(0, 0.5, size=n) + 1.0
    return {"values": curve, "patience": int(rng.integers(1, 6)), "min_delta": float(rng.choice([0.0, 0.1]))}


def _random_network_case(rng: np.random.Generator) -> dict:
    n, d, h, c, k = (int(rng.integers(low, high)) for low, high in ((1, 5), (2, 6), (3, 9), (2, 6), (1, 7)))
    p = float(rng.choice([0.0, 0.2, 0.5, 0.8]))
    return {
        "x": rng.normal(0, 1, size=(n, d)),
        "W1": rng.normal(0, 1, size=(h, d)),
        "b1": rng.normal(0, 0.5, size=h),
        "W2": rng.normal(0, 1, size=(c, h)),
        "b2": rng.normal(0, 0.5, size=c),
        "masks": rng.random((k, n, h)) >= p,  # keep each hidden unit with probability 1 - p
        "p": p,
    }


def _random_logits_case(rng: np.random.Generator) -> dict:
    n, K = int(rng.integers(1, 7)), int(rng.integers(2, 7))
    return {
        "z": rng.normal(0, 3, size=(n, K)),
        "y": rng.integers(0, K, size=n),
        "eps": float(rng.choice([0.0, 0.05, 0.1, 0.3])),
    }


def _curve_case(values: list[float], patience: int, min_delta: float, what: str) -> Case:
    """A public case of ``early_stopping_epochs``: a validation curve and the stopping rule's settings."""
    return Case({"values": np.array(values), "patience": patience, "min_delta": min_delta}, what)


_NETWORK = {  # 2 examples, 3 inputs, 4 hidden units, 2 classes
    "x": np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -1.0]]),
    "W1": np.array([[0.5, -0.2, 0.1], [-0.3, 0.8, 0.4], [1.0, 0.0, -0.5], [0.2, 0.3, 0.6]]),
    "b1": np.array([0.1, 0.0, -0.1, 0.2]),
    "W2": np.array([[1.0, -1.0, 0.5, 0.3], [-0.5, 0.7, -0.2, 1.2]]),
    "b2": np.array([0.0, 0.1]),
}
_KEEP_ALL = np.ones((1, 2, 4), dtype=bool)
_TWO_MASKS = np.array([[[True, False, True, False], [False, True, True, True]], [[False, True, False, True]] * 2])

EXERCISES = (
    Exercise(
        id="ridge_solution",
        function="ridge_solution",
        reference=ridge_solution,
        points=2,
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
            _curve_case([1.0, 0.8, 0.6, 0.65, 0.7, 0.61, 0.9, 0.5], 3, 0.0, "stops after epoch 5"),
            _curve_case([1.0, 0.9, 0.8], 2, 0.0, "never stops"),
            _curve_case([1.0, 0.6, 0.58, 0.57, 0.2], 2, 0.05, "improvements smaller than min_delta do not count"),
            _curve_case([0.5, 0.5, 0.4], 1, 0.0, "a tie is not an improvement"),
        ),
        random_case=_random_curve_case,
        hint="Keep best, best_epoch and a counter of epochs without improvement (value < best - min_delta); "
        "reset the counter on improvement and stop when it reaches patience. "
        "Return (best_epoch, stopped_epoch or None).",
    ),
    Exercise(
        id="mc_dropout_predict",
        function="mc_dropout_predict",
        reference=_mc_dropout_predict,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case({**_NETWORK, "masks": _KEEP_ALL, "p": 0.0}, "one pass, nothing dropped: the plain network"),
            Case({**_NETWORK, "masks": _TWO_MASKS, "p": 0.5}, "two passes, p = 0.5"),
            Case({**_NETWORK, "masks": ~_TWO_MASKS, "p": 0.5}, "the two complementary subnetworks"),
        ),
        random_case=_random_network_case,
        torch_inputs=True,
        hint="For each mask m (shape (n, h)): h = relu(x @ W1.T + b1), then h * m / (1 - p), then the "
        "logits h @ W2.T + b2 and torch.softmax over the classes (dim=1). Average the probabilities of "
        "the k passes, not their logits.",
    ),
    Exercise(
        id="label_smoothing_loss_and_grad",
        function="label_smoothing_loss_and_grad",
        reference=_label_smoothing_loss_and_grad,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case({"z": np.array([[2.0, 0.0, -1.0]]), "y": np.array([0]), "eps": 0.0}, "eps = 0: plain cross-entropy"),
            Case(
                {"z": np.array([[1.0, 2.0, 0.5, -1.0], [0.0, 0.0, 3.0, 1.0]]), "y": np.array([1, 2]), "eps": 0.1},
                "two examples, four classes, eps = 0.1",
            ),
            Case(
                {"z": np.array([[1000.0, 0.0, -1000.0]]), "y": np.array([2]), "eps": 0.2},
                "huge logits (use log_softmax, not log(softmax))",
            ),
        ),
        random_case=_random_logits_case,
        torch_inputs=True,
        hint="q = (1 - eps) * one_hot(y, K) + eps / K; loss = -(q * log_softmax(z, dim=1)).sum(1).mean(). "
        "Differentiate softmax cross-entropy row by row: the gradient is (softmax(z) - q) / n.",
    ),
)
