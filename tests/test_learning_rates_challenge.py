"""The tuning challenge of the "Learning rates" chapter, graded by the validation accuracy it reaches."""

import math

import numpy as np
import pytest
import torch

from dnncourse import optim, schedules
from dnncourse.exercises import check, evaluate_function, get
from dnncourse.exercises import learning_rates as lr_exercises
from dnncourse.exercises.learning_rates import (
    CHALLENGE_EPOCHS,
    CHALLENGE_THRESHOLDS,
    REFERENCE_CONFIGURATION,
    challenge_configuration,
    score_configuration,
    train_configuration,
)

GOOD = {"optimizer": "Adam", "lr": 0.003, "schedule": "cosine", "epochs": 8, "batch_size": 32}
POOR = {"optimizer": "SGD", "lr": 0.001, "epochs": 2}  # far too small a step for 2 epochs


def test_the_reference_and_a_good_configuration_get_full_points():
    for config in (REFERENCE_CONFIGURATION, GOOD):
        for seed in (0, 1):
            outcome = score_configuration(dict(config), seed)
            assert outcome.fraction == 1.0, outcome.reason
            assert outcome.value >= CHALLENGE_THRESHOLDS[0][0]
            assert f"seed {seed}" in outcome.reason and "full points" in outcome.reason


def test_a_poor_configuration_gets_nothing_and_a_middling_one_part():
    poor = score_configuration(POOR, seed=0)
    assert poor.fraction == 0.0 and poor.value < CHALLENGE_THRESHOLDS[-1][0]
    assert "validation accuracy" in poor.reason
    middling = score_configuration({"optimizer": "SGD", "lr": 0.1, "epochs": 10}, seed=0)  # no momentum, no decay
    assert 0.0 < middling.fraction < 1.0, middling.reason
    threshold = next(t for t, share in CHALLENGE_THRESHOLDS if share == middling.fraction)
    assert middling.value >= threshold


def test_the_accuracy_is_reproducible_for_a_seed_and_depends_on_it():
    first, again = score_configuration(GOOD, seed=3), score_configuration(GOOD, seed=3)
    assert first.value == again.value and first.reason == again.reason
    others = {score_configuration(GOOD, seed=s).value for s in (4, 5, 6)}
    assert len(others | {first.value}) > 1  # the seed changes the initial weights and the batches


def test_the_accuracy_is_the_final_validation_accuracy_of_a_real_run():
    history = train_configuration(GOOD, seed=0)
    assert history.epochs == GOOD["epochs"]
    assert score_configuration(GOOD, 0).value == history.val_accuracy[-1]
    assert history.train_loss[-1] < history.train_loss[0]


@pytest.mark.parametrize(
    "config, message",
    [
        ({**GOOD, "epochs": CHALLENGE_EPOCHS + 1}, f"epochs must be an integer in \\[1, {CHALLENGE_EPOCHS}\\], got 11"),
        ({**GOOD, "lr": 50.0}, r"lr must be a number in \[1e-05, 10\], got 50.0"),
        ({**GOOD, "optimizer": "adam"}, "optimizer must be one of 'SGD', 'Momentum'"),
        ({**GOOD, "lrr": 0.1}, "unknown setting 'lrr'; the settings are optimizer, lr, epochs"),
        ({"optimizer": "Adam", "epochs": 3}, "the setting 'lr' is missing"),
        ({**GOOD, "batch_size": 4096}, r"batch_size must be an integer in \[16, 512\], got 4096"),
        ({**GOOD, "batch_size": 32.5}, r"batch_size must be an integer in \[16, 512\], got 32.5"),
        ({"optimizer": "SGD", "lr": 0.1, "epochs": 3, "beta": 0.9}, "SGD has no beta: remove the setting 'beta'"),
        ({**GOOD, "gamma": 0.5}, "the setting 'gamma' does not belong to the schedule 'cosine'"),
        ({**GOOD, "schedule": "linear"}, "schedule must be one of 'constant', 'step'"),
        ({**GOOD, "schedule": "onecycle", "warmup_epochs": 1}, "'onecycle' has its own warm-up"),
        ({**GOOD, "warmup_epochs": 8}, r"warmup_epochs must be an integer in \[0, 7\], got 8"),
        ({**GOOD, "min_lr": 0.01}, r"min_lr must be a number in \[0, 0.003\], got 0.01"),
        ({"optimizer": "Nesterov", "lr": 0.1, "epochs": 3, "beta": 0.0}, r"beta must be a number in \[0.01, 0.99\]"),
        ([("optimizer", "Adam")], "the function must return a dict of settings, got a list"),
    ],
)
def test_invalid_or_over_budget_configurations_get_a_clear_message_and_no_points(config, message):
    outcome = score_configuration(config, seed=0)
    assert outcome.fraction == 0.0 and outcome.value is None
    assert outcome.reason.startswith("not trained: ")
    with pytest.raises(ValueError, match=message):
        challenge_configuration(config)


