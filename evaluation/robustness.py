"""``fcbench robustness``: one candidate on the benchmark and on each of its variants
(``generators/robustness.py``), the same items every time, paired.

1. The candidate is evaluated on the benchmark as ``fcbench eval`` would (its answer cache makes
   a repeat nearly free); the items that evaluation scored are the items of every variant.
2. Each variant of those items (and of the worked examples) is frozen as a suite of its own,
   ``robust_<variant>``, like a user's benchmark, and the candidate is evaluated on it with the
   same settings (``encoding``: in the other prompt encoding). Each is recorded in the
   leaderboard, so ``fcbench check --benchmark robust_<variant>`` gates on it like on any suite.
3. Per variant: the score, its paired change against the original items (exact McNemar, Holm
   over the variants), the items it changed; over all: the consistency, the share of items whose
   verdict is the same on the original and on every variant, and the items right on the original
   but wrong on some variant.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fcbench.benchmark.metrics import Estimate, estimate
from fcbench.benchmark.suites import FCBENCH, ROBUSTNESS_PREFIX
from fcbench.evaluation.runner import EvalConfig, EvalRun, run_eval
from fcbench.evaluation.user_benchmark import freeze_benchmark
from fcbench.generators.robustness import VARIANTS, changed, variant
from fcbench.leaderboard.compare import compare
from fcbench.leaderboard.stats import PairedDifference, holm_adjusted
from fcbench.leaderboard.store import item_results, opened, record_results, resolve

from fcbench.errors import UserError

METRIC = "exact_match"


@dataclass(frozen=True, slots=True)
class VariantResult:
    variant: str
    suite: str
    evaluation_id: int
    changed: int
    """Items the variant changed at all (``shot_keys`` and ``encoding`` change the prompt, not the item)."""
    score: Estimate
    difference: PairedDifference
    """Variant − original on the same items."""


@dataclass(frozen=True, slots=True)
class RobustnessReport:
    candidate: str
    original_id: int
    original: Estimate
    variants: list[VariantResult]
    consistency: float
    """The share of items whose verdict is the same on the original and on every variant."""
    broken: dict[str, list[str]]
    """Item id -> the variants it is wrong on, for the items right on the original."""

    def to_json(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate, "metric": METRIC, "original": {"evaluation_id": self.original_id, **self.original.to_json()},
            "variants": [{"variant": v.variant, "suite": v.suite, "evaluation_id": v.evaluation_id, "changed_items": v.changed, **v.score.to_json(),
                          "difference": v.difference.to_json()} for v in self.variants],
            "consistency": self.consistency, "broken": self.broken,
        }


def other_encoding(prompt_format: str) -> str:
    """``fcbench-chat-v2`` -> ``plain``; ``fcbench-plain-v2`` -> ``chat``."""
    return "plain" if "-chat-" in prompt_format else "chat"


def _raw_lines(path: Path | None, ids: set[str] | None = None) -> list[dict[str, Any]]:
    if path is None:
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if ids is None or r["id"] in ids]


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def freeze_variant(name: str, items: list[dict[str, Any]], shots: list[dict[str, Any]]) -> tuple[str, int]:
    """Freeze the variant ``name`` of these items as the suite ``robust_<name>``; returns the
    suite's lm-eval group and how many items it changed."""
    varied, varied_shots = variant(name, items, shots)
    with tempfile.TemporaryDirectory() as scratch:
        records = _write_jsonl(Path(scratch) / f"{name}.jsonl", varied)
        fewshot = _write_jsonl(Path(scratch) / f"{name}-fewshot.jsonl", varied_shots) if varied_shots else None
        suite = freeze_benchmark(records, f"{ROBUSTNESS_PREFIX}{name}", fewshot)
    return suite.group, changed({r["id"]: r for r in items}, varied)


def robustness(cfg: EvalConfig, variants: Sequence[str], db: Path, evaluate: Callable[[EvalConfig], EvalRun] = run_eval) -> RobustnessReport:
    """Evaluate ``cfg``'s candidate on the benchmark and on each variant; see the module docstring."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise UserError(f"unknown variant(s) {', '.join(unknown)}; variants: {', '.join(VARIANTS)}")
    if cfg.fewshot == 0:  # no worked example in the prompt: shot_keys would be the original again
        variants = [v for v in variants if v != "shot_keys"]
    if cfg.tasks != (FCBENCH.group,) or cfg.benchmark is not None:
        raise UserError("robustness varies fcbench's own benchmark: leave out --tasks and --benchmark")
    original = evaluate(cfg)
    with opened(db) as conn:
        original_id = record_results(conn, original.out_dir)
    ids = {item.id for item in original.report.items}
    frozen = FCBENCH.frozen()
    items = _raw_lines(frozen.path, ids)
    shots = _raw_lines(frozen.fewshot_path)
    found: list[tuple[str, str, int, int]] = []
    for name in variants:
        group, n_changed = freeze_variant(name, items, shots)
        encoding = other_encoding(original.summary.prompt_format) if name == "encoding" else cfg.prompt_encoding
        run = evaluate(replace(cfg, tasks=(group,), limit=None, prompt_encoding=encoding))  # type: ignore[arg-type]
        with opened(db) as conn:
            found.append((name, group, record_results(conn, run.out_dir), n_changed))
    with opened(db) as conn:
        return report(conn, original_id, found)


def report(conn: sqlite3.Connection, original_id: int, found: Sequence[tuple[str, str, int, int]]) -> RobustnessReport:
    """The figures of a robustness run from the leaderboard: ``found`` holds (variant, suite,
    evaluation id, items changed) per variant."""
    base = resolve(conn, f"#{original_id}")
    right = {i: item.metrics.get(METRIC, 0.0) >= 1.0 for i, item in item_results(conn, original_id).items()}
    differences, results = [], []
    verdicts: dict[str, list[bool]] = {i: [ok] for i, ok in right.items()}
    broken: dict[str, list[str]] = {}
    for name, suite, evaluation_id, n_changed in found:
        varied = resolve(conn, f"#{evaluation_id}")
        d = compare(conn, base, varied, metrics=(METRIC,), across_versions=True).overall(METRIC)
        if d is None:
            raise UserError(f"the {name} variant shares no scored item with the original evaluation #{original_id}")
        differences.append(d)
        items = item_results(conn, evaluation_id)
        for i, item in items.items():
            ok = item.metrics.get(METRIC, 0.0) >= 1.0
            if i in verdicts:
                verdicts[i].append(ok)
                if right[i] and not ok:
                    broken.setdefault(i, []).append(name)
        results.append((name, suite, evaluation_id, n_changed, estimate(METRIC, [float(item.metrics.get(METRIC, 0.0) >= 1.0) for item in items.values()])))
    adjusted = holm_adjusted(differences)
    variants = [VariantResult(name, suite, ev, n, score, d) for (name, suite, ev, n, score), d in zip(results, adjusted)]
    consistent = sum(len(set(v)) == 1 for v in verdicts.values())
    return RobustnessReport(base.candidate, original_id, estimate(METRIC, [float(ok) for ok in right.values()]), variants,
                            consistent / len(verdicts) if verdicts else float("nan"), dict(sorted(broken.items())))
