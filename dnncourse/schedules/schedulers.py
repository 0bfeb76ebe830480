"""The schedules as ``torch.optim.lr_scheduler.LRScheduler`` classes, with PyTorch's names and arguments.

Each class computes the learning rate of step :math:`t` with the closed-form formula of
:mod:`dnncourse.schedules.formulas` (see :mod:`dnncourse.schedules` for what that changes).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from dnncourse import _validation as check
from dnncourse.schedules.formulas import (
    _anneal,
    _check_one_cycle,
    _milestones,
    _one_cycle_phase,
    cosine_annealing,
    exponential_decay,
    linear_warmup,
    multistep_decay,
    one_cycle,
    step_decay,
)

__all__ = [
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "OneCycleLR",
    "SequentialLR",
    "lr_curve",
]


# --- the schedulers ----------------------------------------------------------------------------------


class _ClosedForm(LRScheduler):
    """A schedule in closed form: ``get_lr()`` is :meth:`lr_at` of the current step ``t = last_epoch``.

    Subclasses set their attributes, then call ``super().__init__``, which checks the optimizer and
    ``last_epoch`` and sets the learning rate of step 0 (or of ``last_epoch + 1`` when resuming).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, last_epoch: int = -1):
        _check_optimizer(optimizer)
        if check.integer("last_epoch", last_epoch, -1) >= 0:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(
                        f"last_epoch={last_epoch} resumes a schedule, but param_groups[{i}] has no 'initial_lr' "
                        "(load the optimizer's state_dict first, or use last_epoch=-1 for a new schedule)"
                    )
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int) -> list[float]:
        """The learning rate of every parameter group at step ``t``."""
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        return self.lr_at(self.last_epoch)


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")


class StepLR(_ClosedForm):
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps (see :func:`step_decay`):

    .. math:: \\eta_t = \\eta_\\text{base}\\, \\gamma^{\\lfloor t / s \\rfloor}.

    Equals ``torch.optim.lr_scheduler.StepLR``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = check.integer("step_size", step_size, 1)
        self.gamma = check.positive("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int) -> list[float]:
        return [step_decay(t, eta_base, self.step_size, self.gamma) for eta_base in self.base_lrs]


class MultiStepLR(_ClosedForm):
    """Multiply the learning rate by ``gamma`` at each of the ``milestones`` (see :func:`multistep_decay`):

    .. math:: \\eta_t = \\eta_\\text{base}\\, \\gamma^{\\#\\{i \\,:\\, m_i \\le t\\}}.

    Equals ``torch.optim.lr_scheduler.MultiStepLR`` (a milestone listed twice counts twice). Goyal et
    al. (2017) train a ResNet-50 on ImageNet for 90 epochs this way, dividing the rate by 10 at epochs
    30, 60 and 80.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, milestones: Iterable[int], gamma: float = 0.1, last_epoch: int = -1
    ):
        self.milestones = _milestones(milestones)
        self.gamma = check.positive("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int) -> list[float]:
        return [multistep_decay(t, eta_base, self.milestones, self.gamma) for eta_base in self.base_lrs]


class ExponentialLR(_ClosedForm):
    """Multiply the learning rate by ``gamma`` at every step (see :func:`exponential_decay`):

    .. math:: \\eta_t = \\eta_\\text{base}\\, \\gamma^t.

    Equals ``torch.optim.lr_scheduler.ExponentialLR``, which computes the same numbers recursively
    (``lr ← γ lr``).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = check.positive("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int) -> list[float]:
        return [exponential_decay(t, eta_base, self.gamma) for eta_base in self.base_lrs]


class CosineAnnealingLR(_ClosedForm):
    """Cosine annealing from the base learning rate to ``eta_min`` over ``T_max`` steps (see
    :func:`cosine_annealing`):

    .. math::
        \\eta_t = \\eta_\\min + \\tfrac{1}{2}(\\eta_\\text{base} - \\eta_\\min)
        \\left(1 + \\cos\\frac{\\pi t}{T}\\right).

    Equals ``torch.optim.lr_scheduler.CosineAnnealingLR``, which applies the ratio of two consecutive
    values of this formula at every step (a recursion that reproduces it); past ``T_max`` both rise
    again with period ``2 T_max``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = check.integer("T_max", T_max, 1)
        self.eta_min = check.non_negative("eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int) -> list[float]:
        return [cosine_annealing(t, eta_base, self.T_max, self.eta_min) for eta_base in self.base_lrs]


class LinearLR(_ClosedForm):
    """Change the learning rate's factor linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` steps, then keep it (see :func:`linear_warmup`); a warm-up when ``start_factor < end_factor``:

    .. math:: \\eta_t = \\eta_\\text{base} \\left(s + (e - s)\\, \\frac{\\min(t, T_w)}{T_w}\\right).

    Equals ``torch.optim.lr_scheduler.LinearLR`` (same defaults: ``start_factor=1/3``, ``end_factor=1``,
    ``total_iters=5``; same ranges: ``start_factor`` in (0, 1], ``end_factor`` in [0, 1]).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ):
        self.start_factor = check.in_range("start_factor", start_factor, 0.0, 1.0, closed="right")
        self.end_factor = check.in_range("end_factor", end_factor, 0.0, 1.0)
        self.total_iters = check.integer("total_iters", total_iters, 1)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int) -> list[float]:
        return [
            linear_warmup(t, eta_base, self.start_factor, self.end_factor, self.total_iters)
            for eta_base in self.base_lrs
        ]


