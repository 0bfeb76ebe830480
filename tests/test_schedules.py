"""dnncourse.schedules: every step's learning rate equals torch.optim.lr_scheduler's for the same arguments."""

import io
import math
import warnings

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as torch_schedules

from dnncourse import optim, schedules

BASE_LRS = (0.1, 0.03, 1.0)  # three parameter groups with different base learning rates


def make_optimizer(kind="sgd", lrs=BASE_LRS):
    """An optimizer over one small parameter per group (the schedules never look at the parameters)."""
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lrs[0])
    if kind == "momentum":
        return torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)
    if kind == "adam":
        return torch.optim.Adam(groups, lr=lrs[0])
    if kind == "course-momentum":
        return optim.Momentum(groups, lr=lrs[0], momentum=0.9)
    if kind == "course-adam":
        return optim.Adam(groups, lr=lrs[0])
    raise ValueError(kind)


def settings(optimizer):
    """What a schedule controls in each group: the learning rate, and the momentum or beta1 if any."""
    out = []
    for group in optimizer.param_groups:
        momentum = group["betas"][0] if "betas" in group else group.get("momentum", math.nan)
        out.append((group["lr"], momentum))
    return np.array(out, dtype=float)  # (groups, 2)


def trace(scheduler, optimizer, steps):
    """The settings after construction and after each of ``steps`` scheduler steps: (steps + 1, groups, 2)."""
    values = [settings(optimizer)]
    last = [np.array(scheduler.get_last_lr(), dtype=float)]
    for _ in range(steps):
        optimizer.step()  # no gradients: only marks the optimizer as stepped, as in a training loop
        scheduler.step()
        values.append(settings(optimizer))
        last.append(np.array(scheduler.get_last_lr(), dtype=float))
    values = np.stack(values)
    np.testing.assert_array_equal(np.stack(last), values[:, :, 0])  # get_last_lr() is what the groups hold
    return values


def assert_same_rates(ours, theirs, rtol=1e-12):
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))  # momentum: NaN where the groups have none
    for column in range(ours.shape[-1]):  # learning rate, momentum
        a, b = ours[..., column], theirs[..., column]
        if np.isnan(b).all():
            continue
        error = np.nanmax(np.abs(a - b)) / max(np.nanmax(np.abs(b)), 1e-300)
        assert error <= rtol, f"column {column}: largest relative difference {error:.3g}"


