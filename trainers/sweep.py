"""``fcbench sweep``: one training run per point of a hyperparameter grid, run one after another,
each named after its point so the leaderboard can tell them apart and rank them."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from fcbench.trainers.config import ConfigError


def grid_points(grid: Sequence[str]) -> list[list[str]]:
    """``["learning_rate=1e-4,2e-4", "lora.r=8,16"]`` -> every combination as ``--set`` overrides,
    first key slowest: ``[["learning_rate=1e-4", "lora.r=8"], ["learning_rate=1e-4", "lora.r=16"], ...]``."""
    axes = []
    for axis in grid:
        key, sep, values = axis.partition("=")
        choices = [value.strip() for value in values.split(",")]
        if not sep or not key.strip() or not all(choices):
            raise ConfigError(f"--grid {axis!r}: expected key=value1,value2,... e.g. lora.r=8,16")
        axes.append([f"{key.strip()}={value}" for value in choices])
    keys = [axis[0].partition("=")[0] for axis in axes]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"--grid names a key twice: {keys}")
    return [list(point) for point in itertools.product(*axes)]


def point_name(base: str, point: Sequence[str]) -> str:
    """The run name of a grid point: ``quick__learning_rate=1e-4__lora.r=8``."""
    return "__".join([base, *point])
