"""Learning-rate schedules written the way the "Learning rates" chapter writes them.

A schedule sets the learning rate :math:`\\eta_t` of step :math:`t` from the *base* learning rate
:math:`\\eta_\\text{base}` (the optimizer's ``lr`` when the schedule is created). Each class here is a
``torch.optim.lr_scheduler.LRScheduler`` with the same name and arguments as its PyTorch counterpart, so
it is a drop-in replacement (the tests check that every step's learning rate equals PyTorch's to about
1e-12, for whole runs, several parameter groups and ``state_dict`` round trips). The difference is in how
they compute it: PyTorch updates most rates *recursively* (``lr ← lr · ratio``), which hides the formula;
here every class states it in closed form, :math:`\\eta_t = f(t)`, and its code is that formula.

=========================== =========================================================================
symbol                      meaning
=========================== =========================================================================
``t``                       the schedule's step counter, PyTorch's ``last_epoch``: 0 after the
                            schedule is created, +1 at every ``scheduler.step()``
``eta_base``                the base learning rate :math:`\\eta_\\text{base}` of a parameter group
                            (PyTorch's ``initial_lr``; ``self.base_lrs`` holds one per group)
``eta_min``, ``eta_max``    the lowest and the highest learning rate of a schedule
``gamma``                   a decay factor :math:`\\gamma`
``T_max``, ``total_steps``  the length :math:`T` of a cosine or one-cycle schedule, in steps
=========================== =========================================================================

Whether a "step" is an epoch or a mini-batch is the caller's choice: ``scheduler.step()`` once per
epoch gives a schedule in epochs, once per iteration one in iterations (``lab.training.train`` steps it
after every iteration).

Pure functions (:func:`step_decay`, :func:`exponential_decay`, :func:`cosine_annealing`,
:func:`linear_warmup`, :func:`warmup_cosine`, :func:`one_cycle`, ...) give :math:`\\eta_t` for one step
without an optimizer; the classes call them, and the chapter's exercises are graded against them.

Two consequences of the closed form, both documented where they matter: the learning rate depends only
on :math:`t` and the base learning rate, so a change that something else makes to ``group["lr"]``
between steps is overwritten at the next step (PyTorch's recursive forms would continue from it, which is
what ``ChainedScheduler`` relies on: chain these schedules with :class:`SequentialLR` instead); and
resuming with ``last_epoch=k`` gives :math:`\\eta_{k+1}` at once, as PyTorch's ``StepLR`` and
``MultiStepLR`` do, where PyTorch's recursive ``ExponentialLR``, ``CosineAnnealingLR`` and ``LinearLR``
keep the optimizer's current rate for one more step. ``state_dict`` / ``load_state_dict`` (the way
PyTorch recommends resuming) behave exactly like PyTorch's.
"""

from dnncourse.schedules.formulas import (
    cosine_annealing,
    ema_effective_samples,
    exponential_decay,
    linear_warmup,
    multistep_decay,
    one_cycle,
    step_decay,
    warmup_cosine,
)
from dnncourse.schedules.schedulers import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    MultiStepLR,
    OneCycleLR,
    SequentialLR,
    StepLR,
    lr_curve,
)

__all__ = [
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "OneCycleLR",
    "SequentialLR",
    "step_decay",
    "multistep_decay",
    "exponential_decay",
    "cosine_annealing",
    "linear_warmup",
    "warmup_cosine",
    "one_cycle",
    "ema_effective_samples",
    "lr_curve",
]
