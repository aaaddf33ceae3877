"""Tool-call formats: the ways models write a function call, each read into the one answer
object (:data:`~fcbench.benchmark.record.Answer`) that every metric scores.

An instruct model answers in the format its chat template taught it, not in fcbench's envelope.
Reading each format for what it is keeps "is the call right" apart from "did it use our
syntax". Every reader is given raw text (an API's ``tool_calls`` arrive as their JSON), never
raises, and never executes anything: JSON goes to a JSON decoder and Python call syntax to
:mod:`ast` plus literals only.

A reader returns None when its markers are absent, so :func:`read_answer` in ``auto`` tries
each in turn. Markup that was started but cannot be read is a typed parse failure. In native
mode, where the model is free to answer in prose, a reply with no call at all is an abstention.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from fcbench.benchmark.parser import Decoded, Parsed, decode_at, first_object, parse_output
from fcbench.benchmark.record import Answer, Call, answer_to_output
from fcbench.benchmark.verdict import ErrorType

Mode = Literal["prompt", "native"]
MODES: tuple[Mode, ...] = ("prompt", "native")
AUTO = "auto"
MAX_CALLS = 64
"""Calls read from one answer at most: bounds the work on an endless list."""
MAX_PYTHON_CHARS = 100_000
"""Python call syntax longer than this is refused before :mod:`ast` sees it."""


@dataclass(frozen=True, slots=True)
class ToolCallFormat:
    name: str
    description: str
    read: Callable[[str], Parsed | None]
    """Raw text -> the answer, a typed failure, or None when the text is not in this format."""


def _failure(error: ErrorType, message: str) -> Parsed:
    return Parsed(None, None, error, message)


def _answer(calls: list[Call]) -> Parsed:
    answer: Answer = tuple(calls)
    return Parsed(answer_to_output(answer), answer, None)


def _arguments(value: Any) -> dict[str, Any] | str:
    """A call's arguments: an object, or (OpenAI, some Hermes models) a JSON string of one."""
    if isinstance(value, str):
        decoded = decode_at(value.strip() or '""', 0)
        if not isinstance(decoded, Decoded) or decoded.end != len(value.strip()):
            return "arguments are a string that is not one JSON object"
        value = decoded.value
    if not isinstance(value, dict):
        return f"arguments must be an object, got {type(value).__name__}"
    return value


_CALL_EXTRAS = frozenset({"id", "type", "index"})


def _named_call(value: Any) -> Call | str:
    """``{"name", "arguments" | "parameters"}`` (plus an ``id``/``type``) -> a call."""
    if not isinstance(value, dict):
        return f"a call must be an object, got {type(value).__name__}"
    if isinstance(value.get("function"), dict):  # OpenAI: {"type": "function", "function": {...}}
        value = value["function"]
    keys = set(value) - _CALL_EXTRAS
    argument_keys = keys & {"arguments", "parameters"}
    if "name" not in keys or len(argument_keys) != 1 or keys - {"name", *argument_keys}:
        return f'a call has a "name" and "arguments" (or "parameters"); got {sorted(value)}'
    name = value["name"]
    if not isinstance(name, str) or not name:
        return '"name" must be a non-empty string'
    arguments = _arguments(value[argument_keys.pop()])
    return arguments if isinstance(arguments, str) else Call(name, arguments)


def _wrong_envelope(_why: str) -> ErrorType:
    return ErrorType.PARSE_WRONG_ENVELOPE


def _calls(values: list[Any], convert: Callable[[Any], Call | str] = _named_call,
           error_of: Callable[[str], ErrorType] = _wrong_envelope) -> Parsed:
    """Each value made a call by ``convert``; the first that cannot be is the failure (its type
    chosen by ``error_of`` from the reason)."""
    if len(values) > MAX_CALLS:
        return _failure(ErrorType.PARSE_WRONG_ENVELOPE, f"more than {MAX_CALLS} calls in one answer")
    calls = []
    for i, value in enumerate(values):
        call = convert(value)
        if isinstance(call, str):
            return _failure(error_of(call), f"call {i}: {call}")
        calls.append(call)
    return _answer(calls)


