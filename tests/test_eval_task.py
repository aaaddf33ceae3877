"""The lm-eval task: loading, scoring through lm-eval with scripted models, and a tiny random
Llama end to end through ``fcbench eval``'s runner."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from fcbench.benchmark.metrics import METRICS
from fcbench.benchmark.prompt import PROMPT_FORMAT_VERSION
from fcbench.benchmark.record import read_records
from fcbench.benchmark.results import read_summary
from fcbench.benchmark.scoring import SCORING_VERSION
from fcbench.benchmark.suites import FCBENCH
from fcbench.evaluation.runner import TASKS_DIR, EvalConfig, run_eval
from lm_eval import simple_evaluate
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.tasks import TaskManager

CATEGORY_TASKS = ("fcbench_simple", "fcbench_multiple", "fcbench_parallel", "fcbench_irrelevance")


class ScriptedLM(LM):
    """Answers each request from its doc; remembers the contexts it was asked."""

    def __init__(self, answer) -> None:
        super().__init__()
        self.answer = answer
        self.contexts: list[str] = []

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        self.contexts += [r.args[0] for r in requests]
        return [self.answer(r.doc) for r in requests]

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError


@register_model("fcbench-oracle")
class OracleLM(ScriptedLM):
    """Returns the gold answer: every metric must be 1."""

    def __init__(self, **kwargs) -> None:
        super().__init__(lambda doc: "Here you go:\n```json\n" + doc["completion"] + "\n```")


@register_model("fcbench-garbage")
class GarbageLM(ScriptedLM):
    """Returns text with no JSON in it: every metric must be 0."""

    def __init__(self, **kwargs) -> None:
        super().__init__(lambda doc: "I would call a function { but not today")


def task_manager(**metadata) -> TaskManager:
    return TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata=metadata or None)


def evaluate(model: str | LM, limit: int | None = None, **kwargs):
    return simple_evaluate(model=model, tasks=["fcbench"], task_manager=task_manager(**kwargs.pop("metadata", {})), limit=limit, log_samples=True, **kwargs)


def test_the_task_loads_with_one_subtask_per_category_in_split_alternating_order() -> None:
    tasks = task_manager().load(["fcbench"])["tasks"]
    assert sorted(tasks) == sorted(CATEGORY_TASKS)
    sizes = {name: len(list(task.test_docs())) for name, task in tasks.items()}
    assert sizes == {"fcbench_simple": 400, "fcbench_multiple": 250, "fcbench_parallel": 200, "fcbench_irrelevance": 150}
    docs = list(tasks["fcbench_parallel"].test_docs())
    # --limit N takes the first N docs: both halves of the benchmark, equally.
    assert [d["split"] for d in docs[:4]] == ["seen_function", "unseen_function"] * 2
    assert Counter(d["split"] for d in docs[:50]) == {"seen_function": 25, "unseen_function": 25}
    assert {d["category"] for d in docs} == {"parallel"}


def test_an_oracle_scores_one_and_garbage_scores_zero_on_every_metric() -> None:
    oracle = evaluate("fcbench-oracle")["results"]
    garbage = evaluate("fcbench-garbage", limit=20)["results"]
    for name in ("fcbench", *CATEGORY_TASKS):
        for metric in METRICS:
            assert oracle[name][f"{metric},none"] == 1.0, (name, metric)
            assert garbage[name][f"{metric},none"] == 0.0, (name, metric)
    for split in ("seen_function", "unseen_function"):
        assert oracle["fcbench_simple"][f"exact_match_{split},none"] == 1.0
    assert oracle["fcbench"]["sample_len"] == 1000


def test_split_metrics_average_only_their_own_items() -> None:
    # Right on seen-function items only: the seen split scores 1, the unseen 0, overall 1/2.
    lm = ScriptedLM(lambda doc: doc["completion"] if doc["split"] == "seen_function" else "no")
    result = evaluate(lm, limit=10)["results"]["fcbench_simple"]
    assert result["exact_match,none"] == 0.5
    assert result["exact_match_seen_function,none"] == 1.0
    assert result["exact_match_unseen_function,none"] == 0.0


def test_fewshot_examples_come_from_the_fewshot_file_and_lm_evals_fewshot_is_refused() -> None:
    frozen = FCBENCH.frozen()
    shots, _ = read_records(frozen.fewshot_path)
    benchmark_questions = {r.question for r in read_records(frozen.path)[0]}
    lm = ScriptedLM(lambda doc: doc["completion"])
    evaluate(lm, limit=2, metadata={"fewshot": 3}, num_fewshot=5)
    context = lm.contexts[0]
    assert all(shot.question in context for shot in shots[:3]) and shots[3].question not in context
    # Each context holds its own question once, and no other benchmark question.
    assert all(sum(q in c for q in benchmark_questions) == 1 for c in lm.contexts)


def test_the_task_version_tracks_the_versions_it_was_set_for() -> None:
    """Changing the benchmark, the prompt format or the scoring must bump metadata.version in
    the task YAML, then the expectations below."""
    template = (TASKS_DIR / "fcbench" / "_default_template_yaml").read_text()
    version = yaml.safe_load(re.sub(r"!function \S+", "fn", template))["metadata"]["version"]
    assert (version, FCBENCH.frozen().version, PROMPT_FORMAT_VERSION, SCORING_VERSION) == (2.0, "v2", 2, 2)


def test_a_tiny_llama_runs_end_to_end_and_writes_its_results(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from rich.console import Console
    from rich.progress import Progress

    cfg = EvalConfig(model=str(tiny_llama_dir), limit=2, batch_size=4, dtype="float32", max_gen_toks=24, results_dir=tmp_path, name="tiny")
    with Progress(console=Console(file=io.StringIO())) as progress:
        run = run_eval(cfg, progress=progress)
    # the bar counts items, whether a row stopped at its answer or at the budget: 2 batches of 4
    assert [(task.completed, task.total) for task in progress.tasks] == [(8, 8)]
    summary = run.summary
    assert summary.n_items == 8 and summary.run["truncated_prompts"] == 0 and summary.run["max_gen_toks"] == [24]
    # fp32 keeps every verdict on the fast paths, so they are its default, and the record says so
    assert summary.run["fast_paths"] == {"merge_adapter": False, "shared_prefix": True, "continuous": True}
    assert summary.prompt_format == "fcbench-chat-v2"
    assert summary.benchmark.version == "v2" and summary.task_versions["fcbench_simple"] == 2.0
    assert read_summary(run.out_dir) == summary  # what the leaderboard reads is what was written
    assert summary.run["from_cache"] == 0 and run_eval(cfg).summary.run["from_cache"] == 8
    files = {p.name for p in run.out_dir.iterdir()}
    assert {"results.json", "scores.json", "items.jsonl", "predictions.jsonl", *(f"samples_{t}.jsonl" for t in CATEGORY_TASKS)} <= files
    # fcbench's own scoring of the written predictions agrees with lm-eval's aggregate.
    lm_eval_em = run.lm_eval_results["results"]["fcbench"]["exact_match,none"]
    assert run.report.aggregates["overall"]["exact_match"].mean == pytest.approx(lm_eval_em)
    items = [json.loads(line) for line in (run.out_dir / "items.jsonl").read_text().splitlines()]
    assert len(items) == 8 and all(0.0 <= item["arg_f1"] <= 1.0 for item in items)


def test_each_candidate_gets_its_own_response_cache(tiny_llama_dir: Path, tmp_path: Path) -> None:
    """lm-eval's cache is keyed by prompt only (#4063): a base model and its adapter, or an
    adapter and its retrained self, must not share answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    adapter_dir = tmp_path / "adapter"
    peft_model = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(adapter_dir)

    def cache_dirs(cfg: EvalConfig) -> set[str]:
        run_eval(cfg)
        return {p.name for p in (cfg.results_dir / cfg.candidate() / "cache").iterdir()}

    common = dict(model=str(tiny_llama_dir), limit=1, batch_size=4, dtype="float32", max_gen_toks=8, results_dir=tmp_path / "results")
    base_cache = cache_dirs(EvalConfig(**common, name="same-name"))
    adapter_cache = cache_dirs(EvalConfig(**common, adapter=adapter_dir, name="same-name"))
    assert adapter_cache - base_cache, "the adapter reused the base model's cache"
    with torch.no_grad():  # "retrain": new weights under the same path
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.add_(1.0)
    peft_model.save_pretrained(adapter_dir)
    retrained_cache = cache_dirs(EvalConfig(**common, adapter=adapter_dir, name="same-name"))
    assert retrained_cache - adapter_cache, "the retrained adapter reused the old adapter's cache"


