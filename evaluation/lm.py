"""lm-eval's Hugging Face backend with what fcbench needs for long CPU runs.

- A JSON-aware stopping criterion: each row of a batch stops as soon as its answer is final
  (the parser's first object is complete and nothing appended could change it) or one of the
  task's stop strings appears in it. lm-eval's own criteria stop a batch only when every row
  has produced the *same* stop string, so rambling rows burn ``max_gen_toks``. Scores are the
  same as without it: the parser reads the first complete object, and lm-eval cuts at the stop
  strings anyway.
- A KV cache that grows into spare room instead of re-concatenating every step
  (:class:`GrowingKVLayer`): same values, same shapes, bit-identical outputs, less copying.
- A shared prefix computed once (``shared_prefix``): the tokens every prompt of a batch starts
  with (the system prompt; in few-shot, the worked examples too) are run once and their keys
  and values copied to every row (:func:`shared_layout`).
- An unmerged LoRA adapter's layers computed as PEFT computes them, in fewer passes
  (``exact_lora.streamline_lora``): same values, bit for bit.
- The output layer fed a contiguous input (:func:`contiguous_head_input`): same values, and a
  frozen model (every PEFT model) no longer copies its output matrix once per row in prefill.
- Continuous batching (``continuous``, :mod:`fcbench.evaluation.continuous`): a row leaves the
  batch as soon as its answer is done and a waiting prompt takes its place, instead of every
  batch decoding until its longest answer ends.
- A progress bar advanced per item: as each row's answer is final, the rest at the end of its batch.

Registered as lm-eval model ``fcbench-hf``; it takes the same arguments as ``hf``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import transformers
from fcbench.benchmark.parser import answer_is_final
from fcbench.evaluation.exact_lora import streamline_lora
from fcbench.models.soft_prompt import load_soft_prompt
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils import Collator, handle_stop_sequences, normalize_gen_kwargs, postprocess_generated_text
from lm_eval.models.utils_hf import stop_sequences_criteria
from rich.progress import Progress, TaskID
from transformers.cache_utils import DynamicCache, DynamicLayer

if TYPE_CHECKING:
    from fcbench.evaluation.constrained import Grammars


class JsonAnswerStop(transformers.StoppingCriteria):
    """Per-row stop: the row's answer is final, or a stop string has appeared in it.
    ``on_done`` hears of each row as it stops (a progress bar that moves per item)."""

    def __init__(self, tokenizer: Any, prompt_length: int, stop: Sequence[str] = (), on_done: Callable[[int], None] | None = None) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.stop = [s for s in stop if s]
        self.done: set[int] = set()
        self.on_done = on_done

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        for row, ids in enumerate(input_ids):
            if row not in self.done and row_is_done(self.tokenizer, ids[self.prompt_length :], self.stop):
                self.done.add(row)
                if self.on_done is not None:
                    self.on_done(1)
        return torch.tensor([row in self.done for row in range(input_ids.shape[0])], device=input_ids.device)


def row_is_done(tokenizer: Any, generated: torch.Tensor | list[int], stop: Sequence[str], json_answers: bool = True) -> bool:
    """A stop string has appeared in the generated text, or (``json_answers``) its answer is final."""
    text = tokenizer.decode(generated, skip_special_tokens=True)
    if any(s in text for s in stop if s):
        return True
    # Only a closing brace can complete an object: skip the decode-and-parse otherwise.
    return json_answers and "}" in tokenizer.decode(generated[-1:], skip_special_tokens=True) and answer_is_final(text)


class GrowingKVLayer(DynamicLayer):
    """``DynamicLayer`` without its per-step ``torch.cat``, which copies the whole cache for
    every new token: with 700-token prompts that copy was about a third of CPU decode time.
    Keys and values live in a buffer with spare room (doubled when full); the layer exposes a
    view of the filled part, so attention sees exactly the tensors ``DynamicLayer`` would give
    it (tests check greedy outputs are identical)."""

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None
        self._length = 0

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self._length + key_states.shape[-2]
        if self._key_buffer is None or end > self._key_buffer.shape[-2]:
            self._key_buffer = self._grown(self._key_buffer, key_states, end)
            self._value_buffer = self._grown(self._value_buffer, value_states, end)
        assert self._value_buffer is not None
        self._key_buffer[..., self._length : end, :] = key_states
        self._value_buffer[..., self._length : end, :] = value_states
        self._length = end
        self.keys, self.values = self._key_buffer[..., :end, :], self._value_buffer[..., :end, :]
        return self.keys, self.values

    def _grown(self, old: torch.Tensor | None, new: torch.Tensor, needed: int) -> torch.Tensor:
        buffer = new.new_empty(*new.shape[:-2], max(2 * needed, needed + 256), new.shape[-1])
        if old is not None and self._length:
            buffer[..., : self._length, :] = old[..., : self._length, :]
        return buffer

    def assign(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Hold ``keys`` and ``values`` instead (a batch rebuilt with other rows), with room to grow."""
        self._key_buffer = self._value_buffer = None
        self._length = 0
        self.update(keys, values)

    def _adopt_current(self) -> None:
        """After an operation of the parent that replaced ``keys``/``values`` (crop, batch
        selection, beam reordering), make them the buffer."""
        self._key_buffer, self._value_buffer = self.keys.contiguous(), self.values.contiguous()
        self._length = self.keys.shape[-2]

    def crop(self, tokens_to_remove: int) -> None:
        super().crop(tokens_to_remove)
        if self.is_initialized:
            self._adopt_current()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        super().batch_select_indices(indices)
        self._adopt_current()

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        super().reorder_cache(beam_idx)
        self._adopt_current()

    def batch_repeat_interleave(self, repeats: int) -> None:
        super().batch_repeat_interleave(repeats)
        if self.is_initialized:
            self._adopt_current()


