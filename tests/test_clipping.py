"""Tests of dnncourse.clipping: parity with torch.nn.utils, direction kept by norm clipping only."""

import math

import numpy as np
import pytest
import torch

from dnncourse.clipping import (
    clip_by_norm,
    clip_by_value,
    clip_grad_norm_,
    clip_grad_value_,
    clipped_gradient_descent,
    global_grad_norm,
)

G = torch.tensor([0.9, 3.2, 150.0, -2.1, 0.3], dtype=torch.float64)  # the chapter's example


def _param_pairs(seed=0, scale=10.0):
    gen = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (3,), (2, 5, 2)]
    ours, theirs = [], []
    for shape in shapes:
        p = torch.randn(shape, generator=gen, dtype=torch.float64)
        g = scale * torch.randn(shape, generator=gen, dtype=torch.float64)
        a, b = p.clone().requires_grad_(), p.clone().requires_grad_()
        a.grad, b.grad = g.clone(), g.clone()
        ours.append(a)
        theirs.append(b)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [1.0, 2.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 5.0, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = _param_pairs()
    total = clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    torch.testing.assert_close(total, expected, rtol=1e-12, atol=0)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=0)


def test_clip_coefficient_uses_torch_epsilon():
    # with max_norm equal to the norm, the coefficient is max_norm / (norm + 1e-6), slightly below 1
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    p.grad = torch.tensor([3.0, 4.0], dtype=torch.float64)
    total = clip_grad_norm_([p], 5.0)
    assert total.item() == 5.0
    torch.testing.assert_close(p.grad, torch.tensor([3.0, 4.0], dtype=torch.float64) * 5.0 / (5.0 + 1e-6))


@pytest.mark.parametrize("clip_value", [0.0, 0.7, 3.0])
def test_clip_grad_value_matches_torch(clip_value):
    ours, theirs = _param_pairs(seed=1, scale=2.0)
    clip_grad_value_(ours, clip_value)
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)


def test_single_tensor_and_missing_grads():
    p = torch.ones(3, requires_grad=True)
    p.grad = torch.tensor([3.0, 0.0, 4.0])
    q = torch.ones(2, requires_grad=True)  # no grad: ignored
    total = clip_grad_norm_([p, q], 1.0)
    assert total.item() == pytest.approx(5.0)
    assert q.grad is None
    assert torch.linalg.vector_norm(p.grad).item() == pytest.approx(1.0, rel=1e-5)
    p.grad = torch.tensor([3.0, -9.0, 0.5])
    clip_grad_value_(p, 1.0)
    assert p.grad.tolist() == [1.0, -1.0, 0.5]
    assert clip_grad_norm_([q], 1.0).item() == 0.0


def test_global_norm_is_norm_of_concatenation():
    ours, _ = _param_pairs(seed=2)
    flat = torch.cat([p.grad.reshape(-1) for p in ours])
    for norm_type in (1.0, 2.0, 3.0, math.inf):
        torch.testing.assert_close(global_grad_norm(ours, norm_type), torch.linalg.vector_norm(flat, norm_type))


def _cosine(a, b):
    return (a @ b / (a.norm() * b.norm())).item()


def test_norm_clipping_keeps_direction_value_clipping_does_not():
    by_norm = clip_by_norm(G, 5.0)
    by_value = clip_by_value(G, 5.0)
    assert by_norm.norm().item() == pytest.approx(5.0, rel=1e-6)
    assert _cosine(by_norm, G) == pytest.approx(1.0, abs=1e-12)
    assert by_value.tolist() == [0.9, 3.2, 5.0, -2.1, 0.3]
    assert _cosine(by_value, G) < 0.81  # about 37 degrees away from the original direction
    # below the threshold nothing changes (up to the 1e-6 of the coefficient's denominator)
    torch.testing.assert_close(clip_by_norm(G, 1e3), G)


def test_clip_by_norm_agrees_with_clip_grad_norm():
    p = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    for norm_type in (1.0, 2.0, math.inf):
        p.grad = G.clone()
        clip_grad_norm_([p], 2.0, norm_type)
        torch.testing.assert_close(clip_by_norm(G, 2.0, norm_type), p.grad)


def test_nonfinite_raises_when_asked():
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.tensor([1.0, float("inf")])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    q = torch.zeros(2, requires_grad=True)
    q.grad = torch.tensor([1.0, float("inf")])
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_([q], 1.0, error_if_nonfinite=True)
    p.grad = torch.tensor([1.0, float("nan")])
    clip_grad_norm_([p], 1.0)  # no error by default, like torch


def test_bad_arguments_name_the_argument():
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.ones(2)
    with pytest.raises(ValueError, match="max_norm.*-1"):
        clip_grad_norm_([p], -1.0)
    with pytest.raises(ValueError, match="clip_value.*-0.5"):
        clip_grad_value_([p], -0.5)
    with pytest.raises(ValueError, match="max_norm"):
        clip_by_norm(G, -2.0)
    with pytest.raises(ValueError, match="clip_value"):
        clip_by_value(G, -2.0)
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_([p], 1.0, norm_type=0)


def test_device_and_dtype_kept():
    for dtype in (torch.float32, torch.float64):
        g = G.to(dtype)
        for out in (clip_by_norm(g, 1.0), clip_by_value(g, 1.0)):
            assert out.dtype == dtype and out.device == g.device
        p = torch.zeros(5, dtype=dtype, requires_grad=True)
        p.grad = g.clone()
        total = clip_grad_norm_([p], 1.0)
        assert p.grad.dtype == dtype and total.device == p.device


def test_clipped_gradient_descent_against_plain_loop_and_step_bound():
    from dnncourse.lab.surfaces import cliff
    from dnncourse.lab.trajectories import gradient_descent

    surface = cliff(sharpness=0.02)
    plain = clipped_gradient_descent(surface.grad, surface.start, 0.2, 30)
    np.testing.assert_allclose(plain, gradient_descent(surface, 0.2, 30), rtol=1e-12)  # independent loop
    by_norm = clipped_gradient_descent(surface.grad, surface.start, 0.2, 30, max_norm=1.0)
    assert by_norm.shape == (31, 2) and tuple(by_norm[0]) == surface.start
    assert np.linalg.norm(np.diff(by_norm, axis=0), axis=1).max() <= 0.2 + 1e-12
    assert np.linalg.norm(np.diff(plain, axis=0), axis=1).max() > 5  # the cliff throws the plain run
    by_value = clipped_gradient_descent(surface.grad, surface.start, 0.2, 30, clip_value=0.5)
    assert np.abs(np.diff(by_value, axis=0)).max() <= 0.1 + 1e-12
    with pytest.raises(ValueError, match="lr"):
        clipped_gradient_descent(surface.grad, surface.start, -0.1, 3)
    with pytest.raises(ValueError, match="not both"):
        clipped_gradient_descent(surface.grad, surface.start, 0.1, 3, max_norm=1.0, clip_value=1.0)
