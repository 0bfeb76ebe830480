"""The instructor's grader: ``dnncourse grade SUBMISSIONS_DIR --out grades.csv`` (see the README).

One module per job:

* :mod:`~dnncourse.grading.notebooks`: reading notebooks the grader cannot trust, and the released
  student edition of a chapter;
* :mod:`~dnncourse.grading.program`: what runs of a submission (the student's own cells, as Python);
* :mod:`~dnncourse.grading.layout`: what a submission's sandbox shows (Python, NumPy, PyTorch, nothing else);
* :mod:`~dnncourse.grading.sandbox` (with :mod:`~dnncourse.grading.seccomp`): bubblewrap, and the
  grader's side of the process running in it; :mod:`~dnncourse.grading.runner` is the script inside;
* :mod:`~dnncourse.grading.judge`: comparing answers with the reference, in the grader's process;
* :mod:`~dnncourse.grading.submission`: one notebook, step by step, with the grader's deadlines;
* :mod:`~dnncourse.grading.batch`: a folder of notebooks, in parallel, with the journal;
* :mod:`~dnncourse.grading.reports`: ``grades.csv``, ``grades.json`` and the journal, written atomically;
* :mod:`~dnncourse.grading.outputs`: what a run writes besides: each student's feedback
  (:mod:`~dnncourse.grading.feedback`), the roster (:mod:`~dnncourse.grading.roster`), the gradebook
  imports of Canvas and Moodle (:mod:`~dnncourse.grading.exports`) and the class's statistics
  (:mod:`~dnncourse.grading.statistics`);
* :mod:`~dnncourse.grading.command`: the command line and its exit codes;
* :mod:`~dnncourse.grading.gradescope`: the Gradescope autograder's zip, and :mod:`~dnncourse.grading.autograder`
  its run on one submission (:mod:`~dnncourse.grading.confine`: the seccomp filter without bubblewrap).
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``dnncourse grade`` (imported lazily, so that ``dnncourse`` stays light to import)."""
    from dnncourse.grading.command import main as grade

    return grade(argv)
