"""One training run: a PEFT adapter trained with TRL's ``SFTTrainer`` on prompt-completion rows
rendered by the shared prompt format (loss on the completion only, EOS learned), validation loss
every ``eval_steps``, early stopping, the best checkpoint kept as the adapter, ``run.json`` and a
model card (``README.md``). The adapter names its base model portably (a Hub id, not this
machine's cache), and only the best and the last checkpoints are left behind.

ProMoT (arXiv 2211.00635) runs two such stages: a soft prompt is tuned first; then LoRA is
trained with that soft prompt attached and frozen, so the soft prompt soaks up the task's format
and LoRA learns less of it; the candidate is the LoRA adapter alone, evaluated without the prompt.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fcbench.benchmark.prompt import CALL_TOKENS, PromptFormat, default_encoding
from fcbench.benchmark.provenance import git_commit, library_versions, sha256_file
from fcbench.benchmark.record import read_records
from fcbench.benchmark.suites import FCBENCH
from fcbench.models.adapters import MANIFEST, MODEL_CARD, adapter_checksums, name_base_model
from fcbench.models.card import write_model_card
from fcbench.models.registry import describe, hub_id, portable_name, preferred_dtype, resolve_model
from fcbench.models.soft_prompt import STAGE1_DIR, SoftPromptSlot, placeholder
from fcbench.trainers import run_folder
from fcbench.trainers.config import ConfigError, TrainConfig, to_json
from fcbench.trainers.data import PreparedData, balanced, prompt_completion_rows
from fcbench.trainers.run_folder import TrainingDiverged, first_non_finite, prune_checkpoints


@dataclass(slots=True)
class TrainResult:
    out_dir: Path
    manifest: dict[str, Any]


@dataclass(slots=True)
class StageResult:
    """What one ``SFTTrainer.train`` call leaves for the manifest."""

    trainer: Any
    steps: int
    train_seconds: float
    examples_seen: int
    """Examples trained on by this process (after ``resumed_from``), over all data-parallel ranks."""
    resumed_from: str | None
    best_checkpoint: str | None
    best_eval_loss: float | None
    loss_curve: list[dict[str, float]]
    eval_loss_curve: list[dict[str, float]]

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": self.steps, "train_seconds": round(self.train_seconds, 1), "resumed_from": self.resumed_from,
            "best_checkpoint": self.best_checkpoint,
            "best_eval_loss": self.best_eval_loss,
            "best_eval_perplexity": math.exp(self.best_eval_loss) if self.best_eval_loss is not None else None,
            "loss_curve": self.loss_curve, "eval_loss_curve": self.eval_loss_curve,
        }


@contextmanager
def lm_head_on_labelled_positions_only() -> Iterator[None]:
    """Make TRL's fused LM head score only the positions that have a label.

    It does so on Triton devices; elsewhere it scores every position so that tile shapes stay
    fixed for graph compilers (Neuron). Eager CPU code recompiles nothing, and here only the
    answer (~10 % of the tokens) has labels: the fp32 full-vocabulary head over the prompt
    positions was 56 % of a training step. TRL reads this switch only to choose compaction (its
    kernels check their own copy), so the loss is the same; a test checks it. If a TRL release
    drops the name, training is merely slower.
    """
    import trl.trainer.utils as trl_utils

    original = getattr(trl_utils, "_use_triton", None)
    if original is None:
        yield
        return
    trl_utils._use_triton = lambda device: True
    try:
        yield
    finally:
        trl_utils._use_triton = original


def record_mean_loss(model: Any, inputs: dict[str, Any]) -> Any:
    """The answer's mean token loss per record, averaged over the records: each record weighs
    the same, however short its answer. (The Trainer averages over tokens, so a 7-token
    ``{"function_call": null}`` weighs a sixth of a 45-token call, and the one token that
    decides between a call and no call is a sliver of the batch's loss.) The LM head scores
    only the labelled positions (``logits_to_keep`` as a mask)."""
    import torch
    import torch.nn.functional as F

    labels = inputs["labels"]
    scored = torch.zeros_like(labels, dtype=torch.bool)
    scored[:, :-1] = labels[:, 1:] != -100  # position t predicts token t + 1
    model_inputs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "position_ids")}
    logits = model(**model_inputs, logits_to_keep=scored).logits
    logits = logits.reshape(-1, logits.shape[-1])
    targets = labels[:, 1:][scored[:, :-1]]
    token_loss = F.cross_entropy(logits.float(), targets, reduction="none")
    rows = scored.nonzero(as_tuple=True)[0]
    totals = torch.zeros(labels.shape[0], dtype=token_loss.dtype, device=token_loss.device).index_add(0, rows, token_loss)
    counts = torch.bincount(rows, minlength=labels.shape[0])
    present = counts > 0
    return (totals[present] / counts[present]).mean()


@cache
def sft_trainer_class(*, full_logits_loss: bool = False, loss_per: str = "token") -> type:
    """TRL's ``SFTTrainer``, made fast on a CPU without changing what it computes:

    - the forward pass runs under bf16 autocast. With ``bf16=True`` accelerate autocasts on a
      GPU but not on a CPU, so the fp32 LoRA weights (PEFT keeps adapters in fp32 for stable
      updates) made every adapted layer copy its bf16 input to fp32 and multiply in fp32: the
      forward pass took 2.3x as long;
    - the LM head scores only the answer's positions (``lm_head_on_labelled_positions_only``).

    ``full_logits_loss``: the model's own loss instead of TRL's fused LM head. The fused head
    reads the raw output weight, which misses the trained rows of added tokens (PEFT wraps the
    tied output layer to add them); the model's own forward applies them.

    ``loss_per="record"``: training weighs every record the same (:func:`record_mean_loss`);
    validation loss stays the per-token mean, comparable across recipes.
    """
    import torch
    from transformers import Trainer
    from trl import SFTTrainer

    class FcbenchSFTTrainer(SFTTrainer):
        def compute_loss(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
            per_record = loss_per == "record" and model.training and not kwargs.get("return_outputs")
            loss = Trainer.compute_loss if full_logits_loss else SFTTrainer.compute_loss

            def computed() -> Any:
                return record_mean_loss(model, inputs) if per_record else loss(self, model, inputs, *args, **kwargs)

            if self.args.device.type != "cpu":
                return computed()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.args.bf16), lm_head_on_labelled_positions_only():
                return computed()

    return FcbenchSFTTrainer


@cache
def finite_guard_class() -> type:
    """A callback that stops training at the first logged loss, gradient norm or validation
    loss that is not a finite number (``logging_nan_inf_filter`` is off, so the Trainer logs
    them as they are): weights that went non-finite never reach a checkpoint the run keeps."""
    from transformers import TrainerCallback

    class FiniteGuard(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
            what = first_non_finite(logs or {})
            if what is not None:
                raise TrainingDiverged(f"training diverged: {what} at step {state.global_step} (learning_rate {args.learning_rate:g}): "
                                       "lower the learning rate and train again; no adapter was saved")

    return FiniteGuard


def check_finite_weights(model: Any) -> None:
    """The trainable weights about to be saved are finite (the guard sees only logged steps)."""
    import torch

    for name, parameter in model.named_parameters():
        if parameter.requires_grad and not bool(torch.isfinite(parameter).all()):
            raise TrainingDiverged(f"training diverged: {name} holds non-finite values: lower the learning rate and train again; no adapter was saved")


def peft_config(config: TrainConfig, tokenizer: Any, method: str | None = None) -> Any:
    """The PEFT config of a method: LoRA (also on a 4-bit base) or a soft prompt. With call
    tokens, LoRA also trains those tokens' embedding rows (tied output rows follow)."""
    from peft import LoraConfig, PromptTuningConfig, PromptTuningInit, TaskType

    method = method or config.method
    if method in ("lora", "qlora"):
        targets = config.lora.target_modules
        new_tokens = tokenizer.convert_tokens_to_ids(list(CALL_TOKENS)) if config.add_call_tokens else None
        return LoraConfig(
            task_type=TaskType.CAUSAL_LM, r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
            target_modules=targets[0] if targets == ["all-linear"] else targets, trainable_token_indices=new_tokens,
            layers_to_transform=config.lora.layers_to_transform,
        )
    if method == "prompt_tuning":
        return PromptTuningConfig(
            task_type=TaskType.CAUSAL_LM, num_virtual_tokens=config.prompt_tuning.num_virtual_tokens,
            prompt_tuning_init=PromptTuningInit.TEXT, prompt_tuning_init_text=config.prompt_tuning.init_text,
            tokenizer_name_or_path=tokenizer.name_or_path,
        )
    raise ConfigError(f"method {method!r} has no trainer")


def virtual_tokens(config: TrainConfig) -> int:
    """Sequence positions taken by a soft prompt: they count against ``max_length``."""
    return config.prompt_tuning.num_virtual_tokens if config.method in ("prompt_tuning", "promot") else 0


def load_rows(path: str, encoding: Any, tokenizer: Any, max_length: int, limit: int | None, call_tokens: bool = False, task: str = "call") -> PreparedData:
    records, problems = read_records(path)
    if problems:
        raise ConfigError(f"{path} has {len(problems)} unreadable record(s), first {problems[0]}; run fcbench validate")
    return prompt_completion_rows(records[:limit] if limit else records, path, encoding, tokenizer, max_length, call_tokens=call_tokens, task=task)


def sft_args(config: TrainConfig, output_dir: Path, *, learning_rate: float, max_steps: int, bf16: bool, use_cpu: bool) -> Any:
    """TRL's ``SFTConfig`` for one stage. Checkpoints are saved at every evaluation so that the best
    one can be restored at the end and ``--resume`` loses at most ``eval_steps`` steps. While
    training, the Trainer's rotation keeps the best and the newest (``save_total_limit=2``; it
    never deletes either); :func:`_run_stage` then prunes the one extra it leaves when the best
    is the newest."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(output_dir),
        max_length=config.max_length,
        learning_rate=learning_rate,
        num_train_epochs=config.epochs,
        max_steps=max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a fraction of the steps
        weight_decay=config.weight_decay,
        lr_scheduler_type=config.lr_scheduler,
        max_grad_norm=config.max_grad_norm,
        optim=config.optim,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        eval_strategy="steps",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.eval_steps,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=max(1, config.eval_steps // 5),
        logging_nan_inf_filter=False,  # a NaN loss is logged as NaN, and FiniteGuard stops the run
        report_to=config.report_to or "none",
        seed=config.seed,
        bf16=bf16,
        gradient_checkpointing=config.gradient_checkpointing,
        ddp_find_unused_parameters=False,
        use_cpu=use_cpu,
    )


def sft_dataset(rows: list[dict[str, str]], prefix: str = "") -> Any:
    import datasets

    return datasets.Dataset.from_list([{"prompt": prefix + row["prompt"], "completion": row["completion"]} for row in rows])


def _checkpoint_step(path: str | Path) -> int:
    """``.../checkpoint-75`` -> 75."""
    return int(Path(path).name.rsplit("-", 1)[-1])


def last_complete_checkpoint(folder: Path) -> str | None:
    """The newest ``checkpoint-N`` that holds its trainer state, which the Trainer writes last: a
    run killed while saving leaves a partial folder, and resuming goes back one interval."""
    if not folder.is_dir():
        return None
    complete = [path for path in folder.glob("checkpoint-*") if path.name.rsplit("-", 1)[-1].isdigit() and (path / "trainer_state.json").is_file()]
    return str(max(complete, key=_checkpoint_step)) if complete else None


def _finish_wandb() -> None:
    """End the W&B run the trainer started: transformers leaves it open until the process exits,
    and the next training in the same process (a sweep point, ProMoT's second stage) would log
    into it. Finishing also writes an offline run's summary."""
    import sys

    wandb = sys.modules.get("wandb")  # imported by transformers' callback only when it reports there
    if wandb is not None and wandb.run is not None:
        wandb.finish()


def _run_stage(trainer: Any, checkpoints: Path, resume: bool) -> StageResult:
    last = last_complete_checkpoint(checkpoints) if resume else None
    try:
        output = trainer.train(resume_from_checkpoint=last)
    finally:
        _finish_wandb()
    state = trainer.state
    history = state.log_history
    if trainer.is_world_process_zero():  # the best for the adapter, the last for --resume; each is ~3x the adapter (optimizer state)
        prune_checkpoints(checkpoints, state.best_model_checkpoint, last_complete_checkpoint(checkpoints))
    return StageResult(
        trainer=trainer,
        steps=state.global_step,
        train_seconds=output.metrics.get("train_runtime", 0.0),
        resumed_from=last,
        # Steps run by this process: train_runtime does not cover those before a resume.
        examples_seen=(state.global_step - (_checkpoint_step(last) if last else 0)) * trainer.args.per_device_train_batch_size * trainer.args.gradient_accumulation_steps * trainer.args.world_size,
        best_checkpoint=state.best_model_checkpoint,
        best_eval_loss=state.best_metric,
        loss_curve=[{"step": h["step"], "loss": h["loss"]} for h in history if "loss" in h],
        eval_loss_curve=[{"step": h["step"], "eval_loss": h["eval_loss"]} for h in history if "eval_loss" in h],
    )


def train(config: TrainConfig, out_dir: Path, *, resume: bool = False) -> TrainResult:
    import torch
    from fcbench.trainers.progress import LogLines
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, EarlyStoppingCallback, PrinterCallback, ProgressCallback
    from trl.trainer.callbacks import RichProgressCallback

    from fcbench.output import console

    started = time.perf_counter()
    run_folder.preflight(config, out_dir)
    torch.manual_seed(config.seed)
    model_dir = resolve_model(config.model)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if config.add_call_tokens:
        tokenizer.add_tokens(list(CALL_TOKENS), special_tokens=True)
    encoding = config.prompt_encoding or default_encoding(tokenizer)
    room = config.max_length - virtual_tokens(config)
    train_data = load_rows(config.train_file, encoding, tokenizer, room, config.max_train_records, config.add_call_tokens, config.task)
    if config.balance_categories:
        train_data = balanced(train_data)
    validation_data = load_rows(config.validation_file, encoding, tokenizer, room, config.max_validation_records, config.add_call_tokens, config.task)
    for setting, data in (("train_file", train_data), ("validation_file", validation_data)):
        if not data.rows:
            path = getattr(config, setting)
            why = f"none of its {len(data.dropped)} records fits in max_length {config.max_length}" if data.dropped else "it holds no records"
            raise ConfigError(f"{setting} {path}: {why}; training needs records in both train_file and validation_file")
    if int(os.environ.get("RANK", "0")) == 0:  # one process clears and keys the folder
        run_folder.prepare(out_dir, run_folder.run_key(config), resume=resume, stage_dirs=(STAGE1_DIR,))

    use_cpu = not torch.cuda.is_available()
    dtype = preferred_dtype("cpu" if use_cpu else "cuda")

    def load_model() -> Any:
        kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype)}
        if config.method == "qlora":
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type=config.quant.quant_type, bnb_4bit_use_double_quant=config.quant.double_quant,
                bnb_4bit_compute_dtype=getattr(torch, config.quant.compute_dtype),
            )
        model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer))  # new rows start at the mean embedding
        return model

    def stage(method: str, folder: Path, learning_rate: float, max_steps: int, model: Any, prefix: str = "") -> StageResult:
        if "tensorboard" in config.report_to or "all" in config.report_to:  # transformers' TensorBoard callback reads its folder from here
            os.environ["TENSORBOARD_LOGGING_DIR"] = str(folder / "logs")
        args = sft_args(config, folder / "checkpoints", learning_rate=learning_rate, max_steps=max_steps, bf16=dtype == "bfloat16", use_cpu=use_cpu)
        trainer = sft_trainer_class(full_logits_loss=config.add_call_tokens, loss_per=config.loss_per)(
            model=model, args=args, processing_class=tokenizer, peft_config=peft_config(config, tokenizer, method),
            train_dataset=sft_dataset(train_data.rows, prefix), eval_dataset=sft_dataset(validation_data.rows, prefix),
            callbacks=[EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience), finite_guard_class()()],
        )
        # transformers prints its own bar, or (when its logging is quiet) every log dict: neither
        trainer.remove_callback(ProgressCallback)
        trainer.remove_callback(PrinterCallback)
        # a rich bar on a terminal, as everywhere else in fcbench; in a log, a line every 30 s
        trainer.add_callback(RichProgressCallback() if console.is_terminal else LogLines(f"train {config.name} {method}"))
        return _run_stage(trainer, folder / "checkpoints", resume)

    stages: list[StageResult] = []
    if config.method == "promot":
        stage1_dir = out_dir / STAGE1_DIR
        first = stage("prompt_tuning", stage1_dir, config.prompt_tuning.learning_rate,
                      config.prompt_tuning.max_steps if config.prompt_tuning.max_steps > 0 else config.max_steps, load_model())
        check_finite_weights(first.trainer.model)
        first.trainer.save_model(str(stage1_dir))  # a standard prompt-tuning adapter, itself a candidate
        if first.trainer.is_world_process_zero():
            name_base_model(stage1_dir, portable_name(config.model), model_dir)
            (stage1_dir / MODEL_CARD).unlink(missing_ok=True)  # PEFT's empty template; the run's card tells both stages
        soft_prompt = first.trainer.model.get_prompt_embedding_to_save("default")
        stages.append(first)
        placeholder_id, placeholder_token = placeholder(tokenizer)
        model = load_model()
        model.get_input_embeddings().register_forward_hook(SoftPromptSlot(soft_prompt, placeholder_id))
        stages.append(stage("lora", out_dir, config.learning_rate, config.max_steps, model, prefix=placeholder_token * soft_prompt.shape[0]))
    else:
        learning_rate = config.prompt_tuning.learning_rate if config.method == "prompt_tuning" else config.learning_rate
        stages.append(stage(config.method, out_dir, learning_rate, config.max_steps, load_model()))

    final = stages[-1].trainer
    check_finite_weights(final.model)
    final.save_model(str(out_dir))  # the best checkpoint (load_best_model_at_end), adapter only
    manifest = _manifest(config, model_dir, PromptFormat(encoding, call_tokens=config.add_call_tokens), train_data, validation_data, stages, time.perf_counter() - started)
    if final.is_world_process_zero():
        tokenizer.save_pretrained(out_dir)
        # PEFT named the base by the folder it was loaded from: for the embedded model, this
        # machine's cache. Renamed before the checksums, which cover the config.
        name_base_model(out_dir, manifest["base_model"]["portable_name"], model_dir)
        # Written last, with the checksums of what it describes: evaluation verifies them.
        manifest["adapter_files"] = adapter_checksums(out_dir)
        (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n")
        write_model_card(out_dir, manifest)  # replaces PEFT's template; outside the checksums
    return TrainResult(out_dir, manifest)


def _manifest(config: TrainConfig, model_dir: str, prompt_format: PromptFormat, train_data: PreparedData, validation_data: PreparedData,
              stages: list[StageResult], seconds: float) -> dict[str, Any]:
    final = stages[-1]
    frozen = FCBENCH.frozen()
    train_seconds = sum(s.train_seconds for s in stages)
    tokens_per_row = train_data.tokens / len(train_data.rows)
    examples_seen = sum(s.examples_seen for s in stages)
    manifest = {
        "name": config.name,
        "method": config.method,
        "task": config.task,
        "base_model": {**describe(config.model), "path": model_dir, "hub_id": hub_id(config.model), "portable_name": portable_name(config.model)},
        "config": to_json(config),
        "prompt_format": prompt_format.to_json(),
        "data": {
            "train": {"path": config.train_file, "sha256": sha256_file(config.train_file), "rows": len(train_data.rows),
                      "prompt_too_long": train_data.prompt_too_long, "answer_cut": train_data.answer_cut, "left_out_to_balance": train_data.unbalanced,
                      "no_call": train_data.no_call,
                      "categories": dict(sorted(Counter(row["category"] for row in train_data.rows).items()))},
            "validation": {"path": config.validation_file, "sha256": sha256_file(config.validation_file), "rows": len(validation_data.rows),
                           "prompt_too_long": validation_data.prompt_too_long, "answer_cut": validation_data.answer_cut},
        },
        "benchmark": {"name": frozen.name, "version": frozen.version, "sha256": frozen.sha256},
        "seed": config.seed,
        "git_commit": git_commit(),
        "libraries": library_versions(),
        "world_size": final.trainer.args.world_size,
        "wall_seconds": round(seconds, 1),
        # Prompt + answer tokens actually trained on (padding excluded), over all stages.
        "tokens_per_second": round(tokens_per_row * examples_seen / train_seconds, 1) if train_seconds else None,
        **final.to_json(),
        "train_seconds": round(train_seconds, 1),
    }
    if len(stages) > 1:
        manifest["stages"] = [{"name": "soft_prompt", "adapter": STAGE1_DIR, **stages[0].to_json()},
                              {"name": "lora_with_frozen_soft_prompt", "adapter": ".", **final.to_json()}]
    return manifest
