"""The self-checks of notebook 07 (sentiment): each passes on a right answer, and fails on the
stub and on the typical mistakes with a message that says what is wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlib import checks, data
from rnnlib.checks import CheckFailed


def _match(message: str) -> str:
    return message.replace("(", r"\(").replace(")", r"\)")


# ---- exercise 1: the majority-class baseline

def right_majority(train_labels, test_labels):
    return float((test_labels == np.bincount(train_labels).argmax()).mean())


def test_majority_accuracy_passes_on_the_training_majority(capsys):
    checks.majority_accuracy(right_majority)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_majority_accuracy_passes_on_a_numpy_scalar_answer(capsys):
    checks.majority_accuracy(lambda tr, te: (te == np.bincount(tr).argmax()).mean())
    assert "\N{CHECK MARK}" in capsys.readouterr().out


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda tr, te: None, "still None"),
    (lambda tr, te: float((te == np.bincount(te).argmax()).mean()), "from the EVALUATION labels"),
    (lambda tr, te: float(np.bincount(tr).argmax()), "the majority class itself"),
    (lambda tr, te: float(np.bincount(tr).max() / len(tr)), "in the training labels"),
    (lambda tr, te: int((te == np.bincount(tr).argmax()).sum()), "a count"),
    (lambda tr, te: 0.5, "is 1 and its accuracy is 0.45"),
    (lambda tr, te: [0.45], "one number"),
    (lambda tr, te: tr.foo, "raised AttributeError"),
])
def test_majority_accuracy_fails_on_stub_and_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=_match(message)):
        checks.majority_accuracy(answer)


# ---- exercise 2: one logit per sentence from a packed batch

def right_logit(embedding, lstm, head, padded, lengths):
    _, (h_n, _) = lstm(data.pack(embedding(padded), lengths))
    return head(h_n[-1]).squeeze(-1)


def test_packed_logit_passes_on_the_packed_h_n(capsys):
    checks.packed_logit(right_logit)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_packed_logit_passes_when_reading_the_unpacked_output_at_each_length(capsys):
    def last_real_output(embedding, lstm, head, padded, lengths):
        out, _ = lstm(data.pack(embedding(padded), lengths))
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        return head(out[torch.arange(len(lengths)), lengths - 1]).squeeze(-1)

    checks.packed_logit(last_real_output)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def padded_not_packed(embedding, lstm, head, padded, lengths):
    _, (h_n, _) = lstm(embedding(padded))
    return head(h_n[-1]).squeeze(-1)


def last_padded_step(embedding, lstm, head, padded, lengths):
    out, _ = lstm(data.pack(embedding(padded), lengths))
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
    return head(out[:, -1]).squeeze(-1)


def sorted_packing(embedding, lstm, head, padded, lengths):
    packed = torch.nn.utils.rnn.pack_padded_sequence(embedding(padded), lengths,
                                                     batch_first=True)
    _, (h_n, _) = lstm(packed)
    return head(h_n[-1]).squeeze(-1)


def from_cell_state(embedding, lstm, head, padded, lengths):
    _, (_, c_n) = lstm(data.pack(embedding(padded), lengths))
    return head(c_n[-1]).squeeze(-1)


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda *args: None, "still None"),
    (lambda e, l, h, p, n: right_logit(e, l, h, p, n)[:, None], "squeeze the last axis"),
    (lambda *args: torch.sigmoid(right_logit(*args)), "these are probabilities"),
    (padded_not_packed, "ran over the padding"),
    (last_padded_step, "only the longest sentence"),
    (sorted_packing, "enforce_sorted=False"),
    (from_cell_state, "cell state c_n"),
    (lambda *args: right_logit(*args)[:2], "should have shape (3,)"),
    (lambda *args: right_logit(*args) + 1, "wrong values"),
    (lambda *args: right_logit(*args).tolist(), "should return a tensor"),
])
def test_packed_logit_fails_on_stub_and_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=_match(message)):
        checks.packed_logit(answer)


# ---- exercise 3: accuracy from logits

def right_accuracy(logits, labels):
    return ((logits > 0) == (labels == 1)).float().mean().item()


@pytest.mark.parametrize("stop_on", ["loss", "accuracy"])
def test_logit_accuracy_passes_on_threshold_zero_and_either_stopping_criterion(stop_on, capsys):
    checks.logit_accuracy(right_accuracy, stop_on)
    out = capsys.readouterr().out
    assert out.startswith("\N{CHECK MARK} accuracy from logits") and f"validation {stop_on}" in out


def test_logit_accuracy_asks_for_the_decision_once_the_function_is_right():
    with pytest.raises(CheckFailed, match="Now decide"):
        checks.logit_accuracy(right_accuracy)


def test_logit_accuracy_rejects_an_unknown_stopping_criterion():
    with pytest.raises(CheckFailed, match='"loss" or "accuracy"'):
        checks.logit_accuracy(right_accuracy, "f1")


def test_logit_accuracy_passes_on_threshold_zero(capsys):
    checks.logit_accuracy(right_accuracy, "loss")
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_logit_accuracy_passes_on_rnnlib_train_accuracy(capsys):
    from rnnlib import train

    checks.logit_accuracy(lambda z, y: train.accuracy(z, y.float()), "loss")
    assert "\N{CHECK MARK}" in capsys.readouterr().out


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda z, y: None, "still None"),
    (lambda z, y: ((z > 0.5) == (y == 1)).float().mean(), "threshold 0.5"),
    (lambda z, y: ((torch.sigmoid(z) > 0) == (y == 1)).float().mean(), "every sentence was"),
    (lambda z, y: ((z > 0) == (y == 1)).sum(), "a count"),
    (lambda z, y: ((z > 0) != (y == 1)).float().mean(), "error rate"),
    (lambda z, y: ((z > 0) == (y == 1)).float(), "one number"),
    (lambda z, y: ((z > 0).float() == y).float().mean() if y.is_floating_point() else 0.0,
     "with integer labels"),
    (lambda z, y: (z > 0).float().mean(), "the accuracy is 0.7"),
])
def test_logit_accuracy_fails_on_stub_and_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=_match(message)):
        checks.logit_accuracy(answer)


# ---- exercise 4: the shuffled-word-order experiment

def right_shuffle(padded, lengths, generator):
    shuffled = padded.clone()
    for b, n in enumerate(lengths.tolist()):
        shuffled[b, :n] = padded[b, torch.randperm(n, generator=generator)]
    return shuffled


def test_shuffled_words_passes_and_repeats_the_prediction(capsys):
    checks.shuffled_words(right_shuffle, 2.5)
    out = capsys.readouterr().out
    assert "\N{CHECK MARK}" in out and "loses 2.5 points" in out


def test_shuffled_words_passes_on_a_vectorised_shuffle(capsys):
    def by_sorting_random_keys(padded, lengths, generator):
        keys = torch.rand(padded.shape, generator=generator)
        keys[torch.arange(padded.shape[1])[None, :] >= lengths[:, None]] = 2.0  # pads last
        return padded.gather(1, keys.argsort(dim=1))

    checks.shuffled_words(by_sorting_random_keys, 0)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def in_place(padded, lengths, generator):
    for b, n in enumerate(lengths.tolist()):
        padded[b, :n] = padded[b, torch.randperm(n, generator=generator)]
    return padded


def whole_rows(padded, lengths, generator):
    return padded[:, torch.randperm(padded.shape[1], generator=generator)]


def global_random_state(padded, lengths, generator):
    shuffled = padded.clone()
    for b, n in enumerate(lengths.tolist()):
        shuffled[b, :n] = padded[b, torch.randperm(n)]
    return shuffled


def new_ids(padded, lengths, generator):
    shuffled = padded.clone()
    for b, n in enumerate(lengths.tolist()):
        shuffled[b, :n] = torch.randint(2, 30, (n,), generator=generator)
    return shuffled


def mixed_sentences(padded, lengths, generator):
    return padded[torch.tensor([2, 1, 0])]


@pytest.mark.parametrize("answer, prediction, message", [
    (right_shuffle, None, "predicted_drop is still None"),
    (right_shuffle, "a lot", "one number of percentage points"),
    (right_shuffle, 250, "between -100 and 100"),
    (None, 1.0, "shuffle_words is still None"),
    (lambda p, n, g: None, 1.0, "still None"),
    (lambda p, n, g: p.clone(), 1.0, "nothing was shuffled"),
    (in_place, 1.0, "changed its input padded in place"),
    (whole_rows, 1.0, "the padding of row 1 (length 3) moved"),
    (global_random_state, 1.0, "seeded alike gave different orders"),
    (new_ids, 1.0, "no longer holds the same words"),
    (mixed_sentences, 1.0, "no longer holds the same words"),
    (lambda p, n, g: right_shuffle(p, n, g).float(), 1.0, "dtype torch.int64"),
    (lambda p, n, g: right_shuffle(p, n, g)[:2], 1.0, "should have shape (3, 6)"),
    (lambda p, n, g: p.foo, 1.0, "raised AttributeError"),
])
def test_shuffled_words_fails_on_stub_and_typical_mistakes(answer, prediction, message):
    with pytest.raises(CheckFailed, match=_match(message)):
        checks.shuffled_words(answer, prediction)
