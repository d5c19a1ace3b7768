"""Self-checks of notebook 01, sequences (``01-sequences.ipynb``): a length mask, each
sequence's last real step, and a vocabulary built from the training split only.
"""

from __future__ import annotations

import torch

from rnnlib.checks._common import (
    CheckFailed,
    expect,
    expect_answered,
    expect_close,
    expect_shape,
    passed,
)


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

