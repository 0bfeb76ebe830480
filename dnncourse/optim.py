"""Optimizers written the way the "Optimizers" chapter writes them: SGD, momentum, Nesterov, AdaGrad,
RMSProp, Adam and AdamW.

Each class is a ``torch.optim.Optimizer``, so it is a drop-in replacement for its PyTorch counterpart
(same constructor arguments, same numbers: the tests check that 50+ steps give the same parameters to
about 1e-12 in float64). Each ``step()`` reads like the chapter's algorithm box, with the chapter's
symbols as variable names:

=========== ======================================================================================
symbol      meaning
=========== ======================================================================================
``theta``   a parameter tensor :math:`\\theta` (updated in place)
``g``       its gradient :math:`g = \\nabla_\\theta J`
``lr``      the learning rate :math:`\\eta`
``v``       the velocity of momentum / Nesterov, or Adam's second moment (see each class)
``G``       AdaGrad's cache: the running *sum* of squared gradients
``r``       RMSProp's cache: the *leaky* (exponentially weighted) average of squared gradients
``m``       Adam's first moment (an EMA of gradients); ``m_hat``, ``v_hat`` the bias-corrected moments
``t``       the step counter, starting at 1
=========== ======================================================================================

The update is done with in-place tensor operations (``mul_``, ``add_``, ``addcmul_``, ``addcdiv_``),
so the readable version is also a fast version (see ``benchmarks/bench_optim.py``).

:data:`OPTIMIZERS` lists every optimizer by name, and :func:`make_optimizer` builds one from a name, a
learning rate and one "momentum-like" knob. (The pure one-step functions the chapter's exercises are
graded against, on NumPy arrays, are the exercises' references: :mod:`dnncourse.exercises.optimizers`.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from dnncourse import _validation as check

__all__ = [
    "SGD",
    "Momentum",
    "Nesterov",
    "AdaGrad",
    "RMSProp",
    "Adam",
    "AdamW",
    "OptimizerInfo",
    "OPTIMIZERS",
    "make_optimizer",
]

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


def _betas(betas: Any) -> tuple[float, float]:
    """Adam's pair of decay rates, each in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return (
        check.in_range("betas[0] (beta1)", betas[0], 0, 1, closed="left"),
        check.in_range("betas[1] (beta2)", betas[1], 0, 1, closed="left"),
    )


