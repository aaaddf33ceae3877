"""The record format: the one definition every stage shares.

The JSON Schema in ``schema/record.schema.json`` is the published contract. This module reads
records into typed objects, defines the answer envelope (the JSON a model must produce), and
infers a function spec from the seed's single example when a record offers no ``functions``.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

import jsonschema
import jsonschema_rs
import referencing
import referencing.exceptions
from fcbench.benchmark.canonical import Leaf, leaves, pointer
from fcbench.benchmark.jsonl import Problem, content_lines, nesting_depth

from fcbench.errors import UserError

MAX_RECORD_DEPTH = 64
"""How deeply a record may nest: far beyond any real function call, well within the stack."""
SCHEMA_PATH = Path(__file__).parent / "schema" / "record.schema.json"
"""The record format as JSON Schema (Draft 2020-12)."""

RECORD_FORMAT_VERSION = 1
"""Bumped whenever the record schema changes meaning."""

Category = Literal["simple", "multiple", "parallel", "irrelevance"]
CATEGORIES: tuple[Category, ...] = ("simple", "multiple", "parallel", "irrelevance")


@dataclass(frozen=True, slots=True)
class Call:
    """One function call: a name and its arguments object."""

    name: str
    arguments: dict[str, Any]
    leaves: frozenset[Leaf] = field(init=False, repr=False, compare=False)
    """The arguments' canonical leaves, computed once: exact match and F1 both use them."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "leaves", leaves(self.arguments))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments}


Answer = tuple[Call, ...]
"""The calls of an answer. The empty tuple is the explicit no-call ``{"function_call": null}``."""


def answer_from_output(obj: Any) -> Answer | str:
    """Read an answer envelope; return its calls, or a message saying what is wrong.

    Accepted, exactly as the schema's ``$defs/output``: ``{"function_call": {name, arguments}}``,
    ``{"function_calls": [{name, arguments}, ...]}`` (at least one call), and
    ``{"function_call": null}``. A one-element ``function_calls`` list means the same as a
    single ``function_call``. Written by hand rather than through the JSON Schema because it
    runs once per scored prediction; tests check the two agree.
    """
    if not isinstance(obj, dict) or len(obj) != 1:
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        return f'expected one key, "function_call" or "function_calls"; got {keys}'
    if "function_call" in obj:
        value = obj["function_call"]
        if value is None:
            return ()
        call = _call_from_json(value)
        return call if isinstance(call, str) else (call,)
    if "function_calls" in obj:
        values = obj["function_calls"]
        if not isinstance(values, list) or not values:
            return '"function_calls" must be a non-empty list (use {"function_call": null} for no call)'
        calls = []
        for i, value in enumerate(values):
            call = _call_from_json(value)
            if isinstance(call, str):
                return f"function_calls[{i}]: {call}"
            calls.append(call)
        return tuple(calls)
    return f'expected "function_call" or "function_calls"; got {next(iter(obj))!r}'


def _call_from_json(value: Any) -> Call | str:
    if not isinstance(value, dict):
        return f"a call must be an object, got {type(value).__name__}"
    if value.keys() != {"name", "arguments"}:
        return f'a call has exactly the keys "name" and "arguments"; got {sorted(value)}'
    name, arguments = value["name"], value["arguments"]
    if not isinstance(name, str) or not name:
        return '"name" must be a non-empty string'
    if not isinstance(arguments, dict):
        return f'"arguments" must be an object, got {type(arguments).__name__}'
    return Call(name, arguments)


def answer_to_output(answer: Answer) -> dict[str, Any]:
    """The envelope for an answer (inverse of :func:`answer_from_output`)."""
    if not answer:
        return {"function_call": None}
    if len(answer) == 1:
        return {"function_call": answer[0].to_json()}
    return {"function_calls": [call.to_json() for call in answer]}


# ---------------------------------------------------------------------------------------------
# Argument schemas


@dataclass(frozen=True, slots=True)
class SchemaError:
    """One reason an arguments object fails its schema (from jsonschema)."""

    keyword: str
    """The failing JSON Schema keyword: required, additionalProperties, type, enum, ..."""
    path: str
    """JSON pointer of the offending value inside the arguments ("" for the object itself)."""
    message: str


