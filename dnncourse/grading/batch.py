"""The batch: every notebook of a folder, graded in parallel, each result kept as soon as it is done.

:class:`Batch` first checks everything that does not depend on a student (``prepare``): the notebooks
are there, each chapter's released student edition is found, every reference implementation passes its
own cases (an exercise graded by outcome: the reference configuration is scored, and the result is
recorded for the instructor), and a sandbox starts. Any problem there is the grader's (``GradingError``,
exit code 2, no grades written). Then ``grade`` grades the notebooks ``jobs`` at a time, appending each
result to the journal as it finishes; Ctrl-C stops the sandboxes at once and keeps what was done.
"""

from __future__ import annotations

import hashlib
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dnncourse.exercises import Exercise, Outcome, all_exercises, plain_data, run_case
from dnncourse.grading import layout, sandbox
from dnncourse.grading.notebooks import find_submissions, read_file, read_notebook, released_code
from dnncourse.grading.program import chapter_imports, imported_modules
from dnncourse.grading.reports import Journal
from dnncourse.grading.results import GradingError, Settings, SubmissionResult
from dnncourse.grading.submission import Context, Interrupted, grade_submission, setup_imports, submission_seed

__all__ = ["Batch", "check_references"]


def check_references(exercises: list[Exercise], seed: int) -> dict[str, dict[str, Any]]:
    """Run each reference on its cases (a reference that raises is the grader's problem, not the students').

    For an exercise graded by outcome, score the reference answer and return what it achieved, by id.
    """
    achieved: dict[str, dict[str, Any]] = {}
    for exercise in exercises:
        try:
            if exercise.outcome is not None:
                outcome = exercise.outcome(plain_data(exercise.reference()), seed)
                if not isinstance(outcome, Outcome):
                    raise TypeError(f"outcome returned a {type(outcome).__name__}, not an Outcome")
                achieved[exercise.id] = {"seed": seed, **asdict(outcome)}
                continue
            for case in exercise.cases(seed, hidden=True):
                answer = run_case(exercise, exercise.reference, case)
                if exercise.property_check is not None and exercise.property_check(case.inputs, answer) is not None:
                    raise ValueError("the reference's answer fails the exercise's own property check")
        except Exception as error:
            raise GradingError(
                f"the reference implementation of exercise {exercise.id!r} fails: {type(error).__name__}: {error}"
            ) from error
    return achieved


