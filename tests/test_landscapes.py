"""Tests of dnncourse.landscapes: exact derivatives against autograd and finite differences, landmarks."""

import numpy as np
import pytest
import torch

from dnncourse import landscapes as L
from dnncourse.data import load_digits
from dnncourse.models import mlp


def _points(surface, n=8, seed=0):
    (xmin, xmax), (ymin, ymax) = surface.bounds
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, 2, generator=g, dtype=torch.float64)
    return torch.stack([xmin + (xmax - xmin) * u[:, 0], ymin + (ymax - ymin) * u[:, 1]], dim=-1)  # (n, 2)


ALL = [*L.SURFACES.values(), lambda: L.quadratic(100.0, angle=0.7), lambda: L.least_squares(np.arange(5.0), np.arange(5.0) * 2 + 1)]


@pytest.mark.parametrize("make", ALL)
def test_gradient_matches_autograd_and_finite_differences(make):
    surface = make()
    xy = _points(surface).requires_grad_(True)
    (auto,) = torch.autograd.grad(surface.f(xy).sum(), xy)
    exact = surface.grad(xy.detach())
    torch.testing.assert_close(exact, auto, rtol=1e-9, atol=1e-9)
    h = 1e-6
    for i in range(2):
        e = torch.zeros(2, dtype=torch.float64)
        e[i] = h
        fd = (surface.f(xy.detach() + e) - surface.f(xy.detach() - e)) / (2 * h)
        torch.testing.assert_close(exact[:, i], fd, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", ALL)
def test_hessian_matches_autograd(make):
    surface = make()
    for point in _points(surface, n=4):
        auto = torch.autograd.functional.hessian(surface.f, point)
        torch.testing.assert_close(surface.hessian(point), auto, rtol=1e-8, atol=1e-8)
    assert surface.hessian(_points(surface, n=3)).shape == (3, 2, 2)


@pytest.mark.parametrize("make", ALL)
def test_minima_are_minima_and_saddles_are_saddles(make):
    surface = make()
    assert surface.minima
    for m in surface.minima:
        p = torch.tensor(m, dtype=torch.float64)
        assert float(surface.grad(p).norm()) < 1e-8
        assert L.critical_point_kind(surface.hessian(p)) == "minimum"
        for d in torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)):
            assert surface.f(p + 1e-3 * d) > surface.f(p)
    for s in surface.saddles:
        p = torch.tensor(s, dtype=torch.float64)
        assert float(surface.grad(p).norm()) < 1e-8
        eig = torch.linalg.eigvalsh(surface.hessian(p))
        assert eig[0] < 0 < eig[1]


def test_saddle_surface_and_multi_minima_landmarks():
    assert L.saddle().saddles == [(0.0, 0.0)]
    surface = L.multi_minima()
    values = [surface.value(m) for m in surface.minima]
    assert len(values) == 4 and values == sorted(values)


def test_quadratic_condition_number_and_device_dtype():
    surface = L.quadratic(250.0, angle=0.3)
    assert L.condition_number(surface.hessian(torch.zeros(2, dtype=torch.float64))) == pytest.approx(250.0)
    for make in L.SURFACES.values():
        s = make()
        xy = torch.ones(3, 2, dtype=torch.float32)
        for out in (s.f(xy), s.grad(xy), s.hessian(xy)):
            assert out.dtype == torch.float32 and out.device == xy.device


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="condition_number"):
        L.quadratic(0.5)
    with pytest.raises(ValueError, match="hessian"):
        L.condition_number(np.diag([1.0, -1.0]))
    with pytest.raises(ValueError, match="dims"):
        L.fraction_positive_definite([0])


def test_critical_point_kind():
    assert L.critical_point_kind(np.diag([1.0, 2.0])) == "minimum"
    assert L.critical_point_kind(np.diag([-1.0, -2.0])) == "maximum"
    assert L.critical_point_kind(np.diag([1.0, -2.0])) == "saddle"
    assert L.critical_point_kind(np.diag([1.0, 0.0])) == "degenerate"


def test_fraction_positive_definite_matches_known_values():
    # d = 1: half of N(0, 1) numbers are positive; d = 2: P = 1/2 - 1/(2 sqrt 2) ~ 0.146 for this GOE scaling.
    frac = L.fraction_positive_definite([1, 2, 6], n_samples=20000)
    assert frac[0] == pytest.approx(0.5, abs=0.02)
    assert frac[1] == pytest.approx(0.5 - 1 / (2 * np.sqrt(2)), abs=0.02)
    assert frac[2] < 0.01


def test_per_example_gradients_mean_is_full_gradient_and_noise_follows_theory():
    torch.manual_seed(0)
    data = load_digits().train.subset(slice(0, 100))
    model = mlp(64, [8], 10).double()
    X = data.X.double()
    G = L.per_example_gradients(model, X, data.y)
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(X), data.y).backward()
    full = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    torch.testing.assert_close(G.mean(0), full, rtol=1e-8, atol=1e-10)
    measured, predicted = L.minibatch_gradient_noise(G, [1, 10, 100], n_batches=400)
    assert predicted[-1] == pytest.approx(0.0, abs=1e-20) and measured[-1] < 1e-20
    np.testing.assert_allclose(measured[:2], predicted[:2], rtol=0.2)


def test_least_squares_minibatch_gradient_of_all_examples_is_the_gradient():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    problem = L.least_squares(x, 3 * x - 1 + 0.1 * rng.normal(size=30))
    theta = torch.tensor([0.5, 0.2], dtype=torch.float64)
    torch.testing.assert_close(problem.minibatch_grad(theta, torch.arange(30)), problem.grad(theta))
    w, b = problem.minima[0]
    np.testing.assert_allclose([w, b], np.polyfit(x, problem.y.numpy(), 1), rtol=1e-10)


def test_gd_convergence_matches_simulated_gradient_descent():
    lam = np.array([0.05, 0.3, 1.0])
    for lr, tol in ((2 / 1.05, 1e-6), (1.0, 1e-3), (0.5, 1e-4)):
        rho, steps = L.gd_convergence(lam, lr, tol)
        assert rho == pytest.approx(np.max(np.abs(1 - lr * lam)))
        theta = np.where(np.abs(1 - lr * lam) == rho, 1.0, 0.0)  # start on the slowest direction: the bound is tight
        k = 0
        while np.linalg.norm(theta) > tol:
            theta = (1 - lr * lam) * theta
            k += 1
        assert k == steps
    assert L.gd_convergence(lam, 2.5, 1e-3)[1] == -1
    assert L.gd_convergence(np.array([2.0]), 0.5, 1e-3) == (0.0, 1)
    with pytest.raises(ValueError, match="tol"):
        L.gd_convergence(lam, 0.1, 2.0)
