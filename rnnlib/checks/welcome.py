"""Self-checks of notebook 00, welcome (``00-welcome.ipynb``): the layout of a batch-first
batch, and the number of distinct characters in the Shakespeare text (guessed, then counted).
"""

from __future__ import annotations

import numbers

import torch

from rnnlib.checks._common import (
    CheckFailed,
    binds,
    expect,
    expect_answered,
    expect_shape,
    passed,
)


def _batch_first_batch(x):
    """The course's answer to exercise 00.1: a batch-first (B, T, F) = (4, 10, 3) tensor."""
    return torch.zeros(4, 10, 3)


def _distinct_characters(n_chars, guess=None):
    """The course's answers to exercise 00.2: the count, counted; a guess is a prediction with
    no right answer, so the learner's stands when it is a number (else None, none was made)."""
    from rnnlib.data import load_shakespeare

    made = isinstance(guess, numbers.Real) and not isinstance(guess, bool)
    return len(set(load_shakespeare())), guess if made else None


@binds("x", reference=_batch_first_batch)
def batch_first_batch(x) -> None:
    """Exercise 00.1: 4 patients x 10 hours x 3 measurements, for a ``batch_first=True`` model."""
    expect_answered(x, "x")
    if isinstance(x, torch.Tensor) and tuple(x.shape) == (10, 4, 3):
        raise CheckFailed("x has shape (10, 4, 3): that is time-major (T, B, F), PyTorch's "
                          "default. With batch_first=True the batch comes first: (B, T, F).")
    if isinstance(x, torch.Tensor) and sorted(x.shape) == [3, 4, 10] and x.shape != (4, 10, 3):
        raise CheckFailed(f"x has shape {tuple(x.shape)}: the sizes are right but not their "
                          "order. B is the number of patients, T the number of hours, F the "
                          "measurements per hour; batch-first is (B, T, F).")
    expect_shape(x, (4, 10, 3), "x")
    passed("x is batch-first: (B, T, F) = (4 patients, 10 hours, 3 measurements)")


def _composition(chars: set[str]) -> str:
    """What a set of characters is made of, in words: "52 letters, 2 white space (...), ..."."""
    kinds = {"letters": [c for c in chars if c.isalpha()],
             "digits": [c for c in chars if c.isdigit()],
             "white space": [c for c in chars if c.isspace()]}
    kinds["other symbols"] = [c for c in chars if not any(c in v for v in kinds.values())]
    return ", ".join(f"{len(v)} {kind}" + (f" ({' '.join(sorted(map(repr, v)))})"
                                          if kind != "letters" else "")
                     for kind, v in kinds.items() if v)


@binds("n_chars", "guess", reference=_distinct_characters)
def distinct_characters(n_chars, guess=None) -> None:
    """Exercise 00.2: the number of distinct characters in the Shakespeare text, and how far
    the learner's guess was from it."""
    from rnnlib.data import load_shakespeare

    expect_answered(guess, "guess")
    expect(isinstance(guess, numbers.Real) and not isinstance(guess, bool),
           f"guess should be a number (your prediction), got {type(guess).__name__}")
    expect_answered(n_chars, "n_chars")
    text = load_shakespeare()
    chars = set(text)
    right = len(chars)
    expect(isinstance(n_chars, int), f"n_chars should be an int, got {type(n_chars).__name__}")
    expect(n_chars != len(text), "n_chars is the length of the whole text; count each "
                                 "character once")
    expect(n_chars != right - 1, f"{n_chars} is one short: did you forget the newline '\\n'?")
    expect(n_chars == right, f"n_chars is {n_chars}, but the text holds {right} distinct "
                             "characters: count each kind of character once")
    off = abs(guess - right)
    verdict = "spot on" if off == 0 else f"{off:g} {'over' if guess > right else 'under'}"
    passed(f"{right} distinct characters (your guess, {guess:g}, was {verdict}): "
           f"{_composition(chars)}. The character model chooses among them.")
