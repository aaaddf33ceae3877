"""Small hand-made records shared by the tests."""

from __future__ import annotations

import json
import os

# Nothing in the tests may reach the Hub: a model name that is no folder fails at once, offline,
# instead of after huggingface_hub's retries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from typing import Any

import pytest
from fcbench.benchmark.record import Record, record_from_json

CONVERT = {
    "name": "currency_conversion",
    "description": "Convert an amount of money between currencies.",
    "parameters": {
        "type": "object",
        "properties": {"amount": {"type": "number", "minimum": 0}, "from": {"type": "string"}, "to": {"type": "string"}},
        "required": ["amount", "from", "to"],
        "additionalProperties": False,
    },
}
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}, "details": {"type": "boolean"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
CLOCK = {"name": "get_time", "description": "The time now.", "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}
FLIGHTS = {
    "name": "search_flights",
    "description": "Search flights.",
    "parameters": {
        "type": "object",
        "properties": {
            "origin": {"type": "string"},
            "destination": {"type": "string"},
            "passengers": {
                "type": "object",
                "properties": {"adults": {"type": "integer", "minimum": 1}, "children": {"type": "integer"}},
                "required": ["adults"],
                "additionalProperties": False,
            },
            "stops": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["origin", "destination"],
        "additionalProperties": False,
    },
}


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def record_json(output: dict[str, Any], functions: list[dict[str, Any]] | None = None, *, rid: str = "r1", category: str | None = None, **meta: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": rid,
        "instruction": "Answer with a JSON function call.",
        "input": {"user_question": "a question", "functions": functions or [CONVERT]},
        "output": output,
    }
    if category or meta:
        obj["meta"] = {**({"category": category} if category else {}), **meta}
    return obj


def make_record(output: dict[str, Any], functions: list[dict[str, Any]] | None = None, **kwargs: Any) -> Record:
    return record_from_json(record_json(output, functions, **kwargs))


def clock_record(rid: str = "r1", question: str = "What time is it?") -> Record:
    """A one-function record with the seed's example call."""
    obj = {
        "id": rid,
        "instruction": "Call a function.",
        "input": {"user_question": question, "functions": [CLOCK], "function_call_example": call("get_time")},
        "output": {"function_call": call("get_time")},
    }
    return record_from_json(obj)


def as_text(obj: Any) -> str:
    return json.dumps(obj)


@pytest.fixture
def gbp_to_jpy() -> Record:
    return make_record({"function_call": call("currency_conversion", amount=250, **{"from": "GBP", "to": "JPY"})})


CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_tokenizer(corpus: list[str]) -> Any:
    """A byte-level BPE trained in well under a second on ``corpus``, with ChatML special
    tokens and template (the layout of SmolLM2's tokenizer, at a tiny vocabulary)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|im_end|>", unk_token="<|endoftext|>")
    fast.chat_template = CHATML_TEMPLATE
    return fast


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A randomly initialised 2-layer Llama and its tokenizer, saved as a Hugging Face folder
    (what ``from_pretrained`` and lm-eval's ``pretrained=`` load)."""
    from fcbench.benchmark.prompt import render
    from fcbench.benchmark.record import read_records
    from fcbench.benchmark.suites import FCBENCH

    records, _ = read_records(FCBENCH.frozen().path)
    corpus = [text for r in records[::20] for text in (render(r, "plain").prompt, render(r, "plain").completion)]
    tokenizer = build_tiny_tokenizer(corpus)
    folder = tmp_path_factory.mktemp("tiny-llama")
    save_tiny_llama(folder, tokenizer)
    return folder


def save_tiny_llama(folder: Any, tokenizer: Any, hidden_size: int = 32) -> None:
    """A randomly initialised 2-layer Llama over ``tokenizer``'s vocabulary, saved with it.
    (bitsandbytes' 4-bit layers need ``hidden_size`` of at least 64.)"""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=8192, bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
