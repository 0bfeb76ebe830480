"""The optimizer explorer (ipywidgets) for Jupyter and Colab, with a static fallback for the site.

- :func:`optimizer_explorer`: pick an optimizer, its learning rate and its :math:`\\beta` (momentum or
  decay), a surface of chapter 2 and a number of steps, and watch the optimizer's path (chapter 3).
- :func:`draw_optimizer_path`: what the explorer draws for one setting (also usable without widgets).
- :func:`plot_optimizer_grid`: a static grid of paths for a few settings, the fallback the site shows.

The optimizers and what their :math:`\\beta` means come from one table, :data:`dnncourse.optim.OPTIMIZERS`.
Widgets need a running kernel: on the static site a widget cell shows nothing, so every chapter
follows a widget cell with a figure drawn by :func:`plot_optimizer_grid`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dnncourse import _validation as check
from dnncourse.lab.surfaces import SURFACES
from dnncourse.lab.trajectories import run
from dnncourse.optim import OPTIMIZERS, make_optimizer
from dnncourse.viz.style import path_colors
from dnncourse.viz.surfaces import fit_bounds, plot_contours

__all__ = ["OPTIMIZER_COLORS", "draw_optimizer_path", "plot_optimizer_grid", "optimizer_explorer"]


# One colour per optimizer, the same in every figure of the book: the course's path colours in the
# order of the optimizer table (SGD blue, Momentum orange, ...). AdamW, seventh, shares Adam's colour:
# the two are never drawn together.
OPTIMIZER_COLORS: dict[str, str] = path_colors(OPTIMIZERS) | {"AdamW": path_colors(OPTIMIZERS)["Adam"]}


def _setting_label(name: str, lr: float, beta: float) -> str:
    label = OPTIMIZERS[name].beta_label
    return f"{name}, η = {lr:.3g}" + (f", {label.split(' ')[1]} = {beta:.3g}" if label else "")


def _optimizer_paths(optimizer: str, lr: float, beta: float, surface: str, steps: int) -> dict[str, np.ndarray]:
    """The chosen optimizer's path and, unless it is SGD, plain SGD's with the same learning rate."""
    check.one_of("surface", surface, SURFACES)
    steps = check.integer("steps", steps, minimum=1)
    chosen = make_optimizer(optimizer, lr, beta)  # raises ValueError for a setting the optimizer rejects
    landscape = SURFACES[surface]()
    paths = {_setting_label(optimizer, lr, beta): run(landscape, chosen, steps=steps)}
    if optimizer != "SGD":
        paths[_setting_label("SGD", lr, beta)] = run(landscape, make_optimizer("SGD", lr), steps=steps)
    return paths


def _draw_paths(paths: dict[str, np.ndarray], surface: str, steps: int, ax: Axes, bounds) -> Axes:
    landscape = SURFACES[surface]()
    path = next(iter(paths.values()))
    if np.isnan(path).any():
        outcome = "diverged"
    else:
        outcome = f"J = {landscape.value(tuple(path[-1])):.4g} after {steps} steps"
    names = {label: label.split(",")[0] for label in paths}
    colors = {label: OPTIMIZER_COLORS[name] for label, name in names.items()}
    # The optimizer solid on top, the SGD reference dashed beneath it: both stay visible where they coincide.
    linestyles = {label: "--" for label, name in names.items() if name == "SGD" and len(paths) > 1}
    plot_contours(
        landscape,
        paths,
        ax,
        title=f"{surface}: {outcome}",
        colors=colors,
        linestyles=linestyles,
        ends=True,
        bounds=bounds,
    )
    return ax


def draw_optimizer_path(
    optimizer: str = "Momentum",
    lr: float = 0.05,
    beta: float = 0.9,
    surface: str = "ravine",
    steps: int = 100,
    ax: Axes | None = None,
) -> Axes:
    """Run one optimizer of :data:`~dnncourse.optim.OPTIMIZERS` on one surface of
    :data:`~dnncourse.lab.surfaces.SURFACES` and draw its path.

    Plain gradient descent (SGD) with the same learning rate is drawn too, dashed, for comparison
    (unless the chosen optimizer is SGD); every optimizer has its colour of :data:`OPTIMIZER_COLORS`.
    The window grows to hold the paths that did not diverge, and a dot marks where each path ended.
    The title says where the path ended: the loss at the last point, or that the run diverged.
    Settings are checked before anything is drawn. Returns the axes.
    """
    paths = _optimizer_paths(optimizer, lr, beta, surface, steps)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.6))
    return _draw_paths(paths, surface, steps, ax, bounds="fit")


def plot_optimizer_grid(
    optimizer: str = "Momentum",
    surface: str = "ravine",
    lrs: Sequence[float] = (0.01, 0.05, 0.2),
    betas: Sequence[float] = (0.0, 0.5, 0.9),
    steps: int = 100,
) -> Figure:
    """A grid of :func:`draw_optimizer_path` panels: one row per learning rate, one column per beta.

    The static stand-in for :func:`optimizer_explorer` on the published site. Every setting is checked
    before the figure is created, and all panels share one window (grown to hold every path that did not
    diverge), so that the panels can be compared. Returns the figure.
    """
    if not lrs or not betas:
        raise ValueError(f"lrs and betas must be non-empty, got lrs={lrs!r}, betas={betas!r}")
    check.one_of("surface", surface, SURFACES)
    for lr in lrs:
        for beta in betas:
            make_optimizer(optimizer, lr, beta)  # a rejected setting raises here, with no figure left open
    runs = {(lr, beta): _optimizer_paths(optimizer, lr, beta, surface, steps) for lr in lrs for beta in betas}
    every_path = {f"{key} {label}": path for key, paths in runs.items() for label, path in paths.items()}
    window = fit_bounds(SURFACES[surface](), every_path)
    fig, axes = plt.subplots(len(lrs), len(betas), figsize=(3.6 * len(betas), 2.9 * len(lrs)), squeeze=False)
    knob = OPTIMIZERS[optimizer].beta_label or "β"
    for i, lr in enumerate(lrs):
        for j, beta in enumerate(betas):
            ax = axes[i, j]
            _draw_paths(runs[lr, beta], surface, steps, ax, bounds=window)
            outcome = ax.get_title().split(": ", 1)[-1]
            ax.set_title(f"η = {lr:g}, {knob} = {beta:g}\n{outcome}", fontsize=9)
            if ax.get_legend() is not None:
                ax.get_legend().remove()
            if i < len(lrs) - 1:
                ax.set_xlabel("")
            if j > 0:
                ax.set_ylabel("")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(
        handles,
        [label.split(",")[0] for label in labels],
        loc="lower center",
        ncol=len(labels),
        frameon=False,
    )
    fig.suptitle(f"{optimizer} on the {surface} surface ({steps} steps)")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def optimizer_explorer(
    optimizer: str = "Momentum", lr: float = 0.05, beta: float = 0.9, surface: str = "ravine", steps: int = 100
):
    """An ipywidgets UI: optimizer, learning rate (log slider), beta, surface and steps -> the path.

    The beta slider follows the chosen optimizer: its range is the one :data:`~dnncourse.optim.OPTIMIZERS`
    gives (Nesterov needs a momentum > 0, so its slider starts above 0), and it is disabled for an
    optimizer without a beta. Sliders redraw when released, not while dragged. A setting the optimizer
    rejects is shown as a message in the widget; no figure is left open either way.

    Returns the widget box (display it, or leave it as the last expression of a cell). Its
    ``update(**settings)`` attribute redraws for the given settings, which is what the controls call.
    Needs a running kernel (Jupyter, Colab); on a static page use :func:`plot_optimizer_grid`.
    """
    import ipywidgets as widgets
    from IPython.display import display

    check.one_of("optimizer", optimizer, OPTIMIZERS)
    low, high = OPTIMIZERS[optimizer].beta_range
    controls = {
        "optimizer": widgets.Dropdown(options=list(OPTIMIZERS), value=optimizer, description="optimizer"),
        # continuous_update=False: a redraw takes a few tenths of a second, so sliders redraw on release.
        "lr": widgets.FloatLogSlider(
            value=lr,
            base=10,
            min=-4,
            max=0.5,
            step=0.05,
            description="η (lr)",
            readout_format=".2g",
            continuous_update=False,
        ),
        "beta": widgets.FloatSlider(
            value=min(max(beta, low), high),
            min=low,
            max=high,
            step=0.01,
            description="β / μ / ρ",
            continuous_update=False,
        ),
        "surface": widgets.Dropdown(options=list(SURFACES), value=surface, description="surface"),
        "steps": widgets.IntSlider(value=steps, min=10, max=500, step=10, description="steps", continuous_update=False),
    }
    output = widgets.Output()
    syncing = False  # True while follow_optimizer moves the beta slider: one redraw, not two

    def follow_optimizer(name: str) -> None:
        """Fit the beta slider to the optimizer: its range, and disabled when the optimizer has no beta."""
        nonlocal syncing
        info, slider = OPTIMIZERS[name], controls["beta"]
        low, high = info.beta_range
        syncing = True
        try:
            if low > slider.max:  # keep min <= max at every moment while the range moves
                slider.max, slider.min = high, low
            else:
                slider.min, slider.max = low, high
            slider.disabled = info.beta is None
        finally:
            syncing = False

    def update(**settings) -> None:
        values = {name: control.value for name, control in controls.items()} | settings
        output.clear_output(wait=True)
        with output:
            try:
                make_optimizer(values["optimizer"], values["lr"], values["beta"])
            except ValueError as error:
                print(f"This setting cannot run: {error}")
                return
            fig, ax = plt.subplots(figsize=(6.4, 4.6))
            try:
                draw_optimizer_path(ax=ax, **values)
                display(fig)
            finally:
                plt.close(fig)

    def on_change(change) -> None:
        if syncing:
            return
        if change["owner"] is controls["optimizer"]:
            follow_optimizer(change["new"])
        update()

    follow_optimizer(optimizer)
    for control in controls.values():
        control.observe(on_change, names="value")
    box = widgets.VBox([widgets.HBox(list(controls.values())[:3]), widgets.HBox(list(controls.values())[3:]), output])
    box.update = update
    box.controls = controls
    update()
    return box
