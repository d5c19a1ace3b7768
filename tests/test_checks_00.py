"""The self-checks of notebook 00: what they accept, and what they say about typical mistakes."""

from __future__ import annotations

import functools

import torch
from check_helpers import fails, passes

from rnnlib import checks, data

N_CHARS = len(set(data.load_shakespeare()))


def test_batch_first_batch_accepts_batch_then_time_then_features(capsys):
    passes(capsys, checks.batch_first_batch, torch.zeros(4, 10, 3))


def test_batch_first_batch_names_the_time_major_mistake_and_a_mixed_up_order():
    fails(checks.batch_first_batch, ..., "still Ellipsis")
    fails(checks.batch_first_batch, torch.zeros(10, 4, 3), "time-major", "(B, T, F)")
    fails(checks.batch_first_batch, torch.zeros(3, 10, 4), "not their order")
    fails(checks.batch_first_batch, torch.zeros(4, 10), "shape (4, 10, 3)")


def test_distinct_characters_passes_and_says_how_far_the_guess_was(capsys):
    checks.distinct_characters(N_CHARS, N_CHARS - 3)
    out = capsys.readouterr().out
    assert "\N{CHECK MARK}" in out and "3 under" in out and "52 letters" in out
    checks.distinct_characters(N_CHARS, N_CHARS)
    assert "spot on" in capsys.readouterr().out


def test_distinct_characters_wants_a_guess_first_then_the_count():
    fails(functools.partial(checks.distinct_characters, N_CHARS), ..., "guess is still")
    fails(functools.partial(checks.distinct_characters, N_CHARS), "sixty", "guess should be a number")
    fails(lambda n: checks.distinct_characters(n, 60), ..., "n_chars is still")
    fails(lambda n: checks.distinct_characters(n, 60), N_CHARS - 1, "newline")
    fails(lambda n: checks.distinct_characters(n, 60), len(data.load_shakespeare()), "whole text")
    fails(lambda n: checks.distinct_characters(n, 60), N_CHARS + 5, f"holds {N_CHARS} distinct")


def test_distinct_characters_names_what_the_characters_are_made_of(capsys):
    """The model answer after the check quotes this breakdown: letters, white space, others."""
    checks.distinct_characters(N_CHARS, 30)
    out = capsys.readouterr().out
    assert "2 white space" in out and "other symbols" in out and "digits" not in out


# --------------------------------------------------------------------------- check and go on


def test_every_check_binds_the_names_later_cells_use():
    bound = {name: check.binds for name, check in checks.checks_of(checks.welcome).items()}
    assert bound == {"batch_first_batch": ("x",), "distinct_characters": ("n_chars", "guess")}


def test_batch_first_batch_goes_on_with_the_reference(monkeypatch, capsys):
    """Not strict (a learner's run): a stub or a wrong answer binds the course's (4, 10, 3)
    batch, saying so; a right answer is bound as it is."""
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    x = checks.batch_first_batch(...)
    out = capsys.readouterr().out
    assert "`x` not written yet" in out and out.count("\n") == 1, out
    assert x.shape == (4, 10, 3)
    x = checks.batch_first_batch(torch.zeros(10, 4, 3))
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "time-major" in out and "reference for `x`" in out, out
    assert x.shape == (4, 10, 3)
    mine = torch.ones(4, 10, 3)
    assert checks.batch_first_batch(mine) is mine
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_distinct_characters_goes_on_with_the_count(monkeypatch, capsys):
    """A stub binds the count and no guess; a wrong count binds the right one and keeps the
    learner's guess (a prediction has no right answer); right answers are bound as they are."""
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    assert checks.distinct_characters(..., ...) == (N_CHARS, None)
    out = capsys.readouterr().out
    assert "`n_chars` and `guess` not written yet" in out and out.count("\n") == 1, out
    assert checks.distinct_characters(N_CHARS - 1, 60) == (N_CHARS, 60)
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "newline" in out and "reference for `n_chars`" in out, out
    assert checks.distinct_characters(N_CHARS, 50) == (N_CHARS, 50)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_the_references_pass_their_own_checks(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    x = checks.batch_first_batch(None)
    n_chars, guess = checks.distinct_characters(None, 45)
    capsys.readouterr()
    monkeypatch.setenv("RNNLIB_STRICT_CHECKS", "1")
    passes(capsys, checks.batch_first_batch, x)
    passes(capsys, lambda n: checks.distinct_characters(n, guess), n_chars)
