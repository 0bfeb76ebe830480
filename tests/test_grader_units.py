"""The grader's parts, one by one: reading untrusted files, translating IPython, choosing what runs,
encoding answers, the seccomp filter and the sandbox's view of the file system."""

from __future__ import annotations

import json
import os
import platform
import struct
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import numpy as np
import pytest
from test_grader_support import notebook

from dnncourse.exercises import all_exercises, marked_exercise
from dnncourse.exercises.answers import answers_archive, plain_data, read_answers, to_plain
from dnncourse.grading import layout, program, seccomp
from dnncourse.grading.judge import read_answers_file
from dnncourse.grading.notebooks import Cell, Notebook, find_submissions, normalized, parse_notebook, read_file

# ----------------------------------------------------------------------------- reading untrusted files


def test_read_file_refuses_links_fifos_folders_and_large_files_without_blocking(tmp_path):
    (tmp_path / "real.ipynb").write_text("{}")
    (tmp_path / "link.ipynb").symlink_to(tmp_path / "real.ipynb")
    os.mkfifo(tmp_path / "fifo.ipynb")
    (tmp_path / "folder.ipynb").mkdir()
    (tmp_path / "big.ipynb").write_bytes(b"x" * 2000)
    assert read_file(tmp_path / "real.ipynb", 100) == b"{}"
    with pytest.raises(ValueError, match="symbolic link"):
        read_file(tmp_path / "link.ipynb", 100)
    finished = []
    reader = threading.Thread(
        target=lambda: finished.append(pytest.raises(ValueError, read_file, tmp_path / "fifo.ipynb", 100))
    )
    reader.start()
    reader.join(5)
    assert finished, "opening a FIFO must not wait for a writer"
    assert "not a regular file" in str(finished[0].value)
    with pytest.raises(ValueError, match="not a regular file"):
        read_file(tmp_path / "folder.ipynb", 100)
    with pytest.raises(ValueError, match="larger than"):
        read_file(tmp_path / "big.ipynb", 1000)


