"""The self-checks of notebook 09 (beyond): each passes on a right answer, and fails on the stub
and on the typical mistakes with a message that says what is wrong."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from rnnlib import checks
from rnnlib.checks import CheckFailed


def _fails(check, answer, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        check(answer)


# ---- exercise 1: sliding windows

def windows(series, window, horizon, *, shift=0, feature_axis=True, drop_last=False):
    n = len(series) - window - horizon + 1
    X = torch.stack([series[i:i + window] for i in range(n)])
    y = torch.stack([series[i + window - 1 + horizon + shift] if
                     0 <= i + window - 1 + horizon + shift < len(series) else series[-1]
                     for i in range(n)])
    if drop_last:
        X, y = X[:-1], y[:-1]
    return (X[..., None] if feature_axis else X), y


def test_make_windows_passes_on_the_solution(capsys):
    checks.make_windows(windows)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_make_windows_passes_with_unfold_and_numpy_outputs(capsys):
    def unfold(series, window, horizon):
        n = len(series) - window - horizon + 1
        return (series.unfold(0, window, 1)[:n, :, None].numpy(),
                series[window - 1 + horizon:].numpy())

    checks.make_windows(unfold)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda s, w, h: None, "still None"),
    (lambda s, w, h: windows(s, w, h)[0], "should return two things"),
    (lambda s, w, h: windows(s, w, h, feature_axis=False), "add the feature axis"),
    (lambda s, w, h: windows(s, w, h, drop_last=True), "the last window is missing"),
    (lambda s, w, h: windows(s, w, h, shift=-h), "what it can already see"),
    (lambda s, w, h: windows(s, w, h, shift=-1), "off by one"),
    (lambda s, w, h: windows(s, w, h, shift=1), "one step too far ahead"),
    (lambda s, w, h: (windows(s, w, h)[0] * 2, windows(s, w, h)[1]), "X[i, :, 0] should be"),
    (lambda s, w, h: (windows(s, w, h)[0], windows(s, w, h)[1][:, None]),
     "y should have shape"),
])
def test_make_windows_fails_on_stub_and_typical_mistakes(answer, message):
    _fails(checks.make_windows, answer, message)


def test_make_windows_fails_when_the_horizon_is_hard_coded():
    _fails(checks.make_windows, lambda s, w, h: windows(s, w, 3), "for a series of length 12")


# ---- exercise 2: the persistence baseline

def persistence(values, horizon):
    return float(np.sqrt(np.mean((values[:-horizon] - values[horizon:]) ** 2)))


def test_persistence_rmse_passes_on_the_solution_and_on_a_tensor_result(capsys):
    checks.persistence_rmse(persistence)
    checks.persistence_rmse(lambda v, h: torch.tensor(persistence(v, h)))
    assert capsys.readouterr().out.count("\N{CHECK MARK}") == 2


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda v, h: None, "still None"),
    (lambda v, h: persistence(v, h) ** 2, "the mean squared error"),
    (lambda v, h: np.sqrt(np.sum((v[:-h] - v[h:]) ** 2)), "SUM of squared errors"),
    (lambda v, h: np.mean(np.abs(v[:-h] - v[h:])), "the mean absolute error"),
    (lambda v, h: np.std(v[:-h] - v[h:]), "standard deviation of the errors"),
    (lambda v, h: persistence(v, 1), "using the horizon argument"),
    (lambda v, h: 0.0, "compared with itself"),
    (lambda v, h: v[h:] - v[:-h], "should return one number"),
    (lambda v, h: persistence(v, h) + 1, "the persistence RMSE is"),
])
def test_persistence_rmse_fails_on_stub_and_typical_mistakes(answer, message):
    _fails(checks.persistence_rmse, answer, message)


# ---- exercise 4: per-channel statistics, and the decision where they come from

def stats(series):
    frames = np.concatenate(series)
    return frames.mean(axis=0), frames.std(axis=0)


def test_channel_stats_passes_on_numpy_torch_and_the_unbiased_std(capsys):
    checks.channel_stats(stats, "training")
    checks.channel_stats(lambda s: tuple(torch.tensor(v) for v in stats(s)), "training")
    checks.channel_stats(lambda s: (np.concatenate(s).mean(0), np.concatenate(s).std(0, ddof=1)),
                         "fit")
    assert capsys.readouterr().out.count("\N{CHECK MARK}") == 3


@pytest.mark.parametrize("choice, says", [("training", "all 270 training utterances"),
                                          (" Fit", "the 216 utterances the models fit")])
def test_channel_stats_accepts_either_training_choice_and_says_what_it_costs(capsys, choice, says):
    checks.channel_stats(stats, choice)
    assert says in capsys.readouterr().out


@pytest.mark.parametrize("choice, message", [
    (None, "Now the decision"), (..., "Now the decision"),
    ("training and test", "not with the test utterances"), ("all", "should be one of"),
])
def test_channel_stats_asks_for_a_decision_that_keeps_the_test_set_out(choice, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        checks.channel_stats(stats, choice)


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda s: None, "still None"),
    (lambda s: stats(s)[0], "should return two things"),
    (lambda s: (np.concatenate(s).mean(1), np.concatenate(s).std(1)), "one number per channel"),
    (lambda s: (np.mean([u.mean(0) for u in s], 0), stats(s)[1]), "each utterance's own mean"),
    (lambda s: (stats(s)[0], np.mean([u.std(0) for u in s], 0)), "each utterance's own std"),
    (lambda s: (stats(s)[0], stats(s)[1] ** 2), "the variance"),
    (lambda s: (stats(s)[0] + 1, stats(s)[1]), "the per-channel mean should be"),
    (lambda s: (stats(s)[0], stats(s)[1] * 2), "the per-channel std should be"),
])
def test_channel_stats_fails_on_stub_and_typical_mistakes(answer, message):
    _fails(lambda fn: checks.channel_stats(fn, "training"), answer, message)


# ---- exercise 3 (experiment): the ridge AR at twice the horizon

from rnnlib.checks.beyond import _validation_rmse  # noqa: E402

W, LAM, H = 60, 10.0, 12
CANDIDATES = {"horizons": [6, 12, 18], "windows": [W], "lambdas": [LAM]}   # chooses h = 12


def test_validation_rmse_matches_an_independent_ridge_fit():
    from rnnlib import data

    years, spots = data.load_sunspots()
    i_val, i_test = int(np.searchsorted(years, 1950)), int(np.searchsorted(years, 1980))
    mu, sigma = spots[:i_val].mean(), spots[:i_val].std()
    z = torch.tensor((spots - mu) / sigma)

    def split(start, end):
        first = max(start - W - H + 1, 0)
        X, y = windows(z[first:end], W, H)
        return torch.cat([X[..., 0], torch.ones(len(X), 1, dtype=X.dtype)], 1), y

    A, y = split(0, i_val)
    P = torch.eye(W + 1, dtype=A.dtype)
    P[-1, -1] = 0
    stacked = torch.linalg.lstsq(torch.cat([A, LAM ** 0.5 * P]),
                                 torch.cat([y, torch.zeros(W + 1, dtype=A.dtype)])).solution
    A_val, y_val = split(i_val, i_test)
    assert len(y_val) == i_test - i_val
    expected = float(((A_val @ stacked - y_val) ** 2).mean().sqrt()) * sigma
    ar, persistence, got_sigma = _validation_rmse(W, H, LAM)
    assert ar == pytest.approx(expected, rel=1e-6)
    assert got_sigma == pytest.approx(sigma)
    assert persistence == pytest.approx(persistence_rmse_of(spots[i_val - H:i_test], H), rel=1e-9)
    assert ar < persistence        # a linear model of 5 years beats "as it is now" at h = 12


def persistence_rmse_of(values, h):
    return float(np.sqrt(np.mean((values[:-h] - values[h:]) ** 2)))


def test_ar_longer_horizon_passes_on_the_measurement_and_judges_the_prediction(capsys):
    right = _validation_rmse(W, 2 * H, LAM)[0]
    for guess in ("more", "fewer", "persistence wins"):
        checks.beyond.ar_longer_horizon(guess, right, **CANDIDATES)
    out = capsys.readouterr().out
    assert out.count("\N{CHECK MARK}") == 3
    assert out.count("your prediction held") == 1 and out.count("worth a thought why") == 2


@pytest.mark.parametrize("prediction, measured, message", [
    (None, 1.0, "record your prediction first"),
    ("less", 1.0, "prediction should be one of"),
    ("more", ..., "ar_val_rmse_2h is still Ellipsis"),
    ("more", "x", "should be one number"),
    ("more", "h", "RMSE at h = 12: refit"),
    ("more", "persistence", "persistence's validation RMSE"),
    ("more", "normalised", "in normalised units"),
    ("more", "off", "scores about"),
])
def test_ar_longer_horizon_fails_helpfully(prediction, measured, message):
    ar_2h, persistence_2h, sigma = _validation_rmse(W, 2 * H, LAM)
    measured = {"h": _validation_rmse(W, H, LAM)[0], "persistence": persistence_2h,
                "normalised": ar_2h / sigma, "off": ar_2h * 1.1}.get(measured, measured) \
        if isinstance(measured, str) and measured != "x" else measured
    with pytest.raises(CheckFailed, match=re.escape(message)):
        checks.beyond.ar_longer_horizon(prediction, measured, **CANDIDATES)


def test_ar_longer_horizon_rejects_bad_candidates():
    with pytest.raises(CheckFailed, match="windows should be a list of positive whole numbers"):
        checks.beyond.ar_longer_horizon("more", 30.0, horizons=[12], windows=[0], lambdas=[LAM])


def test_the_check_makes_the_notebooks_choices_from_its_candidates():
    from rnnlib.checks.beyond import _notebook_choices

    assert _notebook_choices([1, 3, 6, 12, 18, 24, 36], [24, 60, 120],
                             [0.1, 1.0, 10.0, 100.0, 1000.0]) == (12, 120, 100.0)


# ---- check and go on: outside strict mode each check binds what later cells use

def _go_on(monkeypatch):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS", raising=False)


def _stub_windows(series, window, horizon):
    ...


def _stub_persistence(values, horizon):
    ...


def _stub_stats(series):
    ...


def test_make_windows_binds_the_reference_on_the_stub_and_a_wrong_answer(monkeypatch, capsys):
    from rnnlib.checks.beyond import _reference_windows

    _go_on(monkeypatch)
    assert checks.make_windows(_stub_windows) is _reference_windows
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "`make_windows` not written yet" in out
    def wrong(s, w, h):
        return windows(s, w, h, shift=1)

    assert checks.make_windows(wrong) is _reference_windows
    out = capsys.readouterr().out
    assert "\N{BALLOT X}" in out and "one step too far ahead" in out
    assert checks.make_windows(windows) is windows
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_persistence_rmse_binds_the_reference_on_the_stub_and_a_wrong_answer(monkeypatch, capsys):
    from rnnlib.checks.beyond import _reference_persistence_rmse

    _go_on(monkeypatch)
    assert checks.persistence_rmse(_stub_persistence) is _reference_persistence_rmse
    assert "`persistence_rmse` not written yet" in capsys.readouterr().out
    def wrong(v, h):
        return persistence(v, h) ** 2

    assert checks.persistence_rmse(wrong) is _reference_persistence_rmse
    assert "the mean squared error" in capsys.readouterr().out
    assert checks.persistence_rmse(persistence) is persistence
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0])
    assert _reference_persistence_rmse(values, 2) == pytest.approx(persistence(values, 2))


def test_channel_stats_binds_the_reference_and_keeps_a_defensible_decision(monkeypatch, capsys):
    from rnnlib.checks.beyond import _reference_channel_stats

    _go_on(monkeypatch)
    fn, where = checks.channel_stats(_stub_stats, None)
    assert fn is _reference_channel_stats and where == "training"
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "`channel_stats` and `stats_from` not written yet" in out
    fn, where = checks.channel_stats(stats, "training and test")
    assert fn is _reference_channel_stats and where == "training"
    assert "not with the test utterances" in capsys.readouterr().out
    def mean_only(series):
        return stats(series)[0]

    fn, where = checks.channel_stats(mean_only, "fit")
    assert fn is _reference_channel_stats and where == "fit"
    assert "should return two things" in capsys.readouterr().out
    assert checks.channel_stats(stats, "fit") == (stats, "fit")
    series = [np.arange(6.0).reshape(3, 2), np.ones((1, 2))]
    for got, right in zip(_reference_channel_stats(series), stats(series), strict=True):
        np.testing.assert_allclose(got, right)


def test_ar_longer_horizon_binds_the_measurement_on_the_stub_and_a_wrong_answer(monkeypatch,
                                                                               capsys):
    _go_on(monkeypatch)
    right = _validation_rmse(W, 2 * H, LAM)[0]
    prediction, measured = checks.beyond.ar_longer_horizon(None, ..., **CANDIDATES)
    assert prediction in ("more", "fewer", "persistence wins") and measured == pytest.approx(right)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "`prediction` and `ar_val_rmse_2h` not written yet" in out
    prediction, measured = checks.beyond.ar_longer_horizon("fewer", right * 1.1, **CANDIDATES)
    assert prediction == "fewer" and measured == pytest.approx(right)
    assert "scores about" in capsys.readouterr().out
    assert checks.beyond.ar_longer_horizon("more", right, **CANDIDATES) == ("more", right)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_stored_persistence_figure_is_the_persistence_of_the_test_months():
    """The notebook's test persistence, forecast window by window, equals the exercise's
    persistence RMSE over the test months: the windows cover every test month, once."""
    import nbformat

    from rnnlib import data
    from rnnlib.course import repo_file

    years, spots = data.load_sunspots()
    i_test = int(np.searchsorted(years, 1980))
    stored = nbformat.read(repo_file("notebooks/09-beyond.ipynb"), as_version=4)
    reported = stored.metadata["rnnlib"]["outputs"]["figures"]["sunspots_persistence_rmse"]
    assert reported == pytest.approx(persistence_rmse_of(spots[i_test - H:], H), rel=1e-4)