def test_defaults_fill_in_the_optional_settings():
    config = challenge_configuration({"optimizer": "Momentum", "lr": 0.05, "epochs": 4, "schedule": "step"})
    assert config == {
        "optimizer": "Momentum",
        "lr": 0.05,
        "epochs": 4,
        "batch_size": 64,
        "schedule": "step",
        "warmup_epochs": 0,
        "beta": 0.9,
        "gamma": 0.1,
        "step_epochs": 3,
    }


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"schedule": "constant", "warmup_epochs": 2}, lambda t: 0.1 * schedules.linear_warmup(t, 1.0, 0.1, 1.0, 34)),
        (
            {"schedule": "cosine", "warmup_epochs": 1, "min_lr": 0.01},
            lambda t: schedules.warmup_cosine(t, 0.1, 17, 68, eta_min=0.01, start_factor=0.1),
        ),
        ({"schedule": "step", "gamma": 0.5, "step_epochs": 1}, lambda t: schedules.step_decay(t, 0.1, 17, 0.5)),
        ({"schedule": "exponential", "gamma": 0.5}, lambda t: 0.1 * 0.5 ** (t / 17)),
        ({"schedule": "onecycle", "pct_start": 0.25}, lambda t: schedules.one_cycle(t, 0.1, 68, pct_start=0.25)),
    ],
)
def test_schedules_are_stepped_per_mini_batch_in_units_of_epochs(config, expected):
    """4 epochs of 17 mini-batches (1079 training examples, batches of 64): the rate of every step."""
    config = challenge_configuration({"optimizer": "Momentum", "lr": 0.1, "epochs": 4, **config})
    optimizer = optim.Momentum([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = lr_exercises._scheduler(config, optimizer, steps_per_epoch=17)
    rates = [optimizer.param_groups[0]["lr"]]
    for _ in range(4 * 17 - 1):
        optimizer.step()
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    np.testing.assert_allclose(rates, [expected(t) for t in range(68)], rtol=1e-12)


def test_the_exercise_is_graded_by_outcome(capsys):
    exercise = get("lr_challenge")
    assert exercise.chapter == "04_learning_rates" and exercise.outcome is score_configuration
    assert exercise.reference() == REFERENCE_CONFIGURATION and exercise.reference() is not REFERENCE_CONFIGURATION
    verdict = evaluate_function(exercise, lambda: dict(GOOD), seed=0)
    assert verdict.status == "passed" and verdict.points == exercise.points and verdict.value >= 0.96
    check("lr_challenge", lambda: dict(REFERENCE_CONFIGURATION))
    assert "✅ training_configuration: 5 of 5 points. reached" in capsys.readouterr().out


def test_stub_raising_and_invalid_answers_in_the_check(capsys):
    exercise = get("lr_challenge")

    def stub():
        raise NotImplementedError("Exercise lr_challenge: replace this line with your code")

    def broken():
        return {"optimizer": "Adam", "lr": 1 / 0}

    assert evaluate_function(exercise, stub).status == "not-attempted"
    raised = evaluate_function(exercise, broken)
    assert raised.status == "failed" and raised.points == 0 and "raised ZeroDivisionError" in raised.messages[0]
    not_plain = evaluate_function(exercise, lambda: {"optimizer": "Adam", "lr": math.inf, "epochs": 3})
    assert not_plain.points == 0 and "not a finite number" in not_plain.messages[0]
    check("lr_challenge", lambda: {**GOOD, "epochs": 50})
    out = capsys.readouterr().out
    assert "0 of 5 points" in out and "epochs must be an integer in [1, 10], got 50" in out
