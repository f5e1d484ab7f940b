"""Eq. 13 where the perturbation decouples: one linear program per linear piece of the input domain.

When no free parameter lies before the last hidden layer and every hidden unit is piecewise
linear, the nominal logits z0(x) and the perturbed extremes max_p c·z(x, p) of
:mod:`smtnn.semantics.corners` are piecewise-linear functions of x.  On a *piece* of D (a
polyhedron on which every ReLU phase and every corner choice is fixed) all of them are affine,
so σ for one class is a linear program there: maximize the nominal objective subject to "the
nominal label is c" and "some p in the box flips it".

Pieces come from a lazy split: the derivation runs in affine arithmetic on a piece and, when it
needs the sign of an affine function the piece does not fix, asks two LPs for that function's
range on the piece; only when both signs occur is the piece split in two.  HiGHS solves every
LP in floats; nothing it returns is trusted as such:
- an upper end is a weak-duality bound evaluated in exact rationals from HiGHS's multipliers
  (any non-negative multipliers give a valid bound, so a rounded dual only loosens it);
- an empty piece needs a Farkas ray checked the same way;
- a lower end is a point of the LP tightened by a small margin, made exact and replayed on the
  network by the caller (nominal label and a flip under the corner witness parameters).
Whatever cannot be certified makes :func:`maximize_over_pieces` return None, and the caller
falls back to the solver path.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np

from .bounds import decouples
from .semantics import walk
from .semantics.corners import Choice, corner_extreme

Q = Fraction
ZERO = Q(0)
MAX_PIECES = 128
"""Beyond this many pieces the solver path is usually faster; the caller falls back to it."""

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
    return tuple(a + b for a, b in zip(f, g))


def _scale(a: Fraction, f: Affine) -> Affine:
    return tuple(a * v for v in f) if a else tuple(ZERO for _ in f)


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
        from .twins.lp import _quiet_highs
        import highspy

        self.highspy = highspy
        self.lower, self.upper = list(lower), list(upper)
        self.lo_f = np.array([float(v) for v in lower])
        self.hi_f = np.array([float(v) for v in upper])
        self.highs = _quiet_highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("presolve", "off")
        self.solved = 0

    def solve(self, objective: Affine, rows: Sequence[Affine]):
        """(certified upper bound or None when the rows are certainly empty, float optimal point or None)."""
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
            bound = min(certified_max(objective, rows, side * duals, self.lower, self.upper) for side in (1, -1))
            exact = self._basis_multipliers(objective, rows)
            if exact is not None:
                bound = min(bound, certified_max(objective, rows, exact, self.lower, self.upper))
            return bound, np.array(solution.col_value, dtype=float)
        if status == model.kInfeasible:
            has, ray = h.getDualRay()[1:]
            ray = np.asarray(ray, dtype=float)
            zero = _constant(ZERO, n)
            if has and any(certified_max(zero, rows, side * ray, self.lower, self.upper) < 0 for side in (1, -1)):
                return None, None
        raise NotCertified(f"HiGHS: {h.modelStatusToString(status)}")

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


# -- the derivation in affine arithmetic on one piece ----------------------------------------
class _PieceArithmetic:
    """Affine functions of x (and any extra LP variables) on one piece: the walk domain and the corner arithmetic.

    ``decide(f)`` gives f's sign on the piece: from the box D, from the piece's own constraints,
    or by raising :class:`_Split`.  The corner methods mirror :class:`~smtnn.semantics.corners.CornerTerms`
    (the same derivation, as affine functions instead of if-then-else terms).
    """

    description = "affine pieces"

    def __init__(self, network, parameters, n_vars: int, lower, upper, decisions: dict):
        self.network, self.params, self.n = network, parameters, n_vars
        self.lower, self.upper, self.decisions = lower, upper, decisions
        self.slices = network.layer_slices()

    def decide(self, f: Affine) -> int:
        lo, hi = _box_range(f, self.lower, self.upper)
        if lo >= 0:
            return 1
        if hi <= 0:
            return -1
        sign = self.decisions.get(f)
        if sign is None:
            raise _Split(f)
        return sign

    # walk domain (nominal parameters)
    def affine(self, index, layer, h):
        ws, bs = self.slices[index]
        w, b = self.params[ws], self.params[bs]
        n = layer.inputs
        return [_add(_sum([_scale(w[r * n + j], h[j]) for j in range(n)], self.n), _constant(b[r], self.n))
                for r in range(layer.outputs)]

    def linear(self, index, layer, pre):
        return list(pre)

    def relu(self, index, layer, pre):
        return [a if self.decide(a) > 0 else _constant(ZERO, self.n) for a in pre]

    def leaky_relu(self, index, layer, pre):
        return [a if self.decide(a) > 0 else _scale(Q(layer.alpha), a) for a in pre]

    # corner arithmetic (see smtnn.semantics.corners)
    def pick(self, index, value) -> None:
        return None

    def take(self, weighted, bias_index, bias) -> None:
        return None

    def _corner_max(self, lo: Fraction, hi: Fraction, u: Affine) -> Affine:
        """max over w in [lo, hi] of w·u."""
        if lo == hi:
            return _scale(lo, u)
        return _scale(hi if self.decide(u) > 0 else lo, u)

    def weighted_max(self, index, lo, hi, u, sign):
        return self._corner_max(lo, hi, u)

    def weighted_min(self, index, lo, hi, u, sign):
        return _scale(Q(-1), self._corner_max(-hi, -lo, u))

    def total(self, terms, bias):
        return _add(_sum(terms, self.n), _constant(bias, self.n))

    def activation(self, layer, term):
        return getattr(self, layer.activation)(None, layer, [term])[0]

    def product_max(self, g_lo, g_hi, h_lo, h_hi, layer, sign) -> Choice:
        """max of g·h over g in [g_lo, g_hi] and h in [h_lo, h_hi]: convex in h, so at an end of h."""
        if layer is None:
            return Choice(self._corner_max(g_lo, g_hi, h_lo), True, True)
        if layer.activation == "relu":   # h >= 0
            return Choice(_scale(g_hi, h_hi if g_hi >= 0 else h_lo), True, True)
        at_lo, at_hi = self._corner_max(g_lo, g_hi, h_lo), self._corner_max(g_lo, g_hi, h_hi)
        if at_lo == at_hi:
            return Choice(at_hi, True, True)
        return Choice(at_hi if self.decide(_add(at_hi, _scale(Q(-1), at_lo))) > 0 else at_lo, True, True)

    def result(self, constant, parts):
        return _add(_sum(parts, self.n), _constant(constant, self.n))


def applies(network, perturbation) -> bool:
    """True when :func:`maximize_over_pieces` can run: piecewise-linear hidden units and a decoupled perturbation."""
    return network.piecewise_linear and decouples(network, perturbation)


@dataclass
class PieceDerivation:
    """What the caller derives on one piece: ``objective`` to maximize and ``rows`` (each >= 0 on the region),
    built from ``nominal`` (the logits at p0) and ``extreme(coeffs)`` (max over the box of c·z)."""

    objective: Affine
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


def maximize_over_pieces(network, perturbation, lower: Sequence[Fraction], upper: Sequence[Fraction],
                         derive: Callable, replay: Callable, tolerance: Fraction) -> PieceOptimum | None:
    """Maximize a piecewise-linear objective over the region the caller derives, piece by piece.

    Args:
        lower, upper: the box of the LP variables (the inputs first, then any extra variables).
        derive(nominal, extreme, n_vars): returns a :class:`PieceDerivation` or a list of them (a union of
            regions); ``nominal`` are the logits at p0 and ``extreme(coeffs)`` is max_p c·z, both affine on the piece.
        replay(point): an exact candidate point (Fractions, inside the box) -> (objective value, payload) when it
            is a genuine witness of the region, else None.
        tolerance: stop tightening witnesses once the best replayed value is this close to the upper end.
    Returns None when the LPs cannot be certified or the pieces grow too many (then use the solver path).
    """
    n_vars = len(lower)
    lower, upper = [Q(v) for v in lower], [Q(v) for v in upper]
    d = network.n_inputs
    nominal_params = list(perturbation.nominal)
    lps = _LinearPrograms(lower, upper)
    inputs = [tuple(Q(1) if i == j else ZERO for i in range(n_vars)) + (ZERO,) for j in range(d)]
    split = max(len(network.layers) - 2, 0)
    leaves: list[tuple[list[Affine], list[PieceDerivation]]] = []
    stack: list[dict] = [{}]
    try:
        while stack:
            decisions = stack.pop()
            arith = _PieceArithmetic(network, nominal_params, n_vars, lower, upper, decisions)
            try:
                nominal = walk(network, arith, inputs)
                hidden = walk(network, arith, inputs, stop=split) if split else inputs

                def extreme(coeffs, arith=arith, hidden=hidden):
                    return corner_extreme(arith, network, perturbation, coeffs, hidden, hidden)

                derived = derive(nominal, extreme, n_vars)
            except _Split as need:
                f = need.function
                constraints = _piece_rows(decisions)
                high, _ = lps.solve(f, constraints)
                if high is None:
                    continue   # the piece is certainly empty
                if high < 0:
                    stack.append({**decisions, f: -1})
                    continue
                low, _ = lps.solve(_scale(Q(-1), f), constraints)
                if low is not None and low < 0:   # f > 0 on the whole piece
                    stack.append({**decisions, f: 1})
                    continue
                stack += [{**decisions, f: 1}, {**decisions, f: -1}]
                if len(stack) + len(leaves) > MAX_PIECES:
                    return None
                continue
            leaves.append((_piece_rows(decisions), derived if isinstance(derived, list) else [derived]))
        return _optimize(lps, leaves, replay, tolerance, len(leaves))
    except NotCertified:
        return None


def _piece_rows(decisions: dict) -> list[Affine]:
    return [f if sign > 0 else _scale(Q(-1), f) for f, sign in decisions.items()]


def _tightened(rows: Sequence[Affine], eta: Fraction) -> list[Affine]:
    return [row[:-1] + (row[-1] - eta,) for row in rows]


def _optimize(lps: _LinearPrograms, leaves, replay, tolerance, n_pieces) -> PieceOptimum:
    """Certified upper end over every leaf; lower end from replayed points of tightened LPs, best pieces first."""
    candidates = []
    upper = None
    for piece_rows, derivations in leaves:
        for derivation in derivations:
            rows = piece_rows + derivation.rows
            bound, point = lps.solve(derivation.objective, rows)
            if bound is None:
                continue
            upper = bound if upper is None else max(upper, bound)
            candidates.append((bound, derivation, rows))
    if upper is None:
        return PieceOptimum(None, None, None, n_pieces, lps.solved)
    best, payload = None, None
    for bound, derivation, rows in sorted(candidates, key=lambda item: item[0], reverse=True):
        if best is not None and bound <= best:
            break
        scale = 1 + max(abs(v) for row in rows for v in row) + max(abs(v) for v in derivation.objective)
        for eta in (Q(1, 10 ** 10), Q(1, 10 ** 8), Q(1, 10 ** 6)):
            try:
                value, point = lps.solve(derivation.objective, _tightened(rows, eta * scale))
            except NotCertified:
                break
            if point is None:
                break
            exact = [min(max(Q(float(v)), lo), hi) for v, lo, hi in zip(point, lps.lower, lps.upper)]
            got = replay(exact)
            if got is not None:
                if best is None or got[0] > best:
                    best, payload = got
                break
        if best is not None and upper - best <= tolerance / 1000:
            break
    return PieceOptimum(upper, best, payload, n_pieces, lps.solved)


def shift(f: Affine, value: Fraction) -> Affine:
    """f + value."""
    return f[:-1] + (f[-1] + value,)


def negate(f: Affine) -> Affine:
    return _scale(Q(-1), f)


def difference(f: Affine, g: Affine) -> Affine:
    """f - g."""
    return _add(f, _scale(Q(-1), g))
