"""The reports and the command line: paths checked before grading, atomic writes, the journal and --resume,
maximum points per notebook's chapter, the exit codes, and what happens when bubblewrap is missing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from test_grader_support import MAX, ROOT, by_file, grade_in_subprocess, notebook, read_reports, requires_bwrap, write

from dnncourse.grading import batch, command, layout, reports
from dnncourse.grading.results import Settings

SLOW = "import time\ntime.sleep(1.5)\n"  # an exercise cell that takes a while, so a run can be interrupted


@pytest.fixture
def one(tmp_path: Path) -> Path:
    folder = tmp_path / "submissions"
    folder.mkdir()
    write(folder, "a", notebook())
    return folder


def test_an_unwritable_json_path_stops_before_grading_and_writes_nothing(one, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code = command.main(
        [str(one), "--out", str(tmp_path / "grades.csv"), "--json", str(blocker / "grades.json"), "--quiet"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--json" in err and "No grades were written" in err
    assert not (tmp_path / "grades.csv").exists() and list(tmp_path.glob("*.jsonl")) == []


def test_out_must_be_a_csv_file_and_an_existing_json_report_is_not_overwritten(one, tmp_path, capsys):
    (tmp_path / "grades.json").write_text('{"kept": true}')
    assert command.main([str(one), "--out", str(tmp_path / "grades.json"), "--quiet"]) == 2
    assert "--out must name a .csv file" in capsys.readouterr().err
    assert json.loads((tmp_path / "grades.json").read_text()) == {"kept": True}
    (tmp_path / "folder.csv").mkdir()
    assert command.main([str(one), "--out", str(tmp_path / "folder.csv"), "--quiet"]) == 2
    assert "names a folder" in capsys.readouterr().err


def test_out_and_json_cannot_be_the_same_file(one, tmp_path, capsys):
    (tmp_path / "grades.json").write_text("{}")
    (tmp_path / "grades.csv").symlink_to(tmp_path / "grades.json")
    assert command.main([str(one), "--out", str(tmp_path / "grades.csv"), "--json", str(tmp_path / "grades.json")]) == 2
    assert "the same file" in capsys.readouterr().err


def test_an_unwritable_out_is_noticed_before_anything_is_graded(tmp_path, capsys):
    folder = tmp_path / "submissions"
    folder.mkdir()
    write(folder, "loops", notebook(softmax="def softmax(logits):\n    while True:\n        pass"))
    (tmp_path / "a_file").write_text("")
    start = time.monotonic()
    assert command.main([str(folder), "--out", str(tmp_path / "a_file" / "g.csv"), "--timeout", "30", "--quiet"]) == 2
    assert time.monotonic() - start < 5  # not after 30 s of grading
    assert "--out" in capsys.readouterr().err


def test_missing_folder_no_notebooks_or_bad_arguments_are_errors_not_zeros(tmp_path, capsys):
    out = str(tmp_path / "g.csv")
    assert command.main([str(tmp_path / "nowhere"), "--out", out]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert command.main([str(tmp_path), "--out", out]) == 2
    assert "no notebooks" in capsys.readouterr().err
    assert command.main([str(tmp_path), "--timeout", "0", "--out", out]) == 2
    assert "--timeout must be positive" in capsys.readouterr().err
    write(tmp_path, "a", notebook())
    assert command.main([str(tmp_path), "--chapter", "no_such_chapter", "--out", out]) == 2
    assert "no exercises for chapter 'no_such_chapter'" in capsys.readouterr().err
    assert command.main([str(tmp_path), "--no-such-option"]) == 2
    assert not (tmp_path / "g.csv").exists()


def test_a_reference_that_raises_is_an_error_for_the_run(one, tmp_path, capsys, monkeypatch):
    import dataclasses

    import dnncourse.exercises as exercises

    def broken(logits):
        raise RuntimeError("reference is broken")

    registry = dict(exercises.all_exercises())
    registry["softmax"] = dataclasses.replace(registry["softmax"], reference=broken)
    monkeypatch.setattr(exercises, "_REGISTRY", registry)
    assert command.main([str(one), "--out", str(tmp_path / "g.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "reference implementation of exercise 'softmax'" in err and "No grades" in err
    assert not (tmp_path / "g.csv").exists()


def test_a_python_that_cannot_import_numpy_is_an_error_for_the_run(one, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(layout, "_PROBE", "raise ModuleNotFoundError(\"No module named 'numpy'\")")
    assert command.main([str(one), "--out", str(tmp_path / "g.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot run here" in err and "numpy" in err
    assert not (tmp_path / "g.csv").exists()


def test_without_bubblewrap_grade_stops_and_says_how_to_install_it(one, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(layout.shutil, "which", lambda name: None)
    assert command.main([str(one), "--out", str(tmp_path / "g.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bubblewrap" in err and "apt-get install bubblewrap" in err and "--no-sandbox" in err
    assert not (tmp_path / "g.csv").exists()


def test_without_user_namespaces_grade_stops_and_names_bubblewrap(one, tmp_path, capsys, monkeypatch):
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create a new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert command.main([str(one), "--out", str(tmp_path / "g.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bubblewrap cannot start the grading sandbox" in err and "No permissions" in err and "user namespaces" in err
    assert not (tmp_path / "g.csv").exists()


def test_no_sandbox_grades_with_a_warning_recorded_in_the_report(one, tmp_path, capsys):
    assert command.main([str(one), "--out", str(tmp_path / "g.csv"), "--no-sandbox", "--seed", "1", "--quiet"]) == 0
    assert "WITHOUT isolation" in capsys.readouterr().err
    rows, report = read_reports(tmp_path / "g.csv")
    assert rows["a.ipynb"]["total"] == str(MAX)
    assert report["sandbox"].startswith("none") and report["settings"]["sandbox"] is False
    assert any("--no-sandbox" in warning for warning in report["warnings"])


def two_chapters(folder: Path) -> None:
    """a.ipynb (getting started, all right) and b_optimizers.ipynb (the optimizers chapter as released)."""
    folder.mkdir()
    write(folder, "a", notebook())
    optimizers = nbformat.read(ROOT / "book" / "03_optimizers.ipynb", as_version=4)
    optimizers.metadata["dnncourse"] = {"chapter": "03_optimizers"}
    write(folder, "b_optimizers", optimizers)


@requires_bwrap
def test_maximum_points_come_from_each_notebooks_chapter(tmp_path, capsys):
    folder = tmp_path / "submissions"
    two_chapters(folder)
    assert command.main([str(folder), "--out", str(tmp_path / "g.csv"), "--seed", "2", "--quiet"]) == 0
    assert "several chapters" in capsys.readouterr().err
    rows, report = read_reports(tmp_path / "g.csv")
    assert float(rows["a.ipynb"]["max"]) == MAX and rows["a.ipynb"]["momentum_update"] == ""
    assert float(rows["b_optimizers.ipynb"]["max"]) == report["chapters"]["03_optimizers"] != MAX
    assert rows["b_optimizers.ipynb"]["softmax"] == ""
    assert by_file(report)["b_optimizers"]["chapter"] == "03_optimizers"


@requires_bwrap
def test_chapter_metadata_decides_and_chapter_overrides(tmp_path, capsys):
    folder = tmp_path / "submissions"
    folder.mkdir()
    bare = notebook()
    del bare.metadata["dnncourse"]
    write(folder, "bare", bare)
    out = str(tmp_path / "g.csv")
    assert command.main([str(folder), "--out", out, "--quiet"]) == 2  # nothing says which chapter
    assert "--chapter" in capsys.readouterr().err
    assert command.main([str(folder), "--out", out, "--chapter", "getting_started", "--quiet"]) == 0
    assert read_reports(Path(out))[0]["bare.ipynb"]["total"] == str(MAX)


@requires_bwrap
def test_a_notebook_the_grader_cannot_place_is_exit_1_and_resume_regrades_it(tmp_path, capsys):
    folder = tmp_path / "submissions"
    two_chapters(folder)
    bare = notebook()
    del bare.metadata["dnncourse"]
    write(folder, "c_bare", bare)
    out = tmp_path / "g.csv"
    assert command.main([str(folder), "--out", str(out), "--seed", "4", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "could not grade 1 notebook(s) (c_bare.ipynb)" in err and "--resume" in err
    rows, report = read_reports(out)
    assert by_file(report)["c_bare"]["problem"] and rows["c_bare.ipynb"]["total"] == "0"
    journal = tmp_path / "g.partial.jsonl"
    assert journal.exists()  # kept, so that --resume grades just that one again
    write(folder, "c_bare", notebook())  # the instructor fixes it (the released edition records the chapter)
    assert command.main([str(folder), "--out", str(out), "--resume", "--quiet"]) == 0
    assert "resuming: 2 notebook(s) already graded, 1 to grade" in capsys.readouterr().err  # a and b_optimizers
    assert read_reports(out)[0]["c_bare.ipynb"]["total"] == str(MAX)
    assert not journal.exists()


def test_a_journal_left_by_an_interrupted_run_is_not_overwritten(one, tmp_path, capsys):
    journal = tmp_path / "g.partial.jsonl"
    journal.write_text('{"kind": "dnncourse-grades-journal"}\n')
    assert command.main([str(one), "--out", str(tmp_path / "g.csv"), "--quiet"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert journal.read_text() == '{"kind": "dnncourse-grades-journal"}\n'
    assert command.main([str(one), "--out", str(tmp_path / "other.csv"), "--resume", "--quiet"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


@requires_bwrap
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_keeps_every_finished_notebook_and_resume_continues(tmp_path, how):
    folder = tmp_path / "submissions"
    folder.mkdir()
    for i in range(8):
        write(
            folder,
            f"s{i}",
            notebook(
                softmax=SLOW
                + "def softmax(logits):\n    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)"
            ),
        )
    out, journal = tmp_path / "g.csv", tmp_path / "g.partial.jsonl"
    command_line = [
        sys.executable,
        "-m",
        "dnncourse.cli",
        "grade",
        str(folder),
        "--out",
        str(out),
        "--jobs",
        "1",
        "--seed",
        "5",
        "--quiet",
    ]
    process = subprocess.Popen(command_line, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (not journal.exists() or len(journal.read_text().splitlines()) < 3):
        time.sleep(0.2)
    process.send_signal(how)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err and "--resume" in err
    kept = journal.read_text().splitlines()
    assert len(kept) >= 3 and not out.exists()  # the header and at least two notebooks; no half report
    done = subprocess.run([*command_line, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming: {len(kept) - 1} notebook(s) already graded, {9 - len(kept)} to grade" in done.stderr
    rows, report = read_reports(out)
    assert len(rows) == 8 and report["run_seed"] == 5
    assert all(row["total"] != "" for row in rows.values())
    assert not journal.exists()


def test_reports_are_replaced_atomically(tmp_path, monkeypatch):
    path = tmp_path / "grades.json"
    path.write_text('{"old": "complete"}')

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reports.os, "fsync", disk_full)
    with pytest.raises(OSError):
        reports.atomic_write(path, '{"new": "report"}')
    assert path.read_text() == '{"old": "complete"}'
    assert [p.name for p in tmp_path.iterdir()] == ["grades.json"]  # no temporary file left


def test_a_file_name_that_looks_like_a_formula_is_text_in_the_csv(tmp_path):
    from dnncourse.grading.results import SubmissionResult

    result = SubmissionResult("=HYPERLINK(1).ipynb", 0, max_points=1)
    reports.write_reports(tmp_path / "g.csv", tmp_path / "g.json", [], [result], {})
    assert "'=HYPERLINK(1).ipynb" in (tmp_path / "g.csv").read_text()


def test_the_progress_bar_is_shown_on_a_terminal_only(monkeypatch):
    class Terminal:
        def __init__(self, tty: bool):
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stderr", Terminal(True))
    bar = batch._progress(3, wanted=True)
    assert type(bar).__name__ == "tqdm"
    bar.close()
    assert isinstance(batch._progress(3, wanted=False), batch._NoBar)
    monkeypatch.setattr(sys, "stderr", Terminal(False))
    assert isinstance(batch._progress(3, wanted=True), batch._NoBar)


def test_settings_are_recorded_and_an_unreadable_journal_is_refused(tmp_path):
    journal = tmp_path / "j.partial.jsonl"
    journal.write_text("not json\n")
    with pytest.raises(Exception, match="not a journal"):
        reports.Journal.resume(journal)
    created = reports.Journal.create(tmp_path / "k.partial.jsonl", {"folder": "x", "settings": vars(Settings())})
    created.close()
    assert reports.Journal.resume(tmp_path / "k.partial.jsonl").header["settings"]["timeout"] == 60.0


@requires_bwrap
def test_an_instructor_run_prints_a_summary_and_writes_both_reports(one, tmp_path):
    done = grade_in_subprocess(one, tmp_path / "grades.csv", "--seed", "9")
    assert done.returncode == 0, done.stderr
    assert "graded 1 notebooks x 3 exercises" in done.stdout and "wrote" in done.stdout
    assert "grading" not in done.stderr  # no progress bar when standard error is not a terminal
    rows, report = read_reports(tmp_path / "grades.csv")
    assert rows["a.ipynb"]["total"] == str(MAX) and report["run_seed"] == 9


@requires_bwrap
def test_the_sandbox_provides_what_the_exercises_setup_imports(tmp_path, monkeypatch, capsys):
    """An exercise may assume more than NumPy and PyTorch (its ``setup``): the sandbox shows that package too."""
    import dataclasses

    import numpy as np

    import dnncourse.exercises as exercises
    from dnncourse.exercises import Case, Exercise

    def log_sum_exp(x):
        return np.log(np.exp(x).sum())

    special = Exercise(
        id="test_logsumexp",
        function="logsumexp",
        reference=log_sum_exp,
        points=1,
        chapter="test_setup",
        public_cases=(Case({"x": np.array([0.0, 1.0, 2.0])}),),
        setup="import numpy as np\nimport scipy.special as sp",
    )
    monkeypatch.setattr(exercises, "_REGISTRY", {**exercises.all_exercises(), special.id: special})
    book, folder = tmp_path / "book", tmp_path / "submissions"
    book.mkdir()
    folder.mkdir()
    released = nbformat.v4.new_notebook(metadata={"dnncourse": {"chapter": "test_setup"}})
    released.cells = [
        nbformat.v4.new_code_cell("# EXERCISE: test_logsumexp\ndef logsumexp(x):\n    raise NotImplementedError")
    ]
    nbformat.write(released, book / "test_setup.ipynb")
    released.cells[0].source = "# EXERCISE: test_logsumexp\ndef logsumexp(x):\n    return sp.logsumexp(x)"
    nbformat.write(released, folder / "uses_scipy.ipynb")
    out = tmp_path / "g.csv"
    assert command.main([str(folder), "--out", str(out), "--book", str(book), "--quiet"]) == 0
    assert read_reports(out)[0]["uses_scipy.ipynb"]["total"] == "1"
    missing = dataclasses.replace(special, setup="import numpy as np\nimport no_such_package_here")
    monkeypatch.setattr(exercises, "_REGISTRY", {**exercises.all_exercises(), special.id: missing})
    assert command.main([str(folder), "--out", str(tmp_path / "h.csv"), "--book", str(book), "--quiet"]) == 2
    assert "no_such_package_here" in capsys.readouterr().err
