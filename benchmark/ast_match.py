"""``ast_match``: BFCL-style lenient matching of an answer against acceptable values.

BFCL's possible answers list, per parameter, every acceptable value, ``""`` meaning "may be
omitted". A record carries them in ``meta.acceptable`` as ``[{"name", "arguments": {param:
[values]}}, ...]``, one entry per expected call; a nested object value is itself a mapping of
keys to acceptable-value lists. A record without ``meta.acceptable`` accepts exactly its gold
answer: each gold value is the one acceptable value of its parameter.

A predicted call matches an expected one when:
- the names are equal;
- every required parameter of the function's schema is present;
- no parameter outside the function's schema or the expected call's acceptable values is set;
- each value is among the acceptable values. Strings are compared after BFCL's normalisation
  (lower case, without space and ``,./-_*^``; every other character counts), at the depths BFCL
  applies it: the value itself, list elements, object values and the values of objects in a
  list; deeper strings must be equal as they are. A number equals a number of the same value,
  compared exactly (no float round trip), so an integer is accepted where a float is expected,
  also inside lists (BFCL refuses it there: one of the differences in docs/bfcl.md); a float is
  refused where the schema says integer. Booleans are never numbers. Lists match element by
  element, in order;
- an acceptable parameter left out has ``""`` among its acceptable values.

Parallel calls match in any order: the predicted and expected calls must pair off one to one.
An explicit no-call (``{"function_call": null}``) is right exactly when no call is expected. An
output that does not parse is never a correct abstention (unlike BFCL's own runner, #443).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fcbench.benchmark.matching import best_assignment
from fcbench.benchmark.record import Answer, Call, Record
from fcbench.benchmark.verdict import CheckResult, ErrorType, answer_shape_verdict

OMITTED = ""
"""In an acceptable-values list: the parameter may be left out."""

_BFCL_IGNORED = re.compile(r"[ ,./\-_*^]")
"""What BFCL's ``standardize_string`` removes before comparing strings: space and ``,./-_*^``."""


@dataclass(frozen=True, slots=True)
class AcceptableCall:
    name: str
    arguments: Mapping[str, list[Any]]
    """parameter -> acceptable values (``""``: may be omitted)."""


def acceptable_calls(record: Record) -> list[AcceptableCall]:
    """The record's ``meta.acceptable``, or its gold answer as the only acceptable values."""
    given = record.meta.get("acceptable")
    if given is not None:
        return [AcceptableCall(call["name"], call["arguments"]) for call in given]
    return [AcceptableCall(call.name, {param: [_as_acceptable(value)] for param, value in call.arguments.items()}) for call in record.gold]


def _as_acceptable(value: Any) -> Any:
    """A gold value in BFCL's possible-answer form: an object maps each key to a one-value
    list (also as a list element: a list of objects); anything inside that is a plain value."""
    if isinstance(value, dict):
        return {key: [v] for key, v in value.items()}
    if isinstance(value, list):
        return [{key: [v] for key, v in item.items()} if isinstance(item, dict) else item for item in value]
    return value


def normalise(text: str) -> str:
    """BFCL's string normalisation: lower case, without space and ``,./-_*^`` (so "3x + 2" is
    not "3x - 2" and "07:00" is not "0700"), single quotes read as double ones."""
    return _BFCL_IGNORED.sub("", text).lower().replace("'", '"')


def value_matches(value: Any, acceptable: Any, schema: Mapping[str, Any] | None = None) -> bool:
    """Whether a parameter's value equals one acceptable value (see the module docstring).
    Strings are normalised at the depths BFCL normalises them: the value itself, a list's
    elements, an object's values and the values of objects in a list; deeper, equal as they are."""
    schema = schema if isinstance(schema, Mapping) else {}
    if isinstance(acceptable, dict):
        return isinstance(value, dict) and _object_problem(value, acceptable, schema.get("properties") or {}, _element_matches) is None
    if isinstance(acceptable, list):
        items = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
        return isinstance(value, list) and len(value) == len(acceptable) and all(_element_matches(v, a, items) for v, a in zip(value, acceptable))
    return _scalar_matches(value, acceptable, schema)


def _element_matches(value: Any, acceptable: Any, schema: Mapping[str, Any]) -> bool:
    """One level inside a parameter: a list element, or an object's value."""
    schema = schema if isinstance(schema, Mapping) else {}
    if isinstance(acceptable, dict):  # an object in a list: its values are compared like an object's
        return isinstance(value, dict) and _object_problem(value, acceptable, schema.get("properties") or {}, _exactly_equal) is None
    if isinstance(acceptable, list):
        return _exactly_equal(value, acceptable, schema)
    return _scalar_matches(value, acceptable, schema)


def _scalar_matches(value: Any, acceptable: Any, schema: Mapping[str, Any]) -> bool:
    if isinstance(acceptable, str):
        # equal strings normalise alike: most right answers need no normalising at all
        return isinstance(value, str) and (value == acceptable or normalise(value) == normalise(acceptable))
    return _exactly_equal(value, acceptable, schema)


