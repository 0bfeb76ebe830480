"""dnncourse core: seeding, device choice and the plotting style."""

import random

import matplotlib as mpl
import numpy as np
import pytest
import torch

import dnncourse


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


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "0", True, None])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        dnncourse.seed_everything(bad)


def test_device_matches_cuda_availability():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert dnncourse.device().type == expected
    assert dnncourse.device("cpu") == torch.device("cpu")


def test_device_rejects_unknown_or_unavailable_choices():
    with pytest.raises(ValueError, match="prefer"):
        dnncourse.device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            dnncourse.device("cuda")


def test_style_is_opaque_and_colour_blind_safe():
    with mpl.rc_context():
        dnncourse.use_style()
        assert mpl.rcParams["figure.facecolor"] == "white"
        assert not mpl.rcParams["savefig.transparent"]
        cycle = [c["color"].upper() for c in mpl.rcParams["axes.prop_cycle"]]
        assert cycle[:3] == [dnncourse.COLORS[n].upper() for n in ("blue", "orange", "green")]
    assert len(set(dnncourse.COLORS.values())) == len(dnncourse.COLORS) == 8


def test_version_is_a_release_string():
    major, minor, patch = dnncourse.__version__.split(".")
    assert all(part.isdigit() for part in (major, minor, patch))
