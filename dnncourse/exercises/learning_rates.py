"""Exercises of the "Learning rates" chapter: warm-up then cosine as one function, how many samples
Adam's second moment is worth early on, reading a suggestion off a range-test curve, and the tuning
challenge.

The references of the first three are the library's :func:`dnncourse.schedules.warmup_cosine`,
:func:`dnncourse.schedules.ema_effective_samples` and :func:`dnncourse.range_test.steepest_lr`.

**The tuning challenge** is graded by outcome: the student's function takes no arguments and returns a
training configuration, a dictionary of plain names and numbers (the settings are in
:data:`CHALLENGE_SETTINGS`), for example::

    {"optimizer": "Momentum", "lr": 0.05, "beta": 0.9, "schedule": "cosine", "warmup_epochs": 1,
     "epochs": 10, "batch_size": 32}

:func:`score_configuration` checks it (known names, numbers in range, at most :data:`CHALLENGE_EPOCHS`
epochs), trains the chapter's model (a 64-64-64-10 ReLU MLP, in float64 on the CPU) on the digits with
the library's optimizers and schedules, and gives points by the validation accuracy it reaches
(:data:`CHALLENGE_THRESHOLDS`). One run takes well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from dnncourse import _validation as check
from dnncourse import optim, schedules
from dnncourse.exercises import Case, Exercise, Outcome
from dnncourse.lab import data, models, training
from dnncourse.range_test import steepest_lr
from dnncourse.schedules import ema_effective_samples, warmup_cosine

__all__ = [
    "EXERCISES",
    "CHALLENGE_EPOCHS",
    "CHALLENGE_THRESHOLDS",
    "CHALLENGE_SETTINGS",
    "REFERENCE_CONFIGURATION",
    "challenge_configuration",
    "train_configuration",
    "score_configuration",
]

CHAPTER = "04_learning_rates"


def _random_warmup_cosine(rng: np.random.Generator) -> dict:
    warmup_steps = int(rng.integers(0, 30))
    total_steps = warmup_steps + int(rng.integers(1, 300))
    eta_base = float(10 ** rng.uniform(-4, 0))
    return {
        "t": int(rng.integers(0, total_steps + 1)),
        "eta_base": eta_base,
        "warmup_steps": warmup_steps,
        "total_steps": total_steps,
        "eta_min": float(eta_base * rng.choice([0.0, rng.uniform(0.0, 0.1)])),
        "start_factor": float(rng.uniform(0.01, 1.0)),
    }


_WARMUP_COSINE = {"eta_base": 0.1, "warmup_steps": 10, "total_steps": 100, "eta_min": 0.0, "start_factor": 0.1}


def _random_effective_samples(rng: np.random.Generator) -> dict:
    return {"t": int(10 ** rng.uniform(0, 4.3)), "beta": float(1 - 10 ** rng.uniform(-4, -0.3))}


def _range_curve(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy range-test curve: flat, falling around a random learning rate, then diverging."""
    lrs = np.geomspace(10 ** rng.uniform(-6, -4), 10 ** rng.uniform(0, 1), n)
    center, width = 10 ** rng.uniform(-3, -1), rng.uniform(0.5, 1.5)  # where it falls, and how fast (ln units)
    start = rng.uniform(1.5, 2.5)
    falling = 1 / (1 + np.exp(-np.log(lrs / center) / width))  # from 0 to 1
    diverging = (lrs / (center * 10 ** rng.uniform(1, 2))) ** 2
    losses = (start * (1 - 0.9 * falling) + diverging) * np.exp(rng.normal(0.0, 0.05, size=n))
    return lrs, losses


def _random_range_curve(rng: np.random.Generator) -> dict:
    lrs, losses = _range_curve(rng, int(rng.integers(30, 120)))
    return {"lrs": lrs, "losses": losses, "beta": float(rng.choice([0.0, rng.uniform(0.3, 0.95)]))}


_SHORT_LRS = np.array([1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0])
_SHORT_LOSSES = np.array([2.3, 2.2, 1.5, 0.6, 0.5, 3.0])
_LONG_LRS, _LONG_LOSSES = _range_curve(np.random.default_rng(4), 80)

