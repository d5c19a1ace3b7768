"""Self-checks of notebook 09, beyond (``09-beyond.ipynb``): forecasting windows, the
persistence baseline's RMSE, and per-channel normalisation statistics.
"""

from __future__ import annotations

import torch

from rnnlib.checks._common import CheckFailed, expect, expect_answered, passed


def _reference_windows(series: torch.Tensor, window: int, horizon: int):
    n = len(series) - window - horizon + 1
    X = torch.stack([series[i:i + window] for i in range(n)])
    return X[..., None], series[window - 1 + horizon:]


def _call_make_windows(fn, series, window: int, horizon: int):
    """Call the learner's make_windows and return (X, y) as tensors, or fail helpfully."""
    try:
        got = fn(series.clone(), window, horizon)
    except Exception as error:
        raise CheckFailed(f"make_windows(torch.arange({len(series)}.), window={window}, "
                          f"horizon={horizon}) raised {type(error).__name__}: {error}") from error
    expect_answered(got, "make_windows(series, window, horizon)")
    if not isinstance(got, tuple | list) or len(got) != 2:
        raise CheckFailed("make_windows should return two things, X and y: "
                          "`return X, y`")
    X, y = got
    expect_answered(X, "X")
    expect_answered(y, "y")
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    return X, y


def make_windows(fn) -> None:
    """Exercise 09.1: ``fn(series, window, horizon)`` -> X (N, window, 1), y (N,)."""
    expect_answered(fn, "make_windows")
    for length, window, horizon in ((20, 5, 3), (12, 4, 1)):
        series = torch.arange(float(length))      # every value is its own index
        right_X, right_y = _reference_windows(series, window, horizon)
        n = len(right_y)
        X, y = _call_make_windows(fn, series, window, horizon)
        where = f"for a series of length {length}, window={window}, horizon={horizon}"
        if X.dim() == 2 and X.shape == (n, window):
            raise CheckFailed(f"X has shape {tuple(X.shape)}: add the feature axis, "
                              f"X[..., None], to get (N, window, 1) = {(n, window, 1)}. An RNN "
                              "with batch_first=True wants (B, T, F), even for one feature.")
        if X.dim() == 3 and X.shape[1:] == (window, 1) and X.shape[0] == n - 1:
            raise CheckFailed(f"{where} there are N = {n} windows but X has {X.shape[0]}: "
                              "the last window is missing. N = len(series) - window - horizon "
                              "+ 1 (the last target is the series' last value)")
        expect(X.dim() == 3 and X.shape[1:] == (window, 1),
               f"{where} X should have shape (N, window, 1) = {(n, window, 1)}, got "
               f"{tuple(X.shape)}")
        expect(X.shape[0] == n, f"{where} there are N = {n} windows (len(series) - window - "
                                f"horizon + 1), but X has {X.shape[0]}")
        expect(torch.equal(X.float(), right_X), f"{where} X[i, :, 0] should be "
               f"series[i : i + window]; for i = 0 that is {right_X[0, :, 0].tolist()}, "
               f"got {X[0, :, 0].tolist()}")
        expect(y.dim() == 1 and len(y) == n, f"{where} y should have shape ({n},), one target "
                                             f"per window, got {tuple(y.shape)}")
        first = float(y[0])
        if first == window - 1:
            raise CheckFailed("y[i] is the last value inside window i: the model would be "
                              "asked for what it can already see. The target is `horizon` "
                              "steps after it: series[i + window - 1 + horizon]")
        if first == window - 2 + horizon:
            raise CheckFailed(f"off by one: {where} the first target should be series"
                              f"[{window - 1 + horizon}] (window - 1 + horizon), got series"
                              f"[{first:.0f}]. With horizon = 1 the target is the value right "
                              "after the window")
        if first == window + horizon:
            raise CheckFailed(f"off by one: {where} the first target should be series"
                              f"[{window - 1 + horizon}] (window - 1 + horizon), got series"
                              f"[{first:.0f}]: one step too far ahead")
        expect(torch.equal(y.float(), right_y), f"{where} y should be {right_y.tolist()}, "
                                                f"got {y.tolist()}")
    passed("windows of the past and targets `horizon` steps ahead, (N, W, 1) and (N,)")


