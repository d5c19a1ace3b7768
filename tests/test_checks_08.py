"""The self-checks of notebook 08 (character language model): each passes on a right answer and
says what is wrong on a stub and on the mistakes learners typically make."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from check_helpers import fails, passes, stub

from rnnlib import checks
from rnnlib.checks.char_lm import charlm_reset_experiment

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


# ------------------------------------------------ exercise 3: units, and a comparison across tokens

# 19 characters, 4 tokens (two words, a comma, a full stop): the word model (perplexity 300 per
# token) pays 4 ln 300 / 19 = 1.20 nats per character, against 2.30 bits = 1.59 nats for the
# character model; with 14 tokens in 20 characters it pays 3.99 and the character model wins.
FEW_TOKENS = "tomorrow, tomorrow."
MANY_TOKENS = "a, b; c. d! e? f: g."


def right_units(loss):
    return loss / math.log(2), math.exp(loss)


def units_check(better="word model", text=FEW_TOKENS):
    return lambda answer: checks.charlm_units(answer, better, val_text=text)


def test_units_pass_on_math_and_on_torch(capsys):
    passes(capsys, units_check(), right_units)
    passes(capsys, units_check(),
           lambda loss: (torch.tensor(loss) / math.log(2), torch.tensor(loss).exp()))
    passes(capsys, units_check(),
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
    fails(units_check(), answer, fragment)


def test_the_comparison_is_per_character_whichever_model_wins(capsys):
    passes(capsys, units_check("word model", FEW_TOKENS), right_units)
    passes(capsys, units_check("Character model ", MANY_TOKENS), right_units)
    fails(units_check("character model", FEW_TOKENS), right_units, "not the character model",
          "4 word tokens against 19 characters")
    fails(units_check("word model", MANY_TOKENS), right_units, "not the word model")


@pytest.mark.parametrize("better, fragment", [
    (None, "Now the decision"), (..., "Now the decision"), ("words", "should be one of"),
])
def test_the_comparison_asks_for_a_decision(better, fragment):
    fails(units_check(better), right_units, fragment)


def test_the_comparison_needs_the_validation_text():
    fails(lambda answer: checks.charlm_units(answer, "word model"), right_units,
          "val_text should be the validation text")


def test_the_stored_comparison_counts_the_notebooks_validation_text(capsys):
    from rnnlib import data

    _, val_text, _ = data.split_sequence(data.load_shakespeare(), (0.9, 0.05, 0.05))
    checks.charlm_units(right_units, "word model", val_text=val_text)
    assert "15,193 tokens" in capsys.readouterr().out


# --------------------------------------------------------------------------- exercise 2: detach

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


# ------------------------------------------------------- exercise 4: resetting the state (experiment)

class TinyLM(torch.nn.Module):
    """The notebook's CharLM in miniature: (B, L) ids -> (B, L, V) logits and the state."""

    def __init__(self, vocab=7, hidden=6):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, 4)
        self.lstm = torch.nn.LSTM(4, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state


@pytest.fixture(scope="module")
def reset_problem():
    torch.manual_seed(0)
    model = TinyLM()
    with torch.no_grad():
        for weight in model.parameters():
            weight.mul_(4)                # large weights: the state matters to the logits
    rows = torch.randint(0, 7, (3, 75))   # 74 targets a row: windows of 32, 32 and 10

    def loss_over(windows, carry):
        total, count, means, state = 0.0, 0, [], None
        with torch.no_grad():
            for x, y in windows:
                logits, new_state = model(x, state)
                state = new_state if carry else None
                ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 7), y.reshape(-1),
                                                       reduction="sum").item()
                total, count = total + ce, count + y.numel()
                means.append(ce / y.numel())
        return total / count, sum(means) / len(means)

    from rnnlib import data
    windows = {n: list(data.bptt_batches(rows, n)) for n in (16, 32)}
    carried = loss_over(windows[32], carry=True)[0]
    reset, plain_mean = loss_over(windows[32], carry=False)
    return dict(model=model, rows=rows, carried=carried, reset=reset, plain_mean=plain_mean,
                reset16=loss_over(windows[16], carry=False)[0])


def run_reset(problem, predicted, measured):
    charlm_reset_experiment(predicted, measured, model=problem["model"],
                                   val_rows=problem["rows"], carried_nats=problem["carried"])


