"""Typed verdicts: every scored item gets one, naming its first failure.

The scheme follows BFCL's ``checker:reason`` strings, typed as a StrEnum so that a
misspelt reason is an AttributeError rather than a silently new category.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
        return cls(False, error_type, tuple(messages))


_OK = CheckResult(True, ErrorType.OK)
