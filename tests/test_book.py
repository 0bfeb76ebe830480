"""dnncourse.book: show_source, glue and claim, the bridge between a chapter's code and its text."""

from __future__ import annotations

import inspect
import sys
import textwrap

import pytest

from dnncourse import book, optim


def test_show_source_shows_the_library_code():
    shown = book.show_source(optim.Adam.step)
    assert shown.data == textwrap.dedent(inspect.getsource(optim.Adam.step))
    assert "\ndef step(" in shown.data  # dedented: a method reads like a function
    assert "m_hat" in shown.data


def test_show_source_refuses_what_has_no_source():
    with pytest.raises(ValueError, match="show_source"):
        book.show_source(42)


class _Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, name, value, display=True):
        self.calls.append((name, value, display))


@pytest.fixture
def recorded_glue(monkeypatch):
    import myst_nb

    recorder = _Recorder()
    monkeypatch.setattr(myst_nb, "glue", recorder)
    return recorder


def test_glue_stores_a_float_rounded_to_its_significant_digits(recorded_glue):
    book.glue("loss", 0.123456789, digits=3)
    book.glue("tiny", 2.0371e-10, digits=2)
    assert recorded_glue.calls == [("loss", 0.123, False), ("tiny", 2.0e-10, False)]


def test_glue_takes_tensors_numpy_scalars_ints_and_strings(recorded_glue):
    import numpy as np
    import torch

    book.glue("t", torch.tensor(0.98765), digits=2)
    book.glue("n", np.float64(12345.6), digits=3)
    book.glue("steps", np.int64(82))
    book.glue("name", "Adam")
    assert recorded_glue.calls == [
        ("t", 0.99, False),
        ("n", 12300.0, False),
        ("steps", 82, False),
        ("name", "Adam", False),
    ]


def test_rounding_makes_last_bit_differences_invisible(recorded_glue):
    book.glue("a", 0.37012345678, digits=4)
    book.glue("b", 0.37012345678 * (1 + 1e-12), digits=4)
    assert recorded_glue.calls[0][1] == recorded_glue.calls[1][1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("x", 0.5), "digits"),
        (("x", 0.5, 0), "digits"),
        (("x", 0.5, 16), "digits"),
        (("bad name", 1), "name"),
        (("x", [1, 2]), "number or a string"),
    ],
)
def test_glue_rejects_bad_input_with_a_clear_message(args, message, recorded_glue):
    with pytest.raises(ValueError, match=message):
        book.glue(*args)
    assert recorded_glue.calls == []


def test_glue_of_an_array_names_its_shape():
    import torch

    with pytest.raises(ValueError, match="shape"):
        book.glue("x", torch.ones(3), digits=2)


def test_glue_does_nothing_without_myst_nb(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import myst_nb now raises ImportError
    book.glue("x", 0.5, digits=2)
    assert capsys.readouterr().out == ""


def test_glue_output_is_what_myst_nb_reads(capsys):
    """The stored output is MyST-NB's glue record, whose text the {glue:text} role formats."""
    from IPython.core.interactiveshell import InteractiveShell
    from myst_nb.core.variables import format_plain_text

    shell = InteractiveShell.instance()
    published = []
    shell.display_pub.publish = lambda data, metadata=None, **kw: published.append((data, metadata))
    book.glue("ratio", 4.6123, digits=2)
    ((data, metadata),) = published
    assert metadata["scrapbook"]["name"] == "ratio"
    (text,) = [value for key, value in data.items() if key.endswith("text/plain")]
    assert format_plain_text(text, ".1f") == "4.6"


def test_a_claim_that_holds_is_silent_and_returns_nothing(monkeypatch, capsys):
    monkeypatch.setenv(book.CLAIMS_ENV, "strict")
    assert book.claim(True, "it holds") is None
    assert capsys.readouterr().out == ""


def test_a_claim_that_fails_raises_under_the_tests(monkeypatch):
    monkeypatch.setenv(book.CLAIMS_ENV, "strict")
    with pytest.raises(book.ClaimError, match="momentum beats SGD.*momentum = 0.25"):
        book.claim(0.25 < 0.2, "momentum beats SGD", momentum=0.25, sgd=0.2)


def test_a_claim_that_fails_is_a_friendly_note_on_a_readers_run(monkeypatch, capsys):
    monkeypatch.delenv(book.CLAIMS_ENV, raising=False)
    book.claim(False, "dropout narrows the gap", gap=0.05)
    out = capsys.readouterr().out
    assert out.startswith("Note: the text says that dropout narrows the gap")
    assert "gap = 0.05" in out


def test_a_claim_takes_tensor_booleans(monkeypatch):
    import torch

    monkeypatch.setenv(book.CLAIMS_ENV, "strict")
    book.claim(torch.tensor(True), "a tensor test")
    with pytest.raises(book.ClaimError):
        book.claim(torch.tensor(False), "a tensor test")


def test_a_claim_needs_a_statement():
    with pytest.raises(ValueError, match="statement"):
        book.claim(True, "  ")
