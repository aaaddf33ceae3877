"""Building blocks of the function library: typed parameters that know their JSON Schema, how
to sample a realistic value (Faker) and how that value reads in a question.

A required parameter appears in the phrasing template as ``{name}`` (``{name[sub]}`` for a
field of a nested object). An optional one has a ``clause``, added at the template's ``{opt}``
marker only when the parameter is set, so every argument value appears in the question. A
required state (on or off, locked or unlocked) is a boolean whose clause is always said.

A function's :class:`Rule`s say which drawn argument sets would make a degenerate request
(converting a currency into itself, an end before its start): the generator draws again, and
the audit (``generators/audit.py``) counts any that a frozen file still holds.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from faker import Faker

DATE_RANGE = (dt.date(2027, 1, 1), dt.date(2027, 12, 31))
"""Dates are drawn from a fixed year: relative ranges ("next month") would change with the day
the generator runs and break same-seed reproducibility."""


@dataclass(slots=True)
class Sampler:
    """The random sources one generation run uses; seeded once, so output is reproducible."""

    rng: random.Random
    fake: Faker

    @classmethod
    def seeded(cls, seed: int) -> Sampler:
        fake = Faker("en_US")
        fake.seed_instance(seed)
        return cls(random.Random(seed), fake)

    def date(self) -> str:
        return self.fake.date_between_dates(*DATE_RANGE).isoformat()


Draw = Callable[[Sampler], Any]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    schema: dict[str, Any]
    draw: Draw
    description: str
    clause: str | tuple[str, str] | None = None
    """None: required. A string: the optional clause (with ``{name}``). A (true, false) pair:
    the clause of a boolean for each value."""
    children: tuple[Param, ...] = field(default=())
    always: bool = False
    """A boolean whose clause is always said: a required state (see :func:`state`)."""
    held_out_clause: str | tuple[str, str] | None = None
    """Another wording of the clause, used only in the benchmark: training never sees it."""

    @property
    def required(self) -> bool:
        return self.clause is None or self.always

    @property
    def is_flag(self) -> bool:
        return isinstance(self.clause, tuple)

    def clause_for(self, value: Any, *, held_out: bool) -> str:
        """The clause that says ``value`` (a flag's clause for its truth value), in the
        benchmark's wording when ``held_out`` and the parameter has one."""
        clause = self.held_out_clause if held_out and self.held_out_clause is not None else self.clause
        if isinstance(clause, tuple):
            return clause[0] if value else clause[1]
        assert clause is not None, f"{self.name} is required and has no clause"
        return clause.format_map({self.name: spoken(value)})

    def json_schema(self) -> dict[str, Any]:
        return {**self.schema, "description": self.description}


def _with(schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**schema, **{k: v for k, v in extra.items() if v is not None}}


def text(name: str, draw: Draw, description: str, clause: str | None = None) -> Param:
    return Param(name, {"type": "string"}, draw, description, clause)


def choice(name: str, options: Sequence[str], description: str, clause: str | None = None) -> Param:
    return Param(name, {"type": "string", "enum": list(options)}, lambda s: s.rng.choice(options), description, clause)


def integer(name: str, low: int, high: int, description: str, clause: str | None = None) -> Param:
    return Param(name, {"type": "integer", "minimum": low, "maximum": high}, lambda s: s.rng.randint(low, high), description, clause)


def number(name: str, low: float, high: float, description: str, clause: str | None = None, *, decimals: int = 2) -> Param:
    def draw(s: Sampler) -> float | int:
        value = round(s.rng.uniform(low, high), decimals)
        return int(value) if value == int(value) else value

    return Param(name, {"type": "number", "minimum": low, "maximum": high}, draw, description, clause)


def flag(name: str, description: str, if_true: str) -> Param:
    """An optional boolean, set only to true: a false one means what leaving it out means, and
    a question that says "not urgent" would have two right answers."""
    return Param(name, {"type": "boolean"}, lambda s: True, description, (if_true, ""))


def state(name: str, description: str, if_true: str, if_false: str) -> Param:
    """A required boolean state, always said in the question (" on" / " off")."""
    return Param(name, {"type": "boolean"}, lambda s: s.rng.random() < 0.5, description, (if_true, if_false), always=True)


def array(name: str, item: Draw, description: str, clause: str | None = None, *, low: int = 1, high: int = 3, item_schema: dict[str, Any] | None = None) -> Param:
    def draw(s: Sampler) -> list[Any]:
        wanted = s.rng.randint(low, high)
        values: list[Any] = []
        for _ in range(wanted * 4):  # bounded: repeats are skipped, never looped on forever
            value = item(s)
            if value not in values:
                values.append(value)
            if len(values) == wanted:
                break
        return values

    schema = {"type": "array", "items": item_schema or {"type": "string"}, "minItems": low, "maxItems": high}
    return Param(name, schema, draw, description, clause)


def obj(name: str, children: Sequence[Param], description: str, clause: str | None = None) -> Param:
    """A nested object; its own required/optional children follow the same rules, but a
    child's clause is not used: the parent's template names the fields it mentions."""
    schema = {
        "type": "object",
        "properties": {c.name: c.json_schema() for c in children},
        "required": [c.name for c in children if c.required],
        "additionalProperties": False,
    }

    def draw(s: Sampler) -> dict[str, Any]:
        return {c.name: c.draw(s) for c in children}

    return Param(name, schema, draw, description, clause, tuple(children))


def spoken(value: Any) -> Any:
    """How a value reads in a question: lists as "a, b and c", objects field by field."""
    if isinstance(value, list):
        words = [str(spoken(v)) for v in value]
        return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    if isinstance(value, dict):
        return {k: spoken(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------
# Rules: argument sets that would make a degenerate request


@dataclass(frozen=True, slots=True)
class Distinct:
    """Two arguments that must differ (a conversion into the same unit, a match against itself)."""

    first: str
    second: str
    kind = "same value twice"

    def violated(self, arguments: dict[str, Any]) -> bool:
        return self.first in arguments and self.second in arguments and arguments[self.first] == arguments[self.second]


@dataclass(frozen=True, slots=True)
class Ordered:
    """Two arguments in order (an end date not before its start date)."""

    first: str
    last: str
    kind = "end before start"

    def violated(self, arguments: dict[str, Any]) -> bool:
        return self.first in arguments and self.last in arguments and arguments[self.last] < arguments[self.first]


@dataclass(frozen=True, slots=True)
class OnlyIf:
    """An argument that makes sense only with a state (a brightness for lights that are on)."""

    param: str
    state: str
    value: Any
    kind = "setting without its state"

    def violated(self, arguments: dict[str, Any]) -> bool:
        return self.param in arguments and arguments.get(self.state) != self.value


@dataclass(frozen=True, slots=True)
class FreeOf:
    """A free-text argument that must not contain words that contradict another argument
    (a "vegan" dish with diet "vegetarian")."""

    param: str
    words: tuple[str, ...]
    kind = "contradicting words"

    def violated(self, arguments: dict[str, Any]) -> bool:
        text = str(arguments.get(self.param, "")).lower()
        return any(word in text for word in self.words)


Rule = Distinct | Ordered | OnlyIf | FreeOf
