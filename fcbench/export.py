"""``fcbench export RUN --out DIR [--merge]``: a run folder made shareable.

Without ``--merge`` DIR holds what the adapter is: its PEFT files and tokenizer (the files
``run.json`` checksums, so ``fcbench eval`` accepts the copy), ``run.json``, a ProMoT run's
stage-1 soft prompt, and the model card with the leaderboard's scores for the adapter. Left out:
checkpoints, logs and ``run-key.json``, which only training and ``--resume`` read.

With ``--merge`` DIR is a standalone model: the LoRA weights merged into the base
(``merge_and_unload``, in float32) and saved in the base's own dtype, with the run's tokenizer
(call tokens included), ``run.json`` and the card. ``AutoModelForCausalLM.from_pretrained(DIR)``
loads it. A prompt-tuning soft prompt is input vectors, not weights: such a run is refused. A
ProMoT run merges its LoRA adapter, the candidate ``fcbench eval`` runs by default, and leaves
the soft prompt out.

DIR is written whole or not at all: into a temporary folder beside it, renamed into place at the
end. This module wires two stages, the run folder and the leaderboard, as the CLI's modules do.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcbench.benchmark.provenance import sha256_tree
from fcbench.errors import UserError
from fcbench.leaderboard.store import evaluations, metric_estimates, opened_to_read
from fcbench.models.adapters import ADAPTER_FILES, MANIFEST, PEFT_CONFIG, read_manifest, verify_adapter
from fcbench.models.card import CardScores, base_names, write_model_card
from fcbench.models.registry import resolve_model
from fcbench.models.soft_prompt import STAGE1_DIR


class ExportRefused(UserError):
    """A run that cannot be exported as asked, or a destination that must not be written; the
    message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Exported:
    """What ``export_run`` wrote."""

    out: Path
    merged: bool
    files: list[str]
    """Paths inside ``out``, sorted."""
    scores: list[CardScores]
    notes: list[str] = field(default_factory=list)
    """What the user should know about the export: parts left out, scores not found."""


def export_run(run: Path, out: Path, *, merge: bool = False, db: Path | None = None) -> Exported:
    """Write ``run``'s shareable folder to ``out`` (see the module's docstring), with the scores
    ``db`` holds for the adapter on its card. Refused, before anything is written: a run folder
    without ``run.json``, one whose files no longer match their checksums, ``--merge`` of a
    prompt-tuning run, and an ``out`` that is a file, a folder with anything in it, or inside
    ``run``."""
    manifest = checked_run(run)
    check_destination(run, out)
    method = manifest.get("method")
    if merge and method == "prompt_tuning":
        raise ExportRefused(f"{run} is a prompt-tuning run: its soft prompt is input vectors, not weights, so there is nothing to merge into the model; export it without --merge")
    notes = []
    if merge and method == "promot":
        notes.append("the stage-1 soft prompt is left out: only the LoRA adapter is merged (export without --merge to keep it)")
    _, portable = base_names(manifest)
    named = json.loads((run / PEFT_CONFIG).read_text(encoding="utf-8")).get("base_model_name_or_path")
    if named != portable:
        notes.append(f"{PEFT_CONFIG} names the base model {named!r}, not {portable!r}, as runs trained before fcbench named it portably do: "
                     "PEFT's loaders will look for that; retrain the run to share it")

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        if merge:
            write_merged(run, manifest, staging)
        else:
            copy_adapter(run, staging)
            verify_adapter(staging, str(manifest["base_model"]["name"]), str(manifest.get("task", "call")))  # the copy passes eval's own check
        identities = {sha256_tree(run, ADAPTER_FILES)} | (set() if merge else {sha256_tree(staging, ADAPTER_FILES)})
        scores = adapter_scores(db, identities) if db is not None and db.is_file() else []
        if db is not None and not db.is_file():
            notes.append(f"no leaderboard at {db}: the card has no scores")
        shutil.copy2(run / MANIFEST, staging / MANIFEST)
        write_model_card(staging, manifest, scores, merged=merge, scores_from=str(db) if db is not None else None)
        if out.is_dir():
            out.rmdir()  # empty (checked above); rename() would replace it too, but only on POSIX
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
    return Exported(out, merge, files, scores, notes)


