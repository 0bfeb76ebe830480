"""``dnncourse grade SUBMISSIONS --out grades.csv``: the command line of the grader (see the README).

Exit codes (the README documents the same):

* 0: every notebook was graded; ``grades.csv`` and ``grades.json`` are written.
* 1: the reports are written, but the grader itself failed on some notebooks (listed; their rows say
  why, and their grades are not the students' fault). The journal is kept: ``--resume`` grades just
  those again.
* 2: nothing was graded: a problem of the arguments or the environment (no such folder, no notebooks,
  a report path that cannot be written, bubblewrap missing, a reference that fails, a Python that cannot
  import NumPy or PyTorch). Nothing is written.
* 130: interrupted (Ctrl-C, SIGTERM). Every notebook graded so far is kept in the journal:
  ``--resume`` continues the run.
"""

from __future__ import annotations

import argparse
import math
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from dnncourse.grading.batch import Batch
from dnncourse.grading.outputs import Outputs
from dnncourse.grading.reports import Journal, report_paths, write_reports
from dnncourse.grading.results import STATUSES, GradingError, Settings
from dnncourse.grading.statistics import class_statistics

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dnncourse grade", description="Grade a folder of submitted notebooks.")
    parser.add_argument("submissions", type=Path, help="folder with the submitted .ipynb files (searched recursively)")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="CSV report (default grades.csv)")
    parser.add_argument("--json", type=Path, default=None, help="JSON report (default: --out with .json)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks graded in parallel (default 2)")
    parser.add_argument("--timeout", type=float, default=60.0, help="wall-clock seconds per exercise (default 60)")
    parser.add_argument(
        "--memory-mb", type=int, default=2048, help="memory a submission may allocate, in MB (default 2048)"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="run seed (default: random, recorded in the JSON report)"
    )
    parser.add_argument(
        "--chapter",
        default=None,
        help="grade every notebook as this chapter (default: the chapter each notebook records)",
    )
    parser.add_argument(
        "--book",
        type=Path,
        default=None,
        help="folder of the released student editions (default: the repository's book/)",
    )
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run submissions without bubblewrap (unsafe: only for notebooks you trust)",
    )
    parser.add_argument(
        "--feedback", type=Path, default=None, help="folder for each student's feedback (HTML and Markdown)"
    )
    parser.add_argument(
        "--roster", type=Path, default=None, help="CSV of the students: id, name, email, file (a name or pattern)"
    )
    parser.add_argument("--canvas", type=Path, default=None, help="also write the grades for Canvas's import (CSV)")
    parser.add_argument("--moodle", type=Path, default=None, help="also write the grades for Moodle's import (CSV)")
    parser.add_argument(
        "--assignment", default=None, help="the assignment's name in feedback and gradebooks (default: the chapter)"
    )
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run (its settings are kept)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    for name in ("jobs", "timeout", "memory_mb"):
        value = getattr(args, name)
        if not value > 0 or not math.isfinite(value):  # NaN and infinity too: a deadline must come
            raise GradingError(f"--{name.replace('_', '-')} must be positive (and finite), got {value}")
    if args.seed is not None and args.seed < 0:
        raise GradingError(f"--seed must be a non-negative integer, got {args.seed}")
    return Settings(
        timeout=args.timeout,
        memory_mb=args.memory_mb,
        seed=secrets.randbits(32) if args.seed is None else args.seed,
        chapter=args.chapter,
        book=str(args.book.resolve()) if args.book else None,
        sandbox=not args.no_sandbox,
    )


