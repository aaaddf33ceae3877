"""``fcbench bench`` end to end on a tiny random Llama: it trains an adapter when runs/ has none,
evaluates the two baselines and the adapter, ranks them, writes the report, and a second run
does no work."""

from __future__ import annotations

import json
from pathlib import Path

from fcbench.leaderboard.store import evaluations, opened
from typer.testing import CliRunner

from fcbench.bench import BenchConfig, adapters_in, candidates, needs_evaluation
from fcbench.cli import app

runner = CliRunner()


def test_bench_does_only_what_is_missing(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from fcbench.generators.synth import generate

    generate(40, 0, tmp_path / "data")
    settings = {"name": "tiny-lora", "model": str(tiny_llama_dir), "batch_size": 2, "max_length": 4096, "max_steps": 2, "eval_steps": 2,
                "max_validation_records": 2}
    config = tmp_path / "tiny.yaml"
    config.write_text("".join(f"{key}: {json.dumps(value)}\n" for key, value in settings.items()))
    args = ["bench", "--limit", "1", "--model", str(tiny_llama_dir), "--train-config", str(config), "--data", str(tmp_path / "data"),
            "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results"), "--db", str(tmp_path / "lb.db"), "--report", str(tmp_path / "report")]

    first = runner.invoke(app, args, terminal_width=200)
    assert first.exit_code == 0, first.output
    assert [p.name for p in adapters_in(tmp_path / "runs")] == ["tiny-lora"]
    with opened(tmp_path / "lb.db") as conn:
        names = sorted(ev.candidate for ev in evaluations(conn))
    assert names == sorted([f"{tiny_llama_dir.name}-0shot", f"{tiny_llama_dir.name}-3shot", f"{tiny_llama_dir.name}+tiny-lora-0shot"])
    assert "trained ['tiny-lora'], evaluated 3 candidate(s), 0 already done" in first.output
    assert "best candidate on fcbench:" in first.output and (tmp_path / "report" / "index.html").is_file()
    assert "points or more are detectable (80 % power)" in first.output and "Holm: p adjusted over the 1 comparison(s) above" in first.output  # best is base 0-shot

    second = runner.invoke(app, args, terminal_width=200)
    assert second.exit_code == 0, second.output
    assert "trained nothing, evaluated 0 candidate(s), 3 already done" in second.output
    with opened(tmp_path / "lb.db") as conn:
        assert len(evaluations(conn)) == 3
        # A different --limit is a different measurement: all three would be evaluated again.
        cfg = BenchConfig(model=str(tiny_llama_dir), runs_dir=tmp_path / "runs", results_dir=tmp_path / "results", limit=2)
        assert all(needs_evaluation(conn, c) for c in candidates(cfg))

    # --bfcl adds the same three candidates on BFCL's categories, with their own report.
    with_bfcl = runner.invoke(app, [*args, "--bfcl"], terminal_width=200)
    assert with_bfcl.exit_code == 0, with_bfcl.output
    assert "evaluated 3 candidate(s), 3 already done" in with_bfcl.output
    assert "best candidate on bfcl-v4:" in with_bfcl.output and (tmp_path / "report" / "bfcl-v4" / "index.html").is_file()
    with opened(tmp_path / "lb.db") as conn:
        assert sorted(ev.benchmark for ev in evaluations(conn)) == ["bfcl-v4"] * 3 + ["fcbench"] * 3
        assert all(ev.n_items == 10 for ev in evaluations(conn, "bfcl-v4"))  # 1 item of each of 10 categories


def test_a_promot_run_is_two_candidates_and_a_question_writer_none(tmp_path: Path) -> None:
    from fcbench.models.soft_prompt import STAGE1_DIR

    for name, task in (("lora", "call"), ("promot", "call"), ("writer", "question")):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "adapter_config.json").write_text("{}")
        (tmp_path / "runs" / name / "run.json").write_text(json.dumps({"task": task}))
    (tmp_path / "runs" / "promot" / STAGE1_DIR).mkdir()
    cfg = BenchConfig(model="m", runs_dir=tmp_path / "runs", results_dir=tmp_path / "results")
    assert [c.candidate() for c in candidates(cfg)] == ["m-0shot", "m-3shot", "m+lora-0shot", "m+promot-0shot", "m+promot+soft-prompt-0shot"]
