"""Authoring tools for the book's maintainers: ``dnncourse execute`` and ``dnncourse release``.

:mod:`dnncourse.authoring.notebooks` re-executes a chapter and normalizes its stored outputs;
:mod:`dnncourse.authoring.release` writes the student editions. They need ``nbformat``, ``nbclient``,
``ipykernel`` and ``PyYAML``, which a student's ``pip install dnncourse`` does not bring: install them
with ``pip install "dnncourse[authoring]"`` (or the pinned ``requirements.txt``).
"""
