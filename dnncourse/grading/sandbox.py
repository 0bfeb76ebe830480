"""The sandbox a submission runs in (bubblewrap), and the grader's side of the process running in it.

Isolation is the operating system's job. Each submission runs in ``bwrap`` with

* its own user (uid 65534, not root), PID, IPC, UTS, cgroup and network namespaces (no network at all),
  ``--die-with-parent`` and ``--new-session``, no capabilities, no further user namespaces, and a
  seccomp filter that refuses new processes (:mod:`dnncourse.grading.seccomp`): when the sandbox ends,
  everything the submission started ends with it;
* a read-only view of only what the code needs (:mod:`dnncourse.grading.layout`: the interpreter, its
  standard library and system libraries, NumPy, PyTorch and their dependencies). Not ``dnncourse``, not
  the repository, not the instructor's files, not the other submissions or the reports, not the host's
  ``/proc`` (a new one shows the sandbox's own processes);
* a private scratch folder (``/tmp``, a size-limited tmpfs), its job (inputs, read-only) and its
  answers files, the only host files it can write (each capped by the file-size limit).

The runner (:mod:`dnncourse.grading.runner`) and the answer encoding it needs are bind-mounted read-only.
The grader talks to it through two pipes (commands in, messages out) and owns every deadline: nothing the
submission writes (or leaves unread: a command waits for room in the pipe until its deadline, never
longer) can move one. :class:`Session` starts the process, sends commands, waits for their
answers until a deadline, and kills the whole sandbox when one passes.

``--no-sandbox`` runs the same runner as a plain process (same limits and deadlines, no isolation).
With ``Settings.run_as`` (the Gradescope autograder, where user namespaces may be unavailable and the
grader is root) that plain process runs as an unprivileged user, without supplementary groups, under the
same seccomp filter (applied by :mod:`dnncourse.grading.confine`): it reads its job and writes only its
scratch folder and its answers files; the grader's files are not open to it (see the README).
"""

from __future__ import annotations

import json
import os
import pwd
import select
import selectors
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from dnncourse.grading.layout import INSIDE_GRADER, Layout
from dnncourse.grading.results import GradingError, Settings

__all__ = ["Session", "start", "smoke_test"]

_ENVIRONMENT = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
    "MPLBACKEND": "Agg",  # matplotlib draws into memory: plt.show() in a student's cell does nothing
}
_SHM_BYTES = 2**20  # /dev/shm: enough for a few POSIX semaphores, too small to hold data


