"""Argument checks shared by the whole library, all with one message style.

Every public function checks its arguments on entry and raises a ``ValueError`` that names the argument
and shows the bad value, in one form::

    lr must be a positive number, got -1
    batch_size must be an integer in [1, 100], got 0
    mode must be one of 'fan_in', 'fan_out', got 'fan_avg'

Each check returns the value converted to a plain Python ``float`` or ``int``, so a caller can write
``lr = positive("lr", lr)``. ``bool`` is never accepted as a number (``True`` is an ``int`` in Python,
but passing it as a learning rate is a mistake). NumPy scalars are accepted.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from numbers import Integral, Real
from typing import Any

import torch

__all__ = [
    "number",
    "positive",
    "non_negative",
    "in_range",
    "probability",
    "integer",
    "one_of",
    "module",
    "generator_for",
]


def _fail(name: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"{name} must be {expected}, got {value!r}")


def number(name: str, value: Any, *, finite: bool = True) -> float:
    """``value`` as a float: a real number (not a bool, not NaN; finite unless ``finite=False``)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise _fail(name, "a number", value)
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        raise _fail(name, "a finite number" if finite else "a number", value)
    return value


def positive(name: str, value: Any) -> float:
    """A finite number > 0 (a learning rate, a width, an epsilon)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not (math.isfinite(value) and value > 0):
        raise _fail(name, "a positive number", value)
    return float(value)


def non_negative(name: str, value: Any) -> float:
    """A finite number >= 0 (a weight decay, a momentum, a noise level)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not (math.isfinite(value) and value >= 0):
        raise _fail(name, "a number >= 0", value)
    return float(value)


def in_range(name: str, value: Any, low: float, high: float, *, closed: str = "both") -> float:
    """A number in an interval; ``closed`` says which ends belong to it: ``both``, ``left``, ``right``, ``neither``.

    The message writes the interval in the usual notation: ``[0, 1)`` for ``closed="left"``.
    """
    left, right = closed in ("both", "left"), closed in ("both", "right")
    interval = f"{'[' if left else '('}{low:g}, {high:g}{']' if right else ')'}"
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value):
        raise _fail(name, f"a number in {interval}", value)
    above = value >= low if left else value > low
    below = value <= high if right else value < high
    if not (above and below):
        raise _fail(name, f"a number in {interval}", value)
    return float(value)


def probability(name: str, value: Any) -> float:
    """A probability: a number in [0, 1]."""
    return in_range(name, value, 0.0, 1.0)


def integer(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (Python or NumPy, not a bool) within ``[minimum, maximum]`` (each bound optional)."""
    if minimum is not None and maximum is not None:
        expected = f"an integer in [{minimum}, {maximum}]"
    elif minimum == 1:
        expected = "a positive integer"
    elif minimum == 0:
        expected = "an integer >= 0"
    elif minimum is not None:
        expected = f"an integer >= {minimum}"
    elif maximum is not None:
        expected = f"an integer <= {maximum}"
    else:
        expected = "an integer"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise _fail(name, expected, value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _fail(name, expected, value)
    return int(value)


def one_of(name: str, value: Any, options: Collection[Any]) -> Any:
    """One of a fixed set of choices (a mode, a method, a name in a table)."""
    try:
        known = value in options
    except TypeError:  # an unhashable value cannot be a key of a table
        known = False
    if not known:
        raise _fail(name, f"one of {', '.join(repr(option) for option in options)}", value)
    return value


def module(name: str, value: Any) -> torch.nn.Module:
    """An ``nn.Module``."""
    if not isinstance(value, torch.nn.Module):
        raise ValueError(f"{name} must be an nn.Module, got {type(value).__name__}")
    return value


def generator_for(generator: torch.Generator | None, device: torch.device | str) -> torch.Generator | None:
    """``generator`` if it can draw numbers on ``device`` (or is ``None``: the global generator).

    PyTorch draws on a tensor's device with a generator of the same device type, and rejects any other
    ("Expected a 'cuda' device type for generator"). This check says so before the draw, on every
    device, including the ``meta`` device the tests use to stand in for a GPU.
    """
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    device = torch.device(device)
    if generator.device.type != device.type:
        raise ValueError(
            f"generator must be on the tensors' device ({device}), got a generator on {generator.device}: "
            f"create it with dnncourse.generator(seed, device)"
        )
    return generator
