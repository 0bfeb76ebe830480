"""Curvature: what the Hessian says about a critical point, and about how fast descent reaches a minimum.

Chapter 2 ("Optimization challenges") measures the difficulty of a loss surface by its Hessian
:math:`H = \\nabla^2 J`:

- :func:`condition_number` :math:`\\kappa = \\lambda_{\\max} / \\lambda_{\\min}` (also after a
  preconditioner), :func:`gd_convergence`, the rate and step count of gradient descent with a given
  step on a quadratic, and :func:`optimal_step`, the best fixed step and its rate;
- :func:`inertia`, how many eigenvalues are negative, zero and positive, and
  :func:`critical_point_kind`, the second-derivative test (minimum, maximum, saddle);
- :func:`preconditioned_descent`, :math:`\\theta \\leftarrow \\theta - \\eta P^{-1} \\nabla J` with
  :math:`P` the identity (gradient descent), :math:`\\operatorname{diag} H` (a diagonal
  preconditioner), :math:`H` (Newton's method) or :math:`|H|` (saddle-free Newton), and
  :func:`newton_refine`, which polishes an approximate critical point;
- :func:`fraction_positive_definite`, the random-matrix experiment behind "in high dimension, critical
  points are saddles".

Matrices are tensors or arrays of shape (d, d); everything is computed in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
    "optimal_step",
    "inertia",
    "critical_point_kind",
    "PRECONDITIONERS",
    "preconditioned_descent",
    "newton_refine",
    "fraction_positive_definite",
]

Point = tuple[float, float]
Matrix = Tensor | np.ndarray


def _symmetric(name: str, matrix: Matrix) -> Tensor:
    """``matrix`` as a float64 tensor, checked to be a finite symmetric (d, d) matrix."""
    H = torch.as_tensor(matrix, dtype=torch.float64)
    if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] == 0:
        raise ValueError(f"{name} must be a symmetric (d, d) matrix, got shape {tuple(H.shape)}")
    if not bool(torch.isfinite(H).all()) or not torch.allclose(H, H.T):
        raise ValueError(f"{name} must be a finite symmetric matrix, got {H.cpu().numpy()!r}")
    return H


def _positive_definite_eigenvalues(name: str, matrix: Tensor) -> Tensor:
    """The eigenvalues (ascending) of a symmetric matrix that must be positive definite."""
    eigenvalues = torch.linalg.eigvalsh(matrix)  # (d,), ascending
    if eigenvalues[0] <= 0:
        raise ValueError(f"{name} must be positive definite, its smallest eigenvalue is {float(eigenvalues[0]):g}")
    return eigenvalues


def condition_number(hessian: Matrix, preconditioner: Matrix | None = None) -> float:
    """:math:`\\kappa = \\lambda_{\\max} / \\lambda_{\\min}` of a symmetric positive definite matrix (d, d).

    With a symmetric positive definite ``preconditioner`` :math:`P` (d, d), the condition number of
    :math:`P^{-1/2} H P^{-1/2}` (the eigenvalues of :math:`P^{-1} H`): preconditioned gradient descent
    :math:`\\theta \\leftarrow \\theta - \\eta P^{-1} \\nabla J` is plain gradient descent in the
    coordinates :math:`\\varphi = P^{1/2} \\theta`, where the Hessian is :math:`P^{-1/2} H P^{-1/2}`;
    this :math:`\\kappa` sets its speed. (Computed as :math:`L^{-1} H L^{-\\top}` with the Cholesky
    factor :math:`P = L L^\\top`, which has the same eigenvalues.)

    Raises ``ValueError`` if a matrix is not symmetric positive definite (then :math:`\\kappa` is not
    a measure of conditioning).
    """
    H = _symmetric("hessian", hessian)
    if preconditioner is not None:
        P = _symmetric("preconditioner", preconditioner).to(H.device)
        if P.shape != H.shape:
            raise ValueError(f"preconditioner must have the shape of hessian {tuple(H.shape)}, got {tuple(P.shape)}")
        L, info = torch.linalg.cholesky_ex(P)  # P = L Lᵀ, L lower triangular (d, d)
        if int(info) != 0:
            _positive_definite_eigenvalues("preconditioner", P)  # raises, naming the smallest eigenvalue
        left = torch.linalg.solve_triangular(L, H, upper=False)  # L⁻¹ H (d, d)
        H = torch.linalg.solve_triangular(L, left.T, upper=False)  # L⁻¹ (L⁻¹ H)ᵀ = L⁻¹ H L⁻ᵀ (d, d)
        H = (H + H.T) / 2  # symmetric up to rounding; make it exactly so
    eigenvalues = _positive_definite_eigenvalues("hessian", H)
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


def optimal_step(hessian: Matrix) -> tuple[float, float]:
    """The fixed step :math:`\\eta^\\star` that makes gradient descent on a quadratic fastest, and its rate.

    On :math:`J(\\theta) = \\tfrac12\\theta^\\top H\\theta` the error shrinks per step by
    :math:`\\rho(\\eta) = \\max_i |1 - \\eta\\lambda_i|`, the larger of :math:`|1 - \\eta\\lambda_{\\min}|`
    (falling in :math:`\\eta`) and :math:`|1 - \\eta\\lambda_{\\max}|` (rising once
    :math:`\\eta > 1/\\lambda_{\\max}`). It is smallest where the two balance,
    :math:`1 - \\eta\\lambda_{\\min} = -(1 - \\eta\\lambda_{\\max})`:

    .. math:: \\eta^\\star = \\frac{2}{\\lambda_{\\min} + \\lambda_{\\max}}, \\qquad
              \\rho^\\star = \\frac{\\lambda_{\\max} - \\lambda_{\\min}}{\\lambda_{\\max} + \\lambda_{\\min}}
              = \\frac{\\kappa - 1}{\\kappa + 1}.

    ``hessian`` is a symmetric positive definite (d, d) matrix. Returns ``(eta_star, rho_star)``.
    Chapter 2, "Ill-conditioning".
    """
    eigenvalues = _positive_definite_eigenvalues("hessian", _symmetric("hessian", hessian))
    lam_min, lam_max = float(eigenvalues[0]), float(eigenvalues[-1])
    return 2 / (lam_min + lam_max), (lam_max - lam_min) / (lam_max + lam_min)


def inertia(hessian: Matrix, tol: float = 1e-10) -> tuple[int, int, int]:
    """How many eigenvalues of a symmetric (d, d) matrix are negative, zero and positive.

    An eigenvalue counts as zero when :math:`|\\lambda| \\le` ``tol``. At a critical point the counts
    ``(negative, zero, positive)`` settle the second-derivative test: ``(0, 0, d)`` is a minimum,
    ``(d, 0, 0)`` a maximum, and negative and positive eigenvalues together a saddle (the number of
    negative ones is the saddle's *index*, how many independent directions lead downhill); with zero
    eigenvalues and one sign only the test says nothing. The signs of the diagonal entries are not
    enough: ``[[1, 2], [2, 1]]`` has eigenvalues 3 and -1. Chapter 2, "Saddle points".
    """
    H = _symmetric("hessian", hessian)
    tol = check.non_negative("tol", tol)
    eigenvalues = torch.linalg.eigvalsh(H)  # (d,)
    negative, positive = int((eigenvalues < -tol).sum()), int((eigenvalues > tol).sum())
    return negative, H.shape[0] - negative - positive, positive


def critical_point_kind(hessian: Matrix, tol: float = 1e-10) -> str:
    """Classify a critical point by the signs of its Hessian's eigenvalues (second-derivative test).

    Returns ``"minimum"`` (all positive), ``"maximum"`` (all negative), ``"saddle"`` (both signs) or
    ``"degenerate"`` (an eigenvalue within ``tol`` of zero, and no sign pair that settles it).
    See :func:`inertia`.
    """
    negative, zero, positive = inertia(hessian, tol)
    if negative and positive:
        return "saddle"
    if zero:
        return "degenerate"
    return "minimum" if positive else "maximum"


def _identity(H: Tensor) -> Tensor:
    return torch.eye(H.shape[-1], dtype=H.dtype, device=H.device).expand_as(H)


def _diagonal(H: Tensor) -> Tensor:
    return torch.diag_embed(torch.diagonal(H, dim1=-2, dim2=-1))


def _newton(H: Tensor) -> Tensor:
    return H


def _absolute(H: Tensor) -> Tensor:
    lam, V = torch.linalg.eigh(H)  # H = V diag(lam) Vᵀ; (..., d), (..., d, d)
    return V @ torch.diag_embed(lam.abs()) @ V.transpose(-2, -1)  # |H| = V |Λ| Vᵀ


# The preconditioner P built from the Hessian H at the current point (shapes (..., d, d) -> (..., d, d)).
PRECONDITIONERS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": _identity,  # P = I: plain gradient descent
    "diagonal": _diagonal,  # P = diag(H): one step size per coordinate, what adaptive methods approximate
    "newton": _newton,  # P = H: Newton's method (with lr = 1)
    "saddle-free": _absolute,  # P = |H|: Newton's step with the curvature's signs removed (Dauphin et al.)
}


def preconditioned_descent(
    surface: Surface,
    preconditioner: str | Callable[[Tensor], Tensor] = "newton",
    lr: float = 1.0,
    steps: int = 20,
    start=None,
) -> np.ndarray:
    """Preconditioned gradient descent: :math:`\\theta_{k+1} = \\theta_k - \\eta\\, P_k^{-1} \\nabla J(\\theta_k)`.

    :math:`P` is built from the Hessian at :math:`\\theta_k` by ``preconditioner``, a name of
    :data:`PRECONDITIONERS` (``"identity"``, ``"diagonal"``, ``"newton"``, ``"saddle-free"``) or a
    function ``H -> P`` on (..., 2, 2) tensors. With :math:`P = H` and :math:`\\eta = 1` this is
    Newton's method: each step jumps to the critical point of the local quadratic model
    :math:`J(\\theta_k) + g^\\top \\delta + \\tfrac12 \\delta^\\top H \\delta`. On a quadratic that is the
    minimum, reached in one step whatever the condition number; near a saddle it is the saddle, so
    Newton's method is attracted to saddles as much as to minima. :math:`P = |H|` (same eigenvectors,
    absolute eigenvalues) keeps Newton's rescaling but always steps downhill (Dauphin et al., 2014).
    Chapter 2, "Newton's method and preconditioning".

    ``start`` is a point (2,) or a batch of points (..., 2), default ``surface.start``. Returns the path,
    shape (steps + 1, 2) or (steps + 1, ..., 2), row 0 the start, computed in float64. A run whose
    :math:`P` is singular, or whose coordinates become non-finite or exceed
    :data:`dnncourse.lab.trajectories.DIVERGED` in size, is NaN from that step on.
    """
    from dnncourse.lab.trajectories import DIVERGED  # imported here: trajectories imports this module

    if isinstance(preconditioner, str):
        preconditioner = PRECONDITIONERS[check.one_of("preconditioner", preconditioner, PRECONDITIONERS)]
    elif not callable(preconditioner):
        raise ValueError(
            f"preconditioner must be a name in PRECONDITIONERS or a function H -> P, got {preconditioner!r}"
        )
    lr = check.positive("lr", lr)
    steps = check.integer("steps", steps, minimum=0)
    theta = torch.as_tensor(np.asarray(surface.start if start is None else start, dtype=np.float64))  # (..., 2)
    if theta.ndim == 0 or theta.shape[-1] != 2 or not bool(torch.isfinite(theta).all()):
        raise ValueError(f"start must be a point (2,) or points (..., 2) of finite numbers, got {start!r}")
    path = [theta]
    for _ in range(steps):
        P = preconditioner(surface.hessian(theta))  # (..., 2, 2)
        direction, info = torch.linalg.solve_ex(P, surface.grad(theta))  # P⁻¹ ∇J, (..., 2)
        theta = theta - lr * direction
        alive = (info == 0) & torch.isfinite(theta).all(dim=-1) & (theta.abs() <= DIVERGED).all(dim=-1)  # (...)
        theta = torch.where(alive.unsqueeze(-1), theta, torch.nan)
        path.append(theta)
    return torch.stack(path).cpu().numpy()


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


def fraction_positive_definite(dims: Sequence[int], n_samples: int = 10_000, seed: int = 0) -> np.ndarray:
    """Fraction of random symmetric (GOE) matrices of each size ``d`` in ``dims`` with all eigenvalues > 0.

    A GOE matrix is :math:`(A + A^\\top)/2` with :math:`A_{ij}` i.i.d. standard normal. Read as the
    Hessian at a random critical point, "all eigenvalues positive" means a minimum; everything with
    mixed signs is a saddle. The fraction falls faster than exponentially with ``d``, the simplest
    version of the argument of Dauphin et al. (2014). A symmetric matrix has all eigenvalues positive
    exactly when its Cholesky factorization exists, which is the (several times faster) test used here.
    The matrices are drawn in float64 on the CPU from a generator seeded with ``seed``. Returns an
    array of shape (len(dims),).
    """
    n_samples = check.integer("n_samples", n_samples, minimum=1)
    seed = check.integer("seed", seed, 0, 2**64 - 1)
    generator = torch.Generator(device="cpu").manual_seed(seed)  # the matrices live on the CPU
    fractions = []
    for i, d in enumerate(dims):
        d = check.integer(f"dims[{i}]", d, minimum=1)
        A = torch.randn(n_samples, d, d, generator=generator, dtype=torch.float64)  # (n_samples, d, d)
        H = (A + A.transpose(1, 2)) / 2  # (n_samples, d, d), symmetric
        _, info = torch.linalg.cholesky_ex(H)  # info == 0 exactly where H is positive definite
        fractions.append(float((info == 0).double().mean()))
    return np.array(fractions)
