"""Tests of dnncourse.init: statistics against the formulas, parity with torch.nn.init, errors, device/dtype."""

import functools
import math

import numpy as np
import pytest
import torch
from torch import nn

from dnncourse import activations, init
from dnncourse.exercises.initialization import relu_variances
from dnncourse.lab.models import mlp

# (fan_in, fan_out) of the big test weight: 1000 x 1000 samples give tight statistics.
SHAPE = (1000, 1000)
N = SHAPE[0] * SHAPE[1]


def assert_mean_std(w: torch.Tensor, std: float, uniform: bool = False) -> None:
    """Sample mean ~ 0 and sample variance ~ std^2 within 5 standard errors of each estimate."""
    w = w.double().flatten()
    # standard error of the mean: std / sqrt(N); of the variance: std^2 sqrt((kurtosis - 1) / N),
    # with kurtosis 3 for a normal and 9/5 for a uniform distribution.
    kurtosis = 9 / 5 if uniform else 3.0
    assert abs(w.mean().item()) < 5 * std / math.sqrt(N)
    assert abs(w.var().item() - std**2) < 5 * std**2 * math.sqrt((kurtosis - 1) / N)


# Each case: (our function, keyword arguments, torch's function, its keyword arguments, expected std,
# uniform?). Expected stds are written from the papers' formulas, not from either implementation.
fan_in, fan_out = SHAPE[1], SHAPE[0]
CASES = [
    ("xavier_normal", init.xavier_normal_, {}, nn.init.xavier_normal_, {}, math.sqrt(2 / (fan_in + fan_out)), False),
    ("xavier_uniform", init.xavier_uniform_, {}, nn.init.xavier_uniform_, {}, math.sqrt(2 / (fan_in + fan_out)), True),
    (
        "xavier_normal_tanh",
        init.xavier_normal_,
        {"gain": 5 / 3},
        nn.init.xavier_normal_,
        {"gain": 5 / 3},
        5 / 3 * math.sqrt(2 / (fan_in + fan_out)),
        False,
    ),
    (
        "kaiming_normal",
        init.kaiming_normal_,
        {},
        nn.init.kaiming_normal_,
        {"nonlinearity": "relu"},
        math.sqrt(2 / fan_in),
        False,
    ),
    (
        "kaiming_uniform",
        init.kaiming_uniform_,
        {},
        nn.init.kaiming_uniform_,
        {"nonlinearity": "relu"},
        math.sqrt(2 / fan_in),
        True,
    ),
    (
        "kaiming_normal_fan_out_leaky",
        init.kaiming_normal_,
        {"a": 0.2, "mode": "fan_out", "nonlinearity": "leaky_relu"},
        nn.init.kaiming_normal_,
        {"a": 0.2, "mode": "fan_out", "nonlinearity": "leaky_relu"},
        math.sqrt(2 / (1 + 0.2**2) / fan_out),
        False,
    ),
    (
        "lecun_normal",
        init.lecun_normal_,
        {},
        nn.init.kaiming_normal_,
        {"nonlinearity": "linear"},
        math.sqrt(1 / fan_in),
        False,
    ),
    (
        "lecun_uniform",
        init.lecun_uniform_,
        {},
        nn.init.kaiming_uniform_,
        {"nonlinearity": "linear"},
        math.sqrt(1 / fan_in),
        True,
    ),
    ("normal", init.normal_, {"std": 0.01}, nn.init.normal_, {"std": 0.01}, 0.01, False),
    ("uniform", init.uniform_, {"a": -0.5, "b": 0.5}, nn.init.uniform_, {"a": -0.5, "b": 0.5}, math.sqrt(1 / 12), True),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, ours, kwargs, theirs, their_kwargs, std, uniform", CASES, ids=IDS)
def test_statistics_match_formula(name, ours, kwargs, theirs, their_kwargs, std, uniform):
    w = torch.empty(SHAPE)
    torch.manual_seed(0)
    out = ours(w, **kwargs)
    assert out is w  # in place, returns its argument
    assert_mean_std(w, std, uniform)


@pytest.mark.parametrize("name, ours, kwargs, theirs, their_kwargs, std, uniform", CASES, ids=IDS)
def test_same_draws_as_torch(name, ours, kwargs, theirs, their_kwargs, std, uniform):
    shape = (64, 32, 3, 3)  # a convolution weight: the fans include the receptive field
    torch.manual_seed(1)
    w_ours = ours(torch.empty(shape), **kwargs)
    torch.manual_seed(1)
    w_torch = theirs(torch.empty(shape), **their_kwargs)
    # The same sampling call with the same scale from the same seed: identical tensors.
    assert torch.equal(w_ours, w_torch)


def test_uniform_bounds_respected():
    w = torch.empty(SHAPE)
    torch.manual_seed(0)
    init.xavier_uniform_(w)
    a = math.sqrt(6 / (fan_in + fan_out))
    assert w.abs().max().item() <= a
    assert w.abs().max().item() > 0.99 * a  # and the range is used, not a narrower one


def test_generator_argument_gives_reproducible_draws():
    for fn in (
        init.xavier_normal_,
        init.xavier_uniform_,
        init.kaiming_normal_,
        init.kaiming_uniform_,
        init.lecun_normal_,
        init.lecun_uniform_,
        init.normal_,
        init.uniform_,
    ):
        a = fn(torch.empty(20, 30), generator=torch.Generator().manual_seed(3))
        b = fn(torch.empty(20, 30), generator=torch.Generator().manual_seed(3))
        c = fn(torch.empty(20, 30), generator=torch.Generator().manual_seed(4))
        assert torch.equal(a, b)
        assert not torch.equal(a, c)


@pytest.mark.parametrize("shape", [(7, 5), (8, 3, 5), (16, 4, 3, 3), (6, 2, 3, 4, 5), (1, 9)])
def test_fans_match_torch(shape):
    w = torch.empty(shape)
    assert init.calculate_fan_in_and_fan_out(w) == nn.init._calculate_fan_in_and_fan_out(w)


def test_fans_of_conv_weight_by_hand():
    conv = nn.Conv2d(in_channels=3, out_channels=8, kernel_size=(5, 4))
    assert init.calculate_fan_in_and_fan_out(conv.weight) == (3 * 5 * 4, 8 * 5 * 4)


def test_fans_of_1d_tensor_raise_naming_shape():
    with pytest.raises(ValueError, match=r"\(5,\)"):
        init.calculate_fan_in_and_fan_out(torch.empty(5))
    with pytest.raises(ValueError, match="shape"):
        init.xavier_uniform_(torch.empty(5))


@pytest.mark.parametrize(
    "nonlinearity, param",
    [
        ("linear", None),
        ("conv1d", None),
        ("conv2d", None),
        ("conv3d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", 1),
        ("selu", None),
    ],
)
def test_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(nn.init.calculate_gain(nonlinearity, param))


def test_gain_values_by_hand():
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu", 0.5) == pytest.approx(math.sqrt(2 / 1.25))
    assert init.calculate_gain("selu") == pytest.approx(0.75)


def test_unknown_nonlinearity_raises_naming_it():
    with pytest.raises(ValueError, match="swish"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="swish"):
        init.kaiming_normal_(torch.empty(4, 4), nonlinearity="swish")
    with pytest.raises(ValueError, match="slope"):
        init.calculate_gain("leaky_relu", "0.1")


def test_bad_mode_raises():
    with pytest.raises(ValueError, match="fan_avg"):
        init.kaiming_normal_(torch.empty(4, 4), mode="fan_avg")
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(torch.empty(4, 4), mode="in")


def test_bad_basic_arguments_raise():
    with pytest.raises(ValueError, match="std"):
        init.normal_(torch.empty(3), std=-1.0)
    with pytest.raises(ValueError, match="a <= b"):
        init.uniform_(torch.empty(3), a=1.0, b=0.0)


def test_constant_fills():
    w = torch.empty(3, 4)
    assert init.constant_(w, 0.25) is w and torch.all(w == 0.25)
    assert torch.all(init.zeros_(w) == 0)
    assert torch.all(init.ones_(w) == 1)


ALL_INITIALIZERS = [
    init.zeros_,
    init.ones_,
    functools.partial(init.constant_, val=2.0),
    init.normal_,
    init.uniform_,
    init.lecun_normal_,
    init.lecun_uniform_,
    init.xavier_normal_,
    init.xavier_uniform_,
    init.kaiming_normal_,
    init.kaiming_uniform_,
]


DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.mark.parametrize("fn", ALL_INITIALIZERS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_keeps_device_and_dtype_and_works_on_parameters(fn, dtype, device):
    layer = nn.Linear(6, 4).to(device=device, dtype=dtype)
    w = fn(layer.weight)
    assert w is layer.weight  # in place on the parameter (no autograd error thanks to no_grad)
    assert w.dtype == dtype and w.device.type == device
    assert w.requires_grad  # still a trainable parameter


def test_float64_statistics():
    w = torch.empty(SHAPE, dtype=torch.float64)
    torch.manual_seed(0)
    init.kaiming_normal_(w)
    assert w.dtype == torch.float64
    assert_mean_std(w, math.sqrt(2 / fan_in))


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.norm = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):  # (batch, 1, 8, 8) -> (batch, 10)
        h = torch.relu(self.norm(self.conv(x)))
        return self.fc(h.flatten(1))  # (batch, 4, 6, 6) -> (batch, 144)


@pytest.mark.parametrize("scheme", sorted(init.SCHEMES))
def test_init_model_by_name_matches_per_layer_calls(scheme):
    model = SmallCNN()
    torch.manual_seed(5)
    assert init.init_model_(model, scheme, nonlinearity="tanh") is model
    # model.apply visits children in registration order: conv, norm, fc (then the model itself)
    expected = SmallCNN()
    torch.manual_seed(5)
    for layer in (expected.conv, expected.fc):
        init.SCHEMES[scheme](layer.weight, "tanh")
    for layer in (model.conv, model.fc):
        assert torch.all(layer.bias == 0)
    torch.testing.assert_close(model.conv.weight, expected.conv.weight)
    torch.testing.assert_close(model.fc.weight, expected.fc.weight)
    # the normalization layer keeps its scale 1 and shift 0
    assert torch.all(model.norm.weight == 1) and torch.all(model.norm.bias == 0)


def test_init_model_named_scheme_statistics():
    model = mlp(500, [800, 800], 10)
    torch.manual_seed(0)
    init.init_model_(model, "xavier_uniform", nonlinearity="tanh")
    w = model.blocks[1].linear.weight
    std = 5 / 3 * math.sqrt(2 / (800 + 800))
    assert abs(w.double().std().item() - std) < 0.01 * std


def test_init_model_with_callable_and_errors():
    model = mlp(3, [4, 4], 2)
    init.init_model_(model, functools.partial(init.constant_, val=0.5))
    for module in model.modules():
        if isinstance(module, nn.Linear):
            assert torch.all(module.weight == 0.5) and torch.all(module.bias == 0)
    with pytest.raises(ValueError, match="he_normal"):
        init.init_model_(model, "he_normal")
    with pytest.raises(ValueError, match="swish"):
        init.init_model_(model, "kaiming_normal", nonlinearity="swish")
    with pytest.raises(ValueError, match="scheme"):
        init.init_model_(model, 3)


def test_mlp_accepts_our_initializers():
    torch.manual_seed(0)
    model = mlp(1000, [1000], 10, init=init.kaiming_normal_)
    w = model.blocks[0].linear.weight
    assert abs(w.double().std().item() - math.sqrt(2 / 1000)) < 0.01 * math.sqrt(2 / 1000)
    assert torch.all(model.blocks[0].linear.bias == 0)
    model = mlp(8, [8], 2, init=functools.partial(init.xavier_uniform_, gain=init.calculate_gain("tanh")))
    bound = 5 / 3 * math.sqrt(6 / 16)
    assert model.blocks[0].linear.weight.abs().max().item() <= bound


# ---------------------------------------------------------------------------------------------------
# The chapter's graded exercises (dnncourse/exercises/initialization.py): the library passes them, and
# the classic mistakes fail them.
# ---------------------------------------------------------------------------------------------------

from dnncourse.exercises import evaluate_function, get  # noqa: E402


def _seed_xavier_missing_sqrt(tensor, gain=1.0):
    fan_in, fan_out = init.calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0) / (fan_in + fan_out)  # the square root stops too early
    with torch.no_grad():
        return tensor.uniform_(-a, a)


