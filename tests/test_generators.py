"""Generators: the library, determinism, held-out parts, the frozen benchmark."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from fcbench.benchmark.record import gold_problems, read_records
from fcbench.benchmark.suites import FCBENCH
from fcbench.generators.library import HELD_OUT_DOMAINS, LIBRARY, is_held_out, training_phrasings
from fcbench.generators.params import Sampler
from fcbench.generators.synth import HeldOutLeak, Parts, RecordFactory, build_benchmark, generate, realize

from fcbench.errors import UserError


def test_library_size_domains_and_types():
    assert len(LIBRARY) >= 60
    assert len({f.domain for f in LIBRARY}) >= 15
    assert len({f.name for f in LIBRARY}) == len(LIBRARY)
    types = Counter()
    for f in LIBRARY:
        spec = f.spec()["parameters"]
        assert spec["additionalProperties"] is False
        for p in spec["properties"].values():
            types["enum" if "enum" in p else p["type"]] += 1
    assert {"string", "enum", "integer", "number", "boolean", "array", "object"} <= set(types)
    assert any(not p.required for f in LIBRARY for p in f.params) and any(p.required for f in LIBRARY for p in f.params)


def test_held_out_share():
    held = [f for f in LIBRARY if is_held_out(f)]
    assert len(held) / len(LIBRARY) >= 0.15
    assert HELD_OUT_DOMAINS <= {f.domain for f in held}


def test_every_value_appears_in_the_question():
    sampler = Sampler.seeded(3)
    for function in LIBRARY:
        for phrasing in range(len(function.phrasings)):
            u = realize(function, phrasing, sampler)
            for name, value in u.arguments.items():
                if isinstance(value, bool):
                    continue  # a boolean reads as its clause ("mark it urgent")
                leaves = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
                for leaf in leaves:
                    assert str(leaf).lower() in u.question.lower(), (function.name, name, leaf, u.question)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    return out, generate(400, 7, out)


def test_same_seed_same_bytes(small_data, tmp_path):
    out, manifest = small_data
    again = generate(400, 7, tmp_path)
    for name in ("train.jsonl", "validation.jsonl"):
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes()
    assert again == manifest
    assert generate(400, 8, tmp_path / "other")["files"]["train.jsonl"]["sha256"] != manifest["files"]["train.jsonl"]["sha256"]


def test_generated_records_are_valid_and_proportioned(small_data):
    out, manifest = small_data
    records, problems = read_records(out / "train.jsonl")
    assert problems == [] and len(records) == 380
    assert all(gold_problems(r) == [] for r in records)
    # 400 * (0.40, 0.25, 0.20, 0.15) across train + validation
    total = Counter(manifest["files"]["train.jsonl"]["categories"]) + Counter(manifest["files"]["validation.jsonl"]["categories"])
    assert total == {"simple": 160, "multiple": 100, "parallel": 80, "irrelevance": 60}
    assert manifest["diversity"]["unique_question_ratio"] >= 0.99


def test_examples_differ_from_answers_and_are_shown_in_about_half_the_records(small_data):
    out, _ = small_data
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    shown = [r for r in rows if "function_call_example" in r["input"]]
    assert all(r["input"]["function_call_example"] != r["output"].get("function_call") for r in shown)
    assert 0.4 < len(shown) / len(rows) < 0.6  # EXAMPLE_SHARE, 380 records


def test_a_required_state_is_said_in_every_phrasing_and_false_flags_are_never_set():
    for function in LIBRARY:
        if any(p.always for p in function.params):
            assert all("{opt}" in phrasing for phrasing in function.phrasings), function.name
    factory = RecordFactory(Parts.training(), Sampler.seeded(3), "default", guard_training=True)
    records = [factory.make("simple", f"r{i}") for i in range(300)]
    names = {f.name: f for f in LIBRARY}
    for record in records:
        call = record["output"]["function_call"]
        for param in names[call["name"]].params:
            if param.is_flag and not param.always:
                assert call["arguments"].get(param.name, True) is True


def test_a_repeated_function_in_a_parallel_answer_gets_another_target():
    factory = RecordFactory(Parts.training(), Sampler.seeded(5), "default", guard_training=True)
    names = {f.name: f for f in LIBRARY}
    for i in range(200):
        first, second = factory.make("parallel", f"p{i}")["output"]["function_calls"]
        if first["name"] == second["name"]:
            target = names[first["name"]].params[0].name
            assert first["arguments"].get(target) != second["arguments"].get(target)


def test_no_held_out_function_or_phrasing_reaches_training(small_data):
    out, _ = small_data
    names = {f.name: f for f in LIBRARY}
    for line in (out / "train.jsonl").read_text().splitlines():
        record = json.loads(line)
        assert not any(is_held_out(names[f["name"]]) for f in record["input"]["functions"])
        for name, phrasing in zip(record["meta"]["functions"], record["meta"]["phrasings"]):
            assert not is_held_out(names[name]) and phrasing in training_phrasings(names[name])


def test_generator_refuses_held_out_parts_in_training():
    factory = RecordFactory(Parts.benchmark("unseen_function"), Sampler.seeded(0), "default", guard_training=True)
    with pytest.raises(HeldOutLeak):
        factory.make("simple", "x")


def test_seed_format_has_only_the_example(tmp_path):
    generate(60, 1, tmp_path, "seed")
    records, problems = read_records(tmp_path / "train.jsonl")
    assert problems == [] and all(gold_problems(r) == [] for r in records)
    raw = [json.loads(l) for l in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert all("functions" not in r["input"] for r in raw)
    assert "multiple" not in {r["meta"]["category"] for r in raw}


def test_committed_benchmark_is_frozen_and_complete():
    bench = FCBENCH.frozen()
    records, problems = read_records(bench.path)
    assert problems == [] and all(gold_problems(r) == [] for r in records)
    assert 900 <= len(records) <= 1100
    assert {r.category for r in records} == {"simple", "multiple", "parallel", "irrelevance"}
    assert {r.split for r in records} == {"seen_function", "unseen_function"}


def test_benchmark_versions_are_never_rewritten(tmp_path):
    build_benchmark(16, tmp_path, "t1")
    with pytest.raises(UserError, match="exists"):
        build_benchmark(16, tmp_path, "t1")
    assert set(json.loads((tmp_path / "manifest.json").read_text())["benchmarks"]) == {"t1"}
