"""JSON values in canonical form: the equality every metric uses.

Two JSON values are equal when their sets of leaves are equal: key order is ignored, numbers
compare by value (1 == 1.0), booleans are not numbers (true != 1), strings compare exactly and
lists compare in order. Argument F1 counts the same leaves.
"""

from __future__ import annotations

from typing import Any

Path = tuple[str | int, ...]
"""A location inside a JSON value: str steps are object keys, int steps list indices, so
{"0": 1} and [1] differ."""

Leaf = tuple[Path, str, Any]
"""(path, kind, value). The kind keeps booleans apart from numbers; ints and floats share the
kind "num" and, as Python gives 1 and 1.0 equal values and hashes, match by value."""


def leaves(value: Any) -> frozenset[Leaf]:
    """Flatten a JSON value to its leaves. Empty objects and lists are leaves of their own, so
    ``{}`` and ``{"a": {}}`` differ and a call with no arguments still has one leaf.

    Iterative, so deeply nested values cannot overflow the stack; dispatches on the exact type
    (JSON decoding only makes dict, list, str, int, float, bool and None).
    """
    out: list[Leaf] = []
    stack: list[tuple[Path, Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        kind = type(node)
        if kind is dict:
            if node:
                stack.extend([(path + (key,), child) for key, child in node.items()])
            else:
                out.append((path, "{}", None))
        elif kind is str:
            out.append((path, "str", node))
        elif kind is int or kind is float:
            out.append((path, "num", node))
        elif kind is bool:
            out.append((path, "bool", node))
        elif kind is list:
            if node:
                stack.extend([(path + (index,), child) for index, child in enumerate(node)])
            else:
                out.append((path, "[]", None))
        elif node is None:
            out.append((path, "null", None))
        else:  # not from a JSON decoder; classify by isinstance so subclasses still work
            out.append((path, _kind_of_other(node), node))
    return frozenset(out)


def _kind_of_other(node: Any) -> str:
    if isinstance(node, bool):
        return "bool"
    if isinstance(node, (int, float)):
        return "num"
    return "str" if isinstance(node, str) else repr(type(node))


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality as the metrics define it: key order ignored, 1 == 1.0, true != 1."""
    return leaves(a) == leaves(b)


def pointer(path: Path) -> str:
    """A path as a JSON pointer (RFC 6901): "" is the whole value."""
    return "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in path)
