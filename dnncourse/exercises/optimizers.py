"""Exercises of the "Optimizers" chapter, and the one-step functions they are graded against.

Each reference is one update written with NumPy arrays (or tensors): it takes the parameters, the
gradient and the optimizer's state and returns new values, without modifying its inputs. The
optimizer classes of :mod:`dnncourse.optim` do the same updates in place; the tests check the two
against each other and against ``torch.optim``.

- :func:`nesterov_update`: Nesterov momentum in PyTorch's variables, which the student *derives* from
  the look-ahead definition (the chapter gives the definition and the change of variables only);
- :func:`bias_corrected_ema`: an exponential moving average corrected for its start at zero, whose
  correction the student derives from the average of a constant input;
- :func:`momentum_update`, :func:`rmsprop_update`, :func:`adam_update`: one step of momentum (PyTorch's
  formulation), RMSProp and Adam.
"""

from __future__ import annotations

import numpy as np

from dnncourse.exercises import Case, Exercise

__all__ = [
    "EXERCISES",
    "nesterov_update",
    "bias_corrected_ema",
    "momentum_update",
    "rmsprop_update",
    "adam_update",
]

_CHAPTER = "03_optimizers"


# --- the references ------------------------------------------------------------------------------------


def nesterov_update(phi, grad, v, lr: float, momentum: float):
    """One step of Nesterov momentum in PyTorch's variables; returns ``(phi_new, v_new)``.

    The look-ahead form (Sutskever et al. 2013) keeps :math:`\\theta` and a velocity :math:`u` of steps:
    :math:`u \\leftarrow \\mu u - \\eta \\nabla J(\\theta + \\mu u)`, :math:`\\theta \\leftarrow \\theta + u`.
    PyTorch stores the look-ahead point :math:`\\phi = \\theta + \\mu u` as the parameter and a velocity
    of gradients :math:`v = -u / \\eta`. With :math:`g = \\nabla J(\\phi)` (``grad``) the step becomes

    .. math:: v_\\text{new} = \\mu v + g, \\qquad \\phi_\\text{new} = \\phi - \\eta\\,(g + \\mu v_\\text{new}),

    which is ``torch.optim.SGD(nesterov=True)`` (starting from ``v = 0``). Arrays of any matching shape.
    """
    v_new = momentum * v + grad
    return phi - lr * (grad + momentum * v_new), v_new


def bias_corrected_ema(x, beta: float):
    """The bias-corrected exponential moving averages :math:`\\hat m_1, \\dots, \\hat m_T` of ``x`` (T, ...).

    :math:`m_t = \\beta m_{t-1} + (1 - \\beta) x_t` from :math:`m_0 = 0`. For a constant input
    :math:`x_t = c` the recursion gives :math:`m_t = c\\,(1 - \\beta^t)` (a geometric sum), so
    :math:`\\hat m_t = m_t / (1 - \\beta^t)` is exactly :math:`c`, and in general a weighted average of
    :math:`x_1, \\dots, x_t` whose weights :math:`(1 - \\beta)\\beta^{t-k} / (1 - \\beta^t)` sum to one.
    Returns an array of the shape of ``x``; row ``t - 1`` is :math:`\\hat m_t`.
    """
    x = np.asarray(x, dtype=np.float64)
    m = np.zeros(x.shape[1:])
    corrected = np.empty_like(x)
    for t in range(1, len(x) + 1):
        m = beta * m + (1 - beta) * x[t - 1]
        corrected[t - 1] = m / (1 - beta**t)
    return corrected


def momentum_update(theta, grad, v, lr: float, momentum: float):
    """One step of momentum in PyTorch's formulation, without modifying the inputs.

    ``v_new = momentum * v + grad`` and ``theta_new = theta - lr * v_new``; start with ``v = 0``
    (then the first step gives ``v_new = grad``, as in ``torch.optim.SGD``). Works on NumPy arrays and
    tensors of any (matching) shape. Returns ``(theta_new, v_new)``.
    """
    v_new = momentum * v + grad
    return theta - lr * v_new, v_new


def rmsprop_update(theta, grad, r, lr: float, rho: float, eps: float):
    """One step of RMSProp (as ``torch.optim.RMSprop`` with ``alpha=rho``), without modifying the inputs.

    ``r_new = rho * r + (1 - rho) * grad**2`` and ``theta_new = theta - lr * grad / (sqrt(r_new) + eps)``.
    Returns ``(theta_new, r_new)``.
    """
    r_new = rho * r + (1 - rho) * grad**2
    return theta - lr * grad / (r_new**0.5 + eps), r_new


