"""Self-checks for the exercises: each says what is right, or exactly what is wrong.

A check prints one line starting with a tick when the answer is right. When it is wrong it
raises ``CheckFailed`` (an ``AssertionError``) whose message says what was expected, what came,
and where to look: never just "wrong". The notebook-specific checks below are built from the
few helpers at the top.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["CheckFailed", "passed", "expect", "expect_answered", "expect_shape", "expect_close"]


class CheckFailed(AssertionError):
    """An exercise answer is not right yet; the message says why."""


def passed(what: str) -> None:
    """Report a passed check."""
    print(f"\N{CHECK MARK} {what}")


def expect(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def expect_answered(value, name: str) -> None:
    """Fail helpfully when an exercise stub is still untouched (None or ``...``)."""
    if value is None or value is Ellipsis:
        raise CheckFailed(f"{name} is still {value!r}: replace the `...` in the exercise cell "
                          "with your code and run that cell again.")


def expect_shape(tensor, shape: Sequence[int], name: str) -> None:
    """Fail unless ``tensor`` is a tensor of exactly ``shape``; the message shows both."""
    expect_answered(tensor, name)
    if not isinstance(tensor, torch.Tensor):
        raise CheckFailed(f"{name} should be a torch.Tensor, got {type(tensor).__name__}")
    if tuple(tensor.shape) != tuple(shape):
        raise CheckFailed(f"{name} should have shape {tuple(shape)}, got {tuple(tensor.shape)}")


def expect_close(got, expected, name: str, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Fail unless ``got`` equals ``expected`` within tolerance; says where they differ most."""
    expected = torch.as_tensor(expected)
    expect_shape(torch.as_tensor(got) if not isinstance(got, torch.Tensor) and got is not None
                 and got is not Ellipsis else got, expected.shape, name)
    got = torch.as_tensor(got).to(expected.dtype)
    if not torch.allclose(got, expected, atol=atol, rtol=rtol):
        diff = (got - expected).abs()
        worst = diff.argmax().item()
        index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), diff.shape))
        raise CheckFailed(f"{name} has the right shape but wrong values: at index {index} "
                          f"it is {got.flatten()[worst].item():.6g}, expected "
                          f"{expected.flatten()[worst].item():.6g} (largest difference "
                          f"{diff.max().item():.3g}, tolerance {atol:g} + {rtol:g}*|expected|)")


# --------------------------------------------------------------------------- 00 welcome

def time_major_batch(x) -> None:
    """Exercise 00.1: a time-major batch of 4 sequences, 10 steps, 3 features each."""
    expect_answered(x, "x")
    if isinstance(x, torch.Tensor) and tuple(x.shape) == (4, 10, 3):
        raise CheckFailed("x has shape (4, 10, 3): that is batch-first (B, T, F). PyTorch's "
                          "RNNs default to time-major, (T, B, F): time comes first.")
    if isinstance(x, torch.Tensor) and sorted(x.shape) == [3, 4, 10] and x.shape != (10, 4, 3):
        raise CheckFailed(f"x has shape {tuple(x.shape)}: the sizes are right but in the "
                          "wrong order; time-major is (T, B, F) = (steps, sequences, features)")
    expect_shape(x, (10, 4, 3), "x")
    passed("x is time-major: (T, B, F) = (10, 4, 3)")


def distinct_characters(n_chars) -> None:
    """Exercise 00.2: the number of distinct characters in the Shakespeare text."""
    from rnnlib.data import load_shakespeare

    expect_answered(n_chars, "n_chars")
    text = load_shakespeare()
    right = len(set(text))
    expect(isinstance(n_chars, int), f"n_chars should be an int, got {type(n_chars).__name__}")
    expect(n_chars != len(text), "n_chars is the length of the whole text; count each "
                                 "character once (a set keeps one of each)")
    expect(n_chars != right - 1, f"{n_chars} is one short: did you forget the newline '\\n'?")
    expect(n_chars == right, f"n_chars is {n_chars}, but the text holds {right} distinct "
                             "characters: try len(set(text))")
    passed(f"{right} distinct characters: the character model will choose among them")


# --------------------------------------------------------------------------- 01 sequences

def length_mask(fn) -> None:
    """Exercise 01.1: ``fn(lengths, T)`` -> bool mask (B, T), True on real steps."""
    expect_answered(fn, "length_mask")
    lengths = torch.tensor([3, 1, 4])
    right = torch.arange(4)[None, :] < lengths[:, None]
    got = fn(lengths, 4)
    expect_answered(got, "length_mask(lengths, T)")
    expect_shape(got, (3, 4), "length_mask(torch.tensor([3, 1, 4]), 4)")
    expect(got.dtype == torch.bool, f"the mask should be a bool tensor, got {got.dtype}: "
                                    "a comparison such as `a < b` gives one")
    if torch.equal(got, ~right):
        raise CheckFailed("the mask is inverted: it is True on the padding. We want True on the "
                          "real steps, t < length")
    if torch.equal(got, torch.arange(4)[None, :] <= lengths[:, None]):
        raise CheckFailed("off by one: with length 3 the real steps are t = 0, 1, 2, so use "
                          "t < length, not t <= length")
    expect(torch.equal(got, right), f"for lengths [3, 1, 4] and T = 4 the mask should be\n"
                                    f"{right.int().tolist()}, got {got.int().tolist()}")
    expect(fn(torch.tensor([2]), 5).shape == (1, 5), "use the T argument for the width, "
                                                     "not max(lengths): padding may be longer")
    passed("the mask is True exactly on the real steps")


def last_real_step(fn) -> None:
    """Exercise 01.2: ``fn(output, lengths)`` picks each sequence's output at its last real step."""
    expect_answered(fn, "last_real_step")
    torch.manual_seed(0)
    output = torch.randn(3, 5, 2)  # (B, T, H), batch-first
    lengths = torch.tensor([5, 2, 3])
    right = output[torch.arange(3), lengths - 1]
    got = fn(output, lengths)
    expect_answered(got, "last_real_step(output, lengths)")
    expect_shape(got, (3, 2), "last_real_step(output of shape (3, 5, 2), lengths)")
    if torch.allclose(got, output[:, -1]):
        raise CheckFailed("that is the output at the last *padded* step, output[:, -1]; for a "
                          "sequence of length 2 we need step 1, i.e. lengths - 1")
    if torch.allclose(got, output[torch.arange(3), lengths.clamp(max=4)]):
        raise CheckFailed("off by one: a sequence of length L ends at index L - 1")
    expect_close(got, right, "last_real_step(output, lengths)")
    passed("each sequence's output at its own last step: equal to what packing gives as h_n")


def training_vocab(vocab, train_texts, val_texts) -> None:
    """Exercise 01.3: a word vocabulary built from the training split only, min_freq 2."""
    from rnnlib.data import Vocab, word_tokenize

    expect_answered(vocab, "vocab")
    expect(isinstance(vocab, Vocab), f"vocab should be an rnnlib.data.Vocab, got "
                                     f"{type(vocab).__name__}")
    train_tokens = [t for s in train_texts for t in word_tokenize(s)]
    val_tokens = [t for s in val_texts for t in word_tokenize(s)]
    right = Vocab(train_tokens, min_freq=2)
    if vocab.itos == right.itos:
        passed(f"{len(vocab)} tokens, from the training split only, each seen at least twice")
        return
    expect(vocab.itos[:2] == [Vocab.PAD, Vocab.UNK], "keep the <pad> and <unk> specials (ids "
                                                     "0 and 1): padding and unknown words need them")
    if vocab.itos == Vocab(train_tokens + val_tokens, min_freq=2).itos:
        raise CheckFailed("the vocabulary was built from training AND validation sentences: "
                          "the validation score would then flatter the model. Use train only")
    if vocab.itos == Vocab(train_tokens).itos:
        raise CheckFailed(f"{len(vocab)} tokens: words seen once are kept. Pass min_freq=2 "
                          f"(that gives {len(right)})")
    raise CheckFailed(f"the vocabulary has {len(vocab)} tokens, expected {len(right)}: build it "
                      "with Vocab(<all training tokens>, min_freq=2), the tokens from "
                      "word_tokenize of each training sentence")


# ---- 02 rnn

def _rnn_step_problem(seed: int = 0) -> dict:
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


def _rnn_step_grads(p: dict, da) -> tuple:
    """(dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh) for a given da."""
    db = da.sum(axis=0)
    return da @ p["W_ih"], da @ p["W_hh"], da.T @ p["x"], da.T @ p["h_prev"], db, db.copy()


_RNN_GRAD_NAMES = ("dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")


