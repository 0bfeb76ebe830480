"""Authoring tools for the book's maintainers: ``dnncourse execute`` and ``dnncourse release``.

:mod:`dnncourse.authoring.notebooks` re-executes a chapter and normalizes its stored outputs;
:mod:`dnncourse.authoring.release` writes the student editions. They need ``nbformat``, ``nbclient``,
``ipykernel`` and ``PyYAML``, which a student's ``pip install dnncourse`` does not bring: install them
with ``pip install "dnncourse[authoring]"`` (or the pinned ``requirements.txt``). :func:`missing_dependencies`
tells which are missing, so that the command line can say so instead of failing with an ImportError.
"""

from __future__ import annotations

import importlib

__all__ = ["INSTALL_HINT", "REQUIREMENTS", "missing_dependencies"]

INSTALL_HINT = 'pip install "dnncourse[authoring]"'

# What each command imports: (module name, the distribution that provides it).
REQUIREMENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "execute": (("nbformat", "nbformat"), ("nbclient", "nbclient"), ("ipykernel", "ipykernel"), ("yaml", "PyYAML")),
    "release": (("nbformat", "nbformat"), ("yaml", "PyYAML")),
}


def missing_dependencies(command: str) -> list[str]:
    """The distributions that ``dnncourse <command>`` needs and that cannot be imported here."""
    if command not in REQUIREMENTS:
        raise ValueError(f"command must be one of {', '.join(map(repr, REQUIREMENTS))}, got {command!r}")
    missing = []
    for module, distribution in REQUIREMENTS[command]:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(distribution)
    return missing
