"""The ``fcbench`` command: the one place that wires the stages together."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from benchmark.metrics import METRICS, Estimate
from benchmark.scoring import ScoreReport, score_files, write_report

app = typer.Typer(
    help="fcbench: tune and judge LLM function calling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

PROBLEMS_SHOWN = 20
"""Problems printed on the terminal; the rest are counted on screen and all are in scores.json."""


@app.callback()
def main() -> None:
    """fcbench: tune and judge LLM function calling."""


@app.command()
def score(
    benchmark: Annotated[Path, typer.Option("--benchmark", exists=True, dir_okay=False, help="Benchmark records (JSONL).")],
    predictions: Annotated[Path, typer.Option("--predictions", exists=True, dir_okay=False, help='Raw outputs, one {"id", "output"} per line.')],
    out: Annotated[Path | None, typer.Option("--out", help="Write scores.json and items.jsonl here.")] = None,
) -> None:
    """Score raw model outputs against a benchmark, without running any model.

    Exits 1 when the benchmark itself has problems (its scores would be meaningless);
    prediction problems are reported and counted, and a missing prediction scores 0.
    """
    report = score_files(benchmark, predictions)
    console.print(_metrics_table(report))
    console.print(_verdict_table(report))
    _print_problems("benchmark", report.benchmark_problems)
    _print_problems("predictions", report.prediction_problems)
    if out is not None:
        scores_path, items_path = write_report(report, out)
        console.print(f"wrote [bold]{scores_path}[/] and [bold]{items_path}[/]")
    if report.benchmark_problems:
        raise typer.Exit(1)


def _percent(est: Estimate) -> str:
    return f"{100 * est.mean:.1f} ({100 * est.low:.0f}–{100 * est.high:.0f})"


def _metrics_table(report: ScoreReport) -> Table:
    counts = report.counts
    caption = (
        f"{counts['scored']} scored, {counts['missing_prediction']} missing (scored 0), "
        f"{counts['unknown_id']} unknown id, {counts['duplicate_id']} duplicate id, {counts['invalid_line']} invalid line"
    )
    table = Table(title=f"{report.predictions} on {report.benchmark}: % with 95 % CI", caption=caption)
    table.add_column("group", style="bold", no_wrap=True)
    table.add_column("n", justify="right")
    for metric in METRICS:
        table.add_column(metric, justify="right", overflow="fold")
    for group, estimates in report.aggregates.items():
        table.add_row(group, str(estimates[METRICS[0]].n), *(_percent(estimates[m]) for m in METRICS))
    return table


def _verdict_table(report: ScoreReport) -> Table:
    table = Table(title="verdicts")
    table.add_column("verdict")
    table.add_column("items", justify="right")
    for verdict, count in report.verdict_counts().most_common():
        table.add_row(verdict, str(count))
    return table


def _print_problems(what: str, problems: list) -> None:
    if not problems:
        return
    err_console.print(f"[bold red]{len(problems)} problem(s) in the {what}:[/]")
    for problem in problems[:PROBLEMS_SHOWN]:
        # soft_wrap: a file:line reference stays on one line, whatever the terminal width
        err_console.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
    if len(problems) > PROBLEMS_SHOWN:
        err_console.print(f"  ... and {len(problems) - PROBLEMS_SHOWN} more (all listed in scores.json with --out)")


if __name__ == "__main__":
    app()
