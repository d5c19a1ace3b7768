"""The self-checks of notebook 06 (LSTM vs GRU): each passes on a right answer, and fails on the
stub and on the typical mistakes with a message that says what is wrong."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnlib import checks
from rnnlib.checks import CheckFailed

BLOCKS = {"rnn": 1, "gru": 3, "lstm": 4}


def count(kind, input_size, hidden):
    return BLOCKS[kind] * hidden * (input_size + hidden + 2)


def matched_hidden(kind, input_size, target):
    b = input_size + 2
    root = (-b + math.sqrt(b * b + 4 * target / BLOCKS[kind])) / 2
    return min((math.floor(root), math.ceil(root)),
               key=lambda h: abs(count(kind, input_size, h) - target))


def matched_hidden_by_search(kind, input_size, target):
    return min(range(1, 2000), key=lambda h: abs(count(kind, input_size, h) - target))


# ---- exercise 1: matched hidden sizes

@pytest.mark.parametrize("answer", [matched_hidden, matched_hidden_by_search,
                                    lambda *a: float(matched_hidden(*a))])
def test_matched_hidden_size_passes_on_right_answers(answer, capsys):
    checks.matched_hidden_size(answer)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def floor_root(kind, input_size, target):
    b = input_size + 2
    h = math.floor((-b + math.sqrt(b * b + 4 * target / BLOCKS[kind])) / 2)
    return h if h != matched_hidden(kind, input_size, target) else h + 1


def no_biases(kind, input_size, target):
    return min(range(1, 2000), key=lambda h: abs(BLOCKS[kind] * h * (input_size + h) - target))


def lstm_hidden(kind, input_size, target):
    return matched_hidden("lstm", input_size, target)


def linear_scaling(kind, input_size, target):
    h = matched_hidden("lstm", input_size, target)
    return round(h * 4 / BLOCKS[kind])


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda *a: ..., "still Ellipsis"),
    (lambda *a: matched_hidden(*a) + 0.5, "an int"),
    (lstm_hidden, "the LSTM.s own hidden size every time"),
    (no_biases, "biases are missing"),
    (linear_scaling, "4/3"),
    (floor_root, "one away from"),
    (lambda *a: 3, "expected"),
])
def test_matched_hidden_size_fails_on_stub_and_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=message):
        checks.matched_hidden_size(answer)


# ---- exercise 2: mean and standard error

def sem_right(values):
    v = np.asarray(values, dtype=float)
    return v.mean(), v.std(ddof=1) / np.sqrt(len(v))


def test_mean_and_sem_passes_on_the_sample_standard_error(capsys):
    checks.mean_and_sem(sem_right)
    checks.mean_and_sem(lambda v: [float(np.mean(v)), float(np.std(v, ddof=1) / len(v) ** 0.5)])
    assert "\N{CHECK MARK}" in capsys.readouterr().out


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda v: ..., "still Ellipsis"),
    (lambda v: np.mean(v), "two numbers"),
    (lambda v: (np.mean(v), np.std(v, ddof=1)), "standard deviation of the seeds"),
    (lambda v: (np.mean(v), np.std(v) / np.sqrt(len(v))), "ddof=1"),
    (lambda v: (np.mean(v), np.std(v, ddof=1) / len(v)), "not n"),
    (lambda v: (np.median(v), sem_right(v)[1]), "the mean of"),
])
def test_mean_and_sem_fails_on_stub_and_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=message):
        checks.mean_and_sem(answer)


# ---- exercise 3: time to target

def steps_right(losses, target, window):
    if len(losses) < window:
        return None
    for step in range(window, len(losses) + 1):
        if np.mean(losses[step - window:step]) < target:
            return step
    return None


def first_single(losses, target, window):
    return next((i + 1 for i, v in enumerate(losses) if v < target), None)


def zero_based(losses, target, window):
    step = steps_right(losses, target, window)
    return None if step is None else step - 1


def window_start(losses, target, window):
    step = steps_right(losses, target, window)
    return None if step is None else step - window + 1


def minus_one_when_never(losses, target, window):
    step = steps_right(losses, target, window)
    return -1 if step is None else step


def test_steps_to_target_passes_on_a_moving_mean(capsys):
    checks.steps_to_target(steps_right)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda *a: ..., "still Ellipsis"),
    (first_single, "a lucky batch"),
    (zero_based, "one short"),
    (window_start, "starts"),
    (minus_one_when_never, "should give None"),
    (lambda *a: 12, "should be 9"),
])
def test_steps_to_target_fails_on_stub_and_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=message):
        checks.steps_to_target(answer)
