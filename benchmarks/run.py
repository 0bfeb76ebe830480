"""Run every benchmark of the course and print one table (also written as JSON).

    python benchmarks/run.py            # everything (about 15 minutes on a 2-core machine)
    python benchmarks/run.py --quick    # fewer repeats, no test-suite run
    python benchmarks/run.py --only optim norm

Sections:
- optim:     step time of each dnncourse optimizer vs torch.optim (same foreach setting), with the
             memory-traffic floor (bench_optim.py);
- norm:      forward+backward of dnncourse BatchNorm1d vs torch.nn.BatchNorm1d (bench_norm.py);
- grader:    grading 100 submissions of a three-exercise notebook (bench_grader.py);
- chapters:  each chapter's execution time and its slowest cell (executed on a copy, nothing is rewritten);
- site:      `jupyter-book build` from the stored outputs;
- tests:     the whole `pytest` suite (skipped with --quick).

Ratios are measured side by side in one run (interleaved repeats; median, min and max).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

SECTIONS = ("optim", "norm", "grader", "chapters", "site", "tests")
CHAPTER_BUDGET_S, CELL_BUDGET_S = 60.0, 20.0


def _ratio_row(section: str, name: str, row: dict, limit: float) -> dict:
    """One table row of a side-by-side timing: ours against the reference, with the ratio's range and target."""
    return {
        "section": section,
        "name": name,
        "unit": "ms",
        "ours": row["ours_ms"],
        "reference": row["torch_ms"],
        "ratio": row["ratio"],
        "min": row.get("ratio_min"),
        "max": row.get("ratio_max"),
        "floor": row.get("floor_ms"),
        "target": f"ratio <= {limit:g}",
        "ok": row["ratio"] <= limit,
    }


def bench_optim(quick: bool) -> list[dict]:
    import bench_optim

    return [_ratio_row("optim", f"{row['name']}.step()", row, 1.25) for row in bench_optim.run(quick=quick)]


def bench_norm(quick: bool) -> list[dict]:
    import bench_norm

    return [_ratio_row("norm", row["name"], row, 3) for row in bench_norm.run(quick=quick)]


def bench_grader(quick: bool) -> list[dict]:
    import bench_grader

    result = bench_grader.run(n=100)
    return [
        {
            "section": "grader",
            "name": f"grade {result['submissions']} submissions x {result['exercises_per_submission']} exercises, "
            f"--jobs {result['jobs']}, sandboxed",
            "unit": "s",
            "ours": result["seconds"],
            "target": f"<= {result['target_seconds']} s",
            "ok": result["seconds"] <= result["target_seconds"],
            "note": f"sandbox: {result['sandbox_overhead_seconds']:.2f} s per submission on top of the process start, "
            f"{result['setup_seconds']:.1f} s once per run",
        }
    ]


def bench_chapters(quick: bool) -> list[dict]:
    from dnncourse.authoring.notebooks import execute_notebook

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in sorted((ROOT / "book" / "solutions").glob("*.ipynb")):
            copy = Path(tmp) / source.name
            shutil.copy(source, copy)
            report = execute_notebook(copy, root=ROOT)
            slowest = report.slowest
            rows.append(
                {
                    "section": "chapters",
                    "name": source.stem,
                    "unit": "s",
                    "ours": report.seconds,
                    "slowest_cell": slowest.seconds if slowest else 0.0,
                    "note": f"slowest cell {slowest.index}: {slowest.seconds:.1f} s" if slowest else "",
                    "target": f"< {CHAPTER_BUDGET_S:.0f} s, cells < {CELL_BUDGET_S:.0f} s",
                    "ok": report.seconds < CHAPTER_BUDGET_S and (slowest is None or slowest.seconds < CELL_BUDGET_S),
                }
            )
    return rows


def _timed(command: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - start, result.returncode


def bench_site(quick: bool) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        seconds, code = _timed(
            [
                str(Path(sys.executable).with_name("jupyter-book")),
                "build",
                str(ROOT),
                "--path-output",
                tmp,
                "-W",
                "-n",
                "--keep-going",
            ]
        )
    return [
        {
            "section": "site",
            "name": "jupyter-book build (stored outputs)",
            "unit": "s",
            "ours": seconds,
            "target": "< 60 s, no warnings",
            "ok": code == 0 and seconds < 60,
        }
    ]


def bench_tests(quick: bool) -> list[dict]:
    if quick:
        return []
    seconds, code = _timed([sys.executable, "-m", "pytest", "-q"])
    return [
        {
            "section": "tests",
            "name": "pytest (whole suite)",
            "unit": "s",
            "ours": seconds,
            "target": "passes, < 15 min with install",
            "ok": code == 0 and seconds < 15 * 60,
        }
    ]


def _format(value, digits: int = 3) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def print_table(rows: list[dict]) -> None:
    header = ["section", "benchmark", "ours", "reference", "ratio (min-max)", "floor", "target", "ok"]
    lines = [header]
    for r in rows:
        ratio = ""
        if r.get("ratio") is not None:
            ratio = f"{r['ratio']:.2f}"
            if r.get("min") is not None:
                ratio += f" ({r['min']:.2f}-{r['max']:.2f})"
        lines.append(
            [
                r["section"],
                r["name"],
                f"{_format(r['ours'])} {r['unit']}",
                f"{_format(r.get('reference'))} {r['unit']}" if r.get("reference") is not None else "",
                ratio,
                f"{_format(r.get('floor'))} {r['unit']}" if r.get("floor") is not None else "",
                r.get("target", "") + (f"; {r['note']}" if r.get("note") else ""),
                "yes" if r["ok"] else "NO",
            ]
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for i, line in enumerate(lines):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats; skip the test-suite run")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "latest.json")
    args = parser.parse_args(argv)
    rows: list[dict] = []
    for section in args.only or SECTIONS:
        print(f"running {section} ...", file=sys.stderr, flush=True)
        rows += globals()[f"bench_{section}"](args.quick)
    print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": platform.python_version(), "machine": platform.machine(), "processor": platform.processor()}
    args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    print(f"\nwritten to {args.json}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
