"""rnnlib.reference: every hand-written backward agrees with finite differences and with autograd,
and every NumPy forward agrees with torch.nn and rnnlib.scratch on the same weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rnnlib import reference as ref
from rnnlib import scratch

torch.set_num_threads(1)

CELL_KINDS = ["rnn", "lstm", "gru"]
TORCH_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


# --------------------------------------------------------------------------------------------
# Gradient checks: the analytic backward against central differences
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("one_step", [False, True], ids=["through_time", "one_step"])
@pytest.mark.parametrize("cell", CELL_KINDS)
def test_reference_backward_passes_gradient_check(cell, one_step):
    errors = ref.gradient_check(cell, one_step=one_step)
    expected = {"x", "h0", "W_ih", "W_hh", "b_ih", "b_hh"} | ({"c0"} if cell == "lstm" else set())
    assert set(errors) == expected
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("cell", CELL_KINDS)
def test_reference_backward_passes_gradient_check_other_sizes_and_seeds(cell):
    for seed, (T, B, I, H) in enumerate([(5, 1, 2, 3), (2, 2, 3, 1), (3, 3, 1, 4)]):  # noqa: E741
        errors = ref.gradient_check(cell, T=T, B=B, I=I, H=H, seed=seed + 10)
        assert max(errors.values()) < 1e-6, (T, B, I, H, errors)


def test_reference_lstm_step_backward_handles_an_incoming_cell_gradient():
    """lstm_step_backward with dc != 0 (the sequence check only starts from dc = 0)."""
    p = ref.random_problem("lstm", T=1, seed=3)
    x, h0, c0, W_ih, W_hh, b_ih, b_hh = (p[k] for k in ("x", "h0", "c0", "W_ih", "W_hh",
                                                        "b_ih", "b_hh"))
    rng = np.random.default_rng(4)
    dh, dc = rng.standard_normal(h0.shape), rng.standard_normal(c0.shape)
    args = [x[0], h0, c0, W_ih, W_hh, b_ih, b_hh]

    def loss(_):
        h, c, _cache = ref.lstm_step_forward(*args)
        return float(np.sum(h * dh) + np.sum(c * dc))

    _, _, cache = ref.lstm_step_forward(*args)
    analytic = ref.lstm_step_backward(dh, dc, cache)
    for name, array, grad in zip(["x", "h_prev", "c_prev", "W_ih", "W_hh", "b_ih", "b_hh"],
                                 args, analytic, strict=True):
        assert ref.relative_error(grad, ref.numerical_gradient(loss, array)) < 1e-6, name


def test_reference_relu_rnn_backward_passes_gradient_check():
    p = ref.random_problem("rnn", seed=5)
    args = [p[k] for k in ("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")]
    h_all, cache = ref.rnn_forward(*args, nonlinearity="relu")
    dh_all = np.random.default_rng(6).standard_normal(h_all.shape)
    analytic = ref.rnn_backward(dh_all, cache)

    def loss(_):
        return float(np.sum(ref.rnn_forward(*args, nonlinearity="relu")[0] * dh_all))

    assert (h_all == 0).any() and (h_all > 0).any(), "the test should cross relu's kink"
    for array, grad in zip(args, analytic, strict=True):
        assert ref.relative_error(grad, ref.numerical_gradient(loss, array)) < 1e-6


def test_reference_gradient_check_catches_a_wrong_backward(monkeypatch):
    """The checker is only worth something if it fails a wrong derivative: drop tanh' here."""
    def wrong_step_backward(dh, cache):
        x, h_prev, W_ih, W_hh, a, h, nonlinearity = cache
        da = dh                                         # forgot the factor (1 - h**2)
        return da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(0), da.sum(0)

    monkeypatch.setattr(ref, "rnn_step_backward", wrong_step_backward)
    errors = ref.gradient_check("rnn")
    assert max(errors.values()) > 1e-2


# --------------------------------------------------------------------------------------------
# The helpers themselves
# --------------------------------------------------------------------------------------------

def test_reference_numerical_gradient_of_a_known_function_and_restores_x():
    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    before = x.copy()
    grad = ref.numerical_gradient(lambda v: float(np.sum(v**3)), x)
    np.testing.assert_allclose(grad, 3 * before**2, rtol=1e-8)
    np.testing.assert_array_equal(x, before)


def test_reference_numerical_gradient_refuses_float32():
    with pytest.raises(TypeError, match="float64"):
        ref.numerical_gradient(lambda v: float(v.sum()), np.ones(3, dtype=np.float32))


