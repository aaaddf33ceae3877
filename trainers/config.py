"""Typed training configs: dataclasses loaded from YAML, with ``--set key=value`` overrides.

Unknown keys are errors (a typo must not silently train with a default), values are checked
against their field's type, and contradictions between settings are refused with a message that
says what to change.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from fcbench.benchmark.prompt import ENCODINGS, Encoding
from fcbench.models.registry import DEFAULT_MODEL

from fcbench.errors import UserError

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
"""The shipped recipes; ``--config`` takes their names (``smollm2-lora-quick``) as well as paths."""
QUICK_CONFIG = CONFIGS_DIR / "smollm2-lora-quick.yaml"
"""The recipe ``fcbench bench`` trains when no adapter exists yet."""
DDP_ACCELERATE_CONFIG = Path(__file__).resolve().parent / "accelerate" / "ddp.yaml"
"""The accelerate config of a multi-GPU launch (``--emit-slurm``)."""

Method = Literal["lora", "qlora", "prompt_tuning", "promot"]
METHODS: tuple[Method, ...] = typing.get_args(Method)


@dataclass(slots=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    """PEFT examples use 0.05; on a CPU its random masks cost ~40 % of the forward pass, and one
    epoch over fresh synthetic data does not overfit."""
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    layers_to_transform: list[int] | None = None
    """PEFT's: adapt only these decoder layers (0 is the lowest); None adapts every layer. The
    backward pass stops at the lowest adapted layer, so upper layers only train faster."""


@dataclass(slots=True)
class QuantSettings:
    load_in_4bit: bool = False
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"


@dataclass(slots=True)
class PromptTuningSettings:
    num_virtual_tokens: int = 20
    init_text: str = "Answer with one JSON function call."
    learning_rate: float = 3e-2
    """Soft prompts barely move at LoRA's learning rates."""
    max_steps: int = -1
    """ProMoT's stage 1 (the soft prompt) length; -1 uses the run's ``max_steps``/``epochs``."""


@dataclass(slots=True)
class TrainConfig:
    name: str
    method: Method = "lora"
    task: Literal["call", "question"] = "call"
    """``call``: question in, function call out (a candidate); ``question``: the reverse, a
    question writer for ``fcbench generate --question-writer`` (never evaluated as a candidate)."""
    model: str = DEFAULT_MODEL
    train_file: str = "data/train.jsonl"
    validation_file: str = "data/validation.jsonl"
    prompt_encoding: Encoding | None = None
    add_call_tokens: bool = False
    """Wrap answers in new special tokens (``benchmark.prompt.CALL_TOKENS``) whose embeddings are
    trained (PEFT ``trainable_token_indices``); the tokenizer is saved with the adapter."""
    max_length: int = 1024
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 8
    grad_accum: int = 1
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    max_grad_norm: float = 1.0
    optim: Literal["adamw_torch", "adamw_torch_fused", "paged_adamw_32bit", "paged_adamw_8bit", "adamw_8bit"] = "adamw_torch"
    """The paged and 8-bit optimizers are bitsandbytes' and need a GPU."""
    eval_steps: int = 50
    early_stopping_patience: int = 3
    group_by_length: bool = True
    """Batch records of similar length together (transformers' LengthGroupedSampler): prompts
    here range from 250 to 1,000 tokens, and padding every batch to its longest row wastes a
    third of the compute."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: saves memory (a 7B model on one GPU), costs
    time (TRL turns it on by default; a 135M model on a CPU does not need it)."""
    loss_per: Literal["token", "record"] = "token"
    """``token``: the mean over the batch's answer tokens (TRL's); ``record``: each record's
    answer weighs the same, so a short no-call answer counts as much as a long call."""
    balance_categories: bool = False
    """Train on as many records of each category as the rarest one has (after the length cap):
    see ``trainers.data.balanced_rows``."""
    max_train_records: int | None = None
    max_validation_records: int | None = None
    """Validation loss is computed every ``eval_steps``: on a CPU a few hundred records cost
    minutes each time."""
    seed: int = 0
    report_to: list[str] = field(default_factory=list)
    """transformers' logging integrations, passed through: ``tensorboard`` (event files in
    ``<run>/logs``), ``wandb`` (``WANDB_MODE=offline`` needs no network), ``mlflow``, ...; none
    by default. Not part of what a run's weights depend on (``--resume`` may change it)."""
    lora: LoraSettings = field(default_factory=LoraSettings)
    quant: QuantSettings = field(default_factory=QuantSettings)
    prompt_tuning: PromptTuningSettings = field(default_factory=PromptTuningSettings)


