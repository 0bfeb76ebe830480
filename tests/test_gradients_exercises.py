"""The graded exercises of chapter 5 (dnncourse/exercises/gradients.py): the references are right (checked
against autograd), they pass their own checks, and the classic mistakes fail them."""

import numpy as np
import pytest
import torch

from dnncourse.exercises import evaluate_function, get
from dnncourse.exercises.gradients import input_gradient


def _tanh_network(L, n, residual, seed):
    """Weights, pre-activations and an output gradient of a random tanh network, and the input gradient
    that autograd computes for it."""
    g = torch.Generator().manual_seed(seed)
    weights = torch.randn(L, n, n, generator=g, dtype=torch.float64) / n**0.5  # (L, n, n)
    biases = torch.randn(L, n, generator=g, dtype=torch.float64)  # (L, n)
    x = torch.randn(n, generator=g, dtype=torch.float64, requires_grad=True)
    grad_output = torch.randn(n, generator=g, dtype=torch.float64)
    a, zs = x, []
    for W, b in zip(weights, biases):
        z = W @ a + b
        zs.append(z.detach())
        a = a + torch.tanh(z) if residual else torch.tanh(z)
    (autograd_gradient,) = torch.autograd.grad(a, x, grad_outputs=grad_output)
    return weights, torch.stack(zs), grad_output, autograd_gradient


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("L, n", [(1, 3), (4, 5), (12, 8)])
def test_input_gradient_matches_autograd(L, n, residual):
    weights, zs, grad_output, expected = _tanh_network(L, n, residual, seed=L + n)
    torch.testing.assert_close(input_gradient(weights, zs, grad_output, residual), expected, rtol=1e-12, atol=1e-14)


def test_input_gradient_of_the_public_one_layer_case_by_hand():
    W = torch.tensor([[[2.0, -1.0], [0.5, 1.0]]], dtype=torch.float64)
    z = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    d = 1 - np.tanh(1.0) ** 2  # tanh'(1); tanh'(0) = 1
    expected = torch.tensor([2.0 * 1 + 0.5 * d, -1.0 * 1 + 1.0 * d], dtype=torch.float64)  # W^T (tanh'(z) * g)
    torch.testing.assert_close(input_gradient(W, z, torch.ones(2, dtype=torch.float64), False), expected)


@pytest.mark.parametrize("exercise_id", ["input_gradient", "elu_derivative", "clip_by_norm"])
def test_references_pass_their_exercises(exercise_id):
    exercise = get(exercise_id)
    for seed in range(5):
        verdict = evaluate_function(exercise, exercise.reference, seed=seed)
        assert verdict.status == "passed", verdict.messages


def _wrong_order(weights, pre_activations, grad_output, residual):  # layer 1 first: the product reversed
    g = grad_output
    for W, z in zip(weights, pre_activations):
        back = W.T @ ((1 - torch.tanh(z) ** 2) * g)
        g = back + g if residual else back
    return g


def _no_transpose(weights, pre_activations, grad_output, residual):
    g = grad_output
    for W, z in zip(reversed(weights), reversed(pre_activations)):
        back = W @ ((1 - torch.tanh(z) ** 2) * g)
        g = back + g if residual else back
    return g


def _no_activation_derivative(weights, pre_activations, grad_output, residual):
    g = grad_output
    for W in reversed(weights):
        g = W.T @ g + g if residual else W.T @ g
    return g


def _ignores_residual(weights, pre_activations, grad_output, residual):
    return input_gradient(weights, pre_activations, grad_output, False)


@pytest.mark.parametrize("wrong", [_wrong_order, _no_transpose, _no_activation_derivative, _ignores_residual])
def test_input_gradient_rejects_classic_mistakes(wrong):
    verdict = evaluate_function(get("input_gradient"), wrong, seed=0)
    assert verdict.status == "failed"
    assert any("expected" in message for message in verdict.messages), verdict.messages


def test_input_gradient_failure_shows_the_short_inputs_in_full():
    verdict = evaluate_function(get("input_gradient"), _no_transpose, seed=0)
    first = verdict.messages[0]  # the one-layer public case: every input has at most 4 numbers
    assert first.startswith("one layer") and "array of shape" not in first.splitlines()[0]
    assert "residual=False" in first and "grad_output=[1., 1.]" in first


def test_elu_and_clipping_exercises_reject_mistakes():
    def elu_right_branch_at_zero(x, alpha):
        return torch.where(x >= 0, torch.ones_like(x), alpha * torch.exp(torch.clamp(x, max=0)))

    def always_rescale(g, max_norm):  # stretches short gradients too: the min(1, ...) is missing
        return g * max_norm / (torch.linalg.vector_norm(g) + 1e-6)

    assert evaluate_function(get("elu_derivative"), elu_right_branch_at_zero).status == "failed"
    verdict = evaluate_function(get("clip_by_norm"), always_rescale)
    assert verdict.status == "failed" and any("already short enough" in message for message in verdict.messages)


def test_stubs_are_not_attempted():
    def stub(**kwargs):
        raise NotImplementedError("Exercise: replace this line with your code")

    for exercise_id in ("input_gradient", "elu_derivative", "clip_by_norm"):
        assert evaluate_function(get(exercise_id), stub).status == "not-attempted"
