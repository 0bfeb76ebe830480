"""dnncourse.range_test: checked on quadratics, whose divergence threshold 2/L is known in closed form."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from dnncourse import optim
from dnncourse.range_test import RangeTestResult, range_test, smooth_losses, steepest_descent_lr


def quadratic_1d(a=1.5, n=10):
    """J(w) = mean((a w)^2) = a^2 w^2 for a one-weight linear model: curvature L = 2 a^2, w starts at 1."""
    model = nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        model.weight.fill_(1.0)
    data = SimpleNamespace(X=torch.full((n, 1), a, dtype=torch.float64), y=torch.zeros(n, 1, dtype=torch.float64))
    return model, data, 2 * a**2


def quadratic(d=5, n=50, seed=0):
    """J(w) = mean((x_i . w)^2) = w^T (X^T X / n) w: Hessian 2 X^T X / n, largest curvature L."""
    g = torch.Generator().manual_seed(seed)
    scales = torch.logspace(0.5, -0.7, d, dtype=torch.float64)  # an ill-conditioned design
    X = torch.randn(n, d, generator=g, dtype=torch.float64) * scales
    model = nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, d, generator=g, dtype=torch.float64))
    L = 2 * torch.linalg.eigvalsh(X.T @ X / n).max().item()
    return model, SimpleNamespace(X=X, y=torch.zeros(n, 1, dtype=torch.float64)), L


def sweep(model, data, optimizer, lr_min, steps):
    """A range test up to lr_max = 10 with full batches (plain gradient descent) and no smoothing."""
    return range_test(model, optimizer, data, lr_min=lr_min, lr_max=10.0, steps=steps, batch_size=len(data.X), beta=0.0)


def test_losses_follow_gradient_descent_on_a_quadratic_in_closed_form():
    """Full-batch GD on a^2 w^2: each step multiplies the loss by (1 - eta_k L)^2, so the loss first rises
    at exactly the first learning rate above 2/L."""
    model, data, L = quadratic_1d()
    result = sweep(model, data, torch.optim.SGD(model.parameters(), lr=0.1), lr_min=1e-3, steps=60)
    lrs, losses = result.lrs, result.losses
    expected = 2.25 * np.concatenate([[1.0], np.cumprod((1 - lrs[:-1] * L) ** 2)])
    np.testing.assert_allclose(losses, expected, rtol=1e-10)
    np.testing.assert_allclose(lrs, 1e-3 * (10.0 / 1e-3) ** (np.arange(len(lrs)) / 59), rtol=1e-12)
    k = int(np.argmax(np.diff(losses) > 0))  # the first step after which the loss is higher
    assert lrs[k] > 2 / L >= lrs[k - 1]
    assert result.diverged and len(lrs) < 60 and result.stop_lr > 2 / L
    np.testing.assert_array_equal(result.smoothed, losses)  # beta = 0: no smoothing


def test_loss_cannot_rise_before_two_over_L_on_an_ill_conditioned_quadratic():
    """With several curvatures the loss can only rise once some |1 - eta lambda_i| > 1, i.e. eta > 2/L."""
    model, data, L = quadratic()
    result = sweep(model, data, optim.SGD(model.parameters(), lr=0.1), lr_min=1e-4, steps=80)
    rising = np.flatnonzero(np.diff(result.losses) > 0)
    assert len(rising) > 0 and result.lrs[rising[0]] > 2 / L
    assert result.diverged and result.stop_lr > 2 / L


def test_smoothing_is_a_bias_corrected_moving_average():
    np.testing.assert_allclose(smooth_losses(np.full(20, 3.7), beta=0.9), 3.7, rtol=1e-14)  # no bias towards 0
    losses = np.random.default_rng(0).uniform(1, 2, size=30)
    np.testing.assert_array_equal(smooth_losses(losses, beta=0.0), losses)
    expected, average = [], 0.0
    for k, loss in enumerate(losses, start=1):
        average = 0.8 * average + 0.2 * loss
        expected.append(average / (1 - 0.8**k))
    np.testing.assert_allclose(smooth_losses(losses, beta=0.8), expected, rtol=1e-14)


def test_steepest_descent_on_a_curve_with_a_known_steepest_point():
    """A smoothed loss 2 - tanh(ln(eta / c)) falls fastest (per unit of ln eta) at eta = c."""
    lrs = np.geomspace(1e-4, 1.0, 200)
    c = 3e-2
    curve = 2 - np.tanh(np.log(lrs / c)) + 0.5 * (lrs / 0.5) ** 4  # then it rises: the minimum is further right
    suggestion = steepest_descent_lr(lrs, curve)
    ratio = lrs[1] / lrs[0]
    assert c / ratio <= suggestion <= c
    assert math.isnan(steepest_descent_lr(lrs, np.linspace(1, 2, 200)))  # never falls: no suggestion


def test_model_and_optimizer_are_restored():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.ReLU(), nn.Linear(8, 3))
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    X, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    model(X).sum().backward()
    optimizer.step()  # some optimizer state to keep
    model.eval()
    before_model = {k: v.clone() for k, v in model.state_dict().items()}
    before_optimizer = optimizer.state_dict()
    before_m = [optimizer.state[p]["m"].clone() for p in model.parameters()]
    rng_state = torch.get_rng_state()

    result = range_test(model, optimizer, SimpleNamespace(X=X, y=y), steps=30, batch_size=8, lr_max=1.0)

    assert isinstance(result, RangeTestResult) and len(result.lrs) >= 2
    for key, value in model.state_dict().items():
        assert torch.equal(value, before_model[key]), key
    assert not model.training  # eval mode restored
    assert all(p.grad is None for p in model.parameters())
    assert [g["lr"] for g in optimizer.param_groups] == [g["lr"] for g in before_optimizer["param_groups"]]
    for p, m in zip(model.parameters(), before_m):
        assert torch.equal(optimizer.state[p]["m"], m)
        assert optimizer.state[p]["t"] == 1
    assert torch.equal(torch.get_rng_state(), rng_state)  # the caller's global generator is untouched


def test_restored_even_when_the_loss_raises():
    model, data, _ = quadratic_1d()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = []

    def failing_loss(out, target):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return ((out - target) ** 2).mean()

    with pytest.raises(RuntimeError, match="boom"):
        range_test(model, optimizer, data, loss_fn=failing_loss, steps=20)
    assert model.weight.item() == 1.0 and optimizer.param_groups[0]["lr"] == 0.1


def test_reproducible_for_a_seed():
    def run(seed):
        torch.manual_seed(123)
        model = nn.Sequential(nn.Linear(6, 16), nn.Dropout(0.3), nn.Tanh(), nn.Linear(16, 4))
        g = torch.Generator().manual_seed(1)
        X = torch.randn(100, 6, generator=g)
        data = SimpleNamespace(X=X, y=(X @ torch.randn(6, 4, generator=g)).argmax(dim=1))  # learnable labels
        return range_test(model, optim.Momentum(model.parameters(), lr=0.1), data, steps=40, batch_size=16, seed=seed)

    first, again, other = run(0), run(0), run(1)
    np.testing.assert_array_equal(first.losses, again.losses)
    assert np.isfinite(first.steepest) and first.steepest == again.steepest
    k = int(np.argmin(first.smoothed))
    assert first.lr_at_minimum == first.lrs[k] and first.suggestion == pytest.approx(first.lrs[k] / 10)
    assert not np.array_equal(first.losses[:10], other.losses[:10])  # other batches and dropout masks


def test_stops_at_a_non_finite_loss():
    model, data, L = quadratic_1d(a=30.0)
    model.float()  # float32 overflows to inf long before the loss reaches diverge_factor times its minimum
    data = SimpleNamespace(X=data.X.float(), y=data.y.float())
    result = range_test(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        data,
        lr_min=1.0,
        lr_max=1e6,
        steps=50,
        beta=0.0,
        diverge_factor=1e300,
    )
    assert result.diverged and not np.isfinite(result.losses[-1])
    assert np.isfinite(result.lr_at_minimum)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lr_min=0.0), "lr_min must be a positive number, got 0.0"),
        (dict(lr_min=1.0, lr_max=0.5), "lr_max must be larger than lr_min=1.0, got 0.5"),
        (dict(steps=1), "steps must be an integer >= 2, got 1"),
        (dict(batch_size=0), "batch_size must be a positive integer, got 0"),
        (dict(beta=1.0), r"beta must be a number in \[0, 1\), got 1.0"),
        (dict(diverge_factor=1.0), "diverge_factor must be larger than 1, got 1.0"),
        (dict(seed=-1), "seed must be an integer in"),
    ],
)
def test_bad_arguments(kwargs, match):
    model, data, _ = quadratic_1d()
    with pytest.raises(ValueError, match=match):
        range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), data, **kwargs)


def test_bad_model_optimizer_or_data():
    model, data, _ = quadratic_1d()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="optimizer must be a torch.optim.Optimizer, got list"):
        range_test(model, [], data)
    with pytest.raises(ValueError, match="model has no parameters"):
        range_test(nn.ReLU(), optimizer, data)
    empty = SimpleNamespace(X=torch.zeros(0, 1, dtype=torch.float64), y=torch.zeros(0, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="data is empty"):
        range_test(model, optimizer, empty)
    with pytest.raises(ValueError, match="lrs and smoothed must be 1-D with the same length"):
        steepest_descent_lr([0.1, 0.2], [1.0])
    with pytest.raises(ValueError, match="lrs must be positive and increasing"):
        steepest_descent_lr([0.2, 0.1], [1.0, 0.5])
