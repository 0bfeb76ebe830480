"""The release step: student editions of the chapters, generated from the solutions notebooks.

``book/solutions/<chapter>.ipynb`` holds every exercise with its solution between ``# BEGIN SOLUTION``
and ``# END SOLUTION``. The student edition ``book/<chapter>.ipynb`` (what the site shows and Colab opens)
replaces each solution by a stub that raises ``NotImplementedError``, clears the outputs of the
exercise and check cells, and records the chapter in the notebook's metadata
(``metadata["dnncourse"]["chapter"]``, the notebook's stem), which the grader reads to know which
exercises a submission answers; everything else, stored outputs included, is kept. Exercise cells are
recognized by :func:`dnncourse.exercises.marked_exercise`, the function the grader uses too.

The solutions edition for instructors is the solutions notebooks themselves: :func:`solutions_toc`
writes a table of contents and a configuration under ``_build/solutions/`` that point the book at
``book/solutions/`` (``dnncourse release --solutions-toc`` prints the ``jupyter-book`` command).
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import nbformat
import yaml

from dnncourse.authoring.notebooks import write_notebook
from dnncourse.exercises import marked_exercise

__all__ = ["student_edition", "release_all", "student_path", "solutions_toc", "SOLUTIONS_BUILD", "CHAPTER_METADATA"]

CHAPTER_METADATA = "dnncourse"  # metadata[CHAPTER_METADATA]["chapter"] names the chapter of a student edition
_BEGIN = "# BEGIN SOLUTION"
_END = "# END SOLUTION"
_CHECK_CALL = re.compile(r"^\s*check\(\s*[\"'](?P<id>[\w.-]+)[\"']")


def _is_check_cell(source: str) -> bool:
    return any(_CHECK_CALL.match(line) for line in source.splitlines())


def _stub_solution(source: str, exercise_id: str, where: str) -> str:
    out, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == _BEGIN:
            if inside:
                raise ValueError(f"{where}, line {number}: '{_BEGIN}' inside another solution block")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(
                f'{indent}raise NotImplementedError("Exercise {exercise_id}: replace this line with your code '
                f'(see the instructions above)")'
            )
        elif stripped == _END:
            if not inside:
                raise ValueError(f"{where}, line {number}: '{_END}' without a matching '{_BEGIN}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '{_BEGIN}' without a matching '{_END}'")
    return "\n".join(out)


def student_edition(
    nb: nbformat.NotebookNode, name: str = "notebook", chapter: str | None = None
) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every solution replaced by a stub and exercise/check outputs cleared.

    ``name`` appears in error messages; ``chapter`` (default: the stem of ``name``) is written into the
    copy's metadata, ``metadata["dnncourse"]["chapter"]``.
    """
    student = copy.deepcopy(nb)
    student.metadata[CHAPTER_METADATA] = {"chapter": chapter or Path(name).stem}
    for index, cell in enumerate(student.cells):
        if cell.cell_type != "code":
            continue
        where = f"{name}, cell {index}"
        exercise_id = marked_exercise(cell.source)
        has_markers = _BEGIN in cell.source or _END in cell.source
        if exercise_id is not None:
            stubbed = _stub_solution(cell.source, exercise_id, where)  # first: it names a stray END's line
            if _BEGIN not in cell.source:
                raise ValueError(f"{where}: exercise {exercise_id!r} has no '{_BEGIN}' block")
            cell.source = stubbed
        elif has_markers:
            raise ValueError(
                f"{where}: solution markers outside an exercise cell (first line must be '# EXERCISE: <id>')"
            )
        if exercise_id is not None or _is_check_cell(cell.source):
            cell.outputs = []
            cell.execution_count = None
    return student


def student_path(solutions_path: Path) -> Path:
    """``book/solutions/x.ipynb`` -> ``book/x.ipynb``."""
    return solutions_path.parent.parent / solutions_path.name


def release_all(root: Path, notebooks: list[Path] | None = None) -> list[Path]:
    """Write the student edition of each solutions notebook (all of ``book/solutions`` by default)."""
    notebooks = notebooks or sorted((root / "book" / "solutions").glob("*.ipynb"))
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        target = student_path(Path(path))
        write_notebook(student_edition(nb, Path(path).name), target)
        written.append(target)
    return written


SOLUTIONS_BUILD = Path("_build") / "solutions"  # where the instructor's edition is configured and built


def _point_at_solutions(entry: object, root: Path) -> object:
    """A copy of a table-of-contents entry with ``book/<stem>`` replaced by ``book/solutions/<stem>``."""
    if isinstance(entry, list):
        return [_point_at_solutions(item, root) for item in entry]
    if not isinstance(entry, dict):
        return entry
    out = {key: _point_at_solutions(value, root) for key, value in entry.items()}
    for key in ("file", "root"):
        value = out.get(key)
        if isinstance(value, str):
            candidate = Path(value).parent / "solutions" / (Path(value).name + ".ipynb")
            if (root / candidate).is_file():
                out[key] = candidate.with_suffix("").as_posix()
    return out


def solutions_toc(root: Path) -> tuple[Path, Path]:
    """Write ``_build/solutions/_toc.yml`` and ``_config.yml`` for the instructor's solutions edition.

    The table of contents is the book's own, with each chapter that has a solutions notebook pointing at
    ``book/solutions/<stem>``; the configuration is the book's own without the exclusion of
    ``book/solutions`` and with a title that says "solutions". Build it from the repository root with::

        jupyter-book build . --toc _build/solutions/_toc.yml --config _build/solutions/_config.yml \
            --path-output _build/solutions

    (the site lands in ``_build/solutions/_build/html``; never publish it where students can see it).
    """
    root = Path(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) or {}
    excluded = [
        p for p in config.get("exclude_patterns", []) if p.rstrip("/") not in ("book/solutions", "book/solutions/**")
    ]
    config["exclude_patterns"] = excluded
    config["title"] = f"{config.get('title', 'Course')} (solutions edition, instructors only)"
    out = root / SOLUTIONS_BUILD
    out.mkdir(parents=True, exist_ok=True)
    local = (config.get("sphinx") or {}).get("local_extensions") or {}
    for name, path in local.items():  # Jupyter Book resolves these relative to the configuration file
        local[name] = os.path.relpath(root / path, out)
    toc_path, config_path = out / "_toc.yml", out / "_config.yml"
    header = "# Generated by `dnncourse release --solutions-toc`; do not edit.\n"
    toc_path.write_text(header + yaml.safe_dump(_point_at_solutions(toc, root), sort_keys=False), encoding="utf-8")
    config_path.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return toc_path, config_path