def _per_group(name: str, value: Any, optimizer: torch.optim.Optimizer) -> list[Any]:
    """One value per parameter group: a single value repeated, or a list with one per group."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} must have one value per parameter group ({n}), got {len(value)}: {value!r}")
        return list(value)
    return [value] * n


class OneCycleLR(_ClosedForm):
    """The one-cycle policy (Smith & Topin 2019), step by step equal to ``torch.optim.lr_scheduler.OneCycleLR``.

    The learning rate rises from :math:`\\eta_\\max / d` to :math:`\\eta_\\max` over the first
    ``pct_start`` of the ``total_steps`` (or ``epochs * steps_per_epoch``) steps, then anneals to
    :math:`\\eta_\\max / (d\\, d_\\text{final})`; see :func:`one_cycle` for the formula and ``three_phase``.
    ``max_lr`` replaces the optimizer's ``lr`` (which is ignored), one value or one per parameter group.

    With ``cycle_momentum`` (the default) the momentum moves the opposite way, from ``max_momentum`` down
    to ``base_momentum`` while the rate rises and back up while it falls: large steps with little
    momentum, small steps with much. It sets ``momentum`` (SGD with momentum, RMSProp) or
    :math:`\\beta_1` (Adam), so the optimizer must have one of them. Step it once per mini-batch; stepping
    past ``total_steps`` is an error, as in PyTorch.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ):
        _check_optimizer(optimizer)
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("give total_steps, or both epochs and steps_per_epoch")
            total_steps = check.integer("epochs", epochs, 1) * check.integer("steps_per_epoch", steps_per_epoch, 1)
        _check_one_cycle(total_steps, pct_start, anneal_strategy, bool(three_phase))
        self.total_steps = int(total_steps)
        self.pct_start = float(pct_start)
        self.anneal_strategy = anneal_strategy
        self.div_factor = check.positive("div_factor", div_factor)
        self.final_div_factor = check.positive("final_div_factor", final_div_factor)
        self.three_phase = bool(three_phase)
        self.max_lrs = [check.positive("max_lr", value) for value in _per_group("max_lr", max_lr, optimizer)]
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            self.use_beta1 = "betas" in optimizer.defaults
            if not self.use_beta1 and "momentum" not in optimizer.defaults:
                raise ValueError(
                    f"cycle_momentum=True needs an optimizer with a momentum or betas setting, "
                    f"got {type(optimizer).__name__} (pass cycle_momentum=False)"
                )
            self.max_momentums = [
                check.in_range("max_momentum", mu, 0.0, 1.0)
                for mu in _per_group("max_momentum", max_momentum, optimizer)
            ]
            self.base_momentums = [
                check.in_range("base_momentum", mu, 0.0, 1.0)
                for mu in _per_group("base_momentum", base_momentum, optimizer)
            ]
        if last_epoch == -1:
            # PyTorch keeps the three rates in the groups (so an optimizer's state_dict carries them).
            for eta_max, group in zip(self.max_lrs, optimizer.param_groups):
                group["initial_lr"] = eta_max / self.div_factor
                group["max_lr"] = eta_max
                group["min_lr"] = group["initial_lr"] / self.final_div_factor
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int) -> list[float]:
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR was stepped {t} times, past its total_steps={self.total_steps}")
        return [
            one_cycle(
                t,
                eta_max,
                self.total_steps,
                self.pct_start,
                self.anneal_strategy,
                self.div_factor,
                self.final_div_factor,
                self.three_phase,
            )
            for eta_max in self.max_lrs
        ]

    def momentum_at(self, t: int) -> list[float]:
        """The momentum (or :math:`\\beta_1`) of every parameter group at step ``t``: the cycle reversed."""
        phase, fraction = _one_cycle_phase(t, self.total_steps, self.pct_start, self.three_phase)
        momenta = []
        for mu_max, mu_base in zip(self.max_momentums, self.base_momentums):
            legs = [(mu_max, mu_base), (mu_base, mu_max), (mu_max, mu_max)]  # the third for three_phase
            momenta.append(_anneal(*legs[phase], fraction, self.anneal_strategy))
        return momenta

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if self.cycle_momentum:
            for mu, group in zip(self.momentum_at(t), self.optimizer.param_groups):
                if self.use_beta1:
                    group["betas"] = (mu, *group["betas"][1:])
                else:
                    group["momentum"] = mu
        return self.lr_at(t)