# (id, optimizer kind, factory taking (module, optimizer), number of scheduler steps)
CASES = [
    ("step-1", "sgd", lambda m, o: m.StepLR(o, step_size=1), 12),
    ("step-3-half", "sgd", lambda m, o: m.StepLR(o, step_size=3, gamma=0.5), 40),
    ("step-7-0.9", "sgd", lambda m, o: m.StepLR(o, 7, 0.9), 100),
    ("multistep", "sgd", lambda m, o: m.MultiStepLR(o, milestones=[5, 15]), 30),
    ("multistep-repeated", "sgd", lambda m, o: m.MultiStepLR(o, [3, 3, 10], gamma=0.5), 20),
    ("multistep-at-0", "sgd", lambda m, o: m.MultiStepLR(o, [0, 4], gamma=0.3), 10),
    ("multistep-unsorted", "sgd", lambda m, o: m.MultiStepLR(o, [12, 4], gamma=0.2), 20),
    ("exponential-0.9", "sgd", lambda m, o: m.ExponentialLR(o, gamma=0.9), 60),
    ("exponential-0.999", "sgd", lambda m, o: m.ExponentialLR(o, 0.999), 500),
    ("exponential-growth", "sgd", lambda m, o: m.ExponentialLR(o, gamma=1.07), 80),
    ("cosine", "sgd", lambda m, o: m.CosineAnnealingLR(o, T_max=10), 10),
    ("cosine-past-T", "sgd", lambda m, o: m.CosineAnnealingLR(o, T_max=10), 45),
    ("cosine-eta-min", "sgd", lambda m, o: m.CosineAnnealingLR(o, T_max=25, eta_min=0.004), 75),
    ("cosine-T1", "sgd", lambda m, o: m.CosineAnnealingLR(o, T_max=1, eta_min=0.001), 5),
    ("linear-default", "sgd", lambda m, o: m.LinearLR(o), 10),
    ("linear-warmup", "sgd", lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=7), 15),
    ("linear-decay", "sgd", lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=10), 15),
    ("linear-to-zero", "sgd", lambda m, o: m.LinearLR(o, start_factor=0.5, end_factor=0.0, total_iters=4), 8),
    ("onecycle", "momentum", lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=50), 50),
    (
        "onecycle-lists",
        "momentum",
        lambda m, o: m.OneCycleLR(
            o, max_lr=[0.5, 0.2, 2.0], total_steps=40, base_momentum=[0.8, 0.85, 0.7], max_momentum=(0.9, 0.95, 0.99)
        ),
        40,
    ),
    ("onecycle-adam-betas", "adam", lambda m, o: m.OneCycleLR(o, max_lr=0.01, epochs=4, steps_per_epoch=9), 36),
    ("onecycle-three-phase", "momentum", lambda m, o: m.OneCycleLR(o, 1.0, total_steps=60, three_phase=True), 60),
    (
        "onecycle-linear",
        "momentum",
        lambda m, o: m.OneCycleLR(o, 1.0, total_steps=33, pct_start=0.25, anneal_strategy="linear"),
        33,
    ),
    (
        "onecycle-no-momentum",
        "sgd",
        lambda m, o: m.OneCycleLR(
            o, 0.3, total_steps=20, cycle_momentum=False, div_factor=10.0, final_div_factor=100.0
        ),
        20,
    ),
    ("onecycle-peak-before-0", "momentum", lambda m, o: m.OneCycleLR(o, 0.3, total_steps=20, pct_start=0.02), 20),
    (
        "onecycle-three-phase-overlap",
        "momentum",
        lambda m, o: m.OneCycleLR(o, 0.3, total_steps=20, pct_start=0.7, three_phase=True),
        20,
    ),
    ("onecycle-course-momentum", "course-momentum", lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=30), 30),
    ("onecycle-course-adam", "course-adam", lambda m, o: m.OneCycleLR(o, max_lr=0.01, total_steps=30), 30),
]


def sequential(m, o, parts, milestones):
    return m.SequentialLR(o, [make(m, o) for make in parts], milestones=milestones)


CASES += [
    (
        "warmup-cosine",
        "sgd",
        lambda m, o: sequential(
            m,
            o,
            [
                lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=5),
                lambda m, o: m.CosineAnnealingLR(o, T_max=25),
            ],
            [5],
        ),
        30,
    ),
    (
        "warmup-cosine-eta-min",
        "momentum",
        lambda m, o: sequential(
            m,
            o,
            [
                lambda m, o: m.LinearLR(o, start_factor=0.01, total_iters=10),
                lambda m, o: m.CosineAnnealingLR(o, T_max=40, eta_min=1e-3),
            ],
            [10],
        ),
        50,
    ),
    (
        "three-stages",
        "sgd",
        lambda m, o: sequential(
            m,
            o,
            [
                lambda m, o: m.LinearLR(o, start_factor=0.25, total_iters=4),
                lambda m, o: m.ExponentialLR(o, gamma=0.95),
                lambda m, o: m.StepLR(o, step_size=4, gamma=0.5),
            ],
            [4, 20],
        ),
        40,
    ),
    ("single-stage", "sgd", lambda m, o: sequential(m, o, [lambda m, o: m.MultiStepLR(o, [3, 6])], []), 10),
]


