"""The sandboxed side of the grader: runs one submission's exercise cells and writes the answers as plain data.

The grader starts this file as a script (``python -I .../runner.py JOB INDEX...``), never as
``-m dnncourse.grading.runner``, so that the submission's process never imports ``dnncourse``: the
reference implementations are simply not there to call (and an import of ``dnncourse`` fails).
It imports only the standard library, NumPy and PyTorch.

Protocol (all paths come from the job file the grader wrote, outside the scratch working directory):

* inputs: ``case["arrays"]`` is an ``.npz`` file of the case's array arguments (loaded with
  ``allow_pickle=False``), ``case["scalars"]`` a JSON object of its other arguments;
* for exercise ``i`` the runner writes ``<results>/<i>.start`` before running the student's code,
  ``<results>/<i>-<k>.npz`` for the answer to case ``k`` (see :func:`encode_answer`), and
  ``<results>/<i>.json`` when the exercise is done: ``{"status": "ran" | "not-attempted" | "error",
  "reason": str, "case_errors": {k: message}}``. Files appear one by one, so a crash keeps what came before.

The grader starts one fork server (``runner.py --serve``, see :func:`serve`) per run and gets a fresh
forked runner per submission from it, so PyTorch is imported once; a direct start is the fallback.

Nothing here decides a grade: the grader compares the answers with the reference in its own process.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import resource
import signal
import sys
import traceback
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["as_argument", "to_plain", "encode_answer", "decode_answer", "main"]


def as_argument(value: Any, torch_inputs: bool) -> Any:
    """A copy of one input (the function may modify it in place), as a tensor if the exercise asks."""
    if isinstance(value, np.ndarray):
        value = value.copy()
        return torch.from_numpy(value) if torch_inputs else value
    return value


def to_plain(value: Any) -> Any:
    """Convert an answer to plain data: NumPy arrays (from tensors on any device), tuples of them, or None."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        return tuple(to_plain(v) for v in value)
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    if isinstance(value, (bool, int, float)):
        return np.asarray(value)
    if value is None:
        return None
    raise TypeError(f"the function returned a {type(value).__name__}; expected arrays, tensors, numbers or tuples")


def _structure(value: Any, arrays: dict[str, np.ndarray], key: str) -> Any:
    if value is None:
        return None
    if isinstance(value, tuple):
        return [_structure(v, arrays, f"{key}_{i}") for i, v in enumerate(value)]
    arrays[key] = value
    return key


def encode_answer(value: Any) -> dict[str, np.ndarray]:
    """Plain answer -> arrays for ``np.savez``: ``a``, ``a_0``, ``a_1``, ... plus ``structure``, a JSON string.

    ``structure`` is the answer with each array replaced by its key, each tuple by a list, None kept.
    """
    arrays: dict[str, np.ndarray] = {}
    structure = _structure(to_plain(value), arrays, "a")
    arrays["structure"] = np.asarray(json.dumps(structure))
    return arrays


def _rebuild(structure: Any, arrays: Any) -> Any:
    if structure is None:
        return None
    if isinstance(structure, list):
        return tuple(_rebuild(s, arrays) for s in structure)
    if not isinstance(structure, str) or not structure.startswith("a") or structure not in arrays:
        raise ValueError(f"malformed answer file: unknown entry {structure!r}")
    return np.asarray(arrays[structure])


def decode_answer(path: Path, max_bytes: int = 256 * 2**20) -> Any:
    """Read an answer written by :func:`encode_answer` (``allow_pickle=False``: plain arrays only).

    The archive's declared sizes are checked first, so a forged, highly compressed file cannot make the
    reader allocate more than ``max_bytes``.
    """
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if len(members) > 1000 or sum(member.file_size for member in members) > max_bytes:
            raise ValueError(f"malformed answer file: more than {max_bytes} bytes or 1000 entries")
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    if "structure" not in arrays or arrays["structure"].dtype.kind != "U":
        raise ValueError("malformed answer file: no structure entry")
    return _rebuild(json.loads(str(arrays["structure"])), arrays)


class _CappedText(io.TextIOBase):
    """A text stream that keeps at most ``cap`` characters and drops the rest (a print loop cannot fill memory)."""

    def __init__(self, target: Any, cap: int):
        self.target, self.cap, self.written = target, cap, 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        room = self.cap - self.written
        if room > 0:
            self.target.write(text[:room])
        self.written += len(text)
        return len(text)

    def flush(self) -> None:
        self.target.flush()


