"""The "Batch normalization" chapter's graded exercises: the references pass, independent answers pass, wrong
answers fail, stubs are not attempted, and the backward pass is checked on random shapes."""

import numpy as np
import pytest
import torch
from torch import nn

from dnncourse.exercises import evaluate_function, get
from dnncourse.exercises.normalization import check_batchnorm_backward

IDS = ("batchnorm_forward", "fold_batchnorm_into_next", "batchnorm_backward")
F64 = torch.float64


def torch_forward(x, gamma, beta, running_mean, running_var, momentum, eps):
    """torch.nn.BatchNorm1d in training mode: the output and the updated running statistics."""
    bn = nn.BatchNorm1d(x.shape[1], eps=eps, momentum=momentum, dtype=F64)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(gamma)), bn.bias.copy_(torch.from_numpy(beta))
        bn.running_mean.copy_(torch.from_numpy(running_mean)), bn.running_var.copy_(torch.from_numpy(running_var))
        y = bn(torch.from_numpy(x))
    return y.numpy(), bn.running_mean.numpy(), bn.running_var.numpy()


def probed_fold_into_next(W, b, gamma, beta, mean, var, eps):
    """W' and b' read off the composed map h -> W BN(h) + b at 0 and at the unit vectors (torch modules)."""
    bn = nn.BatchNorm1d(len(gamma), eps=eps, dtype=F64).eval()
    linear = nn.Linear(W.shape[1], W.shape[0], dtype=F64)
    with torch.no_grad():
        for p, value in zip(
            (bn.weight, bn.bias, bn.running_mean, bn.running_var, linear.weight, linear.bias),
            (gamma, beta, mean, var, W, b),
        ):
            p.copy_(torch.from_numpy(value))
        probes = torch.cat([torch.zeros(1, W.shape[1], dtype=F64), torch.eye(W.shape[1], dtype=F64)])
        out = linear(bn(probes)).numpy()  # (1 + C, K)
    b_folded = out[0]
    return (out[1:] - b_folded).T, b_folded


def autograd_backward(dy, x, gamma, eps):
    """torch.nn.functional.batch_norm differentiated by autograd."""
    x_t = torch.tensor(x, dtype=F64, requires_grad=True)
    gamma_t = torch.tensor(gamma, dtype=F64, requires_grad=True)
    beta_t = torch.zeros_like(gamma_t, requires_grad=True)
    y = nn.functional.batch_norm(x_t, None, None, gamma_t, beta_t, training=True, eps=eps)
    y.backward(torch.from_numpy(dy))
    return x_t.grad.numpy(), gamma_t.grad.numpy(), beta_t.grad.numpy()


INDEPENDENT = {
    "batchnorm_forward": torch_forward,
    "fold_batchnorm_into_next": probed_fold_into_next,
    "batchnorm_backward": autograd_backward,
}


@pytest.mark.parametrize("exercise_id", IDS)
def test_references_and_independent_answers_pass_for_many_seeds(exercise_id):
    exercise = get(exercise_id)
    assert exercise.chapter == "07_batch_normalization" and exercise.points >= 3
    for seed in range(10):
        for answer in (exercise.reference, INDEPENDENT[exercise_id]):
            verdict = evaluate_function(exercise, answer, seed=seed)
            assert verdict.status == "passed", (seed, answer.__name__, verdict.messages)
            assert verdict.points == exercise.points


def forward_with_biased_running_variance(x, gamma, beta, running_mean, running_var, momentum, eps):
    mu, var = x.mean(axis=0), x.var(axis=0)
    y = gamma * (x - mu) / np.sqrt(var + eps) + beta
    return y, (1 - momentum) * running_mean + momentum * mu, (1 - momentum) * running_var + momentum * var


def fold_into_next_scaling_rows(W, b, gamma, beta, mean, var, eps):
    """The fold into the layer *before* applied to the layer after: s scales rows (wrong)."""
    s = gamma / np.sqrt(var + eps)
    return s[: W.shape[0], None] * W, b + W @ (beta - s * mean)


def fold_into_next_without_beta(W, b, gamma, beta, mean, var, eps):
    s = gamma / np.sqrt(var + eps)
    return W * s, b - W @ (s * mean)


