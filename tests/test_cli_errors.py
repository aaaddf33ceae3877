"""Bad paths and values on the command line: one line naming the path or value and what to
do, a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fcbench.cli import app

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def one_line_error(args: list[str], expected: str, exit_code: int = 1) -> None:
    result = runner.invoke(app, args, terminal_width=400)
    assert type(result.exception) is SystemExit and result.exit_code == exit_code, result.output
    assert expected in result.output and "Traceback" not in result.output, result.output


def test_an_output_path_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file, where a folder must go\n")
    score = ["score", "--benchmark", str(EXAMPLES / "benchmark.jsonl"), "--predictions", str(EXAMPLES / "predictions.jsonl")]
    one_line_error([*score, "--out", str(blocker)], f"{blocker}")
    one_line_error([*score, "--out", str(blocker / "deeper")], "check the path (and that it can be written, for an output)")
    one_line_error(["validate", str(EXAMPLES / "benchmark.jsonl"), "--out", str(blocker)], f"{blocker}")
    assert blocker.read_text() == "a file, where a folder must go\n"


def test_a_missing_against_file_is_one_line(tmp_path: Path) -> None:
    one_line_error(["validate", str(EXAMPLES / "benchmark.jsonl"), "--against", str(tmp_path / "gone.jsonl")], f"{tmp_path / 'gone.jsonl'}: No such file or directory")


@pytest.mark.parametrize(
    ("config_bytes", "extra", "expected"),
    [
        (b"name: x\n", ["--set", "lora.target_modules=[q_proj"], "not valid YAML"),
        (b"name: x\nlora: {r: 8\n", [], "line 3: not valid YAML"),
        (b"name: caf\xe9\n", [], "not UTF-8 text (byte 9): save the config as UTF-8"),
        (b"name: x\nname: y\n", [], "key 'name' is given twice"),
        (b"name: x\ntrain_file: nowhere.jsonl\n", [], "train_file nowhere.jsonl: no such file: run fcbench generate"),
    ],
)
def test_a_bad_training_config_is_one_line(tmp_path: Path, config_bytes: bytes, extra: list[str], expected: str) -> None:
    config = tmp_path / "run.yaml"
    config.write_bytes(config_bytes)
    one_line_error(["train", "--config", str(config), "--out", str(tmp_path / "run"), *extra], expected)
    assert not (tmp_path / "run").exists()


def test_a_model_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\0" * 8)
    one_line_error(["eval", "--model", str(weights), "--no-record", "--results", str(tmp_path / "results")], f"--model {weights}: is a file")


def test_a_run_folder_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    records = EXAMPLES / "benchmark.jsonl"
    config = tmp_path / "run.yaml"
    config.write_text(f"name: x\ntrain_file: {records}\nvalidation_file: {records}\n")
    (tmp_path / "run").write_text("not a folder\n")
    one_line_error(["train", "--config", str(config), "--out", str(tmp_path / "run")], f"--out {tmp_path / 'run'} is a file: a run folder is a folder")
