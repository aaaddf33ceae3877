"""ProMoT's soft prompt (arXiv 2211.00635): tuned in stage 1, attached frozen while stage 2 trains
LoRA, and attached again when the tuned model serves the task it was tuned for.

The prompt's vectors take the places of ``n`` placeholder tokens written before the prompt text
(:class:`SoftPromptSlot`, a forward hook on the input embeddings), so that the model stays an
ordinary causal LM to TRL, PEFT and lm-eval. Stage 1's own PEFT model put the same vectors in
front of the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcbench.benchmark.provenance import sha256_file

from fcbench.errors import UserError

STAGE1_DIR = "stage1-soft-prompt"
"""Where a ProMoT run keeps stage 1's prompt-tuning adapter, inside its run folder."""
WEIGHTS = "adapter_model.safetensors"


class SoftPromptSlot:
    """Puts the soft prompt where a row holds its ``n`` placeholder tokens.

    ``strict`` (training): every row must hold exactly ``n``. Otherwise (evaluation) rows with
    exactly ``n`` are filled and the rest left as they are: a decoding step holds none, and a
    model may itself write the placeholder token, which must not end the run."""

    def __init__(self, embeddings: Any, placeholder_id: int, strict: bool = True) -> None:
        self.embeddings = embeddings.detach()
        self.placeholder_id = placeholder_id
        self.strict = strict

    def __call__(self, module: Any, args: tuple[Any, ...], output: Any) -> Any:
        input_ids = args[0]
        slots = input_ids == self.placeholder_id
        n = self.embeddings.shape[0]
        filled = slots.sum(dim=1) == n
        if self.strict and not bool(filled.all()):
            raise RuntimeError(f"ProMoT stage 2: every row must hold exactly {n} soft-prompt placeholder tokens")
        if not bool(filled.any()):
            return output
        output = output.clone()
        output[slots & filled[:, None]] = self.embeddings.to(device=output.device, dtype=output.dtype).repeat(int(filled.sum()), 1)
        return output


def placeholder(tokenizer: Any) -> tuple[int, str]:
    """A special token that is neither padding nor EOS (the collator and the loss treat those
    specially) to mark the soft prompt's positions in the text."""
    for token in (tokenizer.unk_token, tokenizer.bos_token, *tokenizer.all_special_tokens):
        token_id = tokenizer.convert_tokens_to_ids(token) if token else None
        if token_id is not None and token_id not in (tokenizer.pad_token_id, tokenizer.eos_token_id):
            return token_id, token
    raise UserError("ProMoT needs a special token other than pad/EOS to mark the soft prompt; this tokenizer has none")


@dataclass(frozen=True, slots=True)
class SoftPrompt:
    """A ProMoT run's stage-1 prompt, ready to attach: its vectors, and the text that makes room."""

    embeddings: Any
    placeholder_id: int
    placeholder: str
    sha256: str

    @property
    def prefix(self) -> str:
        """Written before the prompt text, as in stage 2's training rows."""
        return self.placeholder * int(self.embeddings.shape[0])

    def attach(self, model: Any) -> None:
        model.get_input_embeddings().register_forward_hook(SoftPromptSlot(self.embeddings, self.placeholder_id, strict=False))


def soft_prompt_path(adapter: Path) -> Path:
    """Stage 1's weights inside a ProMoT run folder; a clear error for any other adapter."""
    path = Path(adapter) / STAGE1_DIR / WEIGHTS
    if not path.is_file():
        raise UserError(f"{adapter}: no {STAGE1_DIR}/{WEIGHTS}; --soft-prompt needs a ProMoT run folder (fcbench train --config smollm2-promot)")
    return path


def load_soft_prompt(adapter: Path, tokenizer: Any) -> SoftPrompt:
    """The soft prompt of the ProMoT run in ``adapter``, with the placeholder its tokenizer gives."""
    from safetensors.torch import load_file

    path = soft_prompt_path(adapter)
    weights = load_file(str(path))
    if "prompt_embeddings" not in weights:
        raise UserError(f"{path}: no prompt_embeddings tensor; it is not a PEFT prompt-tuning adapter")
    placeholder_id, token = placeholder(tokenizer)
    return SoftPrompt(weights["prompt_embeddings"], placeholder_id, token, sha256_file(path))
