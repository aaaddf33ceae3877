"""Paired statistics for two candidates scored on the same items.

Two evaluations on the same benchmark items are paired data: item i is easy or hard for both.
Paired tests use that, and are far more sensitive than comparing two confidence intervals.

- The difference B − A of a metric's mean gets a 95 % CI from a paired bootstrap: resample
  items (the same items for both candidates) and take the 2.5 and 97.5 percentiles of the
  resampled mean differences (Koehn 2004, the usual test in MT and NLP evaluation).
- Its p-value: for a 0/1 metric, the exact McNemar test, which looks only at the items where
  the two disagree (B right and A wrong: a win; the reverse: a loss) and asks how likely a split
  at least this uneven is from a fair coin (a two-sided binomial test). For a graded metric
  (arg_f1), a paired permutation test: swap A's and B's score on random items.

A comparison tests many differences at once (every metric, overall and per group), so each
p-value is also adjusted with Holm's step-down method over the family a command tests
(statsmodels): a verdict of "significant" keeps the chance of any false alarm in the family
below alpha. And with few items only large differences can be seen at all: the minimum
detectable difference is the smallest true difference a two-sided paired test finds with 80 %
power at the given number of items and the observed spread of the paired differences.

Seeds are fixed, so the same two evaluations always give the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

RESAMPLES = 10_000
SEED = 0
POWER = 0.8
"""The power at which the minimum detectable difference is stated."""


@dataclass(frozen=True, slots=True)
class McNemar:
    wins: int
    """Items B gets right and A wrong."""
    losses: int
    """Items A gets right and B wrong."""
    p_value: float


def mcnemar_exact(a: Sequence[float], b: Sequence[float]) -> McNemar:
    """Exact (binomial) McNemar test on paired 0/1 scores."""
    _check_paired(a, b)
    wins = sum(1 for x, y in zip(a, b) if y > x)
    losses = sum(1 for x, y in zip(a, b) if x > y)
    if wins + losses == 0:
        return McNemar(0, 0, 1.0)
    from scipy import stats  # here, not at the top: it costs every fcbench command half a second

    return McNemar(wins, losses, float(stats.binomtest(wins, wins + losses, 0.5).pvalue))


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95, resamples: int = RESAMPLES, seed: int = SEED) -> tuple[float, float]:
    """Percentile CI of mean(b) − mean(a), resampling items with replacement."""
    _check_paired(a, b)
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if diff.size == 0:
        return (math.nan, math.nan)
    if np.all(diff == diff[0]):  # every resample gives the same mean
        return (float(diff[0]), float(diff[0]))
    from scipy import stats

    result = stats.bootstrap((diff,), np.mean, n_resamples=resamples, confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed), vectorized=True)
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


def paired_permutation_p(a: Sequence[float], b: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED) -> float:
    """Two-sided p-value of mean(b) − mean(a) under random swaps of A and B within items
    (exact, by enumeration, when there are few enough items)."""
    _check_paired(a, b)
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    # One item has two sign patterns, +d and -d, both as extreme as the observed d: p = 1 (and
    # scipy refuses a sample of one, so a category with a single shared item needs this).
    if x.size < 2 or np.array_equal(x, y):
        return 1.0
    from scipy import stats

    result = stats.permutation_test(
        (x, y), _mean_difference, permutation_type="samples", n_resamples=resamples, alternative="two-sided", vectorized=True, rng=np.random.default_rng(seed),
    )
    return float(min(1.0, result.pvalue))


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(y - x, axis=axis)


def _check_paired(a: Sequence[float], b: Sequence[float]) -> None:
    if len(a) != len(b):
        raise ValueError(f"paired scores need the same items: {len(a)} against {len(b)}")


@dataclass(frozen=True, slots=True)
class PairedDifference:
    """B − A on one metric and one group of items."""

    metric: str
    group: str
    n: int
    a_mean: float
    b_mean: float
    low: float
    high: float
    p_value: float
    test: str
    """``mcnemar`` (0/1 metrics) or ``permutation`` (graded ones)."""
    wins: int | None = None
    losses: int | None = None
    sd: float = 0.0
    """Standard deviation of the per-item differences B − A."""
    adjusted_p: float | None = None
    """The p-value after Holm's correction over the family it was tested in (None: not adjusted)."""

    @property
    def difference(self) -> float:
        return self.b_mean - self.a_mean

    @property
    def decisive_p(self) -> float:
        """What significance is judged on: the adjusted p-value where there is one."""
        return self.p_value if self.adjusted_p is None else self.adjusted_p

    def significant(self, alpha: float = 0.05) -> bool:
        """``decisive_p`` below ``alpha``; alpha 1 asks for no significance at all (an adjusted
        p-value can be 1 exactly)."""
        return alpha >= 1 or self.decisive_p < alpha

    def detectable(self, alpha: float = 0.05, power: float = POWER) -> float:
        """The minimum detectable difference at this many items (see the module docstring)."""
        return minimum_detectable_difference(self.n, self.sd, alpha, power)

    def to_json(self, alpha: float = 0.05) -> dict[str, Any]:
        """The difference as JSON values, as fractions like the store keeps them (-0.5 is 50 points
        down); ``mdd`` and ``significant`` are judged at ``alpha``. None where a value does not
        exist: a CI or MDD over too few items, wins and losses of a graded metric (arg_f1), an
        adjusted p-value where none was adjusted, an MDD at alpha 0 (nothing is detectable)."""
        return {
            "metric": self.metric,
            "group": self.group,
            "n": self.n,
            "a_mean": _finite(self.a_mean),
            "b_mean": _finite(self.b_mean),
            "difference": _finite(self.difference),
            "low": _finite(self.low),
            "high": _finite(self.high),
            "test": self.test,
            "p_value": self.p_value,
            "adjusted_p": self.adjusted_p,
            "sd": self.sd,
            "mdd": _finite(self.detectable(alpha)),
            "wins": self.wins,
            "losses": self.losses,
            "significant": self.significant(alpha),
        }


