"""``fcbench eval``: one candidate (base model, optional adapter, few-shot K) through lm-eval's
``simple_evaluate`` on the fcbench tasks, written to ``results/<candidate>/``.

lm-eval traps handled here rather than rediscovered:
- its response cache is keyed by prompt only, not by model (lm-eval #4063): each candidate gets
  its own cache, under a fingerprint of the model, adapter weights and settings, so a base model
  and its adapter never share answers and a retrained adapter never reuses stale ones;
- ``batch_size=auto`` picks 1 for generation, and batch size changes greedy outputs: one fixed
  batch size for every candidate, recorded with the result;
- prompts longer than the context are left-truncated with only a log line: they are counted
  and reported in the results.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fcbench.benchmark.frozen import FrozenBenchmark
from fcbench.benchmark.jsonl import json_text
from fcbench.benchmark.prompt import PROMPT_FORMAT_VERSION, Encoding
from fcbench.benchmark.provenance import git_commit, library_versions, sha256_tree
from fcbench.benchmark.results import AdapterRef, BenchmarkRef, EvalSummary, write_results
from fcbench.benchmark.scoring import SCORING_VERSION, ScoreReport, benchmark_label, score_files, write_report
from fcbench.benchmark.suites import FCBENCH, Suite, suite_of
from fcbench.models.adapters import ADAPTER_FILES, verify_adapter
from fcbench.models.registry import DEFAULT_MODEL, describe, preferred_dtype, resolve_model
from fcbench.tasks import TASKS_DIR

from fcbench.errors import UserError
from fcbench.paths import RESULTS_DIR

DEFAULT_BATCH_SIZE = 16
"""The same for every candidate: padding differs with batch size, and so do greedy outputs."""


@dataclass(frozen=True, slots=True)
class EvalConfig:
    model: str = DEFAULT_MODEL
    adapter: Path | None = None
    fewshot: int = 0
    limit: int | None = None
    """Items per category subtask (lm-eval's ``--limit``)."""
    tasks: tuple[str, ...] = (FCBENCH.group,)
    batch_size: int = DEFAULT_BATCH_SIZE
    dtype: str | None = None
    """None: bfloat16 where the hardware does it natively, else float32."""
    device: str | None = None
    prompt_encoding: Encoding | None = None
    """None: the adapter's training encoding, else chat when the tokenizer has a template."""
    max_gen_toks: int | None = None
    """None: the task's budget (256 tokens). A smaller one cuts long answers: keep it equal
    across the candidates you compare."""
    json_stop: bool = True
    cache: bool = True
    results_dir: Path = RESULTS_DIR
    name: str | None = None

    def candidate(self) -> str:
        """``<model>[+<adapter>]-<K>shot``: the folder under ``results/`` and the leaderboard name."""
        if self.name:
            return self.name
        # A local folder is named by its last part; a Hub id keeps its owner (org--name).
        model = Path(self.model).name if Path(self.model).is_dir() else self.model.replace("/", "--")
        adapter = f"+{self.adapter.resolve().name}" if self.adapter else ""
        return f"{model}{adapter}-{self.fewshot}shot"


@dataclass(slots=True)
class EvalRun:
    out_dir: Path
    summary: EvalSummary
    report: ScoreReport
    lm_eval_results: dict[str, Any] = field(repr=False)


def run_eval(cfg: EvalConfig, progress: Any = None) -> EvalRun:
    """Evaluate one candidate and write its results; see the module docstring."""
    import torch

    # lm-eval warns per task about custom-dataset kwargs and per batch about truncation; the
    # truncation is counted and reported below instead.
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    started = time.perf_counter()
    suite = suite_of(cfg.tasks)
    out_dir = results_folder(cfg, suite)
    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = cfg.dtype or preferred_dtype(device)
    if cfg.adapter is not None:
        verify_adapter(cfg.adapter, cfg.model)
    model_args = _model_args(cfg, resolve_model(cfg.model), dtype)
    adapter_sha256 = sha256_tree(cfg.adapter, ADAPTER_FILES) if cfg.adapter else None
    frozen = suite.frozen()
    made_here = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _evaluate(cfg, progress, out_dir, frozen, device, dtype, model_args, adapter_sha256, started)
    except BaseException:
        if made_here:  # a failed evaluation leaves no folder that looks like a result
            shutil.rmtree(out_dir, ignore_errors=True)
        raise


def results_folder(cfg: EvalConfig, suite: Suite) -> Path:
    """``RESULTS/[<suite folder>/]<candidate>``; a candidate name that would leave that folder
    (``../x``, ``a/b``) is refused."""
    name = cfg.candidate()
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise UserError(f"--name {name!r}: a candidate name is one folder name (no '/', no leading '.')")
    return suite.under(cfg.results_dir) / name


def _evaluate(cfg: EvalConfig, progress: Any, out_dir: Path, frozen: FrozenBenchmark, device: str, dtype: str, model_args: dict[str, Any],
              adapter_sha256: str | None, started: float) -> EvalRun:
    from fcbench.evaluation.lm import FcbenchLM
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    lm = _loaded(cfg, lambda: FcbenchLM(**model_args, batch_size=cfg.batch_size, device=device, json_stop=cfg.json_stop, progress=progress))
    metadata = {**model_args, "fewshot": cfg.fewshot}
    if cfg.prompt_encoding:
        metadata["prompt_encoding"] = cfg.prompt_encoding
    task_manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata=metadata)
    cache = str(out_dir / "cache" / _fingerprint(cfg, model_args, adapter_sha256) / "responses") if cfg.cache else None
    results = simple_evaluate(
        model=lm, tasks=list(cfg.tasks), task_manager=task_manager, limit=cfg.limit, log_samples=True, use_cache=cache,
        gen_kwargs={"max_gen_toks": cfg.max_gen_toks} if cfg.max_gen_toks else None,
    )
    seconds = time.perf_counter() - started

    samples: dict[str, list[dict[str, Any]]] = results.pop("samples")
    outputs = _write_samples(out_dir, samples)
    report = score_files(frozen.path, outputs["path"], ids=set(outputs["ids"]), label=benchmark_label(frozen))
    write_report(report, out_dir)
    summary = _summary(cfg, model_args, adapter_sha256, device, dtype, frozen, results, samples, lm, seconds, len(report.items))
    write_results(out_dir, summary, results, default=_jsonable)
    return EvalRun(out_dir, summary, report, results)


