"""Build the static site once per test run (shared by every xdist worker through a file lock)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "_build" / "test-site"
HTML = OUTPUT / "_build" / "html"


def build_site() -> subprocess.CompletedProcess:
    """Run `jupyter-book build` with warnings as errors into _build/test-site (once per pytest run)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID", f"pid-{os.getpid()}")
    stamp, log = OUTPUT / "run-id", OUTPUT / "build.log"
    with open(OUTPUT / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == run_id:
            returncode = int((OUTPUT / "returncode").read_text())
            return subprocess.CompletedProcess([], returncode, log.read_text(), "")
        jupyter_book = Path(sys.executable).with_name("jupyter-book")
        result = subprocess.run(
            [str(jupyter_book), "build", str(ROOT), "--path-output", str(OUTPUT), "-W", "-n", "--keep-going"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=900,
        )
        log.write_text(result.stdout + result.stderr)
        (OUTPUT / "returncode").write_text(str(result.returncode))
        stamp.write_text(run_id)
        return subprocess.CompletedProcess(result.args, result.returncode, result.stdout + result.stderr, "")
