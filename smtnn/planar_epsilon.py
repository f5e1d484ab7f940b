"""Eq. 12 (global ε) on 2-D input domains: exact polygon pieces, then one-dimensional searches along their edges.

Where the perturbation decouples and the hidden units are piecewise linear (:mod:`smtnn.pieces`), D splits
into exact polygons on which the nominal logit z0(x) and the logit's extremes over the parameter box,
z_max(x) = max_p z_p(x) and z_min(x) = min_p z_p(x) (closed forms, :mod:`smtnn.semantics.corners`), are
each a maximum or a minimum of affine functions.  σ is increasing, so on a piece

    σ(z_max(x)) - σ(z0(x)) = max over pairs (A, B) of σ(A(x)) - σ(B(x)),

A an alternative of z_max (a maximum) and B one of z0 (a minimum, or z0 itself where it is affine), and
likewise σ(z0) - σ(z_min).  Each g(x) = σ(A(x)) - σ(B(x)) takes its maximum over a polygon on an edge:
its gradient σ'(A)∇A - σ'(B)∇B vanishes only where ∇A and ∇B are parallel, and then g is constant along
the direction orthogonal to both, which leads to the boundary.  On an edge g is a function of one
variable, g(t) = σ(a(t)) - σ(b(t)) with a, b affine in t ∈ [0, 1].  Branch and bound over t bounds g on
an interval by its value at the centre plus half the width times the largest slope (mean value), puts
an interval onto its end where the slope has one sign, and stops when the largest bound is within
a small fraction of the tolerance of the best value found.  Every float operation of a bound is rounded
outward; a bound attained at a vertex is replaced by the vertex's exact replay.  The lower end is the
exact corner replay of the best input found (:func:`smtnn.search.epsilon_at`), so the answer needs no
input boxes at all: a few pieces, a few hundred edges.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from . import pieces
from .budget import Bounds, report
from .domain import Box
from .network import Network
from .perturbation import Perturbation
from .result import Witness
from .rounding import UNDERFLOW, UNIT
from .search import epsilon_at, interval_minus, outward, sigmoid_down, sigmoid_up
from .semantics.slopes import derivative_range, times_interval

Q = Fraction
METHOD = ("exact polygon pieces of D where the logit's extremes are affine, branch and bound along their edges "
          "(outward-rounded binary64 mean-value bounds) + exact corner replay")
MAX_UNITS = 4
"""Networks with more hidden units cut D into too many pieces: input-box branch and bound is faster there."""
MAX_PIECES = 64
"""Beyond this many pieces (or half the timeout spent on them) input-box branch and bound takes over; a count, not a
clock, so the same query picks the same engine on a busy machine."""
REFINE = Q(1, 1000)
"""The edge search closes its gap to this fraction of the tolerance (each halving of it costs a few intervals)..."""
FINEST = 1e-12
"""... but not below this: binary64 bounds resolve no finer, and a tolerance below it goes to input-box branch and bound."""
MAX_INTERVALS = 100_000
MAX_ROUNDS = 200
MIN_WIDTH = 2.0 ** -60
"""Intervals of an edge narrower than this are not split further (their bound stays as it is)."""
MAX_REPLAYS = 8
"""At most this many vertices on top of the upper end are replayed exactly."""


def applies(network: Network, perturbation: Perturbation, domain: Box) -> bool:
    """A sigmoid output, at most MAX_UNITS piecewise-linear hidden units, a decoupled perturbation and a 2-D D of
    positive area."""
    return (network.binary and network.n_inputs == 2 and pieces.applies(network, perturbation)
            and sum(layer.outputs for layer in network.layers[:-1]) <= MAX_UNITS
            and all(lo < hi for lo, hi in zip(domain.lower, domain.upper)))


@dataclass
class PlanarEpsilon:
    """Certified [lower, upper] of Eq. 12, the witness attaining `lower`, and the work done."""

    lower: Fraction
    upper: Fraction
    witness: Witness | None
    pieces: int
    edges: int
    intervals: int
    reason: str


def _pairs(nominal, extreme, arith) -> list[tuple[tuple, tuple]]:
    """The affine pairs (A, B) on one piece whose largest σ(A) - σ(B) is the larger change of either direction."""
    def maxima(value):
        return value.items if value.kind > 0 else (arith.resolve(value),)

    def minima(value):
        return value.items if value.kind < 0 or value.single else (arith.resolve(value),)

    z0 = nominal[0]
    highest, lowest_negated = extreme([1]), extreme([-1])   # z_max and -z_min
    up = [(a, b) for a in maxima(highest) for b in minima(z0)]
    down = [(a, pieces.negate(b)) for a in maxima(z0) for b in maxima(lowest_negated)]
    return up + down


class _Edges:
    """Every edge of every piece and pair: the pair's exact values at its two ends as floats, and each end's vertex."""

    def __init__(self, leaves):
        a1, a2, b1, b2, ends = [], [], [], [], []
        for piece, pairs in leaves:
            vertices = piece.vertices
            n = len(vertices)
            sides = [(i, (i + 1) % n) for i in range(n)] if n > 2 else [(0, n - 1)]
            values: dict = {}

            def at(f, i):
                key = (id(f), i)   # the pairs hold every f while this piece is read
                if key not in values:
                    values[key] = float(pieces.value_at(f, vertices[i]))   # correctly rounded
                return values[key]

            for a, b in pairs:
                for i, j in sides:
                    a1.append(at(a, i))
                    a2.append(at(a, j))
                    b1.append(at(b, i))
                    b2.append(at(b, j))
                    ends.append((vertices[i], vertices[j]))
        self.ends = ends
        self.a1, self.a2, self.b1, self.b2 = (np.array(v, dtype=float) for v in (a1, a2, b1, b2))
        self.da, self.db = self.a2 - self.a1, self.b2 - self.b1
        # |float evaluation of a(t) = a1 + t (a2 - a1) - exact a(t)| <= pad (endpoint conversions included)
        self.pad_a = 8 * UNIT * (np.abs(self.a1) + np.abs(self.a2)) + UNDERFLOW
        self.pad_b = 8 * UNIT * (np.abs(self.b1) + np.abs(self.b2)) + UNDERFLOW
        # |float slope - exact slope| <= 4 UNIT (|a1| + |a2|)
        self.slope_pad_a = 4 * UNIT * (np.abs(self.a1) + np.abs(self.a2)) + UNDERFLOW
        self.slope_pad_b = 4 * UNIT * (np.abs(self.b1) + np.abs(self.b2)) + UNDERFLOW

    def __len__(self) -> int:
        return len(self.ends)

    def values(self, edge, t):
        """Float enclosures of a(t) and b(t) (outward) and their nearest values."""
        a = self.a1[edge] + t * self.da[edge]
        b = self.b1[edge] + t * self.db[edge]
        return a - self.pad_a[edge], a + self.pad_a[edge], b - self.pad_b[edge], b + self.pad_b[edge], a, b

    def bound_at(self, edge, t):
        """A float upper bound of g(t), and g(t) to the nearest (a candidate's estimate)."""
        _, a_hi, b_lo, _, a, b = self.values(edge, t)
        with np.errstate(over="ignore"):
            estimate = 1.0 / (1.0 + np.exp(-a)) - 1.0 / (1.0 + np.exp(-b))
        return outward(sigmoid_up(a_hi) - sigmoid_down(b_lo)), estimate

    def bound_over(self, edge, t1, t2):
        """Per interval [t1, t2] of an edge: an upper bound of g, and +1/-1 where g is increasing/decreasing on it."""
        lo1, hi1, blo1, bhi1, _, _ = self.values(edge, t1)
        lo2, hi2, blo2, bhi2, _, _ = self.values(edge, t2)
        a_lo, a_hi = np.minimum(lo1, lo2), np.maximum(hi1, hi2)
        b_lo, b_hi = np.minimum(blo1, blo2), np.maximum(bhi1, bhi2)
        first_order = outward(sigmoid_up(a_hi) - sigmoid_down(b_lo))
        centre, _ = self.bound_at(edge, (t1 + t2) * 0.5)
        sa, sb = derivative_range("sigmoid", a_lo, a_hi), derivative_range("sigmoid", b_lo, b_hi)
        da, pa = self.da[edge], self.slope_pad_a[edge]
        db, pb = self.db[edge], self.slope_pad_b[edge]
        slope_lo, slope_hi = interval_minus(times_interval(da - pa, da + pa, *sa), times_interval(db - pb, db + pb, *sb))
        rise = np.maximum(np.maximum(slope_hi, -slope_lo), 0.0) * ((t2 - t1) * 0.5)
        mean_value = centre + rise * (1 + 4 * UNIT) + UNDERFLOW
        mean_value = mean_value + 4 * UNIT * np.abs(mean_value)
        direction = np.where(slope_lo >= 0, 1, np.where(slope_hi <= 0, -1, 0))
        return np.minimum(first_order, mean_value), direction


def global_epsilon(network: Network, perturbation: Perturbation, domain: Box, tol: Fraction,
                   timeout: float | None) -> PlanarEpsilon | None:
    """Certified Eq. 12 (see the module docstring); None (use input-box branch and bound) when the pieces grow too
    many or take too long, or the tolerance is finer than binary64 bounds resolve."""
    start = time.perf_counter()
    if tol < FINEST:
        return None
    deadline = None if timeout is None else start + timeout
    leaves = pieces.derive_on_pieces(network, perturbation, list(domain.lower), list(domain.upper), _pairs,
                                     None if timeout is None else start + timeout / 2, max_pieces=MAX_PIECES)
    if leaves is None:
        return None
    edges = _Edges(leaves)
    target = max(float(tol * REFINE), FINEST)
    # intervals [t1, t2] of edges; a point (t1 == t2) is final
    edge = np.arange(len(edges))
    t1, t2 = np.zeros(len(edges)), np.ones(len(edges))
    ub, direction = edges.bound_over(edge, t1, t2)
    best_estimate, best_at = -np.inf, None
    dropped, intervals, reason = [], len(edges), ""
    for _ in range(MAX_ROUNDS):
        # collapse monotone intervals onto their better end
        moving = direction != 0
        if moving.any():
            t1 = np.where(direction > 0, t2, t1)
            t2 = np.where(direction < 0, t1, t2)
            ub = np.where(moving, edges.bound_at(edge, t1)[0], ub)
            direction = np.zeros_like(direction)
        mid = (t1 + t2) * 0.5
        _, estimate = edges.bound_at(edge, mid)
        i = int(np.argmax(estimate))
        if estimate[i] > best_estimate:
            best_estimate, best_at = float(estimate[i]), (int(edge[i]), float(mid[i]))
        keep = ub > best_estimate + target / 2
        if not keep.all():
            dropped.append((edge[~keep], t1[~keep], t2[~keep], ub[~keep]))
            edge, t1, t2, ub = edge[keep], t1[keep], t2[keep], ub[keep]
        open_ = t2 - t1 > MIN_WIDTH
        if not len(ub) or float(ub.max()) <= best_estimate + target or not open_.any():
            break
        report(Bounds(Q(0), Q(max([float(ub.max())] + [float(d[3].max()) for d in dropped]))))
        if deadline is not None and time.perf_counter() > deadline:
            reason = "timeout"
            break
        if len(ub) > MAX_INTERVALS:
            reason = "the edge search did not converge"
            break
        # split every open interval at its midpoint; points stay
        points = ~open_
        half = ((t1 + t2) * 0.5)[open_]
        edge = np.concatenate([edge[points], edge[open_], edge[open_]])
        t1, t2 = np.concatenate([t1[points], t1[open_], half]), np.concatenate([t2[points], half, t2[open_]])
        fresh = np.concatenate([np.zeros(points.sum(), bool), np.ones(2 * open_.sum(), bool)])
        ub_new, dir_new = edges.bound_over(edge[fresh], t1[fresh], t2[fresh])
        ub = np.concatenate([ub[points], ub_new])
        direction = np.concatenate([np.zeros(points.sum(), int), dir_new])
        intervals += len(ub_new)
    else:
        reason = "the edge search did not converge"
    if best_at is None:   # no finite estimate anywhere (overflowing logits): leave it to input-box branch and bound
        return None
    final = [np.concatenate([part[k] for part in dropped] + [kept]) for k, kept in enumerate((edge, t1, t2, ub))]
    return _certify(network, perturbation, domain, edges, *final, best_at, tol, len(leaves), intervals, reason)


def _certify(network, perturbation, domain, edges: _Edges, edge, t1, t2, ub, best_at, tol, n_pieces,
             intervals, reason) -> PlanarEpsilon:
    """The exact lower end at the best input found, and the upper end over every interval (kept or dropped) with
    the vertices on top replaced by their exact replay."""
    exact: dict = {}

    def vertex(e: int, t: float):
        if t not in (0.0, 1.0):
            return None
        return edges.ends[e][0 if t == 0.0 else 1]

    def replay(x):
        key = tuple(x)
        if key not in exact:
            exact[key] = epsilon_at(network, perturbation, x, corners=True)
        return exact[key]

    bounds = [float(b) for b in ub]
    order = sorted(range(len(bounds)), key=lambda k: -bounds[k])
    upper = Q(0)
    for k in order:   # the largest bounds at vertices are replayed exactly until one that is not a vertex leads
        if Q(bounds[k]) <= upper:
            break
        x = vertex(int(edge[k]), float(t1[k])) if t1[k] == t2[k] and len(exact) < MAX_REPLAYS else None
        upper = max(upper, replay(x).upper if x is not None else Q(bounds[k]))
        if x is None:
            break
    e, t = best_at
    x = vertex(e, t)
    if x is None:
        v1, v2 = edges.ends[e]
        x = [min(max(Q(float(p) + t * (float(q) - float(p))), lo), hi)
             for p, q, lo, hi in zip(v1, v2, domain.lower, domain.upper)]
    found = replay(x)
    lower = max(found.lower, Q(0))
    upper = max(upper, lower)
    if upper - lower <= tol:
        reason = ""
    elif not reason:
        reason = "gap above tolerance"
    return PlanarEpsilon(lower, upper, found.witness, n_pieces, len(edges), intervals, reason)
