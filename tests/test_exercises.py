"""The exercise mechanism: specifications, comparison with the reference, and the check cell's verdicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dnncourse.exercises import (
    Case,
    Exercise,
    all_exercises,
    check,
    compare,
    evaluate_function,
    get,
    run_case,
    to_plain,
)
from dnncourse.metrics import softmax as reference_softmax


def right(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def naive(logits):  # overflows on huge logits
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


def stub(logits):
    raise NotImplementedError("Exercise softmax: replace this line with your code (see the instructions above)")


def test_every_registered_reference_passes_its_own_checks():
    exercises = all_exercises()
    assert exercises, "no exercises registered"
    for exercise in exercises.values():
        assert exercise.points > 0 and exercise.chapter and exercise.function.isidentifier()
        verdict = evaluate_function(exercise, exercise.reference, seed=123)
        assert verdict.status == "passed", (exercise.id, verdict.messages)
        assert len(exercise.cases(0, hidden=True)) == len(exercise.public_cases) + exercise.n_random + len(
            exercise.hidden_cases
        )


def test_random_cases_depend_on_the_seed_only():
    exercise = get("softmax")
    a, b, c = exercise.cases(5), exercise.cases(5), exercise.cases(6)
    np.testing.assert_array_equal(a[-1].inputs["logits"], b[-1].inputs["logits"])
    assert a[-1].inputs["logits"].shape != c[-1].inputs["logits"].shape or not np.array_equal(
        a[-1].inputs["logits"], c[-1].inputs["logits"]
    )


def test_get_unknown_id_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown exercise id 'nope'.*softmax"):
        get("nope")


def test_check_right_answer_passes(capsys):
    check("softmax", right)
    out = capsys.readouterr().out
    assert "softmax: all" in out and "cases passed" in out


def test_check_stub_is_not_attempted_and_does_not_raise(capsys):
    check("softmax", stub)
    out = capsys.readouterr().out
    assert "not attempted" in out and "NotImplementedError" in out


def test_check_wrong_answer_shows_the_case_expected_got_and_hint(capsys):
    check("softmax", naive)
    out = capsys.readouterr().out
    assert "of 6 cases passed" in out
    assert "a huge logit" in out and "NaN or infinity" in out
    assert "Hint:" in out and get("softmax").hint in out

    check("softmax", lambda logits: right(logits) * 1.01)
    out = capsys.readouterr().out
    assert "expected" in out and "got" in out and "relative error" in out


def test_check_reports_exceptions_wrong_types_and_bad_arguments(capsys):
    def raises(logits):
        raise ZeroDivisionError("boom")

    check("softmax", raises)
    out = capsys.readouterr().out
    assert "raised ZeroDivisionError: boom" in out and "0 of" in out
    check("softmax", lambda logits: "a string")
    assert "expected arrays, tensors, numbers or tuples" in capsys.readouterr().out
    check("no_such_exercise", right)
    assert "Cannot check" in capsys.readouterr().out
    check("softmax", 42)
    assert "expected a function" in capsys.readouterr().out


def test_verdict_points_are_proportional_to_cases_passed():
    exercise = get("softmax")
    verdict = evaluate_function(exercise, naive)
    assert verdict.status == "failed" and 0 < verdict.passed < verdict.total
    assert verdict.points == round(exercise.points * verdict.passed / verdict.total, 2)
    assert evaluate_function(exercise, stub).points == 0


def test_run_case_copies_inputs_so_the_case_cannot_be_modified():
    exercise = get("softmax")
    case = Case({"logits": np.array([[1.0, 2.0]])})

    def mutates(logits):
        logits[:] = 0.0
        return right(logits)

    run_case(exercise, mutates, case)
    np.testing.assert_array_equal(case.inputs["logits"], [[1.0, 2.0]])


def test_compare_shapes_tuples_and_tolerance():
    exercise = get("softmax")
    case = Case({"logits": np.array([[0.0, 1.0]])})
    expected = reference_softmax(case.inputs["logits"])
    assert compare(exercise, case, expected) is None
    assert compare(exercise, case, expected * (1 + 1e-9)) is None
    assert "expected shape (1, 2), got shape (2,)" in compare(exercise, case, expected[0])
    assert "expected one array, got a tuple" in compare(exercise, case, (expected, expected))


def test_torch_inputs_and_outputs_are_converted():
    exercise = Exercise(
        id="test_double",
        function="double",
        reference=lambda x: 2 * x,
        points=1,
        chapter="test",
        public_cases=(Case({"x": np.arange(3.0)}),),
        torch_inputs=True,
    )
    seen = []

    def double(x):
        seen.append(type(x))
        return x * 2

    assert evaluate_function(exercise, double).status == "passed"
    assert seen == [torch.Tensor]
    plain = to_plain((torch.ones(2, dtype=torch.float64), 3, [np.float32(1.5)]))
    assert isinstance(plain[0], np.ndarray) and plain[0].dtype == np.float64
    assert plain[1] == 3 and isinstance(plain[2], tuple)


def test_property_check_replaces_the_comparison():
    def positive(inputs, answer):
        return None if np.all(answer > 0) else "all values must be positive"

    exercise = Exercise(
        id="test_random",
        function="draw",
        reference=lambda n: np.ones(n),
        points=1,
        chapter="test",
        public_cases=(Case({"n": 4}),),
        property_check=positive,
    )
    assert evaluate_function(exercise, lambda n: np.random.rand(n) + 0.1).status == "passed"
    verdict = evaluate_function(exercise, lambda n: -np.ones(n))
    assert verdict.status == "failed" and "positive" in verdict.messages[0]


def test_a_failing_case_shows_short_inputs_in_full_and_summarizes_long_ones(capsys):
    """A student must see the input their function failed on: eight values are printed, not a shape."""
    exercise = Exercise(
        id="describe_probe",
        function="first_minimum",
        reference=lambda values: int(np.argmin(values)),
        points=1,
        chapter="probe",
        public_cases=(
            Case({"values": np.array([0.9, 0.7, 0.6, 0.65, 0.7, 0.8, 0.9, 1.0])}, "eight values"),
            Case({"values": np.linspace(1.0, 0.0, 100)}, "a long curve"),
        ),
    )
    verdict = evaluate_function(exercise, lambda values: 0)
    short, long = verdict.messages
    assert "values=[0.9 , 0.7 , 0.6 , 0.65, 0.7 , 0.8 , 0.9 , 1.  ]" in short
    assert "array of shape (100,), values from 0 to 1" in long
