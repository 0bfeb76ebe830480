"""Multi-layer perceptrons for every chapter, built by one function, :func:`mlp`.

A hidden block is ``Linear -> [norm] -> activation -> [dropout]`` (``norm_position="after"`` moves the
norm after the activation). With ``residual=True`` a block whose input and output widths agree computes
``x + block(x)``, the identity path of chapter 5. The output layer is a plain ``Linear``.

Activations are named as in :data:`dnncourse.activations.ACTIVATIONS` (the course's own modules), so
``mlp(..., activation="relu")`` builds :class:`dnncourse.activations.ReLU` layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from dnncourse import _validation as check
from dnncourse.activations import ACTIVATIONS, ActivationInfo
from dnncourse.core import forked_rng

__all__ = ["Block", "MLP", "mlp", "count_parameters", "model_device"]

# Norm names accepted by `mlp`: PyTorch's layers (chapter 7 writes its own, `dnncourse.norm.BatchNorm1d`,
# which can be passed as a factory instead).
_NORMS: dict[str, Callable[[int], nn.Module]] = {
    "batch": nn.BatchNorm1d,
    "layer": nn.LayerNorm,
}

ModuleFactory = Callable[..., nn.Module]
Activation = str | ActivationInfo | ModuleFactory | None


def _activation_factory(activation: Activation) -> ModuleFactory:
    """The module factory of an activation given by name, by its :data:`ACTIVATIONS` entry, or directly."""
    if activation is None or activation == "identity":
        return nn.Identity  # no nonlinearity: a deep *linear* network (chapter 1)
    if isinstance(activation, str):
        return ACTIVATIONS[check.one_of("activation", activation, [*ACTIVATIONS, "identity"])].module
    if isinstance(activation, ActivationInfo):
        return activation.module
    if callable(activation):
        return activation
    raise ValueError(f"activation must be a name, an ACTIVATIONS entry, a module factory or None, got {activation!r}")


def _norm_factory(norm: str | ModuleFactory | None) -> ModuleFactory | None:
    if norm is None or callable(norm):
        return norm
    return _NORMS[check.one_of("norm", norm, _NORMS)]


def model_device(model: object, default: torch.device | str) -> torch.device:
    """The device of ``model``'s first parameter, or ``default`` for a model without parameters.

    ``model`` may be any callable (a lambda has no parameters).
    """
    parameters = getattr(model, "parameters", None)
    if callable(parameters):
        for p in parameters():
            return p.device
    return torch.device(default)


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
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=bias, dtype=dtype)
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
    activation: Activation = "relu",
    *,
    norm: str | ModuleFactory | None = None,
    norm_position: str = "before",
    dropout: float = 0.0,
    residual: bool = False,
    init: Callable[[torch.Tensor], object] | None = None,
    bias: bool = True,
    seed: int | None = None,
    dtype: torch.dtype | None = None,
) -> MLP:
    """Build an MLP ``in_features -> hidden[0] -> ... -> hidden[-1] -> out_features``.

    Args:
        in_features, out_features: input and output widths.
        hidden: the width of each hidden layer (empty for a linear model).
        activation: a name from :data:`dnncourse.activations.ACTIVATIONS` (the course's modules), an entry of
            that table, a factory returning an ``nn.Module`` (e.g. ``torch.nn.ReLU``), or ``None`` /
            ``"identity"`` for no nonlinearity.
        norm: ``None``, ``"batch"``, ``"layer"`` or a factory taking the width (e.g. ``dnncourse.norm.BatchNorm1d``).
        norm_position: ``"before"`` (default) or ``"after"`` the activation.
        dropout: drop probability after each hidden activation, in [0, 1).
        residual: add a skip connection around each hidden block whose input and output widths agree.
        init: an in-place initializer applied to every ``Linear`` weight (e.g. ``dnncourse.init.kaiming_normal_``);
            biases are then set to zero. ``None`` keeps PyTorch's default initialization.
        bias: whether the linear layers have a bias (a bias before batch norm is redundant, chapter 7).
        seed: draw the initial weights from a generator seeded with ``seed`` (PyTorch's global generator
            is left as it was); ``None`` draws them from the global generator.
        dtype: the floating-point dtype of the parameters (default: PyTorch's default dtype, float32). The
            initial weights are drawn in this dtype. PyTorch's vectorized random kernels can round a draw
            differently on different CPUs (by one unit in the last place); drawn in float64 that is a
            relative difference near 1e-16 rather than 1e-8, which stays invisible even in a training run
            that amplifies small differences (``mlp(...).double()`` would keep the float32 draws).

    The model is built on the CPU; move it with ``.to(device)``.
    """
    in_features = check.integer("in_features", in_features, minimum=1)
    out_features = check.integer("out_features", out_features, minimum=1)
    widths = [in_features] + [check.integer(f"hidden[{i}]", w, minimum=1) for i, w in enumerate(hidden)]
    check.in_range("dropout", dropout, 0, 1, closed="left")
    check.one_of("norm_position", norm_position, ("before", "after"))
    if init is not None and not callable(init):
        raise ValueError(f"init must be an in-place initializer function or None, got {init!r}")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating-point torch.dtype or None, got {dtype!r}")
    act, norm_f = _activation_factory(activation), _norm_factory(norm)

    def build() -> MLP:
        blocks = [
            Block(w_in, w_out, act, norm_f, norm_position, dropout, residual, bias, dtype)
            for w_in, w_out in zip(widths[:-1], widths[1:])
        ]
        model = MLP(blocks, nn.Linear(widths[-1], out_features, bias=bias, dtype=dtype))
        if dtype is not None:
            model.to(dtype)  # the norm layers' parameters and buffers too (the linear layers already are)
        if init is not None:
            for module in model.modules():
                if isinstance(module, nn.Linear):
                    init(module.weight)
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)
        return model

    if seed is None:
        return build()
    with forked_rng(seed):  # the CPU generator: the model is built on the CPU
        return build()


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of scalar parameters in ``model`` (only those with ``requires_grad`` by default)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
