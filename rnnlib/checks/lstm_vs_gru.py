"""Self-checks of notebook 06, LSTM vs GRU (``06-lstm-vs-gru.ipynb``): hidden sizes matched
by parameter count, paired differences between cells run with the same seeds (and the
decision whether three seeds show one), steps to a target loss, and the forget-bias experiment.

Each check binds what the notebook's later cells use (``binds``): the learner's answer when it
passes, else the course's reference below (an untouched stub gets one line saying so, a wrong
answer the check's message), so that Run All never stops at an exercise.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from rnnlib.checks._common import (
    CheckFailed,
    binds,
    expect,
    expect_answered,
    layer_params,
    passed,
)

_BLOCKS = {"rnn": 1, "gru": 3, "lstm": 4}


def _params(kind: str, input_size: int, hidden: int) -> int:
    """Recurrent parameters of one layer of ``kind`` ("rnn", "gru" or "lstm")."""
    return layer_params(input_size, hidden, _BLOCKS[kind])


def _nearest_hidden(kind: str, input_size: int, target: int) -> int:
    return min(range(1, 4096), key=lambda h: (abs(_params(kind, input_size, h) - target), h))


def _matched_hidden(kind: str, input_size: int, target: int) -> int:
    """The course's answer to exercise 06.1: the root of the quadratic, then the nearer count."""
    b = input_size + 2
    root = (-b + math.sqrt(b * b + 4 * target / _BLOCKS[kind])) / 2
    return min((max(1, math.floor(root)), math.ceil(root)),
               key=lambda h: (abs(_params(kind, input_size, h) - target), h))


@binds("matched_hidden", reference=lambda fn: _matched_hidden)
def matched_hidden_size(fn) -> None:
    """Exercise 06.1: ``fn(kind, input_size, target)`` -> the H whose count is nearest ``target``."""
    expect_answered(fn, "matched_hidden")
    cases = [("gru", 2, _params("lstm", 2, 32)), ("rnn", 2, _params("lstm", 2, 32)),
             ("gru", 64, _params("lstm", 64, 64)), ("rnn", 32, _params("lstm", 32, 128)),
             ("lstm", 10, _params("lstm", 10, 20))]
    answers = []
    for kind, input_size, target in cases:
        call = f"matched_hidden({kind!r}, input_size={input_size}, target={target})"
        got = fn(kind, input_size, target)
        expect_answered(got, call)
        if isinstance(got, float) and got.is_integer():
            got = int(got)
        expect(isinstance(got, int) and not isinstance(got, bool),
               f"{call} should return a whole number of units (an int), got {got!r}: round it, "
               "e.g. int(round(h))")
        answers.append(got)
    rights = [_nearest_hidden(*case) for case in cases]
    if answers == rights:
        passed("matched hidden sizes: e.g. a GRU of 37 units and an RNN of 66 hold as many "
               "parameters as an LSTM of 32 on the adding problem")
        return
    lstm_hs = [_nearest_hidden("lstm", i, t) for _, i, t in cases]
    no_bias = [min(range(1, 4096), key=lambda h, k=k, i=i, t=t: abs(_BLOCKS[k] * h * (i + h) - t))
               for k, i, t in cases]
    if answers == lstm_hs:
        raise CheckFailed("matched_hidden returned the LSTM's own hidden size every time: that "
                          "is matching H, not the parameters. A GRU has 3 weight blocks and an "
                          "RNN 1 where the LSTM has 4, so they need a larger H for the same count")
    if answers == no_bias:
        raise CheckFailed("the biases are missing from your count. Each block has H x I input "
                          "weights, H x H recurrent weights and two bias vectors of H: "
                          "blocks * H * (I + H + 2)")
    for (kind, input_size, target), got, right, lstm_h in zip(cases, answers, rights, lstm_hs,
                                                              strict=True):
        if got == right:
            continue
        call = f"matched_hidden({kind!r}, input_size={input_size}, target={target})"
        count = f"{_params(kind, input_size, got):,}" if got > 0 else "no"
        if kind != "lstm" and got == round(lstm_h * 4 / _BLOCKS[kind]):
            raise CheckFailed(f"{call} returned {got}, the LSTM's H times 4/{_BLOCKS[kind]}: "
                              f"but the count grows with H², not H. Solve blocks * (H² + (I + 2) "
                              f"H) = target for H (a quadratic) and round to the nearest count")
        if abs(got - right) == 1:
            raise CheckFailed(f"{call} returned {got}, one away from {right}: H = {got} gives "
                              f"{count} parameters and H = {right} gives "
                              f"{_params(kind, input_size, right):,}, closer to {target:,}. "
                              f"Compare the counts of the two integers around the exact root "
                              f"(floor and ceil) and keep the closer one")
        raise CheckFailed(f"{call} returned {got} ({count} parameters), expected {right} "
                          f"({_params(kind, input_size, right):,}). The count of one layer "
                          f"is blocks * H * (I + H + 2), with 1 block for the RNN, 3 for the "
                          f"GRU, 4 for the LSTM")


