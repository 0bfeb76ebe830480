"""Regularization: weight penalties, early stopping, what a penalty chooses, label smoothing (chapter 8).

Everything here plugs into :func:`dnncourse.lab.training.train`:

* :func:`l2_penalty`, :func:`l1_penalty` and :func:`elastic_net_penalty` go into ``penalty=``, for example
  ``train(..., penalty=lambda m: l2_penalty(m, 1e-3))``;
* :class:`EarlyStopping` goes into ``on_epoch_end=``;
* :func:`label_smoothing_cross_entropy` goes into ``loss_fn=`` (as ``lambda z, y: ...``);
* :func:`ridge_solution`, :func:`min_norm_solution` and :func:`min_l1_solution` solve the underdetermined
  least-squares problem that shows what a penalty chooses among many exact fits;
* :func:`calibration_bins` and :func:`expected_calibration_error` measure how far a classifier's
  confidence is from its accuracy, the quantity label smoothing changes.

Dropout is in :mod:`dnncourse.dropout`, data augmentation in :mod:`dnncourse.augment` and transfer
learning in :mod:`dnncourse.transfer`.

Conventions of the penalties (stated once, used by all three): the L2 penalty is
:math:`\\tfrac{\\lambda}{2}\\sum_W \\|W\\|_F^2`, so its gradient is :math:`\\lambda W`, exactly what
``torch.optim.SGD(weight_decay=lam)`` adds to the gradient; the L1 penalty is :math:`\\lambda \\sum_W \\|W\\|_1`.
Only weight matrices and kernels (parameters with ``ndim > 1``) are penalized by default: biases and the
scale and shift of normalization layers do not make a network more complex, and penalizing them pulls
the outputs towards zero for no benefit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from dnncourse import _validation as check

__all__ = [
    "penalized_parameters",
    "l2_penalty",
    "l1_penalty",
    "elastic_net_penalty",
    "EarlyStopping",
    "early_stopping_epochs",
    "ridge_solution",
    "min_norm_solution",
    "min_l1_solution",
    "smooth_labels",
    "label_smoothing_cross_entropy",
    "calibration_bins",
    "expected_calibration_error",
]

ModelOrParams = nn.Module | torch.Tensor | Iterable[torch.Tensor]


# ----------------------------------------------------------------------------------------------- penalties


def penalized_parameters(model_or_params: ModelOrParams, include_biases: bool = False) -> list[torch.Tensor]:
    """The tensors a penalty acts on: every parameter with ``ndim > 1`` (weights), plus 1-D ones if asked.

    ``model_or_params`` is a module, one tensor, or an iterable of tensors.
    """
    if isinstance(model_or_params, nn.Module):
        params = list(model_or_params.parameters())
    elif isinstance(model_or_params, torch.Tensor):
        params = [model_or_params]
    else:
        try:
            params = list(model_or_params)
        except TypeError:
            kind = type(model_or_params).__name__
            raise ValueError(
                f"model_or_params must be an nn.Module, a tensor or an iterable of tensors, got {kind}"
            ) from None
        if not all(isinstance(w, torch.Tensor) for w in params):
            raise ValueError("model_or_params must contain only tensors")
    chosen = [w for w in params if include_biases or w.ndim > 1]
    if not chosen:
        raise ValueError(
            f"model_or_params has no parameters to penalize (include_biases={include_biases}; "
            "only tensors with ndim > 1 are weights)"
        )
    return chosen


def l2_penalty(model_or_params: ModelOrParams, lam: float, *, include_biases: bool = False) -> torch.Tensor:
    """Ridge / weight-decay penalty :math:`\\frac{\\lambda}{2} \\sum_W \\|W\\|_F^2`: a 0-d tensor, weights' device.

    The factor 1/2 makes the gradient :math:`\\lambda W`, which is exactly the term
    ``torch.optim.SGD(..., weight_decay=lam)`` adds to each gradient: for plain SGD (with or without momentum)
    adding this penalty to the loss and setting ``weight_decay=lam`` on the same parameters give the same
    steps. For Adam they differ: the penalty's gradient is rescaled by Adam's per-coordinate step size,
    which is why AdamW decouples the decay from the gradient (Loshchilov and Hutter, 2019).
    Some texts write :math:`\\lambda \\|W\\|^2`; that is this penalty with ``2 * lam``.
    """
    lam = check.non_negative("lam", lam)
    weights = penalized_parameters(model_or_params, include_biases)
    squared_norm = sum(W.pow(2).sum() for W in weights)
    return lam / 2 * squared_norm


def l1_penalty(model_or_params: ModelOrParams, lam: float, *, include_biases: bool = False) -> torch.Tensor:
    """Lasso penalty :math:`\\lambda \\sum_W \\|W\\|_1 = \\lambda \\sum_W \\sum_{ij} |W_{ij}|`.

    Its (sub)gradient is :math:`\\lambda\\,\\mathrm{sign}(W)`: a pull of constant size towards zero, which
    drives small weights to exactly zero at the optimum (sparsity; Tibshirani, 1996). Autograd uses the
    subgradient 0 at ``W_ij = 0``.
    """
    lam = check.non_negative("lam", lam)
    weights = penalized_parameters(model_or_params, include_biases)
    absolute_sum = sum(W.abs().sum() for W in weights)
    return lam * absolute_sum


def elastic_net_penalty(
    model_or_params: ModelOrParams, lam: float, l1_ratio: float = 0.5, *, include_biases: bool = False
) -> torch.Tensor:
    """Elastic net :math:`\\lambda \\big(\\alpha \\|W\\|_1 + \\frac{1 - \\alpha}{2} \\|W\\|_F^2\\big)`.

    :math:`\\alpha` is ``l1_ratio``: ``l1_ratio=1`` is :func:`l1_penalty`, ``l1_ratio=0`` is :func:`l2_penalty`
    (the parameterization of glmnet and scikit-learn). Zou and Hastie (2005) write the same family as
    :math:`\\lambda_1 \\|W\\|_1 + \\lambda_2 \\|W\\|_2^2`, i.e. ``lambda_1 = lam * l1_ratio`` and
    ``lambda_2 = lam * (1 - l1_ratio) / 2``. It keeps the L1 sparsity while the L2 part shares weight among
    correlated inputs instead of picking one of them at random.
    """
    lam = check.non_negative("lam", lam)
    alpha = check.in_range("l1_ratio", l1_ratio, 0, 1)
    weights = penalized_parameters(model_or_params, include_biases)
    absolute_sum = sum(W.abs().sum() for W in weights)
    squared_norm = sum(W.pow(2).sum() for W in weights)
    return lam * (alpha * absolute_sum + (1 - alpha) / 2 * squared_norm)


# ----------------------------------------------------------------------------------------------- early stopping


class EarlyStopping:
    """Stop training when a validation metric has not improved for ``patience`` epochs (Prechelt, 1998).

    Use it as ``train(..., val=val_data, on_epoch_end=EarlyStopping(model, patience=10))``. After each
    epoch it reads ``getattr(history, metric)[-1]``; an epoch *improves* when the value beats the best so
    far by more than ``min_delta`` (lower for ``mode="min"``, higher for ``mode="max"``). It keeps a copy
    of the model's ``state_dict`` at the best epoch, and after ``patience`` epochs in a row without
    improvement it returns ``True`` (so ``train`` stops) and, with ``restore_best``, loads the best weights
    back. If training ends without stopping, call :meth:`restore` yourself.

    Attributes after training: ``best`` (best metric value), ``best_epoch`` (0-based, as ``train`` counts),
    ``stopped_epoch`` (the epoch at which it stopped, or ``None``), ``wait`` (epochs since the best).
    Without a ``model`` it only watches the metric (nothing to save or restore).
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        patience: int = 5,
        *,
        min_delta: float = 0.0,
        mode: str = "min",
        metric: str = "val_loss",
        restore_best: bool = True,
    ):
        if model is not None:
            check.module("model", model)
        patience = check.integer("patience", patience, minimum=1)
        min_delta = check.non_negative("min_delta", min_delta)
        check.one_of("mode", mode, ("min", "max"))
        if not isinstance(metric, str) or not metric:
            raise ValueError(f"metric must be the name of a History list such as 'val_loss', got {metric!r}")
        self.model = model
        self.patience = patience
        self.min_delta = float(min_delta)
        self.mode = mode
        self.metric = metric
        self.restore_best = restore_best
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far (to reuse the object for another run)."""
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stopped_epoch: int | None = None
        self.wait = 0

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta`` (NaN never does)."""
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def __call__(self, epoch: int, history) -> bool:
        values = getattr(history, self.metric, None)
        if values is None:
            raise ValueError(f"metric {self.metric!r} is not a list of the history")
        if len(values) == 0:
            raise ValueError(f"history.{self.metric} is empty: pass val= to train() so it is measured")
        value = float(values[-1])
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.model is not None:
                # A copy, not a reference: the optimizer keeps changing the live tensors.
                self.best_state = {name: t.detach().clone() for name, t in self.model.state_dict().items()}
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            if self.restore_best:
                self.restore()
            return True
        return False

    def restore(self) -> None:
        """Load the weights of the best epoch back into the model (no-op if nothing was saved)."""
        if self.model is not None and self.best_state is not None:
            self.model.load_state_dict(self.best_state)


