"""The release step: student editions generated from the solutions notebooks, and the solutions edition."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

from dnncourse.authoring.notebooks import write_notebook
from dnncourse.authoring.release import release_all, solutions_toc, student_edition, student_path

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "book" / "solutions").glob("*.ipynb"))
STUB = 'raise NotImplementedError("Exercise {id}: replace this line with your code (see the instructions above)")'


@pytest.mark.parametrize("solutions", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_committed_student_edition_is_current(solutions, tmp_path):
    committed = student_path(solutions)
    assert committed.is_file(), f"{committed.relative_to(ROOT)} is missing: run `dnncourse release`"
    fresh = tmp_path / committed.name
    write_notebook(student_edition(nbformat.read(solutions, as_version=4), solutions.name), fresh)
    assert committed.read_bytes() == fresh.read_bytes(), (
        f"{committed.relative_to(ROOT)} is stale (it differs from the student edition of "
        f"{solutions.relative_to(ROOT)}): run `dnncourse release`"
    )


def output(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def chapter() -> nbformat.NotebookNode:
    """A small solutions notebook: narrative, one exercise with two solution blocks, its check, more narrative."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import numpy as np\nprint(1)", execution_count=1, outputs=[output("1\n")]),
        nbformat.v4.new_markdown_cell("# Title\n\nThe markers `# BEGIN SOLUTION` may be quoted in markdown."),
        nbformat.v4.new_code_cell(
            "# EXERCISE: double\n"
            "def double(x):\n"
            '    """Twice x."""\n'
            "    # BEGIN SOLUTION\n"
            "    y = 2 * x\n"
            "    return y\n"
            "    # END SOLUTION\n"
            "\n"
            "class Helper:\n"
            "    def go(self):\n"
            "        # BEGIN SOLUTION\n"
            "        return 0\n"
            "        # END SOLUTION",
            execution_count=2,
            outputs=[output("solution output\n")],
            metadata={"tags": ["keep-me"]},
        ),
        nbformat.v4.new_code_cell('check("double", double)', execution_count=3, outputs=[output("✅ passed\n")]),
        nbformat.v4.new_code_cell("print(2)", execution_count=4, outputs=[output("2\n")]),
    ]
    return nb


def test_student_edition_stubs_solutions_and_clears_only_exercise_and_check_outputs():
    nb = chapter()
    student = student_edition(nb, "chapter.ipynb")
    exercise = student.cells[2]
    assert exercise.source == (
        "# EXERCISE: double\n"
        "def double(x):\n"
        '    """Twice x."""\n'
        f"    {STUB.format(id='double')}\n"
        "\n"
        "class Helper:\n"
        "    def go(self):\n"
        f"        {STUB.format(id='double')}"
    )
    assert exercise.outputs == [] and exercise.execution_count is None
    assert exercise.metadata == {"tags": ["keep-me"]}
    assert student.cells[3].outputs == [] and student.cells[3].execution_count is None
    for index in (0, 1, 4):  # everything else is kept as it was
        assert student.cells[index] == nb.cells[index]
    assert nb.cells[2].outputs, "the solutions notebook itself is left unchanged"
    nbformat.validate(student)


def test_student_edition_runs_and_the_stub_raises_not_implemented():
    namespace: dict = {}
    exec(student_edition(chapter()).cells[2].source, namespace)
    with pytest.raises(NotImplementedError, match="Exercise double: replace this line"):
        namespace["double"](3)


def test_student_edition_is_byte_stable(tmp_path):
    nb = chapter()
    write_notebook(nb, tmp_path / "solutions.ipynb")
    write_notebook(student_edition(nb), tmp_path / "a.ipynb")
    write_notebook(student_edition(nbformat.read(tmp_path / "solutions.ipynb", as_version=4)), tmp_path / "b.ipynb")
    assert (tmp_path / "a.ipynb").read_bytes() == (tmp_path / "b.ipynb").read_bytes()


