"""Sound bounds on the differences of two same-shaped networks on the same input (ReluDiff-style).

With d = a1 - a2 (pre-activations) and δ = h1 - h2 (outputs) of corresponding units,
    d_k = (W1 - W2) h1_{k-1} + W2 δ_{k-1} + (b1 - b2),   δ_0 = 0 (the same x),
and relu(a1) - relu(a2) lies between min(d, 0) and max(d, 0) (it equals d when both units are
active, 0 when both are inactive).  Twins that differ little (int8) get tight d and δ, which
the relaxation adds as rows linking the two copies.  Since d is itself a linear expression of
the LP's columns (a1 - a2), :func:`relu_chords` also gives the relaxation the chords of max(d, 0)
above δ and of min(d, 0) below it over [d_lo, d_hi] (the triangle relaxation of the difference,
as in ReluDiff/NeuroDiff), which keeps δ tied to x where a box would forget it, and
:func:`relu_pair_hull` the exact convex hull of both units jointly (tighter still).
Float rounding is bounded outward.
"""
from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np

from . import intervals
from ..rounding import UNIT, float_down, float_up


def affine(w1, b1, w2, b2, h1_lo, h1_hi, delta_lo, delta_hi) -> tuple[np.ndarray, np.ndarray]:
    """Enclosure of a1 - a2 from h1 in [h1_lo, h1_hi] and h1 - h2 in [delta_lo, delta_hi]."""
    dw, db = w1 - w2, b1 - b2
    lo1, hi1 = intervals.affine(dw, np.zeros_like(db), h1_lo, h1_hi)
    lo2, hi2 = intervals.affine(w2, db, delta_lo, delta_hi)
    slack = 4 * UNIT * (np.abs(dw) @ np.maximum(np.abs(h1_lo), np.abs(h1_hi)) + np.abs(db))
    return np.nextafter(lo1 + lo2 - slack, -np.inf), np.nextafter(hi1 + hi2 + slack, np.inf)


def relu(d_lo, d_hi, lo1, hi1, lo2, hi2) -> tuple[np.ndarray, np.ndarray]:
    """Enclosure of relu(a1) - relu(a2) given a1 - a2 in [d_lo, d_hi] and each a's own bounds."""
    both_on = (lo1 >= 0) & (lo2 >= 0)
    both_off = (hi1 <= 0) & (hi2 <= 0)
    out_lo = np.where(both_on, d_lo, np.minimum(d_lo, 0.0))
    out_hi = np.where(both_on, d_hi, np.maximum(d_hi, 0.0))
    out_lo, out_hi = np.where(both_off, 0.0, out_lo), np.where(both_off, 0.0, out_hi)
    h_lo = np.nextafter(np.maximum(lo1, 0) - np.maximum(hi2, 0), -np.inf)
    h_hi = np.nextafter(np.maximum(hi1, 0) - np.maximum(lo2, 0), np.inf)
    return np.maximum(out_lo, h_lo), np.minimum(out_hi, h_hi)


def relu_chords(d_lo: float, d_hi: float) -> tuple[float, float, float, float]:
    """(s_up, c_up, s_low, c_low): s_low·d + c_low <= relu(a1) - relu(a2) <= s_up·d + c_up for d = a1 - a2 in [d_lo, d_hi].

    The slopes are the chords' slopes (any float is sound); the offsets are exact maxima/minima over
    the two ends (max(d, 0) - s d is convex, min(d, 0) - s d concave), rounded outward.
    """
    lo, hi = Fraction(d_lo), Fraction(d_hi)
    if hi <= 0:
        s_up, s_low = 0.0, 1.0
    elif lo >= 0:
        s_up, s_low = 1.0, 0.0
    else:
        s_up, s_low = float(hi / (hi - lo)), float(-lo / (hi - lo))
    su, sl = Fraction(s_up), Fraction(s_low)
    c_up = float_up(max(max(lo, 0) - su * lo, max(hi, 0) - su * hi))
    c_low = float_down(min(min(lo, 0) - sl * lo, min(hi, 0) - sl * hi))
    return s_up, c_up, s_low, c_low


def relu_pair_hull(lo1: float, hi1: float, lo2: float, hi2: float, d_lo: float, d_hi: float) -> list[tuple[np.ndarray, float]]:
    """Rows n·(a1, a2, h1, h2) <= c of the convex hull of {(a1, a2, relu(a1), relu(a2))} over the polygon
    P = {lo1 <= a1 <= hi1, lo2 <= a2 <= hi2, d_lo <= a1 - a2 <= d_hi} (the two twins' units jointly).

    The lines a1 = 0 and a2 = 0 cut P into pieces on which both relus are affine, so the graph is the
    convex hull of its points over the pieces' vertices (computed exactly).  Qhull proposes the facet
    normals in floats; each right-hand side is the exact maximum of n·p over those points, rounded up, so
    every row is valid whatever the normal.  Tighter than the chords in d and the two triangles alone.
    """
    from scipy.spatial import ConvexHull, QhullError

    ends = [Fraction(v) for v in (lo1, hi1, lo2, hi2, d_lo, d_hi)]
    l1, u1, l2, u2, dl, du = ends
    zero = Fraction(0)
    lines = [(1, 0, l1), (1, 0, u1), (0, 1, l2), (0, 1, u2), (1, -1, dl), (1, -1, du), (1, 0, zero), (0, 1, zero)]
    points = set()
    for (p1, q1, c1), (p2, q2, c2) in itertools.combinations(lines, 2):
        det = p1 * q2 - q1 * p2
        if det:
            a1, a2 = (c1 * q2 - c2 * q1) / det, (p1 * c2 - p2 * c1) / det
            if l1 <= a1 <= u1 and l2 <= a2 <= u2 and dl <= a1 - a2 <= du:
                points.add((a1, a2, max(a1, zero), max(a2, zero)))
    points = sorted(points)
    # a unit whose phase P fixes has relu(a) = a or 0 there: the hull lives in the other coordinates
    free = [0, 1] + [2 + i for i, (lo, hi) in enumerate(((l1, u1), (l2, u2))) if lo < 0 < hi]
    if len(free) == 2 or len(points) <= len(free):
        return []
    floats = np.array([[float(p[i]) for i in free] for p in points])
    try:
        facets = ConvexHull(floats).equations[:, :len(free)]
    except QhullError:   # flat or nearly so: the chords in d stand in
        return []
    normals = np.zeros((len(facets), 4))
    normals[:, free] = facets
    rows = []
    for n in np.unique(np.round(normals / np.abs(normals).max(axis=1, keepdims=True), 12), axis=0):
        n = np.where(np.abs(n) < 1e-9, 0.0, n)
        if not np.isfinite(n).all() or not (n[[0, 2]].any() and n[[1, 3]].any()) or not n[2:].any():
            continue   # a row of one unit alone, or on a1 - a2 alone: the relaxation has it already
        exact = [Fraction(v) for v in n]
        c = max(sum((e * v for e, v in zip(exact, p) if e), zero) for p in points)
        rows.append((n, float_up(c)))
    return rows


def compatible(a, b) -> bool:
    """Same depth, widths and activations (and leaky relu slopes): the difference bounds apply."""
    return len(a.layers) == len(b.layers) and all(
        la.weights.shape == lb.weights.shape and (la.activation, la.alpha) == (lb.activation, lb.alpha)
        for la, lb in zip(a.layers, b.layers))
