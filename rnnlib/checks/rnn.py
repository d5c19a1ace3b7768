"""Self-checks of notebook 02, the vanilla RNN (``02-rnn.ipynb``): one step backward by hand,
nn.RNN's parameter count, an experiment on the carried state, and sampling with
temperature.
"""

from __future__ import annotations

import torch

from rnnlib.checks._common import (
    CheckFailed,
    binds,
    expect,
    expect_answered,
    layer_params,
    passed,
)


def _step_problem(seed: int = 0) -> dict:
    """A random one-step RNN problem in float64, weights large enough that tanh bends."""
    import numpy as np

    rng = np.random.default_rng(seed)
    B, I, H = 3, 4, 5
    p = {"x": rng.standard_normal((B, I)), "h_prev": rng.standard_normal((B, H)),
         "W_ih": rng.standard_normal((H, I)), "W_hh": rng.standard_normal((H, H)),
         "b_ih": rng.standard_normal(H), "b_hh": rng.standard_normal(H)}
    p["a"] = p["x"] @ p["W_ih"].T + p["b_ih"] + p["h_prev"] @ p["W_hh"].T + p["b_hh"]
    p["h"] = np.tanh(p["a"])
    p["dh"] = rng.standard_normal((B, H))
    return p


def _step_grads(p: dict, da) -> tuple:
    """(dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh) for a given da."""
    db = da.sum(axis=0)
    return da @ p["W_ih"], da @ p["W_hh"], da.T @ p["x"], da.T @ p["h_prev"], db, db.copy()


_GRAD_NAMES = ("dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")


def _rnn_step_backward(dh, cache):
    """The course's ``rnn_step_backward`` for the notebook's cache ``(x_t, h_prev, W_ih, W_hh,
    h)``: ``rnnlib.reference.rnn_step_backward(dh, cache)``, whose cache is ``(x, h_prev, W_ih,
    W_hh, a, h, nonlinearity)`` (``a`` is not needed for tanh). Returns (dx, dh_prev, dW_ih,
    dW_hh, db_ih, db_hh)."""
    from rnnlib import reference

    x_t, h_prev, W_ih, W_hh, h = cache
    return reference.rnn_step_backward(dh, (x_t, h_prev, W_ih, W_hh, None, h, "tanh"))


def _rnn_parameter_count(input_size, hidden_size, num_layers, bidirectional):
    """The course's ``rnn_parameter_count``: nn.RNN's parameters, W_ih, W_hh, b_ih and b_hh per
    layer and direction, the layers above the first reading D * H inputs."""
    D = 2 if bidirectional else 1
    return sum(D * layer_params(input_size if layer == 0 else D * hidden_size, hidden_size, 1)
               for layer in range(num_layers))


def _sample_next(logits, temperature, generator):
    """The course's ``sample_next``: one id drawn from softmax(logits / temperature)."""
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).item()


