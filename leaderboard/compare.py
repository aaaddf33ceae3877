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

from fcbench.benchmark.groups import groups_in
from fcbench.benchmark.metrics import BINARY_METRICS, METRICS, Estimate
from fcbench.benchmark.results import Versions
from fcbench.leaderboard.stats import PairedDifference, holm_adjusted, paired_difference
from fcbench.leaderboard.store import Evaluation, evaluations, item_results, latest_per_candidate, metric_estimates, resolve

from fcbench.errors import CannotAnswer, UserError

GATED_METRICS: tuple[str, ...] = ("exact_match", "schema_valid", "arg_f1")
"""What ``fcbench check`` guards by default: the metrics a user-visible regression shows in."""


class VersionMismatch(CannotAnswer):
    """Evaluations on different benchmark, prompt-format or scoring versions."""


def require_same_versions(evals: Sequence[Evaluation], across_versions: bool = False) -> None:
    """Raise VersionMismatch, naming each version set and its candidates, unless all agree."""
    if across_versions:
        return
    by_versions: dict[Versions, list[str]] = {}
    for ev in evals:
        by_versions.setdefault(ev.versions, []).append(ev.candidate)
    if len(by_versions) > 1:
        lines = "; ".join(f"{v.describe()}: {', '.join(sorted(set(c)))}" for v, c in by_versions.items())
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


def ranked_evaluations(conn: sqlite3.Connection, benchmark: str, metric: str, version: str | None = None, across_versions: bool = False) -> list[Ranked]:
    """The newest evaluation of each candidate on the benchmark (of ``version``, if given),
    ranked by ``metric``. CannotAnswer when there is none, or when their versions differ and
    ``across_versions`` is not set."""
    if metric not in METRICS:
        raise UserError(f"--metric must be one of {', '.join(METRICS)}, not {metric!r}")
    latest = latest_per_candidate(ev for ev in evaluations(conn, benchmark) if version is None or ev.benchmark_version == version)
    if not latest:
        raise CannotAnswer(f"no evaluations of {benchmark!r}{f' {version}' if version else ''} in the leaderboard yet: run fcbench eval (or make bench)")
    require_same_versions(latest, across_versions)
    return rank(conn, latest, metric)


def rank(conn: sqlite3.Connection, evals: Iterable[Evaluation], metric: str = "exact_match", group: str = "overall") -> list[Ranked]:
    """Best first by the metric's mean; ties keep the older evaluation first. Candidates with no
    value for the metric (it was not measured on that benchmark) rank last."""
    scored = [(ev, metric_estimates(conn, ev.id)) for ev in evals]

    def key(pair: tuple[Evaluation, dict[str, dict[str, Estimate]]]) -> tuple[float, int]:
        est = pair[1].get(group, {}).get(metric)
        return (-(est.mean if est is not None and not math.isnan(est.mean) else -math.inf), pair[0].id)

    return [Ranked(i + 1, ev, estimates) for i, (ev, estimates) in enumerate(sorted(scored, key=key))]


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
        for group in groups_in((item.category, item.split) for item in shared):
            ids = [item.item_id for item in shared if group.contains(item.category, item.split)]
            comparison.differences.append(paired_difference(
                metric, group.key, [items_a[i].metrics[metric] for i in ids], [items_b[i].metrics[metric] for i in ids], binary=metric in BINARY_METRICS,
            ))
    comparison.differences = holm_adjusted(comparison.differences)
    return comparison


def paired_comparison(conn: sqlite3.Connection, a: str, b: str, benchmark: str | None, across_versions: bool = False) -> Comparison:
    """B − A for two references (candidate names or ``#<id>``); CannotAnswer when either is
    unknown, their versions differ, or they share no scored item."""
    ev_a, ev_b = resolve(conn, a, benchmark), resolve(conn, b, benchmark)
    comparison = compare(conn, ev_a, ev_b, across_versions=across_versions)
    if comparison.shared == 0:
        raise CannotAnswer(f"{ev_a.candidate} and {ev_b.candidate} share no scored items: nothing to compare")
    return comparison


def gated_differences(comparison: Comparison, gated: Sequence[str] = GATED_METRICS) -> list[PairedDifference]:
    """The differences the gate tests (the gated metrics, overall and in every category and
    split), their p-values Holm-adjusted over exactly this family. CannotAnswer when a gated
    metric was not measured on both: a gate that compared nothing must not pass."""
    tested = [d for d in comparison.differences if d.metric in gated]
    unmeasured = [m for m in gated if not any(d.metric == m for d in tested)]
    if unmeasured:
        measured = ", ".join(dict.fromkeys(d.metric for d in comparison.differences)) or "nothing"
        raise CannotAnswer(f"{', '.join(unmeasured)} was not measured on both {comparison.a.candidate} and {comparison.b.candidate}: "
                           f"nothing to gate on (measured on both: {measured})")
    return holm_adjusted(tested)


def regressions(comparison: Comparison, gated: Sequence[str] = GATED_METRICS, max_drop: float = 0.01, alpha: float = 0.05) -> list[PairedDifference]:
    """Where B is worse than A by more than ``max_drop`` (a fraction: 0.01 = one point) and the
    paired test says the drop is real: Holm-adjusted p < alpha over every gated test."""
    return [d for d in gated_differences(comparison, gated) if d.difference < -max_drop and d.significant(alpha)]


@dataclass(frozen=True, slots=True)
class Paired:
    """B − A on one metric overall, for two evaluations."""

    a: Evaluation
    b: Evaluation
    difference: PairedDifference


def paired_family(conn: sqlite3.Connection, pairs: Sequence[tuple[Evaluation, Evaluation]], metric: str) -> list[Paired]:
    """B − A on ``metric`` overall for each (A, B), the p-values Holm-adjusted over exactly these
    pairs: the family that one table or summary of them tests. Pairs that share no item measured
    on ``metric`` are left out."""
    found = [(a, b, compare(conn, a, b, metrics=(metric,), across_versions=True).overall(metric)) for a, b in pairs if a.id != b.id]
    kept = [(a, b, d) for a, b, d in found if d is not None]
    return [Paired(a, b, d) for (a, b, _), d in zip(kept, holm_adjusted([d for _, _, d in kept]))]


@dataclass(frozen=True, slots=True)
class Gain:
    """The best candidate against another, paired, on one metric overall."""

    best: str
    other: str
    difference: PairedDifference


def gains_over(conn: sqlite3.Connection, best: Evaluation, others: Sequence[Evaluation], metric: str) -> list[Gain]:
    """``best`` against each of ``others`` on ``metric`` overall, the p-values Holm-adjusted over
    exactly these comparisons (the family a summary of them tests)."""
    return [Gain(p.b.candidate, p.a.candidate, p.difference) for p in paired_family(conn, [(ev, best) for ev in others], metric)]
