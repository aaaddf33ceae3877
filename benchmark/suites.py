"""Benchmark suites: the one place that knows which benchmark a task belongs to.

A suite is a frozen set of records with its lm-eval group and subtasks, how its records are
found (and made, when they can be made offline), how its subtasks split the records, and the
metric it ranks by. ``fcbench`` (the held-out benchmark committed with fcbench) and ``bfcl-v4``
(BFCL's single-turn categories, imported from the ``bfcl-eval`` wheel) are the two entries.

Adding a suite is one :func:`register` call (or one entry in :data:`SUITES`) plus its task YAML
under ``tasks/``. A new version of a suite is a new entry in its manifest, not a new suite:
``Suite.frozen(version)`` finds any version still on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fcbench.benchmark.frozen import BenchmarkMissing, FrozenBenchmark, committed_benchmark, imported_benchmark
from fcbench.benchmark.record import Record

from fcbench.errors import FcbenchError, UserError
from fcbench.paths import bfcl_dir, fcbench_home


class UnknownSuite(UserError):
    """A suite name or lm-eval task that no registered suite owns; the message lists them."""


@dataclass(frozen=True, slots=True)
class Suite:
    name: str
    """The benchmark's name, as recorded with every result (``fcbench``, ``bfcl-v4``)."""
    group: str
    """Its lm-eval group: ``fcbench eval --tasks <group>`` runs every subtask."""
    task_prefix: str
    """Its subtasks' lm-eval names start with this."""
    primary_metric: str
    """What its leaderboard ranks by unless told otherwise."""
    locate: Callable[[str | None], FrozenBenchmark]
    """The frozen records of a version (None: the current one); raises BenchmarkMissing."""
    subtask_of: Callable[[Record], str | None]
    """Which subtask a record belongs to (the value its task YAML's ``subtask`` names)."""
    make: Callable[[], object] | None = None
    """Makes the records offline when they are missing (None: they ship with fcbench)."""
    folder: str = ""
    """Its results and report go in this subfolder of ``results/`` and ``report/`` ("": at the top)."""
    splits: tuple[str, ...] = ()
    """Its records' ``meta.split`` values: every metric is also reported per split."""
    tasks_dir: Path | None = None
    """Where its task YAML lies when it is not in fcbench's own task folder (a user's suite)."""

    def owns(self, task: str) -> bool:
        """Whether the lm-eval task is this suite's group or one of its subtasks. A group name
        is never a subtask of another suite (``fcbench_bfcl`` is BFCL's, not ``fcbench_*``)."""
        if task == self.group:
            return True
        return task.startswith(self.task_prefix) and all(task != other.group for other in _registry().values())

    def frozen(self, version: str | None = None) -> FrozenBenchmark:
        """Its records of ``version`` (None: current), made first when missing and makeable."""
        try:
            return self.locate(version)
        except BenchmarkMissing:
            if self.make is None:
                raise
        self.make()
        return self.locate(version)

    def current_version(self) -> str:
        return self.frozen().version

    def under(self, root: Path) -> Path:
        """``root`` itself for the default suite, else ``root/<name>``: results and reports."""
        return root / self.folder if self.folder else root


def _import_bfcl() -> object:
    from fcbench.generators.bfcl import import_bfcl

    return import_bfcl(out_dir=bfcl_dir())


def _imported_bfcl(version: str | None) -> FrozenBenchmark:
    """The imported BFCL items, if this fcbench's converter made them (else missing: a current
    import is made in their place; results on the old one keep their own version)."""
    from fcbench.generators.bfcl import CONVERTER_VERSION

    frozen = imported_benchmark(bfcl_dir(), version)
    if version is None and not frozen.version.endswith(f"+c{CONVERTER_VERSION}"):
        raise BenchmarkMissing(f"{bfcl_dir()} was imported by another fcbench (version {frozen.version}): import it again")
    return frozen


