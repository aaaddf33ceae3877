"""``fcbench eval``: one candidate (base model, optional adapter, few-shot K) through lm-eval's
``simple_evaluate`` on a suite's tasks, written to ``results/<candidate>/``.

A :class:`Backend` runs the candidate: ``hf`` in process, ``openai`` an OpenAI-compatible
endpoint, ``vllm`` lm-eval's vLLM. Each is set up and checked before any item is asked; the
rest (tasks, cache, scoring, the results) is the same for all. ``mode`` and ``answer_format``
(``benchmark/formats.py``) say how the prompt is made and how the answers are read.

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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from fcbench.benchmark.formats import Mode, Reading
from fcbench.benchmark.frozen import FrozenBenchmark
from fcbench.benchmark.grammar import NATIVE_FORMATS
from fcbench.benchmark.jsonl import json_text
from fcbench.benchmark.prompt import PROMPT_FORMAT_VERSION, Encoding
from fcbench.benchmark.provenance import git_commit, library_versions, sha256_file, sha256_tree
from fcbench.benchmark.results import AdapterRef, BenchmarkRef, EvalSummary, write_results
from fcbench.benchmark.scoring import SCORING_VERSION, ScoreReport, benchmark_label, score_files, write_report
from fcbench.benchmark.suites import FCBENCH, Suite, suite_of
from fcbench.models.adapters import ADAPTER_FILES, MANIFEST, verify_adapter
from fcbench.models.registry import DEFAULT_MODEL, describe, preferred_dtype, resolve_model
from fcbench.models.soft_prompt import soft_prompt_path
from fcbench.tasks import TASKS_DIR

from fcbench.errors import UserError
from fcbench.paths import RESULTS_DIR

DEFAULT_BATCH_SIZE = 16
"""The same for every candidate: padding differs with batch size, and so do greedy outputs."""


BackendName = Literal["hf", "openai", "vllm"]


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
    mode: Mode = "prompt"
    """``prompt``: fcbench's prompt and answer format; ``native``: the model's own tool template."""
    answer_format: str | None = None
    """None: ``fcbench`` in prompt mode, ``auto`` (every format, detected) in native mode."""
    backend: BackendName = "hf"
    base_url: str | None = None
    """``--backend openai``: the endpoint, e.g. ``http://127.0.0.1:8000/v1``."""
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 4
    request_timeout_s: float = 120.0
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    gpu_memory_utilization: float | None = None
    benchmark: Path | None = None
    """The user's own benchmark file: frozen and evaluated as a suite of its own (``tasks`` is its group)."""
    benchmark_name: str | None = None
    merge_adapter: bool = False
    """A LoRA adapter folded into a copy of the base weights before evaluation: the unmerged
    layers run their adapter in fp32 on a CPU (PEFT keeps adapters in fp32), the merged model in
    the base dtype. Off by default: rounding the merged weights changed verdicts on more than 1 %
    of items (docs/performance.md)."""
    shared_prefix: bool | None = None
    """The tokens every prompt of a batch starts with (the system prompt, the worked examples)
    computed once per batch instead of once per row. None: as ``fast_paths_keep_verdicts``."""
    continuous: bool | None = None
    """Continuous batching (``evaluation/continuous.py``): a row leaves the batch when its answer
    is done and a waiting prompt takes its place, so no batch decodes for its longest answer.
    None: as ``fast_paths_keep_verdicts``."""
    soft_prompt: bool = False
    """A ProMoT adapter with its stage-1 soft prompt attached, as on the task it was tuned for
    (without it, the default, is the paper's check that in-context abilities survive)."""
    constrained: bool = False
    """Decode each answer under the grammar of its item's answers (``evaluation/constrained.py``):
    a candidate of its own."""

    def reading(self) -> Reading:
        return Reading(self.answer_format or ("auto" if self.mode == "native" else "fcbench"), self.mode)

    def candidate(self) -> str:
        """``<model>[+<adapter>]-<K>shot[-native][-<format>]``: the folder under ``results/``
        and the leaderboard name. Another mode or answer format is another candidate."""
        if self.name:
            return self.name
        # A local folder is named by its last part; a Hub id keeps its owner (org--name).
        model = Path(self.model).name if Path(self.model).is_dir() else self.model.replace("/", "--")
        adapter = f"+{self.adapter.resolve().name}{'+soft-prompt' if self.soft_prompt else ''}" if self.adapter else ""
        mode = "" if self.mode == "prompt" else f"-{self.mode}"
        answer_format = f"-{self.answer_format}" if self.answer_format and self.answer_format != EvalConfig(mode=self.mode).reading().answer_format else ""
        constrained = "-constrained" if self.constrained else ""
        return f"{model}{adapter}-{self.fewshot}shot{mode}{answer_format}{constrained}"


