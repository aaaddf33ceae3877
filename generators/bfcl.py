"""``fcbench import-bfcl``: the Berkeley Function Calling Leaderboard's data as fcbench records.

The data comes from the PyPI wheel ``bfcl-eval`` (Apache-2.0), installed ``--no-deps`` by the
set-up and read as files through ``importlib.metadata``: the package itself is never imported
(its dependencies pin old numpy and a dozen provider SDKs). fcbench uses only its data; the
scoring is fcbench's own (``benchmark/ast_match.py``).

Conversion, per item:
- ``question``: the single turn's user message; when the turn has several messages (a system
  prompt, earlier turns: 98 live items), ``role: content`` lines in order;
- ``functions``: BFCL's parameter types are not JSON Schema. ``dict`` becomes ``object``,
  ``float`` becomes ``number``, ``tuple`` becomes ``array``, ``any`` drops the type constraint,
  recursively through ``properties``, ``items`` and ``additionalProperties``. The top level also
  gets ``additionalProperties: false``, as BFCL's checker refuses parameters outside the schema;
- ``meta.acceptable``: the possible answer, kept whole, as ``[{"name", "arguments": {param:
  [acceptable values]}}]``; ``""`` among a parameter's values means it may be omitted;
- ``output``, one canonical answer: for each parameter, its first acceptable value other than
  ``""``; a parameter whose only acceptable value is ``""`` is left out. One refinement: a first
  value that breaks the parameter's own schema (BFCL often lists ``None`` first for a parameter
  typed ``string`` whose default is None) gives way to the next value that satisfies it, or, when
  ``""`` is acceptable, to leaving the parameter out. Nested objects (whose keys map to
  acceptable-value lists too) take their first value other than ``""``;
- ``meta.category``: fcbench's category implied by that answer (no call: irrelevance; several
  calls: parallel; one call among one or more functions: simple or multiple), and
  ``meta.bfcl_category`` BFCL's own.

A converted item that is not a valid fcbench record, or whose canonical answer breaks its own
function's schema, is written to ``rejects.jsonl`` with the reasons, never dropped silently.
Multi-turn, agentic (memory, web search), format-sensitivity and non-Python (Java, JavaScript)
categories are out of scope. The import is deterministic: the same wheel gives byte-identical
files.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from fcbench.benchmark.ast_match import options_of
from fcbench.benchmark.jsonl import read_values
from fcbench.benchmark.provenance import sha256_file
from fcbench.benchmark.record import RecordError, answer_from_output, category_of, dumps_canonical, gold_problems, record_from_json, record_schema_errors

from fcbench.errors import UserError
from fcbench.paths import bfcl_dir

DISTRIBUTION = "bfcl-eval"
BENCHMARK_NAME = "bfcl-v4"
CONVERTER_VERSION = 2
"""Bumped whenever the conversion changes; part of the imported benchmark's version
(``<wheel version>+c<N>``), so that an import made by an older fcbench is made again and never
ranked with a newer one. 2: items BFCL can score are kept (schemas loosened where BFCL is)."""
CATEGORIES: tuple[str, ...] = (
    "simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple", "live_irrelevance",
)

COMBINED = "bfcl-v4.jsonl"
"""Every imported category in one file, in category order: what evaluation scores against."""
INSTRUCTION = "Answer the user's question with a JSON function call to one or more of the offered functions, or with no call when none fits."

TYPE_MAP: Mapping[str, str | None] = {
    "dict": "object", "float": "number", "tuple": "array", "any": None,
    "object": "object", "number": "number", "array": "array",
    "integer": "integer", "string": "string", "boolean": "boolean",
}
"""BFCL parameter type -> JSON Schema type (None: no type constraint)."""


class BfclNotInstalled(UserError):
    """The bfcl-eval wheel, whose data files BFCL's suite is made from, is not installed."""


class ConversionError(ValueError):
    """An item that cannot be converted; the message says why."""


