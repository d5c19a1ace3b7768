"""Small statistics the course uses to judge its results: paired tests, intervals, seeds.

- ``mcnemar_exact(a_correct, b_correct)``: do two classifiers, scored on the *same* examples,
  differ? McNemar's exact test looks only at the examples where exactly one of them is right.
- ``paired_t(a, b)``: do two models differ, run on the same seeds (or any pairs)? Student's
  t on the paired differences, with the t quantile of n - 1 degrees of freedom (with 3 seeds,
  2 degrees of freedom: the 5% two-sided critical value is 4.30, not 2).
- ``binomial_interval(k, n)``: the 95% (Wilson) interval of an accuracy of k right out of n.
- ``diebold_mariano(errors_a, errors_b, horizon)``: do two forecasts, scored on the same months,
  differ in squared error? The loss differences of neighbouring months are correlated, which
  the test's variance allows for (Diebold & Mariano 1995, with the small-sample correction of
  Harvey, Leybourne & Newbold 1997).
- ``seed_summary(values)``: mean, sample standard deviation, min, max and count of one result
  over several random seeds.

All take plain Python sequences, NumPy arrays or torch tensors, and say clearly what is wrong
with an input they cannot use. Student's t distribution is computed here (its CDF through the
regularised incomplete beta function), so the course needs no statistics package.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any, NamedTuple

import numpy as np

__all__ = ["McNemar", "SeedSummary", "PairedT", "DieboldMariano", "mcnemar_exact",
           "seed_summary", "paired_t", "binomial_interval", "diebold_mariano", "t_cdf",
           "t_quantile"]


class McNemar(NamedTuple):
    """The result of ``mcnemar_exact``: unpack it as ``b, c, p = mcnemar_exact(...)``.

    ``b``: examples A got right and B got wrong; ``c``: A wrong, B right; ``p_value``: the
    exact two-sided p-value of "A and B are equally accurate on these examples".
    """

    b: int
    c: int
    p_value: float


class SeedSummary(NamedTuple):
    """The result of ``seed_summary``: ``mean``, ``std`` (ddof=1), ``min``, ``max``, ``n``."""

    mean: float
    std: float
    min: float
    max: float
    n: int

    def text(self, fmt: str = "{:.4g}") -> str:
        """One line for a table, e.g. ``text("{:.1%}")`` -> ``"77.2% ± 0.5% (min 76.6%, max
        77.7%, n=3)"``; the ± is the standard deviation over seeds, not a standard error."""
        return (f"{fmt.format(self.mean)} ± {fmt.format(self.std)} (min {fmt.format(self.min)}, "
                f"max {fmt.format(self.max)}, n={self.n})")


def _as_array(where: str, name: str, values: Any) -> np.ndarray:
    """``values`` as a 1-D NumPy array, or a ValueError/TypeError that names the argument."""
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise TypeError(f"{where}: {name} should be a 1-D sequence (list, NumPy array or torch "
                        f"tensor), got {type(values).__name__}")
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{where}: {name} should be 1-D (one entry per example or seed), got "
                         f"shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{where}: {name} is empty")
    return array


def _as_bools(name: str, values: Any) -> np.ndarray:
    array = _as_array("mcnemar_exact", name, values)
    if array.dtype == bool:
        return array
    if array.dtype.kind in "iuf":
        bad = ~np.isin(array, (0, 1))
        if not bad.any():
            return array.astype(bool)
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"mcnemar_exact: {name} should hold True/False (or 0/1) per example, "
                         f"was each prediction right? Got {array[first].item()!r} at "
                         f"index {first}. Pass (predictions == labels), not the predictions")
    raise TypeError(f"mcnemar_exact: {name} should hold True/False (or 0/1) per example, got "
                    f"dtype {array.dtype}")


