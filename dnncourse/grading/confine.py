"""Start a program under the grader's seccomp filter, without bubblewrap: ``confine.py FD PROGRAM ARG...``.

Where user namespaces are unavailable (Gradescope's containers), the grader starts the runner as an
unprivileged user (:mod:`dnncourse.grading.sandbox`) through this script, which the grader copies next to
the runner. It reads the filter of :mod:`dnncourse.grading.seccomp` (classic BPF instructions, 8 bytes
each) from the file descriptor ``FD``, sets ``no_new_privs`` (which lets a process without privileges
install a filter, and keeps set-user-ID programs such as ``su`` from ever gaining any), installs the
filter and replaces itself with ``PROGRAM``. The filter allows ``execve``, so the program starts, and
refuses what bubblewrap's sandbox refuses: new processes, and memory held outside the address-space limit.

It imports only the standard library (it runs with ``python -I -S -B``, where ``dnncourse`` is not visible).
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["confine"]

_PR_SET_SECCOMP = 22  # linux/prctl.h
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2  # linux/seccomp.h
_INSTRUCTION_BYTES = 8  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k


class _Program(ctypes.Structure):
    """``struct sock_fprog``: the number of instructions and a pointer to them."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def confine(program: bytes) -> None:
    """Install ``program`` (a seccomp filter) on this process, for good; ``OSError`` if the kernel refuses."""
    if not program or len(program) % _INSTRUCTION_BYTES:
        raise ValueError(f"a seccomp filter is a whole number of 8-byte instructions, got {len(program)} bytes")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    instructions = ctypes.create_string_buffer(program, len(program))
    fprog = _Program(len(program) // _INSTRUCTION_BYTES, ctypes.cast(instructions, ctypes.c_void_p))
    for option, argument in (
        (_PR_SET_NO_NEW_PRIVS, 1),
        (_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER),
    ):
        address = ctypes.addressof(fprog) if option == _PR_SET_SECCOMP else 0
        if libc.prctl(option, argument, address, 0, 0) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"prctl({option}) failed: {os.strerror(error)}")


def _read_all(descriptor: int) -> bytes:
    chunks = []
    while chunk := os.read(descriptor, 65536):
        chunks.append(chunk)
    os.close(descriptor)
    return b"".join(chunks)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: confine.py FD PROGRAM [ARG...]", file=sys.stderr)
        return 2
    try:
        confine(_read_all(int(argv[0])))
    except (OSError, ValueError) as error:
        print(f"grader error: cannot apply the seccomp filter: {error}", file=sys.stderr)
        return 1
    os.execv(argv[1], argv[1:])
    return 1  # not reached: execv replaces this process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
