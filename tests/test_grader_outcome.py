"""Exercises graded by outcome (issue 15's tuning challenge), through a tiny exercise defined here.

The student's function takes no arguments and returns a configuration as plain data; the grader gets it
back from the sandbox, checks that it is plain data, and scores it in its own process with
``exercise.outcome(answer, seed)``. The score here is closed-form (no training), so the test is cheap:
the "accuracy" reached is ``1 - |log10(lr) + 1| / 2``, best at ``lr = 0.1``.
"""

from __future__ import annotations

import math

import nbformat
import pytest
from test_grader_support import by_file, read_reports, requires_bwrap

import dnncourse.exercises as exercises
from dnncourse.exercises import Case, Exercise, Outcome, check, evaluate_function
from dnncourse.grading import command
from dnncourse.grading.submission import submission_seed

THRESHOLDS = ((0.9, 1.0), (0.5, 0.5))  # accuracy reached -> share of the points


def score(configuration, seed: int) -> Outcome:
    if not isinstance(configuration, dict):
        return Outcome(0.0, f"expected a dictionary, got {type(configuration).__name__}")
    unknown = sorted(set(configuration) - {"lr", "epochs"})
    if unknown:
        return Outcome(0.0, f"unknown names: {', '.join(unknown)}")
    if configuration.get("epochs", 1) > 10:
        return Outcome(0.0, f"over budget: {configuration['epochs']} epochs, at most 10")
    accuracy = max(0.0, 1 - abs(math.log10(configuration["lr"]) + 1) / 2)  # a str lr raises TypeError
    fraction = next((share for threshold, share in THRESHOLDS if accuracy >= threshold), 0.0)
    return Outcome(fraction, f"reached accuracy {accuracy:.2f} with seed {seed}", accuracy)


TUNE = Exercise(
    id="tune_lr",
    function="configuration",
    reference=lambda: {"lr": 0.1, "epochs": 5},
    points=4,
    chapter="test_outcome",
    public_cases=(Case({}),),
    outcome=score,
    hint="Try a learning rate near 0.1.",
)
STUB = 'def configuration():\n    raise NotImplementedError("Exercise tune_lr: replace this line with your code")'


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(exercises, "_REGISTRY", {**exercises.all_exercises(), TUNE.id: TUNE})


def chapter_notebook(body: str = STUB) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["dnncourse"] = {"chapter": "test_outcome"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("Return a training configuration."),
        nbformat.v4.new_code_cell(f"# EXERCISE: tune_lr\n{body}"),
        nbformat.v4.new_code_cell('check("tune_lr", configuration)'),
    ]
    return nb


SUBMISSIONS = {
    "good": 'def configuration():\n    return {"lr": 0.1, "epochs": 5}',
    "poor": 'def configuration():\n    return {"lr": 0.5, "epochs": 5}',
    "over_budget": 'def configuration():\n    return {"lr": 0.1, "epochs": 50}',
    "raises": 'def configuration():\n    raise ValueError("no idea")',
    "not_plain_data": 'def configuration():\n    return {"lr": 0.1, "schedule": lambda t: 0.1}',
    "nested_too_deep": (
        "def configuration():\n    value = 0.1\n    for _ in range(50):\n        value = [value]\n"
        '    return {"lr": value}'
    ),
    "outcome_cannot_use_it": 'def configuration():\n    return {"lr": "fast", "epochs": 5}',
    "uses_numpy_numbers": 'def configuration():\n    return {"lr": np.float64(0.1), "epochs": np.int64(5)}',
    "flagged": 'from dnncourse.exercises import get\ndef configuration():\n    return get("tune_lr").reference()',
    "stub": STUB,
}


@pytest.fixture
def graded(registry, tmp_path) -> dict:
    book = tmp_path / "book"
    book.mkdir()
    nbformat.write(chapter_notebook(), book / "test_outcome.ipynb")
    folder = tmp_path / "submissions"
    folder.mkdir()
    for name, body in SUBMISSIONS.items():
        nbformat.write(chapter_notebook(body), folder / f"{name}.ipynb")
    out = tmp_path / "grades.csv"
    code = command.main([str(folder), "--out", str(out), "--book", str(book), "--seed", "11", "--quiet"])
    rows, report = read_reports(out)
    return {"code": code, "rows": rows, "report": report, "by_file": by_file(report)}


def result(graded: dict, name: str) -> dict:
    return graded["by_file"][name]["exercises"]["tune_lr"]


