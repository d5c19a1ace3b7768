"""The self-checks of notebook 08 (character language model): each passes on a right answer and
says what is wrong on a stub and on the mistakes learners typically make."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from check_helpers import fails, passes, stub

from rnnlib import checks

# --------------------------------------------------------------------------- exercise 1: entropy

def entropy(text, log=math.log, sign=-1.0):
    counts = Counter(text)
    return sign * sum(c / len(text) * log(c / len(text)) for c in counts.values())


def test_unigram_entropy_passes_on_python_and_on_torch(capsys):
    passes(capsys, checks.charlm_unigram_entropy, entropy)

    def with_torch(text):
        counts = torch.tensor(list(Counter(text).values()), dtype=torch.float64)
        p = counts / counts.sum()
        return -(p * p.log()).sum()

    passes(capsys, checks.charlm_unigram_entropy, with_torch)


@pytest.mark.parametrize("answer, fragment", [
    (None, "still None"),
    (stub, "still None"),
    (lambda text: entropy(text, sign=1.0), "sign is flipped"),
    (lambda text: entropy(text, log=math.log2), "in bits"),
    (lambda text: math.log(len(set(text))), "uniform baseline"),
    (lambda text: -sum(c * math.log(c / len(text)) for c in Counter(text).values()),
     "a sum where a weighted mean belongs"),
    (lambda text: -sum(math.log(c) for c in Counter(text).values()), "expected"),
    (lambda text: [entropy(text)], "should be a number"),
    (lambda text: 1 / 0, "ZeroDivisionError"),
])
def test_unigram_entropy_fails_on_stub_and_typical_mistakes(answer, fragment):
    fails(checks.charlm_unigram_entropy, answer, fragment)


# --------------------------------------------------------------------------- exercise 2: units

def test_units_pass_on_math_and_on_torch(capsys):
    passes(capsys, checks.charlm_units, lambda loss: (loss / math.log(2), math.exp(loss)))
    passes(capsys, checks.charlm_units,
           lambda loss: (torch.tensor(loss) / math.log(2), torch.tensor(loss).exp()))
    passes(capsys, checks.charlm_units,
           lambda loss: (loss * math.log2(math.e), 2 ** (loss / math.log(2))))


@pytest.mark.parametrize("answer, fragment", [
    (None, "still None"),
    (stub, "still None"),
    (lambda loss: loss / math.log(2), "should return two numbers"),
    (lambda loss: (math.exp(loss), loss / math.log(2)), "swap them"),
    (lambda loss: (loss * math.log(2), math.exp(loss)), "multiplies by ln 2"),
    (lambda loss: (loss, math.exp(loss)), "expected"),
    (lambda loss: (loss / math.log(2), 2 ** loss), "2 ** loss"),
    (lambda loss: (loss / math.log(2), 10 ** loss), "10 ** loss"),
    (lambda loss: (loss / math.log(2), None), "still None"),
])
def test_units_fail_on_stub_and_typical_mistakes(answer, fragment):
    fails(checks.charlm_units, answer, fragment)


# --------------------------------------------------------------------------- exercise 3: detach

def detach_state(state):
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple | list):
        return type(state)(detach_state(s) for s in state)
    return state


def test_detach_state_passes_on_the_recursive_solution(capsys):
    passes(capsys, checks.charlm_detach_state, detach_state)


def detach_in_place(state):
    if isinstance(state, torch.Tensor):
        return state.detach_()
    if isinstance(state, tuple | list):
        return type(state)(detach_in_place(s) for s in state)
    return state


@pytest.mark.parametrize("answer, fragment", [
    (None, "still None"),
    (stub, "still None"),
    (lambda state: state, "still attached to the graph"),
    (lambda state: None if state is None else state.detach(), "AttributeError"),
    (lambda state: None if state is None else (
        state.clone() if isinstance(state, torch.Tensor) else detach_state(state)),
     "a copy (.clone()) keeps the graph"),
    (lambda state: None if state is None else (
        state.detach() if isinstance(state, torch.Tensor)
        else [detach_state(s) for s in state]), "should be a tuple"),
    (lambda state: None if state is None else (
        torch.zeros_like(state) if isinstance(state, torch.Tensor) else detach_state(state)),
     "other values"),
    (lambda state: None if state is None else (
        state.detach() if isinstance(state, torch.Tensor) else (state[0].detach(), state[1])),
     "still attached"),
    (detach_in_place, "changed the state it was given"),
])
def test_detach_state_fails_on_stub_and_typical_mistakes(answer, fragment):
    fails(checks.charlm_detach_state, answer, fragment)
