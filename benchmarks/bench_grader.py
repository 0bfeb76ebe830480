"""Benchmark: grade 100 submissions of the getting-started notebook (three exercises) with ``dnncourse grade``.

Target (issue 3): under 3 minutes on the 2-core reference machine. Not a test: run
``python benchmarks/bench_grader.py [N]`` or call :func:`run`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from dnncourse.grading import main as grade

__all__ = ["run"]

_SOLUTIONS = {
    "softmax": "def softmax(logits):\n    z = logits - logits.max(axis=1, keepdims=True)\n    e = np.exp(z)\n    return e / e.sum(axis=1, keepdims=True)",
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
    "accuracy": "def accuracy(logits, labels):\n    return float(np.mean(logits.argmin(axis=1) == labels))",
}


def _submission(i: int) -> nbformat.NotebookNode:
    """Submission ``i``: mostly right; every third one gets one exercise wrong (a realistic mix)."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import numpy as np\nfrom dnncourse.exercises import check"))
    for j, (exercise_id, body) in enumerate(_SOLUTIONS.items()):
        if i % 3 == 0 and i % 9 // 3 == j:
            body = _WRONG[exercise_id]
        nb.cells.append(nbformat.v4.new_code_cell(f"# EXERCISE: {exercise_id}\n{body}"))
        nb.cells.append(nbformat.v4.new_code_cell(f'check("{exercise_id}", {exercise_id})'))
    return nb


def run(n: int = 100, jobs: int | None = None) -> dict:
    """Grade ``n`` generated submissions; returns the timing (wall seconds of the whole ``dnncourse grade``)."""
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-grader-") as tmp:
        folder = Path(tmp) / "submissions"
        folder.mkdir()
        for i in range(n):
            nbformat.write(_submission(i), folder / f"student_{i:03d}.ipynb")
        start = time.perf_counter()
        code = grade([str(folder), "--out", str(Path(tmp) / "grades.csv"), "--jobs", str(jobs), "--seed", "0", "--quiet"])
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
        "target_seconds": 180,
        "statuses": statuses,
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100), indent=2))