class SequentialLR(_ClosedForm):
    """Run schedules one after the other: the :math:`i`-th from ``milestones[i-1]`` on, counting its own
    steps from 0 there. Warm-up followed by cosine annealing is the common case::

        warmup = LinearLR(optimizer, start_factor=0.1, total_iters=T_w)
        cosine = CosineAnnealingLR(optimizer, T_max=T - T_w)
        scheduler = SequentialLR(optimizer, [warmup, cosine], milestones=[T_w])

    In closed form, with :math:`m_0 = 0` and :math:`i` the number of milestones :math:`\\le t`:
    :math:`\\eta_t = f_i(t - m_i)`. Equals ``torch.optim.lr_scheduler.SequentialLR``. The schedules must
    be the closed-form ones of this module, all on ``optimizer`` (:class:`OneCycleLR` has its own
    warm-up and is not chained); ``torch``'s ``SequentialLR`` also accepts this module's schedules.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedulers: Sequence[LRScheduler],
        milestones: Sequence[int],
        last_epoch: int = -1,
    ):
        _check_optimizer(optimizer)
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("schedulers must hold at least one schedule, got none")
        for i, scheduler in enumerate(schedulers):
            if not isinstance(scheduler, _ClosedForm) or isinstance(scheduler, (OneCycleLR, SequentialLR)):
                raise ValueError(
                    f"schedulers[{i}] must be a StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR or LinearLR "
                    f"of dnncourse.schedules, got {type(scheduler).__module__}.{type(scheduler).__name__}"
                )
            if scheduler.optimizer is not optimizer:
                raise ValueError(f"schedulers[{i}] schedules another optimizer than the one given")
        milestones = list(milestones)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"milestones must have one entry fewer than schedulers ({len(schedulers) - 1}), got {milestones!r}"
            )
        if _milestones(milestones) != milestones or len(set(milestones)) != len(milestones) or 0 in milestones:
            raise ValueError(f"milestones must be strictly increasing positive integers, got {milestones!r}")
        self._schedulers = schedulers
        self._milestones = [int(m) for m in milestones]
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int) -> list[float]:
        i = bisect_right(self._milestones, t)  # the schedule in charge at step t
        start = self._milestones[i - 1] if i > 0 else 0
        return self._schedulers[i].lr_at(t - start)

    def state_dict(self) -> dict[str, Any]:
        """The state of this schedule and of each chained one (without the optimizer), as in PyTorch."""
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [scheduler.state_dict() for scheduler in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        schedulers = state.pop("_schedulers")
        self.__dict__.update(state)
        for scheduler, scheduler_state in zip(self._schedulers, schedulers, strict=True):
            scheduler.load_state_dict(scheduler_state)


def lr_curve(
    make_scheduler: Callable[[torch.optim.Optimizer], LRScheduler], steps: int, lr: float = 1.0
) -> list[float]:
    """The learning rates :math:`\\eta_0, \\dots, \\eta_T` (``steps + 1`` of them) of a schedule, without training.

    ``make_scheduler(optimizer)`` builds the schedule on a throwaway optimizer (SGD with momentum 0.9 over
    one parameter, base learning rate ``lr``), which is then stepped ``steps`` times. Any
    ``LRScheduler`` works, PyTorch's too; for example ``lr_curve(lambda o: CosineAnnealingLR(o, 100), 100)``.
    """
    steps = check.integer("steps", steps, minimum=0)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=check.positive("lr", lr), momentum=0.9)
    scheduler = make_scheduler(optimizer)
    if not isinstance(scheduler, LRScheduler):
        raise ValueError(f"make_scheduler must return an LRScheduler, got {type(scheduler).__name__}")
    rates = [optimizer.param_groups[0]["lr"]]
    for _ in range(steps):
        optimizer.step()  # no gradients: changes nothing, but keeps the scheduler's order check quiet
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    return rates
