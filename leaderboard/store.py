"""The leaderboard store: every evaluation, its provenance, its metrics and its per-item results,
in one SQLite file.

Why SQLite and how it is used:
- one file, no server, readable by any SQL tool (``sqlite3 leaderboard/leaderboard.db``);
- WAL journal, so readers never block the writer and a crash mid-write loses nothing committed;
- each evaluation is written in one ``BEGIN IMMEDIATE`` transaction: two ``fcbench eval``
  processes finishing at once queue on the write lock (``busy_timeout``) instead of failing,
  and a reader sees an evaluation whole or not at all;
- per-item results are kept, so any two evaluations on the same benchmark version can be
  compared item by item (paired tests), not only by their means.

An evaluation is recorded from its results folder (``results/<candidate>/``, written by
``fcbench eval``): ``results.json``, ``scores.json``, ``items.jsonl`` and ``predictions.jsonl``,
and a copy of the adapter's ``run.json`` where one was put beside them. The paths written inside
them (the adapter's, the benchmark's) are kept as provenance and never opened, save the adapter
folder's run.json when the results folder has no copy: a folder copied to another machine (a
baseline committed for CI) records the same evaluation there.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fcbench.benchmark.jsonl import read_values, reject_constant
from fcbench.benchmark.metrics import Estimate
from fcbench.benchmark.results import EvalSummary, Versions, read_summary
from fcbench.models.adapters import MANIFEST

from fcbench.errors import CannotAnswer, UserError

DEFAULT_DB = Path("leaderboard/leaderboard.db")
SCHEMA_VERSION = 2
"""2: items keep the ast_match verdict too."""
BUSY_TIMEOUT_MS = 120_000
"""How long a writer waits for another one's transaction before giving up."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS evaluations (
    id                    INTEGER PRIMARY KEY,
    candidate             TEXT NOT NULL,
    base_model            TEXT NOT NULL,
    adapter_path          TEXT,
    adapter_sha256        TEXT,
    method                TEXT NOT NULL,          -- base, lora, qlora, prompt_tuning, promot
    fewshot               INTEGER NOT NULL,
    item_limit            INTEGER,                -- lm-eval --limit (items per category), NULL = all
    benchmark             TEXT NOT NULL,
    benchmark_version     TEXT NOT NULL,
    benchmark_sha256      TEXT NOT NULL,
    prompt_format         TEXT NOT NULL,
    prompt_format_version INTEGER NOT NULL,
    scoring_version       INTEGER NOT NULL,
    task_versions         TEXT NOT NULL,          -- JSON: lm-eval task -> version
    data_sha256           TEXT,                   -- training data of the adapter, from its run.json
    git_commit            TEXT,
    n_items               INTEGER NOT NULL,
    created               TEXT NOT NULL,
    results_dir           TEXT NOT NULL,
    summary               TEXT NOT NULL,          -- JSON: results.json's "fcbench" part
    run_manifest          TEXT                    -- JSON: the adapter's run.json (config, loss curves)
);
CREATE INDEX IF NOT EXISTS evaluations_by_candidate ON evaluations (candidate, benchmark, id);
CREATE INDEX IF NOT EXISTS evaluations_by_folder ON evaluations (results_dir, created);
CREATE TABLE IF NOT EXISTS metrics (
    evaluation_id INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    grp           TEXT NOT NULL,                  -- overall, a category, or split:<name>
    metric        TEXT NOT NULL,
    mean          REAL NOT NULL,
    low           REAL NOT NULL,
    high          REAL NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (evaluation_id, grp, metric)
);
CREATE TABLE IF NOT EXISTS items (
    evaluation_id INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    item_id       TEXT NOT NULL,
    category      TEXT NOT NULL,
    split         TEXT,
    verdict       TEXT NOT NULL,                  -- why not exact_match (first failure), or ok
    messages      TEXT NOT NULL,                  -- JSON list
    output        TEXT,                           -- the raw model text
    ast_verdict   TEXT,                           -- why not ast_match, or ok
    ast_messages  TEXT,                           -- JSON list
    PRIMARY KEY (evaluation_id, item_id)
);
CREATE TABLE IF NOT EXISTS item_metrics (
    evaluation_id INTEGER NOT NULL,
    item_id       TEXT NOT NULL,
    metric        TEXT NOT NULL,
    value         REAL NOT NULL,
    PRIMARY KEY (evaluation_id, item_id, metric),
    FOREIGN KEY (evaluation_id, item_id) REFERENCES items (evaluation_id, item_id) ON DELETE CASCADE
);
"""


class StoreError(UserError):
    """A results folder that cannot be recorded; the message names it and why."""


class UnknownCandidate(CannotAnswer):
    """A reference that names no recorded evaluation; the message lists the candidates."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One recorded evaluation (a row of ``evaluations``)."""

    id: int
    candidate: str
    base_model: str
    adapter_path: str | None
    adapter_sha256: str | None
    method: str
    fewshot: int
    item_limit: int | None
    benchmark: str
    benchmark_version: str
    benchmark_sha256: str
    prompt_format: str
    prompt_format_version: int
    scoring_version: int
    task_versions: str
    data_sha256: str | None
    git_commit: str | None
    n_items: int
    created: str
    results_dir: str
    summary: str
    run_manifest: str | None

    @property
    def versions(self) -> Versions:
        """What must be equal for two evaluations to be ranked or compared together."""
        return Versions(self.benchmark, self.benchmark_version, self.prompt_format_version, self.scoring_version)

    @property
    def identity(self) -> tuple[str, str | None]:
        """A candidate is its name and its adapter's weights: two adapters in folders of one
        name are two candidates."""
        return (self.candidate, self.adapter_sha256)

    def versions_text(self) -> str:
        return self.versions.describe()

    def manifest(self) -> dict[str, Any] | None:
        return json.loads(self.run_manifest) if self.run_manifest else None

    def to_json(self) -> dict[str, Any]:
        """Who the candidate is and where the evaluation came from, as JSON values: every column
        but the two that hold whole files (the summary and the run manifest), the id as
        ``evaluation_id`` (what ``#<id>`` refers to) and the task versions as an object."""
        whole_files = ("id", "summary", "run_manifest", "task_versions")
        columns = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in whole_files}
        return {"evaluation_id": self.id, **columns, "task_versions": json.loads(self.task_versions)}

    def provenance(self) -> str:
        """One short line: where the candidate came from."""
        parts = [self.base_model]
        if self.adapter_path:
            parts.append(f"{self.method} {self.adapter_path} ({(self.adapter_sha256 or '')[:8]})")
        parts.append(f"{self.fewshot}-shot")
        if self.data_sha256:
            parts.append(f"data {self.data_sha256[:8]}")
        parts.append(f"{self.prompt_format}")
        parts.append(f"git {(self.git_commit or 'unknown')[:8]}")
        parts.append(self.created[:16].replace("T", " "))
        return ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# Opening and writing


