"""Paths on loss surfaces: windows that hold the paths, starts drawn under the paths, colours by optimizer,
zoomed insets, and animation frames that are one token each."""

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from dnncourse import optim, viz
from dnncourse.lab import surfaces, trajectories


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_fit_bounds_grows_the_window_to_hold_the_paths_but_ignores_diverged_ones():
    surface = surfaces.ravine()  # window ((-4, 4), (-2, 2))
    inside = np.array([[0.0, 0.0], [1.0, 1.0]])
    assert viz.fit_bounds(surface, {"a": inside}) == surface.bounds  # never shrinks
    outside = np.array([[-5.0, 0.0], [0.0, 3.0]])
    (xmin, xmax), (ymin, ymax) = viz.fit_bounds(surface, {"a": inside, "b": outside}, margin=0.1)
    assert (xmin, xmax, ymin, ymax) == pytest.approx((-5.8, 4.0, -2.0, 3.4))
    diverged = np.array([[0.0, 0.0], [1e5, 0.0], [np.nan, np.nan]])
    assert viz.fit_bounds(surface, {"a": inside, "runaway": diverged}) == surface.bounds


def test_plot_contours_window_colours_styles_and_markers():
    surface = surfaces.quadratic(10.0)
    paths = {
        "SGD": trajectories.run(surface, optim.make_optimizer("SGD", 0.1), steps=20),
        "Adam": trajectories.run(surface, optim.make_optimizer("Adam", 0.1), steps=20),
    }
    fig, ax = plt.subplots()
    viz.plot_contours(
        surface,
        paths,
        ax,
        colors=viz.OPTIMIZER_COLORS,
        linestyles={"SGD": "--"},
        ends=True,
        bounds=((-6.0, 1.0), (-1.0, 3.0)),
        legend=False,
    )
    assert ax.get_xlim() == (-6.0, 1.0) and ax.get_ylim() == (-1.0, 3.0) and ax.get_legend() is None
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert matplotlib.colors.to_hex(lines["Adam"].get_color()).upper() == viz.OPTIMIZER_COLORS["Adam"]
    assert lines["SGD"].get_linestyle() == "--" and lines["Adam"].get_linestyle() == "-"
    # one ring for the common start, drawn beneath the paths; one end dot per path, above them
    rings = [line for line in ax.get_lines() if line.get_markerfacecolor() == "white"]
    assert len(rings) == 1 and rings[0].get_zorder() < lines["SGD"].get_zorder()
    np.testing.assert_allclose(rings[0].get_xydata(), [surface.start])
    ends = [line for line in ax.get_lines() if line.get_marker() == "o" and line.get_zorder() > 5]
    np.testing.assert_allclose(
        sorted(tuple(e.get_xydata()[0]) for e in ends), sorted(tuple(p[-1]) for p in paths.values())
    )


def test_plot_contours_rejects_bad_windows_and_paths():
    surface = surfaces.saddle()
    with pytest.raises(ValueError, match="bounds"):
        viz.plot_contours(surface, bounds=((1.0, -1.0), (0.0, 1.0)))
    with pytest.raises(ValueError, match="bounds"):
        viz.plot_contours(surface, bounds="tight")
    with pytest.raises(ValueError, match=r"paths\['a'\] must be an array of shape \(k, 2\)"):
        viz.plot_contours(surface, {"a": np.zeros((3, 3))})


def test_zoom_inset_magnifies_the_paths_around_a_point():
    surface = surfaces.plateau()
    path = trajectories.run(surface, optim.make_optimizer("SGD", 0.1), steps=50)
    fig, ax = plt.subplots()
    viz.plot_contours(surface, {"SGD": path}, ax)
    inset = viz.zoom_inset(ax, surface, {"SGD": path}, center=surface.start, half_width=0.05)
    assert inset in ax.child_axes
    assert inset.get_xlim() == pytest.approx((surface.start[0] - 0.05, surface.start[0] + 0.05))
    assert any(text.get_text() == "×80" for text in inset.texts)  # the window is 8 wide, the inset 0.1
    with pytest.raises(ValueError, match="half_width"):
        viz.zoom_inset(ax, surface, {"SGD": path}, center=(0, 0), half_width=0.0)


def test_animation_frames_are_single_tokens_and_window_can_fit_the_paths():
    surface = surfaces.ravine()
    path = trajectories.run(surface, optim.make_optimizer("Momentum", 0.03, 0.9), steps=40)
    html = viz.animate(surface, {"Momentum": path}, frames=5, bounds="fit").data
    frames = re.findall(r'frames\[\d+\] = "data:image/png;base64,([^"]*)"', html)
    assert len(frames) == 5 and all(re.fullmatch(r"[A-Za-z0-9+/=]+", frame) for frame in frames)


def test_optimizer_colors_are_one_per_optimizer_and_sgd_is_the_dashed_reference():
    assert set(viz.OPTIMIZER_COLORS) == set(optim.OPTIMIZERS)
    shown_together = [name for name in optim.OPTIMIZERS if name != "AdamW"]
    assert len({viz.OPTIMIZER_COLORS[name] for name in shown_together}) == len(shown_together)
    assert viz.OPTIMIZER_COLORS["SGD"] != viz.OPTIMIZER_COLORS["AdamW"]
    ax = viz.draw_optimizer_path("Momentum", lr=0.05, beta=0.0, surface="quadratic", steps=10)
    lines = {line.get_label().split(",")[0]: line for line in ax.get_lines() if "η" in line.get_label()}
    assert lines["SGD"].get_linestyle() == "--" and lines["Momentum"].get_linestyle() == "-"
    np.testing.assert_allclose(lines["SGD"].get_xydata(), lines["Momentum"].get_xydata())  # μ = 0 is SGD


def test_grid_panels_share_one_window_that_holds_the_paths():
    fig = viz.plot_optimizer_grid("Momentum", "ravine", lrs=(0.1, 0.3), betas=(0.0, 0.9), steps=30)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len({(ax.get_xlim(), ax.get_ylim()) for ax in panels}) == 1
    (xmin, xmax), (ymin, ymax) = panels[0].get_xlim(), panels[0].get_ylim()
    for ax in panels:
        for line in ax.get_lines():
            points = line.get_xydata()
            points = points[np.all(np.isfinite(points), axis=1)]
            if "η" in line.get_label() and len(points):
                assert xmin <= points[:, 0].min() and points[:, 0].max() <= xmax
                assert ymin <= points[:, 1].min() and points[:, 1].max() <= ymax


def test_run_paths_are_float64_on_the_cpu():
    path = trajectories.run(surfaces.saddle(), lambda p: torch.optim.SGD(p, lr=0.1), steps=3)
    assert path.dtype == np.float64 and path.shape == (4, 2)
