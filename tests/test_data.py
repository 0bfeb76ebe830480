"""dnncourse.data: shapes, dtypes, determinism, independent references, clear errors."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sk_load_digits

from dnncourse.lab.data import (
    Dataset,
    load_digits,
    make_circles,
    make_moons,
    make_regression_1d,
    make_spirals,
    make_xor,
    standardize,
    to_polar,
)

GENERATORS = [make_xor, make_circles, make_spirals, make_moons]


@pytest.mark.parametrize("make", GENERATORS)
def test_classification_sets_have_the_documented_types_and_are_seeded(make):
    data = make(60, seed=3)
    assert isinstance(data, Dataset) and len(data) == 60
    assert data.X.shape == (60, 2) and data.X.dtype == torch.float32
    assert data.y.shape == (60,) and data.y.dtype == torch.int64
    assert data.n_classes == 2 and set(data.y.tolist()) == {0, 1}
    again, other = make(60, seed=3), make(60, seed=4)
    assert torch.equal(data.X, again.X) and torch.equal(data.y, again.y)
    assert not torch.equal(data.X, other.X)


@pytest.mark.parametrize("make", GENERATORS + [make_regression_1d])
@pytest.mark.parametrize("n", [0, 1, -5, 2.5, "10", True])
def test_bad_sizes_raise(make, n):
    with pytest.raises(ValueError, match="n must be an integer"):
        make(n)


@pytest.mark.parametrize("make", GENERATORS + [make_regression_1d])
@pytest.mark.parametrize("noise", [-0.1, float("nan"), float("inf"), "0.1"])
def test_bad_noise_raises(make, noise):
    with pytest.raises(ValueError, match="noise must be"):
        make(20, noise=noise)


def test_xor_labels_are_the_exclusive_or_of_the_quadrant():
    data = make_xor(400, noise=0.0, seed=0)
    X, y = data.X.numpy(), data.y.numpy()
    np.testing.assert_array_equal(np.abs(X), 1.0)
    np.testing.assert_array_equal(y, (X[:, 0] > 0) ^ (X[:, 1] > 0))


def test_circles_radii_and_polar_separability():
    data = make_circles(200, noise=0.0, factor=0.3, seed=0)
    r = data.X.norm(dim=1).numpy()
    y = data.y.numpy()
    np.testing.assert_allclose(r[y == 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(r[y == 1], 0.3, rtol=1e-6)
    with pytest.raises(ValueError, match=r"factor must be a number in \(0, 1\)"):
        make_circles(10, factor=1.0)


def test_to_polar_matches_numpy():
    X = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, -4.0]])
    P = to_polar(X).numpy()
    np.testing.assert_allclose(P[:, 0], np.hypot(X[:, 0].numpy(), X[:, 1].numpy()), rtol=1e-6)
    np.testing.assert_allclose(P[:, 1], np.arctan2(X[:, 1].numpy(), X[:, 0].numpy()), rtol=1e-6)
    assert to_polar(X.double()).dtype == torch.float64
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        to_polar(torch.zeros(3, 3))


def test_spirals_and_moons_options():
    with pytest.raises(ValueError, match="turns must be a positive number"):
        make_spirals(10, turns=0)
    moons = make_moons(200, noise=0.0, seed=0)
    X, y = moons.X.numpy(), moons.y.numpy()
    np.testing.assert_allclose(np.hypot(X[y == 0, 0], X[y == 0, 1]), 1.0, rtol=1e-6)  # upper half circle
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 1, X[y == 1, 1] - 0.5), 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    "target, f",
    [("sin", lambda x: np.sin(2 * x)), ("bump", lambda x: np.exp(-4 * x**2)), ("cubic", lambda x: 0.5 * x**3 - x)],
)
def test_regression_targets_without_noise(target, f):
    data = make_regression_1d(50, noise=0.0, target=target, seed=0)
    x = data.X.numpy()[:, 0]
    assert data.X.shape == (50, 1) and data.y.shape == (50, 1) and data.y.dtype == torch.float32
    assert np.all(np.diff(x) >= 0) and x.min() >= -2 and x.max() <= 2
    np.testing.assert_allclose(data.y.numpy()[:, 0], f(x), rtol=1e-5, atol=1e-6)
    assert data.n_classes == 0
    with pytest.raises(ValueError, match="target must be one of"):
        make_regression_1d(10, target="square")


def test_dataset_validation_subset_and_device():
    with pytest.raises(ValueError, match=r"X must have shape \(n, d\)"):
        Dataset(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="3 rows but y has 2"):
        Dataset(torch.zeros(3, 2), torch.zeros(2))
    data = make_xor(20, seed=0)
    part = data.subset(slice(0, 5))
    assert len(part) == 5 and torch.equal(part.X, data.X[:5])
    moved = data.to("cpu")
    assert moved.X.device == data.X.device and moved.X.dtype == data.X.dtype and moved.name == "xor"


def test_standardize_uses_training_statistics_only():
    train = torch.tensor([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    test = torch.tensor([[3.0, 7.0]])
    train_s, test_s = standardize(train, test)
    np.testing.assert_allclose(train_s[:, 0].numpy(), [-1.0, 0.0, 1.0], atol=1e-6)  # std with n - 1 is 2
    np.testing.assert_allclose(train_s[:, 1].numpy(), 0.0)  # a constant feature is only centred
    np.testing.assert_allclose(test_s.numpy(), [[0.0, 2.0]], atol=1e-6)
    assert torch.equal(standardize(train), train_s)


def test_load_digits_split_sizes_and_content():
    splits = load_digits(seed=0)
    sizes = (len(splits.train), len(splits.val), len(splits.test))
    assert sizes == (1079, 359, 359)
    assert splits.train.X.shape[1] == 64 and splits.train.n_classes == 10
    np.testing.assert_allclose(splits.train.X.mean(0).numpy(), 0.0, atol=1e-5)
    raw = load_digits(seed=0, standardize_inputs=False)
    reference = sk_load_digits()
    all_X = torch.cat([raw.train.X, raw.val.X, raw.test.X]).numpy()
    all_y = torch.cat([raw.train.y, raw.val.y, raw.test.y]).numpy()
    order = np.lexsort(all_X.T[::-1])  # the same rows as scikit-learn's, in a shuffled order
    ref_order = np.lexsort(reference.data.T[::-1])
    np.testing.assert_array_equal(all_X[order], reference.data[ref_order])
    np.testing.assert_array_equal(np.bincount(all_y), np.bincount(reference.target))
    assert torch.equal(load_digits(seed=0).train.X, splits.train.X)
    assert not torch.equal(load_digits(seed=1).train.y, splits.train.y)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"test_fraction": -0.1}, "test_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.45}, "leave at least 10%"),
    ],
)
def test_load_digits_bad_fractions(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_digits(**kwargs)


def test_to_converts_inputs_and_float_targets_to_a_floating_dtype_and_keeps_labels():
    classes = make_xor(20, seed=0).to("cpu", torch.float64)
    assert classes.X.dtype == torch.float64 and classes.y.dtype == torch.int64
    regression = make_regression_1d(10, seed=0).to(dtype=torch.float64)
    assert regression.X.dtype == regression.y.dtype == torch.float64
    splits = load_digits(seed=0).to("cpu", torch.float64)
    assert {part.X.dtype for part in (splits.train, splits.val, splits.test)} == {torch.float64}
    with pytest.raises(ValueError, match="dtype must be a floating-point torch.dtype"):
        make_xor(20, seed=0).to("cpu", torch.int32)
