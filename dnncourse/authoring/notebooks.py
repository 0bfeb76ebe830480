"""Re-executing the chapter notebooks so that their stored outputs are reproducible.

``dnncourse execute`` runs each solutions notebook (``book/solutions/*.ipynb``) top to bottom in a fresh
kernel, normalizes what varies between runs (cell ids, timing metadata, widget state, split streams),
writes it back in place and regenerates its student edition. Running it twice gives byte-identical files.

The kernel runs with one CPU thread and without progress bars, exactly as the test suite runs it, so
the numbers nbval compares are the numbers stored here.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = [
    "EXECUTION_ENV",
    "CellTiming",
    "ExecutionReport",
    "book_root",
    "repository",
    "setup_cell_source",
    "normalize",
    "write_notebook",
    "execute_notebook",
]

# Environment of every kernel that produces or checks stored outputs (also set by conftest.py).
EXECUTION_ENV = {
    "DNNCOURSE_NO_PROGRESS": "1",  # progress bars are for people, not for stored outputs
    "OMP_NUM_THREADS": "1",  # same thread count everywhere -> same floating-point reductions
    "MKL_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    "DNNCOURSE_CLAIMS": "strict",  # a claim of the text that the run does not support fails (dnncourse.book.claim)
    "DNNCOURSE_DEVICE": "cpu",  # the stored outputs are the CPU run's; the GPU check (.ci/gpu) overrides it
}

_SETUP_MARKER = "# Setup: on Google Colab, install the course library"
_WIDGET_MIME_TYPES = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json")
_KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
_LANGUAGE_INFO = {
    "name": "python",
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}
# Colab opens the notebook on a GPU runtime.
_COLAB_METADATA = {"colab": {"provenance": [], "gpuType": "T4", "toc_visible": True}, "accelerator": "GPU"}


def book_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder (upwards from ``start``) that holds ``_config.yml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file():
            return folder
    raise FileNotFoundError(f"no _config.yml in {here} or any parent folder: run this from the course repository")


def repository(root: Path) -> tuple[str, str]:
    """The repository URL and branch, defined once in ``_config.yml`` (``repository.url``/``branch``)."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text())
    repo = config.get("repository") or {}
    if "url" not in repo:
        raise ValueError(f"{root / '_config.yml'} has no repository.url")
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def setup_cell_source(root: Path) -> str:
    """The first cell of every chapter: installs ``dnncourse`` on Colab only, keeping Colab's torch."""
    url, branch = repository(root)
    return (
        f"{_SETUP_MARKER} (Colab's own PyTorch is kept).\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        f'    package = "dnncourse @ git+{url}@{branch}"\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)'
    )


def _coalesce_streams(outputs: list) -> list:
    """Merge consecutive stream outputs of the same name (how they are split depends on timing)."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.get("output_type") == "stream"
            and previous is not None
            and previous.get("output_type") == "stream"
            and previous.get("name") == output.get("name")
        ):
            previous["text"] += output["text"]
        else:
            merged.append(output)
    return merged


def normalize(nb: nbformat.NotebookNode, root: Path | None = None) -> nbformat.NotebookNode:
    """Make a notebook's bytes depend only on its content: fixed ids and metadata, no timings or widget state."""
    nb.nbformat, nb.nbformat_minor = 4, 5
    colab = {k: v for k, v in _COLAB_METADATA.items()}
    nb.metadata = nbformat.from_dict({"kernelspec": _KERNELSPEC, "language_info": _LANGUAGE_INFO, **colab})
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index:03d}"
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        for output in cell.outputs:
            data = output.get("data", {})
            for mime in _WIDGET_MIME_TYPES:
                data.pop(mime, None)
        cell.outputs = _coalesce_streams(cell.outputs)
    if root is not None and nb.cells and nb.cells[0].cell_type == "code":
        if nb.cells[0].source.startswith(_SETUP_MARKER):
            nb.cells[0].source = setup_cell_source(root)
            nb.cells[0].metadata["tags"] = ["remove-cell"]  # runs on Colab; the site shows no install step
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write a notebook the one way the project writes them (nbformat 4, one trailing newline).

    The file is replaced atomically: the text goes to a temporary file in the same folder, which then
    takes the notebook's place with ``os.replace``, so an interruption never leaves a half-written
    notebook (someone's work) behind. An existing notebook keeps its permissions.
    """
    nbformat.validate(nb)
    path = Path(path)
    text = nbformat.writes(nb, version=4) + "\n"
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        if path.exists():
            os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclass
class CellTiming:
    index: int
    seconds: float
    first_line: str


@dataclass
class ExecutionReport:
    path: Path
    seconds: float
    cells: list[CellTiming] = field(default_factory=list)

    @property
    def slowest(self) -> CellTiming | None:
        return max(self.cells, key=lambda c: c.seconds, default=None)


def _cell_seconds(cell: nbformat.NotebookNode) -> float:
    from datetime import datetime

    execution = cell.metadata.get("execution", {})
    start, end = execution.get("iopub.execute_input"), execution.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def execute_notebook(path: Path, timeout: int = 300, root: Path | None = None) -> ExecutionReport:
    """Execute ``path`` in place in a fresh kernel (working directory: its folder) and normalize it."""
    from nbclient import NotebookClient

    path = Path(path).resolve()
    root = root or book_root(path.parent)
    nb = nbformat.read(path, as_version=4)
    normalize(nb, root)  # syncs the setup cell before running it
    os.environ.update(EXECUTION_ENV)  # the kernel inherits this process's environment
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=True,
        allow_errors=False,
        startup_timeout=120,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    report = ExecutionReport(path, seconds)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            first_line = cell.source.splitlines()[0] if cell.source else ""
            report.cells.append(CellTiming(index, _cell_seconds(cell), first_line[:60]))
    write_notebook(normalize(nb, root), path)
    return report
