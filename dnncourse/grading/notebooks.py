"""Reading notebooks the grader cannot trust: submitted files, their cells, their chapter.

Nothing a submission contains may crash or hang the grader, so files are opened without following links
or blocking (a FIFO is refused, not waited on), only regular files are read, and at most a fixed number
of bytes. A file that is not a notebook (not UTF-8, not JSON, a ``null`` where a line of source should
be, a lone surrogate in a code cell) raises ``ValueError`` with a reason the instructor can read; the
batch turns it into an ``error`` row for that student.

The released student edition of a chapter (what the students started from) is read here too: the grader
runs only the code cells a student added or changed.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from dnncourse.grading.results import GradingError

__all__ = [
    "Cell",
    "Notebook",
    "read_file",
    "parse_notebook",
    "read_notebook",
    "find_submissions",
    "normalized",
    "released_code",
    "repository_roots",
]

_CHAPTER = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


@dataclass(frozen=True)
class Cell:
    """One cell: its number in the notebook (1-based, as the student sees it), kind and source text."""

    number: int
    kind: str  # "code", "markdown", "raw", ...
    source: str


@dataclass(frozen=True)
class Notebook:
    """The parts of a notebook the grader uses."""

    cells: tuple[Cell, ...]
    chapter: str | None  # metadata["dnncourse"]["chapter"], written by the release step

    @property
    def code_cells(self) -> list[Cell]:
        return [cell for cell in self.cells if cell.kind == "code"]


def read_file(path: str | bytes | os.PathLike, max_bytes: int) -> bytes:
    """The bytes of a regular file, at most ``max_bytes`` of them; ``ValueError`` with a reason otherwise.

    The file is opened with ``O_NOFOLLOW`` (a symbolic link is refused) and ``O_NONBLOCK`` (opening a
    FIFO does not wait for a writer), then checked to be a regular file before anything is read.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno == getattr(os, "ELOOP", -1) or os.path.islink(path):
            raise ValueError("the file is a symbolic link, not a notebook") from None
        raise ValueError(f"the file cannot be opened ({error.strerror})") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file (a FIFO, a device or a folder)")
        if info.st_size > max_bytes:
            raise ValueError(f"the file is larger than {max_bytes // 2**20} MB")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(descriptor, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise ValueError(f"the file is larger than {max_bytes // 2**20} MB")
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def _source_text(source: object, number: int) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    what = "null" if source is None or (isinstance(source, list) and None in source) else "something else"
    raise ValueError(f"not a valid notebook: the source of cell {number} is not text ({what} in it)")


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_notebook(data: bytes) -> Notebook:
    """The cells and chapter of a notebook given as bytes; ``ValueError`` with a short reason otherwise."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not a valid notebook: the file is not UTF-8 text") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not a valid notebook: invalid JSON (line {error.lineno}: {error.msg})") from None
    except RecursionError:
        raise ValueError("not a valid notebook: JSON nested too deeply") from None
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        raise ValueError("not a valid notebook: no list of cells (nbformat 4 expected)")
    cells = []
    for number, cell in enumerate(document["cells"], start=1):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise ValueError(f"not a valid notebook: cell {number} has no cell_type")
        source = _source_text(cell.get("source", ""), number)
        if cell["cell_type"] == "code" and _has_lone_surrogate(source):
            raise ValueError(
                f"not a valid notebook: cell {number} contains a lone surrogate "
                "(an escape such as \\ud800 that is not text)"
            )
        cells.append(Cell(number, cell["cell_type"], source))
    metadata = document.get("metadata")
    recorded = metadata.get("dnncourse") if isinstance(metadata, dict) else None
    chapter = recorded.get("chapter") if isinstance(recorded, dict) else None
    if not isinstance(chapter, str) or not _CHAPTER.match(chapter):
        chapter = None
    return Notebook(tuple(cells), chapter)


def read_notebook(path: str | bytes | os.PathLike, max_bytes: int = 64 * 2**20) -> Notebook:
    """:func:`read_file` then :func:`parse_notebook`."""
    return parse_notebook(read_file(path, max_bytes))


def _display(relative: bytes) -> str:
    """A path as text for the reports: undecodable bytes become ``\\xNN`` (a file name need not be UTF-8)."""
    return relative.decode("utf-8", "backslashreplace")


def find_submissions(folder: Path) -> list[tuple[str, bytes]]:
    """``(name, path)`` of each ``*.ipynb`` under ``folder``, sorted by name; checkpoints skipped.

    Paths are bytes, so a file name that is not valid UTF-8 is still found and opened; ``name`` is the
    path relative to ``folder`` as text. Symbolic links to folders are not followed.
    """
    root = os.fsencode(folder)
    found: dict[str, bytes] = {}
    for directory, subfolders, files in os.walk(root, followlinks=False):
        subfolders[:] = sorted(d for d in subfolders if d != b".ipynb_checkpoints")
        for name in sorted(files):
            if not name.endswith(b".ipynb"):
                continue
            path = os.path.join(directory, name)
            display = _display(os.path.relpath(path, root).replace(os.sep.encode(), b"/"))
            while display in found:  # two byte names that read alike
                display += "~"
            found[display] = path
    return sorted(found.items())


def normalized(source: str) -> str:
    """A cell's source without trailing spaces and surrounding blank lines (how cells are compared)."""
    return "\n".join(line.rstrip() for line in source.strip("\n").splitlines()).strip("\n")


def repository_roots() -> list[Path]:
    """Where a repository checkout may be: above the installed package, the working folder and its parents."""
    import dnncourse

    roots = [Path(dnncourse.__file__).resolve().parents[1], Path.cwd().resolve()]
    roots += list(Path.cwd().resolve().parents)
    return [root for root in roots if (root / "_config.yml").is_file() and (root / "book").is_dir()]


def released_code(chapter: str, book: Path | None = None) -> frozenset[str]:
    """The normalized sources of the code cells of the released student edition of ``chapter``.

    Looked up as ``<book>/<chapter>.ipynb`` when ``book`` is given, else in the course repository
    (``book/<chapter>.ipynb``; or generated from ``book/solutions/<chapter>.ipynb`` by the release step).
    ``GradingError`` if there is none: the grader cannot tell the student's cells from the chapter's.
    """
    places = [Path(book)] if book is not None else [root / "book" for root in repository_roots()]
    for place in places:
        path = place / f"{chapter}.ipynb"
        if path.is_file():
            try:
                notebook = read_notebook(path)
            except ValueError as error:
                raise GradingError(f"the released student edition {path} cannot be read: {error}") from None
            return frozenset(normalized(cell.source) for cell in notebook.code_cells)
    if book is None:
        for place in places:
            solutions = place / "solutions" / f"{chapter}.ipynb"
            if solutions.is_file():
                return _generated_student_code(solutions)
    where = ", ".join(str(place) for place in places) or "no course repository found from here"
    raise GradingError(
        f"cannot find the released student edition of chapter {chapter!r} ({chapter}.ipynb; looked in {where}): "
        "run `dnncourse grade` from a clone of the course repository, or pass --book with the folder of "
        "the notebooks the students were given"
    )


def _generated_student_code(solutions: Path) -> frozenset[str]:
    try:
        import nbformat

        from dnncourse.authoring.release import student_edition
    except ImportError as error:
        raise GradingError(
            f"book/{solutions.name} has no student edition, and generating it needs the authoring tools "
            f'({error}): pip install "dnncourse[authoring]"'
        ) from None
    student = student_edition(nbformat.read(solutions, as_version=4), solutions.name)
    return frozenset(normalized(cell.source) for cell in student.cells if cell.cell_type == "code")