def _evaluate(closure: Callable[[], torch.Tensor] | None) -> torch.Tensor | None:
    """Re-evaluate the loss (with gradients enabled) when a closure is given, as ``torch.optim`` does."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


# --- plain gradient descent and momentum ----------------------------------------------------------


class SGD(torch.optim.Optimizer):
    """Stochastic gradient descent: :math:`\\theta \\leftarrow \\theta - \\eta\\, g`.

    With ``weight_decay`` :math:`\\lambda > 0` the gradient becomes :math:`g + \\lambda\\theta` (an L2
    penalty :math:`\\tfrac{\\lambda}{2}\\lVert\\theta\\rVert^2` added to the loss), as in
    ``torch.optim.SGD``. Equals ``torch.optim.SGD(params, lr, weight_decay=...)``.
    """

    def __init__(self, params: Params, lr: float = 1e-3, weight_decay: float = 0.0):
        check.non_negative("lr", lr)
        check.non_negative("weight_decay", weight_decay)
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = _evaluate(closure)
        for group in self.param_groups:
            lr, weight_decay = group["lr"], group["weight_decay"]
            for theta in group["params"]:
                if theta.grad is None:
                    continue
                g = theta.grad
                if weight_decay != 0:
                    g = g.add(theta, alpha=weight_decay)  # g ← g + λθ
                theta.add_(g, alpha=-lr)  # θ ← θ − η g
        return loss


class Momentum(torch.optim.Optimizer):
    """Gradient descent with (heavy-ball) momentum, in either of the two formulations in use.

    ``formulation="pytorch"`` (the default, as ``torch.optim.SGD(momentum=mu)``)::

        v ← μ v + (1 − dampening) g        (on the first step: v ← g)
        θ ← θ − η v

    ``formulation="textbook"`` (Polyak 1964; Sutskever et al. 2013; CS231n)::

        v ← μ v − η g                      (v starts at 0)
        θ ← θ + v

    The two are the same algorithm while the learning rate is constant: the textbook velocity is
    :math:`-\\eta` times the PyTorch one. They differ when :math:`\\eta` changes (a schedule): PyTorch's
    velocity is a sum of *gradients*, so a new :math:`\\eta` rescales the whole velocity at once,
    while the textbook velocity is a sum of *steps* taken with the old :math:`\\eta`, so it fades out
    at rate :math:`\\mu`. ``dampening`` (PyTorch only; default 0) scales the gradient's contribution to
    the velocity; PyTorch skips it on the very first step, and so does this class.

    With ``weight_decay`` the gradient becomes :math:`g + \\lambda\\theta` before anything else.
    State per parameter: ``v`` (the velocity). See chapter "Optimizers", section "Momentum".
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        momentum: float = 0.9,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        formulation: str = "pytorch",
    ):
        check.non_negative("lr", lr)
        check.non_negative("momentum", momentum)
        check.non_negative("weight_decay", weight_decay)
        check.in_range("dampening", dampening, 0, 1)
        check.one_of("formulation", formulation, ("pytorch", "textbook"))
        if formulation == "textbook" and dampening != 0:
            raise ValueError(f"dampening is part of the 'pytorch' formulation only, got dampening={dampening!r}")
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, formulation=formulation
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = _evaluate(closure)
        for group in self.param_groups:
            lr, mu, dampening = group["lr"], group["momentum"], group["dampening"]
            for theta in group["params"]:
                if theta.grad is None:
                    continue
                g = theta.grad
                if group["weight_decay"] != 0:
                    g = g.add(theta, alpha=group["weight_decay"])  # g ← g + λθ
                state = self.state[theta]
                if group["formulation"] == "pytorch":
                    if "v" not in state:
                        state["v"] = g.clone()  # v ← g on the first step
                    else:
                        state["v"].mul_(mu).add_(g, alpha=1 - dampening)  # v ← μ v + (1 − dampening) g
                    theta.add_(state["v"], alpha=-lr)  # θ ← θ − η v
                else:
                    if "v" not in state:
                        state["v"] = torch.zeros_like(theta)
                    v = state["v"]
                    v.mul_(mu).add_(g, alpha=-lr)  # v ← μ v − η g
                    theta.add_(v)  # θ ← θ + v
        return loss


class Nesterov(torch.optim.Optimizer):
    """Nesterov's accelerated gradient, in PyTorch's formulation (``torch.optim.SGD(nesterov=True)``).

    The look-ahead form (Nesterov 1983; Sutskever et al. 2013) evaluates the gradient at the point
    momentum is about to carry us to::

        v ← μ v − η ∇J(θ + μ v)
        θ ← θ + v

    An optimizer only sees the gradient at the current parameters, so PyTorch stores the look-ahead
    point itself as the parameter, :math:`\\phi = \\theta + \\mu v`. In that variable (and with the
    velocity measured in gradients, as in :class:`Momentum`) the update becomes::

        v ← μ v + g                        (on the first step: v ← g)
        θ ← θ − η (g + μ v)

    i.e. the step uses the gradient *plus* the momentum-decayed new velocity. The two forms visit the
    same points for a constant learning rate. With ``weight_decay``, :math:`g \\leftarrow g + \\lambda\\theta`.
    State per parameter: ``v``. See chapter "Optimizers", section "Nesterov momentum".
    """

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0):
        check.non_negative("lr", lr)
        check.positive("momentum", momentum)
        check.non_negative("weight_decay", weight_decay)
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = _evaluate(closure)
        for group in self.param_groups:
            lr, mu = group["lr"], group["momentum"]
            for theta in group["params"]:
                if theta.grad is None:
                    continue
                g = theta.grad
                if group["weight_decay"] != 0:
                    g = g.add(theta, alpha=group["weight_decay"])  # g ← g + λθ
                state = self.state[theta]
                if "v" not in state:
                    state["v"] = g.clone()  # v ← g on the first step
                else:
                    state["v"].mul_(mu).add_(g)  # v ← μ v + g
                theta.add_(g, alpha=-lr).add_(state["v"], alpha=-lr * mu)  # θ ← θ − η (g + μ v)
        return loss