def backward_through_x_hat_only(dy, x, gamma, eps):
    """Forgets that mu_B and sigma2_B depend on x: dx = gamma dy / s."""
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
    return gamma * dy / np.sqrt(x.var(axis=0) + eps), (dy * x_hat).sum(axis=0), dy.sum(axis=0)


def backward_without_the_variance_path(dy, x, gamma, eps):
    s = np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) / s
    return gamma / s * (dy - dy.mean(axis=0)), (dy * x_hat).sum(axis=0), dy.sum(axis=0)


def backward_in_float32(dy, x, gamma, eps):
    """The right formula in float32: too imprecise for the comparison with the library."""
    dy, x, gamma = (np.asarray(a, dtype=np.float32) for a in (dy, x, gamma))
    s = np.sqrt(x.var(axis=0) + np.float32(eps))
    x_hat = (x - x.mean(axis=0)) / s
    dx = gamma / s * (dy - dy.mean(axis=0) - x_hat * (dy * x_hat).mean(axis=0))
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)


@pytest.mark.parametrize(
    "exercise_id, wrong",
    [
        ("batchnorm_forward", forward_with_biased_running_variance),
        ("fold_batchnorm_into_next", fold_into_next_scaling_rows),
        ("fold_batchnorm_into_next", fold_into_next_without_beta),
        ("batchnorm_backward", backward_through_x_hat_only),
        ("batchnorm_backward", backward_without_the_variance_path),
    ],
)
def test_wrong_answers_fail(exercise_id, wrong):
    verdict = evaluate_function(get(exercise_id), wrong, seed=0)
    assert verdict.status == "failed" and verdict.points < get(exercise_id).points
    assert verdict.messages


def test_backward_failures_say_what_differs_and_show_short_inputs():
    exercise = get("batchnorm_backward")
    verdict = evaluate_function(exercise, backward_through_x_hat_only, seed=0)
    first = verdict.messages[0]
    assert first.startswith("the six-number worked example")
    assert "[[ 3.]" in first or "3." in first  # the six numbers are shown in full
    assert "dx differs from the finite-difference gradient" in first
    verdict = evaluate_function(exercise, backward_in_float32, seed=0)
    assert verdict.status == "failed" and any("library's backward" in m for m in verdict.messages)


@pytest.mark.parametrize("exercise_id", IDS)
def test_stub_is_not_attempted(exercise_id):
    def stub(**kwargs):
        raise NotImplementedError(f"Exercise {exercise_id}: replace this line with your code")

    verdict = evaluate_function(get(exercise_id), stub, seed=0)
    assert verdict.status == "not-attempted" and verdict.points == 0


def test_backward_random_cases_draw_new_shapes():
    exercise = get("batchnorm_backward")
    shapes = {
        case.inputs["x"].shape for seed in range(8) for case in exercise.cases(seed)[len(exercise.public_cases) :]
    }
    assert len(shapes) >= 10 and len({c for _, c in shapes}) >= 4
    for seed in range(8):
        for case in exercise.cases(seed):
            assert (
                case.inputs["dy"].shape == case.inputs["x"].shape == (len(case.inputs["x"]), len(case.inputs["gamma"]))
            )


def test_backward_property_check_rejects_malformed_answers():
    case = get("batchnorm_backward").public_cases[0].inputs
    right = autograd_backward(**case)
    assert check_batchnorm_backward(case, right) is None
    assert "tuple of 3 arrays" in check_batchnorm_backward(case, right[:2])
    assert "expected shape (1,)" in check_batchnorm_backward(case, (right[0], np.ones(2), right[2]))
    assert "NaN" in check_batchnorm_backward(case, (right[0] * np.nan, right[1], right[2]))
    # dx = 0 exactly for a constant upstream gradient: rounding noise passes, a real error does not
    constant = get("batchnorm_backward").public_cases[1].inputs
    dx, dgamma, dbeta = autograd_backward(**constant)
    assert np.abs(dx).max() < 1e-12
    assert check_batchnorm_backward(constant, (dx + 1e-15, dgamma, dbeta)) is None
    assert "dx differs" in check_batchnorm_backward(constant, (dx + 0.01, dgamma, dbeta))