class Session:
    """One runner process (in its sandbox): commands in, messages out, deadlines kept by the caller's clock."""

    def __init__(self, layout: Layout, job: Path, answers: Path, answer_files: list[str], settings: Settings):
        user = None if layout.bwrap is not None or settings.run_as is None else settings.run_as
        ids = _hand_over(user, job, answers, answer_files) if user is not None else None
        commands_read, self.commands = os.pipe()
        self.messages, messages_write = os.pipe()
        child_fds = [commands_read, messages_write]
        if layout.bwrap is None:
            argv = [
                layout.python,
                "-I",
                "-S",
                "-B",
                str(Path(layout.grader) / "runner.py"),
                "--job",
                str(job),
                "--answers",
                str(answers),
            ]
            env = {**_ENVIRONMENT, "HOME": str(job.parent / "scratch"), "TMPDIR": str(job.parent / "scratch")}
            cwd = str(job.parent / "scratch")
            if ids is not None and layout.seccomp is not None:
                confine = [layout.python, "-I", "-S", "-B", str(Path(layout.grader) / "confine.py")]
                argv = [*confine, str(_filter_pipe(layout.seccomp, child_fds)), *argv]
        else:
            argv = self._bwrap(layout, job, answers, answer_files, settings, child_fds)
            argv += [
                layout.python,
                "-I",
                "-S",
                "-B",
                f"{INSIDE_GRADER}/runner.py",
                "--job",
                "/job",
                "--answers",
                "/answers",
            ]
            env, cwd = dict(_ENVIRONMENT), None
        argv += ["--commands", str(commands_read), "--messages", str(messages_write)]
        argv += [arg for path in layout.packages for arg in ("--path", path)]
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=child_fds,
                env=env,
                cwd=cwd,
                start_new_session=True,
                **({} if ids is None else {"user": ids[0], "group": ids[1], "extra_groups": []}),
            )
        except OSError as error:
            os.close(self.commands)
            os.close(self.messages)
            if ids is not None and isinstance(error, PermissionError):
                raise GradingError(
                    f"the user {user!r} cannot run {layout.python}: a folder on its path is not open to other users"
                ) from None
            raise
        finally:
            for fd in child_fds:
                os.close(fd)
        os.set_blocking(self.messages, False)
        os.set_blocking(self.commands, False)  # a runner that stops reading cannot block the grader
        os.set_blocking(self.process.stdout.fileno(), False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.messages, selectors.EVENT_READ, "messages")
        self.selector.register(self.process.stdout.fileno(), selectors.EVENT_READ, "output")
        self.buffer = b""
        self.head, self.tail = bytearray(), bytearray()  # the first and the last 16 kB of its output
        self.position: int | None = None  # the cell it announced last
        self.in_cases = False  # whether it announced the cases of the exercise being graded
        self.failed: dict[int, str] = {}  # cells that raised: position -> error
        self.sequence = 0
        self.ended = False

    @staticmethod
    def _bwrap(
        layout: Layout, job: Path, answers: Path, answer_files: list[str], settings: Settings, child_fds: list[int]
    ) -> list[str]:
        argv = [
            layout.bwrap,
            "--unshare-all",
            "--unshare-user",
            "--uid",
            "65534",
            "--gid",
            "65534",
            "--hostname",
            "sandbox",
            "--die-with-parent",
            "--new-session",
            "--disable-userns",
            "--cap-drop",
            "ALL",
        ]
        for host, inside in layout.binds:
            argv += ["--ro-bind", host, inside]
        for folder in layout.hidden:
            argv += ["--size", "4096", "--tmpfs", folder, "--remount-ro", folder]
        for target, path in layout.symlinks:
            argv += ["--symlink", target, path]
        argv += ["--ro-bind", layout.grader, INSIDE_GRADER, "--proc", "/proc", "--dev", "/dev"]
        # The folders bwrap creates (/, /dev, /opt, ...) live in a tmpfs of no fixed size, in the host's memory
        # and outside the address-space limit: read-only, so that files cannot fill the machine's memory.
        # Writable are only /tmp and /dev/shm (POSIX semaphores), each a tmpfs of a fixed size.
        argv += ["--size", str(_SHM_BYTES), "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
        argv += ["--size", str(settings.scratch_mb * 2**20), "--tmpfs", "/tmp"]
        argv += ["--ro-bind", str(job), "/job", "--ro-bind", str(answers), "/answers"]
        for name in answer_files:
            argv += ["--bind", str(answers / name), f"/answers/{name}"]
        argv += ["--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
        for name, value in _ENVIRONMENT.items():
            argv += ["--setenv", name, value]
        if layout.seccomp is not None:
            argv += ["--seccomp", str(_filter_pipe(layout.seccomp, child_fds))]
        return argv

    # ------------------------------------------------------------------ talking to the runner

    def _keep_output(self, data: bytes) -> None:
        room = 16384 - len(self.head)
        self.head += data[:room]
        if len(data) > room:
            self.tail = (self.tail + data[room:])[-16384:]

    def output(self) -> str:
        """What the process printed (the first and the last 16 kB)."""
        joined = bytes(self.head) + (b"\n...\n" if self.tail else b"") + bytes(self.tail)
        return joined.decode("utf-8", "replace").strip()

    def _pump(self, deadline: float, wanted: str, value: Any = True) -> str:
        """Read messages until ``{wanted: value}`` arrives ("ok"), the deadline passes ("timeout") or the process
        ends ("died")."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            events = self.selector.select(min(remaining, 0.5))
            if not events and self.process.poll() is not None and not self.selector.get_map():
                return "died"
            for key, _ in events:
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not data:
                    self.selector.unregister(key.fd)
                    if key.data == "messages":
                        return "died"
                    continue
                if key.data == "output":
                    self._keep_output(data)
                    continue
                self.buffer += data
                *lines, self.buffer = self.buffer.split(b"\n")
                self.buffer = self.buffer[-65536:]  # an endless line is not the runner's
                for line in lines:
                    if self._read_message(line, wanted, value):
                        return "ok"

    def _read_message(self, line: bytes, wanted: str, value: Any) -> bool:
        try:
            message = json.loads(line)
        except ValueError:
            return False
        if not isinstance(message, dict):
            return False
        if isinstance(message.get("cell"), int):
            self.position = message["cell"]
        if "cases" in message:
            self.in_cases = True
        if isinstance(message.get("failed"), int):
            self.failed[message["failed"]] = str(message.get("error", ""))[:500]
        return message.get(wanted) == value

    def _send(self, command: dict[str, Any], deadline: float) -> str:
        """Write one command line before the deadline: "ok", "timeout" (no room in the pipe) or "died"."""
        data = memoryview((json.dumps(command) + "\n").encode())
        while data:
            try:
                data = data[os.write(self.commands, data) :]
                continue
            except BlockingIOError:
                pass
            except OSError:
                return "died"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            select.select([], [self.commands], [], min(remaining, 0.5))
        return "ok"

    def ready(self, timeout: float) -> str:
        """Wait for the runner to have imported its modules and read its inputs."""
        return self._pump(time.monotonic() + timeout, "ready")

    def request(self, command: dict[str, Any], timeout: float) -> str:
        """Send a command and wait for it to be done: "ok", "timeout" or "died". The clock starts now."""
        deadline = time.monotonic() + timeout
        self.sequence += 1
        self.position, self.in_cases = None, False
        state = self._send({**command, "seq": self.sequence}, deadline)
        return self._pump(deadline, "done", self.sequence) if state == "ok" else state

    def terminate(self) -> None:
        """Kill the sandbox and everything in it (its PID namespace dies with it); safe from another thread."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self, grace: float = 0.0) -> None:
        """:meth:`terminate` (after ``grace`` seconds for a process that is ending), wait for it, close the pipes."""
        if not self.ended:
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                pass
            self.terminate()
            self.process.wait()
            self._close()

    def finish(self, grace: float = 5.0) -> int | None:
        """Ask the runner to stop; kill it if it has not within ``grace`` seconds. Its exit status."""
        if not self.ended:
            self._send({"exit": True}, time.monotonic() + grace)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                pass
            self.kill()
        return self.process.returncode

    def _close(self) -> None:
        self.ended = True
        self.selector.close()
        for fd in (self.commands, self.messages):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            rest = self.process.stdout.read() or b""  # non-blocking: whatever is left
            self._keep_output(rest[:65536])
        except (OSError, ValueError, TypeError):
            pass
        self.process.stdout.close()

    def exit_reason(self) -> str:
        """How the process ended, in words (for an exercise that was running when it did)."""
        code = self.process.returncode
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            extra = " (out of memory?)" if name in ("SIGKILL", "SIGSEGV", "SIGBUS", "SIGABRT") else ""
            return f"the process was killed by {name}{extra}"
        return f"the process exited with code {code} (os._exit or a crash?)"


def _filter_pipe(program: bytes, child_fds: list[int]) -> int:
    """A pipe holding the seccomp filter, its reading end passed to the child (bwrap or confine.py)."""
    read, write = os.pipe()
    os.write(write, program)  # a few hundred bytes: fits in the pipe
    os.close(write)
    child_fds.append(read)
    return read


def _hand_over(user: str, job: Path, answers: Path, answer_files: list[str]) -> tuple[int, int]:
    """Without bubblewrap, as the unprivileged ``user``: it may read the job, and write its scratch folder and
    its answers files, not the folders that hold them (nor anything else of the grader's). Its (uid, gid)."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise GradingError(f"there is no user {user!r} here to run the submissions as") from None
    if entry.pw_uid == 0:
        raise GradingError(f"the user {user!r} is root: submissions must run as an unprivileged user")
    uid, gid = entry.pw_uid, entry.pw_gid
    job.parent.chmod(0o711)
    for folder in (job, answers):
        folder.chmod(0o755)
    for path in job.iterdir():
        path.chmod(0o644)
    scratch = job.parent / "scratch"
    os.chown(scratch, uid, gid)
    scratch.chmod(0o700)
    for name in answer_files:
        os.chown(answers / name, uid, gid)
        (answers / name).chmod(0o600)
    return uid, gid


def start(layout: Layout, job: Path, answers: Path, answer_files: list[str], settings: Settings) -> Session:
    """Start the runner on ``job`` (a folder with job.json), writing into ``answers/<answer_files>``."""
    return Session(layout, job, answers, answer_files, settings)


def smoke_test(layout: Layout, settings: Settings, work: Path, setup: list[tuple[str, str]] = ()) -> None:
    """Start one sandbox with nothing to grade: it must import NumPy, PyTorch and ``setup`` ((module, name)
    pairs: what the exercises may assume is imported) and stop cleanly."""
    job = work / "smoke" / "job"
    job.mkdir(parents=True)
    (work / "smoke" / "scratch").mkdir()
    answers = work / "smoke" / "answers"
    answers.mkdir()
    limits = {
        "memory_mb": settings.memory_mb,
        "file_mb": settings.file_mb,
        "cpu_seconds": int(settings.startup_timeout) + 60,
    }
    spec = {
        "limits": limits,
        "needs_torch": True,
        "setup": list(setup),
        "check_name": "check",
        "cells": [],
        "exercises": {},
    }
    (job / "job.json").write_text(json.dumps(spec))
    session = start(layout, job, answers, [], settings)
    state = session.ready(settings.startup_timeout)
    code = session.finish()
    if state != "ok" or code != 0:
        output = session.output() or "(no output)"
        if layout.bwrap is not None:
            raise GradingError(
                f"bubblewrap cannot start the grading sandbox here (exit code {code}); its output:\n{output}\n"
                "It needs unprivileged user namespaces (for example `sysctl kernel.unprivileged_userns_clone=1`; "
                "on Ubuntu 24.04, an AppArmor profile that allows bwrap to create them). `--no-sandbox` grades "
                "without isolation (only for notebooks you trust)."
            )
        raise GradingError(f"the grading process cannot run here (exit code {code}); its output:\n{output}")
