"""dnncourse.models: the MLP builder against hand-written PyTorch equivalents."""

import os

import pytest
import torch
from torch import nn

from dnncourse.lab.models import ACTIVATIONS, MLP, count_parameters, mlp


def test_structure_and_parameter_count():
    model = mlp(64, [32, 16], 10)
    assert isinstance(model, MLP) and len(model.blocks) == 2
    assert model.blocks[0].linear.in_features == 64 and model.head.out_features == 10
    assert count_parameters(model) == (64 * 32 + 32) + (32 * 16 + 16) + (16 * 10 + 10)


def test_forward_equals_a_hand_built_sequential():
    torch.manual_seed(0)
    model = mlp(5, [7, 3], 2, "tanh")
    reference = nn.Sequential(model.blocks[0].linear, nn.Tanh(), model.blocks[1].linear, nn.Tanh(), model.head)
    x = torch.randn(11, 5)
    torch.testing.assert_close(model(x), reference(x))
    hidden = model.hidden(x)
    assert [h.shape for h in hidden] == [(11, 7), (11, 3)]
    torch.testing.assert_close(hidden[0], torch.tanh(model.blocks[0].linear(x)))


def test_no_hidden_layer_is_a_linear_model():
    model = mlp(3, [], 2)
    x = torch.randn(4, 3)
    torch.testing.assert_close(model(x), x @ model.head.weight.T + model.head.bias)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_named_activation_builds_and_runs(name):
    model = mlp(2, [4], 1, name)
    assert model(torch.randn(3, 2)).shape == (3, 1)


def test_options_norm_dropout_residual_init_bias():
    model = mlp(4, [4, 4], 2, norm="batch", dropout=0.5, residual=True, init=nn.init.ones_, bias=True)
    assert isinstance(model.blocks[0].norm, nn.BatchNorm1d)
    assert isinstance(model.blocks[0].dropout, nn.Dropout)
    assert all(torch.all(m.weight == 1) for m in model.modules() if isinstance(m, nn.Linear))
    assert all(torch.all(m.bias == 0) for m in model.modules() if isinstance(m, nn.Linear))
    model.eval()
    x = torch.randn(6, 4)
    block = model.blocks[0]
    torch.testing.assert_close(block(x), x + torch.relu(block.norm(block.linear(x))))  # residual in eval
    no_bias = mlp(3, [5], 2, bias=False)
    assert count_parameters(no_bias) == 3 * 5 + 5 * 2


def test_count_parameters_trainable_only():
    model = mlp(3, [5], 2)
    model.head.weight.requires_grad_(False)
    assert count_parameters(model) == 3 * 5 + 5 + 2
    assert count_parameters(model, trainable_only=False) == 3 * 5 + 5 + 5 * 2 + 2


def test_same_seed_same_model():
    torch.manual_seed(1)
    a = mlp(3, [4], 2)
    torch.manual_seed(1)
    b = mlp(3, [4], 2)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_device_and_dtype_are_kept():
    model = mlp(3, [4], 2).double()
    x = torch.randn(2, 3, dtype=torch.float64)
    out = model(x)
    assert out.dtype == torch.float64 and out.device == x.device
    assert all(h.device == x.device for h in model.hidden(x))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"in_features": 0}, "in_features must be a positive integer"),
        ({"out_features": 2.0}, "out_features must be a positive integer"),
        ({"hidden": [4, 0]}, r"hidden\[1\] must be a positive integer, got 0"),
        ({"activation": "swish"}, "activation must be one of"),
        ({"norm": "group"}, "norm must be one of"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\)"),
        ({"norm_position": "middle"}, "norm_position must be"),
        ({"init": 3}, "init must be"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    arguments = {"in_features": 2, "hidden": [3], "out_features": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        mlp(**arguments)


def test_dtype_draws_the_initial_weights_in_that_dtype():
    model = mlp(3, [4], 2, norm="batch", seed=0, dtype=torch.float64)
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    assert model.blocks[0].norm.running_mean.dtype == torch.float64
    again = mlp(3, [4], 2, norm="batch", seed=0, dtype=torch.float64)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), again.parameters()))
    with pytest.raises(ValueError, match="dtype must be a floating-point torch.dtype or None"):
        mlp(3, [4], 2, dtype=torch.int64)


def test_float64_initial_weights_agree_across_cpu_instruction_sets(tmp_path):
    # PyTorch's vectorized uniform_ rounds float32 draws differently without SIMD (one unit in the last
    # place, about 3e-8); drawn in float64 the initial weights agree far below anything a chapter prints.
    import subprocess
    import sys

    import numpy as np

    script = (
        "import sys, numpy as np, torch\n"
        "from dnncourse.lab.models import mlp\n"
        "m = mlp(2, [6] * 5, 2, seed=23, dtype=torch.float64)\n"
        "np.save(sys.argv[1], torch.cat([p.detach().flatten() for p in m.parameters()]).numpy())\n"
    )
    weights = []
    for name, capability in [("native", None), ("nosimd", "default")]:
        env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
        if capability is not None:
            env["ATEN_CPU_CAPABILITY"] = capability
        path = tmp_path / f"{name}.npy"
        subprocess.run([sys.executable, "-c", script, str(path)], env=env, check=True)
        weights.append(np.load(path))
    np.testing.assert_allclose(weights[0], weights[1], rtol=1e-14, atol=1e-15)