def _xavier_normal_instead(tensor, gain=1.0):
    return init.xavier_normal_(tensor, gain=gain)


def _he_with_fans_swapped(tensor, mode="fan_in"):
    return init.kaiming_normal_(tensor, mode="fan_out" if mode == "fan_in" else "fan_in")


def _he_uniform_instead(tensor, mode="fan_in"):
    return init.kaiming_uniform_(tensor, mode=mode)


def _he_variance_as_std(tensor, mode="fan_in"):
    fan_in, fan_out = init.calculate_fan_in_and_fan_out(tensor)
    with torch.no_grad():
        return tensor.normal_(0.0, 2.0 / (fan_in if mode == "fan_in" else fan_out))


def _he_not_returned(tensor, mode="fan_in"):
    init.kaiming_normal_(tensor, mode=mode)


def _fans_without_kernel(tensor):
    return tensor.shape[1], tensor.shape[0]


@pytest.mark.parametrize(
    "exercise_id, reference",
    [
        ("fan_in_and_fan_out", init.calculate_fan_in_and_fan_out),
        ("xavier_uniform", init.xavier_uniform_),
        ("kaiming_normal", init.kaiming_normal_),
    ],
)
def test_exercises_pass_with_the_library(exercise_id, reference):
    for seed in range(5):
        verdict = evaluate_function(get(exercise_id), reference, seed=seed)
        assert verdict.status == "passed", verdict.messages


