"""Self-checks of notebook 03, gradients (``03-gradients.ipynb``): the Jacobian of one leaky
tanh step (derived), spectral radius against largest singular value (and what it decides), the
experiment with W_hh = rho Q, and global-norm clipping with the longest update of SGD with
momentum (derived).
"""

from __future__ import annotations

import torch

from rnnlib.checks._common import (
    CheckFailed,
    binds,
    expect,
    expect_answered,
    expect_close,
    expect_shape,
    passed,
)


def _leaky_problem(seed: int = 0):
    """A leaky tanh step in float64: (u_t, W_hh, alpha), with u_t = tanh(a) bent enough that
    every typical mistake gives a visibly different matrix."""
    g = torch.Generator().manual_seed(seed)
    H = 5
    W_hh = torch.randn(H, H, generator=g, dtype=torch.float64)
    u_t = torch.tanh(1.5 * torch.randn(H, generator=g, dtype=torch.float64))
    return u_t, W_hh, 0.3


def _leaky_jacobian(u_t: torch.Tensor, W_hh: torch.Tensor, alpha: float) -> torch.Tensor:
    eye = torch.eye(W_hh.shape[0], dtype=W_hh.dtype)
    return (1 - alpha) * eye + alpha * torch.diag(1 - u_t**2) @ W_hh


def _step_jacobian(u_t: torch.Tensor, W_hh: torch.Tensor, alpha: float) -> torch.Tensor:
    """The course's answer to exercise 03.1: (1 - alpha) I + alpha diag(1 - u_t²) W_hh."""
    return _leaky_jacobian(u_t, W_hh, alpha)


@binds("step_jacobian", reference=lambda fn: _step_jacobian)
def step_jacobian(fn) -> None:
    """Exercise 03.1: the one-step Jacobian of a leaky tanh RNN,
    h_t = (1 - alpha) h_{t-1} + alpha tanh(a_t), a_t = W_ih x_t + W_hh h_{t-1}.

    ``fn(u_t, W_hh, alpha)``, with u_t = tanh(a_t) of shape (H,), must return
    ∂h_t/∂h_{t-1} = (1 - alpha) I + alpha diag(1 - u_t²) W_hh, of shape (H, H).
    """
    expect_answered(fn, "step_jacobian")
    u_t, W_hh, alpha = _leaky_problem()
    H = u_t.shape[0]
    got = fn(u_t.clone(), W_hh.clone(), alpha)
    expect_answered(got, "step_jacobian(u_t, W_hh, alpha)")
    expect(isinstance(got, torch.Tensor), f"step_jacobian should return a torch.Tensor, got "
                                          f"{type(got).__name__}")
    if tuple(got.shape) == (H,):
        raise CheckFailed(f"step_jacobian returned a vector of shape ({H},): the Jacobian is a "
                          f"matrix, (H, H), one row per unit of h_t and one column per unit of "
                          f"h_(t-1)")
    expect_shape(got, (H, H), "step_jacobian(u_t, W_hh, alpha)")
    got = got.to(torch.float64)
    eye = torch.eye(H, dtype=torch.float64)
    slope = torch.diag(1 - u_t**2)
    mistakes = [
        (slope @ W_hh, "that is the plain RNN's Jacobian, the case alpha = 1. The leaky step "
         "has two terms: (1 - alpha) h_(t-1) contributes (1 - alpha) times the identity, and "
         "the tanh term enters scaled by alpha"),
        (alpha * slope @ W_hh, "the leak is missing: h_t = (1 - alpha) h_(t-1) + ... depends on "
         "h_(t-1) directly too, and that term contributes (1 - alpha) times the identity"),
        ((1 - alpha) * eye + slope @ W_hh, "the tanh term is missing its factor alpha: "
         "h_t = ... + alpha tanh(a_t), so its Jacobian is scaled by alpha too"),
        (alpha * eye + (1 - alpha) * slope @ W_hh, "alpha and 1 - alpha are swapped: the old "
         "state is kept with weight 1 - alpha, the tanh term enters with weight alpha"),
        ((1 - alpha) + alpha * slope @ W_hh, "(1 - alpha) was added to every entry of the "
         "matrix; it belongs on the diagonal only: (1 - alpha) times the identity (H, H)"),
        ((1 - alpha) * eye + alpha * W_hh @ slope, "the slopes are on the wrong side of W_hh: "
         "multiplying by diag(1 - u_t**2) on the right scales the columns. Row i of the tanh "
         "term is unit i's own slope times row i of W_hh, so the diagonal goes on the left"),
        (_leaky_jacobian(u_t, W_hh, alpha).T, "that is the transpose: ∂h_t/∂h_(t-1) has one "
         "row per unit of h_t (backpropagation multiplies by its transpose)"),
        ((1 - alpha) * eye + alpha * W_hh, "the slope of tanh is missing from the second term: "
         "the chain rule through tanh(a_t) multiplies by tanh'(a_t) for each unit"),
        ((1 - alpha) * eye + alpha * torch.diag(1 - torch.tanh(u_t) ** 2) @ W_hh,
         "tanh was applied twice: u_t is already tanh(a_t), so tanh'(a_t) = 1 - u_t**2"),
        ((1 - alpha) * eye + alpha * torch.diag(1 - u_t) @ W_hh, "the slope of tanh is "
         "1 - u_t**2 (tanh' = 1 - tanh²), not 1 - u_t"),
    ]
    right = _leaky_jacobian(u_t, W_hh, alpha)
    if not torch.allclose(got, right, atol=1e-6, rtol=1e-5):
        for wrong, message in mistakes:
            if torch.allclose(got, wrong, atol=1e-6, rtol=1e-5):
                raise CheckFailed(message)
    expect_close(got, right, "step_jacobian(u_t, W_hh, alpha)", atol=1e-6, rtol=1e-5)
    # and it must be autograd's Jacobian of a second leaky step, with another alpha
    g = torch.Generator().manual_seed(1)
    x_part = torch.randn(H, dtype=torch.float64, generator=g)
    h_prev = torch.randn(H, dtype=torch.float64, generator=g)
    beta = 0.8

    def leaky(h):
        return (1 - beta) * h + beta * torch.tanh(x_part + W_hh @ h)

    auto = torch.autograd.functional.jacobian(leaky, h_prev)
    u_new = torch.tanh(x_part + W_hh @ h_prev)
    expect_close(torch.as_tensor(fn(u_new, W_hh, beta)).to(torch.float64), auto,
                 "step_jacobian on a second step with alpha = 0.8 (compared with "
                 "torch.autograd.functional.jacobian)", atol=1e-6, rtol=1e-5)
    passed("(1 - α) I + α diag(1 - u_t²) W_hh: equal to autograd's Jacobian of a leaky tanh "
           "step. With α = 1 it is the plain RNN's; as α shrinks it tends to the identity: a "
           "step that keeps most of the old state, and passes most of the gradient back")


