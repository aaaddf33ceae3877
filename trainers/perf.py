"""Training speed of the shipped recipe against plain TRL defaults, and achieved FLOP/s against
this machine's measured bf16 matmul peak.

    python -m fcbench.trainers.perf [--config smollm2-lora-quick] [--steps 6]

Both runs train the same model on the same training rows (the recipe's prompt format and
``max_length`` filter), with the same LoRA shape, batch size and learning rate, for ``--steps``
optimizer steps after one warm-up step, with no evaluation or checkpointing in between. Speed is
trained tokens per second: prompt + answer tokens, padding excluded (padding costs time but
teaches nothing, so a recipe that pads less is rightly faster).

- *plain TRL defaults*: ``SFTConfig`` as shipped (bf16, gradient checkpointing on, random
  batches) and LoRA with PEFT's customary dropout of 0.05;
- *the recipe*: the config's own settings (no gradient checkpointing, length-grouped batches,
  LoRA dropout 0).

FLOP/s: ``torch.utils.flop_counter.FlopCounterMode`` counts the FLOPs of one recipe training
step (forward + backward) on a typical batch; that step is also timed on its own. The counter
knows the matmuls but not the CPU attention kernels, so they are registered here with the
counter's own convention for attention (the two matmuls of the forward, four of the backward,
the causal mask not discounted). The peak is the best of several 2048^3 bf16 matmuls in the
same process.
Goals (trainers issue): >= 1.5x plain defaults, >= 40 % of the bf16 matmul peak.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from fcbench.benchmark.prompt import default_encoding
from fcbench.models.registry import preferred_dtype, resolve_model
from fcbench.trainers.config import QUICK_CONFIG, TrainConfig, load_config
from fcbench.trainers.train import load_rows, peft_config, sft_args, sft_dataset, sft_trainer_class
from rich.console import Console
from rich.table import Table
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

GOAL_RATIO = 1.5
GOAL_PEAK_FRACTION = 0.40


def matmul_peak(dtype: torch.dtype = torch.bfloat16, n: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of an n x n x n matmul: the machine's practical peak for this dtype."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best


class StepClock(TrainerCallback):
    """Trainer callback: time and trained tokens from the end of the warm-up step to the end."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, int]] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.marks.append((time.perf_counter(), state.num_input_tokens_seen))

    def tokens_per_second(self) -> float:
        (t0, n0), (t1, n1) = self.marks[0], self.marks[-1]
        return (n1 - n0) / (t1 - t0)


def _trainer(config: TrainConfig, rows: list[dict[str, str]], out: Path, clock: StepClock, *, plain_defaults: bool, steps: int) -> Any:
    from trl import SFTConfig, SFTTrainer

    model_dir = resolve_model(config.model)
    dtype = preferred_dtype("cpu" if not torch.cuda.is_available() else "cuda")
    common = {"max_steps": steps + 1, "eval_strategy": "no", "save_strategy": "no", "report_to": "none", "logging_steps": 1000,
              "include_num_input_tokens_seen": "non_padding", "seed": config.seed}
    if plain_defaults:
        args = SFTConfig(output_dir=str(out), max_length=config.max_length, learning_rate=config.learning_rate,
                         per_device_train_batch_size=config.batch_size, use_cpu=not torch.cuda.is_available(), **common)
        lora = replace(config.lora, dropout=0.05)
    else:
        recipe = sft_args(config, out, learning_rate=config.learning_rate, max_steps=steps + 1, bf16=dtype == "bfloat16", use_cpu=not torch.cuda.is_available())
        args = replace(recipe, load_best_model_at_end=False, **common)  # timing only: no evaluation, no checkpoints
        lora = config.lora
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype))
    trainer_class = SFTTrainer if plain_defaults else sft_trainer_class()
    return trainer_class(model=model, args=args, processing_class=tokenizer, train_dataset=sft_dataset(rows),
                      peft_config=peft_config(replace(config, lora=lora), tokenizer), callbacks=[clock])


