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
* The chapter's own imports (``import torch.nn as nn`` in its import cell) run first, those whose names the
  student's cells use without binding them: in Jupyter the chapter's import cell ran too. Its other cells
  do not; an import of the course library never does.
* An exercise whose graded function uses the course library (an import of ``dnncourse`` in it, or a
  name bound to something taken from the library: an alias, a helper that calls it) is ``flagged``: 0
  points, not run. Other uses of the library in the student's cells (a chapter cell edited by the
  student, a comparison with the library after the function) do not flag it: inside the sandbox the
  library is not importable anyway, and this check only gives the honest reason.

The result is a :class:`Program`: the cells to run and one :class:`Step` per exercise to grade (the
cells since the previous exercise, then the exercise's own cell and its cases). Cells after the last
graded exercise cannot change a grade and are not run.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import shlex
from dataclasses import dataclass, field

from dnncourse.exercises import Exercise, marked_exercise
from dnncourse.grading.notebooks import Cell, Notebook, normalized
from dnncourse.grading.results import ExerciseResult

__all__ = [
    "CHECK",
    "ProgramCell",
    "Step",
    "Program",
    "translate_ipython",
    "prepare_cell",
    "library_use",
    "chapter_imports",
    "imported_modules",
    "build_program",
]

CHECK = "__dnncourse_check__"  # the name of the runner's do-nothing check function
# IPython's transformer reads a whole cell again for each magic or shell line in it (about 7 us a character):
# the budget of a notebook, in characters read (each magic costs its cell's length plus 1000), keeps that to
# seconds. A notebook with a few magics in each of twenty 2 kB cells reads 120 000.
_TRANSLATION_BUDGET = 1_000_000
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


def _writefile(arguments: str, body: str) -> str:
    """``%%writefile [-a] FILE`` as one line of Python that writes (or appends) ``body`` to ``FILE``."""
    try:
        words = shlex.split(arguments)
    except ValueError:
        words = []
    append = words[:1] in (["-a"], ["--append"])
    names = words[1:] if append else words
    if len(names) != 1:
        return "None"  # IPython prints its usage and writes nothing
    mode = "a" if append else "w"
    return f"open({os.path.expanduser(names[0])!r}, {mode!r}, encoding='utf-8').write({body!r})"


def _escapes(source: str) -> int:
    """How many lines of ``source`` look like IPython syntax (a magic, a shell line, a help request)."""
    return sum(1 for line in source.split("\n") if line.lstrip().startswith(("%", "!")) or line.rstrip().endswith("?"))


def translate_ipython(source: str) -> str:
    """A cell's IPython source as plain Python with the same line numbers (magics and shell lines dropped).

    ``%%time``/``%%capture`` cells become their body, ``%%writefile FILE`` one line that writes it (into the
    scratch folder, where ``import`` finds it, as in Jupyter); other cell magics (``%%bash``) become blank.
    Line magics and shell lines become ``None`` (``files = !ls`` becomes ``files = None``), except
    ``%time <code>``, which becomes ``<code>``. A continuation line that starts with ``!=`` is
    Python, not a shell line: IPython's transformer reads tokens, not line prefixes.
    """
    lines = source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        words = lines[first].strip()[2:].split()
        body = "\n".join(lines[first + 1 :])
        if words and words[0] in _TRANSPARENT_CELL_MAGICS:
            return "\n" * (first + 1) + translate_ipython(body)
        if words and words[0] in ("writefile", "file"):
            return (
                "\n" * first
                + _writefile(lines[first].strip()[2 + len(words[0]) :], body)
                + "\n" * (len(lines) - first - 1)
            )
        return "\n" * (len(lines) - 1)
    if _parse(source) is not None:
        return source  # plain Python already: IPython's syntax never parses, so there is nothing to translate
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        code = TransformerManager().transform_cell(source)
    except Exception:  # IPython cannot read it, so neither can Python: the sandbox reports the error
        return source
    tree = _parse(code)
    if tree is None:
        return code
    spans, starts = [], set()
    for node in ast.walk(tree):
        statement = isinstance(node, ast.Expr) and _ipython_call(node.value)
        if statement:
            text = _transparent_code(node.value) if statement == "run_line_magic" else None
            spans.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, text or "None"))
            starts.add((node.lineno, node.col_offset))
        elif _ipython_call(node) and (node.lineno, node.col_offset) not in starts:
            spans.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, "None"))
    # Spans of syntax-tree nodes nest or are apart: sorted by start, then longest first, an inner span follows
    # the span holding it (one pass, not a comparison of every pair).
    outermost: list[tuple[int, int, int, int, str]] = []
    for span in sorted(spans, key=lambda s: (s[0], s[1], -s[2], -s[3])):
        if not outermost or span[:2] >= outermost[-1][2:4]:  # after the last one kept, not inside it
            outermost.append(span)
    return _replace(code, outermost).rstrip("\n") + "\n" * source.endswith("\n")


_RULE = ": the exercise must not use the course library"


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


