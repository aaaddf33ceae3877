"""Synthetic function-calling records: training data and the held-out benchmark.

``generate`` makes training/validation records from the seen part of the library only (seen
functions, training phrasings); ``build_benchmark`` makes the frozen benchmark from the parts
training never sees. Same seed, same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fcbench.benchmark.record import dumps_canonical
from fcbench.generators.library import LIBRARY, FunctionDef, held_out_phrasings, is_held_out, training_phrasings
from fcbench.generators.params import Sampler, spoken

from fcbench.errors import UserError

GENERATOR_VERSION = "2.0.0"
INSTRUCTION = "Generate a JSON response for a function call based on the user's question and the function call example."
"""The seed's instruction, kept verbatim."""

CATEGORY_SHARES: dict[str, float] = {"simple": 0.40, "multiple": 0.25, "parallel": 0.20, "irrelevance": 0.15}
"""Fixed proportions of each category (recorded in the manifest)."""
VALIDATION_SHARE = 0.05
MAX_DRAWS = 50
"""Resampling bound when a drawn question repeats an earlier one."""
EXAMPLE_SHARE = 0.5
"""How often a record shows an example call. Its function is drawn among the offered ones
independently of the answer, in every category alike: an example that named the answer's
function would give function selection away, and one shown only where a call is due would tell
irrelevance apart. Without one, the model must read the specs."""
TRAINING_JOINERS = (" Also, ", " And then: ", " After that, ", " Plus: ")
BENCHMARK_JOINERS = (" Then, ", " Next, ", " On top of that, ", " Additionally, ")
"""How two requests are joined in a parallel question; the benchmark's are never trained on."""

Format = Literal["default", "seed"]
Pool = Literal["train", "benchmark"]


class HeldOutLeak(UserError):
    """Raised instead of emitting a training record that would use a held-out part."""


@dataclass(frozen=True, slots=True)
class Utterance:
    """A question for one call: the text, the call, and where the text came from."""

    question: str
    function: FunctionDef
    phrasing: int
    arguments: dict[str, Any]


def realize(function: FunctionDef, phrasing: int, sampler: Sampler, *, held_out_clauses: bool = False) -> Utterance:
    """Draw arguments (each optional one set half of the time), again while they break one of
    the function's rules, and phrase the question so that every value set appears in it; the
    optional clauses in the benchmark's own wording when ``held_out_clauses``."""
    template = function.phrasings[phrasing]
    for _ in range(MAX_DRAWS):
        # a phrasing without {opt} cannot carry optional values
        arguments = _draw_arguments(function, sampler, optional="{opt}" in template)
        if not function.broken_rules(arguments):
            break
    else:
        raise RuntimeError(f"{function.name}: no argument set within its rules in {MAX_DRAWS} draws")
    clauses = [p.clause_for(arguments[p.name], held_out=held_out_clauses) for p in function.params if p.name in arguments and p.clause is not None]
    fields = {name: spoken(value) for name, value in arguments.items()}
    question = template.format_map({**fields, "opt": "".join(clauses)})
    return Utterance(question[0].upper() + question[1:], function, phrasing, arguments)


def _draw_arguments(function: FunctionDef, sampler: Sampler, *, optional: bool) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    for param in function.params:
        if not param.required and sampler.rng.random() < 0.5:
            continue
        value = param.draw(sampler)
        if param.required or optional:
            arguments[param.name] = value
    return arguments


def normalize_question(question: str) -> str:
    """The form duplicates are found in: case, punctuation and spacing ignored."""
    table = str.maketrans("", "", string.punctuation)
    return re.sub(r"\s+", " ", question.casefold().translate(table)).strip()


def call_json(utterance: Utterance) -> dict[str, Any]:
    return {"name": utterance.function.name, "arguments": utterance.arguments}


# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Parts:
    """Which functions and phrasings a pool may draw from."""

    questions: list[tuple[FunctionDef, int]]
    """(function, phrasing) a question may be phrased with."""
    offerable: list[FunctionDef]
    """Functions that may be offered (targets and distractors)."""
    split_of: Callable[[FunctionDef], str] | None = None
    joiners: tuple[str, ...] = TRAINING_JOINERS
    held_out_clauses: bool = False
    """Optional clauses in the benchmark's wording (never in training's)."""

    @classmethod
    def training(cls) -> Parts:
        seen = [f for f in LIBRARY if not is_held_out(f)]
        return cls([(f, p) for f in seen for p in training_phrasings(f)], seen)

    @classmethod
    def benchmark(cls, split: str) -> Parts:
        """``unseen_function``: held-out functions, any phrasing; ``seen_function``: seen
        functions in held-out phrasings. Distractors may be any function."""
        if split == "unseen_function":
            questions = [(f, p) for f in LIBRARY if is_held_out(f) for p in range(len(f.phrasings))]
        else:
            questions = [(f, p) for f in LIBRARY if not is_held_out(f) for p in held_out_phrasings(f)]
        return cls(questions, list(LIBRARY), lambda f: split, BENCHMARK_JOINERS, held_out_clauses=True)