@dataclass(slots=True)
class EvalRun:
    out_dir: Path
    summary: EvalSummary
    report: ScoreReport
    lm_eval_results: dict[str, Any] = field(repr=False)


def run_eval(cfg: EvalConfig, progress: Any = None) -> EvalRun:
    """Evaluate one candidate and write its results; see the module docstring."""
    # lm-eval warns per task about custom-dataset kwargs and per batch about truncation; the
    # truncation is counted and reported below instead.
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    started = time.perf_counter()
    if cfg.soft_prompt and (cfg.backend != "hf" or cfg.mode != "prompt"):
        raise UserError("--soft-prompt works with --backend hf in prompt mode: the prompt's vectors are spliced into the model's input in process")
    if cfg.constrained and cfg.backend != "hf":
        raise UserError("--constrained works with --backend hf: the grammar masks the model's scores in process")
    if cfg.constrained and cfg.mode == "native" and cfg.reading().answer_format not in NATIVE_FORMATS:
        raise UserError(f"--constrained in native mode needs the model's own format: --answer-format {' or '.join(NATIVE_FORMATS)} (auto cannot be one grammar)")
    if cfg.benchmark is not None:  # the user's own file, frozen as a suite of its own
        from fcbench.evaluation.user_benchmark import freeze_benchmark

        cfg = replace(cfg, tasks=(freeze_benchmark(cfg.benchmark, cfg.benchmark_name).group,))
    suite = suite_of(cfg.tasks)
    out_dir = results_folder(cfg, suite)
    backend = BACKENDS[cfg.backend](cfg, progress)
    frozen = suite.frozen()
    made_here = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _evaluate(cfg, out_dir, suite, frozen, backend, started)
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


@dataclass(slots=True)
class Backend:
    """One way of running the candidate, set up and checked before any item is asked."""

    model_args: dict[str, Any]
    """What is recorded: the ``--model_args`` of the equivalent plain lm-eval command."""
    make_lm: Callable[[], Any]
    metadata: dict[str, Any]
    """For fcbench's tasks: the tokenizer that renders prompts, the adapter, the reading."""
    model: dict[str, Any]
    """Provenance of the model (models/registry.describe, plus the endpoint for a server)."""
    identity: Callable[[Any], dict[str, Any]]
    """What the cached answers depend on besides the prompt, given the loaded lm."""
    device: str | None = None
    dtype: str | None = None
    adapter_sha256: str | None = None
    fast_paths: dict[str, bool] | None = None
    """In process: which of the paths that may round differently from lm-eval's are on, as
    resolved for the dtype (``fast_paths_keep_verdicts``). A path still stands aside where it
    does not apply: both for prompt-learning adapters, continuous batching for grammars."""


def _common_metadata(cfg: EvalConfig) -> dict[str, Any]:
    metadata: dict[str, Any] = {"fewshot": cfg.fewshot, **cfg.reading().to_json()}
    if cfg.prompt_encoding:
        metadata["prompt_encoding"] = cfg.prompt_encoding
    return metadata


