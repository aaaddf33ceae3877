"""The one prompt format: a record rendered as (prompt, completion).

Training and evaluation both call :func:`render`; nothing else in fcbench writes a prompt.
Two encodings of the same content:

- ``plain``: instruction / input / response sections, for base models (Llama-2) that have no
  chat template;
- ``chat``: system / user / assistant turns through the tokenizer's own chat template, for
  instruct models.

The completion is the gold answer as one JSON object. Few-shot examples are whole rendered
examples placed before the question (earlier turns in ``chat``); they must come from training
data, never from the benchmark. Any change to the text produced here is a new
:data:`PROMPT_FORMAT_VERSION`: results are only comparable within one version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fcbench.benchmark.record import Record, answer_to_output

from fcbench.errors import UserError

PROMPT_FORMAT_VERSION = 2
"""v2 writes each offered function as one signature line (:func:`signature`); v1 wrote them as
one JSON list, which cost about 1.7 times the tokens."""
Encoding = Literal["plain", "chat"]
ENCODINGS: tuple[Encoding, ...] = ("plain", "chat")

ANSWER_FORMAT = (
    'Reply with one JSON object and nothing else: {"function_call": {"name": ..., "arguments": {...}}} '
    'for one call, {"function_calls": [call, ...]} for several calls, or {"function_call": null} '
    "when no offered function fits the question."
)
"""Says what the parser accepts, so that a 0-shot base model has a fair chance."""

SIGNATURE_NOTE = 'Functions are listed as name(parameter: type "description", optional?: type): what it does.'
"""Reads the signature lines of :func:`functions_text`, ``?`` above all."""

CALL_TOKENS = ("<functioncall>", "</functioncall>")
"""Optional delimiters around the answer, added to the tokenizer as special tokens by a trainer
(``add_call_tokens``): one learned token says "a call starts here" instead of several pieces of
``{"function_call"``. A prompt format property, so evaluation renders few-shot answers the same way."""


@dataclass(frozen=True, slots=True)
class PromptFormat:
    """What is recorded with every run and result."""

    encoding: Encoding
    call_tokens: bool = False
    version: int = PROMPT_FORMAT_VERSION

    @property
    def name(self) -> str:
        return f"fcbench-{self.encoding}{'-calltokens' if self.call_tokens else ''}-v{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "encoding": self.encoding, "call_tokens": self.call_tokens, "version": self.version}


@dataclass(frozen=True, slots=True)
class Rendered:
    prompt: str
    completion: str


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# What a signature states without JSON. A parameter whose schema has no short form, or a
# function that does not fit one line, is written as compact JSON instead: nothing in a schema
# is ever dropped.
_PARAMETER_KEYWORDS = frozenset({"type", "enum", "description", "minimum", "maximum", "items", "minItems", "maxItems", "default"})
_FUNCTION_KEYWORDS = frozenset({"name", "description", "parameters"})
_PARAMETERS_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties"})
_SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean", "null"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
"""Names a signature can show as they are (no ``?``, ``:``, spaces or brackets)."""


def _range(low: Any, high: Any) -> str:
    return f" {'' if low is None else _compact(low)}..{'' if high is None else _compact(high)}"


def _short_type(schema: Any, top: bool) -> str | None:
    """A parameter schema's short form (its description, at the top, stated apart), or None
    when it has none: ``integer 0..100`` (``minimum``/``maximum``), ``"en"|"de"`` (an enum),
    ``string[] 1..3`` (an array of 1 to 3 strings), ``boolean|null``, ``string = "metric"``."""
    if not isinstance(schema, dict) or not set(schema) <= _PARAMETER_KEYWORDS or (not top and "description" in schema):
        return None
    if "description" in schema and not isinstance(schema["description"], str):
        return None
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) and kind and all(isinstance(k, str) for k in kind) else None
    bounded = "minimum" in schema or "maximum" in schema
    counted = "minItems" in schema or "maxItems" in schema
    if kinds == ["array"]:
        inner = _short_type(schema.get("items"), top=False)
        if inner is None or bounded or "enum" in schema:
            return None
        if " " in inner:  # bounds or a default on the items: no short form says whose they are
            return None
        text = f"{inner}[]"  # "a"|"b"[]: an array of those values
        text += _range(schema.get("minItems"), schema.get("maxItems")) if counted else ""
    elif kinds is not None and set(kinds) <= _SCALAR_TYPES and "items" not in schema and not counted:
        if bounded and not set(kinds) <= {"integer", "number"}:
            return None
        enum = schema.get("enum")
        if enum is not None and not (isinstance(enum, list) and enum and all(v is None or isinstance(v, (str, int, float, bool)) for v in enum)):
            return None
        text = "|".join(_compact(value) for value in enum) if enum is not None else "|".join(kinds)
        text += _range(schema.get("minimum"), schema.get("maximum")) if bounded else ""
    else:
        return None
    return text + (f" = {_compact(schema['default'])}" if "default" in schema else "")


def type_text(schema: Any) -> str:
    """One parameter's schema, description aside: its short form (:func:`_short_type`), else
    compact JSON of everything in it but a string description."""
    short = _short_type(schema, top=True)
    if short is not None:
        return short
    return _compact({k: v for k, v in schema.items() if not (k == "description" and isinstance(v, str))} if isinstance(schema, dict) else schema)


def signature(function: dict[str, Any]) -> str:
    """One offered function as one line, e.g.
    ``set_volume(level: integer 0..100 "Volume.", device?: "phone"|"tv"): Set the volume.``
    A ``?`` marks an optional parameter; no other keys are accepted (``additionalProperties``
    false or unset). Every name, type, enum, bound, default and description is stated; a
    function that does not fit this form (other keywords, odd names, a description over several
    lines) is written as compact JSON."""
    parameters = function.get("parameters")
    description = function.get("description", "")
    if not (set(function) <= _FUNCTION_KEYWORDS and isinstance(function.get("name"), str) and _NAME.fullmatch(function["name"])
            and isinstance(description, str) and "\n" not in description and "\r" not in description
            and isinstance(parameters, dict) and set(parameters) <= _PARAMETERS_KEYWORDS and parameters.get("type") == "object"
            and parameters.get("additionalProperties", False) is False):
        return _compact(function)
    properties, required = parameters.get("properties", {}), parameters.get("required", [])
    if (not isinstance(properties, dict) or not isinstance(required, list) or not all(isinstance(n, str) and _NAME.fullmatch(n) for n in properties)
            or not all(isinstance(n, str) for n in required) or not set(required) <= set(properties)):
        return _compact(function)
    described = []
    for name, schema in properties.items():
        text = f"{name}{'' if name in required else '?'}: {type_text(schema)}"
        if isinstance(schema, dict) and isinstance(schema.get("description"), str) and schema["description"]:
            text += f" {_compact(schema['description'])}"
        described.append(text)
    return f"{function['name']}({', '.join(described)})" + (f": {description}" if description else "")


def functions_text(functions: Sequence[dict[str, Any]]) -> str:
    # Function specs are the bulk of every prompt, and prompt tokens are most of the compute in
    # training and evaluation: one signature line each.
    return "\n".join(signature(function) for function in functions)


def completion_text(record: Record, call_tokens: bool = False) -> str:
    """The gold answer as the model should write it (a one-call list written as one call)."""
    answer = json.dumps(answer_to_output(record.gold), ensure_ascii=False)
    return f"{CALL_TOKENS[0]}{answer}{CALL_TOKENS[1]}" if call_tokens else answer


def input_text(record: Record) -> str:
    """The input section: offered functions, the example call, the question."""
    lines = ["Functions:", functions_text(record.functions)] if record.functions else ["Functions: none"]
    if record.example is not None:
        lines.append(f"Example: {json.dumps(record.example.to_json(), ensure_ascii=False)}")
    lines.append(f"Question: {record.question}")
    return "\n".join(lines)


def instruction_text(record: Record) -> str:
    return f"{record.raw['instruction']}\n{SIGNATURE_NOTE}\n{ANSWER_FORMAT}"


def default_encoding(tokenizer: Any) -> Encoding:
    """``chat`` when the tokenizer has a chat template (an instruct model), else ``plain``."""
    return "chat" if getattr(tokenizer, "chat_template", None) else "plain"


def render(record: Record, encoding: Encoding, tokenizer: Any = None, shots: Sequence[Record] = (), *, call_tokens: bool = False) -> Rendered:
    """The prompt for ``record`` (after ``shots`` worked examples) and its gold completion;
    ``call_tokens`` wraps every answer, the shots' too, in :data:`CALL_TOKENS`."""
    _check_encoding(encoding, tokenizer)
    if encoding == "plain":
        return Rendered(_plain(record, shots, call_tokens), completion_text(record, call_tokens))
    return Rendered(_chat(record, tokenizer, shots, call_tokens), completion_text(record, call_tokens))


def _check_encoding(encoding: str, tokenizer: Any) -> None:
    if encoding not in ENCODINGS:
        raise UserError(f"unknown prompt encoding {encoding!r}; expected one of {ENCODINGS}")
    if encoding == "chat" and not getattr(tokenizer, "chat_template", None):
        raise UserError("the chat encoding needs a tokenizer with a chat template; use the plain encoding for base models")


def _plain_block(record: Record) -> str:
    return _plain_sections(instruction_text(record), input_text(record))


def _plain_sections(instruction: str, given: str) -> str:
    return f"### Instruction:\n{instruction}\n\n### Input:\n{given}\n\n### Response:\n"


def _plain(record: Record, shots: Sequence[Record], call_tokens: bool) -> str:
    examples = "".join(_plain_block(shot) + completion_text(shot, call_tokens) + "\n\n" for shot in shots)
    return examples + _plain_block(record)


def chat_messages(record: Record, shots: Sequence[Record] = (), call_tokens: bool = False) -> list[dict[str, str]]:
    """The ``chat`` encoding as messages: what a chat template renders in process, and what a
    chat-completions endpoint is sent."""
    messages = [{"role": "system", "content": instruction_text(record)}]
    for shot in shots:
        messages.append({"role": "user", "content": input_text(shot)})
        messages.append({"role": "assistant", "content": completion_text(shot, call_tokens)})
    messages.append({"role": "user", "content": input_text(record)})
    return messages


def _chat(record: Record, tokenizer: Any, shots: Sequence[Record], call_tokens: bool) -> str:
    return tokenizer.apply_chat_template(chat_messages(record, shots, call_tokens), add_generation_prompt=True, tokenize=False)


# ---------------------------------------------------------------------------------------------
# The reverse direction: a question writer

QUESTION_WRITER_INSTRUCTION = "Write the user's request that the function call below answers, stating every argument value as it is."
"""The seed's instruction tuning in reverse (the response as input, the instruction as the
target): a model tuned on it writes new phrasings for training calls (``generators/rephrase.py``)."""


def writer_input(record: Record) -> str:
    """The called functions' signatures and the call; the question is what is written."""
    called = {call.name for call in record.gold}
    functions = [function for function in record.functions if function.get("name") in called]
    return f"Functions:\n{functions_text(functions)}\nCall: {completion_text(record)}"


def render_question(record: Record, encoding: Encoding, tokenizer: Any = None) -> Rendered:
    """The question writer's (prompt, completion): the call in, the record's question out.
    Only records that call something have a call to describe."""
    if not record.gold:
        raise UserError(f"record {record.id!r} calls no function: there is no call to write a question for")
    _check_encoding(encoding, tokenizer)
    if encoding == "plain":
        return Rendered(_plain_sections(QUESTION_WRITER_INSTRUCTION, writer_input(record)), record.question)
    messages = [{"role": "system", "content": QUESTION_WRITER_INSTRUCTION}, {"role": "user", "content": writer_input(record)}]
    return Rendered(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False), record.question)


