"""The grader on a folder of honest, careless and broken submissions, graded in ONE run, then checked one by one.

Every submission starts from the released student edition of the getting-started chapter, as a student's
does. Honest habits of Jupyter must earn full marks (issue 12, "honest work that gets 0"); broken code
loses only the exercises it breaks; the regressions of the first grader (pickles, patched NumPy, NaN,
huge answers, hard-coded outputs) stay fixed.
"""

from __future__ import annotations

import nbformat
import pytest
from test_grader_support import CORRECT, MAX, POINTS, by_file, notebook, read_reports, released, requires_bwrap, write

from dnncourse.exercises import all_exercises
from dnncourse.grading import command
from dnncourse.grading.results import STATUSES
from dnncourse.grading.submission import submission_seed

pytestmark = requires_bwrap

SUBMISSIONS = {
    "correct": notebook(),
    # --- honest habits of Jupyter (each got 0 from the first grader)
    "helper_in_another_cell": notebook(
        before={"softmax": ["def stable_exp(z):\n    return np.exp(z - z.max(axis=1, keepdims=True))"]},
        softmax="def softmax(logits):\n    e = stable_exp(logits)\n    return e / e.sum(axis=1, keepdims=True)",
    ),
    "reuses_own_softmax": notebook(
        accuracy="def accuracy(logits, labels):\n    p = softmax(logits)  # my softmax, from the first exercise\n"
        "    return float(np.mean(p.argmax(axis=1) == labels))",
    ),
    "black_continuation": notebook(
        accuracy="def accuracy(logits, labels):\n"
        "    wrong = (\n        logits.argmax(axis=1)\n        != labels\n    )\n"
        "    return float(1 - np.mean(wrong))",
    ),
    "check_alias": notebook(
        before={"softmax": ["from dnncourse.exercises import check as chk"]},
        softmax=CORRECT["softmax"] + '\n\nchk("softmax", softmax)\nprint(chk("softmax", softmax))',
    ),
    "magics": None,  # built below
    "moved_and_duplicated": None,  # built below
    "cell_tries_chapter_variables": notebook(  # the exercise cell ends with a try-out that needs the chapter's data
        softmax=CORRECT["softmax"] + "\n\nprint(softmax(logits_np)[:2])",
    ),
    # --- a cell that fails or hangs stops only the exercises that need what it defines
    "failing_helper_cell": notebook(
        before={
            "softmax": ["scale = 1.0\nprint(digits.train.X.shape)  # the chapter's data: not there in the grader"],
            "accuracy": ["def argmax_rows(z):\n    return z.argmax(axis=1)\nimport dnncourse_plots  # no such module"],
        },
        accuracy="def accuracy(logits, labels):\n    return float(np.mean(argmax_rows(logits) == labels))",
    ),
    "hanging_helper_cell": notebook(
        before={
            "cross_entropy": ["def helper(z):\n    return z\nwhile True:  # a training loop left running\n    pass"]
        },
        accuracy="def accuracy(logits, labels):\n    return float(np.mean(helper(logits).argmax(axis=1) == labels))",
    ),
    "name_from_unchanged_chapter_cell": notebook(
        accuracy="def accuracy(logits, labels):\n"
        "    return float(np.mean(logits.argmax(axis=1) == labels)) + 0 * len(digits.test)",
    ),
    # --- broken code loses only the exercise it breaks
    "partly_wrong": notebook(
        softmax="""def softmax(logits):
    z = logits[:, :3] - logits[:, :3].max(axis=1, keepdims=True)
    e = np.exp(z)
    p = np.zeros_like(logits)
    p[:, :3] = e / e.sum(axis=1, keepdims=True)
    return p"""
    ),
    "syntax_error": notebook(softmax="def softmax(logits)\n    return logits"),
    "raises": notebook(softmax="def softmax(logits):\n    raise ValueError('oops')"),
    "infinite_loop": notebook(softmax="def softmax(logits):\n    while True:\n        pass"),
    "memory": notebook(softmax="def softmax(logits):\n    big = np.ones(2**31)  # 16 GB\n    return big"),
    "prints": notebook(
        cross_entropy="print('x' * 10_000_000)\nimport os\nos.write(1, b'y' * 5_000_000)\n" + CORRECT["cross_entropy"]
    ),
    "sys_exit": notebook(softmax="import sys\ndef softmax(logits):\n    sys.exit(0)"),
    "os_exit": notebook(cross_entropy="import os\nos._exit(0)"),
    "deletes_files": notebook(
        softmax="import os, shutil\nfor name in os.listdir('.'):\n    shutil.rmtree(name, ignore_errors=True)\n"
        + CORRECT["softmax"]
    ),
    "deep_nesting": notebook(cross_entropy="x = a" + "[0]" * 200_000 + "\n" + CORRECT["cross_entropy"]),
    # --- regressions: what the first grader already handled must stay right
    "monkeypatch": notebook(
        softmax="np.allclose = lambda *a, **k: True\nnp.testing.assert_allclose = lambda *a, **k: None\n"
        "def softmax(logits):\n    return np.zeros_like(logits)",
        cross_entropy="import builtins\nbuiltins.check = lambda *a, **k: print('passed')\n"
        "compare = lambda *a, **k: None\n"
        "def cross_entropy(logits, labels):\n    return 0.0",
    ),
    "always_equal": notebook(
        softmax="class Anything:\n    def __eq__(self, other):\n        return True\n    __array_priority__ = 1000\n"
        "def softmax(logits):\n    return Anything()",
        accuracy="import pickle\ndef accuracy(logits, labels):\n"
        "    return np.array([pickle.dumps(print)], dtype=object)",
    ),
    "nan_and_huge": notebook(
        softmax="def softmax(logits):\n    return np.full(logits.shape, np.nan)",
        accuracy="def accuracy(logits, labels):\n    return np.zeros((4096, 4096))",
    ),
    "hard_coded": notebook(
        softmax="""def softmax(logits):
    known = {(1, 2): [[0.5, 0.5]], (2, 3): [[0.09003057, 0.24472847, 0.66524096], [1 / 3, 1 / 3, 1 / 3]]}
    return np.array(known.get(logits.shape, np.zeros(logits.shape)))"""
    ),
    "flagged": notebook(
        softmax="from dnncourse.metrics import softmax as reference\n"
        "def softmax(logits):\n    return reference(logits)",
        cross_entropy="def cross_entropy(logits, labels):\n"
        "    m = __import__('dnn' + 'course.metrics', fromlist=['x'])\n"
        "    return m.cross_entropy(logits, labels)",
    ),
    "flagged_through_helper": notebook(
        before={"accuracy": ["from dnncourse.metrics import accuracy as their_accuracy"]},
        accuracy="def accuracy(logits, labels):\n    return their_accuracy(logits, labels)",
    ),
    "unknown_exercise_id": notebook(
        before={
            "accuracy": [
                "# EXERCISE: momentum_update\ndef momentum_update(theta, grad, v, lr, momentum):\n    return theta, v"
            ]
        }
    ),
}


