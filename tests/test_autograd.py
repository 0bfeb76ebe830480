"""dnncourse.autograd against torch.autograd and centred finite differences."""

import numpy as np
import pytest
import torch

from dnncourse.autograd import AddGate, MultiplyGate, SigmoidGate, SinGate, Value, topological_order
from dnncourse.gradcheck import numerical_gradient, relative_error


def t64(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


# Unary operations: (our method name, torch function, input transform keeping the domain valid)
UNARY = {
    "exp": (lambda v: v.exp(), torch.exp),
    "log": (lambda v: (v * v + 0.5).log(), lambda t: torch.log(t * t + 0.5)),
    "sin": (lambda v: v.sin(), torch.sin),
    "tanh": (lambda v: v.tanh(), torch.tanh),
    "sigmoid": (lambda v: v.sigmoid(), torch.sigmoid),
    "relu": (lambda v: v.relu(), torch.relu),
    "square": (lambda v: v**2, lambda t: t**2),
    "cube": (lambda v: v**3, lambda t: t**3),
    "neg": (lambda v: -v, lambda t: -t),
}
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 1.0), lambda a, b: a / (b * b + 1.0)),
}


def random_expression(rng, n_leaves=3, n_ops=12, shape=(3,)):
    """Build the same random graph in both engines; later nodes reuse earlier ones (shared sub-expressions)."""
    data = [rng.standard_normal(shape) for _ in range(n_leaves)]
    ours = [Value(d) for d in data]
    theirs = [t64(d) for d in data]
    nodes_o, nodes_t = list(ours), list(theirs)
    for _ in range(n_ops):
        if rng.random() < 0.5:
            name = rng.choice(sorted(UNARY))
            i = rng.integers(len(nodes_o))
            f_o, f_t = UNARY[name]
            nodes_o.append(f_o(nodes_o[i]))
            nodes_t.append(f_t(nodes_t[i]))
        else:
            name = rng.choice(sorted(BINARY))
            i, j = rng.integers(len(nodes_o), size=2)  # i == j is allowed: x * x
            f_o, f_t = BINARY[name]
            nodes_o.append(f_o(nodes_o[i], nodes_o[j]))
            nodes_t.append(f_t(nodes_t[i], nodes_t[j]))
        # keep values moderate so that exp does not overflow after several compositions
        nodes_o[-1] = nodes_o[-1].tanh() * 2.0
        nodes_t[-1] = torch.tanh(nodes_t[-1]) * 2.0
    out_o = sum(nodes_o[n_leaves:], Value(0.0)).sum()  # every node contributes: many paths to each leaf
    out_t = sum(nodes_t[n_leaves:]).sum()
    return ours, theirs, out_o, out_t