# --- adaptive learning rates -----------------------------------------------------------------------


class AdaGrad(torch.optim.Optimizer):
    """AdaGrad (Duchi et al. 2011): a per-parameter learning rate from the sum of squared gradients::

        G ← G + g ⊙ g                      (G starts at initial_accumulator_value)
        θ ← θ − η g / (√G + ε)

    Equals ``torch.optim.Adagrad`` with ``lr_decay=0``. Like PyTorch, :math:`\\varepsilon` (default
    1e-10) is added *outside* the square root; some texts write :math:`\\sqrt{G + \\varepsilon}`, which
    differs only while :math:`G` is of the order of :math:`\\varepsilon^2`. Because :math:`G` only
    grows, the effective learning rate :math:`\\eta / (\\sqrt{G} + \\varepsilon)` only shrinks: for a
    gradient of constant size it decays like :math:`1/\\sqrt{t}`.
    With ``weight_decay``, :math:`g \\leftarrow g + \\lambda\\theta`. State per parameter: ``G``.
    See chapter "Optimizers", section "AdaGrad".
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ):
        check.non_negative("lr", lr)
        check.non_negative("weight_decay", weight_decay)
        check.non_negative("initial_accumulator_value", initial_accumulator_value)
        check.positive("eps", eps)
        defaults = dict(lr=lr, weight_decay=weight_decay, initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = _evaluate(closure)
        for group in self.param_groups:
            lr, eps = group["lr"], group["eps"]
            for theta in group["params"]:
                if theta.grad is None:
                    continue
                g = theta.grad
                if group["weight_decay"] != 0:
                    g = g.add(theta, alpha=group["weight_decay"])  # g ← g + λθ
                state = self.state[theta]
                if "G" not in state:
                    state["G"] = torch.full_like(theta, group["initial_accumulator_value"])
                G = state["G"]
                G.addcmul_(g, g)  # G ← G + g ⊙ g
                theta.addcdiv_(g, G.sqrt().add_(eps), value=-lr)  # θ ← θ − η g / (√G + ε)
        return loss


class RMSProp(torch.optim.Optimizer):
    """RMSProp (Hinton 2012): AdaGrad with a *leaky* cache, an exponential moving average of g²::

        r ← ρ r + (1 − ρ) g ⊙ g            (r starts at 0)
        θ ← θ − η g / (√r + ε)

    Equals ``torch.optim.RMSprop``, which calls the decay :math:`\\rho` ``alpha`` (this class takes the
    same argument name, so it is a drop-in replacement). PyTorch's defaults are ``lr=0.01, alpha=0.99,
    eps=1e-8``; Hinton's lecture suggested :math:`\\rho = 0.9`. :math:`\\varepsilon` is added outside the
    square root, as in PyTorch (Goodfellow et al.'s algorithm box writes :math:`\\sqrt{\\delta + r}`).

    Two optional variants, also as in PyTorch:

    * ``momentum`` :math:`\\mu > 0`: a velocity of *scaled* steps, ``b ← μ b + g / (√r + ε)``,
      ``θ ← θ − η b``. This "RMSProp with momentum" is not Adam: it has no bias correction, and the
      momentum averages the already-scaled steps instead of the raw gradients.
    * ``centered=True``: also track the average gradient ``g_bar ← ρ g_bar + (1 − ρ) g`` and divide by
      the estimated standard deviation ``√(r − g_bar²) + ε`` instead of the root mean square.

    With ``weight_decay``, :math:`g \\leftarrow g + \\lambda\\theta`. State per parameter: ``r`` (and
    ``b``, ``g_bar`` for the variants). See chapter "Optimizers", section "RMSProp".
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ):
        check.non_negative("lr", lr)
        check.in_range("alpha", alpha, 0, 1, closed="left")
        check.positive("eps", eps)
        check.non_negative("weight_decay", weight_decay)
        check.non_negative("momentum", momentum)
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=bool(centered)
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = _evaluate(closure)
        for group in self.param_groups:
            lr, rho, eps, mu = group["lr"], group["alpha"], group["eps"], group["momentum"]
            for theta in group["params"]:
                if theta.grad is None:
                    continue
                g = theta.grad
                if group["weight_decay"] != 0:
                    g = g.add(theta, alpha=group["weight_decay"])  # g ← g + λθ
                state = self.state[theta]
                if "r" not in state:
                    state["r"] = torch.zeros_like(theta)
                r = state["r"]
                r.mul_(rho).addcmul_(g, g, value=1 - rho)  # r ← ρ r + (1 − ρ) g ⊙ g
                if group["centered"]:
                    if "g_bar" not in state:
                        state["g_bar"] = torch.zeros_like(theta)
                    g_bar = state["g_bar"]
                    g_bar.mul_(rho).add_(g, alpha=1 - rho)  # g_bar ← ρ g_bar + (1 − ρ) g
                    denominator = r.addcmul(g_bar, g_bar, value=-1).sqrt_().add_(eps)  # √(r − g_bar²) + ε
                else:
                    denominator = r.sqrt().add_(eps)  # √r + ε
                if mu > 0:
                    if "b" not in state:
                        state["b"] = torch.zeros_like(theta)
                    b = state["b"]
                    b.mul_(mu).addcdiv_(g, denominator)  # b ← μ b + g / (√r + ε)
                    theta.add_(b, alpha=-lr)  # θ ← θ − η b
                else:
                    theta.addcdiv_(g, denominator, value=-lr)  # θ ← θ − η g / (√r + ε)
        return loss


