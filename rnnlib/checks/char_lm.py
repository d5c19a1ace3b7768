"""Self-checks of notebook 08, the character language model (``08-char-lm.ipynb``): unigram
entropy, bits and perplexity from a loss in nats with a comparison across tokenisations,
detaching the carried state, and the experiment that resets the state at every window of the
validation text.

Each check binds what the notebook's later cells use (``binds``): the learner's answer when it
passes, otherwise the course's own (``_unigram_entropy``, ``_detach_state``,
``_nats_to_bits_and_perplexity``, the decision computed from the validation text, and the
measured loss with resets), so that the notebook runs on whatever was skipped.
"""

from __future__ import annotations

import math

import torch

from rnnlib.checks._common import CheckFailed, binds, expect, expect_answered, passed


def _number(value, name: str) -> float:
    """A Python float from a number or a one-element tensor, or a helpful CheckFailed."""
    expect_answered(value, name)
    if isinstance(value, torch.Tensor):
        expect(value.numel() == 1, f"{name} should be one number, got a tensor of shape "
                                   f"{tuple(value.shape)}")
        value = value.item()
    expect(isinstance(value, int | float) and not isinstance(value, bool),
           f"{name} should be a number, got {type(value).__name__} {value!r}")
    return float(value)


def _unigram_entropy(text: str) -> float:
    """The course's answer to Exercise 08.1: -sum p ln p over the character frequencies."""
    from collections import Counter

    n = len(text)
    return -sum(c / n * math.log(c / n) for c in Counter(text).values())


@binds("unigram_entropy", reference=lambda fn: _unigram_entropy)
def charlm_unigram_entropy(fn) -> None:
    """Exercise 08.1: ``fn(text)`` -> the entropy of its character frequencies, in nats."""
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
        got = _number(got, call)
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


_WORD_PERPLEXITY = 300     # the word model of Exercise 3, per token
_CHAR_BITS = 2.30          # the character model of Exercise 3, bits per character
_WORD_TOKENS = r"[A-Za-z']+|[^A-Za-z'\s]"   # words and punctuation marks; spaces not predicted
_MODELS = ("character model", "word model")


def _nats_to_bits_and_perplexity(loss_nats: float) -> tuple[float, float]:
    """The course's answer to Exercise 08.3: bits = nats / ln 2, perplexity = exp(nats)."""
    return loss_nats / math.log(2), math.exp(loss_nats)


def _better_model(val_text) -> str | None:
    """The model of Exercise 08.3 with the lower loss per character of ``val_text``."""
    import re

    if not isinstance(val_text, str) or not val_text:
        return None
    tokens = len(re.findall(_WORD_TOKENS, val_text))
    word_nats = tokens * math.log(_WORD_PERPLEXITY) / len(val_text)
    return "word model" if word_nats < _CHAR_BITS * math.log(2) else "character model"


@binds("nats_to_bits_and_perplexity", "better",
       reference=lambda fn, better=None, *, val_text=None: (_nats_to_bits_and_perplexity,
                                                            _better_model(val_text)))
def charlm_units(fn, better=None, *, val_text: str | None = None) -> None:
    """Exercise 08.3: ``fn(loss_nats)`` -> ``(bits_per_char, perplexity)``; then a decision:
    ``better`` is ``"character model"`` (2.30 bits per character) or ``"word model"`` (a
    perplexity of 300 per token of ``val_text``, tokens = words and punctuation marks), the one
    that predicts the validation text better, compared in one unit: loss per character.
    """
    import re

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
        bits = _number(got[0], f"the bits of {call}")
        ppl = _number(got[1], f"the perplexity of {call}")
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
    expect(isinstance(val_text, str) and len(val_text) > 0,
           f"val_text should be the validation text (a str), got {type(val_text).__name__}")
    if better is None or better is Ellipsis:
        raise CheckFailed('the conversions are right. Now the decision: set better = '
                          '"character model" or "word model", the one that predicts the '
                          "validation text better")
    choice = better.strip().lower() if isinstance(better, str) else better
    if choice not in _MODELS:
        raise CheckFailed(f"better should be one of {', '.join(map(repr, _MODELS))}, got "
                          f"{better!r}")
    tokens = len(re.findall(_WORD_TOKENS, val_text))
    word_nats = tokens * math.log(_WORD_PERPLEXITY) / len(val_text)   # per character
    char_nats = _CHAR_BITS * math.log(2)
    right = _better_model(val_text)
    if choice != right:
        raise CheckFailed(
            f"not the {choice}. Per token the word model pays ln {_WORD_PERPLEXITY} = "
            f"{math.log(_WORD_PERPLEXITY):.2f} nats and the character model {char_nats:.2f}, "
            "but a perplexity is per token, and the two models have different tokens. Compare "
            f"the total over the text: {tokens:,} word tokens against {len(val_text):,} "
            "characters, so per character the word model pays "
            f"{tokens:,} x {math.log(_WORD_PERPLEXITY):.2f} / {len(val_text):,}")
    passed(f"bits = nats / ln 2 and perplexity = exp(nats); ln 65 nats is a perplexity of 65. "
           f"The word model's {tokens:,} tokens at ln {_WORD_PERPLEXITY} nats each are "
           f"{word_nats:.3f} nats = {word_nats / math.log(2):.3f} bits per character of the "
           f"{len(val_text):,}, against the character model's {_CHAR_BITS:.2f} bits: the "
           f"{right} predicts this text better")


