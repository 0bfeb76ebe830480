"""Exercises of chapter 5, "Vanishing and exploding gradients".

- ``input_gradient``: backpropagation through a deep tanh network as a product of per-layer
  Jacobians, plain or residual (the chapter's key formula, with its order and its transposes);
- ``elu_derivative``: the derivative of a non-saturating activation, without overflow;
- ``clip_by_norm``: clipping a gradient by its norm, PyTorch's formula.

:func:`input_gradient` is the reference of the first exercise (the others use the library's
:func:`dnncourse.activations.elu_grad` and :func:`dnncourse.clipping.clip_by_norm`).
"""

from __future__ import annotations

import numpy as np
import torch

from dnncourse.activations import elu_grad, tanh_grad
from dnncourse.clipping import clip_by_norm
from dnncourse.exercises import Case, Exercise

__all__ = ["EXERCISES", "input_gradient"]

_CHAPTER = "05_vanishing_exploding_gradients"


def input_gradient(
    weights: torch.Tensor, pre_activations: torch.Tensor, grad_output: torch.Tensor, residual: bool
) -> torch.Tensor:
    """The gradient :math:`\\partial\\mathcal{L}/\\partial a^{(0)}` reaching the input of an ``L``-layer tanh network.

    Layer ``l`` (1-based) computes :math:`z^{(l)} = W^{(l)} a^{(l-1)} + b^{(l)}` and
    :math:`a^{(l)} = \\tanh(z^{(l)})`, plus :math:`a^{(l-1)}` when ``residual``. Its Jacobian is
    :math:`J^{(l)} = \\operatorname{diag}(\\tanh'(z^{(l)}))\\,W^{(l)}` (plus :math:`I` when residual), and

    .. math:: \\partial\\mathcal{L}/\\partial a^{(0)} = J^{(1)\\top} J^{(2)\\top} \\cdots J^{(L)\\top} g,

    computed from the last layer back, one matrix-vector product per layer.

    Shapes: ``weights`` (L, n, n), ``weights[l - 1]`` being :math:`W^{(l)}`; ``pre_activations`` (L, n),
    row ``l - 1`` being :math:`z^{(l)}`; ``grad_output`` :math:`g = \\partial\\mathcal{L}/\\partial a^{(L)}`, (n,).
    Returns a tensor of shape (n,).
    """
    g = grad_output  # (n,)
    for W, z in zip(reversed(weights), reversed(pre_activations)):  # layers L, L-1, ..., 1
        back = W.T @ (tanh_grad(z) * g)  # J^T g = W^T diag(tanh'(z)) g, shape (n,)
        g = back + g if residual else back  # (I + J)^T g = g + J^T g
    return g


def _random_network(rng: np.random.Generator) -> dict:
    L, n = int(rng.integers(2, 9)), int(rng.integers(2, 7))
    return {
        "weights": rng.normal(0.0, 1.0 / np.sqrt(n), size=(L, n, n)),
        "pre_activations": rng.normal(0.0, 1.0, size=(L, n)),
        "grad_output": rng.normal(0.0, 1.0, size=n),
        "residual": bool(rng.integers(2)),
    }


def _random_x_alpha(rng: np.random.Generator) -> dict:
    return {"x": rng.normal(0.0, 4.0, size=int(rng.integers(1, 30))), "alpha": float(rng.uniform(0.1, 2.0))}


def _random_gradient(rng: np.random.Generator) -> dict:
    g = rng.normal(0.0, 1.0, size=int(rng.integers(2, 20))) * 10.0 ** rng.uniform(-1, 3)
    return {"g": g, "max_norm": float(rng.uniform(0.5, 10.0))}


# Three layers of width 2 whose order matters: W1 W2 != W2 W1, and the z's differ per layer.
_THREE_LAYERS = {
    "weights": np.array([[[1.0, 2.0], [0.0, 1.0]], [[0.5, 0.0], [1.0, -1.0]], [[0.0, 1.0], [3.0, 0.5]]]),
    "pre_activations": np.array([[0.0, 1.0], [-0.5, 2.0], [0.3, 0.0]]),
    "grad_output": np.array([1.0, -2.0]),
}

EXERCISES = (
    Exercise(
        id="input_gradient",
        function="input_gradient",
        reference=input_gradient,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case(
                {
                    "weights": np.array([[[2.0, -1.0], [0.5, 1.0]]]),
                    "pre_activations": np.array([[0.0, 1.0]]),
                    "grad_output": np.array([1.0, 1.0]),
                    "residual": False,
                },
                "one layer: W^T (tanh'(z) * g)",
            ),
            Case({**_THREE_LAYERS, "residual": False}, "three layers (the order of the factors matters)"),
            Case({**_THREE_LAYERS, "residual": True}, "the same three layers with residual connections"),
        ),
        random_case=_random_network,
        torch_inputs=True,
        hint="Start from g = grad_output and go from the last layer to the first: g <- W^T (tanh'(z) * g), "
        "with tanh'(z) = 1 - tanh(z)**2; with residual connections add the identity's share: g <- g + W^T (...).",
    ),
    Exercise(
        id="elu_derivative",
        function="elu_derivative",
        reference=elu_grad,
        points=2,
        chapter=_CHAPTER,
        public_cases=(
            Case({"x": np.array([-3.0, -1.0, 0.5, 2.0]), "alpha": 1.0}, "alpha = 1"),
            Case({"x": np.array([-0.2, 0.0, 0.2]), "alpha": 0.5}, "around the kink (x = 0 takes the left branch)"),
            Case({"x": np.array([-800.0, 800.0]), "alpha": 1.0}, "huge inputs (overflow?)"),
        ),
        random_case=_random_x_alpha,
        torch_inputs=True,
        hint="1 where x > 0, alpha * exp(x) elsewhere (torch.where); clamp x at 0 inside exp to avoid overflow.",
    ),
    Exercise(
        id="clip_by_norm",
        function="clip_by_norm",
        reference=clip_by_norm,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case({"g": np.array([0.9, 3.2, 150.0, -2.1, 0.3]), "max_norm": 5.0}, "the chapter's vector"),
            Case({"g": np.array([3.0, 4.0]), "max_norm": 10.0}, "already short enough: unchanged"),
            Case({"g": np.array([0.0, 0.0, 0.0]), "max_norm": 1.0}, "a zero gradient"),
        ),
        random_case=_random_gradient,
        torch_inputs=True,
        hint="Multiply g by min(1, max_norm / (||g||_2 + 1e-6)); torch.linalg.vector_norm gives ||g||_2.",
    ),
)
