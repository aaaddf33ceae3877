"""The metrics, defined once: per-item scores with a verdict, and aggregates with 95 % CIs.

Per item, against the record's gold answer:

- ``json_valid``   the parser found a JSON object;
- ``exact_match``  the answer equals the gold (key order ignored, 1 == 1.0, true != 1, strings
                   exact, lists in order, parallel calls as a multiset);
- ``ast_match``    BFCL-style and lenient: every value among the acceptable ones (``meta.acceptable``,
                   else the gold's), strings normalised, optional parameters omittable where
                   allowed (``benchmark/ast_match.py``);
- ``schema_valid`` right envelope, offered names only, arguments valid against their schema;
- ``arg_f1``       F1 of (JSON-pointer path, value) leaves, micro over the item's calls;
- ``name_match``   the multiset of called names equals the gold's.

Each item also gets one :class:`~benchmark.verdict.CheckResult` naming its first failure against
the gold answer, and one for ``ast_match`` against the acceptable values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from fcbench.benchmark.ast_match import ast_verdict
from fcbench.benchmark.canonical import json_equal
from fcbench.benchmark.formats import FCBENCH_READING, Reading
from fcbench.benchmark.groups import Group, groups_of, ordered
from fcbench.benchmark.matching import best_assignment
from fcbench.benchmark.parser import Parsed, parse_output
from fcbench.benchmark.record import Answer, Call, Record
from fcbench.benchmark.verdict import CheckResult, ErrorType, answer_shape_verdict

METRICS: tuple[str, ...] = ("exact_match", "ast_match", "schema_valid", "arg_f1", "json_valid", "name_match")
"""Every per-item metric, in reporting order."""

BINARY_METRICS = frozenset({"exact_match", "ast_match", "schema_valid", "json_valid", "name_match"})


@dataclass(frozen=True, slots=True)
class ItemScore:
    """One item's metrics and verdict."""

    id: str
    category: str
    split: str | None
    json_valid: bool
    exact_match: bool
    schema_valid: bool
    name_match: bool
    arg_f1: float
    verdict: CheckResult
    ast_match: bool = False
    ast_verdict: CheckResult | None = None
    """Why ``ast_match`` failed (None: the same as ``verdict``, e.g. a parse failure)."""

    def metric_values(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in METRICS}

    def to_json(self) -> dict[str, Any]:
        row = {"id": self.id, "category": self.category, "split": self.split, **self.metric_values()}
        row["verdict"] = str(self.verdict.error_type)
        row["messages"] = list(self.verdict.messages)
        ast = self.ast_verdict or self.verdict
        row["ast_verdict"] = str(ast.error_type)
        row["ast_messages"] = list(ast.messages)
        return row


# ---------------------------------------------------------------------------------------------
# Pairing predicted calls with gold calls


def pair_calls(predicted: Sequence[Call], gold: Sequence[Call]) -> tuple[int, list[tuple[int, int]]]:
    """Pair predicted with gold calls to maximise true-positive leaves (hence the item's F1,
    as the leaf totals do not depend on the pairing); ties go to more same-name pairs.

    Returns (true positives, [(predicted index, gold index), ...]).
    """
    if len(predicted) == 1 and len(gold) == 1:  # most items: one pairing only
        return (len(predicted[0].leaves & gold[0].leaves) if predicted[0].name == gold[0].name else 0), [(0, 0)]
    tp = [[len(pc.leaves & gc.leaves) if pc.name == gc.name else 0 for gc in gold] for pc in predicted]
    same = [[pc.name == gc.name for gc in gold] for pc in predicted]
    weight_of_tp = len(predicted) + len(gold) + 1  # TP first, then the number of same-name pairs
    pairs = best_assignment([[tp[i][j] * weight_of_tp + same[i][j] for j in range(len(gold))] for i in range(len(predicted))])
    return sum(tp[i][j] for i, j in pairs), pairs


# ---------------------------------------------------------------------------------------------
# Scoring one item


