"""Eq. 13 where the perturbation decouples: one linear program per linear piece of the input domain.

When no free parameter lies before the last hidden layer and every hidden unit is piecewise
linear, the nominal logits z0(x) and the perturbed extremes max_p c·z(x, p) of
:mod:`smtnn.semantics.corners` are piecewise-linear functions of x.  The derivation runs once
more here, in affine arithmetic, keeping every value as a maximum (or minimum) of affine
functions (:class:`Alternatives`): sums, positive multiples, maxima and ReLUs of maxima stay
maxima, and a row "maximum >= 0" is a disjunction, one LP per alternative.  Only where a minimum
meets a maximum is the domain cut: a *piece* is a polyhedron of D on which that choice is fixed.
So σ for one class is a handful of LPs: maximize the nominal objective subject to "the nominal
label is c" and "some p in the box flips it".

On 2-D domains a piece is an exact polygon: signs are read off its vertices (in binary64 with an
a-priori rounding bound, exactly where that bound leaves them open), splits clip it exactly, and
a leaf LP is solved by a float vertex whose two active lines' multipliers are then solved in
rationals; float first, a leaf whose binary64 weak-duality bound (padded by the a-priori rounding
error) cannot exceed the exact upper end found so far is not solved in rationals at all.  In other
dimensions HiGHS solves every LP in floats.  Several derivations over the same box (both classes
of a binary σ) share the pieces, nominal logits and hidden ranges (:func:`maximize_jointly`).  Nothing a float computation
returns is trusted as such:
- an upper end is a weak-duality bound evaluated in exact rationals from the multipliers (any
  non-negative multipliers give a valid bound, so a rounded dual only loosens it);
- an empty piece needs a Farkas ray or a phase-one LP certified the same way;
- a lower end is a point just inside the region, made exact and replayed on the network by the
  caller (nominal label and a flip under corner witness parameters).
Whatever cannot be certified, or takes too long, makes :func:`maximize_over_pieces` return None,
and the caller falls back to the solver path.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np

from .bounds import decouples
from .rounding import UNDERFLOW, UNIT
from .semantics import walk
from .semantics.floats import FloatDomain
from .semantics.corners import Choice, corner_extreme

Q = Fraction
ZERO = Q(0)
MAX_PIECES = 128
"""Beyond this many pieces the solver path is usually faster; the caller falls back to it."""
PRUNE_ABOVE = 16
"""Sums of alternatives are checked for dominated ones only beyond this many."""

Affine = tuple
"""An affine function of the LP variables: coefficients then the constant, all Fractions."""


class _Split(Exception):
    """The derivation needs the sign of this affine function, which the piece does not fix."""

    def __init__(self, function: Affine):
        super().__init__("split")
        self.function = function


class NotCertified(Exception):
    """An LP answer that could not be certified in exact arithmetic (the caller falls back)."""


# -- affine arithmetic ---------------------------------------------------------------------
def _add(f: Affine, g: Affine) -> Affine:
    return tuple((a + b if a else b) if b else a for a, b in zip(f, g))   # zeros are common: skip their arithmetic


def _scale(a: Fraction, f: Affine) -> Affine:
    if a == 1:
        return f
    if a == -1:
        return tuple(-v for v in f)
    return tuple(a * v if v else ZERO for v in f) if a else tuple(ZERO for _ in f)


def _sum(terms: Sequence[Affine], n: int) -> Affine:
    acc = [ZERO] * (n + 1)
    for t in terms:
        for i, v in enumerate(t):
            if v:
                acc[i] += v
    return tuple(acc)


def _constant(value: Fraction, n: int) -> Affine:
    return tuple([ZERO] * n + [Q(value)])


def _value(f: Affine, point: Sequence[Fraction]) -> Fraction:
    return f[-1] + sum((a * v for a, v in zip(f, point) if a), ZERO)


def value_at(f: Affine, point: Sequence[Fraction]) -> Fraction:
    """f at an exact point."""
    return _value(f, point)


def _error_slope(terms: int) -> float:
    """:func:`smtnn.rounding.sum_error` is slope·magnitude + UNDERFLOW; the slope, for scalar use in hot loops."""
    return 4.0 * (terms + 2) * UNIT


def _float_sign(f: Affine, points) -> int | None:
    """+1 when f > 0 at every float point given as (coordinates, exact point), -1 when f < 0 at all, None otherwise.

    Decided in binary64 with an a-priori bound of every rounding (:func:`smtnn.rounding.sum_error`,
    counting the conversions of f's coefficients and of the points as roundings too); a point
    the float error leaves undecided is evaluated exactly.
    """
    coefficients = [_to_float(v) for v in f]
    constant = coefficients.pop()
    slope = _error_slope(3 * len(f))
    signs = set()
    for point, exact in points:
        value, magnitude = constant, abs(constant)
        for a, v in zip(coefficients, point):
            product = a * v
            value += product
            magnitude += abs(product)
        error = slope * magnitude + UNDERFLOW
        if value > error:
            signs.add(1)
        elif value < -error:
            signs.add(-1)
        else:
            exact_value = _value(f, exact)
            signs.add(1 if exact_value > 0 else -1 if exact_value < 0 else 0)
        if 1 in signs and -1 in signs:
            return None
    if -1 not in signs:
        return 1
    if 1 not in signs:
        return -1
    return None


def _to_float(q: Fraction) -> float:
    """float(q), without the generic number protocol (int / int is correctly rounded, as float(q) is)."""
    return q.numerator / q.denominator


class _FloatCache:
    """binary64 copies of affine functions (each coefficient rounded once), keyed by identity."""

    def __init__(self):
        self.entries: dict = {}

    def __call__(self, f: Affine) -> tuple[float, ...]:
        entry = self.entries.get(id(f))
        if entry is None or entry[0] is not f:
            entry = (f, tuple(_to_float(v) for v in f))
            self.entries[id(f)] = entry
        return entry[1]


def _float_sign_of_difference(g: Affine, f: Affine, approx_g, approx_f, points) -> int | None:
    """Like :func:`_float_sign` for g - f, without forming g - f exactly unless the float error leaves it undecided."""
    slope = _error_slope(6 * len(f))
    signs = set()
    for point, exact in points:
        value, magnitude = approx_g[-1] - approx_f[-1], abs(approx_g[-1]) + abs(approx_f[-1])
        for a, b, v in zip(approx_g, approx_f, point):
            pa, pb = a * v, b * v
            value += pa - pb
            magnitude += abs(pa) + abs(pb)
        error = slope * magnitude + UNDERFLOW
        if value > error:
            signs.add(1)
        elif value < -error:
            signs.add(-1)
        else:
            exact_value = _value(g, exact) - _value(f, exact)
            signs.add(1 if exact_value > 0 else -1 if exact_value < 0 else 0)
        if 1 in signs and -1 in signs:
            return None
    if -1 not in signs:
        return 1
    if 1 not in signs:
        return -1
    return None


def _box_range(f: Affine, lower, upper) -> tuple[Fraction, Fraction]:
    lo = hi = f[-1]
    for a, l, u in zip(f, lower, upper):
        if a > 0:
            lo, hi = lo + a * l, hi + a * u
        elif a < 0:
            lo, hi = lo + a * u, hi + a * l
    return lo, hi


# -- exact certificates of float LP answers ------------------------------------------------
def certified_max(objective: Affine, rows: Sequence[Affine], multipliers: Sequence[float], lower, upper) -> Fraction:
    """A true upper bound of objective(v) over {v in [lower, upper]: row(v) >= 0 for every row}.

    For any y >= 0, objective(v) <= objective(v) + Σ y_r row_r(v), whose maximum over the box is
    a sum of one-variable maxima; evaluated in exact rationals (weak duality).
    """
    combined = list(objective)
    for y, row in zip(multipliers, rows):
        if y > 0:
            yq = y if isinstance(y, Fraction) else Q(float(y))
            for i, v in enumerate(row):
                if v:
                    combined[i] += yq * v
    return _box_range(tuple(combined), lower, upper)[1]


class _LinearPrograms:
    """max objective(v) over a box and rows row(v) >= 0, solved by HiGHS (reused across calls)."""

    def __init__(self, lower: Sequence[Fraction], upper: Sequence[Fraction]):
        from .twins.lp import quiet_highs
        import highspy

        self.highspy = highspy
        self.lower, self.upper = list(lower), list(upper)
        self.lo_f = np.array([float(v) for v in lower])
        self.hi_f = np.array([float(v) for v in upper])
        self._highs = None
        self._quiet_highs = quiet_highs
        self.solved = 0
        self.phase_one = False   # True inside a phase-one LP (no second level)

    @property
    def highs(self):
        if self._highs is None:   # created on first use: 2-D pieces never need it
            self._highs = self._quiet_highs()
            self._highs.setOptionValue("output_flag", False)
            self._highs.setOptionValue("presolve", "off")
        return self._highs

    def solve(self, objective: Affine, rows: Sequence[Affine], with_multipliers: bool = False):
        """(certified upper bound or None when the rows are certainly empty, float optimal point or None).

        ``with_multipliers`` adds the candidate multiplier vectors (to bound a related LP with them).
        """
        h, n = self.highs, len(self.lower)
        inf = self.highspy.kHighsInf
        h.clearModel()
        h.changeObjectiveSense(self.highspy.ObjSense.kMaximize)
        h.addCols(n, np.array([float(v) for v in objective[:-1]]), self.lo_f, self.hi_f, 0,
                  np.zeros(n, np.int32), np.zeros(0, np.int32), np.zeros(0))
        if rows:
            starts, index, values, lows = [], [], [], []
            for row in rows:
                starts.append(len(index))
                for i, v in enumerate(row[:-1]):
                    if v:
                        index.append(i)
                        values.append(float(v))
                lows.append(-float(row[-1]))
            h.addRows(len(rows), np.array(lows), np.full(len(rows), inf), len(index), np.array(starts, np.int32),
                      np.array(index, np.int32), np.array(values))
        h.run()
        self.solved += 1
        status = h.getModelStatus()
        model = self.highspy.HighsModelStatus
        if status == model.kOptimal:
            solution = h.getSolution()
            duals = np.array(solution.row_dual, dtype=float) if rows else np.zeros(0)
            multipliers = [duals, -duals]
            exact = self._basis_multipliers(objective, rows)
            if exact is not None:
                multipliers.append(exact)
            bound = min(certified_max(objective, rows, y, self.lower, self.upper) for y in multipliers)
            point = np.array(solution.col_value, dtype=float)
            return (bound, point, multipliers) if with_multipliers else (bound, point)
        if status == model.kInfeasible:
            has, ray = h.getDualRay()[1:]
            ray = np.asarray(ray, dtype=float)
            zero = _constant(ZERO, n)
            if (has and any(certified_max(zero, rows, side * ray, self.lower, self.upper) < 0 for side in (1, -1))) \
                    or (not self.phase_one and self._certify_empty(rows)):
                return (None, None, []) if with_multipliers else (None, None)
        raise NotCertified(f"HiGHS: {h.modelStatusToString(status)}")

    def _certify_empty(self, rows: Sequence[Affine]) -> bool:
        """Phase one: max -s subject to row + s >= 0 and 0 <= s <= S.

        A certified maximum below 0 proves that no point satisfies the rows.
        """
        slack = max(max(-_box_range(row, self.lower, self.upper)[0], ZERO) for row in rows) + 1
        outer = _LinearPrograms(self.lower + [ZERO], self.upper + [slack])
        outer._highs, outer._quiet_highs, outer.phase_one = self._highs, self._quiet_highs, True
        n = len(self.lower)
        lifted = [row[:-1] + (Q(1), row[-1]) for row in rows]
        objective = tuple([ZERO] * n + [Q(-1), ZERO])
        try:
            bound, _ = outer.solve(objective, lifted)
        except NotCertified:
            return False
        return bound is not None and bound < 0

    def _basis_multipliers(self, objective: Affine, rows: Sequence[Affine]) -> list[Fraction] | None:
        """The multipliers of HiGHS's optimal basis solved in exact rationals (None if singular).

        With them the weak-duality bound is the exact optimum (the float duals leave it a few ulps above).
        """
        basic = self.highspy.HighsBasisStatus.kBasic
        basis = self.highs.getBasis()
        free = [i for i, s in enumerate(basis.col_status) if s == basic]
        active = [r for r, s in enumerate(basis.row_status) if s != basic]
        if len(free) != len(active):
            return None
        # Σ_r y_r row_r[i] = -objective[i] for every basic column i
        matrix = [[rows[r][i] for r in active] + [-objective[i]] for i in free]
        solution = _solve_exactly(matrix)
        if solution is None:
            return None
        out = [ZERO] * len(rows)
        for r, y in zip(active, solution):
            out[r] = y
        return out


def _solve_exactly(augmented: list[list[Fraction]]) -> list[Fraction] | None:
    """Gaussian elimination in rationals on a square system [A | b]; None when A is singular."""
    n = len(augmented)
    a = [row[:] for row in augmented]
    for col in range(n):
        pivot = next((r for r in range(col, n) if a[r][col] != 0), None)
        if pivot is None:
            return None
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(n):
            if r != col and a[r][col] != 0:
                factor = a[r][col] / a[col][col]
                a[r] = [v - factor * w for v, w in zip(a[r], a[col])]
    return [a[i][n] / a[i][i] for i in range(n)]


# -- pieces: where the derivation runs ----------------------------------------------------
class _PolygonPiece:
    """A piece of a 2-D domain as an exact convex polygon (its vertices in rationals).

    Signs are read off the vertices and splits clip the polygon, so no LP and no empty piece
    arise; the LP of a leaf is solved exactly by clipping with its rows and comparing vertices.
    """

    def __init__(self, vertices: list[tuple[Fraction, ...]], lines: list[Affine], lower, upper):
        self.vertices, self.lines, self.lower, self.upper = vertices, lines, lower, upper
        self.points = [(tuple(_to_float(c) for c in v), v) for v in vertices]
        self.floats = _FloatCache()
        self.guides: dict = {}
        # per coordinate: the box ends in binary64 and the larger magnitude, padded by one rounding
        self.box_floats = [(_to_float(lo), _to_float(hi), max(abs(_to_float(lo)), abs(_to_float(hi))) * (1 + 2 * UNIT))
                           for lo, hi in zip(lower, upper)]

    @classmethod
    def box(cls, lower, upper) -> "_PolygonPiece":
        (x0, y0), (x1, y1) = lower, upper
        one, zero = Q(1), ZERO
        lines = [(one, zero, -x0), (-one, zero, x1), (zero, one, -y0), (zero, -one, y1)]
        return cls([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], lines, lower, upper)

    def sign(self, f: Affine) -> int | None:
        return _float_sign(f, self.points)

    known_sign = sign

    def sign_of_difference(self, g: Affine, f: Affine, floats: _FloatCache) -> int | None:
        return _float_sign_of_difference(g, f, floats(g), floats(f), self.points)

    def split(self, f: Affine) -> list["_PolygonPiece"]:
        return [piece for piece in (self.clip(f), self.clip(_scale(Q(-1), f))) if piece is not None]

    def clip(self, f: Affine) -> "_PolygonPiece | None":
        """The part where f >= 0 (None when it is empty)."""
        vertices = _clip(self.vertices, f)
        return _PolygonPiece(vertices, self.lines + [f], self.lower, self.upper) if vertices else None

    def _float_optimum(self, objective: Affine, rows: Sequence[Affine]):
        """(lines, float polygon, its optimal vertex and the two lines through it), remembered for :meth:`solve`."""
        key = (id(objective), id(rows))
        known = self.guides.get(key)
        if known is not None and known[0] is objective and known[1] is rows:
            return known[2]
        lines = self.lines + list(rows)
        polygon = _float_clip([self.floats(f) for f in lines])
        top = None
        if polygon:
            o = self.floats(objective)
            top = max(polygon, key=lambda v: o[0] * v[0][0] + o[1] * v[0][1])
        self.guides[key] = (objective, rows, (lines, polygon, top))
        return lines, polygon, top

    def float_bound(self, objective: Affine, rows: Sequence[Affine]) -> float:
        """A certified upper bound of the leaf LP in binary64 (inf when floats cannot give one).

        Weak duality with the float vertex's multipliers y_a, y_b >= 0 (any non-negative ones are valid):
        objective <= objective + y_a a + y_b b on the polygon, whose maximum over the box is evaluated in
        binary64 and padded by :func:`smtnn.rounding.sum_error` (the coefficients' and box ends' conversions,
        the products and sums: at most 8 roundings on any path, counted as 16 terms).
        """
        lines, polygon, top = self._float_optimum(objective, rows)
        if top is None:
            return math.inf
        o, a, b = self.floats(objective), self.floats(lines[top[1][0]]), self.floats(lines[top[1][1]])
        det = a[0] * b[1] - a[1] * b[0]
        if not det or not math.isfinite(det):
            return math.inf
        y_a = max((b[0] * o[1] - o[0] * b[1]) / det, 0.0)
        y_b = max((o[0] * a[1] - a[0] * o[1]) / det, 0.0)
        if not (math.isfinite(y_a) and math.isfinite(y_b)):
            return math.inf
        value = o[2] + y_a * a[2] + y_b * b[2]
        magnitude = abs(o[2]) + y_a * abs(a[2]) + y_b * abs(b[2])
        for i in (0, 1):
            c = o[i] + y_a * a[i] + y_b * b[i]
            value += max(c * self.box_floats[i][0], c * self.box_floats[i][1])
            magnitude += (abs(o[i]) + y_a * abs(a[i]) + y_b * abs(b[i])) * self.box_floats[i][2]
        bound = value + _error_slope(16) * magnitude + UNDERFLOW
        return bound if math.isfinite(bound) else math.inf

    def solve(self, objective: Affine, rows: Sequence[Affine]):
        """(exact maximum or None when empty, candidate witness points best first).

        Floats find the optimal vertex and the two lines through it; their multipliers, solved
        exactly, certify the bound by weak duality (it is then the exact optimum).  When floats
        cannot (an empty or degenerate polygon), the polygon is clipped in exact arithmetic.
        """
        lines, polygon, chosen = self._float_optimum(objective, rows)
        if polygon:
            (top, (a, b)) = chosen
            bound = _vertex_bound(objective, lines[a], lines[b])
            if bound is not None:
                centre = [sum(v[0][i] for v in polygon) / len(polygon) for i in (0, 1)]
                return bound, _inside(top, centre)
        vertices = self.vertices
        for row in rows:
            vertices = _clip(vertices, row)
            if not vertices:
                return None, []
        values = [_value(objective, v) for v in vertices]
        best = max(values)
        top = vertices[values.index(best)]
        centre = [sum(c) / len(vertices) for c in zip(*vertices)]
        return best, _inside([float(v) for v in top], [float(v) for v in centre])


def _vertex_bound(objective: Affine, f: Affine, g: Affine) -> Fraction | None:
    """max objective over {f >= 0, g >= 0} in the plane when the multipliers y_f, y_g >= 0 of the vertex f = g = 0
    exist (None otherwise): y_f f + y_g g = -objective on the two coordinates (Cramer's rule, exact), so
    objective <= objective + y_f f + y_g g, a constant (weak duality; it is the exact optimum).

    In integers: each function scaled by the common denominator of its coefficients (a positive factor, which
    scales its multiplier inversely), one Fraction at the end.
    """
    (o0, o1, o2), lo = _integer_row(objective)
    (f0, f1, f2), _ = _integer_row(f)
    (g0, g1, g2), _ = _integer_row(g)
    det = f0 * g1 - f1 * g0
    if not det:
        return None
    n_f = g0 * o1 - o0 * g1   # y_f = n_f / det for the scaled f
    n_g = o0 * f1 - f0 * o1
    if (n_f < 0 < det) or (n_f > 0 > det) or (n_g < 0 < det) or (n_g > 0 > det):
        return None
    return Fraction(o2 * det + n_f * f2 + n_g * g2, det * lo)


def _integer_row(f: Affine) -> tuple[tuple[int, ...], int]:
    """(f·L as integers, L) for L the least common denominator of f's coefficients."""
    scale = math.lcm(*(v.denominator for v in f))
    return tuple(v.numerator * (scale // v.denominator) for v in f), scale


def _inside(top, centre):
    """Points just inside from the optimal vertex towards the centre (short binary64 rationals for the replay),
    made only as the caller asks for them (most leaves never replay)."""
    for step in (1e-12, 1e-9, 1e-6, 1e-3, 0.5):
        yield tuple(Q(t + step * (c - t)) for t, c in zip(top, centre))


def _float_clip(lines: Sequence[tuple[float, ...]]):
    """The polygon {f >= 0 for every line} in binary64 (lines as floats), each vertex with the two lines through it
    (the first four lines are the box's edges x >= x0, x <= x1, y >= y0, y <= y1).  Only a guide: nothing here is
    trusted."""
    (a0, _, c0), (_, _, c1), (_, _, c2), (_, _, c3) = lines[:4]
    x0, x1, y0, y1 = -c0, c1, -c2, c3
    polygon = [((x0, y0), (0, 2)), ((x1, y0), (1, 2)), ((x1, y1), (1, 3)), ((x0, y1), (0, 3))]
    for k in range(4, len(lines)):
        a, b, c = lines[k]
        values = [a * p[0] + b * p[1] + c for p, _ in polygon]
        if all(v >= 0 for v in values):
            continue
        out = []
        n = len(polygon)
        for i in range(n):
            (p, lp), (q, lq), fp, fq = polygon[i], polygon[(i + 1) % n], values[i], values[(i + 1) % n]
            if fp >= 0:
                out.append((p, lp))
            if (fp > 0 > fq) or (fp < 0 < fq):
                shared = set(lp) & set(lq)
                if len(shared) != 1:
                    return []
                t = fp / (fp - fq)
                out.append(((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])), (shared.pop(), k)))
        polygon = out
        if len(polygon) < 3:
            return []
    return polygon


def _clip(vertices, f: Affine):
    """Sutherland-Hodgman: the convex polygon `vertices` cut to f >= 0, in exact arithmetic."""
    values = [_value(f, v) for v in vertices]
    if all(v >= 0 for v in values):
        return vertices
    out = []
    n = len(vertices)
    for i in range(n):
        p, q, fp, fq = vertices[i], vertices[(i + 1) % n], values[i], values[(i + 1) % n]
        if fp >= 0:
            out.append(p)
        if (fp > 0 > fq) or (fp < 0 < fq):
            s = fp / (fp - fq)
            out.append(tuple(a + s * (b - a) for a, b in zip(p, q)))
    unique = []
    for v in out:
        if not unique or unique[-1] != v:
            unique.append(v)
    if len(unique) > 1 and unique[0] == unique[-1]:
        unique.pop()
    return unique


class _LinearPiece:
    """A piece as exact rows (each >= 0) within the variables' box; signs and leaves by certified LPs."""

    def __init__(self, lps: "_LinearPrograms", rows: list[Affine], known: dict):
        self.lps, self.rows, self.known = lps, rows, known

    def sign_of_difference(self, g: Affine, f: Affine, floats: _FloatCache) -> int | None:
        return self.known_sign(_add(g, _scale(Q(-1), f)))

    def known_sign(self, f: Affine) -> int | None:
        if f in self.known:
            return self.known[f]
        lo, hi = _box_range(f, self.lps.lower, self.lps.upper)
        return 1 if lo >= 0 else -1 if hi <= 0 else None

    def sign(self, f: Affine) -> int | None:
        if f in self.known:
            return self.known[f]
        high, _ = self.lps.solve(f, self.rows)
        if high is None:
            return 1   # an empty piece: any answer is consistent, and its leaves are empty
        if high <= 0:
            self.known[f] = -1
            return -1
        low, _ = self.lps.solve(_scale(Q(-1), f), self.rows)
        if low is not None and low <= 0:
            self.known[f] = 1
            return 1
        return None

    def split(self, f: Affine) -> list["_LinearPiece"]:
        minus = _scale(Q(-1), f)
        return [_LinearPiece(self.lps, self.rows + [f], {**self.known, f: 1}),
                _LinearPiece(self.lps, self.rows + [minus], {**self.known, f: -1})]

    def float_bound(self, objective: Affine, rows: Sequence[Affine]) -> float:
        """No cheap bound: every leaf LP is solved and certified by :meth:`solve`."""
        return math.inf

    def solve(self, objective: Affine, rows: Sequence[Affine]):
        """(certified maximum or None when certainly empty, candidate points best first).

        The LP is solved with its rows tightened by a small margin (strict witnesses); the bound
        uses that LP's multipliers on the untightened rows, which stays valid (weak duality).
        """
        lps = self.lps
        rows = self.rows + list(rows)
        scale = 1 + max((abs(v) for row in rows for v in row), default=ZERO)
        margin = scale / 10 ** 9
        tight = [row[:-1] + (row[-1] - margin,) for row in rows]
        try:
            _, point, multipliers = lps.solve(objective, tight, with_multipliers=True)
        except NotCertified:
            point = multipliers = None
        if point is None:
            bound, point = lps.solve(objective, rows)
            if bound is None:
                return None, []
        else:
            bound = min(certified_max(objective, rows, y, lps.lower, lps.upper) for y in multipliers)
        exact = tuple(min(max(Q(float(v)), lo), hi) for v, lo, hi in zip(point, lps.lower, lps.upper))
        return bound, [exact]


# -- the derivation in affine arithmetic on one piece ----------------------------------------
class Alternatives:
    """A piecewise-linear value as the maximum (kind +1) or minimum (kind -1) of affine functions.

    Sums, positive multiples, maxima and ReLUs of maxima stay maxima, so a row "value >= 0" of a
    maximum is a disjunction of LPs, one per alternative, and no piece split is needed.  Only where
    a minimum meets a maximum (or a row needs a minimum) is the piece split to resolve it.
    """

    __slots__ = ("kind", "items")

    def __init__(self, items, kind: int = 1):
        self.items, self.kind = tuple(items), (kind if len(items) > 1 else 1)

    @property
    def single(self) -> bool:
        return len(self.items) == 1


class _PieceArithmetic:
    """Values of the network as :class:`Alternatives` on one piece: the walk domain and the corner arithmetic.

    The corner methods mirror :class:`~smtnn.semantics.corners.CornerTerms` (the same derivation,
    as maxima of affine functions instead of if-then-else terms).  ``decide(f)`` gives f's sign on the
    piece or raises :class:`_Split`.
    """

    description = "affine pieces"

    def __init__(self, network, parameters, n_vars: int, lower, upper, piece, limit: int,
                 deadline: float | None = None):
        self.network, self.params, self.n, self.deadline = network, parameters, n_vars, deadline
        self.lower, self.upper, self.piece, self.limit = lower, upper, piece, limit
        self.slices = network.layer_slices()
        self.zero = _constant(ZERO, n_vars)
        self.floats = _FloatCache()

    def check_time(self) -> None:
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise _TooMany()

    # signs and alternatives
    def cheap_sign(self, f: Affine) -> int | None:
        if all(a == 0 for a in f[:-1]):
            return 1 if f[-1] >= 0 else -1
        return self.piece.known_sign(f)

    def decide(self, f: Affine) -> int:
        sign = self.cheap_sign(f)
        if sign is None:
            sign = self.piece.sign(f)
        if sign is None:
            raise _Split(f)
        return sign

    def prune(self, items, kind: int) -> Alternatives:
        """Drop duplicates and alternatives another one dominates on the piece (exact checks only)."""
        if len(items) > self.limit:
            raise _TooMany()
        keep: list = []
        for count, f in enumerate(items):
            if count % 16 == 15:
                self.check_time()
            if f in keep:
                continue
            if any(self.piece.sign_of_difference(g, f, self.floats) == kind for g in keep):
                continue
            keep = [g for g in keep if self.piece.sign_of_difference(f, g, self.floats) != kind] + [f]
        if len(keep) > self.limit:
            raise _TooMany()
        return Alternatives(keep, kind)

    def resolve(self, value: Alternatives) -> Affine:
        """The one alternative that is the value on this piece (splits until it is)."""
        best = value.items[0]
        for f in value.items[1:]:
            if self.decide(_add(f, _scale(Q(-1), best))) == value.kind:
                best = f
        return best

    def plus(self, a: Alternatives, b: Alternatives) -> Alternatives:
        if not (a.single or b.single or a.kind == b.kind):
            if len(a.items) <= len(b.items):
                a = Alternatives([self.resolve(a)])
            else:
                b = Alternatives([self.resolve(b)])
        kind = a.kind if not a.single else b.kind
        if len(a.items) * len(b.items) > self.limit:
            raise _TooMany()
        sums = [_add(f, g) for f in a.items for g in b.items]
        # adding one function keeps the alternatives' order relations: nothing new to prune; sums of
        # alternatives rarely dominate each other, so small products are left for the LPs to sort out
        return Alternatives(sums, kind) if len(sums) <= PRUNE_ABOVE else self.prune(sums, kind)

    def times(self, w: Fraction, a: Alternatives) -> Alternatives:
        if w == 0:
            return Alternatives([self.zero])
        return Alternatives([_scale(w, f) for f in a.items], a.kind if w > 0 else -a.kind)

    def maximum(self, values: Sequence[Alternatives]) -> Alternatives:
        items = []
        for v in values:
            items += v.items if v.kind > 0 else [self.resolve(v)]
        return self.prune(items, 1)

    def row_alternatives(self, value: Alternatives) -> tuple[Affine, ...]:
        """A row value >= 0 as a disjunction of affine rows."""
        return value.items if value.kind > 0 else (self.resolve(value),)

    def _piecewise(self, a: Alternatives, slope: Fraction) -> Alternatives:
        """max(a, slope·a) for 0 <= slope <= 1 (relu: 0, leaky relu: alpha), increasing in a."""
        items = []
        for f in (a.items if a.kind > 0 else (self.resolve(a),)):
            sign = self.cheap_sign(f)
            items += [f] if sign == 1 else [_scale(slope, f)] if sign == -1 else [f, _scale(slope, f)]
        return self.prune(items, 1)

    # walk domain (nominal parameters)
    def affine(self, index, layer, h):
        ws, bs = self.slices[index]
        w, b = self.params[ws], self.params[bs]
        n = layer.inputs
        out = []
        for r in range(layer.outputs):
            acc = Alternatives([_constant(b[r], self.n)])
            for j in range(n):
                if w[r * n + j]:
                    acc = self.plus(acc, self.times(w[r * n + j], h[j]))
            out.append(acc)
        return out

    def linear(self, index, layer, pre):
        return list(pre)

    def relu(self, index, layer, pre):
        return [self._piecewise(a, ZERO) for a in pre]

    def leaky_relu(self, index, layer, pre):
        return [self._piecewise(a, Q(layer.alpha)) for a in pre]

    # corner arithmetic (see smtnn.semantics.corners)
    def pick(self, index, value) -> None:
        return None

    def take(self, weighted, bias_index, bias) -> None:
        return None

    def _corner_max(self, lo: Fraction, hi: Fraction, u: Alternatives) -> Alternatives:
        """max over w in [lo, hi] of w·u."""
        if lo == hi:
            return self.times(lo, u)
        if u.single:
            sign = self.cheap_sign(u.items[0])
            if sign is not None:
                return self.times(hi if sign > 0 else lo, u)
        return self.maximum([self.times(lo, u), self.times(hi, u)])

    def weighted_max(self, index, lo, hi, u, sign):
        return self._corner_max(lo, hi, u)

    def weighted_min(self, index, lo, hi, u, sign):
        return self.times(Q(-1), self._corner_max(-hi, -lo, u))

    def total(self, terms, bias):
        acc = Alternatives([_constant(bias, self.n)])
        for t in terms:
            acc = self.plus(acc, t)
        return acc

    def activation(self, layer, value):
        return getattr(self, layer.activation)(None, layer, [value])[0]

    def product_max(self, g_lo, g_hi, h_lo, h_hi, layer, sign) -> Choice:
        """max of g·h over g in [g_lo, g_hi] and h in [h_lo, h_hi]: convex in h, so at an end of h."""
        if layer is None:
            return Choice(self._corner_max(g_lo, g_hi, h_lo), True, True)
        if layer.activation == "relu":   # h >= 0
            return Choice(self.times(g_hi, h_hi if g_hi >= 0 else h_lo), True, True)
        end = h_hi if g_lo >= 0 else h_lo if g_hi <= 0 else None
        if end is not None and end.single:   # g of one sign: g·h is largest at h's upper end (g >= 0) or lower end (g <= 0)
            return Choice(self._corner_max(g_lo, g_hi, end), True, True)
        ends = [self._corner_max(g_lo, g_hi, h_lo), self._corner_max(g_lo, g_hi, h_hi)]
        return Choice(self.maximum(ends), True, True)

    def result(self, constant, parts):
        return self.total(parts, constant)

    def value(self, f: Affine) -> Alternatives:
        return Alternatives([f])


class _TooMany(Exception):
    """More alternatives or pieces than the fast path is worth."""


def applies(network, perturbation) -> bool:
    """True when :func:`maximize_over_pieces` can run: piecewise-linear hidden units and a decoupled perturbation."""
    return network.piecewise_linear and decouples(network, perturbation)


@dataclass
class PieceDerivation:
    """One region to maximize over: ``objective`` (:class:`Alternatives`, a maximum) subject to every row
    (:class:`Alternatives`, each >= 0)."""

    objective: Alternatives
    rows: list


@dataclass
class PieceOptimum:
    """max objective over the region: ``upper`` certified (None: the region is certainly empty), ``lower`` and
    ``payload`` from the best replayed point (None when none replayed), and the work done."""

    upper: Fraction | None
    lower: Fraction | None
    payload: object
    pieces: int
    linear_programs: int
    float_bounded: int = 0
    """How many programs were bounded below ``upper`` by a binary64 certificate only (never solved exactly)."""


def maximize_over_pieces(network, perturbation, lower: Sequence[Fraction], upper: Sequence[Fraction],
                         derive: Callable, replay: Callable, tolerance: Fraction,
                         deadline: float | None = None) -> PieceOptimum | None:
    """Maximize a piecewise-linear objective over the region the caller derives, piece by piece.

    Args:
        lower, upper: the box of the LP variables (the inputs first, then any extra variables).
        derive(nominal, extreme, arith): returns a :class:`PieceDerivation` or a list of them (a union of regions);
            ``nominal`` are the logits at p0 and ``extreme(coeffs)`` is max_p c·z, both :class:`Alternatives`
            on the piece; ``arith`` combines them (``plus``, ``times``, ``value``).
        replay(point): an exact candidate point (Fractions, inside the box) -> (objective value, payload) when it
            is a genuine witness of the region, else None.
        tolerance: stop looking for better witnesses once the best replayed value is this close to the upper end.
        deadline: a time.perf_counter() value after which the attempt is abandoned.
    Returns None when the LPs cannot be certified, the pieces grow too many or the deadline passes (then use the
    solver path).
    """
    return maximize_jointly(network, perturbation, lower, upper, [(derive, replay, tolerance)], deadline)[0]


def maximize_jointly(network, perturbation, lower: Sequence[Fraction], upper: Sequence[Fraction],
                     problems: Sequence[tuple[Callable, Callable, Fraction]],
                     deadline: float | None = None) -> list[PieceOptimum | None]:
    """:func:`maximize_over_pieces` for several (derive, replay, tolerance) over the same box at once.

    The pieces, the nominal logits, the extremes and the hidden ranges are derived once for all problems
    (:func:`derive_jointly`); each problem keeps the pieces it would get alone.  One answer per problem,
    None where that problem falls back.
    """
    lower, upper = [Q(v) for v in lower], [Q(v) for v in upper]
    lps = _LinearPrograms(lower, upper)

    derived = derive_jointly(network, perturbation, lower, upper, [leaf_programs(derive) for derive, _, _ in problems],
                             deadline, lps=lps)
    out = []
    for leaves, (_, replay, tolerance) in zip(derived, problems):
        try:
            out.append(None if leaves is None else _optimize(leaves, replay, tolerance, lps, deadline))
        except (NotCertified, _TooMany):
            out.append(None)
    return out


def leaf_programs(derive: Callable) -> Callable:
    """A derivation of :class:`PieceDerivation` regions as one of leaf programs: (objective, rows) per choice of
    an alternative of the objective and of every row (a row "maximum >= 0" is a disjunction)."""
    def derive_programs(nominal, extreme, arith):
        out = []
        derived = derive(nominal, extreme, arith)
        for region in (derived if isinstance(derived, list) else [derived]):
            objectives = region.objective.items if region.objective.kind > 0 else \
                (arith.resolve(region.objective),)
            choices = [arith.row_alternatives(row) for row in region.rows]
            count = len(objectives)
            for options in choices:
                count *= len(options)
            if len(out) + count > MAX_ALTERNATIVES:
                raise _TooMany()
            for objective in objectives:
                out += [(objective, list(rows)) for rows in _product(choices)]
        return out

    return derive_programs


def derive_on_pieces(network, perturbation, lower: Sequence[Fraction], upper: Sequence[Fraction], derive: Callable,
                     deadline: float | None = None, max_pieces: int = MAX_PIECES, lps: "_LinearPrograms | None" = None):
    """Split the box of the variables into pieces until ``derive(nominal, extreme, arith)`` runs without a split.

    ``nominal`` are the logits at p0 and ``extreme(coeffs)`` is max_p c·z, both :class:`Alternatives` on the
    piece; whatever ``derive`` needs resolved (``arith.resolve``) splits the piece.  Returns the list of
    (piece, what derive returned), or None when the pieces grow beyond ``max_pieces``, an LP cannot be
    certified or the deadline passes.  On 2-D boxes a piece is a :class:`_PolygonPiece` (exact ``vertices``).
    """
    return derive_jointly(network, perturbation, lower, upper, [derive], deadline, max_pieces, lps)[0]


def derive_jointly(network, perturbation, lower: Sequence[Fraction], upper: Sequence[Fraction],
                   derives: Sequence[Callable], deadline: float | None = None, max_pieces: int = MAX_PIECES,
                   lps: "_LinearPrograms | None" = None) -> list:
    """:func:`derive_on_pieces` for several derivations at once: one list of leaves (or None) per derivation.

    A piece is derived once (nominal logits, hidden ranges, each extreme) for every derivation still open on it;
    the derivations that need the same split share the two halves, others get their own, so each derivation
    ends with the very pieces (in the same order) it would get alone.
    """
    n_vars = len(lower)
    lower, upper = [Q(v) for v in lower], [Q(v) for v in upper]
    d = network.n_inputs
    nominal_params = list(perturbation.nominal)
    if n_vars == 2:
        root = _PolygonPiece.box(lower, upper)
    else:
        root = _LinearPiece(lps or _LinearPrograms(lower, upper), [], {})
    inputs = [Alternatives([tuple(Q(1) if i == j else ZERO for i in range(n_vars)) + (ZERO,)]) for j in range(d)]
    split = max(len(network.layers) - 2, 0)
    count = len(derives)
    leaves: list = [[] for _ in derives]
    pending = [1] * count   # pieces on the stack that each derivation still has to visit
    stack = [(root, tuple(range(count)))]
    try:
        while stack:
            if deadline is not None and time.perf_counter() > deadline:
                return [None] * count
            piece, open_here = stack.pop()
            open_here = tuple(i for i in open_here if leaves[i] is not None)
            for i in open_here:
                pending[i] -= 1
            if not open_here:
                continue
            arith = _PieceArithmetic(network, nominal_params, n_vars, lower, upper, piece, MAX_ALTERNATIVES, deadline)
            needs: dict = {}   # split function -> the derivations asking for it, in order
            try:
                nominal = walk(network, arith, inputs)
                hidden = walk(network, arith, inputs, stop=split) if split else inputs
            except _Split as need:
                needs[need.function] = list(open_here)
            else:
                extremes, ranges = {}, {}

                def extreme(coeffs, arith=arith, hidden=hidden, extremes=extremes, ranges=ranges):
                    key = tuple(coeffs)
                    if key not in extremes:
                        extremes[key] = corner_extreme(arith, network, perturbation, coeffs, hidden, hidden, ranges)
                    return extremes[key]

                for i in open_here:
                    try:
                        derived = derives[i](nominal, extreme, arith)
                    except _Split as need:
                        needs.setdefault(need.function, []).append(i)
                        continue
                    except (NotCertified, _TooMany):
                        leaves[i] = None
                        continue
                    leaves[i].append((piece, derived))
            for function, which in needs.items():
                children = piece.split(function)
                stack += [(child, tuple(which)) for child in children]
                for i in which:
                    pending[i] += len(children)
                    if pending[i] + len(leaves[i]) > max_pieces:
                        leaves[i] = None
        return leaves
    except (NotCertified, _TooMany):
        return [None] * count


MAX_ALTERNATIVES = 256
"""At most this many alternatives in one value, and LPs in one piece."""


def _product(choices):
    out = [()]
    for options in choices:
        out = [prefix + (o,) for prefix in out for o in options]
    return out


def _optimize(leaves, replay, tolerance, lps, deadline: float | None) -> PieceOptimum:
    """Certified upper end over every leaf program; the lower end from replayed points, best programs first.

    Float first: each program's certified binary64 bound (``float_bound``) orders them, and a program whose
    bound cannot exceed the exact upper end found so far is not solved exactly unless a replay needs its points.
    """
    programs = [(piece, objective, rows) for piece, found in leaves for objective, rows in found]
    estimates = [piece.float_bound(objective, rows) for piece, objective, rows in programs] \
        if len(programs) > 1 else [math.inf] * len(programs)
    order = sorted(range(len(programs)), key=lambda i: -estimates[i])
    solved, deferred = [], []
    upper = None
    for i in order:
        if upper is not None and estimates[i] <= upper:
            deferred.append(i)   # certified not above the upper end: its exact LP is only needed for a replay
            continue
        if deadline is not None and time.perf_counter() > deadline:
            raise _TooMany()
        piece, objective, rows = programs[i]
        bound, points = piece.solve(objective, rows)
        if bound is None:
            continue
        upper = bound if upper is None else max(upper, bound)
        solved.append((bound, points))
    if upper is None:
        return PieceOptimum(None, None, None, len(leaves), len(programs))

    # the solved programs by their exact bounds, then the deferred ones by their float bounds (solved when reached)
    ranked = sorted(solved, key=lambda item: item[0], reverse=True) + [(estimates[i], i) for i in deferred]
    best, payload, reached = None, None, 0
    for bound, points in ranked:
        if best is not None and (bound <= best or upper - best <= tolerance / 1000):
            break
        if isinstance(points, int):
            piece, objective, rows = programs[points]
            bound, points = piece.solve(objective, rows)
            reached += 1
            if bound is None or (best is not None and bound <= best):
                continue
        for point in points:
            got = replay([min(max(v, lo), hi) for v, lo, hi in zip(point, lps.lower, lps.upper)])
            if got is not None:
                if best is None or got[0] > best:
                    best, payload = got
                break
    return PieceOptimum(upper, best, payload, len(leaves), len(programs), len(deferred) - reached)


def shift(f: Affine, value: Fraction) -> Affine:
    """f + value."""
    return f[:-1] + (f[-1] + value,)


def negate(f: Affine) -> Affine:
    return _scale(Q(-1), f)


def difference(f: Affine, g: Affine) -> Affine:
    """f - g."""
    return _add(f, _scale(Q(-1), g))


def constant(value: Fraction, like: Affine) -> Affine:
    """The constant function `value` over the same variables as `like`."""
    return _constant(Q(value), len(like) - 1)


class _CornerGuess:
    """The corner derivation in binary64 at one input, for its witness parameters only.

    Mirrors :class:`~smtnn.semantics.corners.CornerNumbers`; rounding may pick the wrong corner
    near a tie, which is harmless: the caller replays the witness exactly and falls back to
    :func:`smtnn.bounds.extreme_at` when it does not flip.
    """

    def __init__(self, nominal: Sequence[Fraction]):
        self.witness = list(nominal)

    def pick(self, index, value) -> None:
        self.witness[index] = value

    def take(self, weighted, bias_index, bias) -> None:
        for index, end, _ in weighted:
            self.witness[index] = end
        self.witness[bias_index] = bias

    def weighted_max(self, index, lo, hi, u, sign):
        return (index, hi if u >= 0 else lo, max(_to_float(lo) * u, _to_float(hi) * u))

    def weighted_min(self, index, lo, hi, u, sign):
        return (index, lo if u >= 0 else hi, min(_to_float(lo) * u, _to_float(hi) * u))

    def total(self, weighted, bias):
        return sum(w[2] for w in weighted) + _to_float(bias)

    def activation(self, layer, value: float) -> float:
        if layer.activation == "relu":
            return max(value, 0.0)
        if layer.activation == "leaky_relu":
            return value if value >= 0 else float(layer.alpha) * value
        return value

    def product_max(self, g_lo, g_hi, h_lo, h_hi, layer, sign) -> Choice:
        best = max(((_to_float(g) * h, g_high, h_high) for g_high, g in ((False, g_lo), (True, g_hi))
                    for h_high, h in ((False, h_lo), (True, h_hi))), key=lambda item: item[0])
        return Choice(best[0], best[1], best[2])

    def result(self, constant, parts):
        return _to_float(constant) + sum(parts)


def corner_witness(network, perturbation, x: Sequence[Fraction], coeffs: Sequence[int]) -> tuple[Fraction, ...]:
    """Parameters at a corner of the box that (up to rounding) maximize c·z(x, p), for a decoupled network."""
    split = max(len(network.layers) - 2, 0)
    inputs = [_to_float(v) for v in x]
    if split:   # the nominal prefix, on a batch of one row
        inputs = [float(v) for v in walk(network, FloatDomain(), np.array([inputs]), stop=split)[0]]
    guess = _CornerGuess(perturbation.nominal)
    corner_extreme(guess, network, perturbation, coeffs, inputs, inputs)
    return tuple(guess.witness)