def _exactly_equal(value: Any, acceptable: Any, schema: Mapping[str, Any] | None = None) -> bool:
    """Equal as JSON values, strings as they are. Numbers compare by value, exactly: Python
    compares an int with a float without rounding either and never raises, so a 400-digit
    integer is simply unequal to 1e308. An int is accepted for a float, a float never for an
    integer; booleans are never numbers."""
    schema = schema if isinstance(schema, Mapping) else {}
    if isinstance(acceptable, bool) or isinstance(value, bool):
        return isinstance(acceptable, bool) and isinstance(value, bool) and value == acceptable
    if isinstance(acceptable, (int, float)):
        if not isinstance(value, (int, float)) or (schema.get("type") == "integer" and isinstance(value, float)):
            return False
        return value == acceptable
    if isinstance(acceptable, list):
        return isinstance(value, list) and len(value) == len(acceptable) and all(_exactly_equal(v, a) for v, a in zip(value, acceptable))
    if isinstance(acceptable, dict):
        return isinstance(value, dict) and value.keys() == acceptable.keys() and all(_exactly_equal(value[k], a) for k, a in acceptable.items())
    return type(value) is type(acceptable) and value == acceptable


def options_of(acceptable: Any) -> list[Any]:
    """A key's acceptable values. BFCL writes them as a list; a few live items give a nested
    object's key one bare value instead, which is read as the only acceptable one."""
    return acceptable if isinstance(acceptable, list) else [acceptable]


Matcher = Callable[[Any, Any, Mapping[str, Any]], bool]


def _object_problem(value: Mapping[str, Any], acceptable: Mapping[str, Any], properties: Mapping[str, Any], matches: Matcher) -> tuple[ErrorType, str] | None:
    """The first way an arguments object (or an object inside one) misses its acceptable
    values, each value compared by ``matches``."""
    for key, given in value.items():
        if key not in acceptable:
            return ErrorType.ARGS_UNEXPECTED, f"{key!r} is not among the acceptable parameters"
        prop = properties.get(key) if isinstance(properties.get(key), dict) else {}
        if not any(matches(given, option, prop) for option in options_of(acceptable[key])):
            shown = [option for option in options_of(acceptable[key]) if option != OMITTED]
            return ErrorType.ARGS_VALUE, f"{key}: {given!r} is not acceptable (acceptable: {shown!r})"
    for key, options in acceptable.items():
        if key not in value and OMITTED not in options_of(options):
            return ErrorType.ARGS_MISSING, f"{key!r} was left out but may not be"
    return None


def call_verdict(call: Call, expected: AcceptableCall, spec: Mapping[str, Any] | None) -> CheckResult:
    """Why ``call`` does not match ``expected`` (``spec``: the offered function), or OK."""
    if call.name != expected.name:
        return CheckResult.fail(ErrorType.NAME_WRONG_FUNCTION, f"called {call.name}, expected {expected.name}")
    parameters = (spec or {}).get("parameters") or {}
    properties = parameters.get("properties") or {}
    for required in parameters.get("required") or ():
        if required not in call.arguments:
            return CheckResult.fail(ErrorType.ARGS_MISSING_REQUIRED, f"{call.name}: required parameter {required!r} is missing")
    for key in call.arguments:
        if spec is not None and key not in properties:
            return CheckResult.fail(ErrorType.ARGS_UNEXPECTED, f"{call.name}: {key!r} is not a parameter of the function")
    problem = _object_problem(call.arguments, expected.arguments, properties, value_matches)
    if problem is not None:
        return CheckResult.fail(problem[0], f"{call.name}: {problem[1]}")
    return CheckResult.ok()


def ast_verdict(record: Record, predicted: Answer) -> CheckResult:
    """OK when the parsed answer matches the record's acceptable calls (see the module docstring)."""
    expected = acceptable_calls(record)
    shape = answer_shape_verdict(record.schemas, predicted, len(expected))
    if shape is not None or not expected:
        return shape or CheckResult.ok()
    specs = {spec["name"]: spec for spec in record.functions}
    verdicts = [[call_verdict(call, exp, specs.get(call.name)) for exp in expected] for call in predicted]
    return _pair_off(verdicts)


def _pair_off(verdicts: Sequence[Sequence[CheckResult]]) -> CheckResult:
    """OK when predicted calls and expected calls pair off one to one (any order); else the
    verdict of a predicted call that matches no expected call left for it."""
    pairs = best_assignment([[int(v.valid) for v in row] for row in verdicts])
    if sum(verdicts[i][j].valid for i, j in pairs) == len(verdicts):
        return CheckResult.ok()
    paired = dict(pairs)
    for i, row in enumerate(verdicts):
        if not row[paired[i]].valid:
            # Explain with the closest failure: the same name if there is one.
            same_name = [v for v in row if not v.valid and v.error_type != ErrorType.NAME_WRONG_FUNCTION]
            return (same_name or [row[paired[i]]])[0]
    return CheckResult.fail(ErrorType.CALLS_COUNT, "the calls do not pair off with the expected ones")
