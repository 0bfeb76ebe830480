"""dnncourse.optim: every optimizer follows the same trajectory as its torch.optim counterpart."""

import copy

import pytest
import torch

from dnncourse import optim

# (name, our class, torch class, keyword arguments given to both)
PAIRS = [
    ("sgd", optim.SGD, torch.optim.SGD, dict(lr=0.05)),
    ("sgd-wd", optim.SGD, torch.optim.SGD, dict(lr=0.05, weight_decay=0.1)),
    ("momentum", optim.Momentum, torch.optim.SGD, dict(lr=0.02, momentum=0.9)),
    (
        "momentum-damp-wd",
        optim.Momentum,
        torch.optim.SGD,
        dict(lr=0.02, momentum=0.8, dampening=0.3, weight_decay=0.01),
    ),
    ("nesterov", optim.Nesterov, torch.optim.SGD, dict(lr=0.02, momentum=0.9, nesterov=True)),
    ("nesterov-wd", optim.Nesterov, torch.optim.SGD, dict(lr=0.02, momentum=0.7, nesterov=True, weight_decay=0.05)),
    ("adagrad", optim.AdaGrad, torch.optim.Adagrad, dict(lr=0.1)),
    (
        "adagrad-init-wd",
        optim.AdaGrad,
        torch.optim.Adagrad,
        dict(lr=0.1, initial_accumulator_value=0.5, weight_decay=0.01, eps=1e-6),
    ),
    ("rmsprop", optim.RMSProp, torch.optim.RMSprop, dict(lr=0.01)),
    ("rmsprop-hinton", optim.RMSProp, torch.optim.RMSprop, dict(lr=0.005, alpha=0.9, weight_decay=0.01)),
    ("rmsprop-momentum", optim.RMSProp, torch.optim.RMSprop, dict(lr=0.002, momentum=0.9)),
    ("rmsprop-centered", optim.RMSProp, torch.optim.RMSprop, dict(lr=0.002, centered=True, momentum=0.5)),
    ("adam", optim.Adam, torch.optim.Adam, dict(lr=0.01)),
    ("adam-wd", optim.Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adamw", optim.AdamW, torch.optim.AdamW, dict(lr=0.01)),
    ("adamw-strong", optim.AdamW, torch.optim.AdamW, dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.3)),
]


def _drop_torch_only(cls, kwargs):
    """``nesterov=True`` is how torch spells our Nesterov class; ours takes no such argument."""
    return {k: v for k, v in kwargs.items() if k != "nesterov"}


