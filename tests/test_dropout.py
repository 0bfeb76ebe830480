"""Tests of dnncourse.dropout: masks like PyTorch's, the expected value, gradients, the ensemble view."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dnncourse.dropout import Dropout, dropout, dropout_ensemble_mean


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_drops_the_right_fraction_and_scales_survivors(p):
    torch.manual_seed(0)
    x = torch.ones(200_000)
    y = dropout(x, p)
    dropped = (y == 0).float().mean().item()
    # Binomial standard deviation of the fraction is sqrt(p(1-p)/n) <= 0.0012; allow 5 of them.
    assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / x.numel())
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / (1 - p)))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_keeps_the_expected_value(p):
    torch.manual_seed(1)
    x = torch.randn(50)
    samples = torch.stack([dropout(x, p) for _ in range(20_000)])  # (20000, 50)
    # The std of one sample is |x| sqrt(p / (1 - p)); the mean of N has std |x| sqrt(p / ((1 - p) N)).
    standard_error = x.abs() * math.sqrt(p / ((1 - p) * samples.shape[0]))
    assert torch.all((samples.mean(0) - x).abs() <= 5 * standard_error + 1e-6)


def test_dropout_is_the_identity_in_eval_and_for_p_zero():
    x = torch.randn(4, 7)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    layer = Dropout(0.5).eval()
    assert torch.equal(layer(x), x)


def test_dropout_with_p_one_gives_zeros_like_torch():
    x = torch.randn(3, 5, requires_grad=True)
    y = dropout(x, 1.0)
    assert torch.equal(y, F.dropout(x, 1.0, training=True))
    assert torch.equal(y, torch.zeros_like(x))
    y.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.75])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dropout_draws_the_same_mask_as_torch_on_the_cpu(p, dtype):
    x = torch.randn(16, 33, dtype=dtype)
    torch.manual_seed(7)
    expected = F.dropout(x, p, training=True)
    torch.manual_seed(7)
    assert torch.equal(dropout(x, p), expected)
    torch.manual_seed(8)
    expected_layer = nn.Dropout(p)(x)
    torch.manual_seed(8)
    assert torch.equal(Dropout(p)(x), expected_layer)


def test_dropout_matches_torch_distribution():
    # Independent of the exact-mask parity: the fraction of zeros agrees between the two.
    torch.manual_seed(3)
    x = torch.ones(100_000)
    ours = (dropout(x, 0.4) == 0).float().mean().item()
    theirs = (F.dropout(x, 0.4) == 0).float().mean().item()
    assert abs(ours - theirs) < 0.01


def test_dropout_gradient_flows_through_the_mask_only():
    torch.manual_seed(0)
    p = 0.3
    x = torch.randn(8, 10, dtype=torch.float64, requires_grad=True)
    generator = torch.Generator().manual_seed(5)
    y = dropout(x, p, generator=generator)
    upstream = torch.randn_like(y)
    (y * upstream).sum().backward()
    kept = (y != 0).to(x.dtype)  # x is never exactly 0, so y == 0 exactly where the mask is 0
    assert torch.allclose(x.grad, upstream * kept / (1 - p))

    # Centred finite differences with the mask held fixed (same generator seed each call).
    def f(z):
        return (dropout(z, p, generator=torch.Generator().manual_seed(5)) * upstream).sum()

    h = 1e-6
    i, j = 2, 3
    e = torch.zeros_like(x)
    e[i, j] = h
    numeric = (f(x.detach() + e) - f(x.detach() - e)) / (2 * h)
    assert math.isclose(numeric.item(), x.grad[i, j].item(), rel_tol=1e-6, abs_tol=1e-9)


def test_dropout_keeps_device_dtype_and_shape():
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    y = dropout(x, 0.5)
    assert y.device == x.device and y.dtype == x.dtype and y.shape == x.shape
    assert Dropout(0.5)(x).device == x.device


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", True, float("nan")])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match="p must be"):
        dropout(torch.ones(3), p)
    with pytest.raises(ValueError, match="p must be"):
        Dropout(p)


def test_dropout_ensemble_mean_approaches_the_eval_output_of_a_linear_layer():
    # For dropout followed by a linear map the expectation over masks is exactly the eval-mode output.
    torch.manual_seed(0)
    model = nn.Sequential(Dropout(0.5), nn.Linear(20, 3))
    x = torch.randn(4, 20)
    mean = dropout_ensemble_mean(model, x, 4000)
    model.eval()
    assert torch.allclose(mean, model(x), atol=0.06)
    assert not model.training  # mode restored
    with pytest.raises(ValueError, match="n_samples"):
        dropout_ensemble_mean(model, x, 0)


def test_dropout_ensemble_mean_with_a_seed_is_repeatable_and_leaves_the_global_generator_alone():
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), Dropout(0.5), nn.Linear(8, 3))
    x = torch.randn(5, 6)
    state = torch.get_rng_state()
    a = dropout_ensemble_mean(model, x, 7, seed=3)
    b = dropout_ensemble_mean(model, x, 7, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b) and not torch.equal(a, dropout_ensemble_mean(model, x, 7, seed=4))


def test_dropout_ensemble_mean_of_probabilities_averages_softmax_outputs_of_the_same_masks():
    # The same k masks (same seed): averaging probabilities differs from the softmax of averaged logits,
    # and the average of probabilities is a distribution.
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), Dropout(0.5), nn.Linear(8, 3)).double()
    x = torch.randn(5, 6, dtype=torch.float64)
    probs = dropout_ensemble_mean(model, x, 9, seed=1, probabilities=True)
    logits = dropout_ensemble_mean(model, x, 9, seed=1)
    model.train()
    generator_state = torch.get_rng_state()
    torch.manual_seed(1)  # what the seeded call does, on a copy of the global generator
    passes = [model(x) for _ in range(9)]
    torch.set_rng_state(generator_state)
    assert torch.allclose(logits, torch.stack(passes).mean(0))
    assert torch.allclose(probs, torch.stack([torch.softmax(z, dim=1) for z in passes]).mean(0))
    assert torch.allclose(probs.sum(dim=1), torch.ones(5, dtype=torch.float64))
    assert not torch.allclose(probs, torch.softmax(logits, dim=1))
