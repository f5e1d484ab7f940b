"""The triangle LP relaxation of relu/linear networks sharing one input box.

Columns: the inputs x, per hidden unit its pre-activation a and output h, per network its
logits z.  Rows: a = W h_prev + b, z = W_out h_last + b_out (exact float data), and per relu
unit by its certified bounds [lo, hi]: h = 0 (hi <= 0), h = a (lo >= 0) or the triangle
h >= 0, h >= a, h <= s (a - lo) with s = hi / (hi - lo) rounded up.  Leading layers the
second network shares exactly with the first share their columns (identical twins cancel);
same-shaped twins are linked by rows bounding a1 - a2 and h1 - h2 (:mod:`.difference`).  Bounds come
from sound interval propagation, tightened (``tighten=True``) by certified LP bounds layer by
layer.  Any linear objective in the logits is then bounded rigorously (:mod:`.lp`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..domain import Box
from ..network import Network
from . import difference, intervals
from .lp import LinearModel, Solution
from .rounding import down, up

Key = tuple[int, int, int]   # (network, hidden layer, unit)


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

    @property
    def height(self) -> float:
        """Largest gap between the triangle and relu: -lo * hi / (hi - lo)."""
        return -self.lo * self.hi / (self.hi - self.lo) if self.unstable else 0.0

    @property
    def unstable(self) -> bool:
        return self.kind == "relu" and self.lo < 0 < self.hi


@dataclass(frozen=True)
class Bound:
    """A certified bound of a linear objective over the relaxation, with the LP's input point."""

    bound: Fraction | None
    value: float
    point: np.ndarray | None
    status: str


def _common_prefix(a: Network, b: Network) -> int:
    """How many leading layers two networks share exactly (weights, biases, activation)."""
    n = 0
    for la, lb in zip(a.layers, b.layers):
        last_a, last_b = n == len(a.layers) - 1, n == len(b.layers) - 1
        if last_a != last_b or la.activation != lb.activation or la.weights.shape != lb.weights.shape:
            break
        if not (np.array_equal(la.weights, lb.weights) and np.array_equal(la.bias, lb.bias)):
            break
        n += 1
    return n


