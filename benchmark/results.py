"""The results contract between evaluation and the leaderboard.

``fcbench eval`` writes one :class:`EvalSummary` as the ``fcbench`` part of ``results.json``
(beside lm-eval's own results); ``fcbench record`` reads it back with :func:`read_summary`.
Both sides, and the tests, go through these types: no stage builds or picks apart the JSON by
hand. :class:`Versions` is what must be equal for two evaluations to be ranked together.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from fcbench.errors import UserError

RESULTS_FILE = "results.json"
MAX_FEWSHOT = 64
"""More worked examples than any prompt holds: a summary claiming more is not fcbench's."""


class ResultsError(UserError):
    """A results file that is not an fcbench evaluation summary; the message names it."""


@dataclass(frozen=True, slots=True)
class Versions:
    """What must be equal for two evaluations' scores to be comparable."""

    benchmark: str
    benchmark_version: str
    prompt_format_version: int
    scoring_version: int

    def describe(self) -> str:
        return f"{self.benchmark} {self.benchmark_version}, prompt format v{self.prompt_format_version}, scoring v{self.scoring_version}"


@dataclass(frozen=True, slots=True)
class BenchmarkRef:
    name: str
    version: str
    sha256: str


@dataclass(frozen=True, slots=True)
class AdapterRef:
    path: str
    sha256: str | None
    """One digest over the adapter's weight and tokenizer files: part of the candidate's identity."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalSummary:
    """One evaluation of one candidate: who it is, what it ran on, how, and how it went."""

    candidate: str
    model: dict[str, Any]
    """``name`` and, where known, ``path``, ``source`` and ``version`` (models/registry.describe)."""
    adapter: AdapterRef | None
    fewshot: int
    prompt_format: str
    prompt_format_version: int
    benchmark: BenchmarkRef
    scoring_version: int
    created: str
    """ISO 8601, UTC: with the results folder, what makes recording idempotent."""
    mode: str = "prompt"
    """``prompt`` (fcbench's prompt) or ``native`` (the model's own tool template)."""
    answer_format: str = "fcbench"
    """How the outputs were read (benchmark/formats.py); ``auto``: detected per output."""
    backend: str = "hf"
    tasks: list[str] = field(default_factory=list)
    task_versions: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    """Items per subtask (lm-eval's ``--limit``); None: every item."""
    n_items: int = 0
    git_commit: str | None = None
    libraries: dict[str, str | None] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    """How it ran, for the record only: lm-eval model args, batch size, device, dtype, timing,
    cache use, truncated prompts, the full config."""

    @property
    def versions(self) -> Versions:
        return Versions(self.benchmark.name, self.benchmark.version, self.prompt_format_version, self.scoring_version)

    def to_json(self) -> dict[str, Any]:
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "run"}
        row["benchmark"] = asdict(self.benchmark)
        row["adapter"] = asdict(self.adapter) if self.adapter else None
        return {**row, **self.run}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> EvalSummary:
        """Read a summary, also one written before a field existed (see the fallbacks)."""
        known = {f.name for f in fields(cls)} - {"run"}
        values = {k: v for k, v in obj.items() if k in known}
        values["benchmark"] = BenchmarkRef(**obj["benchmark"])
        values["adapter"] = AdapterRef(obj["adapter"]["path"], obj["adapter"].get("sha256")) if obj.get("adapter") else None
        prompt_format = obj["prompt_format"]
        values["prompt_format"] = prompt_format if isinstance(prompt_format, str) else ",".join(prompt_format)
        # written before the field existed: the version is the format name's "-v<N>" suffix
        if "prompt_format_version" not in values:
            values["prompt_format_version"] = int(values["prompt_format"].rsplit("-v", 1)[1])
        values["fewshot"], values["scoring_version"] = int(obj["fewshot"]), int(obj["scoring_version"])
        if not 0 <= values["fewshot"] <= MAX_FEWSHOT:
            raise ValueError(f"fewshot {values['fewshot']} is outside 0..{MAX_FEWSHOT}")
        return cls(**values, run={k: v for k, v in obj.items() if k not in known})


def write_results(folder: Path, summary: EvalSummary, lm_eval: dict[str, Any], default: Any = None) -> Path:
    """``results.json``: the summary and lm-eval's own results (``default`` serialises the few
    non-JSON values lm-eval keeps)."""
    path = folder / RESULTS_FILE
    path.write_text(json.dumps({"fcbench": summary.to_json(), "lm_eval": lm_eval}, indent=2, default=default) + "\n", encoding="utf-8")
    return path


def read_summary(folder: Path) -> EvalSummary:
    path = folder / RESULTS_FILE
    if not path.is_file():
        raise ResultsError(f"{folder} holds no {RESULTS_FILE}: not a folder written by fcbench eval")
    try:
        return EvalSummary.from_json(json.loads(path.read_text(encoding="utf-8"))["fcbench"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as err:
        raise ResultsError(f"{path}: not an fcbench results file ({type(err).__name__}: {err})") from err