@pytest.mark.parametrize(
    "source, words",
    [
        ("# EXERCISE: e\ndef f():\n    # BEGIN SOLUTION\n    return 1", "without a matching"),
        (
            "# EXERCISE: e\ndef f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION",
            "inside another",
        ),
        ("# EXERCISE: e\ndef f():\n    return 1\n    # END SOLUTION", "without a matching"),
        ("# EXERCISE: e\ndef f():\n    return 1", "no '# BEGIN SOLUTION' block"),
        ("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION", "outside an exercise cell"),
    ],
)
def test_malformed_markers_are_errors_naming_notebook_and_cell(source, words):
    nb = chapter()
    nb.cells[4].source = source
    with pytest.raises(ValueError, match=words) as error:
        student_edition(nb, "03_broken.ipynb")
    assert "03_broken.ipynb, cell 4" in str(error.value)


def test_release_all_writes_every_student_edition(tmp_path):
    (tmp_path / "book" / "solutions").mkdir(parents=True)
    for stem in ("01_a", "02_b"):
        nbformat.write(chapter(), tmp_path / "book" / "solutions" / f"{stem}.ipynb")
    written = release_all(tmp_path)
    assert written == [tmp_path / "book" / "01_a.ipynb", tmp_path / "book" / "02_b.ipynb"]
    again = nbformat.read(written[0], as_version=4)
    assert "BEGIN SOLUTION" not in again.cells[2].source and "NotImplementedError" in again.cells[2].source


def test_solutions_toc_points_chapters_at_the_solutions_notebooks(tmp_path):
    (tmp_path / "book" / "solutions").mkdir(parents=True)
    nbformat.write(chapter(), tmp_path / "book" / "solutions" / "01_a.ipynb")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: Course\n    chapters:\n"
        "      - file: book/01_a\n      - file: book/references\n"
    )
    (tmp_path / "_config.yml").write_text(
        'title: "Course"\nexclude_patterns: [_build, "book/solutions", tests]\n'
        "sphinx:\n  local_extensions:\n    my_ext: book/_ext\n"
    )
    toc_path, config_path = solutions_toc(tmp_path)
    assert toc_path == tmp_path / "_build" / "solutions" / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text())
    assert toc["root"] == "book/intro"
    assert [c["file"] for c in toc["parts"][0]["chapters"]] == ["book/solutions/01_a", "book/references"]
    config = yaml.safe_load(config_path.read_text())
    assert config["exclude_patterns"] == ["_build", "tests"]
    assert "solutions" in config["title"]
    # Jupyter Book resolves local extensions relative to the configuration file, now two folders down.
    assert (config_path.parent / config["sphinx"]["local_extensions"]["my_ext"]).resolve() == (
        tmp_path / "book" / "_ext"
    ).resolve()


def test_student_edition_records_its_chapter_for_the_grader():
    assert student_edition(chapter(), "03_optimizers.ipynb").metadata["dnncourse"] == {"chapter": "03_optimizers"}
    assert student_edition(chapter(), "x.ipynb", chapter="other").metadata["dnncourse"] == {"chapter": "other"}
    assert "dnncourse" not in chapter().metadata, "the solutions notebook itself is left unchanged"


@pytest.mark.parametrize("solutions", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_committed_student_editions_record_their_chapter(solutions):
    committed = nbformat.read(student_path(solutions), as_version=4)
    assert committed.metadata.get("dnncourse", {}).get("chapter") == solutions.stem


def test_release_finds_exercise_cells_with_the_graders_marker_function():
    """A timed exercise cell (%%time first) is an exercise for the release step as for the grader."""
    from dnncourse.exercises import marked_exercise

    nb = chapter()
    nb.cells[2].source = "%%time\n" + nb.cells[2].source
    assert marked_exercise(nb.cells[2].source) == "double"
    stubbed = student_edition(nb).cells[2].source
    assert stubbed.startswith("%%time\n# EXERCISE: double") and "BEGIN SOLUTION" not in stubbed
