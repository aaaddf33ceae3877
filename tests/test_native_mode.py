"""Native mode: the functions go to the model's own chat template as tools, the answer is read
in the model's own format. Tool-use templates are written here (nothing is downloaded)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fcbench.evaluation.runner import EvalConfig, run_eval

from fcbench.errors import UserError

# Qwen 2.5 / Hermes 2 Pro's layout: tools as JSON inside <tools>, calls inside <tool_call>.
HERMES_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\nYou may call one or more functions to assist with the user query.\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
    "{%- for tool in tools %}\n{{ tool | tojson }}{%- endfor %}\n</tools>\n\n"
    "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
    "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n{%- endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Llama 3.1's layout: the tools as JSON in the user turn, a call as {"name", "parameters"}.
LLAMA3_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{%- if tools and loop.last and m['role'] == 'user' %}\nGiven the following functions, please respond with a JSON for a function call "
    "with its proper arguments that best answers the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": "
    "dictionary of argument name and its value}. Do not use variables.\n\n{%- for tool in tools %}{{ tool | tojson(indent=4) }}\n\n{% endfor %}{%- endif %}"
    "{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _with_template(model_dir: Path, folder: Path, template: str) -> Path:
    from transformers import AutoTokenizer

    shutil.copytree(model_dir, folder)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.chat_template = template
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize(("template", "marker"), [(HERMES_TEMPLATE, "<tools>"), (LLAMA3_TEMPLATE, '"parameters"')], ids=["hermes", "llama3"])
def test_native_mode_renders_the_tools_through_the_models_template_end_to_end(tiny_llama_dir: Path, tmp_path: Path, template: str, marker: str) -> None:
    model = _with_template(tiny_llama_dir, tmp_path / "tools-llama", template)
    run = run_eval(EvalConfig(model=str(model), mode="native", tasks=("fcbench_simple", "fcbench_parallel"), limit=2, max_gen_toks=8, batch_size=2,
                              dtype="float32", results_dir=tmp_path / "results", cache=False))
    assert run.summary.n_items == 4 and (run.summary.mode, run.summary.answer_format, run.summary.prompt_format) == ("native", "auto", "native")
    assert run.out_dir.name == "tools-llama-0shot-native" and run.summary.run["json_stop"] is False
    for task in ("fcbench_simple", "fcbench_parallel"):
        for line in (run.out_dir / f"samples_{task}.jsonl").read_text().splitlines():
            doc = json.loads(line)["doc"]
            record = json.loads(doc["record"])
            assert marker in doc["prompt"] and all(f["name"] in doc["prompt"] for f in record["input"]["functions"])
            assert "Reply with one JSON object" not in doc["prompt"]  # no fcbench answer format in native mode
    scores = json.loads((run.out_dir / "scores.json").read_text())
    assert (scores["answer_format"], scores["mode"]) == ("auto", "native") and scores["n_items"] == 4


def test_native_mode_refuses_a_template_without_tools_and_few_shot(tiny_llama_dir: Path, tmp_path: Path) -> None:
    common = dict(tasks=("fcbench_simple",), limit=1, max_gen_toks=4, batch_size=1, dtype="float32", results_dir=tmp_path / "results", cache=False)
    with pytest.raises(UserError, match="does not render tools, so native mode would hide the functions: use --mode prompt"):
        run_eval(EvalConfig(model=str(tiny_llama_dir), mode="native", **common))
    model = _with_template(tiny_llama_dir, tmp_path / "tools-llama", HERMES_TEMPLATE)
    with pytest.raises(UserError, match="--mode native is 0-shot"):
        run_eval(EvalConfig(model=str(model), mode="native", fewshot=1, **common))
    assert not any((tmp_path / "results").glob("*/*"))


def test_a_users_own_seed_format_file_is_evaluated_as_its_own_suite(tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fcbench.generators.synth import generate
    from typer.testing import CliRunner

    from fcbench.cli import app

    monkeypatch.setenv("FCBENCH_HOME", str(tmp_path / "home"))
    generate(24, 3, tmp_path / "seed", "seed")
    lines = (tmp_path / "seed" / "train.jsonl").read_text().splitlines()[:20]
    assert all(set(json.loads(line)["input"]) == {"user_question", "function_call_example"} for line in lines)  # the seed format
    mine = tmp_path / "My Tools.jsonl"
    mine.write_text("\n".join(lines) + "\n")
    args = ["eval", "--model", str(tiny_llama_dir), "--benchmark", str(mine), "--max-gen-toks", "4", "--batch-size", "4", "--dtype", "float32",
            "--results", str(tmp_path / "results"), "--db", str(tmp_path / "lb.db"), "--no-cache"]
    first = CliRunner().invoke(app, args, terminal_width=200)
    assert first.exit_code == 0, first.output
    scores = json.loads(next((tmp_path / "results" / "my_tools").glob("*/scores.json")).read_text())
    assert scores["n_items"] == 20
    board = CliRunner().invoke(app, ["leaderboard", "--benchmark", "my_tools", "--db", str(tmp_path / "lb.db")], terminal_width=200)
    assert board.exit_code == 0 and "tiny-llama" in board.output, board.output
    frozen = json.loads((tmp_path / "home" / "suites" / "my_tools" / "manifest.json").read_text())
    assert len(frozen["benchmarks"]) == 1 and frozen["benchmarks"][frozen["current"]]["records"] == 20
    mine.write_text("\n".join(lines[:19]) + "\n")  # a changed file is a new version, never mixed with the old
    second = CliRunner().invoke(app, [*args, "--name", "again"], terminal_width=200)
    assert second.exit_code == 0, second.output
    refrozen = json.loads((tmp_path / "home" / "suites" / "my_tools" / "manifest.json").read_text())
    assert len(refrozen["benchmarks"]) == 2 and refrozen["current"] != frozen["current"]
    mine.write_text(lines[0] + "\n{broken\n")
    broken = CliRunner().invoke(app, args, terminal_width=300)
    assert broken.exit_code == 1 and "1 of 2 line(s) rejected (line 2:" in broken.output
