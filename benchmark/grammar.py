"""The answers a record allows, as one JSON Schema: what constrained decoding decodes under.

fcbench's answer envelope (``record.schema.json``'s ``$defs/output``) is one of

- ``{"function_call": null}``: no call;
- ``{"function_call": CALL}``: one call;
- ``{"function_calls": [CALL, ...]}``: one or more (parallel) calls;

and a CALL is ``{"name": N, "arguments": A}`` where N is one of the offered functions' names and
A is valid against that function's ``parameters`` schema. :func:`answer_schema` writes that as a
single JSON Schema a structured-generation library compiles into a grammar: the name of each
alternative is a ``const``, its ``arguments`` the function's own schema, with no extra keys
(``additionalProperties: false`` wherever the function's schema leaves it open), so a grammar
cannot emit a key the function does not list.

:func:`schema_keywords` counts the JSON Schema keywords the offered functions use, so that a
keyword a grammar library cannot enforce is counted, never silently dropped.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ANNOTATIONS = frozenset({"description", "title", "default", "examples", "$comment", "optional", "deprecated", "readOnly", "writeOnly"})
"""Keywords that say something about a value without constraining it: nothing to enforce."""

_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_VALUES = ("items", "additionalProperties", "not", "contains", "if", "then", "else")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")


def _closed(schema: Any) -> Any:
    """A copy of ``schema`` in which every object schema that does not say otherwise allows
    only the keys it lists (JSON Schema's default is any extra key)."""
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed_children(k, v) for k, v in schema.items()}
    if ("properties" in out or out.get("type") == "object") and "additionalProperties" not in out and "patternProperties" not in out:
        out["additionalProperties"] = False
    return out


def _closed_children(keyword: str, value: Any) -> Any:
    if keyword in _SUBSCHEMA_MAPS and isinstance(value, dict):
        return {name: _closed(sub) for name, sub in value.items()}
    if keyword in _SUBSCHEMA_LISTS and isinstance(value, list):
        return [_closed(sub) for sub in value]
    if keyword in _SUBSCHEMA_VALUES:
        return _closed(value)
    return copy.deepcopy(value)


def call_schema(function: Mapping[str, Any]) -> dict[str, Any]:
    """One call of ``function``: its name, then arguments valid against its parameters."""
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    return {
        "type": "object",
        "properties": {"name": {"const": function["name"]}, "arguments": _closed(parameters)},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def answer_schema(functions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Every answer fcbench's envelope allows for these offered functions (none: only the
    no-call)."""
    no_call = {"type": "object", "properties": {"function_call": {"type": "null"}}, "required": ["function_call"], "additionalProperties": False}
    if not functions:
        return no_call
    call = {"anyOf": [call_schema(f) for f in functions]} if len(functions) > 1 else call_schema(functions[0])
    one = {"type": "object", "properties": {"function_call": call}, "required": ["function_call"], "additionalProperties": False}
    many = {"type": "object", "properties": {"function_calls": {"type": "array", "items": call, "minItems": 1}},
            "required": ["function_calls"], "additionalProperties": False}
    return {"anyOf": [no_call, one, many]}


NATIVE_FORMATS = ("hermes", "llama3", "mistral")
"""Tool-call formats :func:`native_grammar` writes (``benchmark/formats.py`` reads them all)."""

_PROSE = "/[^<{\\[\\s][^<]*/"
"""An answer in words (native mode's abstention): anything not starting like a call."""


def _named_calls(functions: Sequence[Mapping[str, Any]], arguments_key: str) -> dict[str, Any]:
    calls = [{"type": "object", "properties": {"name": {"const": f["name"]}, arguments_key: _closed(f.get("parameters") or {"type": "object"})},
              "required": ["name", arguments_key], "additionalProperties": False} for f in functions]
    return calls[0] if len(calls) == 1 else {"anyOf": calls}


def native_grammar(functions: Sequence[Mapping[str, Any]], answer_format: str) -> str:
    """The answers a model may write in its own tool-call format, as a Lark grammar with JSON
    Schema parts (llguidance's ``%json``): one or more calls of the offered functions, or words.

    - ``hermes``: ``<tool_call>\\n{"name", "arguments"}\\n</tool_call>`` blocks;
    - ``llama3``: ``{"name", "parameters"}`` objects, several separated by ``;``;
    - ``mistral``: ``[TOOL_CALLS]`` and a JSON list of ``{"name", "arguments"}``.
    """
    import json

    if not functions:
        return f"start: prose\nprose: {_PROSE}\n"
    if answer_format == "hermes":
        call = f'call: "<tool_call>\\n" payload "\\n</tool_call>" "\\n"?\npayload: %json {json.dumps(_named_calls(functions, "arguments"))}\n'
        return f"start: call+ | prose\n{call}prose: {_PROSE}\n"
    if answer_format == "llama3":
        return f'start: payload ("; " payload)* | prose\npayload: %json {json.dumps(_named_calls(functions, "parameters"))}\nprose: {_PROSE}\n'
    if answer_format == "mistral":
        listed = {"type": "array", "items": _named_calls(functions, "arguments"), "minItems": 1}
        return f'start: "[TOOL_CALLS]" payload | prose\npayload: %json {json.dumps(listed)}\nprose: {_PROSE}\n'
    raise ValueError(f"no native grammar for {answer_format!r}; formats: {', '.join(NATIVE_FORMATS)}")


def schema_keywords(schemas: Iterable[Any]) -> Counter[str]:
    """How often each keyword occurs in these schemas, nested ones included (property names
    are not keywords; the values of ``enum``, ``const``, ``default`` are data)."""
    found: Counter[str] = Counter()
    stack = list(schemas)
    while stack:
        schema = stack.pop()
        if isinstance(schema, list):
            stack.extend(schema)
            continue
        if not isinstance(schema, dict):
            continue
        for keyword, value in schema.items():
            found[keyword] += 1
            if keyword in _SUBSCHEMA_MAPS and isinstance(value, dict):
                stack.extend(value.values())
            elif keyword in _SUBSCHEMA_LISTS or keyword in _SUBSCHEMA_VALUES:
                stack.append(value)
    return found


def unenforced(keywords: Mapping[str, int], enforced: frozenset[str]) -> dict[str, int]:
    """The keywords (with their counts) that constrain a value but that the grammar does not
    enforce: a decoded answer may still break them, and the scorer will say so."""
    return {k: n for k, n in sorted(keywords.items()) if k not in enforced and k not in ANNOTATIONS}
