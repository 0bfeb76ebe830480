"""A second hostile class, and a careless instructor (issue 12, follow-up): what the sandboxed grader still got wrong.

Every student-side case is a notebook built from the released student edition, with the trick or the habit
written in a cell as a student writes it. The student notebooks are graded in ONE run of ``dnncourse grade``
in its own process; the instructor-side cases (a damaged journal, two graders at once, Ctrl-C while the
reports are written, arguments that would never end) call the command as an instructor does.

What each group checks, and what went wrong before:

* memory held outside the memory limit (files in the folders bubblewrap creates, ``/dev/shm``, ``memfd``,
  System V shared memory and message queues, socket buffers): hundreds of megabytes, without bound;
* honest habits: an edited chapter import cell flagged every exercise; ``import matplotlib.pyplot`` or
  ``from IPython.display import display`` in an exercise cell failed it; ``%%writefile`` modules were not
  there; a comparison with the library after the student's own function flagged it; a name the chapter's
  import cell imported (``sys``, ``nn``, ``F``) was not defined; a list of lists where an array is expected
  failed every case;
* a cell that leaks file descriptors made every later exercise "exit with code 1";
* a forged "done" on the runner's pipe, and a command the runner never reads, hung the grader for ever;
* megabytes of code, or thousands of magics, took the grader minutes and gigabytes to analyse.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from test_grader_support import (
    CORRECT,
    MAX,
    ROOT,
    by_file,
    grade_in_subprocess,
    notebook,
    read_reports,
    requires_bwrap,
    write,
)

from dnncourse.grading import command, reports

LIMIT_MB = 300  # --memory-mb of the run: each hoard tries to hold more than this
HOARD = 400  # MB a hoarding cell tries to hold

# The exercise fails if the cell before it managed to hold HOARD MB outside the memory limit.
GUARDED_SOFTMAX = f"""def softmax(logits):
    assert held < {HOARD}, f"held {{held}} MB outside the memory limit"
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)"""

HOARDS = {
    # Files in the folders bubblewrap creates (/, /opt, /usr, /dev) and in /dev/shm: a tmpfs in RAM, no size.
    "fills_folders_outside_tmp": """import os
held = 0
keep = []
for folder in ("/", "/opt", "/usr", "/dev", "/dev/shm"):
    for i in range(25):
        try:
            with open(os.path.join(folder, f"hoard{i}"), "wb") as f:
                f.write(b"x" * 2**24)
            held += 16
        except OSError:
            break
        if held >= %(hoard)d:
            break""",
    # A memfd's pages outlive its mapping: write 16 MB at a time, never map it.
    "fills_memfds": """import os
held = 0
keep = []
try:
    while held < %(hoard)d:
        fd = os.memfd_create(f"hoard{held}")
        os.write(fd, b"x" * 2**24)
        keep.append(fd)
        held += 16
except OSError:
    pass""",
    # System V shared memory and message queues: kept by the kernel after detaching.
    "fills_system_v_ipc": """import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
held = 0
while held < %(hoard)d:
    segment = libc.shmget(0, 100 * 2**20, 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
    if segment < 0:
        break
    address = libc.shmat(segment, None, 0)
    ctypes.memset(address, 1, 100 * 2**20)
    libc.shmdt(ctypes.c_void_p(address))
    held += 100
queued = 0
message = ctypes.create_string_buffer(b"\\x01" + b"x" * 8191)  # mtype 1, then text
while queued < %(hoard)d * 2**20:
    queue = libc.msgget(0, 0o1600)
    if queue < 0 or libc.msgsnd(queue, message, 8184, 0o4000) != 0:  # IPC_NOWAIT
        break
    while libc.msgsnd(queue, message, 8184, 0o4000) == 0:
        queued += 8184
held += queued // 2**20""",
    # Unix socket buffers: megabytes queued per pair, counted nowhere.
    "fills_socket_buffers": """import socket
held = 0
pairs = []
queued = 0
try:
    while queued < %(hoard)d * 2**20:
        a, b = socket.socketpair()
        a.setblocking(False)
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2**30)
        b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2**30)
        try:
            while True:
                queued += a.send(b"x" * 65536)
        except BlockingIOError:
            pass
        pairs.append((a, b))
except OSError:
    pass
held = queued // 2**20""",
}


