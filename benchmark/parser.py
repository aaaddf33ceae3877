"""The output parser: raw model text -> the answer it contains, or a typed reason why not.

The answer is the first complete top-level JSON object in the text. Prose before it, a
```json fence around it and anything after it are tolerated. Model text is only ever handed
to a JSON decoder, never executed as code.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from fcbench.benchmark.jsonl import reject_constant
from fcbench.benchmark.record import Answer, answer_from_output
from fcbench.benchmark.verdict import ErrorType

MAX_START_ATTEMPTS = 64
"""How many ``{`` positions are tried as the start of the object. Bounds the work on long
garbage full of braces (each attempt is one C-speed decode), so no input can hang the parser."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """What the parser found. ``answer`` is set only when ``error`` is None."""

    obj: dict[str, Any] | None
    """The first complete JSON object in the text (set even when its envelope is wrong)."""
    answer: Answer | None
    error: ErrorType | None
    message: str = ""

    @property
    def json_valid(self) -> bool:
        return self.obj is not None


# NaN and Infinity are Python's extensions, not JSON: a model that writes them has not
# produced a valid answer.
def _finite_float(text: str) -> float:
    """json's parse_float hook: ``1e400`` would decode as infinity, which JSON cannot hold."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text[:40]} is out of the range of a JSON number")
    return value


_DECODER = json.JSONDecoder(parse_constant=reject_constant, parse_float=_finite_float)


def parse_output(text: Any) -> Parsed:
    """Find the answer in a model's raw output. Never raises, whatever the input."""
    if not isinstance(text, str):
        return Parsed(None, None, ErrorType.PARSE_EMPTY, f"output is {type(text).__name__}, not text")
    start = text.find("{")
    if start < 0:
        if not text.strip():
            return Parsed(None, None, ErrorType.PARSE_EMPTY, "empty output")
        return Parsed(None, None, ErrorType.PARSE_NO_JSON, "no JSON object in the output")
    obj, first_failure, _ = _first_object(text, start)
    if obj is None:
        error, message = first_failure
        return Parsed(None, None, error, message)
    answer = answer_from_output(obj)
    if isinstance(answer, str):
        return Parsed(obj, None, ErrorType.PARSE_WRONG_ENVELOPE, answer)
    return Parsed(obj, answer, None)


def answer_is_final(text: str) -> bool:
    """True when no text appended to ``text`` can change what :func:`parse_output` returns:
    an object has been decoded and no earlier ``{`` could still grow into one. A generation
    can stop here (the JSON-aware stopping criterion) and score the same."""
    start = text.find("{")
    if start < 0:
        return False
    obj, _, earlier_may_grow = _first_object(text, start)
    return obj is not None and not earlier_may_grow


_LONGEST_TOKEN = len("-Infinity")
"""A failure this close to the end may be a literal or number still being written (``tr`` of
``true``, ``1e`` of ``1e5``): more text could turn it into a success."""


def _first_object(text: str, start: int) -> tuple[dict[str, Any] | None, tuple[ErrorType, str], bool]:
    """Decode from successive ``{`` positions; return the first object, else why the first
    attempt failed (the most telling one: it is where the answer should have begun), and
    whether a failed attempt could still succeed with more text."""
    first_failure: tuple[ErrorType, str] | None = None
    may_grow = False
    for _ in range(MAX_START_ATTEMPTS):
        decoded = decode_at(text, start)
        if isinstance(decoded, Decoded):
            return decoded.value, (ErrorType.PARSE_INVALID_JSON, ""), may_grow
        failure = (decoded.error, decoded.message)
        may_grow = may_grow or decoded.may_grow
        first_failure = first_failure or failure
        start = text.find("{", start + 1)
        if start < 0:
            break
    assert first_failure is not None
    return None, first_failure, may_grow


@dataclass(frozen=True, slots=True)
class Decoded:
    value: Any
    end: int


@dataclass(frozen=True, slots=True)
class Undecodable:
    error: ErrorType
    message: str
    may_grow: bool
    """More text could still make it decode (it ran out of text, or stopped inside a literal)."""


def decode_at(text: str, start: int) -> Decoded | Undecodable:
    """One JSON value starting at ``text[start]``, with where it ends; or why it cannot be read.
    Never raises: JSON's own errors, nesting too deep, NaN/Infinity, ``1e400`` and integers of
    too many digits are all typed failures."""
    try:
        value, end = _DECODER.raw_decode(text, start)
        return Decoded(value, end)
    except json.JSONDecodeError as err:
        error, message = _classify(text, err)
        return Undecodable(error, message, error is ErrorType.PARSE_TRUNCATED or err.pos > len(text) - _LONGEST_TOKEN)
    except RecursionError:
        return Undecodable(ErrorType.PARSE_INVALID_JSON, "JSON nested too deeply", False)
    except ValueError as err:  # NaN/Infinity, or an integer with too many digits
        return Undecodable(ErrorType.PARSE_INVALID_JSON, str(err), False)


def first_object(text: str) -> tuple[dict[str, Any] | None, tuple[ErrorType, str]]:
    """The first complete JSON object in ``text`` (as :func:`parse_output` finds it), else why
    there is none."""
    start = text.find("{")
    if start < 0:
        return None, (ErrorType.PARSE_EMPTY if not text.strip() else ErrorType.PARSE_NO_JSON, "no JSON object in the output")
    obj, failure, _ = _first_object(text, start)
    return obj, failure


_FENCE_AND_SPACE = " \t\r\n`"


def _classify(text: str, err: json.JSONDecodeError) -> tuple[ErrorType, str]:
    """Truncated when the decoder ran out of text (ignoring a closing fence), else invalid."""
    content_end = len(text.rstrip(_FENCE_AND_SPACE))
    if err.pos >= content_end or err.msg.startswith("Unterminated string"):
        return ErrorType.PARSE_TRUNCATED, f"the JSON object is cut off ({err.msg} at char {err.pos})"
    return ErrorType.PARSE_INVALID_JSON, f"{err.msg} at char {err.pos}"
