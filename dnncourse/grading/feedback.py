"""Feedback for each student: ``dnncourse grade ... --feedback DIR`` writes one HTML and one Markdown file per
submission, named after it.

Each exercise gets its points, its status in words and, when it lost points, why: the first failed case
(its name, its inputs, what was expected and what the student's code returned, large arrays summarized),
the exercise's hint, or for an error the end of the traceback from the student's own cells. Everything
comes from the grade (:class:`~dnncourse.grading.results.ExerciseResult` and its ``details``) and from
the exercise's specification (its function's name, points and hint): never the reference solution's code,
and never the seed the hidden inputs were drawn with (labels of random cases lose it here).

Both formats are rendered from one list of blocks, so they always say the same. Everything a submission
wrote (an error message, a returned value) is text: escaped in HTML (and the page allows no scripts, no
images and no requests at all), fenced or escaped in Markdown.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from dnncourse.exercises import Exercise, get
from dnncourse.grading.judge import without_seed
from dnncourse.grading.reports import atomic_write
from dnncourse.grading.results import ExerciseResult, SubmissionResult

__all__ = [
    "status_words",
    "exercise_markdown",
    "submission_markdown",
    "submission_html",
    "feedback_names",
    "write_feedback",
]


@dataclass(frozen=True)
class _Block:
    """One piece of a feedback page: ``kind`` is heading, text, field (a label and a value) or code."""

    kind: str
    text: str
    label: str = ""
    level: int = 2


def status_words(result: ExerciseResult) -> str:
    """The exercise's status as a sentence a student understands."""
    passed, total = result.cases_passed, result.cases_total
    if result.status == "passed":
        return f"Passed: all {total} cases are right." if total > 1 else "Passed."
    if result.status == "failed" and (result.value is not None or total == 1):  # one answer, scored as a whole
        return "Partly right: the answer earns part of the points." if result.points else "Not right yet."
    if result.status == "failed":
        if passed:
            return f"Partly right: {passed} of {total} cases are right."
        return f"Not right yet: none of the {total} cases is right."
    return {
        "not-attempted": "Not attempted.",
        "error": "Error: the code did not run to the end.",
        "timeout": "Out of time: the code was still running at the time limit.",
        "flagged": "Flagged: not graded automatically (your instructor will look at it).",
    }.get(result.status, result.status)


def _title(exercise: Exercise) -> str:
    if exercise.id == exercise.function:
        return exercise.id
    return f"{exercise.id} (the function {exercise.function})"


def _exercise_blocks(exercise: Exercise, result: ExerciseResult) -> list[_Block]:
    details = result.details
    blocks = [
        _Block("heading", _title(exercise), level=3),
        _Block("field", f"{result.points:g} of {result.max_points:g}", "Points"),
        _Block("field", status_words(result), "Status"),
    ]
    if result.status == "passed":
        if result.value is not None and details.get("message"):
            blocks.append(_Block("text", details["message"]))
        return blocks
    if details.get("case"):
        blocks.append(_Block("field", without_seed(details["case"]), "First failed case"))
        for name, value in details.get("inputs", {}).items():
            blocks.append(_Block("code", value, f"Input {name}"))
    if "expected" in details:
        blocks.append(_Block("code", details["expected"], "Expected"))
    if "got" in details:
        blocks.append(_Block("code", details["got"], "Your code returned"))
    if details.get("message"):
        blocks.append(_Block("field", without_seed(details["message"]), "What differs"))
    if details.get("error"):
        blocks.append(_Block("field", details["error"], "Error"))
    if details.get("why"):  # a name the exercise needs was not defined: which cell should have defined it
        blocks.append(_Block("field", details["why"], "Why"))
    if not details.get("case") and not details.get("message"):  # nothing more precise: the grader's reason
        blocks.append(_Block("field", without_seed(result.reason), "Why"))
    if details.get("cell_error"):
        blocks.append(_Block("field", details["cell_error"], "The exercise cell also raised"))
    if details.get("traceback"):
        blocks.append(_Block("code", details["traceback"], "Traceback (your code only)"))
    if exercise.hint and result.status in ("failed", "error", "timeout"):
        blocks.append(_Block("field", exercise.hint, "Hint"))
    return blocks


def _submission_blocks(result: SubmissionResult, assignment: str, student: str | None) -> list[_Block]:
    blocks = [_Block("heading", f"Feedback: {assignment}", level=1)]
    if student:
        blocks.append(_Block("field", student, "Student"))
    blocks.append(_Block("field", result.file, "Notebook"))
    blocks.append(_Block("field", f"{result.total:g} of {result.max_points:g}", "Total points"))
    summary = [
        f"{exercise_id}: {grade.points:g} of {grade.max_points:g} ({status_words(grade)})"
        for exercise_id, grade in result.exercises.items()
    ]
    blocks.append(_Block("list", "\n".join(summary), "Exercises"))
    if result.notes:
        blocks.append(_Block("list", "\n".join(result.notes), "About your notebook"))
    blocks.append(_Block("heading", "Exercise by exercise", level=2))
    for exercise_id, grade in result.exercises.items():
        blocks += _exercise_blocks(get(exercise_id), grade)
    return blocks


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _markdown_text(text: str) -> str:
    """Text a Markdown renderer shows as written: no HTML, no links, no emphasis from the student's strings."""
    text = html.escape(text, quote=False)
    return re.sub(r"([\\`*_\[\]#|!])", r"\\\1", text).replace("\n", "  \n")


