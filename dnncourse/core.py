"""Reproducibility and device selection: the two calls at the top of every chapter.

See the "Getting started" chapter for how they are used.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["seed_everything", "device"]


def seed_everything(seed: int = 0, *, deterministic: bool = True) -> int:
    """Seed Python's, NumPy's and PyTorch's (CPU and every CUDA device) random generators.

    With ``deterministic=True`` PyTorch is also asked to use deterministic algorithms
    (``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN's deterministic mode,
    no cuDNN autotuning), so that a chapter re-run on the same machine prints the same numbers.

    Returns the seed, so that it can be printed or stored.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        # cuBLAS needs this workspace setting for deterministic matrix products on CUDA >= 10.2.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return seed


def device(prefer: str | None = None) -> torch.device:
    """The device experiments run on: CUDA when a GPU is available, otherwise the CPU.

    ``prefer="cpu"`` forces the CPU (handy for comparing numbers with the book's stored outputs).
    """
    if prefer is not None:
        if prefer not in ("cpu", "cuda"):
            raise ValueError(f"prefer must be 'cpu', 'cuda' or None, got {prefer!r}")
        if prefer == "cuda" and not torch.cuda.is_available():
            raise ValueError("prefer='cuda' but no CUDA device is available")
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
