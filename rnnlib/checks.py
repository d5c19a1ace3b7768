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
