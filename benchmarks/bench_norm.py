"""Forward + backward time of ``dnncourse.norm.BatchNorm1d`` against ``torch.nn.BatchNorm1d``.

Both layers run on the same input in training mode (batch statistics, running-average update,
autograd backward). The two are timed in alternation, repeat after repeat, so that machine load
affects both alike; the table reports the median, min and max time per forward+backward and the
ratio of medians (target: at most 3x).

    python benchmarks/bench_norm.py          # full run
    python benchmarks/bench_norm.py --quick  # a few seconds
"""

from __future__ import annotations

import statistics
import sys
import time

import torch
from torch import nn

from dnncourse.norm import BatchNorm1d

__all__ = ["run"]

TARGET_RATIO = 3.0


def _time_step(layer: nn.Module, x: torch.Tensor, dy: torch.Tensor, iterations: int) -> float:
    """Mean seconds of one forward + backward over ``iterations`` calls."""
    start = time.perf_counter()
    for _ in range(iterations):
        x.grad = None
        layer.zero_grad(set_to_none=True)
        layer(x).backward(dy)
    return (time.perf_counter() - start) / iterations


def run(quick: bool = False) -> list[dict]:
    """Benchmark both layers on CPU, float32; returns one row per (shape, implementation) and one ratio row."""
    torch.set_num_threads(1)
    shapes = [(256, 1024)] if quick else [(256, 1024), (64, 256), (128, 64, 32)]
    repeats, iterations = (5, 10) if quick else (15, 30)
    rows = []
    for shape in shapes:
        torch.manual_seed(0)
        x = torch.randn(shape, requires_grad=True)
        dy = torch.randn(shape)
        layers = {"dnncourse": BatchNorm1d(shape[1]), "torch.nn": nn.BatchNorm1d(shape[1])}
        times = {name: [] for name in layers}
        for layer in layers.values():
            _time_step(layer, x, dy, 3)  # warm-up
        for _ in range(repeats):
            for name, layer in layers.items():  # interleaved: ours, theirs, ours, theirs, ...
                times[name].append(_time_step(layer, x, dy, iterations))
        for name, t in times.items():
            rows.append(
                {
                    "shape": "x".join(map(str, shape)),
                    "implementation": name,
                    "median_ms": 1e3 * statistics.median(t),
                    "min_ms": 1e3 * min(t),
                    "max_ms": 1e3 * max(t),
                }
            )
        ratio = statistics.median(times["dnncourse"]) / statistics.median(times["torch.nn"])
        rows.append({"shape": "x".join(map(str, shape)), "implementation": "ratio", "ratio": ratio,
                     "target": TARGET_RATIO, "ok": ratio <= TARGET_RATIO})
    return rows


def _print_table(rows: list[dict]) -> None:
    print(f"{'shape':>12} {'implementation':>15} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for row in rows:
        if row["implementation"] == "ratio":
            verdict = "ok" if row["ok"] else "SLOWER THAN TARGET"
            print(f"{row['shape']:>12} {'ratio':>15} {row['ratio']:>10.2f}x  (target <= {row['target']:.0f}x: {verdict})")
        else:
            print(
                f"{row['shape']:>12} {row['implementation']:>15} {row['median_ms']:>10.3f} "
                f"{row['min_ms']:>8.3f} {row['max_ms']:>8.3f}"
            )


if __name__ == "__main__":
    _print_table(run(quick="--quick" in sys.argv[1:]))
