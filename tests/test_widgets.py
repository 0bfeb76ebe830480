"""dnncourse.widgets: the optimizer explorer builds headless and its callback draws."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from dnncourse import optim, widgets


@pytest.mark.parametrize("name", list(widgets.OPTIMIZER_BETA))
def test_make_optimizer_builds_the_named_dnncourse_optimizer(name):
    theta = torch.zeros(2, requires_grad=True)
    optimizer = widgets.make_optimizer(name, lr=0.1, beta=0.8)([theta])
    assert type(optimizer).__name__ == name and isinstance(optimizer, torch.optim.Optimizer)
    assert optimizer.param_groups[0]["lr"] == 0.1
    if name in ("Momentum", "Nesterov"):
        assert optimizer.param_groups[0]["momentum"] == 0.8
    if name == "RMSProp":
        assert optimizer.param_groups[0]["alpha"] == 0.8
    if name == "Adam":
        assert optimizer.param_groups[0]["betas"] == (0.8, 0.999)


def test_bad_arguments_raise_value_error_naming_them():
    with pytest.raises(ValueError, match="name.*'LBFGS'"):
        widgets.make_optimizer("LBFGS", lr=0.1)
    with pytest.raises(ValueError, match="surface.*'moon'"):
        widgets.draw_optimizer_path(surface="moon")
    with pytest.raises(ValueError, match="steps.*0"):
        widgets.draw_optimizer_path(steps=0)


def test_draw_optimizer_path_draws_the_optimizer_and_sgd():
    fig, ax = plt.subplots()
    widgets.draw_optimizer_path("Nesterov", lr=0.05, beta=0.9, surface="quadratic", steps=30, ax=ax)
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(label.startswith("Nesterov") for label in labels) and any(label.startswith("SGD") for label in labels)
    path = next(line for line in ax.get_lines() if line.get_label().startswith("Nesterov")).get_xydata()
    assert path.shape == (31, 2) and np.all(np.isfinite(path))
    assert "J = " in ax.get_title()
    plt.close(fig)


def test_draw_optimizer_path_reports_divergence():
    fig, ax = plt.subplots()
    widgets.draw_optimizer_path("SGD", lr=50.0, surface="quadratic", steps=30, ax=ax)
    assert "diverged" in ax.get_title()
    plt.close(fig)


def test_explorer_builds_and_its_callback_draws(capsys):
    box = widgets.optimizer_explorer(steps=20)
    assert set(box.controls) == {"optimizer", "lr", "beta", "surface", "steps"}
    assert box.controls["lr"].value == pytest.approx(0.05)
    before = len(plt.get_fignums())
    box.update(optimizer="Adam", lr=0.1, surface="saddle", steps=20)  # what moving a control calls
    box.controls["optimizer"].value = "RMSProp"  # the observer redraws too
    assert len(plt.get_fignums()) == before  # figures are closed after display


def test_static_grid_has_one_panel_per_setting():
    fig = widgets.plot_optimizer_grid("Momentum", "quadratic", lrs=(0.1, 0.3), betas=(0.0, 0.9), steps=15)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 4
    assert panels[0].get_title().startswith("η = 0.1, momentum μ = 0")
    plt.close(fig)