# ---------------------------------------------------------------------------------------------
# The readers


def read_fcbench(text: str) -> Parsed | None:
    """fcbench's envelope: ``{"function_call": ...}`` or ``{"function_calls": [...]}``."""
    obj, _ = first_object(text)
    if obj is None or not ({"function_call", "function_calls"} & set(obj)):
        return None
    return parse_output(text)


HERMES_OPEN, HERMES_CLOSE = "<tool_call>", "</tool_call>"


def read_hermes(text: str) -> Parsed | None:
    """Hermes / Qwen: one ``<tool_call>{"name", "arguments"}</tool_call>`` block per call."""
    start = text.find(HERMES_OPEN)
    if start < 0:
        return None
    values = []
    while start >= 0 and len(values) <= MAX_CALLS:
        body_start = start + len(HERMES_OPEN)
        end = text.find(HERMES_CLOSE, body_start)
        body = (text[body_start:] if end < 0 else text[body_start:end]).strip()
        decoded = decode_at(body, 0) if body else None
        if not isinstance(decoded, Decoded) or body[decoded.end:].strip():
            if end < 0 and (decoded is None or decoded.may_grow):
                return _failure(ErrorType.PARSE_TRUNCATED, f"{HERMES_OPEN} block {len(values)} is cut off")
            why = decoded.message if decoded is not None and not isinstance(decoded, Decoded) else "not one JSON object"
            return _failure(ErrorType.PARSE_INVALID_JSON, f"{HERMES_OPEN} block {len(values)}: {why}")
        values.append(decoded.value)
        start = -1 if end < 0 else text.find(HERMES_OPEN, end + len(HERMES_CLOSE))
    return _calls(values)


MISTRAL_MARK = "[TOOL_CALLS]"
_MISTRAL_ARGS = "[ARGS]"


def read_mistral(text: str) -> Parsed | None:
    """Mistral: ``[TOOL_CALLS][{"name", "arguments"}, ...]``, or the newer
    ``[TOOL_CALLS]name[ARGS]{...}`` once per call."""
    start = text.find(MISTRAL_MARK)
    if start < 0:
        return None
    rest = text[start + len(MISTRAL_MARK):].lstrip()
    if rest.startswith("["):
        decoded = decode_at(rest, 0)
        if not isinstance(decoded, Decoded):
            return _failure(decoded.error, f"{MISTRAL_MARK}: {decoded.message}")
        return _calls(decoded.value) if isinstance(decoded.value, list) else _failure(ErrorType.PARSE_WRONG_ENVELOPE, f"{MISTRAL_MARK} is followed by no list")
    values = []
    for segment in text[start:].split(MISTRAL_MARK)[1:MAX_CALLS + 2]:
        name, sep, arguments = segment.partition(_MISTRAL_ARGS)
        if not sep:
            return _failure(ErrorType.PARSE_TRUNCATED if not segment.strip() or name == segment else ErrorType.PARSE_INVALID_JSON,
                            f"{MISTRAL_MARK}{segment[:40]!r} has no {_MISTRAL_ARGS}")
        decoded = decode_at(arguments.strip(), 0) if arguments.strip() else None
        if not isinstance(decoded, Decoded):
            return _failure(ErrorType.PARSE_TRUNCATED if decoded is None or decoded.may_grow else decoded.error, f"{name.strip()}: arguments cannot be read")
        values.append({"name": name.strip(), "arguments": decoded.value})
    return _calls(values)


PYTHON_TAG = "<|python_tag|>"


