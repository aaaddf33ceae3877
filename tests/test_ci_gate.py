"""The CI gate as a fresh runner runs it, and the --json documents it reads.

``examples/ci/gate.sh`` gets a baseline results folder committed to the repository (made on
another machine) and the candidate's folder from ``fcbench eval --no-record``. It records both
into a new database and exits with ``fcbench check``'s status. These tests run the real script
with this environment's ``fcbench`` on PATH, in a folder that holds nothing else. The numbers
in the JSON documents are worked out by hand from which of the benchmark's first items each
candidate answers right (``make_results``).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fcbench.benchmark.jsonl import reject_constant
from fcbench.benchmark.metrics import METRICS
from fcbench.benchmark.results import AdapterRef
from test_leaderboard import make_results
from typer.testing import CliRunner

from fcbench.cli import app

CI_DIR = Path(__file__).resolve().parents[1] / "examples" / "ci"
GATE = CI_DIR / "gate.sh"
WORKFLOW = CI_DIR / "fcbench-gate.yml"

runner = CliRunner()

# The benchmark's first 40 items by index (make_results answers the first n):
#   simple      0 2 4 6 7 13 14 17 18 19 21 23 26 28 30 34 35 38   (18)
#   parallel    1 5 8 10 11 12 27 32                                (8)
#   multiple    3 9 15 16 25 29 33 36 37                            (9)
#   irrelevance 20 22 24 31 39                                      (5)
# and every one is on a function seen in training (split:seen_function). So 40 items make six
# groups: overall, four categories and one split.
GROUPS_OF_40 = {"overall", "simple", "parallel", "multiple", "irrelevance", "split:seen_function"}


def _strict_json(text: str) -> Any:
    """Parse as a strict JSON reader would: NaN and Infinity are refused."""
    return json.loads(text, parse_constant=reject_constant)


def _overall(differences: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    return next(d for d in differences if d["metric"] == metric and d["group"] == "overall")


# ---------------------------------------------------------------------------------------------
# The gate script on a fresh runner


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A fresh runner's checkout: the baseline committed under ci/baseline/ (made elsewhere; the
    folder it was made in is gone), and nothing else."""
    made = make_results(tmp_path / "elsewhere", "tiny-0shot", set(range(30)), n=40)
    checkout = tmp_path / "checkout"
    shutil.copytree(made, checkout / "ci" / "baseline")
    shutil.rmtree(tmp_path / "elsewhere")
    return checkout


