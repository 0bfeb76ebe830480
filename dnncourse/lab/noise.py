"""Noise in mini-batch gradients, and where it leads (chapter 2, "Optimization challenges").

A mini-batch gradient :math:`\\hat g_B` is an average of :math:`B` per-example gradients, so it is an
unbiased but noisy estimate of the full gradient :math:`g`. :func:`per_example_gradients` computes every
example's gradient; :func:`minibatch_gradient_noise` measures
:math:`\\mathbb{E}\\lVert \\hat g_B - g \\rVert^2` for several batch sizes and compares it with the
sampling formula :math:`\\frac{\\sigma^2}{B} \\cdot \\frac{n - B}{n - 1}`.

:class:`TwoLayerLinear` (built by :func:`two_layer_linear`) is a loss surface whose global minima form a
valley along which only the sharpness changes: gradient descent stops at the first minimum it meets,
while mini-batch noise, strongest where the valley is sharp, moves SGD towards the flat end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from dnncourse import _validation as check
from dnncourse.lab.surfaces import LeastSquares, _hessian_from

__all__ = ["per_example_gradients", "minibatch_gradient_noise", "TwoLayerLinear", "two_layer_linear"]


def per_example_gradients(
    model: nn.Module, X: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None
) -> Tensor:
    """The gradient of the loss on each example separately, flattened: a (n, P) tensor, P = parameter count.

    Row :math:`i` is :math:`\\nabla_\\theta L(f(x_i; \\theta), y_i)`; their mean is the full-batch gradient.
    Computed with one backward pass per example (plain autograd: for the course's small models this is
    faster than ``torch.func.vmap``, whose first call alone takes seconds). The default loss is
    cross-entropy for integer labels, mean squared error otherwise. Model parameters are not changed.
    """
    check.module("model", model)
    if X.ndim < 2 or y.ndim < 1 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise ValueError(
            f"X (n, d) and y (n, ...) must hold the same number n >= 1 of examples, "
            f"got shapes {tuple(X.shape)} and {tuple(y.shape)}"
        )
    if loss_fn is None:
        loss_fn = nn.functional.cross_entropy if not y.is_floating_point() else nn.functional.mse_loss
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for x_i, y_i in zip(X, y):
        loss = loss_fn(model(x_i.unsqueeze(0)), y_i.unsqueeze(0))  # a batch of one example
        grads = torch.autograd.grad(loss, params)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))  # (P,)
    return torch.stack(rows)  # (n, P)


def minibatch_gradient_noise(
    G: Tensor, batch_sizes: Sequence[int], n_batches: int = 200, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Measured and predicted :math:`\\mathbb{E}\\lVert \\hat g_B - g \\rVert^2` for each batch size :math:`B`.

    ``G`` (n, P) holds per-example gradients (see :func:`per_example_gradients`); the full gradient is
    :math:`g` = ``G.mean(0)`` and a mini-batch gradient :math:`\\hat g_B` is the mean of :math:`B` rows
    drawn without replacement. Measured: the average over ``n_batches`` batches. Predicted (sampling
    without replacement): :math:`\\frac{\\sigma^2}{B} \\cdot \\frac{n - B}{n - 1}` with
    :math:`\\sigma^2 = \\frac1n\\sum_i \\lVert g_i - g\\rVert^2`. Returns two arrays of shape (len(batch_sizes),).
    """
    if not isinstance(G, Tensor) or G.ndim != 2 or G.shape[0] < 2:
        raise ValueError(f"G must be a (n, P) tensor of per-example gradients with n >= 2, got {G!r:.80}")
    n = G.shape[0]
    n_batches = check.integer("n_batches", n_batches, minimum=1)
    seed = check.integer("seed", seed, 0, 2**64 - 1)
    g = G.mean(dim=0)  # (P,)
    centred = G - g  # (n, P): g_i - g
    sigma2 = float(centred.square().sum(dim=1).mean())
    # The batches are drawn on the CPU (the same ones on every device), then moved to G's device.
    generator = torch.Generator(device="cpu").manual_seed(seed)
    measured, predicted = [], []
    for i, B in enumerate(batch_sizes):
        B = check.integer(f"batch_sizes[{i}]", B, 1, n)
        index = torch.rand(n_batches, n, generator=generator).argsort(dim=1)[:, :B].to(G.device)  # (n_batches, B)
        # Row b of `average` holds 1/B at the examples of batch b, so `average @ G` is every batch's mean.
        average = torch.zeros(n_batches, n, dtype=G.dtype, device=G.device).scatter_(1, index, 1.0 / B)
        errors = average @ centred  # g_hat_B - g for every batch, (n_batches, n) @ (n, P) -> (n_batches, P)
        measured.append(float(errors.square().sum(dim=1).mean()))
        predicted.append(sigma2 / B * (n - B) / (n - 1))
    return np.array(measured), np.array(predicted)


