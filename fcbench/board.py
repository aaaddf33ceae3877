"""The leaderboard commands: ``record``, ``leaderboard``, ``compare``, ``check`` and ``report``.

They only print: the questions they ask of the SQLite store that ``fcbench eval`` writes into
are answered in ``leaderboard/`` (``compare.py``, ``report.py``). They are registered on the
``fcbench`` app in ``fcbench/cli.py``, which also turns fcbench's errors into exit statuses.

With ``--json``, ``record``, ``leaderboard``, ``compare`` and ``check`` print one JSON document on
stdout instead of tables, for CI and scripts: the same numbers, as fractions like the store keeps
them, built here from each type's own ``to_json`` (an evaluation's in ``store.py``, a paired
difference's in ``stats.py``, an estimate's in ``benchmark/metrics.py``). Warnings and errors stay
on stderr and the exit statuses do not change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from fcbench.benchmark.groups import Group
from fcbench.benchmark.metrics import METRICS, Estimate
from fcbench.benchmark.suites import DEFAULT_SUITE, suite_named
from fcbench.leaderboard.compare import GATED_METRICS, Comparison, Ranked, gated_differences, paired_comparison, ranked_evaluations, regressions
from fcbench.leaderboard.stats import PairedDifference, format_p, format_ps, verdict_text
from fcbench.leaderboard.store import DEFAULT_DB, opened, opened_to_read, record_results, resolve
from fcbench.output import console, err_console
from fcbench.paths import REPORT_DIR

DbOption = Annotated[Path, typer.Option("--db", help="The leaderboard database (SQLite).")]
BenchmarkOption = Annotated[str, typer.Option("--benchmark", help="Benchmark suite (fcbench, bfcl-v4, ...).")]
MetricOption = Annotated[str | None, typer.Option("--metric", help=f"Rank by one of {', '.join(METRICS)} (default: the suite's own).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables (warnings and errors stay on stderr).")]


def print_json(document: Mapping[str, Any]) -> None:
    """One JSON document on stdout and nothing else. NaN and infinity are not JSON: the documents
    hold None where a value does not exist, so a float that is not finite here is a bug and fails
    loudly instead of writing a file no strict parser reads."""
    typer.echo(json.dumps(document, indent=2, allow_nan=False))


def _percent(est: Estimate | None) -> str:
    return "–" if est is None else est.percent_text()


def leaderboard_table(ranked: Sequence[Ranked], metric: str, title: str) -> Table:
    groups = [g for g in dict.fromkeys(g for r in ranked for g in r.estimates) if Group.parse(g).kind == "category"]
    table = Table(title=title, caption=f"{metric} in % with 95 % CI, overall and per category; every metric is in fcbench report", caption_justify="left")
    table.add_column("#", justify="right")
    table.add_column("candidate / provenance", overflow="fold", min_width=30)
    # fold, never cut: on a narrow terminal a number wraps onto a second line rather than losing digits
    table.add_column(metric, justify="right", style="bold", overflow="fold")
    for g in groups:
        table.add_column(g, justify="right", overflow="fold")
    table.add_column("n", justify="right")
    for r in ranked:
        name = Text(r.evaluation.candidate, style="bold")
        name.append(f"\n{r.evaluation.provenance()}", style="dim")
        table.add_row(
            str(r.rank), name, _percent(r.score(metric)), *(_percent(r.score(metric, g)) for g in groups), str(r.evaluation.n_items),
        )
    return table


def leaderboard_document(ranked: Sequence[Ranked], benchmark: str, metric: str) -> dict[str, Any]:
    """``fcbench leaderboard --json``: per rank the evaluation (candidate, id, provenance), every
    metric overall, and the ranking metric in every other group (each category and
    ``split:<name>``). ``versions`` is what the ranked scores share; None when
    ``--across-versions`` mixed several (each evaluation still names its own)."""
    shared_versions = {r.evaluation.versions for r in ranked}
    return {
        "benchmark": benchmark,
        "metric": metric,
        "versions": asdict(next(iter(shared_versions))) if len(shared_versions) == 1 else None,
        "ranked": [
            {
                "rank": r.rank,
                **r.evaluation.to_json(),
                "metrics": {m: est.to_json() for m, est in r.estimates.get("overall", {}).items()},
                "groups": {g: by_metric[metric].to_json() for g, by_metric in r.estimates.items() if g != "overall" and metric in by_metric},
            }
            for r in ranked
        ],
    }


# ---------------------------------------------------------------------------------------------
# Commands


def record(
    results: Annotated[list[Path], typer.Argument(exists=True, file_okay=False, help="Results folders written by fcbench eval.")],
    db: DbOption = DEFAULT_DB,
    as_json: JsonOption = False,
) -> None:
    """Record evaluations made earlier (fcbench eval records its own automatically)."""
    recorded = []
    with opened(db) as conn:
        for folder in results:
            evaluation_id = record_results(conn, folder)
            if as_json:
                recorded.append(resolve(conn, f"#{evaluation_id}").to_json())
            else:
                console.print(f"recorded [bold]{folder}[/] as evaluation #{evaluation_id} in {db}")
    if as_json:
        print_json({"db": str(db), "recorded": recorded})


def leaderboard(
    benchmark: BenchmarkOption = DEFAULT_SUITE,
    metric: MetricOption = None,
    version: Annotated[str | None, typer.Option("--version", help="Only this benchmark version (e.g. v1).")] = None,
    across_versions: Annotated[bool, typer.Option("--across-versions", help="Rank evaluations on different versions together anyway.")] = False,
    db: DbOption = DEFAULT_DB,
    as_json: JsonOption = False,
) -> None:
    """Rank every candidate's newest evaluation, with CIs, per-category columns and provenance."""
    metric = metric or suite_named(benchmark).primary_metric
    with opened_to_read(db) as conn:
        ranked = ranked_evaluations(conn, benchmark, metric, version, across_versions)
    if as_json:
        print_json(leaderboard_document(ranked, benchmark, metric))
        return
    versions = ranked[0].evaluation.versions_text() if not across_versions else "mixed versions"
    console.print(leaderboard_table(ranked, metric, f"{benchmark} leaderboard by {metric} ({versions})"))