class RecordFactory:
    """Builds one record of a category from a pool's parts, never repeating a question."""

    def __init__(self, parts: Parts, sampler: Sampler, fmt: Format, *, guard_training: bool) -> None:
        self.parts, self.sampler, self.fmt, self.guard_training = parts, sampler, fmt, guard_training
        self.seen_questions: set[str] = set()
        self.by_domain: dict[str, list[FunctionDef]] = {}
        for function in parts.offerable:
            self.by_domain.setdefault(function.domain, []).append(function)

    def make(self, category: str, record_id: str) -> dict[str, Any]:
        for _ in range(MAX_DRAWS):
            record = getattr(self, f"_{category}")()
            key = normalize_question(record["input"]["user_question"])
            if key not in self.seen_questions:
                self.seen_questions.add(key)
                return {"id": record_id, **record}
        raise RuntimeError(f"could not draw a new {category} question in {MAX_DRAWS} tries: the value space is too small")

    # --- categories ---------------------------------------------------------------------------

    def _utterance(self, exclude: Sequence[FunctionDef] = ()) -> Utterance:
        choices = [q for q in self.parts.questions if q[0] not in exclude]
        function, phrasing = self.sampler.rng.choice(choices)
        return realize(function, phrasing, self.sampler, held_out_clauses=self.parts.held_out_clauses)

    def _distractors(self, targets: Sequence[FunctionDef], k: int, *, other_domains: bool = False) -> list[FunctionDef]:
        """``k`` other functions, half from the targets' domains when allowed (harder to tell apart)."""
        rng = self.sampler.rng
        domains = {t.domain for t in targets}
        pool = [f for f in self.parts.offerable if f not in targets and (f.domain not in domains or not other_domains)]
        near = [f for f in pool if f.domain in domains]
        picked = rng.sample(near, min(len(near), k // 2)) if near else []
        rest = [f for f in pool if f not in picked]
        return picked + rng.sample(rest, k - len(picked))

    def _simple(self) -> dict[str, Any]:
        u = self._utterance()
        return self._record(u.question, [u.function], {"function_call": call_json(u)}, "simple", [u])

    def _multiple(self) -> dict[str, Any]:
        u = self._utterance()
        offered = [u.function, *self._distractors([u.function], self.sampler.rng.randint(2, 5))]
        return self._record(u.question, offered, {"function_call": call_json(u)}, "multiple", [u])

    def _parallel(self) -> dict[str, Any]:
        rng = self.sampler.rng
        first = self._utterance()
        # The same function twice with other values (always in the seed's form, which can
        # offer only one function), else two different functions.
        if self.fmt == "seed" or rng.random() < 0.5:
            phrasings = [p for f, p in self.parts.questions if f is first.function]
            target = first.function.params[0].name
            for _ in range(MAX_DRAWS):
                second = realize(first.function, rng.choice(phrasings), self.sampler, held_out_clauses=self.parts.held_out_clauses)
                # Another target, so the second call does not undo the first (the same lights
                # switched on, then off); the seed's form infers one spec from the example, so
                # both calls need its keys.
                if second.arguments.get(target) != first.arguments.get(target) and (self.fmt != "seed" or second.arguments.keys() == first.arguments.keys()):
                    break
            else:
                raise RuntimeError(f"could not draw a second call of {first.function.name} with another {target}")
        else:
            second = self._utterance(exclude=[first.function])
        joiner = rng.choice(self.parts.joiners)
        question = first.question + joiner + _lower_first(second.question)
        targets = list(dict.fromkeys([first.function, second.function]))
        offered = targets + self._distractors(targets, rng.randint(0, 2))
        return self._record(question, offered, {"function_calls": [call_json(first), call_json(second)]}, "parallel", [first, second])

    def _irrelevance(self) -> dict[str, Any]:
        u = self._utterance()
        offered = self._distractors([u.function], self.sampler.rng.randint(1, 4), other_domains=True)
        return self._record(u.question, offered, {"function_call": None}, "irrelevance", [u])

    # --- assembly -----------------------------------------------------------------------------

    def _record(self, question: str, offered: list[FunctionDef], output: dict[str, Any], category: str, used: list[Utterance]) -> dict[str, Any]:
        rng = self.sampler.rng
        if self.guard_training:
            _refuse_held_out(offered, used)
        rng.shuffle(offered)
        inp: dict[str, Any] = {"user_question": question}
        if self.fmt == "seed":
            # The seed's form: only the example's function, nothing else offered, so the spec is
            # inferred from the example: it is the answer's function and sets the answer's keys.
            targets = [u.function for u in used] if category != "irrelevance" else []
            keys = used[0].arguments.keys() if targets else None
            inp["function_call_example"] = _example_call(targets[0] if targets else offered[0], self.sampler, avoid=output, keys=keys)
        else:
            inp["functions"] = [f.spec() for f in offered]
            if rng.random() < EXAMPLE_SHARE:
                inp["function_call_example"] = _example_call(rng.choice(offered), self.sampler, avoid=output)
        meta: dict[str, Any] = {"category": category, "domain": used[0].function.domain, "functions": [u.function.name for u in used], "phrasings": [u.phrasing for u in used]}
        if self.parts.split_of is not None:
            meta["split"] = self.parts.split_of(used[0].function)
        return {"instruction": INSTRUCTION, "input": inp, "output": output, "meta": meta}


def _lower_first(sentence: str) -> str:
    """Continue a sentence mid-way: lower-case its first letter, except for the pronoun I."""
    if re.match(r"I\b", sentence):
        return sentence
    return sentence[0].lower() + sentence[1:]


def _example_call(function: FunctionDef, sampler: Sampler, *, avoid: dict[str, Any], keys: Any = None) -> dict[str, Any]:
    """An example call of ``function`` with values other than the answer's: an example equal to
    the answer would measure copying, not function calling. ``keys``: exactly these arguments."""
    answers = [avoid.get("function_call")] + list(avoid.get("function_calls", []))
    for _ in range(MAX_DRAWS):
        chosen = [p for p in function.params if (p.name in keys if keys is not None else p.required or sampler.rng.random() < 0.5)]
        example = {"name": function.name, "arguments": {p.name: p.draw(sampler) for p in chosen}}
        if example not in answers:
            return example
    raise RuntimeError(f"could not draw an example of {function.name} unlike the answer")


def _refuse_held_out(offered: Sequence[FunctionDef], used: Sequence[Utterance]) -> None:
    for function in offered:
        if is_held_out(function):
            raise HeldOutLeak(f"training record would offer held-out function {function.name!r}")
    for u in used:
        if is_held_out(u.function) or u.phrasing not in training_phrasings(u.function):
            raise HeldOutLeak(f"training record would use held-out phrasing {u.phrasing} of {u.function.name!r}")


def category_plan(n: int, sampler: Sampler, shares: dict[str, float]) -> list[str]:
    """Exactly ``round(n * share)`` of each category (the last absorbs rounding), shuffled."""
    names = list(shares)
    counts = [round(n * shares[c]) for c in names[:-1]]
    counts.append(n - sum(counts))
    plan = [c for c, k in zip(names, counts) for _ in range(k)]
    sampler.rng.shuffle(plan)
    return plan


# ---------------------------------------------------------------------------------------------
# Files


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> str:
    """Write records as canonical JSONL (UTF-8, LF); return the file's sha256."""
    data = "".join(dumps_canonical(r) + "\n" for r in records).encode("utf-8")
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def diversity(questions: Sequence[str]) -> dict[str, float]:
    """Unique questions / total, and distinct word bigrams / all bigrams."""
    bigrams: Counter[tuple[str, str]] = Counter()
    for q in questions:
        words = normalize_question(q).split()
        bigrams.update(zip(words, words[1:]))
    total = sum(bigrams.values())
    return {
        "unique_question_ratio": len({normalize_question(q) for q in questions}) / max(1, len(questions)),
        "distinct_bigram_ratio": len(bigrams) / max(1, total),
    }


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "records": len(records),
        "categories": dict(sorted(Counter(r["meta"]["category"] for r in records).items())),
        "domains": dict(sorted(Counter(r["meta"]["domain"] for r in records).items())),
    }


REJECTED_REPHRASINGS = "rephrasings-rejected.jsonl"


def generate(n: int, seed: int, out_dir: Path, fmt: Format = "default", rephrasing: Any = None,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write ``train.jsonl``, ``validation.jsonl`` and ``manifest.json``; return the manifest.
    ``rephrasing`` (a ``generators.rephrase.Rephrasing``) adds a question writer's new phrasings
    of training records to ``train.jsonl`` and writes the rejected ones to
    ``rephrasings-rejected.jsonl``."""
    sampler = Sampler.seeded(seed)
    shares = dict(CATEGORY_SHARES)
    if fmt == "seed":  # one function per record: "multiple" cannot be expressed
        shares["simple"] += shares.pop("multiple")
    factory = RecordFactory(Parts.training(), sampler, fmt, guard_training=True)
    plan = category_plan(n, sampler, shares)
    records = [factory.make(category, f"fc-{i:06d}") for i, category in enumerate(plan)]
    n_validation = round(n * VALIDATION_SHARE)
    train, validation = records[n_validation:], records[:n_validation]
    rephrased = None
    if rephrasing is not None:  # before anything is written: a failing writer leaves no half-made folder
        from fcbench.generators.rephrase import rephrase

        rephrased, writer_name = rephrase(train, rephrasing, progress, avoid=[r["input"]["user_question"] for r in validation])
        # each new phrasing right after its original: a recipe that reads the first N records
        # (max_train_records) sees both
        after = {raw["meta"]["rephrases"]: raw for raw in rephrased.kept}
        train = [r for original in train for r in (original, after.get(original["id"])) if r is not None]
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "format": fmt,
        "category_shares": shares,
        "files": {
            "train.jsonl": {"sha256": write_jsonl(out_dir / "train.jsonl", train), **summarize(train)},
            "validation.jsonl": {"sha256": write_jsonl(out_dir / "validation.jsonl", validation), **summarize(validation)},
        },
        "diversity": diversity([r["input"]["user_question"] for r in (*validation, *train)]),
    }
    (out_dir / REJECTED_REPHRASINGS).unlink(missing_ok=True)  # never one left from an earlier run
    if rephrased is not None:
        from fcbench.generators.rephrase import write_rejected

        write_rejected(out_dir / REJECTED_REPHRASINGS, rephrased.rejected)
        manifest["rephrasing"] = rephrased.summary(rephrasing, writer_name)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


BENCHMARK_SEED = 20261124
"""A seed of its own: benchmark values are fresh draws, not training's."""


def build_benchmark(n: int, out_dir: Path, version: str, seed: int = BENCHMARK_SEED) -> dict[str, Any]:
    """Build the held-out benchmark ``fcbench-<version>.jsonl`` and its manifest. Refuses to
    overwrite an existing version: a benchmark is changed only as a new version."""
    path = out_dir / f"fcbench-{version}.jsonl"
    if path.exists():
        raise UserError(f"{path} exists: benchmarks are frozen, build a new version instead")
    sampler = Sampler.seeded(seed)
    records = []
    for split, count in (("seen_function", n // 2), ("unseen_function", n - n // 2)):
        factory = RecordFactory(Parts.benchmark(split), sampler, "default", guard_training=False)
        factory.seen_questions = {normalize_question(r["input"]["user_question"]) for r in records}
        for category in category_plan(count, sampler, CATEGORY_SHARES):
            records.append(factory.make(category, f"fcb-{version}-{len(records):05d}"))
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"benchmarks": {}}
    entry = {
        "name": "fcbench",
        "version": version,
        "file": path.name,
        "sha256": write_jsonl(path, records),
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        **summarize(records),
        "splits": dict(sorted(Counter(r["meta"]["split"] for r in records).items())),
    }
    entry["fewshot"] = write_fewshot(out_dir, version)
    manifest["benchmarks"][version] = entry
    manifest["current"] = version
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return entry


FEWSHOT_SEED = 20261125
FEWSHOT_ORDER = ("simple", "parallel", "irrelevance", "multiple")
"""Worked examples in this category order, repeated: any K shows the most kinds of answer."""
FEWSHOT_CANDIDATES = 16


def build_fewshot(k: int = 8, seed: int = FEWSHOT_SEED) -> list[dict[str, Any]]:
    """Worked examples for few-shot prompts (base-model baselines). Drawn from the training
    pool (seen functions, training phrasings), never from the benchmark; per slot the one with
    the shortest input of a few candidates (every shot is paid for in every prompt) among those
    whose functions no earlier shot used."""
    factory = RecordFactory(Parts.training(), Sampler.seeded(seed), "default", guard_training=True)
    shots: list[dict[str, Any]] = []
    used: set[str] = set()
    for i in range(k):
        category = FEWSHOT_ORDER[i % len(FEWSHOT_ORDER)]
        candidates = [factory.make(category, f"shot-{i:02d}") for _ in range(FEWSHOT_CANDIDATES)]
        shot = min(candidates, key=lambda r: (bool(used & set(r["meta"]["functions"])), len(json.dumps(r["input"]))))
        used.update(shot["meta"]["functions"])
        shots.append(shot)
    return shots


def write_fewshot(out_dir: Path, version: str) -> dict[str, Any]:
    """Write ``fewshot-<version>.jsonl`` beside the benchmark; return its manifest entry."""
    shots = build_fewshot()
    path = out_dir / f"fewshot-{version}.jsonl"
    return {"file": path.name, "sha256": write_jsonl(path, shots), "records": len(shots), "seed": FEWSHOT_SEED}
