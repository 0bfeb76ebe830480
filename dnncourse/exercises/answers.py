"""Answers as plain data: what a graded function's result may be, and how it travels between processes.

This module is self-contained on purpose (the standard library and NumPy; PyTorch only when a value is
a tensor or the exercise asks for tensor inputs): the grader bind-mounts it, read-only, into the sandbox
where a submission runs, next to the runner script, and nothing of the ``dnncourse`` package is visible
there.

Two kinds of answers:

* **arrays**: a NumPy array, a tensor (on any device), a number, ``None``, or a tuple/list of those,
  converted by :func:`to_plain` to NumPy arrays, tuples and ``None``;
* **plain data** (exercises graded by outcome, such as a training configuration): ``None``, booleans,
  integers, finite floats, strings, lists and dictionaries with string keys, checked by
  :func:`plain_data` (bounded depth and size; never an arbitrary object).

The answers of one exercise are written as one ``.npz`` archive (:func:`answers_archive`) and read back
with :func:`read_answers`, which never unpickles anything (``allow_pickle=False``) and checks the
archive's declared sizes before decompressing it.
"""

from __future__ import annotations

import io
import json
import math
import sys
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "as_argument",
    "to_plain",
    "plain_data",
    "answers_archive",
    "read_answers",
    "MAX_DEPTH",
    "MAX_ITEMS",
]

MAX_DEPTH = 6  # nesting of lists and dictionaries in plain data
MAX_ITEMS = 10_000  # values in one plain-data answer, all levels together
MAX_TEXT = 10_000  # characters of one string in plain data


def as_argument(value: Any, torch_inputs: bool) -> Any:
    """A copy of one input (the function may modify it in place), as a ``torch.Tensor`` if the exercise asks."""
    if isinstance(value, np.ndarray):
        value = value.copy()
        if torch_inputs:
            import torch

            return torch.from_numpy(value)
    return value


def _is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor can only exist once torch has been imported
    return torch is not None and isinstance(value, torch.Tensor)


def to_plain(value: Any) -> Any:
    """An array answer as NumPy arrays (tensors from any device), tuples of them, or ``None``.

    ``TypeError`` for anything else (a string, a dictionary, an arbitrary object).
    """
    if _is_tensor(value):
        return value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        return tuple(to_plain(v) for v in value)
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind not in "biufc":
            raise TypeError(f"the function returned an array of {array.dtype}; expected numbers")
        return array
    if isinstance(value, (bool, int, float)):
        return np.asarray(value)
    if value is None:
        return None
    raise TypeError(
        f"the function returned an object of type {type(value).__name__}; expected arrays, tensors, numbers or tuples"
    )


def plain_data(value: Any) -> Any:
    """``value`` as JSON-able plain data, checked: ``ValueError`` naming what is not allowed.

    Allowed: ``None``, ``bool``, ``int``, finite ``float`` (NumPy scalars are converted), ``str`` of at
    most ``MAX_TEXT`` characters, lists/tuples (returned as lists) and dictionaries with string keys,
    nested at most ``MAX_DEPTH`` levels, ``MAX_ITEMS`` values in all. The walk is iterative, so a deeply
    nested value cannot exhaust the stack.
    """
    budget = [MAX_ITEMS]

    def leaf(item: Any, where: str) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise ValueError(f"the answer has more than {MAX_ITEMS} values")
        if isinstance(item, np.generic):
            item = item.item()
        if item is None or isinstance(item, (bool, str)):
            if isinstance(item, str) and len(item) > MAX_TEXT:
                raise ValueError(f"{where}: a string of more than {MAX_TEXT} characters")
            return item
        if isinstance(item, int):
            if abs(item) >= 2**63:
                raise ValueError(f"{where}: the integer {item} is too large")
            return int(item)
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{where}: {item} is not a finite number")
            return float(item)
        raise ValueError(
            f"{where}: a {type(item).__name__} is not plain data "
            "(allowed: None, bool, int, float, str, lists and dicts with string keys)"
        )

    root: list[Any] = [None]
    stack: list[tuple[Any, list | dict, Any, int, str]] = [(value, root, 0, 0, "the answer")]
    while stack:
        item, parent, key, depth, where = stack.pop()
        if isinstance(item, (list, tuple, dict)):
            if depth >= MAX_DEPTH:
                raise ValueError(f"{where}: nested more than {MAX_DEPTH} levels deep")
            budget[0] -= 1
            if budget[0] < 0:
                raise ValueError(f"the answer has more than {MAX_ITEMS} values")
            if isinstance(item, dict):
                copy: dict[str, Any] = {}
                for name, entry in item.items():
                    if not isinstance(name, str):
                        raise ValueError(f"{where}: the key {name!r} is not a string")
                    copy[name] = None
                    stack.append((entry, copy, name, depth + 1, f"{where}[{name!r}]"))
                parent[key] = copy
            else:
                items: list[Any] = [None] * len(item)
                for index, entry in enumerate(item):
                    stack.append((entry, items, index, depth + 1, f"{where}[{index}]"))
                parent[key] = items
        else:
            parent[key] = leaf(item, where)
    return root[0]


