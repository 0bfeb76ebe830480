"""A hostile class (issue 12): every trick that earned points or did harm with the first grader, as students write it.

All of them are graded in ONE run of ``dnncourse grade`` in its own process (``--jobs 2``), next to honest
notebooks, with a secret in the grader's environment. Tricks that need the grader's files or processes
find nothing: each submission runs in bubblewrap, with its own PID and network namespaces, a private
``/tmp``, and a read-only view of Python, NumPy and PyTorch only.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import site
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from test_grader_support import MAX, by_file, grade_in_subprocess, notebook, read_reports, requires_bwrap, write

pytestmark = requires_bwrap

TOKEN = secrets.token_hex(6)
MARK = os.path.join(tempfile.gettempdir(), f"dnncourse-hostile-{TOKEN}")  # host files the tricks would create
STUB = "def {0}(**inputs):\n    raise NotImplementedError"


def tricked(exercise_id: str, trick: str, **bodies: str) -> nbformat.NotebookNode:
    """The trick at the top of the exercise cell (the first grader ran only exercise cells), then the function."""
    body = bodies.pop(exercise_id, STUB.format(exercise_id))
    return notebook(**{exercise_id: trick + "\n" + body}, **bodies)


FIND_GRADER = '''
def grader_command():
    """(pid, working folder, command line) of the running `dnncourse grade`, found in /proc."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            words = open(f"/proc/{pid}/cmdline", "rb").read().decode().split("\\0")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if "grade" in words and "--out" in words:
            return int(pid), cwd, words
'''

HOSTILE = {
    # The first grader blocked the library with an import hook: remove it, import the library.
    "unhooks_the_import_block": notebook(
        softmax="import sys, importlib\n"
        "sys.meta_path[:] = [finder for finder in sys.meta_path if 'Block' not in type(finder).__name__]\n"
        "reference = importlib.import_module('dnn' + 'course.metrics')\n"
        "def softmax(logits):\n    return reference.softmax(logits)",
    ),
    # ... or find the library's source through the installed package's files, and exec it.
    "execs_the_library_source": notebook(
        softmax="import importlib.metadata, json, os\n"
        "origin = importlib.metadata.distribution('dnn' + 'course').read_text('direct_url.json')\n"
        "where = json.loads(origin)['url'][7:]\n"
        "library = {}\n"
        "exec(open(os.path.join(where, 'dnn' + 'course', 'metrics.py')).read(), library)\n"
        "def softmax(logits):\n    return library['softmax'](logits)",
    ),
    # Find the submissions folder from the grader's command line, copy a classmate's exercise cell.
    "copies_a_classmate": tricked(
        "cross_entropy",
        "import glob, json, os\n"
        + FIND_GRADER
        + """
stolen = {}
pid, cwd, words = grader_command()
folder = os.path.join(cwd, words[words.index("grade") + 1])  # dnncourse grade SUBMISSIONS ...
for path in glob.glob(os.path.join(folder, "**", "*.ipynb"), recursive=True):
    try:
        cells = json.load(open(path))["cells"]
    except (OSError, ValueError, KeyError):
        continue
    for cell in cells:
        source = "".join(cell["source"])
        if source.startswith("# EXERCISE: cross_entropy") and "Error" not in source and "stolen" not in source:
            stolen["code"] = source""",
        cross_entropy="exec(stolen['code'])",
        softmax=STUB.format("softmax"),
        accuracy=STUB.format("accuracy"),
    ),
    # A detached child outlives the submission, waits for the grader to exit, rewrites its own row.
    "rewrites_its_row_later": tricked(
        "softmax",
        "import os, subprocess, sys\n"
        + FIND_GRADER
        + f'''
