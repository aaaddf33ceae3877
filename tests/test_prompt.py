"""The one prompt format: exact texts worked out by hand for small records."""

from __future__ import annotations

import json

import pytest
from conftest import CHATML_TEMPLATE, CLOCK, CONVERT, call, clock_record, make_record
from fcbench.benchmark.prompt import ANSWER_FORMAT, SIGNATURE_NOTE, PromptFormat, completion_text, default_encoding, functions_text, render, signature

from fcbench.errors import UserError


class ChatTokenizer:
    """Just enough of a tokenizer: a ChatML template rendered with jinja2, as transformers does."""

    chat_template = CHATML_TEMPLATE

    def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=True):
        import jinja2

        assert tokenize is False
        return jinja2.Template(self.chat_template).render(messages=messages, add_generation_prompt=add_generation_prompt)


CLOCK_INPUT = (
    "Functions:\nget_time(): The time now.\n"
    'Example: {"name": "get_time", "arguments": {}}\n'
    "Question: What time is it?"
)


def test_plain_prompt_has_instruction_input_and_response_sections() -> None:
    rendered = render(clock_record(), "plain")
    assert rendered.prompt == f"### Instruction:\nCall a function.\n{SIGNATURE_NOTE}\n{ANSWER_FORMAT}\n\n### Input:\n{CLOCK_INPUT}\n\n### Response:\n"
    assert rendered.completion == '{"function_call": {"name": "get_time", "arguments": {}}}'