@requires_bwrap
def test_outcome_grading_through_the_sandbox(graded):
    assert graded["code"] == 0
    good = result(graded, "good")
    assert good["status"] == "passed" and good["points"] == 4 and good["value"] == pytest.approx(1.0)
    seed = submission_seed(11, "good.ipynb")
    assert graded["by_file"]["good"]["seed"] == seed and f"with seed {seed}" in good["reason"]  # drawn here, recorded
    assert graded["rows"]["good.ipynb"]["total"] == "4" and graded["rows"]["good.ipynb"]["max"] == "4"
    assert result(graded, "uses_numpy_numbers")["status"] == "passed"

    poor = result(graded, "poor")
    assert poor["status"] == "failed" and poor["points"] == 2 and poor["value"] == pytest.approx(1 - math.log10(5) / 2)
    over = result(graded, "over_budget")
    assert over["status"] == "failed" and over["points"] == 0 and "over budget: 50 epochs" in over["reason"]


@requires_bwrap
def test_answers_that_are_not_plain_data_or_cannot_be_scored_earn_nothing(graded):
    raises = result(graded, "raises")
    assert raises["status"] == "error" and "ValueError: no idea" in raises["reason"]
    not_plain = result(graded, "not_plain_data")
    assert not_plain["status"] == "error" and "a function is not plain data" in not_plain["reason"]
    assert "nested more than 6 levels" in result(graded, "nested_too_deep")["reason"]
    unusable = result(graded, "outcome_cannot_use_it")
    assert unusable["status"] == "failed" and unusable["points"] == 0
    assert "could not be scored: TypeError" in unusable["reason"]
    assert result(graded, "flagged")["status"] == "flagged"
    assert result(graded, "stub")["status"] == "not-attempted"


@requires_bwrap
def test_the_reference_outcome_is_recorded_for_the_instructor(graded):
    exercise = graded["report"]["exercises"]["tune_lr"]
    assert exercise["graded_by"] == "outcome"
    assert exercise["reference_outcome"]["fraction"] == 1.0 and exercise["reference_outcome"]["value"] == pytest.approx(
        1.0
    )
    assert exercise["reference_outcome"]["seed"] == 11


def test_a_reference_configuration_that_fails_stops_the_run(registry, monkeypatch, tmp_path, capsys):
    import dataclasses

    broken = dataclasses.replace(TUNE, reference=lambda: {"lr": "fast"})
    monkeypatch.setattr(exercises, "_REGISTRY", {**exercises.all_exercises(), TUNE.id: broken})
    folder = tmp_path / "submissions"
    folder.mkdir()
    nbformat.write(chapter_notebook(SUBMISSIONS["good"]), folder / "good.ipynb")
    nbformat.write(chapter_notebook(), tmp_path / "test_outcome.ipynb")
    assert command.main([str(folder), "--out", str(tmp_path / "g.csv"), "--book", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "reference implementation of exercise 'tune_lr' fails: TypeError" in err
    assert not (tmp_path / "g.csv").exists()


def test_check_scores_the_configuration_once_with_seed_0(registry, capsys):
    check("tune_lr", lambda: {"lr": 0.1, "epochs": 5})
    assert "✅ configuration: 4 of 4 points. reached accuracy 1.00 with seed 0" in capsys.readouterr().out
    check("tune_lr", lambda: {"lr": 0.5, "epochs": 5})
    out = capsys.readouterr().out
    assert "❌ configuration: 2 of 4 points. reached accuracy 0.65" in out and "Hint: Try a learning rate" in out
    check("tune_lr", lambda: {"lr": 0.1, "epochs": 50})
    assert "0 of 4 points. over budget" in capsys.readouterr().out
    check("tune_lr", lambda: {1, 2})
    assert "a set is not plain data" in capsys.readouterr().out
    check("tune_lr", lambda: (_ for _ in ()).throw(NotImplementedError()))
    assert "not attempted" in capsys.readouterr().out


def test_the_verdict_of_an_outcome_exercise_uses_the_one_partial_credit_rule(registry):
    verdict = evaluate_function(TUNE, lambda: {"lr": 0.5, "epochs": 5})
    assert verdict.status == "failed" and verdict.fraction == 0.5 and verdict.points == 2
    assert verdict.value == pytest.approx(1 - math.log10(5) / 2)
    assert evaluate_function(TUNE, TUNE.reference).status == "passed"
    assert TUNE.n_random == 0 and TUNE.cases(3) == [Case({})]


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan"), "1", True])
def test_an_outcome_must_be_a_share_in_0_1(fraction):
    with pytest.raises(ValueError, match="fraction must be a number in"):
        Outcome(fraction, "reason")
    with pytest.raises(ValueError, match="reason must be a string"):
        Outcome(0.5, None)
