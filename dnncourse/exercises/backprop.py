"""Graded exercises of chapter 1 ("Why deep learning"): backpropagation by hand, and checking it.

1. ``linear_backward``: the backward pass of a linear layer on a batch (a weight used by every example
   collects the gradient of every path through it).
2. ``softmax_cross_entropy_grad``: derive the gradient of the mean cross-entropy with respect to the
   logits (it is the predicted probabilities minus the one-hot labels, over n).
3. ``tanh_layer_gradients``: a gradient check, the analytic gradient beside its centred-difference
   estimate.
4. ``two_layer_grad``: the chain rule through a two-layer network.

The references are the library's own implementations: :class:`~dnncourse.autograd.Value` for the
gradients, :func:`dnncourse.metrics.cross_entropy_grad`, and :func:`dnncourse.gradcheck.numerical_gradient`.
Every public case is small enough to be shown in full when a student's answer fails on it.
"""

from __future__ import annotations

import numpy as np

from dnncourse.autograd import Value
from dnncourse.exercises import Case, Exercise
from dnncourse.gradcheck import numerical_gradient
from dnncourse.metrics import cross_entropy_grad

__all__ = [
    "EXERCISES",
    "linear_backward_reference",
    "softmax_cross_entropy_grad_reference",
    "tanh_layer_gradients_reference",
    "two_layer_grad_reference",
]

CHAPTER = "01_why_deep_learning"


def linear_backward_reference(x: np.ndarray, W: np.ndarray, b: np.ndarray, dout: np.ndarray):
    """(dx, dW, db) for z = x W^T + b on a batch x (n, d), W (m, d), b (m,), given dout = dL/dz (n, m).

    Computed by :class:`Value`'s ``backward()``: ``b`` is broadcast over the n rows, so its gradient is
    summed over them, and each weight's gradient sums the contributions of all n examples.
    """
    xv, Wv, bv = Value(x), Value(W), Value(b)
    z = xv @ Wv.T + bv  # (n, m)
    z.backward(dout)
    return xv.grad, Wv.grad, bv.grad


