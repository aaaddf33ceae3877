"""Each metric rule and each verdict type, on small hand-made items."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import CLOCK, CONVERT, FLIGHTS, WEATHER, as_text, call, make_record
from fcbench.benchmark.ast_match import ast_verdict
from fcbench.benchmark.canonical import json_equal, leaves
from fcbench.benchmark.metrics import aggregate, estimate, score_missing, score_output, wilson_interval
from fcbench.benchmark.verdict import ErrorType

GBP_JPY = {"amount": 250, "from": "GBP", "to": "JPY"}


def single(name, arguments):
    return as_text({"function_call": {"name": name, "arguments": arguments}})


# --- exact match -------------------------------------------------------------------------------


def test_exact_match_ignores_key_order_and_int_float(gbp_to_jpy):
    score = score_output(gbp_to_jpy, single("currency_conversion", {"to": "JPY", "amount": 250.0, "from": "GBP"}))
    assert score.exact_match and score.schema_valid and score.name_match and score.json_valid
    assert score.arg_f1 == 1.0
    assert score.verdict.error_type is ErrorType.OK


def test_booleans_are_not_numbers():
    assert not json_equal(True, 1) and not json_equal(False, 0.0)
    assert json_equal(1, 1.0) and json_equal({"a": [1, {"b": 2}]}, {"a": [1.0, {"b": 2}]})
    assert not json_equal({"0": 1}, [1])  # an object key is not a list index


def test_strings_exact_and_lists_in_order():
    record = make_record({"function_call": call("search_flights", origin="Oslo", destination="Rome", stops=["Berlin", "Vienna"])}, [FLIGHTS])
    reordered = single("search_flights", {"origin": "Oslo", "destination": "Rome", "stops": ["Vienna", "Berlin"]})
    assert not score_output(record, reordered).exact_match
    case = single("search_flights", {"origin": "oslo", "destination": "Rome", "stops": ["Berlin", "Vienna"]})
    assert not score_output(record, case).exact_match


def test_parallel_calls_compare_as_multiset():
    gold = {"function_calls": [call("get_weather", city="Oslo"), call("get_weather", city="Quito")]}
    record = make_record(gold, [WEATHER])
    swapped = as_text({"function_calls": [call("get_weather", city="Quito"), call("get_weather", city="Oslo")]})
    score = score_output(record, swapped)
    assert score.exact_match and score.arg_f1 == 1.0
    twice = as_text({"function_calls": [call("get_weather", city="Oslo"), call("get_weather", city="Oslo")]})
    assert not score_output(record, twice).exact_match


def test_single_call_may_be_written_as_one_element_list(gbp_to_jpy):
    text = as_text({"function_calls": [call("currency_conversion", **GBP_JPY)]})
    assert score_output(gbp_to_jpy, text).exact_match


def test_gold_no_call_matches_only_explicit_no_call():
    record = make_record({"function_call": None}, [WEATHER, CONVERT])
    score = score_output(record, '{"function_call": null}')
    assert score.exact_match and score.schema_valid and score.name_match and score.arg_f1 == 1.0
    for text in ("", "I cannot help with that.", '{"function_calls": []}'):
        score = score_output(record, text)
        assert not score.exact_match and score.arg_f1 == 0.0 and not score.name_match


# --- schema validity -----------------------------------------------------------------------------


def test_schema_valid_is_about_the_spec_not_the_gold(gbp_to_jpy):
    wrong_but_valid = score_output(gbp_to_jpy, single("currency_conversion", {"amount": 9, "from": "USD", "to": "EUR"}))
    assert wrong_but_valid.schema_valid and not wrong_but_valid.exact_match
    no_call = score_output(gbp_to_jpy, '{"function_call": null}')
    assert no_call.schema_valid  # a no-call envelope is schema-valid
    assert not score_output(gbp_to_jpy, single("currency_conversion", {"amount": -5, "from": "GBP", "to": "JPY"})).schema_valid
    assert not score_output(gbp_to_jpy, single("convert", GBP_JPY)).schema_valid  # not offered


def test_seed_form_spec_is_inferred_from_the_example():
    from fcbench.benchmark.record import record_from_json

    record = record_from_json(
        {
            "instruction": "x",
            "input": {"user_question": "Convert 12.5 CHF to SEK", "function_call_example": call("convert", amount=100, currency="USD")},
            "output": {"function_call": call("convert", amount=12.5, currency="CHF")},
        },
        default_id="line-1",
    )
    assert record.category == "simple" and record.id == "line-1"
    assert score_output(record, single("convert", {"amount": 12.5, "currency": "CHF"})).exact_match
    assert not score_output(record, single("convert", {"amount": "12.5", "currency": "CHF"})).schema_valid
    assert not score_output(record, single("convert", {"amount": 12.5})).schema_valid  # all required
    assert not score_output(record, single("convert", {"amount": 1, "currency": "CHF", "x": 1})).schema_valid


# --- argument F1 ----------------------------------------------------------------------------------


def test_arg_f1_one_wrong_value(gbp_to_jpy):
    # gold leaves: /amount, /from, /to; predicted: the same paths, /to differs.
    # TP = 2, P = 3, G = 3 -> F1 = 2*2 / (3+3) = 0.667
    score = score_output(gbp_to_jpy, single("currency_conversion", {"amount": 250, "from": "GBP", "to": "EUR"}))
    assert score.arg_f1 == pytest.approx(4 / 6)


def test_arg_f1_nested_and_extra_leaves():
    gold = call("search_flights", origin="Oslo", destination="Rome", passengers={"adults": 2, "children": 1})
    record = make_record({"function_call": gold}, [FLIGHTS])
    # gold leaves: /origin /destination /passengers/adults /passengers/children  (G = 4)
    # predicted:   /origin /destination(wrong) /passengers/adults /stops/0       (P = 4)
    # TP = 2 (/origin, /passengers/adults) -> F1 = 2*2 / (4+4) = 0.5
    text = single("search_flights", {"origin": "Oslo", "destination": "Milan", "passengers": {"adults": 2}, "stops": ["Paris"]})
    assert score_output(record, text).arg_f1 == pytest.approx(0.5)


def test_arg_f1_wrong_name_gives_no_true_positives():
    record = make_record({"function_call": call("get_weather", city="Lyon")}, [WEATHER, CONVERT])
    score = score_output(record, single("currency_conversion", {"city": "Lyon"}))
    assert score.arg_f1 == 0.0 and not score.name_match


def test_arg_f1_no_arguments_on_both_sides_is_one():
    record = make_record({"function_call": call("get_time")}, [CLOCK, WEATHER])
    assert score_output(record, single("get_time", {})).arg_f1 == 1.0
    assert score_output(record, single("get_weather", {})).arg_f1 == 0.0


def test_arg_f1_parallel_pairing_maximises_f1():
    gold = {"function_calls": [call("get_weather", city="Oslo", unit="celsius"), call("get_weather", city="Quito", unit="celsius")]}
    record = make_record(gold, [WEATHER])
    # In order, pred[0] vs gold[0] shares only /unit; swapped, pred[0]=Quito pairs with gold[1].
    # Best pairing: (Quito,celsius)<->gold[1]: 2 TP; (Oslo,fahrenheit)<->gold[0]: 1 TP.
    # TP = 3, P = 4, G = 4 -> F1 = 6/8 = 0.75
    text = as_text({"function_calls": [call("get_weather", city="Quito", unit="celsius"), call("get_weather", city="Oslo", unit="fahrenheit")]})
    assert score_output(record, text).arg_f1 == pytest.approx(0.75)


def test_arg_f1_extra_call_counts_its_leaves():
    record = make_record({"function_call": call("get_weather", city="Oslo")}, [WEATHER])
    # TP = 1; P = 1 + 1 (the extra call's /city); G = 1 -> F1 = 2/3
    text = as_text({"function_calls": [call("get_weather", city="Oslo"), call("get_weather", city="Rome")]})
    score = score_output(record, text)
    assert score.arg_f1 == pytest.approx(2 / 3)
    assert not score.name_match  # {get_weather: 2} != {get_weather: 1}


def test_unparseable_scores_zero(gbp_to_jpy):
    score = score_output(gbp_to_jpy, "no idea")
    assert (score.json_valid, score.exact_match, score.schema_valid, score.name_match, score.arg_f1) == (False, False, False, False, 0.0)


def test_leaves_of_empty_containers():
    assert leaves({}) == frozenset({((), "{}", None)})
    assert leaves({"a": []}) == frozenset({(("a",), "[]", None)})
    assert leaves([True, 1]) == frozenset({((0,), "bool", True), ((1,), "num", 1)})


# --- one test per verdict type ------------------------------------------------------------------

MULTI = [CONVERT, WEATHER, FLIGHTS]


def verdict(gold_output, text, functions=MULTI):
    return score_output(make_record(gold_output, functions), text).verdict


ONE_WEATHER = {"function_call": call("get_weather", city="Lyon", unit="celsius")}


@pytest.mark.parametrize(
    ("gold", "text", "expected"),
    [
        (ONE_WEATHER, single("get_weather", {"city": "Lyon", "unit": "celsius"}), ErrorType.OK),
        (ONE_WEATHER, "  ", ErrorType.PARSE_EMPTY),
        (ONE_WEATHER, "get_weather(city='Lyon')", ErrorType.PARSE_NO_JSON),
        (ONE_WEATHER, '{"function_call": {"name": "get_weather", "arguments": {"city": "Ly', ErrorType.PARSE_TRUNCATED),
        (ONE_WEATHER, "{function_call: get_weather} trailing", ErrorType.PARSE_INVALID_JSON),
        (ONE_WEATHER, '{"name": "get_weather", "arguments": {"city": "Lyon"}}', ErrorType.PARSE_WRONG_ENVELOPE),
        ({"function_call": None}, single("get_weather", {"city": "Lyon"}), ErrorType.IRRELEVANCE_CALLED),
        (ONE_WEATHER, '{"function_call": null}', ErrorType.CALLS_ABSTAINED),
        (ONE_WEATHER, as_text({"function_calls": [call("get_weather", city="Lyon"), call("get_weather", city="Nice")]}), ErrorType.CALLS_COUNT),
        (ONE_WEATHER, single("weather_now", {"city": "Lyon"}), ErrorType.NAME_HALLUCINATED),
        (ONE_WEATHER, single("currency_conversion", GBP_JPY), ErrorType.NAME_WRONG_FUNCTION),
        (ONE_WEATHER, single("get_weather", {"unit": "celsius"}), ErrorType.ARGS_MISSING_REQUIRED),
        (ONE_WEATHER, single("get_weather", {"city": "Lyon", "unit": "celsius", "country": "FR"}), ErrorType.ARGS_UNEXPECTED),
        (ONE_WEATHER, single("get_weather", {"city": "Lyon", "unit": "celsius", "details": "yes"}), ErrorType.ARGS_TYPE),
        (ONE_WEATHER, single("get_weather", {"city": "Lyon", "unit": "kelvin"}), ErrorType.ARGS_CONSTRAINT),
        (ONE_WEATHER, single("get_weather", {"city": "Lyon"}), ErrorType.ARGS_MISSING),
        (ONE_WEATHER, single("get_weather", {"city": "Lyon", "unit": "celsius", "details": True}), ErrorType.ARGS_EXTRA),
        (ONE_WEATHER, single("get_weather", {"city": "Paris", "unit": "celsius"}), ErrorType.ARGS_VALUE),
    ],
)
def test_each_verdict_type(gold, text, expected):
    result = verdict(gold, text)
    assert result.error_type is expected
    assert result.valid is (expected is ErrorType.OK)
    assert result.valid or result.messages  # every failure explains itself


def test_missing_prediction_verdict(gbp_to_jpy):
    score = score_missing(gbp_to_jpy)
    assert score.verdict.error_type is ErrorType.PREDICTION_MISSING and score.arg_f1 == 0.0


def test_every_verdict_type_is_covered():
    import inspect

    source = inspect.getsource(inspect.getmodule(test_each_verdict_type))
    missing = [e.name for e in ErrorType if f"ErrorType.{e.name}" not in source]
    assert not missing, f"no test for {missing}"


def test_verdict_messages_name_parameter_and_values():
    result = verdict(ONE_WEATHER, single("get_weather", {"city": "Paris", "unit": "celsius"}))
    assert "'city'" in result.messages[0] and '"Lyon"' in result.messages[0] and '"Paris"' in result.messages[0]


def test_nested_schema_error_names_its_path():
    record = make_record({"function_call": call("search_flights", origin="A", destination="B", passengers={"adults": 1})}, [FLIGHTS])
    result = score_output(record, single("search_flights", {"origin": "A", "destination": "B", "passengers": {"adults": "one"}})).verdict
    assert result.error_type is ErrorType.ARGS_TYPE
    assert "/passengers/adults" in result.messages[0]


def test_parallel_verdict_pairs_by_name_before_comparing_values():
    gold = {"function_calls": [call("get_weather", city="Oslo"), call("currency_conversion", **GBP_JPY)]}
    text = as_text({"function_calls": [call("currency_conversion", **dict(GBP_JPY, to="EUR")), call("get_weather", city="Oslo")]})
    result = verdict(gold, text)
    assert result.error_type is ErrorType.ARGS_VALUE and "'to'" in result.messages[0]


# --- aggregates -------------------------------------------------------------------------------------


def test_wilson_interval_known_values():
    # p = 0.5, n = 10, z = 1.96: centre = (0.5 + 0.19208) / 1.38415 = 0.5
    # half = 1.96 * sqrt(0.025 + 0.0096040) / 1.38415 = 0.26335 -> [0.2366, 0.7634]
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    # 10/10 is not a zero-width interval: [n / (n + z^2), 1] = [10 / 13.8415, 1] = [0.72247, 1]
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(0.72247, abs=1e-5) and high == pytest.approx(1.0)


def test_estimate_of_continuous_metric_uses_normal_interval():
    # values 0.4, 0.5, 0.6: mean 0.5, sample sd 0.1, se = 0.1 / sqrt(3) = 0.057735;
    # half = 1.959964 * 0.057735 = 0.113159 -> [0.386841, 0.613159]
    est = estimate("arg_f1", [0.4, 0.5, 0.6])
    assert est.mean == pytest.approx(0.5) and est.n == 3
    assert (est.low, est.high) == (pytest.approx(0.386841, abs=1e-6), pytest.approx(0.613159, abs=1e-6))
    # an interval that would leave [0, 1] is clipped: 0, 0.5, 1 has half-width 0.5658
    assert estimate("arg_f1", [0.0, 0.5, 1.0]).low == 0.0


def test_aggregate_groups_overall_category_and_split():
    a = make_record(ONE_WEATHER, MULTI, rid="a", category="multiple", split="seen_function")
    b = make_record({"function_call": None}, MULTI, rid="b", category="irrelevance", split="unseen_function")
    scores = [score_output(a, single("get_weather", {"city": "Lyon", "unit": "celsius"})), score_output(b, "garbage")]
    groups = aggregate(scores)
    assert list(groups) == ["overall", "multiple", "irrelevance", "split:seen_function", "split:unseen_function"]
    assert groups["overall"]["exact_match"].mean == 0.5 and groups["overall"]["exact_match"].n == 2
    assert groups["irrelevance"]["json_valid"].mean == 0.0
    assert groups["split:seen_function"]["arg_f1"].mean == 1.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # two calls where one is due, one of them unknown: the count is the first rung of both
        (as_text({"function_calls": [call("no_such", a=1), call("currency_conversion", amount=250, **{"from": "GBP", "to": "JPY"})]}), ErrorType.CALLS_COUNT),
        (as_text({"function_call": call("no_such", a=1)}), ErrorType.NAME_HALLUCINATED),
        (as_text({"function_call": None}), ErrorType.CALLS_ABSTAINED),
    ],
)
def test_exact_and_ast_verdicts_climb_one_ladder(gbp_to_jpy, text, expected):
    item = score_output(gbp_to_jpy, text)
    assert item.verdict.error_type == expected
    assert item.ast_verdict is not None and item.ast_verdict.error_type == expected


HUGE = "9" * 400
DEEP_OBJECT = '{"a": ' * 300 + "1" + "}" * 300


@pytest.mark.parametrize(
    "arguments",
    [
        f'{{"amount": {HUGE}, "from": "GBP", "to": "JPY"}}',  # a 400-digit integer: no float round trip
        '{"amount": 1e308, "from": "GBP", "to": "JPY"}',
        '{"amount": 1e309, "from": "GBP", "to": "JPY"}',  # 1e308 x 10: not a JSON number (parse:invalid_json)
        '{"amount": "NaN", "from": "Infinity", "to": "-Infinity"}',
        f'{{"amount": 250, "from": "GBP", "to": "JPY", "x": {"[" * 900}{"]" * 900}}}',
        '{"amount": ' + DEEP_OBJECT + ', "from": "GBP", "to": "JPY"}',
    ],
    ids=["400 digits", "1e308", "1e309", "NaN-like strings", "900 deep list", "300 deep object"],
)
def test_no_number_or_nesting_raises_and_each_is_a_typed_mismatch(gbp_to_jpy, arguments):
    item = score_output(gbp_to_jpy, f'{{"function_call": {{"name": "currency_conversion", "arguments": {arguments}}}}}')
    assert not item.exact_match and not item.ast_match
    row = item.to_json()  # the items.jsonl row, as it is written
    expected = "parse:" if "1e309" in arguments else "args:"
    assert row["verdict"].startswith(expected) and row["ast_verdict"].startswith(expected)


def test_strings_are_compared_by_bfcls_rule():
    from fcbench.benchmark.ast_match import value_matches

    assert not value_matches("3x - 2", "3x + 2") and not value_matches("070000", "07:00:00")
    assert not value_matches("Boston!", "Boston") and not value_matches("john.doeexample.com", "john.doe@example.com")
    assert value_matches("new-york city", "New York City") and value_matches("April 1,2024", "april 1, 2024")
    # one level deep: list elements and object values are normalised, deeper strings are not
    assert value_matches(["NEW YORK"], ["new york"]) and value_matches({"city": "NEW YORK"}, {"city": ["new york"]})
    assert not value_matches([["NEW YORK"]], [["new york"]])
    # numbers: exactly by value, int for float, never float for integer, never bool
    assert value_matches(3, 3.0) and not value_matches(3.0, 3, {"type": "integer"}) and not value_matches(True, 1)
    assert not value_matches(10**400, 1e308) and value_matches(2**53 + 1, 2**53 + 1) and not value_matches(2**53 + 1, float(2**53))


def test_a_huge_wrong_value_makes_a_short_verdict(gbp_to_jpy):
    item = score_output(gbp_to_jpy, as_text({"function_call": call("currency_conversion", amount=250, **{"from": "x" * 5_000_000, "to": "JPY"})}))
    assert item.verdict.error_type == ErrorType.ARGS_VALUE and item.ast_verdict is not None
    assert all(len(m) <= 300 for m in (*item.verdict.messages, *item.ast_verdict.messages))


def test_the_exact_match_shortcut_gives_the_verdict_ast_match_would() -> None:
    """``score_parsed`` skips ``ast_verdict`` for an exact match it is sure of: on every
    benchmark item, its gold answer, the same with each integer written as a float, and with the
    calls reversed, the shortcut's verdict is the full check's."""
    import json

    from fcbench.benchmark.metrics import score_output
    from fcbench.benchmark.record import answer_from_output, answer_to_output, read_records
    from fcbench.benchmark.suites import FCBENCH

    def floated(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: floated(v) for k, v in value.items()}
        if isinstance(value, list):
            return [floated(v) for v in value]
        return float(value) if type(value) is int else value

    records, _ = read_records(FCBENCH.frozen().path)
    checked = refused_floats = 0
    for record in records:
        gold = answer_to_output(record.gold)
        variants = [gold, floated(gold)]
        if "function_calls" in gold:
            variants.append({"function_calls": gold["function_calls"][::-1]})
        for output in variants:
            score = score_output(record, json.dumps(output))
            full = ast_verdict(record, answer_from_output(output))
            assert (score.ast_match, str(score.ast_verdict.error_type)) == (full.valid, str(full.error_type)), (record.id, output)
            checked += 1
            refused_floats += score.exact_match and not full.valid
    assert checked > 2000 and refused_floats > 0  # some exact matches are not ast matches: floats for integers


def test_the_shortcut_leaves_a_gold_answer_outside_its_own_function_to_ast_match() -> None:
    """JSON Schema allows keys a schema does not list; ``ast_match`` does not: an exact match on
    such a gold answer is still no ast match."""
    loose = {"name": "f", "description": "F.", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}
    record = make_record({"function_call": call("f", a="x", b=1)}, [loose])
    score = score_output(record, '{"function_call": {"name": "f", "arguments": {"a": "x", "b": 1}}}')
    assert score.exact_match and not score.ast_match and score.ast_verdict.error_type == ErrorType.ARGS_UNEXPECTED
