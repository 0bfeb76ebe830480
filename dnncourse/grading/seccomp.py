"""A seccomp filter that lets a submission start threads but no processes, nor hold memory outside its limit.

``RLIMIT_NPROC`` limits processes per user, and the kernel does not apply it to a sandbox started by
root (its user maps to root outside). So the sandbox forbids new processes outright: ``fork``,
``vfork`` and ``clone`` without ``CLONE_THREAD`` fail with ``EPERM``, and ``clone3`` (whose flags a
filter cannot read) fails with ``ENOSYS``, which makes the C library fall back to ``clone`` for threads.
Threads stay allowed (PyTorch and NumPy may use them); their number is bounded by the memory limit.

The memory limit (``RLIMIT_AS``) counts what a process maps, and some kernel objects hold memory that
is never mapped: a ``memfd_create`` file, a System V shared-memory segment (``shmget``) or message queue
(``msgget``), and the buffers of sockets (a pair of Unix sockets queues megabytes: a few hundred pairs
held 4 GB on the development machine). A loop that fills one after another would hold the host's memory
without bound, so these calls fail with ``EPERM``: the sandbox has no network to use a socket for, and
NumPy and PyTorch do not need them on a CPU.
System calls of another architecture (32-bit calls on a 64-bit kernel) are refused.

The filter is a classic BPF program (``struct sock_filter`` entries) that ``bwrap --seccomp FD`` loads.
"""

from __future__ import annotations

import errno
import platform
import struct

__all__ = ["process_filter"]

# BPF instruction classes and fields (linux/filter.h, linux/bpf_common.h).
_LOAD_WORD = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_JUMP_EQUAL = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
_JUMP_AT_LEAST = 0x05 | 0x30 | 0x00  # BPF_JMP | BPF_JGE | BPF_K
_JUMP_ANY_BIT = 0x05 | 0x40 | 0x00  # BPF_JMP | BPF_JSET | BPF_K
_RETURN = 0x06 | 0x00  # BPF_RET | BPF_K

# seccomp return values (linux/seccomp.h) and the offsets of struct seccomp_data.
_ALLOW = 0x7FFF0000
_KILL = 0x80000000  # SECCOMP_RET_KILL_PROCESS
_ERRNO = 0x00050000
_NR, _ARCH, _ARG0 = 0, 4, 16
_CLONE_THREAD = 0x00010000

# (audit architecture, clone, clone3, calls refused: those that always create a process, and those that hold
# memory outside the address-space limit)
_ARCHITECTURES = {
    # fork, vfork; memfd_create, shmget, msgget, socket, socketpair
    "x86_64": (0xC000003E, 56, 435, (57, 58, 319, 29, 68, 41, 53)),
    "aarch64": (0xC00000B7, 220, 435, (279, 194, 186, 198, 199)),  # memfd_create, shmget, msgget, socket, socketpair
}
_X32_BIT = 0x40000000  # x86_64 system calls of the x32 ABI have this bit set


def _instruction(code: int, k: int, jump_true: int = 0, jump_false: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jump_true, jump_false, k)


def process_filter(machine: str | None = None) -> bytes | None:
    """The filter for this machine's architecture (``platform.machine()``), or None if it is not known."""
    machine = machine or platform.machine()
    if machine not in _ARCHITECTURES:
        return None
    arch, clone, clone3, refused = _ARCHITECTURES[machine]
    deny = _ERRNO | errno.EPERM
    # Built back to front would need jump offsets counted by hand; instead each check jumps to one of the
    # three return instructions at the end, whose positions are known once the body is laid out.
    body: list[tuple[int, int, str | int, str | int]] = [
        (_LOAD_WORD, _ARCH, 0, 0),
        (_JUMP_EQUAL, arch, 0, "kill"),
        (_LOAD_WORD, _NR, 0, 0),
    ]
    if machine == "x86_64":
        body.append((_JUMP_AT_LEAST, _X32_BIT, "deny", 0))
    body += [(_JUMP_EQUAL, number, "deny", 0) for number in refused]
    body += [
        (_JUMP_EQUAL, clone3, "enosys", 0),
        (_JUMP_EQUAL, clone, 0, "allow"),
        (_LOAD_WORD, _ARG0, 0, 0),  # the low 32 bits of clone's flags
        (_JUMP_ANY_BIT, _CLONE_THREAD, "allow", "deny"),
    ]
    targets = {"allow": len(body), "deny": len(body) + 1, "enosys": len(body) + 2, "kill": len(body) + 3}
    program = b""
    for position, (code, k, jump_true, jump_false) in enumerate(body):
        # A jump's offset counts the instructions it skips after this one.
        true, false = (targets[t] - position - 1 if isinstance(t, str) else t for t in (jump_true, jump_false))
        program += _instruction(code, k, true, false)
    program += _instruction(_RETURN, _ALLOW)
    program += _instruction(_RETURN, deny)
    program += _instruction(_RETURN, _ERRNO | errno.ENOSYS)
    program += _instruction(_RETURN, _KILL)
    return program
