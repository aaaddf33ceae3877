"""Small hand-made records shared by the tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmark.record import Record, record_from_json

CONVERT = {
    "name": "currency_conversion",
    "description": "Convert an amount of money between currencies.",
    "parameters": {
        "type": "object",
        "properties": {"amount": {"type": "number", "minimum": 0}, "from": {"type": "string"}, "to": {"type": "string"}},
        "required": ["amount", "from", "to"],
        "additionalProperties": False,
    },
}
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}, "details": {"type": "boolean"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
CLOCK = {"name": "get_time", "description": "The time now.", "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}
FLIGHTS = {
    "name": "search_flights",
    "description": "Search flights.",
    "parameters": {
        "type": "object",
        "properties": {
            "origin": {"type": "string"},
            "destination": {"type": "string"},
            "passengers": {
                "type": "object",
                "properties": {"adults": {"type": "integer", "minimum": 1}, "children": {"type": "integer"}},
                "required": ["adults"],
                "additionalProperties": False,
            },
            "stops": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["origin", "destination"],
        "additionalProperties": False,
    },
}


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def record_json(output: dict[str, Any], functions: list[dict[str, Any]] | None = None, *, rid: str = "r1", category: str | None = None, **meta: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": rid,
        "instruction": "Answer with a JSON function call.",
        "input": {"user_question": "a question", "functions": functions or [CONVERT]},
        "output": output,
    }
    if category or meta:
        obj["meta"] = {**({"category": category} if category else {}), **meta}
    return obj


def make_record(output: dict[str, Any], functions: list[dict[str, Any]] | None = None, **kwargs: Any) -> Record:
    return record_from_json(record_json(output, functions, **kwargs))


def as_text(obj: Any) -> str:
    return json.dumps(obj)


@pytest.fixture
def gbp_to_jpy() -> Record:
    return make_record({"function_call": call("currency_conversion", amount=250, **{"from": "GBP", "to": "JPY"})})
