"""Exercises of chapter 5, "Vanishing and exploding gradients": activation derivatives and clipping by norm."""

from __future__ import annotations

import numpy as np

from dnncourse.activations import elu_grad, sigmoid_grad
from dnncourse.clipping import clip_by_norm
from dnncourse.exercises import Case, Exercise

__all__ = ["EXERCISES"]

_CHAPTER = "05_vanishing_exploding_gradients"


def _random_x(rng: np.random.Generator) -> dict:
    return {"x": rng.normal(0.0, 4.0, size=int(rng.integers(1, 30)))}


def _random_x_alpha(rng: np.random.Generator) -> dict:
    return {**_random_x(rng), "alpha": float(rng.uniform(0.1, 2.0))}


def _random_gradient(rng: np.random.Generator) -> dict:
    g = rng.normal(0.0, 1.0, size=int(rng.integers(2, 20))) * 10.0 ** rng.uniform(-1, 3)
    return {"g": g, "max_norm": float(rng.uniform(0.5, 10.0))}


EXERCISES = (
    Exercise(
        id="sigmoid_derivative",
        function="sigmoid_derivative",
        reference=sigmoid_grad,
        points=2,
        chapter=_CHAPTER,
        public_cases=(
            Case({"x": np.array([0.0])}, "the maximum, at x = 0"),
            Case({"x": np.array([-2.0, -0.5, 0.5, 2.0])}, "symmetric inputs"),
            Case({"x": np.array([-40.0, 40.0])}, "deep in saturation (overflow?)"),
        ),
        random_case=_random_x,
        torch_inputs=True,
        hint="sigma'(x) = sigma(x) * (1 - sigma(x)); torch.sigmoid computes sigma(x) without overflow.",
    ),
    Exercise(
        id="elu_derivative",
        function="elu_derivative",
        reference=elu_grad,
        points=2,
        chapter=_CHAPTER,
        public_cases=(
            Case({"x": np.array([-3.0, -1.0, 0.5, 2.0]), "alpha": 1.0}, "alpha = 1"),
            Case({"x": np.array([-0.2, 0.0, 0.2]), "alpha": 0.5}, "around the kink (x = 0 takes the left branch)"),
            Case({"x": np.array([-800.0, 800.0]), "alpha": 1.0}, "huge inputs (overflow?)"),
        ),
        random_case=_random_x_alpha,
        torch_inputs=True,
        hint="1 where x > 0, alpha * exp(x) elsewhere (torch.where); clamp x at 0 inside exp to avoid overflow.",
    ),
    Exercise(
        id="clip_by_norm",
        function="clip_by_norm",
        reference=clip_by_norm,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case({"g": np.array([0.9, 3.2, 150.0, -2.1, 0.3]), "max_norm": 5.0}, "the chapter's vector"),
            Case({"g": np.array([3.0, 4.0]), "max_norm": 10.0}, "already short enough: unchanged"),
            Case({"g": np.array([0.0, 0.0, 0.0]), "max_norm": 1.0}, "a zero gradient"),
        ),
        random_case=_random_gradient,
        torch_inputs=True,
        hint="Multiply g by min(1, max_norm / (||g||_2 + 1e-6)); torch.linalg.vector_norm gives ||g||_2.",
    ),
)
