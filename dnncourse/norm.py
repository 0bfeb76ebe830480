"""Normalization layers written from scratch: batch, layer, group and instance norm (chapter 7).

Batch normalization {cite}`ioffe2015batch` normalizes every channel (feature) ``c`` with statistics of the
mini-batch ``B`` of ``m`` values that channel takes, then scales and shifts it with learnable parameters:

    mu_B      = 1/m sum_i x_i                       (mini-batch mean)
    sigma2_B  = 1/m sum_i (x_i - mu_B)^2            (mini-batch variance, *biased*: divides by m)
    x_hat_i   = (x_i - mu_B) / sqrt(sigma2_B + eps) (normalize)
    y_i       = gamma * x_hat_i + beta              (scale and shift)

In training the layer also keeps running averages for evaluation, with PyTorch's convention

    running = (1 - momentum) * running + momentum * batch_statistic

where the running variance is updated with the *unbiased* batch variance ``sigma2_B * m / (m - 1)``;
``momentum=None`` gives the plain cumulative average ``1/t`` of all ``t`` batches seen so far.
In eval mode ``mu_B, sigma2_B`` are replaced by the running averages (unless
``track_running_stats=False``, in which case batch statistics are used in both modes, as in PyTorch).

Shapes: ``BatchNorm1d`` takes (N, C) or (N, C, L), ``BatchNorm2d`` takes (N, C, H, W); statistics are
per channel, over every axis except axis 1. ``LayerNorm`` normalizes each example over its last axes,
``GroupNorm`` each example over groups of channels (``InstanceNorm`` is the case of one channel per group).

The module is a drop-in replacement for ``torch.nn.BatchNorm1d/2d``, ``LayerNorm`` and ``GroupNorm``:
same parameter and buffer names, so ``state_dict`` files load both ways. The module also folds an
eval-mode batch norm into the linear layer before it (:func:`fold_batchnorm`) or after it
(:func:`fold_batchnorm_into_next_params`) and whitens data (:func:`whiten`); standardization is
:func:`dnncourse.lab.data.standardize`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from dnncourse import _validation as check

__all__ = [
    "BatchNormFunction",
    "batch_norm",
    "batchnorm_backward",
    "BatchNorm1d",
    "BatchNorm2d",
    "LayerNorm",
    "GroupNorm",
    "InstanceNorm",
    "fold_batchnorm_params",
    "fold_batchnorm_into_next_params",
    "fold_batchnorm",
    "Whitening",
    "whiten",
]


def _channel_view(x: torch.Tensor) -> tuple[list[int], tuple[int, ...]]:
    """The axes statistics are reduced over (all but the channel axis 1) and the broadcast shape of a (C,) vector."""
    dims = [0, *range(2, x.ndim)]  # N and every spatial axis
    shape = (1, -1) + (1,) * (x.ndim - 2)  # (C,) -> (1, C, 1, ..., 1)
    return dims, shape


def batchnorm_backward(
    dy: torch.Tensor, x_hat: torch.Tensor, gamma: torch.Tensor, sigma2_B: torch.Tensor, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hand-written backward of training-mode batch norm, in its compact form.

    Given the upstream gradient ``dy = dL/dy`` (N, C, *), the normalized input ``x_hat`` and the biased
    batch variance ``sigma2_B`` (C,), with ``m`` values per channel:

        dL/dbeta  = sum_i dy_i
        dL/dgamma = sum_i dy_i x_hat_i
        dL/dx_i   = gamma / sqrt(sigma2_B + eps) * (dy_i - mean_j(dy_j) - x_hat_i * mean_j(dy_j x_hat_j))

    Returns ``(dx, dgamma, dbeta)``. Exercise 7.3 asks the reader to derive it; the tests compare it with autograd.
    """
    dims, shape = _channel_view(dy)
    m = dy.numel() // dy.shape[1]
    dbeta = dy.sum(dim=dims)  # (C,)
    dgamma = (dy * x_hat).sum(dim=dims)  # (C,)
    mean_dy, mean_dy_x_hat = dbeta / m, dgamma / m  # (C,), (C,)
    scale = gamma * torch.rsqrt(sigma2_B + eps)  # (C,)
    dx = dy - mean_dy.view(shape)  # (N, C, *)
    dx.addcmul_(x_hat, mean_dy_x_hat.view(shape), value=-1)  # dx -= x_hat * mean(dy x_hat), in place
    dx.mul_(scale.view(shape))  # dx *= gamma / sqrt(sigma2_B + eps)
    return dx, dgamma, dbeta