def test_a_name_that_leaves_the_results_folder_is_refused_and_a_failed_run_leaves_no_folder(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from fcbench.errors import UserError

    for name in ("../../x", "a/b", ".hidden"):
        with pytest.raises(UserError, match="a candidate name is one folder name"):
            run_eval(EvalConfig(model=str(tiny_llama_dir), results_dir=tmp_path / "results", name=name))
    assert not (tmp_path / "results").exists() and not (tmp_path.parent / "x").exists()
    with pytest.raises(Exception):  # lm-eval knows no such subtask: the run fails inside lm-eval
        run_eval(EvalConfig(model=str(tiny_llama_dir), tasks=("fcbench_no_such_subtask",), batch_size=2, dtype="float32", results_dir=tmp_path / "results", name="broken"))
    assert not (tmp_path / "results" / "broken").exists()


def _lora_adapter(model_dir: Path, folder: Path) -> Path:
    """An untrained LoRA adapter over ``model_dir``, saved as PEFT saves one."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(folder)
    return folder


def test_an_adapter_that_changed_since_training_or_belongs_to_another_base_is_refused_before_loading(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from fcbench.models.adapters import AdapterInvalid, adapter_checksums

    adapter = _lora_adapter(tiny_llama_dir, tmp_path / "run")
    (adapter / "run.json").write_text(json.dumps({"base_model": {"name": str(tiny_llama_dir)}, "adapter_files": adapter_checksums(adapter)}))
    common = dict(tasks=("fcbench_simple",), limit=1, batch_size=1, dtype="float32", max_gen_toks=4, results_dir=tmp_path / "results", cache=False)
    assert run_eval(EvalConfig(model=str(tiny_llama_dir), adapter=adapter, **common)).summary.n_items == 1
    with pytest.raises(AdapterInvalid, match=r"was trained on base model '.*tiny-llama.*', not 'smollm2-135m': pass --model "):
        run_eval(EvalConfig(adapter=adapter, **common))
    weights = adapter / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte in the middle of the weights
    weights.write_bytes(bytes(data))
    with pytest.raises(AdapterInvalid, match=r"adapter_model.safetensors does not match the sha256 in run.json \(changed or corrupted since training\)"):
        run_eval(EvalConfig(model=str(tiny_llama_dir), adapter=adapter, **common))


def test_models_and_adapters_that_cannot_be_loaded_are_one_line_each(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from conftest import save_tiny_llama
    from transformers import AutoTokenizer

    from fcbench.errors import UserError

    common = dict(tasks=("fcbench_simple",), limit=1, batch_size=1, dtype="float32", max_gen_toks=4, results_dir=tmp_path / "results", cache=False)
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    with pytest.raises(UserError, match=r"weights.bin: is a file; --model takes an embedded model \(smollm2-135m\)"):
        run_eval(EvalConfig(model=str(tmp_path / "weights.bin"), **common))
    with pytest.raises(UserError, match=r"--model fcbench-test/no-such-model: no such folder, and no Hub model this machine can load"):
        run_eval(EvalConfig(model="fcbench-test/no-such-model", **common))
    wider = tmp_path / "wider-llama"
    save_tiny_llama(wider, AutoTokenizer.from_pretrained(tiny_llama_dir), hidden_size=64)
    foreign = _lora_adapter(wider, tmp_path / "foreign")  # no run.json: only loading can tell
    with pytest.raises(UserError, match=r"could not be loaded \(RuntimeError: .*is it an adapter for another base model"):
        run_eval(EvalConfig(model=str(tiny_llama_dir), adapter=foreign, **common))
    header = _lora_adapter(tiny_llama_dir, tmp_path / "header") / "adapter_model.safetensors"
    header.write_bytes(b"\xff" * 8 + header.read_bytes()[8:])  # the header's length, garbled
    with pytest.raises(UserError, match=r"could not be loaded \((SafetensorError|RuntimeError|OSError)"):
        run_eval(EvalConfig(model=str(tiny_llama_dir), adapter=header.parent, **common))
    assert not any((tmp_path / "results").glob("*/*")), "a failed evaluation left a results folder"


def test_a_merged_lora_adapter_answers_as_the_unmerged_one(tiny_llama_dir: Path, tmp_path: Path) -> None:
    """Merging folds B·A into the base weights: in fp32 the greedy answers are the same, and the
    model evaluated is a plain transformers model (no PEFT layers left)."""
    from fcbench.evaluation.lm import FcbenchLM
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    adapter = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False)).save_pretrained(adapter)
    (adapter / "run.json").write_text('{"name": "tiny-lora", "method": "lora"}')
    loaded = {merge: FcbenchLM(pretrained=str(tiny_llama_dir), peft=str(adapter), merge_adapter=merge, dtype="float32", batch_size=1, device="cpu") for merge in (True, False)}
    assert isinstance(loaded[False].model, PeftModel) and not isinstance(loaded[True].model, PeftModel)
    common = dict(model=str(tiny_llama_dir), adapter=adapter, limit=2, batch_size=4, dtype="float32", max_gen_toks=16, cache=False)
    merged = run_eval(EvalConfig(**common, results_dir=tmp_path / "merged", merge_adapter=True))
    unmerged = run_eval(EvalConfig(**common, results_dir=tmp_path / "unmerged", merge_adapter=False))
    # and lm-eval's own batches, where fp32 would otherwise take the shared prefix and continuous batching
    exact = run_eval(EvalConfig(**common, results_dir=tmp_path / "exact", shared_prefix=False, continuous=False))
    assert exact.summary.run["fast_paths"] == {"merge_adapter": False, "shared_prefix": False, "continuous": False}
    assert merged.summary.run["fast_paths"] == {"merge_adapter": True, "shared_prefix": True, "continuous": True}
    outputs = [[json.loads(line)["output"] for line in (run.out_dir / "predictions.jsonl").read_text().splitlines()] for run in (merged, unmerged, exact)]
    assert len(outputs[0]) == 8 and outputs[0] == outputs[1] == outputs[2]
    # the adapter's training record travels with the results (a CI runner has no runs/ folder)
    assert json.loads((merged.out_dir / "run.json").read_text()) == {"name": "tiny-lora", "method": "lora"}
