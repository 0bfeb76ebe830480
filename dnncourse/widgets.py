"""Interactive explorers (ipywidgets) for Jupyter and Colab, each with a static fallback for the site.

- :func:`optimizer_explorer`: pick an optimizer, its learning rate and momentum / decay, a surface of
  chapter 2 and a number of steps, and watch the optimizer's path (chapter 3, "Optimizers").
- :func:`draw_optimizer_path`: what the explorer draws for one setting (also usable without widgets).
- :func:`plot_optimizer_grid`: a static grid of paths for a few settings, the fallback the site shows.
- :func:`make_optimizer`: an optimizer of :mod:`dnncourse.optim` by name, from a learning rate and one
  "momentum-like" knob :math:`\\beta` (see :data:`OPTIMIZER_BETA`).

Widgets need a running kernel: on the static site a widget cell shows nothing, so every chapter
follows a widget cell with a figure drawn by the matching ``plot_*`` function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dnncourse import optim
from dnncourse.landscapes import SURFACES
from dnncourse.trajectories import plot_contours, run

__all__ = ["OPTIMIZER_BETA", "make_optimizer", "draw_optimizer_path", "plot_optimizer_grid", "optimizer_explorer"]

# What the explorer's single "beta" knob means for each optimizer (None: the optimizer has none).
OPTIMIZER_BETA: dict[str, str | None] = {
    "SGD": None,
    "Momentum": "momentum μ",
    "Nesterov": "momentum μ",
    "AdaGrad": None,
    "RMSProp": "decay ρ",
    "Adam": "β1 (β2 = 0.999)",
}


def make_optimizer(name: str, lr: float, beta: float = 0.9) -> Callable[[list[torch.Tensor]], torch.optim.Optimizer]:
    """A factory ``params -> optimizer`` for the :mod:`dnncourse.optim` optimizer called ``name``.

    ``beta`` is the momentum :math:`\\mu` of Momentum and Nesterov, the decay :math:`\\rho` of RMSProp,
    and :math:`\\beta_1` of Adam (with :math:`\\beta_2 = 0.999`); SGD and AdaGrad ignore it. The factory
    is what :func:`dnncourse.trajectories.run` takes.
    """
    factories = {
        "SGD": lambda params: optim.SGD(params, lr=lr),
        "Momentum": lambda params: optim.Momentum(params, lr=lr, momentum=beta),
        "Nesterov": lambda params: optim.Nesterov(params, lr=lr, momentum=beta),
        "AdaGrad": lambda params: optim.AdaGrad(params, lr=lr),
        "RMSProp": lambda params: optim.RMSProp(params, lr=lr, alpha=beta),
        "Adam": lambda params: optim.Adam(params, lr=lr, betas=(beta, 0.999)),
    }
    if name not in factories:
        raise ValueError(f"name must be one of {', '.join(factories)}, got {name!r}")
    return factories[name]


def _setting_label(name: str, lr: float, beta: float) -> str:
    knob = OPTIMIZER_BETA[name]
    return f"{name}, η = {lr:.3g}" + (f", {knob.split(' ')[1]} = {beta:.3g}" if knob else "")


def draw_optimizer_path(
    optimizer: str = "Momentum",
    lr: float = 0.05,
    beta: float = 0.9,
    surface: str = "ravine",
    steps: int = 100,
    ax: Axes | None = None,
) -> Axes:
    """Run one optimizer on one surface of :data:`dnncourse.landscapes.SURFACES` and draw its path.

    Plain gradient descent (SGD) with the same learning rate is drawn too, for comparison (unless
    the chosen optimizer is SGD). The title says where the path ended: the loss at the last point,
    or that the run diverged. Returns the axes.
    """
    if surface not in SURFACES:
        raise ValueError(f"surface must be one of {', '.join(SURFACES)}, got {surface!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    landscape = SURFACES[surface]()
    paths = {_setting_label(optimizer, lr, beta): run(landscape, make_optimizer(optimizer, lr, beta), steps=steps)}
    if optimizer != "SGD":
        paths[_setting_label("SGD", lr, beta)] = run(landscape, make_optimizer("SGD", lr), steps=steps)
    path = next(iter(paths.values()))
    if np.isnan(path).any():
        outcome = "diverged"
    else:
        outcome = f"J = {landscape.value(tuple(path[-1])):.4g} after {steps} steps"
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.6))
    plot_contours(landscape, paths, ax, title=f"{surface}: {outcome}")
    return ax


def plot_optimizer_grid(
    optimizer: str = "Momentum",
    surface: str = "ravine",
    lrs: Sequence[float] = (0.01, 0.05, 0.2),
    betas: Sequence[float] = (0.0, 0.5, 0.9),
    steps: int = 100,
) -> Figure:
    """A grid of :func:`draw_optimizer_path` panels: one row per learning rate, one column per beta.

    The static stand-in for :func:`optimizer_explorer` on the published site. Returns the figure.
    """
    if not lrs or not betas:
        raise ValueError(f"lrs and betas must be non-empty, got lrs={lrs!r}, betas={betas!r}")
    fig, axes = plt.subplots(len(lrs), len(betas), figsize=(3.6 * len(betas), 2.9 * len(lrs)), squeeze=False)
    for i, lr in enumerate(lrs):
        for j, beta in enumerate(betas):
            ax = axes[i, j]
            draw_optimizer_path(optimizer, lr, beta, surface, steps, ax=ax)
            outcome = ax.get_title().split(": ", 1)[-1]
            ax.set_title(f"η = {lr:g}, {OPTIMIZER_BETA[optimizer] or 'β'} = {beta:g}\n{outcome}", fontsize=9)
            if ax.get_legend() is not None:
                ax.get_legend().remove()
            if i < len(lrs) - 1:
                ax.set_xlabel("")
            if j > 0:
                ax.set_ylabel("")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, [label.split(",")[0] for label in labels], loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle(f"{optimizer} on the {surface} surface ({steps} steps)")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def optimizer_explorer(
    optimizer: str = "Momentum", lr: float = 0.05, beta: float = 0.9, surface: str = "ravine", steps: int = 100
):
    """An ipywidgets UI: optimizer, learning rate (log slider), beta, surface and steps -> the path.

    Returns the widget box (display it, or leave it as the last expression of a cell). Its
    ``update(**settings)`` attribute redraws for the given settings, which is what the controls call.
    Needs a running kernel (Jupyter, Colab); on a static page use :func:`plot_optimizer_grid`.
    """
    import ipywidgets as widgets
    from IPython.display import display

    controls = {
        "optimizer": widgets.Dropdown(options=list(OPTIMIZER_BETA), value=optimizer, description="optimizer"),
        "lr": widgets.FloatLogSlider(value=lr, base=10, min=-4, max=0.5, step=0.05, description="η (lr)",
                                     readout_format=".2g"),
        "beta": widgets.FloatSlider(value=beta, min=0.0, max=0.99, step=0.01, description="β / μ / ρ"),
        "surface": widgets.Dropdown(options=list(SURFACES), value=surface, description="surface"),
        "steps": widgets.IntSlider(value=steps, min=10, max=500, step=10, description="steps"),
    }
    output = widgets.Output()

    def update(**settings) -> None:
        values = {name: control.value for name, control in controls.items()} | settings
        output.clear_output(wait=True)
        with output:
            fig, ax = plt.subplots(figsize=(6.4, 4.6))
            draw_optimizer_path(ax=ax, **values)
            display(fig)
            plt.close(fig)

    for control in controls.values():
        control.observe(lambda change: update(), names="value")
    box = widgets.VBox([widgets.HBox(list(controls.values())[:3]), widgets.HBox(list(controls.values())[3:]), output])
    box.update = update
    box.controls = controls
    update()
    return box
