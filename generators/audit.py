"""``fcbench audit``: does a record file have the defects that bias a benchmark's scores?

Run over the frozen benchmark and over generated training data, by category and split:

- **example**: how often the example call names a function of the gold answer, against the rate
  if its function were drawn at random among the offered ones, and how often an example is
  shown at all in each category (an example shown only where a call is due tells irrelevance
  apart). Either beyond chance is a violation;
- **degenerate**: a gold call that breaks one of its function's rules (a currency converted into
  itself, an end before its start, a brightness for lights that are off, a diet word in a
  dish), or a parallel answer whose second call of one function undoes the first;
- **ambiguous**: a gold answer the question does not fix: a required state left unsaid, an
  optional boolean set to false (leaving it out means the same), a value outside the real
  values it is drawn from (a "food" that is a random word), home and away told only by the
  order of mention;
- **untraceable**: a gold value that does not appear in the question;
- **shared wording**: a joiner or optional-clause wording of the other pool (training's in the
  benchmark, the benchmark's in training).

Every check is about the records' gold answers and questions, read against the function library
(``generators/library.py``); a call of a function not in the library is not checked.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fcbench.benchmark.record import Record
from fcbench.generators.library import DIETS, FOODS, LIBRARY, FunctionDef, is_held_out
from fcbench.generators.params import Param
from fcbench.generators.synth import BENCHMARK_JOINERS, TRAINING_JOINERS

Pool = Literal["benchmark", "training"]
CHECKS = ("example", "degenerate", "ambiguous", "untraceable", "shared wording")
BY_NAME: dict[str, FunctionDef] = {f.name: f for f in LIBRARY}
CLOSED_VALUES: dict[tuple[str, str], tuple[str, ...]] = {("get_nutrition_facts", "food"): FOODS, ("find_recipe", "diet"): DIETS}
"""Arguments drawn from a closed list of real values: anything else has no right answer."""
ROLE_WORDS: dict[str, tuple[str, ...]] = {"get_match_score": ("host", "home", "away"), "buy_match_tickets": ("host", "home", "away")}
"""Functions whose arguments are told apart by role (home and away): the question must say it."""
CHANCE_SIGMAS = 3.0
"""How far beyond chance (in binomial standard deviations, plus one item) a rate may lie."""


@dataclass(frozen=True, slots=True)
class Violation:
    record_id: str
    check: str
    detail: str


@dataclass(slots=True)
class Cell:
    """One (category, split) of the table."""

    items: int = 0
    with_example: int = 0
    names_gold: int = 0
    chance_names_gold: float = 0.0
    """Expected count of examples naming a gold function if their function were drawn at random."""
    chance_variance: float = 0.0
    violations: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class AuditReport:
    pool: Pool
    cells: dict[tuple[str, str], Cell]
    violations: list[Violation]

    def counts(self) -> Counter[str]:
        return Counter(v.check for v in self.violations)

    @property
    def passed(self) -> bool:
        return not self.violations


def pool_of(records: Sequence[Record]) -> Pool:
    """The benchmark's records all carry ``meta.split``; training records carry none."""
    return "benchmark" if records and all(r.split for r in records) else "training"


def audit(records: Sequence[Record], pool: Pool) -> AuditReport:
    cells: dict[tuple[str, str], Cell] = {}
    violations: list[Violation] = []
    for record in records:
        cell = cells.setdefault((record.category, record.split or "-"), Cell())
        found = list(_record_violations(record, pool))
        _count_example(cell, record)
        cell.items += 1
        cell.violations.update(v.check for v in found)
        violations.extend(found)
    for (category, split), violation in _example_violations(cells):
        cells[(category, split)].violations[violation.check] += 1
        violations.append(violation)
    return AuditReport(pool, dict(sorted(cells.items())), violations)


# ---------------------------------------------------------------------------------------------
# The example call


def _count_example(cell: Cell, record: Record) -> None:
    if record.example is None or not record.functions:
        return
    gold_names = {call.name for call in record.gold}
    offered = [spec["name"] for spec in record.functions]
    p = sum(name in gold_names for name in offered) / len(offered)
    cell.with_example += 1
    cell.names_gold += record.example.name in gold_names
    cell.chance_names_gold += p
    cell.chance_variance += p * (1 - p)


def _beyond_chance(observed: float, expected: float, variance: float) -> bool:
    return observed > expected + CHANCE_SIGMAS * math.sqrt(variance) + 1


