"""``fcbench report``: a static HTML page (opens from disk, no server) and its charts as PNG.

The page holds the ranked table with each candidate's provenance, per-category bars with 95 %
CI whiskers, the seen-vs-unseen-function split, the loss curves of every trained candidate,
and a failure browser (question, gold, output, verdict) for one candidate. The charts are
plain PNG files next to the page, so they can be pasted anywhere.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to files
import matplotlib.pyplot as plt  # noqa: E402
from fcbench.benchmark.groups import Group  # noqa: E402
from fcbench.benchmark.metrics import METRICS, Estimate  # noqa: E402
from fcbench.benchmark.record import read_records  # noqa: E402
from fcbench.benchmark.suites import find_frozen  # noqa: E402
from fcbench.leaderboard.compare import Gain, Ranked, gains_over, ranked_evaluations  # noqa: E402
from fcbench.leaderboard.stats import format_p  # noqa: E402
from fcbench.leaderboard.store import Evaluation, ItemResult, item_results  # noqa: E402
from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: E402

from fcbench.errors import CannotAnswer  # noqa: E402

TEMPLATES = Path(__file__).parent / "templates"
CHART_METRICS: tuple[str, ...] = ("exact_match", "ast_match", "schema_valid", "arg_f1")
"""One per-category chart each."""


@dataclass(frozen=True, slots=True)
class Failure:
    """One item the browsed candidate did not get exactly right."""

    item_id: str
    category: str
    split: str | None
    verdict: str
    messages: list[str]
    question: str
    gold: str
    output: str


@dataclass(frozen=True, slots=True)
class Report:
    page: Path
    charts: list[Path]
    failures: int


def failures_of(items: Mapping[str, ItemResult], questions: Mapping[str, tuple[str, str]], metric: str = "exact_match") -> list[Failure]:
    """Items not right on ``metric``, with the verdict that explains it, the question and the
    gold answer (``questions``: id -> (question, gold))."""
    return [
        Failure(item.item_id, item.category, item.split, *item.explained(metric), *questions.get(item.item_id, ("(not in this benchmark version)", "")), item.output or "")
        for item in items.values() if item.metrics.get(metric, 0.0) < 1.0
    ]


def report_from_db(conn: sqlite3.Connection, out_dir: Path, benchmark: str, metric: str, candidate: str | None = None,
                   version: str | None = None, across_versions: bool = False) -> Report:
    """The report of one benchmark's leaderboard, browsing the failures of ``candidate`` (by
    default the best); CannotAnswer when the leaderboard cannot rank or has no such candidate."""
    ranked = ranked_evaluations(conn, benchmark, metric, version, across_versions)
    browsed = next((r.evaluation for r in ranked if r.evaluation.candidate == candidate), None) if candidate else ranked[0].evaluation
    if browsed is None:
        raise CannotAnswer(f"{candidate!r} is not on the {benchmark} leaderboard; candidates: {', '.join(r.evaluation.candidate for r in ranked)}")
    failures = failures_of(item_results(conn, browsed.id), questions_of(browsed), metric)
    return write_report(ranked, out_dir, metric=metric, failures_candidate=browsed.candidate, failures=failures, title=f"fcbench report: {benchmark}",
                        gains=gains_over(conn, ranked[0].evaluation, [r.evaluation for r in ranked[1:]], metric))


def questions_of(ev: Evaluation) -> dict[str, tuple[str, str]]:
    """id -> (question, gold JSON) from the benchmark the evaluation ran on, if still here."""
    found = find_frozen(ev.benchmark, ev.benchmark_version, ev.benchmark_sha256)
    if found is None:
        return {}
    records, _ = read_records(found.path)
    return {r.id: (r.question, json.dumps(r.raw.get("output"), ensure_ascii=False)) for r in records}


def write_report(ranked: Sequence[Ranked], out_dir: Path, *, metric: str, failures_candidate: str | None, failures: Sequence[Failure], title: str,
                 gains: Sequence[Gain] = ()) -> Report:
    """Write ``index.html`` and ``charts/*.png`` under ``out_dir``."""
    charts_dir = out_dir / "charts"
    charts_dir.mkdir(parents=True, exist_ok=True)
    charts: list[tuple[str, Path]] = []
    groups = _groups(ranked, splits=False)
    for chart_metric in CHART_METRICS:
        path = charts_dir / f"categories_{chart_metric}.png"
        if _bar_chart(ranked, groups, chart_metric, path, f"{chart_metric} by category (95 % CI)"):
            charts.append((f"{chart_metric} by category", path))
    split_groups = _groups(ranked, splits=True)
    split_path = charts_dir / f"split_{metric}.png"
    if split_groups and _bar_chart(ranked, split_groups, metric, split_path, f"{metric}: functions seen in training vs unseen (95 % CI)"):
        charts.append((f"{metric}: seen vs unseen functions", split_path))
    loss_path = charts_dir / "loss_curves.png"
    if _loss_chart(ranked, loss_path):
        charts.append(("training and validation loss", loss_path))

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    rows = [_row(r, metric, groups) for r in ranked]
    html = env.get_template("report.html").render(
        title=title, metric=metric, groups=groups, metrics=METRICS, rows=rows,
        charts=[(caption, path.relative_to(out_dir).as_posix()) for caption, path in charts],
        failures_candidate=failures_candidate, failures=failures,
        verdicts=sorted({f.verdict for f in failures}), categories=sorted({f.category for f in failures}),
        gains=[_gain_row(g) for g in gains],
    )
    page = out_dir / "index.html"
    page.write_text(html, encoding="utf-8")
    return Report(page, [path for _, path in charts], len(failures))


def _gain_row(gain: Gain) -> dict[str, Any]:
    d = gain.difference
    return {
        "best": gain.best, "other": gain.other, "n": d.n,
        "difference": f"{100 * d.difference:+.1f}", "ci": f"[{100 * d.low:.1f}, {100 * d.high:.1f}]",
        "p": format_p(d.p_value), "holm": format_p(d.decisive_p), "significant": d.significant(),
        "mdd": f"{100 * d.detectable():.1f}", "won_lost": f"{d.wins}/{d.losses}" if d.wins is not None else "",
    }


def _groups(ranked: Sequence[Ranked], *, splits: bool) -> list[str]:
    seen: dict[str, None] = {}
    for r in ranked:
        for group in r.estimates:
            if (Group.parse(group).kind == "split") == splits:
                seen.setdefault(group)
    return list(seen)


def _row(r: Ranked, metric: str, groups: Sequence[str]) -> dict[str, Any]:
    ev = r.evaluation
    overall = r.estimates.get("overall", {})
    return {
        "rank": r.rank,
        "candidate": ev.candidate,
        "evaluation": ev.id,
        "method": ev.method,
        "fewshot": ev.fewshot,
        "n": ev.n_items,
        "score": _cell(overall.get(metric)),
        "metrics": {m: _cell(overall.get(m)) for m in METRICS},
        "groups": {g: _cell(r.estimates.get(g, {}).get(metric)) for g in groups},
        "provenance": ev.provenance(),
        "versions": ev.versions_text(),
    }


def _cell(est: Estimate | None) -> str:
    return "–" if est is None else est.percent_text(ci_decimals=1)


def _bar_chart(ranked: Sequence[Ranked], groups: Sequence[str], metric: str, path: Path, title: str) -> bool:
    """Grouped bars: one group of bars per category, one bar per candidate, CI whiskers."""
    present = [r for r in ranked if any(metric in r.estimates.get(g, {}) for g in groups)]
    if not present or not groups:
        return False
    width = 0.8 / len(present)
    fig, ax = plt.subplots(figsize=(max(7.0, 1.4 * len(groups) + 0.3 * len(present)), 4.2), dpi=100)
    for i, r in enumerate(present):
        means, lows, highs = [], [], []
        for g in groups:
            est = r.estimates.get(g, {}).get(metric)
            mean = est.mean if est else math.nan
            means.append(100 * mean)
            # max(0, ...): a Wilson bound can sit a rounding error on the wrong side of 0 or 1
            lows.append(max(0.0, 100 * (mean - est.low)) if est else 0.0)
            highs.append(max(0.0, 100 * (est.high - mean)) if est else 0.0)
        xs = [j + (i - (len(present) - 1) / 2) * width for j in range(len(groups))]
        ax.bar(xs, means, width, yerr=[lows, highs], capsize=3, label=_literal(r.evaluation.candidate))
    ax.set_xticks(range(len(groups)), [Group.parse(g).name for g in groups])
    ax.set_ylim(0, 100)
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(title)
    _save(fig, ax, path)
    return True


def _literal(text: str) -> str:
    """A candidate's name as plain chart text: matplotlib reads text between two ``$`` as
    mathtext, and a name like ``run$1$2`` would fail the whole report."""
    return text.replace("$", r"\$")


def _save(fig: Any, ax: Any, path: Path) -> None:
    # The legend goes under the plot, where long candidate names do not squeeze the axes.
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def _loss_chart(ranked: Sequence[Ranked], path: Path) -> bool:
    """Training loss (lines) and validation loss (dots) per step, one colour per adapter."""
    curves = [(r.evaluation.candidate, m) for r in ranked if (m := r.evaluation.manifest()) and m.get("loss_curve")]
    if not curves:
        return False
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    drawn: set[str] = set()
    for candidate, manifest in curves:
        name = manifest.get("name", candidate)
        if name in drawn:  # one adapter evaluated 0-shot and 3-shot: one curve
            continue
        drawn.add(name)
        train = manifest["loss_curve"]
        (line,) = ax.plot([p["step"] for p in train], [p["loss"] for p in train], label=_literal(f"{name} train"))
        evals = manifest.get("eval_loss_curve") or []
        if evals:
            ax.plot([p["step"] for p in evals], [p["eval_loss"] for p in evals], "o--", color=line.get_color(), label=_literal(f"{name} validation"))
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title("loss curves of the trained candidates")
    _save(fig, ax, path)
    return True
