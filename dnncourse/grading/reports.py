"""The reports: ``grades.csv`` and ``grades.json``, and the journal that keeps results as they come.

* :func:`report_paths` checks ``--out``/``--json`` before anything is graded: the right suffix, not a
  folder, two different files, in a folder the grader can write to.
* :class:`Journal` (``<json stem>.partial.jsonl`` next to the JSON report) gets one line per graded
  notebook as soon as it is done (written, flushed and synced), so an interrupted run (Ctrl-C, a killed
  process, a power cut) loses nothing: ``dnncourse grade --resume`` continues it.
* :func:`write_reports` writes both reports atomically (a temporary file in the same folder, then
  ``os.replace``): a report is either the old one or the complete new one, never half written.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, TextIO

from dnncourse.grading.results import GradingError, SubmissionResult
from dnncourse.grading.roster import Matching

__all__ = ["report_paths", "check_folder", "check_writable", "Journal", "write_reports", "atomic_write", "csv_cell"]

JOURNAL_KIND = "dnncourse-grades-journal"


def check_folder(folder: Path, option: str) -> None:
    """Create ``folder`` if needed and write a file in it; ``GradingError`` naming ``option`` if that fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, probe = tempfile.mkstemp(dir=folder, prefix=".dnncourse-write-test-")
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        raise GradingError(f"{option}: cannot write in {folder} ({error.strerror or error})") from None


def check_writable(path: Path, option: str, suffix: str) -> Path:
    """``path``, a file that ``option`` names, checked: the right suffix, not a folder, replaceable."""
    if path.suffix.lower() != suffix:
        raise GradingError(f"{option} must name a {suffix} file, got {str(path)!r}")
    if path.is_dir():
        raise GradingError(f"{option} names a folder, not a file: {path}")
    folder = path.parent
    check_folder(folder, option)
    if path.exists() and not os.access(path, os.W_OK) and not os.access(folder, os.W_OK):
        raise GradingError(f"{option}: {path} cannot be replaced")
    return path


def report_paths(out: Path, json_path: Path | None) -> tuple[Path, Path, Path]:
    """``(csv, json, journal)`` paths, checked; ``GradingError`` naming the option that is wrong."""
    csv_path = check_writable(Path(out), "--out", ".csv")
    json_path = check_writable(Path(json_path) if json_path else csv_path.with_suffix(".json"), "--json", ".json")
    journal = json_path.with_name(json_path.stem + ".partial.jsonl")
    if csv_path.resolve() == json_path.resolve():
        raise GradingError(f"--out and --json name the same file: {csv_path}")
    return csv_path, json_path, journal


