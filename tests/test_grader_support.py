"""Shared by the grader's tests (no tests here): submissions built as students build them, and running the grader.

A submission starts from the released student edition of the getting-started chapter
(``book/getting_started.ipynb``, exactly what a student downloads) and replaces the exercise cells by the
student's code, or adds cells, the way a student does in Jupyter.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dnncourse.exercises import all_exercises, marked_exercise

ROOT = Path(__file__).resolve().parents[1]
RELEASED = ROOT / "book" / "getting_started.ipynb"
CHAPTER = "getting_started"

CORRECT = {
    "softmax": """def softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)""",
    "cross_entropy": """def cross_entropy(logits, labels):
    m = logits.max(axis=1, keepdims=True)
    log_z = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    return float(np.mean(log_z - logits[np.arange(len(labels)), labels]))""",
    "accuracy": """def accuracy(logits, labels):
    return float(np.mean(logits.argmax(axis=1) == labels))""",
}
POINTS = {exercise_id: all_exercises()[exercise_id].points for exercise_id in CORRECT}
MAX = sum(POINTS.values())

requires_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None,
    reason="bubblewrap is not installed (apt-get install bubblewrap; .ci/run installs it)",
)


def released() -> nbformat.NotebookNode:
    """The student edition as released, with the chapter recorded as the release step records it."""
    nb = nbformat.read(RELEASED, as_version=4)
    nb.metadata["dnncourse"] = {"chapter": CHAPTER}
    return nb


def notebook(*, before: dict[str, list[str]] | None = None, **bodies: str) -> nbformat.NotebookNode:
    """A student's notebook: each exercise cell holds ``bodies[id]`` (default: a correct solution).

    ``before[id]`` lists cells the student added just before that exercise's cell. A body of ``None``
    keeps the released stub.
    """
    nb = released()
    cells = []
    for cell in nb.cells:
        exercise_id = marked_exercise(cell.source) if cell.cell_type == "code" else None
        if exercise_id is not None:
            cells += [nbformat.v4.new_code_cell(source) for source in (before or {}).get(exercise_id, [])]
            body = bodies.get(exercise_id, CORRECT[exercise_id])
            if body is not None:
                cell = nbformat.v4.new_code_cell(f"# EXERCISE: {exercise_id}\n{body}")
        cells.append(cell)
    nb.cells = cells
    return nb


def write(folder: Path, name: str, nb: nbformat.NotebookNode) -> Path:
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def read_reports(csv_path: Path, json_path: Path | None = None) -> tuple[dict, dict]:
    """(rows of grades.csv by file, grades.json)."""
    json_path = json_path or csv_path.with_suffix(".json")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = {row["file"]: row for row in csv.DictReader(handle)}
    return rows, json.loads(json_path.read_text(encoding="utf-8"))


def by_file(report: dict) -> dict[str, dict]:
    return {submission["file"].removesuffix(".ipynb"): submission for submission in report["submissions"]}


def grade_in_subprocess(
    folder: Path, out: Path, *args: str, env: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``dnncourse grade`` as an instructor runs it, in its own process."""
    command = [sys.executable, "-m", "dnncourse.cli", "grade", str(folder), "--out", str(out), "--quiet", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
