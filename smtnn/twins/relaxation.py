"""The triangle LP relaxation of relu/linear networks sharing one input box.

Columns: the inputs x, per hidden unit its pre-activation a and output h, per network its
logits z.  Rows: a = W h_prev + b, z = W_out h_last + b_out (exact float data), and per relu
unit by its certified bounds [lo, hi]: h = 0 (hi <= 0), h = a (lo >= 0) or the triangle
h >= 0, h >= a, h <= s (a - lo) with s = hi / (hi - lo) rounded up.  Leading layers the
second network shares exactly with the first share their columns (identical twins cancel);
same-shaped twins are linked by rows bounding a1 - a2 and h1 - h2, per pair of relu units the chords
in d or (``PAIR_HULLS``) the rows of the convex hull of (a1, a2, relu(a1), relu(a2)) over their bounds
(:mod:`.difference`; fixing a unit's phase, h = a or h = 0, cuts a face of that hull, so a node's rows
are still the pair's hull).  Bounds come
from sound interval propagation intersected with outward-rounded linear (CROWN-style) bounds
(:mod:`.screen`), tightened (``tighten=True``) by certified LP bounds layer by layer where a
unit stays open.  Any linear objective in the logits is then bounded rigorously (:mod:`.lp`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..domain import Box
from ..network import Network
from . import difference, intervals, screen
from ..rounding import float_down as down, float_up as up, round_down, round_up
from ..semantics import walk
from .lp import LinearModel, Solution

Key = tuple[int, int, int]   # (network, hidden layer, unit)
PAIR_HULLS = True
"""Paired twins' relu units get the rows of their joint convex hull (:func:`.difference.relu_pair_hull`) instead of
the chords in d: a tighter root bound (mnist-net 256x2 image 0: -0.0168 to -0.0158) that the search keeps when it
branches where the LP point lies furthest above the relu (:meth:`.bnb.Search._branch_unit`)."""
TIGHTEN_OUTPUT_DIFFERENCES = False
"""LP-tighten the rows bounding h1 - h2 too.  Off: an LP bound of a row is implied by the LP it comes from, and every
later LP contains that LP, so it never cuts the relaxation; it only fed the next layer's interval bounds of a1 - a2,
which the LP tightening of open pairs improves on anyway (3 × 128 on 32 inputs: the build goes from 20 s to 10 s with
the same unit ranges and root bounds)."""
KINKED = ("relu", "leaky_relu")
"""Hidden activations with a phase: the relaxation keeps a triangle for them and the search branches on them."""


@dataclass(frozen=True)
class Unit:
    """One hidden unit in the LP: its columns, certified pre-activation bounds and link row."""

    key: Key
    kind: str
    a: int
    h: int
    lo: float
    hi: float
    link: int | None = None
    tri: int | None = None       # the triangle's upper row h <= s (a - lo), for unstable units
    alpha: float = 0.0           # leaky relu's negative slope (0 for relu)
    low_link: int | None = None  # leaky relu's row h - alpha·a >= 0 (= 0 when inactive)

    @property
    def height(self) -> float:
        """Largest gap between the triangle and the activation: -lo * hi * (1 - alpha) / (hi - lo)."""
        if not self.unstable:
            return 0.0
        gap = -self.lo * self.hi / (self.hi - self.lo)
        return gap if self.alpha == 0 else gap * (1 - self.alpha)

    @property
    def unstable(self) -> bool:
        return self.kind in KINKED and self.lo < 0 < self.hi


@dataclass(frozen=True)
class Bound:
    """A certified bound of a linear objective over the relaxation, with the LP's input point."""

    bound: Fraction | None
    value: float
    point: np.ndarray | None
    status: str


def _common_prefix(a: Network, b: Network) -> int:
    """How many leading layers two networks share exactly (weights, biases, activation and its slope)."""
    n = 0
    for la, lb in zip(a.layers, b.layers):
        last_a, last_b = n == len(a.layers) - 1, n == len(b.layers) - 1
        if last_a != last_b or (la.activation, la.alpha) != (lb.activation, lb.alpha) or la.weights.shape != lb.weights.shape:
            break
        if not (np.array_equal(la.weights, lb.weights) and np.array_equal(la.bias, lb.bias)):
            break
        n += 1
    return n