def _steps_to_target(losses, target: float, window: int) -> int | None:
    """The course's answer to exercise 06.3: the first step (from 1) whose last ``window``
    losses average below ``target``; None if none does or there are fewer than ``window``."""
    for step in range(window, len(losses) + 1):
        if float(np.mean(losses[step - window:step])) < target:
            return step
    return None


@binds("steps_to_target", reference=lambda fn: _steps_to_target)
def steps_to_target(fn) -> None:
    """Exercise 06.3: ``fn(losses, target, window)`` -> the first step whose moving mean < target."""
    expect_answered(fn, "steps_to_target")
    # a curve that dips below the target once, by noise, at step 3, then truly gets there later
    losses = [0.30, 0.20, 0.04, 0.20, 0.16, 0.08, 0.05, 0.04, 0.03, 0.02, 0.02, 0.01]
    target, window = 0.05, 3
    means = np.convolve(losses, np.ones(window) / window, mode="valid")
    right = int(np.nonzero(means < target)[0][0] + window)
    call = f"steps_to_target(losses, target={target}, window={window})"
    got = fn(list(losses), target, window)
    if got is Ellipsis:
        expect_answered(got, call)
    if got == 3:
        raise CheckFailed(f"{call} returned 3: that is the first single step below the target, "
                          f"a lucky batch. Average the last `window` losses and find the first "
                          f"step at which that average is below the target")
    if got == right - 1:
        raise CheckFailed(f"{call} returned {got}, one short of {right}: steps count from 1 "
                          f"(step i is losses[i - 1]), so add 1 to a 0-based index")
    if got == right - window + 1 or got == right - window:
        raise CheckFailed(f"{call} returned {got}: that is where the winning window *starts*. "
                          f"The target is reached at its last step, {right}: only then have all "
                          f"its losses been seen")
    expect(got == right, f"{call} should be {right} (the mean of losses {right - window + 1}.."
                         f"{right} is {means[right - window]:.3f} < {target}), got {got!r}")
    never = fn([0.3, 0.2, 0.2, 0.1], 0.05, 2)
    expect(never is None, f"a curve that never gets below the target should give None, got "
                          f"{never!r}: 0 or -1 would read as a step (or be averaged as one)")
    short = fn([0.01], 0.05, 5)
    expect(short is None, f"with fewer losses than `window` there is no full window yet: "
                          f"expected None, got {short!r}")
    passed(f"reached at step {right}: the first step whose last {window} losses average below "
           f"{target}")

