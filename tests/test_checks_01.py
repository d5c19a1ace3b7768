"""The self-checks of notebook 01: each passes on a right answer and says what is wrong on a
stub and on the mistakes learners typically make."""

from __future__ import annotations

import pytest
import torch
from check_helpers import fails, passes, stub

from rnnlib import checks, data

# A small corpus where the answer is known.
TRAIN = ["a a a a b b b c c", "a b c d d e"]     # counts: a 5, b 4, c 3, d 2, e 1
VAL = ["a b c d e", "a b c d x"]                 # 10 words; "x" is never in training
# unknown share of VAL by min_freq: 1 -> 1/10, 2 -> 2/10, 3 -> 4/10


def vocab(min_freq, texts=TRAIN):
    return data.Vocab([t for s in texts for t in data.word_tokenize(s)], min_freq=min_freq)


def test_training_vocab_passes_on_the_largest_min_freq_within_the_limit(capsys):
    checks.training_vocab(vocab(2), TRAIN, VAL, max_unknown=0.2)
    assert "min_freq=2" in capsys.readouterr().out


def test_training_vocab_wants_a_larger_min_freq_when_one_still_fits():
    with pytest.raises(checks.CheckFailed, match="min_freq=1 leaves 10.0%.*larger min_freq"):
        checks.training_vocab(vocab(1), TRAIN, VAL, max_unknown=0.2)


def test_training_vocab_refuses_a_min_freq_over_the_limit():
    with pytest.raises(checks.CheckFailed, match="min_freq=3 leaves 40.0%.*more than 20%"):
        checks.training_vocab(vocab(3), TRAIN, VAL, max_unknown=0.2)


def test_training_vocab_accepts_min_freq_1_when_nothing_reaches_the_limit(capsys):
    checks.training_vocab(vocab(1), TRAIN, VAL, max_unknown=0.05)
    assert "min_freq=1" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (..., "vocab is still Ellipsis"),
    (None, "vocab is still None"),
    ({"a": 2}, "should be an rnnlib.data.Vocab"),
    (data.Vocab(["a", "a", "b", "b"], specials=False), "keep the <pad> and <unk>"),
    (vocab(1, TRAIN + VAL), "not in the training sentences"),
    (data.Vocab(["a", "a", "b", "b"], min_freq=2), "leaves 60.0%"),
    (data.Vocab(list("dddccba")), "no min_freq gives exactly these"),
])
def test_training_vocab_says_what_is_wrong(answer, fragment):
    fails(lambda v: checks.training_vocab(v, TRAIN, VAL, max_unknown=0.2), answer, fragment)


def test_length_mask_and_last_real_step_pass_on_right_answers(capsys):
    passes(capsys, checks.length_mask, lambda lengths, T: torch.arange(T)[None, :] < lengths[:, None])
    passes(capsys, checks.last_real_step,
           lambda output, lengths: output[torch.arange(output.shape[0]), lengths - 1])


@pytest.mark.parametrize("answer, fragment", [
    (lambda lengths, T: ..., "is still Ellipsis"),
    (lambda lengths, T: torch.arange(T)[None, :] >= lengths[:, None], "inverted"),
    (lambda lengths, T: torch.arange(T)[None, :] <= lengths[:, None], "off by one"),
    (lambda lengths, T: torch.arange(int(lengths.max()))[None, :] < lengths[:, None], "T argument"),
])
def test_length_mask_names_the_typical_mistakes(answer, fragment):
    fails(checks.length_mask, answer, fragment)


@pytest.mark.parametrize("answer, fragment", [
    (lambda output, lengths: ..., "is still Ellipsis"),
    (lambda output, lengths: output[:, -1], "last *padded* step"),
    (lambda output, lengths: output[torch.arange(3), lengths.clamp(max=4)], "off by one"),
])
def test_last_real_step_names_the_typical_mistakes(answer, fragment):
    fails(checks.last_real_step, answer, fragment)


def test_training_vocab_says_why_validation_words_stay_out():
    """A word seen only in validation would never be learned, and the unknown-word rate
    measured on validation would read too low: the message gives those reasons."""
    with pytest.raises(checks.CheckFailed, match="never be learned.*unknown-word rate"):
        checks.training_vocab(vocab(1, TRAIN + VAL), TRAIN, VAL, max_unknown=0.2)


# --------------------------------------------------------------------------- check and go on

def right_mask(lengths, T):
    return torch.arange(T)[None, :] < lengths[:, None]


def right_last(output, lengths):
    return output[torch.arange(output.shape[0]), lengths - 1]


def test_every_check_binds_the_names_later_cells_use():
    bound = {name: check.binds for name, check in checks.checks_of(checks.sequences).items()}
    assert bound == {"training_vocab": ("vocab",), "length_mask": ("length_mask",),
                     "last_real_step": ("last_real_step",)}


def one_line(capsys, *fragments):
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and all(f in out for f in fragments), out


def wrong(capsys, *fragments):
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and all(f in out for f in fragments), out


def test_training_vocab_goes_on_with_the_chosen_vocabulary(monkeypatch, capsys):
    """Not strict (a learner's run): a stub or a wrong vocabulary binds the one with the largest
    min_freq within the limit, saying so; a right one is bound as it is."""
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    assert checks.training_vocab(..., TRAIN, VAL, max_unknown=0.2).itos == vocab(2).itos
    one_line(capsys, "`vocab` not written yet")
    assert checks.training_vocab(vocab(1), TRAIN, VAL, max_unknown=0.2).itos == vocab(2).itos
    wrong(capsys, "larger min_freq", "reference for `vocab`")
    assert checks.training_vocab(..., TRAIN, VAL, max_unknown=0.05).itos == vocab(1).itos
    capsys.readouterr()
    right = vocab(2)
    assert checks.training_vocab(right, TRAIN, VAL, max_unknown=0.2) is right


@pytest.mark.parametrize("check, right, mistake, fragment", [
    (checks.length_mask, right_mask,
     lambda lengths, T: torch.arange(T)[None, :] <= lengths[:, None], "off by one"),
    (checks.last_real_step, right_last, lambda output, lengths: output[:, -1], "*padded* step"),
])
def test_length_mask_and_last_real_step_go_on_with_the_reference(monkeypatch, capsys, check,
                                                                  right, mistake, fragment):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    name = check.binds[0]
    lengths, output = torch.tensor([4, 1, 6]), torch.randn(3, 6, 2)
    args = (lengths, 6) if check is checks.length_mask else (output, lengths)
    bound = check(stub)
    one_line(capsys, f"`{name}` not written yet")
    assert torch.equal(bound(*args), right(*args))
    bound = check(mistake)
    wrong(capsys, fragment, f"reference for `{name}`")
    assert torch.equal(bound(*args), right(*args))
    assert check(right) is right


def test_the_references_pass_their_own_checks(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    chosen = checks.training_vocab(None, TRAIN, VAL, max_unknown=0.2)
    mask, last = checks.length_mask(stub), checks.last_real_step(stub)
    capsys.readouterr()
    monkeypatch.setenv("RNNLIB_STRICT_CHECKS", "1")
    passes(capsys, lambda v: checks.training_vocab(v, TRAIN, VAL, max_unknown=0.2), chosen)
    passes(capsys, checks.length_mask, mask)
    passes(capsys, checks.last_real_step, last)
