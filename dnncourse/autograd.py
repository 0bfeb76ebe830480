"""A small reverse-mode automatic differentiation engine, to read in one sitting (chapter 1, "Why deep learning").

Two views of backpropagation live here.

**The graph view: :class:`Value`.** A ``Value`` holds a NumPy array ``data`` (a 0-d array for a scalar),
its gradient ``grad`` (same shape), the ``Value`` s it was computed from (its *parents*) and a function
``_backward`` that applies the *local* chain rule: given the gradient of the final output with respect
to this node, it adds this node's contribution to each parent's gradient. Building an expression such as
``f = x1 * x2 + x2.sin()`` records a computation graph; ``f.backward()`` visits the nodes in reverse
topological order (every node after all the nodes that use it) and calls each ``_backward``::

    x1, x2 = Value(2.0), Value(3.0)
    f = x1 * x2 + x2.sin()
    f.backward()
    x1.grad, x2.grad   # df/dx1 = x2 = 3,  df/dx2 = x1 + cos(x2) = 2 + cos 3

Gradients are *accumulated* with ``+=``: when a value is used several times (``x * x + x``), the output
depends on it along several paths, and the multivariate chain rule says the path contributions add up.

Supported: ``+ - * /`` and unary ``-`` (NumPy broadcasting included), ``**`` with a *constant* exponent,
``exp``, ``log``, ``sin``, ``tanh``, ``sigmoid``, ``relu``, ``@`` / ``matmul`` / ``dot`` (1-D and 2-D
operands), the transpose ``.T``, ``sum`` and ``mean`` (over all elements or one axis). Anything else
raises an error naming the operation: a ``Value`` exponent raises ``TypeError`` (``x ** y`` needs
``exp(y * log(x))``, which you can build yourself); ``log`` of a non-positive number, division by zero and
a fractional power of a negative number raise ``ValueError``, because this engine refuses to produce
``nan`` or ``inf`` silently (PyTorch returns them instead).

**The graph is built on the fly** ("define by run", as in PyTorch): each operation records its node as
it runs, so ordinary Python ``if`` and ``while`` statements decide which graph a call builds, and
``backward()`` differentiates exactly the operations that ran.

**The gate view: :class:`MultiplyGate`, :class:`AddGate`, :class:`SigmoidGate`, :class:`SinGate`.**
The same local rules written as objects with ``forward(...)`` (compute the output, cache what the
backward pass needs) and ``backward(dout)`` (return the gradient with respect to each input, given the
gradient ``dout`` of the final output with respect to this gate's output). This is how layers of real
frameworks are written.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np

__all__ = ["Value", "topological_order", "MultiplyGate", "AddGate", "SigmoidGate", "SinGate"]


def _as_array(data, op: str) -> np.ndarray:
    """``data`` as a float64 array, or a ``TypeError`` naming the operation."""
    if isinstance(data, (numbers.Real, np.ndarray, np.generic, list, tuple)) and not isinstance(data, bool):
        return np.array(data, dtype=np.float64)  # a copy: later changes to `data` do not leak in
    raise TypeError(f"{op}: unsupported operand of type {type(data).__name__} (expected a number, array or Value)")


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the backward rule of NumPy broadcasting.

    A value that was broadcast (copied) to a larger shape was used once per copy, so its gradient is
    the sum over the copies.
    """
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)  # leading axes that broadcasting added
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)  # axes stretched from 1
    return grad


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), written as (1 + tanh(x/2)) / 2 so that it never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class Value:
    """A node of the computation graph: an array ``data``, its ``grad``, its parents and a local backward rule.

    Args:
        data: a number or an array (stored as float64).
        name: an optional label, used when the chapter prints the graph.
    """

    def __init__(self, data, name: str = "", *, _parents: tuple[Value, ...] = (), _op: str = ""):
        self.data = _as_array(data, "Value")
        self.grad = np.zeros_like(self.data)  # d(output)/d(self), filled in by backward()
        self.name = name
        self._parents = _parents
        self._op = _op  # the operation that produced this node ("" for a leaf)
        self._backward: Callable[[], None] = lambda: None  # a leaf has no parents to pass gradients to

    # ----------------------------------------------------------------- helpers
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def item(self) -> float:
        """The value of a one-element node as a Python float."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element Values can be converted to a float, got shape {self.shape}")
        return float(self.data.reshape(()))

    def __repr__(self) -> str:
        label = f"{self.name}=" if self.name else ""
        return (
            f"Value({label}{np.array2string(self.data, precision=4)}, grad={np.array2string(self.grad, precision=4)})"
        )

    @staticmethod
    def _lift(other, op: str) -> Value:
        """Wrap a constant operand as a leaf so that every operation sees two Values."""
        return other if isinstance(other, Value) else Value(_as_array(other, op))

    # ----------------------------------------------------------- binary operations
    def __add__(self, other) -> Value:
        other = Value._lift(other, "add")
        out = Value(self.data + other.data, _parents=(self, other), _op="+")

        def _backward():  # d(a + b)/da = 1, d(a + b)/db = 1
            self.grad += _unbroadcast(out.grad, self.shape)
            other.grad += _unbroadcast(out.grad, other.shape)

        out._backward = _backward
        return out

    def __mul__(self, other) -> Value:
        other = Value._lift(other, "mul")
        out = Value(self.data * other.data, _parents=(self, other), _op="*")

        def _backward():  # d(a * b)/da = b, d(a * b)/db = a
            self.grad += _unbroadcast(out.grad * other.data, self.shape)
            other.grad += _unbroadcast(out.grad * self.data, other.shape)

        out._backward = _backward
        return out

    def __pow__(self, exponent) -> Value:
        if isinstance(exponent, Value):
            raise TypeError("pow: the exponent must be a constant number, got a Value (build exp(y * log(x)) instead)")
        if isinstance(exponent, bool) or not isinstance(exponent, numbers.Real):
            raise TypeError(f"pow: the exponent must be a constant number, got {type(exponent).__name__}")
        p = float(exponent)
        if not p.is_integer() and np.any(self.data < 0):
            raise ValueError(f"pow: a fractional power ({p}) of a negative number is not a real number")
        if p < 0 and np.any(self.data == 0):
            raise ValueError(f"pow: a negative power ({p}) of zero is infinite")
        out = Value(self.data**p, _parents=(self,), _op=f"**{exponent}")

        def _backward():  # d(a^p)/da = p a^(p-1)
            self.grad += out.grad * p * self.data ** (p - 1)

        out._backward = _backward
        return out

    def __matmul__(self, other) -> Value:
        other = Value._lift(other, "matmul")
        if self.data.ndim not in (1, 2) or other.data.ndim not in (1, 2):
            raise ValueError(f"matmul: operands must be 1-D or 2-D, got shapes {self.shape} and {other.shape}")
        A = self.data if self.data.ndim == 2 else self.data[None, :]  # a vector on the left is a (1, k) row
        B = other.data if other.data.ndim == 2 else other.data[:, None]  # a vector on the right is a (k, 1) column
        if A.shape[1] != B.shape[0]:
            raise ValueError(f"matmul: shapes {self.shape} and {other.shape} do not match")
        out = Value(self.data @ other.data, _parents=(self, other), _op="@")

        def _backward():  # C = A B:  dL/dA = dL/dC B^T,  dL/dB = A^T dL/dC
            dC = out.grad.reshape(A.shape[0], B.shape[1])  # (n, m), whatever shape out has
            self.grad += (dC @ B.T).reshape(self.shape)
            other.grad += (A.T @ dC).reshape(other.shape)

        out._backward = _backward
        return out

    @property
    def T(self) -> Value:
        """The transpose (all axes reversed, as NumPy's ``.T``): ``x @ W.T`` is a linear layer on a batch."""
        out = Value(self.data.T, _parents=(self,), _op="T")

        def _backward():  # transposing moves entries around: move the gradient back (transpose again)
            self.grad += out.grad.T

        out._backward = _backward
        return out

    def matmul(self, other) -> Value:
        """``self @ other`` (matrix-matrix, matrix-vector, vector-matrix or vector-vector)."""
        return self @ other

    def dot(self, other) -> Value:
        """The inner product of two vectors (the same as ``@`` for 1-D operands)."""
        return self @ other

    # Everything else is built from the operations above, so it needs no backward rule of its own.
    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other) -> Value:
        return self + (-Value._lift(other, "sub"))

    def __truediv__(self, other) -> Value:
        other = Value._lift(other, "div")
        if np.any(other.data == 0):
            raise ValueError("div: division by zero")
        return self * other**-1

    def __radd__(self, other) -> Value:  # other + self
        return self + other

    def __rmul__(self, other) -> Value:  # other * self
        return self * other

    def __rsub__(self, other) -> Value:  # other - self
        return Value._lift(other, "sub") + (-self)

    def __rtruediv__(self, other) -> Value:  # other / self
        return Value._lift(other, "div") / self

    def __rpow__(self, base):  # 2 ** x: the Value is the exponent
        raise TypeError("pow: the exponent must be a constant number, got a Value (build exp(y * log(x)) instead)")

    def __rmatmul__(self, other) -> Value:  # array @ self
        return Value._lift(other, "matmul") @ self

    # ------------------------------------------------------- element-wise functions
    def _unary(self, data: np.ndarray, local_gradient: np.ndarray, op: str) -> Value:
        """A node ``out = g(self)`` whose backward rule multiplies by the local derivative ``g'(self)``."""
        out = Value(data, _parents=(self,), _op=op)

        def _backward():  # chain rule: dL/dself = dL/dout * g'(self)
            self.grad += out.grad * local_gradient

        out._backward = _backward
        return out

    def exp(self) -> Value:
        e = np.exp(self.data)
        return self._unary(e, e, "exp")  # (e^a)' = e^a

    def log(self) -> Value:
        if np.any(self.data <= 0):
            raise ValueError(f"log: the input must be positive, got a minimum of {self.data.min():g}")
        return self._unary(np.log(self.data), 1.0 / self.data, "log")  # (log a)' = 1/a

    def sin(self) -> Value:
        return self._unary(np.sin(self.data), np.cos(self.data), "sin")  # (sin a)' = cos a

    def tanh(self) -> Value:
        t = np.tanh(self.data)
        return self._unary(t, 1.0 - t**2, "tanh")  # (tanh a)' = 1 - tanh(a)^2

    def sigmoid(self) -> Value:
        s = _sigmoid(self.data)
        return self._unary(s, s * (1.0 - s), "sigmoid")  # sigma' = sigma (1 - sigma)

    def relu(self) -> Value:
        # The derivative at exactly 0 is taken to be 0, as in PyTorch.
        return self._unary(np.maximum(self.data, 0.0), (self.data > 0).astype(np.float64), "relu")

    # ------------------------------------------------------------- reductions
    def sum(self, axis: int | None = None) -> Value:
        """Sum over all elements (``axis=None``) or over one axis."""
        if axis is not None and not -self.data.ndim <= axis < self.data.ndim:
            raise ValueError(f"sum: axis {axis} is out of range for shape {self.shape}")
        out = Value(self.data.sum(axis=axis), _parents=(self,), _op="sum")

        def _backward():  # every summed element receives the output's gradient once
            g = out.grad if axis is None else np.expand_dims(out.grad, axis)
            self.grad += np.broadcast_to(g, self.shape)

        out._backward = _backward
        return out

    def mean(self, axis: int | None = None) -> Value:
        """Mean over all elements (``axis=None``) or over one axis: a sum divided by the count."""
        if self.data.size == 0:
            raise ValueError("mean: the mean of an empty array is undefined")
        total = self.sum(axis)
        count = self.data.size // max(total.data.size, 1)  # how many elements went into each sum
        return total * (1.0 / count)

    # --------------------------------------------------------------- backward
    def backward(self, grad=None) -> None:
        """Backpropagate from this node: fill ``.grad`` of every node it depends on.

        ``grad`` is d(final output)/d(self); it defaults to 1 for a one-element node (the usual case: a
        scalar loss). The gradients of intermediate nodes are recomputed from zero on every call, while
        leaves (inputs and parameters) *add* to their ``.grad``, so two calls accumulate there exactly as
        in PyTorch (call :meth:`zero_grad` on the output to start afresh).
        """
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward: grad must be given for a non-scalar output of shape {self.shape}")
            grad = np.ones_like(self.data)
        grad = _as_array(grad, "backward")
        if grad.shape != self.shape:
            raise ValueError(f"backward: grad has shape {grad.shape} but the output has shape {self.shape}")
        order = topological_order(self)
        for node in order:
            if node._parents:  # intermediate results start from zero on every call; leaves accumulate
                node.grad = np.zeros_like(node.data)
        self.grad += grad
        for node in reversed(order):  # outputs before inputs: a node's grad is complete when it is visited
            node._backward()

    def zero_grad(self) -> None:
        """Set ``.grad`` of this node and of every node it depends on back to zero."""
        for node in topological_order(self):
            node.grad = np.zeros_like(node.data)


