"""dnncourse._validation: one message style for every argument check of the library."""

import math
import re

import numpy as np
import pytest
import torch

from dnncourse import _validation as check


def test_checks_return_plain_python_numbers():
    assert check.positive("lr", np.float32(0.5)) == 0.5 and type(check.positive("lr", np.float32(0.5))) is float
    assert check.integer("n", np.int64(3), minimum=1) == 3 and type(check.integer("n", np.int64(3))) is int
    assert check.non_negative("wd", 0) == 0.0
    assert check.in_range("p", 1.0, 0, 1) == 1.0
    assert check.number("inf ok", math.inf, finite=False) == math.inf
    assert check.one_of("mode", "a", ("a", "b")) == "a"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: check.positive("lr", -1), "lr must be a positive number, got -1"),
        (lambda: check.positive("lr", math.nan), "lr must be a positive number, got nan"),
        (lambda: check.positive("lr", True), "lr must be a positive number, got True"),
        (lambda: check.positive("lr", "0.1"), "lr must be a positive number, got '0.1'"),
        (lambda: check.non_negative("weight_decay", -0.5), "weight_decay must be a number >= 0, got -0.5"),
        (lambda: check.non_negative("noise", math.inf), "noise must be a number >= 0, got inf"),
        (lambda: check.in_range("beta", 1.0, 0, 1, closed="left"), "beta must be a number in [0, 1), got 1.0"),
        (lambda: check.in_range("f", 0, 0, 1, closed="neither"), "f must be a number in (0, 1), got 0"),
        (lambda: check.in_range("f", 2, 0, 1, closed="right"), "f must be a number in (0, 1], got 2"),
        (lambda: check.probability("p", 1.5), "p must be a number in [0, 1], got 1.5"),
        (lambda: check.integer("batch_size", 0, 1, 100), "batch_size must be an integer in [1, 100], got 0"),
        (lambda: check.integer("epochs", 2.0, minimum=1), "epochs must be a positive integer, got 2.0"),
        (lambda: check.integer("steps", -1, minimum=0), "steps must be an integer >= 0, got -1"),
        (lambda: check.integer("levels", 1, minimum=2), "levels must be an integer >= 2, got 1"),
        (lambda: check.integer("k", False), "k must be an integer, got False"),
        (
            lambda: check.one_of("mode", "fan_avg", ("fan_in", "fan_out")),
            "mode must be one of 'fan_in', 'fan_out', got 'fan_avg'",
        ),
        (lambda: check.one_of("name", [1], {"a": 1}), "name must be one of 'a', got [1]"),
        (lambda: check.number("x", math.inf), "x must be a finite number, got inf"),
        (lambda: check.module("model", "net"), "model must be an nn.Module, got str"),
    ],
)
def test_bad_values_name_the_argument_and_show_the_value(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


def test_generator_must_live_on_the_tensors_device():
    cpu = torch.Generator(device="cpu")
    assert check.generator_for(None, "meta") is None
    assert check.generator_for(cpu, torch.device("cpu")) is cpu
    with pytest.raises(ValueError, match=r"generator must be on the tensors' device \(meta\), got a generator on cpu"):
        check.generator_for(cpu, "meta")  # what CUDA rejects: a CPU generator for tensors on another device
    with pytest.raises(ValueError, match="generator must be a torch.Generator or None, got int"):
        check.generator_for(0, "cpu")