@binds("rnn_step_backward", reference=lambda fn: _rnn_step_backward)
def rnn_step_backward(fn) -> None:
    """Exercise 02.1: ``fn(dh, cache)`` -> (dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh).

    ``cache`` is the notebook's ``(x_t, h_prev, W_ih, W_hh, h)``.
    """
    import numpy as np

    expect_answered(fn, "rnn_step_backward")
    p = _step_problem()
    cache = (p["x"], p["h_prev"], p["W_ih"], p["W_hh"], p["h"])
    got = fn(p["dh"].copy(), cache)
    expect_answered(got, "rnn_step_backward(dh, cache)")
    expect(isinstance(got, tuple | list) and len(got) == 6,
           "rnn_step_backward should return a tuple of 6 arrays, in this order: "
           f"{', '.join(_GRAD_NAMES)}; got "
           + (f"{len(got)} values" if isinstance(got, tuple | list) else type(got).__name__))
    right = _step_grads(p, p["dh"] * (1 - p["h"] ** 2))
    shapes = {"x": "(B, I)", "h_prev": "(B, H)", "W_ih": "(H, I)", "W_hh": "(H, H)",
              "b_ih": "(H,)", "b_hh": "(H,)"}
    for name, g, r in zip(_GRAD_NAMES, got, right, strict=True):
        expect_answered(g, name)
        g = np.asarray(g)
        if g.shape != r.shape:
            hint = {"dW_ih": "dW_ih = da.T @ x_t has the shape of W_ih, (H, I)",
                    "dW_hh": "dW_hh = da.T @ h_prev",
                    "db_ih": "sum da over the batch axis: da.sum(axis=0)",
                    "db_hh": "sum da over the batch axis: da.sum(axis=0)",
                    "dx": "dx = da @ W_ih", "dh_prev": "dh_prev = da @ W_hh"}[name]
            raise CheckFailed(f"{name} has shape {g.shape}, expected {r.shape}: a gradient has "
                              f"the shape of its variable, {shapes[name[1:]]}. {hint}")
    got = [np.asarray(g, dtype=np.float64) for g in got]

    def matches(candidate) -> bool:
        return all(np.allclose(g, c, atol=1e-8) for g, c in zip(got, candidate, strict=True))

    if all(np.allclose(g, r, atol=1e-8) for g, r in zip(got, right, strict=True)):
        passed("rnn_step_backward gives all six gradients of one RNN step")
        return
    if matches(_step_grads(p, p["dh"])):
        raise CheckFailed("the gradients skip the tanh: first da = dh * (1 - h**2), then use da "
                          "(not dh) in every product")
    if matches(_step_grads(p, p["dh"] * (1 - p["a"] ** 2))):
        raise CheckFailed("da uses 1 - a**2 with a the pre-activation: tanh'(a) = 1 - tanh(a)**2 "
                          "= 1 - h**2, and h is in the cache")
    if matches(_step_grads(p, p["dh"] * (1 - p["h"]))):
        raise CheckFailed("da = dh * (1 - h) is not the derivative of tanh: use dh * (1 - h**2)")
    for k, name in enumerate(_GRAD_NAMES):
        if np.allclose(got[k], right[k], atol=1e-8):
            continue
        da = p["dh"] * (1 - p["h"] ** 2)
        if name == "dh_prev" and np.allclose(got[k], da @ p["W_hh"].T, atol=1e-8):
            raise CheckFailed("dh_prev uses W_hh.T: since a = ... + h_prev @ W_hh.T, the "
                              "gradient flows back through W_hh itself: dh_prev = da @ W_hh")
        if name in ("db_ih", "db_hh") and np.allclose(got[k], 0):
            raise CheckFailed(f"{name} is zero: both biases are added into a, so each gets the "
                              "full da.sum(axis=0)")
        if name in ("db_ih", "db_hh") and np.allclose(got[k], right[k] / 2, atol=1e-8):
            raise CheckFailed(f"{name} is half of da.sum(axis=0): the two biases do not share "
                              "the gradient; each gets all of it")
        raise CheckFailed(f"{name} has the right shape but wrong values (largest difference "
                          f"{np.abs(got[k] - right[k]).max():.3g}). Go back through the affine "
                          f"map for {name}: which entries of a does each entry of its variable "
                          "touch, and how do the batch's rows add up? The other gradients that "
                          "differ: "
                          + ", ".join(n for n, g, r in zip(_GRAD_NAMES, got, right,
                                                           strict=True)
                                      if not np.allclose(g, r, atol=1e-8)))


@binds("rnn_parameter_count", reference=lambda fn: _rnn_parameter_count)
def rnn_parameter_count(fn) -> None:
    """Exercise 02.2: ``fn(input_size, hidden_size, num_layers, bidirectional)`` -> int."""
    from torch import nn

    expect_answered(fn, "rnn_parameter_count")
    configs = [(10, 20, 1, False), (10, 20, 2, False), (10, 20, 1, True), (10, 20, 2, True),
               (3, 7, 3, True)]

    def count(I, H, L, bidi, two_biases=True, layer_input=None, directions=True):  # noqa: E741
        D = 2 if bidi else 1
        total = 0
        for layer in range(L):
            inp = I if layer == 0 else (layer_input(H, D) if layer_input else D * H)
            per_direction = H * inp + H * H + (2 * H if two_biases else H)
            total += per_direction * (D if directions else 1)
        return total

    for I, H, L, bidi in configs:  # noqa: E741
        call = f"rnn_parameter_count({I}, {H}, num_layers={L}, bidirectional={bidi})"
        got = fn(I, H, L, bidi)
        expect_answered(got, call)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        expect(isinstance(got, int) and not isinstance(got, bool),
               f"{call} should return an int, got {type(got).__name__} {got!r}")
        rnn = nn.RNN(I, H, num_layers=L, bidirectional=bidi)
        right = sum(p.numel() for p in rnn.parameters())
        if got == right:
            continue
        if got == count(I, H, L, bidi, two_biases=False):
            raise CheckFailed(f"{call} = {got}, expected {right}: PyTorch keeps two bias "
                              "vectors per layer and direction, b_ih and b_hh, each of size H")
        if got == count(I, H, L, bidi, directions=False):
            raise CheckFailed(f"{call} = {got}, expected {right}: a bidirectional RNN has a "
                              "second, separate set of weights (the _reverse ones) per layer")
        if got == count(I, H, L, bidi, layer_input=lambda H, D: H):
            raise CheckFailed(f"{call} = {got}, expected {right}: with bidirectional=True, "
                              "layers above the first read both directions, so their W_ih is "
                              "(H, 2H), not (H, H)")
        if got == count(I, H, 1, bidi):
            raise CheckFailed(f"{call} = {got}, expected {right}: that counts one layer; "
                              "every one of the num_layers layers has its own weights")
        raise CheckFailed(f"{call} = {got}, expected {right}. Per layer and direction: W_ih "
                          "(H, input), W_hh (H, H), b_ih and b_hh (H,); the first layer's input "
                          "is input_size, the others' D*H. Compare with "
                          "[(n, tuple(p.shape)) for n, p in nn.RNN(...).named_parameters()]")
    passed("parameter counts equal nn.RNN's for 1-3 layers, one or two directions")