class ArgumentSchema:
    """A function's ``parameters`` schema, compiled once and shared by every record using it.

    ``is_valid`` runs on every scored prediction, so it uses jsonschema-rs (about 50x faster
    than the pure-Python validator here); ``errors`` explains a failure with the reference
    ``jsonschema`` implementation. Both implement Draft 2020-12; tests check they agree.
    """

    __slots__ = ("schema", "properties", "required", "_fast", "_reference")

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        # the parameter names it lists and requires, read once: scoring asks per prediction
        self.properties = frozenset(schema.get("properties") or ()) if isinstance(schema, dict) else frozenset()
        self.required = frozenset(schema.get("required") or ()) if isinstance(schema, dict) else frozenset()
        # Records come from other people: no reference may leave the document (checked before
        # compiling, in _compile_schema), and neither engine may fetch one, from a network or a
        # disk. Patterns run in linear time in both (see _bounded_pattern).
        self._reference = _BoundedValidator(schema, registry=_NO_RETRIEVAL)
        self._fast = jsonschema_rs.Draft202012Validator(schema, offline=True, pattern_options=jsonschema_rs.RegexOptions())

    def is_valid(self, arguments: Any) -> bool:
        try:
            return self._fast.is_valid(arguments)
        except (ValueError, OverflowError, RecursionError):
            # Values jsonschema-rs cannot take (e.g. integers beyond 64 bits): use the reference.
            try:
                return self._reference.is_valid(arguments)
            except RecursionError:
                return False

    def errors(self, arguments: Any) -> list[SchemaError]:
        """Every schema violation, most basic first (required, unexpected, type, then the rest).
        A value nested too deeply for the reference validator to walk (a recursive schema and a
        model's 300-level answer) gets one error saying so: model output never raises."""
        try:
            found = [
                SchemaError(err.validator, pointer(tuple(err.absolute_path)), err.message)
                for err in self._reference.iter_errors(arguments)
            ]
        except RecursionError:
            return [SchemaError("depth", "", f"nested {nesting_depth(arguments)} levels deep, too deep to check against the schema")]
        return sorted(found, key=lambda e: (_KEYWORD_ORDER.get(e.keyword, len(_KEYWORD_ORDER)), e.path))


_KEYWORD_ORDER = {"required": 0, "additionalProperties": 1, "unevaluatedProperties": 1, "type": 2}


def _refuse_retrieval(uri: str) -> Any:
    raise referencing.exceptions.NoSuchResource(ref=uri)


_NO_RETRIEVAL = referencing.Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]


@lru_cache(maxsize=1024)
def _linear_pattern(pattern: str) -> Any:
    """A validator that matches ``pattern`` with the linear-time regex engine (Rust's regex,
    through jsonschema-rs): no input can make it backtrack. Raises ValueError for a pattern that
    engine cannot express (lookaround, backreferences)."""
    return jsonschema_rs.Draft202012Validator({"type": "string", "pattern": pattern}, pattern_options=jsonschema_rs.RegexOptions())


def _bounded_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """The ``pattern`` keyword for the reference validator, in linear time."""
    if validator.is_type(instance, "string") and not _linear_pattern(pattern).is_valid(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_BoundedValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _bounded_pattern})


def outside_references(schema: Any) -> list[str]:
    """Every ``$ref`` or ``$dynamicRef`` that does not point inside the schema itself."""
    if isinstance(schema, dict):
        found = [str(v) for k, v in schema.items() if k in ("$ref", "$dynamicRef") and not (isinstance(v, str) and v.startswith("#"))]
        return found + [ref for value in schema.values() for ref in outside_references(value)]
    if isinstance(schema, list):
        return [ref for value in schema for ref in outside_references(value)]
    return []


@lru_cache(maxsize=4096)
def _compile_schema(schema_json: str) -> ArgumentSchema | str:
    schema = json.loads(schema_json)
    outside = outside_references(schema)
    if outside:
        return f"refers outside itself ({', '.join(outside[:3])}): only references inside the schema (\"#/...\") are allowed, nothing is fetched"
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as err:
        return f"not a valid JSON Schema: {err.message}"
    try:
        return ArgumentSchema(schema)
    except ValueError as err:  # jsonschema-rs refuses, e.g. a pattern with lookaround (not matchable in linear time)
        reason = str(err).splitlines()[0]
        not_regex = ' is not a "regex"'
        if reason.endswith(not_regex):
            return f"a pattern cannot be matched in bounded time ({reason.removesuffix(not_regex)}): lookaround and backreferences are not supported"
        return f"not a usable JSON Schema: {reason}"


