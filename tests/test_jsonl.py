"""The JSONL reader keeps every line and says what is wrong with the bad ones."""

from __future__ import annotations

from fcbench.benchmark.jsonl import read_jsonl


def lines_of(tmp_path, data: bytes):
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    return list(read_jsonl(path))


def test_good_lines_bom_and_crlf(tmp_path):
    lines = lines_of(tmp_path, b'\xef\xbb\xbf{"a": 1}\r\n{"b": 2}\r\n')
    assert [l.value for l in lines] == [{"a": 1}, {"b": 2}]
    assert lines[0].bom and not lines[1].bom
    assert all(l.crlf for l in lines)


def test_blank_lines_are_flagged_not_problems(tmp_path):
    lines = lines_of(tmp_path, b'{"a": 1}\n\n   \n{"b": 2}\n')
    assert [l.line for l in lines] == [1, 2, 3, 4]
    assert [l.is_blank for l in lines] == [False, True, True, False]


def test_invalid_json_names_the_column(tmp_path):
    (line,) = lines_of(tmp_path, b'{"a": 1,}\n')
    assert line.problem.startswith("invalid JSON at column 9")


def test_truncated_last_line(tmp_path):
    lines = lines_of(tmp_path, b'{"a": 1}\n{"b": [1, 2')
    assert lines[0].problem is None
    assert lines[1].problem.startswith("truncated last line")


def test_last_line_without_newline_is_fine_when_complete(tmp_path):
    assert [l.value for l in lines_of(tmp_path, b'{"a": 1}\n{"b": 2}')] == [{"a": 1}, {"b": 2}]


def test_non_utf8_byte(tmp_path):
    (line,) = lines_of(tmp_path, b'{"a": "caf\xe9"}\n')
    assert line.problem == "not valid UTF-8 at byte 10"


def test_nan_and_duplicate_keys_are_rejected(tmp_path):
    lines = lines_of(tmp_path, b'{"a": NaN}\n{"a": 1, "a": 2}\n')
    assert "NaN is not valid JSON" in lines[0].problem
    assert "duplicate key 'a'" in lines[1].problem


def test_ten_megabyte_line_is_read_whole(tmp_path):
    big = b'{"q": "' + b"x" * 10_000_000 + b'"}\n'
    (line,) = lines_of(tmp_path, big)
    assert len(line.value["q"]) == 10_000_000


def test_deep_nesting_is_a_problem_not_a_crash(tmp_path):
    (line,) = lines_of(tmp_path, b"[" * 100_000 + b"]" * 100_000 + b"\n")
    assert line.problem == "invalid JSON: nested too deeply"