def _resumed_settings(journal: Journal, folder: Path) -> Settings:
    if journal.header.get("folder") != str(folder.resolve()):
        raise GradingError(f"{journal.path} is the journal of a run over {journal.header.get('folder')}, not {folder}")
    recorded = journal.header.get("settings")
    if not isinstance(recorded, dict):
        raise GradingError(f"{journal.path} is damaged (no settings): delete it to start over")
    known = {f.name for f in fields(Settings)}
    try:
        return Settings(**{key: value for key, value in recorded.items() if key in known})
    except ValueError as error:
        raise GradingError(f"{journal.path} is damaged ({error}): delete it to start over") from None


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """``dnncourse grade``; returns the exit code (0, 1, 2 or 130, see the module's docstring)."""
    try:
        args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit:  # argparse has printed the problem
        return int(exit.code or 0)
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    work = Path(tempfile.mkdtemp(prefix="dnncourse-grade-"))
    try:
        return _grade(args, work)
    except KeyboardInterrupt:  # before grading started, or while the reports were written
        print("\ninterrupted: no report was written (graded notebooks, if any, are kept for --resume)", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _grade(args: argparse.Namespace, work: Path) -> int:
    start = time.monotonic()
    journal: Journal | None = None
    try:
        csv_path, json_path, journal_path = report_paths(args.out, args.json)
        if args.resume:
            journal = Journal.resume(journal_path)
            settings = _resumed_settings(journal, args.submissions)
        else:
            settings = _settings(args)
            Journal.check_absent(journal_path)
        if not settings.sandbox:
            print(
                "warning: --no-sandbox: submissions run WITHOUT isolation, as your own user; "
                "grade only notebooks you trust",
                file=sys.stderr,
            )
        batch = Batch(args.submissions, settings, jobs=args.jobs, progress=not args.quiet)
        batch.prepare(work)
        outputs = Outputs(json_path, args.feedback, args.roster, args.canvas, args.moodle, args.assignment)
        outputs.check([name for name, _ in batch.notebooks], list(batch.chapters), [csv_path, json_path])
        if journal is None:
            header = {"folder": str(args.submissions.resolve()), "settings": asdict(settings)}
            journal = Journal.create(journal_path, header)
    except GradingError as error:
        print(f"error: {error}\nNo grades were written.", file=sys.stderr)
        if journal is not None:
            journal.close()
        return 2
    for warning in batch.warnings + outputs.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    try:
        results = batch.grade(journal)
    except KeyboardInterrupt:
        journal.close()
        graded = len(journal.entries)
        print(
            f"\ninterrupted: {graded} of {len(batch.notebooks)} notebooks graded; "
            f"their results are kept in {journal_path}.\n"
            f"Continue with: {_again(args)}",
            file=sys.stderr,
        )
        return 130
    with _interrupts_deferred():  # both reports, or neither: Ctrl-C now waits until they are written
        return _report(args, batch, outputs, results, journal, start)


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM received in the block take effect after it (they are noted, then acted on by exiting
    normally: the block only writes files and prints). Python runs signal handlers in the main thread alone."""
    if not _main_thread():
        yield
        return
    received: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum)) for signum in _STOPS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            print("(interrupted while the reports were written: they were finished first)", file=sys.stderr)


_STOPS = (signal.SIGINT, signal.SIGTERM)


def _again(args: argparse.Namespace) -> str:
    """The command that continues this run (the same reports and outputs, ``--resume``)."""
    words = ["dnncourse grade", shlex.quote(str(args.submissions))]
    for option in ("out", "json", "feedback", "roster", "canvas", "moodle", "assignment", "jobs"):
        value = getattr(args, option)
        if value is not None:
            words += [f"--{option}", shlex.quote(str(value))]
    return " ".join(words + ["--resume"])


def _report(
    args: argparse.Namespace, batch: Batch, outputs: Outputs, results: list, journal: Journal, start: float
) -> int:
    """Write the reports and the other outputs, print the summary, and drop the journal unless some notebooks
    must be graded again."""
    settings = batch.settings
    csv_path, json_path, journal_path = report_paths(args.out, args.json)
    statistics = class_statistics(results, batch.columns)
    try:
        report = {**batch.report(), "assignment": outputs.assignment, "statistics": statistics}
        write_reports(csv_path, json_path, batch.columns, results, report, outputs.matching)
        lines = outputs.write(results, statistics)
    except OSError as error:
        journal.close()
        print(
            f"error: cannot write the reports: {error}\n"
            f"The grades are kept in {journal_path}: fix the problem and --resume.",
            file=sys.stderr,
        )
        return 2
    counts: dict[str, int] = {}
    for result in results:
        for outcome in result.exercises.values():
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES if s in counts)
    exercises = len(batch.columns)
    print(
        f"graded {len(results)} notebooks x {exercises} exercises in {time.monotonic() - start:.1f} s "
        f"(seed {settings.seed}): {summary}"
    )
    for line in lines:
        print(line)
    print(f"wrote {csv_path} and {json_path}")
    for written in outputs.written:
        print(f"wrote {written}")
    troubled = [result for result in results if result.problem]
    if troubled:
        journal.close()
        names = ", ".join(r.file for r in troubled[:5]) + (", ..." if len(troubled) > 5 else "")
        print(f"error: the grader could not grade {len(troubled)} notebook(s) ({names}):", file=sys.stderr)
        for result in troubled[:5]:
            print(f"  {result.file}: {result.problem}", file=sys.stderr)
        print(
            "Their rows are not the students' grades. Fix the cause, then grade the rest again with: " + _again(args),
            file=sys.stderr,
        )
        return 1
    journal.remove()
    return 0