def mcnemar_exact(a_correct: Sequence[bool] | np.ndarray, b_correct: Sequence[bool] | np.ndarray
                  ) -> McNemar:
    """McNemar's exact test for two classifiers A and B scored on the same examples.

    Args:
        a_correct, b_correct: ``(N,)`` booleans (or 0/1): was A's (B's) prediction right on
            example k? Both in the same order, over the same N examples.

    Returns:
        ``McNemar(b, c, p_value)``. Only the discordant examples carry information: ``b`` where
        A is right and B wrong, ``c`` where A is wrong and B right. If A and B are equally
        accurate, each of the ``n = b + c`` discordant examples is equally likely to fall either
        way, so ``b ~ Binomial(n, 1/2)``, and the exact two-sided p-value is

            p = min(1, 2 * sum_{k=0}^{min(b, c)} C(n, k) / 2^n),   p = 1 when n = 0.

    A small p says the two accuracies differ by more than the luck of which examples each
    happened to get right; a large p says this test set cannot tell them apart (not that they
    are equal).

    Raises:
        TypeError, ValueError: an input that is not 1-D booleans (or 0/1), or two inputs of
            different lengths.
    """
    a = _as_bools("a_correct", a_correct)
    b_ = _as_bools("b_correct", b_correct)
    if a.shape != b_.shape:
        raise ValueError(f"mcnemar_exact: a_correct and b_correct should score the same "
                         f"examples, got {a.size} and {b_.size} entries")
    b = int(np.sum(a & ~b_))
    c = int(np.sum(~a & b_))
    n = b + c
    if n == 0:
        return McNemar(b, c, 1.0)
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))  # exact integers
    return McNemar(b, c, min(1.0, 2 * tail / 2 ** n))


def seed_summary(values: Sequence[float] | np.ndarray) -> SeedSummary:
    """Mean, sample standard deviation (ddof=1), min, max and count of one result over seeds.

    Args:
        values: ``(n,)`` finite numbers, one per seed, n >= 2.

    Returns:
        ``SeedSummary(mean, std, min, max, n)`` as Python floats (and an int). ``std`` is the
        spread of single runs; the standard error of the mean is ``std / sqrt(n)``.

    Raises:
        TypeError, ValueError: not a 1-D sequence of numbers, fewer than 2 of them (no standard
            deviation), or a NaN/inf (a diverged run? say so rather than average it).
    """
    array = _as_array("seed_summary", "values", values)
    if array.dtype == bool or array.dtype.kind not in "iuf":
        raise TypeError(f"seed_summary: values should be numbers, one per seed, got dtype "
                        f"{array.dtype}")
    array = array.astype(np.float64)
    if array.size < 2:
        raise ValueError(f"seed_summary: needs at least 2 values for a standard deviation "
                         f"(ddof=1), got {array.size}: run more seeds")
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"seed_summary: values should be finite, got {array[first]} at index "
                         f"{first} (a diverged run?)")
    return SeedSummary(float(array.mean()), float(array.std(ddof=1)), float(array.min()),
                       float(array.max()), int(array.size))


# -- Student's t -------------------------------------------------------------------------------

def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), for 0 <= x <= 1."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x)
                 + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):  # the fraction converges fast here; else use symmetry
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"t_cdf: df should be positive, got {df}")
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))  # P(T > |t|)
    return 1.0 - tail if t >= 0 else tail


