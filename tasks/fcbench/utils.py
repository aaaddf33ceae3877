"""lm-eval glue for every fcbench suite (``benchmark/suites.py``): a suite's frozen records as
docs (each subtask YAML names its ``suite`` and ``subtask``), prompts from fcbench's one prompt
format, scores from fcbench's metrics. Nothing here decides what a prompt looks like or how an
answer is scored; it only wires ``benchmark/`` into lm-eval's hooks.

Runtime options arrive as lm-eval metadata (``--metadata '{...}'``; lm-eval's CLI also merges
``--model_args`` into it, so ``pretrained``, ``peft`` and ``tokenizer`` are seen here):

- ``fewshot`` (int, default 0): worked examples from the benchmark's few-shot file, which is
  drawn from training data. lm-eval's own ``--num_fewshot`` is disabled (``num_fewshot: 0``):
  it would draw the examples from the benchmark itself.
- ``prompt_encoding`` (``plain`` or ``chat``): by default the one the adapter was trained with
  (its ``run.json``), else ``chat`` when the tokenizer has a chat template, else ``plain``. The
  adapter's ``run.json`` also says whether answers are wrapped in call tokens.
- ``mode`` (``prompt`` or ``native``) and ``answer_format`` (``benchmark/formats.py``): in
  native mode the functions go to the tokenizer's chat template as ``tools`` and the answer is
  read in the model's own tool-call format.
- with no tokenizer at all (a model served behind an endpoint), docs carry the chat
  ``messages`` (and native ``tools``) for the endpoint to render.
"""

from __future__ import annotations

import json
from functools import cache
from itertools import chain, zip_longest
from pathlib import Path
from typing import Any

import datasets
from fcbench.benchmark.formats import Reading
from fcbench.benchmark.frozen import FrozenBenchmark
from fcbench.benchmark.metrics import METRICS
from fcbench.benchmark.prompt import (
    NATIVE_PROMPT_FORMAT,
    PROMPT_FORMAT_VERSION,
    Encoding,
    PromptFormat,
    chat_messages,
    completion_text,
    default_encoding,
    native_messages,
    native_tools,
    render,
    render_native,
)
from fcbench.benchmark.record import Record, read_records, record_from_json
from fcbench.benchmark.scoring import benchmark_label, score_item
from fcbench.benchmark.suites import Suite, suite_named
from fcbench.models.soft_prompt import load_soft_prompt

from fcbench.errors import UserError


def load_docs(suite: str, subtask: str, fewshot: int = 0, prompt_encoding: Encoding | None = None, **metadata: Any) -> datasets.DatasetDict:
    """The ``test`` split of one subtask of a suite, prompts rendered. Items alternate between
    the splits of ``meta.split`` (seen and unseen functions) so that ``--limit N`` takes them
    equally; a suite without splits keeps its own order."""
    frozen, records = _benchmark(suite, metadata.get("benchmark_version"))
    splits = suite_named(suite).splits
    chosen = [r for r in records if suite_named(suite).subtask_of(r) == subtask]
    if not chosen:
        raise UserError(f"no items of subtask {subtask!r} in {frozen.path} ({suite} {frozen.version})")
    halves = [[r for r in chosen if r.split == split] for split in splits] if splits else [chosen]
    ordered = [r for r in chain.from_iterable(zip_longest(*halves)) if r is not None]
    return _docs(suite, frozen, ordered, fewshot, prompt_encoding, metadata)


