"""Losses and metrics written out in NumPy ("Getting started" and chapter 1, "Why deep learning").

PyTorch computes the same quantities (``torch.softmax``, ``torch.nn.functional.cross_entropy``,
``argmax`` comparisons, autograd for the gradient); these versions show the arithmetic and serve as
references for the first exercises.

Shapes: ``logits`` is ``(n, k)`` (n examples, k classes), ``labels`` is ``(n,)`` with integers in
``[0, k)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax", "cross_entropy", "cross_entropy_grad", "accuracy"]


def _check_logits(logits) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (n, k), got {logits.shape}")
    return logits


def _check_logits_labels(logits, labels) -> tuple[np.ndarray, np.ndarray]:
    logits, labels = _check_logits(logits), np.asarray(labels)
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"labels must lie in [0, {logits.shape[1]}), got values in [{labels.min()}, {labels.max()}]")
    return logits, labels


def softmax(logits: np.ndarray) -> np.ndarray:
    r"""Row-wise softmax :math:`p_{ij} = e^{z_{ij}} / \sum_l e^{z_{il}}` of logits (n, k), as float64.

    Subtracting each row's maximum first changes nothing mathematically (the factor :math:`e^{-m_i}`
    cancels) and keeps every exponential in (0, 1], so nothing overflows.
    """
    z = _check_logits(logits)
    z = z - z.max(axis=1, keepdims=True)  # (n, k), largest entry of each row 0
    e = np.exp(z)  # (n, k)
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    r"""Mean cross-entropy :math:`J = -\frac1n \sum_i \log p_{i, y_i}` of logits (n, k) and labels (n,).

    Computed with the log-sum-exp trick, :math:`\log p_{iy} = z_{iy} - m_i - \log \sum_j e^{z_{ij} - m_i}`
    with :math:`m_i = \max_j z_{ij}`, so that large logits neither overflow nor lose the answer to
    round-off (a probability that underflows to 0 would give :math:`\log 0 = -\infty`).
    """
    logits, labels = _check_logits_labels(logits, labels)
    m = logits.max(axis=1, keepdims=True)  # (n, 1)
    log_sum_exp = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))  # (n,)
    log_p = logits[np.arange(len(labels)), labels] - log_sum_exp  # (n,)
    return float(-log_p.mean())


def cross_entropy_grad(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    r"""The gradient of :func:`cross_entropy` with respect to the logits: :math:`(P - Y) / n`, shape (n, k).

    For one example, :math:`-\log p_y = -z_y + \log \sum_l e^{z_l}`, so
    :math:`\partial / \partial z_j = -[j = y] + e^{z_j} / \sum_l e^{z_l} = p_j - [j = y]`: the predicted
    probabilities minus the one-hot label. Averaging over the batch divides by :math:`n`. Chapter 1
    derives it and checks it against ``torch.autograd`` and finite differences.
    """
    logits, labels = _check_logits_labels(logits, labels)
    n = logits.shape[0]
    P = softmax(logits)  # (n, k)
    Y = np.zeros_like(P)  # (n, k): one-hot labels
    Y[np.arange(n), labels] = 1.0
    return (P - Y) / max(n, 1)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose largest logit is at the true label."""
    logits, labels = _check_logits_labels(logits, labels)
    return float((logits.argmax(axis=1) == labels).mean())
