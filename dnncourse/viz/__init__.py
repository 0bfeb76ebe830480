"""Every figure and widget of the book, in one style (the only part of the library that imports matplotlib).

Chapters write ``from dnncourse import viz`` and then ``viz.use_style()``, ``viz.COLORS["blue"]``,
``viz.plot_history(...)``. The functions live in modules by topic:

- :mod:`~dnncourse.viz.style`: the palette (:data:`COLORS`, :data:`CYCLE`) and :func:`use_style`;
- :mod:`~dnncourse.viz.data`: data sets, decision boundaries, function fits, weight images;
- :mod:`~dnncourse.viz.history`: training curves (:func:`plot_history`);
- :mod:`~dnncourse.viz.surfaces`: loss surfaces, optimizer paths and their animations;
- :mod:`~dnncourse.viz.activations`: activation functions and their derivatives;
- :mod:`~dnncourse.viz.gradients`: per-layer statistics of a gradient-flow inspector;
- :mod:`~dnncourse.viz.normalization`: what each normalization layer averages over;
- :mod:`~dnncourse.viz.graph`: the computation graph of the small autograd;
- :mod:`~dnncourse.viz.widgets`: the optimizer explorer and its static fallback;
- :mod:`~dnncourse.viz.schedules`: learning-rate schedules and range tests.
"""

from dnncourse.viz.activations import plot_activations
from dnncourse.viz.data import plot_dataset, plot_decision_boundary, plot_function_fit, plot_weight_images
from dnncourse.viz.gradients import (
    plot_activation_stats,
    plot_dead_fraction,
    plot_gradient_norms,
    plot_layer_histograms,
)
from dnncourse.viz.graph import plot_computation_graph
from dnncourse.viz.history import plot_history
from dnncourse.viz.normalization import draw_normalization_axes
from dnncourse.viz.schedules import plot_range_test, plot_schedules
from dnncourse.viz.style import COLORS, CYCLE, path_colors, use_style
from dnncourse.viz.surfaces import animate, fit_bounds, plot_contours, zoom_inset
from dnncourse.viz.widgets import OPTIMIZER_COLORS, draw_optimizer_path, optimizer_explorer, plot_optimizer_grid

__all__ = [
    "COLORS",
    "CYCLE",
    "path_colors",
    "use_style",
    "plot_dataset",
    "plot_decision_boundary",
    "plot_function_fit",
    "plot_weight_images",
    "plot_history",
    "plot_contours",
    "fit_bounds",
    "zoom_inset",
    "animate",
    "plot_activations",
    "plot_activation_stats",
    "plot_gradient_norms",
    "plot_dead_fraction",
    "plot_layer_histograms",
    "draw_normalization_axes",
    "plot_computation_graph",
    "OPTIMIZER_COLORS",
    "draw_optimizer_path",
    "plot_optimizer_grid",
    "optimizer_explorer",
    "plot_schedules",
    "plot_range_test",
]