def topological_order(root: Value) -> list[Value]:
    """Every node ``root`` depends on, each listed after all of its parents (``root`` last).

    A depth-first search; it uses an explicit stack rather than recursion so that long chains (thousands
    of operations) do not hit Python's recursion limit.
    """
    order: list[Value] = []
    visited: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)  # all its parents are already in `order`
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if id(parent) not in visited:
                stack.append((parent, False))
    return order


# --------------------------------------------------------------------------- gates
class _Gate:
    """A gate remembers its inputs in ``forward`` and needs them in ``backward``."""

    _cache: tuple | None = None

    def _cached(self) -> tuple:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._cache


class MultiplyGate(_Gate):
    """``z = x * y`` (element-wise). Backward: ``dx = dout * y``, ``dy = dout * x`` (each input gets the other)."""

    def forward(self, x, y):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        self._cache = (x, y)
        return x * y

    def backward(self, dout):
        x, y = self._cached()
        dout = np.asarray(dout, dtype=np.float64)
        return _unbroadcast(dout * y, x.shape), _unbroadcast(dout * x, y.shape)


class AddGate(_Gate):
    """``z = x + y``. Backward: ``dx = dout``, ``dy = dout`` (an add gate copies the gradient to both inputs)."""

    def forward(self, x, y):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        self._cache = (x.shape, y.shape)
        return x + y

    def backward(self, dout):
        x_shape, y_shape = self._cached()
        dout = np.asarray(dout, dtype=np.float64)
        return _unbroadcast(dout, x_shape), _unbroadcast(dout, y_shape)


class SigmoidGate(_Gate):
    """``z = sigma(x) = 1 / (1 + e^{-x})``. Backward: ``dx = dout * z * (1 - z)``, using the cached output."""

    def forward(self, x):
        z = _sigmoid(np.asarray(x, dtype=np.float64))
        self._cache = (z,)
        return z

    def backward(self, dout):
        (z,) = self._cached()
        return dout * z * (1.0 - z)


class SinGate(_Gate):
    """``z = sin(x)``. Backward: ``dx = dout * cos(x)``."""

    def forward(self, x):
        x = np.asarray(x, dtype=np.float64)
        self._cache = (x,)
        return np.sin(x)

    def backward(self, dout):
        (x,) = self._cached()
        return dout * np.cos(x)
