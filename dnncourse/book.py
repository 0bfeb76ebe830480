"""The bridge between a chapter's code and the book's text.

Three helpers, used by every chapter:

- :func:`show_source` displays the source of a library function or class, so that the text shows the
  code the book runs instead of a copy of it.
- :func:`glue` stores a number an experiment produced, so that the prose quotes it with MyST-NB's
  ``{glue:text}`name:.3g``` role instead of a hand-typed copy that drifts from the code. Where
  ``myst-nb`` is not installed (Colab, a plain Jupyter) it does nothing.
- :func:`claim` checks a qualitative statement the prose draws from an experiment ("momentum beats
  SGD here"). When the book's outputs are produced or tested (``DNNCOURSE_CLAIMS=strict``, set by
  ``dnncourse execute`` and the test suite) a claim that does not hold raises :class:`ClaimError`; on a
  reader's own run it prints a short, friendly note instead, because other seeds and other hardware
  give other digits.
"""

from __future__ import annotations

import inspect
import math
import os
import textwrap
from numbers import Integral, Real
from typing import Any

__all__ = ["ClaimError", "claim", "claims_are_strict", "glue", "show_source"]

CLAIMS_ENV = "DNNCOURSE_CLAIMS"  # "strict": a claim that does not hold raises (tests, `dnncourse execute`)


class ClaimError(AssertionError):
    """A statement of the text that the experiment just run does not support."""


def show_source(obj: Any) -> Any:
    """Display the source code of a library object (a function, class or method) with syntax colours.

    Returns an :class:`IPython.display.Code` object: as the last expression of a cell it is shown in
    Jupyter, Colab and on the static site.
    """
    from IPython.display import Code

    try:
        source = inspect.getsource(obj)
    except (TypeError, OSError) as error:
        raise ValueError(f"show_source needs a function, class or method defined in Python, got {obj!r}") from error
    return Code(textwrap.dedent(source), language="python")


def _plain_number(value: Any) -> Any:
    """A Python int, float, bool or str from NumPy/PyTorch scalars (tensors with one element)."""
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (ValueError, RuntimeError) as error:
            raise ValueError(
                f"glue needs a single number or a string, got an array of shape {tuple(value.shape)}"
            ) from error
    return value


def glue(name: str, value: Any, digits: int | None = None) -> None:
    """Store ``value`` under ``name`` for the prose: ``{glue:text}`name:.2f``` in a markdown cell.

    A float is rounded to ``digits`` significant digits before it is stored, so that the stored output
    (which the test suite compares) holds only the digits the experiment determines; the markdown's
    format then chooses how many of them to show. ``digits`` is required for floats and ignored for
    integers and strings. Displays nothing; where ``myst-nb`` is not installed it does nothing at all.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be an identifier-like string (letters, digits, _), got {name!r}")
    value = _plain_number(value)
    if isinstance(value, bool) or isinstance(value, (str, Integral)):
        stored: Any = value if isinstance(value, str) else int(value)
    elif isinstance(value, Real):
        if digits is None:
            raise ValueError(f"glue({name!r}, {value!r}): a float needs digits=<significant digits it determines>")
        if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 15:
            raise ValueError(f"digits must be an integer from 1 to 15, got {digits!r}")
        value = float(value)
        stored = value if not math.isfinite(value) else float(f"{value:.{digits}g}")
    else:
        raise ValueError(f"glue needs a number or a string, got {type(value).__name__}")
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return  # Colab or plain Jupyter: the prose is rendered elsewhere, nothing to store
    myst_glue(name, stored, display=False)


def claims_are_strict() -> bool:
    """True when a claim that does not hold must raise (``DNNCOURSE_CLAIMS=strict``)."""
    return os.environ.get(CLAIMS_ENV, "").strip().lower() == "strict"


def _format_evidence(evidence: dict[str, Any]) -> str:
    parts = []
    for key, value in evidence.items():
        value = _plain_number(value) if hasattr(value, "item") and getattr(value, "numel", lambda: 1)() == 1 else value
        parts.append(f"{key} = {value:.4g}" if isinstance(value, float) else f"{key} = {value}")
    return ", ".join(parts)


def claim(holds: Any, statement: str, **evidence: Any) -> None:
    """Check a statement that the text draws from the experiment just run.

    ``holds`` is the test (a bool, or a NumPy/PyTorch boolean), ``statement`` the claim in the text's
    words, ``evidence`` the numbers it rests on (shown when it fails). Prints nothing when it holds, and
    returns nothing, so that a claim as a cell's last line adds no output to the stored notebook.
    """
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError("statement must be a non-empty string saying what the text claims")
    holds = bool(_plain_number(holds))
    if holds:
        return
    shown = f" ({_format_evidence(evidence)})" if evidence else ""
    if claims_are_strict():
        raise ClaimError(f"the text claims that {statement}, but this run does not support it{shown}")
    print(
        f"Note: the text says that {statement}; on this run that does not hold{shown}. "
        "Other random seeds and other hardware give slightly different numbers; the book's "
        "figures come from the run stored with it."
    )