@pytest.mark.parametrize(
    "exercise_id, wrong, message",
    [
        ("fan_in_and_fan_out", _fans_without_kernel, "expected 75"),
        ("xavier_uniform", _seed_xavier_missing_sqrt, "bound"),
        ("xavier_uniform", _xavier_normal_instead, "outside the bound"),
        ("kaiming_normal", _he_with_fans_swapped, "standard deviation"),
        ("kaiming_normal", _he_uniform_instead, "two standard deviations"),
        ("kaiming_normal", _he_variance_as_std, "standard deviation"),
        ("kaiming_normal", _he_not_returned, "returned None"),
    ],
)
def test_exercises_reject_classic_mistakes(exercise_id, wrong, message):
    verdict = evaluate_function(get(exercise_id), wrong, seed=0)
    assert verdict.status == "failed"
    assert any(message in m for m in verdict.messages), verdict.messages


def _relu_variances_with_var_instead_of_second_moment(x_mean, x_var, fan_ins, weight_stds):
    return relu_variances(0.0, x_var, fan_ins, weight_stds)  # forgets the inputs' mean


def _relu_variances_without_halving(x_mean, x_var, fan_ins, weight_stds):
    second_moment, out = x_var + x_mean**2, []
    for n, sigma in zip(fan_ins, weight_stds):
        out.append(n * sigma**2 * second_moment)
        second_moment = out[-1]  # as if ReLU kept the whole signal
    return np.array(out)


