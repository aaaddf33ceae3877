"""Report groups: the item sets every metric is also aggregated over.

An item counts in ``overall``, in its category, and in its ``meta.split`` when it has one.
Results files, the leaderboard's tables and the report all name a group by its :attr:`Group.key`
(``overall``, ``simple``, ``split:seen_function``); only this module builds or reads keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from fcbench.benchmark.record import CATEGORIES

GroupKind = Literal["overall", "category", "split"]
_SPLIT_PREFIX = "split:"


@dataclass(frozen=True, slots=True)
class Group:
    kind: GroupKind
    name: str

    @property
    def key(self) -> str:
        return _SPLIT_PREFIX + self.name if self.kind == "split" else self.name

    @classmethod
    def parse(cls, key: str) -> Group:
        if key == OVERALL.key:
            return OVERALL
        if key.startswith(_SPLIT_PREFIX):
            return cls("split", key.removeprefix(_SPLIT_PREFIX))
        return cls("category", key)

    def contains(self, category: str, split: str | None) -> bool:
        if self.kind == "overall":
            return True
        return (split if self.kind == "split" else category) == self.name


OVERALL = Group("overall", "overall")


def groups_of(category: str, split: str | None) -> Iterator[Group]:
    """The groups one item counts in: overall, its category, its split."""
    yield OVERALL
    yield Group("category", category)
    if split:
        yield Group("split", split)


def ordered(groups: Iterable[Group]) -> list[Group]:
    """Overall, then the categories in the record format's order (others after them, by
    name), then the splits by name; each group once."""
    def key(group: Group) -> tuple[int, int, str]:
        rank = CATEGORIES.index(group.name) if group.kind == "category" and group.name in CATEGORIES else len(CATEGORIES)
        return (("overall", "category", "split").index(group.kind), rank, group.name)

    return sorted(set(groups), key=key)


def groups_in(items: Iterable[tuple[str, str | None]]) -> list[Group]:
    """Every group that (category, split) pairs count in, :func:`ordered`."""
    return ordered(group for category, split in items for group in groups_of(category, split))
