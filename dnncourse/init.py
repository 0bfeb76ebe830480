"""Weight initializers: how the first weights are drawn, and why their scale matters (chapter 6).

Every function fills a tensor *in place* (its name ends in ``_``), under ``torch.no_grad()``, and returns
it, exactly like its namesake in ``torch.nn.init``, so either can be passed where the other is expected
(for instance ``dnncourse.lab.models.mlp(..., init=kaiming_normal_)``). The random ones take an optional
``generator``, which must live on the tensor's device (``dnncourse.generator(seed, tensor.device)``);
``None`` draws from PyTorch's global generator.

Notation (chapter 6). A weight ``W`` of a ``Linear`` layer has shape ``(n_out, n_in)``; a convolution
weight has shape ``(c_out, c_in, k_1, ..., k_d)``. With the receptive field size ``r = k_1 * ... * k_d``
(``r = 1`` for a linear layer)::

    fan_in  = c_in  * r      inputs summed by one output unit
    fan_out = c_out * r      outputs that one input unit feeds

A weighted sum ``y = sum_i w_i x_i`` of ``fan_in`` independent zero-mean terms has
``Var(y) = fan_in * Var(w) * Var(x)``. Each scheme picks ``Var(w)`` to keep a variance constant from layer to layer::

    scheme            Var(w)                             uniform bound a of U(-a, a)
    LeCun             1 / fan_in                         sqrt(3 / fan_in)
    Xavier / Glorot   gain^2 * 2 / (fan_in + fan_out)    gain * sqrt(6 / (fan_in + fan_out))
    He / Kaiming      gain^2 / fan_mode                  gain * sqrt(3 / fan_mode)
                      (ReLU, fan_in: 2 / fan_in)

A uniform ``U(-a, a)`` has variance ``a^2 / 3``, hence ``a = sqrt(3 Var(w))`` in the last column.

Two more tools of chapter 6: :func:`orthogonal_` draws a weight whose singular values are all equal
(Saxe et al., 2014), and :func:`variance_map` is the layer-to-layer map of the pre-activation variance,
``q_{l+1} = sigma_w^2 E[phi(z)^2]`` with ``z ~ N(0, q_l)``, whose fixed points say which variance a deep
network keeps.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from dnncourse import _validation as check

__all__ = [
    "calculate_fan_in_and_fan_out",
    "calculate_gain",
    "zeros_",
    "ones_",
    "constant_",
    "normal_",
    "uniform_",
    "lecun_normal_",
    "lecun_uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "orthogonal_",
    "variance_map",
    "SCHEMES",
    "init_model_",
]

# Layers whose weight `init_model_` re-initializes: their weight is (out, in, *kernel), as the fans assume.
# (Transposed convolutions store (in, out, *kernel) and are left alone.)
_WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

_LINEAR_NONLINEARITIES = ("linear", "identity", "conv1d", "conv2d", "conv3d", "sigmoid")


def calculate_fan_in_and_fan_out(tensor: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in)`` or ``(out, in, *kernel)``.

    ``fan_in = in * r`` and ``fan_out = out * r`` where ``r`` is the product of the kernel sizes
    (1 for a linear layer). A 1-D tensor (a bias) has no fans: ``ValueError``.
    """
    if tensor.dim() < 2:
        raise ValueError(
            f"tensor must have at least 2 dimensions (out, in, *kernel) to have a fan-in and fan-out, "
            f"got shape {tuple(tensor.shape)}"
        )
    n_out, n_in = tensor.shape[0], tensor.shape[1]
    r = math.prod(tensor.shape[2:])  # receptive field size: k_1 * ... * k_d (1 for a linear layer)
    fan_in = n_in * r
    fan_out = n_out * r
    return fan_in, fan_out


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain ``g`` that scales an initializer's standard deviation for the activation that follows.

    The same table as ``torch.nn.init.calculate_gain``:

    ====================================  ===================================
    nonlinearity                          gain
    ====================================  ===================================
    ``linear``, ``conv1d/2d/3d``,         ``1``
    ``identity``, ``sigmoid``
    ``tanh``                              ``5 / 3``
    ``relu``                              ``sqrt(2)`` (ReLU zeroes half of its inputs)
    ``leaky_relu`` (slope ``param``)      ``sqrt(2 / (1 + param^2))``, ``param`` defaults to 0.01
    ``selu``                              ``3 / 4`` (PyTorch's empirical choice; for self-normalizing
                                          networks use ``linear``, i.e. LeCun normal)
    ====================================  ===================================

    An unknown nonlinearity, or a non-numeric ``param``, raises ``ValueError``.
    """
    if nonlinearity in _LINEAR_NONLINEARITIES:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            param = 0.01
        param = check.number("param (the leaky_relu negative slope)", param)
        return math.sqrt(2.0 / (1.0 + param**2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    check.one_of("nonlinearity", nonlinearity, [*_LINEAR_NONLINEARITIES, "tanh", "relu", "leaky_relu", "selu"])
    raise AssertionError("unreachable: every known nonlinearity returned above")


def _fan(tensor: torch.Tensor, mode: str) -> int:
    check.one_of("mode", mode, ("fan_in", "fan_out"))
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _on_device(generator: torch.Generator | None, tensor: torch.Tensor) -> torch.Generator | None:
    """``generator`` if it draws on ``tensor``'s device (a CUDA tensor needs a CUDA generator)."""
    return check.generator_for(generator, tensor.device)


