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
