"""Graded exercise of chapter 2 ("Optimization challenges"): how fast gradient descent converges on a quadratic.

The reference is the library's :func:`dnncourse.lab.curvature.gd_convergence`.
"""

from __future__ import annotations

import numpy as np

from dnncourse.exercises import Case, Exercise
from dnncourse.lab.curvature import gd_convergence

__all__ = ["EXERCISES"]

CHAPTER = "02_optimization_challenges"


def _random_case(rng: np.random.Generator) -> dict:
    d = int(rng.integers(2, 8))
    eigenvalues = np.exp(rng.uniform(-4.0, 1.0, size=d))  # positive, up to e
    lr = float(rng.uniform(0.1, 2.2) / eigenvalues.max())  # sometimes too large: rho >= 1
    return {"eigenvalues": eigenvalues, "lr": lr, "tol": float(10.0 ** -rng.uniform(2, 8))}


EXERCISES = (
    Exercise(
        id="gd_convergence",
        function="gd_convergence",
        reference=gd_convergence,
        points=2,
        chapter=CHAPTER,
        public_cases=(
            Case({"eigenvalues": np.array([0.1, 1.0]), "lr": 2 / 1.1, "tol": 1e-6}, "kappa = 10, optimal step"),
            Case({"eigenvalues": np.array([0.01, 0.5, 1.0]), "lr": 1.0, "tol": 1e-3}, "step 1 / lambda_max"),
            Case({"eigenvalues": np.array([1.0, 4.0]), "lr": 0.6, "tol": 1e-4}, "step too large"),
        ),
        random_case=_random_case,
        hint="rho is the largest |1 - lr * lambda_i|; steps = ceil(ln(1/tol) / ln(1/rho)), with -1 when rho >= 1.",
    ),
)
