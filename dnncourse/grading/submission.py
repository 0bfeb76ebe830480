"""Grading one submitted notebook: read it, decide what runs, run it in its sandbox, judge the answers.

The notebook's chapter (its metadata, or ``--chapter``) fixes the exercises and the maximum points. The
student's cells (:mod:`dnncourse.grading.program`) run in a sandbox (:mod:`dnncourse.grading.sandbox`)
step by step, one step per exercise: the cells since the previous exercise, then the exercise's cell and
its cases (inputs drawn here, with a seed derived from the run seed and the file name). The cells before
an exercise get ``Settings.timeout`` seconds on the grader's clock, and the exercise's own cell and cases
``Settings.timeout`` more. When a step runs out of time (or the process dies):

* in a cell before the exercise: that cell counts as failed, the sandbox is restarted, the cells that
  ran are run again, and the step is tried again without it (at most twice per step);
* in the exercise's own cell or cases: the exercise gets ``timeout`` (or ``error``), and the following
  exercises are graded in a fresh sandbox, where the cells before them run again.

So a cell that fails, hangs or kills its process stops only the exercises that need what it defines.
The answers are read after each sandbox has exited and judged here (:mod:`dnncourse.grading.judge`).
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import re
import shutil
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dnncourse.exercises import Case, Exercise
from dnncourse.grading import sandbox
from dnncourse.grading.judge import judge, read_answers_file
from dnncourse.grading.layout import Layout
from dnncourse.grading.notebooks import Notebook, normalized, read_notebook
from dnncourse.grading.program import CHECK, Program, build_program, prepare_cell
from dnncourse.grading.results import ExerciseResult, Settings, SubmissionResult

__all__ = ["Context", "Interrupted", "submission_seed", "setup_imports", "grade_submission"]

_NAME_ERROR = re.compile(r"NameError: name '(?P<name>\w+)' is not defined")
_FOLDERS = itertools.count()  # a private folder per submission, numbered


class Interrupted(Exception):
    """The run was stopped (Ctrl-C): the submission being graded is left for ``--resume``."""


@dataclass
class Context:
    """What every submission of a run shares."""

    settings: Settings
    layout: Layout
    work: Path  # a private temporary folder of the run
    chapters: dict[str, list[Exercise]]  # chapter -> its exercises, in order
    released: dict[str, frozenset[str]]  # chapter -> normalized code cells of its released student edition
    default_chapter: str | None = None  # for notebooks that do not say (--chapter, or the batch's only one)
    stop: threading.Event = field(default_factory=threading.Event)  # set on Ctrl-C
    active: set[sandbox.Session] = field(default_factory=set)  # the sandboxes running now
    lock: threading.Lock = field(default_factory=threading.Lock)

    def kill_all(self) -> None:
        """Stop every running sandbox now (Ctrl-C); the threads driving them see it and give up."""
        with self.lock:
            for session in list(self.active):
                session.terminate()


def submission_seed(run_seed: int, name: str) -> int:
    """The seed of one submission's random cases and outcomes: a hash of the run seed and the file name."""
    digest = hashlib.sha256(f"{run_seed}:{name}".encode("utf-8", "backslashreplace")).digest()
    return int.from_bytes(digest[:4], "little")


def _chapter(notebook: Notebook | None, error: str | None, context: Context, result: SubmissionResult) -> str | None:
    forced, recorded = context.settings.chapter, notebook.chapter if notebook else None
    if forced and recorded and recorded != forced:
        result.notes.append(f"the notebook says it is chapter {recorded!r}; graded as {forced!r} (--chapter)")
    chapter = forced or recorded or context.default_chapter
    if chapter is None and notebook is None:
        result.problem = f"{error}; its chapter is unknown: grade it with --chapter to give it a row of errors"
    elif chapter is None:
        result.problem = (
            "the notebook does not record its chapter (metadata dnncourse.chapter, written by `dnncourse release`): "
            "grade it with --chapter"
        )
    elif chapter not in context.chapters:
        result.problem = f"the notebook says it is chapter {chapter!r}, which has no exercises: grade it with --chapter"
        chapter = None
    elif recorded is None and not forced and notebook is not None:
        result.notes.append(
            f"the notebook does not record its chapter; graded as {chapter!r}, the chapter of the other submissions"
        )
    return chapter