# ---------------------------------------------------------------------------------------------
# Pure conversion of one item


def json_schema(node: Any, where: str = "parameters") -> Any:
    """A BFCL parameter schema as JSON Schema (see the module docstring)."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type":
            if value not in TYPE_MAP:
                raise ConversionError(f"{where}: unknown BFCL type {value!r}")
            if TYPE_MAP[value] is not None:
                out["type"] = TYPE_MAP[value]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: json_schema(prop, f"{where}.{name}") for name, prop in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = json_schema(value, f"{where}.{key}")
        else:
            out[key] = value
    return out


def function_spec(function: Mapping[str, Any]) -> dict[str, Any]:
    parameters = json_schema(function.get("parameters") or {"type": "dict", "properties": {}})
    parameters.setdefault("type", "object")
    parameters.setdefault("additionalProperties", False)
    spec = {"name": function["name"], "parameters": parameters}
    if function.get("description"):
        spec["description"] = function["description"]
    return spec


def question_text(question: Sequence[Sequence[Mapping[str, Any]]]) -> str:
    if len(question) != 1:
        raise ConversionError(f"{len(question)} turns: multi-turn items are out of scope")
    messages = question[0]
    if len(messages) == 1 and messages[0].get("role") == "user":
        return str(messages[0]["content"])
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def acceptable_from_ground_truth(ground_truth: Sequence[Mapping[str, Mapping[str, list[Any]]]]) -> list[dict[str, Any]]:
    """BFCL's ``[{name: {param: [values]}}]`` as ``[{"name", "arguments"}]``, values kept whole."""
    calls = []
    for entry in ground_truth:
        if len(entry) != 1:
            raise ConversionError(f"a possible answer names {len(entry)} functions in one call")
        ((name, arguments),) = entry.items()
        calls.append({"name": name, "arguments": dict(arguments)})
    return calls


