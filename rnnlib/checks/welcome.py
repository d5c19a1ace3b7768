"""Self-checks of notebook 00, welcome (``00-welcome.ipynb``): a time-major batch and the
number of distinct characters in the Shakespeare text.
"""

from __future__ import annotations

import torch

from rnnlib.checks._common import CheckFailed, expect, expect_answered, expect_shape, passed


def time_major_batch(x) -> None:
    """Exercise 00.1: a time-major batch of 4 sequences, 10 steps, 3 features each."""
    expect_answered(x, "x")
    if isinstance(x, torch.Tensor) and tuple(x.shape) == (4, 10, 3):
        raise CheckFailed("x has shape (4, 10, 3): that is batch-first (B, T, F). PyTorch's "
                          "RNNs default to time-major, (T, B, F): time comes first.")
    if isinstance(x, torch.Tensor) and sorted(x.shape) == [3, 4, 10] and x.shape != (10, 4, 3):
        raise CheckFailed(f"x has shape {tuple(x.shape)}: the sizes are right but in the "
                          "wrong order; time-major is (T, B, F) = (steps, sequences, features)")
    expect_shape(x, (10, 4, 3), "x")
    passed("x is time-major: (T, B, F) = (10, 4, 3)")


def distinct_characters(n_chars) -> None:
    """Exercise 00.2: the number of distinct characters in the Shakespeare text."""
    from rnnlib.data import load_shakespeare

    expect_answered(n_chars, "n_chars")
    text = load_shakespeare()
    right = len(set(text))
    expect(isinstance(n_chars, int), f"n_chars should be an int, got {type(n_chars).__name__}")
    expect(n_chars != len(text), "n_chars is the length of the whole text; count each "
                                 "character once (a set keeps one of each)")
    expect(n_chars != right - 1, f"{n_chars} is one short: did you forget the newline '\\n'?")
    expect(n_chars == right, f"n_chars is {n_chars}, but the text holds {right} distinct "
                             "characters: try len(set(text))")
    passed(f"{right} distinct characters: the character model will choose among them")

