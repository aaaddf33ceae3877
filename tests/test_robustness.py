"""The robustness variants: deterministic, meaning kept (same gold, every gold value still in
the question), each doing what it says; and the figures of a robustness run, worked by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fcbench.benchmark.record import record_from_json
from fcbench.benchmark.suites import FCBENCH
from fcbench.evaluation.robustness import other_encoding, report
from fcbench.generators.library import BY_NAME
from fcbench.generators.robustness import VARIANTS, gold_strings, variant
from fcbench.leaderboard.store import opened, record_results
from test_leaderboard import make_results


def _raw(n_per_category: int = 10) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in FCBENCH.frozen().path.read_text().splitlines()]
    by_category: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_category.setdefault(row["meta"]["category"], []).append(row)
    return [row for rows_of in by_category.values() for row in rows_of[:n_per_category]]


def _shots() -> list[dict[str, Any]]:
    path = FCBENCH.frozen().fewshot_path
    assert path is not None
    return [json.loads(line) for line in path.read_text().splitlines()]


ITEMS = _raw()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_variant_is_deterministic_and_keeps_every_items_meaning(name: str) -> None:
    varied, shots = variant(name, ITEMS, _shots())
    again, shots_again = variant(name, ITEMS, _shots())
    assert varied == again and shots == shots_again
    for before, after in zip(ITEMS, varied):
        assert after["id"] == before["id"] and after["output"] == before["output"]
        record = record_from_json(after)  # still a valid record: schema, offered names, gold arguments
        assert record.category == after["meta"]["category"]
        for value in gold_strings(before):
            if value in before["input"]["user_question"]:
                assert value in after["input"]["user_question"], (name, value)


def test_shuffled_offers_the_same_functions_in_another_order() -> None:
    varied, _ = variant("shuffled", ITEMS)
    for before, after in zip(ITEMS, varied):
        names = [f["name"] for f in before["input"]["functions"]]
        shuffled = [f["name"] for f in after["input"]["functions"]]
        assert sorted(names) == sorted(shuffled)
        assert (names != shuffled) == (len(names) > 1)


def test_distractors_come_from_domains_the_item_does_not_touch() -> None:
    varied, _ = variant("distractors", ITEMS)
    for before, after in zip(ITEMS, varied):
        offered = {f["name"] for f in before["input"]["functions"]}
        added = [f["name"] for f in after["input"]["functions"] if f["name"] not in offered]
        assert len(added) == 2 and len(after["input"]["functions"]) == len(offered) + 2
        touched = {before["meta"]["domain"]} | {BY_NAME[n].domain for n in offered if n in BY_NAME}
        assert not {BY_NAME[n].domain for n in added} & touched
        if before["meta"]["category"] == "irrelevance":
            assert after["output"] == {"function_call": None}  # still nothing to call


def test_rewording_frames_the_question_and_noise_only_touches_spacing_and_case() -> None:
    reworded, _ = variant("reworded", ITEMS)
    noisy, _ = variant("noisy", ITEMS)
    for before, framed, noised in zip(ITEMS, reworded, noisy):
        question = before["input"]["user_question"]
        assert question[1:] in framed["input"]["user_question"] and framed["input"]["user_question"] != question
        assert " ".join(noised["input"]["user_question"].split()).casefold() == " ".join(question.split()).casefold()
    assert sum(n["input"]["user_question"] != b["input"]["user_question"] + " " for b, n in zip(ITEMS, noisy)) > len(ITEMS) // 2


def test_shot_keys_reverses_the_worked_examples_arguments_only() -> None:
    items, shots = variant("shot_keys", ITEMS, _shots())
    assert items == ITEMS
    for before, after in zip(_shots(), shots):
        calls = lambda r: r["output"].get("function_calls") or ([r["output"]["function_call"]] if r["output"].get("function_call") else [])  # noqa: E731
        for b, a in zip(calls(before), calls(after)):
            assert a["arguments"] == b["arguments"] and list(a["arguments"]) == list(reversed(b["arguments"]))


def test_the_other_encoding() -> None:
    assert other_encoding("fcbench-chat-v2") == "plain" and other_encoding("fcbench-plain-v2") == "chat"


def test_a_robustness_run_pairs_each_variant_with_the_original_items(tmp_path: Path) -> None:
    # 10 items: right on 0-7 originally; variant A loses 6 and 7, variant B also gets 8 right
    with opened(tmp_path / "lb.db") as conn:
        original = record_results(conn, make_results(tmp_path / "o", "cand", set(range(8)), n=10))
        a = record_results(conn, make_results(tmp_path / "a", "cand-a", set(range(6)), n=10))
        b = record_results(conn, make_results(tmp_path / "b", "cand-b", set(range(9)), n=10))
        found = report(conn, original, [("a", "robust_a", a, 10), ("b", "robust_b", b, 3)])
    assert found.original.mean == pytest.approx(0.8)
    (va, vb) = found.variants
    assert (va.difference.difference, va.difference.wins, va.difference.losses) == (pytest.approx(-0.2), 0, 2)
    assert (vb.difference.difference, vb.difference.wins, vb.difference.losses) == (pytest.approx(0.1), 1, 0)
    assert va.changed == 10 and vb.changed == 3 and va.score.mean == pytest.approx(0.6)
    # the same verdict everywhere: 0-5 (right) and 9 (wrong); 6, 7 flip on A, 8 on B
    assert found.consistency == pytest.approx(0.7)
    item_ids = sorted(found.broken)
    assert len(item_ids) == 2 and all(variants == ["a"] for variants in found.broken.values())
    document = found.to_json()
    assert document["variants"][0]["difference"]["losses"] == 2 and document["consistency"] == pytest.approx(0.7)


def test_a_tiny_model_runs_on_the_original_and_its_variants(tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fcbench.evaluation.robustness import robustness

    monkeypatch.setenv("FCBENCH_HOME", str(tmp_path / "home"))  # the variants' suites are frozen here
    from fcbench.evaluation.runner import EvalConfig
    from fcbench.leaderboard.store import evaluations

    cfg = EvalConfig(model=str(tiny_llama_dir), limit=1, batch_size=4, dtype="float32", max_gen_toks=8, results_dir=tmp_path / "results", name="tiny")
    found = robustness(cfg, ["shuffled", "shot_keys", "encoding"], tmp_path / "lb.db")
    # 0-shot: no worked example to vary, so shot_keys is left out
    assert [v.variant for v in found.variants] == ["shuffled", "encoding"]
    assert all(v.score.n == 4 and v.difference.n == 4 for v in found.variants)
    assert [v.suite for v in found.variants] == ["user_robust_shuffled", "user_robust_encoding"]
    with opened(tmp_path / "lb.db") as conn:
        recorded = {(ev.benchmark, ev.prompt_format) for ev in evaluations(conn)}
    assert recorded == {("fcbench", "fcbench-chat-v2"), ("robust_shuffled", "fcbench-chat-v2"), ("robust_encoding", "fcbench-plain-v2")}
