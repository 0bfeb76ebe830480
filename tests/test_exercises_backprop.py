"""Chapter 1's exercises (dnncourse.exercises.backprop): references against torch.autograd and finite
differences, wrong answers fail with the input shown, stubs are not attempted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dnncourse.exercises import check, evaluate_function, get
from dnncourse.exercises.backprop import (
    EXERCISES,
    linear_backward_reference,
    softmax_cross_entropy_grad_reference,
    tanh_layer_gradients_reference,
    two_layer_grad_reference,
)
from dnncourse.gradcheck import numerical_gradient

IDS = ["linear_backward", "softmax_cross_entropy_grad", "tanh_layer_gradients", "two_layer_grad"]


def t64(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def test_chapter_1_has_its_four_exercises_and_points():
    assert [e.id for e in EXERCISES] == IDS
    assert all(e.chapter == "01_why_deep_learning" and e.function == e.id for e in EXERCISES)
    assert sum(e.points for e in EXERCISES) == 13


@pytest.mark.parametrize("exercise_id", IDS)
def test_public_cases_are_small_enough_to_be_shown_in_full(exercise_id):
    for case in get(exercise_id).public_cases:
        assert all(np.size(value) <= 6 for value in case.inputs.values()), case.label


@pytest.mark.parametrize("seed", range(5))
def test_linear_backward_reference_matches_torch(seed):
    case = get("linear_backward").random_case(np.random.default_rng(seed))
    x, W, b = t64(case["x"]), t64(case["W"]), t64(case["b"])
    (x @ W.T + b).backward(torch.from_numpy(case["dout"]))
    for ours, theirs in zip(linear_backward_reference(**case), (x, W, b)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", range(5))
def test_softmax_cross_entropy_grad_reference_matches_torch(seed):
    case = get("softmax_cross_entropy_grad").random_case(np.random.default_rng(seed))
    z = t64(case["logits"])
    torch.nn.functional.cross_entropy(z, torch.from_numpy(case["labels"])).backward()
    np.testing.assert_allclose(softmax_cross_entropy_grad_reference(**case), z.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_tanh_layer_reference_is_the_analytic_gradient_and_its_centred_difference():
    rng = np.random.default_rng(0)
    W, x = rng.standard_normal((3, 4)), rng.standard_normal(4)
    Wt = t64(W)
    torch.tanh(Wt @ torch.from_numpy(x)).sum().backward()
    for eps in (1e-1, 1e-5):
        analytic, numerical = tanh_layer_gradients_reference(W, x, eps)
        np.testing.assert_allclose(analytic, Wt.grad.numpy(), rtol=1e-12)
        expected = numerical_gradient(lambda M: np.sum(np.tanh(M @ x)), W, eps)
        np.testing.assert_array_equal(numerical, expected)
    coarse = tanh_layer_gradients_reference(W, x, 1e-1)
    assert not np.allclose(coarse[0], coarse[1], rtol=1e-5)  # the coarse step separates the two


def test_two_layer_reference_matches_finite_differences():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal(3), rng.standard_normal(2)
    W1, b1, W2, b2 = (rng.standard_normal(s) for s in [(4, 3), (4,), (2, 4), (2,)])

    def loss(W1_, b1_, W2_, b2_):
        h = 1 / (1 + np.exp(-(W1_ @ x + b1_)))
        return 0.5 * np.sum((W2_ @ h + b2_ - y) ** 2)

    grads = two_layer_grad_reference(x, y, W1, b1, W2, b2)
    params = [W1, b1, W2, b2]
    for i, grad in enumerate(grads):
        numeric = numerical_gradient(lambda p, i=i: loss(*params[:i], p, *params[i + 1 :]), params[i])
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


# Typical mistakes, each of which must lose points.
def linear_backward_without_the_batch_sum(x, W, b, dout):
    return dout @ W, dout.T @ x, dout[0]  # db from the first example only


def softmax_cross_entropy_grad_without_the_mean(logits, labels):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1
    return p  # forgot to divide by n


def softmax_cross_entropy_grad_naive(logits, labels):
    with np.errstate(over="ignore", invalid="ignore"):  # overflows at 800
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1
    return p / len(labels)


def tanh_layer_gradients_numerical_twice(W, x, eps=1e-5):
    numerical = numerical_gradient(lambda M: np.sum(np.tanh(M @ x)), W, eps)
    return numerical, numerical  # no chain rule: passes only while eps is tiny


def two_layer_grad_with_the_wrong_sigmoid_derivative(x, y, W1, b1, W2, b2):
    h = 1 / (1 + np.exp(-(W1 @ x + b1)))
    d_y_hat = W2 @ h + b2 - y
    dz = (W2.T @ d_y_hat) * h  # missing the factor (1 - h)
    return np.outer(dz, x), dz, np.outer(d_y_hat, h), d_y_hat


@pytest.mark.parametrize(
    "exercise_id, wrong",
    [
        ("linear_backward", linear_backward_without_the_batch_sum),
        ("softmax_cross_entropy_grad", softmax_cross_entropy_grad_without_the_mean),
        ("softmax_cross_entropy_grad", softmax_cross_entropy_grad_naive),
        ("tanh_layer_gradients", tanh_layer_gradients_numerical_twice),
        ("two_layer_grad", two_layer_grad_with_the_wrong_sigmoid_derivative),
    ],
)
def test_a_typical_mistake_fails(exercise_id, wrong):
    verdict = evaluate_function(get(exercise_id), wrong, seed=0)
    assert verdict.status == "failed" and verdict.passed < verdict.total


def test_a_failing_public_case_shows_its_input_in_full(capsys):
    check("linear_backward", linear_backward_without_the_batch_sum)
    out = capsys.readouterr().out
    assert "a batch of 3 examples" in out
    assert "x=[[ 1. , -1. ]," in out and "dout=[[ 1.]," in out  # the arrays themselves, not their shapes
    assert "array of shape" not in out.split("Hint")[0]


@pytest.mark.parametrize("exercise_id", IDS)
def test_a_stub_is_not_attempted(exercise_id, capsys):
    def stub(**_):
        raise NotImplementedError(f"Exercise {exercise_id}: replace this line with your code")

    assert evaluate_function(get(exercise_id), stub).status == "not-attempted"
    check(exercise_id, stub)
    assert "not attempted" in capsys.readouterr().out
