"""Tests of dnncourse.lab.diagnostics: recorded statistics against a manual forward/backward, hook removal."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from dnncourse import viz
from dnncourse.activations import ELU
from dnncourse.lab.diagnostics import GradientFlowInspector, LayerStats, gradient_norms, histogram
from dnncourse.lab.models import mlp


def _sequential():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.Tanh(), nn.Linear(6, 2))


def _no_hooks(model: nn.Module) -> bool:
    modules_clean = all(
        not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in model.modules()
    )
    params_clean = all(not getattr(p, "_post_accumulate_grad_hooks", None) for p in model.parameters())
    return modules_clean and params_clean


def test_sequential_stats_match_manual_computation():
    model = _sequential()
    x = torch.randn(16, 5)
    with GradientFlowInspector(model, bins=10) as inspector:
        model(x).pow(2).sum().backward()
    stats = inspector.stats()
    assert [s.name for s in stats] == ["0", "2", "4"]
    assert [s.index for s in stats] == [0, 1, 2]

    # independent reference: the same forward pass by hand, with retained gradients
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    z1 = model[0](x)
    a1 = torch.relu(z1)
    z2 = model[2](a1)
    a2 = torch.tanh(z2)
    z3 = model[4](a2)
    for z in (z1, z2, z3):
        z.retain_grad()
    z3.pow(2).sum().backward()
    for s, z, a in zip(stats, (z1, z2, z3), (a1, a2, None)):
        assert s.act_mean == pytest.approx(z.mean().item(), rel=1e-5, abs=1e-7)
        assert s.act_std == pytest.approx(z.std().item(), rel=1e-5)
        assert s.grad_norm == pytest.approx(z.grad.norm().item(), rel=1e-5)
        nonzero = z.grad.abs()[z.grad != 0]
        log_counts, log_edges = s.grad_log_hist
        assert log_counts.sum() == nonzero.numel()
        assert log_edges[0] == pytest.approx(torch.log10(nonzero.min()).item(), rel=1e-5)
        assert s.weight_grad_norm == pytest.approx(grads[f"{s.name}.weight"].norm().item(), rel=1e-5)
        counts, edges = s.act_hist
        assert counts.sum() == z.numel() and len(edges) == 11
        assert isinstance(s.act_mean, float) and isinstance(counts, np.ndarray)
        if a is None:
            assert s.dead_fraction is None and s.post_mean is None
        else:
            assert s.post_mean == pytest.approx(a.mean().item(), rel=1e-5, abs=1e-7)
            expected_dead = (a == 0).all(dim=0).float().mean().item()
            assert s.dead_fraction == pytest.approx(expected_dead)
    assert stats[0].activation == "ReLU" and stats[1].activation == "Tanh"
    assert _no_hooks(model)


def test_dead_fraction_counts_units_dead_on_whole_batch():
    lin = nn.Linear(3, 4)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([-1.0, 1.0, -2.0, 0.5]))  # units 0 and 2 are always negative
    model = nn.Sequential(lin, nn.ReLU())
    with GradientFlowInspector(model) as inspector:
        model(torch.randn(8, 3))
    assert inspector.stats()[0].dead_fraction == pytest.approx(0.5)
    assert inspector.stats()[0].grad_norm is None  # no backward was run


def test_on_mlp_with_course_activation():
    torch.manual_seed(1)
    model = mlp(4, [8, 8, 8], 3, activation=ELU)
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    with GradientFlowInspector(model) as inspector:
        nn.functional.cross_entropy(model(x), y).backward()
    stats = inspector.stats()
    assert [s.name for s in stats] == ["blocks.0.linear", "blocks.1.linear", "blocks.2.linear", "head"]
    assert [s.activation for s in stats] == ["ELU", "ELU", "ELU", None]
    hidden = model.hidden(x)
    for s, h in zip(stats, hidden):
        assert s.post_std == pytest.approx(h.std().item(), rel=1e-5)
    norms = gradient_norms(model)
    for s in stats:
        assert s.weight_grad_norm == pytest.approx(norms[f"{s.name}.weight"], rel=1e-6)
    assert _no_hooks(model)


def test_hooks_removed_after_exception():
    model = _sequential()
    with pytest.raises(RuntimeError, match="inside the block"):
        with GradientFlowInspector(model):
            model(torch.randn(2, 5))
            raise RuntimeError("an error inside the block")
    assert _no_hooks(model)
    # the model keeps working and records nothing more
    model(torch.randn(2, 5)).sum().backward()


def test_selected_layer_types_and_activation_layers():
    model = _sequential()
    with GradientFlowInspector(model, layers=(nn.ReLU, nn.Tanh)) as inspector:
        model(torch.randn(6, 5)).sum().backward()
    stats = inspector.stats()
    assert [s.name for s in stats] == ["1", "3"]
    assert stats[0].weight_grad_norm is None and stats[0].grad_norm is not None
    assert all(isinstance(s, LayerStats) for s in stats)


def test_gradient_norms_matches_manual_and_skips_missing():
    model = _sequential()
    model(torch.randn(3, 5)).sum().backward()
    model[4].bias.grad = None
    norms = gradient_norms(model)
    assert "4.bias" not in norms
    assert norms["0.weight"] == pytest.approx(model[0].weight.grad.norm().item())
    assert gradient_norms(model, norm_type=1)["2.bias"] == pytest.approx(model[2].bias.grad.abs().sum().item())


def test_histogram_fixed_range_clamps_and_constant_tensor():
    counts, edges = histogram(torch.tensor([-5.0, 0.0, 0.5, 5.0]), bins=2, range=(-1.0, 1.0))
    assert counts.tolist() == [1, 3] and edges.tolist() == [-1.0, 0.0, 1.0]
    counts, edges = histogram(torch.zeros(4), bins=3)
    assert counts.sum() == 4 and edges[0] < 0 < edges[-1]


def test_plots_draw_one_point_per_layer():
    model = _sequential()
    with GradientFlowInspector(model) as inspector:
        model(torch.randn(6, 5)).sum().backward()
    fig, axes = plt.subplots(1, 4)
    viz.plot_gradient_norms(inspector, ax=axes[0], which="both", label="net")
    assert len(axes[0].lines) == 2 and len(axes[0].lines[0].get_xdata()) == 3
    assert axes[0].get_yscale() == "log"
    viz.plot_activation_stats(inspector, ax=axes[1], which="activation")
    assert len(axes[1].lines[0].get_xdata()) == 2  # the head has no activation after it
    viz.plot_layer_histograms(inspector, ax=axes[2], which="gradient")
    assert len(axes[2].patches) == 3
    viz.plot_dead_fraction(inspector, ax=axes[3])
    assert len(axes[3].lines[0].get_xdata()) == 2
    depth, norms = inspector.by_depth("weight_grad_norm")  # what plot_gradient_norms drew
    np.testing.assert_array_equal(depth, [1, 2, 3])
    np.testing.assert_allclose(axes[0].lines[0].get_ydata(), norms)
    plt.close(fig)


def test_bad_arguments():
    model = _sequential()
    with pytest.raises(ValueError, match="bins"):
        GradientFlowInspector(model, bins=0)
    with pytest.raises(ValueError, match="layers"):
        GradientFlowInspector(model, layers="Linear")
    with pytest.raises(ValueError, match="model"):
        GradientFlowInspector("not a model")
    inspector = GradientFlowInspector(model)
    with pytest.raises(ValueError, match="which"):
        viz.plot_layer_histograms(inspector, which="weights")
    with pytest.raises(ValueError, match="attribute must be a field of LayerStats"):
        inspector.by_depth("gradient")


def test_device_and_dtype_kept():
    model = _sequential().double()
    x = torch.randn(4, 5, dtype=torch.float64)
    with GradientFlowInspector(model) as inspector:
        out = model(x)
        out.sum().backward()
    assert out.dtype == torch.float64 and out.device == x.device
    assert all(isinstance(s.grad_norm, float) for s in inspector.stats())


def test_activation_after_batch_norm_is_credited_to_the_linear_layer():
    torch.manual_seed(0)
    model = mlp(4, [8, 8], 2, activation="relu", norm="batch")
    x = torch.randn(32, 4)
    with GradientFlowInspector(model) as inspector:
        model(x).sum().backward()
    stats = inspector.stats()
    assert [s.activation for s in stats] == ["ReLU", "ReLU", None]
    hidden = model.hidden(x)
    for s, h in zip(stats, hidden):
        assert s.post_mean == pytest.approx(h.mean().item(), rel=1e-5)
        assert s.dead_fraction == pytest.approx((h == 0).all(dim=0).float().mean().item())
    assert _no_hooks(model)


def _deep_tanh_inspector(depth=12):
    model = mlp(8, [8] * depth, 3, activation="tanh", seed=0)
    with GradientFlowInspector(model) as inspector:
        model(torch.randn(16, 8, generator=torch.Generator().manual_seed(1))).sum().backward()
    return inspector


def test_activation_std_on_a_log_axis_with_integer_depth_ticks():
    inspector = _deep_tanh_inspector()
    fig, ax = plt.subplots()
    viz.plot_activation_stats(inspector, ax, which="activation", stats=("std",), logy=True, label="tanh")
    assert [line.get_label() for line in ax.lines] == ["tanh"] and ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), inspector.by_depth("post_std")[1])
    fig.canvas.draw()
    xticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert all(float(t).is_integer() for t in xticks)  # layers, not 2.5, 7.5, ...
    with pytest.raises(ValueError, match="logy=True needs stats=\\('std',\\)"):
        viz.plot_activation_stats(inspector, ax, stats=("std", "mean"), logy=True)
    with pytest.raises(ValueError, match="stats must be"):
        viz.plot_activation_stats(inspector, ax, stats=("median",))
    plt.close(fig)


def _visible_labels(ax):
    ax.figure.canvas.draw()
    low, high = ax.get_ylim()
    return [t.get_text() for t in ax.get_yticklabels() if t.get_text() and low <= t.get_position()[1] <= high]


def test_log_axes_are_labelled_at_a_few_decades_or_at_1_2_5_steps():
    fig, (wide, narrow) = plt.subplots(1, 2)
    inspector = _deep_tanh_inspector()
    viz.plot_gradient_norms(inspector, wide)
    wide.lines[0].set_ydata(np.logspace(-17, 0, len(wide.lines[0].get_xdata())))  # 17 decades
    viz.plot_gradient_norms(inspector, wide)  # redrawn: the labels follow all the data on the axes
    labels = _visible_labels(wide)
    assert 2 <= len(labels) <= 8, labels
    assert all(float(loc).is_integer() for loc in np.log10(wide.get_yticks()))  # powers of ten only
    narrow.set_yscale("log")
    viz.plot_activation_stats(inspector, narrow, which="activation", stats=("std",), logy=True)
    narrow.lines[0].set_ydata(np.linspace(0.04, 0.4, len(narrow.lines[0].get_xdata())))
    viz.plot_activation_stats(inspector, narrow, which="activation", stats=("std",), logy=True)
    labels = _visible_labels(narrow)
    assert len(labels) >= 2 and all("10^" not in label and "times" not in label for label in labels), labels
    plt.close(fig)


def test_histograms_on_a_log_axis_without_a_legend():
    inspector = _deep_tanh_inspector()
    fig, ax = plt.subplots()
    viz.plot_layer_histograms(inspector, ax, which="activation", layers=[0, 5, 11], logy=True, legend=False)
    assert ax.get_yscale() == "log" and ax.get_legend() is None and len(ax.patches) == 3
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["layer 1", "layer 6", "layer 12"]  # for a figure legend outside the panels
    plt.close(fig)
