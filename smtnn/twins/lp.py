"""A growing linear program over float data, solved by HiGHS, with a rigorous dual bound.

The model is min c·v subject to row_lo <= A v <= row_hi and col_lo <= v <= col_hi, all data floats.
HiGHS (through ``highspy``, or ``scipy.optimize.linprog(method='highs')`` when highspy is missing)
returns a solution and row duals y.  Whatever y is, weak duality gives the valid bound
    min c·v >= sum_r min(y_r lo_r, y_r hi_r) + sum_i min_{v_i in [lo_i, hi_i]} (c - A^T y)_i v_i,
which :func:`certified_min` evaluates with a-priori rounding-error bounds, so the returned
Fraction is a true lower bound of the LP optimum, not a rounded one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.sparse as sp

from ..rounding import sum_error

try:  # pragma: no cover - exercised when highspy is installed
    import highspy
except ImportError:  # pragma: no cover
    highspy = None


@dataclass
class Solution:
    """A solved LP: status, float optimum, primal point and the certified lower bound."""

    ok: bool
    value: float
    point: np.ndarray
    bound: Fraction | None
    status: str
    infeasible: bool = False   # certified by a Farkas ray
    duals: np.ndarray | None = None
    basis: object = None       # HiGHS's optimal basis, to warm-start related LPs


class LinearModel:
    """Columns and rows added over time; bounds may be overridden per solve (branching)."""

    def __init__(self, backend: str | None = None):
        self.col_lo: list[float] = []
        self.col_hi: list[float] = []
        self.row_lo: list[float] = []
        self.row_hi: list[float] = []
        self._blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []   # rows added together: CSR parts
        self._csr = None
        self._transpose = None
        self.backend = backend or ("highspy" if highspy is not None else "scipy")
        self._highs = None
        self._synced = (0, 0)
        self._pushed = None   # the costs and bounds HiGHS holds now (after _push)
        self._time_limit = math.inf   # HiGHS's time_limit option now (on its cumulative run clock)
        self.devex = False   # dual simplex pricing: HiGHS's default (steepest edge) or Devex (see branching)

    @property
    def n_cols(self) -> int:
        return len(self.col_lo)

    @property
    def n_rows(self) -> int:
        return len(self.row_lo)

    def add_cols(self, lo, hi) -> np.ndarray:
        start = self.n_cols
        self.col_lo += np.asarray(lo, dtype=float).tolist()
        self.col_hi += np.asarray(hi, dtype=float).tolist()
        self._csr = None
        return np.arange(start, self.n_cols)

    def add_row(self, cols, vals, lo: float, hi: float) -> int:
        cols = np.asarray(cols, dtype=np.int32)
        self._add_block(np.array([0, len(cols)]), cols, np.asarray(vals, dtype=float), [lo], [hi])
        return self.n_rows - 1

    def add_rows(self, cols: np.ndarray, vals: np.ndarray, lo, hi) -> np.ndarray:
        """Rows of equal length at once (row i has entries vals[i] in columns cols[i]); their indices."""
        cols = np.asarray(cols, dtype=np.int32)
        count, length = len(cols), (cols.shape[1] if cols.ndim == 2 else 0)
        return self._add_block(np.arange(count + 1) * length, cols.ravel(), np.asarray(vals, dtype=float).ravel(), lo, hi)

    def add_matrix(self, matrix: sp.csr_matrix, lo, hi) -> np.ndarray:
        """The rows of a CSR matrix (over this model's columns) at once; their indices."""
        return self._add_block(np.asarray(matrix.indptr), np.asarray(matrix.indices, dtype=np.int32),
                               np.asarray(matrix.data, dtype=float), lo, hi)

    def _add_block(self, indptr: np.ndarray, cols: np.ndarray, vals: np.ndarray, lo, hi) -> np.ndarray:
        start = self.n_rows
        self._blocks.append((indptr, cols, vals))
        self.row_lo += np.asarray(lo, dtype=float).tolist()
        self.row_hi += np.asarray(hi, dtype=float).tolist()
        self._csr = None
        return np.arange(start, self.n_rows)

    def transposes(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """A^T and |A|^T (cached until the model grows)."""
        a = self.matrix()
        if self._transpose is None or self._transpose[0].shape != (a.shape[1], a.shape[0]):
            at = a.T.tocsr()
            self._transpose = (at, abs(at))
        return self._transpose

    def matrix(self) -> sp.csr_matrix:
        if self._csr is None or self._csr.shape != (self.n_rows, self.n_cols):
            self._csr = sp.csr_matrix(_stacked(self._blocks), shape=(self.n_rows, self.n_cols))
        return self._csr

    # -- solving ---------------------------------------------------------------------------
    def minimize(self, cost: np.ndarray, col_bounds: dict | None = None, row_bounds: dict | None = None,
                 basis=None, time_limit: float | None = None) -> Solution:
        """Minimize cost·v with optional {index: (lo, hi)} overrides; bound is certified (None if no duals).

        ``basis`` (from an earlier Solution of this model) warm-starts HiGHS; ``time_limit`` (seconds of this solve)
        stops HiGHS, which then gives no bound.
        """
        col_lo, col_hi = np.array(self.col_lo), np.array(self.col_hi)
        row_lo, row_hi = np.array(self.row_lo), np.array(self.row_hi)
        for i, (lo, hi) in (col_bounds or {}).items():
            col_lo[i], col_hi[i] = lo, hi
        for r, (lo, hi) in (row_bounds or {}).items():
            row_lo[r], row_hi[r] = lo, hi
        if (col_lo > col_hi).any() or (row_lo > row_hi).any():
            return Solution(False, math.inf, np.zeros(0), None, "infeasible bounds")
        if self.backend == "highspy":
            ok, value, x, y, status = self._solve_highs(cost, col_lo, col_hi, row_lo, row_hi, basis, time_limit)
        else:
            ok, value, x, y, status = self._solve_scipy(cost, col_lo, col_hi, row_lo, row_hi)
        if isinstance(y, str):   # the scipy path certified infeasibility itself
            return Solution(False, math.inf, x, None, status, infeasible=True)
        if y is None:
            if "nfeasible" in status and self.backend == "highspy":
                has, ray = self._highs.getDualRay()[1:]
                if has and self.certify_infeasible(np.asarray(ray), row_lo, row_hi, col_lo, col_hi):
                    return Solution(False, math.inf, x, None, status, infeasible=True)
            return Solution(ok, value, x, None, status)
        bound = certified_min(self.transposes(), cost, y, row_lo, row_hi, col_lo, col_hi)
        optimal = self._highs.getBasis() if self.backend == "highspy" else None
        return Solution(ok, value, x, bound, status, duals=y, basis=optimal)

    def certify_infeasible(self, ray: np.ndarray, row_lo, row_hi, col_lo, col_hi) -> bool:
        """True when the multipliers ±ray prove (rigorously) that no point satisfies the rows and bounds."""
        zero = np.zeros(self.n_cols)
        for y in (ray, -ray):
            bound = certified_min(self.transposes(), zero, y, row_lo, row_hi, col_lo, col_hi)
            if bound is not None and bound > 0:
                return True
        return False

    def branching(self) -> None:
        """Prepare for many re-solves from given bases that differ by a few bounds (branch and bound nodes).

        HiGHS's default dual pricing (steepest edge) recomputes its weights after every setBasis, which costs
        more than the few dozen simplex iterations a child node needs; Devex pricing starts at once.
        """
        self.devex = True
        if self._highs is not None:
            self._highs.setOptionValue("simplex_dual_edge_weight_strategy", 1)

    def release(self) -> None:
        """Drop the HiGHS instance (its memory); the next solve rebuilds it from the model."""
        self._highs, self._synced, self._pushed, self._time_limit = None, (0, 0), None, math.inf

    def copy(self) -> "LinearModel":
        """An independent copy (its HiGHS instance is rebuilt on the first solve)."""
        other = LinearModel(self.backend)
        other.devex = self.devex
        other.col_lo, other.col_hi = list(self.col_lo), list(self.col_hi)
        other.row_lo, other.row_hi = list(self.row_lo), list(self.row_hi)
        other._blocks = list(self._blocks)
        return other

    def _solve_highs(self, cost, col_lo, col_hi, row_lo, row_hi, basis=None, time_limit=None):
        h = self._sync()
        # HiGHS (before 2.0) compares time_limit with its run clock summed over every run of the instance
        limit = math.inf if time_limit is None else h.getRunTime() + max(float(time_limit), 0.001)
        if limit != self._time_limit:
            h.setOptionValue("time_limit", limit)
            self._time_limit = limit
        if basis is not None:
            h.setBasis(basis)
        n, m = self.n_cols, self.n_rows
        self._push(h, np.asarray(cost, dtype=float), col_lo, col_hi, _inf(row_lo, h), _inf(row_hi, h))
        h.run()
        status = h.getModelStatus()
        name = h.modelStatusToString(status)
        if status != highspy.HighsModelStatus.kOptimal:
            return False, math.nan, np.zeros(n), None, name
        sol = h.getSolution()
        value = h.getInfo().objective_function_value
        y = np.array(sol.row_dual, dtype=float) if m else np.zeros(0)
        return True, value, np.array(sol.col_value, dtype=float), y, name

    def _push(self, h, cost, col_lo, col_hi, row_lo, row_hi) -> None:
        """Send HiGHS only the costs and bounds that differ from its current ones (few, between branch and bound
        nodes): HiGHS then keeps more of its simplex state than after a wholesale change."""
        pushed = self._pushed
        if pushed is None or len(pushed[0]) != len(cost) or len(pushed[3]) != len(row_lo):
            n, m = len(cost), len(row_lo)
            h.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
            h.changeColsBounds(n, np.arange(n, dtype=np.int32), col_lo, col_hi)
            if m:
                h.changeRowsBounds(m, np.arange(m, dtype=np.int32), row_lo, row_hi)
        else:
            old_cost, old_lo, old_hi, old_rlo, old_rhi = pushed
            idx = np.flatnonzero(cost != old_cost).astype(np.int32)
            if len(idx):
                h.changeColsCost(len(idx), idx, cost[idx])
            idx = np.flatnonzero((col_lo != old_lo) | (col_hi != old_hi)).astype(np.int32)
            if len(idx):
                h.changeColsBounds(len(idx), idx, col_lo[idx], col_hi[idx])
            idx = np.flatnonzero((row_lo != old_rlo) | (row_hi != old_rhi)).astype(np.int32)
            if len(idx):
                h.changeRowsBounds(len(idx), idx, row_lo[idx], row_hi[idx])
        self._pushed = (cost.copy(), col_lo, col_hi, row_lo, row_hi)

    def _sync(self):
        if self._highs is None:
            self._highs = quiet_highs()
            self._highs.setOptionValue("output_flag", False)
            self._highs.setOptionValue("presolve", "off")
            if self.devex:
                self._highs.setOptionValue("simplex_dual_edge_weight_strategy", 1)
        h = self._highs
        n0, blocks0 = self._synced
        if self.n_cols > n0:
            k = self.n_cols - n0
            h.addCols(k, np.zeros(k), np.array(self.col_lo[n0:]), np.array(self.col_hi[n0:]), 0,
                      np.zeros(k, np.int32), np.zeros(0, np.int32), np.zeros(0))
        if len(self._blocks) > blocks0:
            m0 = self.n_rows - sum(len(indptr) - 1 for indptr, _, _ in self._blocks[blocks0:])
            vals, idx, indptr = _stacked(self._blocks[blocks0:])
            h.addRows(len(indptr) - 1, _inf(np.array(self.row_lo[m0:]), h), _inf(np.array(self.row_hi[m0:]), h),
                      len(idx), indptr[:-1].astype(np.int32), idx.astype(np.int32), vals)
        self._synced = (self.n_cols, len(self._blocks))
        return h

    def _solve_scipy(self, cost, col_lo, col_hi, row_lo, row_hi):
        ok, value, x, y, status = _linprog(self.matrix(), cost, col_lo, col_hi, row_lo, row_hi)
        if status == "infeasible":   # the elastic LP's duals are a Farkas certificate candidate
            m, n = self.n_rows, self.n_cols
            elastic = sp.hstack([self.matrix(), sp.identity(m), -sp.identity(m)]).tocsr()
            e_cost = np.concatenate([np.zeros(n), np.ones(2 * m)])
            e_ok, _, _, e_y, _ = _linprog(elastic, e_cost, np.concatenate([col_lo, np.zeros(2 * m)]),
                                          np.concatenate([col_hi, np.full(2 * m, np.inf)]), row_lo, row_hi)
            if e_ok and self.certify_infeasible(e_y, row_lo, row_hi, col_lo, col_hi):
                return False, math.inf, x, "certified infeasible", status
        return ok, value, x, y, status


def _stacked(blocks: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, indices, indptr) of the rows of CSR blocks one below the other."""
    if not blocks:
        return np.zeros(0), np.zeros(0, np.int32), np.zeros(1, np.int64)
    ends = np.cumsum([0] + [indptr[-1] for indptr, _, _ in blocks])
    indptr = np.concatenate([[0]] + [indptr[1:] + end for (indptr, _, _), end in zip(blocks, ends)])
    return (np.concatenate([vals for _, _, vals in blocks]), np.concatenate([cols for _, cols, _ in blocks]),
            indptr.astype(np.int64))


def _linprog(A: sp.csr_matrix, cost, col_lo, col_hi, row_lo, row_hi):
    """scipy.optimize.linprog(method='highs') on row_lo <= A v <= row_hi: (ok, value, v, row duals, status)."""
    from scipy.optimize import linprog

    eq = row_lo == row_hi
    upper = ~eq & np.isfinite(row_hi)
    lower = ~eq & np.isfinite(row_lo)
    A_ub = sp.vstack([A[upper], -A[lower]]) if (upper.any() or lower.any()) else None
    b_ub = np.concatenate([row_hi[upper], -row_lo[lower]]) if A_ub is not None else None
    res = linprog(cost, A_ub=A_ub, b_ub=b_ub, A_eq=A[eq] if eq.any() else None,
                  b_eq=row_lo[eq] if eq.any() else None, bounds=list(zip(col_lo, col_hi)), method="highs")
    if res.status != 0:
        return False, math.nan, np.zeros(A.shape[1]), None, "infeasible" if res.status == 2 else res.message
    y = np.zeros(A.shape[0])
    if eq.any():
        y[eq] = res.eqlin.marginals
    if A_ub is not None:
        marg = res.ineqlin.marginals
        k = int(upper.sum())
        y[upper] += marg[:k]
        y[lower] -= marg[k:]
    return True, float(res.fun), np.asarray(res.x, dtype=float), y, "Optimal"


def _inf(values: np.ndarray, h) -> np.ndarray:
    out = np.array(values, dtype=float)
    out[np.isposinf(out)] = h.getInfinity()
    out[np.isneginf(out)] = -h.getInfinity()
    return out


def certified_min(transposes, cost, y, row_lo, row_hi, col_lo, col_hi) -> Fraction | None:
    """A rigorous lower bound of min cost·v over the LP from any row multipliers y (None if unbounded).

    ``transposes`` is (A^T, |A|^T) as CSR matrices.
    """
    y = np.array(y, dtype=float)
    y[(y > 0) & ~np.isfinite(row_lo)] = 0.0
    y[(y < 0) & ~np.isfinite(row_hi)] = 0.0
    cost = np.asarray(cost, dtype=float)
    if not cost.any() and not y.any():
        return Fraction(0)
    At, abs_At = transposes
    s = At @ y
    mag = abs_At @ np.abs(y) + np.abs(cost)
    nnz = np.diff(At.indptr) + 1
    g = cost - s
    e = sum_error(nnz, mag)
    g_lo = np.nextafter(g - e, -np.inf)
    g_hi = np.nextafter(g + e, np.inf)
    corners = np.stack([g_lo * col_lo, g_lo * col_hi, g_hi * col_lo, g_hi * col_hi])
    col_terms = corners.min(axis=0)
    col_mag = np.abs(corners).max(axis=0)
    row_terms = np.where(y > 0, y * np.where(np.isfinite(row_lo), row_lo, 0.0),
                         np.where(y < 0, y * np.where(np.isfinite(row_hi), row_hi, 0.0), 0.0))
    terms = np.concatenate([col_terms, row_terms])
    if not np.isfinite(terms).all():
        return None
    total = math.fsum(terms)
    err = float(sum_error(len(terms), math.fsum(np.concatenate([col_mag, np.abs(row_terms)]))))
    return Fraction(total) - Fraction(err)


def quiet_highs():
    """A Highs object without the banner its constructor prints on file descriptor 1 (stdout stays JSON-clean)."""
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
        return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
