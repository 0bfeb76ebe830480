"""Tests of dnncourse.norm against torch.nn's normalization layers and against direct computation."""

import numpy as np
import pytest
import torch
from torch import nn

from dnncourse import norm
from dnncourse.exercises.normalization import batch_norm_numpy

F64 = torch.float64


def _pair(ours: nn.Module, theirs: nn.Module):
    """Give both modules the same (random) affine parameters."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p, q in zip(ours.parameters(), theirs.parameters()):
            p.copy_(torch.randn_like(p))
            q.copy_(p)
    return ours, theirs


def _train_side_by_side(ours, theirs, shape, steps=4, lr=0.1):
    """Several SGD steps on the same batches; compare outputs, input grads, parameter grads, buffers."""
    opt_ours = torch.optim.SGD(ours.parameters(), lr=lr) if list(ours.parameters()) else None
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=lr) if list(theirs.parameters()) else None
    gen = torch.Generator().manual_seed(0)
    for _step in range(steps):
        x = (3 * torch.randn(shape, generator=gen, dtype=F64) + 2).requires_grad_()
        x2 = x.detach().clone().requires_grad_()
        w = torch.randn(shape, generator=gen, dtype=F64)  # a loss that is not symmetric in the outputs
        y_ours, y_theirs = ours(x), theirs(x2)
        torch.testing.assert_close(y_ours, y_theirs, rtol=1e-10, atol=1e-10)
        (w * y_ours).sum().backward()
        (w * y_theirs).sum().backward()
        torch.testing.assert_close(x.grad, x2.grad, rtol=1e-9, atol=1e-10)
        for p, q in zip(ours.parameters(), theirs.parameters()):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-9, atol=1e-10)
        for opt in (opt_ours, opt_theirs):
            if opt is not None:
                opt.step()
                opt.zero_grad()
        for (name, b), (name2, c) in zip(ours.named_buffers(), theirs.named_buffers()):
            assert name == name2
            torch.testing.assert_close(b, c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "cls, ref, shape",
    [
        (norm.BatchNorm1d, nn.BatchNorm1d, (16, 5)),
        (norm.BatchNorm1d, nn.BatchNorm1d, (6, 5, 7)),
        (norm.BatchNorm2d, nn.BatchNorm2d, (4, 5, 3, 3)),
    ],
)
@pytest.mark.parametrize(
    "options",
    [{}, {"momentum": None}, {"momentum": 0.3}, {"affine": False}, {"track_running_stats": False}],
)
def test_batchnorm_matches_torch_in_training_and_eval(cls, ref, shape, options):
    ours, theirs = _pair(cls(5, dtype=F64, **options), ref(5, dtype=F64, **options))
    _train_side_by_side(ours, theirs, shape)
    ours.eval(), theirs.eval()
    _train_side_by_side(ours, theirs, shape, steps=2)  # eval: running statistics (or batch ones), no update
    if options.get("track_running_stats", True):
        assert int(ours.num_batches_tracked) == 4


def test_running_statistics_by_hand():
    bn = norm.BatchNorm1d(2, momentum=0.25, dtype=F64)
    x = torch.tensor([[1.0, 10.0], [3.0, 20.0], [8.0, 60.0]], dtype=F64)
    bn(x)
    mean = x.mean(0)
    var_unbiased = x.var(0, unbiased=True)
    torch.testing.assert_close(bn.running_mean, 0.25 * mean)
    torch.testing.assert_close(bn.running_var, 0.75 * torch.ones(2, dtype=F64) + 0.25 * var_unbiased)
    # momentum=None: the running statistics are the plain average over batches
    bn = norm.BatchNorm1d(2, momentum=None, dtype=F64)
    batches = [x, 2 * x, x + 5]
    for batch in batches:
        bn(batch)
    torch.testing.assert_close(bn.running_mean, torch.stack([b.mean(0) for b in batches]).mean(0))
    torch.testing.assert_close(bn.running_var, torch.stack([b.var(0) for b in batches]).mean(0))


def test_eval_output_differs_from_train_output_and_uses_running_stats():
    torch.manual_seed(0)
    bn = norm.BatchNorm1d(3, dtype=F64)
    x = torch.randn(10, 3, dtype=F64) * 4 + 1
    y_train = bn(x)
    bn.eval()
    y_eval = bn(x)
    expected = (x - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(y_eval, expected)
    assert not torch.allclose(y_train, y_eval)


def test_worked_example_of_the_chapter():
    x = torch.tensor([[3.0], [5.0], [8.0], [9.0], [11.0], [24.0]], dtype=F64)
    y = norm.batch_norm(x, None, None, None, None, training=True)
    expected = (x - 10) / np.sqrt(46 + 1e-5)
    torch.testing.assert_close(y, expected)
    np.testing.assert_allclose(y.squeeze().numpy().round(2), [-1.03, -0.74, -0.29, -0.15, 0.15, 2.06])


@pytest.mark.parametrize("shape", [(7, 4), (5, 4, 6), (3, 4, 2, 5)])
def test_handwritten_backward_matches_autograd(shape):
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=F64, requires_grad=True)
    gamma = torch.randn(4, dtype=F64, requires_grad=True)
    beta = torch.randn(4, dtype=F64, requires_grad=True)
    dy = torch.randn(shape, dtype=F64)
    # Reference: autograd through the plain formulas, written independently here.
    dims = [0, *range(2, len(shape))]
    view = (1, -1) + (1,) * (len(shape) - 2)
    mu = x.mean(dim=dims, keepdim=True)
    var = ((x - mu) ** 2).mean(dim=dims, keepdim=True)
    y = gamma.view(view) * (x - mu) / torch.sqrt(var + 1e-5) + beta.view(view)
    y.backward(dy)
    x_hat = ((x - mu) / torch.sqrt(var + 1e-5)).detach()
    dx, dgamma, dbeta = norm.batchnorm_backward(dy, x_hat, gamma.detach(), var.detach().flatten())
    torch.testing.assert_close(dx, x.grad)
    torch.testing.assert_close(dgamma, gamma.grad)
    torch.testing.assert_close(dbeta, beta.grad)


@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_function_gradients_match_autograd_of_the_formula(affine):
    torch.manual_seed(0)
    x = torch.randn(6, 3, 4, dtype=F64, requires_grad=True)
    gamma = torch.randn(3, dtype=F64, requires_grad=True) if affine else None
    beta = torch.randn(3, dtype=F64, requires_grad=True) if affine else None
    dy = torch.randn(6, 3, 4, dtype=F64)
    norm.batch_norm(x, gamma, beta, None, None, training=True).backward(dy)
    grads = [t.grad.clone() for t in (x, gamma, beta) if t is not None]
    for t in (x, gamma, beta):
        if t is not None:
            t.grad = None
    torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True).backward(dy)
    for g, t in zip(grads, [t for t in (x, gamma, beta) if t is not None]):
        torch.testing.assert_close(g, t.grad)


def test_batchnorm_gradcheck():
    torch.manual_seed(0)
    x = torch.randn(5, 3, dtype=F64, requires_grad=True)
    bn = norm.BatchNorm1d(3, dtype=F64, track_running_stats=False)
    assert torch.autograd.gradcheck(bn, (x,))


def test_batchnorm_errors():
    bn = norm.BatchNorm1d(4)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        bn(torch.randn(1, 4))
    bn.eval()
    assert bn(torch.randn(1, 4)).shape == (1, 4)  # fine in eval mode
    with pytest.raises(ValueError, match="more than 1 value"):  # eval without running statistics: batch ones
        norm.BatchNorm1d(4, track_running_stats=False).eval()(torch.randn(1, 4))
    with pytest.raises(ValueError):
        nn.BatchNorm1d(4, track_running_stats=False).eval()(torch.randn(1, 4))  # as in PyTorch
    bn.train()
    assert bn(torch.randn(1, 4, 3)).shape == (1, 4, 3)  # 3 values per channel
    with pytest.raises(ValueError, match=r"expects 4 channels.*got shape \(8, 3\)"):
        bn(torch.randn(8, 3))
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N, C, L\), got shape \(2, 4, 3, 3\)"):
        bn(torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\), got shape \(8, 4\)"):
        norm.BatchNorm2d(4)(torch.randn(8, 4))
    with pytest.raises(ValueError, match="num_features"):
        norm.BatchNorm1d(0)
    with pytest.raises(ValueError, match="momentum"):
        norm.BatchNorm1d(3, momentum=1.5)


def test_state_dict_loads_both_ways():
    ours, theirs = norm.BatchNorm2d(3), nn.BatchNorm2d(3)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert set(ours.state_dict()) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    theirs(torch.randn(4, 3, 2, 2) * 5)
    ours.load_state_dict(theirs.state_dict())
    ours(torch.randn(4, 3, 2, 2))
    fresh = nn.BatchNorm2d(3)
    fresh.load_state_dict(ours.state_dict())
    for key, value in ours.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value)
    assert [name for name, _ in ours.named_parameters()] == ["weight", "bias"]  # buffers are not parameters


def test_parameter_count_for_512_units():
    bn = norm.BatchNorm1d(512)
    assert sum(p.numel() for p in bn.parameters()) == 1024
    assert sum(b.numel() for name, b in bn.named_buffers() if name != "num_batches_tracked") == 1024


@pytest.mark.parametrize("shape, normalized", [((6, 5), (5,)), ((2, 3, 4, 5), (4, 5))])
def test_layernorm_matches_torch(shape, normalized):
    ours, theirs = _pair(norm.LayerNorm(normalized, dtype=F64), nn.LayerNorm(normalized, dtype=F64))
    _train_side_by_side(ours, theirs, shape)
    with pytest.raises(ValueError, match=r"\(\*, 4, 5\)"):
        norm.LayerNorm((4, 5))(torch.randn(2, 5, 4))
    assert norm.LayerNorm(5)(torch.randn(1, 5)).shape == (1, 5)  # no batch statistics


@pytest.mark.parametrize("groups, shape", [(2, (4, 6, 5)), (3, (2, 6, 3, 3)), (1, (3, 6)), (6, (3, 6, 4))])
def test_groupnorm_matches_torch(groups, shape):
    ours, theirs = _pair(norm.GroupNorm(groups, 6, dtype=F64), nn.GroupNorm(groups, 6, dtype=F64))
    _train_side_by_side(ours, theirs, shape)


def test_groupnorm_errors():
    with pytest.raises(ValueError, match=r"num_channels \(6\) must be divisible by num_groups \(4\)"):
        norm.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"\(N, 6, \*\), got shape \(2, 5, 3\)"):
        norm.GroupNorm(2, 6)(torch.randn(2, 5, 3))


def test_instancenorm_matches_torch():
    x = torch.randn(3, 4, 5, 5, dtype=F64)
    torch.testing.assert_close(norm.InstanceNorm(4)(x), nn.InstanceNorm2d(4)(x))
    ours, theirs = _pair(norm.InstanceNorm(4, affine=True, dtype=F64), nn.InstanceNorm1d(4, affine=True, dtype=F64))
    _train_side_by_side(ours, theirs, (3, 4, 7))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("ours", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_fold_batchnorm_is_exact(bias, ours, affine):
    torch.manual_seed(0)
    linear = nn.Linear(7, 5, bias=bias, dtype=F64)
    cls = norm.BatchNorm1d if ours else nn.BatchNorm1d
    bn = cls(5, affine=affine, dtype=F64)
    if affine:
        _pair(bn, nn.BatchNorm1d(5, dtype=F64))
    for _ in range(5):  # accumulate non-trivial running statistics
        bn(linear(torch.randn(32, 7, dtype=F64) * 3 + 1))
    bn.eval()
    folded = norm.fold_batchnorm(linear, bn)
    x = torch.randn(20, 7, dtype=F64)
    torch.testing.assert_close(folded(x), bn(linear(x)), rtol=1e-10, atol=1e-10)


def test_fold_batchnorm_params_numpy_and_errors():
    rng = np.random.default_rng(0)
    W, b, x = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=(6, 4))
    gamma, beta, mean, var = rng.normal(size=3), rng.normal(size=3), rng.normal(size=3), rng.uniform(0.5, 2, 3)
    W2, b2 = norm.fold_batchnorm_params(W, b, gamma, beta, mean, var, 1e-5)
    expected = gamma * (x @ W.T + b - mean) / np.sqrt(var + 1e-5) + beta
    np.testing.assert_allclose(x @ W2.T + b2, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="track_running_stats"):
        norm.fold_batchnorm(nn.Linear(4, 3), norm.BatchNorm1d(3, track_running_stats=False))
    with pytest.raises(ValueError, match="out_features=4"):
        norm.fold_batchnorm(nn.Linear(4, 4), norm.BatchNorm1d(3))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("as_tensors", [True, False])
def test_fold_batchnorm_into_next_params_equals_batchnorm_then_linear(bias, as_tensors):
    gen = torch.Generator().manual_seed(3)
    bn = nn.BatchNorm1d(5, dtype=F64)  # torch's own layer: an independent reference
    _pair(bn, nn.BatchNorm1d(5, dtype=F64))
    for _ in range(4):  # non-trivial running statistics
        bn(3 * torch.randn(16, 5, generator=gen, dtype=F64) - 1)
    bn.eval()
    linear = nn.Linear(5, 3, bias=bias, dtype=F64)  # the layer after the batch norm: 5 -> 3
    params = [linear.weight, linear.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var]
    params = [None if p is None else p.detach() for p in params]
    if not as_tensors:
        params = [None if p is None else p.numpy() for p in params]
    W2, b2 = norm.fold_batchnorm_into_next_params(*params, eps=bn.eps)
    assert W2.shape == (3, 5) and b2.shape == (3,)
    h = torch.randn(10, 5, generator=gen, dtype=F64)
    with torch.no_grad():
        expected = linear(bn(h))
    folded = h @ torch.as_tensor(W2).T + torch.as_tensor(b2)
    torch.testing.assert_close(folded, expected, rtol=1e-12, atol=1e-12)


def test_fold_params_check_shapes():
    W, v3, v4 = np.ones((3, 4)), np.ones(3), np.ones(4)
    with pytest.raises(ValueError, match=r"gamma must have shape \(3,\).*got shape \(4,\)"):
        norm.fold_batchnorm_params(W, v3, v4, v3, v3, v3)
    with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
        norm.fold_batchnorm_params(W, v4, v3, v3, v3, v3)
    with pytest.raises(ValueError, match=r"var must have shape \(4,\)"):  # the next layer's W is (K, C)
        norm.fold_batchnorm_into_next_params(W, v3, v4, v4, v4, v3)
    with pytest.raises(ValueError, match="W must be a matrix"):
        norm.fold_batchnorm_into_next_params(v4, v3, v4, v4, v4, v4)
    with pytest.raises(ValueError, match="eps must be a number >= 0, got -1"):
        norm.fold_batchnorm_into_next_params(W, v3, v4, v4, v4, v4, eps=-1)


def test_batch_norm_numpy_the_exercise_reference_matches_torch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)) * 2 + 1
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    mean0, var0 = rng.normal(size=3), rng.uniform(0.5, 2, size=3)
    y, mean1, var1 = batch_norm_numpy(x, gamma, beta, mean0, var0, momentum=0.2)
    bn = nn.BatchNorm1d(3, momentum=0.2, dtype=F64)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(gamma)), bn.bias.copy_(torch.from_numpy(beta))
        bn.running_mean.copy_(torch.from_numpy(mean0)), bn.running_var.copy_(torch.from_numpy(var0))
    np.testing.assert_allclose(y, bn(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(mean1, bn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var1, bn.running_var.numpy(), rtol=1e-12)
    m_copy = mean0.copy()  # the inputs are not modified
    batch_norm_numpy(x, gamma, beta, mean0, var0)
    np.testing.assert_array_equal(mean0, m_copy)


@pytest.mark.parametrize("method", ["pca", "zca"])
def test_whiten_gives_identity_covariance(method):
    gen = torch.Generator().manual_seed(0)
    A = torch.tensor([[2.0, 0.0, 0.0], [1.5, 0.5, 0.0], [0.3, -1.0, 0.2]], dtype=F64)
    X = torch.randn(500, 3, generator=gen, dtype=F64) @ A.T + torch.tensor([5.0, -1.0, 2.0], dtype=F64)
    Z, transform = norm.whiten(X, eps=1e-12, method=method)
    torch.testing.assert_close(Z.mean(0), torch.zeros(3, dtype=F64), atol=1e-10, rtol=0)
    torch.testing.assert_close(torch.cov(Z.T), torch.eye(3, dtype=F64), atol=1e-8, rtol=0)
    torch.testing.assert_close(transform(X), Z)
    if method == "zca":  # ZCA's matrix is symmetric: C^(-1/2)
        torch.testing.assert_close(transform.W, transform.W.T)
    with pytest.raises(ValueError, match="method"):
        norm.whiten(X, method="svd")
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        norm.whiten(X[0])


def test_device_and_dtype_are_kept():
    device = torch.device("cpu")
    for dtype in (torch.float32, F64):
        x = torch.randn(6, 4, 3, 3, dtype=dtype, device=device)
        for module in (
            norm.BatchNorm2d(4, dtype=dtype, device=device),
            norm.GroupNorm(2, 4, dtype=dtype, device=device),
            norm.InstanceNorm(4, dtype=dtype, device=device),
            norm.LayerNorm((3, 3), dtype=dtype, device=device),
        ):
            y = module(x)
            assert y.device == x.device and y.dtype == dtype
            assert all(b.device == device for b in module.buffers())
        bn = norm.BatchNorm1d(4, dtype=dtype, device=device)
        assert bn.num_batches_tracked.device == device
        linear = nn.Linear(3, 4, dtype=dtype, device=device)
        folded = norm.fold_batchnorm(linear, bn)
        assert folded.weight.device == device and folded.weight.dtype == dtype
        Z, transform = norm.whiten(torch.randn(10, 3, dtype=dtype, device=device))
        assert Z.device == device and Z.dtype == dtype and transform.W.device == device


def test_works_inside_mlp():
    from dnncourse.lab.models import mlp

    model = mlp(8, [16, 16], 3, norm=norm.BatchNorm1d, bias=False)
    out = model(torch.randn(10, 8))
    assert out.shape == (10, 3)
    assert isinstance(model.blocks[0].norm, norm.BatchNorm1d)