def canonical_value(options: Sequence[Any], schema: Mapping[str, Any] | None = None) -> tuple[bool, Any]:
    """(present, value): the first acceptable value other than ``""`` that satisfies ``schema``;
    absent when ``""`` is the only other choice; the first value other than ``""`` when nothing
    fits (the record is then rejected, with the schema error as its reason)."""
    candidates = [_canonical(option) for option in options if option != ""]
    if schema:
        validator = jsonschema.Draft202012Validator(schema)
        fitting = [value for value in candidates if validator.is_valid(value)]
        if fitting:
            return True, fitting[0]
        if "" in options:
            return False, None
    return (True, candidates[0]) if candidates else (False, None)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):  # a nested object: each key maps to its acceptable values
        return {key: v for key, (present, v) in ((k, canonical_value(options_of(opts))) for k, opts in value.items()) if present}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def canonical_output(acceptable: Sequence[Mapping[str, Any]], functions: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    properties = {f["name"]: f["parameters"].get("properties") or {} for f in functions}
    calls = []
    for call in acceptable:
        props = properties.get(call["name"], {})
        chosen = ((p, canonical_value(opts, props.get(p))) for p, opts in call["arguments"].items())
        arguments = {param: value for param, (present, value) in chosen if present}
        calls.append({"name": call["name"], "arguments": arguments})
    if not calls:
        return {"function_call": None}
    return {"function_call": calls[0]} if len(calls) == 1 else {"function_calls": calls}


def convert_item(item: Mapping[str, Any], ground_truth: Sequence[Mapping[str, Any]] | None, bfcl_category: str) -> dict[str, Any]:
    """One BFCL item (and its possible answer, None for irrelevance) as an fcbench record."""
    functions = [function_spec(f) for f in item["function"]]
    acceptable = acceptable_from_ground_truth(ground_truth) if ground_truth is not None else []
    output = canonical_output(acceptable, functions)
    answer = answer_from_output(output)
    assert not isinstance(answer, str), answer  # canonical_output writes a valid envelope
    category = category_of(answer, len(functions))
    return {
        "id": item["id"],
        "instruction": INSTRUCTION,
        "input": {"user_question": question_text(item["question"]), "functions": functions},
        "output": output,
        "meta": {"category": category, "bfcl_category": bfcl_category, "acceptable": acceptable, "source": f"{DISTRIBUTION} BFCL_v4_{bfcl_category}"},
    }


LOOSENED = ("enum", "type")
"""Schema constraints BFCL's checker does not hold a gold answer to: it never checks enums, and
accepts a value of its possible answers' own type where the declared type differs."""
_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"), (dict, "object"), (type(None), "null"))


def loosen_to_gold(obj: dict[str, Any]) -> list[str]:
    """Loosen, in place, exactly the constraints of the offered schemas that the gold answer
    breaks and BFCL's checker does not hold it to (:data:`LOOSENED`), so that every item BFCL
    can score is kept; returns what was loosened, one line each. A gold answer that breaks any
    other constraint (a missing required or an unexpected parameter, which BFCL's checker also
    refuses) is left as it is, and the item is rejected."""
    specs = {spec["name"]: spec for spec in obj["input"]["functions"]}
    output = obj["output"]
    calls = output.get("function_calls") or ([output["function_call"]] if output.get("function_call") else [])
    notes: list[str] = []
    for call in calls:
        spec = specs.get(call["name"])
        if spec is None:
            continue
        for _ in range(MAX_LOOSENINGS):
            error = next(jsonschema.Draft202012Validator(spec["parameters"]).iter_errors(call["arguments"]), None)
            if error is None or error.validator not in LOOSENED:
                break
            target = spec["parameters"]
            for key in list(error.schema_path)[:-1]:
                target = target[key]
            where = f"{call['name']}{'/' + '/'.join(map(str, error.path)) if error.path else ''}"
            if error.validator == "enum":
                del target["enum"]
                notes.append(f"{where}: enum dropped ({error.instance!r} is not in it)")
            else:
                kind = next(name for py, name in _JSON_TYPES if isinstance(error.instance, py))
                declared = target["type"] if isinstance(target["type"], list) else [target["type"]]
                target["type"] = [*declared, kind]
                notes.append(f"{where}: type {kind} allowed beside {'/'.join(declared)}")
    return notes


MAX_LOOSENINGS = 16
"""Bound on the constraints loosened per call (each pass loosens one)."""


def record_problems(obj: Mapping[str, Any]) -> list[str]:
    """Why a converted item is not a usable fcbench record (empty: it is)."""
    errors = record_schema_errors(obj)
    if errors:
        return errors
    try:
        record = record_from_json(obj)
    except RecordError as err:
        return list(err.reasons)
    return gold_problems(record)


# ---------------------------------------------------------------------------------------------
# The wheel's files and the import


def source_files(category: str) -> tuple[Path, Path | None, str]:
    """(questions, possible answers or None, wheel version) of one category."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as err:
        raise BfclNotInstalled(f"{DISTRIBUTION} is not installed: `make setup` installs it (pip install --no-deps {DISTRIBUTION})") from err
    questions = Path(str(dist.locate_file(f"bfcl_eval/data/BFCL_v4_{category}.json")))
    if not questions.is_file():
        raise UserError(f"{DISTRIBUTION} {dist.version} has no category {category!r} ({questions} is missing)")
    answers = Path(str(dist.locate_file(f"bfcl_eval/data/possible_answer/BFCL_v4_{category}.json")))
    return questions, (answers if answers.is_file() else None), dist.version


@dataclass(slots=True)
class CategoryImport:
    category: str
    records: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, dict[str, str]] = field(default_factory=dict)


def import_category(category: str) -> tuple[CategoryImport, str]:
    questions, answers, version = source_files(category)
    result = CategoryImport(category, sources={"questions": {"file": questions.name, "sha256": sha256_file(questions)}})
    truths: dict[str, Any] = {}
    if answers is not None:
        result.sources["possible_answers"] = {"file": f"possible_answer/{answers.name}", "sha256": sha256_file(answers)}
        truths = {row["id"]: row["ground_truth"] for row in read_values(answers)}
    elif not category.endswith("irrelevance"):
        raise UserError(f"{category}: {DISTRIBUTION} ships no possible answers for it")
    for line_no, item in enumerate(read_values(questions), start=1):
        try:
            if answers is not None and item["id"] not in truths:
                raise ConversionError("no possible answer for this id")
            record = convert_item(item, truths.get(item["id"]), category)
        except (ConversionError, KeyError, TypeError, ValueError) as err:
            result.rejects.append({"id": item.get("id"), "file": questions.name, "line": line_no, "reasons": [str(err)]})
            continue
        problems = record_problems(record)
        if problems and (loosened := loosen_to_gold(record)):
            problems = record_problems(record)
            record["meta"]["loosened"] = loosened
        if problems:
            result.rejects.append({"id": item.get("id"), "file": questions.name, "line": line_no, "reasons": problems, "record": record})
        else:
            result.records.append(record)
    return result, version


def _dump(rows: Iterable[Mapping[str, Any]]) -> str:
    """Canonical JSONL, the form ``fcbench validate`` expects (and byte-stable)."""
    return "".join(dumps_canonical(row) + "\n" for row in rows)


def import_bfcl(categories: Sequence[str] = CATEGORIES, out_dir: Path | None = None) -> dict[str, Any]:
    """Convert the categories into ``out_dir/<category>.jsonl``, ``rejects.jsonl`` and
    ``manifest.json`` (wheel version, source and output sha256s, counts); returns the manifest.
    ``out_dir`` defaults to the cache root's BFCL folder."""
    out_dir = out_dir or bfcl_dir()
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise UserError(f"unknown or out-of-scope BFCL categories {unknown}; in scope: {', '.join(CATEGORIES)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: dict[str, Any] = {}
    rejects: list[dict[str, Any]] = []
    combined: list[str] = []
    version = ""
    for category in categories:
        result, version = import_category(category)
        text = _dump(result.records)
        combined.append(text)
        (out_dir / f"{category}.jsonl").write_text(text, encoding="utf-8")
        entries[category] = {
            "file": f"{category}.jsonl", "records": len(result.records), "rejected": len(result.rejects),
            "sha256": hashlib.sha256(text.encode()).hexdigest(), "source": result.sources,
        }
        rejects.extend(result.rejects)
    (out_dir / "rejects.jsonl").write_text(_dump(rejects), encoding="utf-8")
    all_records = "".join(combined)
    (out_dir / COMBINED).write_text(all_records, encoding="utf-8")
    manifest = {
        "name": BENCHMARK_NAME, "version": f"{version}+c{CONVERTER_VERSION}", "file": COMBINED, "sha256": hashlib.sha256(all_records.encode()).hexdigest(),
        "distribution": DISTRIBUTION, "categories": entries,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


@dataclass(frozen=True, slots=True)
class GoldCheck:
    category: str
    items: int
    matched: int
    failures: list[tuple[str, str]]
    """(id, verdict and message) of each imported item whose own answer fails ast_match."""


def gold_check(out_dir: Path, categories: Sequence[str]) -> list[GoldCheck]:
    """Score each imported item's canonical answer, rendered as fcbench JSON, with ast_match:
    a conversion that lost or bent an acceptable value shows up here."""
    from fcbench.benchmark.metrics import score_output
    from fcbench.benchmark.record import read_records

    checks = []
    for category in categories:
        records, problems = read_records(out_dir / f"{category}.jsonl")
        failures = [(str(p.line), p.reason) for p in problems]
        for record in records:
            score = score_output(record, json.dumps(record.raw["output"]))
            if not score.ast_match:
                verdict = score.ast_verdict or score.verdict
                failures.append((record.id, f"{verdict.error_type}: {'; '.join(verdict.messages)}"))
        checks.append(GoldCheck(category, len(records), len(records) - len(failures), failures))
    return checks
