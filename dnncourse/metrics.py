"""Losses and metrics written out in NumPy, as in the "Getting started" chapter.

PyTorch computes the same quantities (``torch.nn.functional.cross_entropy``, ``argmax`` comparisons);
these versions show the arithmetic and serve as references for the first exercises.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax", "cross_entropy", "accuracy"]


def _check_logits_labels(logits: np.ndarray, labels: np.ndarray) -> None:
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (n, k), got {logits.shape}")
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"labels must lie in [0, {logits.shape[1]}), got values in [{labels.min()}, {labels.max()}]")


def softmax(logits: np.ndarray) -> np.ndarray:
    r"""Row-wise softmax :math:`p_{ik} = e^{z_{ik}} / \sum_j e^{z_{ij}}` of logits (n, k).

    Subtracting each row's maximum first changes nothing mathematically and avoids overflow.
    """
    z = logits - logits.max(axis=1, keepdims=True)  # (n, k), largest entry 0
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    r"""Mean cross-entropy :math:`-\frac1n \sum_i \log p_{i, y_i}` of logits (n, k) and labels (n,).

    Computed with the log-sum-exp trick, :math:`\log p_{iy} = z_{iy} - m_i - \log \sum_j e^{z_{ij} - m_i}`,
    so that large logits neither overflow nor lose the answer to round-off.
    """
    logits, labels = np.asarray(logits, dtype=float), np.asarray(labels)
    _check_logits_labels(logits, labels)
    m = logits.max(axis=1, keepdims=True)  # (n, 1)
    log_sum_exp = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))  # (n,)
    log_p = logits[np.arange(len(labels)), labels] - log_sum_exp  # (n,)
    return float(-log_p.mean())


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose largest logit is at the true label."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    _check_logits_labels(logits, labels)
    return float((logits.argmax(axis=1) == labels).mean())
