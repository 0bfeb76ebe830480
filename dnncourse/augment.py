"""Data augmentation for small images such as the 8x8 digits (chapter 8, "Regularization").

Augmentation enlarges a training set with label-preserving transformations: a digit shifted by a pixel,
turned by a few degrees or with a little noise added is still the same digit. Everything is pure PyTorch,
works on whatever device the images are on, and is repeatable: random draws come from a seeded
``torch.Generator`` on the CPU and are then moved to the images' device.

Images are ``(n, H, W)`` or flattened ``(n, H * W)`` (the digits data set, with ``shape=(8, 8)``); every
function returns the layout it was given. The transformations assume raw pixel intensities whose
background is ``fill`` (0 for the digits loaded with ``load_digits(standardize_inputs=False)``):
standardize *after* augmenting, with :func:`dnncourse.lab.data.standardize`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dnncourse import _validation as check
from dnncourse.lab.data import Dataset

__all__ = ["AugmentConfig", "affine_transform", "random_augment", "augment_dataset"]


@dataclass(frozen=True)
class AugmentConfig:
    """How strongly :func:`random_augment` perturbs each image (all draws uniform and independent per image)."""

    max_shift: float = 1.0  # pixels, in each direction; sub-pixel shifts are interpolated bilinearly
    max_rotation: float = 10.0  # degrees, either way
    noise_std: float = 0.0  # standard deviation of added Gaussian noise, in pixel intensity units
    fill: float = 0.0  # background intensity that moves in at the borders
    clamp: tuple[float, float] | None = (0.0, 16.0)  # intensity range after noise (the digits' 0..16), or None

    def __post_init__(self):
        for name in ("max_shift", "max_rotation", "noise_std"):
            check.non_negative(name, getattr(self, name))
        if self.clamp is not None and (len(self.clamp) != 2 or not self.clamp[0] < self.clamp[1]):
            raise ValueError(f"clamp must be None or a pair (low, high) with low < high, got {self.clamp!r}")


def _as_images(X: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    H, W = shape
    if X.ndim == 2 and X.shape[1] == H * W:
        return X.reshape(-1, 1, H, W)  # (n, H*W) -> (n, 1, H, W)
    if X.ndim == 3 and tuple(X.shape[1:]) == (H, W):
        return X.unsqueeze(1)  # (n, H, W) -> (n, 1, H, W)
    raise ValueError(f"X must have shape (n, {H * W}) or (n, {H}, {W}) for shape={shape}, got {tuple(X.shape)}")


def affine_transform(
    X: torch.Tensor,
    angle: torch.Tensor,
    shift: torch.Tensor,
    *,
    shape: tuple[int, int] = (8, 8),
    fill: float = 0.0,
) -> torch.Tensor:
    """Rotate each image by ``angle[i]`` degrees (counter-clockwise as displayed) about its centre, then shift it.

    ``shift[i] = (dx, dy)`` in pixels moves the content right by ``dx`` and down by ``dy``. Output pixel
    ``q`` takes the input's value at :math:`R(-\\theta)(q - c - t) + c` (``c`` the centre, ``t`` the shift),
    interpolated bilinearly; pixels that come from outside the image get ``fill``.
    Whole-pixel shifts and quarter turns are exact.

    Shapes: ``X`` (n, H*W) or (n, H, W); ``angle`` (n,); ``shift`` (n, 2) -> same shape as ``X``.
    """
    images = _as_images(X, shape)  # (n, 1, H, W)
    n, _, H, W = images.shape
    if angle.shape != (n,):
        raise ValueError(f"angle must have shape ({n},), got {tuple(angle.shape)}")
    if shift.shape != (n, 2):
        raise ValueError(f"shift must have shape ({n}, 2), got {tuple(shift.shape)}")
    theta = torch.deg2rad(angle.to(images.device, images.dtype))  # (n,)
    t = shift.to(images.device, images.dtype)  # (n, 2)
    # affine_grid works in normalized coordinates in [-1, 1]; with align_corners=False a pixel is 2/W wide.
    # Work in pixel units (sx, sy scale them), with y pointing down as in the displayed image.
    sx, sy = W / 2, H / 2
    cos, sin = torch.cos(theta), torch.sin(theta)
    # Inverse map (output -> input) in pixel units: p_in = R(-theta) (p_out - t), where a counter-clockwise
    # turn on screen (y down) is R(theta) = [[cos, sin], [-sin, cos]], so R(-theta) = [[cos, -sin], [sin, cos]].
    a11, a12 = cos, -sin * sy / sx
    a21, a22 = sin * sx / sy, cos
    bx = -(cos * t[:, 0] - sin * t[:, 1]) / sx
    by = -(sin * t[:, 0] + cos * t[:, 1]) / sy
    matrix = torch.stack([torch.stack([a11, a12, bx], 1), torch.stack([a21, a22, by], 1)], 1)  # (n, 2, 3)
    grid = F.affine_grid(matrix, [n, 1, H, W], align_corners=False)  # (n, H, W, 2)
    out = F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill
    return out.reshape(X.shape)  # back to the caller's layout


def random_augment(
    X: torch.Tensor,
    config: AugmentConfig = AugmentConfig(),
    *,
    shape: tuple[int, int] = (8, 8),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One random augmentation of every image: a random rotation and shift, then Gaussian noise.

    Angles are uniform in ``[-max_rotation, max_rotation]`` degrees, shifts uniform in
    ``[-max_shift, max_shift]`` pixels per axis, noise :math:`\\mathcal{N}(0, \\text{noise\\_std}^2)` per
    pixel; the result is clamped to ``config.clamp``. The draws use ``generator`` (a CPU generator; the
    global one if ``None``), so the same seed gives the same images on every device.

    Shapes: ``X`` (n, H*W) or (n, H, W) -> same shape, same device and dtype.
    """
    if not isinstance(config, AugmentConfig):
        raise ValueError(f"config must be an AugmentConfig, got {type(config).__name__}")
    check.generator_for(generator, "cpu")
    n = X.shape[0]
    angle = (2 * torch.rand(n, generator=generator) - 1) * config.max_rotation  # (n,) degrees
    shift = (2 * torch.rand(n, 2, generator=generator) - 1) * config.max_shift  # (n, 2) pixels
    out = affine_transform(X, angle, shift, shape=shape, fill=config.fill)
    if config.noise_std > 0:
        noise = torch.randn(X.shape, generator=generator, dtype=X.dtype) * config.noise_std
        out = out + noise.to(X.device)
    if config.clamp is not None:
        out = out.clamp(*config.clamp)
    return out


def augment_dataset(
    data: Dataset,
    copies: int,
    config: AugmentConfig = AugmentConfig(),
    *,
    shape: tuple[int, int] = (8, 8),
    seed: int = 0,
) -> Dataset:
    """The original examples followed by ``copies`` randomly augmented versions of each (labels repeated).

    Augmenting once, before training ("offline"), keeps the training loop unchanged; the new data set has
    ``(copies + 1) * len(data)`` rows, on the device of ``data``.
    """
    copies = check.integer("copies", copies, minimum=0)
    generator = torch.Generator(device="cpu").manual_seed(seed)  # CPU draws: the same images on every device
    X_parts = [data.X] + [random_augment(data.X, config, shape=shape, generator=generator) for _ in range(copies)]
    X = torch.cat(X_parts)  # ((copies + 1) * n, H*W)
    y = data.y.repeat(copies + 1, *([1] * (data.y.ndim - 1)))  # ((copies + 1) * n,)
    return Dataset(X, y, data.name)