def rnn_step_backward(fn) -> None:
    """Exercise 02.1: ``fn(dh, cache)`` -> (dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh).

    ``cache`` is the notebook's ``(x_t, h_prev, W_ih, W_hh, h)``.
    """
    import numpy as np

    expect_answered(fn, "rnn_step_backward")
    p = _rnn_step_problem()
    cache = (p["x"], p["h_prev"], p["W_ih"], p["W_hh"], p["h"])
    got = fn(p["dh"].copy(), cache)
    expect_answered(got, "rnn_step_backward(dh, cache)")
    expect(isinstance(got, tuple | list) and len(got) == 6,
           "rnn_step_backward should return a tuple of 6 arrays, in this order: "
           f"{', '.join(_RNN_GRAD_NAMES)}; got "
           + (f"{len(got)} values" if isinstance(got, tuple | list) else type(got).__name__))
    right = _rnn_step_grads(p, p["dh"] * (1 - p["h"] ** 2))
    shapes = {"x": "(B, I)", "h_prev": "(B, H)", "W_ih": "(H, I)", "W_hh": "(H, H)",
              "b_ih": "(H,)", "b_hh": "(H,)"}
    for name, g, r in zip(_RNN_GRAD_NAMES, got, right, strict=True):
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
    if matches(_rnn_step_grads(p, p["dh"])):
        raise CheckFailed("the gradients skip the tanh: first da = dh * (1 - h**2), then use da "
                          "(not dh) in every product")
    if matches(_rnn_step_grads(p, p["dh"] * (1 - p["a"] ** 2))):
        raise CheckFailed("da uses 1 - a**2 with a the pre-activation: tanh'(a) = 1 - tanh(a)**2 "
                          "= 1 - h**2, and h is in the cache")
    if matches(_rnn_step_grads(p, p["dh"] * (1 - p["h"]))):
        raise CheckFailed("da = dh * (1 - h) is not the derivative of tanh: use dh * (1 - h**2)")
    for k, name in enumerate(_RNN_GRAD_NAMES):
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
                          f"{np.abs(got[k] - right[k]).max():.3g}). Check the formula for {name} "
                          "in the derivation above; the other gradients that differ: "
                          + ", ".join(n for n, g, r in zip(_RNN_GRAD_NAMES, got, right,
                                                           strict=True)
                                      if not np.allclose(g, r, atol=1e-8)))


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


def sample_next(fn) -> None:
    """Exercise 02.3: ``fn(logits, temperature, generator)`` -> one id drawn from softmax(logits/τ)."""
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


# ---- 05 gru

def _gru_blocks(weight_ih, weight_hh, bias_ih, bias_hh):
    """The twelve named pieces of a GRU's weights, blocks in PyTorch's order r, z, n."""
    return (*weight_ih.chunk(3), *weight_hh.chunk(3), *bias_ih.chunk(3), *bias_hh.chunk(3))


