"""The self-checks of notebook 02: each passes on a right answer and says what is wrong on a
stub and on the mistakes learners typically make."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlib import checks, reference
from rnnlib.checks import CheckFailed

# --------------------------------------------------------------------------- exercise 1


def right_step_backward(dh, cache):
    x, h_prev, W_ih, W_hh, h = cache
    da = dh * (1 - h**2)
    return da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(0), da.sum(0)


def step_backward_with(da_of=None, **changes):
    """A step backward with one mistake: another da, or one output replaced."""
    def fn(dh, cache):
        x, h_prev, W_ih, W_hh, h = cache
        da = da_of(dh, h, cache) if da_of else dh * (1 - h**2)
        grads = {"dx": da @ W_ih, "dh_prev": da @ W_hh, "dW_ih": da.T @ x,
                 "dW_hh": da.T @ h_prev, "db_ih": da.sum(0), "db_hh": da.sum(0)}
        for name, change in changes.items():
            grads[name] = change(da, cache)
        return tuple(grads.values())
    return fn


def test_rnn_step_backward_passes_on_the_right_answer(capsys):
    checks.rnn_step_backward(right_step_backward)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_rnn_step_backward_passes_on_the_reference_through_its_cache():
    def via_reference(dh, cache):
        x, h_prev, W_ih, W_hh, h = cache
        a = np.arctanh(h)
        return reference.rnn_step_backward(dh, (x, h_prev, W_ih, W_hh, a, h, "tanh"))
    checks.rnn_step_backward(via_reference)


@pytest.mark.parametrize("stub, message", [
    (None, "rnn_step_backward is still None"),
    (lambda dh, cache: ..., r"rnn_step_backward\(dh, cache\) is still Ellipsis"),
    (lambda dh, cache: (1, 2), "tuple of 6 arrays"),
])
def test_rnn_step_backward_fails_on_a_stub(stub, message):
    with pytest.raises(CheckFailed, match=message):
        checks.rnn_step_backward(stub)


@pytest.mark.parametrize("mistake, message", [
    (step_backward_with(da_of=lambda dh, h, c: dh), "skip the tanh"),
    (step_backward_with(da_of=lambda dh, h, c: dh * (1 - np.arctanh(h) ** 2)), "1 - a\\*\\*2"),
    (step_backward_with(da_of=lambda dh, h, c: dh * (1 - h)), r"not the derivative of tanh"),
    (step_backward_with(dh_prev=lambda da, c: da @ c[3].T), "uses W_hh.T"),
    (step_backward_with(dW_ih=lambda da, c: c[0].T @ da), r"dW_ih has shape \(4, 5\)"),
    (step_backward_with(db_hh=lambda da, c: da.sum(1)), r"db_hh has shape \(3,\)"),
    (step_backward_with(db_hh=lambda da, c: np.zeros(5)), "db_hh is zero"),
    (step_backward_with(db_ih=lambda da, c: da.sum(0) / 2, db_hh=lambda da, c: da.sum(0) / 2),
     "half of da.sum"),
    (step_backward_with(dx=lambda da, c: 2 * da @ c[2]), "dx has the right shape but wrong"),
])
def test_rnn_step_backward_names_the_typical_mistakes(mistake, message):
    with pytest.raises(CheckFailed, match=message):
        checks.rnn_step_backward(mistake)


# --------------------------------------------------------------------------- exercise 2


def right_count(input_size, hidden_size, num_layers, bidirectional):
    D = 2 if bidirectional else 1
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else D * hidden_size
        total += D * (hidden_size * layer_input + hidden_size * hidden_size + 2 * hidden_size)
    return total


def test_rnn_parameter_count_passes_on_the_right_answer(capsys):
    checks.rnn_parameter_count(right_count)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_rnn_parameter_count_accepts_a_one_element_tensor():
    checks.rnn_parameter_count(lambda *args: torch.tensor(right_count(*args)))


@pytest.mark.parametrize("wrong, message", [
    (None, "rnn_parameter_count is still None"),
    (lambda I, H, L, bidi: ..., "is still Ellipsis"),
    (lambda I, H, L, bidi: float(right_count(I, H, L, bidi)), "should return an int"),
    (lambda I, H, L, bidi: right_count(I, H, L, bidi) - (2 if bidi else 1) * L * H,
     "two bias vectors"),
    (lambda I, H, L, bidi: right_count(I, H, L, False), "second, separate set of weights"),
    (lambda I, H, L, bidi: right_count(I, H, L, bidi) - (L - 1) * (2 if bidi else 1) * H * H
     * (1 if bidi else 0), r"\(H, 2H\), not \(H, H\)"),
    (lambda I, H, L, bidi: right_count(I, H, 1, bidi), "that counts one layer"),
    (lambda I, H, L, bidi: right_count(I, H, L, bidi) + 1, "expected"),
])
def test_rnn_parameter_count_names_the_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.rnn_parameter_count(wrong)


# --------------------------------------------------------------------------- exercise 3


def right_sample_next(logits, temperature, generator):
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).item()


def test_sample_next_passes_on_the_right_answer(capsys):
    checks.sample_next(right_sample_next)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_sample_next_accepts_a_one_element_tensor():
    checks.sample_next(lambda logits, t, g: torch.multinomial(
        torch.softmax(logits / t, dim=-1), 1, generator=g))


@pytest.mark.parametrize("wrong, message", [
    (None, "sample_next is still None"),
    (lambda logits, t, g: ..., "is still Ellipsis"),
    (lambda logits, t, g: torch.softmax(logits / t, -1), "not the probabilities"),
    (lambda logits, t, g: torch.multinomial(logits / t, 1, generator=g).item(),
     "raised RuntimeError.*softmax"),
    (lambda logits, t, g: torch.multinomial(torch.softmax(logits / t, -1), 1).item(),
     "seeded alike gave different samples"),
    (lambda logits, t, g: int(logits.argmax()), "greedy decoding"),
    (lambda logits, t, g: right_sample_next(logits * t * t, t, g), "multiplied by the temperature"),
    (lambda logits, t, g: right_sample_next(logits * t, t, g), "temperature is ignored"),
    (lambda logits, t, g: int(torch.randint(4, (1,), generator=g)), "equally often"),
    (lambda logits, t, g: right_sample_next(logits * 3, t, g), "frequencies of ids 0-3"),
    (lambda logits, t, g: 7, "not an id between 0 and 3"),
])
def test_sample_next_names_the_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.sample_next(wrong)
