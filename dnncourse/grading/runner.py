"""The runner: the one script that runs inside a submission's sandbox, driven by the grader.

The grader bind-mounts this file and :mod:`dnncourse.exercises.answers` (read-only) into the sandbox
and starts ``python -I -S -B runner.py --job DIR --answers DIR --commands FD --messages FD [--path DIR]...``
(the job folder holds ``job.json`` and the inputs, read-only; the answers folder one file per exercise). It
imports only the standard library, NumPy (PyTorch when the submission needs it) and ``answers``: the
``dnncourse`` package is not visible in the sandbox, so the reference implementations cannot be called.

Before any student code runs it sets its resource limits (memory, file size, open files, CPU time,
core dumps; processes too when sandboxed), reads every input and opens every answers file (a cell
that leaks file descriptors cannot keep the answers from being written). Then it obeys the grader's
commands, one JSON line each on the command pipe, and reports on the message pipe:

The namespace starts with what the exercises' ``setup`` imports, a do-nothing ``check``, Jupyter's
``display``, and the chapter's import statements whose names the student's cells use (``preamble``).

* ``{"run": [positions], "seq": n}``: run these cells, in order, in the one namespace; each cell is
  announced (``{"cell": position}``), a cell that raises is reported (``{"failed": position, "error":
  ...}``) and the next one runs; then ``{"done": n}``.
* ``{"grade": slot, "cell": position, "seq": n}``: run the exercise's cell, take the function it
  defines, announce ``{"cases": slot}``, call it on every case and write the answers of the exercise
  into its answers file (:func:`answers.answers_archive`); then ``{"done": n}``.
* ``{"exit": true}``: stop.

Deadlines are the grader's alone: it starts the clock when it sends a command and kills the whole
sandbox when the clock runs out. Nothing here decides a grade: the grader reads the answers files
after the sandbox has exited and compares them with the reference in its own process.
"""

from __future__ import annotations

import argparse
import builtins
import io
import json
import linecache
import os
import resource
import signal
import sys
import traceback
from typing import Any

__all__ = ["main"]

OUTPUT_CAP = 200_000  # characters of the submission's printed output passed on per stream
OPEN_FILES = 1024  # file descriptors the submission may hold (the usual default of a Jupyter kernel)


class _CappedText(io.TextIOBase):
    """A text stream that passes on at most ``cap`` characters and drops the rest."""

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


def _virtual_memory_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _set_limit(kind: int, value: int) -> None:
    try:
        resource.setrlimit(kind, (value, value))
    except (ValueError, OSError) as error:
        print(f"grader warning: cannot set resource limit {kind}: {error}", file=sys.__stderr__)


def _describe(error: BaseException) -> str:
    """One line about an exception, with the cell and line of the student's code where it happened."""
    if isinstance(error, MemoryError) or "can't allocate memory" in str(error) or "Unable to allocate" in str(error):
        return "ran out of memory (the grader's memory limit)"
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r}) (the grader treats this as an error)"
    if isinstance(error, RecursionError):
        return "RecursionError: maximum recursion depth exceeded"
    message = str(error)
    if len(message) > 300:
        message = message[:300] + "..."
    where = ""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename.startswith("<cell ")]
    if isinstance(error, SyntaxError) and str(error.filename).startswith("<cell "):
        where = f" ({error.filename[1:-1]}, line {error.lineno})"
        message = error.msg
    elif frames:
        where = f" ({frames[-1].filename[1:-1]}, line {frames[-1].lineno})"
    return f"{type(error).__name__}: {message}{where}"


_TRACEBACK_FRAMES = 6  # the student's feedback shows the last frames of their own code
_TRACEBACK_CHARS = 2000