def _matrix() -> torch.Tensor:
    """A non-normal 4x4 matrix: spectral radius 0.92 (complex pair 0.2 ± 0.9i), σ_max ≈ 3.08."""
    W = torch.zeros(4, 4, dtype=torch.float64)
    W[:2, :2] = torch.tensor([[0.5, 3.0], [0.0, 0.5]], dtype=torch.float64)
    W[2:, 2:] = torch.tensor([[0.2, -0.9], [0.9, 0.2]], dtype=torch.float64)
    return W


def _radius_and_norm(W: torch.Tensor) -> tuple[float, float]:
    """The course's answer to exercise 03.2: (spectral radius, largest singular value)."""
    return float(torch.linalg.eigvals(W).abs().max()), float(torch.linalg.svdvals(W)[0])


@binds("radius_and_norm", "long_run", reference=lambda fn, long_run=None: (_radius_and_norm,
                                                                            "vanish"))
def radius_and_norm(fn, long_run=None) -> None:
    """Exercise 03.2: ``fn(W)`` -> (spectral radius, largest singular value) as floats, and
    ``long_run``, the learner's decision for the matrix ``W_demo`` of the notebook (the one
    built here by ``_matrix``): does ‖W^k‖ "vanish" or "explode" as k grows?"""
    expect_answered(fn, "radius_and_norm")
    W = _matrix()
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
    expect_answered(long_run, "long_run")
    verdict = str(long_run).strip().lower() if isinstance(long_run, str) else long_run
    expect(verdict in ("vanish", "explode"),
           f'long_run should be "vanish" or "explode", got {long_run!r}')
    norms = [float(torch.linalg.matrix_norm(torch.linalg.matrix_power(W, k), ord=2))
             for k in (1, 5, 100)]
    if verdict == "explode":
        raise CheckFailed(f"not so: ‖W^k‖ is {norms[0]:.3g} at k = 1, {norms[1]:.3g} at k = 5 "
                          f"and {norms[2]:.1e} at k = 100. σ_max = {right_sigma:.3g} > 1 only "
                          f"says that one step CAN stretch some vector; over many steps W^k "
                          f"shrinks or grows as (spectral radius)^k, and the radius is "
                          f"{right_radius:.3g} < 1")
    passed(f"spectral radius {right_radius:.3g} ≤ σ_max {right_sigma:.3g}, and yes, it vanishes: "
           f"‖W^k‖ is {norms[0]:.3g} at k = 1, {norms[1]:.3g} at k = 5, {norms[2]:.1e} at "
           f"k = 100. One step of this non-normal W can stretch by {right_sigma:.2f}, yet W^k "
           f"shrinks as {right_radius:.2f}^k in the long run")


