"""Noise in mini-batch gradients (chapter 2, "Batch, stochastic and mini-batch gradient descent").

A mini-batch gradient :math:`\\hat g_B` is an average of :math:`B` per-example gradients, so it is an
unbiased but noisy estimate of the full gradient :math:`g`. :func:`per_example_gradients` computes every
example's gradient in one pass; :func:`minibatch_gradient_noise` measures
:math:`\\mathbb{E}\\lVert \\hat g_B - g \\rVert^2` for several batch sizes and compares it with the
sampling formula :math:`\\frac{\\sigma^2}{B} \\cdot \\frac{n - B}{n - 1}`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from dnncourse import _validation as check

__all__ = ["per_example_gradients", "minibatch_gradient_noise"]


def per_example_gradients(
    model: nn.Module, X: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None
) -> Tensor:
    """The gradient of the loss on each example separately, flattened: a (n, P) tensor, P = parameter count.

    Row :math:`i` is :math:`\\nabla_\\theta L(f(x_i; \\theta), y_i)`; their mean is the full-batch gradient.
    Computed in one pass with ``torch.func.vmap`` over ``torch.func.grad``. The default loss is
    cross-entropy for integer labels, mean squared error otherwise. Model parameters are not changed.
    """
    from torch.func import functional_call, grad, vmap

    if loss_fn is None:
        loss_fn = nn.functional.cross_entropy if not y.is_floating_point() else nn.functional.mse_loss
    params = {name: p.detach() for name, p in model.named_parameters()}

    def loss_of_one(p: dict[str, Tensor], x: Tensor, target: Tensor) -> Tensor:
        out = functional_call(model, p, (x.unsqueeze(0),))  # (1, out)
        return loss_fn(out, target.unsqueeze(0))

    grads = vmap(grad(loss_of_one), in_dims=(None, 0, 0))(params, X, y)  # name -> (n, *shape)
    return torch.cat([g.reshape(X.shape[0], -1) for g in grads.values()], dim=1)  # (n, P)


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
    n = G.shape[0]
    g = G.mean(dim=0)  # (P,)
    sigma2 = float(((G - g) ** 2).sum(dim=1).mean())
    n_batches = check.integer("n_batches", n_batches, minimum=1)
    # The batches are drawn on the CPU (the same ones on every device), then moved to G's device.
    generator = torch.Generator(device="cpu").manual_seed(seed)
    measured, predicted = [], []
    for i, B in enumerate(batch_sizes):
        B = check.integer(f"batch_sizes[{i}]", B, 1, n)
        index = torch.rand(n_batches, n, generator=generator).argsort(dim=1)[:, :B].to(G.device)  # (n_batches, B)
        g_hat = G[index].mean(dim=1)  # (n_batches, B, P) -> (n_batches, P)
        measured.append(float(((g_hat - g) ** 2).sum(dim=1).mean()))
        predicted.append(sigma2 / B * (n - B) / (n - 1))
    return np.array(measured), np.array(predicted)
