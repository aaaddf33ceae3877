"""``fcbench bench`` (``make bench``): the whole loop, doing only what is missing.

data (generated if absent) -> the embedded model (converted once) -> an adapter (the quick recipe
trained if ``runs/`` has none) -> evaluations of base 0-shot, base 3-shot and every adapter in
``runs/`` that the leaderboard has no result for yet -> the leaderboard -> the report, once per
benchmark suite. With ``bfcl=True`` the same candidates are evaluated on the ``bfcl-v4`` suite
as well (BFCL's imported categories, the same ``--limit`` per category).

"No result yet" means no evaluation of the same candidate, with the same adapter weights
(sha256) and the same ``--limit``, on the current benchmark, prompt-format and scoring
versions. A retrained adapter is new; an unchanged one is never evaluated twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from fcbench.benchmark.prompt import PROMPT_FORMAT_VERSION
from fcbench.benchmark.provenance import sha256_tree
from fcbench.benchmark.results import Versions
from fcbench.benchmark.scoring import SCORING_VERSION
from fcbench.benchmark.suites import BFCL, FCBENCH, Suite, suite_of
from fcbench.evaluation.runner import EvalConfig, run_eval
from fcbench.leaderboard.compare import Gain, Ranked, gains_over, ranked_evaluations
from fcbench.leaderboard.store import DEFAULT_DB, Evaluation, find_evaluation, opened, record_results, resolve
from fcbench.models.adapters import ADAPTER_FILES, read_manifest
from fcbench.models.registry import DEFAULT_MODEL
from fcbench.models.soft_prompt import STAGE1_DIR
from fcbench.output import item_progress
from fcbench.paths import DATA_DIR, REPORT_DIR, RESULTS_DIR, RUNS_DIR
from fcbench.trainers.config import QUICK_CONFIG

BASELINE_SHOTS = (0, 3)
DEFAULT_LIMIT = 15
"""Items per category (60 in all) per candidate: the quick adapter beat base 3-shot on the first
15 of each category with p = 0.0015, and four times as many items would not fit in 15 minutes."""


@dataclass(frozen=True, slots=True)
class BenchConfig:
    model: str = DEFAULT_MODEL
    train_config: str | Path = QUICK_CONFIG
    data_dir: Path = DATA_DIR
    n_records: int = 10_000
    runs_dir: Path = RUNS_DIR
    results_dir: Path = RESULTS_DIR
    db: Path = DEFAULT_DB
    report_dir: Path = REPORT_DIR
    limit: int | None = DEFAULT_LIMIT
    """Items per category for every candidate (lm-eval --limit); None: the whole benchmark."""
    bfcl: bool = False
    """Also evaluate every candidate on the ``bfcl-v4`` suite: off by default, as on a CPU it
    would more than double the time."""

    def suites(self) -> list[Suite]:
        return [FCBENCH, *([BFCL] if self.bfcl else [])]


@dataclass(slots=True)
class BenchOutcome:
    trained: list[str] = field(default_factory=list)
    evaluated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def adapters_in(runs_dir: Path) -> list[Path]:
    """Every finished function-calling adapter folder directly under ``runs/`` (``run.json`` is
    written last; a question writer is not a candidate)."""
    if not runs_dir.is_dir():
        return []
    return sorted(p for p in runs_dir.iterdir()
                  if (p / "adapter_config.json").is_file() and (p / "run.json").is_file() and (read_manifest(p) or {}).get("task", "call") == "call")


def candidates(cfg: BenchConfig, suite: Suite = FCBENCH) -> list[EvalConfig]:
    """Base K-shot for each baseline K, then each adapter 0-shot; a ProMoT run twice, as the
    paper uses it: with its soft prompt (the task it was tuned for) and without (the check
    that in-context abilities survive)."""
    common = {"model": cfg.model, "limit": cfg.limit, "results_dir": cfg.results_dir, "tasks": (suite.group,)}
    adapters = [EvalConfig(adapter=a, soft_prompt=with_prompt, **common) for a in adapters_in(cfg.runs_dir)
                for with_prompt in ((False, True) if (a / STAGE1_DIR).is_dir() else (False,))]
    return [EvalConfig(fewshot=k, **common) for k in BASELINE_SHOTS] + adapters


def current_versions(suite: Suite = FCBENCH) -> Versions:
    """The suite's current versions (its records are made first where they are missing)."""
    benchmark = suite.frozen()
    return Versions(benchmark.name, benchmark.version, PROMPT_FORMAT_VERSION, SCORING_VERSION)


def needs_evaluation(conn: Any, eval_cfg: EvalConfig, versions: Versions | None = None) -> bool:
    """``versions``: the current ones for the candidate's tasks, when the caller has them
    already (working them out hashes the benchmark file)."""
    adapter_sha256 = sha256_tree(eval_cfg.adapter, ADAPTER_FILES) if eval_cfg.adapter else None
    found = find_evaluation(conn, candidate=eval_cfg.candidate(), versions=versions or current_versions(suite_of(eval_cfg.tasks)), adapter_sha256=adapter_sha256, item_limit=eval_cfg.limit)
    return found is None


