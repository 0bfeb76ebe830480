"""The instructor's workflow after grading (issue 17): feedback for each student, the roster, the gradebook
exports for Canvas and Moodle, and the class's statistics, from ONE grading run of a small class.

The class: a correct notebook, a partly wrong one (softmax wrong on every case with more than two
classes), one whose softmax raises (with a helper function, so that the traceback has two frames of the
student's code), one whose softmax never returns, and one that calls the course library (flagged).
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import pytest
from test_grader_support import MAX, POINTS, ROOT, notebook, requires_bwrap, write

from dnncourse.exercises import get
from dnncourse.grading.feedback import exercise_markdown, feedback_names, status_words, submission_html
from dnncourse.grading.results import ExerciseResult, GradingError, SubmissionResult
from dnncourse.grading.roster import read_roster

PARTLY_WRONG = """def softmax(logits):
    z = logits[:, :2] - logits[:, :2].max(axis=1, keepdims=True)
    e = np.exp(z)
    p = np.zeros_like(logits)
    p[:, :2] = e / e.sum(axis=1, keepdims=True)
    return p"""
RAISES = """def normalise(e):
    return e / e.sum(axis=1, keepdims=True)[:, 5]

def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return normalise(e)"""

CLASS = {
    "alice_correct": notebook(),
    "bob_partial": notebook(softmax=PARTLY_WRONG),
    "carol_error": notebook(softmax=RAISES),
    "dave_timeout": notebook(softmax="def softmax(logits):\n    while True:\n        pass"),
    "erin_flagged": notebook(
        softmax="from dnncourse.metrics import softmax as reference\ndef softmax(logits):\n    return reference(logits)"
    ),
    "gina_failed_helper": notebook(
        before={"softmax": ["import not_a_module\ndef helper(z):\n    return z"]},
        softmax="def softmax(logits):\n    return helper(logits)",
    ),
    "zed_not_on_roster": notebook(),
}
ROSTER = """Student ID;Name;E-mail;File
s1;Alice Ng;alice@example.edu;alice_*.ipynb
s2;Bob Roy;bob@example.edu;BOB_PARTIAL.ipynb
s3;Carol Diaz;carol@example.edu;carol*
s4;Dave Wu;dave@example.edu;dave_timeout.ipynb
s5;Erin Ko;erin@example.edu;erin_flagged.ipynb
s6;Frank Li;frank@example.edu;frank*.ipynb
s7;Gina Hu;gina@example.edu;gina_failed_helper.ipynb
"""
REFERENCE_SOURCE = "z = logits - logits.max(axis=1, keepdims=True)"  # a line of the library's softmax


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    folder = root / "submissions"
    folder.mkdir()
    for name, nb in CLASS.items():
        write(folder, name, nb)
    (root / "roster.csv").write_text(ROSTER, encoding="utf-8")
    command = [
        sys.executable, "-m", "dnncourse.cli", "grade", str(folder), "--out", str(root / "grades.csv"),
        "--quiet", "--timeout", "5", "--seed", "4321", "--feedback", str(root / "feedback"),
        "--roster", str(root / "roster.csv"), "--canvas", str(root / "canvas.csv"),
        "--moodle", str(root / "moodle.csv"), "--assignment", "Exercises 0: softmax",
    ]  # fmt: skip
    process = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert process.returncode == 0, process.stdout + process.stderr
    return root, process


def _feedback(run, name: str, suffix: str) -> str:
    return (run[0] / "feedback" / f"{name}{suffix}").read_text(encoding="utf-8")


def _section(markdown: str, exercise_id: str) -> str:
    """The part of a Markdown feedback about one exercise."""
    return markdown.split(f"### {exercise_id}", 1)[1].split("\n### ", 1)[0]


pytestmark = requires_bwrap


def test_one_html_and_one_markdown_file_per_submission(run):
    names = sorted(path.name for path in (run[0] / "feedback").iterdir())
    assert names == sorted(f"{name}{suffix}" for name in CLASS for suffix in (".html", ".md"))


def test_feedback_of_a_passed_exercise_and_the_total(run):
    markdown = _feedback(run, "alice_correct", ".md")
    assert "Alice Ng (s1)" in markdown and f"{MAX:g} of {MAX:g}" in markdown
    section = _section(markdown, "softmax")
    assert f"{POINTS['softmax']:g} of {POINTS['softmax']:g}" in section and "Passed: all" in section
    assert "Hint" not in section


def test_feedback_of_a_partly_failed_exercise_shows_the_case_expected_and_returned(run):
    section = _section(_feedback(run, "bob_partial", ".md"), "softmax")
    assert re.search(r"Partly right: \d+ of \d+ cases are right", section)
    assert "First failed case:" in section and "Input logits" in section
    assert "Expected" in section and "Your code returned" in section
    assert "largest relative error" in section  # what differs, in numbers
    assert get("softmax").hint[:40].replace("_", "\\_")[:20] in section  # the exercise's hint
    assert "Traceback" not in section


def test_feedback_of_an_error_shows_the_students_own_traceback_only(run):
    section = _section(_feedback(run, "carol_error", ".md"), "softmax")
    assert "Error: the code did not run to the end" in section
    assert "IndexError" in section
    traceback = section.split("Traceback (your code only):", 1)[1]
    assert "in softmax" in traceback and "in normalise" in traceback  # two frames of the student's cell
    assert "return e / e.sum(axis=1, keepdims=True)[:, 5]" in traceback  # with the line's source
    assert "runner" not in traceback and "site-packages" not in traceback and "answers" not in traceback


def test_feedback_says_which_cell_should_have_defined_a_missing_name(run):
    section = _section(_feedback(run, "gina_failed_helper", ".md"), "softmax")
    assert "NameError" in section
    why = section.split("**Why:**", 1)[1].split("\n", 1)[0]
    assert "defines helper, failed" in why and "not\\_a\\_module" in why


def test_feedback_of_a_timeout_and_a_flagged_exercise(run):
    timeout = _section(_feedback(run, "dave_timeout", ".md"), "softmax")
    assert "Out of time" in timeout and "0 of" in timeout
    flagged = _section(_feedback(run, "erin_flagged", ".md"), "softmax")
    assert "Flagged" in flagged and "course library" in flagged


def test_feedback_reveals_neither_the_reference_code_nor_the_seeds(run):
    report = json.loads((run[0] / "grades.json").read_text(encoding="utf-8"))
    seeds = {str(submission["seed"]) for submission in report["submissions"]} | {str(report["run_seed"])}
    for path in (run[0] / "feedback").iterdir():
        text = path.read_text(encoding="utf-8")
        assert REFERENCE_SOURCE not in text
        assert not seeds & set(re.findall(r"\d+", text)), path.name
        assert "seed" not in text.lower(), path.name


def test_html_feedback_escapes_what_the_submission_wrote():
    hostile = ExerciseResult(
        0.0, 2.0, "error", "x", 0, 3, details={"error": "<script>alert(1)</script>", "traceback": "</pre><img src=x>"}
    )
    page = submission_html(SubmissionResult("<b>evil</b>.ipynb", 1, exercises={"softmax": hostile}), "A & B")
    assert "<script>" not in page and "<img" not in page and "<b>evil" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "A &amp; B" in page
    assert "default-src 'none'" in page  # the page may load nothing, run nothing
    markdown = exercise_markdown(get("softmax"), hostile)
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown


def test_status_words_and_names():
    assert status_words(ExerciseResult(1.0, 2.0, "failed", "", 1, 2)) == "Partly right: 1 of 2 cases are right."
    assert status_words(ExerciseResult(0.0, 2.0, "failed", "", 0, 4)) == "Not right yet: none of the 4 cases is right."
    names = feedback_names(["a/b c.ipynb", "a__b c.ipynb", "../x.IPYNB", "\\xff.ipynb"])
    assert names["a/b c.ipynb"] == "a__b_c" and names["a__b c.ipynb"] == "a__b_c-2"
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in names.values())


def test_roster_pairs_notebooks_and_lists_the_unpaired(run):
    report = json.loads((run[0] / "grades.json").read_text(encoding="utf-8"))
    students = {s["file"]: s["student"] for s in report["submissions"]}
    assert students["bob_partial.ipynb"]["id"] == "s2"  # the file name matches without case
    assert students["zed_not_on_roster.ipynb"] is None
    assert [s["id"] for s in report["roster"]["missing"]] == ["s6"]
    assert report["roster"]["unmatched"] == ["zed_not_on_roster.ipynb"]
    assert "no notebook: Frank Li (s6)" in run[1].stderr and "zed_not_on_roster.ipynb" in run[1].stderr
    with open(run[0] / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["student_id"] for row in rows} == {"s1", "s2", "s3", "s4", "s5", "s6", "s7", ""}
    frank = next(row for row in rows if row["student_id"] == "s6")
    assert frank["file"] == "" and frank["total"] == ""


def test_canvas_and_moodle_exports(run):
    report = json.loads((run[0] / "grades.json").read_text(encoding="utf-8"))
    totals = {s["student"]["id"]: s["total"] for s in report["submissions"] if s["student"]}
    with open(run[0] / "canvas.csv", newline="", encoding="utf-8") as handle:
        canvas = list(csv.reader(handle))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Exercises 0: softmax"]
    assert canvas[1] == ["Points Possible", "", "", "", "", f"{MAX:g}"]
    by_id = {row[1]: row[5] for row in canvas[2:]}
    assert by_id == {**{key: f"{value:g}" for key, value in totals.items()}, "s6": ""}
    with open(run[0] / "moodle.csv", newline="", encoding="utf-8") as handle:
        moodle = list(csv.reader(handle))
    assert moodle[0] == ["ID number", "Full name", "Email address", "Exercises 0: softmax"]
    assert ["s2", "Bob Roy", "bob@example.edu", f"{totals['s2']:g}"] in moodle


def test_statistics_per_exercise_and_histogram(run):
    report = json.loads((run[0] / "grades.json").read_text(encoding="utf-8"))
    softmax = report["statistics"]["exercises"]["softmax"]
    grades = [s["exercises"]["softmax"] for s in report["submissions"]]
    assert softmax["notebooks"] == len(CLASS)
    assert softmax["mean_points"] == round(sum(g["points"] for g in grades) / len(grades), 2)
    assert softmax["passed_share"] == pytest.approx(2 / len(CLASS), abs=1e-3)  # alice and zed
    assert softmax["statuses"] == {"passed": 2, "failed": 1, "error": 2, "timeout": 1, "flagged": 1}
    assert softmax["failures"] == {
        "wrong values": 1,
        "raised IndexError": 1,
        "raised NameError": 1,
        "ran out of time": 1,
        "flagged (uses the dnncourse library)": 1,
    }
    assert softmax["most_common_failure"]["notebooks"] == 1
    assert report["statistics"]["exercises"]["accuracy"]["passed_share"] == 1.0
    totals = report["statistics"]["totals"]
    assert totals["max"] == MAX and totals["min"] == min(s["total"] for s in report["submissions"])
    png = run[0] / "grades.histogram.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "most common failure" in run[1].stdout and "softmax" in run[1].stdout


@pytest.mark.parametrize(
    ("roster", "problem"),
    [
        ("id,name,email\n1,A,a@x\n", "no column for file"),
        ("id,name,file\n1,A,a*.ipynb\n1,B,b.ipynb\n", "the id '1' is on lines 2 and 3"),
        ("id,name,file\n1,,a.ipynb\n", "line 2: the name is empty"),
        ("id,name,file\n", "no students"),
    ],
)
def test_a_bad_roster_is_named(tmp_path, roster, problem):
    path = tmp_path / "roster.csv"
    path.write_text(roster, encoding="utf-8")
    with pytest.raises(GradingError, match=re.escape(problem)):
        read_roster(path)


def test_ambiguous_roster_rows_stop_before_grading(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("id,name,email,file\n1,A,a@x,a*.ipynb\n2,B,b@x,ab.ipynb\n", encoding="utf-8")
    with pytest.raises(GradingError, match="a notebook has one owner"):
        read_roster(path).match(["ab.ipynb"])
    with pytest.raises(GradingError, match="matches 2 notebooks"):
        read_roster(path).match(["a1.ipynb", "a2.ipynb"])


def test_gradebook_export_needs_a_roster(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    write(folder, "a", notebook())
    command = [sys.executable, "-m", "dnncourse.cli", "grade", str(folder), "--out", str(tmp_path / "g.csv")]
    process = subprocess.run(
        [*command, "--canvas", str(tmp_path / "c.csv")], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert process.returncode == 2 and "--canvas needs --roster" in process.stderr
    assert not (tmp_path / "g.csv").exists()


def test_feedback_renders_in_chromium(run):
    """A student opens their feedback in a browser: it renders, with the case, the traceback and no solution code."""
    from browser import chromium, require_chromium

    require_chromium()
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("request", lambda request: errors.append(request.url) if request.url.startswith("http") else None)
        for name in ("bob_partial", "carol_error"):
            page.goto((run[0] / "feedback" / f"{name}.html").as_uri())
            assert page.title().startswith("Feedback: Exercises 0: softmax")
            text = page.inner_text("body")
            assert "Total points" in text and "Exercise by exercise" in text
            assert REFERENCE_SOURCE not in text and "seed" not in text.lower()
            assert page.locator("h3").count() == 3  # one section per exercise
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scroll
        assert "in normalise" in page.locator("pre").all_inner_texts()[-1]  # carol's traceback, as preformatted text
    assert errors == []