_SCALES = (0.9, 1.1)
_WORDS = ("shrinks", "grows")


def _by_scale(mapping, name: str, kind: str) -> dict:
    """``mapping`` as {0.9: ..., 1.1: ...}, or a CheckFailed that says what shape it needs."""
    expect_answered(mapping, name)
    example = ('{0.9: "shrinks", 1.1: "grows"}' if kind == "word"
               else "{0.9: ratio_at_0_9, 1.1: ratio_at_1_1}")
    expect(isinstance(mapping, dict), f"{name} should be a dict like {example}, got "
                                      f"{type(mapping).__name__}")
    out = {}
    for rho in _SCALES:
        keys = [k for k in mapping if isinstance(k, int | float) and abs(k - rho) < 1e-9]
        expect(bool(keys), f"{name} has no entry for rho = {rho}: use the keys 0.9 and 1.1, "
                           f"like {example}")
        out[rho] = mapping[keys[0]]
    return out


def _scaled_ratio(rho: float, T: int, hidden: int, seed: int) -> float:
    """‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ (batch means, summed squared error) of section 3's untrained
    tanh RNN with a linear head, built with ``seed``, its W_hh set to rho Q, on the probe batch
    of the adding problem (64 sequences of length T, drawn with ``seed``)."""
    import torch.nn.functional as F
    from torch import nn

    from rnnlib import data, scratch

    x, y = data.adding_problem(n=64, length=T, seed=seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        rnn, head = nn.RNN(2, hidden, batch_first=True), nn.Linear(hidden, 1)
    q, _ = torch.linalg.qr(torch.randn(hidden, hidden, generator=torch.Generator().manual_seed(
        seed)))
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(rho * q)
    h, states = x.new_zeros(x.shape[0], hidden), []
    for x_t in F.linear(x, rnn.weight_ih_l0, rnn.bias_ih_l0).unbind(1):
        h = scratch.rnn_step(x_t, h, rnn.weight_hh_l0, rnn.bias_hh_l0)
        states.append(h)
    loss = ((head(h).squeeze(-1) - y) ** 2).sum()
    grads = torch.autograd.grad(loss, [states[0], states[-1]])
    first, last = (g.norm(dim=1).mean().item() for g in grads)
    return first / last


def _w_hh_scale_reference(prediction, measured, T, *, hidden: int = 32, seed: int = 0):
    """The course's answers to exercise 03.3: the learner's prediction where it is one of the
    two words (a guess is not wrong), else what was measured; and the ratios measured."""
    ratios = {rho: _scaled_ratio(rho, T, hidden, seed) for rho in _SCALES}
    guesses = prediction if isinstance(prediction, dict) else {}
    made = {rho: guesses.get(rho) for rho in _SCALES}
    return ({rho: made[rho] if isinstance(made[rho], str) and made[rho].strip().lower() in _WORDS
             else _WORDS[ratio > 1] for rho, ratio in ratios.items()}, ratios)


@binds("prediction", "measured", reference=_w_hh_scale_reference)
def w_hh_scale_experiment(prediction, measured, T, *, hidden: int = 32, seed: int = 0) -> None:
    """Exercise 03.3, an experiment: ``prediction`` and ``measured`` for W_hh = rho Q.

    ``prediction`` maps 0.9 and 1.1 to "shrinks" or "grows": what the learner expected the
    gradient to do on its way from h_T back to h_1. ``measured`` maps them to the ratio
    ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ (batch means) measured on the untrained RNN over ``T`` steps.
    The measurement is judged by a theorem: with σ_max(W_hh) = rho and tanh slopes at most 1,
    no gradient can grow by more than rho per step, so each ratio is at most rho^(T-1).
    ``hidden`` and ``seed`` (the notebook's HIDDEN and SEED) only serve the course's own
    measurement, bound when the learner's is missing or wrong.
    """
    guesses = _by_scale(prediction, "prediction", "word")
    for rho, guess in guesses.items():
        expect_answered(guess, f"prediction[{rho}]")
        expect(isinstance(guess, str) and guess.strip().lower() in _WORDS,
               f'prediction[{rho}] should be "shrinks" or "grows" (your guess, written down '
               f'before you measure), got {guess!r}')
    values = _by_scale(measured, "measured", "number")
    ratios = {}
    for rho, value in values.items():
        expect_answered(value, f"measured[{rho}]")
        try:
            ratios[rho] = float(value)
        except (TypeError, ValueError, RuntimeError):
            raise CheckFailed(f"measured[{rho}] should be one number, the ratio "
                              f"‖∂L/∂h_1‖ / ‖∂L/∂h_T‖, got {value!r}") from None
        expect(ratios[rho] >= 0 and ratios[rho] < float("inf"),
               f"measured[{rho}] is {ratios[rho]}: a ratio of two norms is a finite number ≥ 0")
    expect(isinstance(T, int) and not isinstance(T, bool) and T >= 2,
           f"T should be the sequence length, an int ≥ 2 (GRAD_T), got {T!r}")
    for rho, ratio in ratios.items():
        bound = rho ** (T - 1)
        if ratio > bound * (1 + 1e-3) + 1e-30:
            if ratio > 0 and 1 / ratio <= bound * (1 + 1e-3):
                raise CheckFailed(f"measured[{rho}] = {ratio:.3g} looks upside down: the ratio "
                                  f"asked for is ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖, the first time step's "
                                  f"norm divided by the last one's")
            raise CheckFailed(f"measured[{rho}] = {ratio:.3g} is impossible for W_hh = {rho} Q: "
                              f"one step can stretch by at most σ_max(W_hh) = {rho}, so over "
                              f"{T - 1} steps by at most {rho}^{T - 1} = {bound:.3g}. Was "
                              f"W_hh really set to {rho} times an orthogonal matrix (and the "
                              f"ratio taken over T = {T} steps)?")
    low, high = ratios[0.9], ratios[1.1]
    if abs(high - low) <= 1e-6 * max(abs(low), 1e-300):
        raise CheckFailed("the two measurements are equal: set the model's weight_hh_l0 to "
                          "rho * Q before each measurement (and measure the model you changed)")
    if high < low:
        raise CheckFailed(f"the gradient reached h_1 less well with rho = 1.1 ({high:.3g}) than "
                          f"with 0.9 ({low:.3g}): with the same Q, the larger scale should let "
                          f"more through. Are the two entries swapped?")
    lines = []
    for rho, ratio in ratios.items():
        outcome = "grows" if ratio > 1 else "shrinks"
        per_step = ratio ** (1 / (T - 1)) if ratio > 0 else 0.0
        held = "as you predicted" if guesses[rho].strip().lower() == outcome else \
            "NOT as you predicted"
        lines.append(f"  rho = {rho}: ratio {ratio:.2e} over {T - 1} steps, a factor "
                     f"{per_step:.3f} per step: it {outcome}, {held}")
    if high <= 1:
        why = ("Even at rho = 1.1 the gradient shrinks: σ_max > 1 is necessary for growth, not "
               "sufficient. A tanh slope 1 - h² is below 1 wherever a unit is away from 0, "
               "and the inputs and biases push the units away from 0; here that costs more "
               "than the 10% per step that rho = 1.1 adds (section 2's tanh curves cross 1 "
               "above rho = 1 for the same reason).")
    else:
        why = ("At rho = 1.1 the gradient grows: the slopes 1 - h² of these units stay close "
               "enough to 1 that the 10% per step wins over saturation. Section 2's weakly "
               "driven tanh RNN crossed 1 just above rho = 1 in the same way.")
    passed("measured, for the untrained RNN with W_hh = rho Q:\n" + "\n".join(lines) + "\n  "
           + why)


def _grads(scale: float, seed: int = 0) -> list:
    g = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (4,), (2, 4)]
    grads = [torch.randn(*s, generator=g) for s in shapes]
    total = torch.sqrt(sum((t**2).sum() for t in grads))
    return [t * (scale / total) for t in grads]


