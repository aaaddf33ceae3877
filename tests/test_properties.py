"""Property tests: no text, however large or strange, makes the parser or the metrics raise."""

from __future__ import annotations

import json

from conftest import CLOCK, CONVERT, WEATHER, call, make_record
from fcbench.benchmark.metrics import METRICS, score_output
from fcbench.benchmark.parser import parse_output
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

RECORDS = [
    make_record({"function_call": call("currency_conversion", amount=250, **{"from": "GBP", "to": "JPY"})}),
    make_record({"function_calls": [call("get_weather", city="Oslo"), call("get_weather", city="Quito")]}, [WEATHER]),
    make_record({"function_call": None}, [WEATHER, CONVERT]),
    make_record({"function_call": call("get_time")}, [CLOCK, WEATHER]),
]

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)
names = st.sampled_from(["currency_conversion", "get_weather", "get_time", "other", ""])
calls = st.fixed_dictionaries({"name": names, "arguments": json_values})
answers = st.one_of(
    st.fixed_dictionaries({"function_call": st.none() | calls}),
    st.fixed_dictionaries({"function_calls": st.lists(calls, max_size=8)}),
    json_values,
)


def _check_score(text: str) -> None:
    for record in RECORDS:
        score = score_output(record, text)
        values = score.metric_values()
        assert set(values) == set(METRICS)
        assert all(0.0 <= v <= 1.0 for v in values.values())
        assert score.verdict.valid == score.exact_match  # the verdict explains exactly the misses
        assert not score.exact_match or (score.name_match and score.arg_f1 == 1.0)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    parse_output(text)
    _check_score(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers, st.text(max_size=20), st.text(max_size=20))
def test_arbitrary_json_answers_never_raise(answer, before, after):
    text = before + json.dumps(answer, allow_nan=True) + after
    _check_score(text)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 200_000), st.sampled_from(["{", "[", '{"a":', '{"function_call": {"name": "f", "arguments": ', '"', "\\"]))
def test_deeply_nested_and_huge_input(depth, unit):
    _check_score(unit * depth)


def test_megabyte_garbage():
    _check_score("{" + "x" * 2_000_000)
    _check_score('{"function_call": {"name": "get_time", "arguments": {"a": ' + "[" * 5000 + "]" * 5000 + "}}}")
    deep_arguments = "{" + '"a": {' * 900 + "}" * 900 + "}"
    _check_score('{"function_call": {"name": "get_time", "arguments": ' + deep_arguments + "}}")