class Adam(torch.optim.Optimizer):
    """Adam (Kingma & Ba 2014): bias-corrected moving averages of the gradient and of its square::

        t ← t + 1
        m ← β1 m + (1 − β1) g              (first moment, starts at 0)
        v ← β2 v + (1 − β2) g ⊙ g          (second moment, starts at 0)
        m_hat ← m / (1 − β1^t)             (bias corrections)
        v_hat ← v / (1 − β2^t)
        θ ← θ − η m_hat / (√v_hat + ε)

    Equals ``torch.optim.Adam`` (defaults ``lr=1e-3, betas=(0.9, 0.999), eps=1e-8``). As in the paper
    and in PyTorch, :math:`\\varepsilon` is added to :math:`\\sqrt{\\hat v}`, not under the square root.
    ``weight_decay`` :math:`\\lambda` adds :math:`\\lambda\\theta` to the gradient (an L2 penalty, which
    Adam then rescales per parameter); for decoupled weight decay use :class:`AdamW`.

    The step :math:`\\eta\\,\\hat m / \\sqrt{\\hat v}` does not depend on the scale of the gradients: it is
    exactly :math:`\\eta` for a constant gradient and typically about :math:`\\eta`, but not at most
    :math:`\\eta`: Kingma and Ba (Section 2.1) bound it by :math:`\\eta(1-\\beta_1)/\\sqrt{1-\\beta_2}`
    (about :math:`3.16\\eta` for the defaults) for a gradient that was zero before.
    State per parameter: ``t``, ``m``, ``v``. See chapter "Optimizers", section "Adam".
    """

    decoupled_weight_decay = False  # True in AdamW

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        check.non_negative("lr", lr)
        betas = _betas(betas)
        check.positive("eps", eps)
        check.non_negative("weight_decay", weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = _evaluate(closure)
        for group in self.param_groups:
            lr, eps = group["lr"], group["eps"]
            beta1, beta2 = group["betas"]
            for theta in group["params"]:
                if theta.grad is None:
                    continue
                g = theta.grad
                if group["weight_decay"] != 0 and self.decoupled_weight_decay:
                    theta.mul_(1 - lr * group["weight_decay"])  # θ ← θ − η λ θ (AdamW)
                elif group["weight_decay"] != 0:
                    g = g.add(theta, alpha=group["weight_decay"])  # g ← g + λθ (L2 penalty)
                state = self.state[theta]
                if "m" not in state:
                    state.update(t=0, m=torch.zeros_like(theta), v=torch.zeros_like(theta))
                m, v = state["m"], state["v"]
                state["t"] += 1
                t = state["t"]
                m.lerp_(g, 1 - beta1)  # m ← β1 m + (1 − β1) g
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)  # v ← β2 v + (1 − β2) g ⊙ g
                m_hat = m / (1 - beta1**t)
                v_hat = v / (1 - beta2**t)
                theta.addcdiv_(m_hat, v_hat.sqrt_().add_(eps), value=-lr)  # θ ← θ − η m_hat / (√v_hat + ε)
        return loss


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019): Adam with *decoupled* weight decay::

        θ ← θ − η λ θ                      (decay the weights directly, not through the gradient)
        then the Adam step of :class:`Adam` with the raw gradient g

    Equals ``torch.optim.AdamW`` (default ``weight_decay=1e-2``). With Adam's L2 penalty the decay
    term :math:`\\lambda\\theta` is divided by :math:`\\sqrt{\\hat v}` like the rest of the gradient, so
    weights with large gradients are barely decayed; AdamW shrinks every weight by the same factor.
    PyTorch (and this class) multiply the decay by the learning rate :math:`\\eta`; the paper multiplies
    it by the schedule multiplier :math:`\\eta_t` only, so a paper's :math:`\\lambda` and PyTorch's differ
    by a factor of the base learning rate. The one line that differs from Adam sits in
    :meth:`Adam.step`, chosen by the class attribute ``decoupled_weight_decay``.
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