def test_reference_relative_error_is_scale_free_and_zero_for_equal_arrays():
    a = np.array([1.0, -2.0, 3.0])
    assert ref.relative_error(a, a) == 0.0
    assert ref.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert ref.relative_error(a, -a) == pytest.approx(2.0)
    assert ref.relative_error(1e-9 * a, 1e-9 * (a + 1e-7)) == pytest.approx(
        ref.relative_error(a, a + 1e-7))
    with pytest.raises(ValueError, match="same shape"):
        ref.relative_error(np.ones(2), np.ones(3))


def test_reference_rejects_an_unknown_cell_name():
    with pytest.raises(ValueError, match="cell should be one of"):
        ref.gradient_check("transformer")


def test_reference_sigmoid_is_stable_for_large_inputs():
    with np.errstate(over="raise"):
        values = ref.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(values, [0.0, 0.5, 1.0])


# --------------------------------------------------------------------------------------------
# The same numbers as torch.nn and rnnlib.scratch
# --------------------------------------------------------------------------------------------

def weights_of(module: nn.Module) -> dict[str, np.ndarray]:
    return {name: getattr(module, f"{name.replace('W_', 'weight_').replace('b_', 'bias_')}_l0")
            .detach().numpy() for name in ("W_ih", "W_hh", "b_ih", "b_hh")}


def run_reference(cell, x, h0, c0, w, nonlinearity="tanh"):
    """h_all (T, B, H) and the final cell state (LSTM) or None."""
    if cell == "lstm":
        h_all, cache = ref.lstm_forward(x, h0, c0, w["W_ih"], w["W_hh"], w["b_ih"], w["b_hh"])
        return h_all, cache["c"]
    if cell == "gru":
        return ref.gru_forward(x, h0, w["W_ih"], w["W_hh"], w["b_ih"], w["b_hh"])[0], None
    return ref.rnn_forward(x, h0, w["W_ih"], w["W_hh"], w["b_ih"], w["b_hh"],
                           nonlinearity=nonlinearity)[0], None


@pytest.mark.parametrize("cell,nonlinearity", [("rnn", "tanh"), ("rnn", "relu"),
                                               ("lstm", "tanh"), ("gru", "tanh")],
                         ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_reference_forward_equals_torch_nn_and_scratch_on_the_same_weights(cell, nonlinearity):
    kind = TORCH_NAMES[cell]
    extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    torch.manual_seed(0)
    theirs = getattr(nn, kind)(4, 5, dtype=torch.float64, **extra)
    ours = getattr(scratch, kind)(4, 5, dtype=torch.float64, **extra)
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(1)
    x, h0, c0 = rng.standard_normal((4, 3, 4)), rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    h_all, c_n = run_reference(cell, x, h0, c0, weights_of(theirs), nonlinearity)

    hx = torch.from_numpy(h0)[None]
    if cell == "lstm":
        hx = (hx, torch.from_numpy(c0)[None])
    for module in (theirs, ours):
        output, state = module(torch.from_numpy(x), hx)
        np.testing.assert_allclose(h_all, output.detach().numpy(), rtol=1e-12, atol=1e-12)
        if cell == "lstm":
            np.testing.assert_allclose(c_n, state[1][0].detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", CELL_KINDS)
def test_reference_backward_equals_torch_autograd(cell):
    """The hand-derived gradients are autograd's gradients of nn.RNN/LSTM/GRU, to 1e-10."""
    torch.manual_seed(0)
    module = getattr(nn, TORCH_NAMES[cell])(3, 4, dtype=torch.float64)
    p = ref.random_problem(cell, T=5, B=2, I=3, H=4, seed=8)
    w = weights_of(module)
    dh_all = np.random.default_rng(9).standard_normal((5, 2, 4))

    names = ["x", "h0"] + (["c0"] if cell == "lstm" else [])
    tensors = {k: torch.from_numpy(p[k]).requires_grad_() for k in names}
    hx = tensors["h0"][None]
    if cell == "lstm":
        hx = (hx, tensors["c0"][None])
    output, _ = module(tensors["x"], hx)
    (output * torch.from_numpy(dh_all)).sum().backward()
    expected = [tensors[k].grad for k in names] + [
        getattr(module, n).grad for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                          "bias_hh_l0")]

    forward = {"rnn": ref.rnn_forward, "lstm": ref.lstm_forward, "gru": ref.gru_forward}[cell]
    backward = {"rnn": ref.rnn_backward, "lstm": ref.lstm_backward, "gru": ref.gru_backward}[cell]
    _, cache = forward(*[p[k] for k in names], w["W_ih"], w["W_hh"], w["b_ih"], w["b_hh"])
    got = backward(dh_all, cache)
    for name, mine, theirs in zip(names + ["W_ih", "W_hh", "b_ih", "b_hh"], got, expected,
                                  strict=True):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-10, atol=1e-10, err_msg=name)