def _docs(suite: str, frozen: FrozenBenchmark, ordered: list[Record], fewshot: int, prompt_encoding: Encoding | None, metadata: dict[str, Any]) -> datasets.DatasetDict:
    tokenizer = _tokenizer(metadata.get("tokenizer") or metadata.get("pretrained"))
    # No model here at all: a served model, sent chat messages that its server renders.
    served = tokenizer is None and not metadata.get("pretrained")
    reading = reading_of(metadata)
    if reading.mode == "native" and int(fewshot):
        raise UserError("--mode native is 0-shot: worked examples would have to be written in the model's own tool format; use --fewshot 0")
    trained = _adapter_prompt_format(metadata.get("peft"))
    encoding = prompt_encoding or trained.get("encoding") or ("chat" if served else default_encoding(tokenizer) if tokenizer else "plain")
    if served and encoding != "chat":
        raise UserError(f"a served model is sent chat messages: --prompt-encoding {encoding} cannot be used with it")
    prompt_format = PromptFormat(encoding, call_tokens=bool(trained.get("call_tokens")))
    shots = _shots(frozen.fewshot_path, int(fewshot))
    # A ProMoT soft prompt takes the places of placeholder tokens before the prompt, as in training.
    soft_prefix = load_soft_prompt(Path(metadata["soft_prompt"]), tokenizer).prefix if metadata.get("soft_prompt") else ""
    docs = []
    for record in ordered:
        native = reading.mode == "native"
        messages = native_messages(record) if native else chat_messages(record, shots, prompt_format.call_tokens)
        tools = native_tools(record) if native else None
        if served:  # the request itself stands for the prompt (and keys the answer cache)
            prompt = json.dumps({"messages": messages, "tools": tools}, ensure_ascii=False)
        else:
            prompt = render_native(record, tokenizer).prompt if native else soft_prefix + render(record, encoding, tokenizer, shots, call_tokens=prompt_format.call_tokens).prompt
        docs.append({
            "id": record.id,
            "category": record.category,
            "split": record.split,
            "prompt": prompt,
            "completion": completion_text(record, prompt_format.call_tokens),
            "messages": json.dumps(messages, ensure_ascii=False),
            "tools": json.dumps(tools, ensure_ascii=False) if tools is not None else "",
            "record": json.dumps(record.raw, ensure_ascii=False),
            "suite": suite,
            "benchmark": benchmark_label(frozen),
            "prompt_format": NATIVE_PROMPT_FORMAT if native else prompt_format.name,
            **reading.to_json(),
            "fewshot": len(shots),
        })
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def reading_of(metadata: dict[str, Any]) -> Reading:
    """The run's ``mode`` and ``answer_format`` (metadata); fcbench's envelope after fcbench's
    prompt by default, every format detected in native mode."""
    mode = metadata.get("mode") or "prompt"
    return Reading(metadata.get("answer_format") or ("auto" if mode == "native" else "fcbench"), mode)


@cache
def _benchmark(suite: str, version: str | None) -> tuple[FrozenBenchmark, list[Record]]:
    """Read (and sha256-check) once per process: each subtask loads from it."""
    frozen = suite_named(suite).frozen(version)
    records, problems = read_records(frozen.path)
    if problems:
        raise UserError(f"the benchmark {frozen.path} has problems: {problems[0]}")
    return frozen, records


def _shots(path: Path | None, k: int) -> list[Record]:
    if k <= 0:
        return []
    if path is None:
        raise UserError("this benchmark version has no few-shot file")
    shots, problems = read_records(path)
    if problems or k > len(shots):
        raise UserError(f"fewshot={k}: {path} has {len(shots)} usable examples{f' ({problems[0]})' if problems else ''}")
    return shots[:k]


@cache
def _tokenizer(name: str | None) -> Any:
    if not name or not isinstance(name, str):
        return None
    from fcbench.models.registry import resolve_model
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(name, tokenizer_only=True))


def _adapter_prompt_format(adapter: str | None) -> dict[str, Any]:
    """The prompt format an fcbench adapter was trained with (its ``run.json``): evaluating it
    with another encoding scores ~0, and one trained with call tokens expects them in the shots."""
    manifest = Path(adapter) / "run.json" if isinstance(adapter, str) else None
    if manifest is None or not manifest.is_file():
        return {}
    prompt_format = json.loads(manifest.read_text()).get("prompt_format", {})
    if prompt_format.get("version", PROMPT_FORMAT_VERSION) != PROMPT_FORMAT_VERSION:
        raise UserError(f"{manifest}: trained with prompt format v{prompt_format['version']}, this fcbench renders v{PROMPT_FORMAT_VERSION}")
    return prompt_format


def doc_to_text(doc: dict[str, Any]) -> str:
    return doc["prompt"]


def doc_to_target(doc: dict[str, Any]) -> str:
    return doc["completion"]


@cache
def _record(record_json: str) -> Record:
    return record_from_json(json.loads(record_json))


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float | None]:
    """fcbench's metrics for one item, plus, in a suite with splits, each metric again under
    its split's name (``None`` for the other split, which :func:`mean_present` skips). The score
    is kept for the run's own report, which therefore scores nothing again."""
    reading = Reading(doc.get("answer_format") or "fcbench", doc.get("mode") or "prompt")
    values = score_item(doc["benchmark"], _record(doc["record"]), results[0], reading).metric_values()
    per_split = {name: (values[metric] if doc["split"] == split else None) for metric, split, name in split_metrics(suite_named(doc["suite"]))}
    return {**values, **per_split}


def split_metrics(suite: Suite) -> list[tuple[str, str, str]]:
    """(metric, split, lm-eval metric name) of every per-split metric the suite reports."""
    return [(metric, split, f"{metric}_{split}") for metric in METRICS for split in suite.splits]


def mean_present(values: list[float | None]) -> float:
    """Mean over the items that have the metric (one split's items); NaN when none do."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else float("nan")
