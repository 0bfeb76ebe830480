"""Tests of dnncourse.regularization: penalties, early stopping, least squares, label smoothing, calibration."""

import itertools
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dnncourse.lab.data import Dataset, load_digits
from dnncourse.lab.models import mlp
from dnncourse.lab.training import train
from dnncourse.regularization import (
    EarlyStopping,
    calibration_bins,
    elastic_net_penalty,
    expected_calibration_error,
    l1_penalty,
    l2_penalty,
    label_smoothing_cross_entropy,
    min_l1_solution,
    min_norm_solution,
    penalized_parameters,
    ridge_solution,
    smooth_labels,
)

# ----------------------------------------------------------------------------------------------- penalties


def _model():
    torch.manual_seed(0)
    return mlp(5, [4], 3)


def test_penalties_match_the_closed_form():
    model = _model()
    W1, W2 = model.blocks[0].linear.weight, model.head.weight
    lam = 0.3
    assert torch.allclose(l2_penalty(model, lam), lam / 2 * ((W1**2).sum() + (W2**2).sum()))
    assert torch.allclose(l1_penalty(model, lam), lam * (W1.abs().sum() + W2.abs().sum()))
    net = elastic_net_penalty(model, lam, l1_ratio=0.25)
    assert torch.allclose(net, 0.25 * l1_penalty(model, lam) + 0.75 * l2_penalty(model, lam))
    assert torch.allclose(elastic_net_penalty(model, lam, 1.0), l1_penalty(model, lam))
    assert torch.allclose(elastic_net_penalty(model, lam, 0.0), l2_penalty(model, lam))


def test_penalties_skip_biases_unless_asked():
    model = _model()
    assert len(penalized_parameters(model)) == 2
    assert len(penalized_parameters(model, include_biases=True)) == 4
    everything = sum((p**2).sum() for p in model.parameters())
    assert torch.allclose(l2_penalty(model, 2.0, include_biases=True), everything)
    # A list or a single tensor works too.
    W = model.head.weight
    assert torch.allclose(l1_penalty([W], 1.0), W.abs().sum())
    assert torch.allclose(l1_penalty(W, 1.0), W.abs().sum())


def test_penalty_gradients_match_autograd_of_the_formula():
    torch.manual_seed(0)
    W = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    lam = 0.7
    (grad_l2,) = torch.autograd.grad(l2_penalty(W, lam), W)
    assert torch.allclose(grad_l2, lam * W)
    (grad_l1,) = torch.autograd.grad(l1_penalty(W, lam), W)
    assert torch.allclose(grad_l1, lam * W.sign())
    (grad_net,) = torch.autograd.grad(elastic_net_penalty(W, lam, 0.4), W)
    assert torch.allclose(grad_net, lam * (0.4 * W.sign() + 0.6 * W))


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_l2_penalty_equals_sgd_weight_decay(momentum):
    torch.manual_seed(0)
    X, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    lam, lr = 0.05, 0.1
    model_a = _model()
    model_b = _model()
    # (a) penalty in the loss, no weight decay
    opt_a = torch.optim.SGD(model_a.parameters(), lr=lr, momentum=momentum)
    # (b) weight_decay on the weights only (the same parameters the penalty acts on)
    weights = [p for p in model_b.parameters() if p.ndim > 1]
    biases = [p for p in model_b.parameters() if p.ndim <= 1]
    opt_b = torch.optim.SGD(
        [{"params": weights, "weight_decay": lam}, {"params": biases, "weight_decay": 0.0}], lr=lr, momentum=momentum
    )
    for _ in range(5):
        opt_a.zero_grad()
        (F.cross_entropy(model_a(X), y) + l2_penalty(model_a, lam)).backward()
        opt_a.step()
        opt_b.zero_grad()
        F.cross_entropy(model_b(X), y).backward()
        opt_b.step()
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)


def test_penalty_plugs_into_train_and_shrinks_the_weights():
    torch.manual_seed(0)
    data = Dataset(torch.randn(64, 5), torch.randint(0, 3, (64,)))
    norms = []
    for lam in (0.0, 0.1):
        model = _model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        train(model, data, optimizer, epochs=20, penalty=lambda m, lam=lam: l2_penalty(m, lam))
        norms.append(model.head.weight.norm().item())
    assert norms[1] < norms[0]