def atomic_write(path: Path, content: str | bytes) -> None:
    """Write ``content`` (text as UTF-8) to ``path`` through a temporary file in the same folder and ``os.replace``."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content.encode("utf-8") if isinstance(content, str) else content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


class Journal:
    """One JSON line per graded notebook, appended as each is done; the first line holds the run's settings.

    A journal is held under an exclusive lock (``flock``) while a run writes it, so a second ``dnncourse
    grade`` on the same reports stops at once instead of grading the same notebooks into the same files.
    """

    def __init__(self, path: Path, header: dict[str, Any], entries: dict[str, dict[str, Any]], handle: TextIO):
        self.path, self.header, self.entries, self.handle = path, header, entries, handle
        self.lock = threading.Lock()

    @staticmethod
    def _lock(handle: TextIO, path: Path) -> None:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise GradingError(
                f"another `dnncourse grade` is writing these reports now (its journal {path} is in use): "
                "let it finish, or stop it and continue with --resume"
            ) from None

    @classmethod
    def check_absent(cls, path: Path) -> None:
        """``GradingError`` if a journal is there: a run in progress, or one that was interrupted (its results
        must not be lost)."""
        if path.exists():
            try:
                with open(path, encoding="utf-8") as handle:
                    cls._lock(handle, path)  # released when the file is closed
            except OSError:
                pass
            raise GradingError(
                f"an interrupted run left {path}: continue it with --resume, or delete that file to start over"
            )

    @classmethod
    def create(cls, path: Path, header: dict[str, Any]) -> Journal:
        cls.check_absent(path)
        try:  # O_EXCL: a journal that appeared since the check is never overwritten
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o666)
        except FileExistsError:
            cls.check_absent(path)
            raise
        handle = os.fdopen(descriptor, "a", encoding="utf-8")
        cls._lock(handle, path)
        handle.write(json.dumps({"kind": JOURNAL_KIND, **header}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
        return cls(path, header, {}, handle)

    @classmethod
    def resume(cls, path: Path) -> Journal:
        """The journal of an interrupted run (a last line cut short by a crash, or a damaged one, is ignored)."""
        try:
            handle = open(path, "r+", encoding="utf-8")
        except FileNotFoundError:
            raise GradingError(f"nothing to resume: {path} does not exist") from None
        except OSError as error:
            raise GradingError(f"cannot read {path}: {error}") from None
        cls._lock(handle, path)
        try:
            lines = handle.read().splitlines()
            handle.seek(0, os.SEEK_END)  # new lines are appended
        except (OSError, UnicodeDecodeError) as error:
            handle.close()
            raise GradingError(f"cannot read {path}: {error}") from None
        try:
            header = json.loads(lines[0])
            if header.pop("kind") != JOURNAL_KIND:
                raise ValueError
        except (IndexError, ValueError, KeyError, AttributeError):
            handle.close()
            raise GradingError(f"{path} is not a journal of `dnncourse grade`") from None
        entries = {}
        for line in lines[1:]:
            try:
                entry = json.loads(line)
                SubmissionResult.from_dict(entry["result"])  # a damaged line is graded again, not trusted
                entries[entry["result"]["file"]] = entry
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        return cls(path, header, entries, handle)

    def add(self, result: SubmissionResult, digest: str | None) -> None:
        line = json.dumps({"digest": digest, "result": result.to_dict()}) + "\n"
        with self.lock:
            self.handle.write(line)
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.entries[result.file] = {"digest": digest, "result": result.to_dict()}

    def close(self) -> None:
        self.handle.close()

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def csv_cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text (a file name starting with = must not become a formula)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_reports(
    csv_path: Path,
    json_path: Path,
    columns: list[str],
    results: list[SubmissionResult],
    report: dict[str, Any],
    matching: Matching | None = None,
) -> None:
    """``grades.csv`` (file, points per exercise, total, max) and ``grades.json`` (everything), atomically.

    With a roster (``matching``), both say whose each notebook is, and list the roster's students without
    a notebook (in the CSV: a row without a file or points) and the notebooks without a student.
    """
    students = matching.students if matching else {}
    identity = ["student_id", "name", "email"] if matching else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", *identity, *columns, "total", "max"])
    for result in results:
        points = [f"{result.exercises[c].points:g}" if c in result.exercises else "" for c in columns]
        student = students.get(result.file)
        who = [student.id, student.name, student.email] if student else ["", "", ""]
        row = [result.file, *(who if matching else []), *points, f"{result.total:g}", f"{result.max_points:g}"]
        writer.writerow([csv_cell(cell) for cell in row])
    for student in matching.missing if matching else []:
        row = ["", student.id, student.name, student.email, *[""] * len(columns), "", ""]
        writer.writerow([csv_cell(cell) for cell in row])
    submissions = []
    for result in results:
        entry = result.to_dict()
        if matching:
            entry["student"] = students[result.file].to_dict() if result.file in students else None
        submissions.append(entry)
    document = {**report, "submissions": submissions}
    if matching:
        document["roster"] = {
            "missing": [student.to_dict() for student in matching.missing],
            "unmatched": matching.unmatched,
        }
    atomic_write(json_path, json.dumps(document, indent=2) + "\n")
    atomic_write(csv_path, buffer.getvalue())
