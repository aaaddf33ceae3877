"""A run's model card (``README.md``): what the adapter is, what it was trained on and how, how
to load it, and how it scored once evaluated. The YAML metadata the Hub reads (``base_model``,
``library_name``, ``tags``, ``pipeline_tag``) is built by huggingface_hub's ``ModelCardData``.

PEFT's ``save_pretrained`` writes an empty template there; training replaces it, and
``fcbench export`` writes it again with the leaderboard's scores. Everything on the card comes
from ``run.json`` and the scores handed in, and the card is outside the adapter's checksums
(``models/adapters.py``), so it can be rewritten at any time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcbench.benchmark.groups import Group, ordered
from fcbench.benchmark.metrics import METRICS, Estimate
from fcbench.models.adapters import MODEL_CARD
from fcbench.models.registry import embedded_model

FOLDER = "path/to/this/folder"
"""Where the card's loading snippets point: wherever the folder ends up (a path, or a Hub id once pushed)."""

METHODS = {
    "lora": "a LoRA adapter",
    "qlora": "a QLoRA adapter (LoRA trained over the base quantised to 4-bit NF4)",
    "prompt_tuning": "a soft prompt (PEFT prompt tuning)",
    "promot": "a ProMoT LoRA adapter (LoRA trained with a frozen soft prompt attached, used without it)",
}
"""What each method's adapter is, in the card's first sentence."""
TASKS = {
    "call": "a question and function specifications in, a JSON function call (or none) out",
    "question": "the reverse: a function call in, a user question out (a question writer for `fcbench generate --question-writer`)",
}


@dataclass(frozen=True, slots=True)
class CardScores:
    """One recorded evaluation of a candidate that runs the adapter, as the card shows it."""

    candidate: str
    benchmark: str
    benchmark_version: str
    fewshot: int
    n_items: int
    item_limit: int | None
    """Items per category the evaluation was cut to (lm-eval's ``--limit``); None: all of them."""
    created: str
    estimates: Mapping[str, Mapping[str, Estimate]]
    """Group key (``overall``, a category, ``split:NAME``) -> metric -> mean and 95 % CI."""


def base_names(manifest: Mapping[str, Any]) -> tuple[str | None, str]:
    """The base model's Hub id (None for a folder of the user's own) and the name the adapter
    shares it by. A manifest written before fcbench recorded them gets them from the registry."""
    base = manifest.get("base_model") or {}
    name = str(base.get("name", ""))
    if "portable_name" in base:
        return base.get("hub_id"), str(base["portable_name"])
    embedded = embedded_model(name)
    return (embedded.hub_id, embedded.hub_id) if embedded else (None, name)


def model_card(manifest: Mapping[str, Any], scores: Sequence[CardScores] = (), *, merged: bool = False, scores_from: str | None = None) -> Any:
    """The card of a run (``merged``: of the standalone model merged from it) as a
    huggingface_hub ``ModelCard``; ``scores`` from the leaderboard at ``scores_from``."""
    from huggingface_hub import ModelCard, ModelCardData

    hub_id, _ = base_names(manifest)
    method = str(manifest.get("method", "lora"))
    data = ModelCardData(
        base_model=hub_id,  # the Hub links a card to its base only by a Hub id: a local folder is left out
        library_name="transformers" if merged else "peft",
        pipeline_tag="text-generation",
        tags=["fcbench", "function-calling", "trl", "sft", method, *(["merged"] if merged else [])],
        base_model_relation="finetune" if merged else "adapter",
    )
    body = "\n".join([*_intro(manifest, merged), *_base(manifest), *_training(manifest), *_loading(manifest, merged), *_scores(scores, scores_from)])
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def write_model_card(folder: Path, manifest: Mapping[str, Any], scores: Sequence[CardScores] = (), *, merged: bool = False,
                     scores_from: str | None = None) -> Path:
    """Write the card as ``folder/README.md`` (over PEFT's template); returns its path."""
    path = folder / MODEL_CARD
    path.write_text(str(model_card(manifest, scores, merged=merged, scores_from=scores_from)), encoding="utf-8")
    return path


