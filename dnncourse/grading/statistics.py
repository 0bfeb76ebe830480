"""What the class did, for the instructor: per exercise and for the totals (``grades.json``'s ``statistics``).

For each exercise: the mean points, the share of notebooks that passed it, how many got each status, and
the most common reason for losing points (:func:`failure_kind`: "wrong shape", "raised IndexError", "not
attempted"...). For the totals: mean, median, lowest, highest, and a histogram (a PNG beside the JSON
report), so that the exercise the class did not understand stands out. Notebooks the grader itself could
not grade are left out (their rows are not grades).
"""

from __future__ import annotations

import io
import statistics as stats
from collections import Counter
from pathlib import Path
from typing import Any

from dnncourse.grading.reports import atomic_write
from dnncourse.grading.results import ExerciseResult, SubmissionResult

__all__ = ["failure_kind", "class_statistics", "summary_lines", "write_histogram"]

_KIND_OF_STATUS = {
    "not-attempted": "not attempted",
    "error": "error",
    "timeout": "ran out of time",
    "flagged": "flagged (uses the dnncourse library)",
    "failed": "wrong answer",
}


def failure_kind(result: ExerciseResult) -> str | None:
    """Why the exercise lost points, in a few words (None if it did not)."""
    if result.status == "passed":
        return None
    return result.details.get("kind") or _KIND_OF_STATUS.get(result.status, result.status)


def class_statistics(results: list[SubmissionResult], columns: list[str]) -> dict[str, Any]:
    """Per exercise (``columns``, the ids) and for the totals, over the notebooks that were graded."""
    graded = [result for result in results if not result.problem]
    exercises = {}
    for exercise_id in columns:
        grades = [result.exercises[exercise_id] for result in graded if exercise_id in result.exercises]
        if not grades:
            continue
        reasons = Counter(kind for grade in grades if (kind := failure_kind(grade)) is not None)
        common = reasons.most_common(1)
        exercises[exercise_id] = {
            "notebooks": len(grades),
            "max_points": grades[0].max_points,
            "mean_points": round(stats.fmean(grade.points for grade in grades), 2),
            "passed_share": round(sum(grade.status == "passed" for grade in grades) / len(grades), 3),
            "statuses": dict(Counter(grade.status for grade in grades).most_common()),
            "most_common_failure": {"reason": common[0][0], "notebooks": common[0][1]} if common else None,
            "failures": dict(reasons.most_common()),
        }
    totals = [result.total for result in graded]
    summary: dict[str, Any] = {"notebooks": len(graded), "exercises": exercises}
    if totals:
        summary["totals"] = {
            "max_points": max(result.max_points for result in graded),
            "mean": round(stats.fmean(totals), 2),
            "median": round(stats.median(totals), 2),
            "min": min(totals),
            "max": max(totals),
        }
    return summary


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The statistics as a small table for the terminal."""
    exercises = summary["exercises"]
    if not exercises:
        return []
    width = max(len("exercise"), *(len(name) for name in exercises))
    lines = [f"{'exercise':<{width}}  {'mean':>11}  {'passed':>6}  most common failure"]
    for name, row in exercises.items():
        top = max(row["failures"].values(), default=0)
        tied = [f"{reason} ({count})" for reason, count in row["failures"].items() if count == top]
        failure = ", ".join(tied[:3]) + (", ..." if len(tied) > 3 else "") if tied else "-"
        mean = f"{row['mean_points']:g}/{row['max_points']:g}"
        lines.append(f"{name:<{width}}  {mean:>11}  {row['passed_share']:>6.0%}  {failure}")
    if "totals" in summary:
        t = summary["totals"]
        lines.append(
            f"totals of {summary['notebooks']} notebooks: mean {t['mean']:g}, median {t['median']:g}, "
            f"from {t['min']:g} to {t['max']:g} of {t['max_points']:g}"
        )
    return lines


def write_histogram(path: Path, results: list[SubmissionResult], title: str) -> bool:
    """A histogram of the totals as a PNG, written atomically; False if no notebook was graded."""
    graded = [result for result in results if not result.problem]
    if not graded:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    top = max(result.max_points for result in graded) or 1.0
    bins = [top * k / 10 for k in range(11)]  # ten bins of a tenth of the maximum; the last one holds full marks
    figure = Figure(figsize=(6, 3.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.hist([result.total for result in graded], bins=bins, color="#0072B2", edgecolor="white")
    axes.set_xlabel(f"total points (of {top:g})")
    axes.set_ylabel("notebooks")
    axes.set_title(title)
    axes.set_xlim(0, top)
    axes.yaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    atomic_write(path, buffer.getvalue())
    return True
