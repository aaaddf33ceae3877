"""A user's own benchmark file made into a suite: ``fcbench eval --benchmark FILE.jsonl``.

The file (seed or full record format) is checked with ``fcbench validate``'s rules; any
rejected line stops here, with the first reasons, since a benchmark scored with items silently
dropped would not be the benchmark the user gave. The canonical records are frozen under
``FCBENCH_HOME/suites/<name>/`` as a version named by their sha256, beside a manifest and the
lm-eval task YAML of one subtask per category and a group over them. The same content is the
same version; a changed file is a new version, current from then on, and the old one stays,
so results of the two are never ranked together unless asked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from fcbench.benchmark.jsonl import write_together
from fcbench.benchmark.metrics import METRICS
from fcbench.benchmark.provenance import sha256_file
from fcbench.benchmark.record import read_records
from fcbench.benchmark.suites import SUITES, USER_PREFIX, Suite, register, user_suite, user_suites_dir
from fcbench.tasks import TASKS_DIR

from fcbench.errors import UserError

NAME = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")
"""A suite name: lowercase words joined by single underscores (``__`` separates subtasks)."""
SHOWN_REJECTS = 3


def suite_name(path: Path, name: str | None = None) -> str:
    """``name``, else the file's stem made lowercase with runs of other characters as ``_``."""
    chosen = name or re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_")
    if not NAME.fullmatch(chosen):
        raise UserError(f"--benchmark-name {chosen!r}: use lowercase letters, digits and single underscores, e.g. my_tools")
    if chosen in SUITES and SUITES[chosen].tasks_dir is None:
        raise UserError(f"--benchmark-name {chosen!r} is a built-in suite's name: choose another")
    return chosen


def freeze_benchmark(path: Path, name: str | None = None, fewshot: Path | None = None) -> Suite:
    """Validate ``path``, freeze its records as a version of the user suite ``name`` and
    register the suite; returns it. Freezing the same content again changes nothing.
    ``fewshot``: worked examples for few-shot prompts, frozen beside the records (without it the
    suite is evaluated 0-shot)."""
    from fcbench.generators.validate import validate_files

    name = suite_name(path, name)
    (report,) = validate_files([path], fix=True)
    if report.rejects:
        reasons = "; ".join(f"line {r.line}: {'; '.join(r.reasons)}" for r in report.rejects[:SHOWN_REJECTS])
        raise UserError(f"{path}: {len(report.rejects)} of {report.lines} line(s) rejected ({reasons}): fix them (fcbench validate {path} --out DIR lists all) and try again")
    if not report.clean:
        raise UserError(f"{path} holds no records")
    text = "".join(line + "\n" for line in report.clean)
    shots = fewshot.read_text(encoding="utf-8") if fewshot is not None else ""
    folder = user_suites_dir() / name
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"name": name, "benchmarks": {}}
    version = _version_of(text + shots)
    if manifest.get("current") != version or version not in manifest["benchmarks"]:
        records_file = f"{version}.jsonl"
        _write_frozen(folder / records_file, text)
        records, problems = read_records(folder / records_file)
        if problems:  # validate accepted them; the reader must too
            raise UserError(f"{path}: {problems[0]}")
        manifest["benchmarks"][version] = {
            "name": name, "file": records_file, "sha256": sha256_file(folder / records_file), "records": len(records), "source": str(path.resolve()),
            "frozen": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        if fewshot is not None:
            shots_file = f"{version}-fewshot.jsonl"
            _write_frozen(folder / shots_file, shots)
            manifest["benchmarks"][version]["fewshot"] = {"file": shots_file, "sha256": sha256_file(folder / shots_file), "records": shots.count("\n")}
        manifest["current"] = version
        categories = sorted({record.category for record in records})
        write_together({**_task_files(name, categories), manifest_path: json.dumps(manifest, indent=2) + "\n"})
    return register(user_suite(name), replace=True)


def _version_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _write_frozen(path: Path, text: str) -> None:
    """A version's records, written whole or not at all, never rewritten once there."""
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(scratch, path)


def _task_files(name: str, categories: list[str]) -> dict[Path, str]:
    """The lm-eval YAML of the suite: one subtask per category (fcbench's template for suites
    without splits, by absolute path, so its hooks are fcbench's) and the group, weighted by
    size like fcbench's."""
    tasks = user_suites_dir() / name / "tasks"
    group = f"{USER_PREFIX}{name}"
    files: dict[Path, str] = {}
    for category in categories:
        task: dict[str, Any] = {"include": str(TASKS_DIR / "fcbench" / "_bfcl_template_yaml"), "task": f"{group}__{category}",
                                "dataset_kwargs": {"suite": name, "subtask": category}}
        files[tasks / f"{group}__{category}.yaml"] = yaml.safe_dump(task, sort_keys=False)
    group_config = {"group": group, "task": [f"{group}__{c}" for c in categories],
                    "aggregate_metric_list": [{"metric": m, "aggregation": "mean", "weight_by_size": True} for m in METRICS], "metadata": {"version": 1.0}}
    files[tasks / f"{group}.yaml"] = yaml.safe_dump(group_config, sort_keys=False)
    return files