def test_penalties_keep_device_and_dtype():
    W = torch.randn(3, 3, dtype=torch.float64)
    for value in (l2_penalty(W, 1.0), l1_penalty(W, 1.0), elastic_net_penalty(W, 1.0, 0.5)):
        assert value.device == W.device and value.dtype == W.dtype and value.ndim == 0


@pytest.mark.parametrize("lam", [-1.0, float("inf"), float("nan"), "0.1", True])
def test_penalties_reject_bad_lambda(lam):
    W = torch.ones(2, 2)
    for penalty in (l2_penalty, l1_penalty, elastic_net_penalty):
        with pytest.raises(ValueError, match="lam must be"):
            penalty(W, lam)


def test_penalties_reject_bad_arguments():
    with pytest.raises(ValueError, match="l1_ratio must be"):
        elastic_net_penalty(torch.ones(2, 2), 1.0, l1_ratio=1.5)
    with pytest.raises(ValueError, match="no parameters to penalize"):
        l2_penalty(torch.ones(3), 1.0)  # a bias only
    with pytest.raises(ValueError, match="model_or_params must be"):
        l2_penalty(3.0, 1.0)
    with pytest.raises(ValueError, match="only tensors"):
        l2_penalty([torch.ones(2, 2), "w"], 1.0)


# ----------------------------------------------------------------------------------------------- early stopping


def _scripted(stopper, losses):
    """Feed a scripted validation-loss sequence; return the epoch at which the stopper asked to stop."""
    history = SimpleNamespace(val_loss=[], val_accuracy=[])
    for epoch, loss in enumerate(losses):
        history.val_loss.append(loss)
        if stopper(epoch, history):
            return epoch
    return None


def test_early_stopping_stops_after_patience_bad_epochs():
    losses = [1.0, 0.8, 0.6, 0.65, 0.7, 0.61, 0.9, 0.5]
    stopper = EarlyStopping(patience=3)
    assert _scripted(stopper, losses) == 5  # epochs 3, 4, 5 do not beat 0.6
    assert stopper.best_epoch == 2 and stopper.best == 0.6 and stopper.stopped_epoch == 5


def test_early_stopping_min_delta_and_max_mode():
    # With min_delta=0.05 the drop from 0.6 to 0.58 is not an improvement.
    stopper = EarlyStopping(patience=2, min_delta=0.05)
    assert _scripted(stopper, [1.0, 0.6, 0.58, 0.57, 0.2]) == 3
    assert stopper.best_epoch == 1
    accuracy = EarlyStopping(patience=2, mode="max", metric="val_accuracy")
    history = SimpleNamespace(val_accuracy=[])
    stopped = None
    for epoch, value in enumerate([0.5, 0.7, 0.69, 0.7, 0.9]):
        history.val_accuracy.append(value)
        if accuracy(epoch, history):
            stopped = epoch
            break
    assert stopped == 3 and accuracy.best_epoch == 1


def test_early_stopping_ignores_nan_and_resets():
    stopper = EarlyStopping(patience=2)
    assert _scripted(stopper, [1.0, float("nan"), float("nan")]) == 2
    stopper.reset()
    assert stopper.best_epoch is None and stopper.wait == 0 and stopper.best == math.inf


def test_early_stopping_restores_the_best_weights_in_a_scripted_run():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(model, patience=2)
    history = SimpleNamespace(val_loss=[])
    snapshots = []
    for epoch, loss in enumerate([1.0, 0.5, 0.7, 0.8]):
        with torch.no_grad():
            model.weight.add_(1.0)  # "training" changes the weights every epoch
        snapshots.append(model.weight.detach().clone())
        history.val_loss.append(loss)
        if stopper(epoch, history):
            break
    assert torch.equal(model.weight, snapshots[1])


