"""``dnncourse gradescope CHAPTER --out autograder.zip``: the zip Gradescope's autograder is built from.

Gradescope unpacks the zip into ``/autograder/source`` of an Ubuntu image, runs its ``setup.sh`` once as root,
and for each submission puts the student's files in ``/autograder/submission``, runs ``run_autograder`` and
uploads ``/autograder/results/results.json`` (https://gradescope-autograders.readthedocs.io/en/latest/specs/).
The zip holds

* ``setup.sh``: Python, bubblewrap and the pinned packages in ``/autograder/venv`` (PyTorch's CPU build),
  the unprivileged user that runs the students' code where bubblewrap cannot, and the grader's own files
  closed to everyone but root;
* ``run_autograder``: ``python -m dnncourse.grading.gradescope run`` (:mod:`dnncourse.grading.autograder`),
  with ``dnncourse`` imported from the root-only source folder (never installed in the virtual environment,
  whose files every user can read: the package holds the reference solutions);
* ``requirements.txt``: the grader's packages, pinned as in the repository's ``requirements.txt``;
* ``dnncourse/``: the library (without ``__pycache__``); ``book/<chapter>.ipynb``: the released student
  edition (the grader runs only the cells a student added or changed); ``config.json``: the chapter, the
  limits, the secret run seed, the visibility of the results and the dnncourse version and commit.

Entries are sorted, with fixed timestamps and modes (the two scripts executable), so the same inputs and
``--seed`` give the same bytes.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import math
import os
import re
import secrets
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from dnncourse.exercises import Exercise, all_exercises
from dnncourse.grading.layout import CONVENIENCES
from dnncourse.grading.notebooks import read_notebook, repository_roots
from dnncourse.grading.program import chapter_imports, imported_modules
from dnncourse.grading.results import GradingError

__all__ = ["CPU_INDEX", "STUDENT_USER", "VISIBILITIES", "build", "chapter_exercises", "main"]

CPU_INDEX = "https://download.pytorch.org/whl/cpu"  # PyTorch's CPU wheels (PyPI's Linux wheel brings CUDA)
STUDENT_USER = "dnncourse-student"  # runs the students' code where bubblewrap cannot
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")  # Gradescope's settings
_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can record

_SETUP = """#!/usr/bin/env bash
# dnncourse's Gradescope autograder (chapter @CHAPTER@). Gradescope runs this once, as root, when it builds
# the image: Python, bubblewrap and the pinned packages in a virtual environment, the unprivileged user that
# runs the students' code where bubblewrap cannot create namespaces, and the grader's own files (the library,
# which holds the reference solutions, config.json and the released notebook) closed to everyone but root.
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$SOURCE")"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv bubblewrap ca-certificates
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "The pinned packages need Python 3.11 or newer: choose Gradescope's Ubuntu 24.04 base image." >&2
    exit 1
