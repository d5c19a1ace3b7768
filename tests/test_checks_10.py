"""The self-checks of notebook 10 (efficiency): each passes on a right answer, and fails on the
stub and on the typical mistakes with a message that says what is wrong."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from rnnlib import checks, parallel
from rnnlib.checks import CheckFailed


def _fails(check, answer, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        check(answer)


def _passes(check, answer, capsys):
    check(answer)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


# ---- exercise 1: FLOPs of one LSTM step

I, H, B = 64, 128, 32


def test_lstm_step_flops_passes_on_the_solution(capsys):
    _passes(checks.lstm_step_flops, 2 * 4 * H * (I + H) * B, capsys)
    _passes(checks.lstm_step_flops, float(8 * H * (I + H) * B), capsys)


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (..., "still Ellipsis"),
    ("6291456", "should be a number"),
    (4 * H * (I + H) * B, "multiply-add is 2 FLOPs"),
    (2 * 4 * H * (I + H), "multiply by the batch size"),
    (2 * 4 * H * H * B, "only the hidden part"),
    (2 * 4 * H * I * B, "only the input part"),
    (2 * 3 * H * (I + H) * B, "that is a GRU"),
    (2 * H * (I + H) * B, "one gate block"),
    (12345, "check each factor"),
])
def test_lstm_step_flops_fails_helpfully(answer, message):
    _fails(checks.lstm_step_flops, answer, message)


# ---- exercise 2: log g, stably

def test_log_g_stable_passes_on_the_solution_and_on_rnnlib(capsys):
    def log_g(x):
        return torch.where(x >= 0, torch.log(x.clamp(min=0) + 0.5), -F.softplus(-x))

    _passes(checks.log_g_stable, log_g, capsys)
    _passes(checks.log_g_stable, parallel.log_g, capsys)


def _naive(x):
    return torch.log(parallel.g(x))


def _plus_one(x):
    return torch.where(x >= 0, torch.log(x.clamp(min=0) + 1), -F.softplus(-x))


def _log_sigmoid(x):
    return -F.softplus(-x)


def _unclamped(x):
    return torch.where(x >= 0, torch.log(x + 0.5), -F.softplus(-x))


def _stub(x):
    ...


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (_stub, "log_g(x) is still None"),
    (_naive, "sigmoid(-200) rounds to 0"),
    (_plus_one, "not log(x + 1)"),
    (_log_sigmoid, "log sigmoid(x) everywhere"),
    (_unclamped, "clamp the input"),
])
def test_log_g_stable_fails_helpfully(answer, message):
    _fails(checks.log_g_stable, answer, message)


# ---- exercise 3 (experiment): a minGRU gate bias that starts out remembering

DEFAULTS = [0.17, 0.16, 0.165]


def test_mingru_gate_bias_passes_on_a_measurement_and_judges_the_prediction(capsys):
    checks.efficiency.mingru_gate_bias("lower", 0.02, default_mse=DEFAULTS)
    assert "lower. your prediction held" in capsys.readouterr().out
    checks.efficiency.mingru_gate_bias("lower", torch.tensor(0.19), default_mse=DEFAULTS)
    assert "you predicted 'lower', it came out 'higher'" in capsys.readouterr().out


@pytest.mark.parametrize("prediction, measured, message", [
    (None, 0.02, "record your prediction first"),
    ("better", 0.02, 'should be "lower" or "higher"'),
    ("lower", ..., "biased_mse is still Ellipsis"),
    ("lower", [0.3, 0.02], "not the whole list"),
    ("lower", "0.02", "should be one number"),
    ("lower", 3.5, "not a plausible mean squared error"),
    ("lower", float("nan"), "not a plausible mean squared error"),
    ("higher", 0.16, "was the gate bias changed"),
])
def test_mingru_gate_bias_fails_helpfully(prediction, measured, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        checks.efficiency.mingru_gate_bias(prediction, measured, default_mse=DEFAULTS)


# ---- exercise 2 (decide): float32 or bf16 for an LSTM on this CPU

class _Run:
    def __init__(self, ran):
        self.ran = ran

    def __str__(self):
        return "nn.LSTM, padded: failed: could not create a primitive descriptor"


FAST = {"float32": 30.0, "bf16 autocast": 18.0}     # bf16 1.67x as fast
SLOW = {"float32": 30.0, "bf16 autocast": 45.0}     # bf16 0.67x the speed
CLOSE = {"float32": 30.0, "bf16 autocast": 29.0}    # 1.03x


@pytest.mark.parametrize("precision, ran, times, expected", [
    ("bf16", True, FAST, "clearly faster"),
    ("float32", True, SLOW, "slower"),
    ("float32", True, CLOSE, "too close to call"),
    ("bf16", True, CLOSE, "too close to call"),
    ("float32", False, None, "the only choice"),
    (" BF16 ", True, FAST, "clearly faster"),
])
def test_precision_choice_passes_on_a_decision_the_measurements_support(precision, ran, times,
                                                                         expected, capsys):
    checks.efficiency.precision_choice(precision, probed=_Run(ran), times=times)
    out = capsys.readouterr().out
    assert "\N{CHECK MARK}" in out and expected in out


@pytest.mark.parametrize("precision, ran, times, message", [
    (None, True, FAST, "decide first"),
    (..., True, FAST, "decide first"),
    ("fp16", True, FAST, 'should be "bf16" or "float32"'),
    ("float32", True, FAST, "Choose bf16"),
    ("bf16", True, SLOW, "keep float32"),
    ("bf16", False, None, "cannot run the LSTM in bf16"),
    ("bf16", True, {"float32": 30.0}, "times should be the timings"),
    ("bf16", "yes", FAST, None),
])
def test_precision_choice_fails_helpfully(precision, ran, times, message):
    probed = _Run(ran) if ran != "yes" else object()
    with pytest.raises(CheckFailed, match=re.escape(message or "probed should be the probe's run")):
        checks.efficiency.precision_choice(precision, probed=probed, times=times)


# ---- check and go on: without RNNLIB_STRICT_CHECKS a check binds what later cells use

def _lenient(monkeypatch):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS", raising=False)


def test_lstm_step_flops_binds_the_reference_on_a_stub_or_a_wrong_answer(monkeypatch, capsys):
    _lenient(monkeypatch)
    right = 2 * 4 * H * (I + H) * B
    assert checks.lstm_step_flops(...) == right
    assert "`answer` not written yet" in capsys.readouterr().out
    assert checks.lstm_step_flops(4 * H * (I + H) * B) == right
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "multiply-add is 2 FLOPs" in out
    assert checks.lstm_step_flops(float(right)) == float(right)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_log_g_stable_binds_the_reference_on_a_stub_or_a_wrong_answer(monkeypatch, capsys):
    _lenient(monkeypatch)
    assert checks.log_g_stable(_stub) is parallel.log_g
    assert "`log_g` not written yet" in capsys.readouterr().out
    assert checks.log_g_stable(_naive) is parallel.log_g
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "sigmoid(-200) rounds to 0" in out

    def mine(x):
        return torch.where(x >= 0, torch.log(x.clamp(min=0) + 0.5), -F.softplus(-x))

    assert checks.log_g_stable(mine) is mine
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_mingru_gate_bias_binds_the_reference_on_a_stub_or_a_wrong_answer(monkeypatch, capsys):
    _lenient(monkeypatch)
    assert checks.mingru_gate_bias(None, ..., default_mse=DEFAULTS) == ("lower", None)
    assert "`prediction` and `biased_mse` not written yet" in capsys.readouterr().out
    assert checks.mingru_gate_bias("higher", 3.5, default_mse=DEFAULTS) == ("higher", None)
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "not a plausible mean squared error" in out
    assert checks.mingru_gate_bias("higher", 0.02, default_mse=DEFAULTS) == ("higher", 0.02)
    assert "you predicted 'higher', it came out 'lower'" in capsys.readouterr().out


@pytest.mark.parametrize("ran, times, reference", [
    (True, FAST, "bf16"), (True, SLOW, "float32"), (True, CLOSE, "float32"),
    (False, None, "float32"),
])
def test_precision_choice_binds_the_reference_on_a_stub_or_a_wrong_answer(
        ran, times, reference, monkeypatch, capsys):
    _lenient(monkeypatch)
    assert checks.precision_choice(None, probed=_Run(ran), times=times) == reference
    assert "`precision` not written yet" in capsys.readouterr().out
    assert checks.precision_choice("fp16", probed=_Run(ran), times=times) == reference
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and 'should be "bf16" or "float32"' in out
    assert checks.precision_choice(reference, probed=_Run(ran), times=times) == reference
    assert "\N{CHECK MARK}" in capsys.readouterr().out
