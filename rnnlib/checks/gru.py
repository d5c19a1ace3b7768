"""Self-checks of notebook 05, the GRU (``05-gru.ipynb``): Cho et al.'s step, nn.GRU's
parameter count, a GRU matched to an LSTM's budget, and the swapped z convention.
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
    layer_params,
    passed,
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


def _random_problem(seed: int, B: int = 3, I: int = 4, H: int = 5):  # noqa: E741
    """float64 x (B, I), h (B, H) and GRU weights with sizeable biases, from a fixed seed."""
    g = torch.Generator().manual_seed(seed)

    def draw(*shape, scale=1.0):
        return (torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) * scale

    return (draw(B, I, scale=2), draw(B, H), draw(3 * H, I), draw(3 * H, H),
            draw(3 * H, scale=1.5), draw(3 * H, scale=1.5))


def cho_gru_step(fn) -> None:
    """Exercise 05.1: one step of Cho et al.'s (2014) GRU, reset applied to h before W_hn."""
    expect_answered(fn, "cho_gru_step")
    args = _random_problem(seed=51)
    x, h = args[0], args[1]
    saved = [a.clone() for a in args]
    got = fn(*args)
    expect_answered(got, "cho_gru_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh)")
    expect(all(torch.equal(a, s) for a, s in zip(args, saved, strict=True)),
           "cho_gru_step changed one of its arguments in place: compute new tensors instead "
           "(e.g. r * h, not h *= r)")
    expect_shape(got, (x.shape[0], h.shape[1]),
                 "cho_gru_step(x of shape (3, 4), h of shape (3, 5), ...)")
    right = _step_variant(*args)
    if is_close(got, right):
        passed("Cho et al.'s GRU: the reset gate scales h before W_hn, then the same "
               "interpolation h' = (1 - z) * n + z * h")
        return
    mistakes = [
        (dict(reset="after"), "that is PyTorch's GRU (reset after the product, "
         "r * (W_hn h + b_hn)). Cho et al. reset h first: (r * h) @ W_hn.T + b_hn"),
        (dict(swap_z=True), "z and 1 - z are swapped: Cho et al. keep the old state where z is "
         "near 1, h' = z * h + (1 - z) * n"),
        (dict(reset="after", swap_z=True), "two differences: the reset acts after the product "
         "(PyTorch's variant) and z and 1 - z are swapped. Use (r * h) @ W_hn.T + b_hn and "
         "h' = (1 - z) * n + z * h"),
        (dict(b_hn=False), "b_hn is missing: the candidate is tanh(W_in x + b_in + W_hn (r * h) "
         "+ b_hn): both biases of the n block are added"),
        (dict(reset_bias=True), "the reset gate also scales b_hn here: in Cho et al.'s form r "
         "multiplies h only, W_hn (r * h) + b_hn"),
        (dict(order="zrn"), "r and z are swapped: PyTorch stacks the blocks in the order r, z, "
         "n, so weight_ih.chunk(3) gives W_ir, W_iz, W_in"),
    ]
    for options, message in mistakes:
        if is_close(got, _step_variant(*args, **options)):
            raise CheckFailed(message)
    expect_close(got, right, "cho_gru_step(...)")


def _count(I: int, H: int, L: int, bidirectional: bool, gates: int = 3, biases: int = 2,  # noqa: E741
           deep_input: str = "DH", directions: bool = True) -> int:
    """Parameters of a stacked recurrent layer, with the knobs that typical mistakes turn."""
    D = 2 if bidirectional and directions else 1
    total = 0
    for layer in range(L):
        inputs = I if layer == 0 else {"DH": D * H, "H": H, "I": I}[deep_input]
        total += D * gates * (H * inputs + H * H + biases * H)
    return total


def gru_param_count(fn) -> None:
    """Exercise 05.2: ``fn(input_size, hidden_size, num_layers, bidirectional)`` counts nn.GRU's."""
    import numbers

    from torch import nn

    expect_answered(fn, "gru_param_count")
    for I, H, L, bidirectional in ((10, 20, 1, False), (10, 20, 2, False),  # noqa: E741
                                   (10, 20, 1, True), (7, 5, 3, True)):
        with torch.random.fork_rng():
            right = sum(p.numel() for p in nn.GRU(I, H, L, bidirectional=bidirectional)
                        .parameters())
        call = f"gru_param_count({I}, {H}, num_layers={L}, bidirectional={bidirectional})"
        got = fn(I, H, num_layers=L, bidirectional=bidirectional)
        expect_answered(got, call)
        if isinstance(got, float) and got.is_integer():
            got = int(got)
        expect(isinstance(got, numbers.Integral) and not isinstance(got, bool),
               f"{call} should return a whole number (an int), got {got!r}")
        if got == right:
            continue
        mistakes = [
            (dict(gates=4), "that is an LSTM's count: an LSTM has 4 blocks (i, f, g, o), a GRU "
             "3 (r, z, n)"),
            (dict(gates=1), "that is a plain RNN's count: a GRU stacks 3 blocks (r, z, n) in "
             "each weight and bias"),
            (dict(biases=1), "one bias vector is missing: PyTorch has two, bias_ih and bias_hh, "
             "each 3H long"),
            (dict(deep_input="I"), "layers after the first do not read the input x: they read "
             "the outputs of the layer below, D * H features (D = 2 when bidirectional)"),
            (dict(deep_input="H"), "with bidirectional=True the layers after the first read both "
             "directions' outputs side by side: 2 * H features, not H"),
            (dict(directions=False), "bidirectional=True doubles every layer: a second set of "
             "weights (the _reverse ones) runs backwards in time"),
        ]
        for options, why in mistakes:
            if got == _count(I, H, L, bidirectional, **options):
                raise CheckFailed(f"{call} returned {got}, expected {right}: {why}")
        raise CheckFailed(f"{call} returned {got}, expected {right} (= sum(p.numel() for p in "
                          f"nn.GRU({I}, {H}, {L}, bidirectional={bidirectional}).parameters())). "
                          "Per layer and direction: 3 * (H * inputs + H * H + 2 * H)")
    passed("your counts equal nn.GRU's for one or more layers, one or two directions")


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

