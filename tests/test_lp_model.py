"""LinearModel's rows added one by one, in equal-length blocks and as CSR matrices, some after a solve.

The oracle is the dense matrix written row by row here and scipy's linprog on it: the model's matrix must equal it,
and its certified bound must lie below linprog's optimum and close to it, also after rows were added to a model
HiGHS already holds (the incremental sync).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from smtnn.twins.lp import LinearModel


def _random_rows(rng, count: int, n: int) -> list[tuple[list[int], list[float]]]:
    rows = []
    for _ in range(count):
        cols = sorted(rng.choice(n, size=3, replace=False).tolist())
        rows.append((cols, rng.normal(size=3).tolist()))
    return rows


def _dense(rows, n: int) -> np.ndarray:
    out = np.zeros((len(rows), n))
    for i, (cols, vals) in enumerate(rows):
        out[i, cols] = vals
    return out


def _model(rng, drop: int | None = None):
    """A model over 6 columns whose 9 rows arrive in three ways (one row, a block, a CSR matrix), a solve in between;
    with ``drop`` the CSR part silently loses one row (a planted wrong assembly)."""
    n = 6
    rows = _random_rows(rng, 9, n)
    m = LinearModel()
    m.add_cols(-np.ones(n), np.ones(n))
    m.add_row(rows[0][0], rows[0][1], -1.0, 1.0)
    m.add_rows(np.array([c for c, _ in rows[1:5]]), np.array([v for _, v in rows[1:5]]), -np.ones(4), np.ones(4))
    cost = rng.normal(size=n)
    m.minimize(cost)
    csr_rows = [r for i, r in enumerate(rows[5:]) if i != drop]
    m.add_matrix(sp.csr_matrix(_dense(csr_rows, n)), -np.ones(len(csr_rows)), np.ones(len(csr_rows)))
    return m, _dense(rows, n), cost


def test_rows_in_blocks_build_the_written_matrix_and_bound_the_optimum():
    rng = np.random.default_rng(0)
    for _ in range(5):
        m, dense, cost = _model(rng)
        assert np.array_equal(m.matrix().toarray(), dense)
        sol = m.minimize(cost)
        exact = linprog(cost, A_ub=np.vstack([dense, -dense]), b_ub=np.ones(2 * len(dense)),
                        bounds=[(-1, 1)] * dense.shape[1], method="highs").fun
        assert sol.bound is not None and float(sol.bound) <= exact + 1e-12
        assert exact - float(sol.bound) <= 1e-7


def test_a_dropped_row_is_caught():
    rng = np.random.default_rng(1)
    m, dense, _ = _model(rng, drop=1)
    assert m.matrix().shape != dense.shape or not np.array_equal(m.matrix().toarray(), dense)
