"""Tests of dnncourse.lab.curvature: the second-derivative test, random matrices, gradient descent's rate."""

import numpy as np
import pytest

from dnncourse.lab import curvature


def test_critical_point_kind():
    assert curvature.critical_point_kind(np.diag([1.0, 2.0])) == "minimum"
    assert curvature.critical_point_kind(np.diag([-1.0, -2.0])) == "maximum"
    assert curvature.critical_point_kind(np.diag([1.0, -2.0])) == "saddle"
    assert curvature.critical_point_kind(np.diag([1.0, 0.0])) == "degenerate"


def test_fraction_positive_definite_matches_known_values():
    # d = 1: half of N(0, 1) numbers are positive; d = 2: P = 1/2 - 1/(2 sqrt 2) ~ 0.146 for this GOE scaling.
    frac = curvature.fraction_positive_definite([1, 2, 6], n_samples=20000)
    assert frac[0] == pytest.approx(0.5, abs=0.02)
    assert frac[1] == pytest.approx(0.5 - 1 / (2 * np.sqrt(2)), abs=0.02)
    assert frac[2] < 0.01


def test_gd_convergence_matches_simulated_gradient_descent():
    lam = np.array([0.05, 0.3, 1.0])
    for lr, tol in ((2 / 1.05, 1e-6), (1.0, 1e-3), (0.5, 1e-4)):
        rho, steps = curvature.gd_convergence(lam, lr, tol)
        assert rho == pytest.approx(np.max(np.abs(1 - lr * lam)))
        theta = np.where(np.abs(1 - lr * lam) == rho, 1.0, 0.0)  # start on the slowest direction: the bound is tight
        k = 0
        while np.linalg.norm(theta) > tol:
            theta = (1 - lr * lam) * theta
            k += 1
        assert k == steps
    assert curvature.gd_convergence(lam, 2.5, 1e-3)[1] == -1
    assert curvature.gd_convergence(np.array([2.0]), 0.5, 1e-3) == (0.0, 1)
    with pytest.raises(ValueError, match="tol"):
        curvature.gd_convergence(lam, 0.1, 2.0)
