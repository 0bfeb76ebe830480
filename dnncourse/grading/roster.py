"""The roster: which student each submitted notebook belongs to (``dnncourse grade ... --roster roster.csv``).

A CSV file with a header row and one row per student:

* ``id`` (the student id the learning-management system knows: Canvas's user ID, Moodle's ID number),
  ``name`` and ``file`` are required; ``email`` is read when present (Moodle can match on it);
* ``file`` is the submission's path under the submissions folder, or a pattern (``*``, ``?``, ``[...]``,
  as in a shell) matched against that path and against the file's name alone, ignoring case;
* ``section``, ``sis_user_id`` and ``sis_login_id`` are optional (Canvas's import shows them).

The headers Canvas's own gradebook export uses (``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``,
``Section``) are understood too, so a roster can start from that export with a ``file`` column added.
Commas, semicolons or tabs separate the columns (whatever the spreadsheet wrote), UTF-8 with or without
a byte-order mark.

:meth:`Roster.match` pairs notebooks with students before anything is graded. A pattern that matches
two notebooks, or a notebook that two rows match, is an error naming the rows (a grade must never go
to the wrong student). Notebooks without a student and students without a notebook are listed, never
dropped.
"""

from __future__ import annotations

import csv
import fnmatch
import io
from dataclasses import dataclass, field
from pathlib import Path

from dnncourse.grading.results import GradingError

__all__ = ["Student", "Matching", "Roster", "read_roster"]

# Each field, and the headers that name it (compared without case, spaces, dashes or underscores).
_HEADERS = {
    "id": ("id", "studentid", "sid", "idnumber", "userid"),
    "name": ("name", "student", "studentname", "fullname"),
    "email": ("email", "emailaddress", "mail"),
    "file": ("file", "submission", "notebook", "pattern", "filename"),
    "section": ("section",),
    "sis_user_id": ("sisuserid",),
    "sis_login_id": ("sisloginid",),
}
_REQUIRED = ("id", "name", "file")
_MAX_BYTES = 20 * 2**20


@dataclass(frozen=True)
class Student:
    """One row of the roster."""

    id: str
    name: str
    file: str  # a path under the submissions folder, or a pattern
    line: int  # its line in the roster file (for error messages)
    email: str = ""
    section: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""

    def matches(self, submission: str) -> bool:
        pattern, path = self.file.lower(), submission.lower()
        return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern)

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "email": self.email}


@dataclass
class Matching:
    """Students and notebooks paired: ``students`` maps a notebook to its student."""

    students: dict[str, Student] = field(default_factory=dict)
    missing: list[Student] = field(default_factory=list)  # roster rows without a notebook
    unmatched: list[str] = field(default_factory=list)  # notebooks without a roster row


@dataclass
class Roster:
    path: Path
    students: list[Student]

    def match(self, files: list[str]) -> Matching:
        """Pair every notebook (its path under the submissions folder) with at most one student and back;
        ``GradingError`` naming the rows when a pairing is ambiguous."""
        matching = Matching()
        claimed: dict[str, list[Student]] = {}
        for student in self.students:
            found = [file for file in files if student.matches(file)]
            if len(found) > 1:
                shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
                raise GradingError(
                    f"--roster {self.path}, line {student.line} (id {student.id}): the file pattern {student.file!r} "
                    f"matches {len(found)} notebooks ({shown}); make it match one"
                )
            if not found:
                matching.missing.append(student)
            for file in found:
                claimed.setdefault(file, []).append(student)
        for file in files:
            owners = claimed.get(file, [])
            if len(owners) > 1:
                rows = " and ".join(f"line {s.line} (id {s.id})" for s in owners)
                raise GradingError(
                    f"--roster {self.path}: the notebook {file} matches {rows}; a notebook has one owner"
                )
            if owners:
                matching.students[file] = owners[0]
            else:
                matching.unmatched.append(file)
        return matching


def _key(header: str) -> str:
    return "".join(ch for ch in header.lower() if ch.isalnum())


def _columns(header: list[str], path: Path) -> dict[str, int]:
    columns: dict[str, int] = {}
    for position, title in enumerate(header):
        key = _key(title)
        for name, spellings in _HEADERS.items():
            if key in spellings and name not in columns:
                columns[name] = position
    missing = [name for name in _REQUIRED if name not in columns]
    if missing:
        found = ", ".join(repr(title) for title in header) or "none"
        raise GradingError(
            f"--roster {path}: no column for {', '.join(missing)} (the header row needs id, name, email and file; "
            f"found {found})"
        )
    return columns


def read_roster(path: Path) -> Roster:
    """Read and check a roster file; ``GradingError`` naming the line and the problem."""
    path = Path(path)
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise GradingError(f"--roster {path}: larger than {_MAX_BYTES // 2**20} MB; is it the right file?")
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise GradingError(f"--roster: no such file: {path}") from None
    except IsADirectoryError:
        raise GradingError(f"--roster names a folder, not a CSV file: {path}") from None
    except UnicodeDecodeError as error:
        raise GradingError(f"--roster {path}: not UTF-8 text (byte {error.start}); save it as CSV UTF-8") from None
    except OSError as error:
        raise GradingError(f"--roster: cannot read {path}: {error.strerror or error}") from None
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count) if first else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        raise GradingError(f"--roster {path} is empty")
    columns = _columns(rows[0], path)
    students, seen = [], {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        values = {name: row[i].strip() if i < len(row) else "" for name, i in columns.items()}
        for name in _REQUIRED:
            if not values[name]:
                raise GradingError(f"--roster {path}, line {line}: the {name} is empty")
        if values["id"] in seen:
            raise GradingError(f"--roster {path}: the id {values['id']!r} is on lines {seen[values['id']]} and {line}")
        seen[values["id"]] = line
        students.append(Student(line=line, **values))
    if not students:
        raise GradingError(f"--roster {path} has a header but no students")
    return Roster(path, students)
