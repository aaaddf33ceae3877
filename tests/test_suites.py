"""The suite registry: every task belongs to exactly one suite, or the user is told which exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fcbench.benchmark.frozen import BenchmarkMissing, FrozenBenchmark
from fcbench.benchmark.provenance import sha256_file
from fcbench.benchmark.suites import BFCL, FCBENCH, SUITES, Suite, UnknownSuite, find_frozen, register, suite_named, suite_of

from fcbench.errors import UserError


def test_each_task_belongs_to_its_own_suite() -> None:
    assert suite_of(["fcbench"]) is FCBENCH
    assert suite_of(["fcbench_simple", "fcbench_irrelevance"]) is FCBENCH
    # BFCL's group starts with fcbench's subtask prefix, and is still BFCL's
    assert suite_of(["fcbench_bfcl"]) is BFCL
    assert suite_of(["bfcl_simple_python"]) is BFCL


def test_an_unknown_task_names_the_known_suites() -> None:
    with pytest.raises(UnknownSuite, match=r"--tasks mmlu: no benchmark suite has such a task; suites: fcbench \(lm-eval group fcbench.*bfcl-v4"):
        suite_of(["fcbench_simple", "mmlu"])
    with pytest.raises(UnknownSuite, match="no benchmark suite 'nope'"):
        suite_named("nope")


def test_tasks_of_two_suites_are_refused() -> None:
    with pytest.raises(UserError, match="mixes the suites bfcl-v4 and fcbench"):
        suite_of(["fcbench_simple", "bfcl_irrelevance"])


def test_a_registered_suite_is_found_and_made_once_when_missing(tmp_path: Path) -> None:
    made: list[Path] = []
    path = tmp_path / "mine.jsonl"

    def locate(version: str | None) -> FrozenBenchmark:
        if not path.is_file():
            raise BenchmarkMissing(f"{path} is missing")
        return FrozenBenchmark("mine", version or "v1", path, sha256_file(path))

    def make() -> None:
        path.write_text(json.dumps({"id": "a"}) + "\n")
        made.append(path)

    suite = register(Suite(name="mine", group="mine", task_prefix="mine_", primary_metric="exact_match", locate=locate,
                           subtask_of=lambda record: record.category, make=make, folder="mine"))
    try:
        assert suite_of(["mine_simple"]) is suite
        frozen = suite.frozen()
        assert made == [path] and frozen.path == path
        suite.frozen()
        assert made == [path]  # found, not made again
        assert suite.under(tmp_path) == tmp_path / "mine" and FCBENCH.under(tmp_path) == tmp_path
        assert find_frozen("mine", "v1", frozen.sha256) == frozen
        assert find_frozen("mine", "v1", "0" * 64) is None and find_frozen("other", "v1", frozen.sha256) is None
        with pytest.raises(UserError, match="already registered"):
            register(suite)
    finally:
        del SUITES["mine"]
