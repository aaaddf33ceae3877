"""The streamlined LoRA forward computes PEFT's values bit for bit."""

from __future__ import annotations

import pytest
import torch
from fcbench.evaluation.exact_lora import InputCopies, plain_lora_parts, streamline_lora


def _lora_model(tiny_llama_dir, alpha: int, dropout: float = 0.0):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.bfloat16)
    torch.manual_seed(1)
    # init_lora_weights=False: B random too, so the adapter changes the output
    config = LoraConfig(r=8, lora_alpha=alpha, lora_dropout=dropout, target_modules="all-linear", init_lora_weights=False)
    model = get_peft_model(base, config).eval()
    for name, parameter in model.named_parameters():
        if "lora_" in name:  # PEFT's adapters are fp32 on a bf16 base, as a trained adapter loads
            assert parameter.dtype == torch.float32
    return model


@pytest.mark.parametrize("alpha", [16, 12])  # scale 2 (folded into B) and 1.5 (multiplied in place)
def test_streamlined_lora_gives_pefts_logits_bit_for_bit(tiny_llama_dir, alpha: int) -> None:
    model = _lora_model(tiny_llama_dir, alpha)
    torch.manual_seed(0)
    ids = torch.randint(3, 200, (3, 17))
    mask = torch.ones_like(ids)
    mask[0, :5] = 0  # a left-padded row
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask).logits
        assert streamline_lora(model) == 2 * 7  # q, k, v, o, gate, up, down in both layers
        got = model(input_ids=ids, attention_mask=mask).logits
    assert torch.equal(expected, got)


def test_the_adapter_changes_the_output_so_the_comparison_means_something(tiny_llama_dir) -> None:
    model = _lora_model(tiny_llama_dir, 16)
    ids = torch.randint(3, 200, (2, 9))
    with torch.no_grad():
        adapted = model(input_ids=ids).logits
        with model.disable_adapter():
            plain = model(input_ids=ids).logits
    assert not torch.equal(adapted, plain)


def test_layers_with_dropout_keep_pefts_forward(tiny_llama_dir) -> None:
    model = _lora_model(tiny_llama_dir, 16, dropout=0.1)
    assert streamline_lora(model) == 0
    assert all(plain_lora_parts(layer) is None for layer in model.modules())


def test_an_input_is_converted_once_while_it_is_unchanged() -> None:
    copies = InputCopies()
    x = torch.ones(2, 3, dtype=torch.bfloat16)
    first = copies.converted(x, torch.float32)
    assert copies.converted(x, torch.float32) is first  # the next projection of the same tensor
    x.add_(1)  # changed in place: converted afresh
    again = copies.converted(x, torch.float32)
    assert again is not first and torch.equal(again, torch.full((2, 3), 2.0))
    assert copies.converted(again, torch.float32) is again  # already that dtype
