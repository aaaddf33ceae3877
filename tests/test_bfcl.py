"""BFCL import and ast_match on small hand-made items: the type mapping, acceptable values,
optional parameters, int-for-float, parallel order and the irrelevance rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CONVERT, call, make_record
from fcbench.benchmark.ast_match import normalise
from fcbench.benchmark.metrics import score_output
from fcbench.benchmark.record import record_from_json
from fcbench.generators.bfcl import CATEGORIES, ConversionError, canonical_output, convert_item, import_bfcl, json_schema, loosen_to_gold, record_problems

from fcbench.errors import UserError

# A BFCL item in BFCL's own form: "dict" and "float" types, an optional unit with a default.
AREA = {
    "name": "calc.area",
    "description": "Area of a rectangle.",
    "parameters": {
        "type": "dict",
        "properties": {
            "width": {"type": "float", "description": "Width."},
            "height": {"type": "integer", "description": "Height."},
            "unit": {"type": "string", "description": "Unit, default 'm'."},
            "sides": {"type": "tuple", "items": {"type": "float"}, "description": "Optional side lengths."},
        },
        "required": ["width", "height"],
    },
}
WEATHER = {
    "name": "weather",
    "parameters": {"type": "dict", "properties": {"city": {"type": "string"}, "options": {"type": "dict", "properties": {"days": {"type": "integer"}, "metric": {"type": "boolean"}}}}, "required": ["city"]},
}


def bfcl_item(item_id: str, question: str, functions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": item_id, "question": [[{"role": "user", "content": question}]], "function": functions}


def converted(ground_truth: list[dict[str, Any]] | None, functions: list[dict[str, Any]] | None = None, item_id: str = "simple_python_0") -> Any:
    obj = convert_item(bfcl_item(item_id, "Area of a 2.5 by 4 rectangle in metres?", functions or [AREA]), ground_truth, "simple_python")
    assert record_problems(obj) == []
    return record_from_json(obj)


def ast(record: Any, answer: Any) -> tuple[bool, str]:
    score = score_output(record, answer if isinstance(answer, str) else json.dumps(answer))
    verdict = score.ast_verdict or score.verdict
    return score.ast_match, str(verdict.error_type)


def one_call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"function_call": {"name": name, "arguments": arguments}}


# ---------------------------------------------------------------------------------------------
# Conversion


def test_bfcl_types_become_json_schema() -> None:
    assert json_schema(AREA["parameters"]) == {
        "type": "object",
        "properties": {
            "width": {"type": "number", "description": "Width."},
            "height": {"type": "integer", "description": "Height."},
            "unit": {"type": "string", "description": "Unit, default 'm'."},
            "sides": {"type": "array", "items": {"type": "number"}, "description": "Optional side lengths."},
        },
        "required": ["width", "height"],
    }
    # "any" drops the type constraint; nested dicts are mapped too.
    assert json_schema({"type": "dict", "properties": {"x": {"type": "any"}, "y": {"type": "dict", "properties": {"z": {"type": "float"}}}}}) == {
        "type": "object", "properties": {"x": {}, "y": {"type": "object", "properties": {"z": {"type": "number"}}}},
    }
    with pytest.raises(ConversionError, match="unknown BFCL type 'String'"):
        json_schema({"type": "dict", "properties": {"s": {"type": "String"}}})


def test_the_canonical_answer_takes_the_first_acceptable_value_and_leaves_out_omittable_ones() -> None:
    truth = [{"calc.area": {"width": [2.5], "height": [4], "unit": ["", "m", "metres"], "sides": [""]}}]
    record = converted(truth)
    # unit: "" comes first, so its first other value; sides: only "", so left out.
    assert record.raw["output"] == one_call("calc.area", width=2.5, height=4, unit="m")
    assert record.raw["meta"]["acceptable"] == [{"name": "calc.area", "arguments": truth[0]["calc.area"]}]
    assert record.category == "simple" and record.raw["meta"]["bfcl_category"] == "simple_python"
    assert record.raw["input"]["functions"][0]["parameters"]["additionalProperties"] is False


def test_a_first_value_that_breaks_the_schema_gives_way() -> None:
    # BFCL often lists None first for a parameter typed string: the next fitting value, or
    # leaving the parameter out where "" is acceptable, is the canonical answer instead.
    functions = [{"name": "find", "parameters": {"type": "object", "properties": {"genre": {"type": "string"}, "year": {"type": "integer"}}}}]
    assert canonical_output([{"name": "find", "arguments": {"genre": [None, "rock"], "year": [None, ""]}}], functions) == one_call("find", genre="rock")


def test_only_items_bfcl_cannot_score_are_refused_and_the_rest_loosened_where_bfcl_is_loose() -> None:
    # no function offered: BFCL scores it (any call is wrong), and so does fcbench
    assert record_problems(convert_item(bfcl_item("live_irrelevance_1", "hi", []), None, "live_irrelevance")) == []
    # a gold value of another type than declared: BFCL accepts a value of its possible answers' type
    typed = convert_item(bfcl_item("simple_python_9", "q", [AREA]), [{"calc.area": {"width": ["wide"], "height": [4]}}], "simple_python")
    assert any("break its schema at /width" in reason for reason in record_problems(typed))
    assert loosen_to_gold(typed) == ["calc.area/width: type string allowed beside number"] and record_problems(typed) == []
    assert typed["input"]["functions"][0]["parameters"]["properties"]["width"]["type"] == ["number", "string"]
    # BFCL never checks enums
    enum = dict(AREA, parameters={**AREA["parameters"], "properties": {**AREA["parameters"]["properties"], "unit": {"type": "string", "enum": ["m", "ft"]}}})
    outside = convert_item(bfcl_item("simple_python_10", "q", [enum]), [{"calc.area": {"width": [2.0], "height": [4], "unit": ["yd"]}}], "simple_python")
    assert loosen_to_gold(outside) == ["calc.area/unit: enum dropped ('yd' is not in it)"] and record_problems(outside) == []
    # a missing required parameter: BFCL's own checker refuses its gold too, so the item is refused
    missing = convert_item(bfcl_item("simple_python_11", "q", [AREA]), [{"calc.area": {"width": [2.0]}}], "simple_python")
    assert loosen_to_gold(missing) == [] and any("'height' is a required property" in reason for reason in record_problems(missing))
    with pytest.raises(ConversionError, match="multi-turn"):
        convert_item({**bfcl_item("x", "q", [AREA]), "question": [[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]]}, None, "irrelevance")


# ---------------------------------------------------------------------------------------------
# ast_match


@pytest.fixture
def area() -> Any:
    return converted([{"calc.area": {"width": [2.5], "height": [4], "unit": ["", "m", "metres"], "sides": ["", [1.0, 2.0]]}}])


def test_each_value_must_be_acceptable_strings_normalised(area: Any) -> None:
    assert ast(area, one_call("calc.area", width=2.5, height=4, unit="Metres.")) == (True, "ok")
    assert normalise(" Jan. 28, 2021 ") == "jan282021"
    assert ast(area, one_call("calc.area", width=2.5, height=4, unit="feet")) == (False, "args:value")
    assert ast(area, one_call("calc.area", width=3, height=4)) == (False, "args:value")


def test_optional_parameters_may_be_left_out_only_where_blank_is_acceptable(area: Any) -> None:
    assert ast(area, one_call("calc.area", width=2.5, height=4)) == (True, "ok")  # unit and sides omittable
    required_omittable = converted([{"calc.area": {"width": [2.5], "height": [4], "unit": ["m"]}}])
    assert ast(required_omittable, one_call("calc.area", width=2.5, height=4)) == (False, "args:missing")
    assert ast(area, one_call("calc.area", width=2.5)) == (False, "args:missing_required")
    assert ast(area, one_call("calc.area", width=2.5, height=4, colour="red")) == (False, "args:unexpected")


def test_an_integer_is_accepted_where_a_float_is_expected_also_inside_lists(area: Any) -> None:
    assert ast(area, one_call("calc.area", width=2.5, height=4, sides=[1, 2])) == (True, "ok")
    assert ast(converted([{"calc.area": {"width": [5.0], "height": [4]}}]), one_call("calc.area", width=5, height=4)) == (True, "ok")
    # ... but not a float where the schema says integer, nor a boolean as a number.
    assert ast(area, one_call("calc.area", width=2.5, height=4.0)) == (False, "args:value")
    assert ast(converted([{"calc.area": {"width": [1.0], "height": [4]}}]), one_call("calc.area", width=True, height=4)) == (False, "args:value")
    assert ast(area, one_call("calc.area", width=2.5, height=4, sides=[2, 1])) == (False, "args:value")  # lists keep their order


def test_nested_objects_match_key_by_key() -> None:
    record = converted([{"weather": {"city": ["Paris"], "options": [{"days": [3], "metric": ["", True]}]}}], [WEATHER], "multiple_0")
    assert record.raw["output"] == one_call("weather", city="Paris", options={"days": 3, "metric": True})
    assert ast(record, one_call("weather", city="paris", options={"days": 3})) == (True, "ok")
    assert ast(record, one_call("weather", city="Paris", options={"days": 4})) == (False, "args:value")


def test_parallel_calls_match_in_any_order() -> None:
    truth = [{"calc.area": {"width": [1.0], "height": [2]}}, {"calc.area": {"width": [3.0], "height": [4]}}]
    record = converted(truth, item_id="parallel_0")
    assert record.category == "parallel"
    first, second = {"name": "calc.area", "arguments": {"width": 1, "height": 2}}, {"name": "calc.area", "arguments": {"width": 3, "height": 4}}
    assert ast(record, {"function_calls": [second, first]}) == (True, "ok")
    assert ast(record, {"function_calls": [first, first]}) == (False, "args:value")
    assert ast(record, one_call("calc.area", width=1, height=2)) == (False, "calls:count")


def test_only_an_explicit_no_call_is_a_correct_abstention() -> None:
    record = converted(None, item_id="irrelevance_0")
    assert record.category == "irrelevance" and record.raw["output"] == {"function_call": None}
    assert ast(record, {"function_call": None}) == (True, "ok")
    # BFCL's runner counts an unparsable answer as abstaining (its issue #443); fcbench does not.
    assert ast(record, "I cannot help with that.") == (False, "parse:no_json")
    assert ast(record, one_call("calc.area", width=1, height=2)) == (False, "irrelevance:called")


def test_a_native_record_accepts_exactly_its_gold_answer() -> None:
    record = make_record({"function_call": call("currency_conversion", amount=10, **{"from": "USD", "to": "EUR"})}, [CONVERT])
    assert ast(record, one_call("currency_conversion", amount=10.0, **{"from": "usd", "to": "EUR"})) == (True, "ok")
    assert ast(record, one_call("currency_conversion", amount=11, **{"from": "USD", "to": "EUR"})) == (False, "args:value")


# ---------------------------------------------------------------------------------------------
# The real import (bfcl-eval is installed by make setup)


def test_the_import_of_the_installed_wheel_is_deterministic_and_every_gold_answer_matches(tmp_path: Path) -> None:
    from fcbench.generators.bfcl import gold_check

    categories = ["simple_python", "parallel_multiple", "live_irrelevance"]
    first = import_bfcl(categories, tmp_path / "a")
    second = import_bfcl(categories, tmp_path / "b")
    assert first == second
    for category in categories:
        assert (tmp_path / "a" / f"{category}.jsonl").read_bytes() == (tmp_path / "b" / f"{category}.jsonl").read_bytes()
    assert first["categories"]["simple_python"]["records"] == 400 and first["categories"]["simple_python"]["source"]["questions"]["sha256"]
    rejects = [json.loads(line) for line in (tmp_path / "a" / "rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == sum(e["rejected"] for e in first["categories"].values()) and all(r["reasons"] for r in rejects)
    for check in gold_check(tmp_path / "a", categories):
        assert check.failures == [] and check.matched == check.items
    assert set(categories) <= set(CATEGORIES)


# ---------------------------------------------------------------------------------------------
# The lm-eval group and the leaderboard


@pytest.fixture(scope="module")
def imported() -> Path:
    """BFCL's items where the tasks read them, imported unless this fcbench's import is there."""
    from fcbench.benchmark.suites import BFCL

    from fcbench.paths import bfcl_dir

    BFCL.frozen()
    return bfcl_dir()


def test_the_bfcl_group_has_one_subtask_per_category_and_an_oracle_scores_one(imported: Path) -> None:
    from fcbench.benchmark.metrics import METRICS
    from fcbench.evaluation.runner import TASKS_DIR
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager
    from test_eval_task import OracleLM

    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    tasks = manager.load(["fcbench_bfcl"])["tasks"]
    assert sorted(tasks) == sorted(f"bfcl_{c}" for c in CATEGORIES)
    manifest = json.loads((imported / "manifest.json").read_text())
    assert len(list(tasks["bfcl_simple_python"].test_docs())) == manifest["categories"]["simple_python"]["records"] == 400
    results = simple_evaluate(model=OracleLM(), tasks=["bfcl_simple_python", "bfcl_parallel_multiple", "bfcl_irrelevance"], task_manager=manager, limit=8)["results"]
    for name in ("bfcl_simple_python", "bfcl_parallel_multiple", "bfcl_irrelevance"):
        for metric in METRICS:
            assert results[name][f"{metric},none"] == 1.0, (name, metric)


def test_a_bfcl_evaluation_lands_in_the_leaderboard_as_its_own_benchmark(imported: Path, tiny_llama_dir: Path, tmp_path: Path) -> None:
    from fcbench.evaluation.runner import EvalConfig, run_eval
    from fcbench.leaderboard.store import evaluations, opened, record_results

    cfg = EvalConfig(model=str(tiny_llama_dir), tasks=("bfcl_simple_python", "bfcl_irrelevance"), limit=2, batch_size=4, dtype="float32",
                     max_gen_toks=16, results_dir=tmp_path, name="tiny")
    run = run_eval(cfg)
    assert run.out_dir == tmp_path / "bfcl-v4" / "tiny"
    assert run.summary.benchmark.name == "bfcl-v4" and run.summary.n_items == 4
    items = [json.loads(line) for line in (run.out_dir / "items.jsonl").read_text().splitlines()]
    assert {item["id"] for item in items} == {"simple_python_0", "simple_python_1", "irrelevance_0", "irrelevance_1"}
    assert all("ast_match" in item and "ast_verdict" in item for item in items)
    with opened(tmp_path / "lb.db") as conn:
        record_results(conn, run.out_dir)
        assert [(ev.benchmark, ev.benchmark_version) for ev in evaluations(conn)] == [("bfcl-v4", manifest_version(imported))]
        assert evaluations(conn, "fcbench") == []
    with pytest.raises(UserError, match="mixes the suites bfcl-v4 and fcbench"):
        run_eval(EvalConfig(model=str(tiny_llama_dir), tasks=("fcbench_simple", "bfcl_irrelevance"), results_dir=tmp_path))


def manifest_version(folder: Path) -> str:
    return json.loads((folder / "manifest.json").read_text())["version"]
