"""Judging answers, in the grader's own process: nothing the submission wrote is trusted or executed.

The runner's answers file says what happened (``status``) and holds the function's answer to each case.
Both are read after the sandbox has exited (:func:`read_answers_file`: a regular file, not a link, at
most a fixed number of bytes, arrays without pickles). Array answers are compared with the reference
implementation with the exercise's tolerances; plain-data answers of an exercise graded by outcome are
scored by ``exercise.outcome(answer, seed)``, one at a time: an outcome may train a model, and training
can use process-wide state (PyTorch's global generator, its thread pool) that two notebooks graded in
parallel must not share. Everything the status says is only used to explain a grade: points come from
the comparisons made here.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from dnncourse.exercises import Case, Exercise, compare, points_earned, score
from dnncourse.exercises.answers import read_answers
from dnncourse.grading.notebooks import read_file
from dnncourse.grading.results import ExerciseResult

__all__ = ["read_answers_file", "judge"]

_SCORING = threading.Lock()  # outcomes are scored one at a time (see the module's docstring)


def read_answers_file(path: str | os.PathLike, max_bytes: int) -> tuple[dict[str, Any], dict[int, Any]]:
    """``(status, answers)`` from an answers file; a status of ``error`` if the file is missing or malformed."""
    try:
        data = read_file(path, max_bytes)
        if not data:
            return {"status": "error", "reason": "the exercise wrote no answers (did it stop the process?)"}, {}
        return read_answers(data, 2 * max_bytes)
    except ValueError as error:
        return {"status": "error", "reason": f"the answers could not be read: {error}"}, {}


def _text(value: Any, limit: int = 500) -> str:
    return str(value)[:limit]


def judge(
    exercise: Exercise, cases: list[Case], status: dict[str, Any], answers: dict[int, Any], seed: int
) -> ExerciseResult:
    """The grade of one exercise from what its runner reported and answered."""
    state, reason, total = _text(status.get("status")), _text(status.get("reason", "")), len(cases)
    errors = status.get("case_errors") if isinstance(status.get("case_errors"), dict) else {}
    if state == "not-attempted":
        return ExerciseResult(0.0, exercise.points, "not-attempted", reason or "not attempted", 0, total)
    if state != "ran":
        return ExerciseResult(0.0, exercise.points, "error", reason or "error", 0, total)
    if exercise.outcome is not None:
        result = _judge_outcome(exercise, errors, answers, seed)
    else:
        result = _judge_cases(exercise, cases, errors, answers)
    if result.status != "passed" and status.get("cell_error"):
        result.reason += f" (the exercise cell also raised {_text(status['cell_error'], 300)})"
    return result


def _judge_outcome(exercise: Exercise, errors: dict, answers: dict[int, Any], seed: int) -> ExerciseResult:
    if 0 not in answers:
        message = _text(errors.get("0", "no answer"), 300)
        return ExerciseResult(0.0, exercise.points, "error", f"the function raised {message}", 0, 1)
    with _SCORING:
        verdict = score(exercise, answers[0], seed)
    return ExerciseResult(
        points_earned(exercise.points, verdict.fraction),
        exercise.points,
        verdict.status,
        _text(verdict.messages[0]),
        verdict.passed,
        1,
        verdict.value,
    )


def _judge_cases(exercise: Exercise, cases: list[Case], errors: dict, answers: dict[int, Any]) -> ExerciseResult:
    total = len(cases)
    passed, answered, failures = 0, 0, []
    for k, case in enumerate(cases):
        label = case.label or f"case {k + 1}"
        if k not in answers:
            failures.append(f"{label}: {_text(errors.get(str(k), 'no answer'), 300)}")
            continue
        answered += 1
        try:
            message = compare(exercise, case, answers[k])
        except Exception as error:  # a malformed answer is the submission's problem: the case fails
            message = f"the answer could not be compared ({type(error).__name__}: {_text(error, 200)})"
        if message is None:
            passed += 1
        else:
            failures.append(f"{label}: {message}")
    if passed == total:
        return ExerciseResult(
            float(exercise.points), exercise.points, "passed", f"all {total} cases passed", passed, total
        )
    if answered == 0 and errors:
        return ExerciseResult(0.0, exercise.points, "error", f"raised on every case; {failures[0]}", 0, total)
    points = points_earned(exercise.points, passed / total)
    return ExerciseResult(
        points,
        exercise.points,
        "failed",
        f"{passed} of {total} cases passed; first failure: {failures[0]}",
        passed,
        total,
    )
