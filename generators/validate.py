"""Preprocessing: check record files line by line, keep every rejected line with its reasons,
and find duplicates and benchmark leakage.

Nothing read is lost: for each input file, clean lines + rejected lines = its lines.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasketch import MinHash, MinHashLSH
from fcbench.benchmark.jsonl import JsonlLine, json_text, nesting_depth, read_jsonl, write_together
from fcbench.benchmark.record import MAX_RECORD_DEPTH, RecordError, canonical_record, dumps_canonical, gold_problems, read_records, record_from_json
from fcbench.generators.synth import normalize_question

from fcbench.errors import UserError

MAX_LINE_BYTES = 1 << 20
"""A record line over 1 MiB is rejected (no real function-calling record is that large)."""
NEAR_DUPLICATE_JACCARD = 0.8
"""MinHash-estimated Jaccard similarity of word 3-gram shingles above which two questions are
near duplicates."""
NUM_PERM = 64


@dataclass(slots=True)
class Reject:
    file: str
    line: int
    reasons: list[str]
    raw: bytes

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"file": self.file, "line": self.line, "reasons": self.reasons}
        try:
            row["text"] = self.raw.decode("utf-8")
        except UnicodeDecodeError:  # keep the exact bytes
            row["raw_base64"] = base64.b64encode(self.raw).decode("ascii")
        return row


@dataclass(slots=True)
class FileReport:
    path: Path
    lines: int = 0
    clean: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    fixed: int = 0
    leaked: int = 0
    near_duplicates: list[tuple[int, int]] = field(default_factory=list)
    """(line, earlier line) pairs of near-duplicate questions: reported, not rejected."""

    def summary(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "lines": self.lines,
            "clean": len(self.clean),
            "rejected": len(self.rejects),
            "fixed": self.fixed,
            "leaked": self.leaked,
            "near_duplicate_pairs": len(self.near_duplicates),
        }


def shingles(question: str) -> list[bytes]:
    words = normalize_question(question).split()
    grams = [" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))]
    return [g.encode("utf-8") for g in grams]


_TEMPLATE = MinHash(num_perm=NUM_PERM, seed=1)
_PERMUTATIONS, _SCHEME = _TEMPLATE.permutations, _TEMPLATE.scheme
"""Drawn once: building them is most of a MinHash's cost."""


def minhash(question: str) -> MinHash:
    m = MinHash(num_perm=NUM_PERM, seed=1, permutations=_PERMUTATIONS, scheme=_SCHEME)
    m.update_batch(shingles(question))
    return m


@dataclass(slots=True)
class BenchmarkIndex:
    """The benchmark's questions, exact (normalised) and as MinHash LSH for near duplicates."""

    exact: dict[str, str]
    lsh: MinHashLSH

    @classmethod
    def build(cls, path: Path) -> BenchmarkIndex:
        records, problems = read_records(path)
        if problems:
            raise UserError(f"the benchmark {path} has problems: {problems[0]}")
        lsh = MinHashLSH(threshold=NEAR_DUPLICATE_JACCARD, num_perm=NUM_PERM)
        exact: dict[str, str] = {}
        for record in records:
            exact.setdefault(normalize_question(record.question), record.id)
            lsh.insert(record.id, minhash(record.question))
        return cls(exact, lsh)

    def leak(self, question: str, signature: MinHash) -> str | None:
        same = self.exact.get(normalize_question(question))
        if same is not None:
            return f"leaks benchmark item {same!r} (same question)"
        near = self.lsh.query(signature)
        if near:
            return f"leaks benchmark item {sorted(near)[0]!r} (near-duplicate question)"
        return None


def validate_file(path: Path, *, fix: bool, seen_ids: dict[str, str], benchmark: BenchmarkIndex | None) -> FileReport:
    """Check every line of one file. ``seen_ids`` carries ids across files (ids are unique
    across a data set, e.g. train and validation)."""
    report = FileReport(path)
    within = MinHashLSH(threshold=NEAR_DUPLICATE_JACCARD, num_perm=NUM_PERM)
    exact_keys: dict[str, int] = {}
    for line in read_jsonl(path):
        report.lines += 1
        reasons, canonical, text = _check_line(line, fix)
        if canonical is not None:
            reasons += _check_content(path, line.line, canonical, seen_ids, exact_keys)
        if not reasons and canonical is not None:
            question = canonical["input"]["user_question"]
            signature = minhash(question)
            leak = benchmark.leak(question, signature) if benchmark else None
            if leak:
                reasons.append(leak)
                report.leaked += 1
            else:
                report.near_duplicates.extend((line.line, int(other)) for other in within.query(signature)[:1])
                within.insert(str(line.line), signature)
        if reasons:
            report.rejects.append(Reject(str(path), line.line, reasons, line.raw))
            continue
        if fix and text.encode("utf-8") != line.raw:
            report.fixed += 1
        report.clean.append(text)
    return report


