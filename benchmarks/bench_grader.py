"""Benchmark: ``dnncourse grade`` on 100 submissions of the getting-started chapter (three exercises each).

Target (issue 12): at most 60 s for 100 submissions x 3 exercises with ``--jobs 2`` on the 2-core reference
machine, every submission in its own bubblewrap sandbox. Reported separately:

* ``setup_seconds``: what a run pays once (finding what NumPy and PyTorch load, starting one sandbox
  that imports both);
* ``sandbox_overhead_seconds``: what the sandbox adds to each submission: the time to start the runner
  in bubblewrap, have it import NumPy and stop, minus the same without the sandbox (median of repeats).

Wall times depend on what else the machine is doing: measure on an otherwise idle machine.

Not a test: run ``python benchmarks/bench_grader.py [N]`` or call :func:`run`.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import nbformat

from dnncourse.exercises import marked_exercise
from dnncourse.grading import layout, sandbox
from dnncourse.grading import main as grade
from dnncourse.grading.results import Settings

__all__ = ["run", "sandbox_overhead"]

RELEASED = Path(__file__).resolve().parents[1] / "book" / "getting_started.ipynb"
_SOLUTIONS = {
    "softmax": (
        "def softmax(logits):\n    z = logits - logits.max(axis=1, keepdims=True)\n    e = np.exp(z)\n"
        "    return e / e.sum(axis=1, keepdims=True)"
    ),
    "cross_entropy": (
        "def cross_entropy(logits, labels):\n    m = logits.max(axis=1, keepdims=True)\n"
        "    log_z = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))\n"
        "    return float(np.mean(log_z - logits[np.arange(len(labels)), labels]))"
    ),
    "accuracy": "def accuracy(logits, labels):\n    return float(np.mean(logits.argmax(axis=1) == labels))",
}
_WRONG = {
    "softmax": "def softmax(logits):\n    e = np.exp(logits)\n    return e / e.sum(axis=1, keepdims=True)",
    "cross_entropy": "def cross_entropy(logits, labels):\n    raise NotImplementedError",
    "accuracy": "def accuracy(logits, labels):\n    return float(np.mean(logits.argmax(axis=1) == labels))",
}


def _submission(i: int) -> nbformat.NotebookNode:
    """Submission ``i``: the released student edition, filled in; every third one gets one exercise wrong."""
    nb = nbformat.read(RELEASED, as_version=4)
    nb.metadata["dnncourse"] = {"chapter": "getting_started"}
    for cell in nb.cells:
        exercise_id = marked_exercise(cell.source) if cell.cell_type == "code" else None
        if exercise_id in _SOLUTIONS:
            wrong = i % 3 == 0 and list(_SOLUTIONS).index(exercise_id) == i % 9 // 3
            cell.source = f"# EXERCISE: {exercise_id}\n{(_WRONG if wrong else _SOLUTIONS)[exercise_id]}"
    if i % 5 == 0:  # a helper cell the student added
        nb.cells.append(nbformat.v4.new_code_cell("def helper(z):\n    return z - z.max()"))
    return nb


def _start_and_stop(shown: layout.Layout, settings: Settings, work: Path) -> float:
    """Seconds to start the runner (NumPy only), have it ready, and stop it."""
    folder = Path(tempfile.mkdtemp(dir=work))
    (folder / "job").mkdir()
    (folder / "scratch").mkdir()
    (folder / "answers").mkdir()
    limits = {"memory_mb": settings.memory_mb, "file_mb": settings.file_mb, "cpu_seconds": 60}
    spec = {"limits": limits, "needs_torch": False, "setup": [], "check_name": "check", "cells": [], "exercises": {}}
    (folder / "job" / "job.json").write_text(json.dumps(spec))
    start = time.perf_counter()
    session = sandbox.start(shown, folder / "job", folder / "answers", [], settings)
    if session.ready(60) != "ok" or session.finish() != 0:
        raise RuntimeError(f"the runner did not start: {session.output()}")
    return time.perf_counter() - start


def sandbox_overhead(repeats: int = 15) -> dict:
    """Median seconds to start and stop a runner with and without bubblewrap, interleaved, and the setup time."""
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        work = Path(tmp)
        settings = Settings()
        start = time.perf_counter()
        (work / "with").mkdir()
        shown = layout.prepare(settings, work / "with")
        sandbox.smoke_test(shown, settings, work / "with")
        setup = time.perf_counter() - start
        (work / "without").mkdir()
        plain = layout.prepare(replace(settings, sandbox=False), work / "without")
        sandboxed, unsandboxed = [], []
        for _ in range(repeats):
            sandboxed.append(_start_and_stop(shown, settings, work))
            unsandboxed.append(_start_and_stop(plain, replace(settings, sandbox=False), work))
    return {
        "setup_seconds": round(setup, 2),
        "start_in_sandbox_seconds": round(statistics.median(sandboxed), 3),
        "start_without_sandbox_seconds": round(statistics.median(unsandboxed), 3),
        "sandbox_overhead_seconds": round(statistics.median(sandboxed) - statistics.median(unsandboxed), 3),
    }


def run(n: int = 100, jobs: int = 2) -> dict:
    """Grade ``n`` generated submissions with ``--jobs``; the whole command's wall time, and the sandbox's share."""
    with tempfile.TemporaryDirectory(prefix="bench-grader-") as tmp:
        folder = Path(tmp) / "submissions"
        folder.mkdir()
        for i in range(n):
            nbformat.write(_submission(i), folder / f"student_{i:03d}.ipynb")
        start = time.perf_counter()
        out = str(Path(tmp) / "grades.csv")
        code = grade([str(folder), "--out", out, "--jobs", str(jobs), "--seed", "0", "--quiet"])
        seconds = time.perf_counter() - start
        if code != 0:
            raise RuntimeError(f"dnncourse grade failed with exit code {code}")
        report = json.loads((Path(tmp) / "grades.json").read_text())
    statuses: dict[str, int] = {}
    for submission in report["submissions"]:
        for outcome in submission["exercises"].values():
            statuses[outcome["status"]] = statuses.get(outcome["status"], 0) + 1
    return {
        "name": "grader_100_submissions",
        "seconds": round(seconds, 1),
        "submissions": n,
        "exercises_per_submission": len(_SOLUTIONS),
        "jobs": jobs,
        "seconds_per_submission": round(seconds / n, 3),
        "target_seconds": 60,
        "sandbox": report["sandbox"],
        "statuses": statuses,
        **sandbox_overhead(),
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100), indent=2))