def adam_update(theta, grad, m, v, t: int, lr: float, beta1: float, beta2: float, eps: float):
    """One step of Adam, without modifying the inputs; ``t`` is the number of this step (1, 2, ...).

    Returns ``(theta_new, m_new, v_new)``; ``m`` and ``v`` start at zero. Same math as
    :class:`dnncourse.optim.Adam`.
    """
    m_new = beta1 * m + (1 - beta1) * grad
    v_new = beta2 * v + (1 - beta2) * grad**2
    m_hat = m_new / (1 - beta1**t)
    v_hat = v_new / (1 - beta2**t)
    return theta - lr * m_hat / (v_hat**0.5 + eps), m_new, v_new


# --- random cases (the grader draws new ones at grading time) ------------------------------------------


def _shape(rng: np.random.Generator) -> tuple[int, ...]:
    return tuple(int(n) for n in rng.integers(1, 6, size=int(rng.integers(1, 3))))


def _random_nesterov(rng: np.random.Generator) -> dict:
    shape = _shape(rng)
    return {
        "phi": rng.normal(size=shape),
        "grad": rng.normal(size=shape),
        "v": rng.normal(size=shape),
        "lr": float(rng.uniform(1e-3, 0.5)),
        "momentum": float(rng.uniform(0.05, 0.99)),
    }


def _random_ema(rng: np.random.Generator) -> dict:
    steps = int(rng.integers(1, 40))
    shape = (steps,) if rng.random() < 0.5 else (steps, int(rng.integers(1, 5)))
    return {"x": rng.normal(loc=rng.normal(), size=shape), "beta": float(rng.uniform(0.0, 0.999))}


def _random_momentum(rng: np.random.Generator) -> dict:
    shape = _shape(rng)
    return {
        "theta": rng.normal(size=shape),
        "grad": rng.normal(size=shape),
        "v": rng.normal(size=shape),
        "lr": float(rng.uniform(1e-3, 0.5)),
        "momentum": float(rng.uniform(0.0, 0.99)),
    }


def _random_rmsprop(rng: np.random.Generator) -> dict:
    shape = _shape(rng)
    return {
        "theta": rng.normal(size=shape),
        "grad": rng.normal(size=shape),
        "r": rng.uniform(0.0, 2.0, size=shape),
        "lr": float(rng.uniform(1e-4, 0.1)),
        "rho": float(rng.uniform(0.5, 0.999)),
        "eps": 1e-8,
    }


def _random_adam(rng: np.random.Generator) -> dict:
    shape = _shape(rng)
    return {
        "theta": rng.normal(size=shape),
        "grad": rng.normal(size=shape),
        "m": rng.normal(scale=0.1, size=shape),
        "v": rng.uniform(0.0, 0.1, size=shape),
        "t": int(rng.integers(1, 50)),
        "lr": float(rng.uniform(1e-4, 0.1)),
        "beta1": float(rng.uniform(0.5, 0.95)),
        "beta2": float(rng.uniform(0.9, 0.9999)),
        "eps": 1e-8,
    }


_ONE = np.array([1.0])
_ZERO = np.array([0.0])

