"""Step time of each ``dnncourse.optim`` optimizer against its ``torch.optim`` counterpart.

Both sides use the single-tensor code path (``foreach=False`` for torch; ``dnncourse.optim`` has only
that path): one loop over the parameter tensors with in-place tensor operations. The model is an MLP
with about 1.6 million parameters whose gradients are fixed random tensors, so only ``step()`` is timed.
The two sides are timed in interleaved repeats (ours, torch, ours, torch, ...) so that a change of
machine load hits both.

The memory-traffic floor: a step of an optimizer on float32 tensors must at least read and write its
tensors once. Per parameter it reads the parameter ``p`` and the gradient ``g`` and its state, and writes
``p`` and the state:

===========  ============================  ========================  ==============
optimizer    reads                          writes                    tensors moved
===========  ============================  ========================  ==============
SGD          p, g                           p                         3
Momentum     p, g, v                        p, v                      5
Nesterov     p, g, v                        p, v                      5
AdaGrad      p, g, G                        p, G                      5
RMSProp      p, g, r                        p, r                      5
Adam(W)      p, g, m, v                     p, m, v                   7
===========  ============================  ========================  ==============

``floor_ms`` is the time of ``q.copy_(p)`` over every parameter, scaled to that many tensors (a copy
moves two: one read, one write), i.e. the time just to stream the optimizer's data through memory once.
A single-tensor step does several passes (one per tensor operation), so it sits a few times above it.

Run ``python benchmarks/bench_optim.py`` (add ``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dnncourse import optim
from dnncourse.models import count_parameters, mlp

__all__ = ["CASES", "run"]

# name: (our class, torch class, keyword arguments for both, tensors moved per step (see the docstring))
CASES = {
    "SGD": (optim.SGD, torch.optim.SGD, dict(lr=1e-3), 3),
    "Momentum": (optim.Momentum, torch.optim.SGD, dict(lr=1e-3, momentum=0.9), 5),
    "Nesterov": (optim.Nesterov, torch.optim.SGD, dict(lr=1e-3, momentum=0.9, nesterov=True), 5),
    "AdaGrad": (optim.AdaGrad, torch.optim.Adagrad, dict(lr=1e-2), 5),
    "RMSProp": (optim.RMSProp, torch.optim.RMSprop, dict(lr=1e-3), 5),
    "Adam": (optim.Adam, torch.optim.Adam, dict(lr=1e-3), 7),
    "AdamW": (optim.AdamW, torch.optim.AdamW, dict(lr=1e-3), 7),
}


def _model_with_gradients(seed: int = 0) -> torch.nn.Module:
    """An MLP 784-1024-768-256-10 (about 1.6M parameters) with fixed random gradients."""
    torch.manual_seed(seed)
    model = mlp(784, [1024, 768, 256], 10)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-2
    return model


def _time_ms(fn, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) * 1e3 / steps


def _floor_ms(model: torch.nn.Module, tensors_moved: int, steps: int) -> float:
    """Time to move ``tensors_moved`` tensors shaped like ``model``'s parameters through memory.

    Measured as ``q.copy_(p)`` for every parameter ``p`` (one read and one write, i.e. two tensors
    moved) and scaled by ``tensors_moved / 2``; the tensors have the parameters' shapes so that cache
    effects are the same as in a step.
    """
    src = [p.detach().clone() for p in model.parameters()]
    dst = [torch.empty_like(p) for p in src]

    def stream():
        for p, q in zip(src, dst):
            q.copy_(p)

    stream()
    return _time_ms(stream, steps) * tensors_moved / 2


def run(quick: bool = False) -> list[dict]:
    """Benchmark every optimizer; returns one row (a dict) per optimizer.

    Row keys: ``name``, ``ours_ms`` and ``torch_ms`` (median step time over the repeats), ``ratio``
    (ours / torch, medians), ``ratio_min``/``ratio_max`` (over the interleaved repeat pairs), ``ours_min``,
    ``ours_max``, ``torch_min``, ``torch_max`` (ms), ``floor_ms`` (memory-traffic floor), ``n_params``.
    """
    repeats, steps = (3, 5) if quick else (9, 20)
    rows = []
    for name, (ours_class, torch_class, kwargs, tensors_moved) in CASES.items():
        ours_kwargs = {k: v for k, v in kwargs.items() if k != "nesterov"}
        model_ours, model_torch = _model_with_gradients(), _model_with_gradients()
        ours = ours_class(model_ours.parameters(), **ours_kwargs)
        theirs = torch_class(model_torch.parameters(), foreach=False, **kwargs)
        ours.step(), theirs.step()  # warm up and create the state
        times_ours, times_torch = [], []
        for _ in range(repeats):
            times_ours.append(_time_ms(ours.step, steps))
            times_torch.append(_time_ms(theirs.step, steps))
        n_params = count_parameters(model_ours)
        ours_ms, torch_ms = statistics.median(times_ours), statistics.median(times_torch)
        ratios = [o / t for o, t in zip(times_ours, times_torch)]  # one ratio per interleaved repeat pair
        rows.append(
            dict(
                name=name,
                ours_ms=ours_ms,
                torch_ms=torch_ms,
                ratio=ours_ms / torch_ms,
                ratio_min=min(ratios),
                ratio_max=max(ratios),
                ours_min=min(times_ours),
                ours_max=max(times_ours),
                torch_min=min(times_torch),
                torch_max=max(times_torch),
                floor_ms=_floor_ms(model_ours, tensors_moved, steps),
                n_params=n_params,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = run(quick=args.quick)
    print(
        f"step time per optimizer, {rows[0]['n_params']:,} float32 parameters, foreach=False, "
        f"{torch.get_num_threads()} thread(s); median [min, max] in ms"
    )
    print(f"{'optimizer':<10} {'dnncourse':>22} {'torch.optim':>22} {'ratio':>6} {'floor':>7}")
    for r in rows:
        ours = f"{r['ours_ms']:.2f} [{r['ours_min']:.2f}, {r['ours_max']:.2f}]"
        theirs = f"{r['torch_ms']:.2f} [{r['torch_min']:.2f}, {r['torch_max']:.2f}]"
        print(f"{r['name']:<10} {ours:>22} {theirs:>22} {r['ratio']:>6.2f} {r['floor_ms']:>7.2f}")


if __name__ == "__main__":
    main()
