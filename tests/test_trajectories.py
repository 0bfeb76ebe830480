"""Tests of dnncourse.lab.trajectories: paths against the NumPy reference, divergence, mini-batches."""

import math

import numpy as np
import pytest
import torch

from dnncourse.lab import surfaces as L
from dnncourse.lab import trajectories as T


def test_run_with_torch_sgd_equals_numpy_gradient_descent():
    for make in (L.rosenbrock, L.ravine, L.saddle):
        surface = make()
        path = T.run(surface, lambda params: torch.optim.SGD(params, lr=1e-3), steps=60)
        assert path.shape == (61, 2)
        np.testing.assert_allclose(path, T.gradient_descent(surface, 1e-3, 60), rtol=1e-12, atol=1e-12)


def test_gradient_descent_on_quadratic_contracts_at_the_theoretical_rate():
    kappa = 10.0
    surface = L.quadratic(kappa)
    lr = 2 / (1 / kappa + 1.0)
    path = T.gradient_descent(surface, lr, 20, start=(1.0, 1.0))
    rho = (kappa - 1) / (kappa + 1)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), math.sqrt(2) * rho ** np.arange(21), rtol=1e-10)


def test_divergence_stops_and_pads_with_nan():
    surface = L.quadratic(1.0)
    path = T.gradient_descent(surface, 3.0, 100, start=(1.0, 0.0))  # factor -2 per step
    assert path.shape == (101, 2) and np.isnan(path).any()
    k = np.flatnonzero(np.isnan(path[:, 0]))[0]
    assert np.abs(path[k - 1, 0]) > T.DIVERGED and np.isnan(path[k:]).all()
    run_path = T.run(surface, lambda p: torch.optim.SGD(p, lr=3.0), start=(1.0, 0.0), steps=100)
    np.testing.assert_array_equal(np.isnan(run_path), np.isnan(path))


def test_minibatch_gradient_descent_shapes_and_full_batch_equals_gradient_descent():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20)
    problem = L.least_squares(x, 2 * x + 0.5)
    assert T.minibatch_gradient_descent(problem, 0.1, 6, epochs=2).shape == (2 * math.ceil(20 / 6) + 1, 2)
    full = T.minibatch_gradient_descent(problem, 0.1, 20, epochs=5)
    np.testing.assert_allclose(full, T.gradient_descent(problem, 0.1, 5), rtol=1e-10)


def test_steps_to_reach():
    surface = L.quadratic(1.0)
    path = T.gradient_descent(surface, 0.5, 30, start=(1.0, 0.0))  # J_k = 0.5 * 0.25**k
    assert T.steps_to_reach(path, surface, 1e-3) == 5
    assert T.steps_to_reach(path[:3], surface, 1e-3) is None


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="lr"):
        T.gradient_descent(L.saddle(), -1.0)
    with pytest.raises(ValueError, match="start"):
        T.gradient_descent(L.saddle(), 0.1, start=(1.0,))


def test_steps_to_converge_counts_the_steps_of_the_recorded_path():
    surface = L.quadratic(20.0)
    sgd = lambda params: torch.optim.SGD(params, lr=0.5)  # noqa: E731
    momentum = lambda params: torch.optim.SGD(params, lr=0.3, momentum=0.6)  # noqa: E731
    for make in (sgd, momentum):
        k = T.steps_to_converge(surface, make, tol=1e-6)
        assert k is not None and k > 10
        assert k == T.steps_to_reach(T.run(surface, make, steps=k + 5), surface, 1e-6)
    assert T.steps_to_converge(surface, sgd, tol=1e-6, max_steps=10) is None  # not enough steps
    assert T.steps_to_converge(surface, sgd, tol=1e-6, start=(0.0, 0.0)) == 0  # already there
    assert T.steps_to_converge(surface, lambda p: torch.optim.SGD(p, lr=3.0), tol=1e-6) is None  # diverges


def test_steps_to_converge_of_gradient_descent_matches_the_closed_form_rate():
    """On J = (lam_min u^2 + lam_max v^2) / 2 with the optimal step 2 / (lam_min + lam_max), the flat
    direction's error shrinks by rho = (kappa - 1) / (kappa + 1) per step and the steep one's equally."""
    for kappa in (10.0, 100.0):
        surface = L.quadratic(kappa)
        lr = 2 / (1 + 1 / kappa)
        rho = (kappa - 1) / (kappa + 1)
        J0 = surface.value(surface.start)  # J_k = J0 * rho^(2k) exactly
        expected = math.ceil(math.log(J0 / 1e-8) / (2 * math.log(1 / rho)))
        k = T.steps_to_converge(surface, lambda p, lr=lr: torch.optim.SGD(p, lr=lr), tol=1e-8)
        assert abs(k - expected) <= 1


def test_run_takes_the_exact_gradient_as_backward_would_and_drives_lbfgs():
    surface = L.ravine()
    theta = torch.tensor(surface.start, dtype=torch.float64, requires_grad=True)
    surface.f(theta).backward()
    torch.testing.assert_close(theta.grad, surface.grad(theta.detach()), rtol=1e-12, atol=1e-12)
    path = T.run(L.rosenbrock(), lambda p: torch.optim.LBFGS(p, max_iter=20, line_search_fn="strong_wolfe"), steps=5)
    np.testing.assert_allclose(path[-1], (1.0, 1.0), atol=1e-4)  # from (-1.5, 2.5)


def test_steps_to_converge_bad_arguments():
    with pytest.raises(ValueError, match="tol"):
        T.steps_to_converge(L.saddle(), lambda p: torch.optim.SGD(p, lr=0.1), tol=0.0)
    with pytest.raises(ValueError, match="max_steps"):
        T.steps_to_converge(L.saddle(), lambda p: torch.optim.SGD(p, lr=0.1), tol=1e-3, max_steps=-1)