def test_early_stopping_in_real_training_restores_the_best_epoch():
    torch.manual_seed(0)
    splits = load_digits()
    small = splits.train.subset(slice(0, 60))
    model = mlp(64, [64], 10)
    stopper = EarlyStopping(model, patience=3)
    history = train(
        model,
        small,
        torch.optim.Adam(model.parameters(), lr=0.03),
        epochs=100,
        batch_size=60,
        val=splits.val,
        on_epoch_end=stopper,
    )
    assert history.stopped_early and history.epochs < 100
    assert history.epochs == stopper.best_epoch + 1 + 3
    assert stopper.best == min(history.val_loss)
    from dnncourse.lab.training import evaluate

    assert math.isclose(evaluate(model, splits.val)[0], stopper.best, rel_tol=1e-5)


def test_early_stopping_rejects_bad_arguments():
    with pytest.raises(ValueError, match="patience must be"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="min_delta must be"):
        EarlyStopping(min_delta=-1)
    with pytest.raises(ValueError, match="mode must be"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="model must be"):
        EarlyStopping(5)
    with pytest.raises(ValueError, match="is empty"):
        EarlyStopping()(0, SimpleNamespace(val_loss=[]))
    with pytest.raises(ValueError, match="not a list"):
        EarlyStopping(metric="val_los")(0, SimpleNamespace(val_loss=[1.0]))


def test_ridge_converges_to_the_min_norm_solution_of_an_underdetermined_system():
    torch.manual_seed(0)
    A = torch.randn(5, 12, dtype=torch.float64)
    b = torch.randn(5, dtype=torch.float64)
    x_plus = min_norm_solution(A, b)
    assert torch.allclose(A @ x_plus, b)
    assert torch.allclose(x_plus, torch.linalg.lstsq(A, b, driver="gelsd").solution)
    # Any other exact solution (x_plus plus a null-space vector) is longer.
    z = torch.randn(12, dtype=torch.float64)
    z = z - torch.linalg.pinv(A) @ (A @ z)
    assert torch.allclose(A @ (x_plus + z), b) and (x_plus + z).norm() > x_plus.norm()
    gaps = [(ridge_solution(A, b, lam) - x_plus).norm().item() for lam in (1.0, 1e-2, 1e-4, 1e-8)]
    assert all(a > b for a, b in zip(gaps, gaps[1:])) and gaps[-1] < 1e-6


def test_ridge_primal_and_dual_forms_agree():
    torch.manual_seed(1)
    A = torch.randn(8, 3, dtype=torch.float64)
    b = torch.randn(8, 2, dtype=torch.float64)
    lam = 0.5
    primal = ridge_solution(A, b, lam)  # n > d: the primal form is used
    dual = A.T @ torch.linalg.solve(A @ A.T + lam * torch.eye(8, dtype=torch.float64), b)
    assert torch.allclose(primal, dual)
    # The gradient of the ridge objective vanishes at the solution.
    x = primal.clone().requires_grad_(True)
    objective = ((A @ x - b) ** 2).sum() + lam * (x**2).sum()
    (grad,) = torch.autograd.grad(objective, x)
    assert grad.abs().max() < 1e-10
    wide = torch.randn(3, 8, dtype=torch.float64)
    x_wide = ridge_solution(wide, b[:3], lam)  # n < d: dual form
    reference = torch.linalg.solve(wide.T @ wide + lam * torch.eye(8, dtype=torch.float64), wide.T @ b[:3])
    assert torch.allclose(x_wide, reference)
    assert x_wide.device == wide.device and x_wide.dtype == wide.dtype


def test_least_squares_reject_bad_arguments():
    A, b = torch.ones(3, 4), torch.ones(3)
    with pytest.raises(ValueError, match="lam must be"):
        ridge_solution(A, b, 0.0)
    with pytest.raises(ValueError, match="A must have"):
        min_norm_solution(torch.ones(3), b)
    with pytest.raises(ValueError, match="b must have"):
        ridge_solution(A, torch.ones(4), 1.0)


# ----------------------------------------------------------------------------------------------- minimum L1 norm


def _basic_solutions(A: torch.Tensor, b: torch.Tensor):
    """Every solution of A x = b supported on n columns that form an invertible matrix (the LP's vertices)."""
    n, d = A.shape
    for columns in itertools.combinations(range(d), n):
        A_S = A[:, columns]
        if abs(torch.linalg.det(A_S)) < 1e-9:
            continue
        x = torch.zeros(d, dtype=A.dtype)
        x[list(columns)] = torch.linalg.solve(A_S, b)
        yield x


