"""The question writer: the reverse rendering, training with ``task: question``, and the filters
that decide which new phrasings join the training data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CONVERT, call, make_record
from fcbench.benchmark.prompt import QUESTION_WRITER_INSTRUCTION, render_question, signature
from fcbench.generators.rephrase import Rephrasing, _Model
from fcbench.generators.synth import REJECTED_REPHRASINGS, generate

from fcbench.errors import UserError


def test_the_writer_sees_the_called_functions_and_the_call_and_writes_the_question() -> None:
    clock = {"name": "get_time", "description": "The time now.", "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}
    record = make_record({"function_call": call("currency_conversion", amount=5, **{"from": "GBP", "to": "JPY"})}, [clock, CONVERT])
    rendered = render_question(record, "plain")
    assert rendered.prompt == (
        f"### Instruction:\n{QUESTION_WRITER_INSTRUCTION}\n\n### Input:\nFunctions:\n{signature(CONVERT)}\n"
        'Call: {"function_call": {"name": "currency_conversion", "arguments": {"amount": 5, "from": "GBP", "to": "JPY"}}}\n\n### Response:\n'
    )
    assert rendered.completion == "a question"
    with pytest.raises(UserError, match="calls no function"):
        render_question(make_record({"function_call": None}, [CONVERT]), "plain")


@pytest.fixture(scope="module")
def writer_run(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fcbench.trainers.config import TrainConfig
    from fcbench.trainers.train import train

    data = tmp_path_factory.mktemp("writer-data")
    generate(40, 0, data)
    out = tmp_path_factory.mktemp("writer") / "run"
    config = TrainConfig(name="writer", task="question", model=str(tiny_llama_dir), train_file=str(data / "train.jsonl"),
                         validation_file=str(data / "validation.jsonl"), max_steps=2, eval_steps=2, batch_size=4, max_length=4096)
    manifest = train(config, out).manifest
    categories = [json.loads(line)["meta"]["category"] for line in (data / "train.jsonl").read_text().splitlines()]
    assert manifest["task"] == "question" and manifest["data"]["train"]["rows"] == len(categories) - categories.count("irrelevance")
    assert manifest["data"]["train"]["no_call"] == categories.count("irrelevance") > 0
    return out


def test_a_question_writer_is_never_evaluated_as_a_candidate(writer_run: Path, tiny_llama_dir: Path, tmp_path: Path) -> None:
    from fcbench.evaluation.runner import EvalConfig, run_eval
    from fcbench.models.adapters import AdapterInvalid

    with pytest.raises(AdapterInvalid, match="is a question writer"):
        run_eval(EvalConfig(model=str(tiny_llama_dir), adapter=writer_run, limit=1, results_dir=tmp_path))


def test_new_phrasings_are_kept_only_when_the_audit_passes_them(writer_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny writer writes noise; the filters are checked on chosen texts instead: the
    question reworded with every value kept, the question itself, nothing, and a value lost."""
    (tmp_path / "plain").mkdir()
    generate(40, 0, tmp_path / "plain")
    originals = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "plain" / "train.jsonl").read_text().splitlines()}
    by_prompt: dict[str, str] = {}

    def written(self: _Model, prompts: list[str], max_new_tokens: int, sampling: object, progress: object) -> list[str]:
        texts = []
        for i, prompt in enumerate(prompts):
            question = by_prompt[prompt]
            texts.append([f"Please, {question}\nignored second line", question, "", "Do it."][i % 4])
        return texts

    def remember(record, encoding, tokenizer=None):  # noqa: ANN001, ANN202 - the real rendering, noted
        rendered = real_render(record, encoding, tokenizer)
        by_prompt[rendered.prompt] = record.question
        return rendered

    import fcbench.generators.rephrase as rephrase_module

    real_render = rephrase_module.render_question
    monkeypatch.setattr(rephrase_module, "render_question", remember)
    monkeypatch.setattr(_Model, "generate", written)
    out = tmp_path / "rephrased"
    manifest = generate(40, 0, out, rephrasing=Rephrasing(writer_run, share=1.0))
    summary = manifest["rephrasing"]
    rejected = [json.loads(line) for line in (out / REJECTED_REPHRASINGS).read_text().splitlines()]
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    new = [r for r in train if r["id"].endswith("-rw")]
    assert summary["asked"] == summary["kept"] + summary["rejected"] == len(new) + len(rejected) > 0
    assert len(train) == len(originals) + len(new) and (out / "validation.jsonl").read_bytes() == (tmp_path / "plain" / "validation.jsonl").read_bytes()
    ids = [r["id"] for r in train]
    assert all(ids[ids.index(r["id"]) - 1] == r["meta"]["rephrases"] for r in new)  # right after its original
    for record in new:  # the reworded question, first line only, everything else as it was
        original = originals[record["id"][: -len("-rw")]]
        assert record["input"]["user_question"] == f"Please, {original['input']['user_question']}"
        assert record["output"] == original["output"] and record["meta"]["rephrases"] == original["id"]
    first_reasons = {row["reasons"][0].split(":")[0] for row in rejected}
    assert {"repeat", "empty", "audit"} <= first_reasons
    assert all(row["reasons"][0].startswith("audit: untraceable") for row in rejected if row["question"] == "Do it.")


def test_round_trip_and_writer_must_be_run_folders_of_the_right_task(writer_run: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="needs a function-calling adapter"):
        _Model.load(writer_run, task="call")
    with pytest.raises(UserError, match="no run.json"):
        _Model.load(tmp_path, task="question")
    with pytest.raises(UserError, match="--rephrase-share"):
        generate(40, 0, tmp_path / "x", rephrasing=Rephrasing(writer_run, share=0.0))
    assert not (tmp_path / "x").exists()
