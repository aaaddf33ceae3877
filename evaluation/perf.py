"""Speed of ``fcbench eval`` against plain ``lm_eval run`` and a hand-written per-item loop.

All runs use the same items (``--limit`` per category, so 4x that many), the same prompts, the
same model (and adapter) in the same dtype, greedy, with the same generation budget, and no
response cache:

- **plain lm-eval**: ``lm_eval run --model hf`` on fcbench's tasks (what a user of lm-eval would
  run), timed in process through ``lm_eval.simple_evaluate``;
- **fcbench eval, exact**: lm-eval's computation with fcbench's JSON-aware stop, KV cache,
  streamlined LoRA layers and contiguous head input, which change no output (the default in
  bf16 and fp16);
- **fcbench eval**: the fast path, with what may round differently: continuous batching
  (``--continuous``) and the shared prefix computed once (``--shared-prefix``), the default in
  fp32, and, when named, an adapter merged into the base weights (``--merge-adapter``);
- with ``--also``, more fast paths in the same run (``--also continuous --also
  continuous,shared-prefix``), each against the same plain lm-eval run;
- with ``--loop``, the per-item ``model.generate`` loop one writes first (base model only).

    python -m fcbench.evaluation.perf [--limit 50] [--fewshot 3] [--adapter runs/NAME] [--loop] [--skip-exact]
        [--fast [continuous] [shared-prefix] [merge-adapter]] [--also PATH[,PATH...]]...

Prints each run's time, items/s and ratios, and the verdict agreement of the fast path with
plain lm-eval, every differing item listed (goal: identical verdicts on at least 99 %).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from fcbench.benchmark.metrics import METRICS, aggregate, score_output
from fcbench.benchmark.record import Record, read_records
from fcbench.benchmark.suites import FCBENCH
from fcbench.evaluation.runner import EvalConfig, run_eval
from fcbench.models.registry import DEFAULT_MODEL, preferred_dtype, resolve_model
from fcbench.tasks import TASKS_DIR
from rich.console import Console
from rich.table import Table

GOAL_RATIO = 5.0
"""fcbench eval against the per-item loop (the first round's goal)."""
GOAL_AGREEMENT = 0.99
FAST_PATHS = ("continuous", "shared-prefix", "merge-adapter")
DEFAULT_FAST = ("continuous", "shared-prefix")
"""The fast paths that keep an adapter unmerged (merging changed more than 1 % of verdicts)."""


def fast_settings(fast: set[str] | list[str]) -> dict[str, bool]:
    """EvalConfig fields for the named fast paths."""
    return {path.replace("-", "_"): path in fast for path in FAST_PATHS}


def fast_paths(text: str) -> frozenset[str]:
    """``continuous,shared-prefix`` as a set of fast paths (``--also``)."""
    paths = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(paths - set(FAST_PATHS))
    if unknown or not paths:
        raise argparse.ArgumentTypeError(f"{text!r}: name fast paths among {', '.join(FAST_PATHS)}, joined by commas")
    return paths


def fast_run_name(fast: frozenset[str], named: bool) -> str:
    """The row name of a fast run: 'fcbench eval', or with its paths where several are timed."""
    return f"fcbench eval ({'+'.join(p for p in FAST_PATHS if p in fast)})" if named else "fcbench eval"


def per_item_loop(model_dir: str, prompts: list[str], max_new_tokens: int, dtype: str) -> tuple[list[str], float]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).eval()
    outputs = []
    started = time.perf_counter()
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        outputs.append(tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))
    return outputs, time.perf_counter() - started


