"""The helpers every self-check is built from, once for all notebooks.

A check prints one line starting with a tick when the answer is right (``passed``). When it is
wrong, the message says what was expected, what came, and where to look: never just "wrong".
``expect*`` raise ``CheckFailed`` (an ``AssertionError``) with such a message; ``is_close`` and
``layer_params`` are what several notebooks' checks compare against, and
``compare_gradients``, ``expect_finite_differences_agree``, ``expect_no_known_mistake`` and
``wrong_blocks`` are the shared steps of judging a hand-written backward pass (notebooks 04
and 05).

**Check and go on** (``binds``): an exercise's check cell binds the names the rest of the
notebook uses, ``x = rnnlib.checks.batch_first_batch(x)``. A right answer is bound as it is. An
untouched stub or a wrong answer makes the check say so in a line and bind the course's
reference instead, so that "Run All" runs the whole notebook whatever was skipped. With
``RNNLIB_STRICT_CHECKS=1`` (graders, the tests) a failing check raises ``CheckFailed``.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["CheckFailed", "passed", "expect", "expect_answered", "expect_shape", "expect_close",
           "is_close", "layer_params", "same_gradient", "compare_gradients",
           "expect_finite_differences_agree", "expect_no_known_mistake", "wrong_blocks",
           "binds", "strict", "is_stub"]


class CheckFailed(AssertionError):
    """An exercise answer is not right yet; the message says why."""


def strict() -> bool:
    """``RNNLIB_STRICT_CHECKS=1``: a failing check raises instead of binding the reference."""
    from rnnlib.course import env_flag

    return env_flag("RNNLIB_STRICT_CHECKS")


def is_stub(value: Any) -> bool:
    """An exercise left as it came: None, ``...``, a dict, list or tuple of those, or a function
    whose body holds nothing but ``...`` or ``pass``, a docstring and the unpacking of its
    arguments (``x_t, h_prev, W_ih, W_hh, h = cache``)."""
    if value is None or value is Ellipsis:
        return True
    if isinstance(value, dict):
        return bool(value) and all(is_stub(v) for v in value.values())
    if isinstance(value, list | tuple):
        return bool(value) and all(is_stub(v) for v in value)
    if not inspect.isfunction(value):
        return False
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(value)))
    except (OSError, TypeError, SyntaxError):
        return False
    definition = tree.body[0] if tree.body else None
    if not isinstance(definition, ast.FunctionDef):  # a lambda is an expression: an answer
        return False
    return all(_placeholder(statement) for statement in definition.body)


def _placeholder(statement: ast.stmt) -> bool:
    """``...``, ``pass``, a docstring, or an assignment that only unpacks or copies a name."""
    if isinstance(statement, ast.Pass):
        return True
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return statement.value.value is Ellipsis or isinstance(statement.value.value, str)
    return isinstance(statement, ast.Assign) and isinstance(
        statement.value, ast.Name | ast.Attribute | ast.Subscript)


def binds(*names: str, reference: Callable[..., Any]) -> Callable:
    """Turn a check into one that binds what later cells use, and never stops "Run All".

    The check's first ``len(names)`` positional arguments are the learner's answers, called
    ``names`` in the notebook (``radius_and_norm, long_run = checks.radius_and_norm(
    radius_and_norm, long_run)``). The bound check returns them unchanged when the check
    passes. When it fails, or the learner's code raises inside it, it prints what is wrong
    (one line for an untouched stub) and returns ``reference(...)`` called with the check's
    arguments, defaults filled in: the course's own answers, in the same order. Under ``RNNLIB_STRICT_CHECKS=1`` it raises
    ``CheckFailed`` instead.
    """
    def decorate(check: Callable) -> Callable:
        @functools.wraps(check)
        def bound(*args, **kwargs):
            answers = args[:len(names)]
            try:
                check(*args, **kwargs)
            except CheckFailed as failure:
                problem, cause = failure, None
            except Exception as error:  # the learner's code raised inside the check
                problem = CheckFailed(f"running your answer raised {type(error).__name__}: "
                                      f"{error}")
                cause = error
            else:
                return answers[0] if len(names) == 1 else tuple(answers)
            if strict():
                raise problem from cause
            quoted = [f"`{name}`" for name in names]
            listed = " and ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1
                                  else quoted)
            if all(is_stub(answer) for answer in answers):
                print(f"\N{RIGHTWARDS ARROW} {listed} not written yet: the rest of the "
                      f"notebook runs on the course's reference.")
            else:
                print(f"\N{BALLOT X} {problem}\n\N{RIGHTWARDS ARROW} the rest of the "
                      f"notebook runs on the course's reference for {listed}.")
            call = inspect.signature(check).bind(*args, **kwargs)
            call.apply_defaults()  # the reference sees the check's defaults too
            return reference(*call.args, **call.kwargs)

        bound.binds = names
        bound.check = check  # the raising check itself, for tests
        return bound
    return decorate


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


def is_close(got, expected, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """True when ``got`` has the shape of ``expected`` and equals it within tolerance.

    Both are compared in float64, whatever their dtype; an answer that is not a tensor-like of
    numbers gives False (the check then says what is wrong). Used to recognise right answers and
    typical mistakes without raising, unlike ``expect_close``.
    """
    try:
        got = torch.as_tensor(got, dtype=torch.float64)
        expected = torch.as_tensor(expected, dtype=torch.float64)
    except (RuntimeError, TypeError, ValueError):
        return False
    return got.shape == expected.shape and torch.allclose(got, expected, atol=atol, rtol=rtol)


def layer_params(input_size: int, hidden: int, blocks: int) -> int:
    """Parameters of one layer and direction of a recurrent net, as torch.nn counts them.

    ``blocks`` weight blocks (1 for the RNN, 3 for the GRU, 4 for the LSTM), each with
    W_ih (H, I), W_hh (H, H), b_ih and b_hh (H,): blocks * H * (I + H + 2).
    """
    return blocks * hidden * (input_size + hidden + 2)


def same_gradient(got, expected) -> bool:
    """Whether a float64 gradient equals the reference's, to the rounding of float64 sums."""
    import numpy as np

    return bool(np.allclose(got, expected, atol=1e-8, rtol=1e-7))