fi
python3 -m venv "$ROOT/venv"
# PyTorch's CPU build, from PyTorch's own index: the grader never uses a GPU.
"$ROOT/venv/bin/pip" install --no-cache-dir --index-url @CPU_INDEX@ "@TORCH@"
"$ROOT/venv/bin/pip" install --no-cache-dir -r "$SOURCE/requirements.txt"
chmod -R a+rX "$ROOT/venv"
if ! id -u @USER@ >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin @USER@
fi
# dnncourse is not installed in the virtual environment (every user can read it): run_autograder imports
# it from this folder, which only root can open.
chown -R root:root "$SOURCE"
chmod -R go-rwx "$SOURCE"
chmod 755 "$ROOT"
PYTHONPATH="$SOURCE" "$ROOT/venv/bin/python" -s -c "import dnncourse.grading.autograder"
"""

_RUN = """#!/usr/bin/env bash
# dnncourse's Gradescope autograder: grades the notebook in /autograder/submission and writes
# /autograder/results/results.json. To try it locally, DNNCOURSE_AUTOGRADER_ROOT replaces /autograder
# and DNNCOURSE_AUTOGRADER_PYTHON the virtual environment's Python (see the README).
set -euo pipefail
ROOT="$(cd "${DNNCOURSE_AUTOGRADER_ROOT:-/autograder}" && pwd)"
PYTHON="${DNNCOURSE_AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
export PYTHONPATH="$ROOT/source"
cd "$ROOT"  # python -m looks in the working folder first: not in a checkout's dnncourse/
exec "$PYTHON" -s -m dnncourse.grading.gradescope run --root "$ROOT" "$@"
"""

# What every chapter's grader imports (the sandbox's NumPy and PyTorch, the progress bar), besides what the
# chapter's references and import cells need; found by running them (:func:`_imported_by_grader`).
_ALWAYS = ("numpy", "torch", *CONVENIENCES)
_IMPORTS_PROBE = r"""
import json, sys
from dnncourse.exercises import all_exercises
from dnncourse.grading import autograder, batch
batch.check_references([e for e in all_exercises().values() if e.chapter == sys.argv[1]], 0)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def chapter_exercises(chapter: str) -> list[Exercise]:
    """The exercises of ``chapter``, in order; ``ValueError`` listing the chapters with exercises otherwise."""
    registry: dict[str, list[Exercise]] = {}
    for exercise in all_exercises().values():
        registry.setdefault(exercise.chapter, []).append(exercise)
    if chapter not in registry:
        raise ValueError(
            f"no exercises for chapter {chapter!r}; chapters with exercises: {', '.join(sorted(registry))}"
        )
    return registry[chapter]


def _released_notebook(chapter: str, book: Path | None) -> Path:
    """The released student edition of ``chapter`` (``<book>/<chapter>.ipynb``, default the repository's book/),
    checked: it records its chapter and holds no solution."""
    places = [Path(book)] if book is not None else [root / "book" for root in repository_roots()]
    path = next((place / f"{chapter}.ipynb" for place in places if (place / f"{chapter}.ipynb").is_file()), None)
    if path is None:
        where = ", ".join(str(place) for place in places) or "no course repository found from here"
        raise GradingError(
            f"cannot find the released student edition {chapter}.ipynb (looked in {where}): run this from a clone "
            "of the course repository, or pass --book with the folder of the notebooks the students were given"
        )
    try:
        notebook = read_notebook(path)
    except ValueError as error:
        raise GradingError(f"the released student edition {path} cannot be read: {error}") from None
    if notebook.chapter != chapter or any("# BEGIN SOLUTION" in cell.source for cell in notebook.cells):
        raise GradingError(
            f"{path} is not the released student edition of {chapter} (it must record the chapter and hold no "
            "solution): regenerate it with `dnncourse release`"
        )
    return path


def _repository_file(name: str) -> Path | None:
    return next((root / name for root in repository_roots() if (root / name).is_file()), None)


