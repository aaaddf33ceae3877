"""Hostile model outputs, generated: every one goes through the predictions file, the parser,
every metric and both writers (``scores.json``, ``items.jsonl``) with no exception, and what is
written reads back whole.

The outputs are what a model (or an attacker writing a predictions file) can emit: integers of
hundreds of digits, ``1e400``, lone surrogates (raw and as ``\\ud800`` escapes), nesting
thousands deep, long strings, runs of braces, and valid calls with such values in their
arguments. Each is read twice: as fcbench's envelope, and in every tool-call format
(``--answer-format auto --mode native``). ``FCBENCH_FUZZ_OUTPUTS`` sets how many (``make fuzz`` runs 100,000); the default,
20,000, runs in ``make test``.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

from conftest import CLOCK, CONVERT, FLIGHTS, WEATHER, call, record_json
from fcbench.benchmark.formats import AUTO, Reading
from fcbench.benchmark.jsonl import json_text
from fcbench.benchmark.metrics import METRICS
from fcbench.benchmark.scoring import score_files, write_report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

OUTPUTS = int(os.environ.get("FCBENCH_FUZZ_OUTPUTS", "20000"))
DRAWN_PER_BATCH = 20
"""Outputs drawn by hypothesis per example; each is scored in every one of :data:`WRAPPINGS`."""
WRAPPINGS = (
    lambda text: text,
    lambda text: "Sure, here is the call:\n```json\n" + text + "\n```",
    lambda text: text + text,
    lambda text: text[: len(text) // 2],  # cut off mid-answer, as max_gen_toks does
    lambda text: '{"function_call": ' + text + "}",
)
BATCH = DRAWN_PER_BATCH * len(WRAPPINGS)

GOLD = [
    record_json({"function_call": call("currency_conversion", amount=250, **{"from": "GBP", "to": "JPY"})}, [CONVERT], category="simple"),
    record_json({"function_calls": [call("get_weather", city="Oslo"), call("get_weather", city="Quito", unit="celsius")]}, [WEATHER], category="parallel"),
    record_json({"function_call": None}, [WEATHER, CONVERT], category="irrelevance"),
    record_json({"function_call": call("search_flights", origin="AMS", destination="LIM", passengers={"adults": 2}, stops=["MAD"])}, [FLIGHTS, CLOCK], category="multiple"),
]

# Leaves a model can write as JSON text, hostile ones first. Tool-call markup of every format
# among them, so that each reader meets hostile input too.
huge_integers = st.integers(min_value=-(10**600), max_value=10**600).map(str)
out_of_range = st.sampled_from(["1e400", "-1e400", "1e-400", "1.7976931348623157e309", "NaN", "Infinity", "-Infinity", "0e99999", "1" + "0" * 400 + ".5"])
surrogate_escapes = st.sampled_from(['"\\ud800"', '"\\udfff"', '"a\\ud83d"', '"\\ud83d\\ude00"', '"\\u0000"', '"\\ude00\\ud83d"'])
any_characters = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)  # raw surrogates included
strings = any_characters.map(lambda s: json.dumps(s, ensure_ascii=False))
long_strings = st.builds(lambda unit, n: json.dumps(unit * n), st.sampled_from(["a", "é", "\\", '"', "{", " "]), st.integers(1, 40_000))
nesting = st.builds(lambda opener, n: opener * n, st.sampled_from(["[", "{", '{"a":', '{"arguments": ', "[{", '"']), st.integers(1, 3_000))
closed_nesting = st.integers(1, 2_000).map(lambda n: "[" * n + "1" + "]" * n)
braces = st.builds(lambda unit, n: unit * n, st.sampled_from(["{", "}", "{}", "}{", "[", "]", "```", "```json\n{", "<tool_call>", "[TOOL_CALLS]", "f(", "[f(a=", "<|python_tag|>{"]), st.integers(1, 5_000))
plain = st.sampled_from(["1", "-0", "2.5", "true", "null", '"GBP"', '"Oslo"', "250", "[]", "{}"])
leaves = st.one_of(plain, huge_integers, out_of_range, surrogate_escapes, strings, long_strings, nesting, closed_nesting, braces)

names = st.sampled_from(['"currency_conversion"', '"get_weather"', '"search_flights"', '"get_time"', '"nope"', '""', "1", "null"])
keys = st.sampled_from(['"amount"', '"from"', '"to"', '"city"', '"unit"', '"origin"', '"passengers"', '"\\ud800"', '""'])
arguments = st.lists(st.tuples(keys, leaves), max_size=4).map(lambda pairs: "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}")
calls = st.builds(lambda name, args: '{"name": ' + name + ', "arguments": ' + args + "}", names, arguments | leaves)
python_calls = st.builds(lambda name, pairs: f"{name}(" + ", ".join(f"{k}={v}" for k, v in pairs) + ")", st.sampled_from(["get_weather", "a.b", "f"]),
                         st.lists(st.tuples(st.sampled_from(["city", "unit", "x"]), leaves), max_size=3))
answers = st.one_of(
    calls.map(lambda c: '{"function_call": ' + c + "}"),
    calls.map(lambda c: "<tool_call>\n" + c + "\n</tool_call>"),
    st.lists(calls, max_size=3).map(lambda cs: "[TOOL_CALLS][" + ", ".join(cs) + "]"),
    calls.map(lambda c: '{"tool_calls": [{"type": "function", "function": ' + c + "}]}"),
    calls.map(lambda c: "<|python_tag|>" + c.replace('"arguments"', '"parameters"')),
    st.lists(python_calls, max_size=3).map(lambda cs: "[" + ", ".join(cs) + "]"),
    st.lists(calls, max_size=5).map(lambda cs: '{"function_calls": [' + ", ".join(cs) + "]}"),
    st.just('{"function_call": null}'),
    leaves,
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
)
outputs = st.lists(answers, min_size=DRAWN_PER_BATCH, max_size=DRAWN_PER_BATCH)


def score_batch(texts: list[str], folder: Path) -> Counter[str]:
    """One predictions file of ``texts`` (each wrapped every way) against a benchmark of as many
    items; scored and written as ``fcbench score --out`` does; returns the verdicts."""
    outputs = [wrap(text) for text in texts for wrap in WRAPPINGS]
    benchmark = folder / "benchmark.jsonl"
    benchmark.write_text("".join(json.dumps({**GOLD[i % len(GOLD)], "id": f"f{i}"}) + "\n" for i in range(len(outputs))), encoding="utf-8")
    predictions = folder / "predictions.jsonl"
    predictions.write_text("".join(json_text({"id": f"f{i}", "output": output}) + "\n" for i, output in enumerate(outputs)), encoding="utf-8")
    report = score_files(benchmark, predictions)
    # Every tool-call format, detected, as a native-mode run reads them: same outputs, no exception.
    native = score_files(benchmark, predictions, reading=Reading(AUTO, "native"))
    for scored in (report, native):
        assert scored.counts["scored"] == len(outputs) and not scored.benchmark_problems and not scored.prediction_problems
        for item in scored.items:
            values = item.metric_values()
            assert set(values) == set(METRICS) and all(0.0 <= v <= 1.0 for v in values.values())
    scores_path, items_path = write_report(report, folder / "out")
    rows = [json.loads(line) for line in items_path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(outputs) and json.loads(scores_path.read_text(encoding="utf-8"))["n_items"] == len(outputs)
    return Counter([str(item.verdict.error_type) for item in report.items] + [f"native {item.verdict.error_type}" for item in native.items])


def test_generated_hostile_outputs_are_scored_and_written_without_an_exception(tmp_path: Path) -> None:
    verdicts: Counter[str] = Counter()
    batches = -(-OUTPUTS // BATCH)

    @settings(max_examples=batches, deadline=None, database=None, derandomize="FCBENCH_FUZZ_SEED" not in os.environ,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example, HealthCheck.function_scoped_fixture])
    @given(outputs)
    def run(texts: list[str]) -> None:
        verdicts.update(score_batch(texts, tmp_path))

    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    scored = sum(count for name, count in verdicts.items() if not name.startswith("native "))
    assert scored >= OUTPUTS
    print(f"\nfuzz: {scored} outputs scored and written, 0 exceptions, in {seconds:.1f} s ({scored / seconds:.0f} outputs/s)")
    for reading in ("", "native "):
        shown = [(name.removeprefix(reading), count) for name, count in verdicts.most_common() if name.startswith("native ") == bool(reading)]
        print(f"fuzz verdicts ({reading or 'fcbench '}reading): " + ", ".join(f"{name} {count}" for name, count in shown))
