"""Greedy generation with continuous batching, for CPU evaluation.

A batch of ``model.generate`` decodes until its *last* row is done: on the base model some row
of nearly every batch rambles to the generation budget, and the rows that answered in 40
tokens ride along as padding for the other 200 steps. Here a pool of rows decodes together; a
row leaves as soon as its answer is done (end of sequence, a stop string, a final JSON answer,
or the budget), and waiting prompts are prefilled and join the pool in its place, as vLLM's
scheduler does on a GPU. The pool never decodes rows that are done for long, so the number of
decode steps follows the tokens actually generated, not the longest answer of each batch.

Every row decodes as it would in a left-padded batch of ``model.generate``: its own positions
(from its attention mask), its keys and values, greedy argmax. What changes is which rows share
a forward pass and how much padding sits left of each row, which can move a bf16 rounding, so
this is a fast path: ``fcbench eval --no-continuous`` is lm-eval's batching, and
``evaluation/perf.py`` measures the verdicts against plain ``lm_eval run``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers.cache_utils import DynamicCache

Encode = Callable[[Sequence[int]], tuple[torch.Tensor, torch.Tensor]]
"""Prompt indices -> their left-padded token ids and attention mask."""
StartCache = Callable[[torch.Tensor, torch.Tensor, DynamicCache], tuple[torch.Tensor, torch.Tensor, int]]
"""(ids, mask, empty cache) -> (ids, mask, positions already in the cache): a shared prefix."""


@dataclass(slots=True)
class Pool:
    """Rows decoding together: one KV cache over a common width (each row left-padded to it),
    the attention mask saying which columns are each row's own, the token each row feeds next,
    and what each row has generated so far."""

    cache: DynamicCache
    mask: torch.Tensor
    next_ids: torch.Tensor
    prompts: list[int]
    generated: list[list[int]]

    def __len__(self) -> int:
        return len(self.prompts)


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Each column's position in its own row, as ``generate`` derives them (padding at 0)."""
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)