# ---------------------------------------------------------------------------------------------
# Native mode: the model's own tool-use template, no fcbench answer format

NATIVE_PROMPT_FORMAT = "native"
"""The prompt format recorded for native mode: the model's own template decides the text."""


def native_messages(record: Record) -> list[dict[str, str]]:
    """Native mode's conversation: the question alone. The functions go in ``tools``; neither
    fcbench's instruction, its answer format nor its example call is shown."""
    return [{"role": "user", "content": record.question}]


def native_tools(record: Record) -> list[dict[str, Any]]:
    """The offered functions as OpenAI-style tools (what ``apply_chat_template(tools=...)`` and a
    chat-completions request take)."""
    return [{"type": "function", "function": dict(function)} for function in record.functions]


def render_native(record: Record, tokenizer: Any) -> Rendered:
    """The prompt of native mode: the tokenizer's own chat template, given the functions as
    tools. A template that ignores tools would hide the functions: refused."""
    if not getattr(tokenizer, "chat_template", None):
        raise UserError("--mode native needs a tokenizer with a chat template; use --mode prompt")
    messages = native_messages(record)
    prompt = tokenizer.apply_chat_template(messages, tools=native_tools(record), add_generation_prompt=True, tokenize=False)
    if record.functions and prompt == tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False):
        raise UserError(f"the chat template of {getattr(tokenizer, 'name_or_path', 'this tokenizer')} does not render tools, so native mode would hide the functions: use --mode prompt")
    return Rendered(prompt, completion_text(record))
