"""Tests of dnncourse.augment: exact geometry on whole pixels and quarter turns, seeding, shapes, devices."""

import pytest
import torch

from dnncourse.augment import AugmentConfig, affine_transform, augment_dataset, random_augment
from dnncourse.lab.data import Dataset


def _images(n=3, dtype=torch.float32):
    return (torch.arange(n * 64, dtype=dtype).reshape(n, 8, 8) % 17).to(dtype)  # (n, 8, 8) in 0..16


def test_zero_transform_is_the_identity():
    X = _images(dtype=torch.float64)
    out = affine_transform(X, torch.zeros(3), torch.zeros(3, 2))
    assert torch.allclose(out, X, atol=1e-12)


@pytest.mark.parametrize("dx, dy", [(1, 0), (-2, 0), (0, 1), (2, -1)])
def test_whole_pixel_shift_matches_a_roll_with_zero_fill(dx, dy):
    X = _images()
    expected = torch.roll(X, shifts=(dy, dx), dims=(1, 2))
    if dx > 0:
        expected[:, :, :dx] = 0
    if dx < 0:
        expected[:, :, dx:] = 0
    if dy > 0:
        expected[:, :dy, :] = 0
    if dy < 0:
        expected[:, dy:, :] = 0
    out = affine_transform(X, torch.zeros(3), torch.tensor([[float(dx), float(dy)]]).repeat(3, 1))
    assert torch.allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_quarter_turns_match_rot90(quarter_turns):
    X = _images()
    out = affine_transform(X, torch.full((3,), 90.0 * quarter_turns), torch.zeros(3, 2))
    # torch.rot90 turns from the first dimension towards the second: counter-clockwise as displayed.
    assert torch.allclose(out, torch.rot90(X, quarter_turns, dims=(1, 2)), atol=1e-4)


def test_fill_value_moves_in_at_the_border():
    X = torch.full((1, 8, 8), 5.0)
    out = affine_transform(X, torch.zeros(1), torch.tensor([[1.0, 0.0]]), fill=5.0)
    assert torch.allclose(out, X)


def test_flattened_and_image_layouts_agree():
    X = _images()
    angle, shift = torch.tensor([10.0, -20.0, 5.0]), torch.tensor([[0.5, -0.3], [1.0, 1.0], [0.0, 0.2]])
    flat = affine_transform(X.reshape(3, 64), angle, shift)
    assert flat.shape == (3, 64)
    assert torch.allclose(flat.reshape(3, 8, 8), affine_transform(X, angle, shift))


def test_random_augment_is_seeded_and_keeps_shape_dtype_device():
    X = _images(dtype=torch.float64).reshape(3, 64)
    config = AugmentConfig(max_shift=1.0, max_rotation=15.0, noise_std=0.5)
    a = random_augment(X, config, generator=torch.Generator().manual_seed(0))
    b = random_augment(X, config, generator=torch.Generator().manual_seed(0))
    c = random_augment(X, config, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == X.shape and a.dtype == X.dtype and a.device == X.device
    assert a.min() >= 0 and a.max() <= 16  # clamped to the digits' intensity range


def test_random_augment_with_zero_strength_is_the_identity():
    X = _images().reshape(3, 64)
    out = random_augment(X, AugmentConfig(max_shift=0.0, max_rotation=0.0, noise_std=0.0))
    assert torch.allclose(out, X, atol=1e-5)


def test_noise_has_the_requested_standard_deviation():
    X = torch.full((200, 64), 8.0)
    config = AugmentConfig(max_shift=0.0, max_rotation=0.0, noise_std=0.5, clamp=None)
    noise = random_augment(X, config, generator=torch.Generator().manual_seed(0)) - X
    assert abs(noise.std().item() - 0.5) < 0.02 and abs(noise.mean().item()) < 0.02


def test_augment_dataset_repeats_labels_and_keeps_originals():
    X = _images().reshape(3, 64)
    data = Dataset(X, torch.tensor([4, 1, 7]), "digits")
    bigger = augment_dataset(data, copies=2, seed=0)
    assert len(bigger) == 9 and bigger.name == "digits"
    assert torch.equal(bigger.X[:3], X)
    assert torch.equal(bigger.y, torch.tensor([4, 1, 7] * 3))
    assert torch.equal(augment_dataset(data, 2, seed=0).X, bigger.X)  # repeatable


def test_bad_arguments_raise_value_errors_naming_them():
    with pytest.raises(ValueError, match="max_shift must be"):
        AugmentConfig(max_shift=-1)
    with pytest.raises(ValueError, match="noise_std must be"):
        AugmentConfig(noise_std=float("nan"))
    with pytest.raises(ValueError, match="clamp must be"):
        AugmentConfig(clamp=(1.0, 0.0))
    with pytest.raises(ValueError, match="X must have shape"):
        affine_transform(torch.ones(2, 10), torch.zeros(2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="angle must have shape"):
        affine_transform(torch.ones(2, 64), torch.zeros(3), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="shift must have shape"):
        affine_transform(torch.ones(2, 64), torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match="config must be"):
        random_augment(torch.ones(2, 64), {"max_shift": 1})
    with pytest.raises(ValueError, match="copies must be"):
        augment_dataset(Dataset(torch.ones(2, 64), torch.zeros(2, dtype=torch.int64)), copies=-1)
