"""Scoring a file of raw model outputs against a benchmark file, with no model in the loop.

This is how an API model or any outside system is scored: its outputs, one
``{"id": ..., "output": "<raw text>"}`` per line, are parsed and checked item by item.
Every prediction problem (unknown id, duplicate id, invalid line) and every benchmark item
without a prediction is reported with ``file:line`` and counted; a missing prediction scores 0.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcbench.benchmark.formats import FCBENCH_READING, Reading
from fcbench.benchmark.frozen import FrozenBenchmark
from fcbench.benchmark.jsonl import Problem, content_lines, json_text, write_together
from fcbench.benchmark.metrics import METRICS, Estimate, ItemScore, aggregate, score_missing, score_output
from fcbench.benchmark.provenance import sha256_file
from fcbench.benchmark.record import RECORD_FORMAT_VERSION, Record, gold_problems, read_records

SCORING_VERSION = 2
"""Bumped whenever a metric or verdict rule changes, so old and new scores are not mixed.
2: one verdict ladder for exact and ast verdicts (the call count before unknown names);
ast_match compares strings by BFCL's rule and numbers exactly; benchmark v2."""


@dataclass(slots=True)
class Prediction:
    line: int
    output: str


@dataclass(slots=True)
class PredictionFile:
    """The usable predictions by id, and what was wrong with the rest."""

    by_id: dict[str, Prediction] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def read_predictions(path: str | Path, known_ids: set[str]) -> PredictionFile:
    """Read a predictions file. Lines with an unknown or repeated id, or that are not
    ``{"id": str, "output": str}``, are reported and counted; the first of repeated ids wins."""
    result = PredictionFile()
    name = str(path)
    invalid: list[Problem] = []
    for line in content_lines(path, invalid):
        value = line.value
        reason = _prediction_shape_problem(value)
        if reason:
            invalid.append(Problem(name, line.line, reason))
            continue
        pred_id = value["id"]
        if pred_id not in known_ids:
            result.problems.append(Problem(name, line.line, f"id {pred_id!r} is not in the benchmark"))
            result.counts["unknown_id"] += 1
        elif pred_id in result.by_id:
            first = result.by_id[pred_id].line
            result.problems.append(Problem(name, line.line, f"duplicate id {pred_id!r} (first on line {first}, which is the one scored)"))
            result.counts["duplicate_id"] += 1
        else:
            result.by_id[pred_id] = Prediction(line.line, value["output"])
    result.counts["invalid_line"] += len(invalid)
    result.problems = sorted(result.problems + invalid, key=lambda p: p.line)
    return result


