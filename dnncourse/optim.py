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

The module also has pure one-step functions (:func:`momentum_update`, :func:`rmsprop_update`,
:func:`adam_update`) that work on NumPy arrays or tensors and return new values instead of updating in
place: the chapter's exercises are graded against them. :func:`plot_training_runs` draws the chapter's
comparison of optimizers over several seeds (mean and spread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

__all__ = [
    "SGD",
    "Momentum",
    "Nesterov",
    "AdaGrad",
    "RMSProp",
    "Adam",
    "AdamW",
    "momentum_update",
    "rmsprop_update",
    "adam_update",
    "plot_training_runs",
]

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


# --- hyper-parameter validation -------------------------------------------------------------------


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def _non_negative(name: str, value: Any) -> None:
    if not _number(name, value) >= 0.0:  # also rejects NaN
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def _positive(name: str, value: Any) -> None:
    if not _number(name, value) > 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def _decay(name: str, value: Any) -> None:
    """A decay rate of an exponential moving average must lie in [0, 1)."""
    if not 0.0 <= _number(name, value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def _betas(betas: Any) -> None:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    _decay("betas[0] (beta1)", betas[0])
    _decay("betas[1] (beta2)", betas[1])


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
        _non_negative("lr", lr)
        _non_negative("weight_decay", weight_decay)
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
        _non_negative("lr", lr)
        _non_negative("momentum", momentum)
        _non_negative("weight_decay", weight_decay)
        if not 0.0 <= _number("dampening", dampening) <= 1.0:
            raise ValueError(f"dampening must be in [0, 1], got {dampening!r}")
        if formulation not in ("pytorch", "textbook"):
            raise ValueError(f"formulation must be 'pytorch' or 'textbook', got {formulation!r}")
        if formulation == "textbook" and dampening != 0:
            raise ValueError(f"dampening is part of the 'pytorch' formulation only, got dampening={dampening!r}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, formulation=formulation)
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
        _non_negative("lr", lr)
        _positive("momentum", momentum)
        _non_negative("weight_decay", weight_decay)
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
        _non_negative("lr", lr)
        _non_negative("weight_decay", weight_decay)
        _non_negative("initial_accumulator_value", initial_accumulator_value)
        _positive("eps", eps)
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
        _non_negative("lr", lr)
        _decay("alpha", alpha)
        _positive("eps", eps)
        _non_negative("weight_decay", weight_decay)
        _non_negative("momentum", momentum)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=bool(centered))
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
        _non_negative("lr", lr)
        _betas(betas)
        _positive("eps", eps)
        _non_negative("weight_decay", weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

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


# --- pure one-step functions (NumPy arrays or tensors in, new values out) ----------------------------


def momentum_update(theta, grad, v, lr: float, momentum: float):
    """One step of momentum in PyTorch's formulation, without modifying the inputs.

    ``v_new = momentum * v + grad`` and ``theta_new = theta - lr * v_new``; start with ``v = 0``
    (then the first step gives ``v_new = grad``, as in ``torch.optim.SGD``). Works on NumPy arrays and
    tensors of any (matching) shape. Returns ``(theta_new, v_new)``.
    """
    v_new = momentum * v + grad
    return theta - lr * v_new, v_new


def rmsprop_update(theta, grad, r, lr: float, rho: float, eps: float):
    """One step of RMSProp (as ``torch.optim.RMSprop`` with ``alpha=rho``), without modifying the inputs.

    ``r_new = rho * r + (1 - rho) * grad**2`` and ``theta_new = theta - lr * grad / (sqrt(r_new) + eps)``.
    Returns ``(theta_new, r_new)``.
    """
    r_new = rho * r + (1 - rho) * grad**2
    return theta - lr * grad / (r_new**0.5 + eps), r_new


def adam_update(theta, grad, m, v, t: int, lr: float, beta1: float, beta2: float, eps: float):
    """One step of Adam, without modifying the inputs; ``t`` is the number of this step (1, 2, ...).

    Returns ``(theta_new, m_new, v_new)``; ``m`` and ``v`` start at zero. Same math as :class:`Adam`.
    """
    m_new = beta1 * m + (1 - beta1) * grad
    v_new = beta2 * v + (1 - beta2) * grad**2
    m_hat = m_new / (1 - beta1**t)
    v_hat = v_new / (1 - beta2**t)
    return theta - lr * m_hat / (v_hat**0.5 + eps), m_new, v_new


# --- comparing optimizers over several seeds -----------------------------------------------------------


def plot_training_runs(
    runs: Mapping[str, Sequence[Any]],
    ax=None,
    *,
    x: str = "epoch",
    key: str = "train_loss",
    logy: bool = True,
):
    """Mean and spread of several training runs per optimizer: a line for the mean, a band min to max.

    Args:
        runs: optimizer name -> the :class:`~dnncourse.training.History` of each seed's run.
        x: ``"epoch"`` or ``"wall_time"`` (seconds since the start of training, averaged over the seeds:
            it varies from machine to machine, so plot it but do not print it).
        key: the per-epoch ``History`` list to draw, e.g. ``"train_loss"`` or ``"val_loss"``.
        logy: logarithmic loss axis.

    Returns the axes. Colours follow the course palette in the order of ``runs``.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if x not in ("epoch", "wall_time"):
        raise ValueError(f"x must be 'epoch' or 'wall_time', got {x!r}")
    if not runs or any(len(histories) == 0 for histories in runs.values()):
        raise ValueError("runs must map each optimizer name to a non-empty list of histories")
    ax = ax if ax is not None else plt.gca()
    for name, histories in runs.items():
        values = np.array([getattr(h, key) for h in histories], dtype=float)  # (seeds, epochs)
        if values.ndim != 2 or values.shape[1] == 0:
            raise ValueError(f"the histories of {name!r} have no (equally long) {key!r} lists")
        if x == "epoch":
            xs = np.arange(1, values.shape[1] + 1)
        else:
            xs = np.array([h.wall_time for h in histories], dtype=float).mean(axis=0)  # (epochs,)
        (line,) = ax.plot(xs, values.mean(axis=0), label=name)
        ax.fill_between(xs, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("epoch" if x == "epoch" else "wall time (s)")
    ax.set_ylabel(key.replace("_", " "))
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    return ax
