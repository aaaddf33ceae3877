"""Schemas come from other people's files: none may make fcbench fetch anything, from a
network or a disk, and no pattern may make scoring backtrack."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fcbench.benchmark.metrics import score_output
from fcbench.benchmark.record import compile_argument_schema, record_from_json
from typer.testing import CliRunner

from fcbench.cli import app

runner = CliRunner()


@pytest.fixture()
def server() -> Iterator[tuple[str, list[str]]]:
    """A schema server on 127.0.0.1 that records every request; stopped when the test ends."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            requests.append(self.path)
            body = json.dumps({"type": "string"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _record(rid: str, parameters: dict, arguments: dict) -> dict:
    return {"id": rid, "instruction": "Call.", "input": {"user_question": "q", "functions": [{"name": "f", "parameters": parameters}]},
            "output": {"function_call": {"name": "f", "arguments": arguments}}}


def test_a_reference_outside_the_schema_is_a_rejected_record_and_nothing_is_fetched(server: tuple[str, list[str]], tmp_path: Path) -> None:
    url, requests = server
    remote = {"type": "object", "properties": {"city": {"$ref": f"{url}/city.json"}}}
    on_disk = {"type": "object", "properties": {"city": {"$ref": f"file://{tmp_path}/city.json"}}}
    (tmp_path / "city.json").write_text(json.dumps({"type": "string"}))
    inside = {"type": "object", "$defs": {"city": {"type": "string"}}, "properties": {"city": {"$ref": "#/$defs/city"}}}
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps(_record(rid, params, {"city": "Oslo"})) + "\n" for rid, params in (("r1", remote), ("r2", on_disk), ("r3", inside))))
    (tmp_path / "preds.jsonl").write_text("".join(json.dumps({"id": rid, "output": '{"function_call": {"name": "f", "arguments": {"city": "Oslo"}}}'}) + "\n" for rid in ("r1", "r2", "r3")))

    validated = runner.invoke(app, ["validate", str(bench), "--out", str(tmp_path / "out")])
    assert validated.exit_code == 1
    rejects = [json.loads(line) for line in (tmp_path / "out" / "bench" / "rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [1, 2] and all("refers outside itself" in "; ".join(r["reasons"]) for r in rejects)
    assert (tmp_path / "out" / "bench" / "clean.jsonl").read_text().count("\n") == 1  # the inside reference is fine

    scored = runner.invoke(app, ["score", "--benchmark", str(bench), "--predictions", str(tmp_path / "preds.jsonl")])
    assert scored.exit_code == 1 and "refers outside itself" in scored.output
    assert requests == []


def test_a_backtracking_pattern_runs_in_linear_time_or_is_refused() -> None:
    parameters = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}, "required": ["s"]}
    record = record_from_json(_record("r1", parameters, {"s": "aaa"}))
    # 30 a's and a "!": about 37 s with a backtracking engine; the linear one answers at once
    item = score_output(record, json.dumps({"function_call": {"name": "f", "arguments": {"s": "a" * 30 + "!"}}}))
    assert item.verdict.error_type == "args:constraint" and not item.schema_valid
    assert score_output(record, json.dumps({"function_call": {"name": "f", "arguments": {"s": "a" * 5000}}})).exact_match is False
    refused = compile_argument_schema({"type": "object", "properties": {"s": {"type": "string", "pattern": "(a)\\1"}}})
    assert isinstance(refused, str) and "cannot be matched in bounded time" in refused


def test_a_recursive_schema_and_a_300_deep_answer_give_a_typed_mismatch() -> None:
    tree = {"type": "object", "properties": {"c": {"$ref": "#/$defs/tree"}, "v": {"type": "integer"}}, "additionalProperties": False}
    parameters = {"type": "object", "properties": {"t": {"$ref": "#/$defs/tree"}}, "$defs": {"tree": tree}}
    record = record_from_json(_record("r1", parameters, {"t": {"v": 1}}))
    deep: dict = {"v": "x"}
    for _ in range(300):
        deep = {"c": deep}
    item = score_output(record, json.dumps({"function_call": {"name": "f", "arguments": {"t": deep}}}))
    assert item.verdict.error_type == "args:constraint" and "too deep to check" in item.verdict.messages[0]


def test_a_record_nested_500_deep_is_a_rejected_line(tmp_path: Path) -> None:
    deep: object = "cafe\u0301"  # not NFC, so canonicalising would walk all the way down
    for _ in range(500):
        deep = [deep]
    (tmp_path / "deep.jsonl").write_text(json.dumps(_record("r1", {"type": "object"}, {"x": deep})) + "\n")
    result = runner.invoke(app, ["validate", str(tmp_path / "deep.jsonl")])
    assert result.exit_code == 1 and "nested 504 levels deep; a record may nest at most 64" in result.output
