"""Graded exercises of chapter 1 ("Why deep learning"): backward rules, gradient checking, the chain rule.

Each reference is the library's own implementation: the gates of :mod:`dnncourse.autograd`, the finite
differences of :mod:`dnncourse.gradcheck`, and the :class:`~dnncourse.autograd.Value` engine for a
two-layer network.
"""

from __future__ import annotations

import numpy as np

from dnncourse.autograd import MultiplyGate, SigmoidGate, Value
from dnncourse.exercises import Case, Exercise
from dnncourse.gradcheck import numerical_gradient as _numerical_gradient

__all__ = [
    "EXERCISES",
    "multiply_gate_backward_reference",
    "sigmoid_gate_backward_reference",
    "numerical_gradient_reference",
    "two_layer_grad_reference",
]

CHAPTER = "01_why_deep_learning"


def multiply_gate_backward_reference(x: np.ndarray, y: np.ndarray, dout: np.ndarray):
    """(dL/dx, dL/dy) for z = x * y, given dout = dL/dz: the library's :class:`MultiplyGate`."""
    gate = MultiplyGate()
    gate.forward(x, y)
    return gate.backward(dout)


def sigmoid_gate_backward_reference(x: np.ndarray, dout: np.ndarray):
    """dL/dx for z = sigma(x), given dout = dL/dz: the library's :class:`SigmoidGate`."""
    gate = SigmoidGate()
    gate.forward(x)
    return gate.backward(dout)


def numerical_gradient_reference(W: np.ndarray, x: np.ndarray, eps: float = 1e-5):
    """Centred-difference gradient of f(x) = sum(tanh(W x)) with respect to x (:mod:`dnncourse.gradcheck`)."""
    return _numerical_gradient(lambda v: np.sum(np.tanh(W @ v)), x, eps)


def two_layer_grad_reference(x, y, W1, b1, W2, b2):
    """Gradients (dW1, db1, dW2, db2) of L = 1/2 ||W2 sigma(W1 x + b1) + b2 - y||^2, by :class:`Value`'s backward()."""
    parameters = [Value(p) for p in (W1, b1, W2, b2)]
    V1, c1, V2, c2 = parameters
    h = (V1 @ x + c1).sigmoid()  # (hidden,)
    y_hat = V2 @ h + c2  # (out,)
    loss = 0.5 * ((y_hat - y) ** 2).sum()
    loss.backward()
    return tuple(p.grad for p in parameters)


def _random_multiply(rng: np.random.Generator) -> dict:
    shape = tuple(rng.integers(1, 5, size=rng.integers(1, 3)))
    return {"x": rng.standard_normal(shape), "y": rng.standard_normal(shape), "dout": rng.standard_normal(shape)}


def _random_sigmoid(rng: np.random.Generator) -> dict:
    shape = tuple(rng.integers(1, 6, size=rng.integers(1, 3)))
    return {"x": 3 * rng.standard_normal(shape), "dout": rng.standard_normal(shape)}


def _random_numerical(rng: np.random.Generator) -> dict:
    m, n = rng.integers(1, 5, size=2)
    return {"W": rng.standard_normal((m, n)), "x": rng.standard_normal(n), "eps": 1e-5}


def _random_two_layer(rng: np.random.Generator) -> dict:
    d, hidden, out = rng.integers(1, 5, size=3)
    return {
        "x": rng.standard_normal(d),
        "y": rng.standard_normal(out),
        "W1": rng.standard_normal((hidden, d)),
        "b1": rng.standard_normal(hidden),
        "W2": rng.standard_normal((out, hidden)),
        "b2": rng.standard_normal(out),
    }


EXERCISES = (
    Exercise(
        id="multiply_gate_backward",
        function="multiply_gate_backward",
        reference=multiply_gate_backward_reference,
        points=2,
        chapter=CHAPTER,
        public_cases=(
            Case({"x": np.array(2.0), "y": np.array(3.0), "dout": np.array(1.0)}, "the chapter's x1 * x2"),
            Case(
                {"x": np.array([1.0, -2.0]), "y": np.array([0.5, 4.0]), "dout": np.array([2.0, -1.0])},
                "vectors",
            ),
        ),
        random_case=_random_multiply,
        hint="Each input receives dout times the OTHER input: dx = dout * y, dy = dout * x. Return a tuple (dx, dy).",
    ),
    Exercise(
        id="sigmoid_gate_backward",
        function="sigmoid_gate_backward",
        reference=sigmoid_gate_backward_reference,
        points=2,
        chapter=CHAPTER,
        public_cases=(
            Case({"x": np.array(0.0), "dout": np.array(1.0)}, "at zero the slope is 1/4"),
            Case({"x": np.array([-30.0, -1.0, 2.0, 30.0]), "dout": np.array([1.0, 2.0, -1.0, 1.0])}, "saturated ends"),
        ),
        random_case=_random_sigmoid,
        hint="With s = 1 / (1 + exp(-x)), ds/dx = s * (1 - s); multiply by dout. Compute s without overflow "
        "for very negative x (np.exp(-x) overflows at x = -800; (1 + np.tanh(x / 2)) / 2 does not).",
    ),
    Exercise(
        id="numerical_gradient",
        function="numerical_gradient",
        reference=numerical_gradient_reference,
        points=2,
        chapter=CHAPTER,
        public_cases=(
            Case({"W": np.array([[1.0, 2.0], [0.5, -1.0]]), "x": np.array([0.3, -0.2]), "eps": 1e-5}, "2 x 2"),
            Case({"W": np.array([[2.0, -1.0, 0.5]]), "x": np.array([0.1, 0.4, -0.3]), "eps": 1e-4}, "1 x 3, eps 1e-4"),
        ),
        random_case=_random_numerical,
        rtol=1e-6,
        atol=1e-9,
        hint="For each i: copy x, add eps to entry i, evaluate f; subtract eps instead, evaluate f; "
        "the i-th entry is (f_plus - f_minus) / (2 * eps). Do not modify the caller's x.",
    ),
    Exercise(
        id="two_layer_grad",
        function="two_layer_grad",
        reference=two_layer_grad_reference,
        points=4,
        chapter=CHAPTER,
        public_cases=(
            Case(
                {
                    "x": np.array([1.0, -1.0]),
                    "y": np.array([0.5]),
                    "W1": np.array([[0.2, -0.4], [0.7, 0.1], [-0.5, 0.3]]),
                    "b1": np.array([0.0, 0.1, -0.1]),
                    "W2": np.array([[1.0, -2.0, 0.5]]),
                    "b2": np.array([0.2]),
                },
                "2 inputs, 3 hidden units, 1 output",
            ),
        ),
        random_case=_random_two_layer,
        rtol=1e-7,
        atol=1e-10,
        hint="Go backwards: d_yhat = yhat - y; dW2 = outer(d_yhat, h); db2 = d_yhat; dh = W2.T @ d_yhat; "
        "dz = dh * h * (1 - h); dW1 = outer(dz, x); db1 = dz.",
    ),
)
