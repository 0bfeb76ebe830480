"""Grades in the layouts learning-management systems import (``--canvas FILE``, ``--moodle FILE``).

Both need a roster (:mod:`dnncourse.grading.roster`): the LMS finds its students by their id. One row per
student of the roster, with the notebook's total points. A student without a notebook, or whose notebook
the grader could not grade, gets an empty cell: both systems leave an empty cell's grade as it is, so the
instructor decides (a zero, an extension, an excused mark); the grader lists those students.

* Canvas (Grades, Import): the columns of Canvas's own gradebook export, ``Student, ID, SIS User ID,
  SIS Login ID, Section``, then the assignment's name, and a first row ``Points Possible`` with its
  maximum. A column whose name is not an assignment yet creates one with those points.
* Moodle (Grade administration, Import, CSV file): ``ID number, Full name, Email address``, then the
  assignment's name. Moodle asks which column identifies the student (map "Email address" to the
  email, or "ID number" to the ID number) and which grade item the points go to; that item's maximum
  grade must be the assignment's maximum points (a new item gets 100).
"""

from __future__ import annotations

import csv
import io

from dnncourse.grading.reports import csv_cell
from dnncourse.grading.roster import Matching, Student

__all__ = ["grade_rows", "canvas_csv", "moodle_csv"]


def grade_rows(matching: Matching, totals: dict[str, float | None]) -> list[tuple[Student, str]]:
    """``(student, points as text or "")`` for every student of the roster, in the roster's order.

    ``totals`` maps a notebook to its total, or None when the grader could not grade it.
    """
    by_student = {student.line: file for file, student in matching.students.items()}
    students = sorted([*matching.students.values(), *matching.missing], key=lambda student: student.line)
    rows = []
    for student in students:
        total = totals.get(by_student[student.line]) if student.line in by_student else None
        rows.append((student, "" if total is None else f"{total:g}"))
    return rows


def _write(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([[csv_cell(cell) for cell in row] for row in rows])
    return buffer.getvalue()


def canvas_csv(rows: list[tuple[Student, str]], assignment: str, max_points: float) -> str:
    """The CSV Canvas's gradebook import reads: its five identity columns, then the assignment."""
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment]
    table = [["Points Possible", "", "", "", "", f"{max_points:g}"]]
    table += [[s.name, s.id, s.sis_user_id, s.sis_login_id, s.section, points] for s, points in rows]
    return _write(header, table)


def moodle_csv(rows: list[tuple[Student, str]], assignment: str) -> str:
    """The CSV Moodle's grade import reads: identity columns to map from, then the assignment."""
    header = ["ID number", "Full name", "Email address", assignment]
    return _write(header, [[s.id, s.name, s.email, points] for s, points in rows])
