"""The self-checks of notebook 04 (LSTM): each passes on a right answer and says what is wrong
on a stub and on the mistakes learners typically make."""

from __future__ import annotations

import pytest
import torch
from check_helpers import fails, passes, stub
from torch import nn

from rnnlib import checks

# --------------------------------------------------------------------------- exercise 1: the step

def right_step(x, h, c, W_ih, W_hh, b_ih, b_hh):
    a_i, a_f, a_g, a_o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=1)
    c_new = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
    return torch.sigmoid(a_o) * torch.tanh(c_new), c_new


def test_the_checks_reference_step_equals_nn_lstmcell():
    from rnnlib.checks.lstm import _problem, _step

    p = _problem()
    cell = nn.LSTMCell(4, 5, dtype=torch.float64)
    with torch.no_grad():
        for name in ("W_ih", "W_hh", "b_ih", "b_hh"):
            getattr(cell, name.replace("W", "weight").replace("b_", "bias_")).copy_(p[name])
    h, c = cell(p["x"], (p["h"], p["c"]))
    ours = _step(p)
    torch.testing.assert_close(ours[0], h)
    torch.testing.assert_close(ours[1], c)


def test_lstm_cell_step_passes_on_the_right_step_and_on_scratch(capsys):
    from rnnlib import scratch

    passes(capsys, checks.lstm_cell_step, right_step)
    passes(capsys, checks.lstm_cell_step,
           lambda x, h, c, W_ih, W_hh, b_ih, b_hh: scratch.lstm_step(x @ W_ih.T + b_ih, h, c,
                                                                     W_hh, b_hh))


def test_lstm_cell_step_fails_on_the_stub():
    fails(checks.lstm_cell_step, stub, "still None")


def with_order(order):
    def step(x, h, c, W_ih, W_hh, b_ih, b_hh):
        blocks = dict(zip(order, (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=1),
                          strict=True))
        c_new = torch.sigmoid(blocks["f"]) * c + torch.sigmoid(blocks["i"]) * torch.tanh(blocks["g"])
        return torch.sigmoid(blocks["o"]) * torch.tanh(c_new), c_new
    return step


@pytest.mark.parametrize("order", ["ifog", "iofg", "igfo"])
def test_lstm_cell_step_names_a_wrong_gate_order(order):
    fails(checks.lstm_cell_step, with_order(order), f"order {', '.join(order)}", "i, f, g, o")


def test_lstm_cell_step_names_the_usual_mistakes():
    def no_tanh(*args):
        h, c = right_step(*args)
        a_o = (args[0] @ args[3].T + args[5] + args[1] @ args[4].T + args[6]).chunk(4, dim=1)[3]
        return torch.sigmoid(a_o) * c, c

    def no_b_hh(x, h, c, W_ih, W_hh, b_ih, b_hh):
        return right_step(x, h, c, W_ih, W_hh, b_ih, torch.zeros_like(b_hh))

    def swapped(*args):
        h, c = right_step(*args)
        return c, h

    def old_c(x, h, c, W_ih, W_hh, b_ih, b_hh):
        _, c_new = right_step(x, h, c, W_ih, W_hh, b_ih, b_hh)
        a_o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=1)[3]
        return torch.sigmoid(a_o) * torch.tanh(c), c_new

    fails(checks.lstm_cell_step, no_tanh, "left out the tanh")
    fails(checks.lstm_cell_step, no_b_hh, "b_hh is missing")
    fails(checks.lstm_cell_step, swapped, "swapped")
    fails(checks.lstm_cell_step, old_c, "new cell state")
    fails(checks.lstm_cell_step, lambda *args: right_step(*args)[0], "tuple (h_new, c_new)")


# --------------------------------------------------------------------------- exercise 3: forget bias

def right_forget_bias(lstm, value):
    H = lstm.hidden_size
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if name.startswith("bias_ih"):
                p[H:2 * H] = 0.0
            elif name.startswith("bias_hh"):
                p[H:2 * H] = value