def _relu_variances_std_as_variance(x_mean, x_var, fan_ins, weight_stds):
    return relu_variances(x_mean, x_var, fan_ins, np.sqrt(weight_stds))  # sigma used where sigma^2 belongs


def test_relu_variances_exercise_passes_with_the_reference_and_rejects_mistakes():
    exercise = get("relu_variances")
    for seed in range(5):
        assert evaluate_function(exercise, relu_variances, seed=seed).status == "passed"
    for wrong in (
        _relu_variances_with_var_instead_of_second_moment,
        _relu_variances_without_halving,
        _relu_variances_std_as_variance,
    ):
        verdict = evaluate_function(exercise, wrong, seed=0)
        assert verdict.status == "failed", wrong.__name__
        assert any("expected" in message for message in verdict.messages)

    def stub(x_mean, x_var, fan_ins, weight_stds):
        raise NotImplementedError("Exercise relu_variances: replace this line with your code")

    assert evaluate_function(exercise, stub).status == "not-attempted"


def test_relu_variances_match_a_simulation_of_random_relu_networks():
    """E[z^2] of every layer over many independent networks and inputs: the formula holds in expectation."""
    fan_ins, x_mean, x_std = [20, 48, 32], 1.5, 0.7
    widths = [*fan_ins[1:], 16]  # layer l has fan_ins[l] inputs and widths[l] units
    weight_stds = np.array([0.3, 0.25, 0.2])
    trials = 20_000
    g = torch.Generator().manual_seed(0)
    a = x_mean + x_std * torch.randn(trials, fan_ins[0], generator=g, dtype=torch.float64)  # (T, n0)
    measured = []
    for n_in, n_out, sigma in zip(fan_ins, widths, weight_stds):
        W = sigma * torch.randn(trials, n_out, n_in, generator=g, dtype=torch.float64)  # one network per trial
        z = torch.einsum("toi,ti->to", W, a)  # (T, n_out)
        measured.append(z.pow(2).mean().item())  # E[z^2] = Var(z): z has mean 0
        a = torch.relu(z)
    predicted = relu_variances(x_mean, x_std**2, np.array(fan_ins), weight_stds)
    np.testing.assert_allclose(measured, predicted, rtol=0.03)