def _markdown(blocks: list[_Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if block.kind == "heading":
            lines += ["", "#" * block.level + " " + _markdown_text(block.text), ""]
        elif block.kind == "field":
            lines.append(f"- **{block.label}:** {_markdown_text(block.text)}")
        elif block.kind == "list":
            lines += ["", f"**{block.label}:**", ""] + [f"- {_markdown_text(item)}" for item in block.text.splitlines()]
            lines.append("")
        elif block.kind == "code":
            fence = _fence(block.text)
            lines += [f"- **{block.label}:**", "", f"{fence}text", block.text, fence, ""]
        else:
            lines += ["", _markdown_text(block.text), ""]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 50rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1a1a1a; background: #ffffff; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; margin-top: 2rem; }
h3 { font-size: 1.1rem; margin-top: 1.6rem; padding-top: 0.8rem; border-top: 1px solid #d0d0d0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0.4rem 0; }
dt { font-weight: 600; } dd { margin: 0; }
pre { background: #f4f4f4; padding: 0.6rem; overflow-x: auto; white-space: pre-wrap; margin: 0; }
"""


def _html(blocks: list[_Block], title: str) -> str:
    body: list[str] = []
    fields: list[str] = []

    def close_fields() -> None:
        if fields:
            body.append("<dl>" + "".join(fields) + "</dl>")
            fields.clear()

    for block in blocks:
        text = html.escape(block.text)
        if block.kind == "field":
            fields.append(f"<dt>{html.escape(block.label)}</dt><dd>{text}</dd>")
        elif block.kind == "code":
            fields.append(f"<dt>{html.escape(block.label)}</dt><dd><pre>{text}</pre></dd>")
        elif block.kind == "list":
            close_fields()
            items = "".join(f"<li>{html.escape(item)}</li>" for item in block.text.splitlines())
            body.append(f"<p><strong>{html.escape(block.label)}</strong></p><ul>{items}</ul>")
        elif block.kind == "heading":
            close_fields()
            body.append(f"<h{block.level}>{text}</h{block.level}>")
        else:
            close_fields()
            body.append(f"<p>{text}</p>")
    close_fields()
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def exercise_markdown(exercise: Exercise, result: ExerciseResult) -> str:
    """One exercise's feedback in Markdown (a heading, points, status and, if it lost points, why)."""
    return _markdown(_exercise_blocks(exercise, result))


def submission_markdown(result: SubmissionResult, assignment: str, student: str | None = None) -> str:
    """A whole submission's feedback in Markdown (``student``: a name to show, e.g. from the roster)."""
    return _markdown(_submission_blocks(result, assignment, student))


def submission_html(result: SubmissionResult, assignment: str, student: str | None = None) -> str:
    """The same feedback as a self-contained HTML page (no scripts, images or requests)."""
    return _html(_submission_blocks(result, assignment, student), f"Feedback: {assignment}: {result.file}")


def feedback_names(files: list[str]) -> dict[str, str]:
    """A file stem for each submission (its path under the submissions folder, made safe), unique among them."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for file in files:
        stem = re.sub(r"\.ipynb$", "", file, flags=re.IGNORECASE).replace("/", "__").replace("\\", "__")
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "submission"
        stem = stem[:150]
        candidate, n = stem, 1
        while candidate.lower() in used:
            n += 1
            candidate = f"{stem}-{n}"
        used.add(candidate.lower())
        names[file] = candidate
    return names


def write_feedback(
    folder: Path, results: list[SubmissionResult], assignment: str, students: dict[str, str] | None = None
) -> list[Path]:
    """``<name>.html`` and ``<name>.md`` for every graded submission, written atomically; the paths written.

    ``students`` maps a submission's file to the student shown in its feedback (from the roster). A
    notebook the grader could not grade (``problem``) gets no feedback: its grade is not known yet.
    """
    folder.mkdir(parents=True, exist_ok=True)
    graded = [result for result in results if not result.problem and result.exercises]
    names = feedback_names([result.file for result in graded])
    written = []
    for result in graded:
        student = (students or {}).get(result.file)
        for suffix, text in (
            (".html", submission_html(result, assignment, student)),
            (".md", submission_markdown(result, assignment, student)),
        ):
            path = folder / (names[result.file] + suffix)
            atomic_write(path, text)
            written.append(path)
    return written
