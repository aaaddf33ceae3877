"""Speed of ``fcbench eval`` against a hand-written per-item ``model.generate`` loop.

Both run the same items (``--limit`` per category, so 4x that many), the same prompts, the same
model in the same dtype, greedy, with the same generation budget. The loop is what one writes
first: one item at a time, stopping at EOS. ``fcbench eval`` batches (16) and stops each row
once its JSON answer is final. The response cache is off, so nothing is reused.

    python -m fcbench.evaluation.perf [--limit 25]

Prints items/s of each, the ratio (goal >= 5x) and both runs' metrics, which must agree within
noise: the loop's batch of one pads nothing, so a few greedy outputs may differ.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from fcbench.benchmark.metrics import METRICS, aggregate, score_output
from fcbench.benchmark.record import read_records
from fcbench.benchmark.suites import FCBENCH
from fcbench.evaluation.runner import EvalConfig, run_eval
from fcbench.models.registry import DEFAULT_MODEL, preferred_dtype, resolve_model
from rich.console import Console
from rich.table import Table

GOAL_RATIO = 5.0


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=25, help="items per category (4 categories)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    console = Console()
    dtype = preferred_dtype("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = EvalConfig(model=args.model, limit=args.limit, cache=False, dtype=dtype, results_dir=Path(tmp), name="perf")
        run = run_eval(cfg)
        rows = [json.loads(line) for path in sorted(run.out_dir.glob("samples_*.jsonl")) for line in path.read_text().splitlines()]
    eval_seconds = run.summary.run["seconds"]
    ids = [row["doc"]["id"] for row in rows]
    prompts = [row["arguments"][0][0] for row in rows]
    max_new_tokens = int(rows[0]["arguments"][0][1]["max_gen_toks"])
    loop_outputs, loop_seconds = per_item_loop(resolve_model(args.model), prompts, max_new_tokens, dtype)

    records = {r.id: r for r in read_records(FCBENCH.frozen().path)[0]}
    loop_scores = [score_output(records[i], text) for i, text in zip(ids, loop_outputs, strict=True)]
    loop_overall = aggregate(loop_scores)["overall"]
    eval_overall = run.report.aggregates["overall"]
    n = len(ids)
    table = Table(title=f"{n} items, {args.model}, {dtype}, greedy, up to {max_new_tokens} new tokens")
    table.add_column("runner")
    table.add_column("seconds", justify="right")
    table.add_column("items/s", justify="right")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    for name, seconds, overall in (("per-item generate loop", loop_seconds, loop_overall), ("fcbench eval", eval_seconds, eval_overall)):
        table.add_row(name, f"{seconds:.1f}", f"{n / seconds:.3f}", *(f"{overall[m].mean:.3f}" for m in METRICS))
    console.print(table)
    ratio = loop_seconds / eval_seconds
    verdict = "[green]met[/]" if ratio >= GOAL_RATIO else "[red]not met[/]"
    console.print(f"fcbench eval is {ratio:.2f}x the per-item loop (goal {GOAL_RATIO:.0f}x: {verdict}); eval time includes model load and lm-eval set-up")
    by_id = {item.id: item.metric_values() for item in run.report.items}
    same = sum(score.metric_values() == by_id[score.id] for score in loop_scores)
    console.print(f"items scored identically by both: {same}/{n} (greedy outputs may differ with batch padding)")

if __name__ == "__main__":
    main()
