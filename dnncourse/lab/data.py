"""Data sets for the course: small generated problems and a real data set that ships with scikit-learn.

Nothing is downloaded. Every generator takes a ``seed`` and returns a :class:`Dataset`, so the same
call gives the same data on every machine. Used from chapter 1 ("Why deep learning") onwards;
:func:`standardize` is the standardization of chapter 7.

Shapes: ``X`` is ``(n, d)`` float32; ``y`` is ``(n,)`` int64 class labels for classification, or
``(n, 1)`` float32 targets for regression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dnncourse import _validation as check

__all__ = [
    "Dataset",
    "Splits",
    "make_xor",
    "make_circles",
    "make_spirals",
    "make_moons",
    "make_regression_1d",
    "load_digits",
    "standardize",
    "to_polar",
]


@dataclass(frozen=True)
class Dataset:
    """Inputs ``X`` (n, d) and targets ``y`` (n,) or (n, 1), with a name for plots."""

    X: torch.Tensor
    y: torch.Tensor
    name: str = ""

    def __post_init__(self):
        if self.X.ndim != 2:
            raise ValueError(f"X must have shape (n, d), got {tuple(self.X.shape)}")
        if self.y.shape[0] != self.X.shape[0]:
            raise ValueError(f"X has {self.X.shape[0]} rows but y has {self.y.shape[0]}")

    def __len__(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def n_classes(self) -> int:
        """Number of classes (labels are 0..k-1); 0 for a regression target."""
        return 0 if self.y.is_floating_point() else int(self.y.max().item()) + 1

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Dataset:
        """This data set on ``device``; with a floating ``dtype`` (e.g. ``torch.float64``) the inputs, and
        float (regression) targets, are converted to it as well. Integer class labels keep their dtype.
        """
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"dtype must be a floating-point torch.dtype or None, got {dtype!r}")
        y_dtype = dtype if self.y.is_floating_point() else None
        return Dataset(self.X.to(device=device, dtype=dtype), self.y.to(device=device, dtype=y_dtype), self.name)

    def subset(self, index) -> Dataset:
        """The rows selected by ``index`` (a slice, an index tensor or a boolean mask)."""
        return Dataset(self.X[index], self.y[index], self.name)


@dataclass(frozen=True)
class Splits:
    """Train, validation and test parts of one data set."""

    train: Dataset
    val: Dataset
    test: Dataset

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Splits:
        """All three parts on ``device`` (and in ``dtype``): see :meth:`Dataset.to`."""
        return Splits(self.train.to(device, dtype), self.val.to(device, dtype), self.test.to(device, dtype))


def _classification(X: np.ndarray, y: np.ndarray, name: str) -> Dataset:
    return Dataset(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64), name)


def make_xor(n: int = 200, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Four Gaussian blobs at (±1, ±1); the label is 1 where exactly one coordinate is positive.

    No straight line separates the classes, so a perceptron fails and a one-hidden-layer MLP succeeds.
    """
    check.integer("n", n, minimum=4)
    check.non_negative("noise", noise)
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, size=(n, 2))  # (n, 2) in {0, 1}
    X = (2 * corners - 1) + noise * rng.standard_normal((n, 2))
    y = corners[:, 0] ^ corners[:, 1]
    return _classification(X, y, "xor")


def make_circles(n: int = 400, noise: float = 0.05, factor: float = 0.5, seed: int = 0) -> Dataset:
    """Two concentric rings: class 0 on radius 1, class 1 on radius ``factor`` (0 < factor < 1).

    Not linearly separable in (x, y) but separable by the radius alone in polar coordinates.
    """
    check.integer("n", n, minimum=2)
    check.non_negative("noise", noise)
    check.in_range("factor", factor, 0, 1, closed="neither")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    radius = np.where(y == 0, 1.0, factor)
    theta = rng.uniform(0, 2 * np.pi, n)
    X = np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=1)  # (n, 2)
    X = X + noise * rng.standard_normal((n, 2))
    return _classification(X, y, "circles")


def make_spirals(n: int = 400, noise: float = 0.1, turns: float = 1.5, seed: int = 0) -> Dataset:
    """Two interleaved spirals, each making ``turns`` full turns around the origin."""
    check.integer("n", n, minimum=2)
    check.non_negative("noise", noise)
    check.positive("turns", turns)
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.sqrt(rng.uniform(0, 1, n))  # more points further out, where the arms are longer
    angle = 2 * np.pi * turns * t + np.pi * y
    X = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)  # (n, 2)
    X = X + noise * 0.25 * rng.standard_normal((n, 2))
    return _classification(X, y, "spirals")