@pytest.mark.parametrize("seed", range(20))
def test_random_expressions_match_torch(seed):
    rng = np.random.default_rng(seed)
    ours, theirs, out_o, out_t = random_expression(rng)
    out_o.backward()
    out_t.backward()
    assert out_o.item() == pytest.approx(out_t.item(), rel=1e-12)
    for v, t in zip(ours, theirs):  # torch leaves .grad as None for a leaf the output does not use
        expected = t.grad.numpy() if t.grad is not None else np.zeros_like(v.data)
        np.testing.assert_allclose(v.grad, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_each_unary_op_matches_torch(name):
    x = np.array([-1.3, -0.2, 0.4, 2.1])
    f_o, f_t = UNARY[name]
    v, t = Value(x), t64(x)
    f_o(v).sum().backward()
    f_t(t).sum().backward()
    np.testing.assert_allclose(v.grad, t.grad.numpy(), rtol=1e-12)


def test_shared_subexpression_gradients_are_summed():
    x = Value(3.0)
    f = x * x + x  # df/dx = 2x + 1 = 7: three paths to x
    f.backward()
    assert x.grad == pytest.approx(7.0)
    t = t64(3.0)
    (t * t + t).backward()
    assert x.grad == pytest.approx(t.grad.item())


def test_chapter_example_against_torch_and_finite_differences():
    x1, x2 = Value(2.0), Value(3.0)
    f = x1 * x2 + x2.sin()
    f.backward()
    t1, t2 = t64(2.0), t64(3.0)
    (t1 * t2 + torch.sin(t2)).backward()
    assert (x1.grad, x2.grad) == (pytest.approx(t1.grad.item()), pytest.approx(t2.grad.item()))
    numeric = numerical_gradient(lambda x: x[0] * x[1] + np.sin(x[1]), np.array([2.0, 3.0]))
    assert relative_error(np.array([x1.grad, x2.grad]), numeric) < 1e-9


def test_two_layer_network_with_matmul_matches_torch():
    rng = np.random.default_rng(0)
    X, W1, b1, W2, y = (rng.standard_normal(s) for s in [(5, 4), (4, 3), (3,), (3, 2), (5, 2)])
    ours = [Value(a) for a in (X, W1, b1, W2)]
    theirs = [t64(a) for a in (X, W1, b1, W2)]
    loss_o = (((ours[0] @ ours[1] + ours[2]).tanh() @ ours[3] - y) ** 2).mean()
    loss_t = ((torch.tanh(theirs[0] @ theirs[1] + theirs[2]) @ theirs[3] - torch.from_numpy(y)) ** 2).mean()
    loss_o.backward()
    loss_t.backward()
    assert loss_o.item() == pytest.approx(loss_t.item(), rel=1e-12)
    for v, t in zip(ours, theirs):  # b1 was broadcast over the 5 rows: its gradient sums them
        np.testing.assert_allclose(v.grad, t.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("shape", [(3, 4), (4,), (), (2, 3, 4)])
def test_transpose_matches_torch(shape):
    rng = np.random.default_rng(2)
    a = rng.standard_normal(shape)
    weights = rng.standard_normal(shape[::-1])  # a different weight per entry of the transpose
    v, t = Value(a), t64(a)
    (v.T * weights).sum().backward()
    (t.permute(tuple(reversed(range(t.ndim)))) * torch.from_numpy(weights)).sum().backward()
    assert v.T.shape == shape[::-1]
    np.testing.assert_array_equal(v.grad, t.grad.numpy())


def test_linear_layer_on_a_batch_with_transpose_matches_torch():
    rng = np.random.default_rng(3)
    x, W, b, dout = (rng.standard_normal(s) for s in [(5, 3), (2, 3), (2,), (5, 2)])
    xv, Wv, bv = Value(x), Value(W), Value(b)
    (xv @ Wv.T + bv).backward(dout)  # z = x W^T + b, with dL/dz given
    xt, Wt, bt = t64(x), t64(W), t64(b)
    (xt @ Wt.T + bt).backward(torch.from_numpy(dout))
    for ours, theirs in [(xv, xt), (Wv, Wt), (bv, bt)]:
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shapes", [((3, 4), (4, 2)), ((3, 4), (4,)), ((4,), (4, 2)), ((4,), (4,))])
def test_matmul_all_operand_ranks_match_torch(shapes):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    va, vb, ta, tb = Value(a), Value(b), t64(a), t64(b)
    (va @ vb).sin().sum().backward()
    torch.sin(ta @ tb).sum().backward()
    np.testing.assert_allclose(va.grad, ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(vb.grad, tb.grad.numpy(), rtol=1e-12)
    assert va.dot(vb).shape == (va @ vb).shape == va.matmul(vb).shape


def test_sum_and_mean_over_an_axis_match_torch():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 4))
    for axis in (0, 1, -1):
        v, t = Value(a), t64(a)
        (v.sum(axis).exp() + v.mean(axis) ** 2).sum().backward()
        (torch.exp(t.sum(axis)) + t.mean(axis) ** 2).sum().backward()
        np.testing.assert_allclose(v.grad, t.grad.numpy(), rtol=1e-12)


def test_constants_on_either_side_and_broadcasting():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((1, 3))
    va, vb, ta, tb = Value(a), Value(b), t64(a), t64(b)
    (2.0 - va / 3.0 + 1.5 / (vb**2 + 1.0) * va - 4.0 * vb).sum().backward()
    (2.0 - ta / 3.0 + 1.5 / (tb**2 + 1.0) * ta - 4.0 * tb).sum().backward()
    np.testing.assert_allclose(va.grad, ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(vb.grad, tb.grad.numpy(), rtol=1e-12)


def test_against_finite_differences_on_a_vector_function():
    rng = np.random.default_rng(4)
    x0 = rng.uniform(0.5, 1.5, 5)

    def f_value(v):
        return ((v * v.sin()).sigmoid() + (v + 1.0).log() * v.relu() - v.tanh() ** 3).mean()

    def f_numpy(x):
        return f_value(Value(x)).item()

    v = Value(x0)
    f_value(v).backward()
    assert relative_error(v.grad, numerical_gradient(f_numpy, x0)) < 1e-8


def test_long_chain_does_not_hit_recursion_limit():
    x = Value(0.5)
    y = x
    for _ in range(3000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001**3000)


def test_backward_accumulates_and_zero_grad_resets():
    x = Value(2.0)
    f = x**2
    f.backward()
    f.backward()
    assert x.grad == pytest.approx(8.0)  # 4 + 4: leaves accumulate, as in PyTorch
    f.zero_grad()
    assert x.grad == 0.0
    f.backward()
    assert x.grad == pytest.approx(4.0)


def test_topological_order_lists_parents_first():
    a, b = Value(1.0, "a"), Value(2.0, "b")
    c = a * b
    d = c + a
    order = topological_order(d)
    assert order[-1] is d
    position = {id(n): i for i, n in enumerate(order)}
    for node in order:
        for parent in node._parents:
            assert position[id(parent)] < position[id(node)]
    assert len(order) == len({id(n) for n in order})  # each node once, though a is used twice


def test_values_are_float64_copies():
    data = np.array([1, 2, 3])
    v = Value(data)
    data[0] = 100
    assert v.data.dtype == np.float64 and v.data[0] == 1.0


def test_relu_gradient_at_zero_is_zero_like_torch():
    v, t = Value(np.zeros(2)), t64(np.zeros(2))
    v.relu().sum().backward()
    torch.relu(t).sum().backward()
    np.testing.assert_array_equal(v.grad, t.grad.numpy())


def test_sigmoid_is_stable_for_large_inputs():
    v = Value(np.array([-800.0, 800.0]))
    s = v.sigmoid()
    s.sum().backward()
    np.testing.assert_array_equal(s.data, [0.0, 1.0])
    assert np.all(np.isfinite(v.grad))


# ------------------------------------------------------------------ errors
def test_pow_with_a_value_exponent_is_a_type_error():
    x, y = Value(2.0), Value(3.0)
    with pytest.raises(TypeError, match="pow: the exponent must be a constant"):
        x**y
    with pytest.raises(TypeError, match="pow"):
        2.0**y


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Value(np.array([1.0, 0.0])).log(), "log: the input must be positive"),
        (lambda: Value(-1.0).log(), "log"),
        (lambda: Value(1.0) / Value(0.0), "div: division by zero"),
        (lambda: Value(-2.0) ** 0.5, "pow: a fractional power"),
        (lambda: Value(0.0) ** -1, "pow: a negative power"),
        (lambda: Value(np.ones((2, 3))) @ Value(np.ones((2, 3))), "matmul: shapes"),
        (lambda: Value(np.ones((2, 2, 2))) @ Value(np.ones((2, 2))), "matmul: operands must be 1-D or 2-D"),
        (lambda: Value(np.ones(3)).sum(axis=2), "sum: axis 2"),
        (lambda: Value(np.ones(3)).backward(), "backward: grad must be given"),
        (lambda: Value(np.ones(3)).backward(np.ones(2)), "backward: grad has shape"),
        (lambda: Value(np.ones(2)).item(), "item"),
    ],
)
def test_unsupported_operations_raise_value_errors_naming_the_op(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_unsupported_operand_types_raise_type_errors():
    with pytest.raises(TypeError, match="add: unsupported operand of type str"):
        Value(1.0) + "a"
    with pytest.raises(TypeError, match="mul: unsupported operand of type dict"):
        Value(1.0) * {}
    with pytest.raises(TypeError, match="pow"):
        Value(1.0) ** np.ones(2)


def test_backward_with_an_explicit_output_gradient_matches_torch():
    a = np.array([0.3, -0.7, 1.1])
    g = np.array([1.0, 2.0, -1.0])
    v, t = Value(a), t64(a)
    v.tanh().backward(g)
    torch.tanh(t).backward(torch.from_numpy(g))
    np.testing.assert_allclose(v.grad, t.grad.numpy(), rtol=1e-12)


# ------------------------------------------------------------------ gates
def test_gates_reproduce_the_chapter_graph_against_torch():
    x1, x2, dout = 2.0, 3.0, 1.0
    mul, sin, add = MultiplyGate(), SinGate(), AddGate()
    p = mul.forward(x1, x2)
    s = sin.forward(x2)
    f = add.forward(p, s)
    dp, ds = add.backward(dout)
    dx1, dx2_from_mul = mul.backward(dp)
    dx2_from_sin = sin.backward(ds)
    dx2 = dx2_from_mul + dx2_from_sin  # x2 feeds two gates: sum the paths
    t1, t2 = t64(x1), t64(x2)
    ft = t1 * t2 + torch.sin(t2)
    ft.backward()
    assert f == pytest.approx(ft.item())
    assert (dx1, dx2) == (pytest.approx(t1.grad.item()), pytest.approx(t2.grad.item()))


def test_gates_on_arrays_match_torch():
    rng = np.random.default_rng(5)
    x, y, dout = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    tx, ty = t64(x), t64(y)
    mul, sig = MultiplyGate(), SigmoidGate()
    z = sig.forward(mul.forward(x, y))
    dx, dy = mul.backward(sig.backward(dout))
    zt = torch.sigmoid(tx * ty)
    zt.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(z, zt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(dy, ty.grad.numpy(), rtol=1e-12)


def test_gates_unbroadcast_their_gradients():
    x, y = np.ones((2, 3)), np.array([1.0, 2.0, 3.0])
    add, mul = AddGate(), MultiplyGate()
    add.forward(x, y)
    dx, dy = add.backward(np.ones((2, 3)))
    assert dx.shape == (2, 3) and dy.shape == (3,) and np.all(dy == 2.0)
    mul.forward(x, y)
    dx, dy = mul.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(dx, np.broadcast_to(y, (2, 3)))
    np.testing.assert_array_equal(dy, [2.0, 2.0, 2.0])


@pytest.mark.parametrize("gate", [MultiplyGate, AddGate, SigmoidGate, SinGate])
def test_backward_before_forward_is_an_error(gate):
    with pytest.raises(RuntimeError, match="backward called before forward"):
        gate().backward(1.0)


def test_two_layer_exercise_reference_matches_torch():
    from dnncourse.exercises.backprop import two_layer_grad_reference

    rng = np.random.default_rng(6)
    x, y = rng.standard_normal(3), rng.standard_normal(2)
    params = [rng.standard_normal(s) for s in [(4, 3), (4,), (2, 4), (2,)]]
    W1, b1, W2, b2 = (t64(p) for p in params)
    y_hat = W2 @ torch.sigmoid(W1 @ torch.from_numpy(x) + b1) + b2
    (0.5 * ((y_hat - torch.from_numpy(y)) ** 2).sum()).backward()
    for ours, theirs in zip(two_layer_grad_reference(x, y, *params), (W1, b1, W2, b2)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-12)
