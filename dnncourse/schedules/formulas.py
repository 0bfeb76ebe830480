"""The learning-rate formulas of the "Learning rates" chapter: :math:`\\eta_t` for one step, no optimizer.

Each function is the closed form of one schedule (see :mod:`dnncourse.schedules` for the symbols); the
classes of :mod:`dnncourse.schedules.schedulers` call them, and the chapter's exercises are graded
against them.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable
from numbers import Integral
from typing import Any

from dnncourse import _validation as check

__all__ = [
    "step_decay",
    "multistep_decay",
    "exponential_decay",
    "cosine_annealing",
    "linear_warmup",
    "warmup_cosine",
    "one_cycle",
    "ema_effective_samples",
]


# --- argument checks ---------------------------------------------------------------------------------


def _step(t: Any) -> int:
    return check.integer("t", t, minimum=0)


def _milestones(milestones: Iterable[int]) -> list[int]:
    """The milestones, sorted; each an integer >= 0 (a repeated one counts twice, as in PyTorch)."""
    try:
        values = list(milestones)
    except TypeError:
        raise ValueError(f"milestones must be a sequence of integers >= 0, got {milestones!r}") from None
    for value in values:
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
            raise ValueError(f"milestones must be a sequence of integers >= 0, got {milestones!r}")
    return sorted(int(value) for value in values)


# --- the formulas: eta_t for one step ------------------------------------------------------------------


def step_decay(t: int, eta_base: float, step_size: int, gamma: float = 0.1) -> float:
    """Step decay: multiply by :math:`\\gamma` every ``step_size`` steps.

    .. math:: \\eta_t = \\eta_\\text{base}\\, \\gamma^{\\lfloor t / s \\rfloor}, \\quad s = \\texttt{step\\_size}.
    """
    _step(t)
    check.integer("step_size", step_size, 1)
    check.positive("gamma", gamma)
    return eta_base * gamma ** (t // step_size)


def multistep_decay(t: int, eta_base: float, milestones: Iterable[int], gamma: float = 0.1) -> float:
    """Step decay at chosen steps: multiply by :math:`\\gamma` at each milestone :math:`m_i` passed.

    .. math:: \\eta_t = \\eta_\\text{base}\\, \\gamma^{\\#\\{i \\,:\\, m_i \\le t\\}}

    A milestone listed twice counts twice, as in PyTorch.
    """
    _step(t)
    milestones = _milestones(milestones)
    check.positive("gamma", gamma)
    return eta_base * gamma ** bisect_right(milestones, t)


def exponential_decay(t: int, eta_base: float, gamma: float) -> float:
    """Exponential decay: multiply by :math:`\\gamma` at every step, :math:`\\eta_t = \\eta_\\text{base}\\, \\gamma^t`.

    :math:`\\gamma > 1` makes the rate grow exponentially instead (the range test's sweep).
    """
    _step(t)
    check.positive("gamma", gamma)
    return eta_base * gamma**t


def cosine_annealing(t: int, eta_base: float, T_max: int, eta_min: float = 0.0) -> float:
    """Cosine annealing (Loshchilov & Hutter, SGDR) from :math:`\\eta_\\text{base}` down to :math:`\\eta_\\min`:

    .. math::
        \\eta_t = \\eta_\\min + \\tfrac{1}{2}(\\eta_\\text{base} - \\eta_\\min)
        \\left(1 + \\cos\\frac{\\pi t}{T}\\right), \\quad T = \\texttt{T\\_max}.

    It starts flat (the rate stays near its base for the first steps), falls fastest at :math:`t = T/2`
    and lands flat on :math:`\\eta_\\min` at :math:`t = T`. Past :math:`T` the formula (and PyTorch's
    ``CosineAnnealingLR``) rises again, with period :math:`2T`; schedules normally end at :math:`T`.
    """
    _step(t)
    check.integer("T_max", T_max, 1)
    check.non_negative("eta_min", eta_min)
    return eta_min + (eta_base - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2


def linear_warmup(
    t: int, eta_base: float, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5
) -> float:
    """A linear ramp of the factor from ``start_factor`` :math:`s` to ``end_factor`` :math:`e` over
    :math:`T_w` = ``total_iters`` steps, then constant (PyTorch's ``LinearLR``; a warm-up when :math:`s < e`):

    .. math:: \\eta_t = \\eta_\\text{base} \\left(s + (e - s)\\, \\frac{\\min(t, T_w)}{T_w}\\right).
    """
    _step(t)
    check.in_range("start_factor", start_factor, 0.0, 1.0, closed="right")
    check.in_range("end_factor", end_factor, 0.0, 1.0)
    check.integer("total_iters", total_iters, 1)
    return eta_base * (start_factor + (end_factor - start_factor) * min(t, total_iters) / total_iters)


def warmup_cosine(
    t: int,
    eta_base: float,
    warmup_steps: int,
    total_steps: int,
    eta_min: float = 0.0,
    start_factor: float = 0.1,
) -> float:
    """Linear warm-up for :math:`T_w` = ``warmup_steps`` steps, then cosine annealing to :math:`\\eta_\\min`
    at :math:`T` = ``total_steps``:

    .. math::
        \\eta_t = \\begin{cases}
        \\eta_\\text{base}\\,\\big(s + (1 - s)\\, t / T_w\\big) & t < T_w \\\\
        \\eta_\\min + \\tfrac12 (\\eta_\\text{base} - \\eta_\\min)
        \\big(1 + \\cos\\frac{\\pi (t - T_w)}{T - T_w}\\big) & t \\ge T_w
        \\end{cases}

    with :math:`s` = ``start_factor``. The same rates as ``SequentialLR([LinearLR(start_factor=s,
    total_iters=T_w), CosineAnnealingLR(T_max=T - T_w, eta_min=eta_min)], milestones=[T_w])``;
    ``warmup_steps=0`` is plain cosine annealing.
    """
    _step(t)
    warmup_steps = check.integer("warmup_steps", warmup_steps, 0)
    if check.integer("total_steps", total_steps, 1) <= warmup_steps:
        raise ValueError(f"total_steps must be larger than warmup_steps={warmup_steps}, got {total_steps!r}")
    if t < warmup_steps:
        return linear_warmup(t, eta_base, start_factor, 1.0, warmup_steps)
    return cosine_annealing(t - warmup_steps, eta_base, total_steps - warmup_steps, eta_min)


def _anneal(start: float, end: float, fraction: float, strategy: str) -> float:
    """From ``start`` (fraction 0) to ``end`` (fraction 1) along a half cosine or a straight line."""
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)
    return (end - start) * fraction + start


def _one_cycle_phase(t: int, total_steps: int, pct_start: float, three_phase: bool) -> tuple[int, float]:
    """The phase step ``t`` is in (0, 1 or 2) and how far through it (0 at its start, 1 at its end).

    Phase 1 ends at step :math:`t_\\text{peak} = pT - 1` (PyTorch's convention); the last phase ends at
    step :math:`T - 1`. Step :math:`T`, one past the end, continues the last phase's curve (as in PyTorch).
    """
    t_peak = pct_start * total_steps - 1  # where the learning rate peaks
    ends = [t_peak, 2 * t_peak, total_steps - 1] if three_phase else [t_peak, total_steps - 1]
    start = 0.0
    for phase, end in enumerate(ends):
        if t <= end or phase == len(ends) - 1:
            return phase, (t - start) / (end - start)
        start = end
    raise AssertionError("unreachable")


def _check_one_cycle(total_steps: int, pct_start: float, anneal_strategy: str, three_phase: bool) -> None:
    check.integer("total_steps", total_steps, 1)
    check.in_range("pct_start", pct_start, 0.0, 1.0)
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
    t_peak = pct_start * total_steps - 1
    last_start = 2 * t_peak if three_phase else t_peak
    # A peak before step 0 is allowed (the schedule then starts inside the decay, as in PyTorch), but a
    # phase of length exactly 0 that a step lands in would divide by zero: PyTorch raises
    # ZeroDivisionError at step 0 (peak at 0) or at step total_steps (last phase empty).
    if t_peak == 0 or last_start == total_steps - 1:
        raise ValueError(
            f"pct_start={pct_start!r} with total_steps={total_steps!r} leaves a phase of the cycle without steps "
            f"(the peak falls at step pct_start * total_steps - 1 = {t_peak:g}); change pct_start or total_steps"
        )


def one_cycle(
    t: int,
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> float:
    """The one-cycle policy (Smith & Topin, "super-convergence"), as in PyTorch's ``OneCycleLR``.

    Up from :math:`\\eta_\\max / d` (``div_factor`` :math:`d`) to :math:`\\eta_\\max` during the first
    fraction :math:`p` (``pct_start``) of the :math:`T` steps, then down to
    :math:`\\eta_\\min = \\eta_\\max / (d\\, d_\\text{final})`; each leg a half cosine (or a line). With
    ``three_phase`` the rate first comes back down to :math:`\\eta_\\max / d` symmetrically and a third
    leg anneals to :math:`\\eta_\\min`, as in Smith's paper.
    """
    _step(t)
    check.positive("max_lr", max_lr)
    _check_one_cycle(total_steps, pct_start, anneal_strategy, three_phase)
    if t > total_steps:
        raise ValueError(f"t must be at most total_steps={total_steps}, got {t}")
    eta_start = max_lr / check.positive("div_factor", div_factor)
    eta_min = eta_start / check.positive("final_div_factor", final_div_factor)
    legs = (
        [(eta_start, max_lr), (max_lr, eta_start), (eta_start, eta_min)]
        if three_phase
        else [
            (eta_start, max_lr),
            (max_lr, eta_min),
        ]
    )
    phase, fraction = _one_cycle_phase(t, total_steps, pct_start, three_phase)
    return _anneal(*legs[phase], fraction, anneal_strategy)


def ema_effective_samples(t: int, beta: float) -> float:
    """How many samples the bias-corrected moving average of step ``t`` is worth: why Adam needs warm-up.

    Adam's second moment :math:`\\hat v_t = \\sum_{k=1}^{t} w_k\\, g_k^2` weighs the squared gradients with
    :math:`w_k = (1 - \\beta)\\beta^{t-k} / (1 - \\beta^t)` (weights that sum to 1). For independent
    :math:`g_k^2` of variance :math:`s^2` its variance is :math:`s^2 \\sum_k w_k^2`, the variance of a plain
    mean of :math:`n_\\text{eff} = 1 / \\sum_k w_k^2` samples:

    .. math:: n_\\text{eff}(t) = \\frac{(1 + \\beta)(1 - \\beta^t)}{(1 - \\beta)(1 + \\beta^t)},

    1 at :math:`t = 1`, about :math:`t` while :math:`t \\ll 1/(1-\\beta)`, and
    :math:`(1 + \\beta)/(1 - \\beta)` in the limit (1999 for :math:`\\beta_2 = 0.999`). The chapter's exercise
    derives it; this is the reference.
    """
    t = check.integer("t", t, minimum=1)
    beta = check.in_range("beta", beta, 0.0, 1.0, closed="neither")
    return (1 + beta) * (1 - beta**t) / ((1 - beta) * (1 + beta**t))
