"""Exercises of the "Initialization" chapter: fans of a weight, Xavier uniform and He normal initializers,
and the variance of every layer of a ReLU network predicted from the weighted-sum formula.

The two initializers draw random numbers, so their answers are not compared with the reference's
samples: :func:`_check_xavier_uniform` and :func:`_check_kaiming_normal` check the statistics of the
returned tensor instead (shape, bound, mean and variance within six standard errors, shape of the
distribution). Six standard errors make a false failure of a correct answer about a one-in-a-billion event.
:func:`relu_variances` is the reference of the last exercise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from dnncourse.exercises import Case, Exercise
from dnncourse.init import calculate_fan_in_and_fan_out, kaiming_normal_, xavier_uniform_

__all__ = ["EXERCISES", "relu_variances"]

_CHAPTER = "06_initialization"

# Weight shapes used by the random cases: linear (out, in) and convolution (out, in, *kernel) weights,
# each with at least 10 000 entries so that the sample statistics are tight.
_SHAPES = [(256, 128), (128, 512), (300, 200), (64, 32, 3, 3), (32, 16, 5, 5), (16, 8, 9, 11), (96, 48, 3)]


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` computed from a shape by hand (an independent check of the library)."""
    r = int(np.prod(shape[2:])) if len(shape) > 2 else 1  # receptive field size
    return shape[1] * r, shape[0] * r


def _sample(answer: Any, shape: tuple[int, ...]) -> tuple[np.ndarray | None, str | None]:
    """The answer as a float64 vector, or a message saying why it cannot be checked."""
    if answer is None:
        return None, "the function returned None: fill the weight in place and return it (return tensor)"
    if isinstance(answer, tuple):
        return None, f"expected one tensor, got a tuple of {len(answer)} values"
    w = np.asarray(answer, dtype=np.float64)
    if w.shape != shape:
        return None, f"expected shape {shape}, got shape {w.shape}"
    if not np.all(np.isfinite(w)):
        return None, "the weights contain NaN or infinity"
    return w.reshape(-1), None


def _check_moments(w: np.ndarray, std: float, kurtosis: float) -> str | None:
    """Mean 0 and variance ``std**2`` within six standard errors (``kurtosis`` of the target distribution)."""
    n = w.size
    mean, var = float(w.mean()), float(w.var())
    if abs(mean) > 6 * std / math.sqrt(n):
        return f"the mean of the weights is {mean:.3g}; expected about 0 (the distribution must be centred)"
    if abs(var - std**2) > 6 * std**2 * math.sqrt((kurtosis - 1) / n):
        return (
            f"the standard deviation of the weights is {math.sqrt(var):.4g}; "
            f"expected {std:.4g} (check the formula, the fans and the square root)"
        )
    return None


def _check_xavier_uniform(inputs: Mapping[str, Any], answer: Any) -> str | None:
    shape = tuple(np.shape(inputs["tensor"]))
    w, problem = _sample(answer, shape)
    if problem:
        return problem
    fan_in, fan_out = _fans(shape)
    a = inputs["gain"] * math.sqrt(6.0 / (fan_in + fan_out))  # Glorot and Bengio's bound (eq. 16), times the gain
    largest = float(np.abs(w).max())
    if largest > a * (1 + 1e-6):
        return f"a weight of magnitude {largest:.4g} lies outside the bound a = {a:.4g}"
    if largest < 0.95 * a:
        return (
            f"the largest magnitude is {largest:.4g}, far inside the bound a = {a:.4g}: use the whole interval (-a, a)"
        )
    return _check_moments(w, a / math.sqrt(3.0), kurtosis=9 / 5)  # U(-a, a) has variance a^2 / 3


def _check_kaiming_normal(inputs: Mapping[str, Any], answer: Any) -> str | None:
    shape = tuple(np.shape(inputs["tensor"]))
    w, problem = _sample(answer, shape)
    if problem:
        return problem
    fan_in, fan_out = _fans(shape)
    fan = fan_in if inputs["mode"] == "fan_in" else fan_out
    std = math.sqrt(2.0 / fan)  # He et al. (2015): Var(w) = 2 / fan for ReLU
    problem = _check_moments(w, std, kurtosis=3.0)
    if problem:
        return problem
    # A normal puts 4.55% of its mass beyond two standard deviations (a uniform of the same variance: none).
    tail = float(np.mean(np.abs(w) > 2 * std))
    if not 0.0455 - 6 * math.sqrt(0.0455 * 0.9545 / w.size) < tail < 0.0455 + 6 * math.sqrt(0.0455 * 0.9545 / w.size):
        return f"{100 * tail:.2f}% of the weights lie beyond two standard deviations; a normal distribution has 4.55%"
    return None


def relu_variances(x_mean: float, x_var: float, fan_ins: np.ndarray, weight_stds: np.ndarray) -> np.ndarray:
    """The variance of every layer's pre-activation in a ReLU MLP at initialization, from the formulas.

    Layer ``l`` computes :math:`z^{(l)} = W^{(l)} a^{(l-1)}` (zero biases) with independent weights of
    mean 0 and standard deviation ``weight_stds[l-1]``, ``fan_ins[l-1]`` inputs, and
    :math:`a^{(l)} = \\max(0, z^{(l)})`; the inputs :math:`a^{(0)} = x` have mean ``x_mean`` and variance
    ``x_var``. The variance of a weighted sum uses the inputs' second moment,
    :math:`\\mathrm{Var}(z^{(l)}) = \\mathrm{fan_{in}}\\,\\sigma_w^2\\,\\mathbb{E}[(a^{(l-1)})^2]`, with
    :math:`\\mathbb{E}[x^2] = \\mathrm{Var}(x) + \\mathbb{E}[x]^2` at the input and
    :math:`\\mathbb{E}[\\max(0, z)^2] = \\tfrac12\\mathrm{Var}(z)` after a ReLU (``z`` symmetric around 0).
    Returns the ``L`` variances, float64, shape (L,).
    """
    fan_ins = np.asarray(fan_ins, dtype=np.float64)  # (L,)
    weight_stds = np.asarray(weight_stds, dtype=np.float64)  # (L,)
    second_moment = x_var + x_mean**2  # E[a^(0) ^ 2]
    variances = []
    for n, sigma in zip(fan_ins, weight_stds):
        var_z = n * sigma**2 * second_moment  # Var(z^(l)) = fan_in Var(w) E[a^2]
        variances.append(var_z)
        second_moment = var_z / 2  # E[relu(z)^2]: ReLU keeps the positive half of a symmetric z
    return np.array(variances)


