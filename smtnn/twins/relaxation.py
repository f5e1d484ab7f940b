"""The triangle LP relaxation of relu/linear networks sharing one input box.

Columns: the inputs x, per hidden unit its pre-activation a and output h, per network its
logits z.  Rows: a = W h_prev + b, z = W_out h_last + b_out (exact float data), and per relu
unit by its certified bounds [lo, hi]: h = 0 (lo >= ... hi <= 0), h = a (lo >= 0) or the
triangle h >= 0, h >= a, h <= s (a - lo) with s = hi / (hi - lo) rounded up.  Bounds come
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
from . import intervals
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
        for k, layer in enumerate(net.layers):
            w, b = layer.weights, layer.bias
            lo, hi = intervals.affine(w, b, *self._bounds(prev))
            last = k == len(net.layers) - 1
            if tighten and k >= 1 and not last and layer.activation == "relu":
                for j in np.flatnonzero((lo < 0) & (hi > 0)):
                    lo[j], hi[j] = self._tighten(prev, w[j], b[j], lo[j], hi[j])
            a = m.add_cols(lo, hi)
            for j in range(layer.outputs):
                m.add_row(np.concatenate([[a[j]], prev]), np.concatenate([[1.0], -w[j]]), b[j], b[j])
            if last:
                self.logits.append(a)
                return
            prev = self._activate(t, k, layer.activation, a, lo, hi)

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
            link = None
            if lo[j] >= 0:
                link = m.add_row([h[j], a[j]], [1.0, -1.0], 0.0, 0.0)
            elif hi[j] > 0:
                link = m.add_row([h[j], a[j]], [1.0, -1.0], 0.0, np.inf)
                s = up(Fraction(hi[j]) / (Fraction(hi[j]) - Fraction(lo[j])))
                m.add_row([h[j], a[j]], [1.0, -s], -np.inf, up(-Fraction(s) * Fraction(lo[j])))
            self.units[(t, k, j)] = Unit((t, k, j), kind, a[j], h[j], lo[j], hi[j], link)
        return h

    # -- queries -------------------------------------------------------------------------------
    def unstable(self, net: int | None = None) -> list[Unit]:
        return [u for u in self.units.values() if u.unstable and (net is None or u.key[0] == net)]

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