@pytest.mark.parametrize("seed", range(5))
def test_min_l1_solution_is_the_best_basic_solution(seed):
    # A linear program attains its minimum at a vertex; the vertices of {x : A x = b} in the (u, v)
    # form are the basic solutions, so brute force over supports of size n is an independent reference.
    generator = torch.Generator().manual_seed(seed)
    A = torch.randn(3, 7, generator=generator, dtype=torch.float64)
    b = torch.randn(3, generator=generator, dtype=torch.float64)
    x = min_l1_solution(A, b)
    best = min(v.abs().sum().item() for v in _basic_solutions(A, b))
    assert torch.allclose(A @ x, b, atol=1e-9)
    assert x.abs().sum().item() == pytest.approx(best, rel=1e-9)
    assert int((x.abs() > 1e-9).sum()) <= 3


def test_min_l1_solution_has_at_most_n_nonzeros_and_finds_a_very_sparse_solution():
    generator = torch.Generator().manual_seed(0)
    A = torch.randn(20, 60, generator=generator, dtype=torch.float64)
    b = torch.randn(20, generator=generator, dtype=torch.float64)  # a dense right-hand side
    x = min_l1_solution(A, b)
    assert torch.allclose(A @ x, b, atol=1e-9)
    assert int((x.abs() > 1e-9).sum()) <= 20
    assert x.abs().sum() <= min_norm_solution(A, b).abs().sum() + 1e-9  # no exact fit has a smaller L1 norm
    x0 = torch.zeros(60, dtype=torch.float64)
    x0[[3, 41]] = torch.tensor([1.5, -0.7], dtype=torch.float64)  # 2 nonzeros: recovered exactly
    assert torch.allclose(min_l1_solution(A, A @ x0), x0, atol=1e-9)


def test_min_l1_solution_of_one_equation_in_the_plane():
    # x1 + 2 x2 = 2: the diamond |x1| + |x2| = r first touches the line on the x2 axis, at (0, 1).
    x = min_l1_solution(torch.tensor([[1.0, 2.0]]), torch.tensor([2.0]))
    assert x.dtype == torch.float32 and torch.allclose(x, torch.tensor([0.0, 1.0]))


def test_min_l1_solution_rejects_bad_arguments():
    with pytest.raises(ValueError, match="no solution"):
        min_l1_solution(torch.tensor([[1.0, 1.0], [1.0, 1.0]]), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="A must be"):
        min_l1_solution(torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match="A must be"):
        min_l1_solution(torch.ones(2, 3, dtype=torch.int64), torch.ones(2))
    with pytest.raises(ValueError, match="b must have"):
        min_l1_solution(torch.ones(2, 3), torch.ones(3))
    with pytest.raises(ValueError, match="finite"):
        min_l1_solution(torch.ones(2, 3), torch.tensor([1.0, math.nan]))


# ----------------------------------------------------------------------------------------------- label smoothing


def test_smooth_labels_are_distributions_with_the_stated_entries():
    y = torch.tensor([0, 2, 1])
    q = smooth_labels(y, 4, 0.2, dtype=torch.float64)
    assert q.shape == (3, 4) and torch.allclose(q.sum(dim=1), torch.ones(3, dtype=torch.float64))
    assert q[1, 2].item() == pytest.approx(1 - 0.2 + 0.05) and q[1, 0].item() == pytest.approx(0.05)
    assert torch.equal(smooth_labels(y, 4, 0.0), F.one_hot(y, 4).float())


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5, 1.0])
def test_label_smoothing_cross_entropy_matches_pytorch_and_its_gradient_is_p_minus_q(eps):
    generator = torch.Generator().manual_seed(0)
    z = (3 * torch.randn(6, 5, generator=generator, dtype=torch.float64)).requires_grad_(True)
    y = torch.randint(0, 5, (6,), generator=generator)
    ours = label_smoothing_cross_entropy(z, y, eps)
    theirs = F.cross_entropy(z, y, label_smoothing=eps)
    assert torch.allclose(ours, theirs, rtol=1e-12, atol=0)
    (grad,) = torch.autograd.grad(ours, z)
    q = smooth_labels(y, 5, eps, dtype=torch.float64)
    assert torch.allclose(grad, (torch.softmax(z, dim=1) - q) / 6, rtol=1e-10, atol=1e-14)


