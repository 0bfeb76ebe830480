"""What runs of a submission: the student's own cells, as Python, in notebook order.

The grader runs a notebook the way Jupyter would, but only the student's part of it:

* the code cells the student added or changed (compared with the released student edition of the
  chapter) and every exercise cell (marked ``# EXERCISE: <id>``), in notebook order, in one namespace,
  so that a helper defined in another cell, or the student's own function from an earlier exercise, is
  there when an exercise needs it. Chapter cells the student did not change (the experiments) do not run.
* IPython syntax is translated by IPython's own input transformer (``TransformerManager``); the shell
  commands and magics it produces (``get_ipython().system(...)``, ``run_line_magic``, ``run_cell_magic``)
  are dropped, except ``%time``/``%%time``/``%%capture``, whose code is the student's and runs.
* ``from dnncourse.exercises import check [as name]`` binds ``name`` to a function that does nothing.
* An exercise whose cell uses the course library (an import of ``dnncourse``, or a name that the cell
  defining it took from the library) is ``flagged``: 0 points, not run. Inside the sandbox the library
  is not importable anyway; this check only gives the honest reason.

The result is a :class:`Program`: the cells to run and one :class:`Step` per exercise to grade (the
cells since the previous exercise, then the exercise's own cell and its cases). Cells after the last
graded exercise cannot change a grade and are not run.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from dnncourse.exercises import Exercise, marked_exercise
from dnncourse.grading.notebooks import Notebook, normalized
from dnncourse.grading.results import ExerciseResult

__all__ = [
    "CHECK",
    "ProgramCell",
    "Step",
    "Program",
    "translate_ipython",
    "prepare_cell",
    "library_use",
    "build_program",
]

CHECK = "__dnncourse_check__"  # the name of the runner's do-nothing check function
_TRANSPARENT_LINE_MAGICS = {"time"}  # their argument is the student's code: it runs
_TRANSPARENT_CELL_MAGICS = {"time", "capture"}
_IPYTHON_CALLS = {"system", "getoutput", "run_line_magic", "run_cell_magic"}
_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)
_TORCH = re.compile(r"\btorch\b")


def _parse(code: str) -> ast.Module | None:
    """The syntax tree, or None if the code does not parse (the sandbox then reports the error)."""
    try:
        return ast.parse(code)
    except _PARSE_ERRORS:
        return None


def _replace(code: str, spans: list[tuple[int, int, int, int, str]]) -> str:
    """``code`` with each ``(line, column, end line, end column, text)`` span replaced (columns in UTF-8 bytes).

    A replacement is written where the span starts and the span's other lines become blank, so every
    line keeps its number and error messages point at the student's lines.
    """
    lines = [line.encode("utf-8") for line in code.split("\n")]
    for line, column, end_line, end_column, text in sorted(spans, reverse=True):
        head, tail = lines[line - 1][:column], lines[end_line - 1][end_column:]
        lines[line - 1 : end_line] = [head + text.encode("utf-8") + tail, *([b""] * (end_line - line))]
    return "\n".join(line.decode("utf-8") for line in lines)


def _ipython_call(node: ast.AST) -> str | None:
    """``"system"``, ``"run_line_magic"``, ... if ``node`` is a ``get_ipython().<that>(...)`` call."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _IPYTHON_CALLS
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "get_ipython"
    ):
        return node.func.attr
    return None


def _transparent_code(node: ast.Call) -> str | None:
    """The code of ``%time <code>`` (which runs), or None for every other magic and shell call."""
    if len(node.args) == 2 and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
        name, argument = node.args[0].value, node.args[1].value
        if name in _TRANSPARENT_LINE_MAGICS and "\n" not in argument:
            return argument
    return None


def translate_ipython(source: str) -> str:
    """A cell's IPython source as plain Python with the same line numbers (magics and shell lines dropped).

    ``%%time``/``%%capture`` cells become their body; other cell magics (``%%bash``, ``%%writefile``)
    become blank. Line magics and shell lines become ``None`` (``files = !ls`` becomes ``files = None``),
    except ``%time <code>``, which becomes ``<code>``. A continuation line that starts with ``!=`` is
    Python, not a shell line: IPython's transformer reads tokens, not line prefixes.
    """
    lines = source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        words = lines[first].strip()[2:].split()
        body = "\n".join(lines[first + 1 :])
        if words and words[0] in _TRANSPARENT_CELL_MAGICS:
            return "\n" * (first + 1) + translate_ipython(body)
        return "\n" * (len(lines) - 1)
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        code = TransformerManager().transform_cell(source)
    except Exception:  # IPython cannot read it, so neither can Python: the sandbox reports the error
        return source
    tree = _parse(code)
    if tree is None:
        return code
    spans = []
    for node in ast.walk(tree):
        statement = isinstance(node, ast.Expr) and _ipython_call(node.value)
        if statement:
            text = _transparent_code(node.value) if statement == "run_line_magic" else None
            spans.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, text or "None"))
        elif _ipython_call(node) and not any(s[:2] == (node.lineno, node.col_offset) for s in spans):
            spans.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, "None"))
    outermost = [s for s in spans if not any(o != s and o[:2] <= s[:2] and o[2:4] >= s[2:4] for o in spans)]
    return _replace(code, outermost).rstrip("\n") + "\n" * source.endswith("\n")


def _is_library(name: str | None) -> bool:
    return bool(name) and (name == "dnncourse" or name.startswith("dnncourse."))