EXERCISES = (
    Exercise(
        id="nesterov_update",
        function="nesterov_update",
        reference=nesterov_update,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case({"phi": _ONE, "grad": np.array([0.5]), "v": _ZERO, "lr": 0.1, "momentum": 0.9}, "first step: v = 0"),
            Case(
                {
                    "phi": np.array([1.0, -2.0]),
                    "grad": np.array([0.5, -0.25]),
                    "v": np.array([2.0, -1.0]),
                    "lr": 0.1,
                    "momentum": 0.9,
                },
                "a velocity already built up",
            ),
            Case(
                {
                    "phi": np.array([[1.0, 2.0], [3.0, 4.0]]),
                    "grad": np.ones((2, 2)),
                    "v": np.ones((2, 2)),
                    "lr": 0.5,
                    "momentum": 0.5,
                },
                "a 2x2 parameter",
            ),
        ),
        random_case=_random_nesterov,
        rtol=1e-10,
        hint="Write u = -lr * v and theta = phi - momentum * u, apply the look-ahead update to (theta, u) with "
        "g = grad (the gradient at phi), then express the new phi = theta_new + momentum * u_new and the new "
        "v = -u_new / lr again. Two lines remain: v_new first, then phi_new.",
    ),
    Exercise(
        id="bias_corrected_ema",
        function="bias_corrected_ema",
        reference=bias_corrected_ema,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case({"x": np.full(5, 2.0), "beta": 0.99}, "a constant input: every corrected average is 2"),
            Case({"x": np.array([1.0, 3.0]), "beta": 0.99}, "two inputs: the worked example"),
            Case({"x": np.array([4.0, -1.0, 2.0]), "beta": 0.0}, "beta = 0: no averaging"),
            Case({"x": np.array([[1.0, -1.0], [0.0, 2.0], [3.0, 5.0]]), "beta": 0.9}, "three steps of two numbers"),
        ),
        random_case=_random_ema,
        rtol=1e-10,
        hint="Run m = beta * m + (1 - beta) * x[t - 1] from m = 0. For a constant input c, write m_t out for "
        "t = 1, 2, 3: it is c times a geometric sum. Divide each m_t by that sum (with c = 1) to undo the bias.",
    ),
    Exercise(
        id="momentum_update",
        function="momentum_update",
        reference=momentum_update,
        points=2,
        chapter=_CHAPTER,
        public_cases=(
            Case({"theta": _ONE, "grad": np.array([0.5]), "v": _ZERO, "lr": 0.1, "momentum": 0.9}, "first step: v = g"),
            Case(
                {
                    "theta": np.array([1.0, -2.0]),
                    "grad": np.array([0.5, 0.5]),
                    "v": np.array([1.0, -1.0]),
                    "lr": 0.1,
                    "momentum": 0.9,
                },
                "a velocity already built up",
            ),
            Case(
                {
                    "theta": np.array([[1.0, 2.0], [3.0, 4.0]]),
                    "grad": np.ones((2, 2)),
                    "v": np.ones((2, 2)),
                    "lr": 0.5,
                    "momentum": 0.0,
                },
                "momentum 0 is plain gradient descent",
            ),
        ),
        random_case=_random_momentum,
        rtol=1e-10,
        hint="PyTorch's form: first v_new = momentum * v + grad, then theta_new = theta - lr * v_new. Return both.",
    ),
    Exercise(
        id="rmsprop_update",
        function="rmsprop_update",
        reference=rmsprop_update,
        points=2,
        chapter=_CHAPTER,
        public_cases=(
            Case(
                {"theta": _ONE, "grad": np.array([2.0]), "r": _ZERO, "lr": 0.01, "rho": 0.9, "eps": 1e-8},
                "first step from an empty cache",
            ),
            Case(
                {
                    "theta": np.array([1.0, -1.0, 0.0]),
                    "grad": np.array([0.1, -3.0, 0.0]),
                    "r": np.array([0.5, 0.5, 0.0]),
                    "lr": 0.1,
                    "rho": 0.99,
                    "eps": 1e-8,
                },
                "a zero gradient with an empty cache (eps matters)",
            ),
        ),
        random_case=_random_rmsprop,
        rtol=1e-10,
        hint="r_new = rho * r + (1 - rho) * grad**2; theta_new = theta - lr * grad / (np.sqrt(r_new) + eps) "
        "(eps outside the square root, as in PyTorch).",
    ),
    Exercise(
        id="adam_update",
        function="adam_update",
        reference=adam_update,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case(
                {
                    "theta": _ONE,
                    "grad": np.array([0.5]),
                    "m": _ZERO,
                    "v": _ZERO,
                    "t": 1,
                    "lr": 0.1,
                    "beta1": 0.9,
                    "beta2": 0.999,
                    "eps": 1e-8,
                },
                "first step: the step is lr * sign(grad)",
            ),
            Case(
                {
                    "theta": np.array([1.0, -2.0]),
                    "grad": np.array([0.3, -0.1]),
                    "m": np.array([0.05, 0.02]),
                    "v": np.array([0.001, 0.002]),
                    "t": 10,
                    "lr": 0.01,
                    "beta1": 0.9,
                    "beta2": 0.999,
                    "eps": 1e-8,
                },
                "step 10",
            ),
        ),
        random_case=_random_adam,
        rtol=1e-10,
        hint="Update m and v first, then bias-correct with 1 - beta**t (t is this step's number, starting at 1), "
        "then theta_new = theta - lr * m_hat / (np.sqrt(v_hat) + eps). Return (theta_new, m_new, v_new).",
    ),
)
