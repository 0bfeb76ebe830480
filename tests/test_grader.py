"""The grader on a folder of good and bad submissions, graded in ONE run, then checked file by file.

The submissions are built here from the getting-started exercises (``dnncourse/exercises/basics.py``):
a correct notebook and variants that each break one thing.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from dnncourse.exercises import all_exercises
from dnncourse.grading import grader
from dnncourse.grading.runner import decode_answer, encode_answer
from dnncourse.authoring.release import student_edition

CORRECT = {
    "softmax": '''def softmax(logits):
    # BEGIN SOLUTION
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
    # END SOLUTION''',
    "cross_entropy": '''def cross_entropy(logits, labels):
    # BEGIN SOLUTION
    m = logits.max(axis=1, keepdims=True)
    log_z = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    return float(np.mean(log_z - logits[np.arange(len(labels)), labels]))
    # END SOLUTION''',
    "accuracy": '''def accuracy(logits, labels):
    # BEGIN SOLUTION
    return float(np.mean(logits.argmax(axis=1) == labels))
    # END SOLUTION''',
}
POINTS = {exercise_id: all_exercises()[exercise_id].points for exercise_id in CORRECT}
MAX = sum(POINTS.values())
SETUP = "import numpy as np\nfrom dnncourse.exercises import check"


def notebook(**bodies: str) -> nbformat.NotebookNode:
    """The assignment notebook, with the correct solution of each exercise unless ``bodies`` replaces it."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(SETUP))
    for exercise_id, solution in CORRECT.items():
        nb.cells.append(nbformat.v4.new_markdown_cell(f"Write `{exercise_id}`."))
        nb.cells.append(nbformat.v4.new_code_cell(f"# EXERCISE: {exercise_id}\n" + bodies.get(exercise_id, solution)))
        nb.cells.append(nbformat.v4.new_code_cell(f'check("{exercise_id}", {exercise_id})'))
    return nb


def moved_and_duplicated() -> nbformat.NotebookNode:
    """Cells moved around, an early wrong copy of softmax overridden by a later right one, magics, an unknown id."""
    nb = notebook()
    wrong = nbformat.v4.new_code_cell("# EXERCISE: softmax\ndef softmax(logits):\n    return logits")
    unknown = nbformat.v4.new_code_cell("# EXERCISE: not_an_exercise\nx = 1")
    last = nb.cells.pop(7)  # the accuracy exercise cell goes first
    nb.cells.insert(1, last)
    nb.cells.insert(1, wrong)
    nb.cells.append(unknown)
    for cell in nb.cells:
        if cell.source.startswith("# EXERCISE: softmax\ndef softmax(logits):\n    # BEGIN"):
            cell.source = cell.source.replace("    z = ", "    %time\n    !ls\n    z = ")
    return nb


FORGE = '''import json, os, glob
def softmax(logits):
    raise NotImplementedError
# Find the results folder next to the working directory, then claim full marks everywhere it can.
(results,) = glob.glob("../results-*")
for i in range(3):
    with open(os.path.join(results, f"{i}.json"), "w") as f:
        json.dump({"status": "ran", "reason": "", "case_errors": {}}, f)
    for k in range(10):
        np.savez(os.path.join(results, f"{i}-{k}.npz"), a=np.zeros(1), structure=np.asarray('"a"'))
open("grades.csv", "w").write("file,total\\nforged.ipynb,6\\n")
open("passed.json", "w").write('{"status": "passed"}')'''