def _loaded(cfg: EvalConfig, load: Callable[[], Any]) -> Any:
    """The model (and adapter) loaded, or one line when the files cannot be: a corrupt
    safetensors file, or an adapter whose shapes or layers belong to another base model."""
    from safetensors import SafetensorError

    try:
        return load()
    except (SafetensorError, RuntimeError, ValueError, KeyError) as err:
        reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        what = f"adapter {cfg.adapter} on base model {cfg.model}" if cfg.adapter else f"model {cfg.model}"
        hint = "is it an adapter for another base model, or a damaged file? " if cfg.adapter else "is a weight file damaged? "
        raise UserError(f"the {what} could not be loaded ({type(err).__name__}: {reason}); {hint}Retrain or restore it, or pass the right --model") from None


def _model_args(cfg: EvalConfig, model_dir: str, dtype: str) -> dict[str, Any]:
    """The ``--model_args`` of the equivalent plain ``lm_eval run --model hf`` command."""
    args: dict[str, Any] = {"pretrained": model_dir, "dtype": dtype}
    if cfg.adapter is not None:
        args["peft"] = str(cfg.adapter)
        # An adapter that added tokens saved its tokenizer: prompts must be encoded with it.
        if (cfg.adapter / "tokenizer_config.json").is_file():
            args["tokenizer"] = str(cfg.adapter)
    return args


