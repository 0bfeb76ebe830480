"""Activation functions with hand-written derivatives, and the same functions as ``nn.Module`` s (chapter 5).

Each function ``f`` comes with ``f_grad``, its derivative :math:`f'(x)` written out by hand (elementwise,
same shape, device and dtype as ``x``). The modules (``Sigmoid``, ``ReLU``, ``SELU``, ...) compute their
forward pass with these functions and let autograd differentiate it, so they can replace the
``torch.nn`` classes of the same name, e.g. ``dnncourse.lab.models.mlp(64, [32], 10, activation="elu")``.
:data:`ACTIVATIONS` is the one table of them: name -> module class, function, derivative and the
properties chapter 5 compares.

At a kink (``x = 0`` for the ReLU family) the derivative is a convention; we follow PyTorch's autograd:
ReLU'(0) = 0, LeakyReLU'(0) = RReLU'(0) = PReLU'(0) = the slope, ELU'(0) = alpha (the left branch),
SELU'(0) = lambda * alpha. The functions are written so that autograd, differentiating the modules,
gives exactly the hand-written derivative there too (the tests check it for every module).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from dnncourse import _validation as check

__all__ = [
    "sigmoid",
    "sigmoid_grad",
    "tanh",
    "tanh_grad",
    "relu",
    "relu_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "rrelu",
    "rrelu_grad",
    "prelu",
    "prelu_grad",
    "prelu_slope_grad",
    "elu",
    "elu_grad",
    "selu",
    "selu_grad",
    "gelu",
    "gelu_grad",
    "SELU_ALPHA",
    "SELU_LAMBDA",
    "ActivationModule",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "RReLU",
    "PReLU",
    "ELU",
    "SELU",
    "GELU",
    "ActivationInfo",
    "ACTIVATIONS",
]

# SELU's constants (Klambauer et al., 2017, eq. 14; the values torch.nn.SELU uses), chosen so that
# zero-mean unit-variance inputs give zero-mean unit-variance outputs.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946


# ---------------------------------------------------------------------------------------------------
# Functions and their derivatives
# ---------------------------------------------------------------------------------------------------
def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """:math:`\\sigma(x) = 1 / (1 + e^{-x})`, range (0, 1)."""
    return torch.sigmoid(x)  # numerically stable for large |x|


def sigmoid_grad(x: torch.Tensor) -> torch.Tensor:
    """:math:`\\sigma'(x) = \\sigma(x)\\,(1 - \\sigma(x)) \\le 1/4`, with equality at x = 0."""
    s = sigmoid(x)
    return s * (1 - s)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """:math:`\\tanh(x) = 2\\sigma(2x) - 1`, range (-1, 1)."""
    return torch.tanh(x)


def tanh_grad(x: torch.Tensor) -> torch.Tensor:
    """:math:`\\tanh'(x) = 1 - \\tanh^2(x) \\le 1`, with equality at x = 0."""
    return 1 - torch.tanh(x) ** 2


def relu(x: torch.Tensor) -> torch.Tensor:
    """:math:`\\max(0, x)`."""
    # Not torch.clamp(x, min=0): autograd differentiates clamp as 1 at x = 0, against relu_grad's 0.
    return torch.where(x > 0, x, 0.0)


def relu_grad(x: torch.Tensor) -> torch.Tensor:
    """1 for x > 0, else 0 (0 at the kink, like PyTorch)."""
    return (x > 0).to(x.dtype)


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """:math:`x` for x > 0, :math:`a x` otherwise (``a = negative_slope``, PyTorch's default 0.01)."""
    return torch.where(x > 0, x, negative_slope * x)


def leaky_relu_grad(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """1 for x > 0, ``negative_slope`` otherwise."""
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, negative_slope))