def comparison_table(c: Comparison) -> Table:
    a, b = c.a.candidate, c.b.candidate
    table = Table(title=f"B − A: A = {a} (#{c.a.id}), B = {b} (#{c.b.id}), {c.shared} shared items",
                  caption=("points; 95 % CI from a paired bootstrap; p: exact McNemar (0/1 metrics) or paired permutation (arg_f1); "
                           f"Holm: p adjusted over all {len(c.differences)} tests; MDD: the smallest difference detectable at α = 0.05 with 80 % power"),
                  caption_justify="left")
    for column in ("metric", "group", "n", "A", "B", "B − A", "95 % CI", "p", "Holm", "MDD", "won/lost"):
        table.add_column(column, justify="left" if column in ("metric", "group") else "right")
    for d in c.differences:
        style = ("green" if d.difference > 0 else "red") if d.significant() else None
        table.add_row(
            d.metric, d.group, str(d.n), f"{100 * d.a_mean:.1f}", f"{100 * d.b_mean:.1f}", Text(f"{100 * d.difference:+.1f}", style=style or ""),
            f"[{100 * d.low:.1f}, {100 * d.high:.1f}]", _p_cell(d.p_value), _p_cell(d.decisive_p),
            f"{100 * d.detectable():.1f}", f"{d.wins}/{d.losses}" if d.wins is not None else "",
        )
    return table


COMPARE_ALPHA = 0.05
"""The level ``compare`` judges significance and the MDD at (``check`` takes ``--alpha``)."""


def comparison_document(c: Comparison) -> dict[str, Any]:
    """``fcbench compare --json``: A and B, how many items they share and how many each scored
    alone (left out), and every difference B − A, Holm-adjusted over all of them as the table's
    Holm column is, significance and MDD at α = 0.05."""
    return {
        "a": c.a.to_json(),
        "b": c.b.to_json(),
        "shared": c.shared,
        "only_a": c.only_a,
        "only_b": c.only_b,
        "alpha": COMPARE_ALPHA,
        "differences": [d.to_json(COMPARE_ALPHA) for d in c.differences],
    }


def compare_command(
    a: Annotated[str, typer.Argument(help="Candidate name (its newest evaluation) or #<evaluation id>.")],
    b: Annotated[str, typer.Argument(help="Candidate name or #<evaluation id>.")],
    benchmark: Annotated[str, typer.Option("--benchmark", help="Look candidates up on this benchmark suite.")] = DEFAULT_SUITE,
    across_versions: Annotated[bool, typer.Option("--across-versions", help="Compare across benchmark/prompt/scoring versions anyway.")] = False,
    db: DbOption = DEFAULT_DB,
    as_json: JsonOption = False,
) -> None:
    """B − A per metric and category on the shared items: paired bootstrap CI, exact McNemar."""
    with opened_to_read(db) as conn:
        comparison = paired_comparison(conn, a, b, benchmark, across_versions)
    _warn_unshared(comparison)
    if as_json:
        print_json(comparison_document(comparison))
        return
    console.print(comparison_table(comparison))
    for metric in METRICS:
        d = comparison.overall(metric)
        if d is not None:
            console.print(verdict_text(d, comparison.a.candidate, comparison.b.candidate), highlight=False, soft_wrap=True)


def _warn_unshared(comparison: Comparison) -> None:
    if comparison.only_a or comparison.only_b:
        err_console.print(f"[yellow]compared on the {comparison.shared} items both scored; {comparison.only_a} only in A, {comparison.only_b} only in B are left out[/]")


