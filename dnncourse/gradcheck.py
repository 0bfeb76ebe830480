"""Gradient checking with centred finite differences (chapter 1, "Why deep learning").

Every hand-written backward pass in this course is checked against a numerical derivative:

.. math::

    \\frac{\\partial f}{\\partial x_i}
    \\approx \\frac{f(x + \\varepsilon e_i) - f(x - \\varepsilon e_i)}{2 \\varepsilon},

where :math:`e_i` is the i-th unit vector. Two errors compete in the choice of :math:`\\varepsilon`:

- **truncation error**, :math:`O(\\varepsilon^2)`: by Taylor's theorem the centred difference differs from
  the derivative by :math:`f'''(\\xi)\\,\\varepsilon^2 / 6` (the one-sided difference
  :math:`(f(x + \\varepsilon) - f(x)) / \\varepsilon` is only :math:`O(\\varepsilon)` accurate);
- **round-off error**, :math:`O(u / \\varepsilon)`: :math:`f` is computed with relative precision
  :math:`u` (about :math:`1.1 \\times 10^{-16}` in float64, :math:`6 \\times 10^{-8}` in float32), and
  the subtraction of two nearly equal numbers divided by :math:`2\\varepsilon` magnifies it.

Balancing :math:`\\varepsilon^2` against :math:`u / \\varepsilon` gives :math:`\\varepsilon \\approx u^{1/3}`:
about :math:`10^{-5}` in float64, where the total error is around :math:`10^{-10}` relative to the
gradient. In float32 the best achievable accuracy is only about :math:`10^{-5}` (with
:math:`\\varepsilon \\approx 10^{-2}\\ldots 10^{-3}`), so **check gradients in float64**.

Rules of thumb for :func:`relative_error` between an analytic and a numerical gradient in float64:
below about ``1e-7`` the analytic gradient is right; ``1e-7`` to ``1e-4`` deserves a second look
(kinks such as ReLU at 0, or a poorly scaled function, can cause it); above ``1e-4`` there is very
probably a bug.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from dnncourse import _validation as check

__all__ = ["numerical_gradient", "numerical_jacobian", "relative_error"]


def _working_copy(x) -> np.ndarray | torch.Tensor:
    """A copy of ``x`` that can be perturbed in place: a tensor stays a tensor (same device and dtype)."""
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise ValueError(f"x must be a floating-point tensor, got dtype {x.dtype}")
        return x.detach().clone()
    return np.array(x, dtype=np.float64)  # a copy; integers become float64


def numerical_gradient(f: Callable, x, eps: float = 1e-5):
    """The gradient of a scalar function ``f`` at ``x`` by centred finite differences.

    Args:
        f: maps an array (or tensor) shaped like ``x`` to a scalar (a number, 0-d array or one-element tensor).
        x: a NumPy array or a floating-point tensor (use float64: see the module docstring). It is not modified;
            ``f`` receives a perturbed copy.
        eps: the step :math:`\\varepsilon`; ``1e-5`` balances truncation and round-off error in float64.

    Returns:
        An array (or a tensor on ``x``'s device with ``x``'s dtype) of ``x``'s shape, whose entry ``i`` is
        :math:`(f(x + \\varepsilon e_i) - f(x - \\varepsilon e_i)) / (2 \\varepsilon)`. It costs ``2 * x.size``
        evaluations of ``f``.
    """
    eps = check.positive("eps", eps)
    x = _working_copy(x)
    grad = torch.zeros_like(x) if isinstance(x, torch.Tensor) else np.zeros_like(x)
    for i, f_plus, f_minus in _centred_evaluations(f, x, eps):
        grad[i] = (_scalar(f_plus) - _scalar(f_minus)) / (2 * eps)
    return grad


def _copy(value):
    return value.detach().clone() if isinstance(value, torch.Tensor) else np.array(value, dtype=np.float64)


def _centred_evaluations(f: Callable, x, eps: float):
    """For each index ``i`` of ``x``: ``(i, f(x + eps e_i), f(x - eps e_i))``; ``x`` is restored each time."""
    with torch.no_grad():
        for i in np.ndindex(*x.shape):
            original = x[i].item()
            x[i] = original + eps
            f_plus = _copy(f(x))  # f may return (a view of) x itself, which we are about to change
            x[i] = original - eps
            f_minus = _copy(f(x))
            x[i] = original  # restore before moving to the next coordinate
            yield i, f_plus, f_minus


def _scalar(value) -> float:
    size = value.numel() if isinstance(value, torch.Tensor) else np.size(value)
    if size != 1:
        raise ValueError(f"f must return a scalar, got {size} values (use numerical_jacobian for vector outputs)")
    return value.item() if isinstance(value, torch.Tensor) else float(np.asarray(value).reshape(()))


def _flat_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy().ravel()
    return np.asarray(value, dtype=np.float64).ravel()


def numerical_jacobian(f: Callable, x, eps: float = 1e-5):
    """The Jacobian of an array-valued ``f`` at ``x`` by centred finite differences.

    Returns ``J`` of shape ``f(x).shape + x.shape`` (the layout of ``torch.autograd.functional.jacobian``)
    with ``J[i..., j...] = d f(x)[i...] / d x[j...]``: an array, or a tensor on ``x``'s device with
    ``x``'s dtype when ``x`` is a tensor. See :func:`numerical_gradient` for ``eps``.
    """
    eps = check.positive("eps", eps)
    x = _working_copy(x)
    out_shape = tuple(f(x).shape)
    columns = [  # one column d f / d x_j per input coordinate j, each flattened to (m,)
        (_flat_numpy(f_plus) - _flat_numpy(f_minus)) / (2 * eps)
        for _, f_plus, f_minus in _centred_evaluations(f, x, eps)
    ]
    J = np.stack(columns, axis=1) if columns else np.zeros((int(np.prod(out_shape)), 0))  # (m, n)
    J = J.reshape(out_shape + tuple(x.shape))  # (m, n) -> f.shape + x.shape
    if isinstance(x, torch.Tensor):
        return torch.as_tensor(J, dtype=x.dtype, device=x.device)
    return J


def relative_error(a, b, tiny: float = 1e-300) -> float:
    """How far apart two gradients are, relative to their size: ``||a - b|| / max(||a||, ||b||)``.

    Norms are Euclidean over all entries, so entries that are both close to zero (where an element-wise
    ratio would be meaningless) do not dominate. Returns 0.0 when both are zero. Accepts arrays, tensors
    (on any device) and numbers; the shapes must agree. See the module docstring for thresholds.
    """
    if tuple(np.shape(a)) != tuple(np.shape(b)):
        raise ValueError(f"a and b must have the same shape, got {tuple(np.shape(a))} and {tuple(np.shape(b))}")
    a, b = _flat_numpy(a), _flat_numpy(b)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    if scale <= tiny:
        return 0.0
    return float(np.linalg.norm(a - b) / scale)
