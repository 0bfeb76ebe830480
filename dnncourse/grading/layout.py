"""What a submission's sandbox shows: the interpreter, its libraries, NumPy and PyTorch, and nothing else.

:func:`prepare` finds it once per grading run: a probe process imports NumPy, PyTorch, whatever the
exercises' ``setup`` imports and, when they are installed, the tools students use in their own cells
(:data:`CONVENIENCES`: matplotlib, IPython's ``display``, tqdm; none of them holds an answer), and reports
the files they loaded (``/proc/self/maps``, ``sys.modules``). The
sandbox then shows, read-only and at the same paths, the interpreter and its standard library (the
interpreter's own ``site-packages`` hidden), the folders of the system libraries they load (with the
symbolic links on the way to the dynamic loader recreated), and, under ``/opt/packages``, the
site-packages entries of those packages' distributions and of every distribution they require. Not
``dnncourse``, not its editable-install finder, not the other site-packages entries, not the repository.

The result is a :class:`Layout`, which :mod:`dnncourse.grading.sandbox` turns into a ``bwrap`` command
line. Without a sandbox (``--no-sandbox``) the layout only says where the interpreter and packages are; as another
user (``Settings.run_as``, the Gradescope autograder's fallback) it also opens the runner's files to that user and
carries the seccomp filter.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dnncourse.grading.results import GradingError, Settings
from dnncourse.grading.seccomp import process_filter

__all__ = ["BWRAP_MISSING", "INSIDE_GRADER", "INSIDE_PACKAGES", "Layout", "prepare"]

BWRAP_MISSING = (
    "bubblewrap (the `bwrap` command) is not installed, and the grader runs every submission in its "
    "sandbox. Install it: `sudo apt-get install bubblewrap` (Debian, Ubuntu), `sudo dnf install "
    "bubblewrap` (Fedora), `sudo pacman -S bubblewrap` (Arch). It needs Linux with user namespaces; on "
    "macOS or Windows grade in a Linux machine or container. `--no-sandbox` grades without isolation "
    "(only for notebooks you trust)."
)
INSIDE_GRADER = "/opt/grader"  # runner.py and answers.py, read-only
INSIDE_PACKAGES = "/opt/packages"  # NumPy, PyTorch and what they need
# Shown when installed, so that an honest notebook's plotting or progress-bar line does not fail its exercise.
CONVENIENCES = ("matplotlib", "IPython", "tqdm")
_RUNNER_FILES = (
    Path(__file__).with_name("runner.py"),
    Path(__file__).with_name("confine.py"),  # the seccomp filter without bubblewrap (Settings.run_as)
    Path(__file__).resolve().parents[1] / "exercises" / "answers.py",
)
_PROBE = r"""
import importlib, json, os, sys, sysconfig
before = set(sys.modules)
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
shown = []
for name in json.loads(sys.argv[2]):
    try:
        importlib.import_module(name)
        shown.append(name)
    except Exception:
        pass
import torch
torch.ones(2, 2) @ torch.ones(2, 2)
modules = sorted({getattr(m, "__file__", None) or "" for n, m in list(sys.modules.items()) if n not in before} - {""})
maps = set()
with open("/proc/self/maps") as handle:
    for line in handle:
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith("/"):
            maps.add(fields[5].strip().removesuffix(" (deleted)"))
