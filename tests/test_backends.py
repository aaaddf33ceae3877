"""The backends besides the in-process one: ``--backend openai`` against a real OpenAI-compatible
server on 127.0.0.1 (``transformers serve``, which ships with transformers), started and stopped
here by its own process id; ``--backend vllm``'s arguments (vLLM needs a GPU, so it is not run here)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fcbench.evaluation.openai_lm import EndpointUnavailable, chat_request, message_text
from fcbench.evaluation.runner import EvalConfig, run_eval
from fcbench.leaderboard.store import opened, record_results
from test_native_mode import HERMES_TEMPLATE, _with_template
from typer.testing import CliRunner

from fcbench.cli import app

SERVER_START_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``transformers serve`` on a free local port; models load on first request, by path."""
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "serve.log"
    command = [str(Path(sys.executable).parent / "transformers"), "serve", "--host", "127.0.0.1", "--port", str(port), "--dtype", "bfloat16"]
    with open(log, "w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "transformers serve did not come up"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # its own process group, started above
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def test_a_down_endpoint_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EndpointUnavailable, match=r"cannot reach http://127.0.0.1:\d+/v1 .*is the server running\?"):
        run_eval(EvalConfig(model="m", backend="openai", base_url=f"http://127.0.0.1:{_free_port()}/v1", tasks=("fcbench_simple",), limit=1,
                            results_dir=tmp_path / "results", request_timeout_s=2))
    assert not any((tmp_path / "results").glob("*/*"))


def test_tool_calls_in_a_response_are_scored_as_the_call_they_are() -> None:
    from fcbench.benchmark.formats import read_answer
    from openai.types.chat import ChatCompletionMessage

    message = ChatCompletionMessage.model_validate({"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]})
    parsed = read_answer(message_text(message), "auto", "native")
    assert parsed.error is None and [(c.name, c.arguments) for c in parsed.answer] == [("get_weather", {"city": "Oslo"})]
    assert message_text(ChatCompletionMessage.model_validate({"role": "assistant", "content": "No tool fits."})) == "No tool fits."
    doc = {"messages": json.dumps([{"role": "user", "content": "q"}]), "tools": json.dumps([{"type": "function", "function": {"name": "f"}}])}
    body = chat_request(doc, {"until": ["\n###", "", "a", "b", "c", "d"], "max_gen_toks": 32}, "served")
    assert body["tools"][0]["function"]["name"] == "f" and body["stop"] == ["\n###", "a", "b", "c"] and body["temperature"] == 0.0 and body["max_tokens"] == 32


def test_native_requests_reach_the_servers_template_and_land_on_the_leaderboard(server: str, tiny_llama_dir: Path, tmp_path: Path) -> None:
    model = str(_with_template(tiny_llama_dir, tmp_path / "tools-llama", HERMES_TEMPLATE))
    question = {"model": model, "messages": [{"role": "user", "content": "Weather in Oslo?"}], "max_tokens": 1, "temperature": 0}
    tool = {"type": "function", "function": {"name": "get_weather", "description": "Weather.", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    without, with_tools = _post(f"{server}/chat/completions", question), _post(f"{server}/chat/completions", {**question, "tools": [tool]})
    assert with_tools["usage"]["prompt_tokens"] > without["usage"]["prompt_tokens"] + 20  # the tools were rendered into the prompt
    run = run_eval(EvalConfig(model=model, backend="openai", base_url=server, mode="native", tasks=("fcbench_simple", "fcbench_irrelevance"), limit=2,
                              max_gen_toks=8, results_dir=tmp_path / "results", name="served-native"))
    assert run.summary.n_items == 4 and (run.summary.backend, run.summary.mode) == ("openai", "native")
    assert run.summary.model["source"] == server and run.summary.model["server"]["server"] == "uvicorn"
    with opened(tmp_path / "lb.db") as conn:
        record_results(conn, run.out_dir)


@pytest.mark.integration
def test_a_served_smollm2_matches_the_in_process_one_and_compares_on_the_leaderboard(server: str, tmp_path: Path) -> None:
    from fcbench.models.registry import resolve_model

    model_dir = resolve_model("smollm2-135m")
    common = dict(tasks=("fcbench",), limit=1, max_gen_toks=96, results_dir=tmp_path / "results")
    local = run_eval(EvalConfig(model=model_dir, batch_size=1, dtype="bfloat16", name="smollm2-local", **common))
    served = run_eval(EvalConfig(model=model_dir, backend="openai", base_url=server, concurrency=2, name="smollm2-served", **common))
    verdicts = [{item.id: str(item.verdict.error_type) for item in run.report.items} for run in (local, served)]
    assert verdicts[0].keys() == verdicts[1].keys() and len(verdicts[0]) == 4
    assert verdicts[0] == verdicts[1], verdicts
    outputs = [{row["id"]: row["output"] for row in map(json.loads, (run.out_dir / "predictions.jsonl").read_text().splitlines())} for run in (local, served)]
    for item, text in outputs[0].items():  # the same greedy text; in process it stops once its JSON is complete
        shorter = min(len(text), len(outputs[1][item]))
        assert shorter > 0 and text[:shorter] == outputs[1][item][:shorter], (item, text, outputs[1][item])
    print(f"\nin process and served, the same verdicts: {sorted(verdicts[0].values())}")
    db = tmp_path / "lb.db"
    with opened(db) as conn:
        for run in (local, served):
            record_results(conn, run.out_dir)
    compared = CliRunner().invoke(app, ["compare", "smollm2-local", "smollm2-served", "--db", str(db)], terminal_width=200)
    assert compared.exit_code == 0, compared.output
    assert "B = smollm2-served (#2), 4 shared items" in compared.output


def test_vllm_gets_the_parallelism_and_the_adapter_as_its_lora(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from fcbench.evaluation.runner import vllm_backend, vllm_model_args
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from fcbench.errors import UserError

    adapter = tmp_path / "lora"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), LoraConfig(r=8, target_modules=["q_proj"])).save_pretrained(adapter)
    cfg = EvalConfig(model=str(tiny_llama_dir), adapter=adapter, backend="vllm", dtype="bfloat16", tensor_parallel_size=2, data_parallel_size=4, gpu_memory_utilization=0.8)
    assert vllm_model_args(cfg, str(tiny_llama_dir)) == {
        "pretrained": str(tiny_llama_dir), "dtype": "bfloat16", "tensor_parallel_size": 2, "data_parallel_size": 4, "batch_size": "auto", "seed": 1234,
        "gpu_memory_utilization": 0.8, "lora_local_path": str(adapter), "max_lora_rank": 8,
    }
    assert vllm_model_args(EvalConfig(model="m", backend="vllm"), "m") == {"pretrained": "m", "dtype": "auto", "tensor_parallel_size": 1, "data_parallel_size": 1,
                                                                          "batch_size": "auto", "seed": 1234}
    from importlib.util import find_spec

    if find_spec("vllm") is None:
        with pytest.raises(UserError, match="--backend vllm needs vLLM on a GPU machine"):
            vllm_backend(cfg, None)