class StoreUnreadable(CannotAnswer):
    """A leaderboard file that is not a readable SQLite database: nothing can be told from it,
    least of all that a candidate regressed."""


def connect(path: str | Path = DEFAULT_DB) -> sqlite3.Connection:
    """Open (creating if needed) the store. Autocommit mode: transactions are explicit."""
    try:
        return _connect(Path(path))
    except sqlite3.DatabaseError as err:
        if _is_lock(err):
            raise  # see _lock_waits_bounded
        raise StoreUnreadable(f"{path} cannot be read as a leaderboard ({err}): restore it from a copy, or point --db at another file") from err


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _use_wal(conn)
        conn.execute("PRAGMA foreign_keys = ON")
        with _transaction(conn):
            _create_schema(conn)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(items)")}
            for column in ("ast_verdict", "ast_messages"):  # a version-1 file gains them
                if column not in columns:
                    conn.execute(f"ALTER TABLE items ADD COLUMN {column} TEXT")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.close()
        raise
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to write-ahead logging. Two processes creating one file can both try at once, and
    SQLite answers the loser 'database is locked' at once, without its busy handler: retry
    within the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _create_schema(conn: sqlite3.Connection) -> None:
    # executescript() would COMMIT the open transaction first; run the statements one by one.
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE takes the write lock up front, so a second writer waits at the start
    (busy_timeout) rather than failing half-way with 'database is locked'."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _is_lock(err: sqlite3.Error) -> bool:
    return isinstance(err, sqlite3.OperationalError) and ("locked" in str(err) or "busy" in str(err))