def _check_import(node: ast.AST) -> bool:
    """``from dnncourse.exercises import check`` (under any name): the one harmless import of the library."""
    return (
        isinstance(node, ast.ImportFrom)
        and node.module == "dnncourse.exercises"
        and node.level == 0
        and all(alias.name == "check" for alias in node.names)
    )


def library_use(tree: ast.Module) -> str | None:
    """Why the code counts as using the course library (a reason), or None.

    Any import of ``dnncourse`` other than the check function (``import dnncourse``, ``from dnncourse...
    import ...``, ``__import__("dnncourse")``, ``importlib.import_module("dnncourse...")``) or use of a
    name ``dnncourse``.
    """
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import) and any(_is_library(alias.name) for alias in node.names):
            return f"imports {node.names[0].name} (line {line}): the exercise must not use the course library"
        if isinstance(node, ast.ImportFrom) and _is_library(node.module) and not _check_import(node):
            return f"imports from {node.module} (line {line}): the exercise must not use the course library"
        if isinstance(node, ast.Name) and node.id == "dnncourse":
            return f"uses the name dnncourse (line {line}): the exercise must not use the course library"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_library(node.value.strip()):
            return f"refers to the module {node.value!r} (line {line}): the exercise must not use the course library"
    return None


def _bound_names(statements: list[ast.stmt]) -> set[str]:
    """Names a block binds at its own level (not inside the functions and classes it defines)."""
    names: set[str] = set()
    stack = list(statements)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*")
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return names


def _free_names(tree: ast.Module) -> set[str]:
    """Names the code reads but never binds anywhere in it (an approximation of what it needs from outside)."""
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return loaded - bound


@dataclass
class ProgramCell:
    """A code cell to run: its notebook number, its code as Python, what it is."""

    number: int
    code: str
    exercise: str | None = None  # the exercise it is marked with (graded or not)
    defines: frozenset[str] = frozenset()  # names it binds at top level
    needs: frozenset[str] = frozenset()  # names it reads without binding them
    library: str | None = None  # why it uses the course library, if it does


def prepare_cell(number: int, source: str, exercise: str | None = None) -> ProgramCell:
    """Translate one cell's source and read what it defines, needs, and whether it uses the library."""
    code = translate_ipython(source)
    tree = _parse(code)
    if tree is None:
        return ProgramCell(number, code, exercise)
    spans = []
    for node in ast.walk(tree):
        if _check_import(node):
            text = "; ".join(f"{alias.asname or alias.name} = {CHECK}" for alias in node.names)
            spans.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, text))
    if spans:
        code = _replace(code, spans)
        tree = _parse(code) or tree
    return ProgramCell(
        number, code, exercise, frozenset(_bound_names(tree.body)), frozenset(_free_names(tree)), library_use(tree)
    )


@dataclass
class Step:
    """One exercise to grade: the cells to run before it, then its own cell, then its cases."""

    exercise: Exercise
    before: list[int]  # positions in Program.cells
    cell: int  # position of the exercise's (last) cell


@dataclass
class Program:
    """What runs of one submission, and the grades decided without running anything."""

    cells: list[ProgramCell] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    decided: dict[str, ExerciseResult] = field(default_factory=dict)  # not-attempted (no cell), flagged
    notes: list[str] = field(default_factory=list)
    needs_torch: bool = False


def _flag_reason(program: Program, position: int) -> str | None:
    """Why the exercise cell at ``position`` uses the library: itself, or through a name another cell took from it."""
    cell = program.cells[position]
    if cell.library:
        return cell.library
    for name in sorted(cell.needs):
        definers = [c for c in program.cells[:position] if name in c.defines]
        if definers and definers[-1].library:
            number = definers[-1].number
            return f"uses {name}, which cell {number} takes from the course library: the exercise must not use it"
    return None


def build_program(notebook: Notebook, exercises: list[Exercise], released: frozenset[str]) -> Program:
    """The cells of ``notebook`` to run and the steps grading ``exercises`` (those of its chapter)."""
    program = Program()
    by_id = {exercise.id: exercise for exercise in exercises}
    last: dict[str, int] = {}
    for cell in notebook.code_cells:
        exercise_id = marked_exercise(cell.source)
        if exercise_id is not None and exercise_id not in by_id:
            program.notes.append(
                f"cell {cell.number} is marked '# EXERCISE: {exercise_id}', not an exercise of this chapter"
            )
            exercise_id = None
        if exercise_id is None and normalized(cell.source) in released:
            continue  # the chapter's own cell, unchanged: not run
        program.cells.append(prepare_cell(cell.number, cell.source, exercise_id))
        if exercise_id is not None:
            last[exercise_id] = len(program.cells) - 1
    for exercise in exercises:
        if exercise.id not in last:
            program.decided[exercise.id] = ExerciseResult(
                0.0, exercise.points, "not-attempted", f"no cell marked '# EXERCISE: {exercise.id}' in the notebook"
            )
            continue
        reason = _flag_reason(program, last[exercise.id])
        if reason is not None:
            program.decided[exercise.id] = ExerciseResult(0.0, exercise.points, "flagged", reason)
    graded = sorted((position, by_id[i]) for i, position in last.items() if i not in program.decided)
    previous = -1
    for position, exercise in graded:
        program.steps.append(Step(exercise, list(range(previous + 1, position)), position))
        previous = position
    program.cells = program.cells[: previous + 1]  # later cells cannot change a grade
    program.needs_torch = any(step.exercise.torch_inputs for step in program.steps) or any(
        _TORCH.search(cell.code) for cell in program.cells
    )
    return program
