"""The instructor's grader: ``dnncourse grade SUBMISSIONS_DIR --out grades.csv`` (see the README).

:mod:`dnncourse.grading.grader` finds the exercises in submitted notebooks, runs each submission with
:mod:`dnncourse.grading.runner` in a separate, limited process, compares the answers with the reference
implementations in its own process and writes ``grades.csv`` and ``grades.json``.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``dnncourse grade`` (imported lazily: the runner must not pull in the grader)."""
    from dnncourse.grading.grader import main as grade

    return grade(argv)