LATER = """
import csv, os, sys, time
grader, out = int(sys.argv[1]), sys.argv[2]
while os.path.exists(f"/proc/{{grader}}"):
    time.sleep(0.1)
rows = list(csv.reader(open(out)))
for row in rows:
    if row[0] == "rewrites_its_row_later.ipynb":
        row[1:] = ["2", "3", "1", "6", "6"]
csv.writer(open(out, "w", newline="")).writerows(rows)
open("{MARK}-rewrote", "w").write("done")
"""
pid, cwd, words = grader_command()
out = os.path.join(cwd, words[words.index("--out") + 1])
subprocess.Popen([sys.executable, "-c", LATER, str(pid), out], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)''',
        softmax=STUB.format("softmax"),
        cross_entropy=STUB.format("cross_entropy"),
        accuracy=STUB.format("accuracy"),
    ),
    # A detached child (or a thread) deletes the other students' answer files while --jobs 2 runs.
    "aa_deletes_classmates_answers": tricked(
        "softmax",
        f'''import glob, os, subprocess, sys, threading, time
HAVOC = """
import glob, os, time
end = time.time() + 20
while time.time() < end:
    for path in glob.glob("/tmp/dnncourse-grade-*/**/*", recursive=True):
        if path.endswith((".npz", ".json", ".start")):
            try:
                os.remove(path)
            except OSError:
                pass
    time.sleep(0.01)
open("{MARK}-havoc", "w").write("done")
"""
try:
    subprocess.Popen([sys.executable, "-c", HAVOC], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
except OSError:
    threading.Thread(target=exec, args=(HAVOC,), daemon=True).start()''',
        softmax=STUB.format("softmax"),
    ),
    # Kill the grader: walk up the parent chain and kill whatever looks like it.
    "kills_the_grader": tricked(
        "accuracy",
        """import os, signal
def ancestors(pid):
    while pid > 1:
        with open(f"/proc/{pid}/stat") as stat:
            pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        yield pid
for pid in list(ancestors(os.getpid())):
    try:
        words = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        continue
    if b"grade" in words or b"runner" in words or b"dnncourse" in words:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass""",
        accuracy=STUB.format("accuracy"),
    ),
    # A .pth file in site-packages runs in the instructor's next Python, the grader included.
    "plants_a_pth_file": tricked(
        "softmax",
        f"""import os, site, sysconfig
import numpy
places = set(site.getsitepackages()) | {{sysconfig.get_paths()["purelib"]}}
places.add(os.path.dirname(os.path.dirname(numpy.__file__)))
for place in places:
    try:
        with open(os.path.join(place, "zz_dnncourse_hostile_{TOKEN}.pth"), "w") as pth:
            pth.write("import os; open('{MARK}-pth', 'w')\\n")
    except OSError:
        pass""",
        softmax=STUB.format("softmax"),
    ),
    # Read the grader's environment, write it out, and fill the disk.
    "reads_environ_fills_disk": tricked(
        "softmax",
        f'''import os
found = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        environment = open(f"/proc/{{pid}}/environ", "rb").read()
    except OSError:
        continue
    if b"DNNCOURSE_TEST_SECRET" in environment:
        found.append(environment)
with open("{MARK}-leak", "wb") as leak:
    leak.write(b"\\n".join(found))
with open("{MARK}-big", "wb") as big:
    for _ in range(160):
        big.write(b"x" * 2**20)''',
        softmax=STUB.format("softmax"),
    ),
}
HONEST = [f"honest_{i}" for i in range(6)]


def phones_home(port: int) -> nbformat.NotebookNode:
    """Reach a server listening on the instructor's machine (the grader's loopback)."""
    trick = f"""import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    connected = True
except OSError:
    connected = False"""
    softmax = (
        "def softmax(logits):\n    assert not connected, 'the network is reachable'\n"
        "    z = logits - logits.max(axis=1, keepdims=True)\n"
        "    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)"
    )
    return tricked("softmax", trick, softmax=softmax)


def _malformed(folder: Path) -> None:
    """Files that crashed the first grader's whole run."""
    document = json.loads(nbformat.writes(notebook()))
    code = [cell for cell in document["cells"] if cell["cell_type"] == "code"]
    code[0]["source"] = ["x = 1\n", None]
    (folder / "null_in_source.ipynb").write_text(json.dumps(document), encoding="utf-8")
    document = json.loads(nbformat.writes(notebook()))
    exercise = [cell for cell in document["cells"] if "".join(cell["source"]).startswith("# EXERCISE: softmax")][0]
    exercise["source"] = "".join(exercise["source"]) + "\nsymbol = '\ud800'  # pasted from a PDF"
    (folder / "lone_surrogate.ipynb").write_text(json.dumps(document), encoding="utf-8")  # ASCII JSON with \\ud800
    nested = notebook(softmax="y = " + "-" * 200_000 + "1\n" + "def softmax(logits):\n    return logits")
    write(folder, "nested_expression", nested)
    descriptor = os.open(
        os.path.join(os.fsencode(folder), b"caf\xe9_latin1_name.ipynb"), os.O_WRONLY | os.O_CREAT, 0o644
    )
    os.write(descriptor, nbformat.writes(notebook()).encode())
    os.close(descriptor)


def _site_folders() -> set[str]:
    return {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}


def _cleanup() -> None:
    for path in glob.glob(f"{MARK}*"):
        os.remove(path)
    for folder in _site_folders():
        for path in glob.glob(os.path.join(folder, f"zz_dnncourse_hostile_{TOKEN}.pth")):
            os.remove(path)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("submissions")
    for name, nb in HOSTILE.items():
        write(folder, name, nb)
    for name in HONEST:
        write(folder, name, notebook())
    _malformed(folder)
    server = socket.create_server(("127.0.0.1", 0))
    write(folder, "phones_home", phones_home(server.getsockname()[1]))
    out = tmp_path_factory.mktemp("out") / "grades.csv"
    env = {**os.environ, "DNNCOURSE_TEST_SECRET": TOKEN}
    try:
        done = grade_in_subprocess(folder, out, "--timeout", "10", "--seed", "3", "--jobs", "2", env=env)
        time.sleep(3)  # anything left behind would act now
        rows, report = read_reports(out) if out.exists() else ({}, {"submissions": []})
        marks = sorted(os.path.basename(p) for p in glob.glob(f"{MARK}*"))
        planted = [p for f in _site_folders() for p in glob.glob(os.path.join(f, f"zz_dnncourse_hostile_{TOKEN}.pth"))]
        python_ran_pth = subprocess.run([sys.executable, "-c", "pass"]).returncode == 0 and os.path.exists(
            f"{MARK}-pth"
        )
    finally:
        server.close()
        _cleanup()
    return {
        "done": done,
        "rows": rows,
        "report": report,
        "by_file": by_file(report),
        "marks": marks,
        "planted": planted,
        "python_ran_pth": python_ran_pth,
    }


def test_the_grader_survives_and_reports_every_notebook(run):
    assert run["done"].returncode == 0, run["done"].stderr
    expected = {
        f"{name}.ipynb"
        for name in [*HOSTILE, *HONEST, "phones_home", "null_in_source", "lone_surrogate", "nested_expression"]
    }
    assert set(run["rows"]) == expected | {"caf\\xe9_latin1_name.ipynb"}


def test_honest_classmates_get_full_marks_while_others_attack(run):
    for name in HONEST:
        assert run["by_file"][name]["total"] == MAX, run["by_file"][name]


@pytest.mark.parametrize(
    "name, exercise_ids",
    [
        ("unhooks_the_import_block", ["softmax"]),
        ("execs_the_library_source", ["softmax"]),
        ("copies_a_classmate", ["cross_entropy"]),
    ],
)
def test_using_the_library_or_a_classmates_work_earns_nothing(run, name, exercise_ids):
    exercises = run["by_file"][name]["exercises"]
    for exercise_id in exercise_ids:
        assert exercises[exercise_id]["points"] == 0 and exercises[exercise_id]["status"] == "error", exercises[
            exercise_id
        ]


def test_the_library_is_not_there_to_import_or_read(run):
    unhooked = run["by_file"]["unhooks_the_import_block"]["exercises"]["softmax"]
    assert unhooked["status"] == "error" and "No module named 'dnncourse'" in unhooked["reason"]
    execs = run["by_file"]["execs_the_library_source"]["exercises"]["softmax"]
    assert "PackageNotFoundError" in execs["reason"]


def test_the_grader_is_invisible_from_the_sandbox(run):
    # grader_command() finds no grader in /proc (it returns None): nothing to copy.
    copied = run["by_file"]["copies_a_classmate"]["exercises"]["cross_entropy"]
    assert copied["status"] == "error" and "cannot unpack non-iterable NoneType" in copied["reason"]


def test_nothing_outlives_its_sandbox_or_writes_on_the_host(run):
    assert run["marks"] == []  # no rewrite, no havoc, no leak, no 160 MB file on the host
    row = run["rows"]["rewrites_its_row_later.ipynb"]  # read 3 s after the grader exited
    assert row["total"] == "0" and row["softmax"] == "0"
    softmax = run["by_file"]["rewrites_its_row_later"]["exercises"]["softmax"]
    assert softmax["status"] == "error"  # no grader to be found in /proc, and no process may be started


def test_no_pth_file_is_planted_in_the_interpreter(run):
    assert run["planted"] == [] and not run["python_ran_pth"]


def test_the_network_is_unreachable(run):
    assert run["by_file"]["phones_home"]["total"] == MAX


@pytest.mark.parametrize(
    "name, words", [("null_in_source", "is not text (null in it)"), ("lone_surrogate", "lone surrogate")]
)
def test_malformed_notebooks_are_error_rows_with_a_reason(run, name, words):
    submission = run["by_file"][name]
    assert submission["total"] == 0 and submission["max_points"] == MAX
    assert all(e["status"] == "error" and words in e["reason"] for e in submission["exercises"].values())


def test_a_nested_expression_fails_its_cell_only(run):
    exercises = run["by_file"]["nested_expression"]["exercises"]
    assert exercises["softmax"]["status"] == "error"
    assert exercises["cross_entropy"]["status"] == exercises["accuracy"]["status"] == "passed"


def test_a_file_name_that_is_not_utf8_is_graded(run):
    assert run["rows"]["caf\\xe9_latin1_name.ipynb"]["total"] == str(MAX)


def test_nothing_the_submission_writes_moves_a_deadline(tmp_path):
    """Toggling files, replacing logs by FIFOs and forging protocol lines cannot keep the grader waiting."""
    nb = tricked(
        "softmax",
        """import glob, os, threading, time
def keep_the_grader_waiting():
    flip = False
    while True:
        for folder in glob.glob("../results-*") + ["/answers", "."]:
            path = os.path.join(folder, "2.start")
            try:
                os.remove(path) if flip else open(path, "w").close()
            except OSError:
                pass
        for log in glob.glob("../*.log") + glob.glob("*.log"):
            try:
                os.remove(log)
                os.mkfifo(log)
            except OSError:
                pass
        for fd in range(3, 40):
            try:
                os.write(fd, b'{"ready": true}\\n{"done": 1}\\n{"done": 2}\\n{"done": 3}\\n{"cell": 0}\\n')
            except OSError:
                pass
        flip = not flip
        time.sleep(0.2)
threading.Thread(target=keep_the_grader_waiting, daemon=True).start()""",
        softmax="def softmax(logits):\n    while True:\n        pass",
    )
    folder = tmp_path / "submissions"
    folder.mkdir()
    write(folder, "waits_forever", nb)
    write(folder, "honest", notebook())
    start = time.monotonic()
    done = grade_in_subprocess(folder, tmp_path / "grades.csv", "--timeout", "2", "--seed", "1", timeout=120)
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    # Starting Python and PyTorch, the probe, the smoke test, and 3 steps of at most 2 s each (plus a grace
    # of 5 s to stop): about 15 s here, 60 s on a machine busy with other work. A deadline the submission
    # could move would keep the first grader running for ever (it ran for over 60 s under --timeout 5).
    assert elapsed < 60
    rows, report = read_reports(tmp_path / "grades.csv")
    assert rows["honest.ipynb"]["total"] == str(MAX)
    waits = by_file(report)["waits_forever"]["exercises"]
    assert waits["softmax"]["points"] == 0 and waits["softmax"]["status"] in ("timeout", "error")
