"""Self-checks of notebook 09, beyond (``09-beyond.ipynb``): forecasting windows, the
persistence baseline's RMSE, the ridge AR at twice the horizon, and per-channel normalisation
statistics. Each check binds what later cells use (``binds``): the learner's answer when it
passes, otherwise the course's reference below.
"""

from __future__ import annotations

import torch

from rnnlib.checks._common import CheckFailed, binds, expect, expect_answered, passed


def _reference_windows(series: torch.Tensor, window: int, horizon: int):
    n = len(series) - window - horizon + 1
    X = torch.stack([series[i:i + window] for i in range(n)])
    return X[..., None], series[window - 1 + horizon:]


def _reference_persistence_rmse(values, horizon: int) -> float:
    """RMSE of predicting ``values[t]`` by ``values[t - horizon]`` (a 1-D NumPy array)."""
    import numpy as np

    forecast, truth = values[:-horizon], values[horizon:]
    return float(np.sqrt(np.mean((forecast - truth) ** 2)))


def _reference_channel_stats(series):
    """Per-channel mean and std over every frame of every utterance, each (F,)."""
    import numpy as np

    frames = np.concatenate(series)
    return frames.mean(axis=0), frames.std(axis=0)


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


@binds("make_windows", reference=lambda fn: _reference_windows)
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


@binds("persistence_rmse", reference=lambda fn: _reference_persistence_rmse)
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


_SOURCES = {
    "fit": "the 216 utterances the models fit: the strictest for the validation check, whose 54 "
           "utterances then shape nothing; the final models, trained on all 270, are then "
           "scaled with statistics of a part of their data",
    "training": "all 270 training utterances: the data the final models train on; the 54 held "
                "out for validation share in the statistics, a small leak into the validation "
                "check and none into the test",
}


def _channel_stats_reference(fn, stats_from=None):
    """The course's answers: its statistics function, and the learner's decision when it is a
    defensible one, else "training" (the model answer)."""
    choice = stats_from.strip().lower() if isinstance(stats_from, str) else None
    return _reference_channel_stats, (stats_from if choice in _SOURCES else "training")


@binds("channel_stats", "stats_from", reference=_channel_stats_reference)
def channel_stats(fn, stats_from=None) -> None:
    """Exercise 09.4: ``fn(series)`` -> per-channel mean and std over all frames, each (F,);
    then a decision: ``stats_from``, the utterances the statistics come from: ``"fit"`` (the
    216 the models fit), ``"training"`` (all 270) or ``"training and test"`` (all 640).
    """
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
    if stats_from is None or stats_from is Ellipsis:
        raise CheckFailed('the statistics are right. Now the decision: set stats_from = "fit", '
                          '"training" or "training and test", the utterances the mean and std '
                          "come from")
    choice = stats_from.strip().lower() if isinstance(stats_from, str) else stats_from
    if choice == "training and test":
        raise CheckFailed("not with the test utterances: their mean and spread are facts about "
                          "the test set, and every model would be built with them before the "
                          "test is scored. A recording that arrives after the model is built "
                          "is scaled with statistics it had no part in: the test utterances "
                          "stand for those recordings")
    expect(choice in _SOURCES, f"stats_from should be one of 'fit', 'training' or 'training "
                               f"and test', got {stats_from!r}")
    passed("one mean and one std per channel, over every frame of every utterance; "
           f"statistics from {_SOURCES[choice]}")



_PREDICTIONS = ("more", "fewer", "persistence wins")


def _validation_rmse(window: int, horizon: int, lam: float) -> tuple[float, float, float]:
    """(ridge AR, persistence, sigma): RMSE in sunspots on the 1950-1979 validation months.

    The notebook's protocol: split by time at 1950 and 1980, normalise with the training mean
    and std, windows whose targets lie in each split, ridge with an unshrunk bias.
    """
    import numpy as np

    from rnnlib import data

    years, spots = data.load_sunspots()
    i_val, i_test = int(np.searchsorted(years, 1950)), int(np.searchsorted(years, 1980))
    mu, sigma = spots[:i_val].mean(), spots[:i_val].std()
    z = (spots - mu) / sigma

    def windows(start: int, end: int):
        targets = np.arange(max(start, window - 1 + horizon), end)
        X = np.stack([z[t - horizon - window + 1:t - horizon + 1] for t in targets])
        return np.hstack([X, np.ones((len(X), 1))]), z[targets]

    A, y = windows(0, i_val)
    P = np.eye(A.shape[1])
    P[-1, -1] = 0.0
    weights = np.linalg.solve(A.T @ A + lam * P, A.T @ y)
    A_val, y_val = windows(i_val, i_test)
    ar = float(np.sqrt(np.mean((A_val @ weights - y_val) ** 2)) * sigma)
    persistence = float(np.sqrt(np.mean((spots[i_val - horizon:i_test - horizon]
                                         - spots[i_val:i_test]) ** 2)))
    return ar, persistence, float(sigma)


