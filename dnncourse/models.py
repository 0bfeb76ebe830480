"""Multi-layer perceptrons for every chapter, built by one function, :func:`mlp`.

A hidden block is ``Linear -> [norm] -> activation -> [dropout]`` (``norm_position="after"`` moves the
norm after the activation). With ``residual=True`` a block whose input and output widths agree computes
``x + block(x)``, the identity path of chapter 4. The output layer is a plain ``Linear``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["ACTIVATIONS", "Block", "MLP", "mlp", "count_parameters"]

# Activation names accepted by `mlp`. Chapter 4 implements each of them from scratch in
# `dnncourse.activations`; a factory such as `dnncourse.activations.ELU` can be passed instead of a name.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "identity": nn.Identity,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "rrelu": nn.RReLU,
    "prelu": nn.PReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
}

_NORMS: dict[str, Callable[[int], nn.Module]] = {
    "batch": nn.BatchNorm1d,
    "layer": nn.LayerNorm,
}

ModuleFactory = Callable[..., nn.Module]


def _activation_factory(activation: str | ModuleFactory) -> ModuleFactory:
    if callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or a module factory, got {activation!r}")
    return ACTIVATIONS[activation]


def _norm_factory(norm: str | ModuleFactory | None) -> ModuleFactory | None:
    if norm is None or callable(norm):
        return norm
    if norm not in _NORMS:
        raise ValueError(f"norm must be None, one of {sorted(_NORMS)} or a factory taking the width, got {norm!r}")
    return _NORMS[norm]


class Block(nn.Module):
    """One hidden layer: ``Linear -> [norm] -> activation -> [dropout]``, optionally with a skip connection."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: ModuleFactory,
        norm: ModuleFactory | None = None,
        norm_position: str = "before",
        dropout: float = 0.0,
        residual: bool = False,
        bias: bool = True,
    ):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        self.norm = norm(out_features) if norm is not None else nn.Identity()
        self.norm_position = norm_position
        self.activation = activation()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.residual = residual and in_features == out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, in) -> (batch, out)
        h = self.linear(x)
        if self.norm_position == "before":
            h = self.activation(self.norm(h))
        else:
            h = self.norm(self.activation(h))
        h = self.dropout(h)
        return x + h if self.residual else h


class MLP(nn.Module):
    """A stack of :class:`Block` s followed by a linear output layer ``head``."""

    def __init__(self, blocks: Sequence[Block], head: nn.Linear):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, in) -> (batch, out)
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    def hidden(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of every hidden block for input ``x``: the representations the network learned."""
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return outputs


def mlp(
    in_features: int,
    hidden: Sequence[int],
    out_features: int,
    activation: str | ModuleFactory = "relu",
    *,
    norm: str | ModuleFactory | None = None,
    norm_position: str = "before",
    dropout: float = 0.0,
    residual: bool = False,
    init: Callable[[torch.Tensor], object] | None = None,
    bias: bool = True,
) -> MLP:
    """Build an MLP ``in_features -> hidden[0] -> ... -> hidden[-1] -> out_features``.

    Args:
        in_features, out_features: input and output widths.
        hidden: the width of each hidden layer (empty for a linear model).
        activation: a name from :data:`ACTIVATIONS` or a factory returning an ``nn.Module``.
        norm: ``None``, ``"batch"``, ``"layer"`` or a factory taking the width (e.g. ``dnncourse.norm.BatchNorm1d``).
        norm_position: ``"before"`` (default) or ``"after"`` the activation.
        dropout: drop probability after each hidden activation, in [0, 1).
        residual: add a skip connection around each hidden block whose input and output widths agree.
        init: an in-place initializer applied to every ``Linear`` weight (e.g. ``dnncourse.init.kaiming_normal_``);
            biases are then set to zero. ``None`` keeps PyTorch's default initialization.
        bias: whether the linear layers have a bias (a bias before batch norm is redundant, chapter 6).
    """
    for name, value in (("in_features", in_features), ("out_features", out_features)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    hidden = list(hidden)
    if any(isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1 for w in hidden):
        raise ValueError(f"hidden must be a sequence of positive integers, got {hidden!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    if norm_position not in ("before", "after"):
        raise ValueError(f"norm_position must be 'before' or 'after', got {norm_position!r}")
    act = _activation_factory(activation)
    norm_f = _norm_factory(norm)
    in_features, out_features, hidden = int(in_features), int(out_features), [int(w) for w in hidden]
    widths = [in_features, *hidden]
    blocks = [
        Block(w_in, w_out, act, norm_f, norm_position, dropout, residual, bias)
        for w_in, w_out in zip(widths[:-1], widths[1:])
    ]
    model = MLP(blocks, nn.Linear(widths[-1], out_features, bias=bias))
    if init is not None:
        if not callable(init):
            raise ValueError(f"init must be an in-place initializer function or None, got {init!r}")
        for module in model.modules():
            if isinstance(module, nn.Linear):
                init(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
    return model


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of scalar parameters in ``model`` (only those with ``requires_grad`` by default)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
