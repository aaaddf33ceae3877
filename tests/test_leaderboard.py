"""The leaderboard: paired statistics on hand-made vectors, the SQLite store, ranking, version
refusal, the regression gate's exit codes, concurrent writers and the HTML report."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fcbench.benchmark.metrics import METRICS
from fcbench.benchmark.record import read_records
from fcbench.benchmark.results import AdapterRef, BenchmarkRef, EvalSummary, write_results
from fcbench.benchmark.scoring import score_files, write_report
from fcbench.benchmark.suites import FCBENCH
from fcbench.leaderboard.compare import GATED_METRICS, VersionMismatch, compare, rank, regressions, require_same_versions
from fcbench.leaderboard.stats import mcnemar_exact, paired_bootstrap_ci, paired_difference, paired_permutation_p, verdict_text
from fcbench.leaderboard.store import evaluations, item_results, latest_per_candidate, metric_estimates, opened, record_results, resolve
from typer.testing import CliRunner

from fcbench.cli import app

runner = CliRunner()

# ---------------------------------------------------------------------------------------------
# Statistics, with answers worked out by hand


def test_mcnemar_counts_only_the_items_where_the_two_disagree() -> None:
    # 10 wins, 0 losses: two-sided binomial p = 2 * 0.5**10.
    result = mcnemar_exact([0] * 10 + [1] * 5, [1] * 10 + [1] * 5)
    assert (result.wins, result.losses) == (10, 0)
    assert result.p_value == pytest.approx(2 * 0.5**10)
    # 3 wins, 1 loss: P(X <= 1) + P(X >= 3) for X ~ Bin(4, 1/2) = (1 + 4 + 4 + 1) / 16.
    assert mcnemar_exact([0, 0, 0, 1, 1], [1, 1, 1, 0, 1]).p_value == pytest.approx(10 / 16)
    # Agreement everywhere (even on wrong answers) is no evidence either way.
    assert mcnemar_exact([1, 0, 1], [1, 0, 1]) == type(result)(0, 0, 1.0)


def test_bootstrap_ci_of_a_constant_difference_is_that_difference() -> None:
    assert paired_bootstrap_ci([0.0, 0.5, 0.25], [0.5, 1.0, 0.75]) == (0.5, 0.5)


def test_bootstrap_ci_matches_the_normal_approximation_on_a_symmetric_sample() -> None:
    # Differences are +1 on 50 items and -1 on 50: mean 0, sd 1, so the 95 % CI is about
    # 0 +- 1.96 * 1 / sqrt(100) = +-0.196 (resampled means move in steps of 0.02).
    a = [0, 1] * 50
    b = [1, 0] * 50
    low, high = paired_bootstrap_ci(a, b)
    assert -0.26 <= low <= -0.14 and 0.14 <= high <= 0.26
    assert paired_bootstrap_ci(a, b) == (low, high)  # seeded: the same numbers every time


def test_permutation_p_enumerates_the_sign_flips_on_few_items() -> None:
    # Differences 0.3, 0.1, 0.6, 0.0 sum to 1.0. Of the 16 sign patterns, |sum| >= 1.0 only for
    # all-plus and all-minus on the three non-zero ones, times 2 for the zero's sign: 4 / 16.
    assert paired_permutation_p([0.1, 0.5, 0.3, 0.2], [0.4, 0.6, 0.9, 0.2]) == pytest.approx(0.25)
    assert paired_permutation_p([0.2, 0.4], [0.2, 0.4]) == 1.0


def test_paired_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="same items"):
        mcnemar_exact([1, 0], [1])


def test_the_verdict_says_who_is_better_in_plain_words() -> None:
    better = paired_difference("exact_match", "overall", [0] * 10 + [1] * 10, [1] * 20, binary=True)
    assert verdict_text(better, "base", "tuned") == (
        "tuned is better than base on exact_match (overall): +50.0 points, 95 % CI [30.0, 70.0], p = 0.002 (10 items won, 0 lost)"
    )
    # Told from the better side: A's lead, with the CI flipped to match.
    worse = paired_difference("exact_match", "overall", [1] * 20, [0] * 10 + [1] * 10, binary=True)
    assert verdict_text(worse, "base", "tuned") == (
        "base is better than tuned on exact_match (overall): +50.0 points, 95 % CI [30.0, 70.0], p = 0.002 (10 items won, 0 lost)"
    )
    tie = paired_difference("exact_match", "overall", [1, 0, 1, 0], [0, 1, 1, 0], binary=True)
    text = verdict_text(tie)
    assert text.startswith("no significant difference between B and A on exact_match (overall): B +0.0 points, 95 % CI [-")
    assert text.endswith("p = 1.00 (1 items won, 1 lost)")


# ---------------------------------------------------------------------------------------------
# Results folders: real scoring of chosen right/wrong answers on the frozen benchmark's items


def _records(n: int) -> list[Any]:
    records, _ = read_records(FCBENCH.frozen().path)
    return records[:n]


def make_results(root: Path, candidate: str, right: set[int], n: int = 40, *, version: str = "v1", prompt_format_version: int = 1, fewshot: int = 0,
                 adapter: AdapterRef | None = None, folder_name: str | None = None) -> Path:
    """A results folder as ``fcbench eval`` writes it, for the first ``n`` benchmark items, the
    items at indices ``right`` answered with the gold call and the rest with a wrong function."""
    folder = root / (folder_name or candidate)
    folder.mkdir(parents=True)
    records = _records(n)
    with open(folder / "predictions.jsonl", "w") as handle:
        for i, record in enumerate(records):
            output = json.dumps(record.raw["output"]) if i in right else '{"function_call": {"name": "no_such_function", "arguments": {}}} <b>x</b>'
            handle.write(json.dumps({"id": record.id, "output": output}) + "\n")
    report = score_files(FCBENCH.frozen().path, folder / "predictions.jsonl", ids={r.id for r in records})
    write_report(report, folder)
    summary = EvalSummary(
        candidate=candidate, model={"name": "tiny"}, adapter=adapter, fewshot=fewshot,
        prompt_format=f"fcbench-chat-v{prompt_format_version}", prompt_format_version=prompt_format_version,
        benchmark=BenchmarkRef("fcbench", version, FCBENCH.frozen().sha256), task_versions={"fcbench": "1.0"},
        scoring_version=1, git_commit="0123456789abcdef", created="2026-11-24T08:00:00+00:00", n_items=len(records),
    )
    write_results(folder, summary, lm_eval={})
    return folder


def test_an_evaluation_is_stored_with_its_metrics_and_every_item(tmp_path: Path) -> None:
    folder = make_results(tmp_path, "tiny-0shot", right={0, 1, 2, 3}, n=10)
    with opened(tmp_path / "lb.db") as conn:
        evaluation_id = record_results(conn, folder)
        assert record_results(conn, folder) == evaluation_id and len(evaluations(conn)) == 1  # recorded once
        ev = resolve(conn, "tiny-0shot")
        assert ev.id == evaluation_id == resolve(conn, f"#{evaluation_id}").id
        assert (ev.method, ev.n_items, ev.benchmark_version, ev.prompt_format_version) == ("base", 10, "v1", 1)
        assert metric_estimates(conn, ev.id)["overall"]["exact_match"].mean == pytest.approx(0.4)
        items = item_results(conn, ev.id)
        assert len(items) == 10 and sum(item.metrics["exact_match"] for item in items.values()) == 4
        first_wrong_simple = next(r for r in _records(10)[4:] if r.category == "simple")
        wrong = items[first_wrong_simple.id]
        assert wrong.verdict == "name:hallucinated" and "no_such_function" in wrong.output
        offered = ", ".join(sorted(spec["name"] for spec in first_wrong_simple.functions))
        assert wrong.explained("ast_match") == ("name:hallucinated", [f"'no_such_function' is not an offered function (offered: {offered})"])
    assert "tiny, 0-shot, fcbench-chat-v1, git 01234567" in ev.provenance()


def test_a_version_1_file_gains_the_ast_verdict_columns(tmp_path: Path) -> None:
    import sqlite3

    old = sqlite3.connect(tmp_path / "lb.db")
    old.execute("CREATE TABLE items (evaluation_id INTEGER NOT NULL, item_id TEXT NOT NULL, category TEXT NOT NULL, split TEXT, "
                "verdict TEXT NOT NULL, messages TEXT NOT NULL, output TEXT, PRIMARY KEY (evaluation_id, item_id))")
    old.close()
    with opened(tmp_path / "lb.db") as conn:
        assert {"ast_verdict", "ast_messages"} <= {row[1] for row in conn.execute("PRAGMA table_info(items)")}
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2


def test_a_folder_that_is_not_a_result_is_refused_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["record", str(tmp_path / "empty"), "--db", str(tmp_path / "lb.db")])
    assert result.exit_code == 1 and "no results.json" in result.output


def test_ranking_is_by_the_metric_best_first_with_the_newest_evaluation_of_each_candidate(tmp_path: Path) -> None:
    with opened(tmp_path / "lb.db") as conn:
        record_results(conn, make_results(tmp_path / "1", "five", set(range(5)), n=10))
        record_results(conn, make_results(tmp_path / "1", "eight", set(range(8)), n=10))
        record_results(conn, make_results(tmp_path / "1", "two", set(range(2)), n=10))
        record_results(conn, make_results(tmp_path / "2", "two", set(range(9)), n=10))  # "two" re-evaluated: now 9/10
        latest = latest_per_candidate(evaluations(conn, "fcbench"))
        ranked = rank(conn, latest)
    assert [(r.rank, r.evaluation.candidate, r.score("exact_match").mean) for r in ranked] == [(1, "two", 0.9), (2, "eight", 0.8), (3, "five", 0.5)]


def test_two_adapters_in_folders_of_one_name_are_two_candidates(tmp_path: Path) -> None:
    with opened(tmp_path / "lb.db") as conn:
        for i, (sha, right) in enumerate([("a" * 64, {0, 1}), ("b" * 64, {0, 1, 2})]):
            adapter = AdapterRef(f"{tmp_path}/exp{i}/lora", sha)
            record_results(conn, make_results(tmp_path / str(i), "m+lora-0shot", right, n=10, adapter=adapter))
        ranked = rank(conn, latest_per_candidate(evaluations(conn, "fcbench")))
    assert [(r.evaluation.candidate, r.evaluation.adapter_sha256, r.score("exact_match").mean) for r in ranked] == [
        ("m+lora-0shot", "b" * 64, 0.3), ("m+lora-0shot", "a" * 64, 0.2)]
    assert "lora (aaaaaaaa)" in ranked[1].evaluation.provenance()


def test_different_versions_are_refused_unless_asked_and_the_message_says_why(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    with opened(db) as conn:
        record_results(conn, make_results(tmp_path, "old", {0}, n=10))
        record_results(conn, make_results(tmp_path, "new-prompt", {0, 1}, n=10, prompt_format_version=2))
        old, new = resolve(conn, "old"), resolve(conn, "new-prompt")
        with pytest.raises(VersionMismatch, match="prompt format v1, scoring v1: old; fcbench v1, prompt format v2, scoring v1: new-prompt"):
            require_same_versions([old, new])
        with pytest.raises(VersionMismatch):
            compare(conn, old, new)
        assert compare(conn, old, new, across_versions=True).shared == 10
    refused = runner.invoke(app, ["leaderboard", "--db", str(db)])
    assert refused.exit_code == 2 and "not comparable" in refused.output and "--across-versions" in refused.output
    assert runner.invoke(app, ["leaderboard", "--db", str(db), "--across-versions"], terminal_width=200).exit_code == 0
    assert runner.invoke(app, ["compare", "old", "new-prompt", "--db", str(db)]).exit_code == 2


def test_compare_pairs_items_and_reports_per_category(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    with opened(db) as conn:
        record_results(conn, make_results(tmp_path, "base", set(range(5)), n=40))
        record_results(conn, make_results(tmp_path, "tuned", set(range(40)), n=40))
        c = compare(conn, resolve(conn, "base"), resolve(conn, "tuned"))
    overall = c.overall("exact_match")
    assert overall is not None and (overall.wins, overall.losses, overall.n) == (35, 0, 40)
    assert overall.difference == pytest.approx(35 / 40) and overall.p_value == pytest.approx(2 * 0.5**35)
    categories = {d.group for d in c.differences if d.metric == "exact_match"}
    assert {"overall", *(r.category for r in _records(40))} <= categories
    result = runner.invoke(app, ["compare", "base", "tuned", "--db", str(db)], terminal_width=200)
    assert result.exit_code == 0
    assert "tuned is better than base on exact_match (overall): +87.5 points" in result.output


# ---------------------------------------------------------------------------------------------
# The regression gate


def _gate(db: Path, baseline: str, candidate: str, *extra: str) -> Any:
    return runner.invoke(app, ["check", "--baseline", baseline, "--candidate", candidate, "--db", str(db), *extra], terminal_width=200)


def test_the_gate_fails_a_significant_drop_and_passes_the_rest(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    with opened(db) as conn:
        record_results(conn, make_results(tmp_path, "good", set(range(30)), n=30))
        record_results(conn, make_results(tmp_path, "broken", set(range(10)), n=30))  # loses 20 items
        record_results(conn, make_results(tmp_path, "wobble", set(range(28)), n=30))  # loses 2: not significant
        c = compare(conn, resolve(conn, "good"), resolve(conn, "broken"))
    assert {d.metric for d in regressions(c)} >= {"exact_match", "arg_f1"}

    failed = _gate(db, "good", "broken")
    assert failed.exit_code == 1
    assert "Holm-corrected at α = 0.05" in failed.output and "smallest overall drop this check can detect" in failed.output
    assert "exact_match on overall (30 items): 100.0 -> 33.3, -66.7 points" in failed.output
    assert _gate(db, "broken", "good").exit_code == 0  # an improvement is never a regression
    assert _gate(db, "good", "wobble").exit_code == 0  # 2 of 30 lost: p = 0.5
    # The same 2-item drop fails once the gate stops asking for significance, unless it is
    # within --max-drop in every group (the worst group's drop decides).
    with opened(db) as conn:
        wobble = compare(conn, resolve(conn, "good"), resolve(conn, "wobble"))
    worst = max(-d.difference for d in wobble.differences if d.metric in GATED_METRICS)
    assert _gate(db, "good", "wobble", "--alpha", "1.0", "--max-drop", f"{worst - 0.01:.4f}").exit_code == 1
    assert _gate(db, "good", "wobble", "--alpha", "1.0", "--max-drop", f"{worst + 0.01:.4f}").exit_code == 0
    assert _gate(db, "good", "nobody").exit_code == 2


# ---------------------------------------------------------------------------------------------
# Two writers at once


def _record_all(db: str, folders: list[str]) -> None:
    with opened(db) as conn:
        for folder in folders:
            record_results(conn, folder)


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    batches = {name: [str(make_results(tmp_path / f"{name}{i}", name, set(range(k)), n=20)) for i in range(15)] for name, k in (("a", 5), ("b", 15))}
    db = tmp_path / "lb.db"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_record_all, args=(str(db), folders)) for folders in batches.values()]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [worker.exitcode for worker in workers] == [0, 0]
    with opened(db) as conn:
        evals = evaluations(conn)
        assert sorted(ev.candidate for ev in evals) == ["a"] * 15 + ["b"] * 15
        assert all(len(item_results(conn, ev.id)) == 20 for ev in evals)
        assert conn.execute("SELECT COUNT(*) FROM item_metrics").fetchone()[0] == 30 * 20 * len(METRICS)


def test_two_fcbench_eval_processes_at_once_both_land(tiny_llama_dir: Path, tmp_path: Path) -> None:
    fcbench = Path(sys.executable).parent / "fcbench"
    db = tmp_path / "lb.db"
    common = ["eval", "--model", str(tiny_llama_dir), "--limit", "1", "--batch-size", "4", "--dtype", "float32", "--max-gen-toks", "8",
              "--results", str(tmp_path / "results"), "--db", str(db)]
    procs = [subprocess.Popen([str(fcbench), *common, "--name", name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for name in ("one", "two")]
    outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    with opened(db) as conn:
        assert sorted(ev.candidate for ev in evaluations(conn)) == ["one", "two"]
        assert all(len(item_results(conn, ev.id)) == 4 for ev in evaluations(conn))


def test_holm_adjusts_each_p_value_over_its_family() -> None:
    from fcbench.leaderboard.stats import holm_adjusted

    ds = [paired_difference("exact_match", "overall", [1, 0], [1, 0], binary=True) for _ in range(3)]
    ds = [dataclasses.replace(d, p_value=p) for d, p in zip(ds, (0.01, 0.04, 0.03))]
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, 2 x 0.03, then at least that: 0.03, 0.06, 0.06
    assert [round(d.adjusted_p, 6) for d in holm_adjusted(ds)] == [0.03, 0.06, 0.06]
    assert [d.significant() for d in holm_adjusted(ds)] == [True, False, False]


def test_the_minimum_detectable_difference_shrinks_with_the_square_root_of_the_items() -> None:
    from fcbench.leaderboard.stats import minimum_detectable_difference

    # paired t, two-sided, alpha 0.05, power 0.8: about (1.96 + 0.84) / sqrt(n) standard deviations
    assert minimum_detectable_difference(60, 0.5) == pytest.approx(0.5 * 2.80 / 60**0.5, rel=0.02)
    assert minimum_detectable_difference(1000, 0.5) == pytest.approx(0.5 * 2.80 / 1000**0.5, rel=0.01)
    # no item differs: the spread of one differing item, never zero
    assert minimum_detectable_difference(60, 0.0) == pytest.approx(minimum_detectable_difference(60, 60**-0.5))


def test_the_gate_cannot_answer_on_a_broken_database_or_an_unmeasured_metric(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    broken = _gate(garbage, "a", "b")
    assert broken.exit_code == 2 and "cannot be read as a leaderboard" in broken.output
    db = tmp_path / "lb.db"
    with opened(db) as conn:
        record_results(conn, make_results(tmp_path, "good", set(range(10)), n=10))
        record_results(conn, make_results(tmp_path, "other", set(range(8)), n=10))
        conn.execute("DELETE FROM item_metrics WHERE metric = 'ast_match'")
    unmeasured = _gate(db, "good", "other", "--metric", "ast_match")
    assert unmeasured.exit_code == 2 and "ast_match was not measured on both good and other: nothing to gate on" in unmeasured.output


def test_a_results_folder_cut_short_or_inconsistent_is_not_recorded(tmp_path: Path) -> None:
    folder = make_results(tmp_path, "cut", set(range(3)), n=24)
    lines = (folder / "items.jsonl").read_text().splitlines(keepends=True)
    (folder / "items.jsonl").write_text("".join(lines[:5]))  # cut at a line boundary
    cut = runner.invoke(app, ["record", str(folder), "--db", str(tmp_path / "lb.db")])
    assert cut.exit_code == 1 and "has 5 rows but results.json counts 24 items" in cut.output
    (folder / "items.jsonl").write_text("".join(lines))
    (folder / "scores.json").write_text((folder / "scores.json").read_text().replace('"mean": 0.125', '"mean": NaN', 1))
    nan = runner.invoke(app, ["record", str(folder), "--db", str(tmp_path / "lb.db")])
    assert nan.exit_code == 1 and "NaN is not valid JSON" in nan.output
    with opened(tmp_path / "lb.db") as conn:
        assert evaluations(conn) == []


def test_reading_commands_create_nothing_and_work_on_a_read_only_file(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["leaderboard", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 2 and "no leaderboard at" in missing.output and not (tmp_path / "none.db").exists()
    db = tmp_path / "ro" / "lb.db"
    with opened(db) as conn:
        record_results(conn, make_results(tmp_path, "base", set(range(4)), n=10))
        record_results(conn, make_results(tmp_path, "tuned", set(range(9)), n=10))
    for path in (db, *db.parent.glob("lb.db-*")):
        path.chmod(0o444)
    db.parent.chmod(0o555)
    try:
        assert runner.invoke(app, ["leaderboard", "--db", str(db)], terminal_width=200).exit_code == 0
        assert _gate(db, "base", "tuned").exit_code == 0
    finally:
        db.parent.chmod(0o755)


def test_a_lock_held_longer_than_fcbench_waits_is_one_line_and_cannot_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from fcbench.leaderboard import store

    db = tmp_path / "lb.db"
    with opened(db) as conn:
        record_results(conn, make_results(tmp_path, "base", set(range(4)), n=10))
        record_results(conn, make_results(tmp_path, "tuned", set(range(9)), n=10))
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 200)
    monkeypatch.setattr(store, "READ_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, mid-transaction
    late = runner.invoke(app, ["record", str(make_results(tmp_path, "late", set(), n=10)), "--db", str(db)], terminal_width=300)
    assert late.exit_code == 2 and f"{db} is locked by another process (waited 0.2 s): try again once it has finished" in late.output
    holder.execute("ROLLBACK")
    # WAL readers never wait for a writer; an exclusive lock on a rollback-journal file makes them.
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    gate = _gate(db, "base", "tuned")
    assert gate.exit_code == 2 and "is locked by another process (waited 0.2 s)" in gate.output
    holder.execute("ROLLBACK")
    holder.close()
    assert _gate(db, "base", "tuned").exit_code == 0