def score_output(record: Record, raw_output: str, reading: Reading = FCBENCH_READING) -> ItemScore:
    """Read a raw model output (fcbench's envelope unless ``reading`` says otherwise) and score
    it against the record. Never raises."""
    return score_parsed(record, reading.read(raw_output) if reading is not FCBENCH_READING else parse_output(raw_output))


def score_missing(record: Record) -> ItemScore:
    """The score of a benchmark item that received no prediction: 0 everywhere."""
    return _zero(record, CheckResult.fail(ErrorType.PREDICTION_MISSING, f"no prediction for id {record.id!r}"))


def _zero(record: Record, verdict: CheckResult, *, json_valid: bool = False) -> ItemScore:
    return ItemScore(record.id, record.category, record.split, json_valid, False, False, False, 0.0, verdict)


def score_parsed(record: Record, parsed: Parsed) -> ItemScore:
    """Score an already-parsed output against the record."""
    if parsed.answer is None:
        assert parsed.error is not None
        return _zero(record, CheckResult.fail(parsed.error, parsed.message), json_valid=parsed.json_valid)
    predicted, gold = parsed.answer, record.gold
    exact = _exactly_gold(predicted, gold)
    lenient = CheckResult.ok() if exact and _exact_implies_lenient(record, predicted) else ast_verdict(record, predicted)
    schema_valid = all(
        call.name in record.schemas and record.schemas[call.name].is_valid(call.arguments) for call in predicted
    )
    name_match = sorted(c.name for c in predicted) == sorted(c.name for c in gold)
    if not gold or not predicted:
        # A no-call on either side: right only when both abstain.
        correct = not gold and not predicted
        verdict = answer_shape_verdict(record.schemas, predicted, len(gold)) or CheckResult.ok()
        return ItemScore(record.id, record.category, record.split, True, correct, schema_valid, name_match, float(correct), verdict, lenient.valid, lenient)
    true_pos, pairs = pair_calls(predicted, gold)
    n_pred = sum(len(c.leaves) for c in predicted)
    n_gold = sum(len(c.leaves) for c in gold)
    arg_f1 = 2 * true_pos / (n_pred + n_gold)
    verdict = CheckResult.ok() if exact else _first_failure(record, predicted, gold, pairs)
    return ItemScore(record.id, record.category, record.split, True, exact, schema_valid, name_match, arg_f1, verdict, lenient.valid, lenient)


def _exactly_gold(predicted: Answer, gold: Answer) -> bool:
    """The exact-match verdict: the same calls as the gold answer, in any order, arguments
    equal leaf for leaf (``canonical``). The explicit no-call equals only itself."""
    if len(predicted) != len(gold):
        return False
    if len(gold) == 1:
        return predicted[0].name == gold[0].name and predicted[0].leaves == gold[0].leaves
    remaining = [(c.name, c.leaves) for c in gold]
    for call in predicted:
        key = (call.name, call.leaves)
        if key not in remaining:
            return False
        remaining.remove(key)
    return True


def _exact_implies_lenient(record: Record, predicted: Answer) -> bool:
    """Whether an exact match is sure to pass ``ast_match`` without running it, so that most
    right answers skip its cost (most of scoring's time): the record accepts only its gold
    answer (no ``meta.acceptable``); no predicted number is a float (5.0 equals the gold 5 leaf
    for leaf, but ``ast_match`` refuses a float where the schema says integer); and each call
    passes ``ast_match``'s own checks against the offered function: it is offered, sets only
    parameters the function lists and every required one."""
    if "acceptable" in record.meta:
        return False
    for call in predicted:
        if any(kind == "num" and type(value) is float for _, kind, value in call.leaves):
            return False
        schema = record.schemas.get(call.name)
        if schema is None or not call.arguments.keys() <= schema.properties or not schema.required <= call.arguments.keys():
            return False
    return True


def _first_failure(record: Record, predicted: Answer, gold: Answer, pairs: list[tuple[int, int]]) -> CheckResult:
    """Explain why a (non-empty) prediction is not an exact match: the shared start of the
    ladder (count, names), then each paired call's schema and values, cheapest first."""
    shape = answer_shape_verdict(record.schemas, predicted, len(gold))
    if shape is not None:
        return shape
    for i, j in pairs:
        if predicted[i].name != gold[j].name:
            return CheckResult.fail(ErrorType.NAME_WRONG_FUNCTION, f"expected {gold[j].name!r}, got {predicted[i].name!r}")
    for i, j in pairs:
        verdict = _compare_call(record, predicted[i], gold[j])
        if not verdict.valid:
            return verdict
    raise AssertionError("an inexact answer must fail some check")  # pragma: no cover


