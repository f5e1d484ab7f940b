"""Exact rational Gaussian elimination for the small square systems of a verified LP basis."""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence


def solve(matrix: Sequence[Sequence[Fraction]], rhs: Sequence[Fraction]) -> list[Fraction] | None:
    """The exact solution of M v = rhs, or None when M is singular."""
    n = len(rhs)
    rows = [list(r) + [b] for r, b in zip(matrix, rhs)]
    for col in range(n):
        pivot = next((i for i in range(col, n) if rows[i][col] != 0), None)
        if pivot is None:
            return None
        rows[col], rows[pivot] = rows[pivot], rows[col]
        head = rows[col]
        inv = 1 / head[col]
        for i in range(col + 1, n):
            f = rows[i][col]
            if f:
                f *= inv
                rows[i] = [a - f * b if b else a for a, b in zip(rows[i], head)]
    out = [Fraction(0)] * n
    for i in range(n - 1, -1, -1):
        acc = rows[i][n] - sum((rows[i][j] * out[j] for j in range(i + 1, n) if rows[i][j]), Fraction(0))
        out[i] = acc / rows[i][i]
    return out
