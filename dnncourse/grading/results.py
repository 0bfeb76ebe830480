"""What a grading run produces and is configured with: settings, statuses, per-exercise and per-notebook results."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["STATUSES", "GradingError", "Settings", "ExerciseResult", "SubmissionResult"]

STATUSES = ("passed", "failed", "not-attempted", "error", "timeout", "flagged")


class GradingError(RuntimeError):
    """A problem with the grading environment or its configuration (never a student's fault): exit code 2."""


@dataclass
class Settings:
    """Limits, seed and options of a grading run (recorded in ``grades.json``)."""

    timeout: float = 60.0  # wall-clock seconds for an exercise's cell and cases (and again for the cells before it)
    memory_mb: int = 2048  # memory the submission may allocate, on top of Python + NumPy (+ PyTorch)
    seed: int = 0  # run seed; each submission's seed is derived from it and the file name
    chapter: str | None = None  # grade every notebook as this chapter (default: each notebook's metadata)
    book: str | None = None  # folder of the released student editions (default: the repository's book/)
    sandbox: bool = True  # run submissions in bubblewrap (False: --no-sandbox, recorded with a warning)
    file_mb: int = 64  # largest file the submission may write (its answers), in MB
    scratch_mb: int = 64  # size of the submission's private scratch folder (a tmpfs), in MB
    startup_timeout: float = 60.0  # seconds for the sandbox to start Python and import NumPy/PyTorch
    max_notebook_mb: int = 64  # larger notebook files are an error row, not read
    # The grader analyses the student's code in its own process (IPython's translation, syntax trees): more
    # code than this in the cells a student added or changed is an error row (a chapter: ~40 kB, ~1000 lines).
    max_code_kb: int = 1000
    max_code_lines: int = 20_000  # lines and semicolons, at least one per cell
    # Without bubblewrap (sandbox False), run submissions as this unprivileged user (the grader being root):
    # the weaker isolation of the Gradescope autograder where user namespaces are unavailable.
    run_as: str | None = None

    def __post_init__(self) -> None:
        """``ValueError`` naming the setting that is not of its type or range (a journal is a file one can edit)."""
        for name, kind in _SETTING_KINDS.items():
            value = getattr(self, name)
            if kind == "positive number":
                good = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf
            elif kind == "positive integer":
                good = isinstance(value, int) and not isinstance(value, bool) and value > 0
            elif kind == "non-negative integer":
                good = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            elif kind == "text or none":
                good = value is None or isinstance(value, str)
            else:
                good = isinstance(value, bool)
            if not good:
                raise ValueError(f"the setting {name} must be a {kind}, got {value!r}")


_SETTING_KINDS = {
    "timeout": "positive number",
    "memory_mb": "positive integer",
    "seed": "non-negative integer",
    "chapter": "text or none",
    "book": "text or none",
    "sandbox": "true or false",
    "file_mb": "positive integer",
    "scratch_mb": "positive integer",
    "startup_timeout": "positive number",
    "max_notebook_mb": "positive integer",
    "max_code_kb": "positive integer",
    "max_code_lines": "positive integer",
    "run_as": "text or none",
}


@dataclass
class ExerciseResult:
    """The grade of one exercise of one submission."""

    points: float
    max_points: float
    status: str  # one of STATUSES
    reason: str
    cases_passed: int = 0
    cases_total: int = 0
    value: float | None = None  # what an exercise graded by outcome measured (e.g. an accuracy)
    # What the student's feedback shows (:mod:`dnncourse.grading.feedback`), all text: ``kind`` (the failure
    # in a few words, counted by the statistics), ``case`` (the first failed case's name, never its seed),
    # ``inputs`` (name -> value shown), ``expected``, ``got``, ``message``, ``error`` and ``traceback``
    # (the lines of the student's own code only).
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExerciseResult:
        """From :func:`dataclasses.asdict`'s dictionary (a journal line); ``ValueError`` if it is malformed."""
        result = cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})
        numbers = (result.points, result.max_points, *([] if result.value is None else [result.value]))
        if not all(_is_number(x) for x in numbers) or result.status not in STATUSES:
            raise ValueError(f"malformed exercise result: {str(data)[:200]}")
        if not isinstance(result.reason, str) or not all(
            _is_number(x) and x == int(x) for x in (result.cases_passed, result.cases_total)
        ):
            raise ValueError(f"malformed exercise result: {str(data)[:200]}")
        if not _is_details(result.details):
            raise ValueError(f"malformed details of an exercise result: {str(result.details)[:200]}")
        return result


@dataclass
class SubmissionResult:
    """The grades of one submitted notebook."""

    file: str  # path under the submissions folder, as text (undecodable bytes shown as \\xNN)
    seed: int  # seed of this submission's random cases and outcomes
    chapter: str | None = None  # the chapter it was graded as
    exercises: dict[str, ExerciseResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problem: str | None = None  # the grader itself failed on this notebook (not the student's fault)
    max_points: float = 0.0  # the chapter's points, whatever the notebook contains

    @property
    def total(self) -> float:
        return round(sum(result.points for result in self.exercises.values()), 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "seed": self.seed,
            "chapter": self.chapter,
            "exercises": {key: asdict(value) for key, value in self.exercises.items()},
            "notes": self.notes,
            "problem": self.problem,
            "total": self.total,
            "max_points": self.max_points,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionResult:
        """From :meth:`to_dict`'s dictionary (a journal line); ``ValueError`` if it is malformed."""
        try:
            result = cls(
                file=data["file"],
                seed=data["seed"],
                chapter=data.get("chapter"),
                exercises={str(key): ExerciseResult.from_dict(value) for key, value in data["exercises"].items()},
                notes=list(data.get("notes", [])),
                problem=data.get("problem"),
                max_points=data.get("max_points", 0.0),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"malformed result: {type(error).__name__}: {error}") from None
        texts = (result.file, *result.notes, *(x for x in (result.chapter, result.problem) if x is not None))
        if not all(isinstance(x, str) for x in texts) or not _is_number(result.max_points):
            raise ValueError(f"malformed result of {str(result.file)[:100]}")
        if not isinstance(result.seed, int) or isinstance(result.seed, bool):
            raise ValueError(f"malformed result of {result.file}: seed {result.seed!r}")
        return result


def _is_details(details: Any) -> bool:
    """A dictionary of texts, whose ``inputs`` (if any) is a dictionary of texts."""
    if not isinstance(details, dict):
        return False
    for key, value in details.items():
        if key == "inputs":
            texts = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
            if not texts:
                return False
        elif not isinstance(key, str) or not isinstance(value, str):
            return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
