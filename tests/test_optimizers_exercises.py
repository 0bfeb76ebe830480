"""The "Optimizers" chapter's exercises: the references follow torch.optim (or a closed form), independent
answers pass, typical wrong answers fail, stubs are not attempted."""

import numpy as np
import pytest
import torch

from dnncourse.exercises import evaluate_function, get
from dnncourse.exercises import optimizers as ex

IDS = ("nesterov_update", "bias_corrected_ema", "momentum_update", "rmsprop_update", "adam_update")


def _torch_steps(optimizer_class, theta0, grads, **kwargs):
    """The parameters after feeding ``grads`` one by one to a torch.optim optimizer."""
    theta = torch.tensor(theta0, requires_grad=True)
    opt = optimizer_class([theta], foreach=False, **kwargs)
    for g in grads:
        theta.grad = torch.tensor(g)
        opt.step()
    return theta.detach().numpy()


@pytest.fixture
def trajectory():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 4)), [rng.normal(size=(3, 4)) for _ in range(10)]  # theta0, 10 gradients


def test_nesterov_reference_follows_torch_sgd_with_nesterov(trajectory):
    theta0, grads = trajectory
    phi, v = theta0, np.zeros_like(theta0)
    for g in grads:
        phi, v = ex.nesterov_update(phi, g, v, lr=0.1, momentum=0.9)
    expected = _torch_steps(torch.optim.SGD, theta0, grads, lr=0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(phi, expected, rtol=1e-12)


def test_nesterov_reference_is_the_look_ahead_form_in_other_variables():
    """phi = theta + mu u and v = -u / lr, with the look-ahead update of (theta, u) (Sutskever et al. 2013)."""
    rng = np.random.default_rng(1)
    lr, mu = 0.05, 0.8
    H = np.array([[3.0, 1.0], [1.0, 0.5]])  # J = theta^T H theta / 2: gradient H theta
    theta, u = rng.normal(size=2), np.zeros(2)
    phi, v = theta.copy(), np.zeros(2)
    for _ in range(30):
        u = mu * u - lr * H @ (theta + mu * u)  # the gradient at the look-ahead point
        theta = theta + u
        phi, v = ex.nesterov_update(phi, H @ phi, v, lr, mu)
        np.testing.assert_allclose(phi, theta + mu * u, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(v, -u / lr, rtol=1e-12, atol=1e-14)


def test_bias_corrected_ema_closed_forms():
    np.testing.assert_allclose(ex.bias_corrected_ema(np.full(50, 3.0), 0.99), np.full(50, 3.0), rtol=1e-13)
    x = np.array([1.0, 3.0])
    np.testing.assert_allclose(ex.bias_corrected_ema(x, 0.99)[1], (0.99 * 0.01 * 1 + 0.01 * 3) / (1 - 0.99**2))
    np.testing.assert_array_equal(ex.bias_corrected_ema(x, 0.0), x)
    # weights (1 - beta) beta^(t - k) / (1 - beta^t), summed term by term, for a (T, n) input
    rng = np.random.default_rng(2)
    x, beta = rng.normal(size=(7, 3)), 0.8
    weights = [(1 - beta) * beta ** (7 - k) / (1 - beta**7) for k in range(1, 8)]
    np.testing.assert_allclose(ex.bias_corrected_ema(x, beta)[-1], sum(w * row for w, row in zip(weights, x)))


def test_bias_corrected_ema_equals_adams_corrected_first_moment(trajectory):
    """Adam's m_hat after t steps is the bias-corrected EMA of the gradients (read off torch.optim.Adam's state)."""
    _, grads = trajectory
    theta = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
    adam = torch.optim.Adam([theta], lr=0.01, betas=(0.9, 0.999), foreach=False)
    for g in grads:
        theta.grad = torch.tensor(g)
        adam.step()
    m_hat = adam.state[theta]["exp_avg"].numpy() / (1 - 0.9 ** len(grads))
    np.testing.assert_allclose(ex.bias_corrected_ema(np.array(grads), 0.9)[-1], m_hat, rtol=1e-12)


def test_one_step_references_follow_torch(trajectory):
    theta0, grads = trajectory
    theta, v = theta0, np.zeros_like(theta0)
    for g in grads:
        theta, v = ex.momentum_update(theta, g, v, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(theta, _torch_steps(torch.optim.SGD, theta0, grads, lr=0.1, momentum=0.9), rtol=1e-12)

    theta, r = theta0, np.zeros_like(theta0)
    for g in grads:
        theta, r = ex.rmsprop_update(theta, g, r, lr=0.01, rho=0.9, eps=1e-8)
    expected = _torch_steps(torch.optim.RMSprop, theta0, grads, lr=0.01, alpha=0.9, eps=1e-8)
    np.testing.assert_allclose(theta, expected, rtol=1e-12)

    theta, m, v = theta0, np.zeros_like(theta0), np.zeros_like(theta0)
    for t, g in enumerate(grads, start=1):
        theta, m, v = ex.adam_update(theta, g, m, v, t, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    expected = _torch_steps(torch.optim.Adam, theta0, grads, lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    np.testing.assert_allclose(theta, expected, rtol=1e-12)


def test_one_step_references_do_not_modify_inputs_and_accept_tensors():
    theta, g, m, v = (torch.full((2,), x, dtype=torch.float64) for x in (1.0, 0.5, 0.1, 0.2))
    before = [x.clone() for x in (theta, g, m, v)]
    out = ex.adam_update(theta, g, m, v, 3, lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8)
    for x, y in zip((theta, g, m, v), before):
        assert torch.equal(x, y)
    assert all(isinstance(o, torch.Tensor) and o.dtype == torch.float64 for o in out)
    out = ex.nesterov_update(theta, g, m, lr=0.1, momentum=0.9)
    assert torch.equal(theta, before[0]) and torch.equal(m, before[2])


# --- the exercises as a student meets them -------------------------------------------------------------


def nesterov_from_torch(phi, grad, v, lr, momentum):
    """One step of torch.optim.SGD(nesterov=True) from the given state: an independent answer."""
    p = torch.tensor(phi, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum, nesterov=True, foreach=False)
    opt.state[p]["momentum_buffer"] = torch.tensor(v)  # the velocity PyTorch keeps
    p.grad = torch.tensor(grad)
    opt.step()
    return p.detach().numpy(), opt.state[p]["momentum_buffer"].numpy()


def ema_by_dividing_by_the_ema_of_ones(x, beta):
    m, ones, out = np.zeros(x.shape[1:]), 0.0, []
    for row in x:
        m, ones = beta * m + (1 - beta) * row, beta * ones + (1 - beta)
        out.append(m / ones)
    return np.array(out)


INDEPENDENT = {"nesterov_update": nesterov_from_torch, "bias_corrected_ema": ema_by_dividing_by_the_ema_of_ones}

WRONG = {
    # the look-ahead form's update transcribed with PyTorch's velocity: the extra mu * v_new is missing
    "nesterov_update": lambda phi, grad, v, lr, momentum: (phi - lr * (momentum * v + grad), momentum * v + grad),
    # the uncorrected average, biased towards zero
    "bias_corrected_ema": lambda x, beta: (
        ex.bias_corrected_ema(x, beta) * (1 - beta ** np.arange(1, len(x) + 1)).reshape((-1,) + (1,) * (np.ndim(x) - 1))
    ),
    "momentum_update": lambda theta, grad, v, lr, momentum: (theta - lr * grad, momentum * v + grad),
    # the squared gradient added to the cache without its weight (1 - rho)
    "rmsprop_update": lambda theta, grad, r, lr, rho, eps: (
        theta - lr * grad / (np.sqrt(rho * r + grad**2) + eps),
        rho * r + grad**2,
    ),
    "adam_update": lambda theta, grad, m, v, t, lr, beta1, beta2, eps: (
        theta - lr * (beta1 * m + (1 - beta1) * grad) / (np.sqrt(beta2 * v + (1 - beta2) * grad**2) + eps),
        beta1 * m + (1 - beta1) * grad,
        beta2 * v + (1 - beta2) * grad**2,
    ),
}


@pytest.mark.parametrize("exercise_id", IDS)
def test_reference_passes_for_many_seeds_and_wrong_answer_fails(exercise_id):
    exercise = get(exercise_id)
    assert exercise.chapter == "03_optimizers"
    for seed in range(10):
        assert evaluate_function(exercise, exercise.reference, seed=seed).status == "passed"
    verdict = evaluate_function(exercise, WRONG[exercise_id], seed=0)
    assert verdict.status == "failed" and verdict.passed < verdict.total


@pytest.mark.parametrize("exercise_id", sorted(INDEPENDENT))
def test_an_independent_answer_passes(exercise_id):
    exercise = get(exercise_id)
    for seed in range(10):
        verdict = evaluate_function(exercise, INDEPENDENT[exercise_id], seed=seed)
        assert verdict.status == "passed", verdict.messages


@pytest.mark.parametrize("exercise_id", IDS)
def test_a_stub_is_not_attempted(exercise_id):
    def stub(**_):
        raise NotImplementedError(f"Exercise {exercise_id}: replace this line with your code")

    assert evaluate_function(get(exercise_id), stub).status == "not-attempted"


def test_a_failing_case_shows_short_inputs_in_full():
    verdict = evaluate_function(get("bias_corrected_ema"), WRONG["bias_corrected_ema"], seed=0)
    assert "x=[2., 2., 2., 2., 2.]" in verdict.messages[0] and "beta=0.99" in verdict.messages[0]