def _moved_and_duplicated() -> nbformat.NotebookNode:
    """The accuracy cell moved to the top, an early wrong softmax overridden by a later right one."""
    nb = notebook()
    exercise = [cell for cell in nb.cells if cell.source.startswith("# EXERCISE: accuracy")][0]
    nb.cells.remove(exercise)
    nb.cells.insert(1, exercise)
    nb.cells.insert(1, nbformat.v4.new_code_cell("# EXERCISE: softmax\ndef softmax(logits):\n    return logits"))
    return nb


def _magics() -> nbformat.NotebookNode:
    """Shell lines and magics everywhere, a %%time exercise cell: they are skipped, the Python runs."""
    nb = notebook(
        before={"softmax": ["%matplotlib inline\n!pip install numpy\n%pip list", "%%bash\nrm -rf /"]},
        accuracy="files = !ls\n" + CORRECT["accuracy"] + "\naccuracy?",
    )
    softmax = CORRECT["softmax"].replace("    e = ", "    %time e = ").replace("    z = ", "    !ls\n    z = ")
    for cell in nb.cells:
        if cell.source.startswith("# EXERCISE: softmax"):
            cell.source = "%%time\n# EXERCISE: softmax\n" + softmax
    return nb


SUBMISSIONS["moved_and_duplicated"] = _moved_and_duplicated()
SUBMISSIONS["magics"] = _magics()


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("submissions")
    for name, nb in SUBMISSIONS.items():
        write(folder, name, nb)
    write(folder, "stub", released())
    (folder / "not_json.ipynb").write_text('{"cells": [', encoding="utf-8")
    out = tmp_path_factory.mktemp("out") / "grades.csv"
    code = command.main([str(folder), "--out", str(out), "--timeout", "4", "--seed", "7", "--jobs", "2", "--quiet"])
    rows, report = read_reports(out)
    return {"code": code, "rows": rows, "report": report, "by_file": by_file(report)}