def _torch_clip(grads: list, max_norm: float) -> list:
    params = [torch.zeros_like(t, requires_grad=True) for t in grads]
    for p, t in zip(params, grads, strict=True):
        p.grad = t.clone()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad for p in params]


# the SGD run of section 4 whose longest update exercise 03.4 asks for
_LR, _MOMENTUM, _CLIP = 0.05, 0.9, 1.0


def _clip_global_norm(grads: list, max_norm: float) -> list:
    """The course's answer to exercise 03.4: every gradient times min(1, max_norm / total)."""
    total = float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads)))
    scale = min(1.0, max_norm / (total + 1e-6))   # torch adds 1e-6 too
    return [g * scale for g in grads]


@binds("clip_global_norm", "max_update",
       reference=lambda fn, max_update=None: (_clip_global_norm, _LR * _CLIP / (1 - _MOMENTUM)))
def clip_global_norm(fn, max_update=None) -> None:
    """Exercise 03.4: ``fn(grads, max_norm)`` -> the gradients clipped by their global norm;
    ``max_update``: the bound on the length of one update of SGD with momentum 0.9, lr 0.05,
    on gradients clipped at 1, derived by the learner (lr * c / (1 - momentum) = 0.5)."""
    expect_answered(fn, "clip_global_norm")
    for total, max_norm in [(5.0, 1.0), (0.5, 1.0), (3.0, 2.0)]:
        grads = _grads(total)
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
        right = _torch_clip(originals, max_norm)
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
    _check_max_update(max_update)
    passed("global-norm clipping equals torch.nn.utils.clip_grad_norm_ (above and below the "
           f"threshold), and no update can be longer than lr * c / (1 - momentum) = "
           f"{_LR * _CLIP / (1 - _MOMENTUM):g}: momentum adds up to 1 / (1 - momentum) = "
           f"{1 / (1 - _MOMENTUM):g} clipped gradients")


