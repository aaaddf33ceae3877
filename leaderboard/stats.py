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

Seeds are fixed, so the same two evaluations always give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 10_000
SEED = 0


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
    if x.size == 0 or np.array_equal(x, y):
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

    @property
    def difference(self) -> float:
        return self.b_mean - self.a_mean

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha


def paired_difference(metric: str, group: str, a: Sequence[float], b: Sequence[float], *, binary: bool) -> PairedDifference:
    """Difference, bootstrap CI and the metric's paired test, for items already aligned."""
    _check_paired(a, b)
    n = len(a)
    a_mean = float(np.mean(a)) if n else math.nan
    b_mean = float(np.mean(b)) if n else math.nan
    low, high = paired_bootstrap_ci(a, b)
    if binary:
        test = mcnemar_exact(a, b)
        return PairedDifference(metric, group, n, a_mean, b_mean, low, high, test.p_value, "mcnemar", test.wins, test.losses)
    return PairedDifference(metric, group, n, a_mean, b_mean, low, high, paired_permutation_p(a, b), "permutation")


def format_p(p: float) -> str:
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def verdict_text(d: PairedDifference, a_name: str = "A", b_name: str = "B", alpha: float = 0.05) -> str:
    """Plain words, told from the better side: 'B is better than A on exact_match (overall):
    +31.2 points, 95 % CI [27.9, 34.5], p < 0.001 (40 items won, 2 lost)'."""
    if d.difference >= 0:
        better, worse, gain, low, high, won, lost = b_name, a_name, d.difference, d.low, d.high, d.wins, d.losses
    else:
        better, worse, gain, low, high, won, lost = a_name, b_name, -d.difference, -d.high, -d.low, d.losses, d.wins
    numbers = f"{100 * gain:+.1f} points, 95 % CI [{100 * low:.1f}, {100 * high:.1f}], {format_p(d.p_value)}"
    if won is not None:
        numbers += f" ({won} items won, {lost} lost)"
    if not d.significant(alpha):
        return f"no significant difference between {b_name} and {a_name} on {d.metric} ({d.group}): {better} {numbers}"
    return f"{better} is better than {worse} on {d.metric} ({d.group}): {numbers}"
