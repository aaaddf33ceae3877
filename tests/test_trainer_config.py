"""Typed training configs and the prompt-completion rows the trainer is fed."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import build_tiny_tokenizer, clock_record, save_tiny_llama
from fcbench.benchmark.prompt import completion_text, render
from fcbench.trainers.config import ConfigError, load_config, to_json
from fcbench.trainers.data import prompt_completion_rows


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_a_config_loads_typed_with_defaults_and_dotted_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "name: quick\nmethod: lora\nlearning_rate: 1\nlora:\n  r: 8\n")
    config = load_config(path, ["lora.alpha=64", "max_steps=10", "prompt_encoding=plain", "weight_decay=1e-2"])
    assert config.weight_decay == 0.01  # YAML reads 1e-2 as a string
    assert (config.name, config.method, config.model) == ("quick", "lora", "smollm2-135m")
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert (config.lora.r, config.lora.alpha, config.lora.target_modules) == (8, 64, ["all-linear"])
    assert (config.max_steps, config.prompt_encoding) == (10, "plain")
    assert to_json(config)["lora"]["alpha"] == 64


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("name: x\nlearning_rte: 1e-4\n", [], r"unknown key\(s\) \['learning_rte'\]"),
        ("name: x\n", ["lora.rank=8"], r"unknown key\(s\) \['rank'\]"),
        ("name: x\n", ["batch_size=eight"], "batch_size must be int"),
        ("name: x\n", ["learning_rate=fast"], "learning_rate must be float"),
        ("name: x\n", ["method=sft"], "method must be one of"),
        ("name: x\nmethod: qlora\n", [], "set quant.load_in_4bit: true"),
        ("name: x\nquant:\n  load_in_4bit: true\n", [], "use method qlora"),
        ("method: lora\n", [], r"missing required key\(s\) \['name'\]"),
        ("name: x\n", ["max_steps"], "expected key=value"),
        ("name: x\n", ["lora.dropout=1.5"], "lora.dropout must be in"),
        ("name: x\n", ["learning_rate=.inf"], r"learning_rate must be a finite number above 0, got inf"),
        ("name: x\n", ["learning_rate=-1e-4"], "learning_rate must be a finite number above 0"),
        ("name: x\n", ["learning_rate=.nan"], "learning_rate must be a finite number above 0"),
        ("name: x\n", ["lora.r=0"], "lora.r must be a finite number above 0"),
        ("name: x\n", ["warmup_ratio=1.5"], r"warmup_ratio must be in \[0.0, 1.0\]"),
        ("name: x\n", ["weight_decay=-0.1"], "weight_decay must be in"),
        ("name: x\n", ["early_stopping_patience=-1"], "early_stopping_patience must be 0"),
        ("name: x\n", ["lora.target_modules=[]"], "lora.target_modules is empty"),
        ("name: x\n", ["max_train_records=0"], "max_train_records must be at least 1"),
        ("name: x\n", ["lora.layers_to_transform=[20]"], "lora.layers_to_transform needs the modules named"),
        ("name: x\n", ["lora.layers_to_transform=[]", "lora.target_modules=[q_proj]"], "must list layer numbers from 0 up"),
        ("name: x\nlearning_rate: 1e-4\nlearning_rate: 1e-3\n", [], r"run.yaml: line 3: not valid YAML \(key 'learning_rate' is given twice\)"),
        ("name: x\nlora: {r: 8\n", [], r"run.yaml: line 3: not valid YAML"),
        ("name: x\n", ["lora.target_modules=[q_proj"], r"--set 'lora.target_modules=\[q_proj': line 1: not valid YAML"),
    ],
)
def test_bad_configs_are_refused_with_a_message_that_says_what_to_change(tmp_path: Path, text: str, overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), overrides)


def test_a_hash_in_a_set_value_is_part_of_it_and_a_config_must_be_utf8(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "name: x\n"), ["name=run #2"]).name == "run #2"
    assert load_config(write(tmp_path, "name: x\n"), ["name='a' "]).name == "a"
    assert load_config(write(tmp_path, "name: x  # a comment in the file is one\n")).name == "x"
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.yaml: not UTF-8 text \(byte 9\): save the config as UTF-8"):
        load_config(path)


def test_records_that_do_not_fit_are_dropped_and_counted_never_truncated() -> None:
    short, long = clock_record("a", "Time?"), clock_record("b", "What time is it " + "right now " * 60 + "?")
    tokenizer = build_tiny_tokenizer([render(short, "plain").prompt])
    n_short = len(tokenizer(render(short, "chat", tokenizer).prompt)["input_ids"])
    n_answer = len(tokenizer(completion_text(short))["input_ids"]) + 1
    fits = prompt_completion_rows([short, long], "train.jsonl", "chat", tokenizer, max_length=n_short + n_answer + 1)
    assert [row["id"] for row in fits.rows] == ["a"] and fits.prompt_too_long == 1
    assert fits.rows[0]["completion"] == completion_text(short)
    # One token less and the short record's answer would be cut: dropped, with the reason.
    cut = prompt_completion_rows([short], "train.jsonl", "chat", tokenizer, max_length=n_short + n_answer)
    assert cut.rows == [] and cut.answer_cut == 1 and "answer would be cut" in cut.dropped[0].message


@pytest.mark.parametrize("method", ["lora", "qlora", "prompt_tuning", "promot"])
def test_a_run_on_a_tiny_llama_saves_a_loadable_adapter_and_its_manifest(method: str, tiny_llama_dir: Path, tmp_path: Path) -> None:
    import json

    from fcbench.generators.synth import generate
    from fcbench.trainers.config import QuantSettings, TrainConfig
    from fcbench.trainers.train import train
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    generate(40, 0, tmp_path / "data")
    model_dir = tiny_llama_dir
    if method == "qlora":
        model_dir = tmp_path / "tiny-llama-128"
        save_tiny_llama(model_dir, AutoTokenizer.from_pretrained(tiny_llama_dir), hidden_size=128)
    config = TrainConfig(
        name="tiny", model=str(model_dir), train_file=str(tmp_path / "data/train.jsonl"),
        validation_file=str(tmp_path / "data/validation.jsonl"), max_steps=4, eval_steps=2, batch_size=4, max_length=4096,
        method=method, quant=QuantSettings(load_in_4bit=method == "qlora"),
    )
    result = train(config, tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest == json.loads(json.dumps(result.manifest))
    assert manifest["method"] == method and manifest["steps"] == 4
    assert manifest["prompt_format"] == {"name": "fcbench-chat-v2", "encoding": "chat", "call_tokens": False, "version": 2}
    assert manifest["data"]["train"]["rows"] == 38 and manifest["data"]["validation"]["rows"] == 2
    assert [point["step"] for point in manifest["eval_loss_curve"]] == [2, 4]
    assert manifest["best_eval_loss"] == min(point["eval_loss"] for point in manifest["eval_loss_curve"])
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), tmp_path / "run")
    trained = "prompt_encoder" if method == "prompt_tuning" else "lora_"
    assert sum(p.numel() for n, p in adapted.named_parameters() if trained in n) > 0
    prompt = AutoTokenizer.from_pretrained(tmp_path / "run")("Question: time?", return_tensors="pt")
    generated = adapted.generate(**prompt, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert generated.shape[1] == prompt["input_ids"].shape[1] + 3


@pytest.mark.parametrize("path", sorted(Path(__file__).resolve().parents[1].glob("trainers/configs/*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_comments_every_knob(path: Path) -> None:
    import re

    config = load_config(path)
    assert config.name == path.stem
    bare = [line for line in path.read_text().splitlines() if re.match(r"^\s*[a-z_0-9]+: \S", line) and "#" not in line and not line.startswith("name:")]
    assert bare == []


def test_balancing_keeps_as_many_of_each_category_as_the_rarest_has_in_order() -> None:
    from fcbench.trainers.data import PreparedData, balanced

    categories = ["simple", "simple", "irrelevance", "simple", "parallel", "irrelevance", "parallel", "simple"]
    data = PreparedData(rows=[{"id": str(i), "category": c, "prompt": "p", "completion": "c"} for i, c in enumerate(categories)],
                        tokens=sum(range(10, 18)), row_tokens=list(range(10, 18)))
    kept = balanced(data)
    # two of each: simple 0 and 1, irrelevance 2 and 5, parallel 4 and 6, in their original order
    assert [row["id"] for row in kept.rows] == ["0", "1", "2", "4", "5", "6"]
    assert kept.row_tokens == [10, 11, 12, 14, 15, 16] and kept.tokens == 78 and kept.unbalanced == 2
    assert balanced(PreparedData()).rows == []