def plain_lm_eval(model_args: dict[str, Any], limit: int, fewshot: int, max_gen_toks: int) -> tuple[dict[str, str], float]:
    """``lm_eval run --model hf --tasks fcbench --model_args ... --metadata ...`` in process:
    outputs by id, and seconds."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    started = time.perf_counter()
    metadata = {**model_args, "fewshot": fewshot}  # as the CLI does: the model arguments reach the tasks
    results = simple_evaluate(model="hf", model_args=",".join(f"{k}={v}" for k, v in model_args.items()), tasks=[FCBENCH.group], batch_size=16,
                              device="cpu", limit=limit, task_manager=TaskManager(include_path=str(TASKS_DIR), metadata=metadata), log_samples=True,
                              metadata=metadata, gen_kwargs=f"max_gen_toks={max_gen_toks}")
    seconds = time.perf_counter() - started
    return {row["doc"]["id"]: row["filtered_resps"][0] for rows in results["samples"].values() for row in rows}, seconds


@dataclass(slots=True)
class ForwardClock:
    """Seconds and tokens of the model's forward passes during generation: prefill (several
    positions at once) apart from decode (one new token per row)."""

    prefill_seconds: float = 0.0
    prefill_tokens: int = 0
    """Positions computed, padding included."""
    prefill_real_tokens: int = 0
    decode_seconds: float = 0.0
    decode_steps: int = 0
    decode_rows: int = 0
    attention_flops: float = 0.0
    batches: list[tuple[int, int, int]] = field(default_factory=list)
    """Per batch: rows, prompt width, decode steps."""
    _started: float = 0.0

    def attach(self, model: Any) -> None:
        # a PEFT model generates through its base model, whose forward is the one that runs
        model = model.get_base_model() if hasattr(model, "get_base_model") else model
        model.register_forward_pre_hook(self._before, with_kwargs=True)
        model.register_forward_hook(self._after, with_kwargs=True)

    def _before(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._started = time.perf_counter()

    def _after(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        seconds = time.perf_counter() - self._started
        ids = kwargs.get("input_ids") if kwargs.get("input_ids") is not None else args[0]
        rows, width = ids.shape
        if width > 1:
            mask = kwargs.get("attention_mask")
            cached = mask.shape[1] - width if mask is not None else 0
            self.prefill_seconds += seconds
            self.prefill_tokens += rows * width
            self.prefill_real_tokens += int(mask[:, -width:].sum()) if mask is not None else rows * width
            config = module.config
            # q·k and attention·v: 2 matmuls of 2 FLOPs per multiply-add, causal half of the new block
            self.attention_flops += 4 * rows * config.num_hidden_layers * config.hidden_size * width * (cached + width / 2)
            self.batches.append((rows, cached + width, 0))
        else:
            if self.batches:
                rows_, width_, steps = self.batches[-1]
                self.batches[-1] = (rows_, width_, steps + 1)
            self.decode_seconds += seconds
            self.decode_steps += 1
            self.decode_rows += rows


def _linear_parameters(model: Any) -> int:
    """Parameters of the decoder layers' linear maps: the FLOPs per position are twice this."""
    return sum(m.weight.numel() for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and "layers." in name)


