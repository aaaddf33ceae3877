"""Pairing predicted calls with expected ones: a maximum-weight one-to-one matching, shared
by every metric that lets parallel calls come in any order."""

from __future__ import annotations

from itertools import permutations


def best_assignment(weight: list[list[int]]) -> list[tuple[int, int]]:
    """Maximum-weight matching of rows to columns (rectangular allowed)."""
    rows = len(weight)
    cols = len(weight[0]) if rows else 0
    if rows == 0 or cols == 0:
        return []
    if max(rows, cols) <= 6:  # brute force is faster than scipy at the sizes that occur
        if rows <= cols:
            best = max(permutations(range(cols), rows), key=lambda p: sum(weight[i][j] for i, j in enumerate(p)))
            return list(enumerate(best))
        best = max(permutations(range(rows), cols), key=lambda p: sum(weight[i][j] for j, i in enumerate(p)))
        return sorted((i, j) for j, i in enumerate(best))
    from scipy.optimize import linear_sum_assignment

    row_idx, col_idx = linear_sum_assignment(weight, maximize=True)
    return list(zip(row_idx.tolist(), col_idx.tolist()))