def early_stopping_epochs(
    values: Sequence[float], patience: int, *, min_delta: float = 0.0, mode: str = "min"
) -> tuple[int | None, int | None]:
    """Replay :class:`EarlyStopping` on a finished metric curve: ``(best_epoch, stopped_epoch)``.

    ``values[e]`` is the metric after epoch ``e`` (0-based). ``stopped_epoch`` is the epoch after which
    training would have stopped, or ``None`` if it would have run to the end; ``best_epoch`` is the epoch
    whose weights early stopping keeps (``None`` if no value was a number).
    """
    stopper = EarlyStopping(patience=patience, min_delta=min_delta, mode=mode, metric="values")

    curve = SimpleNamespace(values=[])  # the part of a History that EarlyStopping reads
    for epoch, value in enumerate(values):
        curve.values.append(float(value))
        if stopper(epoch, curve):
            break
    return stopper.best_epoch, stopper.stopped_epoch


# ----------------------------------------------------------------------------------------------- least squares


def ridge_solution(A: torch.Tensor, b: torch.Tensor, lam: float) -> torch.Tensor:
    """The minimizer of :math:`\\|A x - b\\|^2 + \\lambda \\|x\\|^2` for ``lam > 0``.

    Uses whichever of the two equal forms inverts the smaller matrix:
    :math:`x = (A^\\top A + \\lambda I_d)^{-1} A^\\top b = A^\\top (A A^\\top + \\lambda I_n)^{-1} b`.
    The second form shows the limit :math:`\\lambda \\to 0`: with ``n < d`` and ``A`` of full row rank it
    tends to :math:`A^\\top (A A^\\top)^{-1} b`, the minimum-norm solution (:func:`min_norm_solution`).

    Shapes: ``A`` (n, d), ``b`` (n,) or (n, k) -> ``x`` (d,) or (d, k).
    """
    if A.ndim != 2:
        raise ValueError(f"A must have shape (n, d), got {tuple(A.shape)}")
    if b.shape[0] != A.shape[0] or b.ndim > 2:
        raise ValueError(f"b must have shape ({A.shape[0]},) or ({A.shape[0]}, k), got {tuple(b.shape)}")
    lam = check.positive("lam", lam)
    n, d = A.shape
    if n < d:
        I_n = torch.eye(n, dtype=A.dtype, device=A.device)
        return A.T @ torch.linalg.solve(A @ A.T + lam * I_n, b)  # (d, n) @ (n,) -> (d,)
    I_d = torch.eye(d, dtype=A.dtype, device=A.device)
    return torch.linalg.solve(A.T @ A + lam * I_d, A.T @ b)  # (d, d) \ (d,) -> (d,)