def run_bench(cfg: BenchConfig, console: Console) -> BenchOutcome:
    """Do what is missing; see the module docstring."""
    outcome = BenchOutcome()
    # first, so that a suite that cannot be made (bfcl-eval missing) stops the bench before training
    versions = {suite.group: current_versions(suite) for suite in cfg.suites()}  # one hash per benchmark
    _timed(outcome, "data", lambda: _ensure_data(cfg, console))
    _timed(outcome, "model", lambda: _ensure_model(cfg, console))
    if not adapters_in(cfg.runs_dir):
        _timed(outcome, "train", lambda: outcome.trained.append(_train_default(cfg, console)))
    everything = [c for suite in cfg.suites() for c in candidates(cfg, suite)]
    with opened(cfg.db) as conn:
        todo = [c for c in everything if needs_evaluation(conn, c, versions[c.tasks[0]])]
    outcome.skipped = [f"{c.candidate()} on {c.tasks[0]}" for c in everything if c not in todo]
    for skipped in outcome.skipped:
        console.print(f"[dim]{skipped}: already on the leaderboard for these versions and --limit, not evaluated again[/]")
    started = time.perf_counter()
    for done, eval_cfg in enumerate(todo):
        with item_progress(f"[{done + 1}/{len(todo)}] {eval_cfg.candidate()}", console) as progress:
            run = run_eval(eval_cfg, progress=progress)
        with opened(cfg.db) as conn:
            record_results(conn, run.out_dir)
        s = run.summary
        if eval_cfg.adapter is not None and s.adapter is not None:
            from fcbench.export import refresh_card

            refresh_card(eval_cfg.adapter, cfg.db, s.adapter.sha256)  # the run folder's card gains the scores
        elapsed = time.perf_counter() - started
        # the whole evaluation stage's time left, at the pace of the candidates so far
        left = f"; about {elapsed / (done + 1) * (len(todo) - done - 1) / 60:.0f} min left for {len(todo) - done - 1} more" if done + 1 < len(todo) else ""
        console.print(f"{s.candidate} on {s.benchmark.name}: {s.n_items} items in {s.run['seconds']:.0f} s ({s.run['from_cache']} from its cache){left}")
        outcome.evaluated.append(f"{eval_cfg.candidate()} on {eval_cfg.tasks[0]}")
    if todo:
        outcome.seconds["evaluate"] = time.perf_counter() - started
    return outcome


def _timed(outcome: BenchOutcome, step: str, action: Any) -> None:
    started = time.perf_counter()
    action()
    outcome.seconds[step] = time.perf_counter() - started


def _ensure_data(cfg: BenchConfig, console: Console) -> None:
    files = [cfg.data_dir / "train.jsonl", cfg.data_dir / "validation.jsonl"]
    if all(f.is_file() for f in files):
        return
    from fcbench.generators.synth import generate

    with console.status(f"generating {cfg.n_records:,} training records into {cfg.data_dir}/"):
        generate(cfg.n_records, 0, cfg.data_dir)
    console.print(f"generated [bold]{cfg.data_dir}/[/] ({cfg.n_records:,} records)")


def _ensure_model(cfg: BenchConfig, console: Console) -> None:
    from fcbench.models.registry import EMBEDDED, prepare_embedded

    if cfg.model in EMBEDDED:
        with console.status(f"preparing the embedded model {cfg.model} (converted once, then cached)"):
            prepare_embedded(EMBEDDED[cfg.model])


def _train_default(cfg: BenchConfig, console: Console) -> str:
    from fcbench.trainers.config import load_config
    from fcbench.trainers.train import train

    data = [f"train_file={cfg.data_dir / 'train.jsonl'}", f"validation_file={cfg.data_dir / 'validation.jsonl'}"]
    train_cfg = load_config(cfg.train_config, [f"model={cfg.model}", *data])
    console.print(f"no adapter in {cfg.runs_dir}/ yet: training [bold]{train_cfg.name}[/] ({cfg.train_config})")
    result = train(train_cfg, cfg.runs_dir / train_cfg.name)
    m = result.manifest
    loss = f", best validation loss {m['best_eval_loss']:.4f}" if m["best_eval_loss"] is not None else ""
    console.print(f"{m['name']}: {m['steps']} steps in {m['train_seconds']} s{loss}")
    return train_cfg.name


@dataclass(frozen=True, slots=True)
class SuiteSummary:
    """One suite's leaderboard after the bench, its report, and the best candidate's gains."""

    suite: Suite
    version: str
    metric: str
    ranked: list[Ranked]
    report: Path
    gains: list[Gain]
    """The best candidate against each baseline that is not itself, paired."""

    @property
    def best(self) -> Ranked:
        return self.ranked[0]


def summarize(cfg: BenchConfig) -> list[SuiteSummary]:
    """Rank each suite's candidates by its primary metric and write its report."""
    from fcbench.leaderboard.report import report_from_db

    summaries = []
    for suite in cfg.suites():
        version = suite.current_version()
        with opened(cfg.db) as conn:
            ranked = ranked_evaluations(conn, suite.name, suite.primary_metric, version)
            written = report_from_db(conn, suite.under(cfg.report_dir), suite.name, suite.primary_metric, None, version)
            gains = baseline_gains(conn, ranked[0].evaluation, cfg, suite)
        summaries.append(SuiteSummary(suite, version, suite.primary_metric, ranked, written.page, gains))
    return summaries


def baseline_gains(conn: Any, best: Evaluation, cfg: BenchConfig, suite: Suite) -> list[Gain]:
    """The best candidate against each baseline that is not itself, paired, Holm over these."""
    names = [EvalConfig(model=cfg.model, fewshot=k, limit=cfg.limit).candidate() for k in BASELINE_SHOTS]
    return gains_over(conn, best, [resolve(conn, name, suite.name) for name in names], suite.primary_metric)
