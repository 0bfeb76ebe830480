"""Graded exercises of chapter 2 ("Optimization challenges"): what the Hessian says.

2.1 ``gd_convergence``: the rate and step count of gradient descent with a given step on a quadratic;
2.2 ``optimal_step``: the best fixed step for a quadratic and its rate, from the Hessian matrix;
2.3 ``jacobi_condition_number``: the condition number left after a diagonal preconditioner;
2.4 ``inertia``: the counts of negative, zero and positive Hessian eigenvalues, which classify a
critical point.

The references are the library's :mod:`dnncourse.lab.curvature` functions.
"""

from __future__ import annotations

import numpy as np

from dnncourse.exercises import Case, Exercise
from dnncourse.lab.curvature import condition_number, gd_convergence, inertia, optimal_step

__all__ = ["EXERCISES", "jacobi_condition_number"]

CHAPTER = "02_optimization_challenges"


def jacobi_condition_number(hessian: np.ndarray) -> float:
    """:math:`\\kappa(P^{-1/2} H P^{-1/2})` for the Jacobi preconditioner :math:`P = \\operatorname{diag}(H)`.

    The condition number that governs gradient descent preconditioned with the diagonal of the Hessian;
    the reference of exercise ``jacobi_condition_number``. ``hessian`` is symmetric positive definite (d, d).
    """
    H = np.asarray(hessian, dtype=np.float64)
    return condition_number(H, preconditioner=np.diag(np.diag(H)))


def _rotation(rng: np.random.Generator, d: int) -> np.ndarray:
    """A random orthogonal (d, d) matrix (QR of a Gaussian matrix, signs fixed)."""
    Q, R = np.linalg.qr(rng.normal(size=(d, d)))
    return Q * np.sign(np.diag(R))


def _symmetric(eigenvalues: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """:math:`Q \\operatorname{diag}(\\lambda) Q^\\top`, made exactly symmetric."""
    H = (Q * eigenvalues) @ Q.T  # (d, d)
    return (H + H.T) / 2


def _rotated(eigenvalues: list[float], angle: float) -> np.ndarray:
    """A 2x2 symmetric matrix with these eigenvalues, eigenvectors turned by ``angle`` radians."""
    c, s = np.cos(angle), np.sin(angle)
    return _symmetric(np.array(eigenvalues), np.array([[c, -s], [s, c]]))


def _random_convergence(rng: np.random.Generator) -> dict:
    d = int(rng.integers(2, 8))
    eigenvalues = np.exp(rng.uniform(-4.0, 1.0, size=d))  # positive, up to e
    lr = float(rng.uniform(0.1, 2.2) / eigenvalues.max())  # sometimes too large: rho >= 1
    return {"eigenvalues": eigenvalues, "lr": lr, "tol": float(10.0 ** -rng.uniform(2, 8))}


def _random_positive_definite(rng: np.random.Generator) -> dict:
    d = int(rng.integers(2, 7))
    eigenvalues = np.exp(rng.uniform(np.log(1e-3), np.log(10.0), size=d))  # condition numbers up to 1e4
    return {"hessian": _symmetric(eigenvalues, _rotation(rng, d))}


def _random_critical_point(rng: np.random.Generator) -> dict:
    d = int(rng.integers(2, 7))
    signs = rng.choice([-1.0, 0.0, 1.0], size=d, p=[0.4, 0.2, 0.4])
    eigenvalues = signs * np.exp(rng.uniform(np.log(0.05), np.log(5.0), size=d))  # |lambda| >= 0.05 or 0
    return {"hessian": _symmetric(eigenvalues, _rotation(rng, d)), "tol": 1e-9}


def _random_badly_scaled(rng: np.random.Generator) -> dict:
    """A well-conditioned matrix seen through badly scaled coordinates: S H S with S diagonal."""
    d = int(rng.integers(2, 7))
    H = _symmetric(np.exp(rng.uniform(0.0, np.log(20.0), size=d)), _rotation(rng, d))
    scale = np.exp(rng.uniform(-2.0, 2.0, size=d))  # (d,)
    return {"hessian": scale[:, None] * H * scale[None, :]}


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
        random_case=_random_convergence,
        hint="rho is the largest |1 - lr * lambda_i|; steps = ceil(ln(1/tol) / ln(1/rho)), with -1 when rho >= 1.",
    ),
    Exercise(
        id="optimal_step",
        function="optimal_step",
        reference=optimal_step,
        points=2,
        chapter=CHAPTER,
        public_cases=(
            Case({"hessian": np.diag([0.1, 1.0])}, "kappa = 10, axis-aligned"),
            Case({"hessian": np.array([[2.0, 1.0], [1.0, 2.0]])}, "eigenvalues 1 and 3, not the diagonal entries"),
            Case({"hessian": 4.0 * np.eye(2)}, "a round bowl: one step is enough"),
            Case({"hessian": _rotated([0.01, 1.0], 0.7)}, "kappa = 100, rotated"),
        ),
        random_case=_random_positive_definite,
        rtol=1e-7,
        atol=1e-10,
        hint="Only the extreme eigenvalues matter: rho(lr) is the larger of |1 - lr * lam_min| and "
        "|1 - lr * lam_max|. The best step makes them equal. Use np.linalg.eigvalsh for the eigenvalues.",
    ),
    Exercise(
        id="jacobi_condition_number",
        function="jacobi_condition_number",
        reference=jacobi_condition_number,
        points=3,
        chapter=CHAPTER,
        public_cases=(
            Case({"hessian": np.diag([1.0, 100.0])}, "an axis-aligned ravine"),
            Case({"hessian": _rotated([1.0, 100.0], np.pi / 4)}, "the same ravine turned by 45 degrees"),
            Case({"hessian": np.array([[4.0, 1.0], [1.0, 1.0]])}, "a small example"),
        ),
        random_case=_random_badly_scaled,
        rtol=1e-6,
        hint="With P = diag(H), preconditioned gradient descent is plain gradient descent on the matrix "
        "P^(-1/2) H P^(-1/2), that is H[i, j] / sqrt(H[i, i] * H[j, j]). Return its condition number.",
    ),
    Exercise(
        id="inertia",
        function="inertia",
        reference=inertia,
        points=2,
        chapter=CHAPTER,
        public_cases=(
            Case({"hessian": np.diag([1.0, 2.0]), "tol": 1e-9}, "a minimum"),
            Case({"hessian": np.array([[1.0, 2.0], [2.0, 1.0]]), "tol": 1e-9}, "positive diagonal, yet a saddle"),
            Case({"hessian": np.diag([-1.0, -3.0]), "tol": 1e-9}, "a maximum"),
            Case({"hessian": np.array([[1.0, 1.0], [1.0, 1.0]]), "tol": 1e-9}, "a zero eigenvalue: degenerate"),
            Case({"hessian": np.diag([0.5, -2.0, 1e-12]), "tol": 1e-9}, "tiny eigenvalues count as zero"),
        ),
        random_case=_random_critical_point,
        rtol=0.0,
        atol=0.0,
        hint="Count the eigenvalues (np.linalg.eigvalsh) below -tol, within tol of zero, and above tol; "
        "return the three counts as (negative, zero, positive).",
    ),
)