def rrelu(
    x: torch.Tensor,
    lower: float = 1 / 8,
    upper: float = 1 / 3,
    training: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Randomized leaky ReLU (Xu et al., 2015): ``x`` for x > 0, ``a * x`` otherwise.

    In training each element draws its own slope :math:`a \\sim U(\\text{lower}, \\text{upper})`, from
    ``generator`` (on ``x``'s device; ``None``: PyTorch's global generator); in evaluation the slope is
    the mean :math:`(\\text{lower} + \\text{upper}) / 2`, a leaky ReLU. PyTorch's defaults are
    lower = 1/8 and upper = 1/3.
    """
    if training:
        generator = check.generator_for(generator, x.device)
        a = torch.empty_like(x).uniform_(lower, upper, generator=generator)  # one slope per element
    else:
        a = (lower + upper) / 2
    return torch.where(x > 0, x, a * x)  # x > 0, not >=: the slope is the derivative at 0 too


def rrelu_grad(x: torch.Tensor, lower: float = 1 / 8, upper: float = 1 / 3) -> torch.Tensor:
    """Evaluation-mode derivative: 1 for x > 0, :math:`(\\text{lower} + \\text{upper})/2` otherwise.

    (In training the derivative at a negative input is the slope that element drew.)
    """
    return leaky_relu_grad(x, (lower + upper) / 2)


def _broadcast_slope(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape PReLU's slopes ``(C,)`` to broadcast over ``x`` of shape ``(N, C, ...)`` (channel dim 1)."""
    if a.numel() == 1:
        return a.reshape(())  # () broadcasts over everything
    if x.dim() < 2 or x.shape[1] != a.numel():
        raise ValueError(f"x must have {a.numel()} channels in dimension 1 for this PReLU, got shape {tuple(x.shape)}")
    return a.reshape(1, -1, *([1] * (x.dim() - 2)))  # (1, C, 1, ..., 1)


def prelu(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Parametric ReLU (He et al., 2015): ``x`` for x > 0, ``a * x`` otherwise, with a learned slope ``a``."""
    a = _broadcast_slope(a, x)
    return torch.where(x > 0, x, a * x)


def prelu_grad(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """:math:`\\partial f/\\partial x`: 1 for x > 0, ``a`` otherwise."""
    a = _broadcast_slope(a, x)
    return torch.where(x > 0, torch.ones_like(x), a.to(x.dtype).expand_as(x))


def prelu_slope_grad(x: torch.Tensor) -> torch.Tensor:
    """:math:`\\partial f/\\partial a = \\min(x, 0)` elementwise (sum it times the upstream gradient over the
    elements sharing a slope to get :math:`\\partial L/\\partial a`)."""
    return torch.clamp(x, max=0)


def elu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Exponential linear unit (Clevert et al., 2015): ``x`` for x > 0, :math:`\\alpha(e^x - 1)` otherwise."""
    return torch.where(x > 0, x, alpha * torch.expm1(torch.clamp(x, max=0)))


def elu_grad(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """1 for x > 0, :math:`\\alpha e^x` otherwise (= ELU(x) + alpha there)."""
    return torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(torch.clamp(x, max=0)))


def selu(x: torch.Tensor) -> torch.Tensor:
    """Scaled ELU (Klambauer et al., 2017): :math:`\\lambda\\,\\mathrm{ELU}_\\alpha(x)` with
    :math:`\\lambda \\approx 1.0507`, :math:`\\alpha \\approx 1.6733` (:data:`SELU_LAMBDA`, :data:`SELU_ALPHA`)."""
    return SELU_LAMBDA * elu(x, SELU_ALPHA)


def selu_grad(x: torch.Tensor) -> torch.Tensor:
    """:math:`\\lambda` for x > 0, :math:`\\lambda\\alpha e^x` otherwise."""
    return SELU_LAMBDA * elu_grad(x, SELU_ALPHA)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_CUBIC = 0.044715  # the cubic coefficient of the tanh approximation (Hendrycks and Gimpel, 2016)


def gelu(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """Gaussian error linear unit (Hendrycks and Gimpel, 2016): :math:`x\\,\\Phi(x)`.

    ``approximate="none"``: :math:`\\Phi(x) = \\tfrac12(1 + \\mathrm{erf}(x/\\sqrt2))` exactly;
    ``approximate="tanh"``: :math:`\\tfrac12 x (1 + \\tanh(\\sqrt{2/\\pi}(x + 0.044715 x^3)))`.
    """
    check.one_of("approximate", approximate, ("none", "tanh"))
    if approximate == "tanh":
        u = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x**3)
        return 0.5 * x * (1 + torch.tanh(u))
    Phi = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    return x * Phi


def gelu_grad(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """:math:`\\Phi(x) + x\\,\\varphi(x)` (exact), or the derivative of the tanh approximation:
    :math:`\\tfrac12(1 + t) + \\tfrac12 x (1 - t^2)\\sqrt{2/\\pi}(1 + 3 \\cdot 0.044715 x^2)`, :math:`t = \\tanh(u)`."""
    check.one_of("approximate", approximate, ("none", "tanh"))
    if approximate == "tanh":
        t = torch.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x**3))
        du_dx = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * x**2)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * du_dx
    Phi = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    phi = torch.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    return Phi + x * phi


# ---------------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------------
class ActivationModule(nn.Module):
    """Base class of the course's activation modules (the gradient-flow inspector recognises it)."""