# --- the tuning challenge ------------------------------------------------------------------------------

CHALLENGE_EPOCHS = 10  # the budget: at most this many passes over the training data
CHALLENGE_THRESHOLDS = (  # (validation accuracy reached, share of the points), best first
    (0.96, 1.0),
    (0.94, 0.75),
    (0.90, 0.5),
    (0.80, 0.25),
)
SCHEDULES = ("constant", "step", "exponential", "cosine", "onecycle")
WARMUP_START_FACTOR = 0.1  # a warm-up ramps the rate linearly from a tenth of it

# Every setting a configuration may hold, and what it means.
CHALLENGE_SETTINGS = {
    "optimizer": f"one of {', '.join(repr(name) for name in optim.OPTIMIZERS)} (required)",
    "lr": "the learning rate (the peak rate for 'onecycle'), from 1e-5 to 10 (required)",
    "epochs": f"passes over the training data, 1 to {CHALLENGE_EPOCHS} (required)",
    "batch_size": "examples per mini-batch, 16 to 512 (default 64)",
    "beta": "the optimizer's beta: the momentum, RMSProp's decay or Adam's beta1 (default 0.9); not for SGD, AdaGrad",
    "schedule": f"one of {', '.join(repr(name) for name in SCHEDULES)} (default 'constant'), stepped every mini-batch",
    "warmup_epochs": "epochs of linear warm-up from lr / 10 before the schedule (default 0; not with 'onecycle')",
    "gamma": "'step': the factor at each decay (default 0.1); 'exponential': the factor per epoch (default 0.8)",
    "step_epochs": "'step': epochs between decays (default 3)",
    "min_lr": "'cosine': the rate at the end, from 0 to lr (default 0)",
    "pct_start": "'onecycle': the fraction of the steps spent rising, between 0 and 1 (default 0.3)",
}
_REQUIRED = ("optimizer", "lr", "epochs")
_SCHEDULE_SETTINGS = {  # the settings that belong to one schedule
    "step": ("gamma", "step_epochs"),
    "exponential": ("gamma",),
    "cosine": ("min_lr",),
    "onecycle": ("pct_start",),
}

REFERENCE_CONFIGURATION = {
    "optimizer": "Momentum",
    "lr": 0.05,
    "beta": 0.9,
    "schedule": "cosine",
    "warmup_epochs": 1,
    "epochs": 10,
    "batch_size": 32,
}


def reference_configuration() -> dict[str, Any]:
    """The reference answer of the challenge (its accuracy is reported to the instructor)."""
    return dict(REFERENCE_CONFIGURATION)


def challenge_configuration(config: Any) -> dict[str, Any]:
    """A challenge configuration checked and completed with the defaults; ``ValueError`` saying what is wrong."""
    if not isinstance(config, Mapping):
        raise ValueError(f"the function must return a dict of settings, got a {type(config).__name__}")
    unknown = sorted(str(name) for name in config if name not in CHALLENGE_SETTINGS)
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}; the settings are {', '.join(CHALLENGE_SETTINGS)}")
    for name in _REQUIRED:
        if name not in config:
            raise ValueError(f"the setting {name!r} is missing: {CHALLENGE_SETTINGS[name]}")
    info = optim.OPTIMIZERS[check.one_of("optimizer", config["optimizer"], optim.OPTIMIZERS)]
    schedule = check.one_of("schedule", config.get("schedule", "constant"), SCHEDULES)
    if info.beta is None and "beta" in config:
        raise ValueError(f"{info.name} has no beta: remove the setting 'beta'")
    for name in ("gamma", "step_epochs", "min_lr", "pct_start"):
        if name in config and name not in _SCHEDULE_SETTINGS.get(schedule, ()):
            raise ValueError(f"the setting {name!r} does not belong to the schedule {schedule!r}")
    epochs = check.integer("epochs", config["epochs"], 1, CHALLENGE_EPOCHS)
    lr = check.in_range("lr", config["lr"], 1e-5, 10.0)
    out = {
        "optimizer": info.name,
        "lr": lr,
        "epochs": epochs,
        "batch_size": check.integer("batch_size", config.get("batch_size", 64), 16, 512),
        "schedule": schedule,
        "warmup_epochs": check.integer("warmup_epochs", config.get("warmup_epochs", 0), 0, epochs - 1),
    }
    if info.beta is not None:
        out["beta"] = check.in_range("beta", config.get("beta", 0.9), *info.beta_range)
    if schedule == "onecycle" and out["warmup_epochs"] > 0:
        raise ValueError("'onecycle' has its own warm-up: remove the setting 'warmup_epochs'")
    if schedule == "step":
        out["gamma"] = check.in_range("gamma", config.get("gamma", 0.1), 0.0, 1.0, closed="right")
        out["step_epochs"] = check.integer("step_epochs", config.get("step_epochs", 3), 1, epochs)
    if schedule == "exponential":
        out["gamma"] = check.in_range("gamma", config.get("gamma", 0.8), 0.0, 1.0, closed="right")
    if schedule == "cosine":
        out["min_lr"] = check.in_range("min_lr", config.get("min_lr", 0.0), 0.0, lr)
    if schedule == "onecycle":
        out["pct_start"] = check.in_range("pct_start", config.get("pct_start", 0.3), 0.0, 1.0, closed="neither")
    return out


