"""The "Learning rates" chapter's graded exercises: the references pass, independent answers pass, wrong
answers fail, stubs are not attempted."""

import math

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as torch_schedules

from dnncourse.exercises import evaluate_function, get

IDS = ("warmup_cosine_lr", "effective_samples", "steepest_lr")


def torch_warmup_cosine(t, eta_base, warmup_steps, total_steps, eta_min, start_factor):
    """The rate at step t of PyTorch's own warm-up + cosine chain (an independent reference)."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=eta_base)
    cosine = torch_schedules.CosineAnnealingLR(optimizer, T_max=total_steps - warmup_steps, eta_min=eta_min)
    if warmup_steps > 0:
        warmup = torch_schedules.LinearLR(optimizer, start_factor=start_factor, total_iters=warmup_steps)
        scheduler = torch_schedules.SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_steps])
    else:
        scheduler = cosine
    for _ in range(t):
        optimizer.step()
        scheduler.step()
    return optimizer.param_groups[0]["lr"]


def summed_effective_samples(t, beta):
    """1 / sum(w_k^2) with the bias-corrected weights summed term by term."""
    weights = [(1 - beta) * beta ** (t - k) / (1 - beta**t) for k in range(1, t + 1)]
    return 1 / sum(w * w for w in weights)


def looped_steepest_lr(lrs, losses, beta):
    average, smoothed = 0.0, []
    for k, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta**k))
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__)
    best, best_slope = None, math.inf
    for k in range(lowest):
        slope = (smoothed[k + 1] - smoothed[k]) / (math.log(lrs[k + 1]) - math.log(lrs[k]))
        if slope < best_slope:
            best, best_slope = lrs[k], slope
    return best


INDEPENDENT = {
    "warmup_cosine_lr": torch_warmup_cosine,
    "effective_samples": summed_effective_samples,
    "steepest_lr": looped_steepest_lr,
}


@pytest.mark.parametrize("exercise_id", IDS)
def test_references_and_independent_answers_pass_for_many_seeds(exercise_id):
    exercise = get(exercise_id)
    assert exercise.chapter == "04_learning_rates" and exercise.points >= 2
    for seed in range(15):
        for answer in (exercise.reference, INDEPENDENT[exercise_id]):
            verdict = evaluate_function(exercise, answer, seed=seed)
            assert verdict.status == "passed", (seed, answer.__name__, verdict.messages)


def cosine_without_offset(t, eta_base, warmup_steps, total_steps, eta_min, start_factor):
    """A common mistake: the cosine runs on t instead of t - warmup_steps (and over total_steps)."""
    if t < warmup_steps:
        return eta_base * (start_factor + (1 - start_factor) * t / warmup_steps)
    return eta_min + (eta_base - eta_min) * (1 + math.cos(math.pi * t / total_steps)) / 2


def effective_samples_is_t(t, beta):
    """Right only while t is much smaller than 1 / (1 - beta)."""
    return float(t)


def steepest_without_bias_correction(lrs, losses, beta):
    average, smoothed = 0.0, []
    for loss in losses:
        average = beta * average + (1 - beta) * loss
        smoothed.append(average)  # biased towards 0 at the start
    smoothed = np.array(smoothed)
    lowest = int(np.argmin(smoothed))
    return lrs[int(np.argmin(np.diff(smoothed[: lowest + 1])))] if lowest > 0 else lrs[0]


@pytest.mark.parametrize(
    "exercise_id, wrong",
    [
        ("warmup_cosine_lr", cosine_without_offset),
        ("effective_samples", effective_samples_is_t),
        ("steepest_lr", steepest_without_bias_correction),
    ],
)
def test_wrong_answers_fail(exercise_id, wrong):
    verdict = evaluate_function(get(exercise_id), wrong, seed=0)
    assert verdict.status == "failed" and verdict.passed < verdict.total


@pytest.mark.parametrize("exercise_id", IDS)
def test_stubs_are_not_attempted(exercise_id):
    def stub(**kwargs):
        raise NotImplementedError("Exercise: replace this line with your code")

    assert evaluate_function(get(exercise_id), stub, seed=0).status == "not-attempted"
