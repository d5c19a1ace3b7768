"""Self-checks of notebook 05, the GRU (``05-gru.ipynb``): one step backward by hand, the
update gate's bias and the gradient through time, a GRU matched to an LSTM's budget, and the
swapped z convention.
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
    layer_params,
    passed,
    wrong_blocks,
)


def _blocks(weight_ih, weight_hh, bias_ih, bias_hh):
    """The twelve named pieces of a GRU's weights, blocks in PyTorch's order r, z, n."""
    return (*weight_ih.chunk(3), *weight_hh.chunk(3), *bias_ih.chunk(3), *bias_hh.chunk(3))


def _step_variant(x, h, weight_ih, weight_hh, bias_ih, bias_hh, reset="before",
                  swap_z=False, b_hn=True, reset_bias=False, order="rzn"):
    """One GRU step in one of the ways people write it (the checks compare against each)."""
    W_ir, W_iz, W_in, W_hr, W_hz, W_hn, b_ir, b_iz, b_in, b_hr, b_hz, b_hn_ = _blocks(
        weight_ih, weight_hh, bias_ih, bias_hh)
    if order == "zrn":  # the first two blocks read the other way round
        W_ir, W_iz, W_hr, W_hz, b_ir, b_iz, b_hr, b_hz = W_iz, W_ir, W_hz, W_hr, b_iz, b_ir, b_hz, b_hr
    r = torch.sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    bias_n = b_hn_ if b_hn else torch.zeros_like(b_hn_)
    if reset == "after":                                   # PyTorch, cuDNN
        recurrent = r * (h @ W_hn.T + bias_n)
    else:                                                  # Cho et al. 2014
        recurrent = (r * h) @ W_hn.T + (r * bias_n if reset_bias else bias_n)
    n = torch.tanh(x @ W_in.T + b_in + recurrent)
    return z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h


def _matching_gru_hidden(input_size: int, lstm_hidden: int) -> int:
    """The course's answer to exercise 05.3: the largest G with a one-layer GRU's parameters,
    3 G (I + G + 2), at most a one-layer LSTM's, 4 H (I + H + 2)."""
    budget = layer_params(input_size, lstm_hidden, 4)
    G = lstm_hidden                      # 3 blocks of size H always fit in 4
    while layer_params(input_size, G + 1, 3) <= budget:
        G += 1
    return G


@binds("matching_gru_hidden", reference=lambda fn: _matching_gru_hidden)
def matching_gru_hidden(fn) -> None:
    """Exercise 05.3: the largest GRU hidden size whose parameters fit an LSTM's budget."""
    import math
    import numbers

    expect_answered(fn, "matching_gru_hidden")
    for I, H in ((65, 256), (32, 128), (300, 50), (1, 10), (10, 1000)):  # noqa: E741
        budget = layer_params(I, H, 4)
        right = H
        while layer_params(I, right + 1, 3) <= budget:
            right += 1
        call = f"matching_gru_hidden({I}, {H})"
        got = fn(I, H)
        expect_answered(got, call)
        expect(isinstance(got, numbers.Integral) and not isinstance(got, bool),
               f"{call} should return a whole number (an int: a hidden size), got {got!r}; "
               "round down with math.floor or int(...)")
        if got == right:
            continue
        if got in (round(H * math.sqrt(4 / 3)), math.floor(H * math.sqrt(4 / 3))) and got != right:
            raise CheckFailed(
                f"{call} returned {got} = H * sqrt(4/3), expected {right}: sqrt(4/3) is only the "
                f"limit for a large H, where H * H dominates. With input_size={I} the input "
                "weights and the biases count too: solve 3 * (G*I + G*G + 2*G) <= "
                "4 * (H*I + H*H + 2*H) for the largest whole G")
        if got == right + 1:
            raise CheckFailed(
                f"{call} returned {got}: a GRU of that size has "
                f"{layer_params(I, got, 3)} parameters, more than the LSTM's {budget}. "
                "Take the largest size that does not exceed the budget (round down)")
        raise CheckFailed(f"{call} returned {got}, expected {right}: the LSTM has {budget} "
                          f"parameters; a GRU of size {right} has {layer_params(I, right, 3)} "
                          f"and one of size {right + 1} would have "
                          f"{layer_params(I, right + 1, 3)}")
    passed("the largest GRU that fits each LSTM's parameter budget")


