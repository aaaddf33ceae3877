"""Where fcbench keeps what it makes at run time.

Converted models and imported BFCL items live under one cache root, ``FCBENCH_HOME``; results,
runs and the leaderboard default to the working directory (the CLI's defaults say so). Nothing is
ever written into the installed package.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR = Path("data")
"""Generated training data (``fcbench generate``, ``make bench``)."""
RUNS_DIR = Path("runs")
"""Trained adapters, one folder each (``fcbench train``, ``sweep``, ``bench``)."""
RESULTS_DIR = Path("results")
"""Evaluation results, one folder per candidate (``fcbench eval``, ``bench``)."""
REPORT_DIR = Path("report")
"""The HTML report (``fcbench report``, ``bench``)."""


def fcbench_home() -> Path:
    """``$FCBENCH_HOME``, else ``$XDG_CACHE_HOME/fcbench``, else ``~/.cache/fcbench``. Read at
    each call, so that a test or a user can point it elsewhere at any time."""
    if env := os.environ.get("FCBENCH_HOME"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fcbench"


def bfcl_dir() -> Path:
    """Where ``fcbench import-bfcl`` writes BFCL's items as records (made offline from the
    installed ``bfcl-eval`` wheel)."""
    return fcbench_home() / "bfcl-v4"
