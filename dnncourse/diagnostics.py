"""Gradient-flow diagnostics: watch activations and gradients layer by layer (chapters 4 and 5).

:class:`GradientFlowInspector` is a context manager that attaches hooks to any ``nn.Module``:

* a forward hook on every *selected* layer (``nn.Linear`` by default) records the statistics of its
  output :math:`z^{(l)}`: mean, standard deviation and a histogram;
* a forward hook on every activation module (``nn.ReLU``, ``nn.Tanh``, the modules of
  :mod:`dnncourse.activations`, ...) records the statistics of :math:`a^{(l)} = \\phi(z^{(l)})`, credited to
  the selected layer that ran just before it, and the fraction of *dead* units: units whose output is
  exactly 0 for every example of the batch (a dead ReLU unit passes no gradient back);
* a tensor hook on each recorded output records the norm of :math:`\\partial L / \\partial z^{(l)}` when
  ``backward()`` runs, and a hook on each layer's weight records :math:`\\lVert \\partial L / \\partial W^{(l)} \\rVert_2`
  once its gradient is accumulated.

Every hook is removed when the ``with`` block ends, also when it ends with an exception::

    with GradientFlowInspector(model) as inspector:
        loss = loss_fn(model(x), y)
        loss.backward()
    inspector.plot_gradient_norms()

All recorded numbers are Python floats and NumPy arrays on the CPU, whatever the model's device.
If the model runs several times inside the block, the last run is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator
from torch import nn

__all__ = ["ACTIVATION_TYPES", "LayerStats", "GradientFlowInspector", "gradient_norms", "histogram"]

# Modules the inspector treats as activation functions (plus every module of dnncourse.activations).
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.RReLU, nn.PReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Softplus, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
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


def histogram(values: torch.Tensor, bins: int = 50, range: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
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
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
        layers = layers if isinstance(layers, tuple) else (layers,)
        if not layers or not all(isinstance(t, type) for t in layers):
            raise ValueError(f"layers must be a module type or a tuple of types, got {layers!r}")
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise ValueError(f"bins must be a positive integer, got {bins!r}")
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

    def _values(self, attribute: str) -> tuple[np.ndarray, np.ndarray]:
        rows = [(r.index + 1, getattr(r, attribute)) for r in self.stats() if getattr(r, attribute) is not None]
        depth = np.array([d for d, _ in rows], dtype=int)
        values = np.array([v for _, v in rows], dtype=float)
        return depth, values

    def plot_activation_stats(self, ax: Axes | None = None, *, which: str = "output", label: str | None = None,
                              color: str | None = None) -> Axes:
        """Mean (dashed) and standard deviation (solid) of each layer's output against depth.

        ``which="output"`` uses the selected layers' outputs :math:`z`; ``which="activation"`` the
        outputs of the activations that follow them.
        """
        if which not in ("output", "activation"):
            raise ValueError(f"which must be 'output' or 'activation', got {which!r}")
        prefix = "act" if which == "output" else "post"
        ax = ax if ax is not None else plt.gca()
        depth, std = self._values(f"{prefix}_std")
        _, mean = self._values(f"{prefix}_mean")
        tag = f"{label}: " if label else ""
        (line,) = ax.plot(depth, std, marker="o", ms=3, color=color, label=f"{tag}std")
        ax.plot(depth, mean, ls="--", marker="s", ms=3, color=line.get_color(), label=f"{tag}mean")
        ax.set_xlabel("layer (depth)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("activation statistic")
        ax.set_title("Layer outputs: mean and standard deviation" if which == "output" else "Activations: mean and standard deviation")
        ax.legend()
        return ax

    def plot_gradient_norms(self, ax: Axes | None = None, logy: bool = True, *, which: str = "weight",
                            label: str | None = None, color: str | None = None) -> Axes:
        """Per-layer gradient norm against depth: ``which="weight"`` plots :math:`\\lVert\\partial L/\\partial W^{(l)}\\rVert_2`,
        ``"output"`` plots :math:`\\lVert\\partial L/\\partial z^{(l)}\\rVert_2`, ``"both"`` plots both."""
        if which not in ("weight", "output", "both"):
            raise ValueError(f"which must be 'weight', 'output' or 'both', got {which!r}")
        ax = ax if ax is not None else plt.gca()
        color_used = color
        if which in ("weight", "both"):
            depth, norms = self._values("weight_grad_norm")
            text = label if which == "weight" else f"{label + ': ' if label else ''}weights"
            (line,) = ax.plot(depth, norms, marker="o", ms=3, color=color, label=text)
            color_used = line.get_color()
        if which in ("output", "both"):
            depth, norms = self._values("grad_norm")
            text = label if which == "output" else f"{label + ': ' if label else ''}layer outputs"
            ax.plot(depth, norms, marker="s", ms=3, ls="--" if which == "both" else "-", color=color_used, label=text)
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("layer (depth)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(r"$\|\partial L/\partial W^{(l)}\|_2$" if which == "weight" else "gradient norm")
        ax.set_title("Gradient norm per layer")
        if label is not None or which == "both":
            ax.legend()
        return ax

    def plot_dead_fraction(self, ax: Axes | None = None, *, label: str | None = None, color: str | None = None) -> Axes:
        """Fraction of dead units (zero on the whole batch) of each layer's activation, in percent."""
        ax = ax if ax is not None else plt.gca()
        depth, dead = self._values("dead_fraction")
        ax.plot(depth, 100 * dead, marker="o", ms=3, color=color, label=label)
        ax.set_xlabel("layer (depth)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("dead units (%)")
        ax.set_title("Dead units per layer")
        if label is not None:
            ax.legend()
        return ax

    def plot_histograms(self, ax: Axes | None = None, *, which: str = "activation", layers: list[int] | None = None,
                        density: bool = True, cmap: str = "viridis", legend: bool = True) -> Axes:
        """Overlaid per-layer histograms, coloured by depth (Glorot and Bengio's figure style).

        Args:
            which: ``"activation"`` (output of the activation after each layer, falling back to the
                layer output when none follows), ``"output"`` (layer outputs :math:`z`), ``"gradient"``
                (:math:`\\partial L/\\partial z`), ``"gradient_log10"`` (:math:`\\log_{10}\\lvert\\partial L/\\partial z\\rvert`
                over the non-zero entries: vanishing gradients show as a shift to the left) or
                ``"weight_gradient"`` (:math:`\\partial L/\\partial W`).
            layers: indices (0-based, as in ``LayerStats.index``) of the layers to draw; default all.
            density: normalise each histogram to unit area.
        """
        attributes = {"activation": "post_hist", "output": "act_hist", "gradient": "grad_hist",
                      "gradient_log10": "grad_log_hist", "weight_gradient": "weight_grad_hist"}
        if which not in attributes:
            raise ValueError(f"which must be one of {sorted(attributes)}, got {which!r}")
        ax = ax if ax is not None else plt.gca()
        records = [r for r in self.stats() if layers is None or r.index in layers]
        colors = plt.get_cmap(cmap)(np.linspace(0.0, 0.9, max(len(records), 1)))
        for record, c in zip(records, colors):
            hist = getattr(record, attributes[which])
            if hist is None and which == "activation":
                hist = record.act_hist
            if hist is None:
                continue
            counts, edges = hist
            heights = counts / max(counts.sum() * np.diff(edges).mean(), 1e-300) if density else counts
            ax.stairs(heights, edges, color=c, lw=1.5, label=f"layer {record.index + 1}")
        xlabels = {"activation": "activation value", "output": "layer output $z$", "gradient": r"$\partial L/\partial z$",
                   "gradient_log10": r"$\log_{10}|\partial L/\partial z|$", "weight_gradient": r"$\partial L/\partial W$"}
        ax.set_xlabel(xlabels[which])
        ax.set_ylabel("density" if density else "count")
        ax.set_title(f"Per-layer histograms ({which.replace('_', ' ')})")
        if legend and records:
            ax.legend(fontsize=7, ncol=2)
        return ax


def gradient_norms(model: nn.Module, norm_type: float = 2.0) -> dict[str, float]:
    """The norm of each parameter's current ``.grad`` (parameters without a gradient are left out)."""
    return {
        name: float(torch.linalg.vector_norm(p.grad.detach().float(), norm_type))
        for name, p in model.named_parameters()
        if p.grad is not None
    }
