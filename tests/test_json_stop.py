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
        growing = model.generate(**batch, cache=growing_kv_cache(model.config), **settings)
    # 300 new tokens after prompts of ~10-20: the buffer is grown (and copied) on the way.
    assert torch.equal(default, growing)


def test_a_shared_prefix_layout_moves_each_rows_padding_behind_the_prefix() -> None:
    from fcbench.evaluation.lm import shared_layout

    pad = 0
    context = torch.tensor([[0, 0, 7, 8, 9, 4], [7, 8, 9, 5, 6, 3], [0, 7, 8, 9, 5, 6]])  # left-padded: 4, 6 and 5 tokens
    mask = (context != pad).long()
    layout = shared_layout(context, mask, pad, minimum=2)
    assert layout is not None and layout.prefix_length == 3  # 7 8 9; every row keeps a token of its own
    assert layout.input_ids.tolist() == [[7, 8, 9, 0, 0, 4], [7, 8, 9, 5, 6, 3], [7, 8, 9, 0, 5, 6]]
    assert layout.attention_mask.tolist() == [[1, 1, 1, 0, 0, 1], [1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 1, 1]]
    same = torch.tensor([[7, 8, 9], [7, 8, 9]])
    assert shared_layout(same, torch.ones_like(same), pad, minimum=2).prefix_length == 2  # the last token stays each row's own
    assert shared_layout(context, mask, pad, minimum=4) is None  # too short to be worth a pass
    assert shared_layout(context[:1], mask[:1], pad, minimum=2) is None  # one row shares with nobody


def test_a_shared_prefix_gives_the_same_scores_at_every_step(tiny_llama_dir) -> None:
    """Prefix computed once, for a batch whose rows share it and then differ in length: in fp32
    every step's next-token scores match the unshared batch's, and so do the tokens."""
    from fcbench.evaluation.lm import FcbenchLM

    head = "### Instruction:\nCall a function. Reply with one JSON object.\n\n### Input:\n"
    prompts = [head + "Question: what time is it?", head + "Question: convert 5 GBP to JPY please, now", head + "Q"]
    runs = {}
    for shared in (False, True):
        lm = FcbenchLM(pretrained=str(tiny_llama_dir), dtype="float32", batch_size=4, device="cpu", shared_prefix=shared, json_stop=False)
        lm.tokenizer.padding_side = "left"
        batch = lm.tokenizer(prompts, return_tensors="pt", padding=True)
        scores: list[torch.Tensor] = []
        hook = lm.model.lm_head.register_forward_hook(lambda module, args, output: scores.append(output[:, -1].detach().clone()))
        out = lm._model_generate(batch["input_ids"], batch["input_ids"].shape[1] + 10, [], attention_mask=batch["attention_mask"])
        hook.remove()
        runs[shared] = (out[:, batch["input_ids"].shape[1] :], scores[-10:], lm)
    assert torch.equal(runs[False][0], runs[True][0])
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(runs[False][1], runs[True][1]))
    assert runs[True][2]._prefix is not None and len(runs[True][2]._prefix[0]) >= 16  # the prefix was computed apart


def test_a_frozen_models_head_gets_a_contiguous_input_and_the_same_scores(tiny_llama_dir) -> None:
    """Frozen weights (as under PEFT) and bf16, the evaluation's case: prefill's last-position
    slice reaches the output layer contiguous, and every step's scores are bit-identical."""
    from fcbench.evaluation.lm import contiguous_head_input
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.bfloat16).eval().requires_grad_(False)
    batch = tokenizer(["Question: what time is it?", "Functions: [] Question: convert 5 GBP to JPY please"], return_tensors="pt", padding=True)
    settings = dict(max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id, output_scores=True, return_dict_in_generate=True)
    with torch.no_grad():
        before = model.generate(**batch, **settings)
        contiguous_head_input(model)
        seen: list[bool] = []
        model.lm_head.register_forward_hook(lambda module, args, output: seen.append(args[0].is_contiguous()))
        after = model.generate(**batch, **settings)
    assert seen and all(seen)
    assert torch.equal(before.sequences, after.sequences)
    assert all(torch.equal(a, b) for a, b in zip(before.scores, after.scores, strict=True))
