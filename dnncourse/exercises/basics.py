"""Exercises of the "Getting started" chapter: the arithmetic behind a classifier's loss and accuracy.

The references are :mod:`dnncourse.metrics`. Every public case is small enough to be shown in full when a
student's answer fails on it.
"""

from __future__ import annotations

import numpy as np

from dnncourse.exercises import Case, Exercise
from dnncourse.metrics import accuracy, cross_entropy, softmax

__all__ = ["EXERCISES"]

_CHAPTER = "getting_started"


def _random_logits(rng: np.random.Generator) -> dict:
    n, k = int(rng.integers(2, 20)), int(rng.integers(2, 12))
    return {"logits": rng.normal(0, 3, size=(n, k))}


def _random_logits_labels(rng: np.random.Generator) -> dict:
    case = _random_logits(rng)
    n, k = case["logits"].shape
    case["labels"] = rng.integers(0, k, size=n)
    return case


EXERCISES = (
    Exercise(
        id="softmax",
        function="softmax",
        reference=softmax,
        points=2,
        chapter=_CHAPTER,
        public_cases=(
            Case({"logits": np.array([[0.0, 0.0]])}, "two equal logits"),
            Case({"logits": np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])}, "two rows"),
            Case({"logits": np.array([[1000.0, 0.0]])}, "a huge logit (overflow?)"),
        ),
        random_case=_random_logits,
        hint="Subtract each row's maximum before exponentiating, then divide by the row sum (keepdims=True).",
    ),
    Exercise(
        id="cross_entropy",
        function="cross_entropy",
        reference=cross_entropy,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case({"logits": np.array([[0.0, 0.0]]), "labels": np.array([1])}, "uniform prediction: log 2"),
            Case({"logits": np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]), "labels": np.array([0, 1])}, "two examples"),
            Case({"logits": np.array([[-800.0, 800.0]]), "labels": np.array([0])}, "huge logits (log of 0?)"),
        ),
        random_case=_random_logits_labels,
        hint="Use log-softmax: z[i, y_i] - max_i - log(sum_j exp(z[i, j] - max_i)), then average over rows and negate.",
    ),
    Exercise(
        id="accuracy",
        function="accuracy",
        reference=accuracy,
        points=1,
        chapter=_CHAPTER,
        public_cases=(
            Case(
                {"logits": np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), "labels": np.array([1, 1, 1])},
                "two of three right",
            ),
            Case({"logits": np.array([[2.0, -1.0, 0.5], [0.0, 0.1, 3.0]]), "labels": np.array([0, 2])}, "all right"),
        ),
        random_case=_random_logits_labels,
        hint="The prediction is argmax along axis 1; compare it with the labels and take the mean.",
    ),
)
