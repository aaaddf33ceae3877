"""The output parser: the first complete JSON object, typed failures, never a crash."""

from __future__ import annotations

from fcbench.benchmark.parser import MAX_START_ATTEMPTS, parse_output
from fcbench.benchmark.record import Call
from fcbench.benchmark.verdict import ErrorType

ANSWER = '{"function_call": {"name": "f", "arguments": {"x": 1}}}'


def test_plain_answer():
    parsed = parse_output(ANSWER)
    assert parsed.error is None
    assert parsed.answer == (Call("f", {"x": 1}),)


def test_prose_fence_and_trailing_text_are_tolerated():
    text = f"Sure! Here you go:\n```json\n{ANSWER}\n```\nHope that helps {{really}}."
    assert parse_output(text).answer == (Call("f", {"x": 1}),)


def test_first_complete_object_wins():
    second = '{"function_call": null}'
    assert parse_output(ANSWER + second).answer == (Call("f", {"x": 1}),)
    # A brace in prose that does not start valid JSON is skipped.
    assert parse_output("Use {curly} syntax: " + second).answer == ()


def test_parallel_and_no_call_envelopes():
    text = '{"function_calls": [{"name": "f", "arguments": {}}, {"name": "g", "arguments": {"a": [1]}}]}'
    assert parse_output(text).answer == (Call("f", {}), Call("g", {"a": [1]}))
    assert parse_output('{"function_call": null}').answer == ()


def test_empty():
    for text in ("", "   \n\t"):
        assert parse_output(text).error is ErrorType.PARSE_EMPTY
    assert parse_output(None).error is ErrorType.PARSE_EMPTY  # not text at all


def test_no_json():
    parsed = parse_output("I would call the weather function for Paris.")
    assert parsed.error is ErrorType.PARSE_NO_JSON
    assert not parsed.json_valid


def test_truncated():
    assert parse_output('{"function_call": {"name": "f", "arguments": {"x": 1').error is ErrorType.PARSE_TRUNCATED
    assert parse_output('{"function_call": {"name": "f", "argu').error is ErrorType.PARSE_TRUNCATED
    # cut off inside a fence: the closing ``` is not the object's fault
    assert parse_output('```json\n{"function_call": {"name": "f",\n```').error is ErrorType.PARSE_TRUNCATED


def test_invalid_json():
    parsed = parse_output("{'function_call': None} and more")  # Python, not JSON
    assert parsed.error is ErrorType.PARSE_INVALID_JSON
    assert parse_output('{"function_call": {"name": "f", "arguments": {"x": NaN}}}').error is ErrorType.PARSE_INVALID_JSON


def test_wrong_envelope_is_json_valid():
    for text in (
        '{"name": "f", "arguments": {"x": 1}}',  # a bare call
        '{"function_calls": []}',  # an empty list is not the no-call answer
        '{"function_call": {"name": "f", "arguments": "{\\"x\\": 1}"}}',  # arguments as a string
        '{"function_call": {"name": "f"}}',
        '{"function_call": null, "extra": 1}',
    ):
        parsed = parse_output(text)
        assert parsed.error is ErrorType.PARSE_WRONG_ENVELOPE, text
        assert parsed.json_valid and parsed.answer is None


def test_python_code_is_never_run():
    # If this were eval'd it would raise; as text it is simply not JSON.
    assert parse_output("__import__('os').system('false')").error is ErrorType.PARSE_NO_JSON


def test_huge_and_deep_inputs_fail_cleanly():
    assert parse_output("{" * 1_000_000).error is ErrorType.PARSE_INVALID_JSON
    assert parse_output('{"a": ' * 100_000).error is ErrorType.PARSE_INVALID_JSON
    assert parse_output("[" * 1_000_000).error is ErrorType.PARSE_NO_JSON
    assert parse_output('{"a": "' + "x" * 5_000_000).error is ErrorType.PARSE_TRUNCATED
    assert parse_output('{"n": ' + "9" * 10_000 + "}").error is ErrorType.PARSE_INVALID_JSON  # int too long


def test_start_attempts_are_bounded():
    # The answer after more than MAX_START_ATTEMPTS stray braces is not searched for.
    text = "{ " * (MAX_START_ATTEMPTS + 1) + ANSWER
    assert parse_output(text).error is ErrorType.PARSE_INVALID_JSON
    assert parse_output("{ " * (MAX_START_ATTEMPTS - 1) + ANSWER).answer == (Call("f", {"x": 1}),)
