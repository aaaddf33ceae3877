"""The audit finds in benchmark v1 what a hand read found there, and nothing in v2 or in freshly
generated training data."""

from __future__ import annotations

from pathlib import Path

import pytest
from fcbench.benchmark.record import read_records, record_from_json
from fcbench.benchmark.suites import FCBENCH
from fcbench.generators.audit import audit
from fcbench.generators.synth import generate


def _printed(report) -> None:
    """The table, as ``fcbench audit`` prints it, in the test log."""
    print(f"\naudit ({report.pool}): {dict(report.counts()) or 'no violations'}")
    for (category, split), cell in report.cells.items():
        named = f"{cell.names_gold}/{cell.with_example} (chance {cell.chance_names_gold:.0f})"
        print(f"  {category:12} {split:16} n={cell.items:5} example shown {cell.with_example:5}, names gold {named}, violations {dict(cell.violations)}")


def test_benchmark_v2_passes_the_audit() -> None:
    records, problems = read_records(FCBENCH.frozen("v2").path)
    assert not problems
    report = audit(records, "benchmark")
    _printed(report)
    assert report.passed, report.violations[:10]


def test_fresh_training_data_passes_the_audit(tmp_path: Path) -> None:
    generate(3000, 7, tmp_path)
    records, _ = read_records(tmp_path / "train.jsonl")
    report = audit(records, "training")
    _printed(report)
    assert report.passed, report.violations[:10]


def test_benchmark_v1_fails_it_in_every_class_the_hand_read_found() -> None:
    records, _ = read_records(FCBENCH.frozen("v1").path)
    report = audit(records, "benchmark")
    _printed(report)
    details = [v.detail for v in report.violations]
    # the example call names the gold function in every multiple item, against ~24 % by chance
    assert {v.record_id for v in report.violations if v.check == "example"} >= {"multiple/seen_function", "multiple/unseen_function"}
    assert any("same value twice" in d for d in details)  # a unit or currency converted into itself
    assert any("end before start" in d for d in details)
    assert any("setting without its state" in d for d in details)  # lights off at 30 % brightness
    assert any("contradicting words" in d for d in details)  # a "vegan" dish with another diet
    assert any("share" in d and "calls" in d for d in details)  # a second call that undoes the first
    assert any("is not set: the question cannot say it" in d for d in details)  # "Keep the front door."
    assert any("=false where leaving it out means the same" in d for d in details)  # "(not urgent)"
    assert any("not a real value" in d for d in details)  # nutrition facts of a random word
    assert any("order of mention" in d for d in details)  # home and away
    assert any("joiner" in d for d in details) and any("the other pool's clause" in d for d in details)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ({"name": "convert_currency", "arguments": {"amount": 5, "from_currency": "ZAR", "to_currency": "ZAR"}}, "same value twice"),
        ({"name": "control_lights", "arguments": {"room": "hallway 2", "on": False, "brightness": 30}}, "setting without its state"),
        ({"name": "lock_door", "arguments": {"door": "front"}}, "the state 'locked' is not set"),
    ],
)
def test_each_rule_is_checked_on_a_hand_made_record(call: dict, expected: str) -> None:
    record = record_from_json({
        "id": "r1", "instruction": "Call a function.",
        "input": {"user_question": "Convert 5 ZAR to ZAR. Lights in the hallway 2 off at 30% brightness. Keep the front door.",
                  "functions": [{"name": call["name"], "parameters": {"type": "object"}}]},
        "output": {"function_call": call}, "meta": {"category": "simple", "split": "seen_function"},
    })
    report = audit([record], "benchmark")
    assert any(expected in v.detail for v in report.violations), report.violations
