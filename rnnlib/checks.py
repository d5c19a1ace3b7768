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