def min_norm_solution(A: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The least-squares solution of smallest norm, :math:`x^+ = A^+ b` (Moore-Penrose pseudo-inverse).

    With ``n < d`` and full row rank, :math:`A x = b` has infinitely many solutions
    (:math:`x^+ + z` for any :math:`z` in the null space of ``A``); :math:`x^+` is the one orthogonal to
    that null space, hence the shortest. Shapes: ``A`` (n, d), ``b`` (n,) or (n, k) -> (d,) or (d, k).
    """
    if A.ndim != 2:
        raise ValueError(f"A must have shape (n, d), got {tuple(A.shape)}")
    if b.shape[0] != A.shape[0] or b.ndim > 2:
        raise ValueError(f"b must have shape ({A.shape[0]},) or ({A.shape[0]}, k), got {tuple(b.shape)}")
    return torch.linalg.pinv(A) @ b  # (d, n) @ (n,) -> (d,)


def min_l1_solution(A: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The exact solution of :math:`A x = b` with the smallest L1 norm: :math:`\\min \\|x\\|_1` s.t. :math:`Ax = b`.

    Writing :math:`x = u - v` with :math:`u, v \\ge 0` makes it a linear program,

    .. math:: \\min_{u, v \\ge 0} \\ \\mathbf 1^\\top u + \\mathbf 1^\\top v \\quad \\text{s.t.} \\quad A u - A v = b,

    solved here by the dual simplex method (SciPy's HiGHS), which returns a *basic* solution: a vertex of
    the feasible set, with at most ``n`` (the number of equations) nonzero entries. That bound holds
    whatever the sparsest solution is; the minimum-L1 solution *is* the sparsest one only under extra
    conditions on ``A`` and on how sparse that solution is (for example the restricted isometry property
    of Candès and Tao, 2005). Chapter 8 measures both facts.

    Shapes: ``A`` (n, d), ``b`` (n,) -> ``x`` (d,), in ``A``'s dtype and on its device (the program is
    solved in float64 on the CPU). A system without a solution raises ``ValueError``.
    """
    from scipy.optimize import linprog  # SciPy comes with scikit-learn; imported only when needed

    if A.ndim != 2 or not A.is_floating_point():
        raise ValueError(f"A must be a floating-point tensor of shape (n, d), got shape {tuple(A.shape)}")
    if b.shape != (A.shape[0],):
        raise ValueError(f"b must have shape ({A.shape[0]},), got {tuple(b.shape)}")
    if not (torch.isfinite(A).all() and torch.isfinite(b).all()):
        raise ValueError("A and b must contain only finite numbers")
    d = A.shape[1]
    A64 = A.detach().to("cpu", torch.float64).numpy()
    b64 = b.detach().to("cpu", torch.float64).numpy()
    result = linprog(
        c=[1.0] * (2 * d),  # objective: sum(u) + sum(v) = ||x||_1 at the optimum
        A_eq=np.hstack([A64, -A64]),  # (n, 2d): A u - A v = b
        b_eq=b64,
        bounds=(0, None),  # u, v >= 0
        method="highs-ds",  # dual simplex: the answer is a vertex (a basic solution)
    )
    if result.status == 2:
        raise ValueError("A x = b has no solution (the equations are inconsistent)")
    if result.status != 0:
        raise ValueError(f"the linear program for min ||x||_1 subject to A x = b failed: {result.message}")
    u, v = result.x[:d], result.x[d:]
    return torch.as_tensor(u - v, dtype=A.dtype, device=A.device)  # (d,)


# ----------------------------------------------------------------------------------------------- label smoothing


def _labels(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    if not isinstance(y, torch.Tensor) or y.ndim != 1 or y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"y must be a 1-D tensor of integer class labels, got {y!r}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"y must hold class labels in [0, {num_classes - 1}], got values from {int(y.min())} to {int(y.max())}"
        )
    return y


def smooth_labels(y: torch.Tensor, num_classes: int, eps: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Label-smoothed targets :math:`q = (1 - \\varepsilon)\\,\\mathrm{onehot}(y) + \\varepsilon / K`.

    Label smoothing is due to Szegedy et al. (2016). The true class gets
    :math:`1 - \\varepsilon + \\varepsilon / K`, every other class :math:`\\varepsilon / K`; each row sums
    to 1, and ``eps = 0`` gives the one-hot targets.

    Shapes: ``y`` (n,) integer labels -> (n, K) in ``dtype``, on ``y``'s device.
    """
    num_classes = check.integer("num_classes", num_classes, minimum=2)
    eps = check.probability("eps", eps)
    y = _labels(y, num_classes)
    q = torch.full((len(y), num_classes), eps / num_classes, dtype=dtype, device=y.device)  # (n, K)
    q[torch.arange(len(y), device=y.device), y] += 1 - eps  # the true class: 1 - eps + eps / K
    return q


def label_smoothing_cross_entropy(logits: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Cross-entropy against smoothed targets, averaged over the batch: the same as PyTorch's
    ``F.cross_entropy(logits, y, label_smoothing=eps)``.

    .. math:: L = -\\frac1n \\sum_i \\sum_k q_{ik} \\log \\mathrm{softmax}(z_i)_k,
        \\qquad \\frac{\\partial L}{\\partial z_i} = \\frac{\\mathrm{softmax}(z_i) - q_i}{n}.

    With one-hot targets the loss only reaches its infimum as the true logit runs away from the others;
    with :math:`\\varepsilon > 0` it has a finite minimizer, where :math:`\\mathrm{softmax}(z_i) = q_i`, i.e. the
    true logit exceeds every other one by :math:`\\log\\big(1 + K(1-\\varepsilon)/\\varepsilon\\big)`.

    Shapes: ``logits`` (n, K), ``y`` (n,) integer labels -> a 0-d tensor.
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or not logits.is_floating_point():
        raise ValueError(f"logits must be a float tensor of shape (n, K), got {logits!r}")
    if y.shape != logits.shape[:1]:
        raise ValueError(f"y must have shape ({logits.shape[0]},) to match the logits, got {tuple(y.shape)}")
    log_p = torch.log_softmax(logits, dim=1)  # (n, K)
    q = smooth_labels(y, logits.shape[1], eps, dtype=log_p.dtype)  # (n, K)
    return -(q * log_p).sum(dim=1).mean()


# ----------------------------------------------------------------------------------------------- calibration


def calibration_bins(
    probs: torch.Tensor, y: torch.Tensor, n_bins: int = 10
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The data of a reliability diagram: mean confidence, accuracy and size of each confidence bin.

    The confidence of a prediction is its largest probability :math:`\\max_k p_k`; bin ``b`` holds the
    predictions with confidence in :math:`(b/B, (b+1)/B]` (``B = n_bins``). A calibrated classifier has
    accuracy equal to confidence in every bin. Returns ``(confidence, accuracy, count)``, each of shape
    (n_bins,); the first two are NaN for an empty bin.

    Shapes: ``probs`` (n, K) with rows of probabilities, ``y`` (n,) integer labels.
    """
    if not isinstance(probs, torch.Tensor) or probs.ndim != 2 or not probs.is_floating_point() or len(probs) == 0:
        raise ValueError(f"probs must be a non-empty float tensor of shape (n, K), got {probs!r}")
    if not bool(((probs >= 0) & (probs <= 1)).all()):
        raise ValueError("probs must hold probabilities in [0, 1] (apply softmax to logits first)")
    if y.shape != probs.shape[:1]:
        raise ValueError(f"y must have shape ({probs.shape[0]},) to match probs, got {tuple(y.shape)}")
    n_bins = check.integer("n_bins", n_bins, minimum=1)
    y = _labels(y, probs.shape[1])
    confidence, prediction = probs.max(dim=1)  # (n,), (n,)
    correct = (prediction == y).to(probs.dtype)  # (n,)
    index = (confidence * n_bins).ceil().long().clamp(1, n_bins) - 1  # (n,) bin of each prediction
    count = torch.zeros(n_bins, dtype=probs.dtype, device=probs.device).index_add_(0, index, torch.ones_like(correct))
    confidence_sum = torch.zeros_like(count).index_add_(0, index, confidence)
    correct_sum = torch.zeros_like(count).index_add_(0, index, correct)
    return confidence_sum / count, correct_sum / count, count  # 0 / 0 = NaN for an empty bin


def expected_calibration_error(probs: torch.Tensor, y: torch.Tensor, n_bins: int = 10) -> float:
    """Expected calibration error :math:`\\mathrm{ECE} = \\sum_b \\frac{n_b}{n}\\,|\\mathrm{acc}_b - \\mathrm{conf}_b|`.

    The gap between accuracy and mean confidence in each bin of :func:`calibration_bins`, weighted by
    the share of predictions in the bin (Naeini et al., 2015; Guo et al., 2017). 0 for a calibrated
    classifier; it does not say in which direction the confidence is off (compare the mean confidence
    with the accuracy for that).
    """
    confidence, accuracy, count = calibration_bins(probs, y, n_bins)
    used = count > 0
    gaps = (accuracy[used] - confidence[used]).abs()  # (bins used,)
    return float((count[used] * gaps).sum() / count.sum())