def _random_relu_network(rng: np.random.Generator) -> dict:
    L = int(rng.integers(1, 8))
    fan_ins = rng.integers(8, 513, size=L)
    return {
        "x_mean": float(rng.uniform(-2.0, 2.0)),
        "x_var": float(rng.uniform(0.1, 4.0)),
        "fan_ins": fan_ins,
        "weight_stds": rng.uniform(0.5, 2.0, size=L) * np.sqrt(2.0 / fan_ins),  # around He's scale
    }


def _random_weight(rng: np.random.Generator) -> np.ndarray:
    return np.zeros(_SHAPES[int(rng.integers(len(_SHAPES)))])


def _random_fans_case(rng: np.random.Generator) -> dict:
    ndim = int(rng.integers(2, 5))
    shape = tuple(int(s) for s in rng.integers(1, 9, size=ndim))
    return {"tensor": np.zeros(shape)}


def _random_xavier_case(rng: np.random.Generator) -> dict:
    return {"tensor": _random_weight(rng), "gain": float(rng.choice([1.0, 5 / 3, math.sqrt(2.0), 0.5]))}


def _random_kaiming_case(rng: np.random.Generator) -> dict:
    return {"tensor": _random_weight(rng), "mode": str(rng.choice(["fan_in", "fan_out"]))}


EXERCISES = (
    Exercise(
        id="fan_in_and_fan_out",
        function="fan_in_and_fan_out",
        reference=calculate_fan_in_and_fan_out,
        points=2,
        chapter=_CHAPTER,
        public_cases=(
            Case({"tensor": np.zeros((3, 5))}, "a Linear(5, 3) weight"),
            Case({"tensor": np.zeros((8, 3, 5, 5))}, "a Conv2d(3, 8, kernel_size=5) weight"),
            Case({"tensor": np.zeros((4, 2, 3))}, "a Conv1d(2, 4, kernel_size=3) weight"),
        ),
        random_case=_random_fans_case,
        torch_inputs=True,
        hint="tensor.shape is (out, in, *kernel); multiply both in and out by the product of the kernel sizes.",
    ),
    Exercise(
        id="xavier_uniform",
        function="xavier_uniform_",
        reference=xavier_uniform_,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case({"tensor": np.zeros((256, 128)), "gain": 1.0}, "a 256 x 128 linear weight"),
            Case({"tensor": np.zeros((64, 32, 3, 3)), "gain": 5 / 3}, "a 3 x 3 convolution weight, tanh gain"),
        ),
        random_case=_random_xavier_case,
        torch_inputs=True,
        property_check=_check_xavier_uniform,
        hint="a = gain * sqrt(6 / (fan_in + fan_out)); the square root covers the whole fraction. "
        "Fill in place with tensor.uniform_(-a, a) inside torch.no_grad(), and return tensor.",
    ),
    Exercise(
        id="kaiming_normal",
        function="kaiming_normal_",
        reference=kaiming_normal_,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case({"tensor": np.zeros((256, 128)), "mode": "fan_in"}, "a 256 x 128 linear weight, fan_in"),
            Case({"tensor": np.zeros((256, 128)), "mode": "fan_out"}, "the same weight, fan_out"),
            Case({"tensor": np.zeros((32, 16, 5, 5)), "mode": "fan_in"}, "a 5 x 5 convolution weight"),
        ),
        random_case=_random_kaiming_case,
        torch_inputs=True,
        property_check=_check_kaiming_normal,
        hint="For ReLU, std = sqrt(2 / fan) with fan = fan_in or fan_out (mode); the standard deviation, "
        "not the variance, is what tensor.normal_(0, std) takes. Return tensor.",
    ),
    Exercise(
        id="relu_variances",
        function="relu_variances",
        reference=relu_variances,
        points=3,
        chapter=_CHAPTER,
        public_cases=(
            Case(
                {"x_mean": 0.0, "x_var": 1.0, "fan_ins": np.array([100, 100]), "weight_stds": np.array([0.1, 0.1])},
                "standardized inputs, two layers",
            ),
            Case(
                {"x_mean": 2.0, "x_var": 1.0, "fan_ins": np.array([64]), "weight_stds": np.array([0.125])},
                "inputs with mean 2: what enters the weighted sum?",
            ),
            Case(
                {
                    "x_mean": 0.0,
                    "x_var": 1.0,
                    "fan_ins": np.array([64, 256, 256]),
                    "weight_stds": np.sqrt(2.0 / np.array([64, 256, 256])),
                },
                "He initialization",
            ),
        ),
        random_case=_random_relu_network,
        hint="Var(z) = fan_in * sigma_w**2 * E[a**2], with the second moment E[a**2] of the layer's inputs: "
        "Var(x) + mean(x)**2 at the input, Var(z) / 2 after a ReLU. weight_stds are standard deviations.",
    ),
)