@pytest.mark.parametrize("name, kind, make, steps", CASES, ids=[c[0] for c in CASES])
def test_every_step_equals_torch(name, kind, make, steps):
    ours_optimizer, theirs_optimizer = make_optimizer(kind), make_optimizer(kind)
    ours = trace(make(schedules, ours_optimizer), ours_optimizer, steps)
    theirs = trace(make(torch_schedules, theirs_optimizer), theirs_optimizer, steps)
    assert_same_rates(ours, theirs)


def random_factory(kind: str, rng: np.random.Generator, steps: int):
    """A random argument combination for one kind of schedule (the same for both libraries)."""
    if kind == "step":
        step_size, gamma = int(rng.integers(1, 20)), float(rng.uniform(0.05, 1.0))
        return lambda m, o: m.StepLR(o, step_size=step_size, gamma=gamma)
    if kind == "multistep":
        milestones = sorted(int(x) for x in rng.integers(0, steps, size=int(rng.integers(1, 5))))
        gamma = float(rng.uniform(0.05, 1.0))
        return lambda m, o: m.MultiStepLR(o, milestones=milestones, gamma=gamma)
    if kind == "exponential":
        gamma = float(rng.uniform(0.8, 1.05))
        return lambda m, o: m.ExponentialLR(o, gamma=gamma)
    if kind == "cosine":
        T_max, eta_min = int(rng.integers(1, 80)), float(rng.choice([0.0, rng.uniform(0, 0.01)]))
        return lambda m, o: m.CosineAnnealingLR(o, T_max=T_max, eta_min=eta_min)
    if kind == "linear":
        start, end = float(rng.uniform(0.01, 1.0)), float(rng.uniform(0.0, 1.0))
        total_iters = int(rng.integers(1, 50))
        return lambda m, o: m.LinearLR(o, start_factor=start, end_factor=end, total_iters=total_iters)
    if kind == "onecycle":
        pct_start = float(rng.uniform(0.05, 0.6))
        three_phase, strategy = bool(rng.integers(2)), str(rng.choice(["cos", "linear"]))
        div_factor, final_div_factor = float(rng.uniform(2, 50)), float(10 ** rng.uniform(1, 5))
        max_lr = float(10 ** rng.uniform(-3, 0.5))
        return lambda m, o: m.OneCycleLR(
            o,
            max_lr=max_lr,
            total_steps=steps,
            pct_start=pct_start,
            three_phase=three_phase,
            anneal_strategy=strategy,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
        )
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["step", "multistep", "exponential", "cosine", "linear", "onecycle"])
def test_random_arguments_equal_torch(kind):
    rng = np.random.default_rng(sum(map(ord, kind)))
    for _ in range(25):
        steps = int(rng.integers(5, 150))
        make = random_factory(kind, rng, steps)
        optimizer_kind = "momentum" if kind == "onecycle" else "sgd"
        ours_optimizer, theirs_optimizer = make_optimizer(optimizer_kind), make_optimizer(optimizer_kind)
        try:
            ours = trace(make(schedules, ours_optimizer), ours_optimizer, steps)
        except ValueError as error:  # a one-cycle with an empty phase: torch divides by zero there
            assert "phase" in str(error)
            with pytest.raises(ZeroDivisionError):
                trace(make(torch_schedules, theirs_optimizer), theirs_optimizer, steps)
            continue
        theirs = trace(make(torch_schedules, theirs_optimizer), theirs_optimizer, steps)
        assert_same_rates(ours, theirs, rtol=1e-11)


