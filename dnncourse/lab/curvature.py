"""Curvature: what the Hessian says about a minimum, and about how fast gradient descent gets there.

Chapter 2 ("Optimization challenges") measures the difficulty of a loss surface by its Hessian
:math:`H = \\nabla^2 J`:

- :func:`condition_number` :math:`\\kappa = \\lambda_{\\max} / \\lambda_{\\min}`, and :func:`gd_convergence`,
  how many steps gradient descent needs on a quadratic with given eigenvalues;
- :func:`critical_point_kind`, the second-derivative test (minimum, maximum, saddle), and
  :func:`newton_refine`, which polishes an approximate critical point with Newton's method;
- :func:`fraction_positive_definite`, the random-matrix experiment behind "in high dimension, critical
  points are saddles".

Matrices are tensors or arrays of shape (d, d); everything is computed in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from dnncourse import _validation as check

if TYPE_CHECKING:
    from dnncourse.lab.surfaces import Surface

__all__ = [
    "condition_number",
    "gd_convergence",
    "critical_point_kind",
    "newton_refine",
    "fraction_positive_definite",
]

Point = tuple[float, float]


def newton_refine(surface: Surface, guess: Point, steps: int = 50) -> Point:
    """Polish an approximate critical point with Newton's method, :math:`\\theta \\leftarrow \\theta - H^{-1} g`.

    Used where a surface's minima or saddles have no closed form. Raises ``ValueError`` if Newton's
    method does not reach a gradient norm below 1e-10.
    """
    theta = torch.tensor(guess, dtype=torch.float64)
    for _ in range(check.integer("steps", steps, minimum=1)):
        g = surface.grad(theta)
        if float(g.norm()) < 1e-12:
            break
        theta = theta - torch.linalg.solve(surface.hessian(theta), g)
    if not float(surface.grad(theta).norm()) < 1e-10:
        raise ValueError(f"Newton's method found no critical point near guess={guess!r}")
    return (float(theta[0]), float(theta[1]))


def condition_number(hessian: Tensor | np.ndarray) -> float:
    """:math:`\\kappa = \\lambda_{\\max} / \\lambda_{\\min}` of a symmetric positive definite matrix (d, d).

    Raises ``ValueError`` if the matrix is not symmetric positive definite (then :math:`\\kappa` is
    not defined as a measure of conditioning).
    """
    H = torch.as_tensor(hessian, dtype=torch.float64)
    if H.ndim != 2 or H.shape[0] != H.shape[1] or not torch.allclose(H, H.T):
        raise ValueError(f"hessian must be a symmetric (d, d) matrix, got shape {tuple(H.shape)}")
    eigenvalues = torch.linalg.eigvalsh(H)  # ascending
    if eigenvalues[0] <= 0:
        raise ValueError(f"hessian must be positive definite, its smallest eigenvalue is {float(eigenvalues[0]):g}")
    return float(eigenvalues[-1] / eigenvalues[0])


def gd_convergence(eigenvalues: np.ndarray, lr: float, tol: float) -> tuple[float, int]:
    """Contraction factor and step count of gradient descent on a quadratic with these Hessian eigenvalues.

    On :math:`J(\\theta) = \\tfrac12\\theta^\\top H\\theta`, one step multiplies the component along the
    eigenvalue :math:`\\lambda_i` by :math:`1 - \\eta\\lambda_i`, so the error shrinks at least by
    :math:`\\rho = \\max_i |1 - \\eta\\lambda_i|` per step, and
    :math:`\\lVert\\theta_k\\rVert \\le \\text{tol}\\,\\lVert\\theta_0\\rVert` once
    :math:`k \\ge \\ln(1/\\text{tol}) / \\ln(1/\\rho)`. Returns ``(rho, steps)`` with ``steps`` that bound
    rounded up; ``steps`` is 1 if :math:`\\rho = 0` and -1 if :math:`\\rho \\ge 1` (no convergence).
    Chapter 2, "Ill-conditioning".
    """
    lam = np.asarray(eigenvalues, dtype=np.float64).reshape(-1)  # (d,)
    lr = check.positive("lr", lr)
    tol = check.in_range("tol", tol, 0, 1, closed="neither")
    rho = float(np.max(np.abs(1 - lr * lam)))
    if rho >= 1:
        return rho, -1
    if rho == 0:
        return rho, 1
    return rho, math.ceil(math.log(1 / tol) / math.log(1 / rho))


def critical_point_kind(hessian: Tensor | np.ndarray, tol: float = 1e-10) -> str:
    """Classify a critical point by the signs of its Hessian's eigenvalues (second-derivative test).

    Returns ``"minimum"`` (all positive), ``"maximum"`` (all negative), ``"saddle"`` (both signs) or
    ``"degenerate"`` (an eigenvalue within ``tol`` of zero, and no sign pair that settles it).
    """
    H = torch.as_tensor(hessian, dtype=torch.float64)
    eigenvalues = torch.linalg.eigvalsh(H)
    positive, negative = bool((eigenvalues > tol).any()), bool((eigenvalues < -tol).any())
    if positive and negative:
        return "saddle"
    if bool((eigenvalues.abs() <= tol).any()):
        return "degenerate"
    return "minimum" if positive else "maximum"


def fraction_positive_definite(dims: Sequence[int], n_samples: int = 10_000, seed: int = 0) -> np.ndarray:
    """Fraction of random symmetric (GOE) matrices of each size ``d`` in ``dims`` with all eigenvalues > 0.

    A GOE matrix is :math:`(A + A^\\top)/2` with :math:`A_{ij}` i.i.d. standard normal. Read as the
    Hessian at a random critical point, "all eigenvalues positive" means a minimum; everything with
    mixed signs is a saddle. The fraction falls faster than exponentially with ``d``, the simplest
    version of the argument of Dauphin et al. (2014). Returns an array of shape (len(dims),).
    """
    n_samples = check.integer("n_samples", n_samples, minimum=1)
    generator = torch.Generator(device="cpu").manual_seed(seed)  # the matrices live on the CPU
    fractions = []
    for i, d in enumerate(dims):
        d = check.integer(f"dims[{i}]", d, minimum=1)
        A = torch.randn(n_samples, d, d, generator=generator, dtype=torch.float64)  # (n_samples, d, d)
        H = (A + A.transpose(1, 2)) / 2  # (n_samples, d, d), symmetric
        smallest = torch.linalg.eigvalsh(H)[:, 0]  # (n_samples,)
        fractions.append(float((smallest > 0).double().mean()))
    return np.array(fractions)