class BatchNormFunction(torch.autograd.Function):
    """Training-mode batch norm with batch statistics; its backward is the hand-written :func:`batchnorm_backward`.

    ``BatchNormFunction.apply(x, gamma, beta, eps)`` returns ``(y, mu_B, sigma2_B)``; only ``y`` carries gradients.
    Writing the backward by hand, instead of letting autograd differentiate the eight small operations of the
    forward one by one, saves most of the backward's passes over the data (``benchmarks/bench_norm.py``).
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        dims, shape = _channel_view(x)
        mu_B = x.mean(dim=dims)  # (C,)            mini-batch mean
        x_centered = x - mu_B.view(shape)  # (N, C, *)
        sigma2_B = (x_centered * x_centered).mean(dim=dims)  # (C,)  mini-batch variance, biased: divides by m
        x_hat = x_centered.mul_(torch.rsqrt(sigma2_B.view(shape) + eps))  # (N, C, *)  normalize, in place
        y = torch.addcmul(beta.view(shape), gamma.view(shape), x_hat)  # (N, C, *)  scale and shift: gamma x_hat + beta
        ctx.save_for_backward(x_hat, gamma, sigma2_B)
        ctx.eps = eps
        ctx.mark_non_differentiable(mu_B, sigma2_B)
        return y, mu_B, sigma2_B

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, _unused_dmu, _unused_dsigma2):
        x_hat, gamma, sigma2_B = ctx.saved_tensors
        dx, dgamma, dbeta = batchnorm_backward(dy, x_hat, gamma, sigma2_B, ctx.eps)
        return dx, dgamma, dbeta, None


def batch_norm(
    x: torch.Tensor,
    gamma: torch.Tensor | None,
    beta: torch.Tensor | None,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    *,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Batch normalization of ``x`` (N, C, *) per channel; the function behind :class:`BatchNorm1d`.

    With ``training=True`` (or no running statistics) it normalizes with the batch statistics
    ``mu_B, sigma2_B`` (:class:`BatchNormFunction`) and, if ``running_mean``/``running_var`` are given,
    updates them *in place*: ``running = (1 - momentum) * running + momentum * statistic``, with the
    unbiased variance ``sigma2_B * m / (m - 1)``. With ``training=False`` it normalizes with the running
    statistics. ``gamma``/``beta`` (C,) may be ``None`` (no scale and shift: gamma = 1, beta = 0).
    """
    _, shape = _channel_view(x)
    if training or running_mean is None:
        if gamma is None:
            gamma = torch.ones(x.shape[1], dtype=x.dtype, device=x.device)  # (C,)
            beta = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)  # (C,)
        y, mu_B, sigma2_B = BatchNormFunction.apply(x, gamma, beta, eps)  # (N, C, *), (C,), (C,)
        if training and running_mean is not None:
            m = x.numel() // x.shape[1]  # values per channel in the batch
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mu_B)
                running_var.mul_(1 - momentum).add_(momentum * sigma2_B * (m / (m - 1)))  # unbiased
        return y
    # Evaluation: the population estimates gathered in training replace mu_B and sigma2_B.
    x_hat = (x - running_mean.view(shape)) * torch.rsqrt(running_var.view(shape) + eps)  # (N, C, *)
    if gamma is None:
        return x_hat
    return gamma.view(shape) * x_hat + beta.view(shape)  # y = gamma x_hat + beta