def roundtrip(state):
    """Save and load a state dict the way a checkpoint does (torch.save / torch.load)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer)


@pytest.mark.parametrize("name, kind, make, steps", CASES, ids=[c[0] for c in CASES])
def test_state_dict_roundtrip_mid_run(name, kind, make, steps):
    """Checkpoint after k steps, rebuild optimizer and schedule, load both: the run continues like PyTorch's."""
    k = steps // 2 + 1
    theirs_optimizer = make_optimizer(kind)
    theirs = trace(make(torch_schedules, theirs_optimizer), theirs_optimizer, steps)

    optimizer = make_optimizer(kind)
    scheduler = make(schedules, optimizer)
    first = trace(scheduler, optimizer, k)
    optimizer_state, scheduler_state = roundtrip(optimizer.state_dict()), roundtrip(scheduler.state_dict())

    resumed_optimizer = make_optimizer(kind)
    resumed = make(schedules, resumed_optimizer)  # created first: creating a schedule sets the rates
    resumed_optimizer.load_state_dict(optimizer_state)
    resumed.load_state_dict(scheduler_state)
    assert resumed.last_epoch == k
    rest = trace(resumed, resumed_optimizer, steps - k)
    assert_same_rates(np.concatenate([first, rest[1:]]), theirs)


def test_torch_sequential_lr_accepts_these_schedules():
    ours_optimizer, theirs_optimizer = make_optimizer(), make_optimizer()
    ours = torch_schedules.SequentialLR(
        ours_optimizer,
        [schedules.LinearLR(ours_optimizer, 0.1, total_iters=6), schedules.CosineAnnealingLR(ours_optimizer, 20)],
        milestones=[6],
    )
    theirs = torch_schedules.SequentialLR(
        theirs_optimizer,
        [
            torch_schedules.LinearLR(theirs_optimizer, 0.1, total_iters=6),
            torch_schedules.CosineAnnealingLR(theirs_optimizer, 20),
        ],
        milestones=[6],
    )
    assert_same_rates(trace(ours, ours_optimizer, 26), trace(theirs, theirs_optimizer, 26))


def test_sequential_warmup_cosine_equals_the_pure_function():
    optimizer = make_optimizer(lrs=(0.4,))
    warmup = schedules.LinearLR(optimizer, start_factor=0.1, total_iters=8)
    cosine = schedules.CosineAnnealingLR(optimizer, T_max=32, eta_min=0.01)
    rates = trace(schedules.SequentialLR(optimizer, [warmup, cosine], [8]), optimizer, 40)[:, 0, 0]
    expected = [schedules.warmup_cosine(t, 0.4, 8, 40, eta_min=0.01, start_factor=0.1) for t in range(41)]
    np.testing.assert_allclose(rates, expected, rtol=1e-14)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda o, e: schedules.StepLR(o, 4, 0.5, last_epoch=e), lambda o, e: torch_schedules.StepLR(o, 4, 0.5, e)),
        (
            lambda o, e: schedules.MultiStepLR(o, [3, 9], 0.1, last_epoch=e),
            lambda o, e: torch_schedules.MultiStepLR(o, [3, 9], 0.1, e),
        ),
    ],
)
def test_resume_with_last_epoch_like_torch(ours, theirs):
    """Resuming with last_epoch=k gives what PyTorch's StepLR/MultiStepLR give, when the optimizer holds
    what a checkpoint after step k holds: 'initial_lr' and the rate of step k."""
    for k in (0, 2, 3, 8, 9, 15):
        runs = []
        for make in (ours, theirs):
            optimizer = make_optimizer()
            at_k = ours(make_optimizer(), -1)
            for _ in range(k):
                at_k.optimizer.step()
                at_k.step()
            optimizer.load_state_dict(at_k.optimizer.state_dict())
            runs.append(trace(make(optimizer, k), optimizer, 10))
        assert_same_rates(*runs)


def test_resume_with_last_epoch_is_the_closed_form():
    """With last_epoch=k the schedule continues at step k + 1 (PyTorch's recursive ExponentialLR keeps the
    optimizer's current rate one step longer; the module docstring says so)."""
    optimizer = make_optimizer()
    for group in optimizer.param_groups:
        group["initial_lr"] = group["lr"]
    scheduler = schedules.ExponentialLR(optimizer, gamma=0.9, last_epoch=4)
    assert scheduler.last_epoch == 5
    np.testing.assert_allclose(scheduler.get_last_lr(), [lr * 0.9**5 for lr in BASE_LRS], rtol=1e-15)


