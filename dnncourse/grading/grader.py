"""Grade a folder of submitted notebooks: ``dnncourse grade SUBMISSIONS_DIR --out grades.csv``.

For each submission the grader

1. reads the notebook as JSON and finds each exercise cell by its first line ``# EXERCISE: <id>``
   wherever it is (the last occurrence wins, as when the notebook runs top to bottom), dropping shell
   (``!cmd``) and magic (``%...``) lines;
2. flags an exercise cell that uses the course library (it would just call the reference): 0 points;
3. draws the inputs here, in the grader's process, from ``Exercise.cases(seed, hidden=True)`` with a
   seed derived from the run seed and the file name, and writes them as ``.npz``/JSON files;
4. runs :mod:`dnncourse.grading.runner` in a separate process (own session, no stdin, a scratch
   working directory, a sanitized environment, a wall-clock limit per exercise and a memory limit),
   which writes each answer as an ``.npz`` file of plain arrays;
5. loads the answers with ``allow_pickle=False`` and compares them with the reference implementation
   HERE, with the exercise's tolerances (:func:`dnncourse.exercises.compare`). Nothing the submission
   writes is unpickled, evaluated or imported, so patching NumPy or the checker, or forging result
   files, changes nothing.

If the process dies or times out in an exercise, that exercise gets ``error``/``timeout`` and the
remaining exercises run in a fresh process. Environment problems (no notebooks, a reference that
raises, a runner that cannot start) stop the run with an error message instead of grading anyone 0.
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dnncourse.exercises import Case, Exercise, all_exercises, compare, run_case
from dnncourse.grading.runner import decode_answer

__all__ = [
    "GradingError",
    "Settings",
    "ExerciseResult",
    "SubmissionResult",
    "find_exercise_cells",
    "clean_code",
    "library_use",
    "submission_seed",
    "grade_submission",
    "grade_folder",
    "write_reports",
    "main",
]

RUNNER = Path(__file__).with_name("runner.py")
EXERCISE_LINE = re.compile(r"^#\s*EXERCISE:\s*(?P<id>[\w.-]+)\s*$")
STATUSES = ("passed", "failed", "not-attempted", "error", "timeout", "flagged")
_OUR_PROBLEMS = ("grader error:", "the grading process did not start")  # reasons that are not the student's doing


class GradingError(RuntimeError):
    """A problem with the grading environment or its configuration (never a student's fault)."""


@dataclass
class Settings:
    """Limits and seed of a grading run."""

    timeout: float = 60.0  # wall-clock seconds allowed per exercise (the process start comes on top)
    memory_mb: int = 2048  # memory the student's code may allocate, on top of Python + NumPy + PyTorch
    seed: int = 0  # run seed; each submission's seed is derived from it and the file name
    output_cap: int = 100_000  # characters of printed output kept per process
    file_mb: int = 64  # largest file the submission's process may write
    startup_timeout: float = 120.0  # seconds allowed for the runner to import NumPy and PyTorch


@dataclass
class ExerciseResult:
    """The grade of one exercise of one submission."""

    points: float
    max_points: float
    status: str  # one of STATUSES
    reason: str
    cases_passed: int = 0
    cases_total: int = 0


@dataclass
class SubmissionResult:
    """The grades of one submitted notebook."""

    file: str
    seed: int
    exercises: dict[str, ExerciseResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return round(sum(result.points for result in self.exercises.values()), 2)

    @property
    def max_points(self) -> float:
        return round(sum(result.max_points for result in self.exercises.values()), 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "seed": self.seed,
            "exercises": {key: asdict(value) for key, value in self.exercises.items()},
            "notes": self.notes,
            "total": self.total,
            "max_points": self.max_points,
        }


# ----------------------------------------------------------------------------- reading notebooks


def _cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def read_notebook(path: Path) -> list[dict[str, Any]]:
    """The cells of a notebook file, read as plain JSON; ``ValueError`` with a short reason otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"not a valid notebook: invalid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError("not a valid notebook: no list of cells (nbformat 4 expected)")
    return [cell for cell in data["cells"] if isinstance(cell, dict)]


def find_exercise_cells(cells: list[dict[str, Any]]) -> dict[str, str]:
    """Exercise id -> source of the code cell marked ``# EXERCISE: <id>`` (the last one if repeated).

    The marker is the cell's first line that is neither blank nor a magic (``%%time``), so cells moved
    or duplicated by the student are found.
    """
    found: dict[str, str] = {}
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = _cell_source(cell)
        lines = (line.strip() for line in source.splitlines())
        first = next((line for line in lines if line and not line.startswith(("%", "!"))), "")
        match = EXERCISE_LINE.match(first)
        if match:
            found.pop(match["id"], None)  # keep the notebook order of the last occurrences
            found[match["id"]] = source
    return found


def _is_check_import(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.ImportFrom)
        and node.module == "dnncourse.exercises"
        and [alias.name for alias in node.names] == ["check"]
    )


def clean_code(source: str) -> str:
    """The cell's Python code: shell (``!cmd``) and magic (``%``, ``%%``) lines become ``pass``.

    A top-level ``from dnncourse.exercises import check`` (harmless: the grader ignores check calls)
    is dropped too. Line numbers are kept, so error messages point at the student's lines.
    """
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("!", "%")):
            line = line[: len(line) - len(stripped)] + "pass"
        lines.append(line)
    code = "\n".join(lines)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    for node in tree.body:
        if _is_check_import(node):
            for number in range(node.lineno - 1, node.end_lineno or node.lineno):
                lines[number] = "pass" if number == node.lineno - 1 else ""
    return "\n".join(lines)


def library_use(code: str) -> str | None:
    """Why the code counts as calling the course library (a reason), or None if it does not.

    Any import of ``dnncourse`` (``import dnncourse``, ``from dnncourse... import ...``,
    ``__import__("dnncourse")``, ``importlib.import_module("dnncourse...")``) or use of a name
    ``dnncourse``. The checker import ``from dnncourse.exercises import check`` is allowed.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None  # reported as a syntax error when run

    def is_library(name: str | None) -> bool:
        return bool(name) and (name == "dnncourse" or name.startswith("dnncourse."))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(is_library(alias.name) for alias in node.names):
            return f"imports {node.names[0].name} (line {node.lineno}): the exercise must not use the course library"
        if isinstance(node, ast.ImportFrom) and is_library(node.module) and not _is_check_import(node):
            return f"imports from {node.module} (line {node.lineno}): the exercise must not use the course library"
        if isinstance(node, ast.Name) and node.id == "dnncourse":
            return f"uses the name dnncourse (line {node.lineno}): the exercise must not use the course library"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and is_library(node.value.strip()):
            return f"refers to the module {node.value!r} (line {node.lineno}): the exercise must not use the course library"
    return None


# ----------------------------------------------------------------------------- inputs and the runner


def submission_seed(run_seed: int, name: str) -> int:
    """The seed of one submission's random cases: a hash of the run seed and the file name."""
    digest = hashlib.sha256(f"{run_seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _write_case(case: Case, path: Path) -> dict[str, Any]:
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    for name, value in case.inputs.items():
        if isinstance(value, np.ndarray):
            arrays[name] = value
        elif isinstance(value, np.generic):
            scalars[name] = value.item()
        elif isinstance(value, (bool, int, float, str)) or value is None:
            scalars[name] = value
        else:
            arrays[name] = np.asarray(value)
    np.savez(path, **arrays)
    return {"arrays": str(path), "scalars": scalars, "order": list(case.inputs)}


def _environment(scratch: Path) -> dict[str, str]:
    """A minimal environment for the student's process: no tokens, proxies or Python paths of ours."""
    return {
        "PATH": os.defpath,
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


@dataclass
class _Run:
    """What happened to one runner process."""

    returncode: int | None
    started: bool  # the runner got past its imports
    timed_out_in: int | None  # index of the exercise that ran out of time
    log_tail: str


class ForkServer:
    """One ``runner.py --serve`` process that has imported NumPy and PyTorch and forks a runner per request.

    Use as a context manager; :meth:`spawn` returns the new runner's process-group id.
    """

    def __init__(self, settings: Settings):
        self.home = Path(tempfile.mkdtemp(prefix="dnncourse-grade-server-"))
        self.log = self.home / "server.log"
        self.lock = threading.Lock()
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(RUNNER), "--serve"],
                cwd=self.home,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=_environment(self.home),
                start_new_session=True,
                text=True,
            )
        ready = _read_line(self.process, settings.startup_timeout)
        if ready != "ready":
            output = _tail(self.log) or "(none)"
            self.close()
            raise GradingError(f"the grading process cannot run here (it must import NumPy and PyTorch); its output:\n{output}")

    def spawn(self, request: dict[str, Any]) -> int | None:
        """Fork a runner for ``request``; None if the server is gone (the caller starts a runner itself)."""
        with self.lock:
            if self.process.poll() is not None:
                return None
            try:
                self.process.stdin.write(json.dumps(request) + "\n")
                self.process.stdin.flush()
                answer = _read_line(self.process, 30.0)
            except OSError:
                return None
        return int(answer) if answer.isdigit() else None

    def close(self) -> None:
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _kill(self.process)
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_line(process: subprocess.Popen, timeout: float) -> str:
    """One line from the process's stdout, or "" after ``timeout`` seconds or at its end."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0].strip() if box else ""


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the whole session: children the student started too
    except ProcessLookupError:
        pass
    process.wait()


def _killpg(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, size: int = 1500) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(max(0, path.stat().st_size - size))
            return log.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _run_runner(job: Path, indices: list[int], results: Path, scratch: Path, settings: Settings, server: ForkServer | None = None) -> _Run:
    """Run the runner on ``indices`` and watch it: a fresh clock for each exercise it starts.

    The runner is forked by ``server`` when there is one (no import cost), else started directly; either
    way it leads its own process group, which is killed on a timeout and when it ends.
    """
    log = job.parent / "output.log"
    status = job.parent / f"status-{secrets.token_hex(4)}.json"
    group, process = None, None
    if server is not None:
        group = server.spawn(
            {"job": str(job), "indices": indices, "scratch": str(scratch), "log": str(log), "env": _environment(scratch), "status": str(status)}
        )
    if group is None:
        with open(log, "ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-I", str(RUNNER), str(job), *map(str, indices)],
                cwd=scratch,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=_environment(scratch),
                start_new_session=True,
            )
        group = process.pid

    def finished() -> int | None | bool:
        if process is not None:
            code = process.poll()
            return False if code is None else code
        if status.is_file():
            try:
                return json.loads(status.read_text())["returncode"]
            except (ValueError, KeyError, OSError):
                return False
        return False

    deadline = time.monotonic() + settings.startup_timeout
    current = None
    while True:
        returncode = finished()
        if returncode is not False:
            break
        time.sleep(0.02)
        running = next((i for i in reversed(indices) if (results / f"{i}.start").exists()), None)
        if running is not None and running != current:
            current, deadline = running, time.monotonic() + settings.timeout
        if time.monotonic() > deadline:
            _killpg(group)
            if process is not None:
                process.wait()
            return _Run(None, (results / "ready").exists(), current if current is not None else -1, _tail(log))
    _killpg(group)  # stray children in the session die with it
    return _Run(returncode, (results / "ready").exists(), None, _tail(log))


def _death_reason(run: _Run) -> str:
    code = run.returncode
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        extra = " (out of memory?)" if name in ("SIGKILL", "SIGSEGV", "SIGBUS", "SIGABRT") else ""
        return f"the process was killed by {name}{extra} while running this exercise"
    return f"the process exited with code {code} while running this exercise (os._exit or a crash?)"


def _judge(exercise: Exercise, cases: list[Case], index: int, results: Path) -> ExerciseResult:
    """Compare the answers the runner wrote with the reference, in this process."""
    outcome = json.loads((results / f"{index}.json").read_text())
    status, reason = str(outcome.get("status")), str(outcome.get("reason", ""))[:500]
    total = len(cases)
    if status == "not-attempted":
        return ExerciseResult(0.0, exercise.points, "not-attempted", reason or "not attempted", 0, total)
    if status != "ran":
        return ExerciseResult(0.0, exercise.points, "error", reason or "error", 0, total)
    case_errors = outcome.get("case_errors", {}) if isinstance(outcome.get("case_errors"), dict) else {}
    passed, answered, failures = 0, 0, []
    for k, case in enumerate(cases):
        path = results / f"{index}-{k}.npz"
        label = case.label or f"case {k + 1}"
        if not path.is_file():
            failures.append(f"{label}: {str(case_errors.get(str(k), 'no answer'))[:300]}")
            continue
        answered += 1
        try:
            message = compare(exercise, case, decode_answer(path))
        except Exception as error:  # a malformed answer is the submission's problem: the case fails
            message = f"the answer could not be compared ({type(error).__name__}: {error})"
        if message is None:
            passed += 1
        else:
            failures.append(f"{label}: {message}")
    if passed == total:
        return ExerciseResult(float(exercise.points), exercise.points, "passed", f"all {total} cases passed", passed, total)
    if answered == 0 and case_errors:
        return ExerciseResult(0.0, exercise.points, "error", f"raised on every case; {failures[0]}", 0, total)
    points = round(exercise.points * passed / total, 2)
    return ExerciseResult(points, exercise.points, "failed", f"{passed} of {total} cases passed; first failure: {failures[0]}", passed, total)


def grade_submission(path: Path, name: str, exercises: list[Exercise], settings: Settings, server: ForkServer | None = None) -> SubmissionResult:
    """Grade one notebook against ``exercises``; never raises for anything the submission does."""
    result = SubmissionResult(name, submission_seed(settings.seed, name))
    try:
        cells = read_notebook(path)
    except (OSError, ValueError) as error:
        for exercise in exercises:
            result.exercises[exercise.id] = ExerciseResult(0.0, exercise.points, "error", str(error))
        return result
    found = find_exercise_cells(cells)
    known = {exercise.id for exercise in exercises}
    for unknown in sorted(set(found) - known):
        result.notes.append(f"ignored a cell marked '# EXERCISE: {unknown}' (not an exercise of this assignment)")

    to_run: list[tuple[Exercise, str]] = []
    for exercise in exercises:
        if exercise.id not in found:
            result.exercises[exercise.id] = ExerciseResult(
                0.0, exercise.points, "not-attempted", f"no cell marked '# EXERCISE: {exercise.id}' in the notebook"
            )
            continue
        code = clean_code(found[exercise.id])
        reason = library_use(code)
        if reason is not None:
            result.exercises[exercise.id] = ExerciseResult(0.0, exercise.points, "flagged", reason)
            continue
        to_run.append((exercise, code))
    if to_run:
        _run_exercises(result, to_run, settings, server)
    result.exercises = {exercise.id: result.exercises[exercise.id] for exercise in exercises}  # column order
    return result


def _run_exercises(result: SubmissionResult, to_run: list[tuple[Exercise, str]], settings: Settings, server: ForkServer | None) -> None:
    work = Path(tempfile.mkdtemp(prefix="dnncourse-grade-"))
    try:
        job_dir, scratch = work / "job", work / "scratch"
        results = work / f"results-{secrets.token_hex(8)}"  # a name the submission cannot predict
        for folder in (job_dir, scratch, results):
            folder.mkdir()
        all_cases: list[list[Case]] = []
        spec = []
        for index, (exercise, code) in enumerate(to_run):
            cases = exercise.cases(result.seed, hidden=True)
            all_cases.append(cases)
            spec.append(
                {
                    "id": exercise.id,
                    "function": exercise.function,
                    "setup": exercise.setup,
                    "code": code,
                    "torch_inputs": exercise.torch_inputs,
                    "cases": [_write_case(case, job_dir / f"{index}-{k}.npz") for k, case in enumerate(cases)],
                }
            )
        job = job_dir / "job.json"
        job.write_text(
            json.dumps(
                {
                    "exercises": spec,
                    "results": str(results),
                    "memory_mb": settings.memory_mb,
                    "file_mb": settings.file_mb,
                    "output_cap": settings.output_cap,
                }
            )
        )
        pending = list(range(len(to_run)))
        while pending:
            run = _run_runner(job, pending, results, scratch, settings, server)
            if not run.started and not any((results / f"{i}.start").exists() for i in pending):
                detail = run.log_tail.splitlines()[-1] if run.log_tail else "no output"
                for i in pending:
                    exercise = to_run[i][0]
                    result.exercises[exercise.id] = ExerciseResult(
                        0.0, exercise.points, "error", f"the grading process did not start ({detail})"
                    )
                result.notes.append("the runner failed before running any exercise")
                return
            remaining = []
            for position, i in enumerate(pending):
                exercise = to_run[i][0]
                if (results / f"{i}.json").is_file():
                    result.exercises[exercise.id] = _judge(exercise, all_cases[i], i, results)
                elif (results / f"{i}.start").is_file():
                    if run.timed_out_in == i:
                        result.exercises[exercise.id] = ExerciseResult(
                            0.0, exercise.points, "timeout",
                            f"still running after {settings.timeout:g} s (an infinite loop?)", 0, len(all_cases[i]),
                        )
                    else:
                        result.exercises[exercise.id] = ExerciseResult(
                            0.0, exercise.points, "error", _death_reason(run), 0, len(all_cases[i])
                        )
                    remaining = pending[position + 1 :]
                    break
                else:
                    remaining = pending[position:]
                    break
            if remaining == pending:  # no progress at all: give up on the rest rather than loop
                for i in remaining:
                    exercise = to_run[i][0]
                    result.exercises[exercise.id] = ExerciseResult(0.0, exercise.points, "error", "the grading process stopped before this exercise")
                return
            pending = remaining
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------------------- the whole run


def find_submissions(folder: Path) -> list[Path]:
    """The notebooks under ``folder`` (checkpoints skipped), sorted by path."""
    return sorted(p for p in Path(folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def assignment_exercises(notebooks: list[Path], chapter: str | None = None) -> list[Exercise]:
    """The exercises graded: those of ``chapter``, or of every chapter whose exercises appear in the notebooks."""
    registry = all_exercises()
    if chapter is not None:
        chosen = [exercise for exercise in registry.values() if exercise.chapter == chapter]
        if not chosen:
            chapters = sorted({exercise.chapter for exercise in registry.values()})
            raise GradingError(f"no exercises for chapter {chapter!r}; chapters with exercises: {', '.join(chapters)}")
        return chosen
    chapters: set[str] = set()
    for path in notebooks:
        try:
            ids = find_exercise_cells(read_notebook(path))
        except (OSError, ValueError):
            continue
        chapters.update(registry[i].chapter for i in ids if i in registry)
    if not chapters:
        raise GradingError("no cell marked '# EXERCISE: <id>' with a known id in any submitted notebook (use --chapter)")
    return [exercise for exercise in registry.values() if exercise.chapter in chapters]


def check_references(exercises: list[Exercise], seed: int) -> None:
    """Run each reference on its cases: a reference that raises is the grader's problem, not the students'."""
    for exercise in exercises:
        for case in exercise.cases(seed, hidden=True):
            try:
                answer = run_case(exercise, exercise.reference, case)
                if exercise.property_check is not None and exercise.property_check(case.inputs, answer) is not None:
                    raise ValueError("the reference's answer fails the exercise's own property check")
            except Exception as error:
                raise GradingError(
                    f"the reference implementation of exercise {exercise.id!r} fails on {case.label or 'a case'}: "
                    f"{type(error).__name__}: {error}"
                ) from error


def smoke_test(settings: Settings, server: ForkServer | None = None) -> None:
    """Start the runner once with no exercises: it must import NumPy and PyTorch and set its limits."""
    work = Path(tempfile.mkdtemp(prefix="dnncourse-grade-smoke-"))
    try:
        (work / "job").mkdir()
        (work / "scratch").mkdir()
        (work / "results").mkdir()
        job = work / "job" / "job.json"
        job.write_text(json.dumps({"exercises": [], "results": str(work / "results"), "memory_mb": settings.memory_mb,
                                   "file_mb": settings.file_mb, "output_cap": settings.output_cap}))
        run = _run_runner(job, [], work / "results", work / "scratch", settings, server)
        if run.returncode != 0 or not (work / "results" / "ready").exists():
            raise GradingError(
                f"the grading process cannot run here (exit code {run.returncode}); its output:\n{run.log_tail}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def grade_folder(folder: Path, settings: Settings, jobs: int = 1, chapter: str | None = None, progress: bool = True) -> tuple[list[Exercise], list[SubmissionResult]]:
    """Grade every notebook under ``folder``; ``GradingError`` for problems of the environment."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"no such folder: {folder}")
    notebooks = find_submissions(folder)
    if not notebooks:
        raise GradingError(f"no notebooks (*.ipynb) under {folder}")
    exercises = assignment_exercises(notebooks, chapter)
    check_references(exercises, settings.seed)
    with ForkServer(settings) as server:
        smoke_test(settings, server)
        return exercises, _grade_all(folder, notebooks, exercises, settings, jobs, progress, server)


def _grade_all(folder: Path, notebooks: list[Path], exercises: list[Exercise], settings: Settings, jobs: int, progress: bool, server: ForkServer) -> list[SubmissionResult]:

    def one(path: Path) -> SubmissionResult:
        name = path.relative_to(folder).as_posix()
        try:
            return grade_submission(path, name, exercises, settings, server)
        except Exception as error:  # a bug of ours must not stop the batch; it is reported, never a silent 0
            broken = SubmissionResult(name, submission_seed(settings.seed, name))
            for exercise in exercises:
                broken.exercises[exercise.id] = ExerciseResult(0.0, exercise.points, "error", f"grader error: {type(error).__name__}: {error}")
            return broken

    results: list[SubmissionResult] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, path) for path in notebooks]
        for done, future in enumerate(as_completed(futures), start=1):
            results.append(future.result())
            if progress:
                bar = "#" * (30 * done // len(notebooks))
                print(f"\rgrading [{bar:<30}] {done}/{len(notebooks)}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return sorted(results, key=lambda r: r.file)


def write_reports(exercises: list[Exercise], results: list[SubmissionResult], csv_path: Path, json_path: Path, settings: Settings) -> None:
    """``grades.csv``: file, one column of points per exercise, total, max. ``grades.json``: everything."""
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", *(exercise.id for exercise in exercises), "total", "max"])
        for result in results:
            points = [f"{result.exercises[exercise.id].points:g}" for exercise in exercises]
            writer.writerow([result.file, *points, f"{result.total:g}", f"{result.max_points:g}"])
    report = {
        "run_seed": settings.seed,
        "settings": asdict(settings),
        "exercises": {exercise.id: {"points": exercise.points, "chapter": exercise.chapter, "rtol": exercise.rtol, "atol": exercise.atol} for exercise in exercises},
        "submissions": [result.to_dict() for result in results],
    }
    Path(json_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dnncourse grade", description="Grade a folder of submitted notebooks.")
    parser.add_argument("submissions", type=Path, help="folder with the submitted .ipynb files (searched recursively)")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="CSV report (default grades.csv); the JSON report goes next to it")
    parser.add_argument("--json", type=Path, default=None, help="JSON report (default: --out with .json)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded in parallel (default: CPU count)")
    parser.add_argument("--timeout", type=float, default=60.0, help="wall-clock seconds per exercise (default 60)")
    parser.add_argument("--memory-mb", type=int, default=2048, help="memory the submission may allocate, in MB (default 2048)")
    parser.add_argument("--seed", type=int, default=None, help="run seed (default: random, recorded in the JSON report)")
    parser.add_argument("--chapter", default=None, help="grade the exercises of this chapter (default: found in the notebooks)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``dnncourse grade``: 0 when grading ran (whatever the grades), 1 when the grader itself failed on some
    submissions (reports written; those need grading again), 2 for a problem of the environment (nothing written)."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    for name in ("jobs", "timeout", "memory_mb"):
        if getattr(args, name) <= 0:
            print(f"error: --{name.replace('_', '-')} must be positive, got {getattr(args, name)}", file=sys.stderr)
            return 2
    settings = Settings(timeout=args.timeout, memory_mb=args.memory_mb, seed=secrets.randbits(32) if args.seed is None else args.seed)
    json_path = args.json or args.out.with_suffix(".json")
    start = time.monotonic()
    try:
        for path in (args.out, json_path):  # fail before grading, not after
            path.parent.mkdir(parents=True, exist_ok=True)
        exercises, results = grade_folder(args.submissions, settings, jobs=args.jobs, chapter=args.chapter, progress=not args.quiet)
        write_reports(exercises, results, args.out, json_path, settings)
    except GradingError as error:
        print(f"error: {error}\nNo grades were written.", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {error}\nNo grades were written.", file=sys.stderr)
        return 2
    counts: dict[str, int] = {}
    for result in results:
        for outcome in result.exercises.values():
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES if s in counts)
    print(f"graded {len(results)} submissions x {len(exercises)} exercises in {time.monotonic() - start:.1f} s (seed {settings.seed}): {summary}")
    print(f"wrote {args.out} and {json_path}")
    troubled = [r.file for r in results if any(e.reason.startswith(_OUR_PROBLEMS) for e in r.exercises.values())]
    if troubled:
        print(
            f"error: the grader itself failed on {len(troubled)} submission(s) ({', '.join(troubled[:5])}"
            f"{', ...' if len(troubled) > 5 else ''}); their 'error' grades are not the students' fault: grade them again",
            file=sys.stderr,
        )
        return 1
    return 0