def read_json_calls(text: str) -> Parsed | None:
    """Llama 3.x JSON tool calls: ``{"name", "parameters"}`` (after ``<|python_tag|>`` or
    bare), several separated by ``;``, or a JSON list of calls (Mistral without its marker)."""
    body = text.replace(PYTHON_TAG, " ").strip().strip("`").removeprefix("json").strip()
    if body.startswith("["):
        decoded = decode_at(body, 0)
        if isinstance(decoded, Decoded) and isinstance(decoded.value, list) and decoded.value and all(isinstance(v, dict) and "name" in v for v in decoded.value):
            return _calls(decoded.value)
        return None
    obj, _ = first_object(body)
    if obj is None or "name" not in obj or not ({"parameters", "arguments"} & set(obj)) or "function_call" in obj:
        return None
    values, position = [], body.find("{")
    while position >= 0 and len(values) <= MAX_CALLS:
        decoded = decode_at(body, position)
        if not isinstance(decoded, Decoded):
            return _failure(decoded.error, f"call {len(values)}: {decoded.message}")
        values.append(decoded.value)
        rest = body[decoded.end:].lstrip().lstrip(";").lstrip()
        position = (len(body) - len(rest)) if rest.startswith("{") else -1
    return _calls(values)


def read_openai(text: str) -> Parsed | None:
    """OpenAI's chat message: ``{"tool_calls": [{"type": "function", "function": {"name",
    "arguments": "<JSON string>"}}], ...}``. A message with no tool calls is a no-call."""
    obj, _ = first_object(text)
    if obj is None or "tool_calls" not in obj:
        return None
    calls = obj["tool_calls"]
    if calls is None or calls == []:
        return _answer([])
    return _calls(calls) if isinstance(calls, list) else _failure(ErrorType.PARSE_WRONG_ENVELOPE, '"tool_calls" must be a list')


_PYTHON_CALL_START = re.compile(r"\[?\s*[A-Za-z_][\w.]*\s*\(")


def read_python(text: str) -> Parsed | None:
    """Python call syntax as BFCL writes it: ``f(a=1, b="x")`` or ``[f(a=1), g(b=[1, 2])]``.
    Read with :mod:`ast` and literals only (``ast.literal_eval``): nothing is executed."""
    body = text.replace(PYTHON_TAG, " ").strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("python").removeprefix("py").strip()
    if not _PYTHON_CALL_START.match(body):
        return None
    if len(body) > MAX_PYTHON_CHARS:
        return _failure(ErrorType.PARSE_INVALID_JSON, f"a Python call of {len(body)} characters is longer than {MAX_PYTHON_CHARS}")
    try:
        tree = ast.parse(body, mode="eval")
    except SyntaxError as err:
        cut = "never closed" in str(err.msg) or "unexpected EOF" in str(err.msg) or (err.offset or 0) >= len(body)
        return _failure(ErrorType.PARSE_TRUNCATED if cut else ErrorType.PARSE_INVALID_JSON, f"Python call syntax: {err.msg}")
    except (RecursionError, MemoryError, ValueError) as err:
        return _failure(ErrorType.PARSE_INVALID_JSON, f"Python call syntax: {type(err).__name__}")
    nodes = tree.body.elts if isinstance(tree.body, (ast.List, ast.Tuple)) else [tree.body]
    return _calls(nodes, _python_call, lambda why: ErrorType.PARSE_WRONG_ENVELOPE if why.startswith(_NOT_A_CALL) else ErrorType.PARSE_INVALID_JSON)


def _dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        owner = _dotted_name(node.value)
        return f"{owner}.{node.attr}" if owner else None
    return None


_NOT_A_CALL = "not a call of a named function"


def _python_call(node: ast.expr) -> Call | str:
    if not isinstance(node, ast.Call) or _dotted_name(node.func) is None:
        return _NOT_A_CALL
    if node.args:
        return "positional arguments cannot be matched to parameter names; name every argument"
    arguments: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            return "**arguments cannot be read"
        try:
            arguments[keyword.arg] = _json_value(ast.literal_eval(keyword.value))
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as err:
            return f"argument {keyword.arg!r} is no literal ({type(err).__name__})"
    return Call(str(_dotted_name(node.func)), arguments)


