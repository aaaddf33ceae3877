"""The frozen held-out benchmarks committed under ``benchmark/data/``.

``manifest.json`` names each version's file and sha256 and which version is current. A
benchmark is never edited in place: a change is a new version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fcbench.benchmark.scoring import sha256_file
from fcbench.paths import bfcl_dir

BENCHMARK_DIR = Path(__file__).parent / "data"
MANIFEST = BENCHMARK_DIR / "manifest.json"


@dataclass(frozen=True, slots=True)
class FrozenBenchmark:
    name: str
    version: str
    path: Path
    sha256: str
    fewshot_path: Path | None = None
    """Worked examples for few-shot prompts, drawn from training data (never the benchmark)."""


def frozen_benchmark(version: str | None = None, manifest_path: Path = MANIFEST) -> FrozenBenchmark:
    """The committed benchmark of ``version`` (the current one by default), its file checked
    against the manifest's sha256. Raises ValueError when it has been edited in place."""
    manifest = json.loads(manifest_path.read_text())
    version = version or manifest["current"]
    if version not in manifest["benchmarks"]:
        raise ValueError(f"no benchmark version {version!r} in {manifest_path}; have {sorted(manifest['benchmarks'])}")
    entry = manifest["benchmarks"][version]
    path = _checked(manifest_path.parent / entry["file"], entry["sha256"], manifest_path)
    fewshot = entry.get("fewshot")
    fewshot_path = _checked(manifest_path.parent / fewshot["file"], fewshot["sha256"], manifest_path) if fewshot else None
    return FrozenBenchmark(entry["name"], version, path, entry["sha256"], fewshot_path)


def _checked(path: Path, expected: str, manifest_path: Path) -> Path:
    actual = sha256_file(path)
    if actual != expected:
        raise ValueError(f"{path} has sha256 {actual}, but {manifest_path} froze it as {expected}: benchmarks are never edited in place")
    return path


def imported_benchmark(folder: Path | None = None) -> FrozenBenchmark:
    """A benchmark converted from outside data (``fcbench import-bfcl``): its combined records
    file checked against the import's manifest. Few-shot examples are fcbench's own (drawn from
    training data, in the same record format). ``folder`` defaults to the cache root's."""
    folder = folder or bfcl_dir()
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} is missing: run `fcbench import-bfcl` first (offline, a few seconds)")
    manifest = json.loads(manifest_path.read_text())
    path = _checked(folder / manifest["file"], manifest["sha256"], manifest_path)
    return FrozenBenchmark(manifest["name"], manifest["version"], path, manifest["sha256"], frozen_benchmark().fewshot_path)


def find_benchmark(name: str, version: str, sha256: str) -> FrozenBenchmark | None:
    """The benchmark an evaluation ran on, if it is still here unchanged (None otherwise)."""
    candidates: list[FrozenBenchmark] = []
    for loader in (lambda: frozen_benchmark(version), imported_benchmark):
        try:
            candidates.append(loader())
        except (FileNotFoundError, ValueError):
            continue
    return next((b for b in candidates if (b.name, b.version, b.sha256) == (name, version, sha256)), None)