def _edited_import_cell() -> nbformat.NotebookNode:
    """The student added a line to the chapter's import cell; their softmax has a local variable named data."""
    nb = notebook(
        softmax="def softmax(logits):\n"
        "    data = np.exp(logits - logits.max(axis=1, keepdims=True))  # not the chapter's data module\n"
        "    return data / data.sum(axis=1, keepdims=True)"
    )
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("import matplotlib.pyplot as plt"):
            cell.source = "import pandas as pd  # for my own tables\n" + cell.source
            return nb
    raise AssertionError("the chapter's import cell is not where it was")


STUDENTS = {
    **{name: notebook(softmax=trick % {"hoard": HOARD} + "\n" + GUARDED_SOFTMAX) for name, trick in HOARDS.items()},
    "leaks_file_handles": notebook(
        softmax="logs = []\ntry:\n    while True:\n        logs.append(open('/dev/null'))  # never closed\n"
        "except OSError:\n    pass\n" + CORRECT["softmax"]
    ),
    "edits_the_import_cell": _edited_import_cell(),
    "plots_in_the_exercise_cell": notebook(
        softmax="import matplotlib.pyplot as plt\n\n" + CORRECT["softmax"] + "\n\n"
        "p = softmax(np.array([[1.0, 2.0, 3.0]]))[0]\nplt.bar(range(3), p)\nplt.title('my softmax')\nplt.show()"
    ),
    "displays_with_ipython": notebook(
        cross_entropy="from IPython.display import Markdown, display\n\n" + CORRECT["cross_entropy"] + "\n\n"
        "display(Markdown('**my loss**'), cross_entropy(np.zeros((2, 3)), np.array([0, 1])))"
    ),
    "writes_a_module": notebook(
        before={"accuracy": ["%%writefile my_metrics.py\nimport numpy as np\n\n\n" + CORRECT["accuracy"]]},
        accuracy="from my_metrics import accuracy",
    ),
    "compares_with_the_library": notebook(
        softmax=CORRECT["softmax"] + "\n\n"
        "from dnncourse.metrics import softmax as reference  # does mine agree?\n"
        "x = np.random.randn(4, 3)\nprint(np.allclose(softmax(x), reference(x)))"
    ),
    "uses_a_chapter_import": notebook(  # the chapter's setup cell imported sys; in Jupyter it is there
        softmax="def softmax(logits):\n    e = np.exp(logits - logits.max(axis=1, keepdims=True))\n"
        "    return e / np.maximum(e.sum(axis=1, keepdims=True), sys.float_info.min)"
    ),
    "returns_lists": notebook(  # plain Python lists where the exercise expects an array
        softmax="import math\n\n\ndef softmax(logits):\n    rows = []\n    for row in logits.tolist():\n"
        "        top = max(row)\n        e = [math.exp(x - top) for x in row]\n"
        "        rows.append([x / sum(e) for x in e])\n    return rows"
    ),
    "everyday_habits": notebook(  # already right before: kept as a regression
        softmax="softmax = lambda logits: (lambda e: e / e.sum(axis=1, keepdims=True))(\n"
        "    np.exp(logits - logits.max(axis=1, keepdims=True))\n)",
        cross_entropy="class CrossEntropy:\n    def __call__(self, logits, labels):\n"
        "        m = logits.max(axis=1, keepdims=True)\n"
        "        log_z = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))\n"
        "        return float(np.mean(log_z - logits[np.arange(len(labels)), labels]))\n\n\n"
        "cross_entropy = CrossEntropy()",
        before={
            "accuracy": ["%%time\nfrom math import *\nfrom tqdm import tqdm\n\nfor _ in tqdm(range(3)):\n    pass"]
        },
        accuracy="def count(flags):\n    return 0 if len(flags) == 0 else int(flags[0]) + count(flags[1:])\n\n\n"
        "def accuracy(logits, labels):\n    print('debug:', logits.shape, floor(2.5))  # floor: from math import *\n"
        "    return count(list(logits.argmax(axis=1) == labels)) / len(labels)",
    ),
    "megabytes_of_code": notebook(
        before={"softmax": ["TABLE = [\n" + "    0.0,\n" * 300_000 + "]"]}  # 3 MB pasted into a cell
    ),
    "thousands_of_magics": notebook(before={"softmax": ["%time x = 1\n" * 4000]}),
    "honest": notebook(),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("submissions")
    for name, nb in STUDENTS.items():
        write(folder, name, nb)
    out = tmp_path_factory.mktemp("out") / "grades.csv"
    start = time.monotonic()
    done = grade_in_subprocess(
        folder, out, "--timeout", "20", "--seed", "11", "--jobs", "2", "--memory-mb", str(LIMIT_MB), timeout=600
    )
    elapsed = time.monotonic() - start
    rows, report = read_reports(out) if out.exists() else ({}, {"submissions": []})
    return {"done": done, "rows": rows, "by_file": by_file(report), "elapsed": elapsed}


def exercises(graded: dict, name: str) -> dict:
    return graded["by_file"][name]["exercises"]


@requires_bwrap
def test_the_run_succeeds_with_a_row_for_everyone(graded):
    assert graded["done"].returncode == 0, graded["done"].stderr
    assert set(graded["rows"]) == {f"{name}.ipynb" for name in STUDENTS}
    assert graded["by_file"]["honest"]["total"] == MAX


@requires_bwrap
@pytest.mark.parametrize("name", sorted(HOARDS))
def test_no_memory_is_held_outside_the_memory_limit(graded, name):
    # The guarded softmax passes only if the cell before it could not hold HOARD MB (over --memory-mb).
    softmax = exercises(graded, name)["softmax"]
    assert softmax["status"] == "passed", softmax["reason"]
    assert graded["by_file"][name]["total"] == MAX


@requires_bwrap
def test_a_cell_that_leaks_file_handles_does_not_stop_the_answers_being_written(graded):
    assert graded["by_file"]["leaks_file_handles"]["total"] == MAX, exercises(graded, "leaks_file_handles")


@requires_bwrap
@pytest.mark.parametrize(
    "name",
    [
        "edits_the_import_cell",
        "plots_in_the_exercise_cell",
        "displays_with_ipython",
        "writes_a_module",
        "compares_with_the_library",
        "uses_a_chapter_import",
        "returns_lists",
        "everyday_habits",
    ],
)
def test_honest_habits_get_full_marks(graded, name):
    assert graded["by_file"][name]["total"] == MAX, exercises(graded, name)


@requires_bwrap
@pytest.mark.parametrize(
    "name, words",
    [("megabytes_of_code", "at most 1000 kB in 20000 lines"), ("thousands_of_magics", "4000 magic or shell lines")],
)
def test_code_the_grader_cannot_analyse_in_seconds_is_an_error_row(graded, name, words):
    for result in exercises(graded, name).values():
        assert result["status"] == "error" and result["points"] == 0 and words in result["reason"]
    # Analysing the 3 MB cell took the grader 13 s and 300 MB of its own memory (a 64 MB notebook: minutes and
    # gigabytes); translating 4000 magic lines, 44 s (IPython reads the whole cell again for each one). The
    # whole run of nineteen notebooks takes about a minute on a busy 2-core machine.
    assert graded["elapsed"] < 240


# ----------------------------------------------------------------------------- the runner's pipes

FORGES_DONE = """import fcntl, os, time
words = open("/proc/self/cmdline", "rb").read().split(b"\\0")
commands = int(words[words.index(b"--commands") + 1])
messages = int(words[words.index(b"--messages") + 1])
fcntl.fcntl(commands, 1031, 4096)  # F_SETPIPE_SZ: the smallest pipe
os.write(messages, b'{"done": 1}\\n')  # "this exercise is done": it is not
time.sleep(10**6)  # and the runner never reads the next command"""


@requires_bwrap
def test_a_forged_message_and_an_unread_command_cannot_hang_the_grader(tmp_path):
    """The next command (a list of 1500 cells) does not fit the shrunk pipe: writing it waited for ever."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    write(
        folder, "stalls", notebook(softmax=FORGES_DONE, before={"cross_entropy": [f"x{i} = {i}" for i in range(1500)]})
    )
    write(folder, "honest", notebook())
    start = time.monotonic()
    done = grade_in_subprocess(folder, tmp_path / "g.csv", "--timeout", "3", "--seed", "2", timeout=180)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start < 120
    rows, report = read_reports(tmp_path / "g.csv")
    assert rows["honest.ipynb"]["total"] == str(MAX) and rows["stalls.ipynb"]["total"] == "0"


# ----------------------------------------------------------------------------- the instructor

JOURNAL_HEADER = {"kind": "dnncourse-grades-journal"}


def _one_notebook(tmp_path: Path) -> Path:
    folder = tmp_path / "submissions"
    folder.mkdir()
    write(folder, "a", notebook())
    return folder


@pytest.mark.parametrize(
    "settings, words",
    [
        (None, "damaged (no settings)"),
        ([1, 2], "damaged (no settings)"),
        ({"timeout": "sixty"}, "the setting timeout must be a positive number"),
        ({"sandbox": "no"}, "the setting sandbox must be a true or false"),
        ({"seed": -4}, "the setting seed must be a non-negative integer"),
    ],
)
def test_a_damaged_journal_stops_the_resumed_run_with_a_reason(tmp_path, capsys, settings, words):
    folder = _one_notebook(tmp_path)
    header = {**JOURNAL_HEADER, "folder": str(folder.resolve())}
    if settings is not None:
        header["settings"] = settings
    (tmp_path / "g.partial.jsonl").write_text(json.dumps(header) + "\n")
    assert command.main([str(folder), "--out", str(tmp_path / "g.csv"), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert words in err and "No grades were written" in err


@requires_bwrap
def test_a_damaged_line_of_the_journal_is_graded_again(tmp_path):
    folder = _one_notebook(tmp_path)
    digest = hashlib.sha256((folder / "a.ipynb").read_bytes()).hexdigest()
    header = {**JOURNAL_HEADER, "folder": str(folder.resolve()), "settings": {"timeout": 20, "seed": 1}}
    forged = {"file": "a.ipynb", "seed": 1, "exercises": {"softmax": {"points": "all", "status": "passed"}}}
    lines = [header, {"digest": digest, "result": forged}]
    (tmp_path / "g.partial.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert command.main([str(folder), "--out", str(tmp_path / "g.csv"), "--resume", "--quiet"]) == 0
    assert read_reports(tmp_path / "g.csv")[0]["a.ipynb"]["total"] == str(MAX)  # graded, not the forged line


@pytest.mark.parametrize(
    "option, value, words",
    [
        ("--timeout", "nan", "--timeout must be positive"),
        ("--timeout", "inf", "--timeout must be positive (and finite)"),
        ("--seed", "-1", "--seed must be a non-negative integer"),
    ],
)
def test_arguments_that_would_never_end_or_blame_the_reference_are_refused(tmp_path, capsys, option, value, words):
    folder = _one_notebook(tmp_path)
    assert command.main([str(folder), "--out", str(tmp_path / "g.csv"), option, value, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert words in err and "reference" not in err
    assert not (tmp_path / "g.csv").exists()


def test_the_grades_file_given_as_the_submissions_folder_is_called_a_file(tmp_path, capsys):
    (tmp_path / "grades.csv").write_text("file,total,max\n")
    assert command.main([str(tmp_path / "grades.csv"), "--out", str(tmp_path / "new.csv"), "--quiet"]) == 2
    assert "grades.csv is a file, not the folder of the submitted notebooks" in capsys.readouterr().err


@requires_bwrap
def test_a_chapter_option_the_notebooks_disagree_with_is_a_warning(tmp_path, capsys):
    """A mistyped --chapter grades the whole class as not attempted: say so where the instructor looks."""
    folder = _one_notebook(tmp_path)
    out = tmp_path / "g.csv"
    assert command.main([str(folder), "--out", str(out), "--chapter", "03_optimizers", "--quiet"]) == 0
    words = "--chapter 03_optimizers: 1 of 1 notebooks record another chapter (for example a.ipynb: getting_started)"
    assert words in capsys.readouterr().err
    assert any(words in warning for warning in read_reports(out)[1]["warnings"])


@requires_bwrap
def test_a_second_grader_on_the_same_reports_stops_at_once(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    for i in range(6):
        write(folder, f"s{i}", notebook(softmax="import time\ntime.sleep(1)\n" + CORRECT["softmax"]))
    out, journal = tmp_path / "g.csv", tmp_path / "g.partial.jsonl"
    line = [sys.executable, "-m", "dnncourse.cli", "grade", str(folder), "--out", str(out), "--jobs", "1", "--quiet"]
    first = subprocess.Popen(line, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not journal.exists() or len(journal.read_text().splitlines()) < 2):
        time.sleep(0.1)
    for extra in ([], ["--resume"]):  # "an interrupted run left ..." invited a --resume that graded everything twice
        second = subprocess.run([*line, *extra], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and "another `dnncourse grade` is writing these reports now" in second.stderr
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    rows, _ = read_reports(out)
    assert len(rows) == 6 and all(row["total"] == str(MAX) for row in rows.values())
    assert not journal.exists()


@requires_bwrap
def test_ctrl_c_while_the_reports_are_written_leaves_both_complete(tmp_path, monkeypatch, capsys):
    folder = _one_notebook(tmp_path)
    (tmp_path / "g.csv").write_text("the previous run's grades\n")
    written = []
    atomic_write = reports.atomic_write

    def ctrl_c_after_the_first(path, text):
        atomic_write(path, text)
        written.append(path.name)
        if len(written) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # the instructor presses Ctrl-C between the two reports

    monkeypatch.setattr(reports, "atomic_write", ctrl_c_after_the_first)
    code = command.main([str(folder), "--out", str(tmp_path / "g.csv"), "--seed", "3", "--quiet"])
    assert code == 0 and written == ["g.json", "g.csv"]
    rows, report = read_reports(tmp_path / "g.csv")
    assert rows["a.ipynb"]["total"] == str(MAX) and report["run_seed"] == 3
    assert "they were finished first" in capsys.readouterr().err
    assert not (tmp_path / "g.partial.jsonl").exists()


@requires_bwrap
def test_ctrl_c_while_a_sandbox_starts_stops_it_at_once(tmp_path, monkeypatch):
    """Ctrl-C between a driver's last look at the stop flag and the start of its sandbox: Batch.grade killed
    the sandboxes it knew of, and this one ran its infinite loop until the timeout (60 s) before the run ended."""
    from dnncourse.grading import batch, sandbox

    folder = tmp_path / "submissions"
    folder.mkdir()
    write(folder, "loops", notebook(softmax="while True:\n    pass"))
    contexts = []
    start_sandbox, make_context = sandbox.start, batch.Context

    def start_then_ctrl_c(*args, **kwargs):
        session = start_sandbox(*args, **kwargs)
        if contexts:  # a submission's sandbox (not the smoke test's)
            os.kill(os.getpid(), signal.SIGINT)  # the instructor presses Ctrl-C ...
            contexts[0].stop.wait(10)
            time.sleep(0.5)  # ... and Batch.grade has killed every sandbox it knew of, not this one
        return session

    def remember(*args, **kwargs):
        contexts.append(make_context(*args, **kwargs))
        return contexts[-1]

    monkeypatch.setattr(sandbox, "start", start_then_ctrl_c)
    monkeypatch.setattr(batch, "Context", remember)
    start = time.monotonic()
    code = command.main([str(folder), "--out", str(tmp_path / "g.csv"), "--timeout", "60", "--quiet"])
    assert code == 130 and time.monotonic() - start < 30
    assert (tmp_path / "g.partial.jsonl").exists() and not (tmp_path / "g.csv").exists()
