"""dnncourse.gradcheck against closed-form derivatives and torch.autograd."""

import numpy as np
import pytest
import torch

from dnncourse.gradcheck import numerical_gradient, numerical_jacobian, relative_error


def test_numerical_gradient_of_a_quadratic_form_matches_the_closed_form():
    rng = np.random.default_rng(0)
    A, b, x = rng.standard_normal((4, 4)), rng.standard_normal(4), rng.standard_normal(4)

    def f(v):
        return 0.5 * v @ A @ v + b @ v  # gradient: (A + A^T) v / 2 + b

    numeric = numerical_gradient(f, x)
    assert relative_error(numeric, 0.5 * (A + A.T) @ x + b) < 1e-9


def test_numerical_gradient_of_a_matrix_input_keeps_its_shape():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((3, 2))

    def f(M):
        return np.sum(np.sin(M) * M)  # d/dM = cos(M) M + sin(M)

    numeric = numerical_gradient(f, W)
    assert numeric.shape == W.shape
    assert relative_error(numeric, np.cos(W) * W + np.sin(W)) < 1e-9


def test_input_is_not_modified_and_integers_are_accepted():
    x = np.array([1.0, 2.0])
    before = x.copy()
    numerical_gradient(lambda v: np.sum(v**2), x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v**2), [1, 2]), [2.0, 4.0], rtol=1e-9)


def test_centred_differences_error_shrinks_like_eps_squared():
    f, x = np.exp, np.array([0.3])
    exact = np.exp(0.3)
    errors = [abs(numerical_gradient(lambda v: f(v).sum(), x, eps)[0] - exact) for eps in (1e-1, 1e-2)]
    # truncation error e^x eps^2 / 6: ten times smaller eps, a hundred times smaller error
    assert errors[0] == pytest.approx(exact * 1e-2 / 6, rel=1e-2)
    assert errors[0] / errors[1] == pytest.approx(100, rel=1e-2)


def test_tensor_input_keeps_device_and_dtype_and_matches_autograd():
    x = torch.tensor([[0.5, -1.0], [2.0, 0.1]], dtype=torch.float64)

    def f(t):
        return (torch.tanh(t) ** 2).sum()

    numeric = numerical_gradient(f, x)
    assert isinstance(numeric, torch.Tensor)
    assert numeric.device == x.device and numeric.dtype == x.dtype
    leaf = x.clone().requires_grad_(True)
    f(leaf).backward()
    assert relative_error(numeric, leaf.grad) < 1e-9


def test_numerical_jacobian_matches_torch_layout_and_values():
    A = torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.3, 2.0]], dtype=torch.float64)

    def f(x):
        return torch.sin(A @ x)

    x = torch.tensor([0.2, -0.4, 0.9], dtype=torch.float64)
    J = numerical_jacobian(f, x)
    expected = torch.autograd.functional.jacobian(f, x)
    assert J.shape == expected.shape == (2, 3)
    assert J.dtype == x.dtype and J.device == x.device
    assert relative_error(J, expected) < 1e-9


def test_numerical_jacobian_of_numpy_matrix_function():
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    J = numerical_jacobian(lambda M: M**2, X)  # d(M_ij^2)/dM_kl = 2 M_ij [i=k][j=l]
    assert J.shape == (2, 2, 2, 2)
    expected = np.einsum("ij,ik,jl->ijkl", 2 * X, np.eye(2), np.eye(2))
    np.testing.assert_allclose(J, expected, rtol=1e-8, atol=1e-9)


def test_relative_error_values():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.0
    assert relative_error(np.array([3.0, 4.0]), np.array([3.0, 4.0 + 5e-3])) == pytest.approx(1e-3, rel=1e-3)
    assert relative_error(2.0, 1.0) == pytest.approx(0.5)
    assert relative_error(torch.ones(2), np.ones(2)) == 0.0


@pytest.mark.parametrize("eps", [0, -1e-5, float("nan"), float("inf"), "1e-5", True])
def test_bad_eps_raises(eps):
    with pytest.raises(ValueError, match="eps must be a positive number"):
        numerical_gradient(lambda v: v.sum(), np.ones(2), eps=eps)
    with pytest.raises(ValueError, match="eps"):
        numerical_jacobian(lambda v: v, np.ones(2), eps=eps)


def test_non_scalar_function_and_bad_shapes_raise():
    with pytest.raises(ValueError, match="f must return a scalar"):
        numerical_gradient(lambda v: v * 2, np.ones(3))
    with pytest.raises(ValueError, match="same shape"):
        relative_error(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="floating-point tensor"):
        numerical_gradient(lambda v: v.sum(), torch.ones(2, dtype=torch.int64))


def test_jacobian_of_the_identity_is_the_identity_matrix():
    np.testing.assert_allclose(numerical_jacobian(lambda v: v, np.array([1.0, -2.0, 0.5])), np.eye(3), atol=1e-9)
    J = numerical_jacobian(lambda t: t, torch.tensor([1.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(J, torch.eye(2, dtype=torch.float64))
