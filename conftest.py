"""Test-suite wiring: `pytest` runs the unit tests in tests/ and nbval on every notebook under book/.

- book/solutions/*.ipynb (the solutions editions, whose stored outputs the site shows) are checked in
  nbval's strict mode (every text output must equal the stored one; tests/nbval_sanitize.cfg lists the
  few patterns that truly vary), once per CPU profile of ``--cpu-profiles``: natively, and with
  PyTorch, MKL, oneDNN and OpenBLAS forced onto AVX2 and onto no SIMD at all, which is how a laptop, a
  CI service or an older CPU rounds. The stored outputs must be the same on all of them.
- book/*.ipynb (the generated student editions) run top to bottom with exercise stubs in lax mode
  (no cell may raise; outputs are not compared), once per seed of ``--claim-seeds``
  (``DNNCOURSE_SEED``): the chapters' hidden claim cells (``dnncourse.book.claim``) must hold for other
  random draws too.
- ``--device cuda`` (what ``.ci/gpu`` runs on a machine with a GPU) runs both editions lax on the GPU,
  with the claims checked instead of the digits.

Kernels get the same environment as ``dnncourse execute`` (one thread, no progress bars, claims strict),
so they reproduce the stored numbers. Test ids name the variant: ``book/solutions/03_optimizers.ipynb::avx2::Cell 12``,
``book/03_optimizers.ipynb::seed=1::Cell 12``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dnncourse.authoring.notebooks import EXECUTION_ENV

ROOT = Path(__file__).parent
BOOK = ROOT / "book"
SOLUTIONS = BOOK / "solutions"

# What each CPU profile sets (see the README, "How outputs are verified").
CPU_PROFILES: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "OPENBLAS_CORETYPE": "Haswell",
    },
    "nosimd": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "OPENBLAS_CORETYPE": "Nehalem",
    },
}


def pytest_addoption(parser):
    group = parser.getgroup("dnncourse", "dnncourse: how the chapters are verified")
    group.addoption(
        "--cpu-profiles",
        default="native,avx2,nosimd",
        help="comma-separated CPU profiles to run the strict solutions suite under "
        f"({', '.join(CPU_PROFILES)}; default: all three; empty: none)",
    )
    group.addoption(
        "--claim-seeds",
        default="1,2",
        help="comma-separated DNNCOURSE_SEED values to run the student editions with, claims strict "
        "(default 1,2; empty: none)",
    )
    group.addoption(
        "--device",
        default="cpu",
        choices=("cpu", "cuda"),
        help="cuda: run every chapter on the GPU, lax, with the claims checked (see .ci/gpu)",
    )


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def pytest_configure(config):
    os.environ.update(EXECUTION_ENV)  # inherited by every notebook kernel nbval starts
    os.environ["DNNCOURSE_DEVICE"] = config.option.device
    unknown = [name for name in _names(config.option.cpu_profiles) if name not in CPU_PROFILES]
    if unknown:
        raise pytest.UsageError(f"--cpu-profiles: unknown profile(s) {unknown}; known: {', '.join(CPU_PROFILES)}")
    for seed in _names(config.option.claim_seeds):
        if not seed.isdigit():
            raise pytest.UsageError(f"--claim-seeds must be non-negative integers, got {seed!r}")
    option = config.option
    if hasattr(option, "nbval_current_env"):
        option.nbval_current_env = True  # run notebooks with this interpreter, whatever kernels are installed
        if str(option.nbval_cell_timeout) == "2000":  # nbval's default; a stuck kernel should fail, not hang CI
            option.nbval_cell_timeout = 300
        if option.nbval_sanitize_with is None:
            option.nbval_sanitize_with = str(ROOT / "tests" / "nbval_sanitize.cfg")


def _variants(file_path: Path, config) -> list[tuple[str, dict[str, str], bool]]:
    """(label, kernel environment, compare outputs) for each run of this notebook."""
    if config.option.device == "cuda":
        return [("cuda", {}, False)]
    if file_path.parent == SOLUTIONS:
        return [(name, CPU_PROFILES[name], True) for name in _names(config.option.cpu_profiles)]
    return [(f"seed={seed}", {"DNNCOURSE_SEED": seed}, False) for seed in _names(config.option.claim_seeds)]


def pytest_collect_file(file_path, parent):
    option = parent.config.option
    if file_path.suffix != ".ipynb" or option.nbval or option.nbval_lax:
        return None  # explicit --nbval/--nbval-lax: nbval's own hook collects
    if ".ipynb_checkpoints" in file_path.parts or "_build" in file_path.parts:
        return None
    if file_path.parent not in (BOOK, SOLUTIONS):
        return None
    return NotebookRuns.from_parent(parent, path=file_path)


class NotebookRuns(pytest.File):
    """The runs of one notebook: one nbval collector per CPU profile (solutions) or seed (student editions)."""

    def collect(self):
        from nbval.plugin import IPyNbFile

        class VariantNotebook(IPyNbFile):
            """nbval's notebook collector, whose kernel starts with extra environment variables."""

            kernel_env: dict[str, str] = {}

            def setup(self):
                saved = {name: os.environ.get(name) for name in self.kernel_env}
                os.environ.update(self.kernel_env)  # the kernel inherits the environment it starts with
                try:
                    super().setup()
                finally:
                    for name, value in saved.items():
                        if value is None:
                            os.environ.pop(name, None)
                        else:
                            os.environ[name] = value

        for label, env, strict in _variants(self.path, self.config):
            notebook = VariantNotebook.from_parent(self, path=self.path, name=label, nodeid=f"{self.nodeid}::{label}")
            notebook.kernel_env = env
            notebook.compare_outputs = strict
            yield notebook