def split_forget_bias(lstm, value):
    H = lstm.hidden_size
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if name.startswith("bias"):
                p[H:2 * H] = value / 2


def test_forget_bias_passes_on_either_way_of_splitting_the_sum(capsys):
    passes(capsys, checks.lstm_forget_bias, right_forget_bias)
    passes(capsys, checks.lstm_forget_bias, split_forget_bias)


def test_forget_bias_fails_on_the_stub():
    fails(checks.lstm_forget_bias, stub, "no parameter changed", "`...`")


def test_forget_bias_names_setting_both_biases():
    def both(lstm, value):
        H = lstm.hidden_size
        with torch.no_grad():
            for name, p in lstm.named_parameters():
                if name.startswith("bias"):
                    p[H:2 * H] = value
    fails(checks.lstm_forget_bias, both, "b_if + b_hf = 2", "adds the")


def test_forget_bias_names_the_wrong_block():
    def input_gate(lstm, value):
        H = lstm.hidden_size
        with torch.no_grad():
            for name, p in lstm.named_parameters():
                if name.startswith("bias"):
                    p[:H] = value / 2
    fails(checks.lstm_forget_bias, input_gate, "input gate i", "second block")


def test_forget_bias_names_a_forgotten_layer_or_direction():
    def layer0_only(lstm, value):
        H = lstm.hidden_size
        with torch.no_grad():
            lstm.bias_ih_l0[H:2 * H] = 0
            lstm.bias_hh_l0[H:2 * H] = value
    fails(checks.lstm_forget_bias, layer0_only, "was not set", "both directions")


def test_forget_bias_names_the_leftover_input_side_bias():
    def hh_only(lstm, value):
        H = lstm.hidden_size
        with torch.no_grad():
            for name, p in lstm.named_parameters():
                if name.startswith("bias_hh"):
                    p[H:2 * H] = value
    fails(checks.lstm_forget_bias, hh_only, "set those rows of bias_ih to 0")


def test_forget_bias_names_a_hard_coded_value():
    fails(checks.lstm_forget_bias, lambda lstm, value: right_forget_bias(lstm, 1.0),
          "use the `value` argument")


def test_forget_bias_explains_the_no_grad_error():
    def without_no_grad(lstm, value):
        lstm.bias_hh_l0[lstm.hidden_size:2 * lstm.hidden_size] = value
    fails(checks.lstm_forget_bias, without_no_grad, "torch.no_grad()")


def test_forget_bias_names_changed_weights():
    def touches_weights(lstm, value):
        right_forget_bias(lstm, value)
        with torch.no_grad():
            lstm.weight_hh_l0.zero_()
    fails(checks.lstm_forget_bias, touches_weights, "weight_hh_l0 changed")


# --------------------------------------------------------------------------- exercise 2: backward

def _variant(**options):
    from rnnlib.checks.lstm import _backward_variant

    return lambda dh, dc, cache: _backward_variant(dh, dc, cache, **options)


