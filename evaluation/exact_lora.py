"""PEFT's LoRA layers for evaluation, computing the same values in fewer passes over memory.

PEFT keeps adapter weights in fp32 and, for each adapted layer of a bf16 model, copies the
layer's input to fp32, multiplies it by A and B, scales the product in a tensor of its own, adds
it to the base layer's output in another, and casts back. On a CPU those elementwise passes over
the ``[tokens, out_features]`` product, not the matrix products, were most of an adapter's
prefill. :func:`streamline_lora` rebinds each plain LoRA layer's forward so that:

- the fp32 copy of an input is made once for the layers that read the same tensor (q, k and v
  share theirs, as do gate and up);
- the scale is folded into B when it is a power of two (alpha / r is 2 in the SmolLM2 recipes):
  scaling by a power of two is exact, so ``x @ A.T @ (s * B).T`` has the very bits of
  ``(x @ A.T @ B.T) * s``; any other scale multiplies the product in place;
- the base output is added into the product in place: ``p + r`` is ``r + p``, bit for bit.

Every value is the one PEFT computes (a test compares logits bit for bit), so verdicts match
plain ``lm_eval --model hf --model_args peft=...`` exactly. Layers that are anything but one
plain, unmerged, dropout-free LoRA adapter without a bias keep PEFT's own forward.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F


class InputCopies:
    """The last input converted to another dtype, reused while the same tensor, unchanged,
    comes back (the next projection of the same hidden state)."""

    def __init__(self) -> None:
        self._last: tuple[torch.Tensor, int, torch.Tensor] | None = None

    def converted(self, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        if x.dtype == dtype:
            return x
        last = self._last
        if last is not None and last[0] is x and last[1] == x._version and last[2].dtype == dtype:
            return last[2]
        copy = x.to(dtype)
        self._last = (x, x._version, copy)
        return copy


def _is_power_of_two(value: float) -> bool:
    mantissa, _ = math.frexp(value)
    return value > 0 and mantissa == 0.5


def plain_lora_parts(layer: Any) -> tuple[torch.Tensor, torch.Tensor, float] | None:
    """A, B and the scale of a LoRA ``Linear`` layer with one plain adapter active, or None for
    anything else (merged, disabled, several adapters, DoRA or another variant, dropout, a bias)."""
    from peft.tuners.lora.layer import Linear as LoraLinear

    if not isinstance(layer, LoraLinear) or layer.merged or layer.disable_adapters or len(layer.active_adapters) != 1:
        return None
    name = layer.active_adapters[0]
    if name not in layer.lora_A or name in getattr(layer, "lora_variant", {}) or not isinstance(layer.lora_dropout[name], torch.nn.Identity):
        return None
    lora_a, lora_b = layer.lora_A[name], layer.lora_B[name]
    if lora_a.bias is not None or lora_b.bias is not None or getattr(layer, "fan_in_fan_out", False):
        return None
    return lora_a.weight, lora_b.weight, float(layer.scaling[name])


def streamline_lora(model: Any) -> int:
    """Rebind the forward of every plain LoRA layer of ``model`` (see the module docstring);
    returns how many were rebound. For evaluation: the rebound layers do not train."""
    copies = InputCopies()
    count = 0
    for layer in model.modules():
        parts = plain_lora_parts(layer)
        if parts is None:
            continue
        layer.forward = _streamlined_forward(layer.base_layer, *parts, copies)
        count += 1
    return count


def _streamlined_forward(base: Any, a: torch.Tensor, b: torch.Tensor, scale: float, copies: InputCopies) -> Any:
    folded = _is_power_of_two(scale)
    b_scaled = (b * scale).detach() if folded else b

    def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        result = base(x, *args, **kwargs)
        product = F.linear(F.linear(copies.converted(x, a.dtype), a), b_scaled)
        if not folded:
            product.mul_(scale)
        return product.add_(result).to(result.dtype)

    return forward