class _BlockDnncourse:
    """An import hook: the course library is not available to the code being graded."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "dnncourse" or name.startswith("dnncourse."):
            raise ImportError(f"the grader does not provide {name!r}: an exercise cell must not use the course library")
        return None


def _virtual_memory_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _limit_resources(memory_mb: int, file_mb: int) -> None:
    """Cap the address space at what the process maps now (Python, NumPy, PyTorch) plus ``memory_mb``."""
    address_space = _virtual_memory_bytes() + memory_mb * 2**20
    limits = [
        (resource.RLIMIT_AS, address_space),  # enforced by Linux; other systems may refuse it
        (resource.RLIMIT_FSIZE, file_mb * 2**20),
        (resource.RLIMIT_CORE, 0),
    ]
    for kind, value in limits:
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError) as error:
            print(f"grader warning: cannot set resource limit {kind}: {error}", file=sys.__stderr__)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-long write fails instead of killing the process


def _load_inputs(case: dict[str, Any]) -> dict[str, Any]:
    inputs: dict[str, Any] = dict(case["scalars"])
    with np.load(case["arrays"], allow_pickle=False) as data:
        inputs.update({name: data[name] for name in data.files})
    return {name: inputs[name] for name in case["order"]}


def _describe_error(error: BaseException) -> str:
    if isinstance(error, MemoryError) or "can't allocate memory" in str(error) or "Unable to allocate" in str(error):
        return "ran out of memory (the grader's memory limit)"
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r}) (the grader treats this as an error)"
    if isinstance(error, KeyboardInterrupt):
        return "raised KeyboardInterrupt"
    message = str(error)
    if len(message) > 300:
        message = message[:300] + "..."
    return f"{type(error).__name__}: {message}"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


def _run_exercise(index: int, exercise: dict[str, Any], cases: list[dict[str, Any]], results: Path, save: Any) -> None:
    for stale in [*results.glob(f"{index}-*.npz"), results / f"{index}.json"]:  # e.g. forged by an earlier cell
        stale.unlink(missing_ok=True)
    (results / f"{index}.start").touch()
    namespace: dict[str, Any] = {"__name__": "__exercise__", "__builtins__": builtins, "check": lambda *a, **k: None}
    outcome: dict[str, Any] = {"status": "ran", "reason": "", "case_errors": {}}
    try:
        exec(compile(exercise["setup"], "<setup>", "exec"), namespace)
        exec(compile(exercise["code"], f"<exercise {exercise['id']}>", "exec"), namespace)
        fn = namespace.get(exercise["function"])
        if not callable(fn):
            raise NameError(f"the exercise cell does not define a function named {exercise['function']!r}")
    except NotImplementedError:
        outcome.update(status="not-attempted", reason="the exercise cell raises NotImplementedError")
        _write_json(results / f"{index}.json", outcome)
        return
    except SyntaxError as error:
        outcome.update(status="error", reason=f"SyntaxError in the exercise cell, line {error.lineno}: {error.msg}")
        _write_json(results / f"{index}.json", outcome)
        return
    except BaseException as error:  # noqa: BLE001 - the student's code may raise anything, SystemExit included
        outcome.update(status="error", reason=f"running the exercise cell: {_describe_error(error)}")
        _write_json(results / f"{index}.json", outcome)
        return
    for k, inputs in enumerate(cases):
        try:
            arguments = {name: as_argument(value, exercise["torch_inputs"]) for name, value in inputs.items()}
            answer = encode_answer(fn(**arguments))
        except NotImplementedError:
            outcome.update(status="not-attempted", reason="the function still raises NotImplementedError")
            break
        except BaseException as error:  # noqa: BLE001
            outcome["case_errors"][str(k)] = _describe_error(error)
            if isinstance(error, SystemExit):
                break
            continue
        temporary = results / f"{index}-{k}.tmp.npz"
        save(temporary, **answer)
        os.replace(temporary, results / f"{index}-{k}.npz")
    _write_json(results / f"{index}.json", outcome)


def main(argv: list[str]) -> int:
    """``runner.py JOB INDEX...``: run the listed exercises of the job, in order, each in a fresh namespace."""
    job = json.loads(Path(argv[0]).read_text())
    indices = [int(i) for i in argv[1:]]
    results = Path(job["results"])
    torch.set_num_threads(1)
    sys.meta_path.insert(0, _BlockDnncourse())
    save = np.savez  # kept before the student's code can replace it
    cap = int(job["output_cap"])
    sys.stdout = _CappedText(sys.stdout, cap)
    sys.stderr = _CappedText(sys.stderr, cap)
    _limit_resources(int(job["memory_mb"]), int(job["file_mb"]))
    # All inputs are read before any student code runs (it might delete files).
    inputs = {index: [_load_inputs(case) for case in job["exercises"][index]["cases"]] for index in indices}
    (results / "ready").touch()
    for index in indices:
        try:
            _run_exercise(index, job["exercises"][index], inputs[index], results, save)
        except BaseException:  # noqa: BLE001 - e.g. the results folder was deleted; later exercises may still run
            traceback.print_exc(file=sys.__stderr__)
    sys.stdout.flush()
    sys.stderr.flush()
    return 0


def _worker(request: dict[str, Any]) -> int:
    """In a forked child: become a fresh process (directory, streams, environment), then run the job."""
    os.chdir(request["scratch"])
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    os.environ.clear()
    os.environ.update(request["env"])
    sys.stdin = open(0, closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", closefd=False)
    sys.stderr = sys.__stderr__ = open(2, "w", closefd=False)
    return main([request["job"], *map(str, request["indices"])])


def _monitor(request: dict[str, Any]) -> None:
    """In a forked child: lead a new session, fork the worker, and record how it ended (never returns)."""
    code = 1
    try:
        os.setsid()  # the grader kills this whole process group on a timeout
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        worker = os.fork()
        if worker == 0:
            status = 1
            try:
                status = _worker(request)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        _, status = os.waitpid(worker, 0)
        _write_json(Path(request["status"]), {"returncode": os.waitstatus_to_exitcode(status)})
        code = 0
    finally:
        os._exit(code)


def serve() -> None:
    """Fork server: import NumPy and PyTorch once, then fork a fresh runner for each request line.

    Requests arrive on stdin as JSON lines (job, indices, scratch, log, env, status); the answer to each
    is the process-group id of the new runner on stdout. Starting a runner this way takes milliseconds
    instead of the seconds that importing PyTorch takes.
    """
    torch.set_num_threads(1)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # monitors are reaped automatically
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _monitor(request)
        print(pid, flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        sys.exit(main(sys.argv[1:]))