def test_the_checks_backward_variant_without_mistakes_is_the_reference():
    import numpy as np

    from rnnlib import reference
    from rnnlib.checks.lstm import _backward_problem, _backward_variant

    _, _, cache, dh, dc = _backward_problem()
    for ours, theirs in zip(_backward_variant(dh, dc, cache),
                            reference.lstm_step_backward(dh, dc, cache), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_lstm_step_backward_passes_on_the_reference(capsys):
    from rnnlib import reference
    from rnnlib.checks.lstm import lstm_step_backward

    passes(capsys, lstm_step_backward, reference.lstm_step_backward)


def test_lstm_step_backward_passes_on_autograd(capsys):
    """An answer written with torch.autograd is right too: the check is not the reference."""
    from rnnlib.checks.lstm import lstm_step_backward

    def by_autograd(dh, dc, cache):
        x, h_prev, c_prev, W_ih, W_hh, *_ = cache
        # The cache holds no biases; their sum follows from the gates' pre-activations.
        i, f, g, o = (torch.from_numpy(v) for v in cache[5:9])
        a = torch.cat([torch.logit(i), torch.logit(f), torch.atanh(g), torch.logit(o)], dim=1)
        tensors = [torch.tensor(v, requires_grad=True) for v in (x, h_prev, c_prev, W_ih, W_hh)]
        xt, ht, ct, Wi, Wh = tensors
        b = (a - torch.from_numpy(x @ W_ih.T + h_prev @ W_hh.T)).mean(0)   # the summed bias
        bi = torch.zeros_like(b, requires_grad=True)
        bh = b.clone().requires_grad_()
        pre = xt @ Wi.T + bi + ht @ Wh.T + bh
        a_i, a_f, a_g, a_o = pre.chunk(4, dim=1)
        c = torch.sigmoid(a_f) * ct + torch.sigmoid(a_i) * torch.tanh(a_g)
        h = torch.sigmoid(a_o) * torch.tanh(c)
        loss = (h * torch.from_numpy(dh)).sum() + (c * torch.from_numpy(dc)).sum()
        grads = torch.autograd.grad(loss, [*tensors, bi, bh])
        return tuple(gr.numpy() for gr in grads)

    passes(capsys, lstm_step_backward, by_autograd)


def test_lstm_step_backward_fails_on_the_stub():
    from rnnlib.checks.lstm import lstm_step_backward

    fails(lstm_step_backward, stub, "still None", "`...`")
    fails(lstm_step_backward, None, "still None")


def test_lstm_step_backward_names_a_deliberately_wrong_gradient_and_by_how_much():
    from rnnlib import reference
    from rnnlib.checks.lstm import lstm_step_backward

    def wrong_dW_hh(dh, dc, cache):
        grads = list(reference.lstm_step_backward(dh, dc, cache))
        grads[4] = grads[4] * 1.1
        return tuple(grads)

    fails(lstm_step_backward, wrong_dW_hh, "dW_hh", "relative error", "finite differences",
          "Wrong: dW_hh;")


def test_lstm_step_backward_names_the_gate_block_of_a_wrong_weight_gradient():
    from rnnlib import reference
    from rnnlib.checks.lstm import lstm_step_backward

    def wrong_forget_rows(dh, dc, cache):
        grads = list(reference.lstm_step_backward(dh, dc, cache))
        H = dh.shape[1]
        grads[3] = grads[3].copy()
        grads[3][H:2 * H] = 0
        return tuple(grads)

    fails(lstm_step_backward, wrong_forget_rows, "dW_ih", "forget gate f")


@pytest.mark.parametrize(("options", "fragment"), [
    ({"through_h": False}, "road through h: dc is only what step t + 1 sends back"),
    ({"tanh_of_c": False}, "1 - tanh_c**2"),
    ({"do_times_tanh": False}, "do should be dh * tanh_c"),
    ({"dc_prev_times_f": False}, "dc_total * f"),
    ({"sigmoid_prime": False}, "s * (1 - s)"),
    ({"order": "fiog"}, "order f, i, o, g"),
])
def test_lstm_step_backward_names_the_usual_mistakes(options, fragment):
    from rnnlib.checks.lstm import lstm_step_backward

    fails(lstm_step_backward, _variant(**options), fragment)


def test_lstm_step_backward_names_halved_bias_gradients():
    from rnnlib import reference
    from rnnlib.checks.lstm import lstm_step_backward

    def halved(dh, dc, cache):
        *rest, db_ih, db_hh = reference.lstm_step_backward(dh, dc, cache)
        return (*rest, db_ih / 2, db_hh / 2)

    fails(lstm_step_backward, halved, "half of da.sum(axis=0)")


def test_lstm_step_backward_names_wrong_shapes_counts_and_errors():
    from rnnlib import reference
    from rnnlib.checks.lstm import lstm_step_backward

    def transposed(dh, dc, cache):
        grads = list(reference.lstm_step_backward(dh, dc, cache))
        grads[3] = grads[3].T
        return tuple(grads)

    def raises(dh, dc, cache):
        raise ValueError("matmul: shapes do not match")

    fails(lstm_step_backward, transposed, "dW_ih has shape (4, 20)", "(4H, I)")
    fails(lstm_step_backward, lambda dh, dc, cache: reference.lstm_step_backward(dh, dc, cache)[:6],
          "7 arrays", "6 values")
    fails(lstm_step_backward, raises, "raised ValueError", "W_ih (20, 4)")


# --------------------------------------------------------------------------- exercise 4: experiment

def test_no_forgetting_passes_on_a_consistent_measurement(capsys):
    from rnnlib.checks.lstm import lstm_no_forgetting

    lstm_no_forgetting("linear", 812.0, 3.4, steps=2999, trained=(270.0, 1.7))
    assert "drift" in capsys.readouterr().out


def test_no_forgetting_fails_on_the_stub_and_names_wrong_predictions():
    from rnnlib.checks.lstm import lstm_no_forgetting

    kwargs = {"steps": 2999, "trained": (270.0, 1.7)}
    fails(lambda _: lstm_no_forgetting(None, None, None, **kwargs), None, "prediction is None")
    fails(lambda _: lstm_no_forgetting("exponential", 812.0, 3.4, **kwargs), None,
          "|i_t * g_t| < 1")
    fails(lambda _: lstm_no_forgetting("bounded", 812.0, 3.4, **kwargs), None,
          "nothing ever removes")
    fails(lambda _: lstm_no_forgetting("linear", None, None, **kwargs), None, "largest_c is still")


def test_no_forgetting_names_measurements_that_cannot_be_right():
    from rnnlib.checks.lstm import lstm_no_forgetting

    kwargs = {"steps": 2999, "trained": (270.0, 1.7)}
    fails(lambda _: lstm_no_forgetting("linear", 5000.0, 3.4, **kwargs), None,
          "breaks the bound", "below 2999")
    fails(lambda _: lstm_no_forgetting("linear", 270.0, 1.7, **kwargs), None,
          "not much larger than the trained model's", "copy")
    fails(lambda _: lstm_no_forgetting("linear", 812.0, 1.7, **kwargs), None,
          "equals the trained model's loss")
    fails(lambda _: lstm_no_forgetting("linear", "big", 3.4, **kwargs), None, "should be a number")


# --------------------------------------------------------------------------- check and go on
# Without RNNLIB_STRICT_CHECKS a check never raises: a stub gets one "not written yet" line, a
# wrong answer its message, and both bind the course's reference; a right answer stays.


@pytest.fixture
def learner(monkeypatch):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS", raising=False)


def stub_notice(out, *names):
    """One line saying that the exercise's names are not written yet."""
    return "not written yet" in out and out.count("\n") == 1 and \
        all(f"`{name}`" in out for name in names)


def lstm_cell_step_stub(x, h, c, W_ih, W_hh, b_ih, b_hh):
    ...  # your code here: return h_new, c_new


def lstm_step_backward_stub(dh, dc, cache):
    x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c = cache
    ...  # your code here: return dx, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh


def set_forget_bias_stub(lstm, value):
    ...  # your code here


def test_lstm_cell_step_binds_the_reference_and_keeps_a_right_answer(learner, capsys):
    reference = checks.lstm_cell_step(lstm_cell_step_stub)
    out = capsys.readouterr().out
    assert stub_notice(out, "lstm_cell_step")
    torch.manual_seed(0)
    cell = nn.LSTMCell(3, 5)
    x, h, c = torch.randn(2, 3), torch.randn(2, 5), torch.randn(2, 5)
    with torch.no_grad():
        for ours, theirs in zip(reference(x, h, c, *cell.parameters()), cell(x, (h, c)),
                                strict=True):
            torch.testing.assert_close(ours, theirs)
    assert checks.lstm_cell_step(with_order("ifog")) is reference
    out = capsys.readouterr().out
    assert "\N{BALLOT X} you read the four blocks in the order i, f, o, g" in out
    assert checks.lstm_cell_step(right_step) is right_step


def test_lstm_step_backward_binds_rnnlib_reference_and_keeps_a_right_answer(learner, capsys):
    from rnnlib import reference
    from rnnlib.checks.lstm import _backward_problem

    bound = checks.lstm_step_backward(lstm_step_backward_stub)
    out = capsys.readouterr().out
    assert stub_notice(out, "lstm_step_backward")
    _, _, cache, dh, dc = _backward_problem()
    for ours, theirs in zip(bound(dh, dc, cache), reference.lstm_step_backward(dh, dc, cache),
                            strict=True):
        assert (ours == theirs).all()
    assert checks.lstm_step_backward(_variant(through_h=False)) is bound
    assert "\N{BALLOT X} dc_total (dL/dc_t) is missing" in capsys.readouterr().out
    assert checks.lstm_step_backward(reference.lstm_step_backward) is reference.lstm_step_backward


def test_forget_bias_binds_the_reference_and_keeps_a_right_answer(learner, capsys):
    bound = checks.lstm_forget_bias(set_forget_bias_stub)
    out = capsys.readouterr().out
    assert stub_notice(out, "set_forget_bias")
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    bound(lstm, 1.5)
    for suffix in ("_l0", "_l0_reverse", "_l1", "_l1_reverse"):
        effective = getattr(lstm, f"bias_ih{suffix}") + getattr(lstm, f"bias_hh{suffix}")
        torch.testing.assert_close(effective[4:8], torch.full((4,), 1.5))
    assert checks.lstm_forget_bias(split_forget_bias) is split_forget_bias
    capsys.readouterr()

    def layer_0_only(lstm, value):
        with torch.no_grad():
            lstm.bias_ih_l0[lstm.hidden_size:2 * lstm.hidden_size] = 0.0
            lstm.bias_hh_l0[lstm.hidden_size:2 * lstm.hidden_size] = value

    assert checks.lstm_forget_bias(layer_0_only) is bound
    assert "the rest of the notebook runs on the course's reference" in capsys.readouterr().out


class _CharModel(nn.Module):
    def __init__(self, vocab=7, embed=4, hidden=6):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)


