"""Outward rounding: the one place smtnn turns exact numbers into sound float64 bounds.

Every float64 bound in the package (interval propagation, interval slopes, the LP relaxation
of twins) is widened with these helpers, so soundness of rounding is argued here once.

- :func:`round_down` / :func:`round_up`: the next binary64 toward -inf / +inf (elementwise);
- :func:`float_down` / :func:`float_up`: the largest float <= q / the smallest float >= q of a rational;
- :func:`floats_outward` / :func:`floats_around` / :func:`ratios_around`: the same, vectorised over many rationals;
- :func:`scaled`: floats as exact integers over one power of two (the way back, without rounding);
- :func:`sum_error`: an a-priori bound of the rounding error of a float sum (Higham, gamma_n).
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

UNIT = 2.0 ** -53
"""Unit roundoff of binary64: |fl(a op b) - a op b| <= UNIT |a op b| for normal results."""
ULP_ONE = 2 * UNIT
"""The gap between 1 and the next float (2^-52), the relative rounding pad of interval sums."""
TINY = np.finfo(float).tiny
"""The smallest normal float: absorbs underflow of one product."""
UNDERFLOW = 1e-290
"""Absorbs the underflow of many products of tiny numbers in a sum."""


def round_down(x):
    """The next binary64 toward -inf (elementwise on floats or NumPy arrays)."""
    if isinstance(x, np.ndarray):
        return np.nextafter(x, -np.inf)
    return math.nextafter(float(x), -math.inf)


def round_up(x):
    """The next binary64 toward +inf (elementwise on floats or NumPy arrays)."""
    if isinstance(x, np.ndarray):
        return np.nextafter(x, np.inf)
    return math.nextafter(float(x), math.inf)


def float_down(q: Fraction) -> float:
    """The largest float <= q."""
    f = float(q)
    return f if Fraction(f) <= q else math.nextafter(f, -math.inf)


def float_up(q: Fraction) -> float:
    """The smallest float >= q."""
    f = float(q)
    return f if Fraction(f) >= q else math.nextafter(f, math.inf)


def _two_sum(a: np.ndarray, b: float) -> tuple[np.ndarray, np.ndarray]:
    """s = fl(a + b) and the exact error e = (a + b) - s (Knuth's TwoSum; exact in round-to-nearest without overflow)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _directed_sum(a: np.ndarray, b: float, down: bool) -> np.ndarray:
    """The largest float <= a + b (or the smallest >= a + b), elementwise, from the exact error of the rounded sum."""
    s, e = _two_sum(a, b)
    out = np.where(e < 0, np.nextafter(s, -np.inf), s) if down else np.where(e > 0, np.nextafter(s, np.inf), s)
    return np.where(np.isfinite(e), out, np.nan)   # an overflow anywhere in TwoSum leaves e infinite or NaN


def floats_shifted(floats: np.ndarray, radius: Fraction, down: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`float_down` of floats - radius (or :func:`float_up` of floats + radius), elementwise, for radius >= 0.

    The rational radius lies in [float_down(radius), float_up(radius)]; the directed sums with both ends
    bracket the answer (directed rounding is monotone), and where they agree that is the answer.  Returns
    the values and a mask of the entries left undecided (the two ends disagree, or overflow), which a
    caller rounds exactly.
    """
    try:
        r_lo, r_hi = float_down(radius), float_up(radius)
    except OverflowError:   # a radius beyond the float range: all left to the exact rounding
        return np.full(len(floats), np.nan), np.ones(len(floats), dtype=bool)
    return floats_shifted_within(floats, r_lo, r_hi, down)


def floats_shifted_within(floats: np.ndarray, r_lo, r_hi, down: bool) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`floats_shifted` for radii known only to lie in [r_lo, r_hi] (floats or arrays, elementwise).

    Directed rounding is monotone, so float_down(f - r) lies between the directed sums with -r_hi and -r_lo
    (float_up(f + r) between those with r_lo and r_hi); where they agree that is the answer.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if down:
            near, far = _directed_sum(floats, -r_lo, True), _directed_sum(floats, -r_hi, True)
        else:
            near, far = _directed_sum(floats, r_lo, False), _directed_sum(floats, r_hi, False)
    undecided = ~(near == far) | ~np.isfinite(far)
    return far, undecided


def floats_outward(values, down: bool) -> np.ndarray:
    """:func:`float_down` (or :func:`float_up`) of every rational in `values`, as one array (:func:`ratios_around`)."""
    return floats_around(values)[0 if down else 1]


def floats_around(values) -> tuple[np.ndarray, np.ndarray]:
    """:func:`float_down` and :func:`float_up` of every rational in `values` in one pass (:func:`ratios_around`)."""
    return ratios_around(*integer_ratios(values))


def integer_ratios(values) -> tuple[np.ndarray, np.ndarray]:
    """The numerators and denominators of rationals (Fractions or ints) as object arrays of Python integers."""
    numerators, denominators = np.empty(len(values), dtype=object), np.empty(len(values), dtype=object)
    numerators[:] = [q.numerator for q in values]
    denominators[:] = [q.denominator for q in values]
    return numerators, denominators


def scaled(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(integers N, exponent E) with values == N / 2^E exactly."""
    values = np.asarray(values, dtype=np.float64)
    mant, exp = np.frexp(values)
    ints = (mant * 2.0 ** 53).astype(np.int64)
    shifts = exp.astype(np.int64) - 53
    nonzero = ints != 0
    e = int(max(0, -shifts[nonzero].min())) if nonzero.any() else 0
    # Python integers shifted elementwise (object arrays: exact, no int64 overflow); zeros shift by 0
    return ints.astype(object) << np.where(nonzero, shifts + e, 0).astype(object), e


def ratios_around(numerators: np.ndarray, denominators: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`floats_around` of the rationals n / d given as Python integers (object arrays, d > 0), elementwise:
    n / d rounds to nearest (Python's int division), and an exact integer comparison moves it outward where inexact.
    A ratio beyond the float range lies between the largest finite float and infinity."""
    try:
        near = (numerators / denominators).astype(np.float64)
    except OverflowError:
        near = np.frompyfunc(_nearest_or_infinite, 2, 1)(numerators, denominators).astype(np.float64)
    finite = np.isfinite(near)
    ints, exponent = scaled(np.where(finite, near, 0.0))   # near = ints / 2^exponent exactly where finite
    mine, theirs = ints * denominators, numerators << exponent
    above, below = (mine > theirs).astype(bool) & finite, (mine < theirs).astype(bool) & finite
    largest = np.finfo(np.float64).max
    with np.errstate(over="ignore"):
        down = np.where(above, np.nextafter(near, -np.inf), near)
        up = np.where(below, np.nextafter(near, np.inf), near)
    return np.where(near == np.inf, largest, down), np.where(near == -np.inf, -largest, up)


def _nearest_or_infinite(numerator: int, denominator: int) -> float:
    try:
        return numerator / denominator
    except OverflowError:
        return math.inf if numerator > 0 else -math.inf


def sum_error(terms: int, magnitude) -> np.ndarray | float:
    """A bound on |fl(sum) - sum| for `terms` rounded products summed in any order, given sum of |products|.

    gamma_{n+1} = (n+1)u / (1 - (n+1)u) <= 2 (n+1) u; doubled again to cover rounding of the bound itself.
    """
    return 4.0 * (terms + 2) * UNIT * np.asarray(magnitude) + UNDERFLOW


def sum_pad(magnitude, terms: int):
    """The outward pad of a float interval sum of `terms` products plus a bias: (terms + 2)·2^-52·magnitude."""
    return (terms + 2) * ULP_ONE * magnitude + TINY
