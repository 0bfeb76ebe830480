"""Tests of dnncourse.regularization: dropout, penalties, early stopping, freezing, least squares."""

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dnncourse.data import Dataset, load_digits
from dnncourse.models import mlp
from dnncourse.regularization import (
    Dropout,
    EarlyStopping,
    dropout,
    dropout_ensemble_mean,
    elastic_net_penalty,
    freeze_,
    l1_penalty,
    l2_penalty,
    min_norm_solution,
    penalized_parameters,
    ridge_solution,
    trainable_parameters,
    unfreeze_,
    with_new_head,
)
from dnncourse.training import train

# ----------------------------------------------------------------------------------------------- dropout


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
        train(model, data, torch.optim.SGD(model.parameters(), lr=0.1), epochs=20, penalty=lambda m: l2_penalty(m, lam))
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
        model, small, torch.optim.Adam(model.parameters(), lr=0.03), epochs=100, batch_size=60,
        val=splits.val, on_epoch_end=stopper,
    )
    assert history.stopped_early and history.epochs < 100
    assert history.epochs == stopper.best_epoch + 1 + 3
    assert stopper.best == min(history.val_loss)
    from dnncourse.training import evaluate

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


# ----------------------------------------------------------------------------------------------- freezing


def test_freeze_and_unfreeze_set_requires_grad():
    model = _model()
    assert freeze_(model.blocks) is model.blocks
    assert all(not p.requires_grad for p in model.blocks.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    assert trainable_parameters(model) == list(model.head.parameters())
    unfreeze_(model)
    assert len(trainable_parameters(model)) == 4
    with pytest.raises(ValueError, match="module must be"):
        freeze_([1, 2])


@pytest.mark.parametrize("optimizer", [torch.optim.SGD, torch.optim.Adam])
def test_the_optimizer_leaves_frozen_parameters_unchanged(optimizer):
    model = _model()
    freeze_(model.blocks[0])
    frozen = [p.detach().clone() for p in model.blocks[0].parameters()]
    head = [p.detach().clone() for p in model.head.parameters()]
    # Even with all parameters in the optimizer (and weight decay), frozen ones get no gradient and stay put.
    opt = optimizer(model.parameters(), lr=0.1, weight_decay=0.1)
    X, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(X), y).backward()
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(frozen, model.blocks[0].parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(head, model.head.parameters()))


def test_with_new_head_keeps_the_body_and_replaces_the_head():
    torch.manual_seed(0)
    model = _model()
    before = {name: p.detach().clone() for name, p in model.state_dict().items()}
    torch.manual_seed(1)
    new = with_new_head(model, 7)
    assert isinstance(new.head, nn.Linear)
    assert (new.head.in_features, new.head.out_features) == (model.head.in_features, 7)
    # the body is an equal but independent copy: same values, different storage
    for p_old, p_new in zip(model.blocks.parameters(), new.blocks.parameters()):
        assert torch.equal(p_old, p_new) and p_old.data_ptr() != p_new.data_ptr()
    # the body of the copy computes exactly what the original's body computes
    X = torch.randn(4, 5)
    assert torch.equal(new.hidden(X)[-1], model.hidden(X)[-1])
    assert new(X).shape == (4, 7)
    # the new head is PyTorch's default nn.Linear initialization, drawn from the global generator
    torch.manual_seed(1)
    reference = nn.Linear(model.head.in_features, 7)
    assert torch.equal(new.head.weight, reference.weight) and torch.equal(new.head.bias, reference.bias)
    # training the copy leaves the original untouched
    opt = torch.optim.SGD(new.parameters(), lr=0.5)
    F.cross_entropy(new(X), torch.tensor([0, 1, 2, 6])).backward()
    opt.step()
    assert all(torch.equal(before[name], p) for name, p in model.state_dict().items())


def test_with_new_head_keeps_device_dtype_and_flags():
    model = _model().double()
    freeze_(model.blocks)
    new = with_new_head(model, 2)
    assert new.head.weight.dtype == torch.float64 and new.head.weight.device == model.head.weight.device
    assert trainable_parameters(new) == list(new.head.parameters())  # frozen body stays frozen, new head trains


@pytest.mark.parametrize(
    ("model", "out_features", "match"),
    [
        (nn.Sequential(nn.Linear(2, 2)), 3, "attribute 'head'"),
        (None, 3, "module must be"),
        ("ok", 0, "out_features"),
        ("ok", 2.0, "out_features"),
    ],
)
def test_with_new_head_rejects_bad_arguments(model, out_features, match):
    with pytest.raises(ValueError, match=match):
        with_new_head(_model() if model == "ok" else model, out_features)


# ----------------------------------------------------------------------------------------------- least squares


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
