"""dnncourse.core: seeding (from the environment too), device choice, generators and forked generators."""

import random
import subprocess
import sys

import numpy as np
import pytest
import torch

import dnncourse
from dnncourse.core import forked_rng


def _draws():
    return random.random(), np.random.rand(), torch.rand(1).item()


def test_seed_everything_repeats_every_generator():
    dnncourse.seed_everything(123)
    first = _draws()
    dnncourse.seed_everything(123)
    assert _draws() == first
    dnncourse.seed_everything(124)
    assert _draws() != first


def test_seed_everything_returns_seed_and_sets_deterministic_mode():
    assert dnncourse.seed_everything(7) == 7
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "0", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed must be an integer in"):
        dnncourse.seed_everything(bad)


def test_seed_everything_without_a_seed_reads_the_environment(monkeypatch):
    monkeypatch.delenv("DNNCOURSE_SEED", raising=False)
    assert dnncourse.seed_everything() == 0
    monkeypatch.setenv("DNNCOURSE_SEED", "42")
    assert dnncourse.seed_everything() == 42
    first = _draws()
    dnncourse.seed_everything(42)
    assert _draws() == first  # the same as passing the seed
    for bad in ("-1", "abc", "1.5", str(2**32)):
        monkeypatch.setenv("DNNCOURSE_SEED", bad)
        with pytest.raises(ValueError, match=f"DNNCOURSE_SEED must be an integer in .*{bad!r}"):
            dnncourse.seed_everything()


def test_device_follows_prefer_then_the_environment_then_the_hardware(monkeypatch):
    monkeypatch.delenv("DNNCOURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert dnncourse.device().type == expected
    assert dnncourse.device("cpu") == torch.device("cpu")
    monkeypatch.setenv("DNNCOURSE_DEVICE", "cpu")
    assert dnncourse.device() == torch.device("cpu")
    monkeypatch.setenv("DNNCOURSE_DEVICE", "gpu")
    with pytest.raises(ValueError, match="DNNCOURSE_DEVICE must be one of 'cpu', 'cuda', got 'gpu'"):
        dnncourse.device()
    assert dnncourse.device("cpu") == torch.device("cpu")  # an explicit choice wins


def test_device_rejects_unknown_or_unavailable_choices(monkeypatch):
    with pytest.raises(ValueError, match="prefer"):
        dnncourse.device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            dnncourse.device("cuda")
        monkeypatch.setenv("DNNCOURSE_DEVICE", "cuda")
        with pytest.raises(ValueError, match="DNNCOURSE_DEVICE is 'cuda' but no CUDA device"):
            dnncourse.device()


def test_generator_is_seeded_on_its_device_and_leaves_the_global_generator_alone():
    state = torch.random.get_rng_state()
    g = dnncourse.generator(5)
    assert g.device == torch.device("cpu") and g.initial_seed() == 5
    assert torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=torch.Generator().manual_seed(5)))
    assert dnncourse.generator(5, "cpu").device.type == "cpu"
    assert torch.equal(torch.random.get_rng_state(), state)
    with pytest.raises(ValueError, match="seed"):
        dnncourse.generator(-1)


def test_forked_rng_is_repeatable_and_restores_the_global_generator():
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    with forked_rng(9):
        inside = torch.rand(4)
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.manual_seed(9)
    assert torch.equal(inside, torch.rand(4))


def test_importing_the_package_loads_no_plotting_library():
    code = "import sys, dnncourse; from dnncourse.exercises import check; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_version_is_a_release_string():
    major, minor, patch = dnncourse.__version__.split(".")
    assert all(part.isdigit() for part in (major, minor, patch))
