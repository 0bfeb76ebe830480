"""Tests of dnncourse.lab.noise: per-example gradients and the noise of mini-batch gradients."""

import numpy as np
import pytest
import torch

from dnncourse.lab import noise
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
