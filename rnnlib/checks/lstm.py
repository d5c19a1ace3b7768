"""Self-checks of notebook 04, the LSTM (``04-lstm.ipynb``): the four gate blocks, one cell
step equal to nn.LSTMCell's, and the forget-gate bias.
"""

from __future__ import annotations

import torch

from rnnlib.checks._common import (
    CheckFailed,
    expect,
    expect_answered,
    expect_close,
    expect_shape,
    is_close,
    passed,
)

_GATES = "ifgo"  # PyTorch's order of the four blocks
_NAMES = {"i": "input gate i", "f": "forget gate f", "g": "candidate g", "o": "output gate o"}


def _order(order: str) -> str:
    return ", ".join(order)


def _permutations():
    from itertools import permutations

    return ["".join(p) for p in permutations(_GATES) if "".join(p) != _GATES]


def lstm_gate_blocks(fn) -> None:
    """Exercise 04.1: ``fn(weight)`` cuts a stacked (4H, ·) LSTM weight into (W_i, W_f, W_g, W_o)."""
    expect_answered(fn, "gate_blocks")
    for H, columns in ((5, 3), (2, 2)):
        weight = torch.arange(4 * H * columns, dtype=torch.float32).reshape(4 * H, columns)
        right = weight.split(H)
        got = fn(weight.clone())
        expect_answered(got, "gate_blocks(weight)")
        if isinstance(got, torch.Tensor) and got.dim() == 3 and got.shape[0] == 4:
            got = tuple(got.unbind(0))  # a (4, H, I) stack works as well
        expect(isinstance(got, tuple | list),
               f"gate_blocks should return a tuple (W_i, W_f, W_g, W_o), got "
               f"{type(got).__name__}")
        expect(len(got) == 4,
               f"gate_blocks returned {len(got)} pieces for a weight of shape {tuple(weight.shape)}; "
               "there are 4 gate blocks stacked along the rows (dim 0), each H = "
               "weight.shape[0] // 4 rows: weight.split(H) or weight.chunk(4)")
        for name, block in zip(("W_i", "W_f", "W_g", "W_o"), got, strict=True):
            expect(isinstance(block, torch.Tensor),
                   f"{name} should be a tensor, got {type(block).__name__}")
            if tuple(block.shape) == (4 * H, columns // 4) or block.shape[0] == 4 * H:
                raise CheckFailed(f"{name} has shape {tuple(block.shape)}: you cut the columns "
                                  "(dim 1). The gates are stacked along the rows, dim 0: "
                                  f"each block is ({H}, {columns}) here")
            if tuple(block.shape) != (H, columns):
                raise CheckFailed(f"for a weight of shape {tuple(weight.shape)} each block should "
                                  f"be ({H}, {columns}), H = {4 * H} // 4 rows; {name} has shape "
                                  f"{tuple(block.shape)}. Use H = weight.shape[0] // 4, not a "
                                  "fixed number")
        if all(torch.equal(g, r) for g, r in zip(got, right, strict=True)):
            continue
        if all(torch.equal(g, weight[k::4]) for k, g in enumerate(got)):
            raise CheckFailed("your blocks take every 4th row (weight[k::4]): the blocks are "
                              "contiguous, rows 0:H for i, H:2H for f, 2H:3H for g, 3H:4H for o")
        for order in _permutations():
            blocks = dict(zip(_GATES, right, strict=True))
            if all(torch.equal(g, blocks[gate]) for g, gate in zip(got, order, strict=True)):
                raise CheckFailed(f"you return the blocks in the order {_order(order)}; "
                                  "PyTorch stacks them as i, f, g, o (input, forget, candidate, "
                                  "output): rows 0:H, H:2H, 2H:3H, 3H:4H")
        raise CheckFailed("the blocks have the right shapes but not the right rows: W_i should "
                          "be weight[0:H], W_f weight[H:2H], W_g weight[2H:3H], W_o weight[3H:4H]")
    passed("the four blocks i, f, g, o, each H rows, for any H")


def _problem(seed: int = 0, B: int = 3, I: int = 4, H: int = 5) -> dict:  # noqa: E741
    """A random LSTM step in float64, with weights large enough that every mistake shows."""
    g = torch.Generator().manual_seed(seed)

    def draw(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * 0.7

    return {"x": draw(B, I), "h": draw(B, H), "c": draw(B, H) * 2, "W_ih": draw(4 * H, I),
            "W_hh": draw(4 * H, H), "b_ih": draw(4 * H), "b_hh": draw(4 * H)}


def _step(p: dict, order: str = _GATES, squash_c: bool = True,
          use_b_hh: bool = True, g_sigmoid: bool = False, h_from_old_c: bool = False):
    """The LSTM step, and the usual ways of getting it wrong (for the messages)."""
    a = p["x"] @ p["W_ih"].T + p["b_ih"] + p["h"] @ p["W_hh"].T
    if use_b_hh:
        a = a + p["b_hh"]
    blocks = dict(zip(order, a.chunk(4, dim=1), strict=True))
    i, f, o = (torch.sigmoid(blocks[k]) for k in "ifo")
    g = torch.sigmoid(blocks["g"]) if g_sigmoid else torch.tanh(blocks["g"])
    c_new = f * p["c"] + i * g
    shown = p["c"] if h_from_old_c else c_new
    h_new = o * (torch.tanh(shown) if squash_c else shown)
    return h_new, c_new


def lstm_cell_step(fn) -> None:
    """Exercise 04.2: ``fn(x, h, c, W_ih, W_hh, b_ih, b_hh)`` -> (h_new, c_new), as nn.LSTMCell."""
    expect_answered(fn, "lstm_cell_step")
    p = _problem()
    args = [p[k].clone() for k in ("x", "h", "c", "W_ih", "W_hh", "b_ih", "b_hh")]
    try:
        got = fn(*args)
    except Exception as error:
        raise CheckFailed(f"lstm_cell_step raised {type(error).__name__}: {error}. It was called "
                          "with x (B, I) = (3, 4), h and c (3, 5), W_ih (20, 4), W_hh (20, 5), "
                          "b_ih and b_hh (20,)") from error
    expect_answered(got, "lstm_cell_step(x, h, c, W_ih, W_hh, b_ih, b_hh)")
    expect(isinstance(got, tuple | list) and len(got) == 2,
           f"lstm_cell_step should return the tuple (h_new, c_new), got {type(got).__name__}"
           + (f" of length {len(got)}" if isinstance(got, tuple | list) else ""))
    h_new, c_new = got
    expect_shape(h_new, (3, 5), "h_new")
    expect_shape(c_new, (3, 5), "c_new")
    right_h, right_c = _step(p)
    if is_close(h_new, right_h) and is_close(c_new, right_c):
        passed("(h_new, c_new) equal nn.LSTMCell's step: gates i, f, g, o in PyTorch's order")
        return
    if is_close(h_new, right_c) and is_close(c_new, right_h):
        raise CheckFailed("h_new and c_new are swapped: return (h_new, c_new), hidden state "
                          "first, as nn.LSTMCell does")
    mistakes = [
        ({"squash_c": False}, "h_new should be o * tanh(c_new): you left out the tanh, so the "
                              "cell state is shown unsquashed"),
        ({"use_b_hh": False}, "the bias b_hh is missing: PyTorch adds both bias vectors, "
                              "x @ W_ih.T + b_ih + h @ W_hh.T + b_hh"),
        ({"g_sigmoid": True}, "the candidate g goes through tanh, not sigmoid: it must be able to "
                              "write negative values into the cell"),
        ({"h_from_old_c": True}, "h_new should use the new cell state: o * tanh(c_new), not "
                                 "o * tanh(c)"),
    ]
    mistakes += [({"order": order}, f"you read the four blocks in the order "
                                    f"{_order(order)}; PyTorch's order is i, f, g, o "
                                    "(input, forget, candidate, output)")
                 for order in _permutations()]
    for kwargs, message in mistakes:
        wrong_h, wrong_c = _step(p, **kwargs)
        if is_close(h_new, wrong_h) and is_close(c_new, wrong_c):
            raise CheckFailed(message)
    if is_close(c_new, right_c):
        raise CheckFailed("c_new is right but h_new is not: h_new = o * tanh(c_new), with o the "
                          "sigmoid of the fourth block")
    expect_close(c_new, right_c, "c_new (= f * c + i * g)", atol=1e-6)
    expect_close(h_new, right_h, "h_new", atol=1e-6)


def _effective(params: dict, H: int, suffix: str):
    return params[f"bias_ih{suffix}"] + params[f"bias_hh{suffix}"]


def _try_forget_bias(fn, lstm, value: float) -> None:
    try:
        fn(lstm, value)
    except RuntimeError as error:
        if "leaf Variable" in str(error) or "requires grad" in str(error):
            raise CheckFailed("PyTorch refuses to change a parameter in place while autograd is "
                              "watching: put the changes inside `with torch.no_grad():`") from error
        raise


def lstm_forget_bias(fn) -> None:
    """Exercise 04.3: ``fn(lstm, value)`` sets b_if + b_hf = value in every layer and direction."""
    from torch import nn

    expect_answered(fn, "set_forget_bias")
    for (layers, H, value) in ((2, 4, 1.0), (1, 3, 2.5)):
        with torch.random.fork_rng():
            torch.manual_seed(layers)
            lstm = nn.LSTM(3, H, num_layers=layers, bidirectional=True)
        before = {n: p.detach().clone() for n, p in lstm.named_parameters()}
        _try_forget_bias(fn, lstm, value)
        after = {n: p.detach().clone() for n, p in lstm.named_parameters()}
        if all(torch.equal(before[n], after[n]) for n in before):
            raise CheckFailed("no parameter changed: the biases are still PyTorch's random ones. "
                              "Change them in place, e.g. p[H:2 * H] = value inside "
                              "`with torch.no_grad():` (is the exercise cell still `...`?)")
        for name in before:
            if name.startswith("weight") and not torch.equal(before[name], after[name]):
                raise CheckFailed(f"{name} changed: only the biases should change")
        forget = slice(H, 2 * H)
        for name in before:
            if not name.startswith("bias"):
                continue
            changed = (before[name] != after[name]).nonzero().flatten().tolist()
            outside = [k for k in changed if not H <= k < 2 * H]
            if outside:
                gate = _GATES[outside[0] // H]
                raise CheckFailed(f"rows {outside[0] // H * H}:{outside[0] // H * H + H} of {name} "
                                  f"changed: that is the {_NAMES[gate]}. The forget gate is "
                                  f"the second block, rows H:2H ({H}:{2 * H} here)")
        suffixes = [f"_l{k}{d}" for k in range(layers) for d in ("", "_reverse")]
        for suffix in suffixes:
            effective = _effective(after, H, suffix)[forget]
            if torch.allclose(effective, torch.full_like(effective, value), atol=1e-6):
                continue
            if torch.equal(effective, _effective(before, H, suffix)[forget]):
                where = "the reverse direction" if "reverse" in suffix else f"layer {suffix[2]}"
                raise CheckFailed(f"the forget bias of {where} (bias_*{suffix}) was not set: loop "
                                  "over every bias in lstm.named_parameters(), every layer and "
                                  "both directions")
            if torch.allclose(effective, torch.full_like(effective, 2 * value), atol=1e-6):
                raise CheckFailed(f"b_if + b_hf = {2 * value:g} in layer{suffix}: PyTorch adds the "
                                  "two bias vectors, so set one of them to the value and the "
                                  "other to 0 (or half each)")
            if torch.allclose(after[f"bias_hh{suffix}"][forget],
                              torch.full_like(effective, value), atol=1e-6):
                raise CheckFailed(f"bias_hh{suffix} has the value, but bias_ih{suffix} still holds "
                                  "its random forget rows, so their sum is not the value: set "
                                  "those rows of bias_ih to 0")
            if torch.allclose(effective, torch.ones_like(effective), atol=1e-6):
                raise CheckFailed(f"the forget bias is 1 but set_forget_bias(lstm, {value:g}) was "
                                  "asked for: use the `value` argument")
            raise CheckFailed(f"the effective forget bias b_if + b_hf of layer{suffix} is "
                              f"{[round(v, 3) for v in effective.tolist()]}, expected {value:g} "
                              "for every unit")
    passed("b_if + b_hf = value in every layer and direction, every other parameter untouched")