@pytest.mark.parametrize(
    "data, words",
    [
        (
            b'{"cells": [{"cell_type": "code", "source": ["x = 1\\n", null]}]}',
            "source of cell 1 is not text (null in it)",
        ),
        (b'{"cells": [{"cell_type": "code", "source": "x = \'\\ud800\'"}]}', "lone surrogate"),
        (b'{"cells": [{"cell_type": "code", "source": 42}]}', "not text (something else in it)"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"cells": [', "invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"cells": {}}', "no list of cells"),
        (b'{"cells": ["a string"]}', "cell 1 has no cell_type"),
    ],
)
def test_malformed_notebooks_raise_a_readable_reason(data, words):
    with pytest.raises(ValueError, match="not a valid notebook") as error:
        parse_notebook(data)
    assert words in str(error.value)


def test_a_lone_surrogate_in_markdown_is_harmless_and_the_chapter_is_read():
    data = json.dumps(
        {
            "cells": [
                {"cell_type": "markdown", "source": "\ud800"},
                {"cell_type": "code", "source": ["a = 1\n", "b = 2"]},
            ],
            "metadata": {"dnncourse": {"chapter": "getting_started"}},
        }
    ).encode()
    parsed = parse_notebook(data)
    assert parsed.chapter == "getting_started" and parsed.code_cells == [Cell(2, "code", "a = 1\nb = 2")]
    for chapter in ("../../etc", 3, None, "x" * 200):
        bad = json.dumps({"cells": [], "metadata": {"dnncourse": {"chapter": chapter}}}).encode()
        assert parse_notebook(bad).chapter is None


def test_find_submissions_handles_undecodable_names_checkpoints_and_linked_folders(tmp_path):
    root = os.fsencode(tmp_path)
    for name in (b"a.ipynb", b"caf\xe9.ipynb", b"notes.txt"):
        open(os.path.join(root, name), "w").close()
    os.makedirs(os.path.join(root, b"sub", b".ipynb_checkpoints"))
    open(os.path.join(root, b"sub", b"b.ipynb"), "w").close()
    open(os.path.join(root, b"sub", b".ipynb_checkpoints", b"b-checkpoint.ipynb"), "w").close()
    os.symlink(tmp_path / "sub", tmp_path / "linked")
    found = find_submissions(tmp_path)
    assert [name for name, _ in found] == ["a.ipynb", "caf\\xe9.ipynb", "sub/b.ipynb"]
    assert found[1][1] == os.path.join(root, b"caf\xe9.ipynb")


def test_the_marker_is_read_by_one_function_for_release_and_grader():
    assert marked_exercise("# EXERCISE: softmax\ndef softmax(x): ...") == "softmax"
    assert marked_exercise("\n%%time\n!ls\n#EXERCISE:   a.b-c_1  \nx") == "a.b-c_1"
    assert marked_exercise("x = 1  # EXERCISE: c") is None
    assert marked_exercise("# Exercise: softmax") is None
    assert marked_exercise("") is None


# ----------------------------------------------------------------------------- what runs


@pytest.mark.parametrize(
    "source, expected",
    [
        ("x = (a\n     != b)", "x = (a\n     != b)"),
        ("%time y = f(1)\nprint(y)", "y = f(1)\nprint(y)"),
        ("if a:\n    !ls -l\n    %time y = f()\nx = !ls", "if a:\n    None\n    y = f()\nx = None"),
        ("%%time\ndef f():\n    return 1", "\ndef f():\n    return 1"),
        ("%%capture out\n%time z = 2\nw = 3", "\nz = 2\nw = 3"),
        ("%%bash\nrm -rf /\necho", "\n\n"),
        ("softmax?\nx = 1", "None\nx = 1"),
        (
            "%matplotlib inline\n%pip install numpy\nx = 'é'  # non-ASCII before a magic\n!ls",
            "None\nNone\nx = 'é'  # non-ASCII before a magic\nNone",
        ),
        ('s = """\n!ls\n%time\n"""', 's = """\n!ls\n%time\n"""'),
    ],
)
def test_ipython_syntax_is_translated_keeping_line_numbers(source, expected):
    assert program.translate_ipython(source) == expected


@pytest.mark.parametrize(
    "source, expected",
    [
        ("%%writefile helper.py\nx = 1\ny = 2", "open('helper.py', 'w', encoding='utf-8').write('x = 1\\ny = 2')\n\n"),
        ('\n%%writefile -a "my file.py"\nx = 1', "\nopen('my file.py', 'a', encoding='utf-8').write('x = 1')\n"),
        ("%%file f.py\nz = 3\n", "open('f.py', 'w', encoding='utf-8').write('z = 3\\n')\n\n"),
        ("%%writefile\nx = 1", "None\n"),  # no file name: IPython prints its usage and writes nothing
    ],
)
def test_writefile_writes_the_cell_into_the_scratch_folder(source, expected):
    translated = program.translate_ipython(source)
    assert translated == expected and translated.count("\n") == source.count("\n")


def test_the_flag_follows_the_graded_function_not_every_name_of_a_cell_that_used_the_library():
    exercises = [all_exercises()["softmax"]]

    def flag(*sources: str) -> str | None:
        cells = tuple(Cell(i + 1, "code", source) for i, source in enumerate(sources))
        built = program.build_program(Notebook(cells, "getting_started"), exercises, frozenset())
        return built.decided["softmax"].reason if "softmax" in built.decided else None

    own = "# EXERCISE: softmax\ndef softmax(logits):\n    data = np.exp(logits)\n    return data / data.sum(1)"
    edited_import_cell = "import numpy as np\nimport dnncourse\nfrom dnncourse.lab import data\nimport pandas as pd"
    assert flag(edited_import_cell, own) is None  # np is NumPy; data is a local variable of the function
    assert flag(own + "\nfrom dnncourse.metrics import softmax as ref\nprint(ref(np.eye(2)))") is None
    helper = "def mine(z):\n    return metrics.softmax(z)"
    chained = flag(
        "from dnncourse import metrics", helper, "# EXERCISE: softmax\ndef softmax(logits):\n    return mine(logits)"
    )
    assert "cell 3 defines softmax with mine; cell 2 defines mine with metrics; cell 1 takes metrics" in chained
    default = flag(
        "from dnncourse import metrics",
        "# EXERCISE: softmax\ndef softmax(logits, m=metrics):\n    return m.softmax(logits)",
    )
    assert "course library" in default
    assert (
        flag("from dnncourse.metrics import softmax", "def softmax(logits):\n    return logits", "# EXERCISE: softmax")
        is None
    )


def test_a_nan_is_right_where_the_reference_gives_nan():
    from dnncourse.exercises import Case, Exercise, evaluate_function

    def undefined_at_zero(x):  # a reference whose answer has a NaN
        return np.where(x == 0, np.nan, x)

    demo = Exercise("nan_demo", "f", undefined_at_zero, 1, "demo", (Case({"x": np.array([2.0, 0.0])}),))
    assert evaluate_function(demo, lambda x: x + np.where(x == 0, np.nan, 0.0)).status == "passed"
    assert evaluate_function(demo, lambda x: x).status == "failed"  # a number where the reference has NaN
    assert evaluate_function(demo, lambda x: x * np.nan).status == "failed"  # NaN where it has a number


def test_check_is_rebound_to_a_function_that_does_nothing_under_any_name():
    cell = program.prepare_cell(3, "from dnncourse.exercises import check as chk, check\nchk('a', f)")
    assert cell.code.splitlines()[0] == f"chk = {program.CHECK}; check = {program.CHECK}"
    assert cell.library is None and {"chk", "check"} <= cell.defines
    mixed = program.prepare_cell(3, "from dnncourse.exercises import check, get")
    assert "course library" in mixed.library


@pytest.mark.parametrize(
    "code",
    [
        "import dnncourse",
        "import numpy, dnncourse.metrics as m",
        "from dnncourse import metrics",
        "def f(x):\n    from dnncourse.metrics import softmax\n    return softmax(x)",
        "import importlib\nm = importlib.import_module('dnncourse.metrics')",
        "x = dnncourse",
    ],
)
def test_library_use_is_detected(code):
    assert "course library" in program.prepare_cell(1, code).library


def test_what_a_cell_defines_and_needs():
    cell = program.prepare_cell(
        1,
        "import numpy as np\nfor i in range(3):\n    total = i\n"
        "def f(x):\n    inner = helper(x)\n    return inner\nclass K: pass",
    )
    assert cell.defines == {"np", "i", "total", "f", "K"}
    assert {"helper", "range"} <= cell.needs and "inner" not in cell.needs and "x" not in cell.needs
    broken = program.prepare_cell(2, "y = a" + "[0]" * 100_000)  # does not parse: sent as it is, analysed as nothing
    assert broken.defines == frozenset() and broken.code.startswith("y = a[0]")


def test_only_the_students_cells_and_every_exercise_cell_run_up_to_the_last_exercise():
    nb = notebook(before={"accuracy": ["def helper():\n    return 1"]})
    cells = [Cell(i + 1, c.cell_type, c.source) for i, c in enumerate(nb.cells)]
    cells.append(Cell(len(cells) + 1, "code", "print('after the last exercise')"))
    released = frozenset(
        normalized(c.source)
        for c in nbformat.read(Path(__file__).parents[1] / "book" / "getting_started.ipynb", as_version=4).cells
        if c.cell_type == "code"
    )
    exercises = [e for e in all_exercises().values() if e.chapter == "getting_started"]
    built = program.build_program(Notebook(tuple(cells), "getting_started"), exercises, released)
    kinds = [(c.exercise or "helper") for c in built.cells]
    assert kinds == ["softmax", "cross_entropy", "helper", "accuracy"]
    assert [(s.exercise.id, s.before, s.cell) for s in built.steps] == [
        ("softmax", [], 0),
        ("cross_entropy", [], 1),
        ("accuracy", [2], 3),
    ]
    assert not built.needs_torch and built.decided == {}
    stub_only = program.build_program(Notebook(tuple(cells[:3]), "getting_started"), exercises, released)
    assert all(result.status == "not-attempted" for result in stub_only.decided.values())


def test_the_chapters_imports_that_the_students_cells_use_run_first():
    from dnncourse.grading.notebooks import released_code

    chapter = "06_initialization"  # its import cell has `from torch import nn`
    exercise = next(e for e in all_exercises().values() if e.chapter == chapter)
    uses_nn = (
        f"# EXERCISE: {exercise.id}\ndef {exercise.function}(*args, **kwargs):\n"
        "    return nn.init.calculate_gain('relu')"
    )
    built = program.build_program(Notebook((Cell(1, "code", uses_nn),), chapter), [exercise], released_code(chapter))
    assert built.preamble == ["from torch import nn"] and built.needs_torch
    own_nn = Notebook((Cell(1, "code", "import torch.nn as nn"), Cell(2, "code", uses_nn)), chapter)
    assert program.build_program(own_nn, [exercise], released_code(chapter)).preamble == []  # the student's own
    library = program.chapter_imports(frozenset({"import dnncourse\nfrom dnncourse import viz\nimport numpy as np"}))
    assert library == {"np": "import numpy as np"}  # never the course library


def test_torch_is_imported_only_when_the_code_uses_it():
    exercises = [all_exercises()["softmax"]]
    uses = Notebook(
        (Cell(1, "code", "# EXERCISE: softmax\nimport torch\ndef softmax(x):\n    return torch.softmax(x, 1)"),), None
    )
    assert program.build_program(uses, exercises, frozenset()).needs_torch
    plain = Notebook((Cell(1, "code", "# EXERCISE: softmax\ndef softmax(x):\n    return x"),), None)
    assert not program.build_program(plain, exercises, frozenset()).needs_torch
    with_tensors = next(e for e in all_exercises().values() if e.torch_inputs)
    tensors = Notebook(
        (Cell(1, "code", f"# EXERCISE: {with_tensors.id}\ndef {with_tensors.function}(x):\n    return x"),), None
    )
    assert program.build_program(tensors, [with_tensors], frozenset()).needs_torch  # its inputs are tensors


# ----------------------------------------------------------------------------- answers


def test_answers_round_trip_as_plain_arrays_and_plain_data():
    data = answers_archive(
        {"status": "ran"},
        {
            0: ("arrays", to_plain((np.arange(3.0), (np.float32(2.5), None), 4))),
            2: ("plain", plain_data({"lr": np.float64(0.1), "n": [1, 2]})),
        },
    )
    status, answers = read_answers(data, 10**6)
    assert status == {"status": "ran"} and set(answers) == {0, 2}
    first = answers[0]
    np.testing.assert_array_equal(first[0], np.arange(3.0))
    assert first[1][1] is None and first[1][0] == np.float32(2.5) and first[2] == 4
    assert answers[2] == {"lr": 0.1, "n": [1, 2]} and type(answers[2]["lr"]) is float


def _archive(**arrays) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_forged_answers_are_refused_never_unpickled():
    index = json.dumps({"status": {"status": "ran"}, "answers": {"0": {"arrays": "c0"}}})
    with pytest.raises(ValueError, match="malformed"):
        read_answers(_archive(c0=np.array([object()], dtype=object), index=np.asarray(index)), 10**6)
    with pytest.raises(ValueError, match="unknown entry"):
        read_answers(_archive(other=np.zeros(2), index=np.asarray(index)), 10**6)
    with pytest.raises(ValueError, match="no index"):
        read_answers(_archive(c0=np.zeros(2)), 10**6)
    with pytest.raises(ValueError, match="malformed"):
        read_answers(b"not a zip file", 10**6)
    with pytest.raises(ValueError, match="more than 1000 bytes"):
        read_answers(_archive(c0=np.zeros(10_000), index=np.asarray(index)), 1000)
    bad_plain = json.dumps({"status": {}, "answers": {"0": {"plain": {"x": float("inf")}}}})
    with pytest.raises(ValueError, match="not a finite number"):
        read_answers(_archive(index=np.asarray(bad_plain)), 10**6)


@pytest.mark.parametrize(
    "value, words",
    [
        ({1: 2}, "key 1 is not a string"),
        ([[[[[[[1]]]]]]], "nested more than"),
        ([0] * 20_000, "more than 10000 values"),
        ({"f": print}, "builtin_function_or_method is not plain data"),
        (float("nan"), "not a finite number"),
        ("x" * 20_000, "more than 10000 characters"),
        (2**70, "too large"),
    ],
)
def test_plain_data_is_checked(value, words):
    with pytest.raises(ValueError, match=words):
        plain_data(value)


def test_answers_files_are_read_without_following_links_or_blocking(tmp_path):
    (tmp_path / "target.npz").write_bytes(answers_archive({"status": "ran"}, {}))
    (tmp_path / "0.npz").symlink_to(tmp_path / "target.npz")
    status, answers = read_answers_file(tmp_path / "0.npz", 10**6)
    assert status["status"] == "error" and "symbolic link" in status["reason"] and answers == {}
    os.mkfifo(tmp_path / "1.npz")
    assert "not a regular file" in read_answers_file(tmp_path / "1.npz", 10**6)[0]["reason"]
    (tmp_path / "2.npz").touch()
    assert "wrote no answers" in read_answers_file(tmp_path / "2.npz", 10**6)[0]["reason"]


# ----------------------------------------------------------------------------- the sandbox


def _run_filter(program: bytes, arch: int, nr: int, arg0: int = 0) -> int:
    """Classic BPF, interpreted (the instructions the filter uses), on one system call."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    instructions = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = instructions[pc]
        if code == 0x20:
            accumulator = struct.unpack_from("=I", data, k)[0]
            pc += 1
        elif code in (0x15, 0x35, 0x45):
            taken = {0x15: accumulator == k, 0x35: accumulator >= k, 0x45: bool(accumulator & k)}[code]
            pc += 1 + (jt if taken else jf)
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


def test_the_seccomp_filter_allows_threads_and_refuses_processes():
    x86 = seccomp.process_filter("x86_64")
    assert len(x86) % 8 == 0
    arch, allow, eperm, enosys, kill = 0xC000003E, 0x7FFF0000, 0x50001, 0x50026, 0x80000000
    assert _run_filter(x86, arch, 0) == allow  # read
    assert _run_filter(x86, arch, 56, 0x3D0F00) == allow  # clone(CLONE_THREAD | ...): pthread_create
    assert _run_filter(x86, arch, 56, 0x01200011) == eperm  # clone as fork() does
    assert _run_filter(x86, arch, 57) == eperm and _run_filter(x86, arch, 58) == eperm  # fork, vfork
    assert _run_filter(x86, arch, 435) == enosys  # clone3: the C library falls back to clone
    assert _run_filter(x86, arch, 0x40000000 + 57) == eperm  # the x32 ABI
    assert _run_filter(x86, 0x40000003, 2) == kill  # a 32-bit system call
    arm = seccomp.process_filter("aarch64")
    assert _run_filter(arm, 0xC00000B7, 220, 0x10000) == allow and _run_filter(arm, 0xC00000B7, 220, 0x11) == eperm
    assert seccomp.process_filter("riscv64") is None


@pytest.mark.parametrize(
    "machine, arch, calls",
    [
        # memfd_create, shmget, msgget, socket, socketpair (asm/unistd_64.h; asm-generic/unistd.h for aarch64)
        ("x86_64", 0xC000003E, (319, 29, 68, 41, 53)),
        ("aarch64", 0xC00000B7, (279, 194, 186, 198, 199)),
    ],
)
def test_the_seccomp_filter_refuses_memory_the_address_space_limit_does_not_count(machine, arch, calls):
    """Each of these held hundreds of megabytes of the host's memory, unmapped, in a loop (test_grader_redteam)."""
    program = seccomp.process_filter(machine)
    assert all(_run_filter(program, arch, call) == 0x50001 for call in calls)  # EPERM
    assert _run_filter(program, arch, 9 if machine == "x86_64" else 222) == 0x7FFF0000  # mmap is allowed


def test_the_interpreters_loader_is_found_and_symlinks_on_its_way_are_recreated(tmp_path):
    loader = layout._elf_interpreter(os.path.realpath(sys.executable))
    if platform.system() == "Linux":
        assert loader and os.path.exists(loader)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "lib.so").write_text("")
    (tmp_path / "alias").symlink_to("real")
    links: dict[str, str] = {}
    assert layout._expose(str(tmp_path / "alias" / "lib.so"), links) == str(tmp_path / "real" / "lib.so")
    assert links == {str(tmp_path / "alias"): "real"}


def test_the_sandbox_shows_numpy_and_torch_but_not_the_course_library(tmp_path):
    if not layout.shutil.which("bwrap"):
        pytest.skip("bubblewrap is not installed")
    from dnncourse.grading.results import Settings

    shown = layout.prepare(Settings(), tmp_path)
    inside = {target for _, target in shown.binds}
    assert "/opt/packages/numpy" in inside and "/opt/packages/torch" in inside
    assert not any("dnncourse" in host or "__editable__" in host for host, _ in shown.binds)
    repository = str(Path(__file__).resolve().parents[1])
    assert not any(host == repository or host.startswith(repository + "/dnncourse") for host, _ in shown.binds)
    assert shown.seccomp is not None or platform.machine() not in ("x86_64", "aarch64")
    version = subprocess.run([shown.bwrap, "--version"], capture_output=True, text=True).stdout
    assert shown.version == version.strip()
