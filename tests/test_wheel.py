"""fcbench as a user installs it: the wheel, in a fresh virtualenv outside the repository, run
from an empty working directory.

The fresh environment gets fcbench from the wheel only (``--no-deps``); its third-party
dependencies are borrowed from the test's own environment through a ``.pth`` line (a plain path
entry: the editable install's finder there is not activated), so the test needs no network and
no minute-long install of torch.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _not_sources(folder: str, names: list[str]) -> set[str]:
    """What a working checkout holds besides the sources: environments, builds, caches and, at the
    top, the outputs of make bench."""
    outputs = ("results", "runs", "data", "report") if Path(folder) == REPO else ()
    return {n for n in names if n in (".git", ".venv", "build", "__pycache__", *outputs) or n.endswith((".egg-info", ".db", ".db-wal", ".db-shm"))}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # built from a copy: setuptools writes build/ and egg-info beside the sources
    source = tmp_path_factory.mktemp("source") / "fcbench"
    shutil.copytree(REPO, source, ignore=_not_sources)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)],
                   check=True, capture_output=True, cwd=dist)
    (built,) = dist.glob("fcbench-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed; returns its bin folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "borrowed_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv / "bin"


@pytest.fixture()
def empty_dir(tmp_path: Path) -> Path:
    """An empty working directory, but for a ``benchmark.py`` that once shadowed fcbench's own
    top-level ``benchmark`` package."""
    (tmp_path / "benchmark.py").write_text("raise SystemExit('the working directory was imported')\n")
    return tmp_path


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_wheel_installs_one_package_with_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    dist_info = {name for name in top_level if name.endswith(".dist-info")}
    assert len(dist_info) == 1 and top_level - dist_info == {"fcbench"}
    for shipped in ("fcbench/tasks/fcbench/_default_template_yaml", "fcbench/tasks/fcbench/_fcbench.yaml", "fcbench/tasks/fcbench/utils.py",
                    "fcbench/trainers/configs/smollm2-lora-quick.yaml", "fcbench/trainers/accelerate/ddp.yaml",
                    "fcbench/benchmark/data/manifest.json", "fcbench/benchmark/schema/record.schema.json",
                    "fcbench/leaderboard/templates/report.html", "fcbench/examples/benchmark.jsonl"):
        assert shipped in names


def test_installed_cli_runs_from_an_empty_directory(installed: Path, empty_dir: Path) -> None:
    version = run([str(installed / "fcbench"), "--version"], empty_dir)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "fcbench 0.1.0"

    # `python -m` puts the working directory first on sys.path: its benchmark.py must not matter
    as_module = run([str(installed / "python"), "-m", "fcbench.cli", "--help"], empty_dir)
    assert as_module.returncode == 0, as_module.stderr

    # the core commands import no torch, transformers or lm-eval (the [eval] and [train] extras)
    core = run([str(installed / "python"), "-c", "import sys, fcbench.cli, fcbench.leaderboard.compare, fcbench.generators.validate; "
                "print(sorted({'torch', 'transformers', 'lm_eval', 'trl', 'peft'} & set(sys.modules)))"], empty_dir)
    assert core.returncode == 0 and core.stdout.strip() == "[]", core.stdout + core.stderr

    examples = run([str(installed / "python"), "-c", "from fcbench.examples import EXAMPLES_DIR; print(EXAMPLES_DIR)"], empty_dir).stdout.strip()
    assert not examples.startswith(str(REPO))
    scored = run([str(installed / "fcbench"), "score", "--benchmark", f"{examples}/benchmark.jsonl", "--predictions", f"{examples}/predictions.jsonl",
                  "--out", "scored"], empty_dir)
    assert scored.returncode == 0, scored.stderr
    scores = json.loads((empty_dir / "scored" / "scores.json").read_text())
    assert scores["counts"]["scored"] == 6


@pytest.mark.integration
def test_installed_eval_finds_its_tasks_through_the_package(installed: Path, empty_dir: Path) -> None:
    evaluated = run([str(installed / "fcbench"), "eval", "--model", "smollm2-135m", "--limit", "1"], empty_dir)
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    summary = json.loads((empty_dir / "results" / "smollm2-135m-0shot" / "results.json").read_text())["fcbench"]
    assert summary["n_items"] == 4  # one item from each of the four category subtasks
    assert (empty_dir / "leaderboard" / "leaderboard.db").is_file()
    assert sorted(p.name for p in empty_dir.iterdir()) == ["benchmark.py", "leaderboard", "results"]
