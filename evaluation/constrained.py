"""Schema-constrained decoding: each row of a batch decodes under the grammar of its own item's
answers (``benchmark/grammar.py``), compiled by llguidance.

Why llguidance: of the structured-generation libraries on the registry that work with
transformers on a CPU, llguidance and xgrammar both enforce every JSON Schema keyword fcbench's
and BFCL's functions use (tests/test_constrained.py checks each). xgrammar computes a token mask
faster (about 3 µs a token against llguidance's 21 µs, measured on SmolLM2's 49k vocabulary),
but either is under a thousandth of a CPU decoding step, and xgrammar's wheel requires triton:
a gigabyte on disk for a CPU-only install. llguidance is one dependency-free wheel. outlines and
lm-format-enforcer were not chosen: the first brings a larger stack for the same JSON Schema
path, the second walks the vocabulary in Python.

In native mode the grammar is the model's own tool-call format (``hermes``, ``llama3``,
``mistral``; ``benchmark/grammar.py``'s :func:`native_grammar`): calls of the offered functions
in that format, or an answer in words, which native mode reads as no call.

A row whose next token the grammar did not allow (a row that already finished, fed padding) is
left unconstrained from then on; nothing a model writes can raise here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from functools import cache
from typing import Any

import torch
import transformers
from fcbench.benchmark.grammar import NATIVE_FORMATS, answer_schema, native_grammar, schema_keywords, unenforced

LIBRARY = "llguidance"

ENFORCED = frozenset({
    "type", "properties", "required", "additionalProperties", "enum", "const", "items", "minItems", "maxItems",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "format",
    "anyOf", "oneOf", "allOf", "prefixItems",
})
"""The keywords llguidance turns into grammar here (each checked in tests on a violating value).
Anything else an offered function uses is counted as unenforced in the evaluation's summary:
``$ref`` among them, since a function's ``#/$defs/...`` would resolve against the answer
schema's root, not the function's."""

_SEPARATORS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
"""The answer's layout: json.dumps' own, as the gold answers and the prompt's examples are written
(free whitespace would also let a model pad its answer with spaces until the budget runs out)."""


def library_version() -> str:
    import importlib.metadata

    return f"{LIBRARY} {importlib.metadata.version(LIBRARY)}"


class Grammars:
    """Compiles (and caches) the answer grammar of each record, for one tokenizer and one answer
    format: fcbench's envelope (prompt mode), or a model's own tool-call format (native mode)."""

    def __init__(self, tokenizer: Any, vocab_size: int, answer_format: str = "fcbench") -> None:
        import llguidance.hf

        if answer_format != "fcbench" and answer_format not in NATIVE_FORMATS:
            raise ValueError(f"no grammar for answer format {answer_format!r}")
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size)
        self.vocab_size = vocab_size
        self.answer_format = answer_format
        self.unenforced: dict[str, int] = {}
        """Keywords of the offered functions the grammar could not enforce, over every item."""

    def grammar(self, record_json: str) -> str | None:
        """The record's answer grammar; None where llguidance cannot compile it (that row then
        decodes free, and is counted)."""
        functions = json.loads(record_json).get("input", {}).get("functions")
        if functions is None:  # the seed's form: the spec is inferred from the example
            from fcbench.benchmark.record import record_from_json

            functions = list(record_from_json(json.loads(record_json)).functions)
        for keyword, count in unenforced(schema_keywords(f.get("parameters") for f in functions), ENFORCED).items():
            self.unenforced[keyword] = self.unenforced.get(keyword, 0) + count
        try:
            if self.answer_format != "fcbench":
                return _compiled_lark(native_grammar(functions, self.answer_format))
            # key order kept, never sorted: the grammar writes properties in the schema's order ("name" first)
            return _compiled(json.dumps(answer_schema(functions)))
        except ValueError:
            return None

    def mask(self, grammars: Sequence[str | None]) -> GrammarMask:
        return GrammarMask(self.tokenizer, grammars, self.vocab_size)


@cache
def _compiled(schema: str) -> str:
    import llguidance

    return llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=_SEPARATORS)


@cache
def _compiled_lark(lark: str) -> str:
    import llguidance

    return llguidance.LLMatcher.grammar_from_lark(lark)


class GrammarMask(transformers.LogitsProcessor):
    """Masks each row's next-token scores to what its grammar allows (None: that row is free)."""

    def __init__(self, tokenizer: Any, grammars: Sequence[str | None], vocab_size: int) -> None:
        import llguidance

        matchers = [llguidance.LLMatcher(tokenizer, g) if g is not None else None for g in grammars]
        self.failed = sum(m is not None and m.is_error() for m in matchers)
        """Grammars llguidance refused when the matcher was made (an unresolvable reference): those rows decode free."""
        self.matchers = [None if m is None or m.is_error() else m for m in matchers]
        self.vocab_size = vocab_size
        self.words = (vocab_size + 31) // 32
        self.started = False
        self.seconds = 0.0
        """Time spent computing masks, for the overhead per token."""
        self.masked_tokens = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        started = time.perf_counter()
        if self.started:
            for row, matcher in enumerate(self.matchers):
                if matcher is not None and not matcher.is_stopped() and not matcher.consume_token(int(input_ids[row, -1])):
                    self.matchers[row] = None
        self.started = True
        rows = [row for row, m in enumerate(self.matchers) if m is not None and not m.is_stopped() and not m.is_error()]
        if rows:
            from llguidance.torch import fill_next_token_bitmask

            bitmask = torch.full((len(self.matchers), self.words), -1, dtype=torch.int32)  # -1: every token allowed
            for row in rows:
                fill_next_token_bitmask(self.matchers[row], bitmask, row)
            scores.masked_fill_(~allowed(bitmask, scores.shape[-1]), float("-inf"))
            self.masked_tokens += len(rows)
        self.seconds += time.perf_counter() - started
        return scores


def allowed(bitmask: torch.Tensor, vocab: int) -> torch.Tensor:
    """A (rows, words) int32 bitmask as (rows, vocab) booleans: bit b of word w allows token 32w + b."""
    bits = (bitmask.unsqueeze(-1) >> torch.arange(32, dtype=torch.int32)) & 1
    flat = bits.reshape(bitmask.shape[0], -1).bool()
    if flat.shape[1] >= vocab:
        return flat[:, :vocab]
    # scores wider than the tokenizer's vocabulary (padded embedding rows): those are never allowed
    return torch.cat([flat, torch.zeros(flat.shape[0], vocab - flat.shape[1], dtype=torch.bool)], dim=1)