def test_step_with_an_epoch_uses_the_closed_form_like_torch():
    ours_optimizer, theirs_optimizer = make_optimizer(), make_optimizer()
    ours = schedules.CosineAnnealingLR(ours_optimizer, T_max=20, eta_min=0.001)
    theirs = torch_schedules.CosineAnnealingLR(theirs_optimizer, T_max=20, eta_min=0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the epoch argument is deprecated in PyTorch
        for epoch in (3, 17, 5, 20):
            ours.step(epoch)
            theirs.step(epoch)
            np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-14)


def test_schedules_change_only_the_learning_rate_they_own():
    """A schedule leaves other group settings alone; OneCycleLR also sets momentum, as PyTorch's does."""
    optimizer = make_optimizer("momentum")
    schedules.CosineAnnealingLR(optimizer, T_max=5)
    assert all(group["momentum"] == 0.9 for group in optimizer.param_groups)


def test_pure_functions_by_hand():
    assert schedules.step_decay(9, 1.0, step_size=3, gamma=0.5) == 0.125
    assert schedules.multistep_decay(10, 2.0, [10, 5], gamma=0.1) == pytest.approx(0.02, rel=1e-15)
    assert schedules.exponential_decay(3, 2.0, 0.5) == 0.25
    assert schedules.cosine_annealing(0, 0.3, T_max=10, eta_min=0.1) == pytest.approx(0.3, rel=1e-15)
    assert schedules.cosine_annealing(5, 0.3, T_max=10, eta_min=0.1) == pytest.approx(0.2, rel=1e-15)
    assert schedules.cosine_annealing(10, 0.3, T_max=10, eta_min=0.1) == pytest.approx(0.1, rel=1e-15)
    assert schedules.linear_warmup(2, 1.0, start_factor=0.2, end_factor=1.0, total_iters=4) == pytest.approx(0.6)
    assert schedules.linear_warmup(9, 1.0, start_factor=0.2, end_factor=1.0, total_iters=4) == 1.0
    assert schedules.warmup_cosine(0, 1.0, 4, 10, start_factor=0.1) == pytest.approx(0.1)
    assert schedules.warmup_cosine(4, 1.0, 4, 10) == 1.0
    assert schedules.warmup_cosine(10, 1.0, 4, 10, eta_min=0.05) == pytest.approx(0.05)
    assert schedules.warmup_cosine(3, 1.0, 0, 6) == pytest.approx(0.5)  # no warm-up: cosine's midpoint
    # one-cycle: starts at max_lr / 25, peaks at step 0.3 T - 1, ends at max_lr / 25 / 1e4
    assert schedules.one_cycle(0, 1.0, total_steps=100) == pytest.approx(0.04)
    assert schedules.one_cycle(29, 1.0, total_steps=100) == 1.0
    assert schedules.one_cycle(99, 1.0, total_steps=100) == pytest.approx(4e-6)
    assert schedules.one_cycle(58, 1.0, total_steps=100, three_phase=True) == pytest.approx(0.04)


