"""Self-checks of notebook 10, efficiency (``10-efficiency.ipynb``): the FLOPs of one LSTM
step, a numerically stable log g, and one minGRU step.
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
