"""dnncourse: the reference implementations behind the course "Training deep neural networks".

The package is organized by kind (see the README's layout table):

- ``dnncourse.optim``, ``dnncourse.init``, ``dnncourse.norm``, ... : the concepts the book teaches, one
  module each, free of plotting;
- ``dnncourse.lab``: the experiment helpers (data sets, models, the training loop, loss surfaces,
  diagnostics);
- ``dnncourse.viz``: every figure and widget, in one style;
- ``dnncourse.exercises``: the graded exercises and the ``check`` cell;
- ``dnncourse.grading`` and ``dnncourse.authoring``: the instructor's and the maintainers' tools.

The package root holds only what every chapter calls first: :func:`seed_everything`, :func:`device`
and :func:`generator` (it imports no plotting library).
"""

from dnncourse.core import device, generator, seed_everything

__version__ = "0.1.0"

__all__ = ["__version__", "device", "generator", "seed_everything"]
