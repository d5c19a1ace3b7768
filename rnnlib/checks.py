"""Self-checks for the exercises: each says what is right, or exactly what is wrong.

A check prints one line starting with a tick when the answer is right. When it is wrong it
raises ``CheckFailed`` (an ``AssertionError``) whose message says what was expected, what came,
and where to look: never just "wrong". The notebook-specific checks below are built from the
few helpers at the top.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["CheckFailed", "passed", "expect", "expect_answered", "expect_shape", "expect_close"]


class CheckFailed(AssertionError):
    """An exercise answer is not right yet; the message says why."""


def passed(what: str) -> None:
    """Report a passed check."""
    print(f"\N{CHECK MARK} {what}")


def expect(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def expect_answered(value, name: str) -> None:
    """Fail helpfully when an exercise stub is still untouched (None or ``...``)."""
    if value is None or value is Ellipsis:
        raise CheckFailed(f"{name} is still {value!r}: replace the `...` in the exercise cell "
                          "with your code and run that cell again.")


def expect_shape(tensor, shape: Sequence[int], name: str) -> None:
    """Fail unless ``tensor`` is a tensor of exactly ``shape``; the message shows both."""
    expect_answered(tensor, name)
    if not isinstance(tensor, torch.Tensor):
        raise CheckFailed(f"{name} should be a torch.Tensor, got {type(tensor).__name__}")
    if tuple(tensor.shape) != tuple(shape):
        raise CheckFailed(f"{name} should have shape {tuple(shape)}, got {tuple(tensor.shape)}")


def expect_close(got, expected, name: str, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Fail unless ``got`` equals ``expected`` within tolerance; says where they differ most."""
    expected = torch.as_tensor(expected)
    expect_shape(torch.as_tensor(got) if not isinstance(got, torch.Tensor) and got is not None
                 and got is not Ellipsis else got, expected.shape, name)
    got = torch.as_tensor(got).to(expected.dtype)
    if not torch.allclose(got, expected, atol=atol, rtol=rtol):
        diff = (got - expected).abs()
        worst = diff.argmax().item()
        index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), diff.shape))
        raise CheckFailed(f"{name} has the right shape but wrong values: at index {index} "
                          f"it is {got.flatten()[worst].item():.6g}, expected "
                          f"{expected.flatten()[worst].item():.6g} (largest difference "
                          f"{diff.max().item():.3g}, tolerance {atol:g} + {rtol:g}*|expected|)")


# --------------------------------------------------------------------------- 00 welcome

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


# --------------------------------------------------------------------------- 01 sequences

def length_mask(fn) -> None:
    """Exercise 01.1: ``fn(lengths, T)`` -> bool mask (B, T), True on real steps."""
    expect_answered(fn, "length_mask")
    lengths = torch.tensor([3, 1, 4])
    right = torch.arange(4)[None, :] < lengths[:, None]
    got = fn(lengths, 4)
    expect_answered(got, "length_mask(lengths, T)")
    expect_shape(got, (3, 4), "length_mask(torch.tensor([3, 1, 4]), 4)")
    expect(got.dtype == torch.bool, f"the mask should be a bool tensor, got {got.dtype}: "
                                    "a comparison such as `a < b` gives one")
    if torch.equal(got, ~right):
        raise CheckFailed("the mask is inverted: it is True on the padding. We want True on the "
                          "real steps, t < length")
    if torch.equal(got, torch.arange(4)[None, :] <= lengths[:, None]):
        raise CheckFailed("off by one: with length 3 the real steps are t = 0, 1, 2, so use "
                          "t < length, not t <= length")
    expect(torch.equal(got, right), f"for lengths [3, 1, 4] and T = 4 the mask should be\n"
                                    f"{right.int().tolist()}, got {got.int().tolist()}")
    expect(fn(torch.tensor([2]), 5).shape == (1, 5), "use the T argument for the width, "
                                                     "not max(lengths): padding may be longer")
    passed("the mask is True exactly on the real steps")


def last_real_step(fn) -> None:
    """Exercise 01.2: ``fn(output, lengths)`` picks each sequence's output at its last real step."""
    expect_answered(fn, "last_real_step")
    torch.manual_seed(0)
    output = torch.randn(3, 5, 2)  # (B, T, H), batch-first
    lengths = torch.tensor([5, 2, 3])
    right = output[torch.arange(3), lengths - 1]
    got = fn(output, lengths)
    expect_answered(got, "last_real_step(output, lengths)")
    expect_shape(got, (3, 2), "last_real_step(output of shape (3, 5, 2), lengths)")
    if torch.allclose(got, output[:, -1]):
        raise CheckFailed("that is the output at the last *padded* step, output[:, -1]; for a "
                          "sequence of length 2 we need step 1, i.e. lengths - 1")
    if torch.allclose(got, output[torch.arange(3), lengths.clamp(max=4)]):
        raise CheckFailed("off by one: a sequence of length L ends at index L - 1")
    expect_close(got, right, "last_real_step(output, lengths)")
    passed("each sequence's output at its own last step: equal to what packing gives as h_n")


def training_vocab(vocab, train_texts, val_texts) -> None:
    """Exercise 01.3: a word vocabulary built from the training split only, min_freq 2."""
    from rnnlib.data import Vocab, word_tokenize

    expect_answered(vocab, "vocab")
    expect(isinstance(vocab, Vocab), f"vocab should be an rnnlib.data.Vocab, got "
                                     f"{type(vocab).__name__}")
    train_tokens = [t for s in train_texts for t in word_tokenize(s)]
    val_tokens = [t for s in val_texts for t in word_tokenize(s)]
    right = Vocab(train_tokens, min_freq=2)
    if vocab.itos == right.itos:
        passed(f"{len(vocab)} tokens, from the training split only, each seen at least twice")
        return
    expect(vocab.itos[:2] == [Vocab.PAD, Vocab.UNK], "keep the <pad> and <unk> specials (ids "
                                                     "0 and 1): padding and unknown words need them")
    if vocab.itos == Vocab(train_tokens + val_tokens, min_freq=2).itos:
        raise CheckFailed("the vocabulary was built from training AND validation sentences: "
                          "the validation score would then flatter the model. Use train only")
    if vocab.itos == Vocab(train_tokens).itos:
        raise CheckFailed(f"{len(vocab)} tokens: words seen once are kept. Pass min_freq=2 "
                          f"(that gives {len(right)})")
    raise CheckFailed(f"the vocabulary has {len(vocab)} tokens, expected {len(right)}: build it "
                      "with Vocab(<all training tokens>, min_freq=2), the tokens from "
                      "word_tokenize of each training sentence")