# ----------------------------------------------------------------------------- the answers archive


def _flatten(value: Any, arrays: dict[str, np.ndarray], key: str) -> Any:
    """The structure of an array answer: a key per array, a list per tuple, None kept."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return [_flatten(v, arrays, f"{key}_{i}") for i, v in enumerate(value)]
    arrays[key] = value
    return key


def answers_archive(status: Mapping[str, Any], answers: Mapping[int, tuple[str, Any]]) -> bytes:
    """The bytes of one exercise's answers archive (an uncompressed ``.npz``).

    ``status`` is a small JSON-able dictionary (what happened); ``answers`` maps a case number to
    ``("arrays", value)`` (already :func:`to_plain`) or ``("plain", value)`` (already :func:`plain_data`).
    """
    arrays: dict[str, np.ndarray] = {}
    structure: dict[str, Any] = {}
    for k, (kind, value) in answers.items():
        if kind == "plain":
            structure[str(k)] = {"plain": value}
        else:
            structure[str(k)] = {"arrays": _flatten(value, arrays, f"c{k}")}
    arrays["index"] = np.asarray(json.dumps({"status": dict(status), "answers": structure}))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _rebuild(structure: Any, arrays: Mapping[str, np.ndarray], depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError("malformed answers: nested too deeply")
    if structure is None:
        return None
    if isinstance(structure, list):
        return tuple(_rebuild(s, arrays, depth + 1) for s in structure)
    if not isinstance(structure, str) or structure == "index" or structure not in arrays:
        raise ValueError(f"malformed answers: unknown entry {str(structure)[:40]!r}")
    return arrays[structure]


def read_answers(data: bytes, max_bytes: int) -> tuple[dict[str, Any], dict[int, Any]]:
    """``(status, {case number: answer})`` from an archive written by :func:`answers_archive`.

    ``ValueError`` for anything malformed: not an archive, more than ``max_bytes`` once decompressed,
    pickled objects, unknown entries. Plain-data answers are checked again with :func:`plain_data`.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
        too_large = len(members) > 10_000 or sum(member.file_size for member in members) > max_bytes
        if not too_large:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
    except Exception as error:  # a forged file may break the reader in any way (pickles refused): malformed
        raise ValueError(f"malformed answers: {type(error).__name__}: {str(error)[:200]}") from None
    if too_large:
        raise ValueError(f"malformed answers: more than {max_bytes} bytes or 10000 entries")
    index = arrays.get("index")
    if index is None or index.dtype.kind != "U" or index.ndim != 0:
        raise ValueError("malformed answers: no index entry")
    try:
        document = json.loads(str(index))
    except (ValueError, RecursionError):
        raise ValueError("malformed answers: the index is not valid JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("status"), dict):
        raise ValueError("malformed answers: the index has no status")
    structure = document.get("answers")
    if not isinstance(structure, dict):
        raise ValueError("malformed answers: the index has no answers")
    answers: dict[int, Any] = {}
    for key, entry in structure.items():
        if not key.isdigit() or not isinstance(entry, dict) or len(entry) != 1:
            raise ValueError("malformed answers: a bad answer entry")
        if "plain" in entry:
            answers[int(key)] = plain_data(entry["plain"])
        elif "arrays" in entry:
            answers[int(key)] = _rebuild(entry["arrays"], arrays)
        else:
            raise ValueError("malformed answers: a bad answer entry")
    return document["status"], answers