def bad(make, match):
    with pytest.raises(ValueError, match=match):
        make(make_optimizer("momentum"))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda o: schedules.StepLR(o, step_size=0), "step_size must be a positive integer, got 0"),
        (lambda o: schedules.StepLR(o, step_size=2.5), "step_size must be a positive integer, got 2.5"),
        (lambda o: schedules.StepLR(o, 3, gamma=-0.1), "gamma must be a positive number, got -0.1"),
        (lambda o: schedules.StepLR(o, 3, gamma=float("nan")), "gamma must be a positive number, got nan"),
        (lambda o: schedules.StepLR([torch.zeros(1)], 3), "optimizer must be a torch.optim.Optimizer, got list"),
        (lambda o: schedules.MultiStepLR(o, [3, -1]), "milestones must be a sequence of integers >= 0"),
        (lambda o: schedules.MultiStepLR(o, 5), "milestones must be a sequence"),
        (lambda o: schedules.ExponentialLR(o, gamma=0), "gamma must be a positive number, got 0"),
        (lambda o: schedules.ExponentialLR(o, gamma="0.9"), "gamma must be a positive number, got '0.9'"),
        (lambda o: schedules.CosineAnnealingLR(o, T_max=0), "T_max must be a positive integer, got 0"),
        (lambda o: schedules.CosineAnnealingLR(o, T_max=10, eta_min=-1), "eta_min must be a number >= 0, got -1"),
        (lambda o: schedules.LinearLR(o, start_factor=0), r"start_factor must be a number in \(0, 1\], got 0"),
        (lambda o: schedules.LinearLR(o, end_factor=1.5), r"end_factor must be a number in \[0, 1\], got 1.5"),
        (lambda o: schedules.LinearLR(o, total_iters=0), "total_iters must be a positive integer, got 0"),
        (lambda o: schedules.LinearLR(o, last_epoch=-2), "last_epoch must be an integer >= -1, got -2"),
        (lambda o: schedules.LinearLR(o, last_epoch=3), "param_groups\\[0\\] has no 'initial_lr'"),
        (lambda o: schedules.OneCycleLR(o, max_lr=0.1), "give total_steps, or both epochs and steps_per_epoch"),
        (lambda o: schedules.OneCycleLR(o, max_lr=-0.1, total_steps=10), "max_lr must be a positive number, got -0.1"),
        (lambda o: schedules.OneCycleLR(o, max_lr=[0.1, 0.2], total_steps=10), "one value per parameter group \\(3\\)"),
        (lambda o: schedules.OneCycleLR(o, 0.1, total_steps=0), "total_steps must be a positive integer, got 0"),
        (
            lambda o: schedules.OneCycleLR(o, 0.1, epochs=2, steps_per_epoch=0),
            "steps_per_epoch must be a positive integer, got 0",
        ),
        (
            lambda o: schedules.OneCycleLR(o, 0.1, total_steps=10, pct_start=1.5),
            r"pct_start must be a number in \[0, 1\], got 1.5",
        ),
        (
            lambda o: schedules.OneCycleLR(o, 0.1, total_steps=10, anneal_strategy="cosine"),
            "anneal_strategy must be 'cos' or 'linear', got 'cosine'",
        ),
        (lambda o: schedules.OneCycleLR(o, 0.1, total_steps=10, pct_start=0.1), "leaves a phase of the cycle"),
        (lambda o: schedules.OneCycleLR(o, 0.1, total_steps=10, pct_start=1.0), "leaves a phase of the cycle"),
        (
            lambda o: schedules.OneCycleLR(o, 0.1, total_steps=10, div_factor=0),
            "div_factor must be a positive number, got 0",
        ),
        (
            lambda o: schedules.OneCycleLR(o, 0.1, total_steps=10, max_momentum=1.5),
            r"max_momentum must be a number in \[0, 1\], got 1.5",
        ),
        (lambda o: schedules.SequentialLR(o, [], []), "schedulers must hold at least one schedule"),
        (
            lambda o: schedules.SequentialLR(o, [schedules.LinearLR(o), schedules.StepLR(o, 2)], []),
            "milestones must have one entry fewer than schedulers \\(1\\), got \\[\\]",
        ),
        (
            lambda o: schedules.SequentialLR(
                o, [schedules.LinearLR(o), schedules.StepLR(o, 2), schedules.StepLR(o, 3)], [5, 5]
            ),
            "strictly increasing positive integers, got \\[5, 5\\]",
        ),
        (
            lambda o: schedules.SequentialLR(o, [torch_schedules.LinearLR(o), schedules.StepLR(o, 2)], [5]),
            "schedulers\\[0\\] must be a StepLR, .* got torch.optim.lr_scheduler.LinearLR",
        ),
        (
            lambda o: schedules.SequentialLR(
                o, [schedules.LinearLR(o), schedules.OneCycleLR(o, 0.1, total_steps=9)], [5]
            ),
            "schedulers\\[1\\] must be",
        ),
        (
            lambda o: schedules.SequentialLR(o, [schedules.LinearLR(o), schedules.StepLR(make_optimizer(), 2)], [5]),
            "schedulers\\[1\\] schedules another optimizer",
        ),
    ],
)
def test_bad_arguments_raise_clear_errors(make, match):
    bad(make, match)