def _example_violations(cells: dict[tuple[str, str], Cell]) -> Iterator[tuple[tuple[str, str], Violation]]:
    shown = sum(c.with_example for c in cells.values())
    total = sum(c.items for c in cells.values())
    share = shown / total if total else 0.0
    for (category, split), cell in sorted(cells.items()):
        where = f"{category}/{split}"
        if _beyond_chance(cell.names_gold, cell.chance_names_gold, cell.chance_variance):
            yield (category, split), Violation(where, "example", f"the example names the gold function in {cell.names_gold} of {cell.with_example} items; by chance {cell.chance_names_gold:.0f}")
        variance = cell.items * share * (1 - share)
        if abs(cell.with_example - cell.items * share) > CHANCE_SIGMAS * math.sqrt(variance) + 1:
            yield (category, split), Violation(where, "example", f"an example is shown in {cell.with_example} of {cell.items} items, {100 * share:.0f} % overall")


# ---------------------------------------------------------------------------------------------
# One record


def _record_violations(record: Record, pool: Pool) -> Iterator[Violation]:
    question = record.question
    for call in record.gold:
        function = BY_NAME.get(call.name)
        if function is None:
            continue
        for check, detail in _call_problems(function, call.arguments, question, pool):
            yield Violation(record.id, check, f"{call.name}: {detail}")
    yield from (Violation(record.id, "degenerate", detail) for detail in _undone_calls(record))
    own, other = (BENCHMARK_JOINERS, TRAINING_JOINERS) if pool == "benchmark" else (TRAINING_JOINERS, BENCHMARK_JOINERS)
    for joiner in other:
        if joiner in question:
            yield Violation(record.id, "shared wording", f"joiner {joiner.strip()!r} belongs to the other pool")


def _call_problems(function: FunctionDef, arguments: dict[str, Any], question: str, pool: Pool) -> Iterator[tuple[str, str]]:
    for rule in function.broken_rules(arguments):
        yield "degenerate", f"{rule.kind} ({rule})"
    for param in function.params:
        if param.always and param.name not in arguments:
            yield "ambiguous", f"the state {param.name!r} is not set: the question cannot say it"
        if param.name not in arguments:
            continue
        value = arguments[param.name]
        if param.is_flag and not param.always and value is False:
            yield "ambiguous", f"{param.name}=false where leaving it out means the same"
        closed = CLOSED_VALUES.get((function.name, param.name))
        if closed is not None and value not in closed:
            yield "ambiguous", f"{param.name}={value!r} is not a real value of its kind"
        if not _said(param, value, question):
            yield "untraceable", f"{param.name}={value!r} is not in the question"
        # an optional clause only: a required state is said as plainly as a city name
        if not param.required and not is_held_out(function):
            other = param.clause_for(value, held_out=pool == "training")
            if other.strip() and _contains_words(question, other):
                yield "shared wording", f"{param.name}: the other pool's clause {other.strip()!r}"
    words = ROLE_WORDS.get(function.name)
    if words and not any(word in question.lower() for word in words):
        yield "ambiguous", "home and away are told only by the order of mention"


def _contains_words(text: str, phrase: str) -> bool:
    """``phrase`` in ``text`` as whole words, case ignored."""
    return re.search(rf"(?<!\w){re.escape(phrase.strip().lower())}(?!\w)", text.lower()) is not None


def _said(param: Param, value: Any, question: str) -> bool:
    """Whether the question states ``value``: a flag by its clause (either wording), anything
    else by each of its leaves."""
    lowered = question.lower()
    if param.is_flag:
        return any(param.clause_for(value, held_out=h).strip().lower() in lowered for h in (False, True))
    return all(str(leaf).lower() in lowered for leaf in _leaves(value))


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _undone_calls(record: Record) -> Iterator[str]:
    """A parallel answer calling one function twice on the same first argument: the second
    call undoes or repeats the first."""
    seen: dict[tuple[str, str], int] = {}
    for i, call in enumerate(record.gold):
        function = BY_NAME.get(call.name)
        if function is None:
            continue
        target = function.params[0].name
        key = (call.name, repr(call.arguments.get(target)))
        if key in seen:
            yield f"calls {seen[key] + 1} and {i + 1} of {call.name} share {target}={call.arguments.get(target)!r}"
        seen[key] = i