def compile_argument_schema(parameters: dict[str, Any]) -> ArgumentSchema | str:
    """The compiled schema, or a message why it is not a valid JSON Schema. Cached by content."""
    return _compile_schema(json.dumps(parameters, sort_keys=True))


def infer_spec(example: Call) -> dict[str, Any]:
    """A function spec for the seed's form, which shows one example call and no schema.

    Every argument of the example becomes a required parameter of its JSON type (numbers are
    ``number``, so an integer example does not reject a fractional answer); nothing else is
    allowed.
    """
    return {
        "name": example.name,
        "description": "",
        "parameters": {
            "type": "object",
            "properties": {key: {"type": json_type(value)} for key, value in example.arguments.items()},
            "required": list(example.arguments),
            "additionalProperties": False,
        },
    }


def json_type(value: Any) -> str:
    """The JSON Schema type name of a parsed JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# ---------------------------------------------------------------------------------------------
# Canonical form of a record line

_RECORD_KEYS = ("id", "instruction", "input", "output", "meta")
_INPUT_KEYS = ("user_question", "functions", "function_call_example")
_SPEC_KEYS = ("name", "description", "parameters")
_CALL_KEYS = ("name", "arguments")


def canonical_record(obj: Any) -> Any:
    """The record in canonical form: every string (keys too) in Unicode NFC; record-level and
    ``input`` keys in the schema's order, function specs as name/description/parameters and
    calls as name/arguments; every other object keeps its order (parameter order is meaning)."""
    obj = _nfc(obj)
    if not isinstance(obj, dict):
        return obj
    record = _ordered(obj, _RECORD_KEYS)
    inp = record.get("input")
    if isinstance(inp, dict):
        inp = record["input"] = _ordered(inp, _INPUT_KEYS)
        if isinstance(inp.get("functions"), list):
            inp["functions"] = [_ordered(f, _SPEC_KEYS) for f in inp["functions"]]
        inp["function_call_example"] = _ordered(inp.get("function_call_example"), _CALL_KEYS)
        if inp["function_call_example"] is None:
            del inp["function_call_example"]
    out = record.get("output")
    if isinstance(out, dict):
        out = record["output"] = dict(out)
        if isinstance(out.get("function_call"), dict):
            out["function_call"] = _ordered(out["function_call"], _CALL_KEYS)
        if isinstance(out.get("function_calls"), list):
            out["function_calls"] = [_ordered(c, _CALL_KEYS) for c in out["function_calls"]]
    return record


def _ordered(value: Any, order: tuple[str, ...]) -> Any:
    if not isinstance(value, dict):
        return value
    head = {k: value[k] for k in order if k in value}
    return {**head, **{k: v for k, v in value.items() if k not in head}}


def _nfc(value: Any) -> Any:
    """Every string in NFC. Skipped (the common case) when no string needs it."""
    # Escapes (\\uXXXX) could hide a non-NFC string from the text check: walk those.
    text = json.dumps(value, ensure_ascii=False)
    if unicodedata.is_normalized("NFC", text) and "\\u" not in text:
        return value
    return _nfc_deep(value)


def _nfc_deep(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [_nfc_deep(v) for v in value]
    if isinstance(value, dict):
        return {unicodedata.normalize("NFC", k): _nfc_deep(v) for k, v in value.items()}
    return value


def dumps_canonical(obj: Any) -> str:
    """One canonical JSONL line (without its LF): canonical_record, UTF-8 text, not ASCII-escaped."""
    return json.dumps(canonical_record(obj), ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Records


class RecordError(UserError):
    """A JSON object that is not a valid fcbench record; ``reasons`` lists every problem."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True, slots=True)
class Record:
    """A record, read and checked. ``functions`` always holds the offered specs (inferred from
    the example in the seed's form) and ``schemas`` their compiled ``parameters``."""

    id: str
    question: str
    functions: tuple[dict[str, Any], ...]
    example: Call | None
    gold: Answer
    category: Category
    meta: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False)
    schemas: Mapping[str, ArgumentSchema] = field(repr=False)
    line: int | None = None
    """The line it was read from, when read from a file."""

    @property
    def split(self) -> str | None:
        return self.meta.get("split")


@cache
def record_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