def growing_kv_cache(config: Any) -> DynamicCache:
    """A ``DynamicCache`` for ``config`` whose full-attention layers are :class:`GrowingKVLayer`
    (sliding-window layers keep their own class)."""
    cache = DynamicCache(config=config)
    cache.layers = [GrowingKVLayer() if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def contiguous_head_input(model: Any) -> None:
    """Hand ``model``'s output layer a contiguous input. Prefill keeps only the last position
    (``logits_to_keep=1``), a strided slice of the hidden states; for a weight that does not
    require grad (every PEFT model freezes its base), ``torch.matmul`` then runs a batched
    product over a copy of the weight expanded to every row, over a second per prefill for
    SmolLM2's 49,152 x 576 head. The contiguous input takes the plain matrix product, with the
    same values (tested)."""
    head = model.get_output_embeddings()
    if head is not None:
        head.register_forward_pre_hook(lambda module, args: tuple(a.contiguous() if isinstance(a, torch.Tensor) else a for a in args))


PLAIN_GENERATION_CONFIG = frozenset({"bos_token_id", "eos_token_id", "pad_token_id", "transformers_version", "_from_model_config", "use_cache",
                                     "output_attentions", "output_hidden_states", "max_length", "max_new_tokens", "do_sample", "temperature", "top_p", "top_k"})
"""Generation-config fields that leave greedy decoding plain argmax (sampling settings are unused when greedy)."""
GREEDY_KWARGS = frozenset({"do_sample", "temperature", "until", "max_gen_toks", "top_p", "top_k"})

MIN_SHARED_PREFIX = 16
"""Fewer shared tokens than this are not worth a forward pass of their own."""


@dataclass(frozen=True, slots=True)
class SharedLayout:
    """A left-padded batch rewritten as shared prefix, then padding, then each row's own
    tokens: the prefix's keys and values are then computed once for the whole batch. Positions
    follow the attention mask, so every token keeps the position it had in its own row."""

    prefix_length: int
    input_ids: torch.Tensor
    attention_mask: torch.Tensor


def shared_layout(context: torch.Tensor, attention_mask: torch.Tensor, pad_id: int, minimum: int = MIN_SHARED_PREFIX) -> SharedLayout | None:
    """The batch as :class:`SharedLayout`, or None when its rows share fewer than ``minimum``
    leading tokens. Every row keeps at least one token of its own, so that each row's first
    generated token is predicted from a position it computed."""
    lengths = attention_mask.sum(dim=1)
    width = context.shape[1]
    shortest = int(lengths.min())
    rows = torch.stack([context[i, width - int(n) : width - int(n) + shortest] for i, n in enumerate(lengths)])
    differs = (rows != rows[0]).any(dim=0)
    common = int(differs.nonzero()[0]) if bool(differs.any()) else shortest
    common = min(common, shortest - 1)
    if common < minimum or context.shape[0] < 2:
        return None
    ids = torch.full_like(context, pad_id)
    mask = torch.zeros_like(attention_mask)
    ids[:, :common] = rows[0, :common]
    mask[:, :common] = 1
    for i, n in enumerate(lengths):
        own = int(n) - common
        ids[i, width - own :] = context[i, width - own :]
        mask[i, width - own :] = 1
    return SharedLayout(common, ids, mask)


@register_model("fcbench-hf")
class FcbenchLM(HFLM):
    """``HFLM`` plus :class:`JsonAnswerStop` (``json_stop=False`` turns it off), a progress bar,
    a ProMoT soft prompt attached (``soft_prompt``: the run folder), and a LoRA adapter merged
    into the base weights (``merge_adapter``)."""

    def __init__(self, *args: Any, json_stop: bool = True, progress: Progress | None = None, soft_prompt: str | None = None,
                 merge_adapter: bool = False, shared_prefix: bool = False, continuous: bool = False, constrained: bool = False,
                 constrained_format: str = "fcbench", **kwargs: Any) -> None:
        self.merge_adapter = merge_adapter  # read by _create_model, which HFLM's __init__ calls
        super().__init__(*args, **kwargs)
        self.shared_prefix = shared_prefix
        self.continuous = continuous
        self.continuous_stats = {"prefills": 0, "decode_steps": 0, "decoded_rows": 0}
        self._prefix: tuple[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] | None = None
        """The last shared prefix and its keys and values (batch 1): every batch of a run starts
        with the same system prompt (and worked examples)."""
        if soft_prompt:  # a ProMoT run's stage-1 prompt; the task writes its placeholders before each prompt
            load_soft_prompt(Path(soft_prompt), self.tokenizer).attach(self.model)
        self.json_stop = json_stop
        self.progress = progress
        self._progress_task: TaskID | None = None
        self.generated = 0
        """Requests actually generated (the response cache answers the others)."""
        self.grammars: Grammars | None = None
        """With ``constrained``: each row decodes under its own item's answer grammar."""
        if constrained:
            from fcbench.evaluation.constrained import Grammars

            self.grammars = Grammars(self.tokenizer, self.model.get_output_embeddings().weight.shape[0], constrained_format)
        self.constraint = {"seconds": 0.0, "masked_tokens": 0, "unconstrained_rows": 0}
        self._record_of: dict[str, str] = {}
        self._batch_contexts: list[str] = []

    def _create_model(self, *args: Any, peft: str | None = None, **kwargs: Any) -> None:
        super()._create_model(*args, peft=peft, **kwargs)
        # An adapter that trained added tokens (fcbench's call tokens) wraps the tied embedding
        # and output layers, which HFLM's tie_weights() then fails on: merge it into the base
        # weights first. Plain `lm_eval --model hf` cannot load such an adapter at all.
        # A LoRA adapter is also merged when asked (merge_adapter): its unmerged layers would run
        # in fp32 on a CPU, the merged model runs in the base dtype.
        configs = list(getattr(self._model, "peft_config", {}).values()) if peft else []
        added_tokens = any(getattr(c, "trainable_token_indices", None) for c in configs)
        lora_only = bool(configs) and all(getattr(c, "peft_type", None) == "LORA" for c in configs)
        if added_tokens or (self.merge_adapter and lora_only):
            self._model = self._model.merge_and_unload()
        elif configs:  # unmerged: PEFT's values in fewer passes (exact_lora)
            streamline_lora(self._model)
        contiguous_head_input(self._model)

    def tok_batch_encode(self, strings: list[str], *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        self._batch_contexts = list(strings)  # the rows of the batch _model_generate gets next, in order
        return super().tok_batch_encode(strings, *args, **kwargs)

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        if self.grammars is not None:  # each prompt's item, whose offered functions make its grammar
            self._record_of = {request.args[0]: request.doc["record"] for request in requests}
        self.generated += len(requests)
        generate = self._generate_continuously if self._continues(requests) else super().generate_until
        if self.progress is None:
            return generate(requests, disable_tqdm=disable_tqdm)
        self._progress_task = self.progress.add_task("generating", total=len(requests))
        try:
            return generate(requests, disable_tqdm=True)
        finally:
            self._progress_task = None

    def _continues(self, requests: list[Any]) -> bool:
        """Continuous batching applies: asked for, greedy, and nothing ``generate`` would add to
        plain argmax decoding (a grammar, a prompt-learning adapter's virtual tokens, a logits
        processor from the model's generation config)."""
        if (not self.continuous or self.grammars is not None or self.backend != "causal" or self._prompt_learning()
                or self.think_end_token is not None):
            return False
        if set(self.model.generation_config.to_diff_dict()) - PLAIN_GENERATION_CONFIG:
            return False
        for request in requests:
            kwargs = normalize_gen_kwargs(request.args[1], self.max_gen_toks)
            if kwargs.get("do_sample") or set(kwargs) - GREEDY_KWARGS:
                return False
        return True

    def _prompt_learning(self) -> bool:
        return bool(getattr(getattr(self.model, "active_peft_config", None), "is_prompt_learning", False))

    def _generate_continuously(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        """lm-eval's ``generate_until`` (same grouping, order, context truncation, stop handling and
        response cache) with each group of requests decoded by one :class:`ContinuousGreedy`
        pool of ``batch_size`` rows instead of batch after batch."""
        from fcbench.evaluation.continuous import ContinuousGreedy

        order = Collator([r.args for r in requests], sort_fn=lambda req: (-len(self.tok_encode(req[0])), req[0]), group_by="gen_kwargs", group_fn=lambda x: x[1])
        eos = self.tok_decode(self.eot_token_id, skip_special_tokens=False)
        eos_ids = self.model.generation_config.eos_token_id
        eos_ids = set(eos_ids if isinstance(eos_ids, list) else [] if eos_ids is None else [eos_ids])
        model = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model  # the forward PEFT's generate runs
        answers: list[str] = []
        for group in order.get_batched(n=0):  # n=0: each group of equal generation kwargs whole
            contexts, all_kwargs = zip(*group, strict=True)
            kwargs = normalize_gen_kwargs(all_kwargs[0], self.max_gen_toks)
            until = handle_stop_sequences(kwargs.pop("until", None), eos=eos)
            budget = kwargs.pop("max_gen_toks")

            def encode(indices: Sequence[int], contexts: Sequence[str] = contexts, budget: int = budget) -> tuple[torch.Tensor, torch.Tensor]:
                ids, mask = self.tok_batch_encode([contexts[i] for i in indices], left_truncate_len=self.max_length - budget, truncation=self.truncation)
                return ids.to(self.device), mask.to(self.device)

            engine = ContinuousGreedy(model, pool_size=self.batch_size, max_new_tokens=budget, eos_ids=eos_ids,
                                      done=lambda tokens, until=until: row_is_done(self.tokenizer, tokens, until, json_answers=self.json_stop),
                                      new_cache=lambda: growing_kv_cache(self.model.config), start_cache=self._start_cache, on_done=self._advance)
            with torch.autocast(device_type=self.device.type, dtype=self.mixed_precision_dtype, enabled=self.mixed_precision_dtype is not None):
                generated = engine.run(len(contexts), encode)
            for key in self.continuous_stats:
                self.continuous_stats[key] += getattr(engine, key)
            for tokens, context in zip(generated, contexts, strict=True):
                answer = postprocess_generated_text(generation=self.tok_decode(tokens), stop=until, think_end_token=None)
                answers.append(answer)
                self.cache_hook.add_partial("generate_until", (context, all_kwargs[0]), answer)
        return order.get_original(answers)

    def _start_cache(self, ids: torch.Tensor, mask: torch.Tensor, cache: DynamicCache) -> tuple[torch.Tensor, torch.Tensor, int]:
        """A prefill's shared prefix put into ``cache`` (``shared_prefix``): the batch rewritten to
        match, and how many of its positions the cache already holds."""
        layout = self._shared(ids, mask, cache)
        return (ids, mask, 0) if layout is None else (layout.input_ids, layout.attention_mask, layout.prefix_length)

    def _model_generate(self, context: torch.Tensor, max_length: int, stop: list[str], **generation_kwargs: Any) -> torch.Tensor:
        # Mirrors HFLM._model_generate (greedy when no temperature is given), with our criterion
        # added to lm-eval's stop-sequence criteria.
        generation_kwargs["temperature"] = generation_kwargs.get("temperature", 0.0)
        if generation_kwargs["temperature"] == 0.0 and generation_kwargs.get("do_sample") is None:
            generation_kwargs["do_sample"] = False
        if generation_kwargs.get("do_sample") is False and generation_kwargs["temperature"] == 0.0:
            generation_kwargs.pop("temperature")
        if self.grammars is not None:
            generation_kwargs["logits_processor"] = transformers.LogitsProcessorList([self._grammar_mask(context.shape[0])])
        criteria = stop_sequences_criteria(self.tokenizer, stop, context.shape[1], context.shape[0])
        answered = JsonAnswerStop(self.tokenizer, context.shape[1], stop, on_done=self._advance)
        if self.json_stop:
            criteria.append(answered)
        with torch.autocast(device_type=self.device.type, dtype=self.mixed_precision_dtype, enabled=self.mixed_precision_dtype is not None):
            cache = growing_kv_cache(self.model.config)
            layout = self._shared(context, generation_kwargs.get("attention_mask"), cache)
            if layout is not None:
                context, generation_kwargs["attention_mask"] = layout.input_ids, layout.attention_mask
            out = self.model.generate(
                input_ids=context,
                cache=cache,
                max_length=max_length,
                stopping_criteria=criteria,
                pad_token_id=self.tokenizer.pad_token_id,
                use_cache=True,
                **generation_kwargs,
            )
        self._advance(context.shape[0] - len(answered.done))  # the rows that ran to the budget or another stop
        if self.grammars is not None:
            mask = generation_kwargs["logits_processor"][0]
            self.constraint["seconds"] += mask.seconds
            self.constraint["masked_tokens"] += mask.masked_tokens
            self.constraint["unconstrained_rows"] += mask.failed
        return out

    def _grammar_mask(self, rows: int) -> Any:
        assert self.grammars is not None
        contexts = self._batch_contexts if len(self._batch_contexts) == rows else [None] * rows
        records = [self._record_of.get(c) if c is not None else None for c in contexts]
        grammars = [self.grammars.grammar(r) if r is not None else None for r in records]
        # rows are matched to their items by the prompt strings lm-eval encoded for this batch; a row
        # that matches none, or whose grammar cannot be compiled, decodes free, and is counted
        self.constraint["unconstrained_rows"] += sum(g is None for g in grammars)
        return self.grammars.mask(grammars)

    def _advance(self, rows: int) -> None:
        if self.progress is not None and self._progress_task is not None:
            self.progress.advance(self._progress_task, rows)

    def _shared(self, context: torch.Tensor, attention_mask: torch.Tensor | None, cache: DynamicCache) -> SharedLayout | None:
        """With ``shared_prefix``: the batch's shared prefix computed once (or taken from the
        previous batch) and put into ``cache`` for every row; the batch rewritten to match."""
        # A prompt-learning adapter (prompt tuning) puts its virtual tokens in front of every
        # forward pass: a prefix computed apart would hold them twice.
        if (not self.shared_prefix or attention_mask is None or self._prompt_learning()
                or any(type(layer) is not GrowingKVLayer for layer in cache.layers)):
            return None
        layout = shared_layout(context, attention_mask, self.tokenizer.pad_token_id)
        if layout is None:
            return None
        prefix = tuple(layout.input_ids[0, : layout.prefix_length].tolist())
        if self._prefix is None or self._prefix[0] != prefix:
            computed = DynamicCache(config=self.model.config)
            with torch.no_grad():
                self.model(input_ids=layout.input_ids[:1, : layout.prefix_length], cache=computed, use_cache=True, logits_to_keep=1)
            self._prefix = (prefix, [(layer.keys, layer.values) for layer in computed.layers])
        rows = context.shape[0]
        for layer, (keys, values) in zip(cache.layers, self._prefix[1]):
            layer.update(keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1))
        return layout
