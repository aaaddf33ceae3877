"""Scoring throughput: ``python -m fcbench.benchmark.perf`` (also ``make perf``).

Scores a mix of typical single-call predictions (mostly right, some wrong values, some wrapped
in prose or a fence, some garbage) on one core and prints predictions/s. The baseline, measured
in the same run on the same items, is the same scorer validating arguments with the pure-Python
``jsonschema`` validator (compiled once and cached) instead of jsonschema-rs.
Goal (foundation issue): >= 50,000 predictions/s on one core.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any, Iterator

from fcbench.benchmark.metrics import score_output
from fcbench.benchmark.record import ArgumentSchema, Record, record_from_json

GOAL_PER_SECOND = 50_000

_SPECS = [
    {"name": "currency_conversion", "description": "Convert money.", "parameters": {"type": "object", "properties": {"amount": {"type": "number", "minimum": 0}, "from": {"type": "string"}, "to": {"type": "string"}}, "required": ["amount", "from", "to"], "additionalProperties": False}},
    {"name": "get_weather", "description": "Current weather.", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"], "additionalProperties": False}},
    {"name": "book_hotel", "description": "Book a hotel room.", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "check_in": {"type": "string"}, "nights": {"type": "integer", "minimum": 1}, "guests": {"type": "integer", "minimum": 1}, "breakfast": {"type": "boolean"}}, "required": ["city", "check_in", "nights"], "additionalProperties": False}},
]
_CITIES = ["Lyon", "Oslo", "Quito", "Osaka", "Denver", "Porto", "Accra", "Hanoi"]
_CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF", "SEK"]


def _gold_arguments(rng: random.Random, name: str) -> dict[str, Any]:
    if name == "currency_conversion":
        return {"amount": rng.randint(1, 5000), "from": rng.choice(_CURRENCIES), "to": rng.choice(_CURRENCIES)}
    if name == "get_weather":
        return {"city": rng.choice(_CITIES), "unit": rng.choice(["celsius", "fahrenheit"])}
    return {"city": rng.choice(_CITIES), "check_in": f"2026-12-{rng.randint(10, 28)}", "nights": rng.randint(1, 9), "breakfast": rng.random() < 0.5}


def make_items(n: int, seed: int = 0) -> list[tuple[Record, str]]:
    """``n`` (record, raw output) pairs of typical single-call items."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        spec = _SPECS[i % len(_SPECS)]
        gold = {"name": spec["name"], "arguments": _gold_arguments(rng, spec["name"])}
        record = record_from_json({"id": f"perf-{i}", "instruction": "", "input": {"user_question": "q", "functions": [spec]}, "output": {"function_call": gold}})
        roll = rng.random()
        if roll < 0.70:
            output = json.dumps({"function_call": gold})
        elif roll < 0.85:
            wrong = dict(gold["arguments"], city="Nowhere") if "city" in gold["arguments"] else dict(gold["arguments"], amount=-1)
            output = json.dumps({"function_call": {"name": gold["name"], "arguments": wrong}})
        elif roll < 0.95:
            output = "Sure, here it is:\n```json\n" + json.dumps({"function_call": gold}) + "\n```\nAnything else?"
        else:
            output = "I think the answer is " + "{" * rng.randint(0, 3) + " maybe"
        items.append((record, output))
    return items


def measure(items: list[tuple[Record, str]], repeats: int = 3) -> float:
    """Best-of-``repeats`` predictions per second for scoring every item once."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for record, output in items:
            score_output(record, output)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


@contextmanager
def reference_validator() -> Iterator[None]:
    """Validate with the pure-Python jsonschema validator, as a scorer built on it alone would."""
    fast: Callable[[ArgumentSchema, Any], bool] = ArgumentSchema.is_valid
    ArgumentSchema.is_valid = lambda self, arguments: self._reference.is_valid(arguments)  # type: ignore[method-assign]
    try:
        yield
    finally:
        ArgumentSchema.is_valid = fast  # type: ignore[method-assign]


def main(n: int = 20_000) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the goal says
    items = make_items(n)
    ours = measure(items)
    with reference_validator():
        baseline = measure(items)
    print(f"scoring throughput, {n} typical single-call predictions, one core")
    print(f"  fcbench scorer (jsonschema-rs on the hot path): {ours:10,.0f} predictions/s")
    print(f"  same scorer with the pure-Python jsonschema:    {baseline:10,.0f} predictions/s")
    print(f"  ratio: {ours / baseline:.2f}x the baseline; goal {GOAL_PER_SECOND:,}/s: {'met' if ours >= GOAL_PER_SECOND else 'NOT met'} ({ours / GOAL_PER_SECOND:.2f}x)")


if __name__ == "__main__":
    main()
