"""The machinery that verifies the chapters on other CPUs and with other seeds (conftest.py).

- Each CPU profile really changes the instruction set PyTorch dispatches to.
- The notebook runs conftest.py collects start their kernels with the profile's or the seed's
  environment (checked on a throw-away book laid out like ours, in a sub-process pytest).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from conftest import CPU_PROFILES  # noqa: E402

_PROBE = """import os, pathlib, torch
probe = pathlib.Path(os.environ["PROBE_DIR"])
name = os.environ.get("ATEN_CPU_CAPABILITY", "native") + "-" + os.environ.get("DNNCOURSE_SEED", "none")
(probe / name).write_text(torch.backends.cpu.get_cpu_capability())
print("probed")"""


def _capability(env: dict[str, str]) -> str:
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    result = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def _cpu_has(flag: str) -> bool:
    try:
        return flag in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def test_nosimd_profile_forces_the_default_kernels():
    assert _capability(CPU_PROFILES["nosimd"]) == "DEFAULT"


@pytest.mark.skipif(not _cpu_has("avx2"), reason="this CPU has no AVX2")
def test_avx2_profile_forces_avx2_kernels():
    assert _capability(CPU_PROFILES["avx2"]) == "AVX2"


def _notebook(source: str, output: str | None) -> dict:
    outputs = [] if output is None else [{"name": "stdout", "output_type": "stream", "text": [output + "\n"]}]
    cell = {
        "cell_type": "code",
        "execution_count": 1,
        "id": "probe",
        "metadata": {},
        "outputs": outputs,
        "source": source,
    }
    return {
        "cells": [cell],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.mark.slow
def test_every_profile_and_seed_reaches_the_kernel(tmp_path):
    book = tmp_path / "book"
    (book / "solutions").mkdir(parents=True)
    (tmp_path / "tests").mkdir()
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    shutil.copy(ROOT / "tests" / "nbval_sanitize.cfg", tmp_path / "tests" / "nbval_sanitize.cfg")
    (book / "solutions" / "probe.ipynb").write_text(json.dumps(_notebook(_PROBE, "probed")))
    (book / "probe.ipynb").write_text(json.dumps(_notebook(_PROBE, None)))
    probe = tmp_path / "probe"
    probe.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "--rootdir",
            str(tmp_path),
            str(book),
        ],
        cwd=tmp_path,
        env={**os.environ, "PROBE_DIR": str(probe)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    seen = {path.name: path.read_text() for path in probe.iterdir()}
    assert seen["native-none"] == _capability({})
    assert seen["default-none"] == "DEFAULT"
    if _cpu_has("avx2"):
        assert seen["avx2-none"] == "AVX2"
    assert {"native-1", "native-2"} <= set(seen)  # the student edition, once per claim seed


def test_unknown_profile_is_refused(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "0",
            "--cpu-profiles",
            "avx9",
            "--collect-only",
            str(ROOT / "tests" / "test_core.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "avx9" in result.stdout + result.stderr