def test_reset_experiment_passes_on_the_measured_loss_and_reports_the_prediction(
        reset_problem, capsys):
    p = reset_problem
    assert abs(p["reset"] - p["carried"]) > 1e-3 and abs(p["reset"] - p["plain_mean"]) > 1e-3
    run_reset(p, 2.5, p["reset"])
    out = capsys.readouterr().out
    assert out.startswith("\N{CHECK MARK}") and "you predicted 2.500" in out, out
    assert f"{p['reset']:.3f}" in out and f"{p['carried']:.3f}" in out, out
    run_reset(p, torch.tensor(1.0), torch.tensor(p["reset"]))   # tensors are fine too
    assert "\N{CHECK MARK}" in capsys.readouterr().out


@pytest.mark.parametrize("predicted, measured, fragment", [
    (None, "reset", "write down your prediction first"),
    (..., "reset", "write down your prediction first"),
    (-1.0, "reset", "positive number"),
    ("high", "reset", "should be a number"),
    (2.0, None, "reset_nats is still None"),
    (2.0, "carried", "is the loss with the state carried"),
    (2.0, "plain_mean", "the last window is shorter"),
    (2.0, "reset16", "resets every 16 characters"),
    (2.0, 9.0, "score"),
])
def test_reset_experiment_fails_helpfully_on_stubs_and_typical_slips(reset_problem, predicted,
                                                                     measured, fragment):
    p = reset_problem
    measured = p[measured] if isinstance(measured, str) else measured
    with pytest.raises(checks.CheckFailed) as failure:
        run_reset(p, predicted, measured)
    assert fragment in str(failure.value), str(failure.value)


# --------------------------------------------- check and go on: each check binds what later cells use

@pytest.fixture
def learner(monkeypatch):
    """A learner's run: a failing check says what is wrong and binds the course's answer."""
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS", raising=False)


def test_entropy_binds_the_reference_for_a_stub_or_a_wrong_answer(learner, capsys):
    bound = checks.charlm_unigram_entropy(stub)
    assert "`unigram_entropy` not written yet" in capsys.readouterr().out
    assert abs(bound("aab") - entropy("aab")) < 1e-12 and bound is not stub
    def flipped(text):
        return entropy(text, sign=1.0)

    bound = checks.charlm_unigram_entropy(flipped)
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "sign is flipped" in out and "reference" in out, out
    assert abs(bound("abcd") - math.log(4)) < 1e-12
    assert checks.charlm_unigram_entropy(entropy) is entropy


def test_units_bind_the_function_and_the_decision(learner, capsys):
    fn, better = checks.charlm_units(stub, None, val_text=FEW_TOKENS)
    assert "`nats_to_bits_and_perplexity` and `better` not written yet" in capsys.readouterr().out
    assert fn(math.log(65)) == pytest.approx((math.log(65) / math.log(2), 65.0))
    assert better == "word model"
    fn, better = checks.charlm_units(right_units, "word model", val_text=MANY_TOKENS)
    out = capsys.readouterr().out
    assert "not the word model" in out and "reference" in out, out
    assert better == "character model" and fn(1.0) == pytest.approx(right_units(1.0))
    fn, better = checks.charlm_units(right_units, None, val_text=FEW_TOKENS)   # half done
    assert "Now the decision" in capsys.readouterr().out and better == "word model"
    assert checks.charlm_units(right_units, "word model", val_text=FEW_TOKENS) == \
        (right_units, "word model")


def test_detach_binds_the_reference_for_a_stub_or_a_wrong_answer(learner, capsys):
    def unchanged(state):
        return state

    w = torch.ones(2, requires_grad=True)
    for answer, said in ((stub, "`detach_state` not written yet"),
                         (unchanged, "still attached to the graph")):
        bound = checks.charlm_detach_state(answer)
        assert said in capsys.readouterr().out
        h, c = bound((w * 2, w * 3))
        assert h.grad_fn is None and c.grad_fn is None and bound(None) is None
    assert checks.charlm_detach_state(detach_state) is detach_state


def test_reset_experiment_binds_the_measured_loss(learner, reset_problem, capsys):
    p = reset_problem
    bound = checks.charlm_reset_experiment(None, None, model=p["model"], val_rows=p["rows"],
                                           carried_nats=p["carried"])
    assert "`predicted_nats` and `reset_nats` not written yet" in capsys.readouterr().out
    assert bound[0] is None and bound[1] == pytest.approx(p["reset"], abs=1e-6)
    bound = checks.charlm_reset_experiment(2.5, p["carried"], model=p["model"],
                                           val_rows=p["rows"], carried_nats=p["carried"])
    out = capsys.readouterr().out
    assert "is the loss with the state carried" in out and "reference" in out, out
    assert bound == (2.5, pytest.approx(p["reset"], abs=1e-6))   # the prediction stays theirs
    right = (2.5, p["reset"])
    assert checks.charlm_reset_experiment(*right, model=p["model"], val_rows=p["rows"],
                                          carried_nats=p["carried"]) == right