# ---------------------------------------------------------------------------------------------------
# Orthogonal initialization
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 6), (9, 4), (4, 9), (8, 3, 3, 3), (5, 2, 7)])
@pytest.mark.parametrize("gain", [1.0, 1.7])
def test_orthogonal_draws_the_same_tensor_as_torch(shape, gain):
    ours = init.orthogonal_(torch.empty(shape), gain=gain, generator=torch.Generator().manual_seed(3))
    theirs = nn.init.orthogonal_(torch.empty(shape), gain=gain, generator=torch.Generator().manual_seed(3))
    assert torch.equal(ours, theirs)
    torch.manual_seed(5)  # the global generator too
    ours = init.orthogonal_(torch.empty(shape, dtype=torch.float64), gain=gain)
    torch.manual_seed(5)
    assert torch.equal(ours, nn.init.orthogonal_(torch.empty(shape, dtype=torch.float64), gain=gain))


@pytest.mark.parametrize("shape", [(7, 7), (12, 5), (5, 12), (6, 2, 3, 3)])
def test_orthogonal_rows_or_columns_are_orthonormal_and_singular_values_equal_the_gain(shape):
    gain = 1.3
    W = init.orthogonal_(torch.empty(shape, dtype=torch.float64), gain=gain).reshape(shape[0], -1)  # (rows, cols)
    rows, cols = W.shape
    gram = W.T @ W if rows >= cols else W @ W.T  # (k, k), k = min(rows, cols)
    torch.testing.assert_close(gram, gain**2 * torch.eye(min(rows, cols), dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(
        torch.linalg.svdvals(W), torch.full((min(rows, cols),), gain, dtype=torch.float64), atol=1e-12, rtol=0
    )


def test_orthogonal_products_keep_every_singular_value_where_gaussian_products_spread_them():
    n, depth = 32, 20
    g = torch.Generator().manual_seed(0)
    product_orthogonal = torch.eye(n, dtype=torch.float64)
    product_gaussian = torch.eye(n, dtype=torch.float64)
    for _ in range(depth):
        product_orthogonal = init.orthogonal_(torch.empty(n, n, dtype=torch.float64), generator=g) @ product_orthogonal
        product_gaussian = init.lecun_normal_(torch.empty(n, n, dtype=torch.float64), generator=g) @ product_gaussian
    s_orthogonal = torch.linalg.svdvals(product_orthogonal)
    s_gaussian = torch.linalg.svdvals(product_gaussian)
    torch.testing.assert_close(s_orthogonal, torch.ones(n, dtype=torch.float64), atol=1e-10, rtol=0)
    assert s_gaussian.max() / s_gaussian.min() > 1e6  # the same variance per layer, yet a huge spread


def test_orthogonal_is_uniformly_distributed_not_biased_by_the_qr_sign_convention():
    """Haar measure: every entry has mean 0 (a QR factor without the sign correction need not)."""
    g = torch.Generator().manual_seed(1)
    draws = torch.stack([init.orthogonal_(torch.empty(3, 3, dtype=torch.float64), generator=g) for _ in range(4000)])
    mean, se = draws.mean(dim=0), draws.std(dim=0) / math.sqrt(len(draws))  # (3, 3) each
    assert torch.all(mean.abs() < 5 * se), mean


def test_orthogonal_errors_and_edge_cases():
    with pytest.raises(ValueError, match=r"tensor must have at least 2 dimensions.*\(5,\)"):
        init.orthogonal_(torch.empty(5))
    with pytest.raises(ValueError, match="gain must be a number"):
        init.orthogonal_(torch.empty(3, 3), gain="2")
    with pytest.raises(ValueError, match=r"generator must be on the tensors' device \(meta\)"):
        init.orthogonal_(torch.empty(3, 4, device="meta"), generator=torch.Generator())
    empty = torch.empty(0, 3)
    assert init.orthogonal_(empty) is empty
    weight = nn.Linear(4, 3).weight  # a parameter: filled in place, without autograd complaining
    assert init.orthogonal_(weight) is weight and weight.requires_grad


# ---------------------------------------------------------------------------------------------------
# The variance map q -> sigma_w^2 E[phi(z)^2]
# ---------------------------------------------------------------------------------------------------


def test_variance_map_closed_forms():
    q = torch.tensor([0.0, 0.3, 1.0, 4.0, 50.0], dtype=torch.float64)
    torch.testing.assert_close(init.variance_map(q, activations.relu, 2.0), q, rtol=1e-9, atol=1e-12)  # He
    torch.testing.assert_close(init.variance_map(q, lambda z: z, 0.5), 0.5 * q, rtol=1e-9, atol=1e-12)
    # SELU's constants make (mean 0, variance 1) a fixed point with LeCun weights (Klambauer et al., 2017).
    assert abs(init.variance_map(1.0, activations.selu).item() - 1.0) < 1e-9
    assert init.variance_map(q, activations.tanh).shape == q.shape


@pytest.mark.parametrize("phi", [activations.tanh, activations.selu, activations.gelu], ids=lambda f: f.__name__)
def test_variance_map_matches_monte_carlo(phi):
    q, sigma_w2 = 2.5, 1.7
    z = math.sqrt(q) * torch.randn(2_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    samples = sigma_w2 * phi(z) ** 2
    standard_error = samples.std().item() / math.sqrt(len(samples))
    assert abs(init.variance_map(q, phi, sigma_w2).item() - samples.mean().item()) < 5 * standard_error


def test_variance_map_bad_arguments():
    with pytest.raises(ValueError, match="q must hold finite variances >= 0"):
        init.variance_map(-1.0, activations.tanh)
    with pytest.raises(ValueError, match="q must hold finite variances >= 0"):
        init.variance_map(float("nan"), activations.tanh)
    with pytest.raises(ValueError, match="sigma_w2 must be a number >= 0, got -2"):
        init.variance_map(1.0, activations.tanh, -2)


def test_init_model_draws_from_the_given_generator_and_leaves_the_global_one_alone():
    model = SmallCNN()
    state = torch.get_rng_state()
    init.init_model_(model, "kaiming_normal", nonlinearity="relu", generator=torch.Generator().manual_seed(9))
    assert torch.equal(torch.get_rng_state(), state)
    generator = torch.Generator().manual_seed(9)  # the same draws, layer by layer, with torch.nn.init
    for layer in (model.conv, model.fc):
        expected = nn.init.kaiming_normal_(torch.empty_like(layer.weight), nonlinearity="relu", generator=generator)
        torch.testing.assert_close(layer.weight, expected, rtol=0, atol=0)
    init.init_model_(model, "orthogonal", nonlinearity="linear", generator=torch.Generator().manual_seed(2))
    W = model.fc.weight.detach().double()  # (10, 144): orthonormal rows
    torch.testing.assert_close(W @ W.T, torch.eye(10, dtype=torch.float64), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="generator is used with a scheme name only"):
        init.init_model_(model, init.zeros_, generator=torch.Generator())
    with pytest.raises(ValueError, match=r"generator must be on the tensors' device \(meta\)"):
        init.init_model_(SmallCNN().to("meta"), "xavier_normal", generator=torch.Generator())
