"""Self-checks of notebook 10, efficiency (``10-efficiency.ipynb``): the FLOPs of one LSTM
step, float32 or bf16 for an LSTM on this CPU, a numerically stable log g, and a minGRU gate
bias that starts out remembering. Each check binds what later cells use (``binds``): the
learner's answer when it passes, else the course's (with a line that says so).
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

_I, _H, _B = 64, 128, 32


def _lstm_step_flops_reference(answer):
    """The course's answer to exercise 10.1: 2 * 4H * (I + H) * B FLOPs."""
    return 2 * 4 * _H * (_I + _H) * _B


@binds("answer", reference=_lstm_step_flops_reference)
def lstm_step_flops(answer) -> None:
    """Exercise 10.1: FLOPs of one LSTM forward step, I = 64, H = 128, B = 32."""
    expect_answered(answer, "answer")
    I, H, B = _I, _H, _B
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


# A bf16 run this much faster (or slower) than float32 decides the question; in between, both
# answers are defensible.
CLEARLY_FASTER = 1.15


def _precision_reference(precision, *, probed, times):
    """The course's answer to exercise 10.2: float32 where the LSTM cannot run in bf16 or the
    timing is unreadable; bf16 where it ran at least ``CLEARLY_FASTER`` times as fast; float32
    otherwise (the simpler default when it is too close to call)."""
    if not getattr(probed, "ran", False):
        return "float32"
    try:
        speedup = float(times["float32"]) / float(times["bf16 autocast"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return "float32"
    return "bf16" if speedup >= CLEARLY_FASTER else "float32"


@binds("precision", reference=_precision_reference)
def precision_choice(precision, *, probed, times) -> None:
    """Exercise 10.2 (decide): train an ``nn.LSTM`` on this CPU in "bf16" or "float32"?

    ``probed`` is ``rnnlib.train.probe``'s run of the LSTM under bf16 autocast (its ``ran``
    says whether the layer ran at all); ``times`` the median milliseconds of its forward and
    backward, keys ``"float32"`` and ``"bf16 autocast"``, read only when the probe ran. Where
    the LSTM cannot run in bf16, or bf16 was clearly faster or clearly slower, one answer is
    right; within ``CLEARLY_FASTER`` either way, both pass.
    """
    if precision is None or precision is Ellipsis:
        raise CheckFailed('decide first: set precision = "bf16" or "float32", from what the '
                          "probe and the timing above reported on this machine")
    if not isinstance(precision, str) or precision.strip().lower() not in ("bf16", "float32"):
        raise CheckFailed(f'precision should be "bf16" or "float32", got {precision!r}')
    choice = precision.strip().lower()
    if not hasattr(probed, "ran"):
        raise CheckFailed("probed should be the probe's run of the LSTM (lstm_in_bf16 above), "
                          f"got {type(probed).__name__}")
    if not probed.ran:
        if choice == "bf16":
            raise CheckFailed(f"the probe says this CPU cannot run the LSTM in bf16 ({probed}): "
                              "fit(amp='bf16') would fall back to float32 anyway. Keep float32")
        passed("float32: this CPU cannot run the LSTM in bf16 at all (the probe failed), so "
               "float32 is the only choice")
        return
    try:
        speedup = float(times["float32"]) / float(times["bf16 autocast"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        raise CheckFailed('times should be the timings of the bf16 cell above, a dict with '
                          f'"float32" and "bf16 autocast" in milliseconds, got {times!r}') from None
    if choice == "float32" and speedup >= CLEARLY_FASTER:
        raise CheckFailed(f"bf16 ran here, and {speedup:.2f}x as fast as float32: over an hour "
                          "of training that is a lot of time saved. Autocast computes only the "
                          "matrix products in bf16; the weights, their gradients and the "
                          "optimizer's state stay in float32, so the risk is small. Choose bf16")
    if choice == "bf16" and speedup <= 1 / CLEARLY_FASTER:
        raise CheckFailed(f"bf16 runs here, but at {speedup:.2f}x the speed of float32: slower. "
                          "This CPU converts between bf16 and float32 instead of computing in "
                          "bf16 natively; keep float32")
    if 1 / CLEARLY_FASTER < speedup < CLEARLY_FASTER:
        why = "too close to call: either is defensible, and float32 is the simpler default"
    elif speedup >= CLEARLY_FASTER:
        why = "clearly faster, at little risk"
    else:
        why = "slower: float32 it is"
    passed(f"{choice}: the LSTM ran in bf16 here at {speedup:.2f}x the speed of float32, {why}")


def _log_g_reference(fn):
    """The course's answer to exercise 10.3: ``rnnlib.parallel.log_g``."""
    from rnnlib.parallel import log_g

    return log_g


@binds("log_g", reference=_log_g_reference)
def log_g_stable(fn) -> None:
    """Exercise 10.3: ``fn(x)`` = log g(x), finite for every finite x (float32)."""
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


def _mingru_gate_bias_reference(prediction, biased_mse, *, default_mse):
    """The course's answers to exercise 10.4: the learner's prediction when it is one of the two
    words (a guess is not wrong), else "lower", the course's; and no measurement (None): the
    experiment needs a training run, and no later cell uses its result."""
    valid = isinstance(prediction, str) and prediction.strip().lower() in ("lower", "higher")
    return (prediction if valid else "lower"), None


@binds("prediction", "biased_mse", reference=_mingru_gate_bias_reference)
def mingru_gate_bias(prediction, biased_mse, *, default_mse) -> None:
    """Exercise 10.4 (experiment): a minGRU whose gate bias b_z starts at -3.

    ``prediction`` is the learner's recorded guess, "lower" or "higher" (the biased model's
    final validation MSE against the default's mean over seeds), made before training;
    ``biased_mse`` the measured final validation MSE; ``default_mse`` the default models' final
    validation MSEs (one per seed). The measurement is checked for plausibility; the prediction
    is judged, not failed: a wrong guess is what an experiment is for.
    """
    import math

    if prediction is None or prediction is Ellipsis:
        raise CheckFailed('record your prediction first: set prediction = "lower" or "higher" '
                          "before you train anything")
    if not isinstance(prediction, str) or prediction.strip().lower() not in ("lower", "higher"):
        raise CheckFailed(f'prediction should be "lower" or "higher", got {prediction!r}')
    expect_answered(biased_mse, "biased_mse")
    if isinstance(biased_mse, str):
        raise CheckFailed(f"biased_mse should be one number, the final validation MSE, got the "
                          f"string {biased_mse!r}")
    if isinstance(biased_mse, list | tuple) or (isinstance(biased_mse, torch.Tensor)
                                                and biased_mse.numel() != 1):
        raise CheckFailed("biased_mse should be one number, the last validation loss of the "
                          "history (history.val_loss[-1]), not the whole list")
    try:
        measured = float(biased_mse)
    except (TypeError, ValueError):
        raise CheckFailed("biased_mse should be one number, the final validation MSE, got "
                          f"{type(biased_mse).__name__}") from None
    try:
        defaults = [float(v) for v in default_mse]
    except (TypeError, ValueError):
        raise CheckFailed("default_mse should be the default models' final validation MSEs, "
                          f"one per seed, got {default_mse!r}") from None
    expect(len(defaults) > 0, "default_mse should hold at least one validation MSE")
    expect(math.isfinite(measured) and 0 < measured < 1,
           f"biased_mse = {measured!r} is not a plausible mean squared error on the adding "
           "problem (always answering 1 scores 1/6 = 0.167): use the validation loss that fit "
           "returned, history.val_loss[-1]")
    if any(abs(measured - d) <= 1e-9 for d in defaults):
        raise CheckFailed(f"biased_mse = {measured:.4f} is exactly a default model's result: "
                          "was the gate bias changed before training? Set the first hidden_size "
                          "entries of the layer's bias to -3 inside torch.no_grad()")
    mean_default = sum(defaults) / len(defaults)
    outcome = "lower" if measured < mean_default else "higher"
    verdict = ("your prediction held" if prediction.strip().lower() == outcome else
               f"you predicted {prediction!r}, it came out {outcome!r}: worth a thought why")
    passed(f"b_z = -3: validation MSE {measured:.4f}, against {mean_default:.4f} for the default "
           f"initialisation (mean of {len(defaults)} seeds): {outcome}. {verdict}")