sites = [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")]
print(json.dumps({"executable": os.path.realpath(sys.executable), "prefix": sys.base_prefix,
                  "stdlib": sysconfig.get_path("stdlib"), "modules": modules, "maps": sorted(maps), "sites": sites,
                  "shown": shown}))
"""


@dataclass(frozen=True)
class Layout:
    """How submissions are started: the interpreter, what the sandbox shows, where the runner is."""

    python: str  # the interpreter (a real path, the same inside the sandbox)
    grader: str  # host folder holding runner.py and answers.py
    packages: tuple[str, ...]  # the runner's package folders (inside the sandbox: /opt/packages)
    bwrap: str | None = None  # None: --no-sandbox
    binds: tuple[tuple[str, str], ...] = ()  # read-only (host path, path inside)
    symlinks: tuple[tuple[str, str], ...] = ()  # (target, path inside)
    hidden: tuple[str, ...] = ()  # folders covered by an empty read-only tmpfs
    seccomp: bytes | None = None
    version: str = ""  # "bubblewrap 0.8.0", recorded in grades.json


def _elf_interpreter(path: str) -> str | None:
    """The program interpreter (dynamic loader) an ELF executable names, e.g. /lib64/ld-linux-x86-64.so.2."""
    with open(path, "rb") as handle:
        header = handle.read(64)
        if header[:4] != b"\x7fELF":
            return None
        wide, order = header[4] == 2, "<" if header[5] == 1 else ">"
        offset = struct.unpack_from(order + ("Q" if wide else "I"), header, 0x20 if wide else 0x1C)[0]
        size, count = struct.unpack_from(order + "HH", header, 0x36 if wide else 0x2A)
        for index in range(count):
            handle.seek(offset + index * size)
            entry = handle.read(size)
            if struct.unpack_from(order + "I", entry, 0)[0] == 3:  # PT_INTERP
                start, length = struct.unpack_from(
                    order + ("QxxxxxxxxxxxxxxxxQ" if wide else "IxxxxxxxxI"), entry, 8 if wide else 4
                )
                handle.seek(start)
                return handle.read(length).rstrip(b"\0").decode()
    return None


def _expose(path: str, links: dict[str, str]) -> str:
    """Record the symbolic links on the way to ``path`` (to recreate them inside); return its real path."""
    parts = PurePosixPath(path).parts
    current = "/"
    for index, part in enumerate(parts[1:], start=1):
        candidate = os.path.join(current, part)
        if os.path.islink(candidate):
            target = os.readlink(candidate)
            links[candidate] = target
            resolved = os.path.normpath(os.path.join(current, target))
            return _expose(os.path.join(resolved, *parts[index + 1 :]), links)
        current = candidate
    return current


def _distribution_entries(modules: list[str]) -> list[str]:
    """The top-level site-packages entries of the distributions providing ``modules``, and of all they require."""
    import importlib.metadata as metadata

    provides = metadata.packages_distributions()
    entries, seen, queue = [], set(), [d for module in modules for d in provides.get(module, [])]
    while queue:
        name = re.sub(r"[-_.]+", "-", queue.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for top in sorted({PurePosixPath(str(f)).parts[0] for f in distribution.files or []}):
            if top not in ("..", "__pycache__") and not top.endswith(".pth") and not top.startswith("__editable__"):
                entries.append(os.path.realpath(distribution.locate_file(top)))
        for requirement in distribution.requires or []:
            if "extra" in requirement.partition(";")[2]:
                continue  # optional features are not needed
            match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
            if match:
                queue.append(match[1])
    return entries


def _probe(settings: Settings, modules: list[str], work: Path, optional: tuple[str, ...]) -> dict[str, Any]:
    """What importing ``modules`` (NumPy, PyTorch, ...) and the ``optional`` ones that are installed loads,
    found by doing it once in this interpreter (``shown``: the optional modules it could import)."""
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", _PROBE, json.dumps(modules), json.dumps(optional)],
            capture_output=True,
            text=True,
            timeout=settings.startup_timeout,
            env={"PATH": os.defpath, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(work)},
        )
    except subprocess.TimeoutExpired:
        raise GradingError(f"importing NumPy and PyTorch took more than {settings.startup_timeout:g} s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-1500:]
        raise GradingError(
            f"the grading process cannot run here (it must import {', '.join(modules)}); its output:\n{tail}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _bwrap_version(bwrap: str) -> str:
    try:
        done = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10)
        return done.stdout.strip() or "bubblewrap"
    except (OSError, subprocess.SubprocessError):
        return "bubblewrap"


def _open_to_runner(work: Path, grader: Path) -> None:
    """Without a sandbox, as another user (``Settings.run_as``): that user may pass through ``work`` (not list
    it) and read the runner's files; each submission's folders are handed to it by :mod:`~.sandbox`."""
    work.chmod(0o711)
    grader.chmod(0o755)
    for path in grader.iterdir():
        path.chmod(0o644)


def prepare(
    settings: Settings, work: Path, modules: tuple[str, ...] = ("numpy", "torch"), optional: tuple[str, ...] = ()
) -> Layout:
    """The layout of this run's sandboxes, which show ``modules`` and what they need (the exercises' imports),
    and, if they can be imported here, the :data:`CONVENIENCES` and the ``optional`` modules (the chapters'
    own imports).

    ``GradingError`` if bubblewrap is missing and a sandbox is wanted, or if the modules cannot be imported.
    """
    modules = sorted({"numpy", "torch", *modules})
    bwrap = shutil.which("bwrap") if settings.sandbox else None
    if settings.sandbox and bwrap is None:
        raise GradingError(BWRAP_MISSING)
    grader = work / "grader"
    grader.mkdir()
    for source in _RUNNER_FILES:
        shutil.copyfile(source, grader / source.name)
    probe = _probe(settings, modules, work, tuple(sorted({*CONVENIENCES, *optional} - {"dnncourse"})))
    modules = sorted({*modules, *probe["shown"]})
    sites = [os.path.realpath(site) for site in probe["sites"]]
    if not settings.sandbox and settings.run_as is not None:
        _open_to_runner(work, grader)
        return Layout(probe["executable"], str(grader), tuple(sites), seccomp=process_filter())
    if not settings.sandbox:
        return Layout(probe["executable"], str(grader), tuple(sites))
    python, stdlib = probe["executable"], os.path.realpath(probe["stdlib"])
    prefix = os.path.realpath(probe["prefix"])
    binds: dict[str, str] = {python: python, stdlib: stdlib}
    links: dict[str, str] = {}
    packages: dict[str, str] = {}
    loaded = [os.path.realpath(p) for p in [*probe["maps"], *probe["modules"]]]
    for path in [*_distribution_entries(modules), *loaded]:
        site = next((s for s in sites if path.startswith(s + os.sep)), None)
        if site is not None:
            top = os.path.join(site, os.path.relpath(path, site).split(os.sep)[0])
            packages.setdefault(os.path.basename(top), top)
        elif path.startswith(stdlib + os.sep) or path == python:
            continue
        elif path.startswith(prefix + os.sep):
            binds[path] = path  # e.g. libpython3.11.so next to the standard library
        elif path.endswith(".so") or ".so." in os.path.basename(path) or path.startswith(("/usr/lib", "/lib")):
            folder = os.path.dirname(path)
            binds[folder] = folder  # system libraries (the C library, libstdc++, ...)
    interpreter = _elf_interpreter(python)
    if interpreter:
        real = _expose(interpreter, links)
        binds.setdefault(os.path.dirname(real), os.path.dirname(real))
    for host in [p for p in packages.values() if os.path.exists(p)]:
        binds[host] = f"{INSIDE_PACKAGES}/{os.path.basename(host)}"
    hidden = tuple(
        p for p in (os.path.join(stdlib, "site-packages"), os.path.join(stdlib, "dist-packages")) if os.path.isdir(p)
    )
    ordered = sorted(binds.items(), key=lambda item: (item[1].count("/"), item[1]))
    return Layout(
        python,
        str(grader),
        (INSIDE_PACKAGES,),
        bwrap,
        tuple(ordered),
        tuple((t, p) for p, t in links.items()),
        hidden,
        process_filter(),
        _bwrap_version(bwrap),
    )
