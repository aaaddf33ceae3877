"""Typed verdicts: every scored item gets one, naming its first failure.

The scheme follows BFCL's ``checker:reason`` strings, typed as a StrEnum so that a
misspelt reason is an AttributeError rather than a silently new category. The ladder is the
order of :class:`ErrorType`: both verdicts an item gets (against the gold answer, and
``ast_match``'s against the acceptable values) start with :func:`answer_shape_verdict` and go on
call by call, so the same answer fails the same rung in both.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class ErrorType(StrEnum):
    """Why an item is not an exact match, cheapest check first."""

    OK = "ok"
    """The answer equals the gold answer."""

    # The prediction itself.
    PREDICTION_MISSING = "prediction:missing"
    """No prediction was given for this benchmark item (scores 0 everywhere)."""

    # The output parser (no JSON object, or not an fcbench answer).
    PARSE_EMPTY = "parse:empty"
    PARSE_NO_JSON = "parse:no_json"
    PARSE_TRUNCATED = "parse:truncated"
    PARSE_INVALID_JSON = "parse:invalid_json"
    PARSE_WRONG_ENVELOPE = "parse:wrong_envelope"

    # Call or no call.
    IRRELEVANCE_CALLED = "irrelevance:called"
    """Gold is an explicit no-call, the model called something."""
    CALLS_ABSTAINED = "calls:abstained"
    """Gold expects a call, the model answered with a no-call."""
    CALLS_COUNT = "calls:count"
    """A different number of calls than the gold answer."""

    # Function names.
    NAME_HALLUCINATED = "name:hallucinated"
    """A called function is not among the offered ones."""
    NAME_WRONG_FUNCTION = "name:wrong_function"
    """An offered function, but not the one(s) the gold answer calls."""

    # Arguments against the function's schema.
    ARGS_MISSING_REQUIRED = "args:missing_required"
    ARGS_UNEXPECTED = "args:unexpected"
    ARGS_TYPE = "args:type"
    ARGS_CONSTRAINT = "args:constraint"
    """Schema-invalid for another reason: enum, range, pattern, length, ..."""

    # Arguments against the gold answer (schema-valid but different).
    ARGS_MISSING = "args:missing"
    """An optional parameter the gold answer sets was left out."""
    ARGS_EXTRA = "args:extra"
    """An optional parameter the gold answer leaves out was set."""
    ARGS_VALUE = "args:value"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: valid, why not, and readable messages."""

    valid: bool
    error_type: ErrorType
    messages: tuple[str, ...] = ()

    @classmethod
    def ok(cls) -> CheckResult:
        return _OK

    @classmethod
    def fail(cls, error_type: ErrorType, *messages: str) -> CheckResult:
        return cls(False, error_type, tuple(_bounded(m) for m in messages))


MAX_MESSAGE = 300
"""Characters a verdict message keeps: a 5 MB wrong value must not make a 5 MB verdict."""


def _bounded(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else f"{message[: MAX_MESSAGE - 30]}... ({len(message):,} chars)"


_OK = CheckResult(True, ErrorType.OK)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


def answer_shape_verdict(offered: Collection[str], predicted: Sequence[_Named], expected_calls: int) -> CheckResult | None:
    """The ladder's first rungs, before any call is compared: a call where none is due (or
    none where one is), the number of calls, a function that was not offered. None when the
    answer passes them all and has calls to compare; OK for a right no-call."""
    if expected_calls == 0 or not predicted:
        if expected_calls == 0 and not predicted:
            return CheckResult.ok()
        if predicted:
            return CheckResult.fail(ErrorType.IRRELEVANCE_CALLED, f"no offered function fits, but the model called {', '.join(c.name for c in predicted)}")
        return CheckResult.fail(ErrorType.CALLS_ABSTAINED, "the model answered with no call, but a call is expected")
    if len(predicted) != expected_calls:
        return CheckResult.fail(ErrorType.CALLS_COUNT, f"expected {expected_calls} call(s), got {len(predicted)}")
    for call in predicted:
        if call.name not in offered:
            return CheckResult.fail(ErrorType.NAME_HALLUCINATED, f"{call.name!r} is not an offered function (offered: {', '.join(sorted(offered))})")
    return None