def _fingerprint(cfg: EvalConfig, model_args: dict[str, Any], adapter_sha256: str | None) -> str:
    """What the cached answers depend on besides the prompt text."""
    identity = {
        "model": describe(cfg.model),
        "model_files": _stat_tree(Path(model_args["pretrained"])),
        "adapter": adapter_sha256,
        "dtype": model_args["dtype"],
        "batch_size": cfg.batch_size,
        "json_stop": cfg.json_stop,
        "libraries": library_versions(("torch", "transformers", "peft", "lm_eval")),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _stat_tree(folder: Path) -> list[tuple[str, int, int]] | None:
    """Names, sizes and mtimes of a local model folder (hashing gigabytes of weights per run
    would cost more than the cache saves); None for a Hub id."""
    if not folder.is_dir():
        return None
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file())


def _write_samples(out_dir: Path, samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """lm-eval's per-sample logs (``samples_<task>.jsonl``) and ``predictions.jsonl`` (id and
    raw output, the input of ``fcbench score``)."""
    ids = []
    predictions_path = out_dir / "predictions.jsonl"
    with open(predictions_path, "w", encoding="utf-8") as predictions:
        for task, rows in sorted(samples.items()):
            with open(out_dir / f"samples_{task}.jsonl", "w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json_text(row, default=_jsonable) + "\n")
                    ids.append(row["doc"]["id"])
                    predictions.write(json_text({"id": row["doc"]["id"], "output": row["filtered_resps"][0]}) + "\n")
    return {"path": predictions_path, "ids": ids}


def count_truncated(lm: Any, rows: Iterable[dict[str, Any]]) -> int:
    """Prompts lm-eval left-truncated: longer than the context minus the generation budget."""
    truncated = 0
    for row in rows:
        prompt, gen_kwargs = row["arguments"][0]
        budget = lm.max_length - int(gen_kwargs.get("max_gen_toks", lm.max_gen_toks))
        truncated += len(lm.tok_encode(prompt)) > budget
    return truncated


def _summary(cfg: EvalConfig, model_args: dict[str, Any], adapter_sha256: str | None, device: str, dtype: str, frozen: FrozenBenchmark,
             results: dict[str, Any], samples: dict[str, list[dict[str, Any]]], lm: Any, seconds: float, n_items: int) -> EvalSummary:
    rows = [row for task_rows in samples.values() for row in task_rows]
    return EvalSummary(
        candidate=cfg.candidate(),
        model={**describe(cfg.model), "path": model_args["pretrained"]},
        adapter=AdapterRef(str(cfg.adapter), adapter_sha256) if cfg.adapter else None,
        fewshot=cfg.fewshot,
        prompt_format=",".join(sorted({row["doc"]["prompt_format"] for row in rows})),
        prompt_format_version=PROMPT_FORMAT_VERSION,
        benchmark=BenchmarkRef(frozen.name, frozen.version, frozen.sha256),
        scoring_version=SCORING_VERSION,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        tasks=list(cfg.tasks),
        task_versions=results.get("versions", {}),
        limit=cfg.limit,
        n_items=n_items,
        git_commit=git_commit(),
        libraries=library_versions(),
        run={
            "lm_eval_model_args": model_args,
            "batch_size": cfg.batch_size,
            "device": device,
            "dtype": dtype,
            "json_stop": cfg.json_stop,
            "max_gen_toks": sorted({int(row["arguments"][0][1]["max_gen_toks"]) for row in rows}),
            "from_cache": n_items - lm.generated,
            "truncated_prompts": count_truncated(lm, rows),
            "seconds": round(seconds, 2),
            "items_per_second": round(n_items / seconds, 3) if seconds else None,
            "config": {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        },
    )


def _jsonable(value: Any) -> Any:
    """lm-eval's results hold a few non-JSON values (numpy scalars, callables, dtypes)."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)
