"""One Gradescope submission: ``python -m dnncourse.grading.gradescope run [--root /autograder]``.

``run_autograder`` (written by :mod:`dnncourse.grading.gradescope`) calls :func:`run`, which

1. picks the notebook to grade in ``ROOT/submission``: the only one, or the one named like the chapter
   (otherwise ``results.json`` says what to submit, with 0 points);
2. chooses the isolation: bubblewrap where it can create its namespaces, else (the grader being root, as in
   Gradescope's containers) the same runner as ``--no-sandbox`` started as an unprivileged user, under the
   same limits and seccomp filter, with the grader's files and the results folder closed to it;
3. grades the notebook with the grader's Python API (:class:`~dnncourse.grading.batch.Batch`), the chapter
   fixed by ``config.json``;
4. writes ``ROOT/results/results.json`` atomically, in Gradescope's schema
   (https://gradescope-autograders.readthedocs.io/en/latest/specs/): the score, one test per exercise with
   the student's feedback (:func:`dnncourse.grading.feedback.exercise_markdown`) as Markdown, and the notes,
   warnings and isolation in the top ``output``. What it prints goes to Gradescope's ``stdout``, which only
   the staff see.

When the grader itself fails (the sandbox cannot start, the set-up is broken), no ``results.json`` is written:
:func:`run` returns 1 or 2 with the reason on standard error, so that Gradescope reports an autograder
failure to the staff instead of a 0 to the student.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path, PurePosixPath
from typing import Any

from dnncourse.exercises import Exercise
from dnncourse.grading.batch import Batch
from dnncourse.grading.feedback import exercise_markdown
from dnncourse.grading.gradescope import STUDENT_USER, chapter_exercises
from dnncourse.grading.layout import BWRAP_MISSING
from dnncourse.grading.notebooks import find_submissions, read_file
from dnncourse.grading.reports import Journal, atomic_write
from dnncourse.grading.results import GradingError, Settings, SubmissionResult

__all__ = ["run", "choose_notebook", "choose_isolation", "results_json"]

_BWRAP_PROBE = (  # the namespaces and options of the grader's sandbox (sandbox.Session._bwrap), around `true`
    "--unshare-all --unshare-user --uid 65534 --gid 65534 --die-with-parent --new-session --disable-userns "
    "--cap-drop ALL --ro-bind / / --proc /proc --dev /dev true"
).split()
_ISOLATION_WORDS = {
    "bubblewrap": "Your code ran in the grader's bubblewrap sandbox.",
    "user": "Your code ran as an unprivileged user, without the bubblewrap sandbox.",
}


def _fail(code: int, message: str) -> int:
    print(f"error: {message}\nNo results.json was written.", file=sys.stderr)
    return code


def choose_notebook(folder: Path, chapter: str, max_bytes: int) -> tuple[str | None, bytes | str]:
    """``(name, bytes)`` of the notebook to grade in ``folder``, or ``(None, what to tell the student)``."""
    found = find_submissions(folder) if folder.is_dir() else []
    wanted = f"{chapter}.ipynb"
    if not found:
        return None, f"Your submission holds no notebook: submit your `{wanted}` (the chapter's notebook)."
    if len(found) > 1:
        named = [(name, path) for name, path in found if PurePosixPath(name).name == wanted]
        if len(named) != 1:
            listed = ", ".join(f"`{name}`" for name, _ in found[:10])
            return None, (
                f"Your submission holds {len(found)} notebooks ({listed}) and the grader cannot tell which to "
                f"grade: submit only your `{wanted}`."
            )
        found = named
    name, path = found[0]
    try:
        return name, read_file(path, max_bytes)
    except ValueError as error:
        return None, f"Your notebook `{name}` cannot be read: {error}. Submit your `{wanted}` again."


def _bwrap_problem() -> str | None:
    """Why bubblewrap cannot start the grader's sandbox here, or None if it can."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return BWRAP_MISSING
    try:
        done = subprocess.run([bwrap, *_BWRAP_PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        return f"bubblewrap cannot start: {error}"
    if done.returncode != 0:
        return f"bubblewrap cannot create its namespaces here: {(done.stderr or done.stdout).strip()[:500]}"
    return None


def choose_isolation(wanted: str) -> tuple[str, str | None]:
    """``("bubblewrap" or "user", why bubblewrap is not used)`` for ``wanted`` (auto, bubblewrap or user).

    ``GradingError`` when neither works: bubblewrap cannot start and this process is not root.
    """
    if wanted not in ("auto", "bubblewrap", "user"):
        raise ValueError(f"isolation must be auto, bubblewrap or user, got {wanted!r}")
    problem = _bwrap_problem() if wanted != "user" else "the unprivileged user was asked for"
    if problem is None:
        return "bubblewrap", None
    if wanted == "bubblewrap":
        raise GradingError(problem)
    if os.geteuid() != 0:
        raise GradingError(
            f"{problem}\nAnd the autograder does not run as root, so it cannot run the submission as an "
            "unprivileged user either: no isolation is available here."
        )
    return "user", problem


def _close_to_student(root: Path) -> None:
    """Where the student's code runs as another user: the grader's files (the library, which holds the
    reference solutions, config.json, the released notebook) for root only, the results folder not writable
    by others (setup.sh does the same; a folder laid out by hand may not have)."""
    (root / "source").chmod(0o700)
    results = root / "results"
    results.chmod(stat.S_IMODE(results.stat().st_mode) & ~0o022)


def _seed(config: dict[str, Any], root: Path) -> int:
    """The run seed: the zip's secret with Gradescope's submission id (the same hidden cases when a submission
    is graded again); with a random id where there is no submission_metadata.json."""
    try:
        submission = json.loads((root / "submission_metadata.json").read_text())["id"]
    except (OSError, ValueError, KeyError, TypeError):
        submission = secrets.token_hex(8)
    digest = hashlib.sha256(f"{config['seed']}:{submission}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _grade(name: str, data: bytes, settings: Settings, private: Path, work: Path) -> tuple[SubmissionResult, Batch]:
    folder = private / "submission"
    folder.mkdir()
    (folder / PurePosixPath(name).name).write_bytes(data)
    batch = Batch(folder, settings, jobs=1)
    batch.prepare(work)
    journal = Journal.create(private / "grades.partial.jsonl", {"folder": str(folder), "settings": asdict(settings)})
    try:
        [result] = batch.grade(journal)
    finally:
        journal.close()
    return result, batch


def _test(number: int, exercise: Exercise, score: float, status: str, output: str) -> dict[str, Any]:
    return {
        "name": f"{exercise.id}: {exercise.function}()",
        "number": str(number),
        "score": round(score, 4),
        "max_score": exercise.points,
        "status": status,
        "output": output,
        "output_format": "md",
        "visibility": "visible",
    }


def results_json(
    result: SubmissionResult,
    exercises: list[Exercise],
    notes: list[str],
    seconds: float,
    visibility: str,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Gradescope's ``results.json`` of a graded notebook: one test per exercise, notes in the top output."""
    tests = []
    for number, exercise in enumerate(exercises, start=1):
        graded = result.exercises[exercise.id]
        status = "passed" if graded.status == "passed" else "failed"
        tests.append(_test(number, exercise, graded.points, status, exercise_markdown(exercise, graded)))
    score = round(sum(test["score"] for test in tests), 4)
    maximum = sum(exercise.points for exercise in exercises)
    name = result.file.replace("`", "'")
    lines = [f"**{score:g} of {maximum:g} points** for `{name}` (chapter {result.chapter})."]
    lines += [f"- {note}" for note in notes]
    return {
        "score": score,
        "execution_time": round(seconds),
        "output": "\n\n".join(lines[:1] + ["\n".join(lines[1:])]).strip(),
        "output_format": "md",
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {**extra, "statuses": {e.id: result.exercises[e.id].status for e in exercises}},
    }


def _not_graded(exercises: list[Exercise], message: str, visibility: str, seconds: float) -> dict[str, Any]:
    """``results.json`` for a submission the grader cannot grade: 0 points and what to submit."""
    tests = [_test(k, e, 0.0, "failed", f"Not graded: {message}") for k, e in enumerate(exercises, start=1)]
    return {
        "score": 0.0,
        "execution_time": round(seconds),
        "output": f"**Not graded.** {message}",
        "output_format": "md",
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def _write(results: Path, document: dict[str, Any]) -> None:
    atomic_write(results / "results.json", json.dumps(document, indent=2) + "\n")


def run(root: Path, isolation: str = "auto", user: str | None = None) -> int:
    """Grade ``root/submission`` and write ``root/results/results.json``; the exit code: 0 written, 1 the grader
    failed on the notebook, 2 the autograder cannot grade here (set-up, isolation); the reason on stderr."""
    start, root = time.monotonic(), Path(root)
    import dnncourse

    print(f"dnncourse {dnncourse.__version__} from {Path(dnncourse.__file__).parent}")
    try:
        config = json.loads((root / "source" / "config.json").read_text(encoding="utf-8"))
        chapter, visibility = config["chapter"], config["visibility"]
        exercises = chapter_exercises(chapter)
    except (OSError, ValueError, KeyError, TypeError) as error:
        return _fail(2, f"the autograder is not set up ({root / 'source' / 'config.json'}): {error}")
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    name, data = choose_notebook(root / "submission", chapter, Settings().max_notebook_mb * 2**20)
    if name is None:
        print(f"not graded: {data}")
        _write(results, _not_graded(exercises, str(data), visibility, time.monotonic() - start))
        return 0
    try:
        mode, why = choose_isolation(isolation)
        run_as = (user or config.get("user") or STUDENT_USER) if mode == "user" else None
        settings = Settings(
            timeout=config["timeout"],
            memory_mb=config["memory_mb"],
            seed=_seed(config, root),
            chapter=chapter,
            book=str(root / "source" / "book"),
            sandbox=mode == "bubblewrap",
            run_as=run_as,
        )
        if run_as is not None:
            print(f"isolation: unprivileged user {run_as}, because {why}")
            _close_to_student(root)
    except (GradingError, ValueError, KeyError, OSError) as error:
        return _fail(2, f"no isolation for the student's code: {error}")
    private = Path(tempfile.mkdtemp(prefix="dnncourse-autograder-"))
    work = Path(tempfile.mkdtemp(prefix="dnncourse-grade-"))
    try:
        result, batch = _grade(name, data, settings, private, work)
    except GradingError as error:
        return _fail(2, str(error))
    finally:
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    if result.problem:
        return _fail(1, f"the grader could not grade {result.file}: {result.problem}")
    notes = [_ISOLATION_WORDS[mode], *result.notes, *batch.warnings]
    extra = {"isolation": batch.report()["sandbox"], "dnncourse": config.get("dnncourse")}  # no seed: students
    document = results_json(result, exercises, notes, time.monotonic() - start, visibility, extra)
    _write(results, document)
    print(f"graded {result.file} (seed {result.seed}, {extra['isolation']}): {document['score']:g} points")
    for exercise in exercises:
        graded = result.exercises[exercise.id]
        print(f"  {exercise.id}: {graded.status}, {graded.points:g}/{graded.max_points:g}: {graded.reason[:300]}")
    return 0