def _pins(requirements: Path | None) -> dict[str, str]:
    """Normalized distribution name -> ``name==version`` line of ``requirements.txt``."""
    pins = {}
    for line in requirements.read_text().splitlines() if requirements else []:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)", line)
        if match:
            pins[_normalized(match[1])] = f"{match[1]}=={match[2]}"
    return pins


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_by_grader(chapter: str) -> set[str]:
    """The top-level modules the grader imports for ``chapter``: found by importing it and running the chapter's
    references in a fresh interpreter (scikit-learn, for one, only when a reference loads its data set)."""
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS_PROBE, chapter],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    if done.returncode != 0:
        raise GradingError(f"the grader cannot run the references of {chapter} here:\n{done.stderr.strip()[-1500:]}")
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def requirements(chapter: str, released: Path) -> tuple[str, str]:
    """``(torch pin, requirements.txt text without torch)`` of what the grader of ``chapter`` imports: NumPy,
    PyTorch, the conveniences students may import, what the chapter's references and its import cells import.
    Pins come from the repository's ``requirements.txt`` (or, outside a clone, the installed versions)."""
    code = frozenset(cell.source for cell in read_notebook(released).code_cells)
    modules = {*_ALWAYS, *_imported_by_grader(chapter), *imported_modules(set(chapter_imports(code).values()))}
    provides = importlib.metadata.packages_distributions()
    distributions = {_normalized(d) for module in modules for d in provides.get(module, [])} - {"dnncourse"}
    pins = _pins(_repository_file("requirements.txt"))
    if not pins:  # an installed dnncourse, not a clone: pin what is installed here
        pins = {name: f"{name}=={importlib.metadata.version(name)}" for name in distributions}
    chosen = sorted(pins[name] for name in distributions if name in pins)
    torch = next(pin for pin in chosen if _normalized(pin.split("==")[0]) == "torch")
    lines = [line for line in chosen if line != torch]
    header = (
        f"# What dnncourse's grader imports for {chapter}, pinned as in the repository's requirements.txt.\n"
        f"# {torch} is installed first by setup.sh, from PyTorch's CPU index ({CPU_INDEX}).\n"
    )
    return torch, header + "\n".join(lines) + "\n"


def _commit(package: Path) -> str | None:
    """The repository's commit (``+modified`` if the library or the book has changes), or None outside a clone."""
    root = package.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=30)
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "dnncourse", "book"], cwd=root, capture_output=True, text=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+modified" if status.stdout.strip() else "")


def _check_options(out: Path, timeout: float, memory_mb: int, visibility: str, seed: int | None) -> None:
    if out.suffix.lower() != ".zip":
        raise ValueError(f"--out must name a .zip file, got {str(out)!r}")
    if out.is_dir():
        raise ValueError(f"--out names a folder, not a file: {out}")
    if not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
        raise ValueError(f"--timeout must be a positive number of seconds, got {timeout!r}")
    if not (isinstance(memory_mb, int) and memory_mb > 0):
        raise ValueError(f"--memory-mb must be a positive integer, got {memory_mb!r}")
    if visibility not in VISIBILITIES:
        raise ValueError(f"--visibility must be one of {', '.join(VISIBILITIES)}, got {visibility!r}")
    if seed is not None and not 0 <= seed < 2**32:
        raise ValueError(f"--seed must be an integer in [0, 2**32), got {seed!r}")


def build(
    chapter: str,
    out: Path,
    *,
    timeout: float = 60.0,
    memory_mb: int = 2048,
    book: Path | None = None,
    seed: int | None = None,
    visibility: str = "visible",
) -> Path:
    """Write the autograder zip of ``chapter`` to ``out`` (atomically) and return its path.

    ``seed`` is the secret from which each submission's hidden cases are drawn (with Gradescope's submission
    id); random by default. ``visibility`` is when students see their results (one of :data:`VISIBILITIES`).
    ``ValueError`` for a bad argument, ``GradingError`` if the released notebook or a reference is missing.
    """
    out = Path(out)
    _check_options(out, timeout, memory_mb, visibility, seed)
    chapter_exercises(chapter)
    released = _released_notebook(chapter, book)
    import dnncourse

    package = Path(dnncourse.__file__).resolve().parent
    torch, pinned = requirements(chapter, released)
    config = {
        "chapter": chapter,
        "timeout": timeout,
        "memory_mb": memory_mb,
        "seed": secrets.randbits(32) if seed is None else seed,
        "visibility": visibility,
        "user": STUDENT_USER,
        "dnncourse": {"version": dnncourse.__version__, "commit": _commit(package)},
    }
    setup = _SETUP
    filled = {"@CHAPTER@": chapter, "@CPU_INDEX@": CPU_INDEX, "@TORCH@": torch, "@USER@": STUDENT_USER}
    for placeholder, value in filled.items():
        setup = setup.replace(placeholder, value)
    entries: dict[str, tuple[bytes, int]] = {
        "setup.sh": (setup.encode(), 0o755),
        "run_autograder": (_RUN.encode(), 0o755),
        "requirements.txt": (pinned.encode(), 0o644),
        "config.json": ((json.dumps(config, indent=2) + "\n").encode(), 0o644),
        f"book/{chapter}.ipynb": (released.read_bytes(), 0o644),
    }
    for path in package.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            entries[f"dnncourse/{path.relative_to(package).as_posix()}"] = (path.read_bytes(), 0o644)
    _write_zip(out, entries)
    return out


