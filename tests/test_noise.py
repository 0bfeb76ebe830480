"""Tests of dnncourse.lab.noise: per-example gradients and the noise of mini-batch gradients."""

import numpy as np
import pytest
import torch

from dnncourse.lab import curvature, noise
from dnncourse.lab.data import load_digits
from dnncourse.lab.models import mlp


def test_per_example_gradients_mean_is_full_gradient_and_noise_follows_theory():
    torch.manual_seed(0)
    data = load_digits().train.subset(slice(0, 100))
    model = mlp(64, [8], 10).double()
    X = data.X.double()
    G = noise.per_example_gradients(model, X, data.y)
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(X), data.y).backward()
    full = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    torch.testing.assert_close(G.mean(0), full, rtol=1e-8, atol=1e-10)
    measured, predicted = noise.minibatch_gradient_noise(G, [1, 10, 100], n_batches=400)
    assert predicted[-1] == pytest.approx(0.0, abs=1e-20) and measured[-1] < 1e-20
    np.testing.assert_allclose(measured[:2], predicted[:2], rtol=0.2)


def test_per_example_gradients_match_torch_func_vmap():
    from torch.func import functional_call, grad, vmap

    data = load_digits().train.subset(slice(0, 40))
    model = mlp(64, [6], 10, seed=3).double()
    X = data.X.double()
    G = noise.per_example_gradients(model, X, data.y)
    params = {name: p.detach() for name, p in model.named_parameters()}

    def loss_of_one(p, x, target):
        return torch.nn.functional.cross_entropy(functional_call(model, p, (x.unsqueeze(0),)), target.unsqueeze(0))

    grads = vmap(grad(loss_of_one), in_dims=(None, 0, 0))(params, X, data.y)
    reference = torch.cat([g.reshape(40, -1) for g in grads.values()], dim=1)
    torch.testing.assert_close(G, reference, rtol=1e-10, atol=1e-12)


def test_minibatch_noise_formula_is_the_exact_expectation_over_all_batches():
    import itertools

    rng = np.random.default_rng(0)
    G = torch.as_tensor(rng.normal(size=(6, 3)))  # n = 6 examples, P = 3 parameters
    g = G.mean(0)
    for B in (1, 2, 3, 6):
        batches = list(itertools.combinations(range(6), B))  # every batch drawn without replacement
        exact = np.mean([float(((G[list(b)].mean(0) - g) ** 2).sum()) for b in batches])
        measured, predicted = noise.minibatch_gradient_noise(G, [B], n_batches=20000, seed=1)
        assert predicted[0] == pytest.approx(exact, rel=1e-12, abs=1e-15)
        assert measured[0] == pytest.approx(exact, rel=0.05, abs=1e-15)


def test_noise_functions_check_their_arguments():
    G = torch.zeros(5, 2)
    with pytest.raises(ValueError, match="batch_sizes"):
        noise.minibatch_gradient_noise(G, [6])
    with pytest.raises(ValueError, match="n_batches"):
        noise.minibatch_gradient_noise(G, [2], n_batches=0)
    with pytest.raises(ValueError, match="G must be"):
        noise.minibatch_gradient_noise(torch.zeros(5), [2])
    with pytest.raises(ValueError, match="same number"):
        noise.per_example_gradients(mlp(2, [3], 2), torch.zeros(4, 2), torch.zeros(3, dtype=torch.int64))


def _valley(seed=0, n=50):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return noise.two_layer_linear(x, x + 0.5 * rng.normal(size=n)), x


def test_two_layer_linear_derivatives_match_autograd_and_finite_differences():
    valley, x = _valley()
    points = torch.as_tensor(np.random.default_rng(1).uniform(-2, 3, size=(6, 2)))  # (6, 2)
    xy = points.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(valley.f(xy).sum(), xy)
    torch.testing.assert_close(valley.grad(points), auto, rtol=1e-10, atol=1e-12)
    h = 1e-6
    for i in range(2):
        e = torch.zeros(2, dtype=torch.float64)
        e[i] = h
        fd = (valley.f(points + e) - valley.f(points - e)) / (2 * h)
        torch.testing.assert_close(valley.grad(points)[:, i], fd, rtol=1e-6, atol=1e-7)
    for point in points:
        torch.testing.assert_close(
            valley.hessian(point), torch.autograd.functional.hessian(valley.f, point), rtol=1e-9, atol=1e-10
        )
    theta = torch.tensor([0.7, -1.3], dtype=torch.float64)
    torch.testing.assert_close(valley.minibatch_grad(theta, torch.arange(len(x))), valley.grad(theta))


def test_two_layer_linear_minima_form_a_valley_of_growing_sharpness():
    valley, x = _valley()
    m = float(np.mean(x * x))
    c = float(np.sum(x * valley.y.numpy()) / np.sum(x * x))  # least-squares slope of y = c x
    for a in (0.3, 1.0, np.sqrt(c), 3.0):
        point = torch.tensor([a, c / a], dtype=torch.float64)  # on the hyperbola a b = c
        assert float(valley.grad(point).norm()) < 1e-12
        assert curvature.inertia(valley.hessian(point), tol=1e-9) == (0, 1, 1)  # flat along the valley
        assert valley.sharpness(point.numpy()) == pytest.approx(m * (a * a + (c / a) ** 2), rel=1e-12)
    root = np.sqrt(c)
    np.testing.assert_allclose(valley.minima, [(-root, -root), (root, root)], rtol=1e-14)
    assert curvature.critical_point_kind(valley.hessian(torch.zeros(2, dtype=torch.float64))) == "saddle"
    with pytest.raises(ValueError, match="mean"):
        noise.two_layer_linear(x, -x)
    with pytest.raises(ValueError, match="same number"):
        noise.two_layer_linear(x, x[:-1])
