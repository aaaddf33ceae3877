"""Ranking, paired comparison and the regression gate, over recorded evaluations.

Scores are only comparable on the same benchmark version, prompt-format version and scoring
version: a different benchmark has different items, a different prompt format asks a different
question, and a different scoring version judges by different rules. Every function here
refuses to mix them unless explicitly asked (``across_versions=True``) and says which differ.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fcbench.benchmark.metrics import BINARY_METRICS, METRICS, Estimate
from fcbench.leaderboard.stats import PairedDifference, paired_difference
from fcbench.leaderboard.store import Evaluation, ItemResult, describe_versions, item_results, metric_estimates

GATED_METRICS: tuple[str, ...] = ("exact_match", "schema_valid", "arg_f1")
"""What ``fcbench check`` guards by default: the metrics a user-visible regression shows in."""


class VersionMismatch(ValueError):
    """Evaluations on different benchmark, prompt-format or scoring versions."""


def require_same_versions(evals: Sequence[Evaluation], across_versions: bool = False) -> None:
    """Raise VersionMismatch, naming each version set and its candidates, unless all agree."""
    if across_versions:
        return
    by_versions: dict[tuple[str, str, int, int], list[str]] = {}
    for ev in evals:
        by_versions.setdefault(ev.versions, []).append(ev.candidate)
    if len(by_versions) > 1:
        lines = "; ".join(f"{describe_versions(v)}: {', '.join(sorted(set(c)))}" for v, c in by_versions.items())
        raise VersionMismatch(
            f"these evaluations are on different versions and their scores are not comparable ({lines}). "
            "Choose one with --version, re-evaluate the older candidates, or pass --across-versions to mix them anyway."
        )


# ---------------------------------------------------------------------------------------------
# Ranking


@dataclass(frozen=True, slots=True)
class Ranked:
    rank: int
    evaluation: Evaluation
    estimates: dict[str, dict[str, Estimate]]
    """group -> metric -> estimate"""

    def score(self, metric: str, group: str = "overall") -> Estimate | None:
        return self.estimates.get(group, {}).get(metric)


def rank(conn: sqlite3.Connection, evals: Iterable[Evaluation], metric: str = "exact_match", group: str = "overall") -> list[Ranked]:
    """Best first by the metric's mean; ties keep the older evaluation first. Candidates with no
    value for the metric (it was not measured on that benchmark) rank last."""
    scored = [(ev, metric_estimates(conn, ev.id)) for ev in evals]

    def key(pair: tuple[Evaluation, dict[str, dict[str, Estimate]]]) -> tuple[float, int]:
        est = pair[1].get(group, {}).get(metric)
        return (-(est.mean if est is not None and not math.isnan(est.mean) else -math.inf), pair[0].id)

    return [Ranked(i + 1, ev, estimates) for i, (ev, estimates) in enumerate(sorted(scored, key=key))]


def groups_in(items: Iterable[ItemResult]) -> list[str]:
    """overall, then categories, then splits, in the order they first appear."""
    categories: dict[str, None] = {}
    splits: dict[str, None] = {}
    for item in items:
        categories.setdefault(item.category)
        if item.split:
            splits.setdefault(f"split:{item.split}")
    return ["overall", *categories, *splits]


def in_group(item: ItemResult, group: str) -> bool:
    if group == "overall":
        return True
    if group.startswith("split:"):
        return item.split == group.removeprefix("split:")
    return item.category == group


# ---------------------------------------------------------------------------------------------
# Paired comparison


@dataclass(slots=True)
class Comparison:
    a: Evaluation
    b: Evaluation
    shared: int
    """Items both evaluations scored; only these are compared."""
    only_a: int
    only_b: int
    differences: list[PairedDifference] = field(default_factory=list)

    def overall(self, metric: str) -> PairedDifference | None:
        return next((d for d in self.differences if d.metric == metric and d.group == "overall"), None)


def compare(conn: sqlite3.Connection, a: Evaluation, b: Evaluation, metrics: Sequence[str] = METRICS, across_versions: bool = False) -> Comparison:
    """B − A per metric and per group, on the items both scored."""
    require_same_versions([a, b], across_versions)
    items_a, items_b = item_results(conn, a.id), item_results(conn, b.id)
    shared_ids = sorted(items_a.keys() & items_b.keys())
    comparison = Comparison(a, b, len(shared_ids), len(items_a.keys() - items_b.keys()), len(items_b.keys() - items_a.keys()))
    shared = [items_a[i] for i in shared_ids]
    for metric in metrics:
        if not all(metric in items_a[i].metrics and metric in items_b[i].metrics for i in shared_ids):
            continue  # not measured on this benchmark
        for group in groups_in(shared):
            ids = [item.item_id for item in shared if in_group(item, group)]
            comparison.differences.append(paired_difference(
                metric, group, [items_a[i].metrics[metric] for i in ids], [items_b[i].metrics[metric] for i in ids], binary=metric in BINARY_METRICS,
            ))
    return comparison


def regressions(comparison: Comparison, gated: Sequence[str] = GATED_METRICS, max_drop: float = 0.01, alpha: float = 0.05) -> list[PairedDifference]:
    """Where B is worse than A by more than ``max_drop`` (a fraction: 0.01 = one point) and the
    paired test says the drop is real (p < alpha); overall and in every category and split."""
    return [d for d in comparison.differences if d.metric in gated and d.difference < -max_drop and d.significant(alpha)]
