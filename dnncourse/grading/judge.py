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
import re
import threading
from typing import Any

import numpy as np

from dnncourse.exercises import Case, Exercise, compare, describe, points_earned, run_case, score
from dnncourse.exercises.answers import read_answers
from dnncourse.grading.notebooks import read_file
from dnncourse.grading.results import ExerciseResult

__all__ = ["read_answers_file", "judge", "case_name", "error_kind", "without_seed"]

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


_RELATIVE_ERROR = re.compile(r"\((?P<text>largest relative error [^()]*)\)$")
_SEED = re.compile(r"\s*\(seed \d+\)")
_EXCEPTION = re.compile(r"^(?P<name>[A-Za-z_][\w.]*?(?:Error|Exception|Exit|Interrupt|Warning))\b")


def without_seed(text: str) -> str:
    """``text`` without the ``(seed N)`` that labels of random cases carry (students never see a seed)."""
    return _SEED.sub("", text)


def case_name(case: Case, k: int) -> str:
    """The case's name as the student's feedback shows it: its label, without the seed it was drawn with."""
    return without_seed(case.label) or f"case {k + 1}"


def error_kind(error: str) -> str:
    """A failure in a few words (what the statistics count): ``raised ValueError``, ``ran out of memory``..."""
    match = _EXCEPTION.match(error)
    if match:
        return f"raised {match['name']}"
    if error.startswith(("ran out of memory", "called sys.exit")):
        return error.split(" (")[0]
    return "error"


def _mismatch_kind(message: str) -> str:
    if "expected shape" in message:
        return "wrong shape"
    if "NaN or infinity" in message:
        return "NaN or infinity"
    if "expected a tuple" in message or "expected one array" in message:
        return "wrong number of outputs"
    if "could not be compared" in message:
        return "answer of the wrong type"
    return "wrong values"


def _inputs(case: Case) -> dict[str, str]:
    return {name: describe(np.asarray(value)) for name, value in case.inputs.items()}


def judge(
    exercise: Exercise, cases: list[Case], status: dict[str, Any], answers: dict[int, Any], seed: int
) -> ExerciseResult:
    """The grade of one exercise from what its runner reported and answered (with the student's feedback)."""
    state, reason, total = _text(status.get("status")), _text(status.get("reason", "")), len(cases)
    errors = status.get("case_errors") if isinstance(status.get("case_errors"), dict) else {}
    tracebacks = status.get("tracebacks") if isinstance(status.get("tracebacks"), dict) else {}
    cell_traceback = _text(status.get("cell_traceback") or "", 3000)
    if state == "not-attempted":
        result = ExerciseResult(0.0, exercise.points, "not-attempted", reason or "not attempted", 0, total)
        result.details = {"kind": "not attempted"}
        return result
    if state != "ran":
        result = ExerciseResult(0.0, exercise.points, "error", reason or "error", 0, total)
        defined = "does not define a function" not in reason
        result.details = {
            "kind": error_kind(reason.removeprefix("running the exercise cell: "))
            if defined
            else "function not defined"
        }
        if cell_traceback:
            result.details["traceback"] = cell_traceback
        return result
    if exercise.outcome is not None:
        result = _judge_outcome(exercise, errors, tracebacks, answers, seed)
    else:
        result = _judge_cases(exercise, cases, errors, tracebacks, answers)
    if result.status != "passed" and status.get("cell_error"):
        result.reason += f" (the exercise cell also raised {_text(status['cell_error'], 300)})"
        result.details["cell_error"] = _text(status["cell_error"], 300)
        if cell_traceback and "traceback" not in result.details:
            result.details["traceback"] = cell_traceback
    return result


def _judge_outcome(
    exercise: Exercise, errors: dict, tracebacks: dict, answers: dict[int, Any], seed: int
) -> ExerciseResult:
    if 0 not in answers:
        message = _text(errors.get("0", "no answer"), 300)
        result = ExerciseResult(0.0, exercise.points, "error", f"the function raised {message}", 0, 1)
        result.details = {"kind": error_kind(message), "error": message}
        if tracebacks.get("0"):
            result.details["traceback"] = _text(tracebacks["0"], 3000)
        return result
    with _SCORING:
        verdict = score(exercise, answers[0], seed)
    result = ExerciseResult(
        points_earned(exercise.points, verdict.fraction),
        exercise.points,
        verdict.status,
        _text(verdict.messages[0]),
        verdict.passed,
        1,
        verdict.value,
    )
    result.details = {"message": result.reason, "got": describe(answers[0])}
    if verdict.status != "passed":
        result.details["kind"] = "target not reached" if verdict.fraction else "no points for this answer"
    return result


def _judge_cases(
    exercise: Exercise, cases: list[Case], errors: dict, tracebacks: dict, answers: dict[int, Any]
) -> ExerciseResult:
    total = len(cases)
    passed, answered, failures = 0, 0, []
    details: dict[str, Any] = {}
    for k, case in enumerate(cases):
        label = case.label or f"case {k + 1}"
        if k not in answers:
            error = _text(errors.get(str(k), "no answer"), 300)
            failures.append(f"{label}: {error}")
            if not details:
                details = {"kind": error_kind(error), "case": case_name(case, k), "inputs": _inputs(case)}
                details["error"] = error
                if tracebacks.get(str(k)):
                    details["traceback"] = _text(tracebacks[str(k)], 3000)
            continue
        answered += 1
        try:
            message = compare(exercise, case, answers[k])
        except Exception as error:  # a malformed answer is the submission's problem: the case fails
            message = f"the answer could not be compared ({type(error).__name__}: {_text(error, 200)})"
        if message is None:
            passed += 1
            continue
        failures.append(f"{label}: {message}")
        if not details:
            details = {"kind": _mismatch_kind(message), "case": case_name(case, k), "inputs": _inputs(case)}
            if exercise.property_check is None:
                details["expected"] = describe(run_case(exercise, exercise.reference, case))
            details["got"] = describe(answers[k])
            error = _RELATIVE_ERROR.search(message)  # the values are shown above: only how far they are
            details["message"] = error["text"] if error and "expected" in details else message
    if passed == total:
        return ExerciseResult(
            float(exercise.points), exercise.points, "passed", f"all {total} cases passed", passed, total
        )
    if answered == 0 and errors:
        result = ExerciseResult(0.0, exercise.points, "error", f"raised on every case; {failures[0]}", 0, total)
    else:
        points = points_earned(exercise.points, passed / total)
        reason = f"{passed} of {total} cases passed; first failure: {failures[0]}"
        result = ExerciseResult(points, exercise.points, "failed", reason, passed, total)
    result.details = details
    return result