def run_gate(checkout: Path, candidate: Path | str, *check_options: str, summary: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The workflow's gate step: ``bash examples/ci/gate.sh ci/baseline CANDIDATE``, with the
    temporary folder it makes kept under the checkout's sibling ``tmp/`` so the test can see it go."""
    tmp = checkout.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {key: value for key, value in os.environ.items() if key not in ("GITHUB_STEP_SUMMARY", "GATE_JSON", "FCBENCH")}
    env |= {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "TMPDIR": str(tmp)}
    if summary is not None:
        env["GITHUB_STEP_SUMMARY"] = str(summary)
    return subprocess.run(["bash", str(GATE), "ci/baseline", str(candidate), *check_options],
                          cwd=checkout, env=env, capture_output=True, text=True, timeout=300)


def test_the_gate_passes_an_improvement_and_no_change_and_fails_a_regression(checkout: Path) -> None:
    # All three have the baseline's name, as a candidate retrained into the baseline's adapter
    # folder would: the gate must compare the evaluations, not look names up.
    pr = checkout / "results-pr"
    improved = make_results(pr, "tiny-0shot", set(range(40)), n=40, folder_name="improved")
    unchanged = make_results(pr, "tiny-0shot", set(range(30)), n=40, folder_name="unchanged")
    regressed = make_results(pr, "tiny-0shot", set(range(10)), n=40, folder_name="regressed")

    gate = run_gate(checkout, improved.relative_to(checkout))
    assert gate.returncode == 0, gate.stderr
    doc = _strict_json((checkout / "fcbench-gate.json").read_text())
    # Baseline right on items 0-29, the candidate on all 40: 10 won, none lost, +10/40.
    em = _overall(doc["tested"], "exact_match")
    assert (em["a_mean"], em["b_mean"], em["difference"], em["wins"], em["losses"]) == (0.75, 1.0, 0.25, 10, 0)
    assert em["p_value"] == pytest.approx(2 * 0.5**10)  # McNemar: 10 of 10 disagreements one way
    assert (doc["verdict"], doc["regressions"]) == ("pass", [])

    gate = run_gate(checkout, unchanged.relative_to(checkout))
    assert gate.returncode == 0, gate.stderr
    doc = _strict_json((checkout / "fcbench-gate.json").read_text())
    # The same answers: no item differs, every difference is 0 and no test sees anything.
    assert {(d["difference"], d["wins"] or 0, d["losses"] or 0, d["p_value"]) for d in doc["tested"]} == {(0.0, 0, 0, 1.0)}
    assert doc["verdict"] == "pass"

    summary = checkout.parent / "step-summary.md"
    gate = run_gate(checkout, regressed.relative_to(checkout), summary=summary)
    assert gate.returncode == 1, gate.stderr
    doc = _strict_json((checkout / "fcbench-gate.json").read_text())
    assert doc["verdict"] == "regression"
    assert (doc["baseline"]["evaluation_id"], doc["candidate"]["evaluation_id"]) == (1, 2)
    assert doc["baseline"]["candidate"] == doc["candidate"]["candidate"] == "tiny-0shot"
    assert (doc["max_drop"], doc["alpha"], doc["gated_metrics"], doc["shared"]) == (0.01, 0.05, ["exact_match", "schema_valid", "arg_f1"], 40)
    # Right on 30 of 40 against 10 of 40: 20 items lost, none won, -20/40.
    em = _overall(doc["tested"], "exact_match")
    assert (em["n"], em["a_mean"], em["b_mean"], em["difference"], em["wins"], em["losses"]) == (40, 0.75, 0.25, -0.5, 0, 20)
    assert em["p_value"] == pytest.approx(2 * 0.5**20)
    # Holm over 3 gated metrics x 6 groups = 18 tests. The smallest p-value, 2 * 0.5**20, is
    # shared by exact_match and schema_valid overall and on split:seen_function (40 items each):
    # each is multiplied by 18, and the step-down's running maximum keeps its ties at 18 * p.
    assert len(doc["tested"]) == 18 and {d["group"] for d in doc["tested"]} == GROUPS_OF_40
    assert em["adjusted_p"] == pytest.approx(18 * 2 * 0.5**20) and em["significant"] is True
    assert em in doc["regressions"]
    # Each of the 20 differing items moves by exactly 1: the per-item differences are 20 of -1 and
    # 20 of 0, sd = sqrt(40 * 0.25 / 39); the bootstrap CI stays inside [-1, 0].
    assert em["sd"] == pytest.approx((40 * 0.25 / 39) ** 0.5)
    assert -1 <= em["low"] < -0.5 < em["high"] <= 0 and 0 < em["mdd"] < 0.5
    assert "**fcbench gate: regression**" in gate.stdout
    assert "| exact_match | overall | 40 | 75.0 | 25.0 | -50.0 |" in summary.read_text()
    # Nothing is left behind but the document: the database was in a temporary folder, now gone.
    assert sorted(p.name for p in checkout.iterdir()) == ["ci", "fcbench-gate.json", "results-pr"]
    assert list((checkout.parent / "tmp").iterdir()) == []


def test_the_gate_cannot_answer_rather_than_report_a_regression(checkout: Path) -> None:
    # Exit 1 means "the candidate regressed": what stops the gate from answering must not read so.
    other_prompt = make_results(checkout / "results-pr", "tiny-0shot", set(range(30)), n=40, prompt_format_version=2)
    gate = run_gate(checkout, other_prompt.relative_to(checkout))
    assert gate.returncode == 2 and "not comparable" in gate.stderr
    assert not (checkout / "fcbench-gate.json").exists()  # no document for a question with no answer
    missing = run_gate(checkout, "results-pr/never-evaluated")
    assert missing.returncode == 2 and "could not both be recorded" in missing.stderr
    same = run_gate(checkout, "ci/baseline")
    assert same.returncode == 2 and "hold the same evaluation (#1)" in same.stderr
    usage = subprocess.run(["bash", str(GATE), "ci/baseline"], cwd=checkout, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and usage.stderr.startswith("usage:")


def test_the_gate_passes_check_options_through(checkout: Path) -> None:
    # Right on 30 of 40 against 28 of 40 (items 28 and 29 lost): p = 0.5, no significant drop.
    # With --alpha 1 significance is not asked for, and a 5-point drop is more than --max-drop 0.02.
    wobble = make_results(checkout / "results-pr", "wobble", set(range(28)), n=40)
    assert run_gate(checkout, wobble.relative_to(checkout)).returncode == 0
    strict = run_gate(checkout, wobble.relative_to(checkout), "--alpha", "1", "--max-drop", "0.02", "--metric", "exact_match")
    assert strict.returncode == 1, strict.stderr
    doc = _strict_json((checkout / "fcbench-gate.json").read_text())
    assert (doc["alpha"], doc["max_drop"], doc["gated_metrics"]) == (1.0, 0.02, ["exact_match"])
    assert _overall(doc["regressions"], "exact_match")["difference"] == pytest.approx(-2 / 40)


def test_the_workflow_evaluates_the_candidate_into_the_folder_its_gate_step_reads() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers
    steps = workflow["jobs"]["gate"]["steps"]
    runs = {step.get("name"): step.get("run", "") for step in steps}
    evaluate = shlex.split(runs["Evaluate the candidate"])
    gate = shlex.split(runs["Gate"])
    assert evaluate[:2] == ["fcbench", "eval"] and "--no-record" in evaluate
    candidate_dir = f"{evaluate[evaluate.index('--results') + 1]}/{evaluate[evaluate.index('--name') + 1]}"
    assert gate[:2] == ["bash", "examples/ci/gate.sh"] and gate[2:4] == ["$BASELINE", candidate_dir]
    assert workflow["env"]["BASELINE"] == "ci/baseline"
    assert (CI_DIR.parents[1] / gate[1]).resolve() == GATE


# ---------------------------------------------------------------------------------------------
# A results folder is portable


def test_a_results_folder_records_the_same_on_another_machine_with_its_own_run_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Evaluated from runs/exp (a path relative to where fcbench eval ran), its run.json copied
    # beside the results as examples/ci/README.md says to.
    made = make_results(tmp_path / "elsewhere", "m+exp-0shot", set(range(4)), n=10, adapter=AdapterRef("runs/exp", "a" * 64))
    (made / "run.json").write_text(json.dumps({"method": "lora", "data": {"train": {"sha256": "d" * 64}}}))
    checkout = tmp_path / "checkout"
    shutil.copytree(made, checkout / "ci" / "baseline")
    shutil.rmtree(tmp_path / "elsewhere")
    # On the runner, runs/exp holds another run trained into a folder of that name.
    (checkout / "runs" / "exp").mkdir(parents=True)
    (checkout / "runs" / "exp" / "run.json").write_text(json.dumps({"method": "qlora", "data": {"train": {"sha256": "e" * 64}}}))
    monkeypatch.chdir(checkout)
    recorded = runner.invoke(app, ["record", "ci/baseline", "--db", str(tmp_path / "fresh" / "lb.db"), "--json"])
    assert recorded.exit_code == 0, recorded.output
    doc = _strict_json(recorded.stdout)
    assert doc["db"] == str(tmp_path / "fresh" / "lb.db") and len(doc["recorded"]) == 1
    ev = doc["recorded"][0]
    assert (ev["evaluation_id"], ev["candidate"], ev["n_items"], ev["results_dir"]) == (1, "m+exp-0shot", 10, "ci/baseline")
    assert (ev["adapter_path"], ev["adapter_sha256"], ev["method"], ev["data_sha256"]) == ("runs/exp", "a" * 64, "lora", "d" * 64)
    # Without its copy, the folder falls back on the adapter folder's run.json, wherever that is now.
    (checkout / "ci" / "baseline" / "run.json").unlink()
    fallback = runner.invoke(app, ["record", "ci/baseline", "--db", str(tmp_path / "other" / "lb.db"), "--json"])
    assert _strict_json(fallback.stdout)["recorded"][0]["method"] == "qlora"


# ---------------------------------------------------------------------------------------------
# The --json documents of leaderboard and compare


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """strong: right on items 0-29 of 40; weak: on 0-9 of 40; part: 0-9 of only the first 21."""
    from fcbench.leaderboard.store import opened, record_results

    path = tmp_path / "lb.db"
    with opened(path) as conn:
        record_results(conn, make_results(tmp_path, "strong", set(range(30)), n=40))
        record_results(conn, make_results(tmp_path, "weak", set(range(10)), n=40))
        record_results(conn, make_results(tmp_path, "part", set(range(10)), n=21, version="v2"))
    return path


def test_leaderboard_json_ranks_with_provenance_every_metric_and_the_groups(db: Path) -> None:
    result = runner.invoke(app, ["leaderboard", "--db", str(db), "--version", "v1", "--json"])
    assert result.exit_code == 0, result.output
    doc = _strict_json(result.stdout)
    assert (doc["benchmark"], doc["metric"]) == ("fcbench", "exact_match")
    assert doc["versions"] == {"benchmark": "fcbench", "benchmark_version": "v1", "prompt_format_version": 1, "scoring_version": 1}
    strong, weak = doc["ranked"]
    assert [(r["rank"], r["candidate"], r["evaluation_id"]) for r in doc["ranked"]] == [(1, "strong", 1), (2, "weak", 2)]
    assert (strong["base_model"], strong["method"], strong["fewshot"], strong["git_commit"], strong["n_items"]) == ("tiny", "base", 0, "0123456789abcdef", 40)
    assert strong["task_versions"] == {"fcbench": "1.0"} and "summary" not in strong and "run_manifest" not in strong
    assert list(strong["metrics"]) == list(METRICS)
    # 30 of 40, Wilson 95 %: centre (0.75 + 1.96²/80) / (1 + 1.96²/40) = 0.7281, half-width
    # 1.96 * sqrt(0.75 * 0.25 / 40 + 1.96² / 6400) / 1.0960 = 0.1300: [0.598, 0.858].
    em = strong["metrics"]["exact_match"]
    assert em["mean"] == 0.75 and em["n"] == 40
    assert em["low"] == pytest.approx(0.598, abs=1e-3) and em["high"] == pytest.approx(0.858, abs=1e-3)
    # Per group, the ranking metric (see the item table at the top): strong is right on 14 of
    # the 18 simple items, 7 of 8 parallel, 6 of 9 multiple, 3 of 5 irrelevance.
    assert set(strong["groups"]) == GROUPS_OF_40 - {"overall"}
    assert {g: (e["mean"], e["n"]) for g, e in strong["groups"].items() if g != "split:seen_function"} == {
        "simple": (14 / 18, 18), "parallel": (7 / 8, 8), "multiple": (6 / 9, 9), "irrelevance": (3 / 5, 5)}
    assert weak["groups"]["simple"]["mean"] == 5 / 18  # items 0 2 4 6 7
    mixed = runner.invoke(app, ["leaderboard", "--db", str(db), "--across-versions", "--json"])
    assert _strict_json(mixed.stdout)["versions"] is None  # v1 and v2 together share no version set


def test_compare_json_holds_every_paired_difference_and_warns_on_stderr(db: Path) -> None:
    result = runner.invoke(app, ["compare", "strong", "part", "--db", str(db), "--across-versions", "--json"])
    assert result.exit_code == 0, result.output
    doc = _strict_json(result.stdout)  # stdout is the document alone; the warning is on stderr
    assert "19 only in A" in result.stderr
    assert (doc["a"]["candidate"], doc["a"]["evaluation_id"], doc["b"]["candidate"], doc["b"]["evaluation_id"]) == ("strong", 1, "part", 3)
    assert (doc["shared"], doc["only_a"], doc["only_b"], doc["alpha"]) == (21, 19, 0, 0.05)
    # The first 21 items make the same six groups (irrelevance only item 20), for each of 6 metrics.
    assert len(doc["differences"]) == 6 * 6 and {d["group"] for d in doc["differences"]} == GROUPS_OF_40
    assert set(doc["differences"][0]) == {"metric", "group", "n", "a_mean", "b_mean", "difference", "low", "high", "test", "p_value",
                                          "adjusted_p", "sd", "mdd", "wins", "losses", "significant"}
    # strong is right on all 21 shared items, part on 0-9: 11 lost, none won, -11/21.
    em = _overall(doc["differences"], "exact_match")
    assert (em["n"], em["a_mean"], em["b_mean"], em["wins"], em["losses"], em["test"]) == (21, 1.0, pytest.approx(10 / 21), 0, 11, "mcnemar")
    assert em["difference"] == pytest.approx(-11 / 21) and em["p_value"] == pytest.approx(2 * 0.5**11)
    assert em["adjusted_p"] >= em["p_value"]
    f1 = _overall(doc["differences"], "arg_f1")
    assert (f1["test"], f1["wins"], f1["losses"]) == ("permutation", None, None)
    # One item is too few for a minimum detectable difference: None, not NaN. Its difference is
    # that item's own (right, then wrong), so the bootstrap CI is the single point -1.
    lone = next(d for d in doc["differences"] if d["metric"] == "exact_match" and d["group"] == "irrelevance")
    assert (lone["n"], lone["difference"], lone["low"], lone["high"], lone["mdd"], lone["losses"]) == (1, -1.0, -1.0, -1.0, None, 1)


def test_a_graded_metric_on_a_single_differing_item_has_permutation_p_1() -> None:
    # The trap: a category with one shared item where arg_f1 differs. Its two sign patterns give
    # +1 and -1, both as extreme as the observed -1: p = 2/2. scipy refuses a sample of one, which
    # made compare and check fail with a traceback instead.
    from fcbench.leaderboard.stats import paired_difference, paired_permutation_p

    assert paired_permutation_p([1.0], [0.0]) == 1.0
    d = paired_difference("arg_f1", "irrelevance", [1.0], [0.0], binary=False)
    assert (d.difference, d.low, d.high, d.p_value) == (-1.0, -1.0, -1.0, 1.0)
    assert d.to_json()["mdd"] is None  # one item: no detectable difference to state (NaN in the type)


def test_json_commands_that_cannot_answer_print_no_document(db: Path) -> None:
    unknown = runner.invoke(app, ["check", "--baseline", "strong", "--candidate", "nobody", "--db", str(db), "--json"])
    assert unknown.exit_code == 2 and unknown.stdout == "" and "no evaluation 'nobody'" in unknown.stderr
    mixed = runner.invoke(app, ["compare", "strong", "part", "--db", str(db), "--json"])
    assert mixed.exit_code == 2 and mixed.stdout == "" and "not comparable" in mixed.stderr
