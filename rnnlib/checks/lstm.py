"""Self-checks of notebook 04, the LSTM (``04-lstm.ipynb``): one cell step equal to
nn.LSTMCell's, the backward pass of one step by hand (judged against ``rnnlib.reference`` and
finite differences), the forget-gate bias of any nn.LSTM, and the experiment with forget gates
pinned open.
"""

from __future__ import annotations

import torch

from rnnlib.checks._common import (
    CheckFailed,
    binds,
    compare_gradients,
    expect,
    expect_answered,
    expect_close,
    expect_finite_differences_agree,
    expect_no_known_mistake,
    expect_shape,
    is_close,
    passed,
    wrong_blocks,
)

_GATES = "ifgo"  # PyTorch's order of the four blocks
_NAMES = {"i": "input gate i", "f": "forget gate f", "g": "candidate g", "o": "output gate o"}


def _order(order: str) -> str:
    return ", ".join(order)


def _permutations():
    from itertools import permutations

    return ["".join(p) for p in permutations(_GATES) if "".join(p) != _GATES]


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


def _lstm_cell_step(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """The course's answer to exercise 04.1: ``rnnlib.scratch.lstm_step`` (proven equal to
    nn.LSTMCell), given the weights and biases rather than the input's share of the gates."""
    import torch.nn.functional as F

    from rnnlib import scratch

    return scratch.lstm_step(F.linear(x, W_ih, b_ih), h, c, W_hh, b_hh)


@binds("lstm_cell_step", reference=lambda fn: _lstm_cell_step)
def lstm_cell_step(fn) -> None:
    """Exercise 04.1: ``fn(x, h, c, W_ih, W_hh, b_ih, b_hh)`` -> (h_new, c_new), as nn.LSTMCell."""
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


def _set_forget_bias(lstm, value: float) -> None:
    """The course's answer to exercise 04.3: b_hf = value and b_if = 0 in every layer and
    direction of an nn.LSTM, in place."""
    H = lstm.hidden_size
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if name.startswith("bias_ih"):
                p[H:2 * H] = 0.0
            elif name.startswith("bias_hh"):
                p[H:2 * H] = value


@binds("set_forget_bias", reference=lambda fn: _set_forget_bias)
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



# ---- the backward pass of one step (derived in the notebook, written in NumPy by the learner)

_BACKWARD_NAMES = ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")
_BACKWARD_SHAPES = {"dx": "(B, I)", "dh_prev": "(B, H)", "dc_prev": "(B, H)",
                    "dW_ih": "(4H, I)", "dW_hh": "(4H, H)", "db_ih": "(4H,)", "db_hh": "(4H,)"}


def _backward_problem(seed: int = 44):
    """A one-step float64 LSTM problem, weights large enough that every gate bends.

    Returns (args, (h, c), cache, dh, dc): ``args`` are lstm_step_forward's seven arguments.
    """
    import numpy as np

    from rnnlib import reference

    rng = np.random.default_rng(seed)
    B, I, H = 3, 4, 5  # noqa: E741
    args = (rng.standard_normal((B, I)), rng.standard_normal((B, H)),
            rng.standard_normal((B, H)) * 2, rng.standard_normal((4 * H, I)) * 0.8,
            rng.standard_normal((4 * H, H)) * 0.8, rng.standard_normal(4 * H) * 0.8,
            rng.standard_normal(4 * H) * 0.8)
    h, c, cache = reference.lstm_step_forward(*args)
    return args, (h, c), cache, rng.standard_normal(h.shape), rng.standard_normal(c.shape)


def _backward_variant(dh, dc, cache, *, through_h=True, tanh_of_c=True, sigmoid_prime=True,
                      order="ifgo", dc_prev_times_f=True, do_times_tanh=True):
    """rnnlib.reference.lstm_step_backward, with the knobs that typical mistakes turn."""
    import numpy as np

    x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c = cache
    c = np.arctanh(tanh_c)
    do = dh * (tanh_c if do_times_tanh else c)
    dc_total = dc + (dh * o * ((1 - tanh_c**2) if tanh_of_c else (1 - c**2)) if through_h else 0)
    di, df, dg = dc_total * g, dc_total * c_prev, dc_total * i
    dc_prev = dc_total * f if dc_prev_times_f else dc_total

    def sig(d, s):
        return d * s * (1 - s) if sigmoid_prime else d * (1 - s**2)

    blocks = {"i": sig(di, i), "f": sig(df, f), "g": dg * (1 - g**2), "o": sig(do, o)}
    da = np.concatenate([blocks[k] for k in order], axis=1)
    db = da.sum(axis=0)
    return da @ W_ih, da @ W_hh, dc_prev, da.T @ x, da.T @ h_prev, db, db.copy()


def _backward_numerical(args, dh, dc) -> list:
    """Central finite differences of L = sum(h * dh) + sum(c * dc) w.r.t. each forward argument.

    In this loss dL/dh = dh, and c meets dc directly, as step t + 1's gradient would; so
    dL/dc = dc + dh * o * (1 - tanh(c)**2), the dc_total of the derivation.
    """
    import numpy as np

    from rnnlib import reference

    grads = []
    for k in range(len(args)):
        inputs = [np.array(a, copy=True) for a in args]

        def loss(_, inputs=inputs):
            h, c, _ = reference.lstm_step_forward(*inputs)
            return float(np.sum(h * dh) + np.sum(c * dc))

        grads.append(reference.numerical_gradient(loss, inputs[k]))
    return grads


def _lstm_step_backward(dh, dc, cache):
    """The course's answer to exercise 04.2: ``rnnlib.reference.lstm_step_backward``."""
    from rnnlib import reference

    return reference.lstm_step_backward(dh, dc, cache)


@binds("lstm_step_backward", reference=lambda fn: _lstm_step_backward)
def lstm_step_backward(fn) -> None:
    """Exercise 04.2: ``fn(dh, dc, cache)`` -> (dx, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh).

    ``dh`` is dL/dh_t; ``dc`` is delta c, the gradient that step t + 1 sends back along the
    cell (not yet dL/dc_t, which adds the road through h_t: ``dc_total`` in the notebook).
    ``cache`` is ``rnnlib.reference.lstm_step_forward``'s:
    (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c). Judged against
    ``rnnlib.reference.lstm_step_backward`` and against central finite differences of
    L = sum(h * dh) + sum(c * dc), gradient by gradient.
    """
    import numpy as np

    from rnnlib import reference

    expect_answered(fn, "lstm_step_backward")
    args, _, cache, dh, dc = _backward_problem()
    try:
        got = fn(dh.copy(), dc.copy(), tuple(np.array(a, copy=True) for a in cache))
    except Exception as error:
        raise CheckFailed(f"lstm_step_backward raised {type(error).__name__}: {error}. It was "
                          "called with dh and dc (delta c, from step t + 1) of shape (B, H) = (3, 5) and the cache of "
                          "reference.lstm_step_forward: x (3, 4), h_prev and c_prev (3, 5), "
                          "W_ih (20, 4), W_hh (20, 5), then i, f, g, o and tanh_c, each "
                          "(3, 5)") from error
    expect_answered(got, "lstm_step_backward(dh, dc, cache)")
    expect(isinstance(got, tuple | list) and len(got) == 7,
           "lstm_step_backward should return a tuple of 7 arrays: "
           f"{', '.join(_BACKWARD_NAMES)}; got "
           + (f"{len(got)} values" if isinstance(got, tuple | list) else type(got).__name__))
    right = reference.lstm_step_backward(dh, dc, cache)
    got, wrong = compare_gradients(
        _BACKWARD_NAMES, got, right,
        lambda name, shape, expected: (
            f"{name} has shape {shape}, expected {expected}: a gradient has the shape of its "
            f"variable, {_BACKWARD_SHAPES[name]}. The four gate blocks of the pre-activation "
            "gradient sit side by side, da = [da_i, da_f, da_g, da_o] of shape (B, 4H), as "
            "the forward's x @ W_ih.T"))
    numeric = _backward_numerical(args, dh, dc)
    if not wrong:
        expect_finite_differences_agree(got, numeric)
        passed("lstm_step_backward gives all seven gradients of one LSTM step, equal to "
               "rnnlib.reference and to finite differences (every relative error below 1e-6)")
        return

    mistakes = [
        (dict(through_h=False), "dc_total (dL/dc_t) is missing the road through h: dc is only "
         "what step t + 1 sends back along the cell, and c_t also reaches the loss through "
         "h_t = o * tanh(c_t), so dc_total = dc + dh * o * (1 - tanh_c**2)"),
        (dict(tanh_of_c=False), "the derivative of tanh(c) is 1 - tanh(c)**2 = 1 - tanh_c**2, "
         "not 1 - c**2 (tanh_c is in the cache)"),
        (dict(do_times_tanh=False), "do should be dh * tanh_c: o multiplies tanh(c_t), not c_t"),
        (dict(dc_prev_times_f=False), "dc_prev should be dc_total * f: c_t = f * c_prev + ..., "
         "so the gradient reaching c_prev is scaled by the forget gate (the carousel)"),
        (dict(sigmoid_prime=False), "the sigmoid gates use tanh's derivative: for s = "
         "sigmoid(a), ds/da = s * (1 - s), so da_i = di * i * (1 - i), and the same for f and o; "
         "only g is a tanh, da_g = dg * (1 - g**2)"),
    ]
    from itertools import permutations

    mistakes += [(dict(order="".join(p)),
                  f"the four blocks of da are in the order {', '.join(p)}: they must follow "
                  "the forward's columns, i, f, g, o (input, forget, candidate, output)")
                 for p in permutations(_GATES) if "".join(p) != _GATES]
    expect_no_known_mistake(got, mistakes,
                            lambda **options: _backward_variant(dh, dc, cache, **options))
    first = wrong[0]
    k = _BACKWARD_NAMES.index(first)
    blocks = ""
    if first in ("dW_ih", "dW_hh", "db_ih", "db_hh"):
        bad = wrong_blocks(got[k], right[k], cache[1].shape[1], [_NAMES[b] for b in _GATES])
        blocks = (" (in every gate block)" if len(bad) == 4
                  else f" (in the rows of {', '.join(bad)})")
    if first in ("db_ih", "db_hh") and np.allclose(got[k], right[k] / 2, atol=1e-8):
        raise CheckFailed(f"{first} is half of da.sum(axis=0): the two biases are both added "
                          "into a, so each gets all of it")
    raise CheckFailed(
        f"{first}{blocks} has the right shape but wrong values: largest difference "
        f"{np.abs(got[k] - right[k]).max():.3g} from rnnlib.reference, relative error "
        f"{reference.relative_error(got[k], numeric[k]):.2g} against finite differences (a right "
        "gradient gives about 1e-9). "
        f"Wrong: {', '.join(wrong)}; right: "
        f"{', '.join(n for n in _BACKWARD_NAMES if n not in wrong) or 'none'}. Go back through "
        "the derivation one line at a time: do and dc_total (dL/dc_t) from h_t, then di, df, dg, dc_prev "
        "from c_t, then the four pre-activations, then the two matrix products")


# ---- the experiment: a cell that cannot forget

def _pinned_replay(model, ids) -> tuple[float, float]:
    """A copy of the character model ``model`` (``embed``, a one-layer ``lstm``, ``head``) with
    every effective forget bias at +50, replayed from zero states over the character ids
    ``ids``: (largest |c_t| over all units and steps, loss in nats per character)."""
    import copy

    import torch.nn.functional as F

    from rnnlib import scratch

    pinned = copy.deepcopy(model)
    _set_forget_bias(pinned.lstm, 50.0)
    lstm = pinned.lstm
    with torch.no_grad():
        ids = torch.as_tensor(ids)
        x_proj = F.linear(pinned.embed(ids[:-1]), lstm.weight_ih_l0, lstm.bias_ih_l0)
        h = c = x_proj.new_zeros(lstm.hidden_size)
        states, largest = [], 0.0
        for x_t in x_proj:
            h, c = scratch.lstm_step(x_t, h, c, lstm.weight_hh_l0, lstm.bias_hh_l0)
            states.append(h)
            largest = max(largest, c.abs().max().item())
        loss = F.cross_entropy(pinned.head(torch.stack(states)), ids[1:]).item()
    return largest, loss


def _no_forgetting_reference(prediction, largest_c, loss_pinned, *, steps, trained, model=None,
                             ids=None):
    """The course's answers to exercise 04.4: the derived growth, "linear", and the pinned
    copy's largest |c| and loss measured on ``ids`` (None without a model to measure)."""
    if model is None or ids is None:
        return "linear", None, None
    return ("linear", *_pinned_replay(model, ids))


@binds("prediction", "largest_c", "loss_pinned", reference=_no_forgetting_reference)
def lstm_no_forgetting(prediction, largest_c, loss_pinned, *, steps: int, trained, model=None,
                       ids=None) -> None:
    """Exercise 04.4: a recorded prediction, then the pinned model's largest |c| and its loss.

    ``steps`` is the number of characters the replay reads (from zero states), ``trained`` the
    pair (largest |c|, loss) of the trained model on the same text. ``model`` (the trained
    character model) and ``ids`` (the text's character ids) only serve the course's own
    measurement, bound when the learner's is missing or wrong.
    """
    import math

    expect(prediction in ("bounded", "linear", "exponential"),
           f"prediction is {prediction!r}: before you measure, record what you derive, "
           "prediction = \"bounded\", \"linear\" or \"exponential\" (how |c_t| can grow with t "
           "when f_t = 1 at every step)")
    if prediction == "exponential":
        raise CheckFailed("with f_t = 1 the update is c_t = c_(t-1) + i_t * g_t: nothing "
                          "multiplies c_(t-1) by more than 1, and |i_t * g_t| < 1 (a sigmoid times "
                          "a tanh). So each step adds less than 1 in size: how large can |c_t| be "
                          "after t steps from c_0 = 0?")
    if prediction == "bounded":
        raise CheckFailed("with f_t = 1 nothing ever removes what a step writes: "
                          "c_t = c_0 + (i_1 * g_1 + ... + i_t * g_t). If i * g has a mean other "
                          "than 0 for a unit, that sum keeps growing. What bounds it after t "
                          "steps, given |i * g| < 1?")
    for name, value in (("largest_c", largest_c), ("loss_pinned", loss_pinned)):
        expect_answered(value, name)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise CheckFailed(f"{name} should be a number (use .item() on a one-element tensor), "
                              f"got {type(value).__name__}") from None
        expect(math.isfinite(value) and value > 0, f"{name} should be a positive number, got {value}")
    largest_c, loss_pinned = float(largest_c), float(loss_pinned)
    largest_trained, loss_trained = (float(v) for v in trained)
    expect(largest_c < steps,
           f"largest_c = {largest_c:.4g} breaks the bound you derived: from c_0 = 0, |c_t| < t "
           f"after t steps, so below {steps} here. Measure the pinned model's cell states, "
           "trace[\"c\"].abs().max(), on the same text")
    expect(largest_c > 1.5 * largest_trained,
           f"largest_c = {largest_c:.4g} is not much larger than the trained model's "
           f"{largest_trained:.4g}: did you pin the forget gates of a copy (an effective forget "
           "bias of +50 with set_forget_bias_l0 on copy.deepcopy(model).lstm) and then read the "
           "copy's trace, not the trained model's?")
    expect(loss_pinned != loss_trained,
           "loss_pinned equals the trained model's loss: measure the loss of the pinned copy "
           "with read_text(pinned_model, long_text)")
    passed(f"with the forget gates pinned to 1 the cells drift (largest |c| {largest_c:.0f}, "
           f"against {largest_trained:.0f} for the trained model, and below the linear bound "
           f"{steps}); the loss goes from {loss_trained:.2f} to {loss_pinned:.2f} nats/char")
