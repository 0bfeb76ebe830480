"""Tests of dnncourse.activations: values and hand-written derivatives vs PyTorch and finite differences."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dnncourse import activations as A
from dnncourse.lab.models import mlp

# points away from the kink at 0, so finite differences are valid for every function
X = torch.cat([torch.linspace(-6, -0.05, 40), torch.linspace(0.05, 6, 40)]).double()

# name -> (ours, our derivative, torch's function)
CASES = {
    "sigmoid": (A.sigmoid, A.sigmoid_grad, torch.sigmoid),
    "tanh": (A.tanh, A.tanh_grad, torch.tanh),
    "relu": (A.relu, A.relu_grad, F.relu),
    "leaky_relu": (A.leaky_relu, A.leaky_relu_grad, F.leaky_relu),
    "leaky_relu_0.2": (
        lambda x: A.leaky_relu(x, 0.2),
        lambda x: A.leaky_relu_grad(x, 0.2),
        lambda x: F.leaky_relu(x, 0.2),
    ),
    "rrelu_eval": (A.rrelu, A.rrelu_grad, lambda x: F.rrelu(x, training=False)),
    "prelu": (
        lambda x: A.prelu(x, torch.tensor([0.25], dtype=x.dtype)),
        lambda x: A.prelu_grad(x, torch.tensor([0.25], dtype=x.dtype)),
        lambda x: F.prelu(x, torch.tensor([0.25], dtype=x.dtype)),
    ),
    "elu": (A.elu, A.elu_grad, F.elu),
    "elu_0.5": (lambda x: A.elu(x, 0.5), lambda x: A.elu_grad(x, 0.5), lambda x: F.elu(x, 0.5)),
    "selu": (A.selu, A.selu_grad, F.selu),
    "gelu": (A.gelu, A.gelu_grad, F.gelu),
    "gelu_tanh": (
        lambda x: A.gelu(x, "tanh"),
        lambda x: A.gelu_grad(x, "tanh"),
        lambda x: F.gelu(x, approximate="tanh"),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_values_match_torch(name):
    f, _, reference = CASES[name]
    torch.testing.assert_close(f(X), reference(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_derivative_matches_autograd(name):
    _, df, reference = CASES[name]
    x = X.clone().requires_grad_()
    (expected,) = torch.autograd.grad(reference(x).sum(), x)
    torch.testing.assert_close(df(X), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_derivative_matches_centred_finite_differences(name):
    f, df, _ = CASES[name]
    h = 1e-6
    numeric = (f(X + h) - f(X - h)) / (2 * h)
    torch.testing.assert_close(df(X), numeric, rtol=1e-6, atol=1e-8)


def test_selu_constants_match_torch():
    x = torch.tensor([-1e3, 1.0], dtype=torch.float64)  # selu(-inf) = -lambda * alpha, selu(1) = lambda
    y = F.selu(x)
    assert A.SELU_LAMBDA == pytest.approx(y[1].item(), rel=1e-15)
    assert A.SELU_LAMBDA * A.SELU_ALPHA == pytest.approx(-y[0].item(), rel=1e-15)
    assert A.SELU_LAMBDA == pytest.approx(1.0507, abs=1e-4) and A.SELU_ALPHA == pytest.approx(1.6733, abs=1e-4)


def test_sigmoid_and_tanh_derivative_bounds():
    x = torch.linspace(-10, 10, 10001, dtype=torch.float64)
    assert A.sigmoid_grad(x).max().item() == pytest.approx(0.25)
    assert A.tanh_grad(x).max().item() == pytest.approx(1.0)
    assert A.sigmoid_grad(torch.zeros(1)).item() == 0.25


def test_kink_conventions_follow_autograd():
    zero = torch.zeros(1, dtype=torch.float64)
    for df, f in [(A.relu_grad, F.relu), (A.leaky_relu_grad, F.leaky_relu), (A.elu_grad, F.elu), (A.selu_grad, F.selu)]:
        x = zero.clone().requires_grad_()
        (expected,) = torch.autograd.grad(f(x).sum(), x)
        torch.testing.assert_close(df(zero), expected)


def test_rrelu_train_and_eval():
    torch.manual_seed(0)
    module = A.RReLU()
    assert module.lower == pytest.approx(1 / 8) and module.upper == pytest.approx(1 / 3)
    x = -torch.rand(2000, dtype=torch.float64) - 0.1  # all negative
    module.eval()
    torch.testing.assert_close(module(x), F.leaky_relu(x, (1 / 8 + 1 / 3) / 2))
    torch.testing.assert_close(module(x), F.rrelu(x, training=False))
    module.train()
    slopes = module(x) / x
    assert slopes.min().item() >= 1 / 8 and slopes.max().item() <= 1 / 3
    assert slopes.std().item() > 0.05  # really random: U(1/8, 1/3) has std 0.06
    assert slopes.mean().item() == pytest.approx((1 / 8 + 1 / 3) / 2, abs=0.01)
    positive = torch.rand(10, dtype=torch.float64)
    torch.testing.assert_close(module(positive), positive)


def test_prelu_slope_gradient_matches_autograd():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 4, dtype=torch.float64)
    upstream = torch.randn(8, 3, 4, dtype=torch.float64)
    ours = A.PReLU(num_parameters=3).double()
    theirs = nn.PReLU(num_parameters=3).double()
    assert torch.equal(ours.weight, theirs.weight) and ours.weight[0].item() == 0.25
    torch.testing.assert_close(ours(x), theirs(x))
    (ours(x) * upstream).sum().backward()
    (theirs(x) * upstream).sum().backward()
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad)
    # the hand-written slope derivative, summed over the elements sharing each slope
    by_hand = (upstream * A.prelu_slope_grad(x)).sum(dim=(0, 2))
    torch.testing.assert_close(by_hand, theirs.weight.grad)
    torch.testing.assert_close(
        A.prelu_grad(x, ours.weight.detach()) * upstream,
        torch.autograd.grad((theirs(x.requires_grad_()) * upstream).sum(), x)[0],
    )


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "prelu"])
def test_modules_match_torch_modules(name):
    torch_modules = {
        "sigmoid": nn.Sigmoid,
        "tanh": nn.Tanh,
        "relu": nn.ReLU,
        "leaky_relu": nn.LeakyReLU,
        "elu": nn.ELU,
        "selu": nn.SELU,
        "gelu": nn.GELU,
        "prelu": nn.PReLU,
    }
    x = torch.randn(5, 7, dtype=torch.float64)
    ours, theirs = A.ACTIVATIONS[name].module().double(), torch_modules[name]().double()
    torch.testing.assert_close(ours(x), theirs(x))


def test_mlp_accepts_module_factories():
    model = mlp(4, [6, 6], 2, activation=A.ELU)
    assert all(isinstance(block.activation, A.ELU) for block in model.blocks)
    assert model(torch.randn(3, 4)).shape == (3, 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_and_dtype_kept(dtype):
    x = torch.randn(4, 3, dtype=dtype)
    functions = [
        A.sigmoid,
        A.sigmoid_grad,
        A.tanh_grad,
        A.relu_grad,
        A.leaky_relu_grad,
        A.rrelu_grad,
        A.elu_grad,
        A.selu_grad,
        A.gelu_grad,
        lambda t: A.gelu_grad(t, "tanh"),
        lambda t: A.rrelu(t, training=True),
        lambda t: A.prelu_grad(t, torch.tensor([0.25], dtype=dtype)),
    ]
    for f in functions:
        y = f(x)
        assert y.dtype == dtype and y.device == x.device and y.shape == x.shape
    for info in A.ACTIVATIONS.values():
        y = info.module().to(dtype)(x)
        assert y.dtype == dtype and y.device == x.device


def test_the_table_describes_each_module():
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    for name, info in A.ACTIVATIONS.items():
        assert info.name == name and issubclass(info.module, A.ActivationModule)
        torch.testing.assert_close(info.module().double().eval()(x), info.function(x))  # the default module
    torch.testing.assert_close(A.ACTIVATIONS["prelu"].function(x[:2]), 0.25 * x[:2])


# Every module of the table, differentiated by autograd at the kink 0 and at random points, must give the
# hand-written derivative: at 0 that is the library's stated convention (PyTorch's), which a forward
# written with torch.clamp or x >= 0 silently breaks.
@pytest.mark.parametrize("name", list(A.ACTIVATIONS))
def test_autograd_of_every_module_equals_its_derivative_at_zero_and_at_random_points(name):
    info = A.ACTIVATIONS[name]
    module = info.module().double().eval()  # eval: RReLU's slope is the mean, as rrelu_grad assumes
    generator = torch.Generator(device="cpu").manual_seed(0)
    x = torch.cat([torch.zeros(1, dtype=torch.float64), 4 * torch.randn(50, generator=generator, dtype=torch.float64)])
    x.requires_grad_()
    (autograd,) = torch.autograd.grad(module(x).sum(), x)
    expected = info.derivative(x.detach())
    torch.testing.assert_close(autograd[0], expected[0], rtol=1e-12, atol=1e-12, msg=f"{name}'(0)")
    torch.testing.assert_close(autograd, expected, rtol=1e-10, atol=1e-12)


def test_derivatives_at_zero_follow_pytorch():
    zero = torch.zeros(1, dtype=torch.float64)
    assert A.relu_grad(zero).item() == 0.0
    assert A.rrelu_grad(zero).item() == pytest.approx((1 / 8 + 1 / 3) / 2)  # the mean slope, as F.rrelu
    x = zero.clone().requires_grad_()
    (torch_rrelu,) = torch.autograd.grad(F.rrelu(x, training=False).sum(), x)
    assert A.rrelu_grad(zero).item() == pytest.approx(torch_rrelu.item())


def test_rrelu_training_slopes_come_from_the_given_generator():
    x = -torch.ones(1000, dtype=torch.float64)
    module = A.RReLU(generator=torch.Generator(device="cpu").manual_seed(4)).train()
    slopes = module(x) / x
    assert ((slopes >= 1 / 8) & (slopes <= 1 / 3)).all() and slopes.std() > 0.05
    again = A.rrelu(x, training=True, generator=torch.Generator(device="cpu").manual_seed(4)) / x
    torch.testing.assert_close(slopes, again)


def test_mlp_resolves_activation_names_through_the_table():
    for name, info in A.ACTIVATIONS.items():
        model = mlp(3, [4], 2, activation=name)
        assert type(model.blocks[0].activation) is info.module
    assert type(mlp(3, [4], 2, activation=A.ACTIVATIONS["elu"]).blocks[0].activation) is A.ELU
    assert isinstance(mlp(3, [4], 2, activation=None).blocks[0].activation, nn.Identity)
    with pytest.raises(ValueError, match="activation must be one of .*'swish'"):
        mlp(3, [4], 2, activation="swish")


def test_bad_arguments():
    with pytest.raises(ValueError, match="approximate"):
        A.gelu(X, "fast")
    with pytest.raises(ValueError, match="lower"):
        A.RReLU(lower=0.5, upper=0.1)
    with pytest.raises(ValueError, match="negative_slope"):
        A.LeakyReLU(-0.1)
    with pytest.raises(ValueError, match="num_parameters"):
        A.PReLU(0)
    with pytest.raises(ValueError, match="channels"):
        A.prelu(torch.randn(4, 5), torch.full((3,), 0.25))
    assert math.isfinite(A.elu(torch.tensor([-1e4])).item())