def _student_traceback(error: BaseException) -> str:
    """The end of the traceback, showing only the frames of the student's cells (never the runner's)."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename.startswith("<cell ")]
    lines = []
    for frame in frames[-_TRACEBACK_FRAMES:]:
        lines.append(f"  {frame.filename[1:-1]}, line {frame.lineno}, in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line.strip()[:200]}")
    if isinstance(error, SyntaxError) and str(error.filename).startswith("<cell "):
        lines.append(f"  {error.filename[1:-1]}, line {error.lineno}")
        if error.text:
            lines.append(f"    {error.text.strip()[:200]}")
    message = str(error) if not isinstance(error, SyntaxError) else error.msg
    lines.append(f"{type(error).__name__}: {message[:500]}".rstrip(": "))
    text = "\n".join(lines)
    return text if len(text) <= _TRACEBACK_CHARS else "...\n" + text[-_TRACEBACK_CHARS:]


class Runner:
    """The namespace of one submission and the commands that run its cells and exercises."""

    def __init__(self, job: dict[str, Any], folders: tuple[str, str], messages: int):
        import answers
        import numpy as np

        self.np, self.answers, self.job = np, answers, job
        self.inputs_folder, self.answers_folder = folders
        self.messages = messages
        self.write = os.write  # kept before any student code can replace it
        # Every input is read before any student code runs (it might delete or change files), and every
        # answers file of this session is opened (it might use up its file descriptors).
        self.inputs = {slot: [self._load(case) for case in spec["cases"]] for slot, spec in job["exercises"].items()}
        self.outputs: dict[str, int] = {}
        for slot, spec in job["exercises"].items():
            path = os.path.join(self.answers_folder, spec["answers"])
            if os.path.exists(path):  # the answers of this session's exercises (earlier ones were graded before)
                self.outputs[slot] = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        noop = lambda *args, **kwargs: None  # noqa: E731 - check(...) does nothing in the grader
        self.namespace["check"] = self.namespace[job["check_name"]] = noop
        self.namespace["display"] = _display  # a built-in name in Jupyter
        for module, name in job["setup"]:
            self.namespace[name] = __import__(module, fromlist=["_"])
        for statement in job.get("preamble", []):  # the chapter's imports that the student's cells use
            try:
                exec(compile(statement, "<the chapter's imports>", "exec", dont_inherit=True), self.namespace)
            except Exception:  # not in the sandbox: the cell that needs it says so (NameError)
                pass

    def _load(self, case: dict[str, Any]) -> dict[str, Any]:
        inputs: dict[str, Any] = dict(case["scalars"])
        if case["arrays"]:
            with self.np.load(os.path.join(self.inputs_folder, case["arrays"]), allow_pickle=False) as data:
                inputs.update({name: data[name] for name in data.files})
        return {name: inputs[name] for name in case["order"]}

    def send(self, message: dict[str, Any]) -> None:
        self.write(self.messages, (json.dumps(message) + "\n").encode())

    def run_cell(self, position: int) -> BaseException | None:
        """Run one cell in the namespace; the exception it raised, if any (reported to the grader)."""
        cell = self.job["cells"][position]
        self.send({"cell": position})
        name = f"<cell {cell['number']}>"
        linecache.cache[name] = (len(cell["code"]), None, cell["code"].splitlines(True), name)  # for tracebacks
        try:
            # dont_inherit: the student's code does not get this file's `from __future__` imports
            exec(compile(cell["code"], name, "exec", dont_inherit=True), self.namespace)
        except BaseException as error:
            self.send({"failed": position, "error": _describe(error)})
            return error
        return None

    def grade(self, slot: str, position: int) -> None:
        """Run the exercise's cell, then its function on every case; write the answers file."""
        spec = self.job["exercises"][slot]
        status: dict[str, Any] = {"status": "ran", "reason": "", "case_errors": {}}
        collected: dict[int, tuple[str, Any]] = {}
        error = self.run_cell(position)
        fn = self.namespace.get(spec["function"])
        if isinstance(error, NotImplementedError):
            status.update(status="not-attempted", reason="the exercise cell raises NotImplementedError")
        elif not callable(fn):
            cell = f"cell {self.job['cells'][position]['number']}"
            if error is not None:
                status["cell_traceback"] = _student_traceback(error)
            status.update(
                status="error",
                reason=f"running the exercise cell: {_describe(error)}"
                if error
                else f"the exercise cell ({cell}) does not define a function named {spec['function']!r}",
            )
        else:
            if error is not None:
                status["cell_error"] = _describe(error)
                status["cell_traceback"] = _student_traceback(error)
            self.send({"cases": slot})
            self._call(fn, spec, self.inputs[slot], status, collected)
        self._save(self.outputs[slot], status, collected)

    def _call(self, fn: Any, spec: dict[str, Any], cases: list, status: dict, collected: dict) -> None:
        for k, inputs in enumerate(cases):
            try:
                arguments = {
                    name: self.answers.as_argument(value, spec["torch_inputs"]) for name, value in inputs.items()
                }
                answer = fn(**arguments)
                if spec["plain"]:
                    collected[k] = ("plain", self.answers.plain_data(answer))
                else:
                    collected[k] = ("arrays", self.answers.to_plain(answer))
            except NotImplementedError:
                status.update(status="not-attempted", reason="the function still raises NotImplementedError")
                collected.clear()
                return
            except BaseException as error:
                status["case_errors"][str(k)] = _describe(error)
                status.setdefault("tracebacks", {})[str(k)] = _student_traceback(error)
                if isinstance(error, (SystemExit, KeyboardInterrupt)):
                    return

    def _save(self, descriptor: int, status: dict[str, Any], collected: dict[int, tuple[str, Any]]) -> None:
        try:
            data = self.answers.answers_archive(status, collected)
        except BaseException as error:
            data = self.answers.answers_archive(
                {"status": "error", "reason": f"the answers could not be saved: {_describe(error)}"}, {}
            )
        try:
            _write_all(descriptor, data)
        except OSError as error:
            reason = f"the answers could not be written ({error.strerror}; larger than the file size limit?)"
            _write_all(descriptor, self.answers.answers_archive({"status": "error", "reason": reason}, {}))