# ---------------------------------------------------------------- where the noise leads: a valley of minima


@dataclass(frozen=True, repr=False)
class TwoLayerLinear(LeastSquares):
    """The least-squares loss of the smallest two-layer linear network, :math:`\\hat y = a\\,b\\,x`.

    A network with one input, one hidden unit and one output, no bias and no nonlinearity: the first
    layer multiplies by :math:`a`, the second by :math:`b`. Over :math:`\\theta = (a, b)`,

    .. math:: J(a, b) = \\frac{1}{2n} \\sum_i (a b x_i - y_i)^2
              = \\tfrac12 m (ab)^2 - q\\, ab + \\text{const}, \\quad
              m = \\overline{x^2},\\; q = \\overline{xy}.

    Every point of the hyperbola :math:`ab = c` with :math:`c = q/m` (the least-squares slope) is a
    global minimum, and all of them compute the same function :math:`\\hat y = c x`. They differ in
    sharpness: at a minimum the Hessian is :math:`m\\,(b, a)^\\top (b, a)`, with one zero eigenvalue
    (along the valley) and :math:`\\lambda_{\\max} = m (a^2 + b^2)`, smallest at the balanced minima
    :math:`a = b = \\pm\\sqrt{c}` (listed in ``minima``) and growing without bound along the valley.
    The origin is a saddle. Chapter 2, "SGD noise, sharp minima and batch size".
    """

    def minibatch_grad(self, theta: Tensor, index: Tensor) -> Tensor:
        """The mini-batch gradient for ``theta`` (2,) and the examples ``index`` (B,).

        :math:`\\hat g = r_B\\,(b, a)` with :math:`r_B = \\frac{1}{|B|}\\sum_{i \\in B} (a b x_i - y_i)\\, x_i`.
        """
        x, y = self.x[index], self.y[index]  # (B,), (B,)
        r = ((theta[0] * theta[1] * x - y) * x).mean()  # scalar
        return torch.stack([r * theta[1], r * theta[0]])

    def sharpness(self, theta: Tensor | np.ndarray) -> np.ndarray:
        """:math:`\\lambda_{\\max}` of the Hessian at each point of ``theta`` (..., 2): shape (...)."""
        theta = torch.as_tensor(np.asarray(theta, dtype=np.float64))  # (..., 2)
        return torch.linalg.eigvalsh(self.hessian(theta))[..., -1].numpy()  # (...)


def two_layer_linear(x: Tensor | np.ndarray, y: Tensor | np.ndarray) -> TwoLayerLinear:
    """The :class:`TwoLayerLinear` surface :math:`J(a, b)` of a 1-D regression data set ``x`` (n,), ``y`` (n,).

    ``x`` must not be all zeros, and :math:`\\overline{xy} > 0` (so that the minima lie in the first and
    third quadrants); the plotting window and the start show the branch :math:`a, b > 0`.
    """
    x = torch.as_tensor(x, dtype=torch.float64).reshape(-1)  # (n,)
    y = torch.as_tensor(y, dtype=torch.float64).reshape(-1)  # (n,)
    if x.shape != y.shape or x.numel() < 2:
        raise ValueError(f"x and y must hold the same number (>= 2) of values, got {x.numel()} and {y.numel()}")
    m, q = (x * x).mean().item(), (x * y).mean().item()
    if not (m > 0 and q > 0):
        raise ValueError(
            f"the data must have mean(x * y) > 0 and x not all zero, got mean(x*x) = {m:g}, mean(x*y) = {q:g}"
        )
    c = q / m  # the least-squares slope: the minima are the hyperbola a b = c

    def f(theta: Tensor) -> Tensor:
        slope = (theta[..., 0] * theta[..., 1]).unsqueeze(-1)  # (..., 1), broadcast against the n examples
        return 0.5 * ((slope * x.to(theta) - y.to(theta)) ** 2).mean(dim=-1)

    def grad(theta: Tensor) -> Tensor:
        a, b = theta[..., 0], theta[..., 1]
        r = m * a * b - q  # (...): dJ/d(ab)
        return torch.stack([r * b, r * a], dim=-1)

    def hessian(theta: Tensor) -> Tensor:
        a, b = theta[..., 0], theta[..., 1]
        r = m * a * b - q
        return _hessian_from(m * b * b, m * a * b + r, m * a * a)

    root = math.sqrt(c)
    return TwoLayerLinear(
        name="two-layer linear network",
        f=f,
        grad=grad,
        hessian=hessian,
        minima=[(-root, -root), (root, root)],
        saddles=[(0.0, 0.0)],
        bounds=((0.0, 3.4 * root), (0.0, 1.7 * root)),
        start=(3.0 * root, 0.05 * root),
        description=f"a b x fitted to {x.numel()} points: minima on the hyperbola a b = {c:.3g}",
        x=x,
        y=y,
    )