def _attention_flops(query_shape: Any, key_shape: Any, *, matmuls: int) -> int:
    # Two (forward) or four (backward) matmuls of (s_q x d) by (d x s_k) per batch row and query
    # head; grouped-query attention shares key heads, which changes no FLOP count.
    batch, heads, s_q, d = query_shape
    return matmuls * 2 * batch * heads * s_q * key_shape[-2] * d


def _register_cpu_attention_flops() -> None:
    from torch.utils.flop_counter import register_flop_formula

    aten = torch.ops.aten
    if aten._scaled_dot_product_flash_attention_for_cpu in torch.utils.flop_counter.flop_registry:  # once per process
        return
    register_flop_formula(aten._scaled_dot_product_flash_attention_for_cpu)(
        lambda query_shape, key_shape, *args, out_shape=None, **kwargs: _attention_flops(query_shape, key_shape, matmuls=2))
    register_flop_formula(aten._scaled_dot_product_flash_attention_for_cpu_backward)(
        lambda grad_out_shape, query_shape, key_shape, *args, out_shape=None, **kwargs: _attention_flops(query_shape, key_shape, matmuls=4))


def step_flops(trainer: Any) -> tuple[float, float, int]:
    """(FLOPs, seconds, trained tokens) of one training step on the first batch."""
    from torch.utils.flop_counter import FlopCounterMode

    _register_cpu_attention_flops()
    batch = next(iter(trainer.get_train_dataloader()))
    tokens = int(batch["attention_mask"].sum())
    model = trainer.model
    model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which is not running
    trainer.training_step(model, batch)  # warm-up
    started = time.perf_counter()
    trainer.training_step(model, batch)
    seconds = time.perf_counter() - started
    with FlopCounterMode(display=False) as counter:
        trainer.training_step(model, batch)
    return counter.get_total_flops(), seconds, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(QUICK_CONFIG))
    parser.add_argument("--steps", type=int, default=6, help="timed optimizer steps per run, after one warm-up step")
    parser.add_argument("--rows", type=int, default=400, help="training rows to draw batches from")
    args = parser.parse_args()
    console = Console()
    config = load_config(args.config)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(config.model))
    encoding = config.prompt_encoding or default_encoding(tokenizer)
    rows = load_rows(config.train_file, encoding, tokenizer, config.max_length, args.rows).rows
    speeds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, plain in (("plain TRL defaults", True), ("fcbench recipe", False)):
            clock = StepClock()
            trainer = _trainer(config, rows, Path(tmp) / label, clock, plain_defaults=plain, steps=args.steps)
            trainer.train()
            speeds[label] = clock.tokens_per_second()
            console.print(f"{label}: {speeds[label]:.1f} trained tokens/s")
            if not plain:
                flops, seconds, tokens = step_flops(trainer)
    peak = matmul_peak()
    ratio = speeds["fcbench recipe"] / speeds["plain TRL defaults"]
    achieved = flops / seconds
    table = Table(title=f"Training speed, {config.model}, {config.method} r{config.lora.r}, batch {config.batch_size}, {args.steps} steps")
    for column in ("run", "trained tokens/s"):
        table.add_column(column)
    for label, speed in speeds.items():
        table.add_row(label, f"{speed:.1f}")
    console.print(table)
    console.print(f"recipe / plain defaults: [bold]{ratio:.2f}x[/] (goal >= {GOAL_RATIO}x: {'met' if ratio >= GOAL_RATIO else 'NOT met'})")
    console.print(f"one recipe step: {flops / 1e12:.2f} TFLOP over {tokens} tokens in {seconds:.2f} s = {achieved / 1e9:.0f} GFLOP/s; "
                  f"bf16 matmul peak {peak / 1e9:.0f} GFLOP/s: [bold]{achieved / peak:.0%}[/] of peak "
                  f"(goal >= {GOAL_PEAK_FRACTION:.0%}: {'met' if achieved / peak >= GOAL_PEAK_FRACTION else 'NOT met'})")


if __name__ == "__main__":
    main()
