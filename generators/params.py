"""Building blocks of the function library: typed parameters that know their JSON Schema, how
to sample a realistic value (Faker) and how that value reads in a question.

A required parameter appears in the phrasing template as ``{name}`` (``{name[sub]}`` for a
field of a nested object). An optional one has a ``clause``, added at the template's ``{opt}``
marker only when the parameter is set, so every argument value appears in the question.
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
    the clause of an optional boolean for each value."""
    children: tuple[Param, ...] = field(default=())

    @property
    def required(self) -> bool:
        return self.clause is None

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


def flag(name: str, description: str, if_true: str, if_false: str) -> Param:
    return Param(name, {"type": "boolean"}, lambda s: s.rng.random() < 0.5, description, (if_true, if_false))


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