def _swapped_forward(state: dict, x, num_layers: int):
    """A stacked GRU whose update gate is used the other way round: h' = z * n + (1 - z) * h."""
    for layer in range(num_layers):
        weights = [state[f"{name}_l{layer}"] for name in
                   ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        h = x.new_zeros(x.shape[1], weights[1].shape[1])
        outputs = []
        for x_t in x.unbind(0):
            h = _step_variant(x_t, h, *weights, reset="after", swap_z=True)
            outputs.append(h)
        x = torch.stack(outputs)
    return x


def _from_swapped_convention(state: dict) -> dict:
    """The course's answer to exercise 05.4: a new state dict with the z rows (the second of
    the blocks r, z, n) of every weight and bias negated, since 1 - sigmoid(a) = sigmoid(-a)."""
    converted = {}
    for name, tensor in state.items():
        r_rows, z_rows, n_rows = tensor.chunk(3)
        converted[name] = torch.cat([r_rows, -z_rows, n_rows])
    return converted


@binds("from_swapped_convention", reference=lambda fn: _from_swapped_convention)
def from_swapped_convention(fn) -> None:
    """Exercise 05.4: convert weights of a GRU with z and 1 - z swapped for nn.GRU."""
    from torch import nn

    expect_answered(fn, "from_swapped_convention")
    I, H, L = 3, 4, 2  # noqa: E741
    g = torch.Generator().manual_seed(54)
    with torch.random.fork_rng():
        model = nn.GRU(I, H, L, dtype=torch.float64)
    state = {name: (torch.rand(p.shape, generator=g, dtype=torch.float64) * 2 - 1)
             for name, p in model.state_dict().items()}
    saved = {name: t.clone() for name, t in state.items()}
    x = torch.randn(6, 2, I, generator=g, dtype=torch.float64)
    got = fn(state)
    expect_answered(got, "from_swapped_convention(state)")
    expect(isinstance(got, dict), f"from_swapped_convention should return a dict of tensors "
                                  f"(a state dict), got {type(got).__name__}")
    expect(all(torch.equal(state[k], saved[k]) for k in state),
           "the state dict you were given was changed in place. A model's state_dict() shares "
           "memory with its parameters, so this would silently change the original model too: "
           "build new tensors (t.clone(), or -t) instead")
    expect(set(got) == set(state), f"the returned dict should have the same keys as the one "
                                   f"given, {sorted(state)}; got {sorted(got)}")
    for name, tensor in got.items():
        expect(isinstance(tensor, torch.Tensor) and tensor.shape == state[name].shape,
               f"{name} should be a tensor of shape {tuple(state[name].shape)}, got "
               f"{getattr(tensor, 'shape', type(tensor).__name__)}")
    if all(torch.equal(got[k], state[k]) for k in state):
        raise CheckFailed("nothing changed: the weights are returned as they came, so nn.GRU "
                          "would read z where the other convention meant 1 - z. Use "
                          "1 - sigmoid(a) = sigmoid(-a) on the z block")
    rows = {"r": slice(0, H), "z": slice(H, 2 * H), "n": slice(2 * H, 3 * H)}
    changed = {block for block, s in rows.items()
               if any(not torch.equal(got[k][s], state[k][s]) for k in state)}
    expect("r" not in changed, "the r block (rows 0:H) changed: PyTorch stacks r, z, n, so the "
                               "update gate z is the second block, rows H:2H")
    expect("n" not in changed, "the candidate's block n (rows 2H:3H) should stay as it is: only "
                               "the update gate z is read the other way round")
    for name in state:
        block = got[name][rows["z"]]
        if torch.allclose(block, 1 - state[name][rows["z"]]):
            raise CheckFailed(f"{name}: the z block became 1 - W. It is the gate's value that "
                              "flips, 1 - sigmoid(a) = sigmoid(-a): negate the whole "
                              "pre-activation a, i.e. the z rows of every weight and bias")
    unchanged = sorted(k for k in state if torch.equal(got[k][rows["z"]], state[k][rows["z"]]))
    expect(not unchanged, f"the z rows of {unchanged} were left as they were: sigmoid(-a) needs "
                          "the whole pre-activation a negated, so negate the z rows of both "
                          "weights and both biases, in every layer")
    model.load_state_dict(got)
    with torch.no_grad():
        ours = model(x)[0]
    expect_close(ours, _swapped_forward(state, x, L),
                 "nn.GRU with the converted weights (its output)", atol=1e-9, rtol=1e-9)
    passed("nn.GRU with the converted weights computes the swapped-convention GRU exactly: "
           "1 - sigmoid(a) = sigmoid(-a)")


# ---- the backward pass of one step (derived in the notebook, written in NumPy by the learner)

_BACKWARD_NAMES = ("dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")


def _backward_problem(seed: int = 55):
    """A one-step float64 GRU problem with weights large enough that every gate bends."""
    import numpy as np

    from rnnlib import reference

    rng = np.random.default_rng(seed)
    B, I, H = 3, 4, 5  # noqa: E741
    args = (rng.standard_normal((B, I)), rng.standard_normal((B, H)),
            rng.standard_normal((3 * H, I)), rng.standard_normal((3 * H, H)),
            rng.standard_normal(3 * H), rng.standard_normal(3 * H))
    h, cache = reference.gru_step_forward(*args)
    return args, h, cache, rng.standard_normal(h.shape)


def _backward_variant(dh, cache, *, dz_sign=1.0, direct=True, through_r=True, tanh=True,
                      r_on_hn=True, one_minus_z=True):
    """rnnlib.reference.gru_step_backward, with the knobs that typical mistakes turn."""
    import numpy as np

    x, h_prev, W_ih, W_hh, r, z, n, gh_n = cache
    dn = dh * ((1 - z) if one_minus_z else z)
    dz = dz_sign * dh * (h_prev - n)
    da_n = dn * (1 - n**2) if tanh else dn
    da_r = da_n * gh_n * r * (1 - r) if through_r else np.zeros_like(da_n)
    da_z = dz * z * (1 - z)
    da_i = np.concatenate([da_r, da_z, da_n], axis=1)
    da_h = np.concatenate([da_r, da_z, da_n * r if r_on_hn else da_n], axis=1)
    dh_prev = da_h @ W_hh
    if direct:
        dh_prev = dh_prev + dh * z
    return da_i @ W_ih, dh_prev, da_i.T @ x, da_h.T @ h_prev, da_i.sum(0), da_h.sum(0)


def _numerical_gradients(args, dh) -> list:
    """Central finite differences of L = sum(h * dh) with respect to each forward argument."""
    import numpy as np

    from rnnlib import reference

    grads = []
    for k in range(len(args)):
        inputs = [np.array(a, copy=True) for a in args]

        def loss(_, inputs=inputs):
            return float(np.sum(reference.gru_step_forward(*inputs)[0] * dh))

        grads.append(reference.numerical_gradient(loss, inputs[k]))
    return grads


def _gru_step_backward(dh, cache):
    """The course's answer to exercise 05.1: ``rnnlib.reference.gru_step_backward``."""
    from rnnlib import reference

    return reference.gru_step_backward(dh, cache)


@binds("gru_step_backward", reference=lambda fn: _gru_step_backward)
def gru_step_backward(fn) -> None:
    """Exercise 05.1: ``fn(dh, cache)`` -> (dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh).

    ``cache`` is ``rnnlib.reference.gru_step_forward``'s: (x, h_prev, W_ih, W_hh, r, z, n, gh_n).
    Judged against ``rnnlib.reference.gru_step_backward`` and against central finite
    differences of L = sum(h * dh), gradient by gradient.
    """
    import numpy as np

    from rnnlib import reference

    expect_answered(fn, "gru_step_backward")
    args, h, cache, dh = _backward_problem()
    saved = [np.array(a, copy=True) for a in (dh, *cache[:4])]
    got = fn(dh.copy(), cache)
    expect_answered(got, "gru_step_backward(dh, cache)")
    expect(isinstance(got, tuple | list) and len(got) == 6,
           "gru_step_backward should return a tuple of 6 arrays, in the order of the forward's "
           f"arguments: {', '.join(_BACKWARD_NAMES)}; got "
           + (f"{len(got)} values" if isinstance(got, tuple | list) else type(got).__name__))
    expect(all(np.array_equal(a, s) for a, s in zip((dh, *cache[:4]), saved, strict=True)),
           "gru_step_backward changed the cache in place (x, h_prev or a weight): compute new "
           "arrays instead (e.g. da_h = ..., not W_hh -= ...)")
    right = reference.gru_step_backward(dh, cache)
    shapes = {"dx": "(B, I)", "dh_prev": "(B, H)", "dW_ih": "(3H, I)", "dW_hh": "(3H, H)",
              "db_ih": "(3H,)", "db_hh": "(3H,)"}
    got, wrong = compare_gradients(
        _BACKWARD_NAMES, got, right,
        lambda name, shape, expected: (
            f"{name} has shape {shape}, expected {expected}: a gradient has the shape of its "
            f"variable, {shapes[name]}. The three blocks r, z, n of the pre-activations sit "
            "side by side: (B, 3H), as in the forward's x @ W_ih.T"))
    numeric = _numerical_gradients(args, dh)
    if not wrong:
        expect_finite_differences_agree(got, numeric)
        passed("gru_step_backward gives all six gradients of one GRU step, equal to "
               "rnnlib.reference and to finite differences (relative error below 1e-6)")
        return

    mistakes = [
        (dict(dz_sign=-1.0), "dz has the wrong sign: h' = (1 - z) * n + z * h_prev, so "
         "dh'/dz = h_prev - n, and dz = dh * (h_prev - n)"),
        (dict(one_minus_z=False), "dn uses z: n enters h' through (1 - z) * n, so "
         "dn = dh * (1 - z)"),
        (dict(direct=False), "dh_prev is missing the direct path: h' = ... + z * h_prev, so "
         "dh_prev gets dh * z on top of what comes back through the three gate blocks"),
        (dict(through_r=False), "the path through the reset gate is missing (the r block of "
         "the gradients is zero): a_n = gi_n + r * gh_n, so dr = da_n * gh_n, then "
         "da_r = dr * r * (1 - r)"),
        (dict(tanh=False), "the gradients skip the tanh of the candidate: da_n = dn * (1 - n**2)"),
        (dict(r_on_hn=False), "the n block of the hidden side is missing r: gh_n = h_prev @ "
         "W_hn.T + b_hn is multiplied by r, so its gradient is r * da_n (that reaches dW_hh, "
         "db_hh and dh_prev), while the input side's n block gets da_n itself"),
    ]
    expect_no_known_mistake(got, mistakes,
                            lambda **options: _backward_variant(dh, cache, **options))
    first = wrong[0]
    k = _BACKWARD_NAMES.index(first)
    blocks = ""
    if first in ("dW_ih", "dW_hh", "db_ih", "db_hh"):
        bad = wrong_blocks(got[k], right[k], cache[1].shape[1], "rzn")
        blocks = f" (rows of the block{'s' if len(bad) > 1 else ''} {', '.join(bad)})"
    raise CheckFailed(
        f"{first}{blocks} has the right shape but wrong values (largest difference "
        f"{np.abs(got[k] - right[k]).max():.3g}; relative error against finite differences "
        f"{reference.relative_error(got[k], numeric[k]):.2g}, where a right gradient gives "
        f"about 1e-9); all wrong: {', '.join(wrong)}. "
        f"Right: {', '.join(n for n in _BACKWARD_NAMES if n not in wrong) or 'none'}. Go back "
        "through the forward one line at a time, last line first: dn and dz from h', then "
        "da_n, then dr and da_r, da_z, then the two sides da_i and da_h")


# ---- the experiment: the update gate's bias and the gradient through time

def _gradient_norms(gru, x):
    """Mean over the batch of ‖∂L/∂h_t‖ and of ‖∏_{s>t} z_s‖, t = 0..T, for L = sum(h_T), of
    the one-layer GRU ``gru`` on x (T, B, I): the measurement of notebook 05's section 4."""
    from rnnlib import scratch

    W_ih, W_hh, b_ih, b_hh = gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0
    H = gru.hidden_size
    h = torch.zeros(x.shape[1], H, requires_grad=True)
    states, updates = [h], []
    for x_t in x.unbind(0):
        x_proj = x_t @ W_ih.T + b_ih
        updates.append(torch.sigmoid((x_proj + h @ W_hh.T + b_hh)[:, H:2 * H]).detach())
        h = scratch.gru_step(x_proj, h, W_hh, b_hh)
        states.append(h)
    grads = torch.autograd.grad(states[-1].sum(), states)
    z_prod = torch.stack(updates).double().flip(0).cumprod(0).flip(0)
    z_path = torch.cat([z_prod, torch.ones(1, *h.shape, dtype=torch.float64)])
    return torch.stack([g.norm(dim=1).mean() for g in grads]).detach(), z_path.norm(dim=2).mean(dim=1)


def _update_bias_reference(prediction, changed, *, default, probe=None, x=None):
    """The course's answers to exercise 05.2: "larger", and the measurement on a copy of
    ``probe`` with the update gate's effective bias at +3 (None without a probe to measure)."""
    import copy

    if probe is None or x is None:
        return "larger", None
    opened = copy.deepcopy(probe)
    H = opened.hidden_size
    with torch.no_grad():
        opened.bias_ih_l0[H:2 * H] = 0.0
        opened.bias_hh_l0[H:2 * H] = 3.0
    return "larger", _gradient_norms(opened, x)


@binds("prediction", "changed", reference=_update_bias_reference)
def update_bias_experiment(prediction, changed, *, default, probe=None, x=None) -> None:
    """Exercise 05.2: a recorded prediction, then (full, z path) gradient norms before and after.

    ``default`` and ``changed`` are each a pair of 1-D tensors, ``(full, z_path)``, of length
    T + 1 in the order t = 0..T, as the notebook's ``gradient_norms`` returns them: ``default``
    for the GRU ``probe``, ``changed`` for a copy with the update gate's bias at +3. ``probe``
    and ``x`` (the input both were measured on) only serve the course's own measurement, bound
    when the learner's is missing or wrong.
    """
    expect(prediction in ("larger", "smaller"),
           f"prediction is {prediction!r}: before you measure, write down what you expect, "
           "prediction = \"larger\" or \"smaller\" (the gradient that reaches 100 steps back, "
           "with the update gate's bias at +3 compared with PyTorch's default)")
    for name, value in (("default", default), ("changed", changed)):
        expect_answered(value, name)
        expect(isinstance(value, tuple | list) and len(value) == 2
               and all(isinstance(v, torch.Tensor) and v.dim() == 1 for v in value),
               f"{name} should be the pair (full, z_path) of 1-D tensors that gradient_norms "
               f"returns, got {type(value).__name__}")
    (full0, zpath0), (full1, zpath1) = [[v.detach().double() for v in pair]
                                        for pair in (default, changed)]
    expect(full1.shape == full0.shape and zpath1.shape == full0.shape,
           f"changed should have the length of default, {full0.numel()} (t = 0..T), got "
           f"{full1.numel()} and {zpath1.numel()}: measure on the same input x_path")
    expect(not torch.allclose(full0, full1),
           "the changed curves equal the default ones: set the bias on a fresh GRU (a deepcopy of "
           "the probe), then measure that GRU, not the original")
    growth = (zpath1[-2] / zpath0[-2]).item()   # one step back: the norm of z_T itself
    expect(growth > 1.3,
           f"one step back, the z path changed by a factor {growth:.2f}, so z itself barely "
           "moved: with the update gate's bias at +3, z is near sigmoid(3) = 0.95 instead of "
           "about 0.5. Set the bias of the z block (the second of r, z, n) of one bias vector "
           "to 3 and that of the other to 0")
    ratio = (full1[0] / full0[0]).item()
    expect(ratio > 1,
           f"the full gradient 100 steps back shrank (ratio {ratio:.2g}) although z grew: "
           "check that both curves are measured on the same input, from L = sum(h_T)")
    share0, share1 = (zpath0[0] / full0[0]).item(), (zpath1[0] / full1[0]).item()
    verdict = "as you predicted" if prediction == "larger" else "not what you predicted"
    passed(f"measured: the gradient reaching t = 0 is {ratio:.1e} times the default's "
           f"({verdict}), and the z path alone carries {share1:.2g} of its norm, against "
           f"{share0:.2g} at the default. Now explain it with the Jacobian: which term did "
           "the bias change?")