def _notebook_choices(horizons, windows, lambdas) -> tuple[int, int, float]:
    """The notebook's choices, made again from its candidates on the validation months: the
    longest horizon at which persistence beats "one cycle ago" (132 months), then the window
    and ridge strength with the lowest validation RMSE at that horizon."""
    import numpy as np

    from rnnlib import data

    years, spots = data.load_sunspots()
    i_val, i_test = int(np.searchsorted(years, 1950)), int(np.searchsorted(years, 1980))
    months = np.arange(i_val, i_test)
    seasonal = float(np.sqrt(np.mean((spots[months - 132] - spots[months]) ** 2)))
    good = [h for h in horizons if _validation_rmse(1, h, 0.0)[1] < seasonal]
    expect(bool(good), "no horizon in HORIZONS has persistence beating the cycle baseline on "
                       "the validation months; keep the candidates of the parameters cell")
    horizon = max(good)
    scores = {(w, lam): _validation_rmse(w, horizon, lam)[0] for w in windows for lam in lambdas}
    window, lam = min(scores, key=scores.get)
    return horizon, window, lam


def _ar_longer_horizon_reference(prediction, ar_val_rmse_2h, *, horizons, windows, lambdas):
    """The course's answers: the learner's prediction when it is one of the three (a guess is
    not wrong), else what came out; and the measured validation RMSE at twice the horizon."""
    horizon, window, lam = _notebook_choices(list(horizons), list(windows), list(lambdas))
    ar_2h, persistence_2h, _ = _validation_rmse(window, 2 * horizon, lam)
    ar_h, persistence_h, _ = _validation_rmse(window, horizon, lam)
    lead_h, lead_2h = persistence_h - ar_h, persistence_2h - ar_2h
    truth = "persistence wins" if lead_2h < 0 else ("more" if lead_2h > lead_h else "fewer")
    valid = isinstance(prediction, str) and prediction.strip().lower() in _PREDICTIONS
    return (prediction if valid else truth), ar_2h


@binds("prediction", "ar_val_rmse_2h", reference=_ar_longer_horizon_reference)
def ar_longer_horizon(prediction, ar_val_rmse_2h, *, horizons, windows, lambdas) -> None:
    """Exercise 09.3 (experiment): the ridge AR against persistence at twice the horizon.

    ``prediction`` is the learner's recorded guess ("more", "fewer" or "persistence wins": the
    AR's lead over persistence at twice the chosen horizon compared with at the horizon), made
    before measuring; ``ar_val_rmse_2h`` the measured validation RMSE in sunspots of the chosen
    ridge AR at twice the horizon. ``horizons``, ``windows`` and ``lambdas`` are the notebook's
    candidates (its parameters cell): the check makes the notebook's choices again from them.
    The measurement must be right; the prediction is judged, not failed: a wrong guess is what
    an experiment is for.
    """
    if prediction is None or prediction is Ellipsis:
        raise CheckFailed('record your prediction first: set prediction = "more", "fewer" or '
                          '"persistence wins" before you measure anything')
    if not isinstance(prediction, str) or prediction.strip().lower() not in _PREDICTIONS:
        raise CheckFailed(f"prediction should be one of {', '.join(map(repr, _PREDICTIONS))}, "
                          f"got {prediction!r}")
    expect_answered(ar_val_rmse_2h, "ar_val_rmse_2h")
    try:
        measured = float(ar_val_rmse_2h)
    except (TypeError, ValueError):
        raise CheckFailed("ar_val_rmse_2h should be one number, the RMSE in sunspots, got "
                          f"{type(ar_val_rmse_2h).__name__}") from None
    for name, values in (("horizons", horizons), ("windows", windows)):
        if not isinstance(values, list | tuple) or not values or not all(
                isinstance(v, int) and v >= 1 for v in values):
            raise CheckFailed(f"{name} should be a list of positive whole numbers of months, "
                              f"got {values!r}")
    horizon, window, lam = _notebook_choices(horizons, windows, lambdas)
    ar_2h, persistence_2h, sigma = _validation_rmse(window, 2 * horizon, lam)
    ar_h, persistence_h, _ = _validation_rmse(window, horizon, lam)

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= 1e-3 * max(1.0, abs(b))

    if close(measured, ar_h):
        raise CheckFailed(f"{measured:.2f} is the AR's validation RMSE at h = {horizon}: refit "
                          f"it on training windows made with horizon {2 * horizon}")
    if close(measured, persistence_2h):
        raise CheckFailed(f"{measured:.2f} is persistence's validation RMSE at h = "
                          f"{2 * horizon}: the measurement asked for is the ridge AR's")
    if close(measured * sigma, ar_2h):
        raise CheckFailed(f"{measured:.4f} is in normalised units: multiply the RMSE by the "
                          f"training std sigma = {sigma:.1f} to get sunspots")
    expect(abs(measured - ar_2h) <= 0.01 * ar_2h,
           f"the ridge AR (W = {window}, lambda = {lam:g}) fitted on the training windows at h = "
           f"{2 * horizon} scores about {ar_2h:.1f} sunspots on the validation months, but "
           f"ar_val_rmse_2h = {measured:.2f}. Make both the training and the validation "
           "windows with the doubled horizon, and score only the validation windows")
    lead_h, lead_2h = persistence_h - ar_h, persistence_2h - ar_2h
    truth = "persistence wins" if lead_2h < 0 else ("more" if lead_2h > lead_h else "fewer")
    verdict = ("your prediction held" if prediction.strip().lower() == truth else
               f"you predicted {prediction!r}, it came out {truth!r}: worth a thought why")
    passed(f"ridge AR at h = {2 * horizon}: {ar_2h:.1f} sunspots against persistence "
           f"{persistence_2h:.1f} (a lead of {lead_2h:.1f}; at h = {horizon}: {lead_h:.1f}). "
           f"{verdict}")