def library_use(tree: ast.AST) -> str | None:
    """Why the code counts as using the course library (a reason), or None.

    Any import of ``dnncourse`` other than the check function (``import dnncourse``, ``from dnncourse...
    import ...``, ``__import__("dnncourse")``, ``importlib.import_module("dnncourse...")``) or use of a
    name ``dnncourse``.
    """
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import) and any(_is_library(alias.name) for alias in node.names):
            return f"imports {node.names[0].name} (line {line}){_RULE}"
        if isinstance(node, ast.ImportFrom) and _is_library(node.module) and not _check_import(node):
            return f"imports from {node.module} (line {line}){_RULE}"
        if isinstance(node, ast.Name) and node.id == "dnncourse":
            return f"uses the name dnncourse (line {line}){_RULE}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_library(node.value.strip()):
            return f"refers to the module {node.value!r} (line {line}){_RULE}"
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
    return _prepare(number, source, exercise)[0]


def _prepare(number: int, source: str, exercise: str | None) -> tuple[ProgramCell, ast.Module | None]:
    """:func:`prepare_cell`, and the cell's syntax tree (None if it does not parse)."""
    tree = _parse(source)  # plain Python (most cells) is parsed once
    code = source if tree is not None else translate_ipython(source)
    tree = tree if tree is not None else _parse(code)
    if tree is None:
        return ProgramCell(number, code, exercise), None
    spans = []
    for node in ast.walk(tree):
        if _check_import(node):
            text = "; ".join(f"{alias.asname or alias.name} = {CHECK}" for alias in node.names)
            spans.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, text))
    if spans:
        code = _replace(code, spans)
        tree = _parse(code) or tree
    cell = ProgramCell(
        number, code, exercise, frozenset(_bound_names(tree.body)), frozenset(_free_names(tree)), library_use(tree)
    )
    return cell, tree


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
    preamble: list[str] = field(default_factory=list)  # the chapter's imports the student's cells use, first


@functools.lru_cache(maxsize=32)
def chapter_imports(released: frozenset[str]) -> dict[str, str]:
    """name -> one import statement binding it, for the top-level imports of the chapter's released cells.

    Not the course library, nor a relative or ``__future__`` import; a name two cells import differently
    keeps one of them (sorted, so the choice is the same every run).
    """
    imports: dict[str, str] = {}
    for source in sorted(released):
        tree = _parse(source) or _parse(translate_ipython(source))
        for node in tree.body if tree is not None else []:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if not _is_library(alias.name):
                        name = alias.asname or alias.name.split(".")[0]
                        imports.setdefault(name, ast.unparse(ast.Import(names=[alias])))
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module not in (None, "__future__"):
                for alias in node.names:
                    if alias.name != "*" and not _is_library(node.module):
                        statement = ast.ImportFrom(module=node.module, names=[alias], level=0)
                        imports.setdefault(alias.asname or alias.name, ast.unparse(statement))
    return imports


def imported_modules(statements: list[str] | set[str]) -> set[str]:
    """The top-level modules that import statements (from :func:`chapter_imports`) import: what the sandbox shows."""
    modules = set()
    for statement in statements:
        node = ast.parse(statement).body[0]
        modules.add((node.module if isinstance(node, ast.ImportFrom) else node.names[0].name).split(".")[0])
    return modules


def _preamble(cells: list[ProgramCell], imports: dict[str, str]) -> list[str]:
    """The chapter's import statements for the names the cells read before any of them binds the name."""
    wanted, bound = [], set()
    for cell in cells:
        for name in sorted(cell.needs - bound):
            if name in imports and imports[name] not in wanted:
                wanted.append(imports[name])
        bound |= cell.defines
    return wanted


def _follow_library(statement: ast.stmt, number: int, bound: dict[str, str]) -> None:
    """Update ``bound`` (name -> how it holds something of the course library) for one top-level statement.

    An import binds each of its names to the library or not, by its module. Any other statement that uses the
    library (:func:`library_use`), or reads a name bound to it without binding that name itself, binds every
    name it defines to the library (an alias, a helper function that calls it); otherwise it unbinds them.
    """
    if isinstance(statement, (ast.Import, ast.ImportFrom)) and not _check_import(statement):
        for alias in statement.names:
            if alias.name == "*":
                continue
            module = alias.name if isinstance(statement, ast.Import) else statement.module
            name = (alias.asname or alias.name).split(".")[0]
            relative = isinstance(statement, ast.ImportFrom) and statement.level > 0
            if _is_library(module) and not relative:
                bound[name] = f"cell {number} takes {name} from the course library (line {statement.lineno})"
            else:
                bound.pop(name, None)
        return
    names = _bound_names([statement])
    direct = library_use(statement)
    used = sorted(_free_names(statement) & bound.keys())
    for name in names:
        if direct:
            bound[name] = f"cell {number} {direct.removesuffix(_RULE)}"
        elif used:
            bound[name] = f"cell {number} defines {name} with {used[0]}; {bound[used[0]]}"[:400]
        else:
            bound.pop(name, None)


