"""The record format: schema, envelope, seed form, reading files."""

from __future__ import annotations

import json

import pytest
from conftest import CONVERT, FLIGHTS, WEATHER, call, make_record, record_json
from fcbench.benchmark.record import (
    Call,
    RecordError,
    answer_from_output,
    answer_to_output,
    compile_argument_schema,
    gold_problems,
    read_records,
    record_from_json,
    record_validator,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

json_scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=12)
call_like = st.fixed_dictionaries({"name": st.sampled_from(["f", "", 3]), "arguments": json_values})
envelopes = st.one_of(
    st.fixed_dictionaries({"function_call": st.none() | call_like | json_values}),
    st.fixed_dictionaries({"function_calls": st.lists(call_like, max_size=3) | json_values}),
    st.dictionaries(st.sampled_from(["function_call", "function_calls", "name", "arguments"]), json_values | call_like, max_size=3),
)


@settings(max_examples=400, deadline=None)
@given(envelopes)
def test_envelope_reader_agrees_with_the_schema(obj):
    """answer_from_output is a hand-written copy of $defs/output, for speed: they must agree."""
    output_schema = Draft202012Validator({"$defs": record_validator().schema["$defs"], "$ref": "#/$defs/output"})
    reader_ok = not isinstance(answer_from_output(obj), str)
    assert reader_ok == output_schema.is_valid(obj)


def test_envelope_round_trip():
    for answer in [(), (Call("f", {"x": 1}),), (Call("f", {}), Call("g", {"a": [1]}))]:
        assert answer_from_output(answer_to_output(answer)) == answer


def test_example_file_records_are_valid():
    records, problems = read_records("examples/benchmark.jsonl")
    assert problems == [] and len(records) == 7
    assert {r.category for r in records} == {"simple", "multiple", "parallel", "irrelevance"}
    assert all(gold_problems(r) == [] for r in records)


def test_record_errors_list_every_problem():
    bad = record_json({"function_call": call("currency_conversion", amount=1)})
    del bad["input"]["user_question"]
    bad["output"] = {"function_call": {"name": "x"}}
    with pytest.raises(RecordError) as info:
        record_from_json(bad)
    text = " | ".join(info.value.reasons)
    assert "user_question" in text and "output" in text


def test_needs_functions_or_example():
    bad = record_json({"function_call": None})
    del bad["input"]["functions"]
    with pytest.raises(RecordError):
        record_from_json(bad)


def test_invalid_parameter_schema_and_duplicate_function():
    broken = {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "strin"}}}}
    with pytest.raises(RecordError, match="not a valid JSON Schema"):
        record_from_json(record_json({"function_call": None}, [broken]))
    with pytest.raises(RecordError, match="offered twice"):
        record_from_json(record_json({"function_call": None}, [WEATHER, WEATHER]))


def test_gold_problems():
    record = make_record({"function_call": call("nope", a=1)}, [WEATHER])
    assert "not offered" in gold_problems(record)[0]
    record = make_record({"function_call": call("get_weather", city=3)}, [WEATHER])
    assert "/city" in gold_problems(record)[0]
    record = make_record({"function_call": call("get_weather", city="Oslo")}, [WEATHER], category="parallel")
    assert "implies 'simple'" in gold_problems(record)[0]


def test_category_inferred_when_absent():
    assert make_record({"function_call": call("get_weather", city="Oslo")}, [WEATHER, CONVERT]).category == "multiple"
    assert make_record({"function_calls": [call("get_weather", city="A"), call("get_weather", city="B")]}, [WEATHER]).category == "parallel"
    assert make_record({"function_call": None}, [WEATHER]).category == "irrelevance"


def test_read_records_reports_file_and_line(tmp_path):
    good = json.dumps(record_json({"function_call": None}, [WEATHER], rid="a"))
    bad_record = json.dumps({"id": "b", "instruction": "x"})
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join([good, "", bad_record, "{not json", good]) + "\n")
    records, problems = read_records(path)
    assert [r.id for r in records] == ["a"]
    lines = sorted({p.line for p in problems})
    assert lines == [3, 4, 5]
    assert any("duplicate id 'a' (first on line 1)" in str(p) for p in problems)
    assert all(str(p).startswith(f"{path}:") for p in problems)


# --- the fast validator and the reference agree -----------------------------------------------------

arguments_for_flights = st.dictionaries(
    st.sampled_from(["origin", "destination", "passengers", "stops", "other"]),
    json_values | st.fixed_dictionaries({"adults": json_values}, optional={"children": json_values, "x": json_values}),
    max_size=5,
)


@settings(max_examples=400, deadline=None)
@given(arguments_for_flights)
def test_jsonschema_rs_agrees_with_reference_jsonschema(arguments):
    schema = compile_argument_schema(FLIGHTS["parameters"])
    assert schema.is_valid(arguments) == (not schema.errors(arguments))


def test_huge_integer_falls_back_to_reference():
    schema = compile_argument_schema(CONVERT["parameters"])
    assert schema.is_valid({"amount": 10**40, "from": "A", "to": "B"})
    assert not schema.is_valid({"amount": -(10**40), "from": "A", "to": "B"})