def check(
    baseline: Annotated[str, typer.Option("--baseline", help="Candidate name or #<evaluation id>: the reference.")],
    candidate: Annotated[str, typer.Option("--candidate", help="Candidate name or #<evaluation id>: the change under test.")],
    max_drop: Annotated[float, typer.Option("--max-drop", min=0.0, max=1.0, help="Allowed drop as a fraction (0.01 = one point).")] = 0.01,
    metrics: Annotated[list[str] | None, typer.Option("--metric", help=f"Gated metric, repeatable (default {', '.join(GATED_METRICS)}).")] = None,
    alpha: Annotated[float, typer.Option("--alpha", min=0.0, max=1.0, help="A drop counts only when its paired p-value is below this.")] = 0.05,
    benchmark: Annotated[str, typer.Option("--benchmark", help="Look candidates up on this benchmark suite.")] = DEFAULT_SUITE,
    db: DbOption = DEFAULT_DB,
    as_json: JsonOption = False,
) -> None:
    """Regression gate: exit 1 when the candidate is significantly worse than the baseline by
    more than --max-drop on a gated metric (overall or in any category), else 0."""
    gated = tuple(metrics or GATED_METRICS)
    unknown = [m for m in gated if m not in METRICS]
    if unknown:
        raise typer.BadParameter(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
    with opened_to_read(db) as conn:
        comparison = paired_comparison(conn, baseline, candidate, benchmark)
    _warn_unshared(comparison)
    ev_a, ev_b = comparison.a, comparison.b
    tested = gated_differences(comparison, gated)
    regressed = regressions(comparison, gated, max_drop, alpha)
    if as_json:
        print_json(check_document(comparison, gated, max_drop, alpha, tested, regressed))
        if regressed:
            raise typer.Exit(1)
        return
    detectable = ", ".join(f"{d.metric} {100 * d.detectable(alpha):.1f}" for d in tested if d.group == "overall")
    console.print(f"{len(tested)} tests (gated metrics overall and per group), Holm-corrected at α = {alpha}; with {comparison.shared} items the smallest "
                  f"overall drop this check can detect (80 % power) is, in points: {detectable}", highlight=False, soft_wrap=True)
    if not regressed:
        console.print(f"[green]pass[/]: {ev_b.candidate} is not significantly worse than {ev_a.candidate} by more than {100 * max_drop:.1f} points on {', '.join(gated)} ({comparison.shared} items)")
        return
    console.print(f"[bold red]regression[/]: {ev_b.candidate} against {ev_a.candidate}, {len(regressed)} gated result(s) dropped:")
    for d in regressed:
        console.print(f"  {_regression_line(d)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def check_document(comparison: Comparison, gated: Sequence[str], max_drop: float, alpha: float,
                   tested: Sequence[PairedDifference], regressed: Sequence[PairedDifference]) -> dict[str, Any]:
    """``fcbench check --json``: the verdict, who was compared with what, the gate's settings,
    every difference it tested (Holm-adjusted over exactly these) and the ones that regressed."""
    return {
        "verdict": "regression" if regressed else "pass",
        "baseline": comparison.a.to_json(),
        "candidate": comparison.b.to_json(),
        "max_drop": max_drop,
        "alpha": alpha,
        "gated_metrics": list(gated),
        "shared": comparison.shared,
        "only_baseline": comparison.only_a,
        "only_candidate": comparison.only_b,
        "tested": [d.to_json(alpha) for d in tested],
        "regressions": [d.to_json(alpha) for d in regressed],
    }


def _p_cell(p: float) -> str:
    """A p-value in a table column: ``0.016``, ``< 0.001``."""
    return format_p(p).removeprefix("p = ").removeprefix("p ")


def _regression_line(d: PairedDifference) -> str:
    return f"{d.metric} on {d.group} ({d.n} items): {100 * d.a_mean:.1f} -> {100 * d.b_mean:.1f}, {100 * d.difference:+.1f} points, 95 % CI [{100 * d.low:.1f}, {100 * d.high:.1f}], {format_ps(d)}"


def report(
    out: Annotated[Path, typer.Option("--out", help="Folder for index.html and charts/loss_curves.svg.")] = REPORT_DIR,
    benchmark: BenchmarkOption = DEFAULT_SUITE,
    metric: MetricOption = None,
    candidate: Annotated[str | None, typer.Option("--candidate", help="Whose wrong items the failure browser shows first (default: the best's).")] = None,
    version: Annotated[str | None, typer.Option("--version", help="Only this benchmark version (e.g. v1).")] = None,
    across_versions: Annotated[bool, typer.Option("--across-versions", help="Rank evaluations on different versions together anyway.")] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Write a static HTML report (opens from disk): the leaderboard, tuned against base with paired
    tests, bars per category, loss curves, and a failure browser across candidates."""
    from fcbench.leaderboard.report import report_from_db

    with opened_to_read(db) as conn:
        written = report_from_db(conn, out, benchmark, metric or suite_named(benchmark).primary_metric, candidate, version, across_versions)
    console.print(f"wrote [bold]{written.page}[/] ({written.failures} item(s) some candidate got wrong, in its failure browser)")