class StoreBusy(CannotAnswer):
    """Another process held the leaderboard's lock for longer than fcbench waits."""


@contextmanager
def _lock_waits_bounded(path: Path, waited_s: float) -> Iterator[None]:
    """SQLite reports a lock it waited for in vain as 'database is locked' (or 'busy'): that is
    no answer about the candidates, so it becomes one line naming the file and the wait."""
    try:
        yield
    except sqlite3.OperationalError as err:
        if not _is_lock(err):
            raise
        raise StoreBusy(f"{path} is locked by another process (waited {waited_s:g} s): try again once it has finished") from err


@contextmanager
def opened(path: str | Path = DEFAULT_DB) -> Iterator[sqlite3.Connection]:
    with _lock_waits_bounded(Path(path), BUSY_TIMEOUT_MS / 1000):
        with closing(connect(path)) as conn:
            yield conn


@contextmanager
def opened_to_read(path: str | Path = DEFAULT_DB) -> Iterator[sqlite3.Connection]:
    """The store opened read-only, for the commands that only ask it questions: a missing file
    is not created, and a read-only file or folder is no obstacle."""
    path = Path(path)
    if not path.is_file():
        raise StoreUnreadable(f"no leaderboard at {path}: run fcbench eval (or make bench) first, or point --db at one")
    with _lock_waits_bounded(path, READ_TIMEOUT_S):
        yield from _read_only(path)


def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    try:
        # Where the file or its folder cannot be written, SQLite cannot keep its WAL index
        # either: read the file as it is (nobody can be writing it).
        frozen = not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
        uri = f"{path.resolve().as_uri()}?mode=ro{'&immutable=1' if frozen else ''}"
        conn = sqlite3.connect(uri, uri=True, timeout=READ_TIMEOUT_S, isolation_level=None)
    except sqlite3.DatabaseError as err:
        raise StoreUnreadable(f"{path} cannot be opened as a leaderboard ({err}): check the file, or point --db at another one") from err
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(READ_TIMEOUT_S * 1000)}")
        conn.row_factory = sqlite3.Row
        conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()  # a garbage file fails here
    except sqlite3.DatabaseError as err:
        conn.close()
        if _is_lock(err):
            raise  # see _lock_waits_bounded
        raise StoreUnreadable(f"{path} cannot be read as a leaderboard ({err}): restore it from a copy, or point --db at another file") from err
    with closing(conn):
        yield conn


READ_TIMEOUT_S = 10.0
"""How long a read waits for a lock (WAL readers rarely wait at all); then it cannot answer."""


def record_results(conn: sqlite3.Connection, results_dir: str | Path) -> int:
    """Record the evaluation written to ``results_dir`` by ``fcbench eval``; returns its id.
    Recording the same evaluation again (same folder, same creation time) returns the first id."""
    results_dir = Path(results_dir)
    try:
        return _record(conn, results_dir)
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, StoreError):
            raise
        raise StoreError(f"{results_dir}: not a complete fcbench results folder ({type(err).__name__}: {err})") from err


def _record(conn: sqlite3.Connection, results_dir: Path) -> int:
    summary = read_summary(results_dir)
    items = _read_jsonl(results_dir / "items.jsonl")
    outputs = {row["id"]: row["output"] for row in _read_jsonl(results_dir / "predictions.jsonl")}
    scores = json.loads((results_dir / "scores.json").read_text(encoding="utf-8"), parse_constant=reject_constant)
    _check_complete(results_dir, summary, items)
    manifest = _run_manifest(results_dir, summary)
    metric_names = list(scores["metrics"].get("overall", {}))
    row = _evaluation_row(summary, manifest, results_dir, len(items))
    with _transaction(conn):
        already = conn.execute("SELECT id FROM evaluations WHERE results_dir = ? AND created = ?", (row["results_dir"], row["created"])).fetchone()
        if already:
            return int(already[0])
        columns = ", ".join(row)
        cursor = conn.execute(f"INSERT INTO evaluations ({columns}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
        evaluation_id = int(cursor.lastrowid or 0)
        conn.executemany(
            "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(evaluation_id, group, metric, e["mean"], e["low"], e["high"], e["n"])
             for group, estimates in scores["metrics"].items() for metric, e in estimates.items()],
        )
        conn.executemany(
            "INSERT INTO items (evaluation_id, item_id, category, split, verdict, messages, output, ast_verdict, ast_messages) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(evaluation_id, it["id"], it["category"], it.get("split"), it["verdict"], json.dumps(it.get("messages", [])), outputs.get(it["id"]),
              it.get("ast_verdict"), json.dumps(it.get("ast_messages", [])))
             for it in items],
        )
        conn.executemany(
            "INSERT INTO item_metrics VALUES (?, ?, ?, ?)",
            [(evaluation_id, it["id"], metric, float(it[metric])) for it in items for metric in metric_names],
        )
    return evaluation_id


