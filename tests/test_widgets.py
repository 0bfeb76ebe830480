"""The optimizer explorer: one optimizer table, settings checked, headless callbacks, no figure left open."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from dnncourse import optim, viz


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_make_optimizer_builds_the_named_dnncourse_optimizer(name):
    theta = torch.zeros(2, requires_grad=True)
    optimizer = optim.make_optimizer(name, lr=0.1, beta=0.8)([theta])
    assert type(optimizer) is optim.OPTIMIZERS[name].cls and type(optimizer).__name__ == name
    assert optimizer.param_groups[0]["lr"] == 0.1
    beta = optim.OPTIMIZERS[name].beta
    if beta in ("momentum", "alpha"):
        assert optimizer.param_groups[0][beta] == 0.8
    elif beta == "betas[0]":
        assert optimizer.param_groups[0]["betas"] == (0.8, 0.999)


def test_the_table_holds_every_optimizer_of_the_module_and_each_beta_range_is_accepted():
    assert set(optim.OPTIMIZERS) == {"SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam", "AdamW"}
    for name, info in optim.OPTIMIZERS.items():
        for beta in info.beta_range:  # both ends of what the explorer's slider offers
            optim.make_optimizer(name, 0.1, beta)([torch.zeros(1, requires_grad=True)])


def test_bad_arguments_raise_value_error_naming_them():
    with pytest.raises(ValueError, match="name.*'LBFGS'"):
        optim.make_optimizer("LBFGS", lr=0.1)
    with pytest.raises(ValueError, match="momentum must be a positive number, got 0"):
        optim.make_optimizer("Nesterov", lr=0.1, beta=0.0)  # at once, not when the factory is called
    with pytest.raises(ValueError, match="surface.*'moon'"):
        viz.draw_optimizer_path(surface="moon")
    with pytest.raises(ValueError, match="steps.*0"):
        viz.draw_optimizer_path(steps=0)
    figures = plt.get_fignums()
    with pytest.raises(ValueError, match="momentum"):
        viz.plot_optimizer_grid("Nesterov", "quadratic", betas=(0.0, 0.9), steps=5)
    assert plt.get_fignums() == figures  # rejected before any figure was created


def test_draw_optimizer_path_draws_the_optimizer_and_sgd():
    fig, ax = plt.subplots()
    viz.draw_optimizer_path("Nesterov", lr=0.05, beta=0.9, surface="quadratic", steps=30, ax=ax)
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(label.startswith("Nesterov") for label in labels) and any(label.startswith("SGD") for label in labels)
    path = next(line for line in ax.get_lines() if line.get_label().startswith("Nesterov")).get_xydata()
    assert path.shape == (31, 2) and np.all(np.isfinite(path))
    assert "J = " in ax.get_title()


def test_draw_optimizer_path_reports_divergence():
    fig, ax = plt.subplots()
    viz.draw_optimizer_path("SGD", lr=50.0, surface="quadratic", steps=30, ax=ax)
    assert "diverged" in ax.get_title()


def test_explorer_builds_and_its_callback_draws():
    box = viz.optimizer_explorer(steps=20)
    assert set(box.controls) == {"optimizer", "lr", "beta", "surface", "steps"}
    assert list(box.controls["optimizer"].options) == list(optim.OPTIMIZERS)
    assert box.controls["lr"].value == pytest.approx(0.05)
    assert not any(getattr(control, "continuous_update", False) for control in box.controls.values())
    before = len(plt.get_fignums())
    box.update(optimizer="Adam", lr=0.1, surface="saddle", steps=20)  # what moving a control calls
    box.controls["optimizer"].value = "RMSProp"  # the observer redraws too
    assert len(plt.get_fignums()) == before  # figures are closed after display


def test_explorer_beta_slider_follows_the_optimizer():
    box = viz.optimizer_explorer(optimizer="Momentum", beta=0.0, steps=10)
    slider = box.controls["beta"]
    assert slider.min == 0.0
    box.controls["optimizer"].value = "Nesterov"  # Nesterov rejects momentum 0: the slider cannot reach it
    assert slider.min == optim.OPTIMIZERS["Nesterov"].beta_range[0] > 0 and slider.value >= slider.min
    box.controls["optimizer"].value = "SGD"
    assert slider.disabled
    box.controls["optimizer"].value = "Adam"
    assert not slider.disabled and slider.min == 0.0


def test_explorer_shows_a_rejected_setting_as_a_message_and_leaves_no_figure(capsys):
    box = viz.optimizer_explorer(steps=10)
    capsys.readouterr()
    before = len(plt.get_fignums())
    for _ in range(25):  # matplotlib warns after 20 open figures
        box.update(optimizer="Nesterov", beta=0.0)
    assert len(plt.get_fignums()) == before
    # Without a frontend the Output widget passes what it shows to stdout.
    assert "This setting cannot run: momentum must be a positive number, got 0.0" in capsys.readouterr().out


def test_static_grid_has_one_panel_per_setting():
    fig = viz.plot_optimizer_grid("Momentum", "quadratic", lrs=(0.1, 0.3), betas=(0.0, 0.9), steps=15)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 4
    assert panels[0].get_title().startswith("η = 0.1, momentum μ = 0")
