"""One training run: a PEFT adapter trained with TRL's ``SFTTrainer`` on prompt-completion rows
rendered by the shared prompt format (loss on the completion only, EOS learned), validation loss
every ``eval_steps``, early stopping, the best checkpoint kept as the adapter, and ``run.json``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.frozen import frozen_benchmark
from benchmark.prompt import PromptFormat, default_encoding
from benchmark.provenance import git_commit, library_versions
from benchmark.record import read_records
from benchmark.scoring import sha256_file
from models.registry import describe, preferred_dtype, resolve_model
from trainers.config import ConfigError, TrainConfig, to_json
from trainers.data import PreparedData, prompt_completion_rows


@dataclass(slots=True)
class TrainResult:
    out_dir: Path
    manifest: dict[str, Any]


def peft_config(config: TrainConfig, tokenizer: Any) -> Any:
    """The PEFT config of the method: LoRA (also on a 4-bit base) or a soft prompt."""
    from peft import LoraConfig, PromptTuningConfig, PromptTuningInit, TaskType

    if config.method in ("lora", "qlora"):
        targets = config.lora.target_modules
        return LoraConfig(
            task_type=TaskType.CAUSAL_LM, r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
            target_modules=targets[0] if targets == ["all-linear"] else targets,
        )
    if config.method == "prompt_tuning":
        return PromptTuningConfig(
            task_type=TaskType.CAUSAL_LM, num_virtual_tokens=config.prompt_tuning.num_virtual_tokens,
            prompt_tuning_init=PromptTuningInit.TEXT, prompt_tuning_init_text=config.prompt_tuning.init_text,
            tokenizer_name_or_path=tokenizer.name_or_path,
        )
    raise ConfigError(f"method {config.method!r} has no trainer")


def _load_rows(path: str, encoding: Any, tokenizer: Any, max_length: int, limit: int | None) -> PreparedData:
    records, problems = read_records(path)
    if problems:
        raise ConfigError(f"{path} has {len(problems)} unreadable record(s), first {problems[0]}; run fcbench validate")
    return prompt_completion_rows(records[:limit] if limit else records, path, encoding, tokenizer, max_length)


def train(config: TrainConfig, out_dir: Path, *, resume: bool = False) -> TrainResult:
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, EarlyStoppingCallback
    from trl import SFTConfig, SFTTrainer

    started = time.perf_counter()
    torch.manual_seed(config.seed)
    model_dir = resolve_model(config.model)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    encoding = config.prompt_encoding or default_encoding(tokenizer)
    train_data = _load_rows(config.train_file, encoding, tokenizer, config.max_length, config.max_train_records)
    validation_data = _load_rows(config.validation_file, encoding, tokenizer, config.max_length, config.max_validation_records)
    if not train_data.rows:
        raise ConfigError(f"{config.train_file}: no record fits in max_length {config.max_length}")

    dtype = preferred_dtype("cuda" if torch.cuda.is_available() else "cpu")
    model_kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype)}
    if config.method == "qlora":
        model_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=config.quant.quant_type, bnb_4bit_use_double_quant=config.quant.double_quant,
            bnb_4bit_compute_dtype=getattr(torch, config.quant.compute_dtype),
        )
    model = AutoModelForCausalLM.from_pretrained(model_dir, **model_kwargs)
    learning_rate = config.prompt_tuning.learning_rate if config.method == "prompt_tuning" else config.learning_rate
    args = SFTConfig(
        output_dir=str(out_dir / "checkpoints"),
        max_length=config.max_length,
        learning_rate=learning_rate,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a fraction of the steps
        weight_decay=config.weight_decay,
        eval_strategy="steps",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.eval_steps,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=max(1, config.eval_steps // 5),
        report_to="none",
        seed=config.seed,
        bf16=dtype == "bfloat16",
        gradient_checkpointing=config.gradient_checkpointing,
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = SFTTrainer(
        model=model, args=args, processing_class=tokenizer, peft_config=peft_config(config, tokenizer),
        train_dataset=datasets.Dataset.from_list([{k: r[k] for k in ("prompt", "completion")} for r in train_data.rows]),
        eval_dataset=datasets.Dataset.from_list([{k: r[k] for k in ("prompt", "completion")} for r in validation_data.rows]),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience)],
    )
    output = trainer.train(resume_from_checkpoint=resume or None)
    trainer.save_model(str(out_dir))  # the best checkpoint (load_best_model_at_end), adapter only
    tokenizer.save_pretrained(out_dir)
    manifest = _manifest(config, model_dir, encoding, train_data, validation_data, trainer, output, time.perf_counter() - started)
    (out_dir / "run.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return TrainResult(out_dir, manifest)


def _manifest(config: TrainConfig, model_dir: str, encoding: Any, train_data: PreparedData, validation_data: PreparedData,
              trainer: Any, output: Any, seconds: float) -> dict[str, Any]:
    history = trainer.state.log_history
    steps = trainer.state.global_step
    examples_seen = steps * config.batch_size * config.grad_accum
    frozen = frozen_benchmark()
    return {
        "name": config.name,
        "method": config.method,
        "base_model": {**describe(config.model), "path": model_dir},
        "config": to_json(config),
        "prompt_format": PromptFormat(encoding).to_json(),
        "data": {
            "train": {"path": config.train_file, "sha256": sha256_file(config.train_file), "rows": len(train_data.rows),
                      "prompt_too_long": train_data.prompt_too_long, "answer_cut": train_data.answer_cut},
            "validation": {"path": config.validation_file, "sha256": sha256_file(config.validation_file), "rows": len(validation_data.rows),
                           "prompt_too_long": validation_data.prompt_too_long, "answer_cut": validation_data.answer_cut},
        },
        "benchmark": {"name": frozen.name, "version": frozen.version, "sha256": frozen.sha256},
        "seed": config.seed,
        "git_commit": git_commit(),
        "libraries": library_versions(),
        "steps": steps,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_eval_loss": trainer.state.best_metric,
        "best_eval_perplexity": math.exp(trainer.state.best_metric) if trainer.state.best_metric is not None else None,
        "wall_seconds": round(seconds, 1),
        "train_seconds": round(output.metrics.get("train_runtime", 0.0), 1),
        "tokens_per_second": round(train_data.tokens / len(train_data.rows) * examples_seen / output.metrics["train_runtime"], 1) if output.metrics.get("train_runtime") else None,
        "loss_curve": [{"step": h["step"], "loss": h["loss"]} for h in history if "loss" in h],
        "eval_loss_curve": [{"step": h["step"], "eval_loss": h["eval_loss"]} for h in history if "eval_loss" in h],
    }
