"""Self-checks of notebook 03, gradients (``03-gradients.ipynb``): the Jacobian of one tanh
step, spectral radius against largest singular value, and global-norm clipping.
"""

from __future__ import annotations

import torch

from rnnlib.checks._common import (
    CheckFailed,
    expect,
    expect_answered,
    expect_close,
    expect_shape,
    passed,
)


def _step_problem(seed: int = 0):
    """A tanh step in float64: (h_t, W_hh) with h_t = tanh(a), large enough that tanh bends."""
    g = torch.Generator().manual_seed(seed)
    H = 5
    W_hh = torch.randn(H, H, generator=g, dtype=torch.float64)
    h_t = torch.tanh(1.5 * torch.randn(H, generator=g, dtype=torch.float64))
    return h_t, W_hh


def step_jacobian(fn) -> None:
    """Exercise 03.1: ``fn(h_t, W_hh)`` -> ∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hh, (H, H)."""
    expect_answered(fn, "step_jacobian")
    h_t, W_hh = _step_problem()
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


def _matrix() -> torch.Tensor:
    """A non-normal 4x4 matrix: spectral radius 0.92 (complex pair 0.2 ± 0.9i), σ_max ≈ 3.08."""
    W = torch.zeros(4, 4, dtype=torch.float64)
    W[:2, :2] = torch.tensor([[0.5, 3.0], [0.0, 0.5]], dtype=torch.float64)
    W[2:, 2:] = torch.tensor([[0.2, -0.9], [0.9, 0.2]], dtype=torch.float64)
    return W


def radius_and_norm(fn) -> None:
    """Exercise 03.2: ``fn(W)`` -> (spectral radius, largest singular value) as floats."""
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
    passed(f"spectral radius {right_radius:.3g} ≤ σ_max {right_sigma:.3g}: for this non-normal "
           f"W one step can stretch by {right_sigma:.2f}, yet W^k still shrinks as "
           f"{right_radius:.2f}^k")


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


def clip_global_norm(fn) -> None:
    """Exercise 03.3: ``fn(grads, max_norm)`` -> the gradients clipped by their global norm."""
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
    passed("global-norm clipping equals torch.nn.utils.clip_grad_norm_ (above and below the "
           "threshold)")

