"""What a grading run writes besides ``grades.csv`` and ``grades.json``: the instructor's next steps.

* ``--feedback DIR``: one HTML and one Markdown file per notebook, for its student
  (:mod:`dnncourse.grading.feedback`);
* ``--roster FILE``: whose each notebook is (:mod:`dnncourse.grading.roster`), in both reports;
* ``--canvas FILE`` / ``--moodle FILE``: the grades in the layouts those gradebooks import
  (:mod:`dnncourse.grading.exports`), for the assignment ``--assignment`` (default: the chapter);
* always: the class's statistics in ``grades.json`` and on the terminal, and a histogram of the totals
  (``<json stem>.histogram.png``) (:mod:`dnncourse.grading.statistics`).

:meth:`Outputs.check` runs before anything is graded, so that a wrong option (a roster row matching two
notebooks, a folder that cannot be written) stops the run at once instead of after an hour of grading.
Every file is written atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnncourse.grading.exports import canvas_csv, grade_rows, moodle_csv
from dnncourse.grading.feedback import write_feedback
from dnncourse.grading.reports import atomic_write, check_folder, check_writable
from dnncourse.grading.results import GradingError, SubmissionResult
from dnncourse.grading.roster import Matching, read_roster
from dnncourse.grading.statistics import summary_lines, write_histogram

__all__ = ["Outputs"]


@dataclass
class Outputs:
    """The options of a run that concern its outputs, checked, and what they produced."""

    json_path: Path
    feedback: Path | None = None
    roster: Path | None = None
    canvas: Path | None = None
    moodle: Path | None = None
    assignment: str | None = None
    matching: Matching | None = None
    written: list[str] = field(default_factory=list)

    @property
    def histogram(self) -> Path:
        return self.json_path.with_name(self.json_path.stem + ".histogram.png")

    def check(self, files: list[str], chapters: list[str], reports: list[Path]) -> None:
        """Everything that can be checked before grading; ``GradingError`` naming the option otherwise.

        ``files``: the notebooks (paths under the submissions folder); ``chapters``: the chapters graded;
        ``reports``: the paths of the CSV and JSON reports (no other output may overwrite them).
        """
        if (self.canvas or self.moodle) and self.roster is None:
            option = "--canvas" if self.canvas else "--moodle"
            raise GradingError(f"{option} needs --roster: the gradebook finds its students by the roster's ids")
        if (self.canvas or self.moodle) and len(chapters) > 1:
            raise GradingError(
                f"--canvas/--moodle export one assignment, but the notebooks are from {len(chapters)} chapters "
                f"({', '.join(chapters)}): pass --chapter"
            )
        taken = {path.resolve() for path in reports}
        for option, path in (("--canvas", self.canvas), ("--moodle", self.moodle)):
            if path is not None:
                check_writable(path, option, ".csv")
                if path.resolve() in taken:
                    raise GradingError(f"{option} names a file another report is written to: {path}")
                taken.add(path.resolve())
        if self.feedback is not None:
            if self.feedback.exists() and not self.feedback.is_dir():
                raise GradingError(f"--feedback names a file, not a folder: {self.feedback}")
            check_folder(self.feedback, "--feedback")
        if self.roster is not None:
            self.matching = read_roster(self.roster).match(files)
        if self.assignment is None:
            self.assignment = chapters[0] if len(chapters) == 1 else "dnncourse exercises"
        if not self.assignment.strip():
            raise GradingError("--assignment must not be empty")

    def warnings(self) -> list[str]:
        """What the roster did not pair, for the terminal."""
        if self.matching is None:
            return []
        lines = []
        if self.matching.unmatched:
            lines.append(
                f"{len(self.matching.unmatched)} notebook(s) match no student of the roster (graded, without a "
                f"student): {', '.join(self.matching.unmatched[:10])}"
            )
        if self.matching.missing:
            shown = ", ".join(f"{s.name} ({s.id})" for s in self.matching.missing[:10])
            lines.append(f"{len(self.matching.missing)} student(s) of the roster have no notebook: {shown}")
        return lines

    def write(self, results: list[SubmissionResult], summary: dict[str, Any]) -> list[str]:
        """Write every output asked for (after the reports); the lines to print about them."""
        lines = summary_lines(summary)
        if write_histogram(self.histogram, results, f"{self.assignment}: totals of {summary['notebooks']} notebooks"):
            self.written.append(str(self.histogram))
        students = {}
        if self.matching is not None:
            students = {file: f"{s.name} ({s.id})" for file, s in self.matching.students.items()}
        if self.feedback is not None:
            paths = write_feedback(self.feedback, results, self.assignment, students)
            self.written.append(f"{len(paths) // 2} feedback files in {self.feedback}/ (HTML and Markdown)")
        if self.matching is not None and (self.canvas or self.moodle):
            totals = {result.file: None if result.problem else result.total for result in results}
            rows = grade_rows(self.matching, totals)
            top = max((result.max_points for result in results), default=0.0)
            if self.canvas:
                atomic_write(self.canvas, canvas_csv(rows, self.assignment, top))
                self.written.append(f"{self.canvas} (Canvas, {top:g} points possible)")
            if self.moodle:
                atomic_write(self.moodle, moodle_csv(rows, self.assignment))
                self.written.append(f"{self.moodle} (Moodle: set the grade item's maximum to {top:g})")
            blank = sum(points == "" for _, points in rows)
            if blank:
                lines.append(
                    f"{blank} student(s) have an empty grade in the gradebook export (no notebook, or one "
                    "the grader could not grade)"
                )
        return lines