def _check_max_update(max_update) -> None:
    expect_answered(max_update, "max_update")
    try:
        value = float(max_update)
    except (TypeError, ValueError, RuntimeError):
        raise CheckFailed(f"max_update should be one number, the longest an update can be, "
                          f"got {max_update!r}") from None
    lr, mu, c = _LR, _MOMENTUM, _CLIP
    right = lr * c / (1 - mu)

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= 1e-6 + 1e-4 * abs(b)

    if close(value, right):
        return
    mistakes = [
        (lr * c, "that is one clipped gradient times the learning rate, the update without "
         "momentum. With momentum the update is lr * v_t, and v_t = g_t + 0.9 v_(t-1) keeps "
         "adding the earlier clipped gradients: how long can v_t get?"),
        (c / (1 - mu), "that is the longest v_t can get; the update is lr * v_t"),
        (lr * c * mu / (1 - mu), "v_t = g_t + mu v_(t-1) includes the current gradient g_t "
         "itself: the series is 1 + mu + mu² + ..., which starts at 1"),
        (lr * c * (1 + mu), "that adds two gradients, g_t and mu g_(t-1); v_(t-1) holds "
         "all the earlier ones too, so the sum continues: 1 + mu + mu² + ..."),
        (lr * c / mu, "the series 1 + mu + mu² + ... sums to 1 / (1 - mu), not 1 / mu"),
        (lr * c * (1 - mu), "the series 1 + mu + mu² + ... sums to 1 / (1 - mu), not (1 - mu)"),
    ]
    for wrong, message in mistakes:
        if close(value, wrong):
            raise CheckFailed(f"max_update = {value:g}: {message}")
    raise CheckFailed(f"max_update = {value:g} is not the bound: follow one update, "
                      f"theta <- theta - lr * v_t with v_t = g_t + mu v_(t-1), every ‖g‖ ≤ c, "
                      f"and bound ‖v_t‖ by the triangle inequality (lr = {lr}, mu = {mu}, "
                      f"c = {c})")

