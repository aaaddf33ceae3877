"""`fcbench score`: files in, a table and scores.json/items.jsonl out, every problem counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import WEATHER, call, record_json
from fcbench.benchmark.scoring import score_files
from typer.testing import CliRunner

from fcbench.cli import app

runner = CliRunner()


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_readme_example_files(tmp_path):
    result = runner.invoke(app, ["score", "--benchmark", "examples/benchmark.jsonl", "--predictions", "examples/predictions.jsonl", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "scores.json").read_text())
    items = [json.loads(l) for l in (tmp_path / "items.jsonl").read_text().splitlines()]
    assert scores["n_items"] == len(items) == 7
    # worked out by hand from examples/predictions.jsonl: ex-001 and ex-003 are right
    assert scores["metrics"]["overall"]["exact_match"]["mean"] == 2 / 7
    assert scores["counts"] == {"unknown_id": 1, "duplicate_id": 1, "invalid_line": 0, "missing_prediction": 1, "scored": 6}
    assert scores["verdicts"] == {"args:type": 1, "args:value": 1, "irrelevance:called": 1, "ok": 2, "parse:truncated": 1, "prediction:missing": 1}
    assert "arg_f1" in result.output and "ex-999" in result.output


def test_prediction_problems_are_reported_with_file_and_line(tmp_path):
    bench = write_jsonl(tmp_path / "b.jsonl", [record_json({"function_call": call("get_weather", city="Oslo")}, [WEATHER], rid=i) for i in ("a", "b", "c")])
    preds = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": "a", "output": '{"function_call": {"name": "get_weather", "arguments": {"city": "Oslo"}}}'},
            {"id": "a", "output": "again"},
            {"id": "zzz", "output": "x"},
            {"id": "b", "output": {"function_call": None}},
            "{broken",
            ["not", "an", "object"],
        ],
    )
    report = score_files(bench, preds)
    problems = [str(p) for p in report.prediction_problems]
    assert problems[0] == f"{preds}:2: duplicate id 'a' (first on line 1, which is the one scored)"
    assert problems[1] == f"{preds}:3: id 'zzz' is not in the benchmark"
    assert problems[2].startswith(f"{preds}:4: \"output\" must be the raw model text as a string")
    assert problems[3].startswith(f"{preds}:5: invalid JSON")
    assert problems[4] == f"{preds}:6: expected a JSON object, got list"
    assert problems[5:] == [f"{preds}: no prediction for benchmark id 'b'; scored 0", f"{preds}: no prediction for benchmark id 'c'; scored 0"]
    assert report.counts["invalid_line"] == 3 and report.counts["missing_prediction"] == 2
    # nothing dropped: all three benchmark items are scored, the two missing ones as 0
    assert [i.exact_match for i in report.items] == [True, False, False]


def test_broken_benchmark_exits_nonzero(tmp_path):
    bench = write_jsonl(tmp_path / "b.jsonl", [record_json({"function_call": call("nope", city="Oslo")}, [WEATHER])])
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": "r1", "output": "{}"}])
    result = runner.invoke(app, ["score", "--benchmark", str(bench), "--predictions", str(preds)])
    assert result.exit_code == 1
    assert f"{bench}:1: id 'r1': gold calls 'nope', which is not offered" in result.output


def test_missing_file_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["score", "--benchmark", str(tmp_path / "nope.jsonl"), "--predictions", "examples/predictions.jsonl"])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_score_exits_0_on_a_400_digit_integer_and_scores_it_a_typed_mismatch(tmp_path: Path) -> None:
    record = {"id": "r1", "instruction": "Call.", "input": {"user_question": "Convert 250 GBP to JPY.", "functions": [
        {"name": "convert", "parameters": {"type": "object", "properties": {"amount": {"type": "number"}}, "required": ["amount"]}}]},
        "output": {"function_call": {"name": "convert", "arguments": {"amount": 250}}}}
    (tmp_path / "bench.jsonl").write_text(json.dumps(record) + "\n")
    output = '{"function_call": {"name": "convert", "arguments": {"amount": ' + "9" * 400 + "}}}"
    (tmp_path / "preds.jsonl").write_text(json.dumps({"id": "r1", "output": output}) + "\n")
    result = runner.invoke(app, ["score", "--benchmark", str(tmp_path / "bench.jsonl"), "--predictions", str(tmp_path / "preds.jsonl"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    item = json.loads((tmp_path / "out" / "items.jsonl").read_text())
    assert (item["verdict"], item["ast_verdict"], item["exact_match"], item["ast_match"]) == ("args:value", "args:value", 0.0, 0.0)


def test_a_lone_surrogate_in_an_output_is_scored_and_both_files_are_written(tmp_path: Path) -> None:
    record = {"id": "r1", "instruction": "Call.", "input": {"user_question": "Weather in Oslo?", "functions": [WEATHER]},
              "output": {"function_call": call("get_weather", city="Oslo")}}
    (tmp_path / "bench.jsonl").write_text(json.dumps(record) + "\n")
    # plain ASCII in the file: the JSON escape of a lone surrogate, which UTF-8 cannot encode
    output = '{"function_call": {"name": "get_weather", "arguments": {"city": "\\ud800"}}}'
    (tmp_path / "preds.jsonl").write_text(json.dumps({"id": "r1", "output": output}) + "\n")
    result = runner.invoke(app, ["score", "--benchmark", str(tmp_path / "bench.jsonl"), "--predictions", str(tmp_path / "preds.jsonl"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    item = json.loads((tmp_path / "out" / "items.jsonl").read_text())
    assert item["verdict"] == "args:value" and json.loads((tmp_path / "out" / "scores.json").read_text())["n_items"] == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["items.jsonl", "scores.json"]  # no temporary left


def test_outputs_appear_together_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fcbench.benchmark import jsonl

    (tmp_path / "a.json").write_text("old a")
    (tmp_path / "b.json").write_text("old b")
    real_write = Path.write_text

    def failing(self: Path, text: str, **kwargs: object) -> int:
        if self.name == ".b.json.tmp":
            raise OSError("disk full")
        return real_write(self, text, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", failing)
    with pytest.raises(OSError, match="disk full"):
        jsonl.write_together({tmp_path / "a.json": "new a", tmp_path / "b.json": "new b"})
    monkeypatch.undo()
    assert (tmp_path / "a.json").read_text() == "old a" and (tmp_path / "b.json").read_text() == "old b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]