def fast_paths_keep_verdicts(dtype: str) -> bool:
    """Whether the shared prefix and continuous batching are on when not asked for either way.
    Both change which rows share a forward pass and which positions a matmul computes at once.
    In float32 that moved no verdict: 200 of 200 identical to plain ``lm_eval run``, for the quick
    adapter and for the base model 3-shot (docs/performance.md). In bf16 the rounding moved 3 % of
    them, above the 1 % a default may change, and fp16 (GPUs without bf16) was not measured. There
    lm-eval's own path is the default."""
    return dtype in ("float32", "float")


def hf_backend(cfg: EvalConfig, progress: Any) -> Backend:
    """In process: lm-eval's HF backend plus fcbench's stopping criterion and KV cache."""
    import torch

    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = cfg.dtype or preferred_dtype(device)
    if cfg.adapter is not None:
        verify_adapter(cfg.adapter, cfg.model)
    model_args = _model_args(cfg, resolve_model(cfg.model), dtype)
    adapter_sha256 = sha256_tree(cfg.adapter, ADAPTER_FILES) if cfg.adapter else None
    # Native answers may hold several calls in the model's own markup: no stopping at the first object.
    json_stop = cfg.json_stop and cfg.mode == "prompt"
    fast_default = fast_paths_keep_verdicts(dtype)
    shared_prefix = fast_default if cfg.shared_prefix is None else cfg.shared_prefix
    continuous = fast_default if cfg.continuous is None else cfg.continuous
    fast_paths = {"merge_adapter": cfg.merge_adapter and cfg.adapter is not None, "shared_prefix": shared_prefix, "continuous": continuous}

    def make_lm() -> Any:
        from fcbench.evaluation.lm import FcbenchLM

        return _loaded(cfg, lambda: FcbenchLM(**model_args, batch_size=cfg.batch_size, device=device, json_stop=json_stop,
                                                 merge_adapter=cfg.merge_adapter, shared_prefix=shared_prefix, continuous=continuous,
                                                 constrained=cfg.constrained,
                                                 constrained_format=cfg.reading().answer_format,
                                                 progress=progress))

    def identity(_lm: Any) -> dict[str, Any]:
        return {"model": describe(cfg.model), "model_files": _stat_tree(Path(model_args["pretrained"])), "adapter": adapter_sha256, "dtype": dtype,
                "soft_prompt": sha256_file(soft_prompt_path(cfg.adapter)) if cfg.soft_prompt and cfg.adapter else None,
                "batch_size": cfg.batch_size, "json_stop": json_stop, **fast_paths, "libraries": library_versions(("torch", "transformers", "peft", "lm_eval")),
                **({"constrained": constrained_library()} if cfg.constrained else {})}

    return Backend(model_args, make_lm, {**model_args, **_common_metadata(cfg)}, {**describe(cfg.model), "path": model_args["pretrained"]}, identity,
                   device, dtype, adapter_sha256, fast_paths)


def openai_backend(cfg: EvalConfig, progress: Any) -> Backend:
    """A served model behind an OpenAI-compatible endpoint (``evaluation/openai_lm.py``)."""
    if not cfg.base_url:
        raise UserError("--backend openai needs --base-url, e.g. http://127.0.0.1:8000/v1")
    if cfg.adapter is not None:
        raise UserError("--backend openai evaluates what the server serves: serve the adapter under a name (vLLM: --lora-modules NAME=PATH) and pass that name as --model")
    model_args = {"base_url": cfg.base_url, "model": cfg.model, "api_key_env": cfg.api_key_env, "concurrency": cfg.concurrency, "timeout": cfg.request_timeout_s}

    def make_lm() -> Any:
        from fcbench.evaluation.openai_lm import OpenAIChatLM

        return OpenAIChatLM(**model_args, progress=progress)

    def identity(lm: Any) -> dict[str, Any]:
        return {"backend": "openai", "endpoint": lm.server, "max_gen_toks": cfg.max_gen_toks}

    return Backend(model_args, make_lm, _common_metadata(cfg), {"name": cfg.model, "source": cfg.base_url}, identity)