def _detach_state(state):
    """The course's answer to Exercise 08.2 (``rnnlib.train.detach`` does the same)."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple | list):
        return type(state)(_detach_state(s) for s in state)
    return state


@binds("detach_state", reference=lambda fn: _detach_state)
def charlm_detach_state(fn) -> None:
    """Exercise 08.2: ``fn(state)`` -> the state with every tensor detached, same structure."""
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


def _reset_losses(model, rows: torch.Tensor, window: int) -> tuple[float, float]:
    """Mean cross-entropy over ``rows`` read in windows of ``window``, each window from the
    zero state: weighted by characters (right) and as the plain mean of window means (a slip)."""
    import torch.nn.functional as F

    from rnnlib.data import bptt_batches

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count, window_means = 0.0, 0, []
    with torch.no_grad():
        for x, y in bptt_batches(rows, window):
            logits, _ = model(x.to(device))               # no state: starts from zeros
            ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                 y.to(device).reshape(-1), reduction="sum").item()
            total, count = total + ce, count + y.numel()
            window_means.append(ce / y.numel())
    model.train(was_training)
    return total / count, sum(window_means) / len(window_means)


def _reset_reference(predicted_nats, reset_nats, *, model, val_rows, carried_nats, window=32):
    """The course's answers to Exercise 08.4: the learner's prediction when it is a usable
    number (a prediction has no right answer; otherwise None), and the measured loss."""
    try:
        predicted = _number(predicted_nats, "predicted_nats")
    except CheckFailed:
        predicted = None
    if predicted is not None and not (math.isfinite(predicted) and predicted > 0):
        predicted = None
    return predicted, _reset_losses(model, val_rows, window)[0]


@binds("predicted_nats", "reset_nats", reference=_reset_reference)
def charlm_reset_experiment(predicted_nats, reset_nats, *, model, val_rows: torch.Tensor,
                            carried_nats: float, window: int = 32) -> None:
    """Exercise 08.4 (experiment): the validation loss when the state is reset to zero at the
    start of every ``window`` characters, against a prediction written down beforehand.

    ``model(x)`` -> ``(logits, state)`` is the notebook's ``CharLM``; ``val_rows`` the (B, N)
    validation rows; ``carried_nats`` the loss with the state carried through each row.
    """
    expect(isinstance(val_rows, torch.Tensor) and val_rows.dim() == 2,
           f"val_rows should be the (B, N) validation rows from data.batchify, got "
           f"{type(val_rows).__name__}")
    carried = _number(carried_nats, "carried_nats")
    if predicted_nats is None or predicted_nats is Ellipsis:
        raise CheckFailed("predicted_nats is still None: write down your prediction first, a "
                          "number in nats per character, before you measure (a guess is fine: "
                          "the point is to compare it with what you measure)")
    predicted = _number(predicted_nats, "predicted_nats")
    expect(math.isfinite(predicted) and predicted > 0,
           f"predicted_nats = {predicted!r}: a loss in nats per character is a positive number")
    measured = _number(reset_nats, "reset_nats")
    right, plain_mean = _reset_losses(model, val_rows, window)
    if abs(measured - right) > 1e-3:
        if abs(measured - carried) < 1e-3:
            raise CheckFailed(f"reset_nats = {measured:.4f} is the loss with the state carried "
                              f"({carried:.4f}): each window must start from the zero state. "
                              "Call the model without a state, and do not pass on the state it "
                              "returns")
        if abs(measured - plain_mean) < 1e-4:
            raise CheckFailed(f"reset_nats = {measured:.4f} is the plain mean of the windows' "
                              "mean losses, but the last window is shorter than the others: add "
                              "up the loss of every character (or weight each window's mean by "
                              "its number of targets) and divide by the number of characters")
        for other in (window // 2, window * 2, 100, 256):
            if abs(measured - _reset_losses(model, val_rows, other)[0]) < 1e-4:
                raise CheckFailed(f"reset_nats = {measured:.4f} is the loss with resets every "
                                  f"{other} characters; the experiment resets every {window}: "
                                  f"use windows of {window} (data.bptt_batches(val_rows, "
                                  f"{window}))")
        raise CheckFailed(f"reset_nats = {measured:.4f}, but the validation rows read in windows "
                          f"of {window}, each from the zero state, score {right:.4f} nats per "
                          "character: use every window of data.bptt_batches(val_rows, "
                          f"{window}), the model in eval mode under torch.no_grad(), and the "
                          "mean over all characters")
    cost = right - carried
    passed(f"with the state reset every {window} characters the loss is {right:.3f} nats/char, "
           f"{cost:+.3f} ({cost / carried:+.0%}) against {carried:.3f} with the state carried; "
           f"you predicted {predicted:.3f} ({predicted - right:+.3f} from the measurement)")
