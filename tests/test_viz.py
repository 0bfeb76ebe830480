"""dnncourse.viz: what is drawn matches the data, the model and the recorded numbers; one palette."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from dnncourse import viz
from dnncourse.autograd import Value
from dnncourse.lab import surfaces, trajectories
from dnncourse.lab.data import Dataset, make_circles, make_regression_1d
from dnncourse.lab.models import mlp
from dnncourse.lab.training import History
from dnncourse.viz import (
    plot_computation_graph,
    plot_dataset,
    plot_decision_boundary,
    plot_function_fit,
    plot_history,
    plot_weight_images,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


class HalfPlane(torch.nn.Module):
    """Class 1 where x1 > 0: a model whose decision boundary is known exactly. Records the input it saw."""

    def __init__(self, n_outputs=2):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(10.0))
        self.n_outputs = n_outputs
        self.seen = None

    def forward(self, x):
        self.seen = x
        logit = self.scale * x[:, :1]
        return logit if self.n_outputs == 1 else torch.cat([-logit, logit], dim=1)


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_decision_boundary_is_drawn_where_the_model_switches(n_outputs):
    data = make_circles(100, seed=0)
    model = HalfPlane(n_outputs)
    model.train()
    ax = plot_decision_boundary(model, data, resolution=50, title="half plane")
    assert model.training  # mode restored
    assert model.seen.shape == (50 * 50, 2) and model.seen.dtype == torch.float32
    boundary = ax.collections[1]  # [0]: filled contours; [1]: the probability-1/2 line
    xs = np.concatenate([p.vertices[:, 0] for p in boundary.get_paths()])
    assert np.allclose(xs, 0.0, atol=0.1)  # the probability-1/2 contour is the line x1 = 0
    assert ax.get_title() == "half plane"
    X = data.X.numpy()
    assert ax.get_xlim()[0] < X[:, 0].min() and ax.get_xlim()[1] > X[:, 0].max()


def test_decision_boundary_multiclass_and_plain_callable():
    X = torch.randn(60, 2)
    y = torch.arange(60) % 3
    data = Dataset(X, y, "three")
    ax = plot_decision_boundary(lambda g: torch.stack([g[:, 0], g[:, 1], -g[:, 0]], dim=1), data, resolution=20)
    scatters = ax.collections[-3:]  # one scatter per class, drawn after the filled regions
    assert [len(c.get_offsets()) for c in scatters] == [20, 20, 20]


def test_decision_boundary_evaluates_on_the_models_device():
    data = make_circles(40, seed=0)
    model = mlp(2, [4], 2)
    plot_decision_boundary(model, data, resolution=10)
    recorder = HalfPlane()
    plot_decision_boundary(recorder, data, resolution=10)
    assert recorder.seen.device == recorder.scale.device


def test_decision_boundary_bad_inputs():
    data = make_circles(40, seed=0)
    with pytest.raises(ValueError, match="resolution"):
        plot_decision_boundary(HalfPlane(), data, resolution=1)
    with pytest.raises(ValueError, match="2 features"):
        plot_decision_boundary(HalfPlane(), Dataset(torch.randn(5, 3), torch.zeros(5, dtype=torch.int64)))
    with pytest.raises(ValueError, match="class labels"):
        plot_dataset(Dataset(torch.randn(5, 2), torch.randn(5, 1)))
    with pytest.raises(ValueError, match="scores of shape"):
        plot_decision_boundary(lambda g: torch.zeros(3, 2), data, resolution=5)


def history(values, val=None):
    h = History()
    h.train_loss = list(values)
    h.iteration_loss = [v for v in values for _ in range(3)]
    h.train_accuracy = [0.5] * len(values)
    if val is not None:
        h.val_loss = list(val)
        h.val_accuracy = [0.6] * len(val)
    return h


def test_history_plots_the_recorded_numbers():
    runs = {"a": history([3.0, 2.0, 1.0], val=[3.5, 2.5, 2.0]), "b": history([1.0, 0.5, 0.25])}
    (ax,) = plot_history(runs, metrics="loss", splits="train", logy=True)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["a", "b"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines[1].get_ydata(), [1.0, 0.5, 0.25])
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "epoch"
    assert lines[0].get_color() != lines[1].get_color()  # one colour per run, from the axes' cycle
    _, ax2 = plt.subplots()
    plot_history(runs, ax2, metrics="loss", splits="train", x="iteration")
    assert len(ax2.get_lines()[0].get_xdata()) == 9
    _, ax3 = plt.subplots()
    plot_history({"a": runs["a"]}, ax3, metrics="accuracy", splits="val")
    np.testing.assert_allclose(ax3.get_lines()[0].get_ydata(), [60.0] * 3)
    assert ax3.get_ylabel() == "accuracy (%)"


def test_history_validation_is_dashed_in_the_colour_of_its_run():
    (ax,) = plot_history({"a": history([3.0, 2.0], val=[3.5, 2.5])}, metrics="loss")
    train, val = ax.get_lines()
    assert train.get_linestyle() == "-" and val.get_linestyle() == "--" and train.get_color() == val.get_color()
    assert [train.get_label(), val.get_label()] == ["a (train)", "a (val)"]


def test_history_of_several_seeds_is_their_mean_with_a_band():
    runs = {
        "A": [
            History(train_loss=[1.0, 0.5], wall_time=[0.1, 0.2]),
            History(train_loss=[3.0, 1.5], wall_time=[0.3, 0.4]),
        ],
        "B": [History(train_loss=[2.0, 1.0], wall_time=[0.1, 0.2])],
    }
    _, ax = plt.subplots()
    plot_history(runs, ax, x="wall_time")
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), [0.2, 0.3])  # mean wall time over the seeds
    np.testing.assert_allclose(line.get_ydata(), [2.0, 1.0])  # mean loss
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(0.5) and band.max() == pytest.approx(3.0)  # min to max over the seeds
    assert len(ax.collections) == 1 and ax.get_xlabel() == "wall time (s)"  # no band for a single seed


def test_history_bad_arguments():
    runs = {"b": history([1.0])}
    with pytest.raises(ValueError, match="x must be one of"):
        plot_history(runs, x="batch")
    with pytest.raises(ValueError, match="splits must be one of"):
        plot_history(runs, splits="test")
    with pytest.raises(ValueError, match="no run recorded 'loss'"):
        plot_history(runs, metrics="loss", splits="val")
    with pytest.raises(ValueError, match="non-empty mapping"):
        plot_history({})
    with pytest.raises(ValueError, match="only recorded for the training loss"):
        plot_history(runs, x="iteration", splits="val")
    with pytest.raises(ValueError, match="different lengths"):
        plot_history({"c": [history([1.0]), history([1.0, 2.0])]})
    with pytest.raises(ValueError, match="one axes per metric"):
        plot_history(runs, plt.subplots()[1], metrics=("loss", "accuracy"))


def test_plot_history_draws_train_and_validation_panels():
    axes = plot_history({"run": history([2.0, 1.0], val=[2.5, 1.5])}, title="t")
    assert len(axes) == 2
    assert [line.get_label() for line in axes[0].get_lines()] == ["run (train)", "run (val)"]
    np.testing.assert_allclose(axes[1].get_lines()[0].get_ydata(), [50.0, 50.0])
    regression = History(train_loss=[1.0, 0.5], train_accuracy=[float("nan")] * 2)
    assert len(plot_history({"r": regression})) == 1


def test_function_fit_draws_units_that_sum_to_the_prediction():
    data = make_regression_1d(50, seed=0)
    torch.manual_seed(0)
    model = mlp(1, [3], 1, "sigmoid")
    ax = plot_function_fit(model, data, show_units=True, resolution=30)
    lines = ax.get_lines()
    units = [line for line in lines if line.get_color() == lines[0].get_color() and len(lines) > 1][:3]
    prediction = lines[-1].get_ydata()
    total = np.sum([unit.get_ydata() for unit in units], axis=0) + model.head.bias.item()
    np.testing.assert_allclose(total, prediction, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="one-hidden-layer"):
        plot_function_fit(mlp(1, [3, 3], 1), data, show_units=True)


def test_weight_images_reshape_rows():
    W = torch.arange(2 * 64, dtype=torch.float32).reshape(2, 64)
    figure = plot_weight_images(W, (8, 8), n_cols=2)
    image = figure.axes[1].get_images()[0].get_array()
    np.testing.assert_array_equal(image, W[1].reshape(8, 8).numpy())
    with pytest.raises(ValueError, match="weights must have shape"):
        plot_weight_images(torch.zeros(2, 10))


def test_computation_graph_shows_values_and_gradients():
    x1, x2 = Value(2.0, "x1"), Value(3.0, "x2")
    f = x1 * x2 + x2.sin()
    f.backward()
    ax = plot_computation_graph(f)
    texts = [t.get_text() for t in ax.texts]
    assert "x1" in texts and "grad 3.0000" in texts and f"grad {2 + np.cos(3):.4f}" in texts
    with pytest.raises(ValueError, match="root must be"):
        plot_computation_graph(1.0)


def test_style_is_opaque_and_colour_blind_safe():
    with matplotlib.rc_context():
        viz.use_style()
        assert matplotlib.rcParams["figure.facecolor"] == "white"
        assert not matplotlib.rcParams["savefig.transparent"]
        cycle = [c["color"].upper() for c in matplotlib.rcParams["axes.prop_cycle"]]
        assert cycle == [c.upper() for c in viz.CYCLE]
    assert len(set(viz.COLORS.values())) == len(viz.COLORS) == 8


def test_one_palette_paths_and_classes_use_the_course_cycle():
    assert viz.CYCLE[0] == viz.COLORS["blue"] and set(viz.CYCLE) == set(viz.COLORS.values())
    colors = list(viz.path_colors(["a", "b", "c", "d", "e", "f", "g"]).values())
    assert colors[:6] == [c for c in viz.CYCLE if c not in (viz.COLORS["black"], viz.COLORS["yellow"])]
    assert colors[6] == colors[0]
    data = make_circles(40, seed=0)
    ax = plot_dataset(data)
    assert [matplotlib.colors.to_hex(c.get_facecolor()[0]).upper() for c in ax.collections] == list(viz.CYCLE[:2])


def test_plot_contours_draws_every_path():
    surface = surfaces.saddle()
    ax = viz.plot_contours(surface, {"GD": trajectories.gradient_descent(surface, 0.1, 30)})
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["minimum", "saddle point", "GD"]


def test_animation_is_deterministic_self_contained_and_small():
    surface = surfaces.saddle()
    paths = {
        "GD": trajectories.gradient_descent(surface, 0.2, 40),
        "other": trajectories.gradient_descent(surface, 0.05, 40),
    }
    first = viz.animate(surface, paths, frames=12).data
    second = viz.animate(surface, paths, frames=12).data
    assert first == second
    assert "anim_img" in first and "play_animation" in first and first.count("data:image/png;base64") == 12
    assert "https://" not in first and len(first) < 2_000_000
    third = viz.animate(surface, {"GD": paths["GD"]}, frames=12).data
    assert third != first
    assert plt.get_fignums() == []
    assert 'alt="Animation of the paths of GD, other on the saddle surface' in first
    assert (
        'alt="A &quot;quoted&quot; description"'
        in viz.animate(surface, paths, frames=2, alt='A "quoted" description').data
    )
    with pytest.raises(ValueError, match="frames"):
        viz.animate(surface, {"a": np.zeros((3, 2))}, frames=1)


def test_plot_activations_draws_each_function_and_its_derivative():
    fig = viz.plot_activations(["relu", "gelu"])
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["relu", "gelu"]
    relu_derivative = fig.axes[0].get_lines()[1]
    np.testing.assert_array_equal(relu_derivative.get_ydata(), (relu_derivative.get_xdata() > 0).astype(float))
    with pytest.raises(ValueError, match="names"):
        viz.plot_activations(["swish"])


def test_normalization_axes_shade_what_each_layer_averages():
    fig = viz.draw_normalization_axes()
    assert [ax.get_title() for ax in fig.axes] == ["Batch norm", "Layer norm", "Instance norm", "Group norm"]