def outcome(graded: dict, name: str, exercise_id: str) -> dict:
    return graded["by_file"][name]["exercises"][exercise_id]


def assert_others_pass(graded: dict, name: str, *broken: str) -> None:
    for exercise_id in POINTS:
        if exercise_id not in broken:
            assert outcome(graded, name, exercise_id)["status"] == "passed", (
                name,
                exercise_id,
                outcome(graded, name, exercise_id),
            )


def test_the_run_succeeds_and_every_submission_has_a_row_matching_the_json(graded):
    assert graded["code"] == 0
    assert set(graded["rows"]) == {f"{name}.ipynb" for name in [*SUBMISSIONS, "stub", "not_json"]}
    for name, submission in graded["by_file"].items():
        row = graded["rows"][f"{name}.ipynb"]
        assert list(row) == ["file", *POINTS, "total", "max"]
        assert float(row["max"]) == MAX == submission["max_points"]
        assert float(row["total"]) == pytest.approx(sum(e["points"] for e in submission["exercises"].values()))
        for exercise in submission["exercises"].values():
            assert exercise["status"] in STATUSES and exercise["reason"]
    report = graded["report"]
    assert report["run_seed"] == 7 and report["sandbox"].startswith("bubblewrap") and report["warnings"] == []
    assert report["chapters"] == {"getting_started": MAX}


@pytest.mark.parametrize(
    "name",
    [
        "correct",
        "helper_in_another_cell",
        "reuses_own_softmax",
        "black_continuation",
        "check_alias",
        "magics",
        "moved_and_duplicated",
        "cell_tries_chapter_variables",
        "unknown_exercise_id",
    ],
)
def test_honest_notebooks_get_full_marks(graded, name):
    submission = graded["by_file"][name]
    assert submission["total"] == MAX, submission["exercises"]
    assert all(
        e["status"] == "passed" and e["cases_passed"] == e["cases_total"] > 0 for e in submission["exercises"].values()
    )


def test_an_exercise_cell_that_fails_after_defining_its_function_is_still_graded(graded):
    assert graded["by_file"]["cell_tries_chapter_variables"]["total"] == MAX


def test_cells_of_another_chapters_exercise_are_noted_and_do_not_change_the_maximum(graded):
    submission = graded["by_file"]["unknown_exercise_id"]
    assert any("momentum_update" in note and "not an exercise of this chapter" in note for note in submission["notes"])
    assert submission["max_points"] == MAX and set(submission["exercises"]) == set(POINTS)


def test_seeds_are_per_submission_and_recorded(graded):
    seeds = {s["file"]: s["seed"] for s in graded["report"]["submissions"]}
    assert seeds["correct.ipynb"] == submission_seed(7, "correct.ipynb")
    assert len(set(seeds.values())) == len(seeds)


def test_a_failing_cell_stops_only_the_exercises_that_need_what_it_defines(graded):
    # The first added cell fails (the chapter's data is not there): softmax and cross_entropy do not need it.
    assert outcome(graded, "failing_helper_cell", "softmax")["status"] == "passed"
    assert outcome(graded, "failing_helper_cell", "cross_entropy")["status"] == "passed"
    # The second defines argmax_rows, then fails on an import: accuracy still has argmax_rows, as in Jupyter.
    assert outcome(graded, "failing_helper_cell", "accuracy")["status"] == "passed"


def test_a_hanging_cell_is_stopped_and_only_the_exercise_that_needs_it_fails(graded):
    assert outcome(graded, "hanging_helper_cell", "softmax")["status"] == "passed"
    assert outcome(graded, "hanging_helper_cell", "cross_entropy")["status"] == "passed"
    accuracy = outcome(graded, "hanging_helper_cell", "accuracy")
    assert accuracy["status"] == "error" and accuracy["points"] == 0
    assert "NameError: name 'helper' is not defined" in accuracy["reason"]
    assert "which defines helper, failed: was still running after 4 s" in accuracy["reason"]


def test_a_name_from_a_chapter_cell_the_student_did_not_change_is_explained(graded):
    accuracy = outcome(graded, "name_from_unchanged_chapter_cell", "accuracy")
    assert accuracy["status"] == "error"
    assert "a chapter cell you did not change, which the grader does not run" in accuracy["reason"]


