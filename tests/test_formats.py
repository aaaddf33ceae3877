"""Tool-call formats: one correct answer written the way each model family writes it reads as
the same answer and scores the same; markup that cannot be read is a typed failure."""

from __future__ import annotations

import json

import pytest
from conftest import CONVERT, WEATHER, call, make_record
from fcbench.benchmark.formats import FORMATS, read_answer
from fcbench.benchmark.metrics import score_parsed
from fcbench.benchmark.record import Call
from fcbench.benchmark.verdict import ErrorType

ONE = make_record({"function_call": call("currency_conversion", amount=250, **{"from": "GBP", "to": "JPY"})}, [CONVERT, WEATHER])
TWO = make_record({"function_calls": [call("get_weather", city="Oslo"), call("get_weather", city="Quito", unit="celsius")]}, [WEATHER])
NONE = make_record({"function_call": None}, [WEATHER])
ARGS = {"amount": 250, "from": "GBP", "to": "JPY"}

# The one correct call, written the way each family writes it (the table, and more).
ONE_CALL = {
    "fcbench": json.dumps({"function_call": {"name": "currency_conversion", "arguments": ARGS}}),
    "hermes": '<tool_call>\n{"name": "currency_conversion", "arguments": {"amount": 250, "from": "GBP", "to": "JPY"}}\n</tool_call>',
    "openai": json.dumps({"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_0", "type": "function", "function": {"name": "currency_conversion", "arguments": json.dumps(ARGS)}}]}),
    "llama3": '<|python_tag|>{"name": "currency_conversion", "parameters": {"amount": 250, "from": "GBP", "to": "JPY"}}',
    "llama3 bare": '{"type": "function", "name": "currency_conversion", "parameters": {"amount": 250, "from": "GBP", "to": "JPY"}}',
    "mistral": '[TOOL_CALLS][{"name": "currency_conversion", "arguments": {"amount": 250, "from": "GBP", "to": "JPY"}}]',
    "mistral v11": '[TOOL_CALLS]currency_conversion[ARGS]{"amount": 250, "from": "GBP", "to": "JPY"}',
}


@pytest.mark.parametrize("written", sorted(ONE_CALL))
def test_one_correct_call_reads_ok_in_every_format_detected_or_forced(written: str) -> None:
    text = ONE_CALL[written]
    forced = written.split()[0]
    for answer_format in ("auto", forced):
        parsed = read_answer(text, answer_format)
        assert parsed.error is None, (answer_format, parsed.message)
        assert parsed.answer == (Call("currency_conversion", ARGS),)
        score = score_parsed(ONE, parsed)
        assert str(score.verdict.error_type) == "ok" and score.exact_match and score.json_valid


def test_python_call_syntax_reads_ok_without_running_anything() -> None:
    # currency_conversion's parameter "from" is a Python keyword, so no Python call can name it: another record.
    record = make_record({"function_call": call("get_weather", city="Oslo", unit="celsius", details=True)}, [WEATHER])
    for text in ('get_weather(city="Oslo", unit="celsius", details=True)', '[get_weather(city="Oslo", unit="celsius", details=True)]',
                 '```python\nget_weather(city="Oslo", unit="celsius", details=True)\n```'):
        parsed = read_answer(text, "auto")
        assert parsed.error is None and str(score_parsed(record, parsed).verdict.error_type) == "ok", parsed.message
    assert read_answer("spotify.play(artist='Taylor Swift', duration=20)", "python").answer == (Call("spotify.play", {"artist": "Taylor Swift", "duration": 20}),)
    for hostile in ('get_weather(city=__import__("os").system("touch /tmp/x"))', "get_weather(city=open('/etc/passwd').read())", "get_weather(city=1 if True else 2)"):
        parsed = read_answer(hostile, "python")
        assert parsed.answer is None and parsed.error is ErrorType.PARSE_INVALID_JSON and "no literal" in parsed.message
    assert read_answer('get_weather("Oslo")', "python").message.endswith("name every argument")
    assert read_answer("get_weather(city='Oslo'", "python").error is ErrorType.PARSE_TRUNCATED
    assert read_answer("get_weather(x=1e400)", "python").error is ErrorType.PARSE_INVALID_JSON


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"function_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"name": "get_weather", "arguments": {"city": "Quito", "unit": "celsius"}}]}),
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Quito", "unit": "celsius"}}\n</tool_call>',
        json.dumps({"tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
                                   {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Quito", "unit": "celsius"}'}}]}),
        '{"name": "get_weather", "parameters": {"city": "Oslo"}}; {"name": "get_weather", "parameters": {"city": "Quito", "unit": "celsius"}}',
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"name": "get_weather", "arguments": {"city": "Quito", "unit": "celsius"}}]',
        '[TOOL_CALLS]get_weather[ARGS]{"city": "Oslo"}[TOOL_CALLS]get_weather[ARGS]{"city": "Quito", "unit": "celsius"}',
        '[get_weather(city="Oslo"), get_weather(city="Quito", unit="celsius")]',
    ],
    ids=["fcbench", "hermes", "openai", "llama3", "mistral", "mistral-v11", "python"],
)
def test_two_parallel_calls_read_ok_in_every_format(text: str) -> None:
    parsed = read_answer(text, "auto")
    assert parsed.error is None, parsed.message
    assert str(score_parsed(TWO, parsed).verdict.error_type) == "ok"


