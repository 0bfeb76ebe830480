"""Two-dimensional loss surfaces with exact gradients and Hessians, for watching optimizers move.

Each :class:`Surface` is a function :math:`J(\\theta)` of a parameter :math:`\\theta = (x, y)`,
written in PyTorch so that it works on one point, on a batch of points, and on a whole plotting grid
at once (the last axis holds the two coordinates). Alongside the function each surface carries its
gradient :math:`\\nabla J` and Hessian :math:`\\nabla^2 J` in closed form (tested against
``torch.autograd`` and centred finite differences), the critical points it knows about, the plotting
window and a starting point that shows the difficulty it stands for.

The surfaces illustrate chapter 2 ("Optimization challenges"): an ill-conditioned quadratic, the
Rosenbrock valley, a saddle, a plateau, a curved ravine, a cliff, and a surface with several local
minima; :func:`least_squares` builds one from a data set, with mini-batch gradients. Chapter 3
("Optimizers") runs every optimizer on them (:mod:`dnncourse.lab.trajectories`); the analysis of
their Hessians is in :mod:`dnncourse.lab.curvature`, the drawing in :mod:`dnncourse.viz`.

Shapes: ``xy`` is a tensor of shape ``(..., 2)``; ``f(xy)`` has shape ``(...)``, ``grad(xy)`` shape
``(..., 2)`` and ``hessian(xy)`` shape ``(..., 2, 2)``. Every function keeps the device and dtype of
its input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from dnncourse import _validation as check
from dnncourse.lab.curvature import Point, critical_point_kind, newton_refine

__all__ = [
    "Surface",
    "SURFACES",
    "quadratic",
    "rosenbrock",
    "saddle",
    "plateau",
    "ravine",
    "cliff",
    "multi_minima",
    "least_squares",
    "LeastSquares",
]

Bounds = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True, repr=False)
class Surface:
    """A differentiable function of two parameters, with its exact derivatives and landmarks.

    ``f(xy)`` is :math:`J`, ``grad(xy)`` is :math:`\\nabla J` and ``hessian(xy)`` is
    :math:`\\nabla^2 J`, all in closed form and batched over the leading axes of ``xy`` (..., 2).
    ``minima`` and ``saddles`` list the critical points the surface knows (exact, or refined by
    Newton's method to machine precision where there is no closed form); ``bounds`` is the plotting
    window ``((xmin, xmax), (ymin, ymax))`` and ``start`` a starting point that shows the difficulty.
    """

    name: str
    f: Callable[[Tensor], Tensor]
    grad: Callable[[Tensor], Tensor]
    hessian: Callable[[Tensor], Tensor]
    minima: list[Point]
    bounds: Bounds
    start: Point
    saddles: list[Point] = field(default_factory=list)
    description: str = ""

    def __call__(self, xy: Tensor) -> Tensor:
        return self.f(xy)

    def __repr__(self) -> str:  # no function addresses: safe to print in a notebook
        return f"Surface({self.name!r})"

    def value(self, point: Sequence[float]) -> float:
        """:math:`J` at one point given as plain numbers (float64)."""
        return float(self.f(torch.tensor(point, dtype=torch.float64)))

    def grid(self, n: int = 200, bounds: Bounds | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``X, Y, Z`` arrays of shape (n, n) over ``bounds`` (default: the surface's), for contour plots."""
        (xmin, xmax), (ymin, ymax) = bounds or self.bounds
        x = torch.linspace(xmin, xmax, n, dtype=torch.float64)
        y = torch.linspace(ymin, ymax, n, dtype=torch.float64)
        X, Y = torch.meshgrid(x, y, indexing="xy")  # each (n, n): rows follow y, columns follow x
        Z = self.f(torch.stack([X, Y], dim=-1))  # (n, n, 2) -> (n, n)
        return X.numpy(), Y.numpy(), Z.numpy()


def _hessian_from(hxx: Tensor, hxy: Tensor, hyy: Tensor) -> Tensor:
    """Assemble a symmetric (..., 2, 2) Hessian from its three distinct entries, each of shape (...)."""
    row_x = torch.stack([hxx, hxy], dim=-1)  # (..., 2)
    row_y = torch.stack([hxy, hyy], dim=-1)  # (..., 2)
    return torch.stack([row_x, row_y], dim=-2)  # (..., 2, 2)


# ---------------------------------------------------------------- the surfaces


def quadratic(condition_number: float = 10.0, *, lam_max: float = 1.0, angle: float = 0.0) -> Surface:
    """The quadratic bowl :math:`J(\\theta) = \\tfrac12 \\theta^\\top H \\theta` with condition number :math:`\\kappa`.

    :math:`H = R^\\top \\operatorname{diag}(\\lambda_{\\min}, \\lambda_{\\max}) R`, with
    :math:`\\lambda_{\\max}` = ``lam_max``, :math:`\\lambda_{\\min} = \\lambda_{\\max}/\\kappa`, and
    :math:`R` the rotation by ``angle`` (radians): the flat direction is the x-axis turned by ``angle``.
    The only critical point is the minimum at the origin. Chapter 2, "Ill-conditioning".
    """
    kappa = check.positive("condition_number", condition_number)
    if kappa < 1:
        raise ValueError(f"condition_number must be a number >= 1, got {condition_number!r}")
    lam_max = check.positive("lam_max", lam_max)
    lam_min = lam_max / kappa
    c, s = math.cos(angle), math.sin(angle)

    def coordinates(xy: Tensor) -> tuple[Tensor, Tensor]:  # along the flat (u) and steep (v) axes
        x, y = xy[..., 0], xy[..., 1]
        return c * x + s * y, -s * x + c * y

    def f(xy: Tensor) -> Tensor:
        u, v = coordinates(xy)
        return 0.5 * (lam_min * u**2 + lam_max * v**2)

    def grad(xy: Tensor) -> Tensor:
        u, v = coordinates(xy)
        return torch.stack([lam_min * u * c - lam_max * v * s, lam_min * u * s + lam_max * v * c], dim=-1)

    def hessian(xy: Tensor) -> Tensor:
        hxx = lam_min * c * c + lam_max * s * s
        hxy = (lam_min - lam_max) * c * s
        hyy = lam_min * s * s + lam_max * c * c
        full = torch.ones_like(xy[..., 0])  # (...): gives every entry the batch shape, dtype and device
        return _hessian_from(hxx * full, hxy * full, hyy * full)

    # A window that shows the whole bowl: the ellipse J = J(start) fits inside it.
    return Surface(
        name=f"quadratic (κ = {kappa:g})",
        f=f,
        grad=grad,
        hessian=hessian,
        minima=[(0.0, 0.0)],
        bounds=((-5.0, 5.0), (-3.0, 3.0)),
        start=(-4.5, 2.0),
        description=f"quadratic bowl with Hessian eigenvalues {lam_min:g} and {lam_max:g}",
    )


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Surface:
    """Rosenbrock's banana valley :math:`J(x, y) = (a - x)^2 + b\\,(y - x^2)^2`, minimum at :math:`(a, a^2)`.

    A curved, narrow valley: easy to fall into, slow to follow. Chapters 2 and 3.
    """
    b = check.positive("b", b)
    a = float(a)

    def f(xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        return (a - x) ** 2 + b * (y - x**2) ** 2

    def grad(xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        r = y - x**2
        return torch.stack([-2 * (a - x) - 4 * b * x * r, 2 * b * r], dim=-1)

    def hessian(xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        return _hessian_from(2 - 4 * b * (y - x**2) + 8 * b * x**2, -4 * b * x, 2 * b * torch.ones_like(x))

    return Surface(
        name="Rosenbrock",
        f=f,
        grad=grad,
        hessian=hessian,
        minima=[(a, a * a)],
        bounds=((-2.0, 2.0), (-1.0, 3.0)),
        start=(-1.5, 2.5),
        description=f"Rosenbrock valley with a = {a:g}, b = {b:g}",
    )


def saddle() -> Surface:
    """A saddle between two minima: :math:`J(x, y) = \\tfrac12 x^2 + \\tfrac14 y^4 - \\tfrac12 y^2`.

    The origin is a saddle point (Hessian eigenvalues 1 and -1); the minima are :math:`(0, \\pm 1)`
    (eigenvalues 1 and 2). Started on the x-axis, gradient descent slides to the saddle and stays; a
    tiny offset in y lets it escape, slowly at first. Chapter 2, "Saddle points".
    """

    def f(xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        return 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2

    def grad(xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        return torch.stack([x, y**3 - y], dim=-1)

    def hessian(xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        return _hessian_from(torch.ones_like(x), torch.zeros_like(x), 3 * y**2 - 1)

    return Surface(
        name="saddle",
        f=f,
        grad=grad,
        hessian=hessian,
        minima=[(0.0, -1.0), (0.0, 1.0)],
        saddles=[(0.0, 0.0)],
        bounds=((-2.0, 2.0), (-1.6, 1.6)),
        start=(-1.9, 1e-3),
        description="saddle at the origin between minima at (0, -1) and (0, 1)",
    )


def plateau(width: float = 1.0) -> Surface:
    """A well in a plateau: :math:`J(x, y) = 1 - \\exp\\!\\big(-(x^2 + 2y^2) / (2 w^2)\\big)`, :math:`w` = ``width``.

    Far from the well the surface is almost flat, so the gradient is tiny and gradient descent
    crawls; near it the gradient is of order :math:`1/w`. Minimum at the origin. Chapter 2, "Plateaus".
    """
    w2 = check.positive("width", width) ** 2

    def f(xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        return 1 - torch.exp(-(x**2 + 2 * y**2) / (2 * w2))

    def grad(xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        e = torch.exp(-(x**2 + 2 * y**2) / (2 * w2))
        return torch.stack([e * x / w2, e * 2 * y / w2], dim=-1)

    def hessian(xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        e = torch.exp(-(x**2 + 2 * y**2) / (2 * w2))
        # d/dx (e x / w2) = e / w2 - e x^2 / w2^2, and so on.
        return _hessian_from(e * (1 / w2 - x**2 / w2**2), -e * 2 * x * y / w2**2, e * (2 / w2 - 4 * y**2 / w2**2))

    return Surface(
        name="plateau",
        f=f,
        grad=grad,
        hessian=hessian,
        minima=[(0.0, 0.0)],
        bounds=((-4.0, 4.0), (-3.0, 3.0)),
        start=(-3.0, 1.5),
        description=f"Gaussian well of width {math.sqrt(w2):g} in a flat plateau",
    )


def ravine(floor: float = 0.05, wall: float = 5.0, bend: float = 0.8) -> Surface:
    """A curved ravine: :math:`J = \\tfrac{a}{2} x^2 + \\tfrac{b}{2} u^2` with :math:`u = y - s \\sin x`.

    :math:`a` = ``floor`` is the gentle slope along the floor, :math:`b` = ``wall`` the steepness of the
    walls, and the floor follows the curve :math:`y = s \\sin x` with :math:`s` = ``bend``. Gradient
    descent bounces between the walls while it creeps along the floor. The only critical point is the
    minimum at the origin (the Hessian there has determinant :math:`ab > 0`). Chapter 2, "Ravines".
    """
    a = check.positive("floor", floor)
    b = check.positive("wall", wall)
    s = float(bend)

    def f(xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        u = y - s * torch.sin(x)
        return 0.5 * a * x**2 + 0.5 * b * u**2

    def grad(xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        u = y - s * torch.sin(x)
        return torch.stack([a * x - b * u * s * torch.cos(x), b * u], dim=-1)

    def hessian(xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        u = y - s * torch.sin(x)
        cos = torch.cos(x)
        hxx = a + b * (s * cos) ** 2 + b * u * s * torch.sin(x)
        return _hessian_from(hxx, -b * s * cos, b * torch.ones_like(x))

    return Surface(
        name="ravine",
        f=f,
        grad=grad,
        hessian=hessian,
        minima=[(0.0, 0.0)],
        bounds=((-4.0, 4.0), (-2.0, 2.0)),
        start=(-3.5, 1.2),
        description=f"curved ravine: floor slope {a:g}, wall stiffness {b:g}",
    )


def cliff(height: float = 10.0, sharpness: float = 0.1, curvature: float = 0.2, target: float = 2.0) -> Surface:
    """A bowl below a cliff: :math:`J = \\tfrac{c}{2}\\big((x - x^\\star)^2 + y^2\\big) + h\\,\\sigma(-x / w)`.

    :math:`\\sigma` is the logistic function, so the term :math:`h\\,\\sigma(-x/w)` is a step of height
    :math:`h` = ``height`` that drops over a width of a few :math:`w` = ``sharpness`` around
    :math:`x = 0`; its slope there reaches :math:`h / (4w)`. Left of the cliff lies a high, gently
    sloping terrace; right of it a bowl of curvature :math:`c` = ``curvature`` around
    :math:`x^\\star` = ``target``. A gradient step taken on the cliff face is :math:`h/(4w)` times the
    learning rate long and throws the parameters far away. The minimum (near :math:`(x^\\star, 0)`)
    is refined by Newton's method. Chapter 2, "Cliffs"; compare Pascanu, Mikolov and Bengio (2013).
    """
    h = check.positive("height", height)
    w = check.positive("sharpness", sharpness)
    c = check.positive("curvature", curvature)
    x_star = float(target)

    def f(xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        return 0.5 * c * ((x - x_star) ** 2 + y**2) + h * torch.sigmoid(-x / w)

    def grad(xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        sig = torch.sigmoid(-x / w)
        return torch.stack([c * (x - x_star) - (h / w) * sig * (1 - sig), c * y], dim=-1)

    def hessian(xy: Tensor) -> Tensor:
        x = xy[..., 0]
        sig = torch.sigmoid(-x / w)
        # d/dx [sig (1 - sig)] = -(1/w) sig (1 - sig) (1 - 2 sig)
        hxx = c + (h / w**2) * sig * (1 - sig) * (1 - 2 * sig)
        return _hessian_from(hxx, torch.zeros_like(x), c * torch.ones_like(x))

    surface = Surface(
        name="cliff",
        f=f,
        grad=grad,
        hessian=hessian,
        minima=[(x_star, 0.0)],
        bounds=((-3.0, 4.0), (-2.0, 2.0)),
        start=(-2.3, 1.5),
        description=f"cliff of height {h:g} and width {w:g} above a bowl",
    )
    return _with_refined(surface, minima=[(x_star, 0.0)])


# Centres (x, y), depths and widths of the wells of multi_minima(): the first is the deepest.
_WELLS = (((-2.0, -1.0), 2.0, 0.9), ((1.8, 1.2), 1.5, 0.8), ((1.6, -1.8), 1.1, 0.7), ((-1.2, 1.9), 0.9, 0.7))


def multi_minima() -> Surface:
    """Four Gaussian wells of different depths in a wide bowl: several local minima, one global.

    :math:`J(\\theta) = \\tfrac{1}{20}\\lVert\\theta\\rVert^2
    - \\sum_k d_k \\exp\\!\\big(-\\lVert\\theta - c_k\\rVert^2 / (2 s_k^2)\\big)`.
    Which minimum gradient descent ends in depends on where it starts. ``minima`` is sorted by depth
    (the global minimum first), each refined by Newton's method; ``saddles`` holds the saddle points
    between neighbouring wells that Newton's method finds from their midpoints. Chapter 2, "Local minima".
    """
    bowl = 0.1

    def wells(xy: Tensor) -> list[tuple[Tensor, Tensor, float, float]]:
        out = []
        for (cx, cy), depth, width in _WELLS:
            dx, dy = xy[..., 0] - cx, xy[..., 1] - cy
            e = depth * torch.exp(-(dx**2 + dy**2) / (2 * width**2))
            out.append((dx, dy, e, width**2))
        return out

    def f(xy: Tensor) -> Tensor:
        value = 0.5 * bowl * (xy[..., 0] ** 2 + xy[..., 1] ** 2)
        for _, _, e, _ in wells(xy):
            value = value - e
        return value

    def grad(xy: Tensor) -> Tensor:
        gx, gy = bowl * xy[..., 0], bowl * xy[..., 1]
        for dx, dy, e, s2 in wells(xy):
            gx = gx + e * dx / s2
            gy = gy + e * dy / s2
        return torch.stack([gx, gy], dim=-1)

    def hessian(xy: Tensor) -> Tensor:
        hxx = bowl * torch.ones_like(xy[..., 0])
        hxy = torch.zeros_like(xy[..., 0])
        hyy = bowl * torch.ones_like(xy[..., 0])
        for dx, dy, e, s2 in wells(xy):
            hxx = hxx + e * (1 / s2 - dx**2 / s2**2)
            hxy = hxy - e * dx * dy / s2**2
            hyy = hyy + e * (1 / s2 - dy**2 / s2**2)
        return _hessian_from(hxx, hxy, hyy)

    surface = Surface(
        name="several minima",
        f=f,
        grad=grad,
        hessian=hessian,
        minima=[centre for centre, _, _ in _WELLS],
        bounds=((-4.0, 4.0), (-3.5, 3.5)),
        start=(0.0, 0.0),
        description="four wells of different depths",
    )
    centres = [centre for centre, _, _ in _WELLS]
    midpoints = [((p[0] + q[0]) / 2, (p[1] + q[1]) / 2) for i, p in enumerate(centres) for q in centres[i + 1 :]]
    return _with_refined(surface, minima=centres, saddles=midpoints)


def _with_refined(surface: Surface, minima: list[Point], saddles: Sequence[Point] = ()) -> Surface:
    """A copy of ``surface`` whose landmarks are Newton-refined (minima sorted by value, duplicates dropped)."""
    found_minima = sorted({_rounded(newton_refine(surface, p)) for p in minima}, key=surface.value)
    found_saddles = []
    for guess in saddles:
        try:
            point = newton_refine(surface, guess)
        except ValueError:
            continue
        if critical_point_kind(surface.hessian(torch.tensor(point, dtype=torch.float64))) == "saddle":
            found_saddles.append(_rounded(point))
    found_saddles = sorted(set(found_saddles))
    return Surface(
        name=surface.name,
        f=surface.f,
        grad=surface.grad,
        hessian=surface.hessian,
        minima=[newton_refine(surface, p) for p in found_minima],
        saddles=[newton_refine(surface, p) for p in found_saddles],
        bounds=surface.bounds,
        start=surface.start,
        description=surface.description,
    )


def _rounded(point: Point) -> Point:
    return (round(point[0], 9) + 0.0, round(point[1], 9) + 0.0)


SURFACES: dict[str, Callable[[], Surface]] = {
    "quadratic": quadratic,
    "rosenbrock": rosenbrock,
    "saddle": saddle,
    "plateau": plateau,
    "ravine": ravine,
    "cliff": cliff,
    "multi_minima": multi_minima,
}


# ---------------------------------------------------------------- a surface built from data


@dataclass(frozen=True, repr=False)
class LeastSquares(Surface):
    """The least-squares loss of the line :math:`\\hat y = w x + b` as a surface over :math:`\\theta = (w, b)`.

    :math:`J(\\theta) = \\frac{1}{2n} \\sum_i (w x_i + b - y_i)^2`, and :meth:`minibatch_grad` gives the
    gradient of the same loss averaged over a subset of the examples only: the stochastic gradient
    of chapter 2's "Batch, stochastic and mini-batch gradient descent". Subclasses with another
    two-parameter model of the same data (:class:`dnncourse.lab.noise.TwoLayerLinear`) override :meth:`minibatch_grad`.
    """

    x: Tensor = None  # (n,) inputs
    y: Tensor = None  # (n,) targets

    def minibatch_grad(self, theta: Tensor, index: Tensor) -> Tensor:
        """The mini-batch gradient for ``theta`` (2,) and the examples ``index`` (B,).

        :math:`\\hat g = \\frac{1}{|B|}\\sum_{i \\in B} (w x_i + b - y_i)(x_i, 1)`.
        """
        x, y = self.x[index], self.y[index]  # (B,), (B,)
        residual = theta[0] * x + theta[1] - y  # (B,)
        return torch.stack([(residual * x).mean(), residual.mean()])


def least_squares(x: Tensor | np.ndarray, y: Tensor | np.ndarray) -> LeastSquares:
    """The :class:`LeastSquares` surface of a 1-D regression data set ``x`` (n,), ``y`` (n,).

    Its Hessian is the constant :math:`\\frac1n \\sum_i (x_i, 1)^\\top (x_i, 1)`; the minimum is the
    least-squares solution.
    """
    x = torch.as_tensor(x, dtype=torch.float64).reshape(-1)  # (n,)
    y = torch.as_tensor(y, dtype=torch.float64).reshape(-1)  # (n,)
    if x.shape != y.shape or x.numel() < 2:
        raise ValueError(f"x and y must hold the same number (>= 2) of values, got {x.numel()} and {y.numel()}")
    sxx, sx, sxy, sy = (x * x).mean().item(), x.mean().item(), (x * y).mean().item(), y.mean().item()

    def f(theta: Tensor) -> Tensor:
        w, b = theta[..., 0:1], theta[..., 1:2]  # (..., 1) each, broadcast against the n examples
        xs, ys = x.to(theta), y.to(theta)
        return 0.5 * ((w * xs + b - ys) ** 2).mean(dim=-1)

    def grad(theta: Tensor) -> Tensor:
        w, b = theta[..., 0], theta[..., 1]
        return torch.stack([w * sxx + b * sx - sxy, w * sx + b - sy], dim=-1)

    def hessian(theta: Tensor) -> Tensor:
        full = torch.ones_like(theta[..., 0])
        return _hessian_from(sxx * full, sx * full, full)

    w_star, b_star = np.linalg.solve([[sxx, sx], [sx, 1.0]], [sxy, sy])
    spread = max(abs(w_star), abs(b_star), 1.0)
    return LeastSquares(
        name="least squares",
        f=f,
        grad=grad,
        hessian=hessian,
        minima=[(float(w_star), float(b_star))],
        bounds=((w_star - 2 * spread, w_star + 2 * spread), (b_star - 2 * spread, b_star + 2 * spread)),
        start=(float(w_star - 1.6 * spread), float(b_star + 1.6 * spread)),
        description=f"least squares on {x.numel()} points",
        x=x,
        y=y,
    )