class ConfigError(UserError):
    """A config that cannot be trained as written; the message says where and why."""


def config_path(name_or_path: str | Path) -> Path:
    """A config file that exists, else the shipped config of that name (with or without
    ``.yaml``). Raises ConfigError naming the shipped configs when neither is found."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = CONFIGS_DIR / (path.name if path.suffix == ".yaml" else f"{path.name}.yaml")
    if shipped.is_file() and path.parent == Path("."):
        return shipped
    names = sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml"))
    raise ConfigError(f"{name_or_path}: no such config file, nor a shipped config; shipped: {', '.join(names)}")


def load_config(name_or_path: str | Path, overrides: typing.Sequence[str] = ()) -> TrainConfig:
    """Read a YAML config (a path or a shipped config's name), apply ``key=value`` overrides
    (dotted keys for nested settings, values parsed as YAML), build and check the typed config."""
    path = config_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}): save the config as UTF-8") from None
    raw = parse_yaml(text, str(path)) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys to values, got {type(raw).__name__}")
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {override!r}: expected key=value, e.g. lora.r=8")
        _set_dotted(raw, key.strip().split("."), override_value(value, f"--set {override!r}"))
    config = build(TrainConfig, raw, where=str(path))
    check(config)
    return config


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last,
    so a second ``learning_rate:`` further down would silently win)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def parse_yaml(text: str, where: str) -> Any:
    """YAML text -> Python values; a syntax error or a repeated key is one line naming where."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}:{at}: not valid YAML ({problem})") from None


def override_value(text: str, where: str) -> Any:
    """A ``--set`` value, parsed as YAML (``8`` is a number, ``[q_proj]`` a list) except that a
    ``#`` is part of the value: on a command line it is no comment (``name=run #2``)."""
    value = parse_yaml(text, where)
    if "#" in text and (value is None or isinstance(value, str)) and not text.strip().startswith(("'", '"')):
        return text.strip()
    return value


