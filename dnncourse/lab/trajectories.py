"""Run optimizers on 2-D surfaces and record their paths (chapter 2, "Optimization challenges", and 3).

:func:`run` puts a two-component parameter at a starting point and lets any ``torch.optim``
optimizer (the course's own ``dnncourse.optim`` ones included) minimize a
:class:`~dnncourse.lab.surfaces.Surface`; it returns the path of the parameter, and
:func:`steps_to_converge` counts the steps an optimizer needs to reach a tolerance (for runs too long to
record). :func:`gradient_descent`
is the plain NumPy reference :math:`\\theta_{k+1} = \\theta_k - \\eta \\nabla J(\\theta_k)`, and
:func:`minibatch_gradient_descent` its stochastic version on a least-squares surface built from
data. Drawing the paths (contour plots, animations) is :mod:`dnncourse.viz`'s job.

Paths are NumPy arrays of shape ``(steps + 1, 2)``: row ``k`` is :math:`\\theta_k`, row 0 the start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from dnncourse import _validation as check
from dnncourse.lab.surfaces import LeastSquares, Surface

__all__ = [
    "DIVERGED",
    "run",
    "steps_to_converge",
    "gradient_descent",
    "minibatch_gradient_descent",
    "steps_to_reach",
]

# A parameter whose coordinates grow past this size is treated as diverged (the path is cut there).
DIVERGED = 1e6


def _start_point(surface: Surface, start) -> np.ndarray:
    point = np.asarray(surface.start if start is None else start, dtype=np.float64).reshape(-1)
    if point.shape != (2,) or not np.all(np.isfinite(point)):
        raise ValueError(f"start must be two finite numbers, got {start!r}")
    return point


def _diverged(theta: np.ndarray) -> bool:
    return not (np.all(np.isfinite(theta)) and np.max(np.abs(theta)) <= DIVERGED)


def _iterates(
    surface: Surface, make_optimizer: Callable[[list[Tensor]], torch.optim.Optimizer], start
) -> Iterator[Tensor]:
    """The parameters after step 1, 2, ... of ``make_optimizer([theta])`` on ``surface`` (an endless generator).

    ``theta`` is a float64 tensor (2,) starting at ``start``; each step sets ``theta.grad`` to the
    surface's exact gradient :math:`\\nabla J(\\theta)` (closed form, tested against autograd) and calls
    ``optimizer.step()``, as a training loop does after ``backward()``.
    """
    theta = torch.tensor(_start_point(surface, start), dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([theta])

    def set_gradient() -> None:
        with torch.no_grad():
            theta.grad = surface.grad(theta)  # (2,): the exact gradient, what backward() would give

    def closure() -> Tensor:  # optimizers such as L-BFGS re-evaluate the loss through it
        set_gradient()
        with torch.no_grad():
            return surface.f(theta)

    lbfgs = isinstance(optimizer, torch.optim.LBFGS)
    while True:
        if lbfgs:
            optimizer.step(closure)
        else:
            set_gradient()
            optimizer.step()
        yield theta.detach()


def run(
    surface: Surface,
    make_optimizer: Callable[[list[Tensor]], torch.optim.Optimizer],
    start=None,
    steps: int = 100,
) -> np.ndarray:
    """Minimize ``surface.f`` with the optimizer ``make_optimizer([theta])`` and return the path (steps + 1, 2).

    ``theta`` is a float64 tensor of shape (2,) starting at ``start`` (default ``surface.start``).
    Each step sets ``theta.grad`` to the surface's exact gradient (``surface.grad``, the closed form that
    back-propagation would give, without building a graph) and calls ``optimizer.step()``, as a training
    loop does. For example::

        path = run(rosenbrock(), lambda params: torch.optim.SGD(params, lr=1e-3), steps=200)

    Divergence: if :math:`\\theta` becomes non-finite or a coordinate exceeds ``DIVERGED`` in size,
    the run stops and the remaining rows of the path are NaN (the diverging point itself is kept if
    it is finite, so a plot shows the last jump). ``np.isnan(path).any()`` tells that it diverged.
    """
    steps = check.integer("steps", steps, minimum=0)
    path = np.full((steps + 1, 2), np.nan)
    path[0] = _start_point(surface, start)
    for k, theta in zip(range(1, steps + 1), _iterates(surface, make_optimizer, start)):
        point = theta.numpy().copy()
        if np.all(np.isfinite(point)):
            path[k] = point
        if _diverged(point):
            break
    return path


def steps_to_converge(
    surface: Surface,
    make_optimizer: Callable[[list[Tensor]], torch.optim.Optimizer],
    tol: float,
    max_steps: int = 100_000,
    start=None,
) -> int | None:
    """The number of steps ``make_optimizer`` needs to bring :math:`J(\\theta_k) - J^\\star` down to ``tol``.

    Runs the optimizer as :func:`run` does, without recording the path, and stops at the first step
    :math:`k` with :math:`J(\\theta_k) - J^\\star \\le` ``tol`` (0 if the start already is that close;
    :math:`J^\\star` is the value at the surface's lowest listed minimum). Returns ``None`` if that takes
    more than ``max_steps`` steps or the run diverges. The same count as :func:`steps_to_reach` on the
    path of :func:`run`, for runs too long to record.
    """
    tol = check.positive("tol", tol)
    max_steps = check.integer("max_steps", max_steps, minimum=0)
    best = min(surface.value(m) for m in surface.minima)
    if surface.value(tuple(_start_point(surface, start))) - best <= tol:
        return 0
    for k, theta in zip(range(1, max_steps + 1), _iterates(surface, make_optimizer, start)):
        if float(surface.f(theta)) - best <= tol:
            return k
        if _diverged(theta.numpy()):
            return None
    return None


def gradient_descent(surface: Surface, lr: float, steps: int = 100, start=None) -> np.ndarray:
    """Plain gradient descent :math:`\\theta_{k+1} = \\theta_k - \\eta\\, \\nabla J(\\theta_k)` with the exact gradient.

    A NumPy loop (float64) that uses ``surface.grad``: the reference the optimizers of
    ``torch.optim`` and ``dnncourse.optim`` are tested against. Returns the path (steps + 1, 2), cut
    with NaN rows on divergence exactly as :func:`run` does.
    """
    lr = check.positive("lr", lr)
    steps = check.integer("steps", steps, minimum=0)
    path = np.full((steps + 1, 2), np.nan)
    theta = _start_point(surface, start)
    path[0] = theta
    for k in range(1, steps + 1):
        g = surface.grad(torch.from_numpy(theta)).numpy()  # (2,)
        theta = theta - lr * g
        if np.all(np.isfinite(theta)):
            path[k] = theta
        if _diverged(theta):
            break
    return path


def minibatch_gradient_descent(
    problem: LeastSquares, lr: float, batch_size: int, epochs: int = 1, start=None, seed: int = 0
) -> np.ndarray:
    """Mini-batch gradient descent on a :class:`~dnncourse.lab.surfaces.LeastSquares` surface.

    Each epoch shuffles the :math:`n` examples and walks through them in :math:`\\lceil n/B \\rceil`
    batches of ``batch_size`` :math:`B` (the last one may be smaller); each batch is one iteration
    :math:`\\theta \\leftarrow \\theta - \\eta\\, \\hat g_B(\\theta)`. ``batch_size = n`` is batch gradient
    descent, ``batch_size = 1`` stochastic gradient descent. Returns one row per iteration plus the
    start: shape (epochs * ceil(n / B) + 1, 2).
    """
    n = problem.x.numel()
    batch_size = check.integer("batch_size", batch_size, 1, n)
    lr = check.positive("lr", lr)
    epochs = check.integer("epochs", epochs, minimum=0)
    generator = torch.Generator(device="cpu").manual_seed(seed)  # the surface's data live on the CPU
    theta = torch.from_numpy(_start_point(problem, start))  # (2,)
    path = [theta.numpy().copy()]
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)  # (n,)
        for index in order.split(batch_size):  # ceil(n / B) batches
            theta = theta - lr * problem.minibatch_grad(theta, index)
            path.append(theta.numpy().copy())
    return np.array(path)


def steps_to_reach(path: np.ndarray, surface: Surface, tol: float) -> int | None:
    """The first step ``k`` with :math:`J(\\theta_k) - J^\\star \\le` ``tol``, or ``None`` if the path never gets there.

    :math:`J^\\star` is the value at the surface's lowest listed minimum.
    """
    best = min(surface.value(m) for m in surface.minima)
    values = surface.f(torch.from_numpy(np.asarray(path, dtype=np.float64))).numpy() - best  # (steps + 1,)
    hits = np.flatnonzero(values <= tol)  # NaN rows compare False
    return int(hits[0]) if hits.size else None