_SCHEMA_ERROR_TYPES = {
    "required": ErrorType.ARGS_MISSING_REQUIRED,
    "additionalProperties": ErrorType.ARGS_UNEXPECTED,
    "unevaluatedProperties": ErrorType.ARGS_UNEXPECTED,
    "type": ErrorType.ARGS_TYPE,
}


def _compare_call(record: Record, call: Call, gold: Call) -> CheckResult:
    """One call against its gold counterpart (same name): schema first, then the values."""
    schema = record.schemas[call.name]
    if not schema.is_valid(call.arguments):
        errors = schema.errors(call.arguments)
        if errors:
            first = errors[0]
            error_type = _SCHEMA_ERROR_TYPES.get(first.keyword, ErrorType.ARGS_CONSTRAINT)
            return CheckResult.fail(error_type, f"{call.name}{first.path or ''}: {first.message}")
    predicted_args, gold_args = call.arguments, gold.arguments
    for key in gold_args:
        if key not in predicted_args:
            return CheckResult.fail(ErrorType.ARGS_MISSING, f"{call.name}: parameter {key!r} is missing (expected {_show(gold_args[key])})")
    for key in predicted_args:
        if key not in gold_args:
            return CheckResult.fail(ErrorType.ARGS_EXTRA, f"{call.name}: parameter {key!r} is set to {_show(predicted_args[key])} but the gold answer leaves it out")
    for key, expected in gold_args.items():
        if not json_equal(predicted_args[key], expected):
            return CheckResult.fail(ErrorType.ARGS_VALUE, f"{call.name}: parameter {key!r} expected {_show(expected)}, got {_show(predicted_args[key])}")
    return CheckResult.ok()


def _show(value: Any, limit: int = 80) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):
        text = repr(type(value))
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text)} chars)"


# ---------------------------------------------------------------------------------------------
# Aggregates


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean with its 95 % confidence interval over ``n`` items."""

    mean: float
    low: float
    high: float
    n: int

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)

    def percent_text(self, ci_decimals: int = 0) -> str:
        """``27.5 (22–34)``: the mean and its CI in percent, as every table shows them."""
        return f"{100 * self.mean:.1f} ({100 * self.low:.{ci_decimals}f}–{100 * self.high:.{ci_decimals}f})"


Z_95 = 1.959963984540054
"""The two-sided 95 % normal quantile."""


def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion: unlike mean +- 1.96 SE it stays inside [0, 1]
    and does not collapse to zero width at 0 % or 100 %."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: Sequence[float], z: float = Z_95) -> tuple[float, float]:
    """Normal-approximation interval for the mean of bounded scores, clipped to [0, 1]."""
    n = len(values)
    if n < 2:
        return (0.0, 1.0)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = z * math.sqrt(var / n)
    return (max(0.0, mean - half), min(1.0, mean + half))


def estimate(metric: str, values: Sequence[float]) -> Estimate:
    n = len(values)
    mean = sum(values) / n if n else 0.0
    low, high = wilson_interval(sum(values), n) if metric in BINARY_METRICS else mean_interval(values)
    return Estimate(mean, low, high, n)


def aggregate(scores: Iterable[ItemScore]) -> dict[str, dict[str, Estimate]]:
    """Mean and 95 % CI of every metric, overall, per category and per ``meta.split``, keyed
    by each group's key."""
    columns: dict[Group, dict[str, list[float]]] = {}
    for score in scores:
        values = score.metric_values()
        for group in groups_of(score.category, score.split):
            bucket = columns.setdefault(group, {m: [] for m in METRICS})
            for metric in METRICS:
                bucket[metric].append(values[metric])
    return {group.key: {m: estimate(m, v) for m, v in columns[group].items()} for group in ordered(columns)}