def vllm_model_args(cfg: EvalConfig, model_dir: str) -> dict[str, Any]:
    """lm-eval's ``vllm`` model arguments for a candidate: parallelism, dtype, and the adapter
    as vLLM's LoRA (its rank read from the adapter's config)."""
    args: dict[str, Any] = {"pretrained": model_dir, "dtype": cfg.dtype or "auto", "tensor_parallel_size": cfg.tensor_parallel_size,
                            "data_parallel_size": cfg.data_parallel_size, "batch_size": "auto", "seed": 1234}
    if cfg.gpu_memory_utilization is not None:
        args["gpu_memory_utilization"] = cfg.gpu_memory_utilization
    if cfg.adapter is not None:
        peft = json.loads((cfg.adapter / "adapter_config.json").read_text())
        if peft.get("peft_type", "LORA") != "LORA":
            raise UserError(f"{cfg.adapter}: vLLM serves LoRA adapters only, not {peft.get('peft_type')}; use --backend hf")
        args |= {"lora_local_path": str(cfg.adapter), "max_lora_rank": int(peft.get("r", 16))}
        if (cfg.adapter / "tokenizer_config.json").is_file():
            args["tokenizer"] = str(cfg.adapter)
    return args


def vllm_backend(cfg: EvalConfig, progress: Any) -> Backend:
    """lm-eval's vLLM backend (GPU only): tensor and data parallelism, LoRA adapters."""
    from importlib.util import find_spec

    if cfg.adapter is not None:
        verify_adapter(cfg.adapter, cfg.model)
    model_args = vllm_model_args(cfg, resolve_model(cfg.model))
    if find_spec("vllm") is None:
        raise UserError("--backend vllm needs vLLM on a GPU machine: pip install vllm (it brings its own CUDA torch)")
    adapter_sha256 = sha256_tree(cfg.adapter, ADAPTER_FILES) if cfg.adapter else None

    def make_lm() -> Any:
        from lm_eval.api.registry import get_model

        return _loaded(cfg, lambda: get_model("vllm")(**model_args))

    def identity(_lm: Any) -> dict[str, Any]:
        return {"backend": "vllm", **model_args, "adapter": adapter_sha256, "libraries": library_versions(("vllm", "lm_eval"))}

    metadata = {"pretrained": model_args["pretrained"], "peft": model_args.get("lora_local_path"), "tokenizer": model_args.get("tokenizer"), **_common_metadata(cfg)}
    return Backend(model_args, make_lm, metadata, {**describe(cfg.model), "path": model_args["pretrained"]}, identity, "cuda", model_args["dtype"], adapter_sha256)


BACKENDS: dict[str, Callable[[EvalConfig, Any], Backend]] = {"hf": hf_backend, "openai": openai_backend, "vllm": vllm_backend}


def _evaluate(cfg: EvalConfig, out_dir: Path, suite: Suite, frozen: FrozenBenchmark, backend: Backend, started: float) -> EvalRun:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    lm = backend.make_lm()
    include = [str(TASKS_DIR), *([str(suite.tasks_dir)] if suite.tasks_dir else [])]
    task_manager = TaskManager(include_path=include, include_defaults=False, metadata=backend.metadata)
    cache = str(out_dir / "cache" / _fingerprint(backend.identity(lm)) / "responses") if cfg.cache else None
    results = simple_evaluate(
        model=lm, tasks=list(cfg.tasks), task_manager=task_manager, limit=cfg.limit, log_samples=True, use_cache=cache,
        gen_kwargs={"max_gen_toks": cfg.max_gen_toks} if cfg.max_gen_toks else None,
    )
    seconds = time.perf_counter() - started

    samples: dict[str, list[dict[str, Any]]] = results.pop("samples")
    outputs = _write_samples(out_dir, samples)
    report = score_files(frozen.path, outputs["path"], ids=set(outputs["ids"]), label=benchmark_label(frozen), reading=cfg.reading())
    write_report(report, out_dir)
    summary = _summary(cfg, backend, frozen, results, samples, lm, seconds, len(report.items))
    if cfg.adapter is not None and (cfg.adapter / MANIFEST).is_file():
        # a copy beside the results: the folder alone then records the adapter's provenance and
        # loss curves on any machine (a CI runner has no runs/ folder)
        shutil.copyfile(cfg.adapter / MANIFEST, out_dir / MANIFEST)
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
    if cfg.soft_prompt:  # fcbench-hf only: plain lm_eval has no way to attach it
        if cfg.adapter is None:
            raise UserError("--soft-prompt attaches a ProMoT run's stage-1 prompt: it needs --adapter RUN_FOLDER")
        soft_prompt_path(cfg.adapter)  # refused early unless a ProMoT run folder
        args["soft_prompt"] = str(cfg.adapter)
    return args


