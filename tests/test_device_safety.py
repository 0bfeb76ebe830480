"""A static check over every chapter's code for patterns that work on a CPU and break on a Colab GPU.

The chapters must run unchanged on the device `dnncourse.device()` picks. On a GPU, `.numpy()` on a
CUDA tensor raises, `.cuda()` fails on a CPU-only machine, and a hard-coded device ignores the choice.
"""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book" / "solutions").glob("*.ipynb"))

# `.numpy()` must come right after `.cpu()` (possibly with .detach()/.double()/.float()/.clone() between).
_NUMPY_CALL = re.compile(r"\.numpy\(\)")
_CPU_BEFORE = re.compile(r"\.cpu\(\)(\.(detach|double|float|clone|long|int)\(\))*$")
_FORBIDDEN = {
    r"\.cuda\(": "use .to(device) with device = dnncourse.device(), not .cuda()",
    r"""device\s*=\s*["']cuda""": "use dnncourse.device(), not a hard-coded 'cuda'",
    r"""torch\.device\(\s*["']cuda""": "use dnncourse.device(), not a hard-coded CUDA device",
    r"torch\.set_default_device": "do not change the default device in a chapter",
}


def _code_lines(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for number, line in enumerate(cell.source.splitlines(), start=1):
                yield f"{path.name}, cell {index}, line {number}", line.split("#")[0]


def find_device_unsafe_code(path):
    problems = []
    for where, line in _code_lines(path):
        for match in _NUMPY_CALL.finditer(line):
            if not _CPU_BEFORE.search(line[: match.start()]):
                problems.append(f"{where}: .numpy() without .cpu() first: {line.strip()}")
        for pattern, advice in _FORBIDDEN.items():
            if re.search(pattern, line):
                problems.append(f"{where}: {advice}: {line.strip()}")
    return problems


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_code_is_device_safe(path):
    assert find_device_unsafe_code(path) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_uses_the_device_dnncourse_picks(path):
    source = "\n".join(line for _, line in _code_lines(path))
    if re.search(r"\b(mlp|nn\.Module|nn\.Sequential|nn\.Linear)\(", source):
        assert "dnncourse.device()" in source, "create models and data on device = dnncourse.device()"


def test_the_check_catches_unsafe_code(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "x = model(X).detach().numpy()\ny = x.cpu().numpy()\nm = model.cuda()\nd = torch.device('cuda')"
    )])
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    problems = find_device_unsafe_code(path)
    assert len(problems) == 3, problems
    assert "without .cpu()" in problems[0] and ".cuda()" in problems[1] and "hard-coded" in problems[2]