def make_moons(n: int = 400, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaving half circles."""
    check.integer("n", n, minimum=2)
    check.non_negative("noise", noise)
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    theta = rng.uniform(0, np.pi, n)
    X = np.where(
        (y == 0)[:, None],
        np.stack([np.cos(theta), np.sin(theta)], axis=1),
        np.stack([1 - np.cos(theta), 0.5 - np.sin(theta)], axis=1),
    )  # (n, 2)
    X = X + noise * rng.standard_normal((n, 2))
    return _classification(X, y, "moons")


_TARGETS = {
    "sin": lambda x: np.sin(2 * x),
    "step": lambda x: np.where(x > 0, 1.0, -1.0),
    "bump": lambda x: np.exp(-4 * x**2),
    "cubic": lambda x: 0.5 * x**3 - x,
}


def make_regression_1d(n: int = 200, noise: float = 0.1, target: str = "sin", seed: int = 0) -> Dataset:
    """``n`` points x in [-2, 2] (sorted) with y = f(x) + noise, f one of ``sin``, ``step``, ``bump``, ``cubic``."""
    check.integer("n", n, minimum=2)
    check.non_negative("noise", noise)
    check.one_of("target", target, _TARGETS)
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-2, 2, n))
    y = _TARGETS[target](x) + noise * rng.standard_normal(n)
    X = torch.as_tensor(x[:, None], dtype=torch.float32)  # (n, 1)
    return Dataset(X, torch.as_tensor(y[:, None], dtype=torch.float32), f"regression-{target}")


def to_polar(X: torch.Tensor) -> torch.Tensor:
    """Map points (x, y) to (r, theta): the representation in which the circles become separable."""
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2), got {tuple(X.shape)}")
    r = X.norm(dim=1)
    theta = torch.atan2(X[:, 1], X[:, 0])
    return torch.stack([r, theta], dim=1)  # (n, 2)


def standardize(train: torch.Tensor, *others: torch.Tensor, eps: float = 1e-8):
    """Standardize features with the mean and standard deviation of ``train`` only.

    Returns the standardized train tensor followed by each of ``others`` transformed the same way,
    so no information leaks from validation or test data into the statistics.
    """
    mean = train.mean(dim=0, keepdim=True)  # (1, d)
    std = train.std(dim=0, keepdim=True)  # (1, d)
    std = torch.where(std < eps, torch.ones_like(std), std)  # constant features stay as they are
    out = [(t - mean) / std for t in (train, *others)]
    return out[0] if not others else tuple(out)


def load_digits(
    val_fraction: float = 0.2, test_fraction: float = 0.2, seed: int = 0, standardize_inputs: bool = True
) -> Splits:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), split and standardized.

    The data ships inside scikit-learn, so nothing is downloaded. Each image is flattened to 64 pixel
    values in [0, 16]; with ``standardize_inputs`` every pixel is standardized with training statistics.
    The examples are shuffled with ``seed`` before the split (the split is not stratified).
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    check.in_range("val_fraction", val_fraction, 0, 1, closed="left")
    check.in_range("test_fraction", test_fraction, 0, 1, closed="left")
    if val_fraction + test_fraction >= 0.9:
        raise ValueError(
            f"val_fraction + test_fraction must leave at least 10% for training, got {val_fraction + test_fraction}"
        )
    digits = _sk_load_digits()
    X = torch.as_tensor(digits.data, dtype=torch.float32)  # (1797, 64)
    y = torch.as_tensor(digits.target, dtype=torch.int64)  # (1797,)
    order = torch.as_tensor(np.random.default_rng(seed).permutation(len(y)))
    X, y = X[order], y[order]
    n_test = int(round(test_fraction * len(y)))
    n_val = int(round(val_fraction * len(y)))
    n_train = len(y) - n_val - n_test
    X_train, X_val, X_test = X[:n_train], X[n_train : n_train + n_val], X[n_train + n_val :]
    y_train, y_val, y_test = y[:n_train], y[n_train : n_train + n_val], y[n_train + n_val :]
    if standardize_inputs:
        X_train, X_val, X_test = standardize(X_train, X_val, X_test)
    return Splits(
        Dataset(X_train, y_train, "digits"), Dataset(X_val, y_val, "digits"), Dataset(X_test, y_test, "digits")
    )
