"""The experiment helpers: what the chapters use to run experiments, split by concept.

- :mod:`~dnncourse.lab.data`: generated data sets and the bundled 8x8 digits;
- :mod:`~dnncourse.lab.models`: multi-layer perceptrons built by one function, ``mlp``;
- :mod:`~dnncourse.lab.training`: the training loop ``train`` and ``evaluate``;
- :mod:`~dnncourse.lab.surfaces`: two-dimensional loss surfaces with exact gradients and Hessians;
- :mod:`~dnncourse.lab.curvature`: Hessian analysis, condition numbers, critical points, random matrices;
- :mod:`~dnncourse.lab.noise`: per-example gradients and the noise of mini-batch gradients;
- :mod:`~dnncourse.lab.trajectories`: optimizer paths on the surfaces;
- :mod:`~dnncourse.lab.diagnostics`: per-layer activation and gradient statistics.

Nothing here draws: the figures are in :mod:`dnncourse.viz`. Import the submodules you need, e.g.
``from dnncourse.lab import data, models, training``.
"""
