"""The getting-started exercises (dnncourse.exercises.basics): typical mistakes fail, stubs are not
attempted, failing public cases show their input in full."""

from __future__ import annotations

import numpy as np
import pytest

from dnncourse.exercises import check, evaluate_function, get
from dnncourse.exercises.basics import EXERCISES

IDS = ["softmax", "cross_entropy", "accuracy"]


def test_getting_started_has_its_three_exercises_and_points():
    assert [e.id for e in EXERCISES] == IDS
    assert [e.points for e in EXERCISES] == [2, 3, 1]
    assert all(e.chapter == "getting_started" for e in EXERCISES)


@pytest.mark.parametrize("exercise_id", IDS)
def test_public_cases_are_small_enough_to_be_shown_in_full(exercise_id):
    for case in get(exercise_id).public_cases:
        assert all(np.size(value) <= 6 for value in case.inputs.values()), case.label


def cross_entropy_from_probabilities(logits, labels):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):  # log 0 = -inf for a probability that underflowed
        return float(-np.log(p[np.arange(len(labels)), labels]).mean())


def cross_entropy_summed(logits, labels):
    m = logits.max(axis=1, keepdims=True)
    log_p = logits[np.arange(len(labels)), labels] - (m[:, 0] + np.log(np.exp(logits - m).sum(axis=1)))
    return float(-log_p.sum())  # the sum, not the mean


def accuracy_by_argmin(logits, labels):
    return float((logits.argmin(axis=1) == labels).mean())


@pytest.mark.parametrize(
    "exercise_id, wrong, failing_case",
    [
        ("cross_entropy", cross_entropy_from_probabilities, "huge logits"),
        ("cross_entropy", cross_entropy_summed, "two examples"),
        ("accuracy", accuracy_by_argmin, "two of three right"),
    ],
)
def test_a_typical_mistake_fails_on_a_public_case_shown_in_full(exercise_id, wrong, failing_case, capsys):
    verdict = evaluate_function(get(exercise_id), wrong, seed=0)
    assert verdict.status == "failed"
    check(exercise_id, wrong)
    out = capsys.readouterr().out
    assert failing_case in out and "logits=[[" in out and "array of shape" not in out.split("Hint")[0]


@pytest.mark.parametrize("exercise_id", IDS)
def test_a_stub_is_not_attempted(exercise_id):
    def stub(**_):
        raise NotImplementedError(f"Exercise {exercise_id}: replace this line with your code")

    assert evaluate_function(get(exercise_id), stub).status == "not-attempted"
