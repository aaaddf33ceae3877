"""Records -> TRL prompt-completion rows, through the shared prompt format.

TRL truncates a too-long example from the right, which would cut the answer (and its EOS) and
teach the model to stop mid-call. So a record that does not fit in ``max_length`` is dropped
and counted instead, with the reason: its prompt alone is too long, or its answer would be cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fcbench.benchmark.jsonl import Problem
from fcbench.benchmark.prompt import Encoding, render, render_question
from fcbench.benchmark.record import Record


@dataclass(slots=True)
class PreparedData:
    rows: list[dict[str, str]] = field(default_factory=list)
    """``{"id", "category", "prompt", "completion"}``: TRL's prompt-completion format (loss on the completion)."""
    dropped: list[Problem] = field(default_factory=list)
    prompt_too_long: int = 0
    answer_cut: int = 0
    tokens: int = 0
    """Prompt + answer + EOS tokens over the kept rows."""
    row_tokens: list[int] = field(default_factory=list)
    """Each kept row's prompt + answer + EOS tokens."""
    unbalanced: int = 0
    """Rows left out to balance the categories (:func:`balanced`)."""
    no_call: int = 0
    """Records a question writer cannot learn from: they call nothing (``task: question``)."""


def prompt_completion_rows(records: Sequence[Record], path: str, encoding: Encoding, tokenizer: Any, max_length: int,
                           *, call_tokens: bool = False, task: str = "call") -> PreparedData:
    """Render every record; keep those whose prompt + answer + EOS fit in ``max_length`` tokens.
    ``task="question"``: the reverse direction, the call as prompt and the question as answer."""
    data = PreparedData()
    for record in records:
        if task == "question" and not record.gold:
            data.no_call += 1
            continue
        rendered = render_question(record, encoding, tokenizer) if task == "question" else render(record, encoding, tokenizer, call_tokens=call_tokens)
        prompt_tokens = len(tokenizer(rendered.prompt, add_special_tokens=False)["input_ids"])
        answer_tokens = len(tokenizer(rendered.completion, add_special_tokens=False)["input_ids"]) + 1  # + EOS
        if prompt_tokens >= max_length:
            data.prompt_too_long += 1
            data.dropped.append(Problem(path, record.line, f"id {record.id!r}: prompt is {prompt_tokens} tokens, max_length is {max_length}"))
        # One token of slack: tokenizing prompt and answer apart can differ by a merge at the seam.
        elif prompt_tokens + answer_tokens >= max_length:
            data.answer_cut += 1
            data.dropped.append(Problem(path, record.line, f"id {record.id!r}: prompt {prompt_tokens} + answer {answer_tokens} tokens exceed max_length {max_length}; the answer would be cut"))
        else:
            data.rows.append({"id": record.id, "category": record.category, "prompt": rendered.prompt, "completion": rendered.completion})
            data.tokens += prompt_tokens + answer_tokens
            data.row_tokens.append(prompt_tokens + answer_tokens)
    return data


def balanced(data: PreparedData) -> PreparedData:
    """As many rows of each category as the rarest category has, the first ones of each, in
    their original order. The length cap keeps nearly every one-function record and few of the
    multi-function ones, so unbalanced data teaches "several functions offered: no call"."""
    by_category: dict[str, list[int]] = {}
    for i, row in enumerate(data.rows):
        by_category.setdefault(row["category"], []).append(i)
    keep = min((len(indices) for indices in by_category.values()), default=0)
    kept = sorted(i for indices in by_category.values() for i in indices[:keep])
    return PreparedData(rows=[data.rows[i] for i in kept], dropped=data.dropped, prompt_too_long=data.prompt_too_long, answer_cut=data.answer_cut,
                        tokens=sum(data.row_tokens[i] for i in kept), row_tokens=[data.row_tokens[i] for i in kept], unbalanced=len(data.rows) - len(kept),
                        no_call=data.no_call)