class Batch:
    """One grading run over a folder of notebooks."""

    def __init__(self, folder: Path, settings: Settings, jobs: int = 1, progress: bool = False):
        self.folder, self.settings, self.jobs, self.progress = Path(folder), settings, max(1, jobs), progress
        self.notebooks: list[tuple[str, bytes]] = []
        self.chapters: dict[str, list[Exercise]] = {}
        self.references: dict[str, dict[str, Any]] = {}
        self.warnings: list[str] = []
        self.context: Context | None = None

    def prepare(self, work: Path) -> None:
        """Everything that must work before any student is graded; ``GradingError`` otherwise."""
        settings = self.settings
        if self.folder.exists() and not self.folder.is_dir():
            raise GradingError(f"{self.folder} is a file, not the folder of the submitted notebooks")
        if not self.folder.is_dir():
            raise GradingError(f"no such folder: {self.folder}")
        self.notebooks = find_submissions(self.folder)
        if not self.notebooks:
            raise GradingError(f"no notebooks (*.ipynb) under {self.folder}")
        registry: dict[str, list[Exercise]] = {}
        for exercise in all_exercises().values():
            registry.setdefault(exercise.chapter, []).append(exercise)
        if settings.chapter is not None and settings.chapter not in registry:
            raise GradingError(
                f"no exercises for chapter {settings.chapter!r}; chapters with exercises: {', '.join(sorted(registry))}"
            )
        recorded = {}
        for name, path in self.notebooks:
            try:
                recorded[name] = read_notebook(path, settings.max_notebook_mb * 2**20).chapter
            except ValueError:
                recorded[name] = None
        found = {chapter for chapter in recorded.values() if chapter in registry}
        default = settings.chapter or (next(iter(found)) if len(found) == 1 else None)
        used = {settings.chapter} if settings.chapter else found
        if not used:
            raise GradingError(
                "no notebook records a chapter with exercises (metadata dnncourse.chapter, written by "
                "`dnncourse release`): grade them with --chapter"
            )
        others = sorted(name for name, chapter in recorded.items() if chapter and chapter != settings.chapter)
        if settings.chapter and others:  # a mistyped --chapter grades a whole class as not attempted
            self.warnings.append(
                f"--chapter {settings.chapter}: {len(others)} of {len(recorded)} notebooks record another chapter "
                f"(for example {others[0]}: {recorded[others[0]]}); they are graded as {settings.chapter}"
            )
        if len(used) > 1:
            counts = ", ".join(f"{c} ({sum(r == c for r in recorded.values())})" for c in sorted(used))
            self.warnings.append(
                f"the notebooks are from several chapters: {counts}; pass --chapter to grade one assignment"
            )
        self.chapters = {chapter: registry[chapter] for chapter in sorted(used)}
        book = Path(settings.book) if settings.book else None
        released = {chapter: released_code(chapter, book) for chapter in self.chapters}
        self.references = check_references([e for ex in self.chapters.values() for e in ex], settings.seed)
        for exercise_id, achieved in self.references.items():
            if achieved["fraction"] < 1:
                self.warnings.append(
                    f"the reference answer of {exercise_id} earns only {achieved['fraction']:.0%} of its points: "
                    f"{achieved['reason']}"
                )
        if not settings.sandbox and settings.run_as is None:
            self.warnings.append("--no-sandbox: the submissions ran without isolation, as the grader's own user")
        setup = setup_imports([e for listed in self.chapters.values() for e in listed])
        imports = {statement for code in released.values() for statement in chapter_imports(code).values()}
        shown = layout.prepare(
            settings, work, tuple(module.split(".")[0] for module, _ in setup), tuple(imported_modules(imports))
        )
        sandbox.smoke_test(shown, settings, work, setup)
        self.context = Context(settings, shown, work, self.chapters, released, default)

    @property
    def columns(self) -> list[str]:
        return [exercise.id for exercises in self.chapters.values() for exercise in exercises]

    def _grade_one(self, name: str, path: bytes) -> tuple[SubmissionResult, str | None]:
        try:
            digest = hashlib.sha256(read_file(path, self.settings.max_notebook_mb * 2**20)).hexdigest()
        except ValueError:
            digest = None
        try:
            return grade_submission(path, name, self.context), digest
        except Interrupted:
            raise
        except Exception as error:  # a bug of ours must not stop the batch; it is reported, never a silent 0
            result = SubmissionResult(name, submission_seed(self.settings.seed, name))
            result.problem = f"grader error: {type(error).__name__}: {error}"
            return result, digest

    def grade(self, journal: Journal) -> list[SubmissionResult]:
        """Grade every notebook the journal does not already hold (unchanged and without a grader problem)."""
        results: dict[str, SubmissionResult] = {}
        todo = []
        for name, path in self.notebooks:
            entry = journal.entries.get(name)
            if entry and not entry["result"].get("problem") and entry.get("digest") == self._digest(path):
                results[name] = SubmissionResult.from_dict(entry["result"])
            else:
                todo.append((name, path))
        if journal.entries:
            print(f"resuming: {len(results)} notebook(s) already graded, {len(todo)} to grade", file=sys.stderr)
        bar = _progress(len(todo), self.progress)
        stop = self.context.stop
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            pending: set[Future] = {pool.submit(self._grade_one, name, path) for name, path in todo}
            try:
                while pending:
                    finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in finished:
                        result, digest = future.result()
                        journal.add(result, digest)
                        results[result.file] = result
                        bar.update(1)
            except BaseException:
                stop.set()
                for future in pending:
                    future.cancel()
                self.context.kill_all()
                raise
            finally:
                bar.close()
        return [results[name] for name, _ in self.notebooks]

    def _digest(self, path: bytes) -> str | None:
        try:
            return hashlib.sha256(read_file(path, self.settings.max_notebook_mb * 2**20)).hexdigest()
        except ValueError:
            return None

    def report(self) -> dict[str, Any]:
        """Everything grades.json records besides the submissions."""
        layout = self.context.layout
        exercises = {}
        for chapter, listed in self.chapters.items():
            for exercise in listed:
                exercises[exercise.id] = {
                    "points": exercise.points,
                    "chapter": chapter,
                    "rtol": exercise.rtol,
                    "atol": exercise.atol,
                    "graded_by": "outcome" if exercise.outcome is not None else "cases",
                }
                if exercise.id in self.references:
                    exercises[exercise.id]["reference_outcome"] = self.references[exercise.id]
        return {
            "run_seed": self.settings.seed,
            "settings": asdict(self.settings),
            "sandbox": layout.version if layout.bwrap else _isolation_without_bwrap(self.settings),
            "warnings": self.warnings,
            "chapters": {chapter: round(sum(e.points for e in listed), 2) for chapter, listed in self.chapters.items()},
            "exercises": exercises,
        }


def _isolation_without_bwrap(settings: Settings) -> str:
    if settings.run_as is not None:
        return f"unprivileged user {settings.run_as} (no bubblewrap: weaker isolation, see the README)"
    return "none (--no-sandbox: submissions ran without isolation)"


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, wanted: bool) -> Any:
    """A tqdm progress bar on a terminal (standard error), nothing otherwise."""
    if not wanted or not sys.stderr.isatty():
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, unit="notebook", desc="grading", file=sys.stderr)
