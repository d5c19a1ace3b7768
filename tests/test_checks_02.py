"""The self-checks of notebook 02: each passes on a right answer and says what is wrong on a
stub and on the mistakes learners typically make."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from check_helpers import passes

from rnnlib import checks, data, reference
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


# --------------------------------------------------------------------------- exercise 3


class TinyCharModel(torch.nn.Module):
    """The notebook's CharRNN in miniature: model(ids, h) -> (logits, h)."""

    def __init__(self, V=11):
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(V, 4)
        self.rnn = torch.nn.RNN(4, 8, batch_first=True)
        self.head = torch.nn.Linear(8, V)
        with torch.no_grad():       # a strong recurrence, so that the state matters
            self.rnn.weight_hh_l0.mul_(4)

    def forward(self, ids, h=None):
        output, h = self.rnn(self.embed(ids), h)
        return self.head(output), h


def measured(model, rows, reset, seq_len=16):
    import torch.nn.functional as F

    total, count, h = 0.0, 0, None
    with torch.no_grad():
        for x, y in data.bptt_batches(rows, seq_len):
            logits, h = model(x, None if reset else h)
            total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
            count += y.numel()
    return total / count


@pytest.fixture(scope="module")
def experiment():
    model = TinyCharModel()
    rows = torch.randint(11, (4, 800), generator=torch.Generator().manual_seed(1))
    carried, reset = measured(model, rows, False), measured(model, rows, True)
    assert abs(reset - carried) > 0.01    # the state matters for this model
    assert abs(measured(model, rows, True, seq_len=256) - carried) > 0.002   # even every 256
    return model, rows, carried, reset


def test_state_reset_experiment_passes_and_judges_the_prediction(experiment, capsys):
    model, rows, carried, reset = experiment
    outcome = "higher" if reset - carried > 0.005 else "lower"
    checks.rnn.state_reset_experiment(outcome, carried, reset, model, rows)
    assert "as you predicted" in capsys.readouterr().out
    other = "same"
    checks.rnn.state_reset_experiment(other, carried, reset, model, rows)
    assert f"you predicted 'same', the measurement says '{outcome}'" in capsys.readouterr().out


def test_state_reset_experiment_leaves_the_model_in_training_mode(experiment):
    model, rows, carried, reset = experiment
    model.train()
    checks.rnn.state_reset_experiment("higher", carried, reset, model, rows)
    assert model.training


@pytest.mark.parametrize("change, message", [
    (dict(prediction=None), "write down what you expect"),
    (dict(prediction="up"), "write down what you expect"),
    (dict(carried=...), "carried_nats is still Ellipsis"),
    (dict(reset=None), "reset_nats is still None"),
    (dict(reset="1.5"), "should be a number"),
    (dict(swap=True), "swapped"),
    (dict(carried=9.0), "measure it with evaluate"),
    (dict(reset="carried"), "the state still goes from one window to the next"),
    (dict(reset="reset256"), "every 256 characters"),
    (dict(reset=0.1), "change only the state"),
])
def test_state_reset_experiment_says_what_is_wrong(experiment, change, message):
    model, rows, carried, reset = experiment
    prediction = change.get("prediction", "higher")
    got_carried = change.get("carried", carried)
    got_reset = change.get("reset", reset)
    if got_reset == "carried":
        got_reset = carried
    elif got_reset == "reset256":
        got_reset = measured(model, rows, True, seq_len=256)
    if change.get("swap"):
        got_carried, got_reset = reset, carried
    with pytest.raises(CheckFailed, match=message):
        checks.rnn.state_reset_experiment(prediction, got_carried, got_reset, model, rows)


# --------------------------------------------------------------------------- check and go on


def test_every_check_binds_the_names_later_cells_use():
    bound = {name: check.binds for name, check in checks.checks_of(checks.rnn).items()}
    assert bound == {"rnn_step_backward": ("rnn_step_backward",),
                     "rnn_parameter_count": ("rnn_parameter_count",),
                     "sample_next": ("sample_next",),
                     "state_reset_experiment": ("prediction", "carried_nats", "reset_nats")}


def one_line(capsys, *fragments):
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and all(f in out for f in fragments), out


def wrong(capsys, *fragments):
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and all(f in out for f in fragments), out


def notebook_step_problem():
    """The notebook's cache, (x_t, h_prev, W_ih, W_hh, h), and a dh for it."""
    p = reference.random_problem("rnn", T=1, B=3, I=4, H=6, seed=2)
    h, _ = reference.rnn_step_forward(p["x"][0], p["h0"], p["W_ih"], p["W_hh"], p["b_ih"],
                                      p["b_hh"])
    dh = np.random.default_rng(3).standard_normal(h.shape)
    return dh, (p["x"][0], p["h0"], p["W_ih"], p["W_hh"], h)