# --- the table of optimizers -----------------------------------------------------------------------


@dataclass(frozen=True)
class OptimizerInfo:
    """One optimizer of this module and its "momentum-like" hyper-parameter :math:`\\beta`, if it has one.

    ``beta`` names the constructor argument that :math:`\\beta` sets (``"betas[0]"`` is Adam's
    :math:`\\beta_1`, with :math:`\\beta_2 = 0.999`), ``beta_label`` says what it means, and
    ``beta_range`` is the closed interval of values the explorer offers: the optimizer accepts all of them.
    """

    name: str
    cls: type[torch.optim.Optimizer]
    beta: str | None = None
    beta_label: str | None = None
    beta_range: tuple[float, float] = (0.0, 0.99)


# The one optimizer table of the library: name -> OptimizerInfo (read by make_optimizer and the explorer).
OPTIMIZERS: dict[str, OptimizerInfo] = {
    info.name: info
    for info in (
        OptimizerInfo("SGD", SGD),
        OptimizerInfo("Momentum", Momentum, "momentum", "momentum μ"),
        OptimizerInfo("Nesterov", Nesterov, "momentum", "momentum μ", (0.01, 0.99)),  # needs μ > 0
        OptimizerInfo("AdaGrad", AdaGrad),
        OptimizerInfo("RMSProp", RMSProp, "alpha", "decay ρ"),
        OptimizerInfo("Adam", Adam, "betas[0]", "β1 (β2 = 0.999)"),
        OptimizerInfo("AdamW", AdamW, "betas[0]", "β1 (β2 = 0.999)"),
    )
}


def make_optimizer(name: str, lr: float, beta: float = 0.9) -> Callable[[Params], torch.optim.Optimizer]:
    """A factory ``params -> optimizer`` for the optimizer of :data:`OPTIMIZERS` called ``name``.

    ``beta`` sets the optimizer's :math:`\\beta` (:attr:`OptimizerInfo.beta`): the momentum :math:`\\mu` of
    Momentum and Nesterov, the decay :math:`\\rho` of RMSProp, :math:`\\beta_1` of Adam and AdamW (with
    :math:`\\beta_2 = 0.999`); SGD and AdaGrad ignore it. The other hyper-parameters keep their defaults.
    The settings are checked at once (a ``ValueError`` here, not when the factory is called). The factory
    is what :func:`dnncourse.lab.trajectories.run` takes.
    """
    info = OPTIMIZERS[check.one_of("name", name, OPTIMIZERS)]
    kwargs: dict[str, Any] = {"lr": lr}
    if info.beta == "betas[0]":
        kwargs["betas"] = (beta, 0.999)
    elif info.beta is not None:
        kwargs[info.beta] = beta

    def factory(params: Params) -> torch.optim.Optimizer:
        return info.cls(params, **kwargs)

    factory([torch.zeros(1, requires_grad=True)])  # fails now, naming the bad setting, if one is out of range
    return factory
