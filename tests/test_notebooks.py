"""The notebook pipeline: normalization, the setup cell, the table of contents, and nbval itself."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook, new_output

from dnncourse.authoring.notebooks import normalize, repository, setup_cell_source, write_notebook

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "book" / "solutions").glob("*.ipynb"))


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_there_are_chapters():
    assert any(p.stem == "getting_started" for p in SOLUTIONS)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_every_chapter_is_in_the_toc_as_its_student_edition(path):
    assert f"book/{path.stem}" in _toc_files(), f"add book/{path.stem} to _toc.yml"


def test_every_toc_entry_exists():
    for entry in _toc_files():
        assert any((ROOT / f"{entry}{suffix}").is_file() for suffix in (".md", ".ipynb")), entry


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_chapter_starts_with_the_colab_setup_cell_and_asks_for_a_gpu(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "code"
    assert nb.cells[0].source == setup_cell_source(ROOT), "run `dnncourse execute` to sync the setup cell"
    url, branch = repository(ROOT)
    assert f"git+{url}@{branch}" in nb.cells[0].source
    assert nb.cells[0].metadata["tags"] == ["remove-cell"]
    assert nb.metadata["accelerator"] == "GPU"
    assert nb.cells[1].cell_type == "markdown" and nb.cells[1].source.startswith("# ")


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_stored_notebook_is_normalized(path):
    """A committed chapter is exactly what `dnncourse execute` writes (ids, metadata, merged streams)."""
    nb = nbformat.read(path, as_version=4)
    expected = nbformat.writes(normalize(nbformat.read(path, as_version=4), ROOT), version=4) + "\n"
    assert path.read_text(encoding="utf-8") == expected, "run `dnncourse execute` on this notebook"
    executed = [c for c in nb.cells if c.cell_type == "code" and "skip-execution" not in c.metadata.get("tags", [])]
    assert all(c.execution_count is not None for c in executed), "notebook was not fully executed"


def test_normalize_is_idempotent_and_strips_what_varies(tmp_path):
    cell = new_code_cell("print(1)", metadata={"execution": {"iopub.execute_input": "2026-01-01T00:00:00Z"}})
    cell.outputs = [
        new_output("stream", name="stdout", text="a\n"),
        new_output("stream", name="stdout", text="b\n"),
        new_output(
            "display_data", data={"text/plain": "w", "application/vnd.jupyter.widget-view+json": {"model_id": "x"}}
        ),
    ]
    nb = new_notebook(cells=[cell], metadata={"widgets": {"state": {}}})
    once = normalize(nb)
    assert once.cells[0].id == "cell-000"
    assert "execution" not in once.cells[0].metadata and "widgets" not in once.metadata
    assert [o.get("text") for o in once.cells[0].outputs][0] == "a\nb\n"
    assert "application/vnd.jupyter.widget-view+json" not in once.cells[0].outputs[1]["data"]
    write_notebook(once, tmp_path / "a.ipynb")
    write_notebook(normalize(nbformat.read(tmp_path / "a.ipynb", as_version=4)), tmp_path / "b.ipynb")
    assert (tmp_path / "a.ipynb").read_bytes() == (tmp_path / "b.ipynb").read_bytes()


def _run_nbval(tmp_path, stored_text):
    cell = new_code_cell("print(1 + 1)", execution_count=1)
    cell.outputs = [new_output("stream", name="stdout", text=stored_text)]
    write_notebook(
        new_notebook(
            cells=[cell], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
        ),
        tmp_path / "check.ipynb",
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-c",
            str(tmp_path / "pytest.ini"),
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "check.ipynb"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )


@pytest.mark.slow
def test_nbval_reports_a_wrong_stored_output(tmp_path):
    wrong = _run_nbval(tmp_path, "3\n")
    assert wrong.returncode != 0, wrong.stdout
    assert "3" in wrong.stdout and "2" in wrong.stdout
    right = _run_nbval(tmp_path, "2\n")  # the control: the same check passes when the output is right
    assert right.returncode == 0, right.stdout


def test_write_notebook_replaces_the_file_atomically(tmp_path, monkeypatch):
    path = tmp_path / "chapter.ipynb"
    write_notebook(new_notebook(cells=[new_code_cell("1")]), path)
    path.chmod(0o640)
    before = path.read_bytes()

    def interrupted(source, destination):
        raise KeyboardInterrupt  # the moment between writing the new text and putting it in place

    monkeypatch.setattr("os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_notebook(new_notebook(cells=[new_code_cell("2")]), path)
    assert path.read_bytes() == before  # the old notebook is intact
    assert [p.name for p in tmp_path.iterdir()] == ["chapter.ipynb"]  # and no temporary file is left
    monkeypatch.undo()
    write_notebook(new_notebook(cells=[new_code_cell("3")]), path)
    assert nbformat.read(path, as_version=4).cells[0].source == "3"
    assert path.stat().st_mode & 0o777 == 0o640  # the notebook keeps its permissions


@pytest.mark.parametrize("command", ["execute", "release"])
def test_authoring_commands_name_the_extra_to_install_when_their_tools_are_missing(command, monkeypatch, capsys):
    from dnncourse.cli import main

    monkeypatch.setitem(sys.modules, "yaml", None)  # as on a student's install: `import yaml` fails
    assert main([command]) == 2
    error = capsys.readouterr().err
    assert f"dnncourse {command} needs PyYAML" in error and 'pip install "dnncourse[authoring]"' in error