@cache
def _fast_record_validator() -> Any:
    return jsonschema_rs.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def record_schema_errors(obj: Any) -> list[str]:
    """Every way ``obj`` breaks the record schema, as ``at /path: message`` lines.

    jsonschema-rs answers the common case (valid) fast; the reference validator explains."""
    try:
        if _fast_record_validator().is_valid(obj):
            return []
    except (ValueError, OverflowError, RecursionError):
        pass
    errors = sorted(record_validator().iter_errors(obj), key=lambda e: list(e.absolute_path))
    return [f"at {pointer(tuple(e.absolute_path)) or '/'}: {e.message}" for e in errors]


def category_of(answer: Answer, n_functions: int) -> Category:
    """The category an answer implies: no call, several calls, or one call among 1 or more."""
    if not answer:
        return "irrelevance"
    if len(answer) > 1:
        return "parallel"
    return "multiple" if n_functions > 1 else "simple"


def record_from_json(obj: Any, *, default_id: str | None = None, line: int | None = None) -> Record:
    """Check a parsed JSON line against the record format and build a :class:`Record`.

    Raises :class:`RecordError` listing every problem: schema violations, invalid parameter
    schemas, duplicate function names. Consistency of the gold answer with the offered
    functions is a separate check (:func:`gold_problems`), so that a validator can report it
    as its own reason.
    """
    depth = nesting_depth(obj)
    if depth > MAX_RECORD_DEPTH:
        raise RecordError([f"nested {depth} levels deep; a record may nest at most {MAX_RECORD_DEPTH}"])
    reasons = record_schema_errors(obj)
    if reasons:
        raise RecordError(reasons)
    record_id = obj.get("id", default_id)
    if record_id is None:
        raise RecordError(['missing "id"'])
    inp = obj["input"]
    example = _call_from_json(inp["function_call_example"]) if "function_call_example" in inp else None
    assert not isinstance(example, str), example  # the schema already checked it
    functions = tuple(inp["functions"]) if "functions" in inp else (infer_spec(example),)
    schemas: dict[str, ArgumentSchema] = {}
    for spec in functions:
        if spec["name"] in schemas:
            reasons.append(f"function {spec['name']!r} is offered twice")
            continue
        compiled = compile_argument_schema(spec["parameters"])
        if isinstance(compiled, str):
            reasons.append(f"function {spec['name']!r}: parameters is {compiled}")
        else:
            schemas[spec["name"]] = compiled
    if reasons:
        raise RecordError(reasons)
    gold = answer_from_output(obj["output"])
    assert not isinstance(gold, str), gold  # the schema already checked it
    meta = obj.get("meta", {})
    category = meta.get("category") or category_of(gold, len(functions))
    return Record(
        id=record_id,
        question=inp["user_question"],
        functions=functions,
        example=example,
        gold=gold,
        category=category,
        meta=meta,
        raw=obj,
        schemas=schemas,
        line=line,
    )


def gold_problems(record: Record) -> list[str]:
    """Ways the gold answer disagrees with the record: unknown names, schema-invalid
    arguments, a category the answer does not imply. Empty for a consistent record."""
    problems = []
    for call in record.gold:
        schema = record.schemas.get(call.name)
        if schema is None:
            problems.append(f"gold calls {call.name!r}, which is not offered")
        elif not schema.is_valid(call.arguments):
            first = schema.errors(call.arguments)[0]
            problems.append(f"gold arguments of {call.name!r} break its schema at {first.path or '/'}: {first.message}")
    implied = category_of(record.gold, len(record.functions))
    if record.category != implied:
        problems.append(f"category is {record.category!r} but the output implies {implied!r}")
    return problems


def read_records(path: str | Path) -> tuple[list[Record], list[Problem]]:
    """Read a JSONL file of records. Bad lines come back as problems, never silently dropped.

    Blank lines are skipped. Records without an id get ``line-N``. A repeated id is a problem
    (the first occurrence is kept).
    """
    records: list[Record] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for line in content_lines(path, problems):
        try:
            record = record_from_json(line.value, default_id=f"line-{line.line}", line=line.line)
        except RecordError as err:
            problems.extend(Problem(str(path), line.line, reason) for reason in err.reasons)
            continue
        if record.id in seen:
            problems.append(Problem(str(path), line.line, f"duplicate id {record.id!r} (first on line {seen[record.id]})"))
            continue
        seen[record.id] = line.line
        records.append(record)
    return records, problems
