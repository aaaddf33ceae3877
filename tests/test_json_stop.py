"""The JSON-aware stop: a generation may end once its answer is final, and must score the same."""

from __future__ import annotations

import torch
from conftest import build_tiny_tokenizer
from fcbench.benchmark.parser import answer_is_final, parse_output
from fcbench.evaluation.lm import JsonAnswerStop
from hypothesis import given
from hypothesis import strategies as st


def test_final_once_the_first_object_closes() -> None:
    assert answer_is_final('{"function_call": null}')
    assert answer_is_final('Sure: {"function_call": null} and more')
    assert not answer_is_final('{"function_call": {"name": "f"')
    assert not answer_is_final("no json yet")


def test_not_final_while_an_earlier_brace_could_still_close_around_it() -> None:
    # The inner object is complete, but the outer one may still close and would then win.
    text = '{"wrapper": {"function_call": null}'
    assert parse_output(text).obj == {"function_call": None}
    assert not answer_is_final(text)
    assert parse_output(text + "}").obj == {"wrapper": {"function_call": None}}


def test_not_final_while_a_literal_near_the_end_could_still_complete() -> None:
    # "tr" may become "true": the attempt at the first brace is not dead yet.
    assert not answer_is_final('{"a": tr')
    # Far from the end, the same failure is final: nothing appended can repair it.
    assert answer_is_final('{"a": tr, "b": 1} {"function_call": null}')


PIECES = st.sampled_from(['{"function_call": ', "null", "}", "{", '"name": "f", ', '"arguments": {}', "tr", "ue", "1e", "5", ", ", "]", "[", "prose ", "\n###", '"'])


@given(st.lists(PIECES, max_size=12), st.lists(PIECES, max_size=6))
def test_appending_never_changes_a_final_answer(prefix: list[str], suffix: list[str]) -> None:
    text = "".join(prefix)
    if answer_is_final(text):
        before, after = parse_output(text), parse_output(text + "".join(suffix))
        assert (before.obj, before.error) == (after.obj, after.error)


def test_the_stopping_criterion_cuts_right_after_the_closing_brace() -> None:
    answer = '{"function_call": {"name": "get_time", "arguments": {}}}'
    tokenizer = build_tiny_tokenizer([answer, "prose before the answer"])
    prompt = tokenizer("Q: time?")["input_ids"]
    generated = tokenizer("Sure. " + answer + " That is all.")["input_ids"]
    criterion = JsonAnswerStop(tokenizer, prompt_length=len(prompt))
    stopped_at = None
    for step in range(1, len(generated) + 1):
        ids = torch.tensor([prompt + generated[:step]])
        if bool(criterion(ids, None)[0]):
            stopped_at = step
            break
    assert stopped_at is not None
    assert tokenizer.decode(generated[:stopped_at]).rstrip() == "Sure. " + answer


def test_stop_strings_end_a_row_and_rows_stop_independently() -> None:
    tokenizer = build_tiny_tokenizer(['{"function_call": null}', "text\n### more"])
    done = tokenizer('{"function_call": null}')["input_ids"]
    rambling = tokenizer("text text text")["input_ids"]
    sectioned = tokenizer("text\n### more")["input_ids"]
    width = max(len(done), len(rambling), len(sectioned))
    pad = tokenizer.pad_token_id
    batch = torch.tensor([[pad] * (width - len(r)) + r for r in (done, rambling, sectioned)])
    criterion = JsonAnswerStop(tokenizer, prompt_length=0, stop=["\n###"])
    assert criterion(batch, None).tolist() == [True, False, True]


def test_the_growing_kv_cache_gives_bit_identical_greedy_outputs(tiny_llama_dir) -> None:
    from fcbench.evaluation.lm import growing_kv_cache
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    batch = tokenizer(["Question: what time is it?", "Functions: [] Question: convert 5 GBP to JPY please"], return_tensors="pt", padding=True)
    settings = dict(max_new_tokens=300, min_new_tokens=300, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    with torch.no_grad():
        default = model.generate(**batch, **settings)
        growing = model.generate(**batch, past_key_values=growing_kv_cache(model.config), **settings)
    # 300 new tokens after prompts of ~10-20: the buffer is grown (and copied) on the way.
    assert torch.equal(default, growing)
