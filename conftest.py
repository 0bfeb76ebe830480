"""Test-suite wiring: `pytest` runs the unit tests in tests/ and nbval on every notebook under book/.

- book/solutions/*.ipynb (the solutions editions, whose stored outputs the site shows) are checked in
  nbval's strict mode: every text output must equal the stored one (tests/nbval_sanitize.cfg lists the
  few patterns that truly vary).
- book/*.ipynb (the generated student editions) run top to bottom with exercise stubs in lax mode:
  no cell may raise, outputs are not compared.

Kernels get the same environment as `dnncourse execute` (one thread, no progress bars), so they
reproduce the stored numbers.
"""

from __future__ import annotations

import os
from pathlib import Path

from dnncourse.authoring.notebooks import EXECUTION_ENV

ROOT = Path(__file__).parent
BOOK = ROOT / "book"
SOLUTIONS = BOOK / "solutions"


def pytest_configure(config):
    os.environ.update(EXECUTION_ENV)  # inherited by every notebook kernel nbval starts
    option = config.option
    if hasattr(option, "nbval_current_env"):
        option.nbval_current_env = True  # run notebooks with this interpreter, whatever kernels are installed
        if str(option.nbval_cell_timeout) == "2000":  # nbval's default; a stuck kernel should fail, not hang CI
            option.nbval_cell_timeout = 300
        if option.nbval_sanitize_with is None:
            option.nbval_sanitize_with = str(ROOT / "tests" / "nbval_sanitize.cfg")


def pytest_collect_file(file_path, parent):
    option = parent.config.option
    if file_path.suffix != ".ipynb" or option.nbval or option.nbval_lax:
        return None  # explicit --nbval/--nbval-lax: nbval's own hook collects
    if ".ipynb_checkpoints" in file_path.parts or "_build" in file_path.parts:
        return None
    if file_path.parent not in (BOOK, SOLUTIONS):
        return None
    from nbval.plugin import IPyNbFile

    notebook = IPyNbFile.from_parent(parent, path=file_path)
    notebook.compare_outputs = file_path.parent == SOLUTIONS  # strict for solutions, lax for student editions
    return notebook