@binds("sample_next", reference=lambda fn: _sample_next)
def sample_next(fn) -> None:
    """Exercise 02.4: ``fn(logits, temperature, generator)`` -> one id drawn from softmax(logits/τ)."""
    expect_answered(fn, "sample_next")
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    n = 4000

    def draw(temperature: float, seed: int = 0, count: int = n) -> list[int]:
        generator = torch.Generator().manual_seed(seed)
        ids = []
        for _ in range(count):
            try:
                got = fn(logits.clone(), temperature, generator)
            except CheckFailed:
                raise
            except Exception as error:  # say what to do, not just the torch error
                raise CheckFailed(
                    f"sample_next(logits, {temperature}, generator) raised "
                    f"{type(error).__name__}: {error}. torch.multinomial wants probabilities "
                    "(non-negative, one per id): torch.softmax(logits / temperature, dim=-1), "
                    "then torch.multinomial(probs, 1, generator=generator)") from error
            expect_answered(got, "sample_next(logits, temperature, generator)")
            if isinstance(got, torch.Tensor):
                expect(got.numel() == 1,
                       f"sample_next returned a tensor of shape {tuple(got.shape)}: return one "
                       "drawn id (e.g. torch.multinomial(probs, 1, generator=generator).item()), "
                       "not the probabilities")
                got = got.item()
            expect(isinstance(got, int) and not isinstance(got, bool),
                   f"sample_next should return an int id, got {type(got).__name__} {got!r}")
            expect(0 <= got < len(logits),
                   f"sample_next returned {got}, not an id between 0 and {len(logits) - 1}")
            ids.append(got)
        return ids

    expect(draw(1.0, seed=3, count=50) == draw(1.0, seed=3, count=50),
           "two generators seeded alike gave different samples: draw with the generator you "
           "are given, torch.multinomial(probs, 1, generator=generator)")

    def frequencies(ids: list[int]) -> torch.Tensor:
        return torch.bincount(torch.tensor(ids), minlength=len(logits)).double() / len(ids)

    def near(freq: torch.Tensor, probs: torch.Tensor) -> bool:
        return bool((freq - probs.double()).abs().max() < 0.03)   # ~4 standard errors at n=4000

    for temperature in (0.5, 1.0, 2.0):
        freq = frequencies(draw(temperature))
        right = torch.softmax(logits / temperature, dim=-1)
        if near(freq, right):
            continue
        shown = [round(f, 3) for f in freq.tolist()]
        expected = [round(f, 3) for f in right.tolist()]
        if freq.max() == 1 and freq.argmax() == logits.argmax():
            raise CheckFailed("sample_next always returns the most likely id: that is greedy "
                              "decoding (argmax). Draw from the distribution with "
                              "torch.multinomial")
        if near(freq, torch.softmax(logits * temperature, dim=-1)):
            raise CheckFailed(f"at temperature {temperature} the frequencies are {shown}, "
                              f"expected {expected}: the logits are multiplied by the "
                              "temperature; divide them, logits / temperature")
        if near(freq, torch.softmax(logits, dim=-1)):
            raise CheckFailed(f"at temperature {temperature} the frequencies are {shown}, "
                              f"expected {expected}: the temperature is ignored; use "
                              "softmax(logits / temperature)")
        if near(freq, torch.full((len(logits),), 1 / len(logits))):
            raise CheckFailed("every id comes out equally often: sample from "
                              "softmax(logits / temperature), not uniformly")
        raise CheckFailed(f"at temperature {temperature} the frequencies of ids 0-3 are "
                          f"{shown}, expected about {expected} = softmax(logits / "
                          f"{temperature}) for logits {logits.tolist()}")
    passed("samples follow softmax(logits / temperature), reproducibly from the generator")