def _fingerprint(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


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


def _summary(cfg: EvalConfig, backend: Backend, frozen: FrozenBenchmark, results: dict[str, Any], samples: dict[str, list[dict[str, Any]]], lm: Any,
             seconds: float, n_items: int) -> EvalSummary:
    rows = [row for task_rows in samples.values() for row in task_rows]
    server = getattr(lm, "server", None)
    return EvalSummary(
        candidate=cfg.candidate(),
        model={**backend.model, **({"server": server} if server else {})},
        adapter=AdapterRef(str(cfg.adapter), backend.adapter_sha256) if cfg.adapter else None,
        fewshot=cfg.fewshot,
        prompt_format=",".join(sorted({row["doc"]["prompt_format"] for row in rows})),
        prompt_format_version=PROMPT_FORMAT_VERSION,
        benchmark=BenchmarkRef(frozen.name, frozen.version, frozen.sha256),
        scoring_version=SCORING_VERSION,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        mode=cfg.mode,
        answer_format=cfg.reading().answer_format,
        backend=cfg.backend,
        tasks=list(cfg.tasks),
        task_versions=results.get("versions", {}),
        limit=cfg.limit,
        n_items=n_items,
        git_commit=git_commit(),
        libraries=library_versions(),
        run={
            "lm_eval_model_args": backend.model_args,
            "batch_size": cfg.batch_size if cfg.backend == "hf" else None,
            "device": backend.device,
            "dtype": backend.dtype,
            "json_stop": cfg.json_stop and cfg.mode == "prompt" and cfg.backend == "hf",
            "fast_paths": backend.fast_paths,
            "max_gen_toks": sorted({int(row["arguments"][0][1]["max_gen_toks"]) for row in rows}),
            "from_cache": n_items - lm.generated if hasattr(lm, "generated") else None,
            "truncated_prompts": count_truncated(lm, rows) if hasattr(lm, "tok_encode") else None,
            "seconds": round(seconds, 2),
            "items_per_second": round(n_items / seconds, 3) if seconds else None,
            "config": {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
            **({"constrained": constraint_record(lm)} if cfg.constrained else {}),
        },
    )


def constrained_library() -> str:
    from fcbench.evaluation.constrained import library_version

    return library_version()


def constraint_record(lm: Any) -> dict[str, Any]:
    """What the grammar did: its library, the schema keywords it could not enforce (counted over
    every item's offered functions), the rows it could not constrain, and its cost per token."""
    stats = lm.constraint
    return {
        "library": constrained_library(),
        "unenforced_keywords": dict(lm.grammars.unenforced),
        "unconstrained_rows": stats["unconstrained_rows"],
        "masked_tokens": stats["masked_tokens"],
        "mask_us_per_token": round(1e6 * stats["seconds"] / stats["masked_tokens"], 1) if stats["masked_tokens"] else None,
    }


def _jsonable(value: Any) -> Any:
    """lm-eval's results hold a few non-JSON values (numpy scalars, callables, dtypes)."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)