def t_quantile(q: float, df: float) -> float:
    """The t with P(T <= t) = q (bisection on ``t_cdf``): ``t_quantile(0.975, 2)`` is 4.30."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"t_quantile: q should be strictly between 0 and 1, got {q}")
    low, high = -1e6, 1e6
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if t_cdf(middle, df) < q else (low, middle)
    return (low + high) / 2


class PairedT(NamedTuple):
    """The result of ``paired_t``: the mean of ``a - b``, its standard error, t, the degrees
    of freedom, the two-sided p-value, and the 95% confidence interval of the mean difference."""

    mean: float
    se: float
    t: float
    df: int
    p_value: float
    low: float
    high: float


def _as_numbers(where: str, name: str, values: Any) -> np.ndarray:
    array = _as_array(where, name, values)
    if array.dtype == bool or array.dtype.kind not in "iuf":
        raise TypeError(f"{where}: {name} should be numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        first = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"{where}: {name} should be finite, got {array[first]} at index {first}")
    return array


def _pair(where: str, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    a_, b_ = _as_numbers(where, "a", a), _as_numbers(where, "b", b)
    if a_.shape != b_.shape:
        raise ValueError(f"{where}: a and b should be paired, one entry each per seed (or "
                         f"example), got {a_.size} and {b_.size} entries")
    return a_, b_


def paired_t(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> PairedT:
    """Student's paired t-test of "a and b have the same mean", on the differences d = a - b.

    With n pairs, t = mean(d) / (sd(d) / sqrt(n)) has n - 1 degrees of freedom; the p-value and
    the interval use that t distribution, so 3 seeds need |t| > 4.30 for p < 0.05 (two-sided).

    Raises:
        TypeError, ValueError: not 1-D numbers, unpaired lengths, fewer than 2 pairs, or a
            NaN/inf.
    """
    a_, b_ = _pair("paired_t", a, b)
    d = a_ - b_
    if d.size < 2:
        raise ValueError(f"paired_t: needs at least 2 pairs, got {d.size}")
    df = d.size - 1
    mean, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size))
    if se == 0.0:
        t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0.0 else 0.0
    else:
        t = mean / se
        p = 2.0 * (1.0 - t_cdf(abs(t), df))
    half = t_quantile(0.975, df) * se
    return PairedT(mean, se, t, df, min(1.0, p), mean - half, mean + half)


def binomial_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion of ``k`` successes out of ``n``.

    For an accuracy measured once on n examples: with n = 1,000 and 77% right, about ±2.6
    points. The interval says how much the figure would move on another sample of the same size
    from the same source, not how much it would move with another seed.
    """
    if not (isinstance(k, int | np.integer) and isinstance(n, int | np.integer)):
        raise TypeError(f"binomial_interval: k and n should be whole numbers, got {k!r}, {n!r}")
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"binomial_interval: expected 0 <= k <= n and n > 0, got k={k}, n={n}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"binomial_interval: level should be between 0 and 1, got {level}")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


class DieboldMariano(NamedTuple):
    """The result of ``diebold_mariano``: the mean loss difference (A's squared error minus
    B's), the test statistic (Harvey et al.'s corrected form), its degrees of freedom and the
    two-sided p-value from Student's t."""

    mean: float
    statistic: float
    df: int
    p_value: float


def diebold_mariano(errors_a: Sequence[float] | np.ndarray, errors_b: Sequence[float] |
                    np.ndarray, horizon: int = 1) -> DieboldMariano:
    """Do forecasts A and B, scored on the same periods, differ in mean squared error?

    d_t = e_a,t^2 - e_b,t^2. Forecasts ``horizon`` steps ahead make neighbouring d_t correlated
    up to lag horizon - 1, so the variance of mean(d) sums those autocovariances (Diebold &
    Mariano 1995); the statistic is then corrected for a small sample and compared with
    Student's t with n - 1 degrees of freedom (Harvey, Leybourne & Newbold 1997). A negative
    mean says A's squared errors are smaller.
    """
    a_, b_ = _pair("diebold_mariano", errors_a, errors_b)
    if not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ValueError(f"diebold_mariano: horizon should be a whole number >= 1, got "
                         f"{horizon!r}")
    d = a_ ** 2 - b_ ** 2
    n = d.size
    if n <= 2 * horizon:
        raise ValueError(f"diebold_mariano: needs more than 2 * horizon = {2 * horizon} periods, "
                         f"got {n}")
    centred = d - d.mean()
    gammas = [float(centred[k:] @ centred[:n - k]) / n for k in range(horizon)]
    variance = (gammas[0] + 2 * sum(gammas[1:])) / n
    if variance <= 0:
        raise ValueError("diebold_mariano: the loss differences have no variance left after "
                         "the autocovariance correction; use a smaller horizon")
    statistic = float(d.mean()) / math.sqrt(variance)
    statistic *= math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    p = 2.0 * (1.0 - t_cdf(abs(statistic), n - 1))
    return DieboldMariano(float(d.mean()), statistic, n - 1, min(1.0, p))
