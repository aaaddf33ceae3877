"""Training on a tiny random Llama: what the loss sees, the CPU fast path, ProMoT's frozen soft
prompt, resuming after ``kill -9``, two-process DDP, sweeps and cluster scripts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from fcbench.benchmark.prompt import completion_text, render
from fcbench.benchmark.record import read_records
from fcbench.models.soft_prompt import SoftPromptSlot
from fcbench.trainers.config import ConfigError, TrainConfig, check
from fcbench.trainers.slurm import SlurmSettings, slurm_script
from fcbench.trainers.sweep import grid_points, point_name
from fcbench.trainers.train import last_complete_checkpoint, peft_config, sft_args, sft_dataset, sft_trainer_class

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fcbench.generators.synth import generate

    folder = tmp_path_factory.mktemp("data")
    generate(40, 0, folder)
    return folder


def tiny_trainer(model_dir: Path, data_dir: Path, out: Path, *, bf16: bool = False) -> Any:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = TrainConfig(name="tiny", model=str(model_dir), batch_size=4, max_steps=2, max_length=4096)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    records, _ = read_records(data_dir / "train.jsonl")
    rows = [{"prompt": r.prompt, "completion": r.completion} for r in (render(record, "chat", tokenizer) for record in records[:8])]
    args = replace(sft_args(config, out, learning_rate=1e-3, max_steps=2, bf16=bf16, use_cpu=True), train_sampling_strategy="sequential")
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    trainer = sft_trainer_class()(model=model, args=args, processing_class=tokenizer, train_dataset=sft_dataset(rows),
                                      eval_dataset=sft_dataset(rows[:2]), peft_config=peft_config(config, tokenizer))
    return trainer, tokenizer, records[:8]


def test_the_loss_sees_only_the_answer_and_its_eos(tiny_llama_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    trainer, tokenizer, records = tiny_trainer(tiny_llama_dir, data_dir, tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    for row, record in enumerate(records[:4]):
        labelled = batch["input_ids"][row][batch["labels"][row] != -100]
        assert tokenizer.decode(labelled) == completion_text(record) + tokenizer.eos_token


def test_scoring_only_labelled_positions_gives_the_same_loss_and_gradients(tiny_llama_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    import trl.trainer.utils
    from trl import SFTTrainer

    assert hasattr(trl.trainer.utils, "_use_triton"), "TRL renamed the switch: the CPU fast path is off"
    trainer, _, _ = tiny_trainer(tiny_llama_dir, data_dir, tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model
    losses, grads = [], []
    for compute_loss in (SFTTrainer.compute_loss, type(trainer).compute_loss):  # every position, then the fast path
        model.zero_grad()
        loss = compute_loss(trainer, model, dict(batch))
        loss.backward()
        losses.append(loss.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad]))
    assert torch.allclose(losses[0], losses[1], atol=1e-5)
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_the_soft_prompt_fills_its_placeholder_slots_and_nothing_else() -> None:
    embedding = torch.nn.Embedding(10, 3)
    soft = torch.arange(6, dtype=torch.float32).reshape(2, 3) + 100
    embedding.register_forward_hook(SoftPromptSlot(soft, placeholder_id=0))
    ids = torch.tensor([[5, 0, 0, 7], [0, 0, 8, 9]])  # BOS may come first: slots are found by id
    out = embedding(ids)
    assert torch.equal(out[0, 1:3], soft) and torch.equal(out[1, :2], soft)
    assert torch.equal(out[0, 0], embedding.weight[5]) and torch.equal(out[1, 3], embedding.weight[9])
    with pytest.raises(RuntimeError, match="exactly 2 soft-prompt placeholder"):  # training: strict
        embedding(torch.tensor([[0, 5, 6, 7]]))

    lenient = torch.nn.Embedding(10, 3)  # evaluation: a decoding step holds no slots, and a model may write the placeholder itself
    lenient.register_forward_hook(SoftPromptSlot(soft, placeholder_id=0, strict=False))
    assert torch.equal(lenient(torch.tensor([[5], [0]]))[:, 0], lenient.weight[[5, 0]])
    mixed = lenient(torch.tensor([[0, 0, 8], [5, 0, 7]]))
    assert torch.equal(mixed[0, :2], soft) and torch.equal(mixed[1], lenient.weight[[5, 0, 7]])


def test_promot_records_both_stages_and_saves_the_stage1_soft_prompt(tiny_llama_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    from fcbench.models.soft_prompt import STAGE1_DIR, placeholder
    from fcbench.trainers.train import train
    from peft import PeftConfig
    from transformers import AutoTokenizer

    from fcbench.errors import UserError

    config = TrainConfig(name="promot", method="promot", model=str(tiny_llama_dir), train_file=str(data_dir / "train.jsonl"),
                         validation_file=str(data_dir / "validation.jsonl"), max_steps=4, eval_steps=2, batch_size=4, max_length=4096)
    config.prompt_tuning.max_steps = 2
    manifest = train(config, tmp_path / "run").manifest
    assert [(s["name"], s["steps"]) for s in manifest["stages"]] == [("soft_prompt", 2), ("lora_with_frozen_soft_prompt", 4)]
    assert PeftConfig.from_pretrained(tmp_path / "run" / STAGE1_DIR).peft_type.value == "PROMPT_TUNING"
    assert PeftConfig.from_pretrained(tmp_path / "run").peft_type.value == "LORA"  # the candidate: LoRA alone

    # Evaluated with its soft prompt attached: a candidate of its own, whose every prompt starts
    # with the 20 placeholders the prompt's vectors fill.
    from fcbench.evaluation.runner import EvalConfig, run_eval

    common = {"model": str(tiny_llama_dir), "adapter": tmp_path / "run", "limit": 1, "batch_size": 4, "dtype": "float32", "max_gen_toks": 8, "results_dir": tmp_path / "results"}
    attached = run_eval(EvalConfig(**common, soft_prompt=True))
    assert attached.out_dir.name == f"{tiny_llama_dir.name}+run+soft-prompt-0shot"
    _, token = placeholder(AutoTokenizer.from_pretrained(tmp_path / "run"))
    samples = [json.loads(line) for path in attached.out_dir.glob("samples_*.jsonl") for line in path.read_text().splitlines()]
    assert len(samples) == 4 and all(s["doc"]["prompt"].startswith(token * 20) for s in samples)
    bare = run_eval(EvalConfig(**common))
    bare_samples = [json.loads(line) for path in bare.out_dir.glob("samples_*.jsonl") for line in path.read_text().splitlines()]
    assert not any(token in s["doc"]["prompt"] for s in bare_samples)
    from fcbench.evaluation.lm import FcbenchLM
    from fcbench.models.soft_prompt import load_soft_prompt

    lm = FcbenchLM(pretrained=str(tiny_llama_dir), peft=str(tmp_path / "run"), soft_prompt=str(tmp_path / "run"), dtype="float32", batch_size=1, device="cpu")
    prompt = load_soft_prompt(tmp_path / "run", lm.tokenizer)
    filled = lm.model.get_input_embeddings()(torch.tensor([[prompt.placeholder_id] * 20]))
    assert torch.equal(filled[0], prompt.embeddings)  # the model the task runs reads stage 1's vectors there
    with pytest.raises(UserError, match="needs --adapter"):
        run_eval(EvalConfig(**{**common, "adapter": None}, soft_prompt=True))


def test_last_complete_checkpoint_skips_one_a_kill_left_half_written(tmp_path: Path) -> None:
    for step, complete in ((2, True), (4, True), (6, False)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    assert last_complete_checkpoint(tmp_path / "missing") is None


def _train_command(config: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "fcbench.cli", "train", "--config", str(config), "--out", str(out), *extra]


def _tiny_config(tmp_path: Path, model_dir: Path, data_dir: Path, **settings: Any) -> Path:
    values = {"name": "tiny", "model": str(model_dir), "train_file": str(data_dir / "train.jsonl"),
              "validation_file": str(data_dir / "validation.jsonl"), "batch_size": 2, "max_length": 4096,
              "early_stopping_patience": 1000, **settings}
    path = tmp_path / "tiny.yaml"
    path.write_text("".join(f"{key}: {json.dumps(value)}\n" for key, value in values.items()))
    return path


def test_a_run_killed_with_sigkill_resumes_from_its_last_checkpoint(tiny_llama_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    config = _tiny_config(tmp_path, tiny_llama_dir, data_dir, max_steps=60, eval_steps=2)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(_train_command(config, out), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while last_complete_checkpoint(out / "checkpoints") in (None, str(out / "checkpoints" / "checkpoint-2")):
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "run.json").exists()
    killed_at = int(last_complete_checkpoint(out / "checkpoints").rsplit("-", 1)[1])

    subprocess.run(_train_command(config, out, "--resume"), cwd=REPO, env=env, check=True, capture_output=True)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["steps"] == 60
    resumed_at = int(manifest["resumed_from"].rsplit("-", 1)[1])
    assert resumed_at >= killed_at >= 4  # at most one checkpoint interval lost
    assert [p["step"] for p in manifest["eval_loss_curve"]] == list(range(2, 61, 2))  # the curve from before the kill is kept


def test_two_process_ddp_over_gloo_trains_one_adapter(tiny_llama_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    config = _tiny_config(tmp_path, tiny_llama_dir, data_dir, max_steps=3, eval_steps=3)
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "fcbench.cli", "train", "--config", str(config), "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["world_size"] == 2 and manifest["steps"] == 3
    assert (out / "adapter_model.safetensors").is_file()


def test_a_grid_expands_to_every_combination_with_readable_names() -> None:
    points = grid_points(["learning_rate=1e-4,2e-4", "lora.r=8,16"])
    assert points == [["learning_rate=1e-4", "lora.r=8"], ["learning_rate=1e-4", "lora.r=16"],
                      ["learning_rate=2e-4", "lora.r=8"], ["learning_rate=2e-4", "lora.r=16"]]
    assert point_name("quick", points[1]) == "quick__learning_rate=1e-4__lora.r=16"
    for bad in (["lora.r"], ["lora.r=8,"], ["lora.r=8", "lora.r=16"]):
        with pytest.raises(ConfigError):
            grid_points(bad)


def test_sweep_trains_and_names_one_run_per_point(tiny_llama_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fcbench.cli import app

    config = _tiny_config(tmp_path, tiny_llama_dir, data_dir, max_steps=1, eval_steps=1)
    result = CliRunner().invoke(app, ["sweep", "--config", str(config), "--grid", "lora.r=2,4", "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    for r in (2, 4):
        manifest = json.loads((tmp_path / "runs" / f"tiny__lora.r={r}" / "run.json").read_text())
        assert manifest["name"] == f"tiny__lora.r={r}" and manifest["config"]["lora"]["r"] == r


def test_the_slurm_script_launches_every_gpu_of_every_node(tmp_path: Path) -> None:
    settings = SlurmSettings(job_name="llama2", nodes=2, gpus_per_node=4, gpu_type="a100", partition="hpg-ai", account="lab", memory_per_gpu="64gb")
    script = slurm_script(settings, ["--config", "trainers/configs/llama2-7b-qlora.yaml", "--out", "runs/llama2 7b"])
    # the log goes to the submission folder: SLURM opens it before the script could make a folder
    assert f"#SBATCH --output={settings.job_name}-%j.out" in script and "logs/" not in script
    for line in ("#SBATCH --nodes=2", "#SBATCH --gpus-per-node=a100:4", "#SBATCH --cpus-per-task=32", "#SBATCH --mem=256gb",
                 "#SBATCH --partition=hpg-ai", "#SBATCH --account=lab", "source .venv/bin/activate"):
        assert line in script.splitlines()
    assert "--num_processes $(( SLURM_NNODES * 4 ))" in script and "--machine_rank $SLURM_NODEID" in script
    assert "'runs/llama2 7b'" in script  # quoted inside the launch line
    path = tmp_path / "job.sh"
    path.write_text(script)
    subprocess.run(["bash", "-n", str(path)], check=True)


@pytest.mark.parametrize("name", ["ddp.yaml", "deepspeed-zero3.yaml"])
def test_the_shipped_accelerate_configs_load(name: str) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(REPO / "trainers" / "accelerate" / name))
    assert config.mixed_precision == "bf16" and config.num_machines == 1
    if name.startswith("deepspeed"):
        assert config.deepspeed_config["zero_stage"] == 3


def test_call_tokens_are_added_trained_saved_and_used_by_evaluation(tiny_llama_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    from fcbench.benchmark.prompt import CALL_TOKENS
    from fcbench.evaluation.runner import EvalConfig, run_eval
    from fcbench.trainers.train import train
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = TrainConfig(name="calltok", model=str(tiny_llama_dir), train_file=str(data_dir / "train.jsonl"), add_call_tokens=True,
                         validation_file=str(data_dir / "validation.jsonl"), max_steps=2, eval_steps=2, batch_size=4, max_length=4096)
    manifest = train(config, tmp_path / "run").manifest
    assert manifest["prompt_format"]["name"] == "fcbench-chat-calltokens-v2"
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "run")
    new_ids = tokenizer.convert_tokens_to_ids(list(CALL_TOKENS))
    assert len(tokenizer) == len(AutoTokenizer.from_pretrained(tiny_llama_dir)) + 2 and new_ids == [len(tokenizer) - 2, len(tokenizer) - 1]
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    base.resize_token_embeddings(len(tokenizer))
    adapted = PeftModel.from_pretrained(base, tmp_path / "run")
    embeddings = adapted.get_input_embeddings()(torch.tensor([new_ids]))
    assert not torch.allclose(embeddings[0, 0], embeddings[0, 1])  # trained apart from their shared mean init

    run = run_eval(EvalConfig(model=str(tiny_llama_dir), adapter=tmp_path / "run", tasks=("fcbench_simple",), limit=2, fewshot=1,
                              max_gen_toks=8, results_dir=tmp_path / "results", cache=False))
    assert run.summary.n_items == 2 and run.summary.prompt_format == "fcbench-chat-calltokens-v2"
    doc = json.loads((run.out_dir / "samples_fcbench_simple.jsonl").read_text().splitlines()[0])["doc"]
    assert doc["completion"].startswith(CALL_TOKENS[0]) and doc["completion"].endswith(CALL_TOKENS[1])
    assert doc["prompt"].count(CALL_TOKENS[1]) == 1  # the shot's answer is wrapped too


def test_cpu_attention_flops_are_counted_by_hand() -> None:
    from fcbench.trainers.perf import _register_cpu_attention_flops
    from torch.utils.flop_counter import FlopCounterMode

    _register_cpu_attention_flops()
    q = torch.randn(2, 9, 64, 32, requires_grad=True)
    k, v = (torch.randn(2, 3, 64, 32, requires_grad=True) for _ in range(2))  # grouped-query: 3 key heads
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True).sum().backward()
    # Forward QK^T and PV, backward four matmuls: 6 of 2*b*h*s_q*s_k*d.
    assert counter.get_total_flops() == 6 * 2 * 2 * 9 * 64 * 64 * 32


def test_the_speed_benchmark_times_both_trainers_on_the_same_rows(tiny_llama_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    from fcbench.trainers.perf import StepClock, _trainer, step_flops
    from fcbench.trainers.train import load_rows
    from transformers import AutoTokenizer

    config = TrainConfig(name="tiny", model=str(tiny_llama_dir), train_file=str(data_dir / "train.jsonl"), batch_size=2, max_length=4096)
    rows = load_rows(config.train_file, "chat", AutoTokenizer.from_pretrained(tiny_llama_dir), config.max_length, 8).rows
    for plain in (True, False):
        clock = StepClock()
        trainer = _trainer(config, rows, tmp_path / str(plain), clock, plain_defaults=plain, steps=2)
        trainer.train()
        assert len(clock.marks) == 3 and clock.tokens_per_second() > 0
        assert trainer.args.gradient_checkpointing is plain and trainer.args.eval_strategy == "no"
    flops, seconds, tokens = step_flops(trainer)
    adapted_weights = sum(p.numel() for n, p in trainer.model.named_parameters() if n.endswith("base_layer.weight"))
    # At least the adapted layers' matmuls: 2 FLOPs per weight and token forward, 2 more backward.
    assert seconds > 0 and tokens > 0 and flops >= 4 * adapted_weights * tokens


def _small_run(model_dir: Path, data_dir: Path, **settings: Any) -> TrainConfig:
    values: dict[str, Any] = {"name": "tiny", "model": str(model_dir), "train_file": str(data_dir / "train.jsonl"), "validation_file": str(data_dir / "validation.jsonl"),
                              "max_steps": 4, "eval_steps": 2, "batch_size": 4, "max_length": 4096, **settings}
    return TrainConfig(**values)


def test_resume_continues_only_its_own_run_and_a_new_run_clears_the_old_one(tiny_llama_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    from fcbench.models.adapters import adapter_checksums
    from fcbench.trainers.run_folder import TrainingDiverged
    from fcbench.trainers.train import train

    out = tmp_path / "run"
    first = train(_small_run(tiny_llama_dir, data_dir), out).manifest
    assert first["adapter_files"] == adapter_checksums(out) and set(first["adapter_files"]) >= {"adapter_model.safetensors", "adapter_config.json"}
    with pytest.raises(ConfigError, match=r"holds checkpoints of another run \(it differs in settings.learning_rate, settings.lora.r\): drop --resume"):
        train(_small_run(tiny_llama_dir, data_dir, learning_rate=1e-3, lora=replace(TrainConfig(name="x").lora, r=4)), out, resume=True)
    assert json.loads((out / "run.json").read_text()) == first  # refused before anything was touched
    # A new run into the folder, without --resume, that diverges: nothing of either run is left looking finished.
    with pytest.raises(TrainingDiverged, match=r"training diverged: (loss|grad_norm|eval_loss) = (nan|inf) at step \d+ \(learning_rate 1e\+30\): lower the learning rate"):
        train(_small_run(tiny_llama_dir, data_dir, learning_rate=1e30), out)
    assert not (out / "run.json").exists() and not (out / "adapter_model.safetensors").exists()
    assert not any(path.name == "checkpoint-4" for path in (out / "checkpoints").glob("*"))  # the old run's last checkpoint is gone


def test_missing_or_empty_data_is_refused_before_the_model_loads(tiny_llama_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    from fcbench.trainers.train import train

    with pytest.raises(ConfigError, match=r"train_file .*nowhere.jsonl: no such file: run fcbench generate, or set train_file"):
        train(_small_run(tiny_llama_dir, data_dir, train_file=str(tmp_path / "nowhere.jsonl")), tmp_path / "run")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ConfigError, match=r"validation_file .*empty.jsonl: it holds no records; training needs records in both"):
        train(_small_run(tiny_llama_dir, data_dir, validation_file=str(tmp_path / "empty.jsonl")), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_weights_that_went_non_finite_are_never_saved() -> None:
    from fcbench.trainers.run_folder import TrainingDiverged, first_non_finite
    from fcbench.trainers.train import check_finite_weights

    layer = torch.nn.Linear(2, 2)
    check_finite_weights(layer)
    with torch.no_grad():
        layer.weight[0, 1] = float("nan")
    with pytest.raises(TrainingDiverged, match="weight holds non-finite values"):
        check_finite_weights(layer)
    assert first_non_finite({"loss": 0.5, "grad_norm": float("inf")}) == "grad_norm = inf"
    assert first_non_finite({"loss": 0.5, "learning_rate": 1e-4, "epoch": 1}) is None


def test_the_per_record_loss_weighs_a_short_answer_as_much_as_a_long_one(tiny_llama_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    import torch.nn.functional as F
    from fcbench.trainers.train import record_mean_loss

    trainer, _tokenizer, _records = tiny_trainer(tiny_llama_dir, data_dir, tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        expected = []
        for row in range(batch["input_ids"].shape[0]):  # by hand: each row's mean over its answer tokens, then the mean of the rows
            targets = batch["labels"][row, 1:]
            nll = F.cross_entropy(logits[row, :-1], targets, ignore_index=-100, reduction="sum")
            expected.append(nll / (targets != -100).sum())
        per_record = record_mean_loss(model, batch)
        per_token = model(**batch).loss
    assert per_record.item() == pytest.approx(torch.stack(expected).mean().item(), rel=1e-4)
    assert per_record.item() != pytest.approx(per_token.item(), rel=1e-4)  # the rows' answers differ in length


def test_lora_on_chosen_layers_trains_only_those(tiny_llama_dir: Path) -> None:
    from fcbench.trainers.config import LoraSettings
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = TrainConfig(name="upper", model=str(tiny_llama_dir), lora=LoraSettings(target_modules=["q_proj", "v_proj"], layers_to_transform=[1]))
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), peft_config(config, AutoTokenizer.from_pretrained(tiny_llama_dir)))
    trained = sorted(name for name, p in model.named_parameters() if p.requires_grad)
    assert trained and all(".layers.1." in name for name in trained)
    assert {name.split(".layers.1.")[1].split(".")[1] for name in trained} == {"q_proj", "v_proj"}


def test_report_to_tensorboard_writes_the_loss_that_run_json_records(tiny_llama_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    from fcbench.trainers.train import train
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = TrainConfig(name="tb", model=str(tiny_llama_dir), train_file=str(data_dir / "train.jsonl"), validation_file=str(data_dir / "validation.jsonl"),
                         max_steps=4, eval_steps=2, batch_size=4, max_length=4096, report_to=["tensorboard"])
    manifest = train(config, tmp_path / "run").manifest
    events = EventAccumulator(str(tmp_path / "run" / "logs")).Reload()
    logged = {event.step: event.value for event in events.Scalars("train/loss")}
    assert logged and {point["step"]: point["loss"] for point in manifest["loss_curve"]} == pytest.approx(logged)
    assert [event.step for event in events.Scalars("eval/loss")] == [2, 4]
    with pytest.raises(ConfigError, match="unknown integration 'tensorbored'"):
        check(replace(config, report_to=["tensorbored"]))


def test_report_to_wandb_offline_logs_the_loss_without_a_network(tiny_llama_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb")
    from fcbench.trainers.train import train

    for name, value in {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true", "WANDB_PROJECT": "fcbench-test"}.items():
        monkeypatch.setenv(name, value)
    config = TrainConfig(name="wb", model=str(tiny_llama_dir), train_file=str(data_dir / "train.jsonl"), validation_file=str(data_dir / "validation.jsonl"),
                         max_steps=4, eval_steps=2, batch_size=4, max_length=4096, report_to=["wandb"])
    import wandb

    train(config, tmp_path / "one")
    assert wandb.run is None  # finished: a second training in this process (a sweep point) gets a run of its own
    train(replace(config, name="wb2", max_steps=2), tmp_path / "two")
    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all((run / f"run-{run.name.rsplit('-', 1)[1]}.wandb").stat().st_size > 0 for run in runs)
    assert all("finishing run fcbench-test/" in (run / "logs" / "debug.log").read_text() for run in runs)
