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


# ---- exercise 3: one minGRU step

def test_mingru_step_passes_on_the_solution_and_on_rnnlib(capsys):
    def step(k_z, k_h, h):
        z = torch.sigmoid(k_z)
        return (1 - z) * h + z * parallel.g(k_h)

    _passes(checks.mingru_step, step, capsys)
    _passes(checks.mingru_step, parallel.mingru_step, capsys)


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda k_z, k_h, h: None, "still None"),
    (lambda k_z, k_h, h: torch.sigmoid(k_z) * h + (1 - torch.sigmoid(k_z)) * parallel.g(k_h),
     "swapped"),
    (lambda k_z, k_h, h: (1 - torch.sigmoid(k_z)) * h + torch.sigmoid(k_z) * k_h,
     "not k_h itself"),
    (lambda k_z, k_h, h: (1 - torch.sigmoid(k_z)) * h + torch.sigmoid(k_z) * torch.tanh(k_h),
     "not tanh(k_h)"),
    (lambda k_z, k_h, h: (1 - k_z) * h + k_z * parallel.g(k_h), "z = sigmoid(k_z)"),
    (lambda k_z, k_h, h: h.sum(0), "should have shape (4, 5)"),
    (lambda k_z, k_h, h: h, "wrong values"),
])
def test_mingru_step_fails_helpfully(answer, message):
    _fails(checks.mingru_step, answer, message)
