"""Every figure of the book has alt text (a description for screen readers and for when images fail).

MyST-NB takes a figure's alt text from its cell's metadata ``mystnb.image.alt``; the browser tests check
the built pages, this test checks the notebooks directly (fast, and without a browser).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SOLUTIONS = Path(__file__).resolve().parents[1] / "book" / "solutions"


def _figure_cells(path: Path) -> list[tuple[int, dict]]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [
        (index, cell)
        for index, cell in enumerate(cells)
        if cell["cell_type"] == "code" and any("image/png" in output.get("data", {}) for output in cell["outputs"])
    ]


@pytest.mark.parametrize("path", sorted(SOLUTIONS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_figure_has_alt_text(path):
    missing = []
    for index, cell in _figure_cells(path):
        alt = cell["metadata"].get("mystnb", {}).get("image", {}).get("alt", "")
        if len(alt.strip()) < 20:
            first_line = "".join(cell["source"]).splitlines()[0] if cell["source"] else ""
            missing.append(f"cell {index} ({first_line!r})")
    assert not missing, f"{path.name}: figures without alt text (metadata mystnb.image.alt): {missing}"
