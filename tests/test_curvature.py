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


def _spd(rng, eigenvalues):
    Q, _ = np.linalg.qr(rng.normal(size=(len(eigenvalues), len(eigenvalues))))
    H = (Q * eigenvalues) @ Q.T
    return (H + H.T) / 2


def test_optimal_step_minimizes_the_worst_factor_and_matches_the_simulated_rate():
    rng = np.random.default_rng(0)
    for eigenvalues in ([0.1, 1.0], [0.02, 0.3, 0.7, 5.0], [2.0, 2.0]):
        H = _spd(rng, np.array(eigenvalues))
        eta, rho = curvature.optimal_step(H)
        lam = np.linalg.eigvalsh(H)  # numpy, independently of the library's torch
        etas = np.linspace(1e-4, 2 / lam.max(), 20001)
        worst = np.max(np.abs(1 - etas[:, None] * lam[None, :]), axis=1)  # rho(eta) on a fine grid
        assert eta == pytest.approx(etas[np.argmin(worst)], abs=2 / lam.max() / 20000)
        assert rho == pytest.approx(worst.min(), abs=1e-3)
        kappa = lam.max() / lam.min()
        assert rho == pytest.approx((kappa - 1) / (kappa + 1), abs=1e-12)
        # Gradient descent with eta shrinks a start on the slowest eigenvector by exactly rho per step.
        theta = np.linalg.eigh(H)[1][:, 0]
        for _ in range(5):
            theta = theta - eta * H @ theta
        assert np.linalg.norm(theta) == pytest.approx(rho**5, abs=1e-12)


def test_inertia_counts_signs_and_is_invariant_under_congruence():
    rng = np.random.default_rng(1)
    for eigenvalues, expected in (([1.0, 2.0], (0, 0, 2)), ([-1.0, 3.0, 0.0], (1, 1, 1)), ([-2.0, -1.0], (2, 0, 0))):
        H = _spd(rng, np.array(eigenvalues))
        assert curvature.inertia(H, tol=1e-9) == expected
        S = rng.normal(size=H.shape)  # invertible with probability 1: Sylvester's law of inertia
        congruent = S @ H @ S.T
        assert curvature.inertia((congruent + congruent.T) / 2, tol=1e-9) == expected
    assert curvature.inertia(np.array([[1.0, 2.0], [2.0, 1.0]])) == (1, 0, 1)  # positive diagonal, a saddle
    assert curvature.critical_point_kind(np.array([[1.0, 2.0], [2.0, 1.0]])) == "saddle"
    with pytest.raises(ValueError, match="hessian"):
        curvature.inertia(np.array([[1.0, 2.0], [0.0, 1.0]]))  # not symmetric
    with pytest.raises(ValueError, match="tol"):
        curvature.inertia(np.eye(2), tol=-1.0)


def test_preconditioned_condition_number_is_that_of_p_inverse_h():
    rng = np.random.default_rng(2)
    H = _spd(rng, np.array([0.01, 0.5, 3.0]))
    P = _spd(rng, np.array([0.2, 1.0, 4.0]))
    lam = np.sort(np.linalg.eigvals(np.linalg.solve(P, H)).real)  # eigenvalues of P^-1 H, non-symmetric route
    assert curvature.condition_number(H, P) == pytest.approx(lam[-1] / lam[0], rel=1e-10)
    assert curvature.condition_number(H, H) == pytest.approx(1.0)  # Newton's preconditioner
    assert curvature.condition_number(np.diag([1.0, 100.0]), np.diag([1.0, 100.0])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="preconditioner"):
        curvature.condition_number(H, -P)
    with pytest.raises(ValueError, match="preconditioner"):
        curvature.condition_number(H, np.eye(2))


def test_newton_solves_a_quadratic_in_one_step_and_gradient_descent_matches_the_reference():
    from dnncourse.lab import surfaces, trajectories

    for angle in (0.0, 0.7):
        bowl = surfaces.quadratic(1000.0, angle=angle)
        newton = curvature.preconditioned_descent(bowl, "newton", steps=1)
        np.testing.assert_allclose(newton[1], [0.0, 0.0], atol=1e-12)
        plain = curvature.preconditioned_descent(bowl, "identity", lr=0.9, steps=25)
        np.testing.assert_allclose(plain, trajectories.gradient_descent(bowl, 0.9, 25), rtol=1e-12, atol=1e-14)
    # A diagonal preconditioner solves the axis-aligned bowl in one step, but not the one turned by 45 degrees.
    aligned = curvature.preconditioned_descent(surfaces.quadratic(100.0), "diagonal", steps=1)
    np.testing.assert_allclose(aligned[1], [0.0, 0.0], atol=1e-12)
    turned = curvature.preconditioned_descent(surfaces.quadratic(100.0, angle=np.pi / 4), "diagonal", steps=1)
    assert np.linalg.norm(turned[1]) > 0.5 * np.linalg.norm(turned[0])


def test_newton_is_attracted_to_the_saddle_and_saddle_free_newton_is_not():
    from dnncourse.lab import surfaces

    surface = surfaces.saddle()
    starts = np.array([[-1.5, 0.3], [1.0, -0.2], [0.5, 0.4]])  # (3, 2): |y| < 1/sqrt(5), near the saddle
    newton = curvature.preconditioned_descent(surface, "newton", steps=30, start=starts)
    assert newton.shape == (31, 3, 2)
    np.testing.assert_allclose(newton[-1], np.zeros((3, 2)), atol=1e-12)  # every run ends on the saddle
    free = curvature.preconditioned_descent(surface, "saddle-free", steps=30, start=starts)
    np.testing.assert_allclose(np.abs(free[-1]), [[0.0, 1.0]] * 3, atol=1e-8)  # every run ends in a minimum
    single = curvature.preconditioned_descent(surface, "newton", steps=30, start=starts[0])
    np.testing.assert_allclose(single, newton[:, 0], rtol=0, atol=0)  # a batch runs each start independently


def test_preconditioned_descent_marks_singular_and_diverging_runs_and_checks_arguments():
    from dnncourse.lab import surfaces

    surface = surfaces.saddle()
    singular = curvature.preconditioned_descent(surface, "newton", steps=2, start=(0.5, 1 / np.sqrt(3)))
    assert np.isnan(singular[1:]).all()  # the Hessian is singular at y = 1/sqrt(3)
    with pytest.raises(ValueError, match="preconditioner"):
        curvature.preconditioned_descent(surface, "adam")
    with pytest.raises(ValueError, match="lr"):
        curvature.preconditioned_descent(surface, lr=0.0)
    with pytest.raises(ValueError, match="start"):
        curvature.preconditioned_descent(surface, start=(1.0, 2.0, 3.0))


def test_fraction_positive_definite_agrees_with_eigenvalues():
    import torch

    fractions = curvature.fraction_positive_definite([3, 4], n_samples=2000, seed=5)
    generator = torch.Generator(device="cpu").manual_seed(5)
    for d, fraction in zip([3, 4], fractions):
        A = torch.randn(2000, d, d, generator=generator, dtype=torch.float64)
        smallest = torch.linalg.eigvalsh((A + A.transpose(1, 2)) / 2)[:, 0]
        assert fraction == float((smallest > 0).double().mean())
