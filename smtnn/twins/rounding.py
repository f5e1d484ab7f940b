"""Outward rounding of rationals to floats, and a-priori rounding-error bounds of float sums (Higham)."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

UNIT = 2.0 ** -53          # unit roundoff of float64
TINY = 1e-290              # absorbs underflow in products of tiny numbers


def down(q: Fraction) -> float:
    """The largest float <= q."""
    f = float(q)
    return f if Fraction(f) <= q else math.nextafter(f, -math.inf)


def up(q: Fraction) -> float:
    """The smallest float >= q."""
    f = float(q)
    return f if Fraction(f) >= q else math.nextafter(f, math.inf)


def sum_error(terms: int, magnitude) -> np.ndarray | float:
    """A bound on |fl(sum) - sum| for `terms` rounded products summed in any order, given sum of |products|.

    gamma_{n+1} = (n+1)u / (1 - (n+1)u) <= 2 (n+1) u; doubled again to cover rounding of the bound itself.
    """
    return 4.0 * (terms + 2) * UNIT * np.asarray(magnitude) + TINY
