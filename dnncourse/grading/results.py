"""What a grading run produces and is configured with: settings, statuses, per-exercise and per-notebook results."""

from __future__ import annotations

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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExerciseResult:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


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
        return cls(
            file=data["file"],
            seed=data["seed"],
            chapter=data.get("chapter"),
            exercises={key: ExerciseResult.from_dict(value) for key, value in data["exercises"].items()},
            notes=list(data.get("notes", [])),
            problem=data.get("problem"),
            max_points=data.get("max_points", 0.0),
        )
