"""The lm-eval task YAMLs declare exactly the metrics fcbench scores: METRICS (and, in a suite
with splits, each metric per split) is the one list; the YAMLs are checked against it here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fcbench.benchmark.metrics import METRICS
from fcbench.benchmark.suites import SUITES, Suite
from fcbench.tasks import TASKS_DIR


class _TaskLoader(yaml.SafeLoader):
    """Reads lm-eval YAML, keeping ``!function utils.fn`` as the string ``utils.fn``."""


_TaskLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def _yaml(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_TaskLoader)


def _subtask_files(suite: Suite) -> list[Path]:
    return [p for p in sorted((TASKS_DIR / "fcbench").glob("*.yaml")) if (_yaml(p).get("dataset_kwargs") or {}).get("suite") == suite.name]


def expected_metric_list(suite: Suite) -> list[dict[str, Any]]:
    from fcbench.tasks.fcbench.utils import split_metrics

    plain = [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in METRICS]
    # a split's metric is None on the other split's items: the mean skips them
    per_split = [{"metric": name, "aggregation": "!function utils.mean_present", "higher_is_better": True} for _, _, name in split_metrics(suite)]
    return plain + per_split


@pytest.mark.parametrize("suite", list(SUITES.values()), ids=lambda s: s.name)
def test_every_subtask_reports_exactly_the_declared_metrics(suite: Suite) -> None:
    subtasks = _subtask_files(suite)
    assert subtasks, f"no subtask YAML names suite {suite.name}"
    templates = {_yaml(p)["include"] for p in subtasks}
    assert len(templates) == 1, f"{suite.name}'s subtasks include {templates}: one template per suite"
    template = _yaml(TASKS_DIR / "fcbench" / templates.pop())
    assert template["metric_list"] == expected_metric_list(suite), "the template's metric_list must be METRICS (then each per split)"
    assert all(_yaml(p)["task"].startswith(suite.task_prefix) for p in subtasks)


@pytest.mark.parametrize("suite", list(SUITES.values()), ids=lambda s: s.name)
def test_each_group_aggregates_every_metric_weighted_by_subtask_size(suite: Suite) -> None:
    groups = [_yaml(p) for p in sorted((TASKS_DIR / "fcbench").glob("_*.yaml")) if _yaml(p).get("group") == suite.group]
    assert len(groups) == 1
    group = groups[0]
    assert group["aggregate_metric_list"] == [{"metric": m, "aggregation": "mean", "weight_by_size": True} for m in METRICS]
    assert sorted(group["task"]) == sorted(_yaml(p)["task"] for p in _subtask_files(suite))
