"""`fcbench validate`: every rejection reason on a small file; nothing read is lost."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import WEATHER, call, record_json
from fcbench.benchmark.record import dumps_canonical
from fcbench.generators.validate import MAX_LINE_BYTES, validate_files, write_outputs
from typer.testing import CliRunner

from fcbench.cli import app

runner = CliRunner()


def good(rid: str, city: str = "Oslo") -> str:
    obj = record_json({"function_call": call("get_weather", city=city)}, [WEATHER], rid=rid)
    obj["input"]["user_question"] = f"What's the weather in {city}?"
    return dumps_canonical(obj)


def reasons_by_line(tmp_path, data: bytes, **kwargs):
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    (report,) = validate_files([path], **kwargs)
    assert len(report.clean) + len(report.rejects) == report.lines  # nothing lost
    return report, {r.line: " | ".join(r.reasons) for r in report.rejects}


def test_each_rejection_reason(tmp_path):
    bad_schema = json.loads(good("s"))
    bad_schema["output"]["function_call"]["arguments"]["city"] = 3
    unknown = json.loads(good("u"))
    unknown["output"]["function_call"]["name"] = "get_wether"
    wrong_category = json.loads(good("c"))
    wrong_category["meta"] = {"category": "parallel"}
    missing_field = json.loads(good("m"))
    del missing_field["output"]
    wrong_type = json.loads(good("t"))
    wrong_type["input"]["user_question"] = 42
    lines = [
        good("a"),  # 1 ok
        "{not json",  # 2
        "",  # 3 empty
        dumps_canonical(missing_field),  # 4
        dumps_canonical(wrong_type),  # 5
        dumps_canonical(bad_schema),  # 6 arguments violate the schema
        dumps_canonical(unknown),  # 7 unknown function
        dumps_canonical(wrong_category),  # 8
        good("a", "Rome"),  # 9 duplicate id
        good("z"),  # 10 same question and answer as line 1
        json.dumps(json.loads(good("k")), indent=None, separators=(",", ":")),  # 11 not canonical
    ]
    data = ("\n".join(lines) + "\n").encode() + b'{"q": "caf\xe9"}\n' + b'{"id": "big", "x": "' + b"y" * (MAX_LINE_BYTES + 10) + b'"}\n' + b'{"id": "cut", "instr'
    report, reasons = reasons_by_line(tmp_path, data)
    assert 1 not in reasons and len(report.clean) == 1
    assert reasons[2].startswith("invalid JSON")
    assert reasons[3] == "empty line"
    assert "'output' is a required property" in reasons[4]
    assert "at /input/user_question: 42 is not of type 'string'" in reasons[5]
    assert "break its schema at /city" in reasons[6]
    assert "gold calls 'get_wether', which is not offered" in reasons[7]
    assert "category is 'parallel' but the output implies 'simple'" in reasons[8]
    assert "duplicate id 'a' (first at" in reasons[9]
    assert "exact duplicate of line 1" in reasons[10]
    assert reasons[11].startswith("not canonical")
    assert reasons[12] == "not valid UTF-8 at byte 10"
    assert reasons[13].startswith(f"line is {MAX_LINE_BYTES + 32:,} bytes")  # {"id": "big", "x": "} = 22 bytes + 10 extra
    assert reasons[14].startswith("truncated last line")


def test_bom_crlf_and_nfc_are_fixed_only_with_fix(tmp_path):
    decomposed = json.loads(good("n"))
    decomposed["input"]["user_question"] = "Weather in Mont-Saint-Miche\u0301l?"  # e + combining acute
    data = b"\xef\xbb\xbf" + good("a").encode() + b"\r\n" + json.dumps(decomposed, ensure_ascii=False).encode() + b"\n"
    _, reasons = reasons_by_line(tmp_path, data)
    assert "UTF-8 BOM" in reasons[1] and "CRLF" in reasons[1]
    assert reasons[2].startswith("not canonical")
    report, reasons = reasons_by_line(tmp_path, data, fix=True)
    assert reasons == {} and report.fixed == 2
    assert "Mont-Saint-Michél" in report.clean[1]  # composed


def test_leakage_against_benchmark(tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text(good("b1", "Reykjavik") + "\n")
    train = tmp_path / "train.jsonl"
    near = json.loads(good("t2", "Lima"))
    near["input"]["user_question"] = "What's the weather in Reykjavik?!"  # same words
    train.write_text(good("t1", "Reykjavik") + "\n" + dumps_canonical(near) + "\n" + good("t3", "Lima") + "\n")
    (report,) = validate_files([train], against=bench)
    assert report.leaked == 2
    assert [r.line for r in report.rejects] == [1, 2]
    assert "leaks benchmark item 'b1'" in report.rejects[0].reasons[0]


def test_cli_writes_clean_and_rejects_and_exits_nonzero(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes((good("a") + "\n{oops\n").encode())
    result = runner.invoke(app, ["validate", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"{path}:2: invalid JSON" in result.output
    assert (tmp_path / "out" / "train" / "clean.jsonl").read_text() == good("a") + "\n"
    (reject,) = [json.loads(l) for l in (tmp_path / "out" / "train" / "rejects.jsonl").read_text().splitlines()]
    assert reject["line"] == 2 and reject["text"] == "{oops"
    assert path.read_bytes() == (good("a") + "\n{oops\n").encode()  # the input is never rewritten


def test_cli_validates_clean_file(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(good("a") + "\n" + good("b", "Rome") + "\n")
    result = runner.invoke(app, ["validate", str(path), "--against", "benchmark"])
    assert result.exit_code == 0, result.output


def test_rejects_keep_non_utf8_bytes(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": "\xff"}\n')
    reports = validate_files([path])
    write_outputs(reports, tmp_path / "out")
    (row,) = [json.loads(l) for l in (tmp_path / "out" / "x" / "rejects.jsonl").read_text().splitlines()]
    import base64

    assert base64.b64decode(row["raw_base64"]) == b'{"a": "\xff"}'


def test_two_inputs_with_one_file_name_keep_both_outputs(tmp_path: Path) -> None:
    from conftest import record_json

    for folder, rid in (("a", "x1"), ("b", "x2")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "train.jsonl").write_text(json.dumps(record_json({"function_call": None}, rid=rid, category="irrelevance")) + "\n")
    result = runner.invoke(app, ["validate", str(tmp_path / "a" / "train.jsonl"), str(tmp_path / "b" / "train.jsonl"), "--out", str(tmp_path / "out")])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    cleans = [(tmp_path / "out" / s["out"] / "clean.jsonl").read_text() for s in summary]
    assert len({s["out"] for s in summary}) == 2 and ['"x1"' in cleans[0], '"x2"' in cleans[1]] == [True, True], result.output
