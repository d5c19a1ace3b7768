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