def profile(cfg: EvalConfig, console: Console) -> None:
    """One evaluation with its forward passes timed: where the time goes, and prefill's share
    of the bf16 matmul peak."""
    from fcbench.evaluation.lm import FcbenchLM
    from fcbench.trainers.perf import matmul_peak

    clock = ForwardClock()
    linear: list[int] = []
    original = FcbenchLM._create_model

    def instrumented(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        clock.attach(self._model)
        linear.append(_linear_parameters(self._model))

    FcbenchLM._create_model = instrumented  # type: ignore[method-assign]
    try:
        run = run_eval(cfg)
    finally:
        FcbenchLM._create_model = original  # type: ignore[method-assign]
    total = run.summary.run["seconds"]
    flops = 2 * linear[0] * clock.prefill_tokens + clock.attention_flops
    peak = matmul_peak()
    n = run.summary.n_items
    console.print(f"{n} items in {total:.1f} s ({n / total:.3f} items/s): prefill {clock.prefill_seconds:.1f} s, decode {clock.decode_seconds:.1f} s "
                  f"({clock.decode_steps} steps, {clock.decode_rows / max(clock.decode_steps, 1):.1f} rows each), the rest "
                  f"{total - clock.prefill_seconds - clock.decode_seconds:.1f} s (loading, tokenizing, scoring)")
    console.print(f"prefill: {clock.prefill_tokens} positions ({clock.prefill_tokens / n:.0f} per item; {1 - clock.prefill_real_tokens / max(clock.prefill_tokens, 1):.0%} padding), "
                  f"{flops / clock.prefill_seconds / 1e9:.0f} GFLOP/s against a bf16 matmul peak of {peak / 1e9:.0f} GFLOP/s: "
                  f"[bold]{flops / clock.prefill_seconds / peak:.0%}[/] (goal >= 40 %)")
    budget = max(run.summary.run.get("max_gen_toks") or [0])
    at_budget = sum(steps + 1 >= budget for _, _, steps in clock.batches)
    console.print(f"{len(clock.batches)} batches (rows x prompt width: decode steps): {' '.join(f'{r}x{w}:{s}' for r, w, s in clock.batches)}; "
                  f"{at_budget} ran to the {budget}-token budget")


def _outputs(out_dir: Path) -> dict[str, str]:
    return {(row := json.loads(line))["id"]: row["output"] for line in (out_dir / "predictions.jsonl").read_text().splitlines()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=25, help="items per category (4 categories)")
    parser.add_argument("--fewshot", type=int, default=0)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--adapter", type=Path, default=None)
    parser.add_argument("--loop", action="store_true", help="also time the per-item generate loop (base model only)")
    parser.add_argument("--profile", action="store_true", help="only profile fcbench eval: prefill, decode, FLOP/s")
    parser.add_argument("--fast", nargs="*", choices=FAST_PATHS, default=list(DEFAULT_FAST),
                        help=f"the fast paths of the 'fcbench eval' run (default: {' '.join(DEFAULT_FAST)}; none: no such run); with --profile, the paths profiled")
    parser.add_argument("--skip-exact", action="store_true", help="no 'fcbench eval, exact' run: the fast path against plain lm-eval only")
    parser.add_argument("--also", type=fast_paths, action="append", default=[], metavar="PATH[,PATH...]",
                        help="another fast run in the same comparison, e.g. --also continuous --also continuous,shared-prefix")
    args = parser.parse_args()
    console = Console()
    dtype = preferred_dtype("cpu")
    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            profile(EvalConfig(model=args.model, adapter=args.adapter, limit=args.limit, fewshot=args.fewshot, cache=False, dtype=dtype,
                               results_dir=Path(tmp), name="profile", **fast_settings(args.fast)), console)
        return
    records: dict[str, Record] = {r.id: r for r in read_records(FCBENCH.frozen().path)[0]}
    timings: dict[str, float] = {}
    outputs: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        common = dict(model=args.model, adapter=args.adapter, limit=args.limit, fewshot=args.fewshot, cache=False, dtype=dtype)
        fast_sets = list(dict.fromkeys(([frozenset(args.fast)] if args.fast else []) + args.also))
        runs = ([] if args.skip_exact else [("fcbench eval, exact", frozenset())]) + [(fast_run_name(f, len(fast_sets) > 1), f) for f in fast_sets]
        if not runs:
            parser.error("--skip-exact needs a fast path to time")
        for name, fast in runs:
            folder = "".join(c if c.isalnum() or c == "-" else "_" for c in name)
            run = run_eval(EvalConfig(**common, results_dir=Path(tmp) / folder, name="perf", **fast_settings(fast)))
            timings[name], outputs[name] = run.summary.run["seconds"], _outputs(run.out_dir)
            model_args = run.summary.run["lm_eval_model_args"]
            rows = [json.loads(line) for path in sorted(run.out_dir.glob("samples_*.jsonl")) for line in path.read_text().splitlines()]
    max_new_tokens = int(rows[0]["arguments"][0][1]["max_gen_toks"])
    outputs["plain lm-eval"], timings["plain lm-eval"] = plain_lm_eval(model_args, args.limit, args.fewshot, max_new_tokens)
    if args.loop and args.adapter is None:
        loop_outputs, timings["per-item loop"] = per_item_loop(resolve_model(args.model), [row["arguments"][0][0] for row in rows], max_new_tokens, dtype)
        outputs["per-item loop"] = dict(zip((row["doc"]["id"] for row in rows), loop_outputs, strict=True))

    ids = sorted(outputs[runs[0][0]])
    scores = {name: {i: score_output(records[i], texts[i]) for i in ids} for name, texts in outputs.items()}
    n = len(ids)
    what = f"{args.model}{' + ' + str(args.adapter) if args.adapter else ''}, {args.fewshot}-shot"
    table = Table(title=f"{n} items, {what}, {dtype}, greedy, up to {max_new_tokens} new tokens")
    for column in ("runner", "seconds", "items/s", "x plain lm-eval", *METRICS):
        table.add_column(column, justify="left" if column == "runner" else "right")
    fcbench_runs = [name for name, _ in runs]
    for name in ("per-item loop", "plain lm-eval", *fcbench_runs):
        if name in timings:
            overall = aggregate(list(scores[name].values()))["overall"]
            table.add_row(name, f"{timings[name]:.1f}", f"{n / timings[name]:.3f}", f"{timings['plain lm-eval'] / timings[name]:.2f}",
                          *(f"{overall[m].mean:.3f}" for m in METRICS))
    console.print(table)
    if "per-item loop" in timings:
        ratio = timings["per-item loop"] / min(timings[name] for name in fcbench_runs)
        console.print(f"fcbench eval is {ratio:.2f}x the per-item loop (goal {GOAL_RATIO:.0f}x: {'[green]met[/]' if ratio >= GOAL_RATIO else '[red]not met[/]'})")
    console.print("eval times include model load and lm-eval set-up")
    for name in fcbench_runs:
        differ = [i for i in ids if str(scores[name][i].verdict.error_type) != str(scores["plain lm-eval"][i].verdict.error_type)
                  or scores[name][i].exact_match != scores["plain lm-eval"][i].exact_match]
        share = 1 - len(differ) / n
        mark = "[green]met[/]" if share >= GOAL_AGREEMENT else "[red]not met[/]"
        console.print(f"{name}: verdicts identical to plain lm-eval on {n - len(differ)}/{n} items ({100 * share:.1f} %; goal {100 * GOAL_AGREEMENT:.0f} %: {mark})")
        for i in differ:
            console.print(f"  {i}: plain lm-eval {scores['plain lm-eval'][i].verdict.error_type}, {name} {scores[name][i].verdict.error_type}")


if __name__ == "__main__":
    main()
