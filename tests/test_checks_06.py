"""The self-checks of notebook 06 (LSTM vs GRU): each passes on a right answer, and fails on the
stub and on the typical mistakes with a message that says what is wrong."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnlib import checks, data
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


# ---- exercise 2 (now): paired differences between two cells run with the same seeds

def paired_right(a, b):
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return d.mean(), d.std(ddof=1) / np.sqrt(len(d))


def unpaired(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.mean() - b.mean(), np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))


def test_paired_difference_passes_on_the_per_seed_differences_and_the_t_decision(capsys):
    checks.paired_difference(paired_right, False)
    out = capsys.readouterr().out
    assert "\N{CHECK MARK}" in out and "not shown at 5%" in out and "p = 0.12" in out, out


def test_paired_difference_asks_for_the_decision_once_the_function_is_right():
    with pytest.raises(CheckFailed, match="Now decide"):
        checks.paired_difference(paired_right)


@pytest.mark.parametrize("shown, message", [
    (True, "Student's t with 2 degrees"),
    ("no", "True or False"),
])
def test_paired_difference_judges_the_decision(shown, message):
    with pytest.raises(CheckFailed, match=message):
        checks.paired_difference(paired_right, shown)


def test_paired_difference_accepts_a_numpy_bool(capsys):
    d, se = paired_right([0.30, 0.52, 0.41], [0.27, 0.45, 0.39])
    checks.paired_difference(paired_right, abs(d / se) > 4.30)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda a, b: ..., "still Ellipsis"),
    (lambda a, b: paired_right(a, b)[0], "two numbers"),
    (lambda a, b: paired_right(b, a), "sign is flipped"),
    (unpaired, "independent"),
    (lambda a, b: (paired_right(a, b)[0], paired_right(a, b)[1] * np.sqrt(len(a))),
     "standard deviation of the differences"),
    (lambda a, b: (paired_right(a, b)[0],
                   np.std(np.subtract(a, b)) / np.sqrt(len(a))), "ddof=1"),
    (lambda a, b: (np.median(np.subtract(a, b)) + 0.02, 0.0), "mean of the per-seed"),
])
def test_paired_difference_fails_on_stub_and_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=message):
        checks.paired_difference(answer)


# ---- exercise 4: the forget-bias experiment

class TinyAdder(torch.nn.Module):
    def __init__(self, kind="lstm"):
        super().__init__()
        torch.manual_seed(0)
        self.rnn = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(2, 4, batch_first=True)
        self.head = torch.nn.Linear(4, 1)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1]).squeeze(-1)


def val_data():
    return data.adding_problem(n=50, length=12, seed=3)


def measured(model):
    x, y = val_data()
    with torch.no_grad():
        return float(torch.nn.functional.mse_loss(model(x), y))


@pytest.mark.parametrize("prediction", ["solved", "baseline"])
def test_forget_bias_experiment_passes_on_a_measured_model_and_says_if_the_guess_held(
        prediction, capsys):
    model = TinyAdder()
    checks.forget_bias_experiment(prediction, model, measured(model), *val_data())
    out = capsys.readouterr().out
    assert "\N{CHECK MARK}" in out
    outcome = "solved" if measured(model) < 0.01 else "baseline" if measured(model) > 0.15 else "partly"
    assert ("prediction held" in out) == (outcome == prediction), out


@pytest.mark.parametrize("args, message", [
    ((None, "model", "mse", "x", "y"), "prediction is still None"),
    (("maybe", "model", "mse", "x", "y"), "should be \"solved\""),
    (("solved", None, "mse", "x", "y"), "model is still None"),
    (("solved", "gru", "mse", "x", "y"), "nn.LSTM"),
    (("solved", "model", None, "x", "y"), "val_mse is still None"),
    (("solved", "model", 0.123456, "x", "y"), "this model's MSE"),
])
def test_forget_bias_experiment_fails_helpfully(args, message):
    model = TinyAdder()
    x, y = val_data()
    values = {"model": model, "gru": TinyAdder("gru"), "x": x, "y": y, "mse": measured(model)}
    with pytest.raises(CheckFailed, match=message):
        checks.forget_bias_experiment(*[values.get(a, a) if isinstance(a, str) else a
                                        for a in args])


# ---- check and go on (RNNLIB_STRICT_CHECKS unset, as in a learner's run): a stub binds the
# course's reference with one line, a wrong answer prints its message and binds the reference,
# a right answer comes back unchanged

@pytest.fixture
def learner(monkeypatch):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS", raising=False)


def one_line(out):
    return out.count("\n") == 1


def test_matched_hidden_size_goes_on(learner, capsys):
    def stub(kind, input_size, target):
        ...

    bound = checks.matched_hidden_size(stub)
    out = capsys.readouterr().out
    assert "not written yet" in out and one_line(out), out
    assert bound("gru", 2, 4608) == 37 and bound("rnn", 32, count("lstm", 32, 128)) == 272
    assert all(bound(k, i, count("lstm", i, h)) == matched_hidden_by_search(k, i, count("lstm", i, h))
               for k in BLOCKS for i, h in ((2, 32), (32, 128), (64, 64), (10, 20)))

    bound = checks.matched_hidden_size(lstm_hidden)
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "matching H" in out and "reference" in out, out
    assert bound("gru", 2, 4608) == 37

    assert checks.matched_hidden_size(matched_hidden) is matched_hidden
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_steps_to_target_goes_on(learner, capsys):
    def stub(losses, target, window):
        ...

    bound = checks.steps_to_target(stub)
    out = capsys.readouterr().out
    assert "not written yet" in out and one_line(out), out
    losses = [0.30, 0.20, 0.04, 0.20, 0.16, 0.08, 0.05, 0.04, 0.03, 0.02, 0.02, 0.01]
    assert bound(losses, 0.05, 3) == 9 and bound([0.3, 0.2], 0.05, 2) is None
    assert bound([0.01], 0.05, 5) is None

    bound = checks.steps_to_target(zero_based)
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "one short" in out, out
    assert bound(losses, 0.05, 3) == 9

    assert checks.steps_to_target(steps_right) is steps_right
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_paired_difference_goes_on(learner, capsys):
    def stub(a, b):
        ...

    fn, shown = checks.paired_difference(stub, None)
    out = capsys.readouterr().out
    assert "not written yet" in out and "`shown`" in out and one_line(out), out
    assert shown is False
    mean, se = fn([0.30, 0.52, 0.41], [0.27, 0.45, 0.39])
    assert mean == pytest.approx(0.04) and se == pytest.approx(paired_right(
        [0.30, 0.52, 0.41], [0.27, 0.45, 0.39])[1])

    fn, shown = checks.paired_difference(unpaired, False)
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "independent" in out and "reference" in out, out
    assert fn([1.0, 2.0], [1.0, 3.0])[0] == pytest.approx(-0.5) and shown is False

    fn, shown = checks.paired_difference(paired_right, True)   # a right function, a wrong call
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "Student's t" in out and shown is False, out

    assert checks.paired_difference(paired_right, False) == (paired_right, False)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_forget_bias_experiment_goes_on(learner, capsys):
    x, y = val_data()                      # T = 12, as in a smoke run
    settings = dict(seed=0, steps=5, hidden=4, batch=8, lr=1e-2)
    prediction, model, mse = checks.forget_bias_experiment(None, None, None, x, y, **settings)
    out = capsys.readouterr().out
    assert "not written yet" in out and one_line(out), out
    assert isinstance(model.rnn, torch.nn.LSTM) and mse == pytest.approx(measured(model), rel=1e-4)
    assert prediction == ("solved" if mse < 0.01 else "baseline")
    again = checks.forget_bias_experiment(None, None, None, x, y, **settings)
    assert again[2] == mse                 # the course's run is deterministic
    capsys.readouterr()

    wrong = TinyAdder()
    prediction, model, mse = checks.forget_bias_experiment("baseline", wrong, 0.123456, x, y,
                                                           **settings)
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "this model's MSE" in out and "reference" in out, out
    assert prediction == "baseline" and model is not wrong and mse == pytest.approx(measured(model), rel=1e-4)

    right = TinyAdder()
    answers = ("solved", right, measured(right))
    assert checks.forget_bias_experiment(*answers, x, y, **settings) == answers
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_the_reference_run_is_the_notebooks(learner, capsys):
    """The course's run of exercise 4 is the notebook's train_adding with forget_bias=None: the
    same data stream, initialisation and training, so the same model."""
    from rnnlib import train

    x, y = val_data()
    _, model, _ = checks.forget_bias_experiment(None, None, None, x, y, seed=1, steps=4,
                                                hidden=4, batch=8)
    xs, ys = data.adding_problem(n=4 * 8, length=12, seed=1000 * 1 + 12)
    torch.manual_seed(1)
    notebook = TinyAdder.__new__(TinyAdder)
    torch.nn.Module.__init__(notebook)
    notebook.rnn = torch.nn.LSTM(2, 4, batch_first=True)
    notebook.head = torch.nn.Linear(4, 1)
    train.fit(notebook, list(zip(xs.split(8), ys.split(8), strict=True)),
              loss_fn=torch.nn.MSELoss(), lr=1e-2, steps=4, log_every=50, seed=1, quiet=True)
    for a, b in zip(model.parameters(), notebook.parameters(), strict=True):
        assert torch.equal(a, b)
