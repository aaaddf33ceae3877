"""Reading JSON Lines files without losing a line.

Every physical line of the file comes back as a :class:`JsonlLine`, good or bad, with its
1-based line number, so callers can report ``file:line: reason`` and keep rejected lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one line of one file."""

    path: str
    line: int | None
    """1-based; None when the problem is about the file as a whole."""
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class JsonlLine:
    """One physical line. ``problem`` is None when ``value`` holds the parsed JSON."""

    line: int
    raw: bytes
    value: Any = None
    problem: str | None = None
    bom: bool = False
    crlf: bool = False

    @property
    def is_blank(self) -> bool:
        return self.problem is None and not self.raw.strip()


def reject_constant(name: str) -> Any:
    """json's parse_constant hook: NaN and Infinity are Python's extensions, not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dupes = [k for k, _ in pairs if k in seen or seen.add(k)]
        raise ValueError(f"duplicate key {dupes[0]!r}")
    return obj


_STRICT = json.JSONDecoder(parse_constant=reject_constant, object_pairs_hook=_object_without_duplicate_keys)


def loads_strict(text: str) -> Any:
    """Parse JSON text, refusing NaN/Infinity and duplicate keys (which json.loads accepts).

    Raises ValueError (json.JSONDecodeError for syntax errors) with a readable message.
    """
    return _STRICT.decode(text)


def read_jsonl(path: str | Path) -> Iterator[JsonlLine]:
    """Yield every line of a JSONL file, parsed or with the reason it could not be.

    Tolerated and flagged (so a validator can demand canonical form): a UTF-8 BOM on the
    first line, CRLF line ends. Reported as problems: bytes that are not UTF-8, invalid
    JSON, and a last line without a newline that does not parse (a truncated write).
    Blank lines come back with ``is_blank`` set.
    """
    data = Path(path).read_bytes()
    chunks = data.split(b"\n")
    ends_with_newline = chunks[-1] == b""
    if ends_with_newline:
        chunks.pop()
    for index, raw in enumerate(chunks):
        yield _parse_line(index + 1, raw, is_last_unterminated=not ends_with_newline and index == len(chunks) - 1)


def _parse_line(number: int, raw: bytes, *, is_last_unterminated: bool) -> JsonlLine:
    body, bom, crlf = raw, False, False
    if number == 1 and body.startswith(UTF8_BOM):
        body, bom = body[len(UTF8_BOM):], True
    if body.endswith(b"\r"):
        body, crlf = body[:-1], True
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        return JsonlLine(number, raw, problem=f"not valid UTF-8 at byte {err.start}", bom=bom, crlf=crlf)
    if not text.strip():
        return JsonlLine(number, raw, bom=bom, crlf=crlf)
    try:
        value = loads_strict(text)
    except RecursionError:
        return JsonlLine(number, raw, problem="invalid JSON: nested too deeply", bom=bom, crlf=crlf)
    except json.JSONDecodeError as err:
        reason = f"invalid JSON at column {err.colno}: {err.msg}"
        if is_last_unterminated:
            reason = f"truncated last line (no newline at end of file); {reason}"
        return JsonlLine(number, raw, problem=reason, bom=bom, crlf=crlf)
    except ValueError as err:
        return JsonlLine(number, raw, problem=f"invalid JSON: {err}", bom=bom, crlf=crlf)
    return JsonlLine(number, raw, value=value, bom=bom, crlf=crlf)


def content_lines(path: str | Path, problems: list[Problem]) -> Iterator[JsonlLine]:
    """The lines of a JSONL file that parsed; each bad line is appended to ``problems``.

    Blank lines are skipped (they carry nothing).
    """
    for line in read_jsonl(path):
        if line.problem is not None:
            problems.append(Problem(str(path), line.line, line.problem))
        elif not line.is_blank:
            yield line


def read_values(path: str | Path) -> list[Any]:
    """Every value of a JSONL file that must be whole (a results or source file, not user
    input to triage): ValueError naming the first bad line and how many there are."""
    problems: list[Problem] = []
    values = [line.value for line in content_lines(path, problems)]
    if problems:
        raise ValueError(f"{problems[0]} ({len(problems)} bad line(s) in all)")
    return values


def nesting_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a JSON value (a scalar: 0), without recursion, so
    that no value can exhaust the stack while its depth is measured."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
    return deepest


# ---------------------------------------------------------------------------------------------
# Writing


def json_text(value: Any, *, indent: int | None = None, default: Any = None) -> str:
    """JSON that can always be written as UTF-8. Non-ASCII text stays readable; a string with a
    lone surrogate (``"\\ud800"``, which a model can emit as plain ASCII and JSON can carry, but
    UTF-8 cannot encode) makes the whole value fall back to ASCII escapes instead of failing."""
    text = json.dumps(value, ensure_ascii=False, indent=indent, default=default)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, indent=indent, default=default)
    return text


def write_together(files: dict[Path, str]) -> list[Path]:
    """Write several files so that they appear together or not at all: every one is written
    whole to a temporary name in its folder first, and only then are they renamed into place.
    A failure before the renames leaves the old files untouched."""
    temporary: list[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            scratch = path.with_name(f".{path.name}.tmp")
            scratch.write_text(text, encoding="utf-8")
            temporary.append((scratch, path))
    except BaseException:
        for scratch, _ in temporary:
            scratch.unlink(missing_ok=True)
        raise
    for scratch, path in temporary:
        scratch.replace(path)
    return list(files)
