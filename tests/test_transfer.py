"""Tests of dnncourse.transfer: freezing, the optimizer leaving frozen parameters alone, a new head."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dnncourse.lab.models import mlp
from dnncourse.transfer import freeze_, trainable_parameters, unfreeze_, with_new_head


def _model():
    return mlp(5, [4], 3, seed=0)


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
        (None, 3, "model must be an nn.Module"),
        ("ok", 0, "out_features"),
        ("ok", 2.0, "out_features"),
    ],
)
def test_with_new_head_rejects_bad_arguments(model, out_features, match):
    with pytest.raises(ValueError, match=match):
        with_new_head(_model() if model == "ok" else model, out_features)


def test_with_new_head_seed_draws_the_same_head_and_leaves_the_global_generator_alone():
    model = _model()
    state = torch.random.get_rng_state()
    first, second = with_new_head(model, 4, seed=3), with_new_head(model, 4, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(first.head.weight, second.head.weight)
    torch.manual_seed(3)
    reference = nn.Linear(model.head.in_features, 4)  # what PyTorch draws after manual_seed(3)
    assert torch.equal(first.head.weight, reference.weight) and torch.equal(first.head.bias, reference.bias)