def test_label_smoothing_has_a_finite_minimizer_at_the_predicted_logit_gap():
    # Where the true logit exceeds the others by log(1 + K (1 - eps) / eps), softmax(z) = q: gradient 0.
    K, eps = 10, 0.1
    gap = math.log(1 + K * (1 - eps) / eps)
    z = torch.zeros(1, K, dtype=torch.float64)
    z[0, 3] = gap
    z.requires_grad_(True)
    (grad,) = torch.autograd.grad(label_smoothing_cross_entropy(z, torch.tensor([3]), eps), z)
    assert grad.abs().max() < 1e-12


def test_label_smoothing_rejects_bad_arguments():
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="eps must be"):
        label_smoothing_cross_entropy(z, torch.tensor([0, 1]), 1.5)
    with pytest.raises(ValueError, match="y must hold class labels in"):
        label_smoothing_cross_entropy(z, torch.tensor([0, 3]), 0.1)
    with pytest.raises(ValueError, match="y must have shape"):
        label_smoothing_cross_entropy(z, torch.tensor([0]), 0.1)
    with pytest.raises(ValueError, match="integer class labels"):
        smooth_labels(torch.tensor([0.0, 1.0]), 3, 0.1)
    with pytest.raises(ValueError, match="logits must be"):
        label_smoothing_cross_entropy(torch.zeros(3), torch.tensor([0, 1, 2]), 0.1)


# ----------------------------------------------------------------------------------------------- calibration


def _ece_by_loops(probs, y, n_bins):
    """A plain-Python reference: bin b holds confidences in (b / B, (b + 1) / B]."""
    n, total = len(y), 0.0
    for b in range(n_bins):
        members = [i for i in range(n) if b / n_bins < probs[i].max() <= (b + 1) / n_bins]
        if members:
            confidence = sum(probs[i].max() for i in members) / len(members)
            accuracy = sum(int(probs[i].argmax() == y[i]) for i in members) / len(members)
            total += len(members) / n * abs(accuracy - confidence)
    return total


def test_expected_calibration_error_matches_a_loop_over_bins():
    generator = torch.Generator().manual_seed(0)
    probs = torch.softmax(2 * torch.randn(300, 4, generator=generator, dtype=torch.float64), dim=1)
    y = torch.randint(0, 4, (300,), generator=generator)
    for n_bins in (1, 5, 15):
        expected = _ece_by_loops(probs.numpy(), y.numpy(), n_bins)
        assert expected_calibration_error(probs, y, n_bins) == pytest.approx(expected, rel=1e-12)


def test_calibration_bins_on_a_hand_example():
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.5, 0.5]], dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0])
    confidence, accuracy, count = calibration_bins(probs, y, n_bins=2)
    # Bin (0, 0.5] holds the tie (confidence 0.5, predicted class 0: right); bin (0.5, 1] the other three.
    assert count.tolist() == [1.0, 3.0]
    assert torch.allclose(confidence, torch.tensor([0.5, 0.8], dtype=torch.float64))
    assert torch.allclose(accuracy, torch.tensor([1.0, 2 / 3], dtype=torch.float64))
    assert expected_calibration_error(probs, y, 2) == pytest.approx(0.25 * 0.5 + 0.75 * (0.8 - 2 / 3))
    empty = calibration_bins(probs, y, n_bins=10)[0]
    assert torch.isnan(empty[0]) and not torch.isnan(empty[8])
    # Always right with confidence 1: perfectly calibrated.
    assert expected_calibration_error(torch.eye(3), torch.arange(3)) == 0.0


def test_calibration_rejects_bad_arguments():
    with pytest.raises(ValueError, match="probabilities in"):
        calibration_bins(torch.tensor([[2.0, -1.0]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="n_bins must be"):
        expected_calibration_error(torch.eye(2), torch.tensor([0, 1]), 0)
    with pytest.raises(ValueError, match="probs must be"):
        expected_calibration_error(torch.zeros(0, 2), torch.tensor([], dtype=torch.int64))
    with pytest.raises(ValueError, match="y must have shape"):
        expected_calibration_error(torch.eye(2), torch.tensor([0]))
