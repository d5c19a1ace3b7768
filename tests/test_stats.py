"""rnnlib.stats: McNemar's exact test against hand computations and an independent formula,
and the seed summary against NumPy; bad input gets an error that names it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnlib.stats import McNemar, SeedSummary, mcnemar_exact, seed_summary


def pairs(b: int, c: int, both_right: int = 0, both_wrong: int = 0):
    """Correctness vectors with b (A right, B wrong) and c (A wrong, B right) examples."""
    a = [True] * b + [False] * c + [True] * both_right + [False] * both_wrong
    b_ = [False] * b + [True] * c + [True] * both_right + [False] * both_wrong
    return a, b_


# ---- McNemar's exact test

@pytest.mark.parametrize("b, c, p", [
    (1, 5, 14 / 64),        # n = 6: 2 * (C(6,0) + C(6,1)) / 2^6 = 2 * 7 / 64
    (0, 3, 2 / 8),          # n = 3: 2 * C(3,0) / 2^3
    (0, 10, 2 / 1024),      # n = 10: 2 / 2^10
    (3, 7, 2 * (1 + 10 + 45 + 120) / 1024),  # n = 10, min 3: 2 * 176 / 1024 = 0.34375
    (2, 2, 1.0),            # 2 * 11/16 > 1: capped at 1
    (0, 0, 1.0),            # no discordant pair: nothing to tell them apart
])
def test_mcnemar_exact_matches_hand_computations(b, c, p):
    a, b_ = pairs(b, c, both_right=4, both_wrong=3)
    result = mcnemar_exact(a, b_)
    assert isinstance(result, McNemar)
    assert (result.b, result.c) == (b, c)
    assert result.p_value == pytest.approx(p, rel=1e-12)


def test_mcnemar_exact_equals_the_sum_of_outcomes_no_more_likely_than_observed():
    # An independent definition of the two-sided exact p-value: add the probabilities of every
    # outcome of Binomial(n, 1/2) that is at most as likely as the observed one.
    for b in range(0, 25):
        for c in range(0, 25):
            n = b + c
            if n == 0:
                continue
            probs = [math.comb(n, k) / 2 ** n for k in range(n + 1)]
            expected = sum(q for q in probs if q <= probs[b] * (1 + 1e-12))
            a, b_ = pairs(b, c)
            assert mcnemar_exact(a, b_).p_value == pytest.approx(min(1.0, expected), rel=1e-9)


def test_mcnemar_exact_is_symmetric_and_ignores_concordant_examples():
    a, b_ = pairs(4, 11)
    forward, backward = mcnemar_exact(a, b_), mcnemar_exact(b_, a)
    assert (forward.b, forward.c) == (backward.c, backward.b)
    assert forward.p_value == backward.p_value
    a2, b2 = pairs(4, 11, both_right=500, both_wrong=200)
    assert mcnemar_exact(a2, b2) == forward


def test_mcnemar_exact_takes_numpy_torch_and_zero_one_inputs():
    a, b_ = pairs(2, 9, both_right=3)
    expected = mcnemar_exact(a, b_)
    assert mcnemar_exact(np.array(a), np.array(b_)) == expected
    assert mcnemar_exact(torch.tensor(a), torch.tensor(b_)) == expected
    assert mcnemar_exact(np.array(a, dtype=int), torch.tensor(b_, dtype=torch.float32)) == expected
    b, c, p = expected  # unpacks as (b, c, p)
    assert (b, c) == (2, 9) and 0 < p < 1


@pytest.mark.parametrize("a, b_, error, message", [
    ([True, False], [True], ValueError, "same examples, got 2 and 1"),
    ([], [], ValueError, "a_correct is empty"),
    ([[True, False]], [[True, False]], ValueError, "should be 1-D"),
    ([0, 1, 2], [0, 1, 1], ValueError, "Got 2 at index 2. Pass (predictions == labels)"),
    ([True, False], "TF", TypeError, "b_correct should be a 1-D sequence"),
    (5, [True], TypeError, "a_correct should be a 1-D sequence"),
    (["yes", "no"], [True, False], TypeError, "dtype <U3"),
])
def test_mcnemar_exact_says_what_is_wrong_with_bad_input(a, b_, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        mcnemar_exact(a, b_)


# ---- seed summary

def test_seed_summary_matches_numpy_with_ddof_1():
    values = [0.772, 0.7796, 0.7758, 0.781]
    result = seed_summary(values)
    assert isinstance(result, SeedSummary)
    assert result.mean == pytest.approx(np.mean(values))
    assert result.std == pytest.approx(np.std(values, ddof=1))
    assert result.std != pytest.approx(np.std(values))      # not the population std
    assert (result.min, result.max, result.n) == (0.772, 0.781, 4)


def test_seed_summary_by_hand_and_from_a_tensor():
    # 1, 2, 3: mean 2, sample variance ((1 + 0 + 1) / 2) = 1
    assert seed_summary(torch.tensor([1.0, 2.0, 3.0])) == SeedSummary(2.0, 1.0, 1.0, 3.0, 3)
    assert seed_summary(np.array([5, 5])) == SeedSummary(5.0, 0.0, 5.0, 5.0, 2)


def test_seed_summary_text_formats_every_field():
    line = seed_summary([0.5, 0.7]).text("{:.1%}")
    assert line == "60.0% ± 14.1% (min 50.0%, max 70.0%, n=2)"


@pytest.mark.parametrize("values, error, message", [
    ([0.7], ValueError, "at least 2 values"),
    ([], ValueError, "values is empty"),
    ([0.7, float("nan"), 0.8], ValueError, "finite, got nan at index 1"),
    ([0.7, float("inf")], ValueError, "diverged"),
    ([[0.7, 0.8]], ValueError, "should be 1-D"),
    (0.7, TypeError, "1-D sequence"),
    ([True, False], TypeError, "should be numbers"),
    (["0.7", "0.8"], TypeError, "should be numbers"),
])
def test_seed_summary_says_what_is_wrong_with_bad_input(values, error, message):
    with pytest.raises(error, match=message):
        seed_summary(values)


# -- Student's t, the paired t-test, binomial intervals, Diebold-Mariano --------------------------

@pytest.mark.parametrize(("q", "df", "expected"), [
    (0.975, 1, 12.706205), (0.975, 2, 4.302653), (0.975, 5, 2.570582), (0.975, 30, 2.042272),
    (0.95, 10, 1.812461), (0.5, 7, 0.0)])
def test_t_quantiles_match_the_printed_tables(q, df, expected):
    from rnnlib.stats import t_quantile

    assert t_quantile(q, df) == pytest.approx(expected, abs=2e-6)


def test_t_cdf_has_the_closed_form_of_two_degrees_of_freedom():
    """With 2 degrees of freedom P(T <= t) = 1/2 + t / (2 sqrt(t^2 + 2)), exactly."""
    from rnnlib.stats import t_cdf

    for t in (-7.0, -1.3, 0.0, 0.4, 2.6, 30.0):
        assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(t * t + 2)), abs=1e-12)


def test_paired_t_by_hand_and_its_interval():
    from rnnlib.stats import paired_t

    a, b = [1.0, 2.0, 3.5], [0.5, 1.1, 2.0]
    d = [0.5, 0.9, 1.5]
    mean = sum(d) / 3
    se = math.sqrt(sum((x - mean) ** 2 for x in d) / 2) / math.sqrt(3)
    result = paired_t(a, b)
    assert result.mean == pytest.approx(mean) and result.se == pytest.approx(se)
    assert result.t == pytest.approx(mean / se) and result.df == 2
    t = mean / se
    assert result.p_value == pytest.approx(1 - t / math.sqrt(t * t + 2), abs=1e-12)
    assert result.low == pytest.approx(mean - 4.302653 * se, abs=1e-5)
    assert result.p_value > 0.05 and result.low < 0 < result.high  # 3.3 SE is not enough at df=2


def test_paired_t_refuses_unpaired_or_too_few_values():
    from rnnlib.stats import paired_t

    with pytest.raises(ValueError, match="paired"):
        paired_t([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        paired_t([1.0], [2.0])


def test_binomial_interval_is_wilsons():
    from rnnlib.stats import binomial_interval

    low, high = binomial_interval(770, 1000)
    # Wilson's interval for 77% of 1,000 at 95% (z = 1.959964), computed by hand
    z, p, n = 1.959964, 0.77, 1000
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (low, high) == pytest.approx((centre - half, centre + half), abs=1e-6)
    assert binomial_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert binomial_interval(10, 10)[1] == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="0 <= k <= n"):
        binomial_interval(11, 10)


def test_diebold_mariano_sees_a_real_difference_and_not_a_fake_one():
    import numpy as np

    from rnnlib.stats import diebold_mariano

    rng = np.random.default_rng(0)
    target_noise = rng.normal(size=400)
    good, bad = 0.5 * target_noise, 1.5 * target_noise + 0.2 * rng.normal(size=400)
    better = diebold_mariano(good, bad, horizon=1)
    assert better.mean < 0 and better.p_value < 1e-6
    same = diebold_mariano(good, good[::-1].copy(), horizon=1)
    assert same.p_value > 0.05
    with pytest.raises(ValueError, match="horizon"):
        diebold_mariano(good, bad, horizon=0)


def test_diebold_mariano_widens_with_the_horizon_on_autocorrelated_differences():
    """Overlapping multi-step forecasts give correlated loss differences: allowing for them
    must make the same mean difference less significant than pretending they are independent."""
    import numpy as np

    from rnnlib.stats import diebold_mariano

    rng = np.random.default_rng(1)
    shocks = rng.normal(size=312)
    smooth = np.convolve(shocks, np.ones(12) / 12, mode="valid")  # correlated over 12 steps
    a, b = 1.0 + 0.3 * smooth, np.full_like(smooth, 1.05)
    naive, allowed = diebold_mariano(a, b, horizon=1), diebold_mariano(a, b, horizon=12)
    assert abs(allowed.statistic) < abs(naive.statistic)