def test_one_cycle_needs_a_momentum_to_cycle():
    with pytest.raises(
        ValueError, match="cycle_momentum=True needs an optimizer with a momentum or betas setting, got SGD"
    ):
        schedules.OneCycleLR(optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), max_lr=0.1, total_steps=10)


def test_one_cycle_cannot_step_past_its_end():
    optimizer = make_optimizer("momentum")
    scheduler = schedules.OneCycleLR(optimizer, max_lr=0.1, total_steps=5)
    trace(scheduler, optimizer, 5)  # step 5 (one past the last) is allowed, as in PyTorch
    with pytest.raises(ValueError, match="stepped 6 times, past its total_steps=5"):
        scheduler.step()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: schedules.cosine_annealing(-1, 0.1, 10), "t must be an integer >= 0, got -1"),
        (lambda: schedules.cosine_annealing(1.5, 0.1, 10), "t must be an integer >= 0, got 1.5"),
        (lambda: schedules.warmup_cosine(3, 0.1, 10, 10), "total_steps must be larger than warmup_steps=10, got 10"),
        (lambda: schedules.warmup_cosine(3, 0.1, -1, 10), "warmup_steps must be an integer >= 0, got -1"),
        (lambda: schedules.one_cycle(11, 0.1, 10), "t must be at most total_steps=10, got 11"),
        (lambda: schedules.multistep_decay(3, 0.1, [1, 2.5]), "milestones must be a sequence of integers"),
    ],
)
def test_pure_functions_check_their_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_ema_effective_samples_from_the_weights_of_the_recursion():
    """Run Adam's recursion v <- beta v + (1 - beta) x on unit impulses (x = e_j at step j) to read off the
    weight of every step in v_t, bias-correct them, and compare 1 / sum(w^2) with the closed form."""
    for beta in (0.5, 0.9, 0.999):
        for t in (1, 2, 7, 100, 3000):
            v = np.zeros(t)  # v[k]: the weight of step k's input in the running average
            for j in range(t):
                v *= beta
                v[j] += 1 - beta
            weights = v / (1 - beta**t)  # bias correction
            assert weights.sum() == pytest.approx(1.0, rel=1e-12)
            assert schedules.ema_effective_samples(t, beta) == pytest.approx(1 / (weights**2).sum(), rel=1e-9)
    assert schedules.ema_effective_samples(1, 0.999) == pytest.approx(1.0, rel=1e-12)
    assert schedules.ema_effective_samples(10**6, 0.999) == pytest.approx(1999.0, rel=1e-12)
    with pytest.raises(ValueError, match="t must be a positive integer, got 0"):
        schedules.ema_effective_samples(0, 0.9)
    with pytest.raises(ValueError, match=r"beta must be a number in \(0, 1\), got 1.0"):
        schedules.ema_effective_samples(3, 1.0)


def test_lr_curve_of_any_schedule():
    ours = schedules.lr_curve(lambda o: schedules.CosineAnnealingLR(o, T_max=8, eta_min=0.1), steps=8, lr=2.0)
    theirs = schedules.lr_curve(lambda o: torch_schedules.CosineAnnealingLR(o, T_max=8, eta_min=0.1), steps=8, lr=2.0)
    expected = [schedules.cosine_annealing(t, 2.0, 8, 0.1) for t in range(9)]
    np.testing.assert_allclose(ours, expected, rtol=1e-15)
    np.testing.assert_allclose(theirs, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="make_scheduler must return an LRScheduler, got int"):
        schedules.lr_curve(lambda o: 3, steps=2)