SUBMISSIONS = {
    "correct": notebook(),
    "moved": moved_and_duplicated(),
    # softmax ignores all columns after the third: right on the public cases, wrong on drawn ones
    "partly_wrong": notebook(softmax="""def softmax(logits):
    z = logits[:, :3] - logits[:, :3].max(axis=1, keepdims=True)
    e = np.exp(z)
    p = np.zeros_like(logits)
    p[:, :3] = e / e.sum(axis=1, keepdims=True)
    return p"""),
    "syntax_error": notebook(softmax="def softmax(logits)\n    return logits"),
    "raises": notebook(softmax="def softmax(logits):\n    raise ValueError('oops')"),
    "infinite_loop": notebook(softmax="def softmax(logits):\n    while True:\n        pass"),
    "memory": notebook(softmax="def softmax(logits):\n    big = np.ones(2**30)  # 8 GB\n    return big"),
    "prints": notebook(cross_entropy="print('x' * 10_000_000)\nimport os\nos.write(1, b'y' * 5_000_000)\n" + CORRECT["cross_entropy"]),
    "sys_exit": notebook(softmax="import sys\ndef softmax(logits):\n    sys.exit(0)"),
    "os_exit": notebook(cross_entropy="import os\nos._exit(0)"),
    "deletes": notebook(softmax="import os, shutil\nfor name in os.listdir('.'):\n    shutil.rmtree(name, ignore_errors=True) if os.path.isdir(name) else os.remove(name)\n" + CORRECT["softmax"]),
    "monkeypatch": notebook(
        softmax="np.allclose = lambda *a, **k: True\nnp.testing.assert_allclose = lambda *a, **k: None\n"
        "def softmax(logits):\n    return np.zeros_like(logits)",
        cross_entropy="import builtins\nbuiltins.check = lambda *a, **k: print('passed')\ncompare = lambda *a, **k: None\n"
        "def cross_entropy(logits, labels):\n    return 0.0",
    ),
    "forged": notebook(softmax=FORGE, cross_entropy="def cross_entropy(logits, labels):\n    raise NotImplementedError",
                       accuracy="def accuracy(logits, labels):\n    raise NotImplementedError"),
    "flagged": notebook(
        softmax="from dnncourse.metrics import softmax as reference\ndef softmax(logits):\n    return reference(logits)",
        cross_entropy="import dnncourse.metrics\ndef cross_entropy(logits, labels):\n    return dnncourse.metrics.cross_entropy(logits, labels)",
        accuracy="def accuracy(logits, labels):\n    m = __import__('dnn' + 'course.metrics', fromlist=['x'])\n    return m.accuracy(logits, labels)",
    ),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("submissions")
    for name, nb in SUBMISSIONS.items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    nbformat.write(student_edition(notebook()), folder / "stub.ipynb")
    (folder / "not_json.ipynb").write_text('{"cells": [', encoding="utf-8")
    out = tmp_path_factory.mktemp("out")
    code = grader.main([str(folder), "--out", str(out / "grades.csv"), "--timeout", "5", "--seed", "7", "--jobs", "2", "--quiet"])
    assert code == 0
    report = json.loads((out / "grades.json").read_text())
    with open(out / "grades.csv", newline="") as handle:
        rows = {row["file"]: row for row in csv.DictReader(handle)}
    by_file = {s["file"].removesuffix(".ipynb"): s for s in report["submissions"]}
    return {"report": report, "rows": rows, "by_file": by_file}


def outcome(graded: dict, name: str, exercise_id: str) -> dict:
    return graded["by_file"][name]["exercises"][exercise_id]


def assert_others_pass(graded: dict, name: str, broken: str) -> None:
    for exercise_id in POINTS:
        if exercise_id != broken:
            assert outcome(graded, name, exercise_id)["status"] == "passed", (name, exercise_id)


def test_every_submission_has_a_row_and_the_csv_matches_the_json(graded):
    assert set(graded["rows"]) == {f"{name}.ipynb" for name in [*SUBMISSIONS, "stub", "not_json"]}
    for name, submission in graded["by_file"].items():
        row = graded["rows"][f"{name}.ipynb"]
        assert list(row) == ["file", *POINTS, "total", "max"]
        assert float(row["max"]) == MAX
        assert float(row["total"]) == pytest.approx(sum(e["points"] for e in submission["exercises"].values()))
        for exercise in submission["exercises"].values():
            assert exercise["status"] in grader.STATUSES and exercise["reason"]
    assert graded["report"]["run_seed"] == 7


def test_correct_submission_gets_full_marks(graded):
    for name in ("correct", "moved"):
        assert graded["by_file"][name]["total"] == MAX
        assert all(e["status"] == "passed" and e["cases_passed"] == e["cases_total"] > 0 for e in graded["by_file"][name]["exercises"].values())


def test_moved_duplicated_cells_magics_and_unknown_ids(graded):
    notes = graded["by_file"]["moved"]["notes"]
    assert any("not_an_exercise" in note for note in notes)


def test_seeds_are_per_submission_and_recorded(graded):
    seeds = {s["file"]: s["seed"] for s in graded["report"]["submissions"]}
    assert seeds["correct.ipynb"] == grader.submission_seed(7, "correct.ipynb")
    assert len(set(seeds.values())) == len(seeds)


def test_partly_wrong_gets_partial_points(graded):
    result = outcome(graded, "partly_wrong", "softmax")
    assert result["status"] == "failed"
    n_public = len(all_exercises()["softmax"].public_cases)
    assert n_public <= result["cases_passed"] < result["cases_total"]
    assert result["points"] == pytest.approx(round(2 * result["cases_passed"] / result["cases_total"], 2))
    assert "random case" in result["reason"]
    assert_others_pass(graded, "partly_wrong", "softmax")


def test_stub_is_not_attempted(graded):
    for exercise in graded["by_file"]["stub"]["exercises"].values():
        assert exercise["status"] == "not-attempted" and exercise["points"] == 0
        assert "NotImplementedError" in exercise["reason"]


@pytest.mark.parametrize(
    "name, exercise_id, status, words",
    [
        ("syntax_error", "softmax", "error", "SyntaxError"),
        ("raises", "softmax", "error", "ValueError: oops"),
        ("infinite_loop", "softmax", "timeout", "5 s"),
        ("memory", "softmax", "error", "memory"),
        ("sys_exit", "softmax", "error", "sys.exit"),
        ("os_exit", "cross_entropy", "error", "exited"),
    ],
)
def test_broken_exercise_is_an_error_and_the_others_are_still_graded(graded, name, exercise_id, status, words):
    result = outcome(graded, name, exercise_id)
    assert result["status"] == status and result["points"] == 0
    assert words in result["reason"]
    assert_others_pass(graded, name, exercise_id)


def test_printing_megabytes_and_deleting_files_do_not_matter(graded):
    assert graded["by_file"]["prints"]["total"] == MAX
    assert graded["by_file"]["deletes"]["total"] == MAX


def test_monkeypatching_numpy_or_the_checker_does_not_matter(graded):
    for exercise_id in ("softmax", "cross_entropy"):
        result = outcome(graded, "monkeypatch", exercise_id)
        assert result["status"] == "failed" and result["points"] == 0 and result["cases_passed"] == 0
    assert outcome(graded, "monkeypatch", "accuracy")["status"] == "passed"


def test_forged_result_files_do_not_matter(graded):
    assert graded["by_file"]["forged"]["total"] == 0
    for result in graded["by_file"]["forged"]["exercises"].values():
        assert result["status"] == "not-attempted"


def test_calling_the_reference_implementation_is_flagged_or_blocked(graded):
    assert outcome(graded, "flagged", "softmax")["status"] == "flagged"
    assert outcome(graded, "flagged", "cross_entropy")["status"] == "flagged"
    assert "course library" in outcome(graded, "flagged", "softmax")["reason"]
    # An import hidden from the static check fails at run time: the runner does not provide the library.
    hidden = outcome(graded, "flagged", "accuracy")
    assert hidden["status"] == "error" and "does not provide" in hidden["reason"]
    assert graded["by_file"]["flagged"]["total"] == 0


def test_a_notebook_that_is_not_json_is_an_error_row(graded):
    submission = graded["by_file"]["not_json"]
    assert submission["total"] == 0
    assert all(e["status"] == "error" and "JSON" in e["reason"] for e in submission["exercises"].values())


# ----------------------------------------------------------------------------- units


def test_find_exercise_cells_takes_the_last_occurrence():
    cells = [
        {"cell_type": "code", "source": "# EXERCISE: a\nfirst"},
        {"cell_type": "markdown", "source": "# EXERCISE: b\nnot code"},
        {"cell_type": "code", "source": ["\n", "# EXERCISE: a\n", "second"]},
        {"cell_type": "code", "source": "x = 1  # EXERCISE: c"},
        {"cell_type": "code", "source": "%%time\n# EXERCISE: d\nthird"},
    ]
    assert grader.find_exercise_cells(cells) == {"a": "\n# EXERCISE: a\nsecond", "d": "%%time\n# EXERCISE: d\nthird"}


def test_clean_code_drops_shell_magic_and_check_import_keeping_line_numbers():
    source = "from dnncourse.exercises import check\n%matplotlib inline\ndef f(x):\n    !ls\n    return x"
    cleaned = grader.clean_code(source)
    assert cleaned.splitlines() == ["pass", "pass", "def f(x):", "    pass", "    return x"]
    assert grader.library_use(cleaned) is None


@pytest.mark.parametrize(
    "code",
    [
        "import dnncourse",
        "import numpy, dnncourse.metrics as m",
        "from dnncourse import metrics",
        "def f(x):\n    from dnncourse.metrics import softmax\n    return softmax(x)",
        "from dnncourse.exercises import check, get",
        "import importlib\nm = importlib.import_module('dnncourse.metrics')",
    ],
)
def test_library_use_is_detected(code):
    assert "course library" in grader.library_use(code)


def test_answers_round_trip_as_plain_arrays(tmp_path):
    answer = (np.arange(3.0), (np.float32(2.5), None), 4)
    np.savez(tmp_path / "a.npz", **encode_answer(answer))
    back = decode_answer(tmp_path / "a.npz")
    assert isinstance(back, tuple) and back[1][1] is None
    np.testing.assert_array_equal(back[0], np.arange(3.0))
    assert back[1][0] == np.float32(2.5) and back[2] == 4


def test_answer_files_with_pickled_objects_are_refused(tmp_path):
    np.savez(tmp_path / "evil.npz", a=np.array([object()], dtype=object), structure=np.asarray('"a"'))
    with pytest.raises(ValueError):
        decode_answer(tmp_path / "evil.npz")
    np.savez(tmp_path / "odd.npz", b=np.zeros(2), structure=np.asarray('"b"'))
    with pytest.raises(ValueError, match="malformed"):
        decode_answer(tmp_path / "odd.npz")


# ----------------------------------------------------------------------------- environment problems


def test_missing_folder_or_no_notebooks_is_an_error_not_zeros(tmp_path, capsys):
    assert grader.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert grader.main([str(tmp_path), "--out", str(tmp_path / "g.csv")]) == 2
    assert "no notebooks" in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()


def test_a_reference_that_raises_is_an_error_for_the_run(tmp_path, capsys, monkeypatch):
    import dataclasses

    import dnncourse.exercises as exercises

    def broken(logits):
        raise RuntimeError("reference is broken")

    registry = dict(all_exercises())
    registry["softmax"] = dataclasses.replace(registry["softmax"], reference=broken)
    monkeypatch.setattr(exercises, "_REGISTRY", registry)
    nbformat.write(notebook(), tmp_path / "a.ipynb")
    assert grader.main([str(tmp_path), "--out", str(tmp_path / "g.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "reference implementation of exercise 'softmax'" in err and "No grades" in err
    assert not (tmp_path / "g.csv").exists()


def test_a_runner_that_cannot_import_numpy_is_an_error_for_the_run(tmp_path, capsys, monkeypatch):
    fake = tmp_path / "runner.py"
    fake.write_text("raise ModuleNotFoundError(\"No module named 'numpy'\")\n")
    monkeypatch.setattr(grader, "RUNNER", fake)
    (tmp_path / "subs").mkdir()
    nbformat.write(notebook(), tmp_path / "subs" / "a.ipynb")
    assert grader.main([str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot run here" in err and "numpy" in err
    assert not (tmp_path / "g.csv").exists()


def test_bad_arguments_are_refused(tmp_path, capsys):
    assert grader.main([str(tmp_path), "--timeout", "0"]) == 2
    assert "--timeout" in capsys.readouterr().err
    assert grader.main([str(tmp_path), "--chapter", "no_such_chapter", "--out", str(tmp_path / "g.csv")]) == 2


def test_the_grader_is_reachable_from_the_dnncourse_command(tmp_path, capsys):
    from dnncourse.cli import main

    assert main(["grade", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert sys.executable  # the runner is started with this interpreter


def test_answer_files_that_would_decompress_to_too_much_are_refused(tmp_path):
    np.savez_compressed(tmp_path / "bomb.npz", a=np.zeros(10_000), structure=np.asarray('"a"'))
    with pytest.raises(ValueError, match="more than 1000 bytes"):
        decode_answer(tmp_path / "bomb.npz", max_bytes=1000)


def test_without_the_fork_server_the_runner_is_started_directly(tmp_path):
    nbformat.write(notebook(accuracy="def accuracy(logits, labels):\n    return 0.5"), tmp_path / "a.ipynb")
    exercises = [all_exercises()[exercise_id] for exercise_id in CORRECT]
    result = grader.grade_submission(tmp_path / "a.ipynb", "a.ipynb", exercises, grader.Settings(seed=3), server=None)
    assert [e.status for e in result.exercises.values()] == ["passed", "passed", "failed"]
    assert result.total == POINTS["softmax"] + POINTS["cross_entropy"] + result.exercises["accuracy"].points