def test_partly_wrong_gets_partial_points(graded):
    result = outcome(graded, "partly_wrong", "softmax")
    assert result["status"] == "failed"
    n_public = len(all_exercises()["softmax"].public_cases)
    assert n_public <= result["cases_passed"] < result["cases_total"]
    assert result["points"] == pytest.approx(round(2 * result["cases_passed"] / result["cases_total"], 2))
    assert "random case" in result["reason"]
    assert_others_pass(graded, "partly_wrong", "softmax")


def test_the_released_stub_is_not_attempted(graded):
    for exercise in graded["by_file"]["stub"]["exercises"].values():
        assert exercise["status"] == "not-attempted" and exercise["points"] == 0
        assert "NotImplementedError" in exercise["reason"]


@pytest.mark.parametrize(
    "name, exercise_id, status, words",
    [
        ("syntax_error", "softmax", "error", "SyntaxError"),
        ("raises", "softmax", "error", "ValueError: oops"),
        ("infinite_loop", "softmax", "timeout", "4 s"),
        ("memory", "softmax", "error", "memory"),
        ("sys_exit", "softmax", "error", "sys.exit"),
        ("os_exit", "cross_entropy", "error", "exited"),
        ("deep_nesting", "cross_entropy", "error", "RecursionError"),
    ],
)
def test_broken_exercise_is_an_error_and_the_others_are_still_graded(graded, name, exercise_id, status, words):
    result = outcome(graded, name, exercise_id)
    assert result["status"] == status and result["points"] == 0
    assert words in result["reason"]
    assert_others_pass(graded, name, exercise_id)


def test_printing_megabytes_and_deleting_files_do_not_matter(graded):
    assert graded["by_file"]["prints"]["total"] == MAX
    assert graded["by_file"]["deletes_files"]["total"] == MAX


def test_monkeypatching_numpy_or_the_checker_does_not_matter(graded):
    for exercise_id in ("softmax", "cross_entropy"):
        result = outcome(graded, "monkeypatch", exercise_id)
        assert result["status"] == "failed" and result["points"] == 0 and result["cases_passed"] == 0
    assert outcome(graded, "monkeypatch", "accuracy")["status"] == "passed"


def test_objects_that_equal_anything_and_pickles_are_not_answers(graded):
    softmax = outcome(graded, "always_equal", "softmax")
    assert softmax["points"] == 0 and "expected arrays, tensors, numbers or tuples" in softmax["reason"]
    accuracy = outcome(graded, "always_equal", "accuracy")
    assert accuracy["points"] == 0 and "expected numbers" in accuracy["reason"]


def test_nan_and_huge_answers_fail_cleanly(graded):
    assert "NaN or infinity" in outcome(graded, "nan_and_huge", "softmax")["reason"]
    huge = outcome(graded, "nan_and_huge", "accuracy")  # 5 answers of 134 MB: over the file size limit
    assert huge["status"] == "error" and huge["points"] == 0 and "file size limit" in huge["reason"]
    assert outcome(graded, "nan_and_huge", "cross_entropy")["status"] == "passed"


def test_hard_coded_public_outputs_lose_the_random_cases(graded):
    result = outcome(graded, "hard_coded", "softmax")
    assert result["status"] == "failed" and 0 < result["cases_passed"] < result["cases_total"]


def test_calling_the_reference_implementation_is_flagged_or_impossible(graded):
    softmax = outcome(graded, "flagged", "softmax")
    assert softmax["status"] == "flagged" and "course library" in softmax["reason"]
    hidden = outcome(graded, "flagged", "cross_entropy")  # an import the static check cannot see fails in the sandbox
    assert hidden["status"] == "error" and hidden["points"] == 0
    assert "No module named 'dnncourse'" in hidden["reason"]
    through_helper = outcome(graded, "flagged_through_helper", "accuracy")
    assert through_helper["status"] == "flagged" and "their_accuracy" in through_helper["reason"]
    assert_others_pass(graded, "flagged_through_helper", "accuracy")


def test_a_notebook_that_is_not_json_is_an_error_row(graded):
    submission = graded["by_file"]["not_json"]
    assert submission["total"] == 0 and submission["max_points"] == MAX
    assert all(e["status"] == "error" and "JSON" in e["reason"] for e in submission["exercises"].values())


def test_the_grader_is_reachable_from_the_dnncourse_command(tmp_path, capsys):
    from dnncourse.cli import main

    assert main(["grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "no such folder" in capsys.readouterr().err
