"""Graded exercises: their specifications and the instant check students run in a notebook.

An exercise is declared once, here in the library, as an :class:`Exercise`: the function the student
writes, the reference implementation it is compared with, its points, fixed public cases, and a
generator of random cases. Each topic module of this package (``dnncourse/exercises/<topic>.py``)
defines a tuple ``EXERCISES``; :func:`get` and :func:`all_exercises` find them.

In a chapter notebook an exercise is three cells:

1. a markdown prompt;
2. a code cell whose first line is ``# EXERCISE: <id>`` (:func:`marked_exercise` reads it, for the
   release step and the grader alike), defining the function; the solution sits between
   ``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines (the release step replaces it by a stub);
3. a check cell: ``check("<id>", function)``, which prints a verdict and never raises.

Most exercises compare the function's answers with the reference on public and random cases (points
in proportion to the cases passed). An exercise **graded by outcome** (``Exercise.outcome`` set, for
example a tuning challenge) instead takes the function's answer (plain data, such as a training
configuration returned by a function of no arguments) and measures what it achieves: ``outcome(answer,
seed)`` returns an :class:`Outcome`, the share of the points earned and why.

The instructor's grader (``dnncourse grade``, :mod:`dnncourse.grading`) uses the same specifications
with inputs drawn at grading time. This package never imports the grader, ``resource`` or matplotlib:
the check cell imports on any operating system.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dnncourse.exercises.answers import as_argument, plain_data, to_plain

__all__ = [
    "Case",
    "Exercise",
    "Outcome",
    "Verdict",
    "EXERCISE_MARKER",
    "marked_exercise",
    "points_earned",
    "all_exercises",
    "get",
    "check",
    "run_case",
    "compare",
    "to_plain",
    "plain_data",
    "evaluate_function",
    "score",
    "describe",
]

EXERCISE_MARKER = re.compile(r"^#\s*EXERCISE:\s*(?P<id>[A-Za-z0-9_.-]+)\s*$")


def marked_exercise(source: str) -> str | None:
    """The id of the exercise a code cell is marked with (``# EXERCISE: <id>``), or None.

    The marker is the cell's first line that is neither blank nor an IPython magic or shell line
    (``%%time``, ``!pip ...``), so that a student may time an exercise cell. The release step and the
    grader both read markers with this function.
    """
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("%", "!")):
            continue
        match = EXERCISE_MARKER.match(stripped)
        return match["id"] if match else None
    return None


def points_earned(points: float, fraction: float) -> float:
    """The points for a share ``fraction`` (in [0, 1]) of an exercise worth ``points``, to 2 decimals.

    The one place where partial credit is computed (the check cell's verdict and the grader use it).
    """
    return round(points * min(1.0, max(0.0, fraction)), 2)


@dataclass(frozen=True)
class Case:
    """One call of the graded function: keyword arguments (NumPy arrays, floats, ints, bools)."""

    inputs: Mapping[str, Any]
    label: str = ""


@dataclass(frozen=True)
class Outcome:
    """What an answer to an exercise graded by outcome achieved."""

    fraction: float  # share of the exercise's points earned, in [0, 1]
    reason: str  # one line for the student and the instructor
    value: float | None = None  # what was measured (e.g. the validation accuracy reached)

    def __post_init__(self) -> None:
        if isinstance(self.fraction, bool) or not isinstance(self.fraction, (int, float)):
            raise ValueError(f"Outcome.fraction must be a number in [0, 1], got {self.fraction!r}")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"Outcome.fraction must be a number in [0, 1], got {self.fraction!r}")
        if not isinstance(self.reason, str):
            raise ValueError(f"Outcome.reason must be a string, got {type(self.reason).__name__}")
        if self.value is not None and not (isinstance(self.value, (int, float)) and math.isfinite(self.value)):
            raise ValueError(f"Outcome.value must be a finite number or None, got {self.value!r}")


@dataclass(frozen=True)
class Exercise:
    """The specification of one graded exercise (the single place where its points are declared)."""

    id: str  # unique; the exercise cell's marker is "# EXERCISE: <id>"
    function: str  # name of the function the student defines in the exercise cell
    # The library's implementation the answers are compared with; for an exercise graded by outcome, a
    # function of no arguments that returns the reference answer (e.g. the reference configuration).
    reference: Callable[..., Any]
    points: float
    chapter: str  # notebook stem, e.g. "01_why_deep_learning"
    public_cases: tuple[Case, ...]  # fixed cases, run by the check cell and by the grader
    random_case: Callable[[np.random.Generator], Mapping[str, Any]] | None = None  # draws one random input
    n_random: int = 3  # random cases per check; the grader draws its own with a per-submission seed
    hidden_cases: tuple[Case, ...] = ()  # edge cases only the grader uses
    rtol: float = 1e-5  # relative tolerance of the comparison with the reference
    atol: float = 1e-8  # absolute tolerance, for values near zero
    hint: str = ""  # shown when a case fails
    torch_inputs: bool = False  # pass arrays as torch tensors (float64 stays float64)
    # For answers that are random (an initializer): a check ``(inputs, answer) -> None | failure message``
    # used instead of the comparison with the reference.
    property_check: Callable[[Mapping[str, Any], Any], str | None] | None = None
    setup: str = "import math\nimport numpy as np\nimport torch"  # what the exercise cell may assume is imported
    # Graded by outcome: ``outcome(answer, seed) -> Outcome`` scores the function's plain-data answer
    # (its public cases are one empty Case: the function takes no arguments). Runs in the grader's own
    # process, where no student code runs, so it may use the library.
    outcome: Callable[[Any, int], Outcome] | None = None

    def __post_init__(self) -> None:
        if self.outcome is not None and self.random_case is None:
            object.__setattr__(self, "n_random", 0)  # an outcome exercise draws no random cases

    def cases(self, seed: int, hidden: bool = False) -> list[Case]:
        """The public cases, then ``n_random`` random ones drawn with ``seed`` (then hidden cases if asked)."""
        rng = np.random.default_rng(seed)
        drawn = []
        if self.random_case is not None:
            drawn = [
                Case(dict(self.random_case(rng)), f"random case {i + 1} (seed {seed})") for i in range(self.n_random)
            ]
        return [*self.public_cases, *drawn, *(self.hidden_cases if hidden else ())]


@dataclass
class Verdict:
    """The outcome of checking one function on its cases."""

    exercise: Exercise
    status: str  # "passed", "failed", "not-attempted" or "error"
    passed: int = 0
    total: int = 0
    messages: list[str] = field(default_factory=list)
    fraction: float | None = None  # share of the points (exercises graded by outcome); else passed / total
    value: float | None = None  # what an outcome measured

    @property
    def points(self) -> float:
        """Points earned: the exercise's points times the fraction of cases passed (or the outcome's share)."""
        if self.status in ("not-attempted", "error"):
            return 0.0
        if self.fraction is not None:
            return points_earned(self.exercise.points, self.fraction)
        return points_earned(self.exercise.points, self.passed / self.total) if self.total else 0.0


_REGISTRY: dict[str, Exercise] | None = None


def all_exercises() -> dict[str, Exercise]:
    """Every exercise of the course, by id (imports each topic module of this package once)."""
    global _REGISTRY
    if _REGISTRY is None:
        registry: dict[str, Exercise] = {}
        for info in pkgutil.iter_modules(__path__):
            if info.name == "answers":  # the answer encoding, not a topic
                continue
            module = importlib.import_module(f"{__name__}.{info.name}")
            for exercise in getattr(module, "EXERCISES", ()):
                if exercise.id in registry:
                    raise ValueError(f"exercise id {exercise.id!r} is declared twice")
                registry[exercise.id] = exercise
        _REGISTRY = registry
    return _REGISTRY


def get(exercise_id: str) -> Exercise:
    """The exercise with this id; a ``ValueError`` lists the known ids otherwise."""
    exercises = all_exercises()
    if exercise_id not in exercises:
        raise ValueError(f"unknown exercise id {exercise_id!r}; known ids: {', '.join(sorted(exercises))}")
    return exercises[exercise_id]


def run_case(exercise: Exercise, fn: Callable[..., Any], case: Case) -> Any:
    """Call ``fn`` on a case (inputs copied, as tensors if the exercise asks) and return its answer as plain data.

    Arrays (:func:`to_plain`) for exercises compared with the reference, checked plain data
    (:func:`plain_data`) for exercises graded by outcome.
    """
    arguments = {name: as_argument(value, exercise.torch_inputs) for name, value in case.inputs.items()}
    answer = fn(**arguments)
    return plain_data(answer) if exercise.outcome is not None else to_plain(answer)


_SHOWN_IN_FULL = 24  # arrays with at most this many values are printed whole in a failure message


def describe(value: Any) -> str:
    """An input or answer as a student needs to see it: short arrays in full, long ones summarized.

    A tuple (several outputs) is described item by item; at most 2000 characters in all.
    """
    if isinstance(value, tuple):
        text = "(" + ", ".join(describe(item) for item in value[:10]) + (", ...)" if len(value) > 10 else ")")
        return text if len(text) <= 2000 else text[:2000] + "..."
    if not isinstance(value, np.ndarray):
        text = repr(value)
        return text if len(text) <= 2000 else text[:2000] + "..."
    if value.size <= _SHOWN_IN_FULL:
        return np.array2string(value, precision=6, separator=", ")
    summary = ""
    if np.issubdtype(value.dtype, np.number) and not np.issubdtype(value.dtype, np.complexfloating):
        finite = value[np.isfinite(value)]
        if finite.size:
            summary = f", values from {finite.min():.4g} to {finite.max():.4g}"
    return f"array of shape {value.shape}{summary}"


def _as_array(values: tuple) -> np.ndarray | None:
    """Nested tuples of numbers (a returned list, after :func:`to_plain`) as one array; None if they are not one."""
    if not values:
        return None  # an empty list has no shape to compare; say what was expected
    try:
        array = np.asarray(values)
    except (ValueError, TypeError):  # ragged
        return None
    return array if array.dtype.kind in "biufc" else None


def _compare_values(expected: Any, got: Any, rtol: float, atol: float, where: str = "") -> str | None:
    if isinstance(expected, tuple):
        if not isinstance(got, tuple) or len(got) != len(expected):
            n = len(got) if isinstance(got, tuple) else 1
            return f"expected a tuple of {len(expected)} values, got {n}"
        for i, (e, g) in enumerate(zip(expected, got)):
            message = _compare_values(e, g, rtol, atol, f"{where}[{i}]")
            if message:
                return message
        return None
    label = f"output{where}"
    if expected is None or got is None:
        return None if expected is got else f"{label}: expected {describe(expected)}, got {describe(got)}"
    if isinstance(got, tuple):  # a list of numbers (or of lists) of the right shape is that array
        array = _as_array(got)
        if array is None or array.shape != expected.shape:
            return f"{label}: expected one array, got a tuple of {len(got)} (a list of shape {expected.shape} would do)"
        got = array
    if expected.shape != got.shape:
        return f"{label}: expected shape {expected.shape}, got shape {got.shape}"
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(expected)):
        return f"{label}: contains NaN or infinity"
    if np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True):  # NaN where the reference has NaN
        return None
    error = np.max(np.abs(got - expected) / np.maximum(np.abs(expected), atol)) if expected.size else 0.0
    return (
        f"{label}: expected {describe(expected)}, got {describe(got)} "
        f"(largest relative error {float(error):.3g}, tolerance {rtol:g})"
    )


def compare(exercise: Exercise, case: Case, answer: Any) -> str | None:
    """``None`` if ``answer`` is right for ``case``, else a message saying what differs.

    Runs in the checker's own process: the reference is called here, never in the student's code.
    """
    if exercise.property_check is not None:
        return exercise.property_check(case.inputs, answer)
    expected = run_case(exercise, exercise.reference, case)
    return _compare_values(expected, answer, exercise.rtol, exercise.atol)


def _describe_case(case: Case) -> str:
    shown = ", ".join(f"{name}={describe(np.asarray(v))}" for name, v in case.inputs.items())
    return f"{case.label}: {shown}" if case.label else shown


def score(exercise: Exercise, answer: Any, seed: int) -> Verdict:
    """The verdict of an exercise graded by outcome on a plain-data ``answer`` (``outcome(answer, seed)``).

    An exception in ``outcome`` (an answer it cannot use) is a failed verdict with the message.
    """
    try:
        outcome = exercise.outcome(answer, seed)
        if not isinstance(outcome, Outcome):
            raise TypeError(f"the exercise's outcome returned a {type(outcome).__name__}, not an Outcome")
    except Exception as error:
        return Verdict(
            exercise, "failed", 0, 1, [f"the answer could not be scored: {type(error).__name__}: {error}"], 0.0
        )
    status = "passed" if outcome.fraction == 1 else "failed"
    return Verdict(exercise, status, int(status == "passed"), 1, [outcome.reason], outcome.fraction, outcome.value)


def evaluate_function(exercise: Exercise, fn: Callable[..., Any], seed: int = 0) -> Verdict:
    """Run ``fn`` on the exercise's public and random cases and compare each answer with the reference.

    For an exercise graded by outcome: call ``fn()``, check that it returns plain data, and score it
    with ``exercise.outcome(answer, seed)``.
    """
    cases = exercise.cases(seed)
    verdict = Verdict(exercise, "passed", total=len(cases))
    for case in cases:
        try:
            answer = run_case(exercise, fn, case)
        except NotImplementedError:
            return Verdict(
                exercise, "not-attempted", total=len(cases), messages=["the function still raises NotImplementedError"]
            )
        except Exception as error:  # the student's code may raise anything; report it, never re-raise
            verdict.messages.append(f"{_describe_case(case)}\n    raised {type(error).__name__}: {error}")
            continue
        if exercise.outcome is not None:
            return score(exercise, answer, seed)
        message = compare(exercise, case, answer)
        if message is None:
            verdict.passed += 1
        else:
            verdict.messages.append(f"{_describe_case(case)}\n    {message}")
    if verdict.passed < verdict.total:
        verdict.status = "failed"
    return verdict


def check(exercise_id: str, fn: Callable[..., Any]) -> None:
    """Check a student's function and print a friendly verdict (never raises, so notebooks run on)."""
    try:
        exercise = get(exercise_id)
    except ValueError as error:
        print(f"Cannot check: {error}")
        return
    if not callable(fn):
        print(f"Cannot check {exercise_id}: expected a function, got {type(fn).__name__}")
        return
    verdict = evaluate_function(exercise, fn)
    name = exercise.function
    if verdict.status == "not-attempted":
        print(f"⏳ {name}: not attempted yet (the function still raises NotImplementedError).")
        print("   Replace the `raise NotImplementedError(...)` line with your code, run the cell, then this one.")
    elif exercise.outcome is not None:
        mark = "✅" if verdict.status == "passed" else "❌"
        text = verdict.messages[0].replace("\n", "\n   ") if verdict.messages else ""
        print(f"{mark} {name}: {verdict.points:g} of {exercise.points:g} points. {text}")
        if verdict.status != "passed" and exercise.hint:
            print(f"💡 Hint: {exercise.hint}")
    elif verdict.status == "passed":
        print(f"✅ {name}: all {verdict.total} cases passed. Well done!")
    else:
        print(f"❌ {name}: {verdict.passed} of {verdict.total} cases passed. First failure:")
        print("   " + verdict.messages[0].replace("\n", "\n   "))
        if exercise.hint:
            print(f"💡 Hint: {exercise.hint}")
