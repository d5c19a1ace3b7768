"""Self-checks of notebook 11, sequence to sequence (``11-seq2seq.ipynb``): attention weights
with padding masked, the softmax's backward pass derived by hand, a prediction of the
accuracy on inputs longer than any seen in training, and a decision between greedy decoding
and a small beam.
"""

from __future__ import annotations

import math

import torch

from rnnlib.checks._common import CheckFailed, binds, expect, expect_answered, is_close, passed


def _masked_weights(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The course's answer to exercise 11.1: softmax over the unmasked source steps."""
    return torch.softmax(scores.masked_fill(~mask[:, None, :], float("-inf")), dim=-1)


def _softmax_backward(alpha: torch.Tensor, grad_alpha: torch.Tensor) -> torch.Tensor:
    """The course's answer to exercise 11.2: dL/de = alpha * (dL/dalpha - sum_j alpha_j dL/dalpha_j)."""
    return alpha * (grad_alpha - (alpha * grad_alpha).sum(-1, keepdim=True))


def _example(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(3, 4, 6, generator=g, dtype=torch.float64)
    lengths = torch.tensor([6, 4, 2])
    mask = torch.arange(6)[None, :] < lengths[:, None]
    return scores, mask


@binds("masked_weights", reference=lambda fn: _masked_weights)
def masked_weights(fn) -> None:
    """Exercise 11.1: attention weights that give padding exactly zero and sum to one."""
    expect(callable(fn), f"masked_weights should be a function, got {type(fn).__name__}")
    scores, mask = _example()
    got = fn(scores.clone(), mask.clone())
    expect_answered(got, "masked_weights(scores, mask)")
    expect(isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(scores.shape),
           f"masked_weights(scores, mask) should return a tensor of the scores' shape "
           f"{tuple(scores.shape)} (B, T, S), got "
           f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
    got = got.double()
    expect(not torch.isnan(got).any(), "the weights contain NaN: did you fill the padding with "
                                       "-inf after the softmax, or multiply -inf by 0?")
    on_padding = got.masked_select(~mask[:, None, :].expand_as(got))
    if is_close(got, torch.softmax(scores, -1)):
        raise CheckFailed("these are the softmax of all the scores: the padding (mask False) "
                          "still takes weight. Give its scores -inf before the softmax.")
    expect(bool((on_padding.abs() < 1e-12).all()),
           f"padding should get weight exactly 0, got up to {on_padding.abs().max():.3g}")
    if is_close(got, torch.softmax(scores, -1) * mask[:, None, :]):
        raise CheckFailed("the padding got weight 0 only after the softmax, so the real steps "
                          "do not sum to 1: mask the scores before the softmax")
    expect(is_close(got.sum(-1), torch.ones(got.shape[:-1], dtype=got.dtype)),
           "the weights of each query should sum to 1 over the source steps (softmax over the "
           "last axis, S)")
    expect(is_close(got, _masked_weights(scores, mask)),
           "padding gets 0 and the weights sum to 1, but they are not the softmax of the "
           "unmasked scores: softmax over the last axis (S), with exp(-inf) = 0 for padding")
    passed("masked_weights: padding gets weight 0, the real steps share 1 by softmax")


@binds("softmax_backward", reference=lambda fn: _softmax_backward)
def softmax_backward(fn) -> None:
    """Exercise 11.2: dL/de from alpha = softmax(e) and dL/dalpha, checked against autograd."""
    expect(callable(fn), f"softmax_backward should be a function, got {type(fn).__name__}")
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(2, 3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    grad_alpha = torch.randn(2, 3, 5, generator=g, dtype=torch.float64)
    alpha = torch.softmax(scores, -1)
    (right,) = torch.autograd.grad(alpha, scores, grad_alpha)
    got = fn(alpha.detach().clone(), grad_alpha.clone())
    expect_answered(got, "softmax_backward(alpha, grad_alpha)")
    expect(isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(scores.shape),
           f"softmax_backward should return dL/de of shape {tuple(scores.shape)} (B, T, S), got "
           f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
    a = alpha.detach()
    if is_close(got, a * (1 - a) * grad_alpha):
        raise CheckFailed("you kept only the diagonal of the Jacobian, alpha_i (1 - alpha_i): "
                          "each e_j moves every alpha_i (they share one denominator), so "
                          "dL/de_j also collects -alpha_i alpha_j dL/dalpha_i for i != j")
    if is_close(got, a * grad_alpha):
        raise CheckFailed("alpha * dL/dalpha is only the first term: subtract the weighted "
                          "mean, sum_i alpha_i dL/dalpha_i, inside the bracket")
    expect(is_close(got, right, atol=1e-10, rtol=1e-8),
           "your dL/de differs from autograd's: write the Jacobian dalpha_i/de_j = alpha_i "
           "(delta_ij - alpha_j) and contract it with dL/dalpha")
    passed("softmax_backward: dL/de = alpha * (dL/dalpha - sum_i alpha_i dL/dalpha_i), equal to "
           "autograd's")


@binds("prediction", reference=lambda prediction, plain, attention: float(plain))
def longer_inputs(prediction, plain: float, attention: float) -> None:
    """Exercise 11.3: a prediction (a fraction, 0..1) of the plain model's exact match on
    inputs longer than any in training, judged against the measurement."""
    expect_answered(prediction, "prediction")
    try:
        value = float(prediction)
    except (TypeError, ValueError):
        raise CheckFailed(f"prediction should be a number between 0 and 1 (a fraction of "
                          f"strings reversed exactly), got {prediction!r}") from None
    expect(0.0 <= value <= 1.0 and not math.isnan(value),
           f"prediction should be a fraction between 0 and 1, got {value}")
    passed(f"your prediction for the plain model: {value:.2f}; measured on the longer inputs: "
           f"plain {plain:.3f}, attention {attention:.3f}")


_BEAM_CHOICES = ("plain", "attention", "both", "neither")


def _beam_answer(exact) -> str:
    """Whose exact match a beam raised by at least a point: exact = {name: (greedy, beam)}."""
    helped = [name for name in ("plain", "attention") if exact[name][1] - exact[name][0] >= 0.01]
    return "both" if len(helped) == 2 else helped[0] if helped else "neither"


@binds("beam_helps", reference=lambda beam_helps, exact: _beam_answer(exact))
def beam_decision(beam_helps, exact) -> None:
    """Exercise 11.4: a decision made before measuring, ``beam_helps`` one of "plain",
    "attention", "both", "neither" (whose exact match a beam of 3 raises by at least 0.01),
    set beside the measurement ``exact = {"plain": (greedy, beam), "attention": (greedy, beam)}``.
    Like a prediction, a decision the measurement contradicts is not an error: the check says
    which way the measurement went."""
    expect_answered(beam_helps, "beam_helps")
    choice = beam_helps.strip().lower() if isinstance(beam_helps, str) else beam_helps
    expect(choice in _BEAM_CHOICES, f"beam_helps should be one of "
           f"{', '.join(map(repr, _BEAM_CHOICES))}, got {beam_helps!r}")
    expect(isinstance(exact, dict) and set(exact) == {"plain", "attention"}
           and all(len(v) == 2 for v in exact.values()),
           f"exact should map 'plain' and 'attention' to (greedy, beam) exact matches, got {exact!r}")
    measured = _beam_answer(exact)
    rises = "; ".join(f"{name} {exact[name][0]:.3f} -> {exact[name][1]:.3f}"
                      for name in ("plain", "attention"))
    verdict = ("the measurement agrees" if choice == measured else
               f"the measurement says {measured!r}: set your reasoning beside the model answer")
    passed(f"you decided {choice!r}; exact match, greedy -> beam of 3: {rises}; {verdict}")