def _scheduler(config: Mapping[str, Any], optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    """The schedule of a checked configuration, in mini-batch steps (``None`` for a constant rate)."""
    total = config["epochs"] * steps_per_epoch
    warmup = config["warmup_epochs"] * steps_per_epoch
    schedule = config["schedule"]
    if schedule == "onecycle":
        return schedules.OneCycleLR(
            optimizer, max_lr=config["lr"], total_steps=total, pct_start=config["pct_start"], cycle_momentum=False
        )
    main = None
    if schedule == "step":
        main = schedules.StepLR(optimizer, step_size=config["step_epochs"] * steps_per_epoch, gamma=config["gamma"])
    elif schedule == "exponential":
        main = schedules.ExponentialLR(optimizer, gamma=config["gamma"] ** (1 / steps_per_epoch))
    elif schedule == "cosine":
        main = schedules.CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=config["min_lr"])
    if warmup == 0:
        return main
    ramp = schedules.LinearLR(optimizer, start_factor=WARMUP_START_FACTOR, total_iters=warmup)
    return ramp if main is None else schedules.SequentialLR(optimizer, [ramp, main], milestones=[warmup])


def train_configuration(config: Any, seed: int = 0) -> training.History:
    """Train the chapter's model on the digits with a challenge configuration (checked first).

    Float64 on the CPU, so that the accuracy it reaches is the same on every machine; ``seed`` draws the
    initial weights and the order of the mini-batches (the split of the data is fixed).
    """
    config = challenge_configuration(config)
    digits = data.load_digits()
    train_set = data.Dataset(digits.train.X.double(), digits.train.y, "digits")
    val_set = data.Dataset(digits.val.X.double(), digits.val.y, "digits")
    model = models.mlp(64, [64, 64], 10, seed=seed).double()
    optimizer = optim.make_optimizer(config["optimizer"], config["lr"], config.get("beta", 0.9))(model.parameters())
    steps_per_epoch = math.ceil(len(train_set) / config["batch_size"])
    return training.train(
        model,
        train_set,
        optimizer,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        val=val_set,
        device="cpu",
        seed=seed,
        scheduler=_scheduler(config, optimizer, steps_per_epoch),
        progress=False,
    )


def score_configuration(config: Any, seed: int) -> Outcome:
    """Check a configuration, train with it, and score the validation accuracy it reaches (the outcome)."""
    try:
        config = challenge_configuration(config)
    except ValueError as error:
        return Outcome(0.0, f"not trained: {error}")
    accuracy = train_configuration(config, seed).val_accuracy[-1]
    fraction = next((share for threshold, share in CHALLENGE_THRESHOLDS if accuracy >= threshold), 0.0)
    full = CHALLENGE_THRESHOLDS[0][0]
    reached = f"reached {accuracy:.1%} validation accuracy in {config['epochs']} epochs (seed {seed})"
    if fraction == 1.0:
        return Outcome(1.0, f"{reached}: at least {full:.0%}, full points", accuracy)
    return Outcome(fraction, f"{reached}: {fraction:.0%} of the points; {full:.0%} earns them all", accuracy)