class Sigmoid(ActivationModule):
    """Module form of :func:`sigmoid`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sigmoid(x)


class Tanh(ActivationModule):
    """Module form of :func:`tanh`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tanh(x)


class ReLU(ActivationModule):
    """Module form of :func:`relu`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return relu(x)


class LeakyReLU(ActivationModule):
    """Module form of :func:`leaky_relu` (default slope 0.01, like ``torch.nn.LeakyReLU``)."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = check.non_negative("negative_slope", negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class RReLU(ActivationModule):
    """Module form of :func:`rrelu`: random slopes in ``train()`` mode, the mean slope in ``eval()`` mode.

    The training-mode slopes are drawn from ``generator`` (a ``torch.Generator`` on the device of the
    inputs, e.g. ``dnncourse.generator(seed, device)``), or from PyTorch's global generator if ``None``.
    """

    def __init__(self, lower: float = 1 / 8, upper: float = 1 / 3, generator: torch.Generator | None = None):
        super().__init__()
        lower, upper = check.non_negative("lower", lower), check.non_negative("upper", upper)
        if lower > upper:
            raise ValueError(f"lower must be <= upper, got lower={lower!r}, upper={upper!r}")
        self.lower, self.upper, self.generator = lower, upper, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rrelu(x, self.lower, self.upper, training=self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"lower={self.lower:.4g}, upper={self.upper:.4g}"


class PReLU(ActivationModule):
    """Module form of :func:`prelu`: ``num_parameters`` learned slopes (1, or one per channel), starting at ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        super().__init__()
        self.num_parameters = check.integer("num_parameters", num_parameters, minimum=1)
        self.weight = nn.Parameter(torch.full((num_parameters,), float(init)))  # (C,) slopes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class ELU(ActivationModule):
    """Module form of :func:`elu` (default alpha = 1)."""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = check.non_negative("alpha", alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class SELU(ActivationModule):
    """Module form of :func:`selu`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return selu(x)


class GELU(ActivationModule):
    """Module form of :func:`gelu` (``approximate="none"`` or ``"tanh"``)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = check.one_of("approximate", approximate, ("none", "tanh"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


# ---------------------------------------------------------------------------------------------------
# The table: what chapter 5 tabulates and plots, and the names mlp(activation=...) accepts
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActivationInfo:
    """One activation: its module class, function and derivative, and the properties chapter 5 compares."""

    name: str
    module: type[ActivationModule]  # the class with default arguments builds the layer mlp() uses
    function: Callable[[torch.Tensor], torch.Tensor]  # what the module computes (default arguments)
    derivative: Callable[[torch.Tensor], torch.Tensor]  # the hand-written derivative of `function`
    output_range: str
    saturates: str  # where the derivative goes to 0
    cost: str  # what one evaluation needs


def _prelu_default(x: torch.Tensor) -> torch.Tensor:  # PReLU with its initial slope 0.25
    return prelu(x, torch.tensor(0.25, dtype=x.dtype, device=x.device))


def _prelu_default_grad(x: torch.Tensor) -> torch.Tensor:
    return prelu_grad(x, torch.tensor(0.25, dtype=x.dtype, device=x.device))


# The one activation table of the library: name -> ActivationInfo.
ACTIVATIONS: dict[str, ActivationInfo] = {
    info.name: info
    for info in (
        ActivationInfo("sigmoid", Sigmoid, sigmoid, sigmoid_grad, "(0, 1)", "both sides", "one exp"),
        ActivationInfo("tanh", Tanh, tanh, tanh_grad, "(-1, 1)", "both sides", "two exps"),
        ActivationInfo("relu", ReLU, relu, relu_grad, "[0, inf)", "x < 0 (dead)", "a comparison"),
        ActivationInfo("leaky_relu", LeakyReLU, leaky_relu, leaky_relu_grad, "(-inf, inf)", "never", "a comparison"),
        ActivationInfo("rrelu", RReLU, rrelu, rrelu_grad, "(-inf, inf)", "never", "a comparison (+ a random draw)"),
        ActivationInfo(
            "prelu",
            PReLU,
            _prelu_default,
            _prelu_default_grad,
            "(-inf, inf)",
            "never",
            "a comparison (+ a learned slope)",
        ),
        ActivationInfo("elu", ELU, elu, elu_grad, "(-1, inf)", "x -> -inf", "one exp for x < 0"),
        ActivationInfo("selu", SELU, selu, selu_grad, "(-1.758, inf)", "x -> -inf", "one exp for x < 0"),
        ActivationInfo("gelu", GELU, gelu, gelu_grad, "[-0.170, inf)", "x -> -inf", "an erf (or a tanh)"),
    )
}