def _check_line(line: JsonlLine, fix: bool) -> tuple[list[str], dict[str, Any] | None, str]:
    """Bytes and JSON: returns reasons, and the canonical object and line when it could be read."""
    if line.problem is not None:
        return [line.problem], None, ""
    if line.is_blank:
        return ["empty line"], None, ""
    if len(line.raw) > MAX_LINE_BYTES:
        return [f"line is {len(line.raw):,} bytes; a record may have at most {MAX_LINE_BYTES:,}"], None, ""
    if not isinstance(line.value, dict):
        return [f"expected a JSON object, got {type(line.value).__name__}"], None, ""
    depth = nesting_depth(line.value)
    if depth > MAX_RECORD_DEPTH:
        return [f"nested {depth} levels deep; a record may nest at most {MAX_RECORD_DEPTH}"], None, ""
    canonical = canonical_record(line.value)
    text = dumps_canonical(canonical)
    if fix:
        return [], canonical, text
    flaws = []
    if line.bom:
        flaws.append("UTF-8 BOM")
    if line.crlf:
        flaws.append("CRLF line end")
    body = line.raw.removeprefix(b"\xef\xbb\xbf").removesuffix(b"\r")
    if body != text.encode("utf-8"):
        flaws.append("not in canonical form (NFC strings, key order, JSON spacing, no \\u escapes)")
    return ([f"not canonical: {', '.join(flaws)} (--fix writes a normalised copy)"] if flaws else []), canonical, text


def _check_content(path: Path, number: int, obj: dict[str, Any], seen_ids: dict[str, str], exact_keys: dict[str, int]) -> list[str]:
    try:
        record = record_from_json(obj, default_id=f"line-{number}", line=number)
    except RecordError as err:
        return list(err.reasons)
    reasons = gold_problems(record)
    where = f"{path}:{number}"
    if record.id in seen_ids:
        reasons.append(f"duplicate id {record.id!r} (first at {seen_ids[record.id]})")
    else:
        seen_ids[record.id] = where
    key = normalize_question(record.question) + "\x00" + json.dumps(obj["output"], sort_keys=True)
    if key in exact_keys:
        reasons.append(f"exact duplicate of line {exact_keys[key]} (same question and answer)")
    else:
        exact_keys[key] = number
    return reasons


def validate_files(paths: Sequence[Path], *, fix: bool = False, against: Path | None = None) -> list[FileReport]:
    benchmark = BenchmarkIndex.build(against) if against else None
    seen_ids: dict[str, str] = {}
    return [validate_file(Path(p), fix=fix, seen_ids=seen_ids, benchmark=benchmark) for p in paths]


def output_folders(paths: Sequence[Path]) -> list[str]:
    """One output folder name per input: its stem, or, where two inputs share a stem
    (``a/train.jsonl`` and ``b/train.jsonl``), its path with the separators as ``__``, so no
    input's output overwrites another's."""
    stems = [p.stem for p in paths]
    return [stem if stems.count(stem) == 1 else "__".join(p.with_suffix("").parts).lstrip("_") for stem, p in zip(stems, paths)]


def write_outputs(reports: Sequence[FileReport], out_dir: Path) -> Path:
    """``OUT/<folder>/clean.jsonl`` and ``rejects.jsonl`` per input (:func:`output_folders`) and
    ``OUT/summary.json``, all written together or not at all."""
    files: dict[Path, str] = {}
    for report, folder in zip(reports, output_folders([r.path for r in reports])):
        files[out_dir / folder / "clean.jsonl"] = "".join(t + "\n" for t in report.clean)
        files[out_dir / folder / "rejects.jsonl"] = "".join(json_text(r.to_json()) + "\n" for r in report.rejects)
    summary_path = out_dir / "summary.json"
    files[summary_path] = json.dumps([{**r.summary(), "out": folder} for r, folder in zip(reports, output_folders([r.path for r in reports]))], indent=2) + "\n"
    write_together(files)
    return summary_path