def _intro(manifest: Mapping[str, Any], merged: bool) -> list[str]:
    _, base = base_names(manifest)
    method = str(manifest.get("method", "lora"))
    what = METHODS.get(method, f"a {method} adapter")
    lines = [f"# {manifest.get('name', 'fcbench run')}", ""]
    if merged:
        lines.append(f"`{base}` with {what} merged into its weights (PEFT's `merge_and_unload`): a standalone model that "
                     "`transformers` loads without PEFT. It was trained with fcbench (TRL's `SFTTrainer` and PEFT) for function calling.")
        if method == "promot":
            lines += ["", "The stage-1 soft prompt is left out: a soft prompt is input vectors, not weights, and the candidate "
                          "fcbench evaluates by default runs without it. Export the run without `--merge` to keep it."]
        if method == "qlora":
            lines += ["", "The LoRA weights, trained over the 4-bit base, are merged into the unquantised base weights."]
    else:
        lines.append(f"{what[0].upper()}{what[1:]} for `{base}`, trained with fcbench (TRL's `SFTTrainer` and PEFT) for function calling.")
    lines += ["", f"Task: {TASKS.get(str(manifest.get('task', 'call')), manifest.get('task'))}.", ""]
    return lines


def _base(manifest: Mapping[str, Any]) -> list[str]:
    hub_id, base = base_names(manifest)
    described = manifest.get("base_model") or {}
    lines = ["## Base model", "", f"`{base}`."]
    embedded = embedded_model(str(described.get("name", "")))
    if embedded is not None:
        lines.append(f"Trained on fcbench's embedded copy of it, `{described.get('source')}`: its GGUF quantisation, dequantised to float32, "
                     "which is close to the Hub's weights but not the same. `fcbench` resolves the Hub id to that copy, offline.")
    elif hub_id is None:
        lines.append("A local model folder, not on the Hub: whoever loads this adapter needs that folder at that path "
                     "(or sets `base_model_name_or_path` in `adapter_config.json` to where they keep it).")
    return [*lines, ""]


def _training(manifest: Mapping[str, Any]) -> list[str]:
    import yaml

    prompt = manifest.get("prompt_format") or {}
    loss, perplexity = manifest.get("best_eval_loss"), manifest.get("best_eval_perplexity")
    best = f"{loss:.4f} (perplexity {perplexity:.2f})" if isinstance(loss, float) and isinstance(perplexity, float) else "none (no evaluation ran)"
    benchmark = manifest.get("benchmark") or {}
    rows = [
        ("method", f"`{manifest.get('method')}`"),
        ("steps", f"{manifest.get('steps')}" + (f" (resumed from `{Path(str(manifest['resumed_from'])).name}`)" if manifest.get("resumed_from") else "")),
        ("train seconds", f"{manifest.get('train_seconds')}" + (f" on {manifest['world_size']} processes" if (manifest.get("world_size") or 1) > 1 else "")),
        ("best validation loss", best + (f", at `{Path(str(manifest['best_checkpoint'])).name}`" if manifest.get("best_checkpoint") else "")),
        ("prompt format", f"`{prompt.get('name')}` (version {prompt.get('version')})"),
        ("held-out benchmark", f"{benchmark.get('name')} {benchmark.get('version')}"),
        ("seed", f"{manifest.get('seed')}"),
        ("git commit", f"`{manifest.get('git_commit')}`"),
        ("libraries", ", ".join(f"{name} {version}" for name, version in (manifest.get("libraries") or {}).items() if version)),
    ]
    lines = ["## Training", "", "| | |", "| --- | --- |", *(f"| {key} | {value} |" for key, value in rows), ""]
    if manifest.get("stages"):
        lines += ["Stages: " + "; ".join(f"{s['name']}, {s['steps']} steps, best validation loss {s['best_eval_loss']:.4f}"
                                         if isinstance(s.get("best_eval_loss"), float) else f"{s['name']}, {s['steps']} steps" for s in manifest["stages"]) + ".", ""]
    data = manifest.get("data") or {}
    lines += ["### Data", "", "| split | file | sha256 | rows |", "| --- | --- | --- | --- |"]
    lines += [f"| {split} | `{entry.get('path')}` | `{entry.get('sha256')}` | {entry.get('rows')} |" for split, entry in data.items()]
    # The settings as a config file: `fcbench train --config` reads this block back as it is.
    lines += ["", "### Settings", "", "Every setting, as a config that `fcbench train --config` takes:", "", "```yaml",
              yaml.safe_dump(manifest.get("config") or {}, sort_keys=False, allow_unicode=True).rstrip("\n"), "```", ""]
    return lines


