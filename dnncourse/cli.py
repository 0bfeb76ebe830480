"""The ``dnncourse`` command: ``execute``, ``release``, ``grade`` and ``gradescope`` (see the README)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _missing_authoring_tools(command: str) -> bool:
    """Print what ``dnncourse <command>`` lacks and how to install it; True if something is missing."""
    from dnncourse.authoring import INSTALL_HINT, missing_dependencies

    missing = missing_dependencies(command)
    if missing:
        print(
            f"error: dnncourse {command} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            f"not installed (a student's install does not bring the authoring tools); install them with\n"
            f"  {INSTALL_HINT}",
            file=sys.stderr,
        )
    return bool(missing)


def _execute(args: argparse.Namespace) -> int:
    if _missing_authoring_tools("execute"):
        return 2
    from dnncourse.authoring.notebooks import book_root, execute_notebook
    from dnncourse.authoring.release import release_all

    root = book_root()
    paths = [Path(p).resolve() for p in args.notebooks] or sorted((root / "book" / "solutions").glob("*.ipynb"))
    for path in paths:
        if not path.is_file():
            print(f"error: no such notebook: {path}", file=sys.stderr)
            return 2
        if path.resolve().parent != (root / "book" / "solutions").resolve():
            print(
                f"error: {path} is not a solutions notebook (book/solutions/*.ipynb); student editions are generated",
                file=sys.stderr,
            )
            return 2
    for path in paths:
        report = execute_notebook(path, timeout=args.timeout, root=root)
        slowest = report.slowest
        print(f"{path.name}: {report.seconds:.1f} s", end="")
        if slowest is not None:
            print(f" (slowest cell {slowest.index}: {slowest.seconds:.1f} s, {slowest.first_line!r})", end="")
        print()
        if args.verbose:
            for cell in report.cells:
                print(f"    cell {cell.index:3d}: {cell.seconds:6.2f} s  {cell.first_line}")
        for written in release_all(root, [path]):
            print(f"  student edition: {written.relative_to(root)}")
    return 0


def _release(args: argparse.Namespace) -> int:
    if _missing_authoring_tools("release"):
        return 2
    from dnncourse.authoring.notebooks import book_root
    from dnncourse.authoring.release import release_all

    root = book_root()
    if args.solutions_toc:
        from dnncourse.authoring.release import solutions_toc

        toc, config = solutions_toc(root)
        print(f"wrote {toc.relative_to(root)} and {config.relative_to(root)}; build the instructors' edition with")
        toc, config = toc.relative_to(root), config.relative_to(root)
        print(f"  jupyter-book build . --toc {toc} --config {config} --path-output _build/solutions")
        return 0
    for written in release_all(root):
        print(f"wrote {written.relative_to(root)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["grade"]:
        from dnncourse.grading import main as grade_main

        return grade_main(argv[1:])
    if argv[:1] == ["gradescope"]:
        from dnncourse.grading.gradescope import main as gradescope_main

        return gradescope_main(argv[1:])
    parser = argparse.ArgumentParser(prog="dnncourse", description="Maintain and grade the dnncourse book.")
    commands = parser.add_subparsers(dest="command", required=True)
    execute = commands.add_parser(
        "execute", help="re-execute solutions notebooks in place and regenerate student editions"
    )
    execute.add_argument("notebooks", nargs="*", help="book/solutions/*.ipynb files (default: all)")
    execute.add_argument("--timeout", type=int, default=300, help="seconds allowed per cell (default 300)")
    execute.add_argument("-v", "--verbose", action="store_true", help="print every cell's time")
    execute.set_defaults(run=_execute)
    release = commands.add_parser("release", help="regenerate the student editions book/*.ipynb")
    release.add_argument(
        "--solutions-toc",
        action="store_true",
        help="instead, write _build/solutions/_toc.yml and _config.yml for the instructors' solutions edition",
    )
    release.set_defaults(run=_release)
    commands.add_parser("grade", help="grade a folder of submitted notebooks (dnncourse grade --help)")
    commands.add_parser("gradescope", help="build a chapter's Gradescope autograder zip (dnncourse gradescope --help)")
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
