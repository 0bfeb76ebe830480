"""The Gradescope autograder: the zip ``dnncourse gradescope`` builds, and its ``run_autograder`` run on a
temporary folder laid out like Gradescope's ``/autograder`` (``source/`` the zip's content, ``submission/``
the student's files, ``results/``), with a correct, a partly wrong and a broken submission; ``results.json``
is checked field by field against Gradescope's specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/). The unprivileged-user fallback runs a
hostile notebook as ``nobody`` (as root only): it cannot read the grader's files, write ``results.json`` or
signal the grader, and it is still graded.
"""

from __future__ import annotations

import inspect
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat
import pytest
from test_grader_support import CHAPTER, MAX, POINTS, ROOT, notebook, requires_bwrap, write

import dnncourse
from dnncourse.exercises import all_exercises
from dnncourse.grading import autograder, gradescope
from dnncourse.grading.results import GradingError

# Gradescope's documented fields and values.
TOP_FIELDS = {
    "score",
    "execution_time",
    "output",
    "output_format",
    "test_output_format",
    "test_name_format",
    "visibility",
    "stdout_visibility",
    "extra_data",
    "tests",
    "leaderboard",
}
TEST_FIELDS = {
    "score",
    "max_score",
    "status",
    "name",
    "name_format",
    "number",
    "output",
    "output_format",
    "tags",
    "visibility",
    "extra_data",
}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
SEED = 1234
WRONG_SOFTMAX = "def softmax(logits):\n    return np.exp(logits) / np.exp(logits).sum()"  # normalizes the whole batch


def _build(out: Path) -> Path:
    assert gradescope.main([CHAPTER, "--out", str(out), "--seed", str(SEED), "--timeout", "20"]) == 0
    return out


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("zip") / "autograder.zip")


def _lay_out(archive: Path, root: Path) -> Path:
    """``root`` laid out as Gradescope lays out /autograder: the zip in source/ (modes kept, as unzip keeps
    them), run_autograder copied to the root, empty submission/ and results/."""
    with zipfile.ZipFile(archive) as handle:
        for info in handle.infolist():
            target = root / "source" / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(handle.read(info))
            target.chmod((info.external_attr >> 16) & 0o777)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def _run_autograder(root: Path, python: str = sys.executable, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DNNCOURSE_AUTOGRADER_ROOT": str(root),
        "DNNCOURSE_AUTOGRADER_PYTHON": python,
        **env,
    }
    environment.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(root / "run_autograder")], capture_output=True, text=True, timeout=300, env=environment, cwd=root
    )


def _check_results(document: dict) -> None:
    """Every field of Gradescope's schema that the autograder writes, with its type and range."""
    assert set(document) <= TOP_FIELDS
    assert {"score", "execution_time", "output", "output_format", "visibility", "stdout_visibility", "tests"} <= set(
        document
    )
    assert isinstance(document["execution_time"], int) and document["execution_time"] >= 0
    assert isinstance(document["output"], str) and document["output_format"] == "md"
    assert document["visibility"] in VISIBILITIES and document["stdout_visibility"] == "hidden"
    tests = document["tests"]
    assert isinstance(tests, list) and len(tests) == len(POINTS)
    for number, (test, (exercise_id, points)) in enumerate(zip(tests, POINTS.items()), start=1):
        assert set(test) <= TEST_FIELDS
        assert test["name"] == f"{exercise_id}: {all_exercises()[exercise_id].function}()"
        assert test["number"] == str(number)
        for field in ("score", "max_score"):
            assert isinstance(test[field], (int, float)) and not isinstance(test[field], bool)
        assert test["max_score"] == points and 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed")
        assert (test["status"] == "passed") == (test["score"] == test["max_score"])
        assert isinstance(test["output"], str) and test["output"]
        assert test["output_format"] in FORMATS and test["visibility"] in VISIBILITIES
    assert isinstance(document["score"], (int, float)) and not isinstance(document["score"], bool)
    assert document["score"] == pytest.approx(sum(test["score"] for test in tests))
    assert 0 <= document["score"] <= sum(test["max_score"] for test in tests)
    text = json.dumps(document)
    for exercise_id in POINTS:  # nothing of a reference implementation's code reaches the student
        source = inspect.getsource(all_exercises()[exercise_id].reference).splitlines()[1:]
        assert not [line for line in source if len(line.strip()) > 12 and json.dumps(line.strip())[1:-1] in text]


# ---------------------------------------------------------------- the zip