def _set_dotted(target: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        target = target.setdefault(key, {})
        if not isinstance(target, dict):
            raise ConfigError(f"--set {'.'.join(keys)}: {key!r} is not a group of settings")
    target[keys[-1]] = value


def build(cls: type, values: dict[str, Any], where: str) -> Any:
    """Instantiate dataclass ``cls`` from ``values``, refusing unknown keys and wrong types."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping for {cls.__name__}, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints[name], value, f"{where}: {name}") for name, value in values.items()}
    missing = [f.name for f in fields.values() if f.name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {missing}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _coerce(option, value, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0])
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {list(args)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return [_coerce(args[0], item, f"{where}[{i}]") for i, item in enumerate(value)]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        # YAML 1.1 reads 1e-3 (no dot) as a string; it is plainly meant as a number.
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{where} must be float, got {value!r}") from None
    if hint in (int, float, str, bool) and (type(value) is not hint):
        raise ConfigError(f"{where} must be {hint.__name__}, got {value!r}")
    return value


def check(config: TrainConfig) -> None:
    """Refuse settings that contradict each other."""
    if config.method == "qlora" and not config.quant.load_in_4bit:
        raise ConfigError("method qlora trains LoRA on a 4-bit base: set quant.load_in_4bit: true (or use method lora)")
    if config.method != "qlora" and config.quant.load_in_4bit:
        raise ConfigError(f"quant.load_in_4bit is set but method is {config.method}: use method qlora for a 4-bit base")
    if config.prompt_encoding is not None and config.prompt_encoding not in ENCODINGS:
        raise ConfigError(f"prompt_encoding must be one of {list(ENCODINGS)}")
    for name in ("max_length", "batch_size", "grad_accum", "eval_steps"):
        if getattr(config, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.max_steps < 1 and config.epochs <= 0:
        raise ConfigError("set epochs > 0 or max_steps >= 1: as written nothing would be trained")
    if config.add_call_tokens and config.method not in ("lora", "qlora"):
        raise ConfigError(f"add_call_tokens trains the new tokens' embeddings next to LoRA: use method lora or qlora, not {config.method}")
    if not 0.0 <= config.lora.dropout < 1.0:
        raise ConfigError(f"lora.dropout must be in [0, 1), got {config.lora.dropout}")
    for name, value in _ranged(config):
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name} must be a finite number above 0, got {value}")
    for name, value, low, high in (("warmup_ratio", config.warmup_ratio, 0.0, 1.0), ("weight_decay", config.weight_decay, 0.0, math.inf),
                                   ("max_grad_norm", config.max_grad_norm, 0.0, math.inf)):
        if not math.isfinite(value) or not low <= value <= high:
            raise ConfigError(f"{name} must be in [{low}, {high}], got {value}")
    if config.early_stopping_patience < 0:
        raise ConfigError(f"early_stopping_patience must be 0 (off) or more, got {config.early_stopping_patience}")
    if config.lora.layers_to_transform is not None and (not config.lora.layers_to_transform or min(config.lora.layers_to_transform) < 0):
        raise ConfigError(f"lora.layers_to_transform must list layer numbers from 0 up, or be left out for every layer; got {config.lora.layers_to_transform}")
    if config.lora.layers_to_transform is not None and config.lora.target_modules == ["all-linear"]:
        raise ConfigError("lora.layers_to_transform needs the modules named (PEFT cannot combine it with all-linear): "
                          "e.g. lora.target_modules=[q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj] for Llama-family models")
    if not config.lora.target_modules:
        raise ConfigError("lora.target_modules is empty: nothing would be trained (all-linear trains every linear layer)")
    if config.task == "question" and (config.method not in ("lora", "qlora") or config.add_call_tokens):
        raise ConfigError(f"task: question trains a question writer with LoRA or QLoRA and no call tokens (generation merges it into the base), not method {config.method!r}"
                          f"{' with add_call_tokens' if config.add_call_tokens else ''}")
    if config.report_to:
        from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

        unknown = [name for name in config.report_to if name not in INTEGRATION_TO_CALLBACK and name not in ("all", "none")]
        if unknown:
            raise ConfigError(f"report_to: unknown integration {unknown[0]!r}; transformers knows {', '.join(sorted(INTEGRATION_TO_CALLBACK))}")
    for name in ("max_train_records", "max_validation_records"):
        if getattr(config, name) is not None and getattr(config, name) < 1:
            raise ConfigError(f"{name} must be at least 1, or left out for all records; got {getattr(config, name)}")


def _ranged(config: TrainConfig) -> list[tuple[str, float]]:
    """Settings that must be finite and above zero."""
    return [("learning_rate", config.learning_rate), ("lora.r", config.lora.r), ("lora.alpha", config.lora.alpha),
            ("prompt_tuning.learning_rate", config.prompt_tuning.learning_rate), ("prompt_tuning.num_virtual_tokens", config.prompt_tuning.num_virtual_tokens)]


def to_json(config: TrainConfig) -> dict[str, Any]:
    """Every resolved setting, for the run manifest."""
    return dataclasses.asdict(config)