def _left_padded(tensor: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    missing = width - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _set_layer(layer: Any, keys: torch.Tensor, values: torch.Tensor) -> None:
    if hasattr(layer, "assign"):  # a GrowingKVLayer copies them into a buffer with room to grow
        layer.assign(keys, values)
    else:
        layer.keys, layer.values = keys, values


def merged(a: Pool, b: Pool) -> Pool:
    """``b``'s rows appended to ``a``'s; the narrower pool is left-padded (masked) to the wider."""
    width = max(a.mask.shape[1], b.mask.shape[1])
    for left, right in zip(a.cache.layers, b.cache.layers, strict=True):
        keys = torch.cat([_left_padded(left.keys, width, -2), _left_padded(right.keys, width, -2)])
        values = torch.cat([_left_padded(left.values, width, -2), _left_padded(right.values, width, -2)])
        _set_layer(left, keys, values)
    mask = torch.cat([_left_padded(a.mask, width, 1), _left_padded(b.mask, width, 1)])
    return Pool(a.cache, mask, torch.cat([a.next_ids, b.next_ids]), a.prompts + b.prompts, a.generated + b.generated)


def selected(pool: Pool, keep: Sequence[int]) -> Pool:
    """The pool's rows ``keep``, without the columns on the left that are padding in all of them."""
    mask = pool.mask[list(keep)]
    own = mask.any(dim=0).nonzero()
    start = int(own[0]) if len(own) else mask.shape[1]
    index = torch.tensor(list(keep))
    for layer in pool.cache.layers:
        _set_layer(layer, layer.keys[index, :, start:], layer.values[index, :, start:])
    return Pool(pool.cache, mask[:, start:], pool.next_ids[index], [pool.prompts[i] for i in keep], [pool.generated[i] for i in keep])


class ContinuousGreedy:
    """Greedy continuations of many prompts through ``model`` with a pool of ``pool_size`` rows.

    ``done(tokens)`` says whether a row's generated tokens are final (the caller's stop strings
    and answer check); end of sequence (``eos_ids``) and ``max_new_tokens`` end a row too, as
    they end it in ``generate``. A row leaves the pool when it is done; the pool is rebuilt
    (done rows dropped, waiting prompts prefilled and added) once a quarter of its rows are done,
    so that the copy of the cache a rebuild costs is paid for a few rows at a time."""

    def __init__(self, model: Any, *, pool_size: int, max_new_tokens: int, eos_ids: set[int], done: Callable[[list[int]], bool],
                 new_cache: Callable[[], DynamicCache], start_cache: StartCache | None = None, on_done: Callable[[int], None] | None = None) -> None:
        self.model = model
        self.pool_size = pool_size
        self.max_new_tokens = max_new_tokens
        self.eos_ids = eos_ids
        self.done = done
        self.new_cache = new_cache
        self.start_cache = start_cache
        self.on_done = on_done
        self.prefills = 0
        self.decode_steps = 0
        self.decoded_rows = 0
        """Row-steps decoded, done rows waiting for a rebuild included."""

    def run(self, count: int, encode: Encode) -> list[list[int]]:
        """The generated tokens of prompts ``0..count-1``, each up to and including the token
        that ended it. Prompts join in index order."""
        waiting = deque(range(count))
        results: list[list[int] | None] = [None] * count
        pool: Pool | None = None
        finished: set[int] = set()  # rows of the current pool that are done
        while waiting or pool is not None:
            if pool is not None and (len(finished) >= max(1, len(pool) // 4) or len(finished) == len(pool)):
                for row in finished:
                    results[pool.prompts[row]] = pool.generated[row]
                keep = [row for row in range(len(pool)) if row not in finished]
                pool = selected(pool, keep) if keep else None
                finished = set()
            room = self.pool_size - (len(pool) if pool is not None else 0)
            if waiting and room > 0 and (pool is None or room >= max(1, self.pool_size // 4)):
                joining = [waiting.popleft() for _ in range(min(room, len(waiting)))]
                new = self._prefill(joining, encode)
                offset = len(pool) if pool is not None else 0
                pool = new if pool is None else merged(pool, new)
                finished |= {offset + row for row in range(len(new)) if self._is_done(new.generated[row])}
                continue
            if pool is None:  # the last rows just left
                break
            tokens = self._step(pool)
            for row, token in enumerate(tokens):
                if row not in finished:
                    pool.generated[row].append(token)
                    if self._is_done(pool.generated[row]):
                        finished.add(row)
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _is_done(self, generated: list[int]) -> bool:
        if generated[-1] in self.eos_ids or len(generated) >= self.max_new_tokens or self.done(generated):
            if self.on_done is not None:
                self.on_done(1)
            return True
        return False

    def _prefill(self, prompts: list[int], encode: Encode) -> Pool:
        ids, mask = encode(prompts)
        cache = self.new_cache()
        start = 0
        if self.start_cache is not None:
            ids, mask, start = self.start_cache(ids, mask, cache)
        with torch.no_grad():
            out = self.model(input_ids=ids[:, start:], attention_mask=mask, position_ids=positions(mask)[:, start:], cache=cache, use_cache=True, logits_to_keep=1)
        self.prefills += 1
        first = out.logits[:, -1].argmax(dim=-1)
        return Pool(cache, mask, first, list(prompts), [[int(t)] for t in first])

    def _step(self, pool: Pool) -> list[int]:
        """One decode step for every row of the pool; the pool's cache and mask grow by a column."""
        mask = torch.cat([pool.mask, pool.mask.new_ones(len(pool), 1)], dim=1)
        with torch.no_grad():
            out = self.model(input_ids=pool.next_ids[:, None], attention_mask=mask, position_ids=pool.mask.sum(dim=1, keepdim=True),
                             cache=pool.cache, use_cache=True, logits_to_keep=1)
        pool.mask = mask
        pool.next_ids = out.logits[:, -1].argmax(dim=-1)
        self.decode_steps += 1
        self.decoded_rows += len(pool)
        return pool.next_ids.tolist()