class _BatchNorm(nn.Module):
    """Shared code of :class:`BatchNorm1d` and :class:`BatchNorm2d` (they differ only in the accepted shapes)."""

    _ndims: tuple[int, ...] = ()
    _layout: str = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        num_features = check.integer("num_features", num_features, minimum=1)
        eps = check.positive("eps", eps)
        if momentum is not None:
            momentum = check.in_range("momentum", momentum, 0, 1)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        factory = {"device": device, "dtype": dtype}
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features, **factory))  # gamma
            self.bias = nn.Parameter(torch.zeros(num_features, **factory))  # beta
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            # Buffers: saved in the state_dict and moved by .to(), but not learned by the optimizer.
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim not in self._ndims:
            raise ValueError(f"{type(self).__name__} expects input of shape {self._layout}, got shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) expects {self.num_features} channels in axis 1 "
                f"(shape {self._layout} with C={self.num_features}), got shape {tuple(x.shape)}"
            )
        uses_batch_statistics = self.training or not self.track_running_stats
        if uses_batch_statistics and x.numel() // x.shape[1] == 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input of shape {tuple(x.shape)}: "
                "a batch of one has no variance (use a batch of at least 2, or eval() with running statistics)"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, *) -> (N, C, *)
        self._check_input(x)
        momentum = 0.0
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            # momentum=None: cumulative average, the t-th batch gets weight 1/t.
            momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        return batch_norm(
            x,
            self.weight,
            self.bias,
            self.running_mean,
            self.running_var,
            training=self.training,
            momentum=momentum,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) features or (N, C, L) sequences, per channel C (see the module docstring).

    Parameters ``weight`` (gamma) and ``bias`` (beta), buffers ``running_mean``, ``running_var`` and
    ``num_batches_tracked``: the names and defaults (``eps=1e-5``, ``momentum=0.1``) of ``torch.nn.BatchNorm1d``.
    """

    _ndims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) images per channel C, over the batch and both spatial axes."""

    _ndims = (4,)
    _layout = "(N, C, H, W)"


class LayerNorm(nn.Module):
    """Layer normalization {cite}`ba2016layer`: each example is normalized over its last axes.

    For ``normalized_shape = (D,)`` and input (*, D): ``mu = mean(x[..., :])``, ``sigma2`` the biased variance
    over the same D values, ``y = gamma * (x - mu) / sqrt(sigma2 + eps) + beta`` with gamma, beta of shape (D,).
    No batch statistics, so train and eval behave the same and a batch of one is fine.
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
            raise ValueError(f"normalized_shape must be a positive integer or tuple of them, got {normalized_shape!r}")
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.ones(shape, **factory)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(shape, **factory)) if elementwise_affine and bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (*, *normalized_shape) -> same
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[-k:]) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm expects input of shape (*, {', '.join(map(str, self.normalized_shape))}), "
                f"got shape {tuple(x.shape)}"
            )
        dims = list(range(x.ndim - k, x.ndim))  # the last k axes
        sigma2, mu = torch.var_mean(x, dim=dims, correction=0, keepdim=True)  # (*, 1, ..., 1)
        y = (x - mu) * torch.rsqrt(sigma2 + self.eps)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(nn.Module):
    """Group normalization {cite}`wu2018group`: each example's C channels are split into G groups of C/G
    channels, and each group is normalized over its channels and all spatial positions.

    Input (N, C, *). ``num_groups=1`` normalizes each example over everything (LayerNorm over (C, *));
    ``num_groups=C`` normalizes each channel of each example alone (InstanceNorm). gamma, beta are per channel.
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        num_groups = check.integer("num_groups", num_groups, minimum=1)
        num_channels = check.integer("num_channels", num_channels, minimum=1)
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.ones(num_channels, **factory)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_channels, **factory)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, *) -> (N, C, *)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (N, {self.num_channels}, *), got shape {tuple(x.shape)}"
            )
        N, G = x.shape[0], self.num_groups
        groups = x.reshape(N, G, -1)  # (N, G, C/G * spatial): one row per group
        sigma2, mu = torch.var_mean(groups, dim=2, correction=0, keepdim=True)  # (N, G, 1)
        y = ((groups - mu) * torch.rsqrt(sigma2 + self.eps)).reshape(x.shape)  # back to (N, C, *)
        if self.affine:
            shape = (1, -1) + (1,) * (x.ndim - 2)  # (C,) -> (1, C, 1, ..., 1)
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class InstanceNorm(GroupNorm):
    """Instance normalization {cite}`ulyanov2016instance`: :class:`GroupNorm` with one channel per group.

    Each channel of each example is normalized over its spatial positions, input (N, C, L) or (N, C, H, W).
    ``affine=False`` by default, like ``torch.nn.InstanceNorm1d/2d`` (which also keeps no running statistics
    by default).
    """

    def __init__(self, num_channels: int, eps: float = 1e-5, affine: bool = False, device=None, dtype=None):
        super().__init__(num_channels, num_channels, eps=eps, affine=affine, device=device, dtype=dtype)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}, affine={self.affine}"


