"""Reproducibility and device selection: the calls at the top of every chapter.

Every chapter starts with::

    SEED = dnncourse.seed_everything()  # DNNCOURSE_SEED or 0
    device = dnncourse.device()         # DNNCOURSE_DEVICE, else CUDA when there is a GPU

and every random draw after that derives from ``SEED``: a function that draws takes ``seed=SEED + k``
or ``generator=dnncourse.generator(SEED + k, device)``. Two environment variables let the test suite
run a chapter under other conditions without editing it: ``DNNCOURSE_SEED`` (other random draws: the
text's claims must still hold) and ``DNNCOURSE_DEVICE`` (``cpu`` for the stored outputs, ``cuda`` for
the GPU check). See the "Getting started" chapter.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from dnncourse import _validation as check

__all__ = ["DEVICE_ENV", "SEED_ENV", "device", "forked_rng", "generator", "seed_everything"]

SEED_ENV = "DNNCOURSE_SEED"  # the seed seed_everything() uses when called without one
DEVICE_ENV = "DNNCOURSE_DEVICE"  # "cpu" or "cuda": the device device() picks when called without a preference


def _seed_from_environment() -> int:
    text = os.environ.get(SEED_ENV, "").strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) >= 2**32:
        raise ValueError(f"{SEED_ENV} must be an integer in [0, 2**32), got {text!r}")
    return int(text)


def seed_everything(seed: int | None = None, *, deterministic: bool = True) -> int:
    """Seed Python's, NumPy's and PyTorch's (CPU and every CUDA device) global random generators.

    ``seed=None`` reads the environment variable ``DNNCOURSE_SEED`` (0 when it is not set), so that the
    test suite can run a chapter with other seeds. With ``deterministic=True`` PyTorch is also asked to
    use deterministic algorithms (``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN's
    deterministic mode, no cuDNN autotuning), so that a chapter re-run on the same machine prints the
    same numbers.

    Call it once, at the top of a chapter. Returns the seed, from which every later draw derives.
    """
    seed = _seed_from_environment() if seed is None else check.integer("seed", seed, 0, 2**32 - 1)
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
    """The device experiments run on.

    ``prefer`` (``"cpu"`` or ``"cuda"``) decides when given; otherwise the environment variable
    ``DNNCOURSE_DEVICE`` does (``dnncourse execute`` and the test suite set ``cpu``, so that the stored
    outputs are the CPU run's); otherwise CUDA when a GPU is available, else the CPU.
    """
    source = "prefer"
    if prefer is None and os.environ.get(DEVICE_ENV, "").strip():
        prefer, source = os.environ[DEVICE_ENV].strip(), DEVICE_ENV
    if prefer is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check.one_of(source, prefer, ("cpu", "cuda"))
    if prefer == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{source} is 'cuda' but no CUDA device is available")
    return torch.device(prefer)


def generator(seed: int, device: torch.device | str | None = None) -> torch.Generator:
    """A new ``torch.Generator`` on ``device`` (the CPU when ``None``), seeded with ``seed``.

    Pass it to every function that draws random numbers for tensors on that device: CUDA draws need a
    CUDA generator. Unlike :func:`seed_everything` it touches no global state, so a draw made with it
    does not depend on what ran before.
    """
    seed = check.integer("seed", seed, 0, 2**64 - 1)
    return torch.Generator(device=torch.device("cpu") if device is None else torch.device(device)).manual_seed(seed)


@contextlib.contextmanager
def forked_rng(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run a block with PyTorch's global generators seeded with ``seed``, and restore them afterwards.

    For code that draws from the global generator and cannot be given one (``nn.Linear``'s default
    initialization, ``nn.Dropout``): inside the block its draws are repeatable, and after it the
    process-wide generators are as they were, so the caller's later draws do not depend on the block.
    Forks the CPU generator and, when ``device`` is a GPU, that GPU's generator.
    """
    seed = check.integer("seed", seed, 0, 2**64 - 1)
    device = torch.device(device)
    cuda = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield
