"""The self-checks of notebook 11 (seq2seq): each passes on a right answer, fails on the stub and
on the typical mistakes with a message that says what is wrong, and, outside strict mode,
binds the course's reference so that the notebook runs on."""

from __future__ import annotations

import pytest
import torch

from rnnlib import checks
from rnnlib.checks import CheckFailed


def right_weights(scores, mask):
    return torch.softmax(scores.masked_fill(~mask[:, None, :], float("-inf")), dim=-1)


def right_backward(alpha, grad_alpha):
    return alpha * (grad_alpha - (alpha * grad_alpha).sum(-1, keepdim=True))


def stub(*args):
    ...


# ---- exercise 1: masked attention weights

def test_masked_weights_passes_the_right_answer(capsys):
    assert checks.masked_weights(right_weights) is right_weights
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (lambda s, m: torch.softmax(s, -1), "padding .* still takes weight"),
    (lambda s, m: torch.softmax(s, -1) * m[:, None, :], "only after the softmax"),
    (lambda s, m: torch.softmax(s.masked_fill(~m[:, None, :], float("-inf")), 1), "NaN"),
    (lambda s, m: s[..., :2], "shape"),
    (stub, "still None"),
])
def test_masked_weights_names_the_mistake(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.masked_weights(wrong)


# ---- exercise 2: the softmax's backward pass

def test_softmax_backward_passes_the_right_answer(capsys):
    assert checks.softmax_backward(right_backward) is right_backward
    assert "autograd" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (lambda a, g: a * (1 - a) * g, "only the diagonal"),
    (lambda a, g: a * g, "only the first term"),
    (lambda a, g: g - (a * g).sum(-1, keepdim=True), "differs from autograd"),
    (stub, "still None"),
])
def test_softmax_backward_names_the_mistake(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.softmax_backward(wrong)


# ---- exercise 3: the prediction on longer inputs

def test_longer_inputs_accepts_a_fraction_and_shows_the_measurement(capsys):
    assert checks.longer_inputs(0.1, 0.02, 0.6) == 0.1
    out = capsys.readouterr().out
    assert "plain 0.020, attention 0.600" in out and "✓" in out


@pytest.mark.parametrize("wrong, message", [(..., "still Ellipsis"), (1.5, "between 0 and 1"),
                                            ("low", "a number")])
def test_longer_inputs_refuses_what_is_not_a_fraction(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.longer_inputs(wrong, 0.0, 0.5)


# ---- check and go on: outside strict mode every check binds the reference

@pytest.mark.parametrize("check, stub_answer, wrong, right", [
    ("masked_weights", stub, lambda s, m: torch.softmax(s, -1), right_weights),
    ("softmax_backward", stub, lambda a, g: a * g, right_backward),
])
def test_checks_bind_the_reference_when_not_strict(monkeypatch, capsys, check, stub_answer,
                                                    wrong, right):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS", raising=False)
    fn = getattr(checks, check)
    bound = fn(stub_answer)
    assert "not written yet" in capsys.readouterr().out
    assert bound is not stub_answer
    assert fn(wrong) is not wrong
    out = capsys.readouterr().out
    assert "✗" in out and "course's reference" in out
    assert fn(right) is right
    assert "✓" in capsys.readouterr().out
    fn(bound)  # the reference itself passes
    assert "✓" in capsys.readouterr().out


def test_longer_inputs_binds_a_value_when_not_strict(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS", raising=False)
    assert checks.longer_inputs(..., 0.03, 0.5) == 0.03
    assert "not written yet" in capsys.readouterr().out
    assert checks.longer_inputs(2.0, 0.03, 0.5) == 0.03
    assert "✗" in capsys.readouterr().out
    assert checks.longer_inputs(0.2, 0.03, 0.5) == 0.2


# ---- exercise 4: greedy or a small beam

BEAM_RAISES_PLAIN = {"plain": (0.080, 0.095), "attention": (0.920, 0.924)}


@pytest.mark.parametrize("exact, measured", [
    (BEAM_RAISES_PLAIN, "plain"),
    ({"plain": (0.08, 0.08), "attention": (0.90, 0.93)}, "attention"),
    ({"plain": (0.08, 0.10), "attention": (0.90, 0.93)}, "both"),
    ({"plain": (0.08, 0.085), "attention": (0.92, 0.915)}, "neither"),
])
def test_beam_decision_says_whether_the_measurement_agrees(capsys, exact, measured):
    assert checks.beam_decision(measured, exact) == measured
    assert "the measurement agrees" in capsys.readouterr().out
    other = "neither" if measured != "neither" else "both"
    assert checks.beam_decision(other, exact) == other  # a decision, not an error
    out = capsys.readouterr().out
    assert f"the measurement says {measured!r}" in out and "✓" in out


@pytest.mark.parametrize("wrong, message", [(..., "still Ellipsis"), ("beam", "one of"),
                                            (3, "one of")])
def test_beam_decision_refuses_what_is_not_one_of_the_four_answers(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.beam_decision(wrong, BEAM_RAISES_PLAIN)


def test_beam_decision_binds_the_measured_answer_when_not_strict(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS", raising=False)
    assert checks.beam_decision(..., BEAM_RAISES_PLAIN) == "plain"
    assert "not written yet" in capsys.readouterr().out