def test_native_prose_is_an_abstention_and_broken_markup_is_a_parse_failure() -> None:
    prose = "I cannot check the weather on Mars with these tools."
    assert read_answer(prose, "auto", "native").answer == ()
    assert str(score_parsed(NONE, read_answer(prose, "auto", "native")).verdict.error_type) == "ok"
    assert str(score_parsed(ONE, read_answer(prose, "auto", "native")).verdict.error_type) == "calls:abstained"
    assert read_answer(prose, "auto", "prompt").error is ErrorType.PARSE_NO_JSON  # the prompt asked for the envelope
    assert read_answer(json.dumps({"role": "assistant", "content": "No tool fits.", "tool_calls": []}), "auto", "native").answer == ()
    broken = {
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Os': ErrorType.PARSE_TRUNCATED,
        "<tool_call>\n{name: get_weather}\n</tool_call>": ErrorType.PARSE_INVALID_JSON,
        '<tool_call>\n{"name": "get_weather"}\n</tool_call>': ErrorType.PARSE_WRONG_ENVELOPE,
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city"': ErrorType.PARSE_TRUNCATED,
        '{"tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": "{\\"city\\": "}}]}': ErrorType.PARSE_WRONG_ENVELOPE,
    }
    for text, error in broken.items():
        parsed = read_answer(text, "auto", "native")
        assert parsed.answer is None and parsed.error is error, (text, parsed)


def test_a_forced_format_does_not_read_another() -> None:
    assert read_answer(ONE_CALL["hermes"], "openai").error is ErrorType.PARSE_WRONG_ENVELOPE
    assert read_answer(ONE_CALL["fcbench"], "hermes").message == "no hermes tool call in the output"
    assert read_answer(ONE_CALL["fcbench"], "fcbench") == read_answer(ONE_CALL["fcbench"], "auto")
    assert list(FORMATS) == ["hermes", "mistral", "openai", "fcbench", "llama3", "python"]


def test_score_reads_the_format_it_is_told_and_records_it(tmp_path) -> None:
    from conftest import record_json
    from typer.testing import CliRunner

    from fcbench.cli import app

    records = [record_json({"function_call": call("get_weather", city="Oslo")}, [WEATHER], rid="w1"), record_json({"function_call": None}, [WEATHER], rid="w2")]
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    outputs = ['<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>', "No tool can tell that."]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"id": rid, "output": o}) + "\n" for rid, o in zip(("w1", "w2"), outputs)))
    args = ["score", "--benchmark", str(tmp_path / "b.jsonl"), "--predictions", str(tmp_path / "p.jsonl")]
    native = CliRunner().invoke(app, [*args, "--answer-format", "auto", "--mode", "native", "--out", str(tmp_path / "native")])
    assert native.exit_code == 0, native.output
    scores = json.loads((tmp_path / "native" / "scores.json").read_text())
    assert scores["verdicts"] == {"ok": 2} and (scores["answer_format"], scores["mode"]) == ("auto", "native")
    strict = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "strict")])
    assert strict.exit_code == 0, strict.output
    assert json.loads((tmp_path / "strict" / "scores.json").read_text())["verdicts"] == {"parse:no_json": 1, "parse:wrong_envelope": 1}
    unknown = CliRunner().invoke(app, [*args, "--answer-format", "xml"])
    assert unknown.exit_code == 1 and "--answer-format 'xml': unknown; known: auto, hermes, mistral, openai, fcbench, llama3, python" in unknown.output
