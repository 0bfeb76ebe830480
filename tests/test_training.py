"""dnncourse.training: the loop against a hand-written reference, hooks, determinism, errors."""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from dnncourse.lab.data import Dataset, make_regression_1d, make_xor
from dnncourse.lab.models import mlp
from dnncourse.lab.training import History, evaluate, train


def small_problem():
    torch.manual_seed(0)
    return make_xor(50, seed=0), mlp(2, [6], 2, "tanh")


def test_full_batch_sgd_equals_a_hand_written_loop():
    data, model = small_problem()
    reference = copy.deepcopy(model)
    history = train(
        model, data, torch.optim.SGD(model.parameters(), lr=0.1), epochs=5, batch_size=len(data), progress=False
    )
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    losses = []
    for _ in range(5):  # full batch: the shuffling order does not change the mean loss
        loss = nn.functional.cross_entropy(reference(data.X), data.y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)
    assert history.iteration_loss == pytest.approx(losses, rel=1e-6)
    assert history.train_loss == pytest.approx(losses, rel=1e-6)


def test_history_lengths_iterations_per_epoch_and_accuracy():
    data, model = small_problem()
    history = train(
        model, data, torch.optim.Adam(model.parameters(), lr=0.01), epochs=3, batch_size=16, val=data, progress=False
    )
    assert isinstance(history, History) and history.epochs == 3
    assert len(history.iteration_loss) == 3 * math.ceil(50 / 16)
    assert len(history.val_loss) == len(history.val_accuracy) == len(history.wall_time) == 3
    assert all(0 <= a <= 1 for a in history.train_accuracy)
    loss, accuracy = evaluate(model, data)
    assert history.val_loss[-1] == pytest.approx(loss) and history.val_accuracy[-1] == pytest.approx(accuracy)


def test_evaluate_matches_a_direct_computation_and_restores_mode():
    data, model = small_problem()
    model.train()
    loss, accuracy = evaluate(model, data, batch_size=7)
    with torch.no_grad():
        out = model(data.X)
    assert loss == pytest.approx(nn.functional.cross_entropy(out, data.y).item(), rel=1e-6)
    assert accuracy == pytest.approx((out.argmax(1) == data.y).float().mean().item())
    assert model.training
    regression = make_regression_1d(20, seed=0)
    loss, accuracy = evaluate(mlp(1, [3], 1), regression)
    assert math.isnan(accuracy) and loss > 0


def test_same_seed_same_run_different_seed_different_run():
    runs = []
    for seed in (0, 0, 1):
        data, model = small_problem()
        model.blocks[0].dropout = nn.Dropout(0.3)  # randomness inside the model is seeded too
        history = train(
            model, data, torch.optim.SGD(model.parameters(), lr=0.1), epochs=3, batch_size=8, seed=seed, progress=False
        )
        runs.append(history.iteration_loss)
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_hooks_penalty_after_backward_and_early_stopping():
    data, model = small_problem()
    calls = []

    def after_backward(m):
        calls.append(all(p.grad is not None for p in m.parameters()))

    def stop_after_two(epoch, history):
        return epoch == 1

    history = train(
        model,
        data,
        torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=10,
        batch_size=len(data),
        penalty=lambda m: 0.0 * sum(p.sum() for p in m.parameters()),
        after_backward=after_backward,
        on_epoch_end=stop_after_two,
        progress=False,
    )
    assert history.epochs == 2 and history.stopped_early
    assert calls == [True, True]


def test_penalty_changes_the_gradient_like_weight_decay():
    data, model = small_problem()
    twin = copy.deepcopy(model)
    lam = 0.1
    train(
        model,
        data,
        torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=2,
        batch_size=len(data),
        progress=False,
        penalty=lambda m: 0.5 * lam * sum((p**2).sum() for p in m.parameters()),
    )
    train(
        twin,
        data,
        torch.optim.SGD(twin.parameters(), lr=0.1, weight_decay=lam),
        epochs=2,
        batch_size=len(data),
        progress=False,
    )
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q)


def test_regression_uses_mse_and_device_is_kept():
    data = make_regression_1d(30, seed=0)
    torch.manual_seed(0)
    model = mlp(1, [4], 1)
    history = train(model, data, torch.optim.SGD(model.parameters(), lr=0.05), epochs=2, batch_size=30, progress=False)
    assert all(math.isnan(a) for a in history.train_accuracy)
    assert next(model.parameters()).device == data.X.device
    assert next(model.parameters()).dtype == torch.float32


def test_progress_line_goes_to_stderr_only_when_asked(capsys):
    data, model = small_problem()
    train(model, data, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, progress=False)
    assert capsys.readouterr().err == ""
    train(model, data, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, progress=True)
    captured = capsys.readouterr()
    assert "epoch 1/1" in captured.err and captured.out == ""


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"epochs": 1.5}, "epochs"),
        ({"epochs": 1, "batch_size": 0}, "batch_size must be a positive integer"),
        ({"epochs": 1, "optimizer": "sgd"}, "optimizer must be a torch.optim.Optimizer"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    data, model = small_problem()
    arguments = {"optimizer": torch.optim.SGD(model.parameters(), lr=0.1), **kwargs}
    with pytest.raises(ValueError, match=message):
        train(model, data, **arguments)


def test_empty_data_is_a_clear_error():
    empty = Dataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64))
    model = mlp(2, [4], 2)
    with pytest.raises(ValueError, match="empty"):
        evaluate(model, empty)
    with pytest.raises(ValueError, match="empty"):
        train(model, empty, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1)


def test_numpy_integers_are_accepted_as_sizes():
    model = mlp(np.int64(2), [np.int32(4)], np.int64(2))
    data = make_xor(40, noise=np.float32(0.1))
    history = train(
        model,
        data,
        torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=np.int64(2),
        batch_size=np.int64(8),
        progress=False,
    )
    assert history.epochs == 2


def test_train_with_a_seed_leaves_the_global_generator_alone():
    data, model = small_problem()
    model.blocks[0].dropout = nn.Dropout(0.3)  # draws from PyTorch's generator inside train
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    train(model, data, torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, batch_size=8, seed=5, progress=False)
    assert torch.equal(torch.random.get_rng_state(), before)
    # seed=None: the run draws from the global generator, which then moves on
    train(model, data, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, batch_size=8, seed=None, progress=False)
    assert not torch.equal(torch.random.get_rng_state(), before)


def test_train_run_does_not_depend_on_what_ran_before():
    losses = []
    for earlier_draws in (0, 1000):
        data, model = small_problem()
        model.blocks[0].dropout = nn.Dropout(0.3)
        torch.rand(earlier_draws)  # whatever the cells above drew
        history = train(model, data, torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, seed=3, progress=False)
        losses.append(history.iteration_loss)
    assert losses[0] == losses[1]


def test_scheduler_is_stepped_once_per_iteration():
    data, model = small_problem()  # 50 examples, batches of 8: 7 iterations per epoch
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5**step)
    train(model, data, optimizer, epochs=2, batch_size=8, scheduler=scheduler, progress=False)
    assert scheduler.last_epoch == 14 and optimizer.param_groups[0]["lr"] == 0.5**14


def test_mlp_seed_draws_the_same_weights_without_touching_the_global_generator():
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    a, b = mlp(3, [5], 2, seed=11), mlp(3, [5], 2, seed=11)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    torch.manual_seed(11)
    reference = mlp(3, [5], 2)  # the same draws from the global generator seeded with 11
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), reference.parameters()))