def _paired_difference(a, b) -> tuple[float, float]:
    """The course's answer to exercise 06.2: mean and standard error of a - b, seed by seed."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


_EXAMPLE = ([0.30, 0.52, 0.41], [0.27, 0.45, 0.39])   # the two cells of exercise 06.2


def _paired_difference_reference(fn, shown=None):
    """The course's function, and its decision on the example: Student's t, 2 degrees of
    freedom, two-sided 5% (the example's 2.6 standard errors are not beyond 4.30)."""
    from rnnlib.stats import paired_t

    return _paired_difference, bool(paired_t(*_EXAMPLE).p_value < 0.05)


@binds("paired_difference", "shown", reference=_paired_difference_reference)
def paired_difference(fn, shown=None) -> None:
    """Exercise 06.2: ``fn(a, b)`` -> (mean of a - b per seed, standard error of those
    differences); then ``shown``, a decision: is the example's difference shown at the 5% level,
    judged with Student's t for three seeds (2 degrees of freedom), not with two standard errors?"""
    from rnnlib.stats import paired_t, t_quantile

    expect_answered(fn, "paired_difference")
    a, b = _EXAMPLE   # e.g. cell A's metric for seeds 0, 1, 2, and cell B's for the same seeds
    call = "paired_difference([0.30, 0.52, 0.41], [0.27, 0.45, 0.39])"
    got = fn(list(a), list(b))
    expect_answered(got, call)
    expect(isinstance(got, tuple | list) and len(got) == 2,
           f"{call} should return two numbers, (mean difference, standard error), got {got!r}")
    mean, se = (float(torch.as_tensor(v)) for v in got)
    va, vb = np.array(a), np.array(b)
    d = va - vb
    right_mean, right_se = d.mean(), d.std(ddof=1) / np.sqrt(len(d))

    def near(x, y):
        return abs(x - y) <= 1e-6 + 1e-4 * abs(y)

    if near(mean, -right_mean):
        raise CheckFailed(f"{call} gave a mean of {mean:.4g}: the sign is flipped. Subtract in "
                          f"the order the name says, a - b (here {right_mean:.4g})")
    expect(near(mean, right_mean), f"the mean of the per-seed differences a - b is "
                                   f"{right_mean:.4g}, got {mean:.4g}")
    unpaired = np.sqrt(va.var(ddof=1) / len(va) + vb.var(ddof=1) / len(vb))
    if near(se, unpaired):
        raise CheckFailed(f"{se:.4g} is the standard error of two *independent* means. Here "
                          "both cells ran with the same seeds (the same data and "
                          "initialisation stream), so pair them: take the difference seed by "
                          "seed first, then the standard error of those differences. It is "
                          f"{right_se:.4g}, much smaller, because the seeds' shared luck cancels")
    if near(se, d.std(ddof=1)):
        raise CheckFailed("that is the standard deviation of the differences; the standard "
                          "error of their mean divides it by sqrt(n)")
    if near(se, d.std(ddof=0) / np.sqrt(len(d))):
        raise CheckFailed("close: np.std divides by n by default (ddof=0); with a few seeds use "
                          "the sample standard deviation, ddof=1")
    expect(near(se, right_se), f"the standard error of the paired differences is "
                               f"{right_se:.4g}, got {se:.4g}")
    same = fn([1.0, 2.0], [1.0, 2.0])
    expect_answered(same, "paired_difference([1, 2], [1, 2])")
    expect(near(float(torch.as_tensor(same[0])), 0.0) and near(float(torch.as_tensor(same[1])), 0.0),
           f"two identical lists should differ by 0 ± 0, got {same!r}")
    test = paired_t(a, b)
    ratio, p_value = test.t, test.p_value
    critical = t_quantile(0.975, test.df)                    # 4.30 with 2 degrees of freedom
    if shown is None or shown is Ellipsis:
        raise CheckFailed(f"paired_difference is right: a - b = {right_mean:.3f} ± "
                          f"{right_se:.3f} per seed. Now decide: set shown = True if that "
                          "difference is shown at the 5% level with these three seeds, False "
                          "if not")
    expect(isinstance(shown, bool | np.bool_),
           f"shown should be True or False, got {shown!r}")
    if bool(shown) and abs(ratio) <= critical:
        raise CheckFailed(f"the difference is {ratio:.1f} standard errors from 0: beyond the "
                          f"rule of thumb of two, but that rule assumes the standard error is "
                          f"known. With 3 seeds it is estimated from 3 differences, and the "
                          f"ratio of two equally good cells follows Student's t with 2 degrees "
                          f"of freedom: 5% of such ratios lie beyond ±{critical:.2f}. Is "
                          f"{ratio:.1f} beyond that?")
    expect(bool(shown) == (abs(ratio) > critical),
           f"the difference is {ratio:.1f} standard errors from 0, beyond ±{critical:.2f}, the "
           f"5% line of t with 2 degrees of freedom: that is shown")
    passed(f"a - b = {right_mean:.3f} ± {right_se:.3f} per seed; unpaired, the error would have "
           f"been {unpaired:.3f}. {ratio:.1f} standard errors with 3 seeds: "
           f"{'shown' if abs(ratio) > critical else 'not shown'} at 5% (t with 2 degrees of "
           f"freedom, p = {p_value:.2f})")


class _Adder(nn.Module):
    """The notebook's model: an LSTM reads x (B, T, 2), a linear layer maps its last state to
    (B,) sums; PyTorch's default initialisation (the forget-gate bias near 0)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.rnn = nn.LSTM(2, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.head(output[:, -1]).squeeze(-1)


def _forget_bias_reference(prediction, model, val_mse, x_val, y_val, *, seed: int = 0,
                           steps: int = 1500, hidden: int = 32, batch: int = 64,
                           lr: float = 1e-2):
    """The course's run of exercise 06.4: the notebook's ``train_adding("lstm", seed, T, steps,
    forget_bias=None)`` (the same data stream, seed and settings), measured on (x_val, y_val).
    The prediction is the learner's when it is one of the two (a guess is not wrong), else the
    outcome."""
    from rnnlib import data, train

    length = int(x_val.shape[1])
    x, y = data.adding_problem(n=steps * batch, length=length, seed=1000 * seed + length)
    batches = list(zip(x.split(batch), y.split(batch), strict=True))
    torch.manual_seed(seed)
    trained = _Adder(hidden)
    train.fit(trained, batches, loss_fn=nn.MSELoss(), lr=lr, steps=steps, log_every=50,
              seed=seed, quiet=True)
    measured = train.evaluate(trained, [(x_val, y_val)], loss_fn=nn.MSELoss())["loss"]
    outcome = "solved" if measured < 0.01 else "baseline"
    return (prediction if prediction in ("solved", "baseline") else outcome), trained, measured


@binds("prediction", "model_b0", "val_mse_b0", reference=_forget_bias_reference)
def forget_bias_experiment(prediction, model, val_mse, x_val, y_val, *, seed: int = 0,
                           steps: int = 1500, hidden: int = 32, batch: int = 64,
                           lr: float = 1e-2) -> None:
    """Exercise 06.4: a prediction ("solved" or "baseline"), the LSTM trained with PyTorch's
    default forget bias, and its measured validation MSE on (x_val, y_val). Judges that the
    measurement is this model's, and says whether the prediction held. ``seed``, ``steps``,
    ``hidden``, ``batch`` and ``lr`` are the notebook's settings, for the course's own run."""
    expect_answered(prediction, "prediction")
    expect(prediction in ("solved", "baseline"),
           f'prediction should be "solved" (validation MSE below 0.01) or "baseline" (it '
           f'stays near 1/6), written before you train; got {prediction!r}')
    expect_answered(model, "model")
    expect(isinstance(model, nn.Module) and isinstance(getattr(model, "rnn", None), nn.LSTM),
           f"model should be an Adder whose .rnn is an nn.LSTM (Adder('lstm', ...)), got "
           f"{type(model).__name__}" + (f" with .rnn = {type(model.rnn).__name__}"
                                        if isinstance(getattr(model, "rnn", None), nn.Module) else ""))
    expect_answered(val_mse, "val_mse")
    expect(isinstance(x_val, torch.Tensor) and x_val.dim() == 3 and x_val.shape[-1] == 2
           and isinstance(y_val, torch.Tensor) and y_val.shape == x_val.shape[:1],
           "x_val should be the (N, T, 2) validation inputs and y_val their (N,) sums")
    model.eval()
    with torch.no_grad():
        measured = float(nn.functional.mse_loss(model(x_val), y_val))
    got = float(torch.as_tensor(val_mse))
    expect(abs(got - measured) <= 1e-5 + 1e-3 * measured,
           f"val_mse = {got:.5g}, but this model's MSE on (x_val, y_val) is {measured:.5g}: "
           "measure the model you trained, on the validation set (train.evaluate with "
           "nn.MSELoss())")
    outcome = "solved" if measured < 0.01 else "baseline" if measured > 0.15 else "partly"
    held = ("your prediction held" if outcome == prediction else
            f"you predicted {prediction!r}: compare with the forget-bias +1 run above and "
            "explain the difference in a sentence")
    passed(f"measured validation MSE {measured:.4f} ({outcome}); {held}")
