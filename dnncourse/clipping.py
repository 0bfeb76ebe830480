"""Gradient clipping by value and by (global) norm (chapter 5), behaving like ``torch.nn.utils``.

Two ways to tame an exploding gradient :math:`g`:

* **by value**: clamp every component to :math:`[-c, c]`. Cheap, but it changes the direction of
  :math:`g` whenever some components are clipped and others are not;
* **by norm** (Pascanu et al., 2013): if :math:`\\lVert g \\rVert > \\tau`, rescale
  :math:`g \\leftarrow \\tau\\, g / \\lVert g \\rVert`. The direction is kept; only the step length shrinks.

Over a model, the norm is the *global* norm of all parameter gradients stacked into one vector,
:math:`\\lVert g \\rVert_p = \\lVert(\\lVert g_1 \\rVert_p, \\dots, \\lVert g_k \\rVert_p)\\rVert_p`, and every
gradient is multiplied by the same coefficient ``min(1, max_norm / (total_norm + 1e-6))`` (PyTorch's formula).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from dnncourse import _validation as check

__all__ = [
    "clip_by_value",
    "clip_by_norm",
    "clip_grad_value_",
    "clip_grad_norm_",
    "global_grad_norm",
    "clipped_gradient_descent",
]

_EPS = 1e-6  # added to the norm in the clip coefficient, as in torch.nn.utils.clip_grad_norm_


def _check_norm_type(norm_type: float) -> float:
    norm_type = check.number("norm_type", norm_type, finite=False)
    if not norm_type > 0:
        raise ValueError(f"norm_type must be a number > 0 or inf, got {norm_type!r}")
    return norm_type


def clip_by_value(g: torch.Tensor, clip_value: float) -> torch.Tensor:
    """Return :math:`\\mathrm{clip}(g, -c, c)` componentwise (a new tensor)."""
    c = check.non_negative("clip_value", clip_value)
    return torch.clamp(g, -c, c)


def clip_by_norm(g: torch.Tensor, max_norm: float, norm_type: float = 2.0) -> torch.Tensor:
    """Return :math:`g \\cdot \\min(1, \\tau / (\\lVert g \\rVert + 10^{-6}))` (a new tensor),
    :math:`\\tau` = ``max_norm``.

    Same direction as ``g``; norm at most ``max_norm``.
    """
    tau = check.non_negative("max_norm", max_norm)
    norm = torch.linalg.vector_norm(g, _check_norm_type(norm_type))
    clip_coef = torch.clamp(tau / (norm + _EPS), max=1.0)
    return g * clip_coef


def _grads(parameters: torch.Tensor | Iterable[torch.Tensor]) -> list[torch.Tensor]:
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def global_grad_norm(parameters: torch.Tensor | Iterable[torch.Tensor], norm_type: float = 2.0) -> torch.Tensor:
    """The norm of all gradients stacked into one vector (a 0-dim tensor on the gradients' device)."""
    norm_type = _check_norm_type(norm_type)
    grads = _grads(parameters)
    if not grads:
        return torch.tensor(0.0)
    device = grads[0].device  # parameters may live on several devices: gather the k norms on the first
    per_tensor = torch.stack([torch.linalg.vector_norm(g.detach(), norm_type).to(device) for g in grads])  # (k,)
    return torch.linalg.vector_norm(per_tensor, norm_type)


def clip_grad_value_(parameters: torch.Tensor | Iterable[torch.Tensor], clip_value: float) -> None:
    """Clamp every parameter's ``.grad`` to ``[-clip_value, clip_value]`` in place."""
    c = check.non_negative("clip_value", clip_value)
    for g in _grads(parameters):
        g.detach().clamp_(-c, c)


def clip_grad_norm_(
    parameters: torch.Tensor | Iterable[torch.Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> torch.Tensor:
    """Rescale all ``.grad`` s in place so that their global norm is at most ``max_norm``.

    Returns the total norm *before* clipping (a 0-dim tensor), like ``torch.nn.utils.clip_grad_norm_``.
    With ``error_if_nonfinite=True`` a NaN or infinite total norm raises ``RuntimeError``.
    """
    tau = check.non_negative("max_norm", max_norm)
    parameters = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
    grads = _grads(parameters)
    total_norm = global_grad_norm(parameters, norm_type)
    if not grads:
        return total_norm
    if error_if_nonfinite and not torch.isfinite(total_norm):
        raise RuntimeError(
            f"the total norm of order {norm_type} of the gradients is non-finite ({total_norm.item()}), "
            "so they cannot be clipped; pass error_if_nonfinite=False to clip anyway"
        )
    clip_coef = torch.clamp(tau / (total_norm + _EPS), max=1.0)  # 1 when no clipping is needed
    for g in grads:
        g.detach().mul_(clip_coef.to(g.device, g.dtype))
    return total_norm


def clipped_gradient_descent(
    grad: Callable[[torch.Tensor], torch.Tensor],
    start: Sequence[float],
    lr: float,
    steps: int,
    *,
    max_norm: float | None = None,
    clip_value: float | None = None,
) -> np.ndarray:
    """Gradient descent :math:`\\theta_{k+1} = \\theta_k - \\eta\\, \\mathrm{clip}(\\nabla J(\\theta_k))` in float64.

    ``grad`` maps a parameter tensor to its gradient (e.g. ``dnncourse.lab.surfaces.cliff().grad``);
    the gradient is clipped by norm (``max_norm``), by value (``clip_value``), or not at all.
    Returns the path, a NumPy array of shape (steps + 1, len(start)); row 0 is the start.
    """
    lr = check.positive("lr", lr)
    steps = check.integer("steps", steps, minimum=0)
    if max_norm is not None and clip_value is not None:
        raise ValueError(f"give max_norm or clip_value, not both (got {max_norm!r} and {clip_value!r})")
    theta = torch.tensor(start, dtype=torch.float64)  # (d,)
    path = [theta.numpy().copy()]
    for _ in range(steps):
        g = grad(theta)
        if max_norm is not None:
            g = clip_by_norm(g, max_norm)
        elif clip_value is not None:
            g = clip_by_value(g, clip_value)
        theta = theta - lr * g
        path.append(theta.numpy().copy())
    return np.stack(path)  # (steps + 1, d)