# ---------------------------------------------------------------------------------------------------
# Basic fills
# ---------------------------------------------------------------------------------------------------


def constant_(tensor: torch.Tensor, val: float) -> torch.Tensor:
    """Fill ``tensor`` with ``val``. Every unit of a layer then computes the same thing (chapter 6)."""
    with torch.no_grad():
        return tensor.fill_(val)


def zeros_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill ``tensor`` with 0 (the usual choice for biases, never for weights)."""
    return constant_(tensor, 0.0)


def ones_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill ``tensor`` with 1 (the usual choice for a normalization layer's scale)."""
    return constant_(tensor, 1.0)


def normal_(
    tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Fill ``tensor`` with samples of ``N(mean, std^2)`` (``std`` is the standard deviation, not the variance)."""
    std = check.non_negative("std", std)
    with torch.no_grad():
        return tensor.normal_(mean, std, generator=_on_device(generator, tensor))


def uniform_(
    tensor: torch.Tensor, a: float = 0.0, b: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Fill ``tensor`` with samples of ``U(a, b)``: mean ``(a + b) / 2``, variance ``(b - a)^2 / 12``."""
    if not a <= b:
        raise ValueError(f"the bounds must satisfy a <= b, got a={a!r}, b={b!r}")
    with torch.no_grad():
        return tensor.uniform_(a, b, generator=_on_device(generator, tensor))


# ---------------------------------------------------------------------------------------------------
# Variance-preserving schemes
# ---------------------------------------------------------------------------------------------------


def lecun_normal_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """LeCun normal: ``w ~ N(0, sigma^2)`` with ``sigma = sqrt(1 / fan_in)``.

    Keeps ``Var(y) = Var(x)`` through a linear layer (LeCun et al., 1998). It is the initialization of
    self-normalizing SELU networks (Klambauer et al., 2017); equal to ``kaiming_normal_`` with
    ``nonlinearity="linear"``.
    """
    fan_in, _ = calculate_fan_in_and_fan_out(tensor)
    sigma = math.sqrt(1.0 / fan_in)
    with torch.no_grad():
        return tensor.normal_(0.0, sigma, generator=_on_device(generator, tensor))


def lecun_uniform_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """LeCun uniform: ``w ~ U(-a, a)`` with ``a = sqrt(3 / fan_in)``, so that ``Var(w) = a^2 / 3 = 1 / fan_in``."""
    fan_in, _ = calculate_fan_in_and_fan_out(tensor)
    a = math.sqrt(3.0 / fan_in)
    with torch.no_grad():
        return tensor.uniform_(-a, a, generator=_on_device(generator, tensor))


def xavier_normal_(tensor: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Xavier/Glorot normal: ``w ~ N(0, sigma^2)`` with ``sigma = gain * sqrt(2 / (fan_in + fan_out))``.

    ``Var(w) = 2 / (fan_in + fan_out)`` is the compromise between keeping the forward variance
    (``Var(w) = 1 / fan_in``) and the backward variance (``Var(w) = 1 / fan_out``); Glorot & Bengio (2010).
    Use ``gain=calculate_gain("tanh")`` etc. to account for the activation, as ``torch.nn.init`` does.
    """
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    sigma = gain * math.sqrt(2.0 / (fan_in + fan_out))
    with torch.no_grad():
        return tensor.normal_(0.0, sigma, generator=_on_device(generator, tensor))


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Xavier/Glorot uniform: ``w ~ U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    The square root covers the whole fraction: ``Var(w) = a^2 / 3 = gain^2 * 2 / (fan_in + fan_out)``,
    the same variance as :func:`xavier_normal_` (Glorot & Bengio, 2010, their eq. 16).
    """
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return tensor.uniform_(-a, a, generator=_on_device(generator, tensor))


def kaiming_normal_(
    tensor: torch.Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """He/Kaiming normal: ``w ~ N(0, sigma^2)`` with ``sigma = gain / sqrt(fan_mode)``.

    For ReLU, ``gain = sqrt(2)`` and ``Var(w) = 2 / fan_in``: the factor 2 makes up for ReLU zeroing half
    of its inputs (He et al., 2015). ``mode="fan_in"`` (default) keeps the variance of the activations in
    the forward pass; ``mode="fan_out"`` keeps the variance of the gradients in the backward pass.
    ``a`` is the negative slope, used only with ``nonlinearity="leaky_relu"``. PyTorch's default
    ``nonlinearity="leaky_relu"`` with ``a=0`` gives the same ``gain = sqrt(2)``.
    """
    fan = _fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    sigma = gain / math.sqrt(fan)
    with torch.no_grad():
        return tensor.normal_(0.0, sigma, generator=_on_device(generator, tensor))


def kaiming_uniform_(
    tensor: torch.Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """He/Kaiming uniform: ``w ~ U(-bound, bound)`` with ``bound = gain * sqrt(3 / fan_mode)``.

    The same variance ``gain^2 / fan_mode`` as :func:`kaiming_normal_` (``2 / fan_in`` for ReLU).
    Arguments as in :func:`kaiming_normal_`.
    """
    fan = _fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = gain * math.sqrt(3.0 / fan)
    with torch.no_grad():
        return tensor.uniform_(-bound, bound, generator=_on_device(generator, tensor))


def orthogonal_(tensor: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """(Semi-)orthogonal initialization (Saxe et al., 2014): ``W = gain * Q`` with ``Q`` a random
    matrix with orthonormal columns (or rows, when there are fewer rows than columns).

    The weight is read as a matrix of shape ``(rows, cols) = (n_out, fan_in)`` (a convolution's kernel
    dimensions are flattened into the columns). ``Q`` comes from the QR factorization ``A = Q R`` of a
    matrix ``A`` with independent ``N(0, 1)`` entries, each column of ``Q`` multiplied by the sign of
    the matching diagonal entry of ``R``: that makes ``Q`` uniformly distributed over the matrices with
    orthonormal columns (Mezzadri, 2007), not merely orthogonal. Every nonzero singular value of ``W``
    is exactly ``gain``, so a product of such square layers (a deep linear network) has all its
    singular values equal to ``gain^L``: it neither shrinks nor stretches any direction.

    With the same ``generator`` state it draws the same tensor as ``torch.nn.init.orthogonal_``.
    """
    gain = check.number("gain", gain)
    if tensor.dim() < 2:
        raise ValueError(f"tensor must have at least 2 dimensions (out, in, *kernel), got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        return tensor
    generator = _on_device(generator, tensor)
    rows = tensor.shape[0]
    cols = tensor.numel() // rows  # fan_in: the kernel dimensions are flattened into the columns
    with torch.no_grad():
        A = tensor.new_empty((rows, cols)).normal_(0.0, 1.0, generator=generator)  # (rows, cols)
        if rows < cols:
            A = A.T  # (cols, rows): factorize the tall matrix, transpose back below
        Q, R = torch.linalg.qr(A)  # Q (m, k) with orthonormal columns, R (k, k) upper triangular
        Q = Q * torch.sign(torch.diagonal(R))  # column j times sign(R_jj): uniformly distributed Q
        if rows < cols:
            Q = Q.T  # (rows, cols) with orthonormal rows
        tensor.view_as(Q).copy_(Q)
        return tensor.mul_(gain)


def variance_map(
    q: float | torch.Tensor, phi: Callable[[torch.Tensor], torch.Tensor], sigma_w2: float = 1.0
) -> torch.Tensor:
    """The variance of the next layer's pre-activations: :math:`q_{l+1} = \\sigma_w^2\\,\\mathbb{E}[\\phi(z)^2]`,
    :math:`z \\sim \\mathcal{N}(0, q_l)`.

    ``q`` is the variance :math:`q_l` of layer ``l``'s pre-activations (a number or a tensor of them,
    each >= 0), ``phi`` the activation (a function of a tensor, e.g. ``dnncourse.activations.selu``),
    ``sigma_w2`` :math:`= \\mathrm{fan_{in}}\\,\\mathrm{Var}(w)`: 1 for LeCun, 2 for He, ``gain**2`` in
    general. It is the variance of a weighted sum of the layer's outputs with zero biases,
    :math:`\\mathrm{fan_{in}}\\,\\mathrm{Var}(w)\\,\\mathbb{E}[\\phi(z)^2]`, with ``z`` Gaussian, as it is in wide
    layers (Poole et al., 2016). A fixed point :math:`q^* = \\text{map}(q^*)` is a variance the network
    keeps with depth; it attracts nearby variances when the map's slope there is below 1.

    The expectation is computed in float64 by the trapezoidal rule over :math:`u = z/\\sqrt{q}` on
    [-12, 12] (24 001 points; the Gaussian weight beyond is below 1e-32). Returns a float64 tensor of
    ``q``'s shape.
    """
    sigma_w2 = check.non_negative("sigma_w2", sigma_w2)
    q = torch.as_tensor(q, dtype=torch.float64)
    if not bool(torch.all(torch.isfinite(q) & (q >= 0))):
        raise ValueError(f"q must hold finite variances >= 0, got {q}")
    u = torch.linspace(-12.0, 12.0, 24_001, dtype=torch.float64)  # (n,) standard normal grid
    density = torch.exp(-0.5 * u**2) / math.sqrt(2 * math.pi)  # (n,)
    z = torch.sqrt(q).unsqueeze(-1) * u  # (*q.shape, n): z = sqrt(q) u ~ N(0, q)
    second_moment = torch.trapezoid(phi(z) ** 2 * density, u, dim=-1)  # E[phi(z)^2], shape of q
    return sigma_w2 * second_moment


# ---------------------------------------------------------------------------------------------------
# A whole model
# ---------------------------------------------------------------------------------------------------

# Names accepted by `init_model_`; each maps (weight, nonlinearity, generator g) to an in-place initialization.
SCHEMES: dict[str, Callable[..., torch.Tensor]] = {
    "zeros": lambda w, nonlinearity, g=None: zeros_(w),
    "lecun_normal": lambda w, nonlinearity, g=None: lecun_normal_(w, generator=g),
    "lecun_uniform": lambda w, nonlinearity, g=None: lecun_uniform_(w, generator=g),
    "xavier_normal": lambda w, nonlinearity, g=None: xavier_normal_(w, calculate_gain(nonlinearity), generator=g),
    "xavier_uniform": lambda w, nonlinearity, g=None: xavier_uniform_(w, calculate_gain(nonlinearity), generator=g),
    "kaiming_normal": lambda w, nonlinearity, g=None: kaiming_normal_(w, nonlinearity=nonlinearity, generator=g),
    "kaiming_uniform": lambda w, nonlinearity, g=None: kaiming_uniform_(w, nonlinearity=nonlinearity, generator=g),
    "orthogonal": lambda w, nonlinearity, g=None: orthogonal_(w, calculate_gain(nonlinearity), generator=g),
}


def init_model_(
    model: nn.Module,
    scheme: str | Callable[[torch.Tensor], object],
    nonlinearity: str = "relu",
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Re-initialize every ``Linear`` and ``Conv1d/2d/3d`` weight of ``model``; set their biases to zero.

    ``scheme`` is a name from :data:`SCHEMES` (the Xavier, Kaiming and orthogonal schemes use the gain of
    ``nonlinearity``) or any in-place initializer ``scheme(weight)``, for instance
    ``functools.partial(normal_, std=0.01)``. A named scheme draws from ``generator`` (on the model's
    device; ``None``: PyTorch's global generator); a callable draws as it was written to. It is the
    PyTorch idiom ``model.apply(fn)``: ``apply`` calls ``fn`` on every sub-module (children first, then
    the model itself), and ``fn`` acts only on the layer types it knows. Returns ``model``.
    """
    if isinstance(scheme, str):
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {sorted(SCHEMES)} or a callable, got {scheme!r}")
        calculate_gain(nonlinearity)  # fail early, naming an unknown nonlinearity
        named = SCHEMES[scheme]

        def init_weight(weight: torch.Tensor) -> object:
            return named(weight, nonlinearity, generator)

    elif callable(scheme):
        if generator is not None:
            raise ValueError(
                "generator is used with a scheme name only; give the callable its own generator "
                f"(e.g. functools.partial(normal_, std=0.01, generator=g)), got scheme={scheme!r}"
            )
        init_weight = scheme
    else:
        raise ValueError(f"scheme must be a scheme name or a callable, got {scheme!r}")

    def init_layer(module: nn.Module) -> None:
        if isinstance(module, _WEIGHT_LAYERS):
            init_weight(module.weight)
            if module.bias is not None:
                zeros_(module.bias)

    return model.apply(init_layer)