def _gru_step_variant(x, h, weight_ih, weight_hh, bias_ih, bias_hh, reset="before",
                      swap_z=False, b_hn=True, reset_bias=False, order="rzn"):
    """One GRU step in one of the ways people write it (the checks compare against each)."""
    W_ir, W_iz, W_in, W_hr, W_hz, W_hn, b_ir, b_iz, b_in, b_hr, b_hz, b_hn_ = _gru_blocks(
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


def _random_gru_problem(seed: int, B: int = 3, I: int = 4, H: int = 5):  # noqa: E741
    """float64 x (B, I), h (B, H) and GRU weights with sizeable biases, from a fixed seed."""
    g = torch.Generator().manual_seed(seed)

    def draw(*shape, scale=1.0):
        return (torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) * scale

    return (draw(B, I, scale=2), draw(B, H), draw(3 * H, I), draw(3 * H, H),
            draw(3 * H, scale=1.5), draw(3 * H, scale=1.5))


def _close(a, b, atol: float = 1e-6) -> bool:
    try:
        return torch.allclose(torch.as_tensor(a, dtype=torch.float64), b, atol=atol, rtol=1e-5)
    except (RuntimeError, TypeError, ValueError):
        return False


def cho_gru_step(fn) -> None:
    """Exercise 05.1: one step of Cho et al.'s (2014) GRU, reset applied to h before W_hn."""
    expect_answered(fn, "cho_gru_step")
    args = _random_gru_problem(seed=51)
    x, h = args[0], args[1]
    saved = [a.clone() for a in args]
    got = fn(*args)
    expect_answered(got, "cho_gru_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh)")
    expect(all(torch.equal(a, s) for a, s in zip(args, saved, strict=True)),
           "cho_gru_step changed one of its arguments in place: compute new tensors instead "
           "(e.g. r * h, not h *= r)")
    expect_shape(got, (x.shape[0], h.shape[1]),
                 "cho_gru_step(x of shape (3, 4), h of shape (3, 5), ...)")
    right = _gru_step_variant(*args)
    if _close(got, right):
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
        if _close(got, _gru_step_variant(*args, **options)):
            raise CheckFailed(message)
    expect_close(got, right, "cho_gru_step(...)")


def _count_gru(I: int, H: int, L: int, bidirectional: bool, gates: int = 3, biases: int = 2,  # noqa: E741
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
            if got == _count_gru(I, H, L, bidirectional, **options):
                raise CheckFailed(f"{call} returned {got}, expected {right}: {why}")
        raise CheckFailed(f"{call} returned {got}, expected {right} (= sum(p.numel() for p in "
                          f"nn.GRU({I}, {H}, {L}, bidirectional={bidirectional}).parameters())). "
                          "Per layer and direction: 3 * (H * inputs + H * H + 2 * H)")
    passed("your counts equal nn.GRU's for one or more layers, one or two directions")


def _rnn_layer_params(I: int, H: int, gates: int) -> int:  # noqa: E741
    return gates * (H * I + H * H + 2 * H)


def matching_gru_hidden(fn) -> None:
    """Exercise 05.3: the largest GRU hidden size whose parameters fit an LSTM's budget."""
    import math
    import numbers

    expect_answered(fn, "matching_gru_hidden")
    for I, H in ((65, 256), (32, 128), (300, 50), (1, 10), (10, 1000)):  # noqa: E741
        budget = _rnn_layer_params(I, H, 4)
        right = H
        while _rnn_layer_params(I, right + 1, 3) <= budget:
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
                f"{_rnn_layer_params(I, got, 3)} parameters, more than the LSTM's {budget}. "
                "Take the largest size that does not exceed the budget (round down)")
        raise CheckFailed(f"{call} returned {got}, expected {right}: the LSTM has {budget} "
                          f"parameters; a GRU of size {right} has {_rnn_layer_params(I, right, 3)} "
                          f"and one of size {right + 1} would have "
                          f"{_rnn_layer_params(I, right + 1, 3)}")
    passed("the largest GRU that fits each LSTM's parameter budget")


def _swapped_gru_forward(state: dict, x, num_layers: int):
    """A stacked GRU whose update gate is used the other way round: h' = z * n + (1 - z) * h."""
    for layer in range(num_layers):
        weights = [state[f"{name}_l{layer}"] for name in
                   ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        h = x.new_zeros(x.shape[1], weights[1].shape[1])
        outputs = []
        for x_t in x.unbind(0):
            h = _gru_step_variant(x_t, h, *weights, reset="after", swap_z=True)
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
    expect_close(ours, _swapped_gru_forward(state, x, L),
                 "nn.GRU with the converted weights (its output)", atol=1e-9, rtol=1e-9)
    passed("nn.GRU with the converted weights computes the swapped-convention GRU exactly: "
           "1 - sigmoid(a) = sigmoid(-a)")


# ---- 04 lstm

_LSTM04_GATES = "ifgo"  # PyTorch's order of the four blocks
_LSTM04_NAMES = {"i": "input gate i", "f": "forget gate f", "g": "candidate g",
                 "o": "output gate o"}


def _lstm04_order(order: str) -> str:
    return ", ".join(order)


def _lstm04_permutations():
    from itertools import permutations

    return ["".join(p) for p in permutations(_LSTM04_GATES) if "".join(p) != _LSTM04_GATES]


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
        for order in _lstm04_permutations():
            blocks = dict(zip(_LSTM04_GATES, right, strict=True))
            if all(torch.equal(g, blocks[gate]) for g, gate in zip(got, order, strict=True)):
                raise CheckFailed(f"you return the blocks in the order {_lstm04_order(order)}; "
                                  "PyTorch stacks them as i, f, g, o (input, forget, candidate, "
                                  "output): rows 0:H, H:2H, 2H:3H, 3H:4H")
        raise CheckFailed("the blocks have the right shapes but not the right rows: W_i should "
                          "be weight[0:H], W_f weight[H:2H], W_g weight[2H:3H], W_o weight[3H:4H]")
    passed("the four blocks i, f, g, o, each H rows, for any H")


def _lstm04_problem(seed: int = 0, B: int = 3, I: int = 4, H: int = 5) -> dict:  # noqa: E741
    """A random LSTM step in float64, with weights large enough that every mistake shows."""
    g = torch.Generator().manual_seed(seed)

    def draw(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * 0.7

    return {"x": draw(B, I), "h": draw(B, H), "c": draw(B, H) * 2, "W_ih": draw(4 * H, I),
            "W_hh": draw(4 * H, H), "b_ih": draw(4 * H), "b_hh": draw(4 * H)}


def _lstm04_step(p: dict, order: str = _LSTM04_GATES, squash_c: bool = True,
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


def _lstm04_close(a, b) -> bool:
    return tuple(a.shape) == tuple(b.shape) and torch.allclose(a.to(b.dtype), b, atol=1e-6,
                                                               rtol=1e-5)


def lstm_cell_step(fn) -> None:
    """Exercise 04.2: ``fn(x, h, c, W_ih, W_hh, b_ih, b_hh)`` -> (h_new, c_new), as nn.LSTMCell."""
    expect_answered(fn, "lstm_cell_step")
    p = _lstm04_problem()
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
    right_h, right_c = _lstm04_step(p)
    if _lstm04_close(h_new, right_h) and _lstm04_close(c_new, right_c):
        passed("(h_new, c_new) equal nn.LSTMCell's step: gates i, f, g, o in PyTorch's order")
        return
    if _lstm04_close(h_new, right_c) and _lstm04_close(c_new, right_h):
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
                                    f"{_lstm04_order(order)}; PyTorch's order is i, f, g, o "
                                    "(input, forget, candidate, output)")
                 for order in _lstm04_permutations()]
    for kwargs, message in mistakes:
        wrong_h, wrong_c = _lstm04_step(p, **kwargs)
        if _lstm04_close(h_new, wrong_h) and _lstm04_close(c_new, wrong_c):
            raise CheckFailed(message)
    if _lstm04_close(c_new, right_c):
        raise CheckFailed("c_new is right but h_new is not: h_new = o * tanh(c_new), with o the "
                          "sigmoid of the fourth block")
    expect_close(c_new, right_c, "c_new (= f * c + i * g)", atol=1e-6)
    expect_close(h_new, right_h, "h_new", atol=1e-6)


def _lstm04_effective(params: dict, H: int, suffix: str):
    return params[f"bias_ih{suffix}"] + params[f"bias_hh{suffix}"]


def _lstm04_try_forget_bias(fn, lstm, value: float) -> None:
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
        _lstm04_try_forget_bias(fn, lstm, value)
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
                gate = _LSTM04_GATES[outside[0] // H]
                raise CheckFailed(f"rows {outside[0] // H * H}:{outside[0] // H * H + H} of {name} "
                                  f"changed: that is the {_LSTM04_NAMES[gate]}. The forget gate is "
                                  f"the second block, rows H:2H ({H}:{2 * H} here)")
        suffixes = [f"_l{k}{d}" for k in range(layers) for d in ("", "_reverse")]
        for suffix in suffixes:
            effective = _lstm04_effective(after, H, suffix)[forget]
            if torch.allclose(effective, torch.full_like(effective, value), atol=1e-6):
                continue
            if torch.equal(effective, _lstm04_effective(before, H, suffix)[forget]):
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


# ---- 08 char-lm

def _charlm_number(value, name: str) -> float:
    """A Python float from a number or a one-element tensor, or a helpful CheckFailed."""
    expect_answered(value, name)
    if isinstance(value, torch.Tensor):
        expect(value.numel() == 1, f"{name} should be one number, got a tensor of shape "
                                   f"{tuple(value.shape)}")
        value = value.item()
    expect(isinstance(value, int | float) and not isinstance(value, bool),
           f"{name} should be a number, got {type(value).__name__} {value!r}")
    return float(value)


def charlm_unigram_entropy(fn) -> None:
    """Exercise 08.1: ``fn(text)`` -> the entropy of its character frequencies, in nats."""
    import math
    from collections import Counter

    expect_answered(fn, "unigram_entropy")
    for text in ("aab", "abcd", "to be, or not to be", "aaaaaaab"):
        counts = Counter(text)
        p = [c / len(text) for c in counts.values()]
        right = -sum(q * math.log(q) for q in p)
        call = f"unigram_entropy({text!r})"
        try:
            got = fn(text)
        except Exception as error:
            raise CheckFailed(f"{call} raised {type(error).__name__}: {error}. Count each "
                              "character (collections.Counter(text)), divide by len(text), "
                              "then sum -p * ln(p)") from error
        got = _charlm_number(got, call)
        if abs(got - right) < 1e-6:
            continue
        if abs(got + right) < 1e-6:
            raise CheckFailed(f"{call} = {got:.4f}: the sign is flipped. ln p is negative for "
                              "p < 1, so the entropy is -sum p ln p, a positive number")
        if abs(got - right / math.log(2)) < 1e-6:
            raise CheckFailed(f"{call} = {got:.4f} is in bits (log base 2); the course measures "
                              f"in nats, with the natural log: expected {right:.4f}")
        if abs(got - math.log(len(counts))) < 1e-6:
            raise CheckFailed(f"{call} = {got:.4f} = ln(number of distinct characters): that is "
                              "the uniform baseline. Weight each character by its frequency: "
                              "-sum p ln p")
        if abs(got - right * len(counts)) < 1e-6 or abs(got - right * len(text)) < 1e-6:
            raise CheckFailed(f"{call} = {got:.4f}: a sum where a weighted mean belongs. "
                              f"Expected {right:.4f} = -sum over characters of p * ln p")
        raise CheckFailed(f"{call} = {got:.4f}, expected {right:.4f}. With p(c) = count(c) / "
                          "len(text), the entropy is -sum over distinct characters of "
                          "p(c) * ln p(c): are the counts divided by len(text)?")
    passed("unigram_entropy is -sum p ln p over the character frequencies, in nats")


def charlm_units(fn) -> None:
    """Exercise 08.2: ``fn(loss_nats)`` -> ``(bits_per_char, perplexity)``."""
    import math

    expect_answered(fn, "nats_to_bits_and_perplexity")
    for loss in (1.5, 2.0, math.log(65)):
        call = f"nats_to_bits_and_perplexity({loss:.4g})"
        try:
            got = fn(loss)
        except Exception as error:
            raise CheckFailed(f"{call} raised {type(error).__name__}: {error}. It takes a "
                              "float; math.log(2) and math.exp work on floats") from error
        expect_answered(got, call)
        expect(isinstance(got, tuple | list) and len(got) == 2,
               f"{call} should return two numbers, (bits, perplexity), got {got!r}")
        bits = _charlm_number(got[0], f"the bits of {call}")
        ppl = _charlm_number(got[1], f"the perplexity of {call}")
        right_bits, right_ppl = loss / math.log(2), math.exp(loss)
        if abs(bits - right_ppl) < 1e-6 and abs(ppl - right_bits) < 1e-6:
            raise CheckFailed(f"{call} returned (perplexity, bits): swap them, return "
                              "(bits, perplexity)")
        if abs(bits - loss * math.log(2)) < 1e-9:
            raise CheckFailed(f"{call} gave {bits:.4f} bits: that multiplies by ln 2. One bit is "
                              "ln 2 ~ 0.693 nats, so bits = nats / ln 2 (more bits than nats)")
        expect(abs(bits - right_bits) < 1e-6,
               f"{call} gave {bits:.4f} bits per character, expected {right_bits:.4f} = "
               f"{loss:.4g} / ln 2")
        if abs(ppl - 2 ** loss) < 1e-6:
            raise CheckFailed(f"{call} gave perplexity {ppl:.4f} = 2 ** loss: with the loss in "
                              "nats the base is e, perplexity = exp(loss) (2 ** bits is the "
                              "same number)")
        if abs(ppl - 10 ** loss) < 1e-6:
            raise CheckFailed(f"{call} gave perplexity {ppl:.4f} = 10 ** loss: with the loss in "
                              "nats the base is e, perplexity = exp(loss)")
        expect(abs(ppl - right_ppl) < 1e-6 * right_ppl,
               f"{call} gave perplexity {ppl:.4f}, expected {right_ppl:.4f} = exp({loss:.4g})")
    passed("bits = nats / ln 2 and perplexity = exp(nats); ln 65 nats is a perplexity of 65")


def charlm_detach_state(fn) -> None:
    """Exercise 08.3: ``fn(state)`` -> the state with every tensor detached, same structure."""
    expect_answered(fn, "detach_state")
    w = torch.ones(3, requires_grad=True)
    h, c = torch.randn(2, 4, 3) * w, torch.randn(2, 4, 3) * w    # part of a graph
    deeper = [(h * 2, c * 2), (h * 3, c * 3)]                     # e.g. one (h, c) per layer
    cases = [("a GRU's h", h), ("an LSTM's (h, c)", (h, c)),
             ("a list of (h, c) pairs", deeper)]

    def compare(got, original, where: str) -> None:
        if isinstance(original, torch.Tensor):
            expect_answered(got, where)
            expect(isinstance(got, torch.Tensor),
                   f"{where} should be a tensor, got {type(got).__name__}")
            expect(got.grad_fn is None and not got.requires_grad,
                   f"{where} is still attached to the graph (grad_fn {got.grad_fn}): call "
                   ".detach() on every tensor; a copy (.clone()) keeps the graph")
            expect(got.shape == original.shape and torch.equal(got, original.detach()),
                   f"{where} has other values than the state it came from: detaching keeps "
                   "the values (the memory of the text so far) and cuts only the graph")
            return
        expect(type(got) is type(original),
               f"{where} should be a {type(original).__name__} like the state it came from, "
               f"got {type(got).__name__}: nn.LSTM wants its (h, c) back as a tuple")
        expect(len(got) == len(original),
               f"{where} has {len(got)} items, the state had {len(original)}")
        for i, (g, o) in enumerate(zip(got, original, strict=True)):
            compare(g, o, f"{where}[{i}]")

    try:
        nothing = fn(None)
    except Exception as error:
        raise CheckFailed(f"detach_state(None) raised {type(error).__name__}: {error}. The "
                          "first window has no state yet: return None for None") from error
    expect(nothing is None, f"detach_state(None) should be None (no state yet), got {nothing!r}")
    for what, state in cases:
        try:
            got = fn(state)
        except Exception as error:
            raise CheckFailed(f"detach_state({what}) raised {type(error).__name__}: {error}. "
                              "Handle a tensor, and a tuple or list by detaching each item "
                              "(calling detach_state on it again handles nesting)") from error
        expect_answered(got, f"detach_state({what})")
        compare(got, state, f"detach_state({what})")
    originals = [h, c, *deeper[0], *deeper[1]]
    expect(all(t.grad_fn is not None for t in originals),
           "detach_state changed the state it was given (detach_() works in place): return new "
           "detached tensors with .detach() and leave the original alone")
    passed("detach_state cuts every tensor loose from the graph, values and structure kept")


# ---- 03 gradients

def _grad03_step_problem(seed: int = 0):
    """A tanh step in float64: (h_t, W_hh) with h_t = tanh(a), large enough that tanh bends."""
    g = torch.Generator().manual_seed(seed)
    H = 5
    W_hh = torch.randn(H, H, generator=g, dtype=torch.float64)
    h_t = torch.tanh(1.5 * torch.randn(H, generator=g, dtype=torch.float64))
    return h_t, W_hh


def step_jacobian(fn) -> None:
    """Exercise 03.1: ``fn(h_t, W_hh)`` -> ∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hh, (H, H)."""
    expect_answered(fn, "step_jacobian")
    h_t, W_hh = _grad03_step_problem()
    H = h_t.shape[0]
    got = fn(h_t.clone(), W_hh.clone())
    expect_answered(got, "step_jacobian(h_t, W_hh)")
    expect(isinstance(got, torch.Tensor), f"step_jacobian should return a torch.Tensor, got "
                                          f"{type(got).__name__}")
    if tuple(got.shape) == (H,):
        raise CheckFailed(f"step_jacobian returned a vector of shape ({H},): the Jacobian is a "
                          f"matrix, (H, H). Put the slopes 1 - h_t**2 on a diagonal with "
                          f"torch.diag(...) and multiply by W_hh")
    expect_shape(got, (H, H), "step_jacobian(h_t, W_hh)")
    got = got.to(torch.float64)
    slope = 1 - h_t**2
    right = torch.diag(slope) @ W_hh
    mistakes = [
        (W_hh, "that is W_hh alone: the slope of tanh is missing. Multiply by diag(1 - h_t**2)"),
        (W_hh @ torch.diag(slope), "the diagonal is on the wrong side: W_hh @ diag(1 - h**2) "
         "scales the columns. Row i of the Jacobian is unit i's slope times row i of W_hh: "
         "diag(1 - h_t**2) @ W_hh"),
        (right.T, "that is the transpose: ∂h_t/∂h_{t-1} has one row per unit of h_t, "
         "diag(1 - h_t**2) @ W_hh (backpropagation multiplies by its transpose)"),
        (torch.diag(1 - torch.tanh(h_t) ** 2) @ W_hh, "tanh was applied twice: h_t is already "
         "tanh(a_t), so tanh'(a_t) = 1 - h_t**2, not 1 - tanh(h_t)**2"),
        (torch.diag(1 - h_t) @ W_hh, "the slope should be 1 - h_t**2 (tanh' = 1 - tanh²), "
         "not 1 - h_t"),
        (torch.diag(h_t**2) @ W_hh, "the slope of tanh is 1 - h_t**2, not h_t**2"),
    ]
    if not torch.allclose(got, right, atol=1e-6, rtol=1e-5):
        for wrong, message in mistakes:
            if torch.allclose(got, wrong, atol=1e-6, rtol=1e-5):
                raise CheckFailed(message)
    expect_close(got, right, "step_jacobian(h_t, W_hh)", atol=1e-6, rtol=1e-5)
    # and it must be the same as autograd's Jacobian of one tanh step
    x_part = torch.randn(H, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    h_prev = torch.randn(H, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    h_new = torch.tanh(x_part + W_hh @ h_prev)
    auto = torch.autograd.functional.jacobian(lambda h: torch.tanh(x_part + W_hh @ h), h_prev)
    expect_close(fn(h_new, W_hh).to(torch.float64), auto, "step_jacobian on a second step "
                 "(compared with torch.autograd.functional.jacobian)", atol=1e-6, rtol=1e-5)
    passed("diag(1 - h_t²) W_hh: equal to autograd's Jacobian of one tanh step")


def _grad03_matrix() -> torch.Tensor:
    """A non-normal 4x4 matrix: spectral radius 0.92 (complex pair 0.2 ± 0.9i), σ_max ≈ 3.08."""
    W = torch.zeros(4, 4, dtype=torch.float64)
    W[:2, :2] = torch.tensor([[0.5, 3.0], [0.0, 0.5]], dtype=torch.float64)
    W[2:, 2:] = torch.tensor([[0.2, -0.9], [0.9, 0.2]], dtype=torch.float64)
    return W


def radius_and_norm(fn) -> None:
    """Exercise 03.2: ``fn(W)`` -> (spectral radius, largest singular value) as floats."""
    expect_answered(fn, "radius_and_norm")
    W = _grad03_matrix()
    got = fn(W.clone())
    expect_answered(got, "radius_and_norm(W)")
    expect(isinstance(got, tuple | list) and len(got) == 2,
           f"radius_and_norm should return two numbers (radius, sigma_max), got {got!r}")
    try:
        radius, sigma = (float(v) for v in got)
    except (TypeError, ValueError, RuntimeError):
        raise CheckFailed(f"radius_and_norm should return two numbers, got {got!r}: use "
                          f"float(...) on each 0-d tensor") from None
    right_radius = float(torch.linalg.eigvals(W).abs().max())
    right_sigma = float(torch.linalg.svdvals(W)[0])

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= 1e-6 + 1e-5 * abs(b)

    if close(radius, right_sigma) and close(sigma, right_radius):
        raise CheckFailed("the two numbers are swapped: return (spectral radius, sigma_max)")
    if not close(radius, right_radius):
        if close(radius, float(torch.linalg.eigvals(W).real.max())):
            raise CheckFailed(f"radius is {radius:.4g}: the largest *real part* of the "
                              f"eigenvalues. Eigenvalues can be complex (this matrix has "
                              f"0.2 ± 0.9i): take their modulus, .abs(), before the max")
        if close(radius, right_sigma):
            raise CheckFailed("radius equals the largest singular value; for this matrix the "
                              "spectral radius, max |eigenvalue|, is smaller: use "
                              "torch.linalg.eigvals(W).abs().max()")
        raise CheckFailed(f"radius is {radius:.4g}, expected {right_radius:.4g}: the largest "
                          f"modulus of the eigenvalues, torch.linalg.eigvals(W).abs().max() "
                          f"(eigvalsh is only for symmetric matrices)")
    if not close(sigma, right_sigma):
        hints = [(float(torch.linalg.matrix_norm(W)), "that is the Frobenius norm (the square "
                  "root of the sum of all squared entries); the largest singular value is "
                  "torch.linalg.svdvals(W)[0] or matrix_norm(W, ord=2)"),
                 (float(W.abs().max()), "that is the largest entry of W, not its largest "
                  "singular value: torch.linalg.svdvals(W)[0]"),
                 (float(torch.linalg.svdvals(W)[-1]), "that is the smallest singular value: "
                  "svdvals returns them largest first, so take [0]")]
        for value, message in hints:
            if close(sigma, value):
                raise CheckFailed(f"sigma_max is {sigma:.4g}: {message}")
        raise CheckFailed(f"sigma_max is {sigma:.4g}, expected {right_sigma:.4g}: "
                          f"torch.linalg.svdvals(W)[0]")
    passed(f"spectral radius {right_radius:.3g} ≤ σ_max {right_sigma:.3g}: for this non-normal "
           f"W one step can stretch by {right_sigma:.2f}, yet W^k still shrinks as "
           f"{right_radius:.2f}^k")


def _grad03_grads(scale: float, seed: int = 0) -> list:
    g = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (4,), (2, 4)]
    grads = [torch.randn(*s, generator=g) for s in shapes]
    total = torch.sqrt(sum((t**2).sum() for t in grads))
    return [t * (scale / total) for t in grads]


def _grad03_torch_clip(grads: list, max_norm: float) -> list:
    params = [torch.zeros_like(t, requires_grad=True) for t in grads]
    for p, t in zip(params, grads, strict=True):
        p.grad = t.clone()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad for p in params]


def clip_global_norm(fn) -> None:
    """Exercise 03.3: ``fn(grads, max_norm)`` -> the gradients clipped by their global norm."""
    expect_answered(fn, "clip_global_norm")
    for total, max_norm in [(5.0, 1.0), (0.5, 1.0), (3.0, 2.0)]:
        grads = _grad03_grads(total)
        originals = [t.clone() for t in grads]
        got = fn(grads, max_norm)
        case = f"for gradients of total norm {total} and max_norm {max_norm}"
        if got is None and total > max_norm:
            raise CheckFailed("clip_global_norm returned None: return the list of clipped "
                              "tensors (e.g. [g * scale for g in grads])")
        expect_answered(got, "clip_global_norm(grads, max_norm)")
        expect(isinstance(got, list | tuple) and len(got) == len(grads),
               f"clip_global_norm should return a list of {len(grads)} tensors, one per "
               f"gradient, got {type(got).__name__}"
               + (f" of length {len(got)}" if isinstance(got, list | tuple) else ""))
        right = _grad03_torch_clip(originals, max_norm)
        ok = all(isinstance(a, torch.Tensor) and a.shape == b.shape
                 and torch.allclose(a.float(), b, atol=1e-6, rtol=1e-4)
                 for a, b in zip(got, right, strict=True))
        if ok:
            continue
        got_total = float(torch.sqrt(sum((torch.as_tensor(a).float() ** 2).sum() for a in got)))
        per_tensor = [t * min(1.0, max_norm / float(t.norm())) for t in originals]
        if all(torch.allclose(torch.as_tensor(a).float(), b, atol=1e-6)
               for a, b in zip(got, per_tensor, strict=True)):
            raise CheckFailed(f"each tensor was clipped by its own norm {case}. Global-norm "
                              f"clipping uses ONE factor for all: min(1, max_norm / total), "
                              f"with total the norm of all gradients together")
        if total < max_norm and abs(got_total - max_norm) < 1e-4:
            raise CheckFailed(f"{case} nothing should change (the norm is already below the "
                              f"threshold), but the result was scaled up to max_norm: use the "
                              f"factor min(1, max_norm / total)")
        if all(torch.allclose(torch.as_tensor(a).float(), b.clamp(-max_norm, max_norm))
               for a, b in zip(got, originals, strict=True)):
            raise CheckFailed("that clips each entry to [-max_norm, max_norm] (clipping by "
                              "value); clipping by norm scales the whole gradient: g * "
                              "min(1, max_norm / total)")
        raise CheckFailed(f"{case} the clipped gradients should have total norm "
                          f"{min(total, max_norm):g} and point in the same direction as "
                          f"before; got total norm {got_total:.4g}. Compute total = sqrt(sum of "
                          f"(g**2).sum()), then multiply every g by min(1, max_norm / total)")
    passed("global-norm clipping equals torch.nn.utils.clip_grad_norm_ (above and below the "
           "threshold)")


# ---- 07 sentiment

def _close07(a, b, atol: float = 1e-5) -> bool:
    """True when two tensors (any float dtype) agree within float32 tolerance."""
    try:
        return torch.allclose(torch.as_tensor(a).double(), torch.as_tensor(b).double(),
                              atol=atol, rtol=1e-4)
    except (RuntimeError, TypeError, ValueError):
        return False


def majority_accuracy(fn) -> None:
    """Exercise 07.1: ``fn(train_labels, test_labels)`` -> test accuracy of always answering the
    most common class of the *training* labels."""
    import numpy as np

    expect_answered(fn, "majority_accuracy")
    train = np.array([1] * 6 + [0] * 4)        # training: 60% positive -> always answer 1
    test = np.array([1] * 9 + [0] * 11)        # test: 45% positive
    right = 0.45
    try:
        got = fn(train, test)
    except Exception as error:
        raise CheckFailed(f"majority_accuracy(train_labels, test_labels) raised "
                          f"{type(error).__name__}: {error}. It gets two NumPy arrays of 0/1 "
                          "labels") from error
    expect_answered(got, "majority_accuracy(train_labels, test_labels)")
    try:
        got = float(got)
    except (TypeError, ValueError):
        raise CheckFailed(f"majority_accuracy should return one number (the accuracy), got "
                          f"{type(got).__name__}") from None
    if got == 1.0 and right != 1.0:
        raise CheckFailed("it returned 1: is that the majority class itself? Return the "
                          "accuracy of always predicting it on the test labels, a fraction")
    if abs(got - 0.55) < 1e-9:
        raise CheckFailed("it returned 0.55: the majority class was taken from the TEST labels "
                          "(there 0 is the most common). A baseline may only learn from the "
                          "training split: pick the class from train_labels, score it on "
                          "test_labels")
    if abs(got - 0.6) < 1e-9:
        raise CheckFailed("it returned 0.6: that is the share of the majority class in the "
                          "training labels. Score the prediction on the test labels instead")
    if abs(got - 9) < 1e-9:
        raise CheckFailed("it returned 9, a count: divide by the number of test sentences to "
                          "get a fraction")
    expect(abs(got - right) < 1e-9,
           f"for training labels 60% positive and test labels 45% positive the majority class "
           f"is 1 and its test accuracy is {right}, got {got:.4g}")
    passed("always answering the training majority class: the score any model must beat")


def packed_logit(fn) -> None:
    """Exercise 07.2: ``fn(embedding, lstm, head, padded, lengths)`` -> (B,) logits from the
    h_n of a packed batch."""
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence

    expect_answered(fn, "sentence_logit")
    torch.manual_seed(0)
    embedding = nn.Embedding(20, 6, padding_idx=0)
    lstm = nn.LSTM(6, 5, batch_first=True)
    head = nn.Linear(5, 1)
    lengths = torch.tensor([4, 2, 5])                       # not sorted, on purpose
    padded = torch.randint(2, 20, (3, 5))
    padded[torch.arange(5)[None, :] >= lengths[:, None]] = 0
    x = embedding(padded)
    with torch.no_grad():
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, c_n) = lstm(packed)
        right = head(h_n[-1]).squeeze(-1)
        _, (h_pad, _) = lstm(x)
        padded_answer = head(h_pad[-1]).squeeze(-1)
        from_c = head(c_n[-1]).squeeze(-1)
    try:
        with torch.no_grad():
            got = fn(embedding, lstm, head, padded, lengths)
    except Exception as error:
        hint = (" The lengths [4, 2, 5] are not sorted: pack with data.pack(x, lengths), which "
                "passes enforce_sorted=False." if "sorted" in str(error) else
                " Embed the ids, pack with data.pack(x, lengths), run the LSTM, and give "
                "h_n[-1] to the head.")
        raise CheckFailed(f"sentence_logit raised {type(error).__name__}: {error}.{hint}") \
            from error
    expect_answered(got, "sentence_logit(embedding, lstm, head, padded, lengths)")
    expect(isinstance(got, torch.Tensor), f"sentence_logit should return a tensor, got "
                                          f"{type(got).__name__}")
    if tuple(got.shape) == (3, 1):
        raise CheckFailed("the logits have shape (3, 1): squeeze the last axis, .squeeze(-1), "
                          "so that they match the labels' shape (B,) as BCEWithLogitsLoss "
                          "needs")
    expect_shape(got, (3,), "sentence_logit(...) for a batch of 3 sentences")
    got = got.detach().float()
    if _close07(got, torch.sigmoid(right)):
        raise CheckFailed("these are probabilities (after a sigmoid): return the logit, the "
                          "head's output itself. BCEWithLogitsLoss applies the sigmoid inside")
    if _close07(got, padded_answer):
        raise CheckFailed("the LSTM ran over the padding: only the longest sentence (length 5) "
                          "comes out right. Pack the embedded batch with data.pack(x, lengths) "
                          "before the LSTM")
    if _close07(got, from_c):
        raise CheckFailed("that is the head applied to the cell state c_n: use the hidden "
                          "state, nn.LSTM returns output, (h_n, c_n)")
    if _close07(got[2], right[2]) and not _close07(got, right):
        raise CheckFailed("only the longest sentence (length 5) is right: the shorter ones were "
                          "read past their last word (at step T - 1 of the padded output?). "
                          "Use h_n of the packed batch: it holds each sentence's state at its "
                          "own last word")
    expect_close(got, right, "sentence_logit(...)")
    passed("one logit per sentence, from the state after its last real word")


def logit_accuracy(fn) -> None:
    """Exercise 07.3: ``fn(logits, labels)`` -> the fraction of sentences where
    ``logit > 0`` agrees with the 0/1 label."""
    expect_answered(fn, "logit_accuracy")
    logits = torch.tensor([2.0, -1.0, 0.3, -0.2, 1.5, -3.0, 0.2, -0.4, 0.4, -2.5])
    labels = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    right = 0.7
    results = []
    for y in (labels, labels.long()):
        try:
            got = fn(logits.clone(), y.clone())
        except Exception as error:
            raise CheckFailed(f"logit_accuracy raised {type(error).__name__} on labels of dtype "
                              f"{y.dtype}: {error}. Compare (logits > 0) with (labels == 1) "
                              "and take the mean of a float tensor") from error
        expect_answered(got, "logit_accuracy(logits, labels)")
        try:
            results.append(float(got))
        except (TypeError, ValueError, RuntimeError):
            raise CheckFailed(f"logit_accuracy should return one number, got "
                              f"{type(got).__name__}"
                              + (f" of shape {tuple(got.shape)}" if hasattr(got, "shape")
                                 else "") + ": take the .mean()") from None
    got = results[0]
    if abs(got - 0.6) < 1e-6:
        raise CheckFailed("it returned 0.6: was the threshold 0.5? That is the threshold for "
                          "probabilities. A logit z > 0 exactly when sigmoid(z) > 0.5, so for "
                          "logits the threshold is 0")
    if abs(got - 0.4) < 1e-6:
        raise CheckFailed("it returned 0.4, the share of positive labels: every sentence was "
                          "predicted positive. Did you apply a sigmoid and then compare with 0? "
                          "Compare the logits with 0, or the probabilities with 0.5")
    if abs(got - 7) < 1e-6:
        raise CheckFailed("it returned 7, a count: divide by the number of sentences (or take "
                          "the mean of a float tensor)")
    if abs(got - 0.3) < 1e-6:
        raise CheckFailed("it returned 0.3: that is the error rate, the fraction that is "
                          "WRONG. Accuracy is the fraction of predictions equal to the label")
    expect(abs(got - right) < 1e-6, f"for these 10 logits and labels the accuracy is {right}, "
                                    f"got {got:.4g}")
    expect(abs(results[1] - right) < 1e-6,
           f"with float labels it gives {right}, but with integer labels {results[1]:.4g}: "
           "compare with (labels == 1) or convert labels to float first")
    passed("accuracy from logits: positive exactly when the logit is above 0")


# ---- 09 beyond

def _windows09_reference(series: torch.Tensor, window: int, horizon: int):
    n = len(series) - window - horizon + 1
    X = torch.stack([series[i:i + window] for i in range(n)])
    return X[..., None], series[window - 1 + horizon:]


def _windows09_call(fn, series, window: int, horizon: int):
    """Call the learner's make_windows and return (X, y) as tensors, or fail helpfully."""
    try:
        got = fn(series.clone(), window, horizon)
    except Exception as error:
        raise CheckFailed(f"make_windows(torch.arange({len(series)}.), window={window}, "
                          f"horizon={horizon}) raised {type(error).__name__}: {error}") from error
    expect_answered(got, "make_windows(series, window, horizon)")
    if not isinstance(got, tuple | list) or len(got) != 2:
        raise CheckFailed("make_windows should return two things, X and y: "
                          "`return X, y`")
    X, y = got
    expect_answered(X, "X")
    expect_answered(y, "y")
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    return X, y


def make_windows(fn) -> None:
    """Exercise 09.1: ``fn(series, window, horizon)`` -> X (N, window, 1), y (N,)."""
    expect_answered(fn, "make_windows")
    for length, window, horizon in ((20, 5, 3), (12, 4, 1)):
        series = torch.arange(float(length))      # every value is its own index
        right_X, right_y = _windows09_reference(series, window, horizon)
        n = len(right_y)
        X, y = _windows09_call(fn, series, window, horizon)
        where = f"for a series of length {length}, window={window}, horizon={horizon}"
        if X.dim() == 2 and X.shape == (n, window):
            raise CheckFailed(f"X has shape {tuple(X.shape)}: add the feature axis, "
                              f"X[..., None], to get (N, window, 1) = {(n, window, 1)}. An RNN "
                              "with batch_first=True wants (B, T, F), even for one feature.")
        if X.dim() == 3 and X.shape[1:] == (window, 1) and X.shape[0] == n - 1:
            raise CheckFailed(f"{where} there are N = {n} windows but X has {X.shape[0]}: "
                              "the last window is missing. N = len(series) - window - horizon "
                              "+ 1 (the last target is the series' last value)")
        expect(X.dim() == 3 and X.shape[1:] == (window, 1),
               f"{where} X should have shape (N, window, 1) = {(n, window, 1)}, got "
               f"{tuple(X.shape)}")
        expect(X.shape[0] == n, f"{where} there are N = {n} windows (len(series) - window - "
                                f"horizon + 1), but X has {X.shape[0]}")
        expect(torch.equal(X.float(), right_X), f"{where} X[i, :, 0] should be "
               f"series[i : i + window]; for i = 0 that is {right_X[0, :, 0].tolist()}, "
               f"got {X[0, :, 0].tolist()}")
        expect(y.dim() == 1 and len(y) == n, f"{where} y should have shape ({n},), one target "
                                             f"per window, got {tuple(y.shape)}")
        first = float(y[0])
        if first == window - 1:
            raise CheckFailed("y[i] is the last value inside window i: the model would be "
                              "asked for what it can already see. The target is `horizon` "
                              "steps after it: series[i + window - 1 + horizon]")
        if first == window - 2 + horizon:
            raise CheckFailed(f"off by one: {where} the first target should be series"
                              f"[{window - 1 + horizon}] (window - 1 + horizon), got series"
                              f"[{first:.0f}]. With horizon = 1 the target is the value right "
                              "after the window")
        if first == window + horizon:
            raise CheckFailed(f"off by one: {where} the first target should be series"
                              f"[{window - 1 + horizon}] (window - 1 + horizon), got series"
                              f"[{first:.0f}]: one step too far ahead")
        expect(torch.equal(y.float(), right_y), f"{where} y should be {right_y.tolist()}, "
                                                f"got {y.tolist()}")
    passed("windows of the past and targets `horizon` steps ahead, (N, W, 1) and (N,)")


def persistence_rmse(fn) -> None:
    """Exercise 09.2: ``fn(values, horizon)`` -> RMSE of predicting values[t] by values[t-h]."""
    import numpy as np

    expect_answered(fn, "persistence_rmse")
    values = np.array([10.0, 12.0, 15.0, 13.0, 20.0, 26.0, 22.0, 30.0, 28.0, 35.0])

    def right(h: int) -> float:
        return float(np.sqrt(np.mean((values[h:] - values[:-h]) ** 2)))

    results = {}
    for h in (3, 1):
        try:
            got = fn(values.copy(), h)
        except Exception as error:
            raise CheckFailed(f"persistence_rmse(values, {h}) raised "
                              f"{type(error).__name__}: {error}") from error
        expect_answered(got, f"persistence_rmse(values, {h})")
        try:
            results[h] = float(got)
        except (TypeError, ValueError):
            raise CheckFailed(f"persistence_rmse should return one number, got "
                              f"{type(got).__name__}"
                              + (f" of shape {tuple(got.shape)}" if hasattr(got, "shape")
                                 else "") + ": take the mean before the square root") from None
    got, h = results[3], 3
    errors = values[h:] - values[:-h]
    close = lambda a, b: abs(a - b) < 1e-6 * max(1.0, abs(b))  # noqa: E731
    if close(got, right(h) ** 2):
        raise CheckFailed(f"it returned {got:.4g}, the mean squared error: take its square "
                          "root (RMSE), which is in the data's own units")
    if close(got, float(np.sqrt(np.sum(errors ** 2)))):
        raise CheckFailed("it took the square root of the SUM of squared errors: use the "
                          "mean, so the error does not grow with the number of months")
    if close(got, float(np.mean(np.abs(errors)))):
        raise CheckFailed(f"it returned {got:.4g}, the mean absolute error: square the errors, "
                          "average them, then take the square root")
    if close(got, float(np.std(errors))):
        raise CheckFailed("it returned the standard deviation of the errors, which subtracts "
                          "their mean first: a forecast that is always 10 too high would score "
                          "0. Use np.sqrt(np.mean(errors ** 2))")
    if close(got, right(1)):
        raise CheckFailed(f"with horizon = 3 it returned {got:.4g}, the persistence error "
                          "one step ahead: compare values[t] with values[t - horizon], using "
                          "the horizon argument")
    if close(got, 0.0):
        raise CheckFailed("it returned 0: was each value compared with itself? The forecast "
                          "for values[t] is values[t - horizon]")
    expect(close(got, right(h)), f"for values {values.tolist()} and horizon 3 the "
                                 f"persistence RMSE is {right(h):.4f}, got {got:.4g}")
    expect(close(results[1], right(1)), f"with horizon 3 it is right, but with horizon 1 it "
                                        f"gives {results[1]:.4g} instead of {right(1):.4f}")
    passed("the persistence RMSE: predict each value by the one `horizon` steps earlier")


def channel_stats(fn) -> None:
    """Exercise 09.3: ``fn(series)`` -> per-channel mean and std over all frames, each (F,)."""
    import numpy as np

    expect_answered(fn, "channel_stats")
    rng = np.random.default_rng(9)
    scales = np.array([1.0, 3.0, 0.5])
    offsets = [np.array([0.0, 5.0, -1.0]), np.array([4.0, -6.0, 1.0]),
               np.array([-2.0, 1.0, 2.0])]
    series = [(rng.standard_normal((T, 3)) * scales + offset).astype(np.float32)
              for T, offset in zip((5, 40, 150), offsets, strict=True)]
    frames = np.concatenate(series).astype(np.float64)
    right_mean, right_std = frames.mean(axis=0), frames.std(axis=0)
    try:
        got = fn([s.copy() for s in series])
    except Exception as error:
        raise CheckFailed(f"channel_stats raised {type(error).__name__}: {error}") from error
    expect_answered(got, "channel_stats(series)")
    if not isinstance(got, tuple | list) or len(got) != 2:
        raise CheckFailed("channel_stats should return two things, the mean and the std: "
                          "`return mean, std`")
    mean, std = got
    expect_answered(mean, "mean")
    expect_answered(std, "std")
    mean = np.asarray(torch.as_tensor(mean).detach().double())
    std = np.asarray(torch.as_tensor(std).detach().double())
    for name, value in (("mean", mean), ("std", std)):
        expect(value.shape == (3,), f"for utterances of shape (T_i, 3) the {name} should have "
                                    f"shape (3,), one number per channel, got {value.shape}: "
                                    "reduce over the frames (axis=0) after concatenating them")

    def near(a, b, rtol=1e-3):
        return np.allclose(a, b, rtol=rtol, atol=1e-4)

    if near(mean, np.mean([s.mean(axis=0) for s in series], axis=0)) \
            and not near(mean, right_mean):
        raise CheckFailed("the mean is the average of each utterance's own mean: a 5-frame "
                          "utterance then counts as much as a 150-frame one. Every frame should "
                          "count once: np.concatenate(series) first, then .mean(axis=0)")
    expect(near(mean, right_mean), f"the per-channel mean should be "
                                   f"{np.round(right_mean, 4).tolist()}, got "
                                   f"{np.round(mean, 4).tolist()}")
    if near(std, np.mean([s.std(axis=0) for s in series], axis=0)):
        raise CheckFailed("the std is the average of each utterance's own std: that misses how "
                          "the utterances differ from each other. Take the std of all frames "
                          "together: np.concatenate(series).std(axis=0)")
    if near(std, right_std ** 2):
        raise CheckFailed("that is the variance (std squared): take its square root, or use "
                          ".std(axis=0)")
    expect(near(std, right_std, rtol=1e-2), f"the per-channel std should be "
                                            f"{np.round(right_std, 4).tolist()}, got "
                                            f"{np.round(std, 4).tolist()}")
    passed("one mean and one std per channel, over every frame of every utterance")


# ---- 06 lstm-vs-gru

_BLOCKS_06 = {"rnn": 1, "gru": 3, "lstm": 4}


def _params_06(kind: str, input_size: int, hidden: int) -> int:
    """Recurrent parameters of one layer, as torch.nn counts them: blocks x H x (I + H + 2)."""
    return _BLOCKS_06[kind] * hidden * (input_size + hidden + 2)


def _nearest_hidden_06(kind: str, input_size: int, target: int) -> int:
    return min(range(1, 4096), key=lambda h: (abs(_params_06(kind, input_size, h) - target), h))


def matched_hidden_size(fn) -> None:
    """Exercise 06.1: ``fn(kind, input_size, target)`` -> the H whose count is nearest ``target``."""
    expect_answered(fn, "matched_hidden")
    cases = [("gru", 2, _params_06("lstm", 2, 32)), ("rnn", 2, _params_06("lstm", 2, 32)),
             ("gru", 64, _params_06("lstm", 64, 64)), ("rnn", 32, _params_06("lstm", 32, 128)),
             ("lstm", 10, _params_06("lstm", 10, 20))]
    answers = []
    for kind, input_size, target in cases:
        call = f"matched_hidden({kind!r}, input_size={input_size}, target={target})"
        got = fn(kind, input_size, target)
        expect_answered(got, call)
        if isinstance(got, float) and got.is_integer():
            got = int(got)
        expect(isinstance(got, int) and not isinstance(got, bool),
               f"{call} should return a whole number of units (an int), got {got!r}: round it, "
               "e.g. int(round(h))")
        answers.append(got)
    rights = [_nearest_hidden_06(*case) for case in cases]
    if answers == rights:
        passed("matched hidden sizes: e.g. a GRU of 37 units and an RNN of 66 hold as many "
               "parameters as an LSTM of 32 on the adding problem")
        return
    lstm_hs = [_nearest_hidden_06("lstm", i, t) for _, i, t in cases]
    no_bias = [min(range(1, 4096), key=lambda h, k=k, i=i, t=t: abs(_BLOCKS_06[k] * h * (i + h) - t))
               for k, i, t in cases]
    if answers == lstm_hs:
        raise CheckFailed("matched_hidden returned the LSTM's own hidden size every time: that "
                          "is matching H, not the parameters. A GRU has 3 weight blocks and an "
                          "RNN 1 where the LSTM has 4, so they need a larger H for the same count")
    if answers == no_bias:
        raise CheckFailed("the biases are missing from your count. Each block has H x I input "
                          "weights, H x H recurrent weights and two bias vectors of H: "
                          "blocks * H * (I + H + 2)")
    for (kind, input_size, target), got, right, lstm_h in zip(cases, answers, rights, lstm_hs,
                                                              strict=True):
        if got == right:
            continue
        call = f"matched_hidden({kind!r}, input_size={input_size}, target={target})"
        count = f"{_params_06(kind, input_size, got):,}" if got > 0 else "no"
        if kind != "lstm" and got == round(lstm_h * 4 / _BLOCKS_06[kind]):
            raise CheckFailed(f"{call} returned {got}, the LSTM's H times 4/{_BLOCKS_06[kind]}: "
                              f"but the count grows with H², not H. Solve blocks * (H² + (I + 2) "
                              f"H) = target for H (a quadratic) and round to the nearest count")
        if abs(got - right) == 1:
            raise CheckFailed(f"{call} returned {got}, one away from {right}: H = {got} gives "
                              f"{count} parameters and H = {right} gives "
                              f"{_params_06(kind, input_size, right):,}, closer to {target:,}. "
                              f"Compare the counts of the two integers around the exact root "
                              f"(floor and ceil) and keep the closer one")
        raise CheckFailed(f"{call} returned {got} ({count} parameters), expected {right} "
                          f"({_params_06(kind, input_size, right):,}). The count of one layer "
                          f"is blocks * H * (I + H + 2), with 1 block for the RNN, 3 for the "
                          f"GRU, 4 for the LSTM")


def mean_and_sem(fn) -> None:
    """Exercise 06.2: ``fn(values)`` -> (mean, standard error of the mean, ddof=1)."""
    import numpy as np

    expect_answered(fn, "mean_and_sem")
    values = [0.012, 0.020, 0.043]
    got = fn(list(values))
    expect_answered(got, "mean_and_sem([0.012, 0.020, 0.043])")
    expect(isinstance(got, tuple | list) and len(got) == 2,
           f"mean_and_sem should return two numbers, (mean, sem), got {got!r}")
    mean, sem = (float(torch.as_tensor(v)) for v in got)
    v = np.array(values)
    right_mean, right_sem = v.mean(), v.std(ddof=1) / np.sqrt(len(v))

    def near(a, b):
        return abs(a - b) <= 1e-6 + 1e-4 * abs(b)

    expect(near(mean, right_mean), f"the mean of {values} is {right_mean:.6g}, got {mean:.6g}")
    if near(sem, v.std(ddof=1)):
        raise CheckFailed("that is the standard deviation of the seeds: how much one run "
                          "varies. The standard error of the mean is smaller: std / sqrt(n)")
    if near(sem, v.std(ddof=0) / np.sqrt(len(v))):
        raise CheckFailed("close: but np.std divides by n by default (ddof=0), which "
                          "underestimates the spread of a few seeds. Use the sample standard "
                          "deviation, np.std(values, ddof=1), then divide by sqrt(n)")
    if near(sem, v.std(ddof=1) / len(v)):
        raise CheckFailed("the standard error divides the standard deviation by sqrt(n), not n")
    expect(near(sem, right_sem), f"the standard error of {values} is {right_sem:.6g} "
                                 f"(np.std(values, ddof=1) / sqrt(3)), got {sem:.6g}")
    one = fn([0.5, 0.5, 0.5, 0.5])
    expect(near(float(torch.as_tensor(one[1])), 0.0), "four equal values should have a standard "
                                                      f"error of 0, got {one[1]!r}")
    passed(f"mean {right_mean:.4f} ± {right_sem:.4f} (standard error over 3 seeds)")


def steps_to_target(fn) -> None:
    """Exercise 06.3: ``fn(losses, target, window)`` -> the first step whose moving mean < target."""
    import numpy as np

    expect_answered(fn, "steps_to_target")
    # a curve that dips below the target once, by noise, at step 3, then truly gets there later
    losses = [0.30, 0.20, 0.04, 0.20, 0.16, 0.08, 0.05, 0.04, 0.03, 0.02, 0.02, 0.01]
    target, window = 0.05, 3
    means = np.convolve(losses, np.ones(window) / window, mode="valid")
    right = int(np.nonzero(means < target)[0][0] + window)
    call = f"steps_to_target(losses, target={target}, window={window})"
    got = fn(list(losses), target, window)
    if got is Ellipsis:
        expect_answered(got, call)
    if got == 3:
        raise CheckFailed(f"{call} returned 3: that is the first single step below the target, "
                          f"a lucky batch. Average the last `window` losses and find the first "
                          f"step at which that average is below the target")
    if got == right - 1:
        raise CheckFailed(f"{call} returned {got}, one short of {right}: steps count from 1 "
                          f"(step i is losses[i - 1]), so add 1 to a 0-based index")
    if got == right - window + 1 or got == right - window:
        raise CheckFailed(f"{call} returned {got}: that is where the winning window *starts*. "
                          f"The target is reached at its last step, {right}: only then have all "
                          f"its losses been seen")
    expect(got == right, f"{call} should be {right} (the mean of losses {right - window + 1}.."
                         f"{right} is {means[right - window]:.3f} < {target}), got {got!r}")
    never = fn([0.3, 0.2, 0.2, 0.1], 0.05, 2)
    expect(never is None, f"a curve that never gets below the target should give None, got "
                          f"{never!r}: 0 or -1 would read as a step (or be averaged as one)")
    short = fn([0.01], 0.05, 5)
    expect(short is None, f"with fewer losses than `window` there is no full window yet: "
                          f"expected None, got {short!r}")
    passed(f"reached at step {right}: the first step whose last {window} losses average below "
           f"{target}")


# ---- 10 efficiency

def lstm_step_flops(answer) -> None:
    """Exercise 10.1: FLOPs of one LSTM forward step, I = 64, H = 128, B = 32."""
    expect_answered(answer, "answer")
    I, H, B = 64, 128, 32
    right = 2 * 4 * H * (I + H) * B
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        answer = answer.item()
    expect(isinstance(answer, int | float) and not isinstance(answer, bool),
           f"answer should be a number (the FLOPs, about {right / 1e6:.1f} million), got "
           f"{type(answer).__name__}")
    mistakes = {
        4 * H * (I + H) * B: "you counted each weight once: a multiply-add is 2 FLOPs (one "
                             "multiplication, one addition), so multiply by 2",
        2 * 4 * H * (I + H): "that is for one sequence: multiply by the batch size B = 32",
        2 * 4 * H * H * B: "that counts only the hidden part W_hh h: the input part W_ih x "
                           "adds 2 * 4H * I * B more",
        2 * 4 * H * I * B: "that counts only the input part W_ih x: the hidden part W_hh h "
                           "adds 2 * 4H * H * B more",
        2 * 3 * H * (I + H) * B: "that is a GRU (3 gate blocks): the LSTM has 4 (i, f, g, o)",
        2 * H * (I + H) * B: "that is one gate block (a vanilla RNN): the LSTM has 4 (i, f, g, o)",
        8 * H * (I + H): "that is for one sequence: multiply by the batch size B = 32",
    }
    for wrong, why in mistakes.items():
        if answer == wrong:
            raise CheckFailed(f"answer = {answer:,}: {why}.")
    expect(abs(answer - right) <= 1e-6 * right,
           f"answer = {answer:,} but one LSTM step with I = {I}, H = {H}, B = {B} takes "
           f"2 * 4H * (I + H) * B FLOPs; check each factor")
    passed(f"{right:,} FLOPs (~{right / 1e6:.1f} MFLOP): 8 H (I + H) B for one LSTM step")


def log_g_stable(fn) -> None:
    """Exercise 10.2: ``fn(x)`` = log g(x), finite for every finite x (float32)."""
    import torch.nn.functional as F

    expect_answered(fn, "log_g")
    x = torch.tensor([-200.0, -30.0, -2.0, -0.3, 0.0, 0.3, 2.0, 50.0])
    right = torch.where(x >= 0, torch.log(x.clamp(min=0) + 0.5), -F.softplus(-x))
    try:
        got = fn(x.clone())
    except Exception as error:
        raise CheckFailed(f"log_g(x) raised {type(error).__name__}: {error}") from error
    expect_answered(got, "log_g(x)")
    got = torch.as_tensor(got).float()
    expect_shape(got, x.shape, "log_g(x) for x of shape (8,)")
    if not torch.isfinite(got[0]):
        raise CheckFailed("log_g(-200.) is not finite: sigmoid(-200) rounds to 0 in float32 and "
                          "log(0) = -inf. For x < 0 use log sigmoid(x) = -softplus(-x) "
                          "(F.softplus), which never takes the log of 0.")
    expect(bool(torch.isfinite(got).all()),
           f"log_g(x) should be finite everywhere, got {got.tolist()} for x = {x.tolist()}")
    if torch.allclose(got[x >= 0], torch.log(x[x >= 0] + 1), atol=1e-5):
        raise CheckFailed("for x >= 0, g(x) = x + 1/2, so log_g(x) = log(x + 0.5), not log(x + 1)")
    if torch.allclose(got, -F.softplus(-x), atol=1e-5):
        raise CheckFailed("that is log sigmoid(x) everywhere: for x >= 0, g(x) = x + 1/2 "
                          "(linear, not saturating), so log_g(x) = log(x + 0.5) there")
    if torch.allclose(got[x < 0], torch.log(x[x < 0].abs() + 0.5), atol=1e-5) or \
            torch.allclose(got[x < 0], torch.log(x[x < 0] + 0.5).nan_to_num(0.0), atol=1e-5):
        raise CheckFailed("for x < 0, g(x) = sigmoid(x): log_g(x) = -softplus(-x) there")
    expect_close(got, right, "log_g(x)", atol=1e-5, rtol=1e-5)
    xg = torch.linspace(-5, 5, 21, requires_grad=True)  # includes -0.5, where log(x + 0.5) = -inf
    try:
        (grad,) = torch.autograd.grad(torch.as_tensor(fn(xg)).sum(), xg)
    except RuntimeError as error:
        raise CheckFailed(f"log_g(x) should be differentiable with torch operations (no NumPy, "
                          f"no .item()): autograd said {error}") from error
    expect(bool(torch.isfinite(grad).all()),
           "the gradient of log_g is NaN somewhere (at x = -0.5: log(0)): clamp the input of "
           "log(x + 0.5) (x.clamp(min=0)) so that the branch torch.where discards never takes "
           "the log of 0 or of a negative number")
    passed("log_g(x): log(x + 1/2) for x >= 0, -softplus(-x) below, finite everywhere")


def mingru_step(fn) -> None:
    """Exercise 10.3: ``fn(k_z, k_h, h)`` = (1 - sigmoid(k_z)) * h + sigmoid(k_z) * g(k_h)."""
    expect_answered(fn, "mingru_step")

    def g(x):
        return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))

    gen = torch.Generator().manual_seed(10)
    k_z, k_h, h = (3 * torch.randn(3, 4, 5, generator=gen)).unbind(0)
    z = torch.sigmoid(k_z)
    right = (1 - z) * h + z * g(k_h)
    try:
        got = fn(k_z.clone(), k_h.clone(), h.clone())
    except Exception as error:
        raise CheckFailed(f"mingru_step(k_z, k_h, h) with (B, H) = (4, 5) tensors raised "
                          f"{type(error).__name__}: {error}") from error
    expect_answered(got, "mingru_step(k_z, k_h, h)")
    expect_shape(got, (4, 5), "mingru_step(k_z, k_h, h) for (B, H) = (4, 5)")
    got = got.float()

    def same(other):
        return torch.allclose(got, other, atol=1e-5, rtol=1e-4)

    if same(z * h + (1 - z) * g(k_h)):
        raise CheckFailed("z and 1 - z are swapped: the old state h gets weight (1 - z), the "
                          "candidate g(k_h) gets z (z = 0: the state stays as it was)")
    if same((1 - z) * h + z * k_h):
        raise CheckFailed("the candidate is g(k_h), not k_h itself: use parallel.g(k_h) "
                          "(x + 1/2 for x >= 0, sigmoid(x) below)")
    if same((1 - z) * h + z * torch.tanh(k_h)):
        raise CheckFailed("minGRU's candidate is g(k_h), not tanh(k_h): g keeps it positive "
                          "for the log-space scan; use parallel.g(k_h)")
    if same((1 - k_z) * h + k_z * g(k_h)):
        raise CheckFailed("k_z is the gate's pre-activation: the gate is z = sigmoid(k_z)")
    expect_close(got, right, "mingru_step(k_z, k_h, h)")
    passed("h_t = (1 - z) * h + z * g(k_h) with z = sigmoid(k_z): one minGRU step")
