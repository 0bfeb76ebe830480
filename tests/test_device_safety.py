"""Checks, without a GPU, for patterns that work on a CPU and break on a Colab GPU.

The chapters must run unchanged on the device `dnncourse.device()` picks. On a GPU, `.numpy()` on a
CUDA tensor raises, `.cuda()` fails on a CPU-only machine, and a hard-coded device ignores the choice.
A random draw for tensors on the GPU needs a generator on the GPU ("Expected a 'cuda' device type for
generator"): every generator the library and the chapters create says on which device it lives, and
the library's random functions check that a generator they are given lives on the tensors' device
(tested here on PyTorch's "meta" device, which stands in for a GPU).
"""

import ast
import re
from pathlib import Path

import nbformat
import pytest
import torch

from dnncourse import activations, dropout, init

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book" / "solutions").glob("*.ipynb"))
LIBRARY = sorted((ROOT / "dnncourse").rglob("*.py"))

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
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "x = model(X).detach().numpy()\ny = x.cpu().numpy()\nm = model.cuda()\nd = torch.device('cuda')"
            )
        ]
    )
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    problems = find_device_unsafe_code(path)
    assert len(problems) == 3, problems
    assert "without .cpu()" in problems[0] and ".cuda()" in problems[1] and "hard-coded" in problems[2]


# ------------------------------------------------------------------------------------ generators


def _is_generator_call(node: ast.Call) -> str | None:
    """``"torch"`` for ``torch.Generator(...)``, ``"dnncourse"`` for ``dnncourse.generator(...)``, else None."""
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        if func.value.id == "torch" and func.attr == "Generator":
            return "torch"
        if func.value.id == "dnncourse" and func.attr == "generator":
            return "dnncourse"
    return None


def generators_without_a_device(source: str, where: str) -> list[str]:
    """Every ``torch.Generator()`` / ``dnncourse.generator(seed)`` in ``source`` that does not name its device."""
    lines = [line if not line.lstrip().startswith(("%", "!")) else "" for line in source.splitlines()]  # magics
    problems = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(node, ast.Call):
            continue
        kind = _is_generator_call(node)
        has_device = any(k.arg == "device" for k in node.keywords)
        positional_device = {"torch": 1, "dnncourse": 2}.get(kind, 0)
        if kind and not has_device and len(node.args) < positional_device:
            problems.append((node.lineno, f"{where}, line {node.lineno}: {ast.unparse(node)} does not say its device"))
    return [problem for _, problem in sorted(problems)]


def _chapter_code(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            yield f"{path.name}, cell {index}", cell.source


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_library_generators_say_their_device(path):
    assert generators_without_a_device(path.read_text(), str(path.relative_to(ROOT))) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_generators_say_their_device(path):
    problems = [p for where, source in _chapter_code(path) for p in generators_without_a_device(source, where)]
    assert problems == [], "create generators with dnncourse.generator(seed, device) (the tensors' device)"


def test_the_generator_scan_catches_a_generator_without_a_device():
    source = (
        "g = torch.Generator().manual_seed(0)\n"  # flagged: a CPU generator by default
        "h = dnncourse.generator(SEED)\n"  # flagged: CPU by default
        "%matplotlib inline\n"
        "ok1 = torch.Generator(device=device)\n"
        "ok2 = dnncourse.generator(SEED, device)\n"
        "ok3 = dnncourse.generator(1, device='cpu')\n"
    )
    problems = generators_without_a_device(source, "control")
    assert len(problems) == 2, problems
    assert "line 1" in problems[0] and "torch.Generator()" in problems[0] and "line 2" in problems[1]


META = torch.device("meta")  # no data, no kernels: a device that is not the CPU, available everywhere


@pytest.mark.parametrize(
    "draw",
    [
        lambda g: init.normal_(torch.empty(3, 4, device=META), generator=g),
        lambda g: init.uniform_(torch.empty(3, 4, device=META), generator=g),
        lambda g: init.lecun_normal_(torch.empty(3, 4, device=META), generator=g),
        lambda g: init.lecun_uniform_(torch.empty(3, 4, device=META), generator=g),
        lambda g: init.xavier_normal_(torch.empty(3, 4, device=META), generator=g),
        lambda g: init.xavier_uniform_(torch.empty(3, 4, device=META), generator=g),
        lambda g: init.kaiming_normal_(torch.empty(3, 4, device=META), generator=g),
        lambda g: init.kaiming_uniform_(torch.empty(3, 4, device=META), generator=g),
        lambda g: init.orthogonal_(torch.empty(3, 4, device=META), generator=g),
        lambda g: dropout.dropout(torch.ones(3, 4, device=META), 0.5, generator=g),
        lambda g: dropout.Dropout(0.5, generator=g)(torch.ones(3, 4, device=META)),
        lambda g: activations.rrelu(torch.ones(3, 4, device=META), training=True, generator=g),
        lambda g: activations.RReLU(generator=g).train()(torch.ones(3, 4, device=META)),
    ],
)
def test_random_functions_reject_a_generator_on_another_device(draw):
    draw(None)  # the global generator follows the device by itself
    with pytest.raises(ValueError, match=r"generator must be on the tensors' device \(meta\)"):
        draw(torch.Generator(device="cpu"))  # CUDA's "Expected a 'cuda' device type for generator"
