"""The self-checks of notebook 03: each passes on a right answer and says what is wrong on a
stub and on the mistakes learners typically make."""

from __future__ import annotations

import pytest
import torch

from rnnlib import checks
from rnnlib.checks import CheckFailed

# --------------------------------------------------------------------------- exercise 1


def right_step_jacobian(h_t, W_hh):
    return torch.diag(1 - h_t**2) @ W_hh


def test_step_jacobian_passes_on_the_right_answer(capsys):
    checks.step_jacobian(right_step_jacobian)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_step_jacobian_passes_with_broadcasting_instead_of_diag():
    checks.step_jacobian(lambda h_t, W_hh: (1 - h_t**2)[:, None] * W_hh)


@pytest.mark.parametrize("stub", [None, ..., lambda h_t, W_hh: None])
def test_step_jacobian_says_the_stub_is_unanswered(stub):
    with pytest.raises(CheckFailed, match="still"):
        checks.step_jacobian(stub)


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda h, W: W, "slope of tanh is missing"),
    (lambda h, W: W @ torch.diag(1 - h**2), "wrong side"),
    (lambda h, W: (1 - h**2) * W, "wrong side"),
    (lambda h, W: (torch.diag(1 - h**2) @ W).T, "transpose"),
    (lambda h, W: torch.diag(1 - torch.tanh(h) ** 2) @ W, "tanh was applied twice"),
    (lambda h, W: torch.diag(1 - h) @ W, "not 1 - h_t"),
    (lambda h, W: 1 - h**2, "vector"),
    (lambda h, W: torch.diag(1 - h**2) @ W + 0.1, "wrong values"),
])
def test_step_jacobian_names_the_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.step_jacobian(wrong)


# --------------------------------------------------------------------------- exercise 2


def radius_of(W):
    return float(torch.linalg.eigvals(W).abs().max())


def right_radius_and_norm(W):
    return float(torch.linalg.eigvals(W).abs().max()), float(torch.linalg.svdvals(W)[0])


def test_radius_and_norm_passes_on_the_right_answer(capsys):
    checks.radius_and_norm(right_radius_and_norm)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_radius_and_norm_accepts_zero_d_tensors():
    checks.radius_and_norm(lambda W: (torch.linalg.eigvals(W).abs().max(),
                                      torch.linalg.matrix_norm(W, ord=2)))


@pytest.mark.parametrize("stub", [None, ..., lambda W: None])
def test_radius_and_norm_says_the_stub_is_unanswered(stub):
    with pytest.raises(CheckFailed, match="still"):
        checks.radius_and_norm(stub)


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda W: right_radius_and_norm(W)[::-1], "swapped"),
    (lambda W: (float(torch.linalg.eigvals(W).real.max()), float(torch.linalg.svdvals(W)[0])),
     "real part"),
    (lambda W: (float(torch.linalg.svdvals(W)[0]),) * 2, "equals the largest singular value"),
    (lambda W: (float(torch.linalg.eigvalsh(W).abs().max()), float(torch.linalg.svdvals(W)[0])),
     "expected 0.922"),
    (lambda W: (radius_of(W), float(torch.linalg.matrix_norm(W))), "Frobenius"),
    (lambda W: (radius_of(W), float(W.abs().max())), "largest entry"),
    (lambda W: (radius_of(W), float(torch.linalg.svdvals(W)[-1])), "smallest singular value"),
    (lambda W: 0.922, "two numbers"),
])
def test_radius_and_norm_names_the_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.radius_and_norm(wrong)


# --------------------------------------------------------------------------- exercise 3


def right_clip(grads, max_norm):
    total = torch.sqrt(sum((g**2).sum() for g in grads))
    scale = min(1.0, max_norm / (float(total) + 1e-6))
    return [g * scale for g in grads]


def test_clip_global_norm_passes_on_the_right_answer(capsys):
    checks.clip_global_norm(right_clip)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_clip_global_norm_passes_without_the_epsilon_and_in_place():
    def in_place(grads, max_norm):
        total = torch.sqrt(sum((g**2).sum() for g in grads))
        for g in grads:
            g.mul_(min(1.0, float(max_norm / total)))
        return grads
    checks.clip_global_norm(in_place)


@pytest.mark.parametrize("stub", [None, ...])
def test_clip_global_norm_says_the_stub_is_unanswered(stub):
    with pytest.raises(CheckFailed, match="still"):
        checks.clip_global_norm(stub)


def test_clip_global_norm_says_to_return_the_list():
    with pytest.raises(CheckFailed, match="returned None"):
        checks.clip_global_norm(lambda grads, max_norm: None)


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda gs, c: [g * min(1.0, c / float(g.norm())) for g in gs], "its own norm"),
    (lambda gs, c: [g * (c / float(torch.sqrt(sum((t**2).sum() for t in gs)))) for g in gs],
     "scaled up"),
    (lambda gs, c: [g.clamp(-c, c) for g in gs], "by value"),
    (lambda gs, c: [g * 0.5 for g in gs], "total norm"),
    (lambda gs, c: gs[:2], "list of 3 tensors"),
])
def test_clip_global_norm_names_the_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.clip_global_norm(wrong)
