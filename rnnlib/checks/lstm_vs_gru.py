"""Self-checks of notebook 06, LSTM vs GRU (``06-lstm-vs-gru.ipynb``): hidden sizes matched
by parameter count, mean and standard error over seeds, and steps to a target loss.
"""

from __future__ import annotations

import torch

from rnnlib.checks._common import CheckFailed, expect, expect_answered, layer_params, passed

_BLOCKS = {"rnn": 1, "gru": 3, "lstm": 4}


def _params(kind: str, input_size: int, hidden: int) -> int:
    """Recurrent parameters of one layer of ``kind`` ("rnn", "gru" or "lstm")."""
    return layer_params(input_size, hidden, _BLOCKS[kind])


def _nearest_hidden(kind: str, input_size: int, target: int) -> int:
    return min(range(1, 4096), key=lambda h: (abs(_params(kind, input_size, h) - target), h))


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


def mean_and_sem(fn) -> None:
    """Exercise 06.2: ``fn(values)`` -> (mean, standard error of the mean, ddof=1)."""
    import numpy as np

    expect_answered(fn, "mean_and_sem")
    values = [0.012, 0.020, 0.043]
    got = fn(list(values))
    expect_answered(got, "mean_and_sem([0.012, 0.020, 0.043])")
    expect(isinstance(got, tuple | list) and len(got) == 2,
           f"mean_and_sem should return two numbers, (mean, sem), got {got!r}")
    mean, sem = (float(torch.as_tensor(v)) for v in got)
    v = np.array(values)
    right_mean, right_sem = v.mean(), v.std(ddof=1) / np.sqrt(len(v))

    def near(a, b):
        return abs(a - b) <= 1e-6 + 1e-4 * abs(b)

    expect(near(mean, right_mean), f"the mean of {values} is {right_mean:.6g}, got {mean:.6g}")
    if near(sem, v.std(ddof=1)):
        raise CheckFailed("that is the standard deviation of the seeds: how much one run "
                          "varies. The standard error of the mean is smaller: std / sqrt(n)")
    if near(sem, v.std(ddof=0) / np.sqrt(len(v))):
        raise CheckFailed("close: but np.std divides by n by default (ddof=0), which "
                          "underestimates the spread of a few seeds. Use the sample standard "
                          "deviation, np.std(values, ddof=1), then divide by sqrt(n)")
    if near(sem, v.std(ddof=1) / len(v)):
        raise CheckFailed("the standard error divides the standard deviation by sqrt(n), not n")
    expect(near(sem, right_sem), f"the standard error of {values} is {right_sem:.6g} "
                                 f"(np.std(values, ddof=1) / sqrt(3)), got {sem:.6g}")
    one = fn([0.5, 0.5, 0.5, 0.5])
    expect(near(float(torch.as_tensor(one[1])), 0.0), "four equal values should have a standard "
                                                      f"error of 0, got {one[1]!r}")
    passed(f"mean {right_mean:.4f} ± {right_sem:.4f} (standard error over 3 seeds)")


def steps_to_target(fn) -> None:
    """Exercise 06.3: ``fn(losses, target, window)`` -> the first step whose moving mean < target."""
    import numpy as np

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