def test_the_zip_holds_the_scripts_the_library_the_released_notebook_and_nothing_else(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        config = json.loads(archive.read("config.json"))
        released = archive.read(f"book/{CHAPTER}.ipynb")
    package = Path(dnncourse.__file__).parent
    library = {
        f"dnncourse/{p.relative_to(package).as_posix()}"
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert names == sorted(names)
    assert set(names) == {"setup.sh", "run_autograder", "requirements.txt", "config.json", f"book/{CHAPTER}.ipynb"} | (
        library
    )
    assert not [n for n in names if "__pycache__" in n or "solutions" in n or n.startswith(("tests/", ".git"))]
    assert released == (ROOT / "book" / f"{CHAPTER}.ipynb").read_bytes()  # the student edition, not the solutions
    for info in infos:
        mode = (info.external_attr >> 16) & 0o777
        assert mode == (0o755 if info.filename in ("setup.sh", "run_autograder") else 0o644), info.filename
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
    assert config["chapter"] == CHAPTER and config["seed"] == SEED and config["timeout"] == 20
    assert config["visibility"] == "visible" and config["dnncourse"]["version"] == dnncourse.__version__


def test_the_zip_is_deterministic(autograder_zip, tmp_path):
    assert _build(tmp_path / "again.zip").read_bytes() == autograder_zip.read_bytes()


def test_setup_installs_bubblewrap_and_the_cpu_build_of_the_pinned_torch(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        setup = archive.read("setup.sh").decode()
        pinned = archive.read("requirements.txt").decode()
    assert subprocess.run(["bash", "-n"], input=setup, text=True).returncode == 0
    repository = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    lines = setup.splitlines()
    assert [line for line in lines if line.startswith("apt-get install") and "bubblewrap" in line]
    torch = f'--index-url https://download.pytorch.org/whl/cpu "torch=={repository["torch"]}"'
    assert [line for line in lines if "pip" in line and line.endswith(torch)]
    assert [line for line in lines if "useradd" in line and gradescope.STUDENT_USER in line]
    assert 'chmod -R go-rwx "$SOURCE"' in lines  # the grader's files: root only
    installs = [line for line in lines if "pip" in line and " install " in line]
    assert len(installs) == 2 and not [line for line in installs if "dnncourse" in line or " -e " in line]
    pins = dict(line.split("==") for line in pinned.splitlines() if not line.startswith("#"))
    assert {"numpy", "ipython", "matplotlib", "tqdm"} <= set(pins) and "torch" not in pins
    assert all(repository[name] == version for name, version in pins.items())


@pytest.mark.parametrize(
    "arguments, words",
    [
        (["no_such_chapter", "--out", "x.zip"], "chapters with exercises: 01_why_deep_learning"),
        ([CHAPTER, "--out", "x.tar"], "--out must name a .zip file"),
        ([CHAPTER, "--out", "x.zip", "--timeout", "-1"], "--timeout must be a positive number"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(arguments, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    from dnncourse.cli import main

    assert main(["gradescope", *arguments]) == 2
    assert words in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- run_autograder, as Gradescope runs it


def _correct() -> bytes:
    return (ROOT / "book" / "solutions" / f"{CHAPTER}.ipynb").read_bytes()


def _partial() -> bytes:
    return nbformat.writes(notebook(softmax=WRONG_SOFTMAX)).encode()


@requires_bwrap
@pytest.mark.parametrize("kind", ["correct", "partial", "broken"])
def test_run_autograder_writes_valid_results(kind, autograder_zip, tmp_path):
    root = _lay_out(autograder_zip, tmp_path / "autograder")
    content = {"correct": _correct, "partial": _partial, "broken": lambda: b'{"cells": [ not json'}[kind]()
    (root / "submission" / f"{CHAPTER}.ipynb").write_bytes(content)
    (root / "submission_metadata.json").write_text(json.dumps({"id": 123456}))
    done = _run_autograder(root)
    assert done.returncode == 0, done.stderr
    assert f"from {root / 'source' / 'dnncourse'}" in done.stdout  # the zip's library, not this checkout's
    document = json.loads((root / "results" / "results.json").read_text())
    _check_results(document)
    statuses = document["extra_data"]["statuses"]
    tests = {test["name"].split(":")[0]: test for test in document["tests"]}
    if kind == "correct":
        assert document["score"] == MAX and set(statuses.values()) == {"passed"}
    elif kind == "partial":
        assert statuses == {"softmax": "failed", "cross_entropy": "passed", "accuracy": "passed"}
        assert tests["softmax"]["score"] < POINTS["softmax"]
        assert document["score"] == pytest.approx(MAX - POINTS["softmax"] + tests["softmax"]["score"])
    else:
        assert document["score"] == 0 and set(statuses.values()) == {"error"}
    assert "bubblewrap" in document["output"] and "bubblewrap" in document["extra_data"]["isolation"]


def test_which_notebook_is_graded(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    assert autograder.choose_notebook(folder, CHAPTER, 2**20)[0] is None
    write(folder, "scratch", notebook())
    name, data = autograder.choose_notebook(folder, CHAPTER, 2**20)
    assert name == "scratch.ipynb" and json.loads(data)["cells"]  # the only one, whatever its name
    write(folder, "other", notebook())
    name, message = autograder.choose_notebook(folder, CHAPTER, 2**20)
    assert name is None and f"`{CHAPTER}.ipynb`" in message and "`other.ipynb`" in message
    (folder / "work").mkdir()
    write(folder / "work", CHAPTER, notebook())
    assert autograder.choose_notebook(folder, CHAPTER, 2**20)[0] == f"work/{CHAPTER}.ipynb"


def test_no_notebook_gets_zero_and_says_what_to_submit(autograder_zip, tmp_path, capsys):
    root = _lay_out(autograder_zip, tmp_path / "autograder")
    (root / "submission" / "answers.txt").write_text("my answers")
    assert autograder.run(root) == 0
    document = json.loads((root / "results" / "results.json").read_text())
    _check_results(document)
    assert document["score"] == 0 and f"`{CHAPTER}.ipynb`" in document["output"]


def test_a_broken_set_up_or_no_isolation_is_an_autograder_failure_not_a_zero(autograder_zip, tmp_path, monkeypatch):
    root = _lay_out(autograder_zip, tmp_path / "autograder")
    write(root / "submission", CHAPTER, notebook())
    (root / "source" / "config.json").unlink()
    assert autograder.run(root) == 2
    assert not (root / "results" / "results.json").exists()
    monkeypatch.setattr(autograder.shutil, "which", lambda name: None)
    with pytest.raises(GradingError, match="bubblewrap"):
        autograder.choose_isolation("bubblewrap")
    monkeypatch.setattr(autograder.os, "geteuid", lambda: 1000)
    with pytest.raises(GradingError, match="not run as root"):
        autograder.choose_isolation("auto")
    with pytest.raises(GradingError, match="not run as root"):
        autograder.choose_isolation("user")


# ---------------------------------------------------------------- the unprivileged-user fallback (as root)

HOSTILE = """import json, os, socket
report = {"uid": os.getuid()}
attempts = {
    "canary": lambda: open(CANARY).read(),
    "source": lambda: os.listdir(SOURCE),
    "reference": lambda: open(SOURCE + "/dnncourse/exercises/basics.py").read(),
    "results": lambda: open(RESULTS + "/results.json", "w").write("{}"),
    "signal_grader": lambda: os.kill(os.getppid(), 0),
    "fork": lambda: os._exit(0) if os.fork() == 0 else None,
    "socket": lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close(),
}
for key, attempt in attempts.items():
    try:
        attempt()
        report[key] = "allowed"
    except Exception as error:
        report[key] = type(error).__name__
with open(OUT, "w") as handle:
    json.dump(report, handle)"""


def _python_for(user: pwd.struct_passwd, folder: Path) -> str | None:
    """An interpreter with this environment's packages that ``user`` can run: this one, or (when it lives in a
    folder closed to other users, such as /root) a virtual environment of the system's Python of the same
    version, pointed at this environment's site-packages."""

    def works(python: str) -> bool:
        probe = [python, "-c", "import numpy, torch"]
        ids = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        try:
            return subprocess.run(probe, capture_output=True, cwd="/", timeout=120, **ids).returncode == 0
        except OSError:
            return False

    if works(sys.executable):
        return sys.executable
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.is_file():
        return None
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(folder)], check=True, capture_output=True)
    sites = [p for p in sys.path if p.endswith("site-packages")]
    (next((folder / "lib").glob("python3*")) / "site-packages" / "environment.pth").write_text("\n".join(sites))
    python = str(folder / "bin" / "python")
    return python if works(python) else None


@pytest.fixture
def open_folder():
    """A folder in /tmp that other users may pass through (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="dnncourse-gradescope-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the fallback runs only as root")
def test_the_unprivileged_user_fallback_protects_the_grader_and_still_grades(autograder_zip, open_folder):
    user = pwd.getpwnam("nobody")
    python = _python_for(user, open_folder / "venv")
    if python is None:
        pytest.skip("no Python with NumPy and PyTorch that the user nobody can run")
    root = _lay_out(autograder_zip, open_folder / "autograder")
    for folder in (root / "source", root / "results"):  # as open as a careless layout: run must close them
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o777 if path.is_dir() else 0o644)
    (root / "canary.txt").write_text("readable by everyone")
    (root / "canary.txt").chmod(0o644)
    shared = open_folder / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    places = {"CANARY": root / "canary.txt", "SOURCE": root / "source", "RESULTS": root / "results"}
    places["OUT"] = shared / "report.json"
    hostile = "".join(f"{name} = {str(path)!r}\n" for name, path in places.items()) + HOSTILE
    write(root / "submission", CHAPTER, notebook(before={"softmax": [hostile]}))
    done = _run_autograder(root, python, DNNCOURSE_AUTOGRADER_ISOLATION="user", DNNCOURSE_AUTOGRADER_USER=user.pw_name)
    assert done.returncode == 0, done.stderr
    report = json.loads(places["OUT"].read_text())
    assert report == {
        "uid": user.pw_uid,
        "canary": "allowed",  # the user reads what is open to everyone...
        "source": "PermissionError",  # ...but not the grader's files
        "reference": "PermissionError",
        "results": "PermissionError",
        "signal_grader": "PermissionError",
        "fork": "PermissionError",  # the seccomp filter: no processes that outlive the grader's kill
        "socket": "PermissionError",  # nor sockets (there is no network namespace)
    }
    document = json.loads((root / "results" / "results.json").read_text())
    _check_results(document)
    assert document["score"] == MAX
    assert f"unprivileged user {user.pw_name}" in document["extra_data"]["isolation"]
    assert "unprivileged user" in document["output"]
    assert stat.S_IMODE((root / "source").stat().st_mode) == 0o700