def stub_step_backward(dh, cache):
    x_t, h_prev, W_ih, W_hh, h = cache
    ...  # your code here


def stub_count(input_size, hidden_size, num_layers, bidirectional):
    ...  # your code here


def stub_sample(logits, temperature, generator):
    ...  # your code here


def test_rnn_step_backward_goes_on_with_rnnlib_reference(monkeypatch, capsys):
    """Not strict (a learner's run): a stub or a wrong backward binds rnnlib.reference's step
    backward, taking the notebook's cache (dh, (x_t, h_prev, W_ih, W_hh, h)); a right one is
    bound as it is."""
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    dh, cache = notebook_step_problem()
    bound = checks.rnn_step_backward(stub_step_backward)
    one_line(capsys, "`rnn_step_backward` not written yet")
    for got, right in zip(bound(dh, cache), right_step_backward(dh, cache), strict=True):
        np.testing.assert_allclose(got, right, rtol=1e-12, atol=1e-14)
    bound = checks.rnn_step_backward(step_backward_with(da_of=lambda dh, h, c: dh))
    wrong(capsys, "skip the tanh", "reference for `rnn_step_backward`")
    for got, right in zip(bound(dh, cache), right_step_backward(dh, cache), strict=True):
        np.testing.assert_allclose(got, right, rtol=1e-12, atol=1e-14)
    assert checks.rnn_step_backward(right_step_backward) is right_step_backward


def test_rnn_parameter_count_goes_on_with_the_reference(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    configs = [(10, 20, 1, False), (10, 20, 3, True), (3, 7, 2, True)]
    bound = checks.rnn_parameter_count(stub_count)
    one_line(capsys, "`rnn_parameter_count` not written yet")
    assert [bound(*c) for c in configs] == [right_count(*c) for c in configs]
    bound = checks.rnn_parameter_count(lambda I, H, L, bidi: right_count(I, H, 1, bidi))
    wrong(capsys, "counts one layer", "reference for `rnn_parameter_count`")
    assert [bound(*c) for c in configs] == [right_count(*c) for c in configs]
    assert checks.rnn_parameter_count(right_count) is right_count


def test_sample_next_goes_on_with_the_reference(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    logits = torch.tensor([0.5, 2.0, -1.0])

    def draws(fn):
        g = torch.Generator().manual_seed(4)
        return [fn(logits, 0.8, g) for _ in range(20)]

    bound = checks.sample_next(stub_sample)
    one_line(capsys, "`sample_next` not written yet")
    assert draws(bound) == draws(right_sample_next)
    bound = checks.sample_next(lambda logits, t, g: int(logits.argmax()))
    wrong(capsys, "greedy decoding", "reference for `sample_next`")
    assert draws(bound) == draws(right_sample_next)
    assert checks.sample_next(right_sample_next) is right_sample_next


def test_state_reset_experiment_goes_on_with_the_measurement(experiment, monkeypatch, capsys):
    """A stub or a wrong measurement binds the measured outcome and both losses; right answers
    are bound as they are, the prediction too (it need not be the outcome)."""
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    model, rows, carried, reset = experiment
    outcome = "higher" if reset - carried > 0.005 else "lower"
    got = checks.rnn.state_reset_experiment(None, ..., ..., model, rows)
    one_line(capsys, "`prediction`", "`reset_nats` not written yet")
    assert got[0] == outcome and got[1:] == pytest.approx((carried, reset), abs=1e-9)
    got = checks.rnn.state_reset_experiment("lower", 9.0, reset, model, rows)
    wrong(capsys, "measure it with evaluate", "reference for `prediction`")
    assert got[0] == outcome and got[1:] == pytest.approx((carried, reset), abs=1e-9)
    assert checks.rnn.state_reset_experiment("same", carried, reset, model, rows) == \
        ("same", carried, reset)


def test_the_references_pass_their_own_checks(experiment, monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS")
    model, rows, _, _ = experiment
    step = checks.rnn_step_backward(None)
    count = checks.rnn_parameter_count(None)
    sample = checks.sample_next(None)
    answers = checks.rnn.state_reset_experiment(None, None, None, model, rows)
    capsys.readouterr()
    monkeypatch.setenv("RNNLIB_STRICT_CHECKS", "1")
    passes(capsys, checks.rnn_step_backward, step)
    passes(capsys, checks.rnn_parameter_count, count)
    passes(capsys, checks.sample_next, sample)
    checks.rnn.state_reset_experiment(*answers, model, rows)
    assert "as you predicted" in capsys.readouterr().out