def grade_submission(path: bytes | str, name: str, context: Context) -> SubmissionResult:
    """Grade one notebook; never raises for anything the submission contains or does."""
    settings = context.settings
    result = SubmissionResult(name, submission_seed(settings.seed, name))
    try:
        notebook: Notebook | None = read_notebook(path, settings.max_notebook_mb * 2**20)
        error = None
    except ValueError as failure:
        notebook, error = None, str(failure)
    chapter = _chapter(notebook, error, context, result)
    if chapter is None:
        return result
    exercises = context.chapters[chapter]
    result.chapter, result.max_points = chapter, round(sum(e.points for e in exercises), 2)
    if notebook is None:
        result.exercises = {e.id: ExerciseResult(0.0, e.points, "error", error) for e in exercises}
        return result
    program = build_program(
        notebook, exercises, context.released[chapter], settings.max_code_kb, settings.max_code_lines
    )
    result.notes += program.notes
    graded = _Driver(program, result.seed, context, notebook, chapter).run() if program.steps else {}
    if any(r.reason.startswith("grader error") for r in graded.values()):
        result.problem = "the sandbox did not start for this notebook (see the exercises' reasons): grade it again"
    decided = {**program.decided, **graded}
    result.exercises = {e.id: decided[e.id] for e in exercises}
    return result


def setup_imports(exercises: list[Exercise], needs_torch: bool = True) -> list[tuple[str, str]]:
    """``(module, name)`` for each import the exercises' ``setup`` promises (torch only if the code uses it)."""
    imports: dict[str, str] = {}
    for exercise in exercises:
        for node in ast.parse(exercise.setup).body:
            if not isinstance(node, ast.Import):
                raise ValueError(f"exercise {exercise.id!r}: setup may only hold import statements")
            for alias in node.names:
                module = alias.name if alias.asname else alias.name.split(".")[0]
                imports[alias.asname or module] = module
    return [(module, name) for name, module in imports.items() if needs_torch or module != "torch"]


def _write_case(case: Case, folder: Path, stem: str) -> dict[str, Any]:
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    for name, value in case.inputs.items():
        if isinstance(value, np.generic):
            scalars[name] = value.item()
        elif isinstance(value, (bool, int, float, str)) or value is None:
            scalars[name] = value
        else:
            arrays[name] = np.asarray(value)
    if arrays:
        np.savez(folder / f"{stem}.npz", **arrays)
    return {"arrays": f"{stem}.npz" if arrays else None, "scalars": scalars, "order": list(case.inputs)}