def _check_complete(results_dir: Path, summary: EvalSummary, items: list[dict[str, Any]]) -> None:
    """A folder is recorded whole or not at all: every item the summary counts, each once."""
    if len(items) != summary.n_items:
        raise StoreError(f"{results_dir}/items.jsonl has {len(items)} rows but results.json counts {summary.n_items} items: "
                         "the folder is incomplete (cut short?); evaluate again")
    ids = [row.get("id") for row in items]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise StoreError(f"{results_dir}/items.jsonl scores {len(repeated)} item id(s) more than once ({', '.join(map(str, repeated[:3]))}): not a folder fcbench wrote")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise StoreError(f"{path} is missing")
    try:
        return read_values(path)
    except ValueError as err:
        raise StoreError(str(err)) from err


RUN_MANIFEST = MANIFEST  # the adapter's run.json, as training writes it
"""The adapter's training manifest (trainers write it beside the adapter)."""


def _run_manifest(results_dir: Path, summary: EvalSummary) -> dict[str, Any] | None:
    """The adapter's run.json: method, data sha256, config and loss curves. A copy in the results
    folder comes first: the adapter path in the summary is where it was on the machine that
    evaluated, and a folder recorded elsewhere (a baseline committed for CI) finds nothing there,
    or worse, another run trained into a folder of that name since. Else the adapter folder's, if
    it is still there; None for a base model or a manifest found nowhere."""
    if summary.adapter is None:
        return None
    for path in (results_dir / RUN_MANIFEST, Path(summary.adapter.path) / RUN_MANIFEST):
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    return None


def _evaluation_row(summary: EvalSummary, manifest: Mapping[str, Any] | None, results_dir: Path, n_items: int) -> dict[str, Any]:
    data = (manifest or {}).get("data", {}).get("train", {})
    return {
        "candidate": summary.candidate,
        "base_model": summary.model["name"],
        "adapter_path": summary.adapter.path if summary.adapter else None,
        "adapter_sha256": summary.adapter.sha256 if summary.adapter else None,
        "method": (manifest or {}).get("method", "adapter" if summary.adapter else "base"),
        "fewshot": summary.fewshot,
        "item_limit": summary.limit,
        "benchmark": summary.benchmark.name,
        "benchmark_version": summary.benchmark.version,
        "benchmark_sha256": summary.benchmark.sha256,
        "prompt_format": summary.prompt_format,
        "prompt_format_version": summary.prompt_format_version,
        "scoring_version": summary.scoring_version,
        "task_versions": json.dumps(summary.task_versions, sort_keys=True),
        "data_sha256": data.get("sha256"),
        "git_commit": summary.git_commit,
        "n_items": n_items,
        "created": summary.created,
        "results_dir": str(results_dir),
        "summary": json.dumps(summary.to_json(), sort_keys=True),
        "run_manifest": json.dumps(manifest, sort_keys=True) if manifest else None,
    }


# ---------------------------------------------------------------------------------------------
# Reading


def evaluations(conn: sqlite3.Connection, benchmark: str | None = None) -> list[Evaluation]:
    """Every recorded evaluation (of one benchmark), oldest first."""
    if benchmark is None:
        rows = conn.execute("SELECT * FROM evaluations ORDER BY id").fetchall()
    else:
        rows = conn.execute("SELECT * FROM evaluations WHERE benchmark = ? ORDER BY id", (benchmark,)).fetchall()
    return [Evaluation(**dict(row)) for row in rows]


