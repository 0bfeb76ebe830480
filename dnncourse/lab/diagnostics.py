"""Gradient-flow diagnostics: watch activations and gradients layer by layer (chapters 5 and 6).

:class:`GradientFlowInspector` is a context manager that attaches hooks to any ``nn.Module``:

* a forward hook on every *selected* layer (``nn.Linear`` by default) records the statistics of its
  output :math:`z^{(l)}`: mean, standard deviation and a histogram;
* a forward hook on every activation module (``nn.ReLU``, ``nn.Tanh``, the modules of
  :mod:`dnncourse.activations`, ...) records the statistics of :math:`a^{(l)} = \\phi(z^{(l)})`, credited to
  the selected layer that ran just before it, and the fraction of *dead* units: units whose output is
  exactly 0 for every example of the batch (a dead ReLU unit passes no gradient back);
* a tensor hook on each recorded output records the norm of :math:`\\partial L / \\partial z^{(l)}` when
  ``backward()`` runs, and a hook on each layer's weight records
  :math:`\\lVert \\partial L / \\partial W^{(l)} \\rVert_2` once its gradient is accumulated.

Every hook is removed when the ``with`` block ends, also when it ends with an exception::

    with GradientFlowInspector(model) as inspector:
        loss = loss_fn(model(x), y)
        loss.backward()
    viz.plot_gradient_norms(inspector)  # from dnncourse import viz

All recorded numbers are Python floats and NumPy arrays on the CPU, whatever the model's device.
If the model runs several times inside the block, the last run is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from dnncourse import _validation as check

__all__ = ["ACTIVATION_TYPES", "LayerStats", "GradientFlowInspector", "gradient_norms", "histogram"]

# Modules the inspector treats as activation functions (plus every module of dnncourse.activations).
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.RReLU,
    nn.PReLU,
    nn.ELU,
    nn.CELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Softplus,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
)


@dataclass
class LayerStats:
    """What the inspector recorded for one selected layer (``None``: not observed).

    ``act_*`` describe the layer's own output :math:`z` (for a ``Linear`` layer, the pre-activation);
    ``post_*`` and ``dead_fraction`` describe the output of the activation module that followed it.
    Histograms are ``(counts, edges)`` with ``len(edges) == len(counts) + 1``.
    """

    name: str  # qualified module name in the model, e.g. "blocks.3.linear"
    index: int  # position among the selected layers, in the order of model.named_modules()
    act_mean: float
    act_std: float
    act_hist: tuple[np.ndarray, np.ndarray]
    dead_fraction: float | None = None  # fraction of units of the next activation that are 0 on the whole batch
    grad_norm: float | None = None  # ||dL/dz||_2 over the batch, the gradient reaching the layer's output
    weight_grad_norm: float | None = None  # ||dL/dW||_2 of the layer's weight after backward
    post_mean: float | None = None  # mean of the following activation's output
    post_std: float | None = None
    post_hist: tuple[np.ndarray, np.ndarray] | None = None
    grad_hist: tuple[np.ndarray, np.ndarray] | None = None  # histogram of dL/dz
    grad_log_hist: tuple[np.ndarray, np.ndarray] | None = None  # histogram of log10|dL/dz| over non-zero entries
    weight_grad_hist: tuple[np.ndarray, np.ndarray] | None = None  # histogram of dL/dW
    activation: str | None = None  # class name of the following activation module
    extra: dict = field(default_factory=dict)


def histogram(
    values: torch.Tensor, bins: int = 50, range: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of a tensor as NumPy ``(counts, edges)``, ``len(edges) == bins + 1``.

    Computed on the CPU: ``torch.histc`` has no deterministic CUDA kernel, and the course runs with
    deterministic algorithms switched on.
    """
    v = values.detach().reshape(-1).float().cpu()  # (n,)
    v = v[torch.isfinite(v)]
    if range is None:
        lo, hi = (float(v.min()), float(v.max())) if v.numel() else (0.0, 1.0)
    else:
        lo, hi = float(range[0]), float(range[1])
        v = v.clamp(lo, hi)  # values outside the range go to the outermost bins
    if hi <= lo:  # a constant tensor: one centred bin of width 1
        lo, hi = lo - 0.5, hi + 0.5
    counts = torch.histc(v, bins=bins, min=lo, max=hi)
    edges = np.linspace(lo, hi, bins + 1)
    return counts.numpy().astype(np.int64), edges


def _first_tensor(output):
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


def _default_activation_types() -> tuple[type[nn.Module], ...]:
    from dnncourse.activations import ActivationModule  # the course's own activation modules

    return (*ACTIVATION_TYPES, ActivationModule)


