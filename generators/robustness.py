"""Variants of the frozen benchmark that keep each item's meaning: does a candidate still answer
when the functions come in another order, more of them are offered, the question is worded or
typed differently, or its worked examples write their arguments in another order?

Every variant is made from benchmark records (never from training data) and is deterministic:
the random choices of an item are seeded by the variant's name and the item's id, so the same
item always becomes the same variant, on any machine. The gold answer never changes, and every
gold string value stays in the question exactly as it was.

- ``shuffled``: the offered functions in another order (items offering one function are kept).
- ``distractors``: two more functions from fcbench's library, from domains neither the question
  nor any offered function belongs to, so they cannot answer it; at random places in the list.
  A simple item becomes a multiple-function one (its category follows).
- ``reworded``: the question inside a polite frame that asks the same ("Could you help me with
  this? ...", "... Thanks.").
- ``noisy``: doubled spaces, a trailing space and changed letter case, outside the spans that
  hold gold values.
- ``shot_keys``: the worked examples' arguments written in reverse key order (only a few-shot
  prompt shows them; the items are kept).
- ``encoding``: the items as they are, for an evaluation in the other prompt encoding (plain
  against chat).
"""

from __future__ import annotations

import copy
import hashlib
import random
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fcbench.generators.library import BY_NAME, LIBRARY

Raw = dict[str, Any]

DISTRACTORS = 2
"""Functions added per item by ``distractors``."""

FRAMES: tuple[tuple[str, str], ...] = (
    ("Could you help me with this? ", ""),
    ("", " Thanks."),
    ("I have a request. ", ""),
    ("Hi! ", " Thank you!"),
    ("Quick one: ", ""),
)
"""Polite frames around the question: they ask nothing more and nothing less."""


def _rng(variant: str, item_id: str) -> random.Random:
    return random.Random(hashlib.sha256(f"{variant}:{item_id}".encode()).digest())


def _question(raw: Raw) -> str:
    return raw["input"]["user_question"]


def _with_question(raw: Raw, question: str) -> Raw:
    out = copy.deepcopy(raw)
    out["input"]["user_question"] = question
    return out


def gold_strings(raw: Raw) -> list[str]:
    """Every string value of the gold answer's arguments (nested ones too)."""
    found: list[str] = []
    output = raw.get("output") or {}
    calls = output.get("function_calls") or ([output["function_call"]] if output.get("function_call") else [])
    stack: list[Any] = [call.get("arguments") for call in calls]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def protected_spans(question: str, values: Iterable[str]) -> list[tuple[int, int]]:
    """Where the question holds a gold value verbatim: noise must leave these characters alone."""
    spans = []
    for value in sorted(set(values), key=len, reverse=True):
        if value:
            spans.extend((m.start(), m.end()) for m in re.finditer(re.escape(value), question))
    return sorted(spans)


def shuffled(raw: Raw, rng: random.Random) -> Raw:
    functions = raw["input"].get("functions")
    if not functions or len(functions) < 2:
        return copy.deepcopy(raw)
    order = list(range(len(functions)))
    while order == sorted(order):  # another order, not the same one by chance
        rng.shuffle(order)
    out = copy.deepcopy(raw)
    out["input"]["functions"] = [functions[i] for i in order]
    return out


def distractors(raw: Raw, rng: random.Random, count: int = DISTRACTORS) -> Raw:
    functions = raw["input"].get("functions")
    if functions is None:
        return copy.deepcopy(raw)
    offered = {f["name"] for f in functions}
    domains = {raw.get("meta", {}).get("domain")} | {BY_NAME[name].domain for name in offered if name in BY_NAME}
    pool = sorted((f for f in LIBRARY if f.domain not in domains and f.name not in offered), key=lambda f: f.name)
    out = copy.deepcopy(raw)
    for extra in rng.sample(pool, min(count, len(pool))):
        out["input"]["functions"].insert(rng.randrange(len(out["input"]["functions"]) + 1), extra.spec())
    if out.get("meta", {}).get("category") == "simple":
        out["meta"]["category"] = "multiple"  # one call among several functions: what the category means
    return out


def reworded(raw: Raw, rng: random.Random) -> Raw:
    prefix, suffix = rng.choice(FRAMES)
    question = _question(raw).strip()
    if prefix and question[:1].isupper() and not any(start == 0 for start, _ in protected_spans(question, gold_strings(raw))):
        question = question[0].lower() + question[1:]  # "Could you help me with this? book a table ..." reads as one request
    return _with_question(raw, f"{prefix}{question}{suffix}")


def noisy(raw: Raw, rng: random.Random) -> Raw:
    question = _question(raw)
    spans = protected_spans(question, gold_strings(raw))

    def free(i: int) -> bool:
        return not any(start <= i < end for start, end in spans)

    out = []
    for i, ch in enumerate(question):
        if not free(i):
            out.append(ch)
        elif ch == " " and rng.random() < 0.3:
            out.append("  ")
        elif ch.isalpha() and rng.random() < 0.15:
            out.append(ch.swapcase())
        else:
            out.append(ch)
    return _with_question(raw, "".join(out) + " ")


def unchanged(raw: Raw, rng: random.Random) -> Raw:
    return copy.deepcopy(raw)


def reversed_keys(raw: Raw, rng: random.Random) -> Raw:
    """A worked example with each call's arguments in reverse key order (same arguments)."""
    out = copy.deepcopy(raw)
    output = out.get("output") or {}
    for call in output.get("function_calls") or ([output["function_call"]] if output.get("function_call") else []):
        call["arguments"] = dict(reversed(list(call["arguments"].items())))
    return out


Transform = Callable[[Raw, random.Random], Raw]

VARIANTS: dict[str, tuple[Transform, Transform]] = {
    "shuffled": (shuffled, unchanged),
    "distractors": (distractors, unchanged),
    "reworded": (reworded, unchanged),
    "noisy": (noisy, unchanged),
    "shot_keys": (unchanged, reversed_keys),
    "encoding": (unchanged, unchanged),
}
"""Variant name -> (what it does to each item, what it does to each worked example)."""


def variant(name: str, items: Iterable[Raw], shots: Iterable[Raw] = ()) -> tuple[list[Raw], list[Raw]]:
    """The variant ``name`` of these benchmark items and worked examples."""
    on_item, on_shot = VARIANTS[name]
    return [on_item(r, _rng(name, r["id"])) for r in items], [on_shot(r, _rng(name, r["id"])) for r in shots]


def changed(original: Mapping[str, Raw], varied: Iterable[Raw]) -> int:
    """How many items the variant changed at all."""
    return sum(original[r["id"]] != r for r in varied)
