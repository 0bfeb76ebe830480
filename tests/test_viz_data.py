"""dnncourse.viz.data and viz.graph: colour scales on heat maps, models in float64, curves that stay
visible, and the layout of computation graphs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from dnncourse.autograd import Value
from dnncourse.lab.data import make_circles, make_regression_1d
from dnncourse.lab.models import mlp
from dnncourse.viz import plot_computation_graph, plot_decision_boundary, plot_function_fit, plot_weight_images


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_decision_boundary_colorbar_shows_the_probability_scale():
    data = make_circles(60, seed=0)
    fig, ax = plt.subplots()
    plot_decision_boundary(mlp(2, [4], 2, seed=0), data, ax, resolution=20, colorbar=True)
    (scale,) = [other for other in fig.axes if other is not ax]
    assert scale.get_ylabel() == "probability of class 1"
    assert scale.get_ylim() == (0.0, 1.0)
    _, bare = plt.subplots()
    plot_decision_boundary(mlp(2, [4], 2, seed=0), data, bare, resolution=20)
    assert len(bare.figure.axes) == 1  # no colour bar unless asked


def test_decision_boundary_and_function_fit_evaluate_a_float64_model_in_float64():
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            seen.append(x.dtype)
            return self.inner(x)

    circles = make_circles(40, seed=0).to("cpu", torch.float64)
    plot_decision_boundary(Recorder(mlp(2, [3], 2, seed=0).double()), circles, resolution=10)
    regression = make_regression_1d(30, seed=0).to("cpu", torch.float64)
    plot_function_fit(Recorder(mlp(1, [3], 1, seed=0).double()), regression, resolution=10)
    assert seen == [torch.float64, torch.float64]


def test_function_fit_draws_the_true_function_above_the_prediction():
    data = make_regression_1d(30, seed=0)
    ax = plot_function_fit(mlp(1, [3], 1, "sigmoid", seed=0), data, target=np.sin, resolution=20)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines["true function"].get_zorder() > lines["network"].get_zorder()


def test_weight_images_with_a_colorbar_share_one_symmetric_scale():
    W = torch.zeros(3, 64)
    W[0, 0], W[1, 5], W[2, 7] = 2.0, -0.5, 0.25
    fig = plot_weight_images(W, (8, 8), n_cols=3, colorbar=True)
    images = [ax.get_images()[0] for ax in fig.axes if ax.get_images()]
    assert [image.get_clim() for image in images] == [(-2.0, 2.0)] * 3
    (scale,) = [ax for ax in fig.axes if ax.get_ylabel() == "weight"]
    assert scale.get_ylim() == pytest.approx((-2.0, 2.0), rel=1e-6)
    separate = plot_weight_images(W, (8, 8), n_cols=3)  # default: each image on its own scale
    limits = [ax.get_images()[0].get_clim()[1] for ax in separate.axes if ax.get_images()]
    assert limits == pytest.approx([2.0, 0.5, 0.25])


def test_graph_puts_inputs_and_constants_next_to_their_first_use():
    x = Value(2.0, "x")
    y = 3 * (3 * x)  # two multiplications, each with a constant operand
    y.backward()
    ax = plot_computation_graph(y)
    boxes = [(t.get_text(), round(t.get_position()[0])) for t in ax.texts if t.get_fontweight() == "bold"]
    # x and the first constant feed the first product (column 1); the second constant sits in
    # column 1 too, just left of the product it feeds (column 2), not back with the inputs.
    assert sorted(boxes) == [("*", 1), ("*", 2), ("const", 0), ("const", 1), ("x", 0)]
    texts = [t.get_text() for t in ax.texts]
    assert "grad 9.0000" in texts and "value 18.0000" in texts
