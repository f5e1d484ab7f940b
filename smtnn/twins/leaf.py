"""Exact optimum of a small LP: a float basis from HiGHS, verified (or repaired by Z3) in rationals.

At a leaf of the branch and bound every relu phase is fixed, so the objective and the phase
constraints are affine in the inputs: maximize g·v + g0 over v = (x, t) in a box subject to
p_r·v + q_r >= 0.  HiGHS proposes a basis; the vertex and its duals are then recomputed
exactly and checked (primal feasibility, dual signs).  If the check fails (degeneracy, a bad
float basis), an exact optimizer (Z3's, chosen by capability) solves the same LP.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .linalg import solve
from .lp import LinearModel, highspy
from ..rounding import float_down as down, float_up as up


@dataclass(frozen=True)
class LeafLP:
    """maximize g·v + g0 over lower <= v <= upper with p_r·v + q_r >= 0 (all exact)."""

    lower: tuple[Fraction, ...]
    upper: tuple[Fraction, ...]
    rows: tuple[tuple[tuple[Fraction, ...], Fraction], ...]
    g: tuple[Fraction, ...]
    g0: Fraction


@dataclass(frozen=True)
class LeafOptimum:
    """The exact optimum (value, point) or why it could not be certified."""

    ok: bool
    infeasible: bool = False
    value: Fraction | None = None
    point: tuple[Fraction, ...] | None = None
    method: str = ""
    reason: str = ""


def solve_leaf(lp: LeafLP, optimizer_timeout: float | None = 10.0, optimizer=None) -> LeafOptimum:
    """Exact optimum of the leaf LP; 'infeasible' is reported as ok=False with that reason.

    ``optimizer``: a backend with an exact optimizer over formulas (the caller selects it by capability),
    used when HiGHS's basis cannot be verified; without one such a leaf stays undecided.
    """
    guess = _float_basis(lp)
    if guess is None:
        why = "HiGHS found no optimal basis"
    elif guess == "infeasible":
        why = "HiGHS reports the leaf infeasible"
    else:
        checked = _verify(lp, *guess)
        if checked.ok:
            return checked
        why = checked.reason
    if optimizer is None:
        return LeafOptimum(False, reason=f"{why}; no exact optimizer given")
    return _exact_optimizer(lp, optimizer, optimizer_timeout, why)


def _float_basis(lp: LeafLP):
    """(at_lower, at_upper, free, active rows) from a float solve, or None / 'infeasible'."""
    n = len(lp.lower)
    model = LinearModel()
    model.add_cols([down(v) for v in lp.lower], [up(v) for v in lp.upper])
    for p, q in lp.rows:
        nz = [j for j in range(n) if p[j]]
        model.add_row(nz, [float(p[j]) for j in nz], -float(q), math.inf)
    cost = -np.array([float(v) for v in lp.g])
    if model.backend == "highspy":
        sol = model.minimize(cost)
        if not sol.ok:
            return "infeasible" if "nfeasible" in sol.status else None
        basis = model._highs.getBasis()
        col, row = list(basis.col_status), list(basis.row_status)
        lower = [j for j in range(n) if col[j] == highspy.HighsBasisStatus.kLower]
        upper = [j for j in range(n) if col[j] == highspy.HighsBasisStatus.kUpper]
        free = [j for j in range(n) if col[j] == highspy.HighsBasisStatus.kBasic]
        active = [r for r in range(len(row)) if row[r] != highspy.HighsBasisStatus.kBasic]
        if len(lower) + len(upper) + len(free) != n:
            return None
        return lower, upper, free, active
    sol = model.minimize(cost)
    if not sol.ok:
        return "infeasible" if "nfeasible" in sol.status else None
    v = sol.point
    scale = 1e-9 * (1 + np.abs(v))
    lower = [j for j in range(n) if abs(v[j] - float(lp.lower[j])) <= scale[j]]
    upper = [j for j in range(n) if j not in lower and abs(v[j] - float(lp.upper[j])) <= scale[j]]
    free = [j for j in range(n) if j not in lower and j not in upper]
    slack = model.matrix() @ v - np.array(model.row_lo)
    active = sorted(range(len(lp.rows)), key=lambda r: slack[r])[:len(free)]
    return lower, upper, free, active


def _verify(lp: LeafLP, lower, upper, free, active) -> LeafOptimum:
    """Recompute the vertex and its duals exactly; ok only if all optimality conditions hold."""
    if len(active) != len(free):
        return LeafOptimum(False, reason=f"basis has {len(active)} active rows for {len(free)} free variables")
    v = [Fraction(0)] * len(lp.lower)
    for j in lower:
        v[j] = lp.lower[j]
    for j in upper:
        v[j] = lp.upper[j]
    if free:
        m = [[lp.rows[r][0][j] for j in free] for r in active]
        rhs = [-lp.rows[r][1] - sum((lp.rows[r][0][j] * v[j] for j in range(len(v)) if j not in free and lp.rows[r][0][j]), Fraction(0))
               for r in active]
        sol = solve(m, rhs)
        if sol is None:
            return LeafOptimum(False, reason="singular basis")
        for j, val in zip(free, sol):
            v[j] = val
        # duals of max g·v: g_F + sum_r lam_r p_rF = 0 with lam >= 0
        mt = [[lp.rows[r][0][j] for r in active] for j in free]
        lam = solve(mt, [-lp.g[j] for j in free])
        if lam is None:
            return LeafOptimum(False, reason="singular dual basis")
        if any(val < 0 for val in lam):
            return LeafOptimum(False, reason="basis is not dual feasible")
    else:
        lam = []
    for j in range(len(v)):
        if not lp.lower[j] <= v[j] <= lp.upper[j]:
            return LeafOptimum(False, reason="vertex outside the box")
        if j in free:
            continue
        reduced = lp.g[j] + sum((l * lp.rows[r][0][j] for l, r in zip(lam, active) if l), Fraction(0))
        if lp.lower[j] != lp.upper[j] and ((j in lower and reduced > 0) or (j in upper and reduced < 0)):
            return LeafOptimum(False, reason="basis is not dual feasible at a bound")
    for p, q in lp.rows:
        if sum((a * b for a, b in zip(p, v) if a), Fraction(0)) + q < 0:
            return LeafOptimum(False, reason="vertex violates a phase constraint")
    value = sum((a * b for a, b in zip(lp.g, v) if a), Fraction(0)) + lp.g0
    return LeafOptimum(True, False, value, tuple(v), "verified basis")


def _exact_optimizer(lp: LeafLP, backend, timeout: float | None, why: str) -> LeafOptimum:
    """The leaf LP on a backend with an exact optimizer; its optimum is re-checked."""
    from pysmt.environment import Environment
    from pysmt.typing import REAL

    from ..backends.base import Status, Terms

    backend.require("an exact leaf optimum", exact=True, optimization=True, formulas=True)
    terms = Terms(Environment())
    m = terms.mgr
    v = [m.Symbol(f"v{j}", REAL) for j in range(len(lp.lower))]

    def affine(coeffs, constant):
        return m.Plus([m.Times(m.Real(a), var) for a, var in zip(coeffs, v) if a] + [m.Real(constant)])

    region = [m.And(m.LE(m.Real(lo), var), m.LE(var, m.Real(hi))) for var, lo, hi in zip(v, lp.lower, lp.upper)]
    region += [m.GE(affine(p, c), m.Real(0)) for p, c in lp.rows]
    session = backend.session(terms)
    session.add(m.And(region))
    answer = session.maximize(affine(lp.g, lp.g0), timeout)
    name = backend.name
    if answer.status is Status.UNSAT:
        return LeafOptimum(False, True, reason=f"infeasible ({name})", method=name)
    if answer.status is not Status.SAT:
        return LeafOptimum(False, reason=f"{why}; {answer.reason}", method=name)
    point = tuple(min(max(answer.model.get(f"v{j}", lo), lo), hi) for j, (lo, hi) in enumerate(zip(lp.lower, lp.upper)))
    value = sum((a * b for a, b in zip(lp.g, point) if a), Fraction(0)) + lp.g0
    if value != answer.value or any(sum((a * b for a, b in zip(p, point) if a), Fraction(0)) + c < 0 for p, c in lp.rows):
        return LeafOptimum(False, reason=f"{why}; {name} optimum does not replay", method=name)
    return LeafOptimum(True, False, value, point, f"{name} optimize ({why})")