def _loading(manifest: Mapping[str, Any], merged: bool) -> list[str]:
    _, base = base_names(manifest)
    described = manifest.get("base_model") or {}
    embedded = embedded_model(str(described.get("name", "")))
    eval_model = embedded.name if embedded else base  # fcbench's own name keeps the leaderboard's candidate name
    prompt = (manifest.get("prompt_format") or {}).get("name")
    lines = ["## How to load", ""]
    if merged:
        lines += ["```python", "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                  f'model = AutoModelForCausalLM.from_pretrained("{FOLDER}")', f'tokenizer = AutoTokenizer.from_pretrained("{FOLDER}")', "```", "",
                  f"Prompts are rendered as fcbench renders them (prompt format `{prompt}`). To evaluate it with fcbench:", "",
                  "```bash", f"fcbench eval --model {FOLDER}", "```", ""]
        if (manifest.get("prompt_format") or {}).get("call_tokens"):
            lines += ["It answers inside its own `<functioncall>` tokens; fcbench reads that from an adapter's `run.json` only, "
                      "so for the score it was trained for, evaluate the adapter (an export without `--merge`).", ""]
        return lines
    lines += ["```python", "from peft import AutoPeftModelForCausalLM", "from transformers import AutoTokenizer", "",
              f'model = AutoPeftModelForCausalLM.from_pretrained("{FOLDER}")  # loads {base}, then the adapter',
              f'tokenizer = AutoTokenizer.from_pretrained("{FOLDER}")  # the tokenizer it was trained with', "```", "",
              f"Prompts are rendered as fcbench renders them (prompt format `{prompt}`); `fcbench eval` reads the format from `run.json`:", "", "```bash"]
    if manifest.get("task", "call") == "question":
        lines.append(f"fcbench generate --question-writer {FOLDER}")
    else:
        lines.append(f"fcbench eval --model {eval_model} --adapter {FOLDER}")
        if manifest.get("method") == "promot":
            lines.append(f"fcbench eval --model {eval_model} --adapter {FOLDER} --soft-prompt  # with its stage-1 soft prompt")
    return [*lines, "```", ""]


def _scores(scores: Sequence[CardScores], scores_from: str | None) -> list[str]:
    lines = ["## Scores", ""]
    if not scores:
        return [*lines, "Not evaluated yet: `fcbench eval` records a score in the leaderboard, and `fcbench export` writes it here.", ""]
    lines += [f"The newest evaluation of each candidate that runs this adapter{f', from `{scores_from}`' if scores_from else ''}: "
              "the mean in percent and its 95 % confidence interval.", ""]
    for entry in scores:
        cut = f", {entry.item_limit} per category" if entry.item_limit else ""
        lines += [f"### `{entry.candidate}`", "",
                  f"{entry.benchmark} {entry.benchmark_version}, {entry.n_items} items{cut}, {entry.fewshot}-shot, evaluated {entry.created[:10]}.", ""]
        metrics = [m for m in METRICS if any(m in row for row in entry.estimates.values())]
        lines += ["| group | items | " + " | ".join(metrics) + " |", "| --- | ---: |" + " ---: |" * len(metrics)]
        for group in ordered(Group.parse(key) for key in entry.estimates):
            row = entry.estimates[group.key]
            items = next(iter(row.values())).n if row else 0
            lines.append(f"| {group.key} | {items} | " + " | ".join(row[m].percent_text() if m in row else "–" for m in metrics) + " |")
        lines.append("")
    return lines