def _write_all(descriptor: int, data: bytes) -> None:
    """Make ``data`` the whole content of the open file ``descriptor``."""
    os.ftruncate(descriptor, 0)
    view, offset = memoryview(data), 0
    while offset < len(view):
        offset += os.pwrite(descriptor, view[offset:], offset)


def _display(*objects: Any, **options: Any) -> None:
    """Jupyter's built-in ``display``, as text (the grader shows no rich output)."""
    for item in objects:
        print(repr(item))


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="runner.py")
    parser.add_argument("--job", required=True)
    parser.add_argument("--answers", required=True)
    parser.add_argument("--commands", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--path", action="append", default=[])
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    with open(os.path.join(args.job, "job.json"), encoding="utf-8") as handle:
        job = json.load(handle)
    limits = job["limits"]
    _set_limit(resource.RLIMIT_CORE, 0)
    _set_limit(resource.RLIMIT_FSIZE, limits["file_mb"] * 2**20)
    _set_limit(resource.RLIMIT_CPU, limits["cpu_seconds"])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    _set_limit(resource.RLIMIT_NOFILE, OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard))
    if limits.get("processes"):
        _set_limit(resource.RLIMIT_NPROC, limits["processes"])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-long write fails instead of killing the process
    sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)), *args.path]
    sys.path.append("")  # the working folder (the scratch folder), as in Jupyter: %%writefile modules import
    import numpy  # noqa: F401 - before the memory limit, like PyTorch

    if job["needs_torch"]:
        import torch

        torch.set_num_threads(1)
    runner = Runner(job, (args.job, args.answers), args.messages)
    _set_limit(resource.RLIMIT_AS, _virtual_memory_bytes() + limits["memory_mb"] * 2**20)
    sys.stdout = _CappedText(sys.stdout, OUTPUT_CAP)
    sys.stderr = _CappedText(sys.stderr, OUTPUT_CAP)
    commands = open(args.commands, encoding="utf-8", closefd=False)
    runner.send({"ready": True})
    for line in commands:
        try:
            command = json.loads(line)
        except ValueError:
            continue  # not the grader's (only the submission could have written it)
        if command.get("exit"):
            break
        if "run" in command:
            for position in command["run"]:
                runner.run_cell(position)
        elif "grade" in command:
            runner.grade(command["grade"], command["cell"])
        runner.send({"done": command["seq"]})
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(0)  # threads the student left running do not hold the process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
