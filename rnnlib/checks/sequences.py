"""Self-checks of notebook 01, sequences (``01-sequences.ipynb``): a word vocabulary whose
``min_freq`` is chosen on validation, a length mask, and each sequence's last real step.
"""

from __future__ import annotations

import torch

from rnnlib.checks._common import (
    CheckFailed,
    binds,
    expect,
    expect_answered,
    expect_close,
    expect_shape,
    passed,
)


def _length_mask(lengths, T):
    """The course's ``length_mask``: True on the real steps, t < length, as a (B, T) bool mask."""
    return torch.arange(T)[None, :] < torch.as_tensor(lengths)[:, None]


def _last_real_step(output, lengths):
    """The course's ``last_real_step``: output (B, T, H) at step lengths - 1 of each row."""
    return output[torch.arange(output.shape[0]), torch.as_tensor(lengths) - 1]


@binds("length_mask", reference=lambda fn: _length_mask)
def length_mask(fn) -> None:
    """Exercise 01.2: ``fn(lengths, T)`` -> bool mask (B, T), True on real steps."""
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


@binds("last_real_step", reference=lambda fn: _last_real_step)
def last_real_step(fn) -> None:
    """Exercise 01.3: ``fn(output, lengths)`` picks each sequence's output at its last real step."""
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


def _tokens(texts) -> list[str]:
    from rnnlib.data import word_tokenize

    return [t for s in texts for t in word_tokenize(s)]


def _unknown_rates(train_tokens, val_tokens, max_unknown: float) -> dict[int, float]:
    """The share of validation words a ``Vocab(train_tokens, min_freq=k)`` leaves unknown, for
    k = 1, 2, ... up to the first one over ``max_unknown`` (the rates only grow with k)."""
    from rnnlib.data import Vocab

    rates, k = {}, 1
    while True:
        v = Vocab(train_tokens, min_freq=k)
        rates[k] = sum(t not in v.stoi for t in val_tokens) / len(val_tokens)
        if rates[k] > max_unknown or k >= 1000:
            return rates
        k += 1


def _best_min_freq(rates: dict[int, float], max_unknown: float) -> int:
    return max([k for k, rate in rates.items() if rate <= max_unknown], default=1)


def _training_vocab(vocab, train_texts, val_texts, max_unknown: float = 0.10):
    """The course's answer to exercise 01.1: the training split's vocabulary with the largest
    ``min_freq`` that leaves at most ``max_unknown`` of the validation words unknown."""
    from rnnlib.data import Vocab

    train_tokens = _tokens(train_texts)
    rates = _unknown_rates(train_tokens, _tokens(val_texts), max_unknown)
    return Vocab(train_tokens, min_freq=_best_min_freq(rates, max_unknown))


@binds("vocab", reference=_training_vocab)
def training_vocab(vocab, train_texts, val_texts, max_unknown: float = 0.10) -> None:
    """Exercise 01.1: the word vocabulary of the training split with the largest ``min_freq``
    that leaves at most ``max_unknown`` of the validation words unknown (``min_freq=1`` when no
    choice reaches it)."""
    from rnnlib.data import Vocab

    expect_answered(vocab, "vocab")
    expect(isinstance(vocab, Vocab), f"vocab should be an rnnlib.data.Vocab, got "
                                     f"{type(vocab).__name__}")
    expect(vocab.itos[:2] == [Vocab.PAD, Vocab.UNK], "keep the <pad> and <unk> specials (ids "
                                                     "0 and 1): padding and unknown words need them")
    train_tokens, val_tokens = _tokens(train_texts), _tokens(val_texts)

    def unknown(v: Vocab) -> float:
        return sum(t not in v.stoi for t in val_tokens) / len(val_tokens)

    if vocab.itos[2:] and set(vocab.itos[2:]) - set(train_tokens):
        raise CheckFailed("the vocabulary holds words that are not in the training sentences: "
                          "build it from the training tokens only. Words seen only outside "
                          "training would never be learned, and the unknown-word rate you "
                          "measure on validation would come out too low")
    rates = _unknown_rates(train_tokens, val_tokens, max_unknown)
    best = _best_min_freq(rates, max_unknown)
    right = Vocab(train_tokens, min_freq=best)
    if vocab.itos == right.itos:
        note = (f" (no min_freq reaches {max_unknown:.0%} on so little data)"
                if rates[best] > max_unknown else
                f" (min_freq={best + 1} would leave "
                f"{unknown(Vocab(train_tokens, min_freq=best + 1)):.1%})")
        passed(f"min_freq={best}: {len(vocab)} tokens from the training split, "
               f"{rates[best]:.1%} of validation words unknown{note}")
        return
    chosen = next((k for k in rates if Vocab(train_tokens, min_freq=k).itos == vocab.itos), None)
    limit = f"{max_unknown:.0%}"
    if chosen is not None and chosen < best:
        raise CheckFailed(f"min_freq={chosen} leaves {rates[chosen]:.1%} of validation words "
                          f"unknown: within {limit}, but a larger min_freq (a smaller vocabulary) "
                          f"also stays within {limit}. Measure the next values too")
    if chosen is not None:
        raise CheckFailed(f"min_freq={chosen} leaves {rates[chosen]:.1%} of validation words "
                          f"unknown, more than {limit}: choose a smaller min_freq")
    if vocab.itos[2:] and unknown(vocab) > max_unknown:
        raise CheckFailed(f"this vocabulary leaves {unknown(vocab):.1%} of validation words "
                          f"unknown, more than {limit}: choose a smaller min_freq")
    raise CheckFailed(f"the vocabulary has {len(vocab)} tokens, and no min_freq gives exactly "
                      "these: build it as Vocab(<all training tokens>, min_freq=<your choice>), "
                      "the tokens from word_tokenize of each training sentence, and nothing else")
