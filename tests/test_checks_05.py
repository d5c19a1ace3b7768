"""The self-checks of notebook 05 (GRU): each passes on a right answer, and fails on the stub
and on the typical mistakes with a message that says what is wrong."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlib import checks
from rnnlib.checks import CheckFailed
from rnnlib.checks.gru import _step_variant


def _blocks(weight_ih, weight_hh, bias_ih, bias_hh):
    return (*weight_ih.chunk(3), *weight_hh.chunk(3), *bias_ih.chunk(3), *bias_hh.chunk(3))


def cho_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, reset_first=True, swap_z=False,
             with_b_hn=True):
    W_ir, W_iz, W_in, W_hr, W_hz, W_hn, b_ir, b_iz, b_in, b_hr, b_hz, b_hn = _blocks(
        weight_ih, weight_hh, bias_ih, bias_hh)
    r = torch.sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    b_hn = b_hn if with_b_hn else 0
    recurrent = (r * h) @ W_hn.T + b_hn if reset_first else r * (h @ W_hn.T + b_hn)
    n = torch.tanh(x @ W_in.T + b_in + recurrent)
    return z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h


# ---- exercise 1: Cho et al.'s step

def test_cho_gru_step_passes_on_the_paper_equations(capsys):
    checks.cho_gru_step(cho_step)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda *args: None, "still None"),
    (lambda *args: cho_step(*args, reset_first=False), "that is PyTorch's GRU"),
    (lambda *args: torch.gru_cell(*args), "that is PyTorch's GRU"),
    (lambda *args: cho_step(*args, swap_z=True), "z and 1 - z are swapped"),
    (lambda *args: cho_step(*args, with_b_hn=False), "b_hn is missing"),
    (lambda x, h, *w: h, "wrong values"),
    (lambda x, h, *w: h[:, :2], "should have shape (3, 5)"),
])
def test_cho_gru_step_fails_on_stub_and_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=message.replace("(", r"\(").replace(")", r"\)")):
        checks.cho_gru_step(answer)


def test_cho_gru_step_fails_when_the_arguments_are_changed_in_place():
    def in_place(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
        result = cho_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh)
        h.mul_(0.5)
        return result

    with pytest.raises(CheckFailed, match="in place"):
        checks.cho_gru_step(in_place)


# ---- exercise 2: parameter count

def count(I, H, num_layers=1, bidirectional=False):  # noqa: E741
    D = 2 if bidirectional else 1
    return sum(D * 3 * (H * (I if layer == 0 else D * H) + H * H + 2 * H)
               for layer in range(num_layers))


def test_gru_param_count_passes_on_the_formula_and_on_nn_gru_itself(capsys):
    checks.gru_param_count(count)
    checks.gru_param_count(lambda I, H, num_layers=1, bidirectional=False: sum(  # noqa: E741
        p.numel() for p in torch.nn.GRU(I, H, num_layers, bidirectional=bidirectional)
        .parameters()))
    assert capsys.readouterr().out.count("\N{CHECK MARK}") == 2


def test_gru_param_count_does_not_disturb_the_global_random_state():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    checks.gru_param_count(count)
    torch.testing.assert_close(torch.rand(3), expected)


def lstm_like(I, H, num_layers=1, bidirectional=False):  # noqa: E741
    return count(I, H, num_layers, bidirectional) // 3 * 4


def one_bias(I, H, num_layers=1, bidirectional=False):  # noqa: E741
    D = 2 if bidirectional else 1
    return count(I, H, num_layers, bidirectional) - num_layers * D * 3 * H


def input_everywhere(I, H, num_layers=1, bidirectional=False):  # noqa: E741
    D = 2 if bidirectional else 1
    return num_layers * D * 3 * (H * I + H * H + 2 * H)


def forgot_directions(I, H, num_layers=1, bidirectional=False):  # noqa: E741
    return count(I, H, num_layers, False)


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda *a, **k: None, "still None"),
    (lambda *a, **k: "1920", "whole number"),
    (lstm_like, "an LSTM's count"),
    (one_bias, "one bias vector is missing"),
    (input_everywhere, "layers after the first do not read the input"),
    (forgot_directions, "doubles every layer"),
    (lambda *a, **k: 7, r"expected 1920 \(= sum"),
])
def test_gru_param_count_fails_on_stub_and_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=message):
        checks.gru_param_count(answer)


def test_gru_param_count_accepts_a_whole_float():
    checks.gru_param_count(lambda *a, **k: float(count(*a, **k)))


# ---- exercise 3: the GRU size with an LSTM's parameter budget

def matching(I, H):  # noqa: E741
    budget = 4 * (H * I + H * H + 2 * H)
    G = math.floor((-3 * (I + 2) + math.sqrt(9 * (I + 2) ** 2 + 12 * budget)) / 6)
    while 3 * (G * I + G * G + 2 * G) > budget:  # guard against round-off in the square root
        G -= 1
    return G


def test_matching_gru_hidden_passes_on_the_exact_answer(capsys):
    checks.matching_gru_hidden(matching)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_matching_gru_hidden_examples():
    assert matching(65, 256) == 300
    assert 3 * (300 * 65 + 300**2 + 600) <= 4 * (256 * 65 + 256**2 + 512) \
        < 3 * (301 * 65 + 301**2 + 602)


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda I, H: None, "still None"),  # noqa: E741
    (lambda I, H: round(H * math.sqrt(4 / 3)), "only the limit for a large H"),  # noqa: E741
    (lambda I, H: matching(I, H) + 1, "more than the LSTM's"),  # noqa: E741
    (lambda I, H: float(matching(I, H)), "whole number"),  # noqa: E741
    (lambda I, H: H, "expected 300"),  # noqa: E741
])
def test_matching_gru_hidden_fails_on_stub_and_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=message):
        checks.matching_gru_hidden(answer)


# ---- exercise 4: weights from the swapped convention

def convert(state):
    new = {}
    for name, tensor in state.items():
        H = tensor.shape[0] // 3
        new[name] = torch.cat([tensor[:H], -tensor[H:2 * H], tensor[2 * H:]])
    return new


def test_from_swapped_convention_passes_on_negating_the_z_block(capsys):
    checks.from_swapped_convention(convert)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def _map_blocks(state, fn, names=None):
    new = {}
    for name, tensor in state.items():
        tensor = tensor.clone()
        H = tensor.shape[0] // 3
        if names is None or names(name):
            tensor = fn(tensor, H)
        new[name] = tensor
    return new


def negate_rows(rows):
    def fn(t, H):
        t[rows(H)] = -t[rows(H)]
        return t
    return fn


def in_place(state):
    for tensor in state.values():
        H = tensor.shape[0] // 3
        tensor[H:2 * H] *= -1
    return state


def one_minus(t, H):
    t[H:2 * H] = 1 - t[H:2 * H]
    return t


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda state: None, "still None"),
    (lambda state: list(state.values()), "should return a dict"),
    (lambda state: state, "nothing changed"),
    (in_place, "changed in place"),
    (lambda s: _map_blocks(s, negate_rows(lambda H: slice(0, H))), "the r block"),
    (lambda s: _map_blocks(s, negate_rows(lambda H: slice(2 * H, 3 * H))), "block n"),
    (lambda s: _map_blocks(s, negate_rows(lambda H: slice(H, 2 * H)),
                           names=lambda n: n.startswith("weight")), "z rows of .*bias"),
    (lambda s: _map_blocks(s, negate_rows(lambda H: slice(H, 2 * H)),
                           names=lambda n: n.endswith("l0")), "in every layer"),
    (lambda s: _map_blocks(s, one_minus), "1 - W"),
    (lambda s: {k: v for k, v in convert(s).items() if "l1" not in k}, "same keys"),
])
def test_from_swapped_convention_fails_on_stub_and_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=message):
        checks.from_swapped_convention(answer)


def test_converted_weights_really_reproduce_the_swapped_gru():
    """The identity behind exercise 4, on its own: 1 - sigmoid(a) == sigmoid(-a)."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 4, dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    state = {k: v.clone() for k, v in gru.state_dict().items()}
    h = torch.zeros(2, 4, dtype=torch.float64)
    weights = [state[f"{n}_l0"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    outputs = []
    for x_t in x:
        h = _step_variant(x_t, h, *weights, reset="after", swap_z=True)
        outputs.append(h)
    gru.load_state_dict(convert(state))
    torch.testing.assert_close(gru(x)[0], torch.stack(outputs))


def test_the_checks_own_gru_steps_are_pytorchs_and_chos():
    """The reference the checks grade against: PyTorch's step equals torch's kernel; Cho's not."""
    torch.manual_seed(1)
    args = [torch.randn(*s, dtype=torch.float64) for s in ((3, 4), (3, 5), (15, 4), (15, 5),
                                                           (15,), (15,))]
    torch.testing.assert_close(_step_variant(*args, reset="after"),
                               torch.gru_cell(*args))
    torch.testing.assert_close(_step_variant(*args), cho_step(*args))
    assert not torch.allclose(_step_variant(*args), torch.gru_cell(*args))
