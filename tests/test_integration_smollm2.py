"""The embedded SmolLM2-135M end to end (integration: a minute or two on this CPU).

``fcbench eval`` (JSON-aware stop on), on lm-eval's own batches and with its defaults for the
dtype (in fp32 the shared prefix and continuous batching), and the plain ``lm_eval run`` command
of the README (lm-eval's hf model, no JSON stop) must give the same numbers on the same items."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fcbench.benchmark.metrics import METRICS
from fcbench.evaluation.runner import TASKS_DIR, EvalConfig, run_eval
from fcbench.models.registry import resolve_model

pytestmark = pytest.mark.integration

FEWSHOT = 3  # with worked examples the model writes JSON answers, so the JSON stop really fires
MAX_GEN_TOKS = 96


def test_fcbench_eval_and_plain_lm_eval_give_the_same_numbers(tmp_path: Path) -> None:
    model_dir = resolve_model("smollm2-135m")  # converts the GGUF on first use
    common = dict(limit=1, fewshot=FEWSHOT, max_gen_toks=MAX_GEN_TOKS, results_dir=tmp_path)
    run = run_eval(EvalConfig(**common, name="fcbench", shared_prefix=False, continuous=False))  # lm-eval's own batches
    assert run.summary.n_items == 4 and run.summary.prompt_format == "fcbench-chat-v2"
    default = run_eval(EvalConfig(**common, name="fcbench-default"))  # in fp32: the shared prefix and continuous batching

    cli_out = tmp_path / "cli"
    subprocess.run(
        [
            sys.executable, "-m", "lm_eval", "run", "--include_path", str(TASKS_DIR), "--tasks", "fcbench",
            "--model", "hf", "--model_args", f"pretrained={model_dir},dtype={run.summary.run['dtype']}",
            "--batch_size", "16", "--device", "cpu", "--limit", "1",
            "--metadata", json.dumps({"fewshot": FEWSHOT}), "--gen_kwargs", f"max_gen_toks={MAX_GEN_TOKS}",
            "--output_path", str(cli_out),
        ],
        check=True, capture_output=True,
    )
    cli = json.loads(next(cli_out.rglob("results_*.json")).read_text())["results"]
    for ours in (run.lm_eval_results["results"], default.lm_eval_results["results"]):
        for task in ("fcbench", "fcbench_simple", "fcbench_multiple", "fcbench_parallel", "fcbench_irrelevance"):
            for metric in METRICS:
                assert ours[task][f"{metric},none"] == cli[task][f"{metric},none"], (task, metric)