FCBENCH = Suite(
    name="fcbench", group="fcbench", task_prefix="fcbench_", primary_metric="exact_match",
    locate=committed_benchmark, subtask_of=lambda record: record.category, splits=("seen_function", "unseen_function"),
)
BFCL = Suite(
    name="bfcl-v4", group="fcbench_bfcl", task_prefix="bfcl_",
    # BFCL's own measure is its lenient AST match; exact match is reported beside it
    primary_metric="ast_match",
    locate=_imported_bfcl, subtask_of=lambda record: record.meta.get("bfcl_category"),
    make=_import_bfcl, folder="bfcl-v4",
)
SUITES: dict[str, Suite] = {suite.name: suite for suite in (FCBENCH, BFCL)}
"""Every suite by name; the first is the default of every command."""
DEFAULT_SUITE = FCBENCH.name


def register(suite: Suite, *, replace: bool = False) -> Suite:
    """Add a suite (its task YAML must be on lm-eval's include path, or in ``tasks_dir``).
    Names are unique; ``replace`` updates a suite registered before (a user's, re-frozen)."""
    if suite.name in SUITES and not replace:
        raise UserError(f"a suite named {suite.name!r} is already registered")
    SUITES[suite.name] = suite
    return suite


# ---------------------------------------------------------------------------------------------
# Users' own benchmarks, frozen under FCBENCH_HOME (evaluation/user_benchmark.py freezes them)

USER_PREFIX = "user_"
"""Every user suite's lm-eval names start with this, so none can take a built-in suite's."""

ROBUSTNESS_PREFIX = "robust_"
"""The user suites ``fcbench robustness`` freezes: variants of fcbench's items, ids kept."""


def user_suites_dir() -> Path:
    return fcbench_home() / "suites"


def user_suite(name: str) -> Suite:
    """The suite of a user's benchmark frozen as ``name``: its group ``user_<name>``, its
    subtasks ``user_<name>__<category>``, its versions in its own manifest."""
    folder = user_suites_dir() / name
    return Suite(
        name=name, group=f"{USER_PREFIX}{name}", task_prefix=f"{USER_PREFIX}{name}__", primary_metric="exact_match",
        locate=lambda version: committed_benchmark(version, folder / "manifest.json"), subtask_of=lambda record: record.category,
        folder=name, tasks_dir=folder / "tasks",
    )


def _registry() -> dict[str, Suite]:
    """Every suite: the built-in ones, and each user suite frozen on this machine (found on
    disk, so that any later command knows the benchmark an evaluation ran on)."""
    folder = user_suites_dir()
    if folder.is_dir():
        for manifest in folder.glob("*/manifest.json"):
            SUITES.setdefault(manifest.parent.name, user_suite(manifest.parent.name))
    return SUITES


def known_suites() -> str:
    return "; ".join(f"{s.name} (lm-eval group {s.group}, subtasks {s.task_prefix}*)" for s in _registry().values())


def suite_named(name: str) -> Suite:
    try:
        return _registry()[name]
    except KeyError:
        raise UnknownSuite(f"no benchmark suite {name!r}; suites: {known_suites()}") from None


def suite_of(tasks: Iterable[str]) -> Suite:
    """The one suite that owns every task; an unknown task, or tasks of two suites, is an error."""
    tasks = list(tasks)
    suites = _registry()
    owners = {task: next((s for s in suites.values() if s.owns(task)), None) for task in tasks}
    unknown = [task for task, suite in owners.items() if suite is None]
    if unknown:
        raise UnknownSuite(f"--tasks {','.join(unknown)}: no benchmark suite has such a task; suites: {known_suites()}")
    names = sorted({suite.name for suite in owners.values() if suite is not None})
    if len(names) != 1:
        raise UserError(f"--tasks {','.join(tasks)} mixes the suites {' and '.join(names)}: evaluate each suite on its own")
    return suites[names[0]]


def find_frozen(name: str, version: str, sha256: str) -> FrozenBenchmark | None:
    """The benchmark an evaluation ran on, if it is still here unchanged (None otherwise);
    never makes anything."""
    suite = _registry().get(name)
    if suite is None:
        return None
    try:
        frozen = suite.locate(version)
    except FcbenchError:
        return None
    return frozen if frozen.sha256 == sha256 else None