def test_no_forgetting_binds_the_courses_measurement_and_keeps_a_right_one(learner, capsys):
    import copy

    from rnnlib.checks.lstm import lstm_no_forgetting

    torch.manual_seed(0)
    model, ids = _CharModel(), torch.randint(0, 7, (301,))
    kwargs = {"steps": 300, "trained": (2.0, 1.9), "model": model, "ids": ids.tolist()}
    prediction, largest_c, loss_pinned = lstm_no_forgetting(None, None, None, **kwargs)
    out = capsys.readouterr().out
    assert stub_notice(out, "prediction", "largest_c", "loss_pinned")
    # the course's replay: the model with its forget gates pinned, as nn.LSTM computes it
    pinned = copy.deepcopy(model)
    checks.lstm._set_forget_bias(pinned.lstm, 50.0)
    with torch.no_grad():
        out_, (_, _) = pinned.lstm(pinned.embed(ids[:-1]))
        loss = torch.nn.functional.cross_entropy(pinned.head(out_), ids[1:]).item()
    assert prediction == "linear" and 2.0 < largest_c < 300
    assert loss_pinned == pytest.approx(loss, rel=1e-5)
    assert lstm_no_forgetting("linear", largest_c, loss_pinned, **kwargs) == \
        ("linear", largest_c, loss_pinned)
    assert lstm_no_forgetting("bounded", 5000.0, 3.0, **kwargs) == \
        ("linear", largest_c, loss_pinned)
    assert "\N{BALLOT X} with f_t = 1 nothing ever removes" in capsys.readouterr().out
