"""An adapter folder as training leaves it and evaluation trusts it: which files make the
candidate, their checksums in ``run.json``, and the checks made before any weight is loaded.

A file changed or cut after training (a bad copy, a full disk, a hand edit) would otherwise be
evaluated and recorded as the trained adapter; the checksums make that an error instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fcbench.benchmark.provenance import sha256_file
from fcbench.models.registry import embedded_model

from fcbench.errors import UserError

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "chat_template.jinja")
"""What a candidate's answers depend on in its folder: the PEFT weights and config, and the
tokenizer an adapter that added tokens saves beside them."""
MANIFEST = "run.json"
MODEL_CARD = "README.md"
"""The run's model card. Not one of :data:`ADAPTER_FILES`: no answer depends on it, so it is
neither checksummed nor part of the candidate's identity, and adding scores to it later breaks
nothing."""
PEFT_CONFIG = "adapter_config.json"


class AdapterInvalid(UserError):
    """An adapter folder that must not be evaluated as it is; the message says why and what to do."""


def adapter_checksums(folder: Path) -> dict[str, str]:
    """sha256 of each adapter file present in ``folder`` (not in its subfolders), by name."""
    return {name: sha256_file(folder / name) for name in ADAPTER_FILES if (folder / name).is_file()}


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's ``run.json``, or None for an adapter fcbench did not train."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AdapterInvalid(f"{path}: not valid JSON ({err}): retrain the adapter, or remove run.json to evaluate it unchecked") from None
    if not isinstance(manifest, dict):
        raise AdapterInvalid(f"{path}: not a run manifest (a JSON object): retrain the adapter")
    return manifest


def verify_adapter(folder: Path, model: str, task: str = "call") -> None:
    """Refuse an adapter folder before anything is loaded from it: no PEFT config, another task
    than ``task`` (a question writer is no function caller), files that no longer match the
    checksums training wrote, or a base model other than the one it was trained on."""
    if not (folder / PEFT_CONFIG).is_file():
        raise AdapterInvalid(f"{folder} is not a PEFT adapter folder (no {PEFT_CONFIG})")
    manifest = read_manifest(folder)
    if manifest is None:
        return
    if manifest.get("task", "call") != task:
        if task == "call":
            raise AdapterInvalid(f"{folder} is a question writer (task: {manifest['task']}), not a function caller: use it with fcbench generate --question-writer {folder}")
        raise AdapterInvalid(f"{folder} is trained for task {manifest.get('task', 'call')!r}, not {task!r}")
    for name, expected in (manifest.get("adapter_files") or {}).items():
        path = folder / name
        if not path.is_file():
            raise AdapterInvalid(f"{path} is missing but {MANIFEST} lists it: restore the file or retrain the adapter")
        if sha256_file(path) != expected:
            raise AdapterInvalid(f"{path} does not match the sha256 in {MANIFEST} (changed or corrupted since training): restore the file or retrain the adapter")
    trained_on = (manifest.get("base_model") or {}).get("name")
    if trained_on is not None and not same_model(trained_on, model):
        raise AdapterInvalid(f"{folder} was trained on base model {trained_on!r}, not {model!r}: pass --model {trained_on}")


def same_model(a: str, b: str) -> bool:
    """Two model names that load the same model: equal, one embedded model named by fcbench's
    name and its Hub id, or two paths of one folder."""
    if a == b:
        return True
    embedded = embedded_model(a)
    if embedded is not None and embedded is embedded_model(b):
        return True
    pa, pb = Path(a), Path(b)
    return pa.is_dir() and pb.is_dir() and pa.resolve() == pb.resolve()


def name_base_model(folder: Path, base: str, loaded_from: str) -> None:
    """Name the base model in ``folder``'s PEFT config by ``base`` (its portable name) where
    PEFT wrote the folder it was loaded from: that folder is this machine's cache. PEFT's
    ``AutoPeftModelForCausalLM`` and the Hub read the name; fcbench reads ``run.json``. A prompt
    tuning config names its tokenizer too, by the same folder. Call before the checksums are
    taken: the config is one of the files they cover."""
    path = folder / PEFT_CONFIG
    config = json.loads(path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base
    if config.get("tokenizer_name_or_path") == loaded_from:
        config["tokenizer_name_or_path"] = base
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