_OUTCOMES = ("higher", "lower", "same")


@torch.no_grad()
def _validation_nats(model, rows, window: int, reset: bool) -> float:
    """Mean cross-entropy (nats per character) of ``model(ids, h) -> (logits, h)`` over
    ``rows`` (B, N) read in windows of ``window``, the state carried from one window to the
    next or reset to zeros (``h=None``) at every window; the model's mode is left as it was."""
    import torch.nn.functional as F

    from rnnlib.data import bptt_batches

    was_training = model.training
    model.eval()
    total, count, h = 0.0, 0, None
    for x, y in bptt_batches(rows, window):
        logits, h = model(x, None if reset else h)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                 reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total / count


def _outcome(carried: float, reset: float) -> str:
    cost = reset - carried
    return "higher" if cost > 0.005 else "lower" if cost < -0.005 else "same"


def _state_reset_experiment(prediction, carried_nats, reset_nats, model, rows,
                            seq_len: int = 16):
    """The course's answers to exercise 02.3, measured: the outcome, the validation loss with
    the state carried and with it reset at every window of ``seq_len``."""
    carried = _validation_nats(model, rows, seq_len, reset=False)
    reset = _validation_nats(model, rows, seq_len, reset=True)
    return _outcome(carried, reset), carried, reset


@binds("prediction", "carried_nats", "reset_nats", reference=_state_reset_experiment)
def state_reset_experiment(prediction, carried_nats, reset_nats, model, rows,
                           seq_len: int = 16) -> None:
    """Exercise 02.3: the validation loss with the state carried across windows of ``seq_len``
    against the same with the state reset to zeros at every window.

    ``model(ids, h)`` returns ``(logits, h)`` as the notebook's ``CharRNN``; ``rows`` (B, N) is
    the validation text. The check measures both itself, judges the two measurements, and says
    whether the recorded ``prediction`` (``"higher"``, ``"lower"`` or ``"same"``) held.
    """
    expect(prediction in _OUTCOMES,
           f"prediction is {prediction!r}: write down what you expect before you measure, one "
           f"of {', '.join(repr(o) for o in _OUTCOMES)} (reset_nats compared with carried_nats)")
    for name, value in (("carried_nats", carried_nats), ("reset_nats", reset_nats)):
        expect_answered(value, name)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        expect(isinstance(value, float | int) and not isinstance(value, bool),
               f"{name} should be a number (nats per character), got {type(value).__name__}")
    carried_nats, reset_nats = float(carried_nats), float(reset_nats)

    def measure(reset: bool, window: int) -> float:
        return _validation_nats(model, rows, window, reset)

    carried, reset = measure(False, seq_len), measure(True, seq_len)

    def near(a: float, b: float) -> bool:
        return abs(a - b) < 1e-3

    if near(carried_nats, reset) and near(reset_nats, carried) and not near(carried, reset):
        raise CheckFailed("carried_nats and reset_nats are swapped: carried_nats is the loss with "
                          "the state passed on, reset_nats with a zero state at every window")
    expect(near(carried_nats, carried),
           f"carried_nats = {carried_nats:.4f}, but the validation loss with the state carried "
           f"is {carried:.4f}: measure it with evaluate on the validation rows, as it stands")
    if near(reset_nats, carried) and not near(carried, reset):
        raise CheckFailed(f"reset_nats = {reset_nats:.4f} is the loss with the state carried: the "
                          "state still goes from one window to the next. Start every window "
                          "from h = None instead")
    if not near(reset_nats, reset):
        if near(reset_nats, measure(True, 256)):
            raise CheckFailed(f"reset_nats = {reset_nats:.4f} resets the state every 256 "
                              f"characters; the experiment resets it every {seq_len}")
        raise CheckFailed(f"reset_nats = {reset_nats:.4f}, but the loss with the state reset "
                          f"at every window of {seq_len} is {reset:.4f}: change only the state, "
                          f"and read the validation rows in windows of {seq_len}")
    cost = reset - carried
    outcome = _outcome(carried, reset)
    verdict = ("as you predicted" if prediction == outcome
               else f"you predicted {prediction!r}, the measurement says {outcome!r}")
    passed(f"resetting the state every {seq_len} characters changes the validation loss by "
           f"{cost:+.3f} nats/char ({cost / carried:+.1%}), from {carried:.3f} to {reset:.3f}: "
           f"{verdict}. With a zero state the first characters of each window are predicted "
           "without the text before them, until the model has read enough to rebuild its "
           "state; longer windows have fewer such starts per character")