def _write_zip(out: Path, entries: dict[str, tuple[bytes, int]]) -> None:
    """A zip of ``entries`` (name -> (bytes, mode)), sorted, with fixed timestamps, replacing ``out`` atomically."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            data, mode = entries[name]
            info = zipfile.ZipInfo(name, _TIMESTAMP)
            info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions
            info.create_system = 3  # Unix, so that unzip applies the modes
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    temporary = Path(name)
    try:  # a zip is either the old one or the complete new one
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        temporary.chmod(0o644)
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)  # there only if something failed


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnncourse gradescope", description="Build the Gradescope autograder zip of a chapter."
    )
    parser.add_argument("chapter", help="the chapter's notebook stem, e.g. getting_started")
    parser.add_argument("--out", type=Path, default=Path("autograder.zip"), help="the zip (default autograder.zip)")
    parser.add_argument("--timeout", type=float, default=60.0, help="wall-clock seconds per exercise (default 60)")
    parser.add_argument("--memory-mb", type=int, default=2048, help="memory a submission may allocate (default 2048)")
    parser.add_argument(
        "--book", type=Path, default=None, help="folder of the released student editions (default: the repository's)"
    )
    parser.add_argument("--seed", type=int, default=None, help="secret seed of the hidden cases (default: random)")
    parser.add_argument(
        "--visibility",
        choices=VISIBILITIES,
        default="visible",
        help="when students see their results on Gradescope (default visible)",
    )
    return parser


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dnncourse.grading.gradescope run", description="Grade a Gradescope submission."
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(os.environ.get("DNNCOURSE_AUTOGRADER_ROOT") or "/autograder"),
        help="the autograder's folder (default $DNNCOURSE_AUTOGRADER_ROOT or /autograder)",
    )
    parser.add_argument(
        "--isolation",
        choices=("auto", "bubblewrap", "user"),
        default=os.environ.get("DNNCOURSE_AUTOGRADER_ISOLATION") or "auto",
        help="bubblewrap, an unprivileged user, or auto: bubblewrap where it works (default "
        "$DNNCOURSE_AUTOGRADER_ISOLATION or auto)",
    )
    parser.add_argument(
        "--user",
        default=os.environ.get("DNNCOURSE_AUTOGRADER_USER") or None,
        help="the unprivileged user (default $DNNCOURSE_AUTOGRADER_USER, else config.json's)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """``dnncourse gradescope CHAPTER --out autograder.zip`` (exit 0, or 2 with the reason), and
    ``python -m dnncourse.grading.gradescope run`` (see :func:`dnncourse.grading.autograder.run`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    grading = argv[:1] == ["run"]
    try:
        args = _run_parser().parse_args(argv[1:]) if grading else _build_parser().parse_args(argv)
    except SystemExit as exit:  # argparse has printed the problem
        return int(exit.code or 0)
    if grading:
        from dnncourse.grading.autograder import run

        return run(args.root, args.isolation, args.user)
    try:
        out = build(
            args.chapter,
            args.out,
            timeout=args.timeout,
            memory_mb=args.memory_mb,
            book=args.book,
            seed=args.seed,
            visibility=args.visibility,
        )
    except (ValueError, GradingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}: upload it as the autograder of a Gradescope programming assignment (see the README)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
