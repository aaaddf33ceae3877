"""Constrained decoding: the answer schema built from the offered functions, the grammar
llguidance compiles from it (every keyword the benchmarks use, each on a value that breaks it),
and a tiny model whose every answer stays inside its item's grammar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fcbench.benchmark.grammar import ANNOTATIONS, answer_schema, call_schema, schema_keywords, unenforced
from fcbench.benchmark.record import read_records
from fcbench.benchmark.suites import FCBENCH

pytest.importorskip("llguidance")

WEATHER = {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
VOLUME = {"name": "set_volume", "parameters": {"type": "object", "properties": {"level": {"type": "integer", "minimum": 0, "maximum": 100}}, "required": ["level"],
                                                 "additionalProperties": False}}


def test_a_call_names_its_function_and_allows_no_key_the_function_does_not_list() -> None:
    assert call_schema(WEATHER) == {
        "type": "object",
        "properties": {"name": {"const": "get_weather"},
                       "arguments": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }
    assert "additionalProperties" not in WEATHER["parameters"]  # the record's own schema is left as it was


def test_the_answer_schema_is_the_envelope_no_call_one_call_or_several() -> None:
    schema = answer_schema([WEATHER, VOLUME])
    no_call, one, many = schema["anyOf"]
    assert no_call["properties"] == {"function_call": {"type": "null"}}
    assert one["properties"]["function_call"] == {"anyOf": [call_schema(WEATHER), call_schema(VOLUME)]}
    assert many["properties"]["function_calls"] == {"type": "array", "items": {"anyOf": [call_schema(WEATHER), call_schema(VOLUME)]}, "minItems": 1}
    assert answer_schema([])["properties"] == {"function_call": {"type": "null"}}  # nothing offered: only the no-call


def test_keywords_are_counted_nested_ones_included() -> None:
    nested = {"type": "object", "properties": {"when": {"type": "object", "properties": {"day": {"type": "string", "format": "date"}}}},
              "required": ["when"], "description": "d"}
    # top: type, properties, required, description; when: type, properties; day: type, format
    assert schema_keywords([nested]) == {"type": 3, "properties": 2, "required": 1, "description": 1, "format": 1}
    assert unenforced({"type": 3, "format": 1, "description": 1, "uniqueItems": 2}, frozenset({"type", "format"})) == {"uniqueItems": 2}


def _matcher(grammar: str) -> Any:
    import llguidance
    import llguidance.hf

    return llguidance.LLMatcher(llguidance.hf.from_tokenizer(_tokenizer()), grammar)


_TOKENIZERS: list[Any] = []


def _tokenizer() -> Any:
    if not _TOKENIZERS:
        from conftest import build_tiny_tokenizer

        _TOKENIZERS.append(build_tiny_tokenizer(['{"function_call": {"name": "f", "arguments": {"a": 1}}}', "abcdefghijklmnopqrstuvwxyz 0123456789"]))
    return _TOKENIZERS[0]


def _accepts(functions: list[dict[str, Any]], answer: Any) -> bool:
    """Whether the grammar lets the model write ``answer`` (json.dumps' layout) to its end."""
    from fcbench.evaluation.constrained import _compiled

    matcher = _matcher(_compiled(json.dumps(answer_schema(functions))))
    ids = _tokenizer().encode(json.dumps(answer), add_special_tokens=False)
    return all(matcher.consume_token(i) for i in ids) and not matcher.is_error() and matcher.is_accepting()


def _call(arguments: dict[str, Any], name: str = "f") -> dict[str, Any]:
    return {"function_call": {"name": name, "arguments": arguments}}


def _f(**properties: Any) -> dict[str, Any]:
    return {"name": "f", "parameters": {"type": "object", "properties": properties, "required": sorted(properties)}}


# keyword -> (a function using it, an answer it allows, an answer it forbids)
CASES = {
    "type": (_f(a={"type": "integer"}), _call({"a": 1}), _call({"a": "1"})),
    "required": (_f(a={"type": "integer"}), _call({"a": 1}), _call({})),
    "additionalProperties": (_f(a={"type": "integer"}), _call({"a": 1}), _call({"a": 1, "b": 2})),
    "properties": (_f(a={"type": "object", "properties": {"b": {"type": "boolean"}}}), _call({"a": {"b": True}}), _call({"a": {"b": 1}})),
    "minimum": (_f(a={"type": "integer", "minimum": 3}), _call({"a": 3}), _call({"a": 2})),
    "maximum": (_f(a={"type": "number", "maximum": 2.5}), _call({"a": 2.5}), _call({"a": 3})),
    "enum": (_f(a={"type": "string", "enum": ["x", "y"]}), _call({"a": "y"}), _call({"a": "z"})),
    "items": (_f(a={"type": "array", "items": {"type": "string"}}), _call({"a": ["x"]}), _call({"a": [1]})),
    "minItems": (_f(a={"type": "array", "items": {"type": "integer"}, "minItems": 2}), _call({"a": [1, 2]}), _call({"a": [1]})),
    "maxItems": (_f(a={"type": "array", "items": {"type": "integer"}, "maxItems": 1}), _call({"a": [1]}), _call({"a": [1, 2]})),
    "format": (_f(a={"type": "string", "format": "date"}), _call({"a": "2026-12-02"}), _call({"a": "tomorrow"})),
    "pattern": (_f(a={"type": "string", "pattern": "^[0-9]{3}$"}), _call({"a": "123"}), _call({"a": "12a"})),
    "const": (_f(a={"const": "c"}), _call({"a": "c"}), _call({"a": "d"})),
    "anyOf": (_f(a={"anyOf": [{"type": "integer"}, {"type": "null"}]}), _call({"a": None}), _call({"a": "n"})),
    "name": (_f(a={"type": "integer"}), _call({"a": 1}), _call({"a": 1}, name="g")),  # only an offered function's name
    # and the rest of what ENFORCED claims, which the benchmarks do not use today
    "minLength": (_f(a={"type": "string", "minLength": 2}), _call({"a": "ab"}), _call({"a": "a"})),
    "maxLength": (_f(a={"type": "string", "maxLength": 2}), _call({"a": "ab"}), _call({"a": "abc"})),
    "exclusiveMinimum": (_f(a={"type": "integer", "exclusiveMinimum": 3}), _call({"a": 4}), _call({"a": 3})),
    "exclusiveMaximum": (_f(a={"type": "integer", "exclusiveMaximum": 3}), _call({"a": 2}), _call({"a": 3})),
    "oneOf": (_f(a={"oneOf": [{"type": "integer"}, {"type": "boolean"}]}), _call({"a": True}), _call({"a": "t"})),
    "allOf": (_f(a={"allOf": [{"type": "integer"}, {"minimum": 2}]}), _call({"a": 2}), _call({"a": 1})),
    "prefixItems": (_f(a={"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False}), _call({"a": ["x", 1]}), _call({"a": [1, "x"]})),
}


@pytest.mark.parametrize("keyword", sorted(CASES))
def test_the_grammar_enforces_each_keyword(keyword: str) -> None:
    function, allowed, forbidden = CASES[keyword]
    assert _accepts([function], allowed)
    assert not _accepts([function], forbidden)


def test_no_call_and_parallel_calls_are_answers_too() -> None:
    assert _accepts([VOLUME], {"function_call": None})
    assert _accepts([VOLUME, WEATHER], {"function_calls": [{"name": "set_volume", "arguments": {"level": 3}}, {"name": "get_weather", "arguments": {"city": "Oslo"}}]})
    assert not _accepts([VOLUME], {"function_calls": []})


def test_every_keyword_the_benchmark_uses_is_enforced() -> None:
    from fcbench.evaluation.constrained import ENFORCED

    records, _ = read_records(FCBENCH.frozen().path)
    used = schema_keywords(f.get("parameters") for r in records for f in r.functions)
    assert set(used) - ANNOTATIONS <= set(CASES) and unenforced(used, ENFORCED) == {}


def test_a_tiny_model_decodes_only_what_its_items_grammar_allows(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from fcbench.evaluation.constrained import _compiled
    from fcbench.evaluation.runner import EvalConfig, run_eval

    cfg = EvalConfig(model=str(tiny_llama_dir), limit=1, batch_size=4, dtype="float32", max_gen_toks=48, results_dir=tmp_path, constrained=True, cache=False)
    run = run_eval(cfg)
    assert run.summary.candidate.endswith("-0shot-constrained")
    record = run.summary.run["constrained"]
    assert record["library"].startswith("llguidance ") and record["unenforced_keywords"] == {} and record["unconstrained_rows"] == 0
    assert record["masked_tokens"] > 0
    import llguidance
    import llguidance.hf
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    benchmark = {r.id: r for r in read_records(FCBENCH.frozen().path)[0]}
    for line in (run.out_dir / "predictions.jsonl").read_text().splitlines():
        prediction = json.loads(line)
        functions = list(benchmark[prediction["id"]].functions)
        matcher = llguidance.LLMatcher(llguidance.hf.from_tokenizer(tokenizer), _compiled(json.dumps(answer_schema(functions))))
        ids = tokenizer.encode(prediction["output"], add_special_tokens=False)
        # a random model's answer may run out of budget, but never leaves its grammar
        assert all(matcher.consume_token(i) for i in ids) and not matcher.is_error(), prediction


NATIVE = [  # format, an answer it allows, one it forbids
    ("hermes", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>\n<tool_call>\n{"name": "set_volume", "arguments": {"level": 3}}\n</tool_call>',
     '<tool_call>\n{"name": "set_volume", "arguments": {"level": 300}}\n</tool_call>'),
    ("llama3", '{"name": "get_weather", "parameters": {"city": "Oslo"}}; {"name": "set_volume", "parameters": {"level": 3}}',
     '{"name": "get_weather", "arguments": {"city": "Oslo"}}'),
    ("mistral", '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}}]', '[TOOL_CALLS][{"name": "get_time", "arguments": {}}]'),
]


@pytest.mark.parametrize(("answer_format", "allowed", "forbidden"), NATIVE, ids=[n[0] for n in NATIVE])
def test_a_native_grammar_allows_the_models_own_calls_or_words(answer_format: str, allowed: str, forbidden: str) -> None:
    from fcbench.benchmark.formats import Reading
    from fcbench.benchmark.grammar import native_grammar
    from fcbench.evaluation.constrained import _compiled_lark

    grammar = _compiled_lark(native_grammar([WEATHER, VOLUME], answer_format))

    def accepts(text: str) -> bool:
        matcher = _matcher(grammar)
        return all(matcher.consume_token(i) for i in _tokenizer().encode(text, add_special_tokens=False)) and not matcher.is_error() and matcher.is_accepting()

    assert accepts(allowed) and not accepts(forbidden) and accepts("Sorry, no function here can do that.")
    # what the grammar allows, the format's reader reads as the calls it holds
    assert len(Reading(answer_format, "native").read(allowed).answer or ()) in (1, 2)


def test_native_mode_is_constrained_in_the_models_own_format(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from fcbench.benchmark.grammar import native_grammar
    from fcbench.evaluation.constrained import _compiled_lark
    from fcbench.evaluation.runner import EvalConfig, run_eval
    from test_native_mode import HERMES_TEMPLATE, _with_template

    from fcbench.errors import UserError

    model = _with_template(tiny_llama_dir, tmp_path / "tools-llama", HERMES_TEMPLATE)
    common = dict(model=str(model), limit=1, batch_size=4, dtype="float32", max_gen_toks=40, results_dir=tmp_path / "r", mode="native", constrained=True, cache=False)
    with pytest.raises(UserError, match="--answer-format hermes or llama3 or mistral"):
        run_eval(EvalConfig(**common))  # auto: every format at once is no one grammar
    run = run_eval(EvalConfig(**common, answer_format="hermes"))
    assert run.summary.candidate.endswith("-native-hermes-constrained") and run.summary.run["constrained"]["unconstrained_rows"] == 0
    import llguidance
    import llguidance.hf
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    benchmark = {r.id: r for r in read_records(FCBENCH.frozen().path)[0]}
    for line in (run.out_dir / "predictions.jsonl").read_text().splitlines():
        prediction = json.loads(line)
        grammar = _compiled_lark(native_grammar(list(benchmark[prediction["id"]].functions), "hermes"))
        matcher = llguidance.LLMatcher(llguidance.hf.from_tokenizer(tokenizer), grammar)
        assert all(matcher.consume_token(i) for i in tokenizer.encode(prediction["output"], add_special_tokens=False)) and not matcher.is_error(), prediction


def test_a_grammar_llguidance_refuses_leaves_its_row_free_and_is_counted() -> None:
    import torch
    from fcbench.evaluation.constrained import ENFORCED, Grammars

    # "#/$defs/..." would resolve against the answer schema's root, where there is no $defs
    ref = {"name": "f", "parameters": {"type": "object", "properties": {"a": {"$ref": "#/$defs/small"}}, "required": ["a"], "$defs": {"small": {"type": "integer"}}}}
    record = json.dumps({"input": {"functions": [ref]}})
    grammars = Grammars(_tokenizer(), len(_tokenizer()))
    mask = grammars.mask([grammars.grammar(record), grammars.grammar(json.dumps({"input": {"functions": [WEATHER]}}))])
    assert mask.failed == 1 and grammars.unenforced == {"$defs": 1, "$ref": 1} and "$ref" not in ENFORCED
    scores = torch.zeros(2, len(_tokenizer()))
    masked = mask(torch.zeros(2, 1, dtype=torch.long), scores.clone())
    assert torch.isfinite(masked[0]).all() and not torch.isfinite(masked[1]).all()  # the first row free, the second under its grammar
