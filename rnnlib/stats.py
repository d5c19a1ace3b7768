"""Small statistics the course uses to judge its results: a paired test and a seed summary.

- ``mcnemar_exact(a_correct, b_correct)``: do two classifiers, scored on the *same* examples,
  differ? McNemar's exact test looks only at the examples where exactly one of them is right.
- ``seed_summary(values)``: mean, sample standard deviation, min, max and count of one result
  over several random seeds.

Both take plain Python sequences, NumPy arrays or torch tensors, and say clearly what is wrong
with an input they cannot use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["McNemar", "SeedSummary", "mcnemar_exact", "seed_summary"]


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