def compare_gradients(names: Sequence[str], got: Sequence, right: Sequence,
                      shape_message: Callable[[str, tuple, tuple], str]) -> tuple[list, list[str]]:
    """The first steps of judging a backward pass: every gradient in ``got`` answered and of
    the shape of its counterpart in ``right`` (else ``shape_message(name, got_shape,
    right_shape)``); returns ``got`` in float64 and the names of the gradients that differ."""
    import numpy as np

    for name, g, r in zip(names, got, right, strict=True):
        expect_answered(g, name)
        shape = np.shape(g)
        expect(shape == r.shape, shape_message(name, shape, r.shape))
    got = [np.asarray(g, dtype=np.float64) for g in got]
    wrong = [name for name, g, r in zip(names, got, right, strict=True) if not same_gradient(g, r)]
    return got, wrong


def expect_finite_differences_agree(got: Sequence, numeric: Sequence) -> None:
    """For gradients that equal ``rnnlib.reference``'s: fail (a bug of the course, not of the
    learner) unless they also agree with central finite differences."""
    from rnnlib.reference import relative_error

    worst = max(relative_error(g, n) for g, n in zip(got, numeric, strict=True))
    expect(worst < 1e-6, f"the gradients equal rnnlib.reference's but differ from finite "
                         f"differences by {worst:.1e}: please report this")


def expect_no_known_mistake(got: Sequence, mistakes: Sequence[tuple[dict, str]],
                            variant: Callable[..., Sequence]) -> None:
    """Fail with the message of the first ``(options, message)`` in ``mistakes`` whose wrong
    gradients, ``variant(**options)``, equal ``got``: a typical mistake named, not just found."""
    for options, message in mistakes:
        if all(same_gradient(g, v) for g, v in zip(got, variant(**options), strict=True)):
            raise CheckFailed(message)


def wrong_blocks(got, right, hidden: int, blocks: Sequence[str]) -> list[str]:
    """Which of the gate blocks stacked along the first axis (``hidden`` rows each, in the
    order of ``blocks``) differ between the gradients ``got`` and ``right``."""
    return [block for k, block in enumerate(blocks)
            if not same_gradient(got[k * hidden:(k + 1) * hidden],
                                 right[k * hidden:(k + 1) * hidden])]