# --- the exercises --------------------------------------------------------------------------------------

EXERCISES = (
    Exercise(
        id="warmup_cosine_lr",
        function="warmup_cosine_lr",
        reference=warmup_cosine,
        points=2,
        chapter=CHAPTER,
        public_cases=(
            Case({**_WARMUP_COSINE, "t": 0}, "the first step of the warm-up"),
            Case({**_WARMUP_COSINE, "t": 5}, "halfway through the warm-up"),
            Case({**_WARMUP_COSINE, "t": 10}, "the first step of the cosine"),
            Case({**_WARMUP_COSINE, "t": 55}, "halfway through the cosine"),
            Case({**_WARMUP_COSINE, "t": 100, "eta_min": 0.001}, "the end: eta_min"),
            Case({**_WARMUP_COSINE, "t": 25, "warmup_steps": 0, "total_steps": 50}, "no warm-up at all"),
        ),
        random_case=_random_warmup_cosine,
        n_random=6,
        rtol=1e-10,
        atol=1e-15,
        hint="For t < warmup_steps the factor grows linearly from start_factor (t = 0) towards 1 (t = warmup_steps); "
        "from then on it is a cosine from eta_base to eta_min that starts at step warmup_steps and lasts "
        "total_steps - warmup_steps steps: use t - warmup_steps inside it.",
    ),
    Exercise(
        id="effective_samples",
        function="effective_samples",
        reference=ema_effective_samples,
        points=2,
        chapter=CHAPTER,
        public_cases=(
            Case({"t": 1, "beta": 0.999}, "the first step"),
            Case({"t": 10, "beta": 0.999}, "step 10, Adam's beta2"),
            Case({"t": 20, "beta": 0.9}, "step 20, beta = 0.9"),
            Case({"t": 100000, "beta": 0.999}, "long after the start"),
        ),
        random_case=_random_effective_samples,
        rtol=1e-8,
        hint="With bias correction, v_hat_t = sum_k w_k g_k^2 with weights "
        "w_k = (1 - beta) beta^(t - k) / (1 - beta^t) that sum to 1. For independent samples "
        "Var(sum_k w_k x_k) = Var(x) sum_k w_k^2, and the mean of n samples has variance Var(x) / n: "
        "so n_eff = 1 / sum_k w_k^2 (a geometric series).",
    ),
    Exercise(
        id="steepest_lr",
        function="steepest_lr",
        reference=steepest_lr,
        points=3,
        chapter=CHAPTER,
        public_cases=(
            Case({"lrs": _SHORT_LRS, "losses": _SHORT_LOSSES, "beta": 0.0}, "six points, no smoothing"),
            Case({"lrs": _SHORT_LRS, "losses": _SHORT_LOSSES, "beta": 0.5}, "six points, smoothed"),
            Case({"lrs": _LONG_LRS, "losses": _LONG_LOSSES, "beta": 0.9}, "a noisy curve of 80 steps"),
        ),
        random_case=_random_range_curve,
        rtol=1e-12,
        hint="Smooth first: a = beta a + (1 - beta) loss_k (a starts at 0), smoothed_k = a / (1 - beta^k) with k "
        "counting from 1. Keep the points up to the lowest smoothed loss; the slope between points k and k + 1 is "
        "(smoothed[k+1] - smoothed[k]) / (ln lrs[k+1] - ln lrs[k]); return lrs[k] of the most negative slope.",
    ),
    Exercise(
        id="lr_challenge",
        function="training_configuration",
        reference=reference_configuration,
        points=5,
        chapter=CHAPTER,
        public_cases=(Case({}, "your configuration"),),
        outcome=score_configuration,
        hint="Start from a range test or from the chapter's comparison of schedules; with momentum, a warm-up "
        "and a cosine decay usually beat a constant rate. The settings: "
        + "; ".join(f"{name}: {text}" for name, text in CHALLENGE_SETTINGS.items()),
    ),
)