def _check_fold_shapes(W, b, gamma, beta, mean, var, channels_axis: int) -> None:
    """``gamma, beta, mean, var`` must be vectors of the C channels, W's axis ``channels_axis`` must have C."""
    if len(getattr(W, "shape", ())) != 2:
        raise ValueError(f"W must be a matrix (2-D array or tensor), got shape {tuple(getattr(W, 'shape', ()))}")
    C = W.shape[channels_axis]
    for name, value in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var)):
        if tuple(getattr(value, "shape", ())) != (C,):
            shape = tuple(getattr(value, "shape", ()))
            raise ValueError(f"{name} must have shape ({C},) to match W of shape {tuple(W.shape)}, got shape {shape}")
    out = W.shape[0]
    if b is not None and tuple(getattr(b, "shape", ())) != (out,):
        shape = tuple(getattr(b, "shape", ()))
        raise ValueError(f"b must have shape ({out},) to match W of shape {tuple(W.shape)}, got shape {shape}")


def fold_batchnorm_params(W, b, gamma, beta, mean, var, eps: float = 1e-5):
    """Fold an eval-mode batch norm into the linear layer before it (NumPy arrays or tensors alike).

    ``BN(W x + b) = gamma * (W x + b - mean) / sqrt(var + eps) + beta = W' x + b'`` with

        s  = gamma / sqrt(var + eps)     (C,)
        W' = s[:, None] * W              (C, D): row c of W scaled by s_c
        b' = s * (b - mean) + beta       (C,)

    ``b=None`` means the linear layer has no bias (b = 0). Returns ``(W', b')``.
    """
    _check_fold_shapes(W, b, gamma, beta, mean, var, channels_axis=0)
    eps = check.non_negative("eps", eps)
    s = gamma / (var + eps) ** 0.5  # (C,)
    W_folded = s[:, None] * W  # (C, D)
    b_folded = s * ((0 if b is None else b) - mean) + beta  # (C,)
    return W_folded, b_folded


def fold_batchnorm_into_next_params(W, b, gamma, beta, mean, var, eps: float = 1e-5):
    """Fold an eval-mode batch norm into the linear layer *after* it (NumPy arrays or tensors alike).

    With ``norm_position="after"`` a block computes linear, activation, batch norm, and the batch norm's
    output ``h`` (C values) feeds the next layer ``z = W h + b``, ``W`` (K, C). With the same
    ``s = gamma / sqrt(var + eps)`` (C,) as in :func:`fold_batchnorm_params`:

        W BN(h) + b = W (s * (h - mean) + beta) + b = W' h + b'
        W' = W * s[None, :]              (K, C): column c of W scaled by s_c
        b' = b + W @ (beta - s * mean)   (K,)

    ``b=None`` means the next layer has no bias. Returns ``(W', b')``; chapter 7's exercise 7.2.
    """
    _check_fold_shapes(W, b, gamma, beta, mean, var, channels_axis=1)
    eps = check.non_negative("eps", eps)
    s = gamma / (var + eps) ** 0.5  # (C,)
    W_folded = W * s[None, :]  # (K, C)
    b_folded = (0 if b is None else b) + W @ (beta - s * mean)  # (K,)
    return W_folded, b_folded


