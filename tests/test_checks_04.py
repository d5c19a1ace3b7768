"""The self-checks of notebook 04 (LSTM): each passes on a right answer and says what is wrong
on a stub and on the mistakes learners typically make."""

from __future__ import annotations

import pytest
import torch
from check_helpers import fails, passes, stub
from torch import nn

from rnnlib import checks

# --------------------------------------------------------------------------- exercise 1: blocks

def test_gate_blocks_passes_on_split_and_on_chunk_and_on_a_view(capsys):
    passes(capsys, checks.lstm_gate_blocks, lambda w: tuple(w.split(w.shape[0] // 4)))
    passes(capsys, checks.lstm_gate_blocks, lambda w: w.chunk(4))
    passes(capsys, checks.lstm_gate_blocks, lambda w: w.view(4, w.shape[0] // 4, -1))


def test_gate_blocks_fails_on_the_stub_and_on_none():
    fails(checks.lstm_gate_blocks, stub, "still None")
    fails(checks.lstm_gate_blocks, None, "still None")


def test_gate_blocks_names_a_wrong_gate_order():
    def onnx_order(w):
        i, f, g, o = w.chunk(4)
        return i, o, f, g
    fails(checks.lstm_gate_blocks, onnx_order, "order i, o, f, g", "i, f, g, o")


def test_gate_blocks_names_splitting_the_columns():
    fails(checks.lstm_gate_blocks, lambda w: w.chunk(4, dim=1), "dim 0")


def test_gate_blocks_names_interleaved_rows():
    fails(checks.lstm_gate_blocks, lambda w: tuple(w[k::4] for k in range(4)), "contiguous")


def test_gate_blocks_names_a_hard_coded_hidden_size():
    fails(checks.lstm_gate_blocks, lambda w: tuple(w[k * 5:(k + 1) * 5] for k in range(4)),
          "weight.shape[0] // 4")


# --------------------------------------------------------------------------- exercise 2: the step

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