def persistence_rmse(fn) -> None:
    """Exercise 09.2: ``fn(values, horizon)`` -> RMSE of predicting values[t] by values[t-h]."""
    import numpy as np

    expect_answered(fn, "persistence_rmse")
    values = np.array([10.0, 12.0, 15.0, 13.0, 20.0, 26.0, 22.0, 30.0, 28.0, 35.0])

    def right(h: int) -> float:
        return float(np.sqrt(np.mean((values[h:] - values[:-h]) ** 2)))

    results = {}
    for h in (3, 1):
        try:
            got = fn(values.copy(), h)
        except Exception as error:
            raise CheckFailed(f"persistence_rmse(values, {h}) raised "
                              f"{type(error).__name__}: {error}") from error
        expect_answered(got, f"persistence_rmse(values, {h})")
        try:
            results[h] = float(got)
        except (TypeError, ValueError):
            raise CheckFailed(f"persistence_rmse should return one number, got "
                              f"{type(got).__name__}"
                              + (f" of shape {tuple(got.shape)}" if hasattr(got, "shape")
                                 else "") + ": take the mean before the square root") from None
    got, h = results[3], 3
    errors = values[h:] - values[:-h]
    close = lambda a, b: abs(a - b) < 1e-6 * max(1.0, abs(b))  # noqa: E731
    if close(got, right(h) ** 2):
        raise CheckFailed(f"it returned {got:.4g}, the mean squared error: take its square "
                          "root (RMSE), which is in the data's own units")
    if close(got, float(np.sqrt(np.sum(errors ** 2)))):
        raise CheckFailed("it took the square root of the SUM of squared errors: use the "
                          "mean, so the error does not grow with the number of months")
    if close(got, float(np.mean(np.abs(errors)))):
        raise CheckFailed(f"it returned {got:.4g}, the mean absolute error: square the errors, "
                          "average them, then take the square root")
    if close(got, float(np.std(errors))):
        raise CheckFailed("it returned the standard deviation of the errors, which subtracts "
                          "their mean first: a forecast that is always 10 too high would score "
                          "0. Use np.sqrt(np.mean(errors ** 2))")
    if close(got, right(1)):
        raise CheckFailed(f"with horizon = 3 it returned {got:.4g}, the persistence error "
                          "one step ahead: compare values[t] with values[t - horizon], using "
                          "the horizon argument")
    if close(got, 0.0):
        raise CheckFailed("it returned 0: was each value compared with itself? The forecast "
                          "for values[t] is values[t - horizon]")
    expect(close(got, right(h)), f"for values {values.tolist()} and horizon 3 the "
                                 f"persistence RMSE is {right(h):.4f}, got {got:.4g}")
    expect(close(results[1], right(1)), f"with horizon 3 it is right, but with horizon 1 it "
                                        f"gives {results[1]:.4g} instead of {right(1):.4f}")
    passed("the persistence RMSE: predict each value by the one `horizon` steps earlier")


def channel_stats(fn) -> None:
    """Exercise 09.3: ``fn(series)`` -> per-channel mean and std over all frames, each (F,)."""
    import numpy as np

    expect_answered(fn, "channel_stats")
    rng = np.random.default_rng(9)
    scales = np.array([1.0, 3.0, 0.5])
    offsets = [np.array([0.0, 5.0, -1.0]), np.array([4.0, -6.0, 1.0]),
               np.array([-2.0, 1.0, 2.0])]
    series = [(rng.standard_normal((T, 3)) * scales + offset).astype(np.float32)
              for T, offset in zip((5, 40, 150), offsets, strict=True)]
    frames = np.concatenate(series).astype(np.float64)
    right_mean, right_std = frames.mean(axis=0), frames.std(axis=0)
    try:
        got = fn([s.copy() for s in series])
    except Exception as error:
        raise CheckFailed(f"channel_stats raised {type(error).__name__}: {error}") from error
    expect_answered(got, "channel_stats(series)")
    if not isinstance(got, tuple | list) or len(got) != 2:
        raise CheckFailed("channel_stats should return two things, the mean and the std: "
                          "`return mean, std`")
    mean, std = got
    expect_answered(mean, "mean")
    expect_answered(std, "std")
    mean = np.asarray(torch.as_tensor(mean).detach().double())
    std = np.asarray(torch.as_tensor(std).detach().double())
    for name, value in (("mean", mean), ("std", std)):
        expect(value.shape == (3,), f"for utterances of shape (T_i, 3) the {name} should have "
                                    f"shape (3,), one number per channel, got {value.shape}: "
                                    "reduce over the frames (axis=0) after concatenating them")

    def near(a, b, rtol=1e-3):
        return np.allclose(a, b, rtol=rtol, atol=1e-4)

    if near(mean, np.mean([s.mean(axis=0) for s in series], axis=0)) \
            and not near(mean, right_mean):
        raise CheckFailed("the mean is the average of each utterance's own mean: a 5-frame "
                          "utterance then counts as much as a 150-frame one. Every frame should "
                          "count once: np.concatenate(series) first, then .mean(axis=0)")
    expect(near(mean, right_mean), f"the per-channel mean should be "
                                   f"{np.round(right_mean, 4).tolist()}, got "
                                   f"{np.round(mean, 4).tolist()}")
    if near(std, np.mean([s.std(axis=0) for s in series], axis=0)):
        raise CheckFailed("the std is the average of each utterance's own std: that misses how "
                          "the utterances differ from each other. Take the std of all frames "
                          "together: np.concatenate(series).std(axis=0)")
    if near(std, right_std ** 2):
        raise CheckFailed("that is the variance (std squared): take its square root, or use "
                          ".std(axis=0)")
    expect(near(std, right_std, rtol=1e-2), f"the per-channel std should be "
                                            f"{np.round(right_std, 4).tolist()}, got "
                                            f"{np.round(std, 4).tolist()}")
    passed("one mean and one std per channel, over every frame of every utterance")