def _json_value(value: Any) -> Any:
    """A Python literal as the JSON value it stands for; sets, bytes, complex numbers and
    non-finite floats have none."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json_value(v) for k, v in value.items()}
    raise ValueError(f"{type(value).__name__} has no JSON form")


FORMATS: dict[str, ToolCallFormat] = {}
"""Every known format by name, in the order ``auto`` tries them: markers first, then the JSON
shapes by their keys, then Python syntax."""


def register(fmt: ToolCallFormat) -> ToolCallFormat:
    FORMATS[fmt.name] = fmt
    return fmt


for _format in (
    ToolCallFormat("hermes", "Hermes / Qwen: <tool_call>{...}</tool_call> blocks", read_hermes),
    ToolCallFormat("mistral", "Mistral: [TOOL_CALLS] and a list of calls, or name[ARGS]{...}", read_mistral),
    ToolCallFormat("openai", 'OpenAI chat message: "tool_calls" with JSON-string arguments', read_openai),
    ToolCallFormat("fcbench", 'fcbench\'s envelope: {"function_call": ...} / {"function_calls": [...]}', read_fcbench),
    ToolCallFormat("llama3", 'Llama 3.x JSON: {"name", "parameters"}, after <|python_tag|> or bare', read_json_calls),
    ToolCallFormat("python", 'Python call syntax as BFCL writes it: [f(a=1), g(b="x")]', read_python),
):
    register(_format)


def format_names() -> list[str]:
    return [AUTO, *FORMATS]


def read_answer(text: Any, answer_format: str = "fcbench", mode: Mode = "prompt") -> Parsed:
    """The answer in a model's raw output, read in ``answer_format`` (``auto``: the first format
    whose markers are present). Never raises.

    With no call found: in ``prompt`` mode, fcbench's parser says why (the prompt asked for its
    envelope); in ``native`` mode a reply without any call markup is an abstention."""
    if not isinstance(text, str):
        return parse_output(text)
    readers = FORMATS.values() if answer_format == AUTO else (FORMATS[answer_format],)
    for fmt in readers:
        parsed = fmt.read(text)
        if parsed is not None:
            return parsed
    fallback = parse_output(text)
    if mode == "native" and fallback.error in (ErrorType.PARSE_NO_JSON, ErrorType.PARSE_EMPTY):
        return _answer([])  # prose and no call: the model chose not to call
    if answer_format not in (AUTO, "fcbench") and fallback.error is None:
        return _failure(ErrorType.PARSE_WRONG_ENVELOPE, f"no {answer_format} tool call in the output")
    return fallback


@dataclass(frozen=True, slots=True)
class Reading:
    """How a run's outputs are read: in which format, after which kind of prompt. Recorded
    with every result; the default is fcbench's own envelope after fcbench's prompt."""

    answer_format: str = "fcbench"
    mode: Mode = "prompt"

    def __post_init__(self) -> None:
        from fcbench.errors import UserError

        if self.answer_format != AUTO and self.answer_format not in FORMATS:
            raise UserError(f"--answer-format {self.answer_format!r}: unknown; known: {', '.join(format_names())}")
        if self.mode not in MODES:
            raise UserError(f"--mode {self.mode!r}: expected one of {', '.join(MODES)}")

    def read(self, text: Any) -> Parsed:
        return read_answer(text, self.answer_format, self.mode)

    def to_json(self) -> dict[str, str]:
        return {"answer_format": self.answer_format, "mode": self.mode}


FCBENCH_READING = Reading()


__all__ = ["AUTO", "FCBENCH_READING", "FORMATS", "MODES", "Mode", "Reading", "ToolCallFormat", "format_names", "read_answer", "register"]