class _Driver:
    """Runs the steps of one program in as many sandboxes as its timeouts require."""

    def __init__(self, program: Program, seed: int, context: Context, notebook: Notebook, chapter: str):
        self.program, self.seed, self.context, self.notebook = program, seed, context, notebook
        self.released = context.released[chapter]
        self.settings = context.settings
        self.steps = program.steps
        self.cases = [step.exercise.cases(seed, hidden=True) for step in self.steps]
        self.skipped: set[int] = set()  # cells not run again (they ran out of time or killed the process)
        self.failed: dict[int, str] = {}  # cell position -> why it failed
        self.decided: dict[int, ExerciseResult] = {}  # step -> timeout / error decided here
        self.answers: dict[int, tuple[dict[str, Any], dict[int, Any]]] = {}  # step -> what its runner answered
        self.folder = Path(context.work) / f"submission-{next(_FOLDERS)}"
        self.job = self.folder / "job"

    def _write_job(self) -> None:
        self.job.mkdir(parents=True)
        (self.folder / "scratch").mkdir()
        exercises = {}
        for k, (step, cases) in enumerate(zip(self.steps, self.cases)):
            exercises[str(k)] = {
                "id": step.exercise.id,
                "function": step.exercise.function,
                "torch_inputs": step.exercise.torch_inputs,
                "plain": step.exercise.outcome is not None,
                "answers": f"{k}.npz",
                "cases": [_write_case(case, self.job, f"{k}-{i}") for i, case in enumerate(cases)],
            }
        settings = self.settings
        spec = {
            "limits": {
                "memory_mb": settings.memory_mb,
                "file_mb": settings.file_mb,
                "cpu_seconds": int(settings.timeout * (2 * len(self.steps) + 2) + settings.startup_timeout),
                "processes": 256 if settings.sandbox else None,
            },
            "needs_torch": self.program.needs_torch,
            "setup": setup_imports([step.exercise for step in self.steps], self.program.needs_torch),
            "check_name": CHECK,
            "preamble": self.program.preamble,
            "cells": [{"number": cell.number, "code": cell.code} for cell in self.program.cells],
            "exercises": exercises,
        }
        (self.job / "job.json").write_text(json.dumps(spec), encoding="utf-8")

    def run(self) -> dict[str, ExerciseResult]:
        try:
            self._write_job()
            first, sessions, retries = 0, 0, Counter()
            while first < len(self.steps):
                if self.context.stop.is_set():
                    raise Interrupted
                sessions += 1
                if sessions > 3 * len(self.steps) + 2:  # each step: two cells skipped, then its own timeout
                    for k in range(first, len(self.steps)):
                        self.decided[k] = self._result(
                            k, "error", "the notebook's cells kept failing before this exercise; it was not run"
                        )
                    break
                first = self._session(sessions, first, retries)
                if self.context.stop.is_set():
                    raise Interrupted
            return {step.exercise.id: self._final(k) for k, step in enumerate(self.steps)}
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _session(self, number: int, first: int, retries: Counter) -> int:
        """Run steps from ``first`` in one sandbox; the first step still to run when it ends."""
        answers = self.folder / f"answers-{number}"
        answers.mkdir()
        files = [f"{k}.npz" for k in range(first, len(self.steps))]
        for name in files:
            (answers / name).touch()
        session = sandbox.start(self.context.layout, self.job, answers, files, self.settings)
        with self.context.lock:
            self.context.active.add(session)
            if self.context.stop.is_set():  # Ctrl-C came while it started, after kill_all had run
                session.terminate()
        done: list[int] = []
        try:
            if session.ready(self.settings.startup_timeout) != "ok":
                session.kill()
                detail = (session.output().splitlines() or ["no output"])[-1][:300]
                for k in range(first, len(self.steps)):
                    self.decided[k] = self._result(k, "error", f"grader error: the sandbox did not start ({detail})")
                return len(self.steps)
            steps = self.steps
            replay = [p for step in steps[:first] for p in (*step.before, step.cell) if p not in self.skipped]
            if replay:
                state = session.request({"run": replay}, self.settings.timeout * max(1, first))
                if state != "ok":
                    return self._stopped_in_cells(session, state, replay, first, retries, again=True)
            k = first
            while k < len(steps):
                before = [p for p in steps[k].before if p not in self.skipped]
                if before:
                    state = session.request({"run": before}, self.settings.timeout)
                    if state != "ok":
                        return self._stopped_in_cells(session, state, before, k, retries)
                state = session.request({"grade": str(k), "cell": steps[k].cell}, self.settings.timeout)
                if state != "ok":
                    self._stopped_in_exercise(session, state, k)
                    return k + 1
                done.append(k)
                k += 1
            session.finish()
            return k
        finally:
            session.kill()
            with self.context.lock:
                self.context.active.discard(session)
            self.failed.update({p: e for p, e in session.failed.items() if p not in self.failed})
            for k in done:
                self.answers[k] = read_answers_file(answers / f"{k}.npz", self.settings.file_mb * 2**20)

    def _why(self, session: sandbox.Session, state: str) -> str:
        if state == "timeout":
            return f"was still running after {self.settings.timeout:g} s"
        return f"stopped the process: {session.exit_reason()}"

    def _stopped_in_cells(
        self, session: sandbox.Session, state: str, cells: list[int], k: int, retries: Counter, again: bool = False
    ) -> int:
        """A run of cells before step ``k`` did not finish: skip the culprit and retry, or give up on step ``k``."""
        session.kill(grace=2.0 if state == "died" else 0.0)
        culprit = session.position if session.position in cells else None
        if culprit is not None and retries[k] < 2:
            retries[k] += 1
            self.skipped.add(culprit)
            self.failed[culprit] = ("when run again, " if again else "") + self._why(session, state)
            return k
        self.skipped.update(cells)
        numbers = ", ".join(str(self.program.cells[p].number) for p in cells[:5])
        status = "timeout" if state == "timeout" else "error"
        self.decided[k] = self._result(
            k, status, f"the cells before this exercise (cells {numbers}) {self._why(session, state)}"
        )
        return k + 1

    def _stopped_in_exercise(self, session: sandbox.Session, state: str, k: int) -> None:
        session.kill(grace=2.0 if state == "died" else 0.0)
        cell = self.program.cells[self.steps[k].cell]
        if not session.in_cases:
            self.skipped.add(self.steps[k].cell)
            self.failed[self.steps[k].cell] = self._why(session, state)
            where = f"its cell (cell {cell.number}) {self._why(session, state)}"
        elif state == "timeout":
            where = f"still running after {self.settings.timeout:g} s (an infinite loop?)"
        else:
            where = f"{session.exit_reason()} while running this exercise"
        self.decided[k] = self._result(k, "timeout" if state == "timeout" else "error", where)

    def _result(self, k: int, status: str, reason: str) -> ExerciseResult:
        exercise = self.steps[k].exercise
        result = ExerciseResult(0.0, exercise.points, status, reason, 0, len(self.cases[k]))
        if reason.startswith("the cells before this exercise"):
            result.details = {"kind": "an earlier cell failed"}
        elif status == "timeout":
            result.details = {"kind": "ran out of time"}
        return result

    def _final(self, k: int) -> ExerciseResult:
        if k in self.decided:
            return self.decided[k]
        status, answers = self.answers.get(k, ({"status": "error", "reason": "no answers"}, {}))
        result = judge(self.steps[k].exercise, self.cases[k], status, answers, self.seed)
        if result.status in ("error", "failed"):
            match = _NAME_ERROR.search(result.reason)
            if match:
                result.details["why"] = self._explain(match["name"], self.steps[k].cell)
                result.reason += f" ({result.details['why']})"
        return result

    def _explain(self, name: str, position: int) -> str:
        """Why ``name`` was not defined when the exercise at ``position`` ran."""
        cells = self.program.cells
        for p, cell in reversed(list(enumerate(cells[:position]))):
            if name in cell.defines and p in self.failed:
                return f"cell {cell.number}, which defines {name}, failed: {self.failed[p][:200]}"
        later = [cell.number for cell in cells[position + 1 :] if name in cell.defines]
        if later:
            return f"cell {later[0]} defines {name}, but after this exercise: the notebook runs top to bottom"
        run = {cell.number for cell in cells}
        for cell in self.notebook.code_cells:
            if cell.number in run or name not in prepare_cell(cell.number, cell.source).defines:
                continue
            if normalized(cell.source) not in self.released:
                return f"cell {cell.number} defines {name}, but after this exercise: the notebook runs top to bottom"
            return (
                f"{name} comes from cell {cell.number}, a chapter cell you did not change, which the grader does not "
                "run: define what your exercise needs in your own cells"
            )
        return f"no cell of yours defines {name}"