def fold_batchnorm(linear: nn.Linear, bn: nn.Module) -> nn.Linear:
    """One ``nn.Linear`` computing ``bn(linear(x))`` of an eval-mode batch norm (ours or ``torch.nn.BatchNorm1d``).

    Uses the running statistics, so ``bn`` must track them; its affine parameters default to gamma=1, beta=0.
    The new layer has a bias even if ``linear`` has none, and lives on ``linear``'s device and dtype.
    """
    if not isinstance(linear, nn.Linear):
        raise ValueError(f"linear must be an nn.Linear, got {type(linear).__name__}")
    if getattr(bn, "running_mean", None) is None or getattr(bn, "running_var", None) is None:
        raise ValueError(f"bn must keep running statistics (track_running_stats=True), got {bn!r}")
    if bn.running_mean.shape[0] != linear.out_features:
        raise ValueError(
            f"bn has {bn.running_mean.shape[0]} channels but linear has out_features={linear.out_features}"
        )
    with torch.no_grad():
        ones = torch.ones_like(bn.running_mean)
        gamma = bn.weight if bn.weight is not None else ones
        beta = bn.bias if bn.bias is not None else torch.zeros_like(ones)
        W, b = fold_batchnorm_params(linear.weight, linear.bias, gamma, beta, bn.running_mean, bn.running_var, bn.eps)
        factory = {"device": linear.weight.device, "dtype": linear.weight.dtype}
        folded = nn.Linear(linear.in_features, linear.out_features, **factory)
        folded.weight.copy_(W)
        folded.bias.copy_(b)
    return folded


@dataclass(frozen=True)
class Whitening:
    """A fitted whitening transform ``x -> W (x - mean)``: ``mean`` (d,), ``W`` (d, d)."""

    mean: torch.Tensor
    W: torch.Tensor

    def __call__(self, X: torch.Tensor) -> torch.Tensor:  # (n, d) -> (n, d)
        return (X - self.mean) @ self.W.T


def whiten(X: torch.Tensor, eps: float = 1e-5, method: str = "pca") -> tuple[torch.Tensor, Whitening]:
    """Whiten (decorrelate and standardize) the rows of ``X`` (n, d): the result has covariance ≈ I.

    With the covariance ``Sigma = U diag(lambda) U^T`` (unbiased, divides by n - 1):

    * ``"pca"``: ``W = diag(1 / sqrt(lambda + eps)) U^T``: rotate onto the principal axes, then rescale;
    * ``"zca"``: ``W = U diag(1 / sqrt(lambda + eps)) U^T``: the same, rotated back (stays close to the data).

    Either way ``W Sigma W^T = I`` (up to eps). Eigenvectors are signed so that their largest entry is
    positive, which makes the result reproducible. Returns ``(W (X - mean), transform)``; apply
    ``transform`` to new data (validation, test) so it uses the training statistics.
    """
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"X must have shape (n, d) with n >= 2, got {tuple(X.shape)}")
    check.one_of("method", method, ("pca", "zca"))
    mean = X.mean(dim=0)  # (d,)
    Xc = X - mean  # (n, d)
    Sigma = Xc.T @ Xc / (X.shape[0] - 1)  # (d, d)
    lam, U = torch.linalg.eigh(Sigma)  # ascending eigenvalues (d,), eigenvectors in columns (d, d)
    lam, U = lam.flip(0), U.flip(1)  # largest variance first
    sign = torch.sign(U.gather(0, U.abs().argmax(dim=0, keepdim=True)))  # (1, d)
    U = U * sign
    W = torch.diag(torch.rsqrt(lam.clamp_min(0) + eps)) @ U.T  # (d, d), PCA whitening
    if method == "zca":
        W = U @ W
    transform = Whitening(mean, W)
    return transform(X), transform
