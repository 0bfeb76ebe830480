"""Dropout (chapter 8, "Regularization"): inverted dropout, the layer, and the ensemble view.

Each training step drops every unit with probability :math:`p` and scales the survivors by
:math:`1 / (1 - p)`, so that the expected activation is unchanged and the network needs no rescaling
at test time. :func:`dropout` and :class:`Dropout` replace ``torch.nn.functional.dropout`` and
``torch.nn.Dropout``; :func:`apply_dropout_mask` is the arithmetic with a given mask, and
:func:`dropout_ensemble_mean` averages stochastic passes: the ensemble of sub-networks that the single
eval-mode pass approximates.
"""

from __future__ import annotations

import torch
from torch import nn

from dnncourse import _validation as check
from dnncourse.core import forked_rng

__all__ = ["Dropout", "dropout", "apply_dropout_mask", "dropout_ensemble_mean"]


def apply_dropout_mask(x: torch.Tensor, mask: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout with a given mask: :math:`y = m \\odot x / (1 - p)` (zeros when ``p = 1``).

    ``mask`` holds 1 (keep) or 0 (drop), as booleans or numbers, with the shape of ``x`` (or one that
    broadcasts to it). :func:`dropout` draws the mask and calls this.
    """
    p = check.probability("p", p)
    if p == 1:
        return x * torch.zeros_like(x)  # every unit dropped; 0 / 0 must not give NaN
    keep = 1 - p
    return x * (mask.to(x.dtype) / keep)


def dropout(
    x: torch.Tensor, p: float = 0.5, training: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Inverted dropout: zero each entry with probability ``p`` and scale the survivors by ``1 / (1 - p)``.

    .. math:: y = \\frac{m \\odot x}{1 - p}, \\qquad m_i \\sim \\mathrm{Bernoulli}(1 - p) \\text{ independently},

    so :math:`\\mathbb{E}_m[y] = x`: the expected activation at training time equals the activation at test
    time, and the network needs no rescaling in eval mode (``training=False`` returns ``x`` itself).
    ``p = 0`` is the identity and ``p = 1`` gives zeros, as in ``torch.nn.functional.dropout``. The mask is
    drawn from ``generator``, a ``torch.Generator`` on ``x``'s device (``None``: PyTorch's global generator);
    on the CPU it is drawn exactly as PyTorch draws it, so with the same seed both give the same output.
    The gradient flows through the kept entries only, scaled by the same ``1 / (1 - p)``.

    Shapes: any; the mask has the shape of ``x``.
    """
    p = check.probability("p", p)
    if not training or p == 0:
        return x
    if p == 1:
        return x * torch.zeros_like(x)  # keeps the graph, like PyTorch
    generator = check.generator_for(generator, x.device)
    m = torch.empty_like(x).bernoulli_(1 - p, generator=generator)  # 1 with probability 1 - p, same shape as x
    return apply_dropout_mask(x, m, p)


class Dropout(nn.Module):
    """Inverted dropout as a layer: :func:`dropout` in training mode, the identity in eval mode.

    A drop-in replacement for ``torch.nn.Dropout(p)`` (chapter 8). The masks are drawn from ``generator``
    (a ``torch.Generator`` on the device of the inputs) or, if ``None``, from PyTorch's global generator.
    """

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None):
        super().__init__()
        self.p = check.probability("p", p)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


@torch.no_grad()
def dropout_ensemble_mean(
    model: nn.Module, x: torch.Tensor, n_samples: int, *, seed: int | None = None, probabilities: bool = False
) -> torch.Tensor:
    """Average of ``n_samples`` stochastic forward passes (dropout on): the ensemble view of dropout.

    Each pass samples one of the :math:`2^n` subnetworks that share the weights; their mean approximates
    the ensemble prediction that the single eval-mode pass (weights used as they are, thanks to inverted
    scaling) approximates at a fraction of the cost. With ``probabilities=True`` each pass's outputs go
    through a softmax over the last dimension before averaging ("Monte Carlo dropout", Gal and
    Ghahramani, 2016): the ensemble's predicted class probabilities; otherwise the outputs (logits) are
    averaged. With a ``seed`` the masks come from a copy of PyTorch's generator seeded with it, and the
    global generator is left as it was (``None`` draws from the global generator; a :class:`Dropout`
    layer given a generator of its own draws from that one). The model's train/eval mode is restored afterwards.

    Shapes: ``x`` (batch, ...) -> the model's output shape.
    """
    check.module("model", model)
    n_samples = check.integer("n_samples", n_samples, minimum=1)
    if seed is not None:
        with forked_rng(seed, x.device):
            return dropout_ensemble_mean(model, x, n_samples, probabilities=probabilities)
    was_training = model.training
    model.train()
    try:
        total = 0
        for _ in range(n_samples):
            out = model(x)
            total = total + (torch.softmax(out, dim=-1) if probabilities else out)
    finally:
        model.train(was_training)
    return total / n_samples
