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


# ---- check and go on (issue 25): without RNNLIB_STRICT_CHECKS nothing raises; a stub or a
# wrong answer is reported and the course's answer is bound instead, a right one is kept

def _stub_logit(embedding, lstm, head, padded, lengths):
    ...  # your code here


def _stub_accuracy(logits, labels):
    ...  # your code here


def _stub_shuffle(padded, lengths, generator):
    ...  # your code here


def _stub_majority(train_labels, eval_labels):
    ...  # your code here


def test_majority_accuracy_binds_the_reference_on_a_stub(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    got = checks.majority_accuracy(_stub_majority)
    assert "not written yet" in capsys.readouterr().out
    assert got(np.array([1, 1, 0]), np.array([1, 0, 0, 0])) == 0.25


def test_majority_accuracy_reports_a_wrong_answer_and_binds_the_reference(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    def wrong(train_labels, eval_labels):
        return float((eval_labels == np.bincount(eval_labels).argmax()).mean())

    got = checks.majority_accuracy(wrong)
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "EVALUATION labels" in out
    assert got is not wrong and got(np.array([1, 1, 0]), np.array([1, 0, 0, 0])) == 0.25


def test_majority_accuracy_keeps_a_right_answer(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    assert checks.majority_accuracy(right_majority) is right_majority
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def _packed_case():
    from torch import nn
    torch.manual_seed(1)
    embedding, lstm, head = nn.Embedding(9, 4, padding_idx=0), nn.LSTM(4, 3, batch_first=True), \
        nn.Linear(3, 1)
    padded, lengths = torch.tensor([[3, 4, 0], [5, 6, 7]]), torch.tensor([2, 3])
    return embedding, lstm, head, padded, lengths


def test_packed_logit_binds_the_reference_on_a_stub(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    got = checks.packed_logit(_stub_logit)
    assert "not written yet" in capsys.readouterr().out
    case = _packed_case()
    with torch.no_grad():
        assert torch.allclose(got(*case), right_logit(*case))


def test_packed_logit_reports_a_wrong_answer_and_binds_the_reference(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    got = checks.packed_logit(padded_not_packed)
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "ran over the padding" in out and "reference" in out
    case = _packed_case()
    with torch.no_grad():
        assert torch.allclose(got(*case), right_logit(*case))


def test_packed_logit_keeps_a_right_answer(monkeypatch):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    assert checks.packed_logit(right_logit) is right_logit


def test_logit_accuracy_binds_the_reference_on_stubs(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    fn, stop_on = checks.logit_accuracy(_stub_accuracy, None)
    assert "not written yet" in capsys.readouterr().out
    assert stop_on == "loss"
    assert fn(torch.tensor([1.0, -1.0, 2.0]), torch.tensor([1.0, 1.0, 1.0])) == pytest.approx(2 / 3)


def test_logit_accuracy_reports_a_wrong_answer_and_binds_the_reference(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    def wrong(logits, labels):
        return ((torch.sigmoid(logits) > 0) == (labels == 1)).float().mean().item()

    fn, stop_on = checks.logit_accuracy(wrong, "accuracy")
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "0.4" in out
    assert fn is not wrong and stop_on == "loss"


def test_logit_accuracy_keeps_a_right_answer(monkeypatch):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    assert checks.logit_accuracy(right_accuracy, "accuracy") == (right_accuracy, "accuracy")


def test_shuffled_words_binds_the_reference_on_stubs(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    fn, prediction = checks.shuffled_words(_stub_shuffle, None)
    assert "not written yet" in capsys.readouterr().out
    assert prediction is None
    padded, lengths = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]), torch.tensor([3, 2])
    got = fn(padded, lengths, torch.Generator().manual_seed(0))
    assert got[0, 3] == 0 and sorted(got[0, :3].tolist()) == [1, 2, 3]


def test_shuffled_words_reports_a_wrong_answer_and_keeps_the_prediction(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    fn, prediction = checks.shuffled_words(whole_rows, 3.0)
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "padding" in out
    assert fn is not whole_rows and prediction == 3.0


def test_shuffled_words_keeps_a_right_answer(monkeypatch):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    assert checks.shuffled_words(right_shuffle, 2.0) == (right_shuffle, 2.0)