def checked_run(run: Path) -> dict[str, Any]:
    """The run's manifest, once the folder passed the checks evaluation makes (its own base
    model and task): a corrupted adapter is not shared."""
    if not (run / PEFT_CONFIG).is_file():
        raise ExportRefused(f"{run} is not a PEFT adapter folder (no {PEFT_CONFIG}): export takes a run folder fcbench train wrote")
    manifest = read_manifest(run)
    if manifest is None:
        raise ExportRefused(f"{run} has no {MANIFEST}: export takes a run folder fcbench train wrote (the card is made from its {MANIFEST})")
    verify_adapter(run, str((manifest.get("base_model") or {}).get("name")), str(manifest.get("task", "call")))
    return manifest


def check_destination(run: Path, out: Path) -> None:
    """Refuse an ``out`` that would overwrite anything, or that lies inside the run (the
    adapter's identity is a digest over every adapter file under the run folder)."""
    if out.exists() and not out.is_dir():
        raise ExportRefused(f"--out {out} is a file: export writes a folder; choose another path")
    if out.is_dir() and any(out.iterdir()):
        raise ExportRefused(f"--out {out} is not empty: export writes a new folder and overwrites nothing; choose another path or empty it")
    if out.resolve().is_relative_to(run.resolve()):
        raise ExportRefused(f"--out {out} is inside the run folder {run}: choose a folder outside it")


def copy_adapter(run: Path, out: Path) -> None:
    """The adapter's files (those ``run.json`` checksums), and a ProMoT run's stage-1 soft prompt."""
    for folder, target in ((run, out), (run / STAGE1_DIR, out / STAGE1_DIR)):
        present = [name for name in ADAPTER_FILES if (folder / name).is_file()]
        if present:
            target.mkdir(exist_ok=True)
        for name in present:
            shutil.copy2(folder / name, target / name)


def write_merged(run: Path, manifest: dict[str, Any], out: Path) -> None:
    """The run's LoRA adapter merged into its base model, saved with the run's tokenizer.

    Merged in float32, then cast to the dtype the base is stored in: one rounding of base plus
    update instead of two. The tokenizer is the run's: it holds any call tokens the run added,
    whose embedding rows the base gains first, as in training."""
    import torch
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    base_dir = resolve_model(str(manifest["base_model"]["name"]))
    stored = getattr(AutoConfig.from_pretrained(base_dir), "dtype", None) or torch.float32
    dtype = getattr(torch, stored) if isinstance(stored, str) else stored
    tokenizer = AutoTokenizer.from_pretrained(run)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    merged = PeftModel.from_pretrained(model, run).merge_and_unload()
    merged.to(dtype).save_pretrained(out)
    tokenizer.save_pretrained(out)


def adapter_scores(db: Path, adapter_sha256s: set[str]) -> list[CardScores]:
    """The newest evaluation, on each benchmark, of each candidate whose adapter digest is one of
    ``adapter_sha256s``, with its metrics (overall, per category, per split)."""
    with opened_to_read(db) as conn:
        newest: dict[tuple[str, str], Any] = {}
        for ev in evaluations(conn):
            if ev.adapter_sha256 in adapter_sha256s:
                newest[(ev.candidate, ev.benchmark)] = ev  # oldest first: the last one is the newest
        return [CardScores(candidate=ev.candidate, benchmark=ev.benchmark, benchmark_version=ev.benchmark_version, fewshot=ev.fewshot,
                           n_items=ev.n_items, item_limit=ev.item_limit, created=ev.created, estimates=metric_estimates(conn, ev.id))
                for _, ev in sorted(newest.items())]


def refresh_card(run: Path, db: Path, adapter_sha256: str | None = None) -> Path | None:
    """Rewrite the run folder's own model card with the leaderboard's scores for its adapter:
    what ``fcbench eval`` and ``make bench`` do once they have recorded an evaluation of it.
    The card is outside the adapter's checksums, so rewriting it changes nothing else. None: not
    a run folder fcbench trained (no ``run.json``), or no leaderboard at ``db``."""
    manifest = read_manifest(run)
    if manifest is None or not db.is_file():
        return None
    scores = adapter_scores(db, {adapter_sha256 or sha256_tree(run, ADAPTER_FILES)})
    return write_model_card(run, manifest, scores, scores_from=str(db))