def _prediction_shape_problem(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"expected a JSON object, got {type(value).__name__}"
    if not isinstance(value.get("id"), str):
        return 'missing or non-string "id"'
    if "output" not in value:
        return 'missing "output" (the raw model text)'
    if not isinstance(value["output"], str):
        return f'"output" must be the raw model text as a string, got {type(value["output"]).__name__} (serialise it with json.dumps)'
    return None


@dataclass(slots=True)
class ScoreReport:
    """Everything ``fcbench score`` prints and writes."""

    benchmark: Path
    predictions: Path
    items: list[ItemScore]
    aggregates: dict[str, dict[str, Estimate]]
    benchmark_problems: list[Problem]
    prediction_problems: list[Problem]
    counts: Counter[str]
    reading: Reading = FCBENCH_READING

    def verdict_counts(self) -> Counter[str]:
        return Counter(str(item.verdict.error_type) for item in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": {"path": str(self.benchmark), "sha256": sha256_file(self.benchmark)},
            "predictions": {"path": str(self.predictions), "sha256": sha256_file(self.predictions)},
            "record_format_version": RECORD_FORMAT_VERSION,
            "scoring_version": SCORING_VERSION,
            **self.reading.to_json(),
            "n_items": len(self.items),
            "counts": dict(self.counts),
            "metrics": {group: {m: est.to_json() for m, est in ests.items()} for group, ests in self.aggregates.items()},
            "verdicts": dict(sorted(self.verdict_counts().items())),
            "benchmark_problems": [str(p) for p in self.benchmark_problems],
            "prediction_problems": [str(p) for p in self.prediction_problems],
        }


def load_benchmark(path: str | Path) -> tuple[list[Record], list[Problem]]:
    """Read benchmark records; unreadable lines and gold answers that contradict their own
    record are problems (such an item would score wrongly)."""
    records, problems = read_records(path)
    for record in records:
        problems.extend(Problem(str(path), record.line, f"id {record.id!r}: {p}") for p in gold_problems(record))
    return records, problems


def benchmark_label(frozen: FrozenBenchmark) -> str:
    """``<name>-<version>``: which benchmark an item was scored against."""
    return f"{frozen.name}-{frozen.version}"


_SCORED: dict[tuple[str, str, str, Reading], ItemScore] = {}
"""Items scored inside lm-eval (its ``process_results``), by (benchmark label, id, output),
until the same run's report takes them: one scoring pass per evaluation."""


def score_item(benchmark: str, record: Record, output: str, reading: Reading = FCBENCH_READING) -> ItemScore:
    """Score one item and keep the score for :func:`score_records` on the same benchmark."""
    key = (benchmark, record.id, output, reading)
    if key not in _SCORED:
        _SCORED[key] = score_output(record, output, reading)
    return _SCORED[key]


def _taken_or_scored(benchmark: str | None, record: Record, output: str, reading: Reading) -> ItemScore:
    kept = _SCORED.pop((benchmark, record.id, output, reading), None) if benchmark else None
    return kept or score_output(record, output, reading)


def score_records(records: list[Record], predictions: PredictionFile, benchmark: str | None = None, reading: Reading = FCBENCH_READING) -> list[ItemScore]:
    """Score every benchmark record, in benchmark order; no prediction scores 0. With
    ``benchmark`` (its label), items already scored by :func:`score_item` are taken as they are."""
    return [
        _taken_or_scored(benchmark, record, predictions.by_id[record.id].output, reading) if record.id in predictions.by_id else score_missing(record)
        for record in records
    ]


def score_files(benchmark_path: str | Path, predictions_path: str | Path, ids: set[str] | None = None, label: str | None = None,
                reading: Reading = FCBENCH_READING) -> ScoreReport:
    """Score a predictions file against a benchmark; with ``ids``, only those items (a run over
    part of the benchmark, e.g. lm-eval's ``--limit``); with ``label``, the benchmark's
    :func:`benchmark_label`, reusing the scores lm-eval's hooks made in this process;
    ``reading``: the outputs' tool-call format and prompt mode."""
    records, benchmark_problems = load_benchmark(benchmark_path)
    if ids is not None:
        records = [r for r in records if r.id in ids]
    predictions = read_predictions(predictions_path, {r.id for r in records})
    items = score_records(records, predictions, label, reading)
    counts = Counter(predictions.counts)
    counts["missing_prediction"] = sum(1 for r in records if r.id not in predictions.by_id)
    counts["scored"] = len(items) - counts["missing_prediction"]
    missing = [
        Problem(str(predictions_path), None, f"no prediction for benchmark id {r.id!r}; scored 0")
        for r in records
        if r.id not in predictions.by_id
    ]
    return ScoreReport(
        benchmark=Path(benchmark_path),
        predictions=Path(predictions_path),
        items=items,
        aggregates=aggregate(items),
        benchmark_problems=benchmark_problems,
        prediction_problems=predictions.problems + missing,
        counts=counts,
        reading=reading,
    )


def write_report(report: ScoreReport, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``scores.json`` (aggregates, counts, problems) and ``items.jsonl`` (one row per item)."""
    out = Path(out_dir)
    scores_path, items_path = out / "scores.json", out / "items.jsonl"
    write_together({
        scores_path: json_text(report.to_json(), indent=2) + "\n",
        items_path: "".join(json_text(item.to_json()) + "\n" for item in report.items),
    })
    return scores_path, items_path


__all__ = ["METRICS", "ScoreReport", "load_benchmark", "read_predictions", "score_files", "score_records", "write_report"]
