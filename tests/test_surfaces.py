"""Tests of dnncourse.lab.surfaces: exact derivatives against autograd and finite differences, landmarks."""

import numpy as np
import pytest
import torch

from dnncourse.lab import curvature, surfaces


def _points(surface, n=8, seed=0):
    (xmin, xmax), (ymin, ymax) = surface.bounds
    g = torch.Generator(device="cpu").manual_seed(seed)
    u = torch.rand(n, 2, generator=g, dtype=torch.float64)
    return torch.stack([xmin + (xmax - xmin) * u[:, 0], ymin + (ymax - ymin) * u[:, 1]], dim=-1)  # (n, 2)


ALL = [
    *surfaces.SURFACES.values(),
    lambda: surfaces.quadratic(100.0, angle=0.7),
    lambda: surfaces.least_squares(np.arange(5.0), np.arange(5.0) * 2 + 1),
]


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
        assert curvature.critical_point_kind(surface.hessian(p)) == "minimum"
        for d in torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)):
            assert surface.f(p + 1e-3 * d) > surface.f(p)
    for s in surface.saddles:
        p = torch.tensor(s, dtype=torch.float64)
        assert float(surface.grad(p).norm()) < 1e-8
        eig = torch.linalg.eigvalsh(surface.hessian(p))
        assert eig[0] < 0 < eig[1]


def test_saddle_surface_and_multi_minima_landmarks():
    assert surfaces.saddle().saddles == [(0.0, 0.0)]
    surface = surfaces.multi_minima()
    values = [surface.value(m) for m in surface.minima]
    assert len(values) == 4 and values == sorted(values)


def test_quadratic_condition_number_and_device_dtype():
    surface = surfaces.quadratic(250.0, angle=0.3)
    assert curvature.condition_number(surface.hessian(torch.zeros(2, dtype=torch.float64))) == pytest.approx(250.0)
    for make in surfaces.SURFACES.values():
        s = make()
        xy = torch.ones(3, 2, dtype=torch.float32)
        for out in (s.f(xy), s.grad(xy), s.hessian(xy)):
            assert out.dtype == torch.float32 and out.device == xy.device


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="condition_number"):
        surfaces.quadratic(0.5)
    with pytest.raises(ValueError, match="hessian"):
        curvature.condition_number(np.diag([1.0, -1.0]))
    with pytest.raises(ValueError, match="dims"):
        curvature.fraction_positive_definite([0])


def test_least_squares_minibatch_gradient_of_all_examples_is_the_gradient():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    problem = surfaces.least_squares(x, 3 * x - 1 + 0.1 * rng.normal(size=30))
    theta = torch.tensor([0.5, 0.2], dtype=torch.float64)
    torch.testing.assert_close(problem.minibatch_grad(theta, torch.arange(30)), problem.grad(theta))
    w, b = problem.minima[0]
    np.testing.assert_allclose([w, b], np.polyfit(x, problem.y.numpy(), 1), rtol=1e-10)
