"""fcbench's own errors: what a user can fix, each carrying the exit status the CLI gives it.

Library code raises these; the CLI turns them into one line and the exit status in one place
(``fcbench/cli.py``). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class FcbenchError(Exception):
    """The base: the message says what is wrong and what to do."""

    exit_code = 1


class UserError(FcbenchError):
    """Bad input or a missing prerequisite: a file, a value, a model or a package (exit 1)."""


class CannotAnswer(FcbenchError):
    """A leaderboard question that has no answer as asked: an unknown candidate, incomparable
    versions, nothing shared to compare (exit 2, distinct from ``check``'s 1 = regressed)."""

    exit_code = 2