class Relaxation:
    """The LP relaxation of ``networks`` (same inputs) over ``box``."""

    def __init__(self, networks: Sequence[Network], box: Box, *, tighten: bool = True, backend: str | None = None):
        start = time.perf_counter()
        self.networks = tuple(networks)
        self.box = box
        self.model = LinearModel(backend)
        self.x = self.model.add_cols([down(v) for v in box.lower], [up(v) for v in box.upper])
        self.units: dict[Key, Unit] = {}
        self.logits: list[np.ndarray] = []
        self.layer_cols: list[list[tuple[np.ndarray, np.ndarray]]] = []   # per network, per hidden layer: (a, h)
        self.lp_calls = 0
        for t, net in enumerate(self.networks):
            self._add_network(t, net, tighten)
        self.seconds = time.perf_counter() - start

    # -- construction ------------------------------------------------------------------------
    def _bounds(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = self.model
        return np.array([m.col_lo[c] for c in cols]), np.array([m.col_hi[c] for c in cols])

    def _add_network(self, t: int, net: Network, tighten: bool) -> None:
        m = self.model
        prev = self.x
        shared = _common_prefix(self.networks[0], net) if t else 0
        paired = t == 1 and difference.compatible(self.networks[0], net)
        delta = (np.zeros(net.n_inputs), np.zeros(net.n_inputs))
        self.layer_cols.append([])
        for k, layer in enumerate(net.layers):
            last = k == len(net.layers) - 1
            if k < shared:   # the same layer on the same inputs: share its columns (and phases)
                if last:
                    self.logits.append(self.logits[0])
                    return
                for j in range(layer.outputs):
                    self.units[(t, k, j)] = self.units[(0, k, j)]
                self.layer_cols[t].append(self.layer_cols[0][k])
                prev = self.layer_cols[0][k][1]
                delta = (np.zeros(layer.outputs), np.zeros(layer.outputs))
                continue
            w, b = layer.weights, layer.bias
            lo, hi = intervals.affine(w, b, *self._bounds(prev))
            if paired:   # d = a_first - a_second, so a_second lies in a_first - d
                first = self.networks[0].layers[k]
                a0 = self.logits[0] if last else self.layer_cols[0][k][0]
                h0_prev = self.layer_cols[0][k - 1][1] if k else self.x
                d_lo, d_hi = difference.affine(first.weights, first.bias, w, b, *self._bounds(h0_prev), *delta)
                l0, u0 = self._bounds(a0)
                lo = np.maximum(lo, np.nextafter(l0 - d_hi, -np.inf))
                hi = np.minimum(hi, np.nextafter(u0 - d_lo, np.inf))
                hi = np.maximum(lo, hi)
            if tighten and k >= 1 and not last and layer.activation == "relu":
                for j in np.flatnonzero((lo < 0) & (hi > 0)):
                    lo[j], hi[j] = self._tighten(prev, w[j], b[j], lo[j], hi[j])
            a = m.add_cols(lo, hi)
            for j in range(layer.outputs):
                m.add_row(np.concatenate([[a[j]], prev]), np.concatenate([[1.0], -w[j]]), b[j], b[j])
            if paired:
                rows = [m.add_row([a0[j], a[j]], [1.0, -1.0], d_lo[j], d_hi[j]) for j in range(layer.outputs)]
                open_pair = ((l0 < 0) & (u0 > 0)) | ((lo < 0) & (hi > 0))
                if tighten and k >= 1 and not last and layer.activation == "relu":
                    d_lo, d_hi = self._tighten_rows(rows, [a0, a], open_pair)
            if last:
                self.logits.append(a)
                return
            prev = self._activate(t, k, layer.activation, a, lo, hi)
            self.layer_cols[t].append((a, prev))
            if paired:
                if layer.activation == "relu":
                    delta = difference.relu(d_lo, d_hi, l0, u0, lo, hi)
                    h0 = self.layer_cols[0][k][1]
                    rows = [m.add_row([h0[j], prev[j]], [1.0, -1.0], delta[0][j], delta[1][j]) for j in range(layer.outputs)]
                    if tighten and k >= 1:
                        delta = self._tighten_rows(rows, [h0, prev], open_pair)
                else:
                    delta = (d_lo, d_hi)

    def _tighten_rows(self, rows: list[int], cols: list[np.ndarray], which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Certified LP bounds of first - second on the difference rows of the `which` units (tightening their ranges)."""
        m = self.model
        for j, r in enumerate(rows):
            if not which[j] or m.row_hi[r] - m.row_lo[r] <= 1e-9:
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

    def _tighten(self, prev: np.ndarray, row: np.ndarray, bias: float, lo: float, hi: float) -> tuple[float, float]:
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

    def _activate(self, t: int, k: int, kind: str, a: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        m = self.model
        if kind == "linear":
            for j, col in enumerate(a):
                self.units[(t, k, j)] = Unit((t, k, j), kind, col, col, lo[j], hi[j])
            return a
        h = m.add_cols(np.maximum(lo, 0.0), np.maximum(hi, 0.0))
        for j in range(len(a)):
            link = tri = None
            if lo[j] >= 0:
                link = m.add_row([h[j], a[j]], [1.0, -1.0], 0.0, 0.0)
            elif hi[j] > 0:
                link = m.add_row([h[j], a[j]], [1.0, -1.0], 0.0, np.inf)
                s = up(Fraction(hi[j]) / (Fraction(hi[j]) - Fraction(lo[j])))
                tri = m.add_row([h[j], a[j]], [1.0, -s], -np.inf, up(-Fraction(s) * Fraction(lo[j])))
            self.units[(t, k, j)] = Unit((t, k, j), kind, a[j], h[j], lo[j], hi[j], link, tri)
        return h

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
        """Column and row bound changes fixing some relu phases (True: active, False: inactive)."""
        cols, rows = {}, {}
        for key, active in (phases or {}).items():
            u = self.units[key]
            if active:
                cols[u.a] = (max(u.lo, 0.0), u.hi)
                if u.link is not None:
                    rows[u.link] = (0.0, 0.0)
            else:
                cols[u.a] = (u.lo, min(u.hi, 0.0))
                cols[u.h] = (0.0, 0.0)
        return cols, rows

    def minimize(self, coeffs: Sequence[Sequence[int]], phases: dict[Key, bool] | None = None) -> Bound:
        """Certified lower bound of c1·z1 + c2·z2 over the relaxation (with phases fixed)."""
        cols, rows = self.overrides(phases)
        sol: Solution = self.model.minimize(self.cost(coeffs), cols, rows)
        self.lp_calls += 1
        point = sol.point[self.x] if sol.ok else None
        return Bound(sol.bound, sol.value, point, sol.status)

    def maximize(self, coeffs: Sequence[Sequence[int]], phases: dict[Key, bool] | None = None) -> Bound:
        """Certified upper bound of c1·z1 + c2·z2 over the relaxation."""
        low = self.minimize([[-v for v in c] for c in coeffs], phases)
        return Bound(None if low.bound is None else -low.bound, -low.value, low.point, low.status)

    def interval(self, coeffs: Sequence[Sequence[int]]) -> tuple[Fraction, Fraction]:
        """The interval-arithmetic bounds of c1·z1 + c2·z2 from the logits' certified ranges."""
        lo = hi = Fraction(0)
        for cols, cs in zip(self.logits, coeffs):
            for col, c in zip(cols, cs):
                if c:
                    ends = (c * Fraction(self.model.col_lo[col]), c * Fraction(self.model.col_hi[col]))
                    lo, hi = lo + min(ends), hi + max(ends)
        return lo, hi