class Relaxation:
    """The LP relaxation of ``networks`` (same inputs) over ``box``."""

    def __init__(self, networks: Sequence[Network], box: Box, *, tighten: bool = True, backend: str | None = None,
                 deadline: float | None = None):
        """``deadline`` (a time.perf_counter() value): LP tightening stops there, leaving the interval bounds (still sound)."""
        start = time.perf_counter()
        self.deadline = deadline
        self.tightened = True   # False when the deadline cut the tightening short
        self.networks = tuple(networks)
        self.box = box
        self.model = LinearModel(backend)
        self.x = self.model.add_cols([down(v) for v in box.lower], [up(v) for v in box.upper])
        self.units: dict[Key, Unit] = {}
        self.logits: list[np.ndarray] = []
        self.layer_cols: list[list[tuple[np.ndarray, np.ndarray]]] = []   # per network, per hidden layer: (a, h)
        self.lp_calls = 0
        self.hull_rows: dict[Key, list[tuple[int, float]]] = {}   # per relu unit: (row, |its h coefficient|) of pair hulls
        for t, net in enumerate(self.networks):
            self._add_network(t, net, tighten)
        self.seconds = time.perf_counter() - start

    # -- construction ------------------------------------------------------------------------
    def _bounds(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = self.model
        return np.array([m.col_lo[c] for c in cols]), np.array([m.col_hi[c] for c in cols])

    def _add_network(self, t: int, net: Network, tighten: bool) -> None:
        self.logits.append(walk(net, RowDomain(self, t, net, tighten), self.x))

    def _tighten_rows(self, rows: list[int], cols: list[np.ndarray], which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Certified LP bounds of first - second on the difference rows of the `which` units (tightening their ranges)."""
        m = self.model
        for j, r in enumerate(rows):
            if not which[j] or m.row_hi[r] - m.row_lo[r] <= 1e-9 or self._late():
                continue
            cost = np.zeros(m.n_cols)
            cost[cols[0][j]], cost[cols[1][j]] = 1.0, -1.0
            low, high = m.minimize(cost), m.minimize(-cost)
            self.lp_calls += 2
            if low.bound is not None:
                m.row_lo[r] = max(m.row_lo[r], down(low.bound))
            if high.bound is not None:
                m.row_hi[r] = max(m.row_lo[r], min(m.row_hi[r], up(-high.bound)))
        return np.array([m.row_lo[r] for r in rows]), np.array([m.row_hi[r] for r in rows])

    def _late(self) -> bool:
        """Has the build's deadline passed?  (Then the remaining units keep their interval bounds.)"""
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            self.tightened = False
        return not self.tightened

    def _tighten(self, prev: np.ndarray, row: np.ndarray, bias: float, lo: float, hi: float) -> tuple[float, float]:
        if self._late():
            return lo, hi
        cost = np.zeros(self.model.n_cols)
        cost[prev] = row
        low = self.model.minimize(cost)
        high = self.model.minimize(-cost)
        self.lp_calls += 2
        if low.bound is not None:
            lo = max(lo, down(low.bound + Fraction(bias)))
        if high.bound is not None:
            hi = min(hi, up(-high.bound + Fraction(bias)))
        return lo, max(lo, hi)

    # -- queries -------------------------------------------------------------------------------
    def unstable(self) -> list[Unit]:
        """The distinct relu units whose phase the certified bounds leave open."""
        return list({u.key: u for u in self.units.values() if u.unstable}.values())

    def cost(self, coeffs: Sequence[Sequence[int]]) -> np.ndarray:
        """Integer objective coefficients on the logit columns."""
        c = np.zeros(self.model.n_cols)
        for cols, cs in zip(self.logits, coeffs):
            c[cols] += np.asarray(cs, dtype=float)
        return c

    def overrides(self, phases: dict[Key, bool] | None) -> tuple[dict, dict]:
        """Column and row bound changes fixing some relu/leaky relu phases (True: active, False: inactive)."""
        cols, rows = {}, {}
        for key, active in (phases or {}).items():
            u = self.units[key]
            if active:
                cols[u.a] = (max(u.lo, 0.0), u.hi)
                if u.link is not None:
                    rows[u.link] = (0.0, 0.0)
            else:
                cols[u.a] = (u.lo, min(u.hi, 0.0))
                if u.low_link is None:
                    cols[u.h] = (0.0, 0.0)
                else:   # leaky relu: h = alpha·a
                    cols[u.h] = (self.model.col_lo[u.h], 0.0)
                    rows[u.low_link] = (0.0, 0.0)
        return cols, rows

    def minimize(self, coeffs: Sequence[Sequence[int]], phases: dict[Key, bool] | None = None) -> Bound:
        """Certified lower bound of c1·z1 + c2·z2 over the relaxation (with phases fixed)."""
        cols, rows = self.overrides(phases)
        sol: Solution = self.model.minimize(self.cost(coeffs), cols, rows)
        self.lp_calls += 1
        point = sol.point[self.x] if sol.ok else None
        return Bound(sol.bound, sol.value, point, sol.status)

    def interval(self, coeffs: Sequence[Sequence[int]]) -> tuple[Fraction, Fraction]:
        """The interval-arithmetic bounds of c1·z1 + c2·z2 from the logits' certified ranges."""
        lo = hi = Fraction(0)
        for cols, cs in zip(self.logits, coeffs):
            for col, c in zip(cols, cs):
                if c:
                    ends = (c * Fraction(self.model.col_lo[col]), c * Fraction(self.model.col_hi[col]))
                    lo, hi = lo + min(ends), hi + max(ends)
        return lo, hi


def _has_own_hidden_layer(shared: int, net: Network) -> bool:
    """Whether some hidden layer of `net` is not shared with the first network (its bounds are then needed)."""
    return shared < len(net.layers) - 1


class RowDomain:
    """The LP-rows domain: a value is the array of LP columns holding a layer's values.

    The affine step adds pre-activation columns with certified bounds (interval propagation,
    the difference rows of paired twins, LP tightening) and their defining rows; relu and leaky
    relu add output columns with the triangle rows; leading layers shared exactly with the first
    network reuse its columns.
    """

    description = "the triangle LP relaxation"

    def __init__(self, relaxation: Relaxation, t: int, net: Network, tighten: bool):
        self.relax, self.t, self.net, self.tighten = relaxation, t, net, tighten
        self.model = relaxation.model
        self.shared = _common_prefix(relaxation.networks[0], net) if t else 0
        self.paired = t == 1 and difference.compatible(relaxation.networks[0], net)
        self.delta = (np.zeros(net.n_inputs), np.zeros(net.n_inputs))
        self.last = len(net.layers) - 1
        self.pending: dict = {}
        self.linear = screen.pre_activations(net, relaxation.box) if _has_own_hidden_layer(self.shared, net) else None
        relaxation.layer_cols.append([])

    def affine(self, k: int, layer, prev: np.ndarray) -> np.ndarray:
        r, m = self.relax, self.model
        last = k == self.last
        if k < self.shared:   # the same layer on the same inputs: share its columns (and phases)
            return r.logits[0] if last else r.layer_cols[0][k][0]
        w, b = layer.weights, layer.bias
        lo, hi = intervals.affine(w, b, *r._bounds(prev))
        if not last and self.linear is not None:
            lo, hi = np.maximum(lo, self.linear[k][0]), np.minimum(hi, self.linear[k][1])
            hi = np.maximum(lo, hi)
        pending = {}
        if self.paired:   # d = a_first - a_second, so a_second lies in a_first - d
            first = r.networks[0].layers[k]
            a0 = r.logits[0] if last else r.layer_cols[0][k][0]
            h0_prev = r.layer_cols[0][k - 1][1] if k else r.x
            d_lo, d_hi = difference.affine(first.weights, first.bias, w, b, *r._bounds(h0_prev), *self.delta)
            l0, u0 = r._bounds(a0)
            lo = np.maximum(lo, np.nextafter(l0 - d_hi, -np.inf))
            hi = np.minimum(hi, np.nextafter(u0 - d_lo, np.inf))
            hi = np.maximum(lo, hi)
        kinked = not last and layer.activation in KINKED
        if self.tighten and k >= 1 and kinked:
            for j in np.flatnonzero((lo < 0) & (hi > 0)):
                lo[j], hi[j] = r._tighten(prev, w[j], b[j], lo[j], hi[j])
        a = m.add_cols(lo, hi)
        for j in range(layer.outputs):
            m.add_row(np.concatenate([[a[j]], prev]), np.concatenate([[1.0], -w[j]]), b[j], b[j])
        if self.paired:
            rows = [m.add_row([a0[j], a[j]], [1.0, -1.0], d_lo[j], d_hi[j]) for j in range(layer.outputs)]
            open_pair = ((l0 < 0) & (u0 > 0)) | ((lo < 0) & (hi > 0))
            if self.tighten and k >= 1 and kinked:
                d_lo, d_hi = r._tighten_rows(rows, [a0, a], open_pair)
            pending = {"d": (d_lo, d_hi), "first": (l0, u0), "open": open_pair, "pre": (a0, a)}
        self.pending = {"bounds": (lo, hi), **pending}
        return a

    def _shared(self, k: int) -> np.ndarray:
        r = self.relax
        for j in range(self.net.layers[k].outputs):
            r.units[(self.t, k, j)] = r.units[(0, k, j)]
        r.layer_cols[self.t].append(r.layer_cols[0][k])
        self.delta = (np.zeros(self.net.layers[k].outputs), np.zeros(self.net.layers[k].outputs))
        return r.layer_cols[0][k][1]

    def _finish(self, k: int, a: np.ndarray, h: np.ndarray, difference_bounds, chords: bool = False) -> np.ndarray:
        """Record the layer's columns and, for paired twins, the rows bounding h_first - h_second.

        ``chords`` (relu): also the rows of :func:`difference.relu_pair_hull` (or, where the hull is flat, the
        chords of :func:`difference.relu_chords` in d = a_first - a_second), for the pairs whose difference is
        not fixed by both phases.
        """
        r, m = self.relax, self.model
        r.layer_cols[self.t].append((a, h))
        if self.paired:
            if difference_bounds is None:
                self.delta = self.pending["d"]
            else:
                h0 = r.layer_cols[0][k][1]
                delta = difference_bounds()
                rows = [m.add_row([h0[j], h[j]], [1.0, -1.0], delta[0][j], delta[1][j]) for j in range(len(h))]
                if chords:
                    self._chord_rows(k, h0, h)
                if self.tighten and k >= 1 and TIGHTEN_OUTPUT_DIFFERENCES:
                    delta = r._tighten_rows(rows, [h0, h], self.pending["open"])
                self.delta = delta
        return h

    def _chord_rows(self, k: int, h0: np.ndarray, h: np.ndarray) -> None:
        m = self.model
        (d_lo, d_hi), (l0, u0), (lo, hi) = self.pending["d"], self.pending["first"], self.pending["bounds"]
        a0, a = self.pending["pre"]
        fixed = ((l0 >= 0) & (lo >= 0)) | ((u0 <= 0) & (hi <= 0))
        for j in np.flatnonzero(~fixed):
            hull = difference.relu_pair_hull(l0[j], u0[j], lo[j], hi[j], d_lo[j], d_hi[j]) if PAIR_HULLS else []
            for normal, rhs in hull:
                row = m.add_row([a0[j], a[j], h0[j], h[j]], normal, -np.inf, rhs)
                for t, weight in ((0, normal[2]), (self.t, normal[3])):
                    if weight:
                        self.relax.hull_rows.setdefault((t, k, j), []).append((row, abs(float(weight))))
            if hull:
                continue
            s_up, c_up, s_low, c_low = difference.relu_chords(d_lo[j], d_hi[j])
            cols = [h0[j], h[j], a0[j], a[j]]
            m.add_row(cols, [1.0, -1.0, -s_up, s_up], -np.inf, c_up)
            m.add_row(cols, [1.0, -1.0, -s_low, s_low], c_low, np.inf)

    def linear(self, k: int, layer, a: np.ndarray) -> np.ndarray:
        if k < self.shared:
            return self._shared(k)
        lo, hi = self.pending["bounds"]
        for j, col in enumerate(a):
            self.relax.units[(self.t, k, j)] = Unit((self.t, k, j), "linear", col, col, lo[j], hi[j])
        return self._finish(k, a, a, None)

    def relu(self, k: int, layer, a: np.ndarray) -> np.ndarray:
        if k < self.shared:
            return self._shared(k)
        m, t = self.model, self.t
        lo, hi = self.pending["bounds"]
        h = m.add_cols(np.maximum(lo, 0.0), np.maximum(hi, 0.0))
        for j in range(len(a)):
            link = tri = None
            if lo[j] >= 0:
                link = m.add_row([h[j], a[j]], [1.0, -1.0], 0.0, 0.0)
            elif hi[j] > 0:
                link = m.add_row([h[j], a[j]], [1.0, -1.0], 0.0, np.inf)
                s = up(Fraction(hi[j]) / (Fraction(hi[j]) - Fraction(lo[j])))
                tri = m.add_row([h[j], a[j]], [1.0, -s], -np.inf, up(-Fraction(s) * Fraction(lo[j])))
            self.relax.units[(t, k, j)] = Unit((t, k, j), "relu", a[j], h[j], lo[j], hi[j], link, tri)

        def differences():
            (d_lo, d_hi), (l0, u0) = self.pending["d"], self.pending["first"]
            return difference.relu(d_lo, d_hi, l0, u0, lo, hi)
        return self._finish(k, a, h, differences, chords=True)

    def leaky_relu(self, k: int, layer, a: np.ndarray) -> np.ndarray:
        """h = a (active) or alpha·a (inactive); open units get h >= a, h >= alpha·a and the chord above."""
        if k < self.shared:
            return self._shared(k)
        m, t = self.model, self.t
        alpha = Fraction(layer.alpha)
        slope = float(alpha)   # exact: alpha is the rational of a float
        lo, hi = self.pending["bounds"]
        h_lo = np.where(lo >= 0, lo, round_down(slope * np.minimum(lo, 0.0)))
        h_hi = np.where(hi >= 0, hi, round_up(slope * np.minimum(hi, 0.0)))
        h = m.add_cols(h_lo, h_hi)
        for j in range(len(a)):
            link = tri = low_link = None
            if lo[j] >= 0:
                link = m.add_row([h[j], a[j]], [1.0, -1.0], 0.0, 0.0)
            elif hi[j] <= 0:
                low_link = m.add_row([h[j], a[j]], [1.0, -slope], 0.0, 0.0)
            else:
                link = m.add_row([h[j], a[j]], [1.0, -1.0], 0.0, np.inf)
                low_link = m.add_row([h[j], a[j]], [1.0, -slope], 0.0, np.inf)
                l, u = Fraction(lo[j]), Fraction(hi[j])
                s = up((u - alpha * l) / (u - l))
                # a line of slope s above both ends of the convex leaky relu lies above it on [lo, hi]
                offset = up(max(alpha * l - Fraction(s) * l, u - Fraction(s) * u))
                tri = m.add_row([h[j], a[j]], [1.0, -s], -np.inf, offset)
            self.relax.units[(t, k, j)] = Unit((t, k, j), "leaky_relu", a[j], h[j], lo[j], hi[j], link, tri, slope, low_link)

        def differences():   # leaky(a1) - leaky(a2) lies between alpha·d and d
            d_lo, d_hi = self.pending["d"]
            return (np.where(d_lo < 0, d_lo, round_down(slope * np.maximum(d_lo, 0.0))),
                    np.where(d_hi > 0, d_hi, round_up(slope * np.minimum(d_hi, 0.0))))
        return self._finish(k, a, h, differences)