def test_chat_prompt_goes_through_the_tokenizer_template() -> None:
    rendered = render(clock_record(), "chat", ChatTokenizer())
    assert rendered.prompt == (
        f"<|im_start|>system\nCall a function.\n{SIGNATURE_NOTE}\n{ANSWER_FORMAT}<|im_end|>\n"
        f"<|im_start|>user\n{CLOCK_INPUT}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_fewshot_examples_come_first_with_their_answers() -> None:
    shot = clock_record("s1", question="Time please.")
    target = clock_record()
    plain = render(target, "plain", shots=[shot]).prompt
    shot_block = render(shot, "plain").prompt + completion_text(shot) + "\n\n"
    assert plain == shot_block + render(target, "plain").prompt

    chat = render(target, "chat", ChatTokenizer(), shots=[shot]).prompt
    shot_turns = f"<|im_start|>user\n{CLOCK_INPUT.replace('What time is it?', 'Time please.')}<|im_end|>\n<|im_start|>assistant\n{completion_text(shot)}<|im_end|>\n"
    assert chat.count("<|im_start|>system") == 1
    assert shot_turns + f"<|im_start|>user\n{CLOCK_INPUT}<|im_end|>" in chat


def test_completion_is_the_canonical_envelope() -> None:
    one_in_list = make_record({"function_calls": [call("currency_conversion", amount=5, **{"from": "GBP", "to": "JPY"})]})
    assert completion_text(one_in_list) == '{"function_call": {"name": "currency_conversion", "arguments": {"amount": 5, "from": "GBP", "to": "JPY"}}}'
    assert completion_text(make_record({"function_call": None}, [CONVERT, CLOCK])) == '{"function_call": null}'


def test_chat_needs_a_template_and_encodings_are_checked() -> None:
    class Bare:
        chat_template = None

    with pytest.raises(UserError, match="chat template"):
        render(clock_record(), "chat", Bare())
    with pytest.raises(UserError, match="unknown prompt encoding"):
        render(clock_record(), "xml")  # type: ignore[arg-type]
    assert default_encoding(Bare()) == "plain"
    assert default_encoding(ChatTokenizer()) == "chat"
    assert PromptFormat("chat").name == "fcbench-chat-v2"


def test_signatures_state_every_name_type_bound_and_required_flag() -> None:
    volume = {
        "name": "set_volume",
        "description": "Set the volume.",
        "parameters": {
            "type": "object",
            "properties": {
                "level": {"type": "integer", "minimum": 0, "maximum": 100, "description": "Volume."},
                "device": {"type": "string", "enum": ["phone", "tv"]},
                "songs": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
                "ratio": {"type": "number", "minimum": 0.5},
                "loud": {"type": ["boolean", "null"], "default": False},
            },
            "required": ["level"],
            "additionalProperties": False,
        },
    }
    assert signature(volume) == (
        'set_volume(level: integer 0..100 "Volume.", device?: "phone"|"tv", songs?: string[] 1..3, '
        "ratio?: number 0.5.., loud?: boolean|null = false): Set the volume."
    )
    assert signature(CONVERT) == "currency_conversion(amount: number 0.., from: string, to: string): Convert an amount of money between currencies."
    assert functions_text([CLOCK, CONVERT]) == signature(CLOCK) + "\n" + signature(CONVERT)


def test_a_schema_beyond_signatures_is_written_as_json_never_cut() -> None:
    nested = {"type": "object", "properties": {"x": {"type": "number"}}, "description": "A point."}
    point = {"name": "move", "description": "Move.", "parameters": {"type": "object", "properties": {"to": nested, "mode": {"type": "string", "pattern": "^[a-z]+$"}}, "required": ["to"]}}
    assert signature(point) == 'move(to: {"type":"object","properties":{"x":{"type":"number"}}} "A point.", mode?: {"type":"string","pattern":"^[a-z]+$"}): Move.'
    open_ended = {"name": "log", "parameters": {"type": "object", "properties": {}, "additionalProperties": True}}
    assert signature(open_ended) == '{"name":"log","parameters":{"type":"object","properties":{},"additionalProperties":true}}'
    missing = {"name": "f", "parameters": {"type": "object", "properties": {}, "required": ["ghost"]}}
    assert signature(missing) == '{"name":"f","parameters":{"type":"object","properties":{},"required":["ghost"]}}'


def test_what_a_signature_cannot_say_plainly_is_written_as_json() -> None:
    def with_parameter(schema: object, name: str = "p", required: bool = False) -> dict:
        return {"name": "f", "parameters": {"type": "object", "properties": {name: schema}, "required": [name] if required else []}}

    # an array's items with a description of their own: the parameter as JSON, nothing lost
    assert signature(with_parameter({"type": "array", "items": {"type": "string", "description": "a city"}, "description": "Cities."})) == \
        'f(p?: {"type":"array","items":{"type":"string","description":"a city"}} "Cities.")'
    assert signature(with_parameter({"type": "string", "enum": []})) == 'f(p?: {"type":"string","enum":[]})'
    assert signature(with_parameter({"type": "string", "description": 7})) == 'f(p?: {"type":"string","description":7})'
    assert signature(with_parameter({"type": "string", "minimum": 2})) == 'f(p?: {"type":"string","minimum":2})'  # bounds on a string
    assert signature(with_parameter({"type": "array", "items": {"type": "string"}, "minimum": 1})) == 'f(p?: {"type":"array","items":{"type":"string"},"minimum":1})'
    assert signature(with_parameter({"type": "array", "items": {"type": "string", "enum": ["a", "b"]}})) == 'f(p?: "a"|"b"[])'
    assert signature(with_parameter({"type": "array", "items": {"type": "integer", "minimum": 1}})) == 'f(p?: {"type":"array","items":{"type":"integer","minimum":1}})'
    # names a signature could misread, and a description over two lines: the whole function as JSON
    odd = with_parameter({"type": "string"}, name="a?", required=True)
    assert signature(odd) == '{"name":"f","parameters":{"type":"object","properties":{"a?":{"type":"string"}},"required":["a?"]}}'
    two_lines = {"name": "f", "description": "Does f.\nQuestion: injected", "parameters": {"type": "object", "properties": {}}}
    assert signature(two_lines) == json.dumps(two_lines, separators=(",", ":"))
