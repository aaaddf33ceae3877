"""A run folder's life: what a new run clears, what ``--resume`` may continue, which
checkpoints a finished stage keeps, and the check that training stayed finite.

``--resume`` continues the newest checkpoint in the folder, so it must be a checkpoint of the
same run: ``run-key.json``, written before the first step, holds everything the weights depend
on (every setting but the name, the data files' sha256, the base model), and a resume whose
key differs is refused with the settings that differ. A new run into a used folder first
removes the old run's manifest, adapter and checkpoints, so nothing of it is left looking
finished beside the new one's.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from fcbench.benchmark.provenance import sha256_file
from fcbench.models.adapters import ADAPTER_FILES, MANIFEST, MODEL_CARD
from fcbench.models.registry import describe
from fcbench.trainers.config import ConfigError, TrainConfig, to_json

RUN_KEY = "run-key.json"
CHECKPOINTS = "checkpoints"


def run_key(config: TrainConfig) -> dict[str, Any]:
    """What a checkpoint's weights depend on; the run's name is not part of it."""
    settings = {key: value for key, value in to_json(config).items() if key not in ("name", "report_to")}
    return {"settings": settings, "base_model": describe(config.model),
            "train_sha256": sha256_file(config.train_file), "validation_sha256": sha256_file(config.validation_file)}


def differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the values that differ between two nested mappings."""
    found = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}")
    return found


def has_checkpoints(out_dir: Path) -> bool:
    return any(path.is_dir() for path in out_dir.glob(f"**/{CHECKPOINTS}/checkpoint-*"))


def prepare(out_dir: Path, key: dict[str, Any], *, resume: bool, stage_dirs: tuple[str, ...] = ()) -> None:
    """Make ``out_dir`` ready for a run with ``key``: refuse to resume another run's checkpoints,
    clear an old run out of the way of a new one, and write the key."""
    key_path = out_dir / RUN_KEY
    if resume and has_checkpoints(out_dir):
        old = json.loads(key_path.read_text()) if key_path.is_file() else None
        if old is None:
            raise ConfigError(f"{out_dir} holds checkpoints but no {RUN_KEY}, so they cannot be matched to these settings: drop --resume to start over, or train into another --out")
        changed = differences(old, key)
        if changed:
            raise ConfigError(f"{out_dir} holds checkpoints of another run (it differs in {', '.join(changed)}): drop --resume to start over, or train into another --out")
        (out_dir / MANIFEST).unlink(missing_ok=True)  # rewritten when the resumed run ends
        return
    for name in (MANIFEST, RUN_KEY, MODEL_CARD, *ADAPTER_FILES):
        (out_dir / name).unlink(missing_ok=True)
    for folder in (out_dir / CHECKPOINTS, *(out_dir / stage for stage in stage_dirs)):
        shutil.rmtree(folder, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    key_path.write_text(json.dumps(key, indent=2, sort_keys=True) + "\n")


def prune_checkpoints(checkpoints: Path, best: str | None, last: str | None) -> list[Path]:
    """Remove every ``checkpoint-N`` folder but the best (the adapter's source) and the last
    (what ``--resume`` continues); returns what was removed. The Trainer's own rotation
    (``save_total_limit=2``) keeps the best and the newest while training, but where the best is
    the newest it keeps the one before as well, and ``save_total_limit=1`` would delete the last
    at the end of training."""
    keep = {Path(path).resolve() for path in (best, last) if path}
    removed = [path for path in sorted(checkpoints.glob("checkpoint-*")) if path.is_dir() and path.resolve() not in keep]
    for path in removed:
        shutil.rmtree(path)
    return removed


class TrainingDiverged(ConfigError):
    """The loss or the weights stopped being finite numbers; nothing is saved as the adapter."""


def first_non_finite(logs: dict[str, Any]) -> str | None:
    """The first of a log's training figures that is NaN or infinite, as ``name = value``."""
    for name in ("loss", "grad_norm", "eval_loss"):
        value = logs.get(name)
        if isinstance(value, (int, float)) and not math.isfinite(value):
            return f"{name} = {value}"
    return None


def preflight(config: TrainConfig, out_dir: Path) -> None:
    """What can be refused before a tokenizer or a model is loaded: missing data files, and a
    run folder that is a file."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file: a run folder is a folder; choose another path")
    for setting, path in (("train_file", config.train_file), ("validation_file", config.validation_file)):
        if not Path(path).is_file():
            raise ConfigError(f"{setting} {path}: no such file: run fcbench generate, or set {setting} to a JSONL record file")
