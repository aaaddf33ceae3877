"""New phrasings for training calls, written by a question writer.

The seed cites instruction tuning that trains the reverse direction: the response as input, the
instruction as the target. A question writer is such a model, trained by ``fcbench train`` with
``task: question`` (call in, question out; ``trainers/configs/smollm2-question-writer.yaml``).
``fcbench generate --question-writer RUN`` asks it for a new question for a share of the training
records that call something, and keeps a new phrasing only when

- the training audit passes it (``generators/audit.py``): every argument value is stated, no
  benchmark joiner or clause is used, nothing is ambiguous;
- it is not the record's own question again, nor another kept one;
- with ``--round-trip RUN``, that function-calling adapter recovers the exact call from it.

Rejected phrasings are written beside the data with their reasons; nothing is dropped silently.
Validation records are never rephrased: the validation loss stays comparable across data sets.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcbench.benchmark.metrics import score_output
from fcbench.benchmark.prompt import PROMPT_FORMAT_VERSION, render, render_question
from fcbench.benchmark.record import Record, RecordError, record_from_json
from fcbench.generators.audit import audit
from fcbench.generators.synth import normalize_question
from fcbench.models.adapters import read_manifest, verify_adapter

from fcbench.errors import UserError

MAX_QUESTION_TOKENS = 96
MAX_CALL_TOKENS = 192


@dataclass(frozen=True, slots=True)
class Rephrasing:
    """What ``fcbench generate`` is asked to rephrase, and with which models."""

    writer: Path
    share: float = 0.25
    """Of the training records that call something."""
    round_trip: Path | None = None
    """A function-calling adapter that must recover each call from its new question."""
    seed: int = 0
    batch_size: int = 16
    temperature: float = 0.7
    """Sampled, not greedy: greedy decoding tends to give back the training phrasing itself."""


@dataclass(slots=True)
class Rephrased:
    kept: list[dict[str, Any]] = field(default_factory=list)
    """New records: a copy of the original with the new question, id ``<id>-rw``."""
    rejected: list[dict[str, Any]] = field(default_factory=list)
    """``{"id", "question", "reasons"}`` for each phrasing not kept."""

    def summary(self, settings: Rephrasing, writer_name: str) -> dict[str, Any]:
        reasons = Counter(reason.split(":", 1)[0] for row in self.rejected for reason in row["reasons"][:1])
        return {"writer": writer_name, "writer_path": str(settings.writer), "share": settings.share, "seed": settings.seed,
                "temperature": settings.temperature, "round_trip": str(settings.round_trip) if settings.round_trip else None,
                "asked": len(self.kept) + len(self.rejected), "kept": len(self.kept), "rejected": len(self.rejected),
                "rejected_by_first_reason": dict(sorted(reasons.items()))}


def rephrase(train: Sequence[dict[str, Any]], settings: Rephrasing, progress: Callable[[int, int], None] | None = None,
             avoid: Sequence[str] = ()) -> tuple[Rephrased, str]:
    """New phrasings for a seeded share of ``train``'s calling records; returns them and the
    writer's name. ``avoid``: other questions (validation's) no new phrasing may repeat."""
    if not 0 < settings.share <= 1:
        raise UserError(f"--rephrase-share must be in (0, 1], not {settings.share}")
    writer = _Model.load(settings.writer, task="question")
    records = [record_from_json(raw) for raw in train]
    calling = [record for record in records if record.gold]
    chosen = sorted(random.Random(settings.seed).sample(range(len(calling)), round(settings.share * len(calling))))
    asked = [calling[i] for i in chosen]
    questions = writer.generate([render_question(r, writer.encoding, writer.tokenizer).prompt for r in asked],
                                MAX_QUESTION_TOKENS, settings, progress)
    result = Rephrased()
    candidates: list[tuple[Record, dict[str, Any]]] = []
    seen = {normalize_question(q) for q in (*(r.question for r in records), *avoid)}
    for record, text in zip(asked, questions):
        question = text.strip().splitlines()[0].strip() if text.strip() else ""
        reasons = _problems(record, question, seen)
        if reasons:
            result.rejected.append({"id": record.id, "question": question, "reasons": reasons})
            continue
        seen.add(normalize_question(question))
        candidates.append((record, _with_question(record, question, writer.name)))
    if settings.round_trip is not None and candidates:
        caller = _Model.load(settings.round_trip, task="call")
        parsed = [record_from_json(raw) for _, raw in candidates]
        answers = caller.generate([render(r, caller.encoding, caller.tokenizer).prompt for r in parsed], MAX_CALL_TOKENS, None, progress)
        for (record, raw), new, answer in zip(candidates, parsed, answers):
            score = score_output(new, answer)
            if score.exact_match:
                result.kept.append(raw)
            else:
                result.rejected.append({"id": record.id, "question": raw["input"]["user_question"],
                                        "reasons": [f"round trip: {score.verdict.error_type} ({'; '.join(score.verdict.messages)[:200]})"]})
    else:
        result.kept = [raw for _, raw in candidates]
    return result, writer.name


def _problems(record: Record, question: str, seen: set[str]) -> list[str]:
    """Why a new phrasing cannot be kept; empty when it can."""
    if not question:
        return ["empty: the writer wrote nothing"]
    if normalize_question(question) in seen:
        return ["repeat: the record's own question or another record's"]
    try:
        new = record_from_json(_with_question(record, question, "check"))
    except RecordError as error:
        return [f"invalid: {error}"]
    return [f"audit: {v.check}: {v.detail}" for v in audit([new], "training").violations]


def _with_question(record: Record, question: str, writer: str) -> dict[str, Any]:
    raw = copy.deepcopy(record.raw)
    raw["id"] = f"{record.id}-rw"
    raw["input"]["user_question"] = question
    raw["meta"] = {**raw.get("meta", {}), "question_writer": writer, "rephrases": record.id}
    return raw


@dataclass(slots=True)
class _Model:
    """A base model with an fcbench adapter merged in, for batched generation."""

    name: str
    encoding: Any
    tokenizer: Any
    model: Any

    @classmethod
    def load(cls, folder: Path, task: str) -> _Model:
        import torch
        from fcbench.models.registry import preferred_dtype, resolve_model
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        manifest = read_manifest(folder)
        if manifest is None:
            raise UserError(f"{folder}: no run.json; --question-writer and --round-trip take run folders that fcbench train wrote")
        if manifest.get("task", "call") != task:
            what = "a question writer (trained with task: question)" if task == "question" else "a function-calling adapter (task: call)"
            raise UserError(f"{folder} is trained for task {manifest.get('task', 'call')!r}; this option needs {what}")
        if manifest.get("method") not in ("lora", "qlora"):
            raise UserError(f"{folder} is a {manifest.get('method')} adapter; only LoRA adapters are merged for generation here (evaluate others with fcbench eval)")
        version = manifest.get("prompt_format", {}).get("version")
        if version != PROMPT_FORMAT_VERSION:
            raise UserError(f"{folder}: trained with prompt format v{version}, this fcbench renders v{PROMPT_FORMAT_VERSION}: train it again")
        base = manifest["base_model"]["name"]
        verify_adapter(folder, base, task)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(resolve_model(base), dtype=getattr(torch, preferred_dtype("cpu" if not torch.cuda.is_available() else "cuda")))
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:  # an adapter that added call tokens
            model.resize_token_embeddings(len(tokenizer))
        model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload().eval()
        return cls(manifest["name"], manifest["prompt_format"]["encoding"], tokenizer, model)

    def generate(self, prompts: Sequence[str], max_new_tokens: int, sampling: Rephrasing | None,
                 progress: Callable[[int, int], None] | None) -> list[str]:
        """Batched generation, longest prompts first (less padding); sampled when ``sampling``
        is given (seeded), greedy otherwise. Returns the texts in the order of ``prompts``."""
        import torch

        if sampling is not None:
            torch.manual_seed(sampling.seed)
        batch_size = sampling.batch_size if sampling is not None else 16
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        texts: dict[int, str] = {}
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            encoded = self.tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False)
            options: dict[str, Any] = {"do_sample": True, "temperature": sampling.temperature, "top_p": 0.95} if sampling else {"do_sample": False}
            with torch.no_grad():
                out = self.model.generate(**encoded, max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.pad_token_id, **options)
            for row, i in enumerate(batch):
                texts[i] = self.tokenizer.decode(out[row, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
            if progress is not None:
                progress(min(start + batch_size, len(order)), len(order))
        return [texts[i] for i in range(len(prompts))]


def write_rejected(path: Path, rejected: Sequence[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rejected), encoding="utf-8")