class GradientFlowInspector:
    """Record per-layer activation and gradient statistics of ``model`` inside a ``with`` block.

    Args:
        model: any ``nn.Module``.
        layers: the module type(s) whose outputs are recorded (default ``nn.Linear``; use e.g.
            ``(nn.Linear, nn.Conv2d)``, or ``nn.Tanh`` to record activations directly).
        bins: number of histogram bins.
        hist_range: fixed ``(low, high)`` range for activation histograms (default: each tensor's min/max).
        activations: module types treated as activation functions (default :data:`ACTIVATION_TYPES`
            and the modules of :mod:`dnncourse.activations`).
    """

    def __init__(
        self,
        model: nn.Module,
        layers: type | tuple[type, ...] = nn.Linear,
        *,
        bins: int = 50,
        hist_range: tuple[float, float] | None = None,
        activations: tuple[type, ...] | None = None,
    ):
        check.module("model", model)
        layers = layers if isinstance(layers, tuple) else (layers,)
        if not layers or not all(isinstance(t, type) for t in layers):
            raise ValueError(f"layers must be a module type or a tuple of types, got {layers!r}")
        bins = check.integer("bins", bins, minimum=1)
        self.model = model
        self.layers = layers
        self.bins = bins
        self.hist_range = hist_range
        self.activations = tuple(activations) if activations is not None else _default_activation_types()
        self.selected = [(name, m) for name, m in model.named_modules() if isinstance(m, layers)]
        self._records: dict[str, LayerStats] = {}
        self._handles: list = []
        self._tensor_handles: list = []
        self._current: str | None = None  # the selected layer that ran last, waiting for its activation
        self._active = False

    # -- context manager -------------------------------------------------------------------------
    def __enter__(self) -> GradientFlowInspector:
        if self._active:
            raise RuntimeError("this GradientFlowInspector is already active")
        self._records.clear()
        index = {name: i for i, (name, _) in enumerate(self.selected)}
        self._handles.append(self.model.register_forward_pre_hook(self._start_forward))
        for name, module in self.model.named_modules():
            is_layer = name in index
            is_activation = isinstance(module, self.activations)
            if is_layer or is_activation:
                hook = self._make_forward_hook(name, index.get(name), is_layer, is_activation)
                self._handles.append(module.register_forward_hook(hook))
            if is_layer and isinstance(getattr(module, "weight", None), torch.Tensor) and module.weight.requires_grad:
                self._handles.append(module.weight.register_post_accumulate_grad_hook(self._make_weight_hook(name)))
        self._active = True
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook this inspector registered (called automatically at the end of ``with``)."""
        for handle in self._handles + self._tensor_handles:
            handle.remove()
        self._handles.clear()
        self._tensor_handles.clear()
        self._current = None
        self._active = False

    # -- hooks -----------------------------------------------------------------------------------
    def _start_forward(self, module, inputs) -> None:
        self._current = None
        for handle in self._tensor_handles:  # tensors of an earlier forward pass
            handle.remove()
        self._tensor_handles.clear()

    def _make_forward_hook(self, name: str, index: int | None, is_layer: bool, is_activation: bool):
        def hook(module, inputs, output):
            out = _first_tensor(output)
            if out is None:
                return
            if is_layer:
                self._record_layer(name, index, out)
            if is_activation:
                owner = name if is_layer else self._current
                if owner is not None and owner in self._records:
                    self._record_activation(self._records[owner], module, out)
                if not is_layer:
                    self._current = None  # one activation per selected layer

        return hook

    def _record_layer(self, name: str, index: int, z: torch.Tensor) -> None:
        zd = z.detach().float()
        record = LayerStats(
            name=name,
            index=index,
            act_mean=float(zd.mean()),
            act_std=float(zd.std()) if zd.numel() > 1 else 0.0,
            act_hist=histogram(zd, self.bins, self.hist_range),
        )
        previous = self._records.get(name)
        if previous is not None:  # keep the weight gradient of a layer called again
            record.weight_grad_norm, record.weight_grad_hist = previous.weight_grad_norm, previous.weight_grad_hist
        self._records[name] = record
        self._current = name
        if z.requires_grad:

            def grad_hook(grad: torch.Tensor) -> None:
                g = grad.detach().float()
                record.grad_norm = float(g.norm())
                record.grad_hist = histogram(g, self.bins)
                magnitude = g.abs().reshape(-1)  # (n,)
                record.grad_log_hist = histogram(torch.log10(magnitude[magnitude > 0]), self.bins)

            self._tensor_handles.append(z.register_hook(grad_hook))

    def _record_activation(self, record: LayerStats, module: nn.Module, a: torch.Tensor) -> None:
        ad = a.detach().float()
        record.activation = type(module).__name__
        record.post_mean = float(ad.mean())
        record.post_std = float(ad.std()) if ad.numel() > 1 else 0.0
        record.post_hist = histogram(ad, self.bins, self.hist_range)
        units = ad.reshape(ad.shape[0], -1) if ad.dim() > 1 else ad.reshape(1, -1)  # (batch, units)
        record.dead_fraction = float((units == 0).all(dim=0).float().mean())

    def _make_weight_hook(self, name: str):
        def hook(weight: torch.Tensor) -> None:
            record = self._records.get(name)
            if record is not None and weight.grad is not None:
                g = weight.grad.detach().float()
                record.weight_grad_norm = float(g.norm())
                record.weight_grad_hist = histogram(g, self.bins)

        return hook

    # -- results ---------------------------------------------------------------------------------
    def stats(self) -> list[LayerStats]:
        """One :class:`LayerStats` per selected layer that ran, in the order of ``model.named_modules()``."""
        return sorted(self._records.values(), key=lambda r: r.index)

    def by_depth(self, attribute: str) -> tuple[np.ndarray, np.ndarray]:
        """``(depth, values)`` of one :class:`LayerStats` field over the layers that have it (depth from 1).

        For example ``inspector.by_depth("weight_grad_norm")`` gives the per-layer gradient norms that
        :func:`dnncourse.viz.plot_gradient_norms` draws.
        """
        if attribute not in LayerStats.__dataclass_fields__:
            raise ValueError(f"attribute must be a field of LayerStats, got {attribute!r}")
        rows = [(r.index + 1, getattr(r, attribute)) for r in self.stats() if getattr(r, attribute) is not None]
        depth = np.array([d for d, _ in rows], dtype=int)
        values = np.array([v for _, v in rows], dtype=float)
        return depth, values


def gradient_norms(model: nn.Module, norm_type: float = 2.0) -> dict[str, float]:
    """The norm of each parameter's current ``.grad`` (parameters without a gradient are left out)."""
    return {
        name: float(torch.linalg.vector_norm(p.grad.detach().float(), norm_type))
        for name, p in model.named_parameters()
        if p.grad is not None
    }