def _finite(value: float) -> float | None:
    """NaN and infinity are no JSON: a value that does not exist is None."""
    return value if math.isfinite(value) else None


def minimum_detectable_difference(n: int, sd: float, alpha: float = 0.05, power: float = POWER) -> float:
    """Smallest true mean difference a two-sided paired t-test over ``n`` items detects with
    ``power`` at level ``alpha``, given the spread ``sd`` of the per-item differences. With no
    spread observed (no item differs), the spread of a single differing item is assumed: a
    difference of zero is never reported as detectable. At most 1 (100 points); NaN below two
    items."""
    if n < 2:
        return math.nan
    if not 0 < alpha < 1:  # every difference passes at alpha 1, none at 0
        return 0.0 if alpha >= 1 else math.inf
    from statsmodels.stats.power import TTestPower

    spread = sd if sd > 0 else math.sqrt(1 / n)  # the sd of n differences of which one is 1
    effect = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power, alternative="two-sided")
    return min(1.0, float(effect * spread))  # scores lie in [0, 1]: no difference exceeds 1


def holm_adjusted(differences: Sequence[PairedDifference]) -> list[PairedDifference]:
    """The same differences with Holm-adjusted p-values over all of them as one family."""
    if not differences:
        return []
    from statsmodels.stats.multitest import multipletests

    adjusted = multipletests([d.p_value for d in differences], method="holm")[1]
    return [dataclasses.replace(d, adjusted_p=float(p)) for d, p in zip(differences, adjusted)]


def paired_difference(metric: str, group: str, a: Sequence[float], b: Sequence[float], *, binary: bool) -> PairedDifference:
    """Difference, bootstrap CI and the metric's paired test, for items already aligned."""
    _check_paired(a, b)
    n = len(a)
    a_mean = float(np.mean(a)) if n else math.nan
    b_mean = float(np.mean(b)) if n else math.nan
    low, high = paired_bootstrap_ci(a, b)
    sd = float(np.std(np.asarray(b, dtype=float) - np.asarray(a, dtype=float), ddof=1)) if n > 1 else 0.0
    if binary:
        test = mcnemar_exact(a, b)
        return PairedDifference(metric, group, n, a_mean, b_mean, low, high, test.p_value, "mcnemar", test.wins, test.losses, sd)
    return PairedDifference(metric, group, n, a_mean, b_mean, low, high, paired_permutation_p(a, b), "permutation", sd=sd)


def format_p(p: float) -> str:
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def format_ps(d: PairedDifference) -> str:
    """``p = 0.004`` and, where adjusted, ``(Holm p = 0.03)``."""
    text = format_p(d.p_value)
    return text if d.adjusted_p is None else f"{text} (Holm {format_p(d.adjusted_p)})"


def verdict_text(d: PairedDifference, a_name: str = "A", b_name: str = "B", alpha: float = 0.05) -> str:
    """Plain words, told from the better side: 'B is better than A on exact_match (overall):
    +31.2 points, 95 % CI [27.9, 34.5], p < 0.001 (40 items won, 2 lost)'."""
    if d.difference >= 0:
        better, worse, gain, low, high, won, lost = b_name, a_name, d.difference, d.low, d.high, d.wins, d.losses
    else:
        better, worse, gain, low, high, won, lost = a_name, b_name, -d.difference, -d.high, -d.low, d.losses, d.wins
    numbers = f"{100 * gain:+.1f} points, 95 % CI [{100 * low:.1f}, {100 * high:.1f}], {format_ps(d)}"
    if won is not None:
        numbers += f" ({won} items won, {lost} lost)"
    if not d.significant(alpha):
        return f"no significant difference between {b_name} and {a_name} on {d.metric} ({d.group}): {better} {numbers}"
    return f"{better} is better than {worse} on {d.metric} ({d.group}): {numbers}"
