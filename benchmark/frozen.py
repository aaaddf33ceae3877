"""Frozen benchmark files: the held-out benchmark committed under ``benchmark/data/`` and the
ones imported from outside data (BFCL), each checked against the sha256 it was frozen with.

``manifest.json`` names each committed version's file and sha256 and which version is current.
A benchmark is never edited in place: a change is a new version. Which suite a file belongs to
is said in ``benchmark/suites.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fcbench.benchmark.provenance import sha256_file

from fcbench.errors import UserError

BENCHMARK_DIR = Path(__file__).parent / "data"
MANIFEST = BENCHMARK_DIR / "manifest.json"


class BenchmarkMissing(UserError):
    """A benchmark whose files are not here (yet): the message says how to make them."""


class BenchmarkChanged(UserError):
    """A benchmark file whose sha256 is not the one it was frozen with."""


@dataclass(frozen=True, slots=True)
class FrozenBenchmark:
    name: str
    version: str
    path: Path
    sha256: str
    fewshot_path: Path | None = None
    """Worked examples for few-shot prompts, drawn from training data (never the benchmark)."""


def committed_benchmark(version: str | None = None, manifest_path: Path = MANIFEST) -> FrozenBenchmark:
    """The committed benchmark of ``version`` (the current one by default), its file checked
    against the manifest's sha256."""
    manifest = json.loads(manifest_path.read_text())
    version = version or manifest["current"]
    if version not in manifest["benchmarks"]:
        raise BenchmarkMissing(f"no benchmark version {version!r} in {manifest_path}; have {', '.join(sorted(manifest['benchmarks']))}")
    entry = manifest["benchmarks"][version]
    path = _checked(manifest_path.parent / entry["file"], entry["sha256"], manifest_path)
    fewshot = entry.get("fewshot")
    fewshot_path = _checked(manifest_path.parent / fewshot["file"], fewshot["sha256"], manifest_path) if fewshot else None
    return FrozenBenchmark(entry["name"], version, path, entry["sha256"], fewshot_path)


def imported_benchmark(folder: Path, version: str | None = None) -> FrozenBenchmark:
    """A benchmark converted from outside data into ``folder``: its combined records file
    checked against the import's manifest. Few-shot examples are fcbench's own (drawn from
    training data, in the same record format)."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise BenchmarkMissing(f"{manifest_path} is missing: import it first (offline, a few seconds)")
    manifest = json.loads(manifest_path.read_text())
    if version is not None and version != manifest["version"]:
        raise BenchmarkMissing(f"{folder} holds {manifest['name']} {manifest['version']}, not {version}")
    path = _checked(folder / manifest["file"], manifest["sha256"], manifest_path)
    return FrozenBenchmark(manifest["name"], manifest["version"], path, manifest["sha256"], committed_benchmark().fewshot_path)


def _checked(path: Path, expected: str, manifest_path: Path) -> Path:
    if not path.is_file():
        raise BenchmarkMissing(f"{path} is missing, though {manifest_path} names it")
    actual = sha256_file(path)
    if actual != expected:
        raise BenchmarkChanged(f"{path} has sha256 {actual}, but {manifest_path} froze it as {expected}: benchmarks are never edited in place")
    return path