def _flag_reasons(
    program: Program, trees: list[ast.Module | None], last: dict[str, int], exercises: dict[str, Exercise]
) -> dict[str, str]:
    """Why each exercise's function uses the course library, by id (exercises whose function does not: absent).

    The cells (``trees``: their syntax trees) are followed in notebook order (:func:`_follow_library`) up to each
    exercise's cell; the graded function is what its name is bound to then.
    """
    at: dict[int, list[str]] = {}
    for exercise_id, position in last.items():
        at.setdefault(position, []).append(exercise_id)
    bound: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for position, (cell, tree) in enumerate(zip(program.cells[: max(at, default=-1) + 1], trees)):
        for statement in tree.body if tree is not None else []:
            _follow_library(statement, cell.number, bound)
        for exercise_id in at.get(position, []):
            function = exercises[exercise_id].function
            if function in bound:
                reasons[exercise_id] = f"{function} uses the course library ({bound[function]}){_RULE}"
    return reasons


def _too_much_code(sources: list[str], max_code_kb: int, max_code_lines: int) -> str | None:
    """Why the grader will not analyse these cells (more code, or more IPython syntax, than it reads in seconds)."""
    size = sum(len(source) for source in sources)
    lines = sum(1 + source.count("\n") + source.count(";") for source in sources)
    if size > max_code_kb * 1000 or lines > max_code_lines:
        return (
            f"the cells you added or changed hold {size / 1000:.0f} kB of code in {lines} lines; the grader "
            f"runs at most {max_code_kb} kB in {max_code_lines} lines"
        )
    # Only cells that are not plain Python go through IPython's transformer.
    translated = [(n, source) for n, source in ((_escapes(s), s) for s in sources) if n and _parse(source) is None]
    if sum(n * (len(source) + 1000) for n, source in translated) > _TRANSLATION_BUDGET:
        return (
            f"the cells you added or changed hold {sum(n for n, _ in translated)} magic or shell lines (%, !, ?) "
            f"among {lines} lines: more IPython syntax than the grader translates (a few magics in a cell are fine)"
        )
    return None


def build_program(
    notebook: Notebook,
    exercises: list[Exercise],
    released: frozenset[str],
    max_code_kb: int = 1000,
    max_code_lines: int = 20_000,
) -> Program:
    """The cells of ``notebook`` to run and the steps grading ``exercises`` (those of its chapter).

    The student's own cells (added or changed, and exercise cells) may hold at most ``max_code_kb``
    kilobytes (thousands of characters) of code in ``max_code_lines`` lines (semicolons count as line
    breaks, and each cell as one line at least): more is an error for every exercise and nothing runs.
    Analysing a notebook of megabytes of statements would take the grader minutes and gigabytes.
    """
    program = Program()
    by_id = {exercise.id: exercise for exercise in exercises}
    last: dict[str, int] = {}
    own: list[tuple[Cell, str | None]] = []
    for cell in notebook.code_cells:
        exercise_id = marked_exercise(cell.source)
        if exercise_id is not None and exercise_id not in by_id:
            program.notes.append(
                f"cell {cell.number} is marked '# EXERCISE: {exercise_id}', not an exercise of this chapter"
            )
            exercise_id = None
        if exercise_id is None and normalized(cell.source) in released:
            continue  # the chapter's own cell, unchanged: not run
        own.append((cell, exercise_id))
    reason = _too_much_code([cell.source for cell, _ in own], max_code_kb, max_code_lines)
    if reason:
        program.decided = {e.id: ExerciseResult(0.0, e.points, "error", reason) for e in exercises}
        return program
    trees = []
    for cell, exercise_id in own:
        prepared, tree = _prepare(cell.number, cell.source, exercise_id)
        program.cells.append(prepared)
        trees.append(tree)
        if exercise_id is not None:
            last[exercise_id] = len(program.cells) - 1
    flags = _flag_reasons(program, trees, last, by_id)
    for exercise in exercises:
        if exercise.id not in last:
            program.decided[exercise.id] = ExerciseResult(
                0.0, exercise.points, "not-attempted", f"no cell marked '# EXERCISE: {exercise.id}' in the notebook"
            )
        elif exercise.id in flags:
            program.decided[exercise.id] = ExerciseResult(0.0, exercise.points, "flagged", flags[exercise.id])
    graded = sorted((position, by_id[i]) for i, position in last.items() if i not in program.decided)
    previous = -1
    for position, exercise in graded:
        program.steps.append(Step(exercise, list(range(previous + 1, position)), position))
        previous = position
    program.cells = program.cells[: previous + 1]  # later cells cannot change a grade
    program.preamble = _preamble(program.cells, chapter_imports(released))
    program.needs_torch = any(step.exercise.torch_inputs for step in program.steps) or any(
        _TORCH.search(code) for code in [*program.preamble, *(cell.code for cell in program.cells)]
    )
    return program