def least_squares(seed=0, dtype=torch.float64, device="cpu"):
    """A random least-squares problem with three parameter tensors of different shapes."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(40, 6, generator=g, dtype=dtype)
    Y = torch.randn(40, 3, generator=g, dtype=dtype)
    params = [
        torch.randn(6, 5, generator=g, dtype=dtype) * 0.5,
        torch.randn(5, 3, generator=g, dtype=dtype) * 0.5,
        torch.randn(3, generator=g, dtype=dtype) * 0.1,
    ]
    params = [p.to(device).requires_grad_() for p in params]
    X, Y = X.to(device), Y.to(device)

    def loss_fn(W1, W2, b):
        return ((torch.tanh(X @ W1) @ W2 + b - Y) ** 2).mean()

    return params, loss_fn


def run(optimizer_factory, steps, seed=0, params=None, loss_fn=None, lr_at=None):
    if params is None:
        params, loss_fn = least_squares(seed)
    optimizer = optimizer_factory(params)
    trajectory, losses = [], []
    for k in range(steps):
        if lr_at is not None and k in lr_at:
            for group in optimizer.param_groups:
                group["lr"] = lr_at[k]
        optimizer.zero_grad()
        loss = loss_fn(*params)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        trajectory.append(torch.cat([p.detach().flatten() for p in params]).clone())
    return torch.stack(trajectory), losses


def assert_same(a, b, rtol=1e-12):
    scale = b.abs().max()
    assert (a - b).abs().max() <= rtol * scale, float((a - b).abs().max() / scale)


@pytest.mark.parametrize("name, ours, theirs, kwargs", PAIRS, ids=[p[0] for p in PAIRS])
def test_trajectory_equals_torch(name, ours, theirs, kwargs):
    for seed in (0, 1):
        mine, _ = run(lambda p: ours(p, **_drop_torch_only(ours, kwargs)), steps=60, seed=seed)
        ref, _ = run(lambda p: theirs(p, foreach=False, **kwargs), steps=60, seed=seed)
        assert not torch.equal(mine[0], mine[-1])  # it moved
        assert_same(mine, ref)


@pytest.mark.parametrize("name, ours, theirs, kwargs", PAIRS, ids=[p[0] for p in PAIRS])
def test_loss_goes_down(name, ours, theirs, kwargs):
    _, losses = run(lambda p: ours(p, **_drop_torch_only(ours, kwargs)), steps=60)
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("name, ours, theirs, kwargs", PAIRS, ids=[p[0] for p in PAIRS])
def test_state_dict_round_trip(name, ours, theirs, kwargs):
    kwargs = _drop_torch_only(ours, kwargs)
    reference, _ = run(lambda p: ours(p, **kwargs), steps=30)

    params, loss_fn = least_squares(0)
    first = ours(params, **kwargs)
    for _ in range(12):
        first.zero_grad()
        loss_fn(*params).backward()
        first.step()
    saved = copy.deepcopy(first.state_dict())
    del first
    second = ours(params, **kwargs)
    second.load_state_dict(saved)
    trajectory = []
    for _ in range(18):
        second.zero_grad()
        loss_fn(*params).backward()
        second.step()
        trajectory.append(torch.cat([p.detach().flatten() for p in params]).clone())
    torch.testing.assert_close(torch.stack(trajectory), reference[12:], rtol=0, atol=0)


@pytest.mark.parametrize("name, ours, theirs, kwargs", PAIRS[::2], ids=[p[0] for p in PAIRS[::2]])
def test_param_groups_with_different_lrs(name, ours, theirs, kwargs):
    kwargs = _drop_torch_only(ours, kwargs)
    lr = kwargs.pop("lr")

    def groups(p):
        return [{"params": p[:2], "lr": lr}, {"params": p[2:], "lr": lr / 3}]

    params, loss_fn = least_squares(3)
    params_ref = [p.detach().clone().requires_grad_() for p in params]
    mine, _ = run(lambda p: ours(groups(p), **kwargs), steps=50, params=params, loss_fn=loss_fn)
    torch_kwargs = dict(kwargs, nesterov=True) if ours is optim.Nesterov else kwargs
    ref, _ = run(
        lambda p: theirs(groups(p), foreach=False, **torch_kwargs), steps=50, params=params_ref, loss_fn=loss_fn
    )
    assert_same(mine, ref)


def test_closure_returns_loss_and_matches_torch():
    params, loss_fn = least_squares(4)
    params_ref = [p.detach().clone().requires_grad_() for p in params]
    ours, theirs = optim.Adam(params, lr=0.01), torch.optim.Adam(params_ref, lr=0.01, foreach=False)
    for _ in range(5):

        def closure(p=params, o=ours):
            o.zero_grad()
            loss = loss_fn(*p)
            loss.backward()
            return loss

        def closure_ref(p=params_ref, o=theirs):
            o.zero_grad()
            loss = loss_fn(*p)
            loss.backward()
            return loss

        a, b = ours.step(closure), theirs.step(closure_ref)
        assert a.item() == pytest.approx(b.item(), rel=1e-12)
    for p, q in zip(params, params_ref):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=0)


def test_textbook_momentum_equals_pytorch_for_constant_lr_and_differs_after_change():
    def pytorch(p):
        return optim.Momentum(p, lr=0.02, momentum=0.9)

    def textbook(p):
        return optim.Momentum(p, lr=0.02, momentum=0.9, formulation="textbook")

    a, _ = run(pytorch, steps=60)
    b, _ = run(textbook, steps=60)
    assert_same(b, a)
    # after the learning rate is cut at step 30, the two formulations part ways
    a, _ = run(pytorch, steps=60, lr_at={30: 0.002})
    b, _ = run(textbook, steps=60, lr_at={30: 0.002})
    assert_same(b[:30], a[:30])
    assert (b[30] - a[30]).abs().max() > 1e-3
    # and the PyTorch one still equals torch.optim.SGD with the same schedule
    c, _ = run(lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9, foreach=False), steps=60, lr_at={30: 0.002})
    assert_same(a, c)


def test_textbook_momentum_is_the_textbook_recursion():
    """One parameter, hand-computed: v = mu v - lr g, theta = theta + v (Sutskever et al. 2013)."""
    theta = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    opt = optim.Momentum([theta], lr=0.1, momentum=0.5, formulation="textbook")
    expected_theta, v = 1.0, 0.0
    for _ in range(4):
        opt.zero_grad()
        (theta**2).sum().backward()  # g = 2 theta
        opt.step()
        v = 0.5 * v - 0.1 * 2 * expected_theta
        expected_theta += v
        assert theta.item() == pytest.approx(expected_theta, rel=1e-14)


def test_nesterov_equals_lookahead_form_on_a_quadratic():
    """PyTorch's Nesterov parameter is the look-ahead point theta + mu v of the textbook form."""
    A = torch.tensor([[3.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    lr, mu = 0.1, 0.9
    phi = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = optim.Nesterov([phi], lr=lr, momentum=mu)
    theta, v = phi.detach().clone(), torch.zeros(2, dtype=torch.float64)
    for _ in range(30):
        opt.zero_grad()
        (0.5 * phi @ A @ phi).backward()
        opt.step()
        v = mu * v - lr * A @ (theta + mu * v)  # gradient at the look-ahead point
        theta = theta + v
        torch.testing.assert_close(phi.detach(), theta + mu * v, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "make, argument, value",
    [
        (lambda p: optim.SGD(p, lr=-0.1), "lr", "-0.1"),
        (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "weight_decay", "-1"),
        (lambda p: optim.Momentum(p, lr=0.1, momentum=-0.5), "momentum", "-0.5"),
        (lambda p: optim.Momentum(p, lr=0.1, dampening=1.5), "dampening", "1.5"),
        (lambda p: optim.Momentum(p, lr=0.1, formulation="keras"), "formulation", "keras"),
        (lambda p: optim.Momentum(p, lr=0.1, dampening=0.1, formulation="textbook"), "dampening", "0.1"),
        (lambda p: optim.Nesterov(p, lr=0.1, momentum=0.0), "momentum", "0.0"),
        (lambda p: optim.AdaGrad(p, eps=0.0), "eps", "0.0"),
        (lambda p: optim.AdaGrad(p, initial_accumulator_value=-1.0), "initial_accumulator_value", "-1.0"),
        (lambda p: optim.RMSProp(p, alpha=1.0), "alpha", "1.0"),
        (lambda p: optim.RMSProp(p, eps=-1e-8), "eps", "-1e-08"),
        (lambda p: optim.RMSProp(p, momentum=-0.9), "momentum", "-0.9"),
        (lambda p: optim.Adam(p, lr=float("nan")), "lr", "nan"),
        (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "beta1", "1.0"),
        (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "beta2", "-0.1"),
        (lambda p: optim.Adam(p, betas=0.9), "betas", "0.9"),
        (lambda p: optim.AdamW(p, eps=0), "eps", "0"),
        (lambda p: optim.AdamW(p, weight_decay=-0.01), "weight_decay", "-0.01"),
        (lambda p: optim.Adam(p, lr="0.1"), "lr", "'0.1'"),
    ],
)
def test_bad_hyper_parameters_raise_value_error_naming_them(make, argument, value):
    params = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError) as error:
        make(params)
    assert argument in str(error.value) and value in str(error.value)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name, ours, theirs, kwargs", PAIRS, ids=[p[0] for p in PAIRS])
def test_keeps_device_and_dtype(name, ours, theirs, kwargs, dtype):
    device = torch.device("cpu")
    theta = torch.randn(4, 3, dtype=dtype, device=device, requires_grad=True)
    opt = ours([theta], **_drop_torch_only(ours, kwargs))
    for _ in range(2):
        opt.zero_grad()
        (theta**2).sum().backward()
        opt.step()
    assert theta.dtype == dtype and theta.device == device
    for value in opt.state[theta].values():
        if isinstance(value, torch.Tensor):
            assert value.dtype == dtype and value.device == device and value.shape == theta.shape


def test_parameters_without_gradient_are_skipped():
    used = torch.ones(2, requires_grad=True)
    unused = torch.ones(2, requires_grad=True)
    opt = optim.Adam([used, unused], lr=0.1)
    (used**2).sum().backward()
    opt.step()
    assert torch.equal(unused, torch.ones(2)) and not torch.equal(used.detach(), torch.ones(2))
    assert len(opt.state[unused]) == 0
