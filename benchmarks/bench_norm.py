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
    """Benchmark both layers on CPU, float32, one thread; one row per input shape.

    Each row: ``name``, ``shape``, ``ours_ms`` and ``torch_ms`` (medians over the repeats), their ``*_min_ms``
    and ``*_max_ms``, ``ratio`` (of the medians), ``ratio_min``/``ratio_max`` (over the interleaved pairs of
    repeats), ``target`` and ``ok``.
    """
    torch.set_num_threads(1)
    shapes = [(256, 1024)] if quick else [(256, 1024), (64, 256), (128, 64, 32)]
    repeats, iterations = (5, 10) if quick else (15, 30)
    rows = []
    for shape in shapes:
        torch.manual_seed(0)
        x = torch.randn(shape, requires_grad=True)
        dy = torch.randn(shape)
        ours, theirs = BatchNorm1d(shape[1]), nn.BatchNorm1d(shape[1])
        _time_step(ours, x, dy, 3)  # warm-up
        _time_step(theirs, x, dy, 3)
        ours_s, theirs_s = [], []
        for _ in range(repeats):  # interleaved: ours, theirs, ours, theirs, ...
            ours_s.append(_time_step(ours, x, dy, iterations))
            theirs_s.append(_time_step(theirs, x, dy, iterations))
        pair_ratios = [a / b for a, b in zip(ours_s, theirs_s)]
        ratio = statistics.median(ours_s) / statistics.median(theirs_s)
        label = "x".join(map(str, shape))
        rows.append(
            {
                "name": f"BatchNorm1d forward+backward {label}",
                "shape": label,
                "ours_ms": 1e3 * statistics.median(ours_s),
                "ours_min_ms": 1e3 * min(ours_s),
                "ours_max_ms": 1e3 * max(ours_s),
                "torch_ms": 1e3 * statistics.median(theirs_s),
                "torch_min_ms": 1e3 * min(theirs_s),
                "torch_max_ms": 1e3 * max(theirs_s),
                "ratio": ratio,
                "ratio_min": min(pair_ratios),
                "ratio_max": max(pair_ratios),
                "target": TARGET_RATIO,
                "ok": ratio <= TARGET_RATIO,
            }
        )
    return rows


def _print_table(rows: list[dict]) -> None:
    print(f"{'shape':>12} {'implementation':>15} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for row in rows:
        for who, key in (("dnncourse", "ours"), ("torch.nn", "torch")):
            print(
                f"{row['shape']:>12} {who:>15} {row[key + '_ms']:>10.3f} "
                f"{row[key + '_min_ms']:>8.3f} {row[key + '_max_ms']:>8.3f}"
            )
        verdict = "ok" if row["ok"] else "SLOWER THAN TARGET"
        print(
            f"{row['shape']:>12} {'ratio':>15} {row['ratio']:>10.2f}x  "
            f"(pairs {row['ratio_min']:.2f}x to {row['ratio_max']:.2f}x; target <= {row['target']:.0f}x: {verdict})"
        )


if __name__ == "__main__":
    _print_table(run(quick="--quick" in sys.argv[1:]))