def softmax_cross_entropy_grad_reference(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """dJ/dz of the mean cross-entropy J of logits (n, k) and labels (n,): (softmax(z) - one_hot(y)) / n."""
    return cross_entropy_grad(logits, labels)


def tanh_layer_gradients_reference(W: np.ndarray, x: np.ndarray, eps: float = 1e-5):
    """(analytic, numerical) gradients of f(W) = sum(tanh(W x)) with respect to W (both of W's shape).

    The analytic one by :class:`Value`'s ``backward()``, the numerical one by centred differences with
    step ``eps`` (:func:`dnncourse.gradcheck.numerical_gradient`).
    """
    Wv = Value(W)
    (Wv @ x).tanh().sum().backward()
    numerical = numerical_gradient(lambda M: np.sum(np.tanh(M @ x)), W, eps)
    return Wv.grad, numerical


def two_layer_grad_reference(x, y, W1, b1, W2, b2):
    """Gradients (dW1, db1, dW2, db2) of L = 1/2 ||W2 sigma(W1 x + b1) + b2 - y||^2, by :class:`Value`'s backward()."""
    parameters = [Value(p) for p in (W1, b1, W2, b2)]
    V1, c1, V2, c2 = parameters
    h = (V1 @ x + c1).sigmoid()  # (hidden,)
    y_hat = V2 @ h + c2  # (out,)
    loss = 0.5 * ((y_hat - y) ** 2).sum()
    loss.backward()
    return tuple(p.grad for p in parameters)


def _random_linear(rng: np.random.Generator) -> dict:
    n, d, m = (int(v) for v in rng.integers(1, 6, size=3))
    return {
        "x": rng.standard_normal((n, d)),
        "W": rng.standard_normal((m, d)),
        "b": rng.standard_normal(m),
        "dout": rng.standard_normal((n, m)),
    }


def _random_softmax_cross_entropy(rng: np.random.Generator) -> dict:
    n, k = int(rng.integers(1, 8)), int(rng.integers(2, 7))
    return {"logits": rng.normal(0, 4, size=(n, k)), "labels": rng.integers(0, k, size=n)}


def _random_tanh_layer(rng: np.random.Generator) -> dict:
    m, n = (int(v) for v in rng.integers(1, 5, size=2))
    eps = float(rng.choice([1e-5, 1e-3, 1e-1]))  # a coarse step separates the two estimates
    return {"W": rng.standard_normal((m, n)), "x": rng.standard_normal(n), "eps": eps}


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
        id="linear_backward",
        function="linear_backward",
        reference=linear_backward_reference,
        points=3,
        chapter=CHAPTER,
        public_cases=(
            Case(
                {
                    "x": np.array([[1.0, 2.0, 3.0]]),
                    "W": np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]]),
                    "b": np.array([0.0, 1.0]),
                    "dout": np.array([[1.0, -2.0]]),
                },
                "one example, 3 inputs, 2 outputs",
            ),
            Case(
                {
                    "x": np.array([[1.0, -1.0], [2.0, 0.5], [0.0, 3.0]]),
                    "W": np.array([[2.0, -1.0]]),
                    "b": np.array([0.5]),
                    "dout": np.array([[1.0], [1.0], [-2.0]]),
                },
                "a batch of 3 examples, 1 output",
            ),
        ),
        random_case=_random_linear,
        rtol=1e-9,
        atol=1e-12,
        hint="z[i, j] = sum_k x[i, k] W[j, k] + b[j]. Each input gradient has its input's shape: dx = dout @ W "
        "(n, d); W[j, k] is used by every example, so dW = dout.T @ x sums over the batch (m, d); b is added "
        "to every row, so db = dout.sum(axis=0) (m,). Return the tuple (dx, dW, db).",
    ),
    Exercise(
        id="softmax_cross_entropy_grad",
        function="softmax_cross_entropy_grad",
        reference=softmax_cross_entropy_grad_reference,
        points=3,
        chapter=CHAPTER,
        public_cases=(
            Case({"logits": np.array([[0.0, 0.0]]), "labels": np.array([0])}, "one example, two equal logits"),
            Case(
                {"logits": np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]), "labels": np.array([0, 2])},
                "two examples: the mean divides by n = 2",
            ),
            Case({"logits": np.array([[800.0, -800.0, 0.0]]), "labels": np.array([1])}, "huge logits (overflow?)"),
        ),
        random_case=_random_softmax_cross_entropy,
        rtol=1e-7,
        atol=1e-12,
        hint="For one example, -log p_y = -z_y + log(sum_l exp(z_l)); differentiate with respect to z_j: "
        "the first term gives -1 only for j = y, the second gives exp(z_j) / sum_l exp(z_l) = p_j. "
        "So the gradient is p minus the one-hot label, divided by n for the mean. Compute p with a stable "
        "softmax (subtract each row's maximum first).",
    ),
    Exercise(
        id="tanh_layer_gradients",
        function="tanh_layer_gradients",
        reference=tanh_layer_gradients_reference,
        points=3,
        chapter=CHAPTER,
        public_cases=(
            Case({"W": np.array([[1.0, 2.0], [0.5, -1.0]]), "x": np.array([0.3, -0.2]), "eps": 1e-5}, "2 x 2"),
            Case(
                {"W": np.array([[2.0, -1.0, 0.5]]), "x": np.array([0.8, 0.4, -0.3]), "eps": 0.1},
                "1 x 3 with a coarse step eps = 0.1: the two gradients differ by O(eps^2)",
            ),
        ),
        random_case=_random_tanh_layer,
        rtol=1e-6,
        atol=1e-9,
        hint="Analytic: with u = W x, df/dW[i, j] = (1 - tanh(u_i)^2) * x[j], i.e. np.outer(1 - np.tanh(u) ** 2, x). "
        "Numerical: for each index (i, j) of W, evaluate f at a copy of W with eps added to entry (i, j), then "
        "with eps subtracted, and take (f_plus - f_minus) / (2 * eps). Do not modify the caller's W. "
        "Return (analytic, numerical).",
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