def latest_per_candidate(evals: Iterable[Evaluation]) -> list[Evaluation]:
    """The newest evaluation of each candidate (name and adapter weights) within one version set."""
    newest: dict[tuple[tuple[str, str | None], Versions], Evaluation] = {}
    for ev in evals:
        key = (ev.identity, ev.versions)
        if key not in newest or ev.id > newest[key].id:
            newest[key] = ev
    return sorted(newest.values(), key=lambda ev: ev.id)


def resolve(conn: sqlite3.Connection, ref: str, benchmark: str | None = None) -> Evaluation:
    """An evaluation by ``#<id>`` or by candidate name (its newest evaluation)."""
    if ref.startswith("#") and ref[1:].isdigit():
        row = conn.execute("SELECT * FROM evaluations WHERE id = ?", (int(ref[1:]),)).fetchone()
    else:
        query = "SELECT * FROM evaluations WHERE candidate = ?" + (" AND benchmark = ?" if benchmark else "") + " ORDER BY id DESC LIMIT 1"
        row = conn.execute(query, (ref, benchmark) if benchmark else (ref,)).fetchone()
    if row is None:
        names = sorted({r[0] for r in conn.execute("SELECT candidate FROM evaluations")})
        raise UnknownCandidate(f"no evaluation {ref!r} in the leaderboard; candidates: {', '.join(names) or 'none yet'}")
    return Evaluation(**dict(row))


def metric_estimates(conn: sqlite3.Connection, evaluation_id: int) -> dict[str, dict[str, Estimate]]:
    """group -> metric -> mean and 95 % CI, as scored when it was recorded."""
    table: dict[str, dict[str, Estimate]] = {}
    for row in conn.execute("SELECT grp, metric, mean, low, high, n FROM metrics WHERE evaluation_id = ? ORDER BY rowid", (evaluation_id,)):
        table.setdefault(row["grp"], {})[row["metric"]] = Estimate(row["mean"], row["low"], row["high"], row["n"])
    return table


@dataclass(frozen=True, slots=True)
class ItemResult:
    item_id: str
    category: str
    split: str | None
    verdict: str
    messages: list[str]
    output: str | None
    metrics: dict[str, float]
    ast_verdict: str | None = None
    ast_messages: list[str] | None = None

    def explained(self, metric: str) -> tuple[str, list[str]]:
        """The verdict that explains ``metric``: ast_match has its own, the rest share one."""
        if metric == "ast_match" and self.ast_verdict is not None:
            return self.ast_verdict, self.ast_messages or []
        return self.verdict, self.messages


def item_results(conn: sqlite3.Connection, evaluation_id: int) -> dict[str, ItemResult]:
    """item id -> that item's metrics, verdict and raw output."""
    values: dict[str, dict[str, float]] = {}
    for row in conn.execute("SELECT item_id, metric, value FROM item_metrics WHERE evaluation_id = ?", (evaluation_id,)):
        values.setdefault(row["item_id"], {})[row["metric"]] = row["value"]
    return {
        row["item_id"]: ItemResult(
            row["item_id"], row["category"], row["split"], row["verdict"], json.loads(row["messages"]), row["output"], values.get(row["item_id"], {}),
            row["ast_verdict"], json.loads(row["ast_messages"]) if row["ast_messages"] else None,
        )
        for row in conn.execute("SELECT * FROM items WHERE evaluation_id = ? ORDER BY item_id", (evaluation_id,))
    }


def find_evaluation(conn: sqlite3.Connection, *, candidate: str, versions: Versions, adapter_sha256: str | None, item_limit: int | None) -> Evaluation | None:
    """The newest evaluation of exactly this candidate (same adapter weights, same --limit) on
    these versions: what ``make bench`` checks before evaluating again."""
    benchmark, version, prompt_version, scoring_version = versions.benchmark, versions.benchmark_version, versions.prompt_format_version, versions.scoring_version
    row = conn.execute(
        "SELECT * FROM evaluations WHERE candidate = ? AND benchmark = ? AND benchmark_version = ? AND prompt_format_version = ?"
        " AND scoring_version = ? AND adapter_sha256 IS ? AND item_limit IS ? ORDER BY id DESC LIMIT 1",
        (candidate, benchmark, version, prompt_version, scoring_version, adapter_sha256, item_limit),
    ).fetchone()
    return Evaluation(**dict(row)) if row else None
