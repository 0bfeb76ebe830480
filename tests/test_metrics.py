"""dnncourse.metrics against PyTorch."""

import numpy as np
import pytest
import torch

from dnncourse import metrics


@pytest.mark.parametrize("scale", [1.0, 50.0, 1000.0])
def test_softmax_and_cross_entropy_match_torch(scale):
    rng = np.random.default_rng(0)
    logits = scale * rng.normal(size=(17, 6))
    labels = rng.integers(0, 6, size=17)
    expected_p = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    np.testing.assert_allclose(metrics.softmax(logits), expected_p, rtol=1e-12, atol=1e-300)
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    assert metrics.cross_entropy(logits, labels) == pytest.approx(expected, rel=1e-12)


def test_accuracy_counts_argmax_matches():
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert metrics.accuracy(logits, np.array([1, 1, 1])) == pytest.approx(2 / 3)


def test_bad_shapes_and_labels_are_named():
    with pytest.raises(ValueError, match="logits must have shape"):
        metrics.cross_entropy(np.zeros(3), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="labels must have shape"):
        metrics.accuracy(np.zeros((3, 2)), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        metrics.cross_entropy(np.zeros((2, 2)), np.array([0, 2]))


@pytest.mark.parametrize("scale", [1.0, 30.0, 800.0])
def test_cross_entropy_grad_matches_torch_autograd(scale):
    rng = np.random.default_rng(1)
    logits = scale * rng.normal(size=(7, 5))
    labels = rng.integers(0, 5, size=7)
    z = torch.tensor(logits, requires_grad=True)
    torch.nn.functional.cross_entropy(z, torch.from_numpy(labels)).backward()
    grad = metrics.cross_entropy_grad(logits, labels)
    assert grad.shape == (7, 5) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_cross_entropy_grad_matches_finite_differences_and_its_closed_form():
    from dnncourse.gradcheck import numerical_gradient, relative_error

    rng = np.random.default_rng(2)
    logits, labels = rng.normal(size=(4, 3)), np.array([0, 2, 2, 1])
    grad = metrics.cross_entropy_grad(logits, labels)
    numeric = numerical_gradient(lambda z: metrics.cross_entropy(z, labels), logits)
    assert relative_error(grad, numeric) < 1e-8
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)  # each row of P - Y sums to 0
    assert np.all(np.abs(grad) <= 1 / 4)  # every entry lies in [-1/n, 1/n]


def test_softmax_rows_sum_to_one_and_bad_inputs_are_named():
    p = metrics.softmax(np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p[0, 0] == 1.0
    with pytest.raises(ValueError, match=r"logits must have shape \(n, k\), got \(3,\)"):
        metrics.softmax(np.zeros(3))
    with pytest.raises(ValueError, match="labels must be integers, got dtype float64"):
        metrics.cross_entropy_grad(np.zeros((2, 2)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        metrics.cross_entropy_grad(np.zeros((1, 3)), np.array([-1]))
