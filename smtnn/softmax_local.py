"""Local ε (Eq. 11) of a softmax network where the perturbation decouples: the largest change of any class probability.

At a fixed input x0, when no free parameter lies before the last hidden layer, the last hidden
layer's activations h range over a box (each unit's row of parameters is its own, and its
pre-activation is affine in them), and given h every output row is free on its own.  So for a
class c, with P_c = 1 / (1 + Σ_{j≠c} exp(z_j - z_c)),

- the largest P_c needs min over h of L(h) = log Σ_j exp(min_{row j} z_j(h) - max_{row c} z_c(h)); on
  every orthant of the h-box the exponents are affine in h, so L is a log-sum-exp of affine
  functions, convex: a float minimizer ĥ gives a certified lower bound from the tangent plane at ĥ,
  L >= L(ĥ) + ∇L(ĥ)·(h - ĥ), minimized over the box in interval arithmetic;
- the smallest P_c needs max over h of the same with the rows at their other ends; each exponent is
  convex in h, so the maximum is at a vertex of the h-box: a branch and bound over the units'
  two ends, each open node bounded by the exponents' separate maxima, certified in interval
  arithmetic at the end.

Every lower end is the exact replay of concrete parameters: the hidden rows interpolated so that
the units take the optimizer's values, the output rows at their corners.  (Without hidden units
perturbed, h is a point and both problems are closed forms.)
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import mpmath
import numpy as np

from .bounds import decouples
from .exact import Enclosure
from .float_first import exact_logits
from .semantics import walk
from .semantics.enclosures import EnclosureDomain
from .semantics.integers import DenominatorTooLarge, RationalParameterDomain, common_integers

Q = Fraction
ZERO = Q(0)
IV = mpmath.iv
MAX_SPLIT_UNITS = 8
"""Hidden units whose range crosses 0 split the rise problem into orthants: at most 2^8 of them."""
MAX_NODES = 20_000
MAX_DENOMINATOR_BITS = 1 << 16


@dataclass
class Change:
    """The largest change of a class probability: certified [lower, upper], the parameters attaining `lower`."""

    lower: Fraction
    upper: Fraction
    witness: tuple
    witness_change: Enclosure
    method: str
    reason: str = ""


def applies(network, perturbation) -> bool:
    return (not network.binary and network.piecewise_linear and decouples(network, perturbation))


def _iv(q: Fraction):
    return IV.mpf(q.numerator) / q.denominator


def softmax_probability(logits: Sequence[Enclosure], c: int) -> Enclosure:
    """Certified enclosure of exp(z_c) / Σ_j exp(z_j) over enclosures of the logits."""
    lo_terms = sum((IV.exp(_iv(z.hi - logits[c].lo)) for j, z in enumerate(logits) if j != c), IV.mpf(0))
    hi_terms = sum((IV.exp(_iv(z.lo - logits[c].hi)) for j, z in enumerate(logits) if j != c), IV.mpf(0))
    return Enclosure(Enclosure.of_mpi(1 / (1 + lo_terms)).lo, Enclosure.of_mpi(1 / (1 + hi_terms)).hi)


class _Structure:
    """The h-box of the last hidden layer at x0 and the output rows' parameter intervals (all exact)."""

    def __init__(self, network, perturbation, x: Sequence[Fraction]):
        self.network, self.perturbation = network, perturbation
        lower, upper, nominal = list(perturbation.lower), list(perturbation.upper), list(perturbation.nominal)
        self.lower, self.upper, self.nominal = lower, upper, nominal
        slices = network.layer_slices()
        self.out_w, self.out_b = slices[-1]
        self.k = network.n_outputs
        if len(network.layers) == 1:
            self.h_lo = self.h_hi = [Q(v) for v in x]
            self.rows = None
        else:
            split = len(network.layers) - 2
            u = [Q(v) for v in x]
            if split:
                u = _nominal_prefix(network, nominal, u, split)
            layer = network.layers[-2]
            ws, bs = slices[-2]
            self.u, self.layer = u, layer
            self.h_lo, self.h_hi, self.a_lo, self.a_hi, self.rows = [], [], [], [], []
            for r in range(layer.outputs):
                low_row, high_row = {}, {}
                a_lo = a_hi = ZERO
                for j, v in enumerate(u):
                    i = ws.start + r * layer.inputs + j
                    small, large = (lower[i], upper[i]) if v >= 0 else (upper[i], lower[i])
                    low_row[i], high_row[i] = small, large
                    a_lo += small * v
                    a_hi += large * v
                ib = bs.start + r
                low_row[ib], high_row[ib] = lower[ib], upper[ib]
                a_lo += lower[ib]
                a_hi += upper[ib]
                self.a_lo.append(a_lo)
                self.a_hi.append(a_hi)
                self.h_lo.append(self._act(a_lo))
                self.h_hi.append(self._act(a_hi))
                self.rows.append((low_row, high_row))
        self.n = len(self.h_lo)

    def _act(self, a: Fraction) -> Fraction:
        kind = self.layer.activation
        if kind == "relu":
            return max(a, ZERO)
        if kind == "leaky_relu":
            return a if a >= 0 else Q(self.layer.alpha) * a
        return a

    def w(self, j: int, k: int) -> tuple[Fraction, Fraction]:
        i = self.out_w.start + j * self.n + k
        return self.lower[i], self.upper[i]

    def b(self, j: int) -> tuple[Fraction, Fraction]:
        i = self.out_b.start + j
        return self.lower[i], self.upper[i]

    # exponents z_j - z_c with rows at chosen ends, per unit as a function of h_k's sign
    def slope(self, c: int, j: int, k: int, rise: bool, positive: bool) -> Fraction:
        """d/dh_k of (extreme of z_j) - (extreme of z_c) on the side of 0 given by `positive`.

        rise: z_j at its smallest, z_c at its largest; fall: the other way round.
        """
        (jl, jh), (cl, ch) = self.w(j, k), self.w(c, k)
        if rise:
            return (jl - ch) if positive else (jh - cl)
        return (jh - cl) if positive else (jl - ch)

    def offset(self, c: int, j: int, rise: bool) -> Fraction:
        (jl, jh), (cl, ch) = self.b(j), self.b(c)
        return (jl - ch) if rise else (jh - cl)

    def exponent(self, c: int, j: int, h: Sequence[Fraction], rise: bool) -> Fraction:
        return self.offset(c, j, rise) + sum((self.slope(c, j, k, rise, v >= 0) * v for k, v in enumerate(h) if v),
                                             ZERO)

    def parameters(self, c: int, h: Sequence[Fraction], rise: bool) -> tuple[Fraction, ...]:
        """Parameters in the box whose hidden units take the values h and whose output rows sit at the ends used."""
        params = list(self.nominal)
        if self.rows is not None:
            for k, target in enumerate(h):
                low_row, high_row = self.rows[k]
                lam = self._fraction_of(k, target)
                for i in low_row:
                    params[i] = low_row[i] + lam * (high_row[i] - low_row[i])
        for k, v in enumerate(h):
            positive = v >= 0
            for j in range(self.k):
                lo, hi = self.w(j, k)
                largest = (j == c) == rise   # rise: z_c large, the others small; fall: the reverse
                use_hi = positive if largest else not positive
                params[self.out_w.start + j * self.n + k] = hi if use_hi else lo
        for j in range(self.k):
            lo, hi = self.b(j)
            params[self.out_b.start + j] = hi if (j == c) == rise else lo
        return tuple(params)

    def _fraction_of(self, k: int, target: Fraction) -> Fraction:
        """λ in [0, 1] with act(a_lo + λ (a_hi - a_lo)) = target (target within [h_lo, h_hi])."""
        a_lo, a_hi = self.a_lo[k], self.a_hi[k]
        if a_hi == a_lo:
            return ZERO
        kind = self.layer.activation
        if kind == "relu":
            a = target if target > 0 else a_lo
        elif kind == "leaky_relu":
            alpha = Q(self.layer.alpha)
            a = target if target >= 0 else (target / alpha if alpha else a_lo)
        else:
            a = target
        return min(max((a - a_lo) / (a_hi - a_lo), ZERO), Q(1))


def _nominal_prefix(network, nominal: Sequence[Fraction], x: Sequence[Fraction], stop: int) -> list[Fraction]:
    """The exact activations of layer stop - 1 at the nominal parameters (integer arithmetic when it fits)."""
    try:
        value = walk(network, RationalParameterDomain(network, nominal, MAX_DENOMINATOR_BITS),
                     common_integers(list(x), MAX_DENOMINATOR_BITS), stop=stop)
        return value.fractions()
    except DenominatorTooLarge:
        return [e.lo for e in walk(network, EnclosureDomain(network, nominal, nominal),
                                   [Enclosure.point(v) for v in x], stop=stop)]


def local_change(network, perturbation, x: Sequence[Fraction], tolerance: Fraction,
                 z0: Sequence[Enclosure] | None = None) -> Change | None:
    """max over c of max |P_c(x0, p) - P_c(x0, p0)| certified, or None when the structure does not apply.

    ``z0``: the nominal logits at x0 when the caller has them.
    """
    if not applies(network, perturbation):
        return None
    s = _Structure(network, perturbation, x)
    crossing = [k for k in range(s.n) if s.h_lo[k] < 0 < s.h_hi[k]]
    if len(crossing) > MAX_SPLIT_UNITS:
        return None
    z0 = z0 if z0 is not None else exact_logits(network, x)
    p0 = [softmax_probability(z0, c) for c in range(s.k)]
    best_lo, best_hi, best = ZERO, ZERO, None
    notes = set()
    for c in range(s.k):
        others = [j for j in range(s.k) if j != c]
        rise_bound, rise_h = _rise(s, c, others, crossing)
        fall_bound, fall_h, exhausted = _fall(s, c, others)
        if not exhausted:
            notes.add("the branch and bound over hidden-unit ends stopped early (upper end from open nodes)")
        # certified ends: P_c <= 1 / (1 + exp(rise_bound)), P_c >= 1 / (1 + exp(fall_bound))
        p_max = Enclosure.of_mpi(1 / (1 + IV.exp(_iv(rise_bound)))).hi
        p_min = Enclosure.of_mpi(1 / (1 + IV.exp(_iv(fall_bound)))).lo
        best_hi = max(best_hi, p_max - p0[c].lo, p0[c].hi - p_min)
        for h, rise in ((rise_h, True), (fall_h, False)):
            params = s.parameters(c, h, rise)
            zw = exact_logits(network, x, params)
            pw = softmax_probability(zw, c)
            change = max(pw.lo - p0[c].hi, p0[c].lo - pw.hi)
            if best is None or change > best_lo:
                best_lo = max(change, ZERO)
                best = (params, Enclosure(best_lo, max(pw.hi - p0[c].lo, p0[c].hi - pw.lo)))
    method = ("exact: hidden-unit box at x0 (decoupled parameters), convex log-sum-exp minimum with a certified "
              "tangent bound and a branch and bound over unit ends, exact replay")
    reason = "; ".join(sorted(notes)) if best_hi - best_lo > tolerance else ""
    return Change(best_lo, max(best_hi, best_lo), best[0], best[1], method, reason)


def _rise(s: _Structure, c: int, others: Sequence[int], crossing: Sequence[int]):
    """Certified lower bound of min_h L(h) over the h-box and the best h found (rationals)."""
    best_bound, best_h, best_value = None, None, None
    for mask in range(1 << len(crossing)):
        lo, hi = list(s.h_lo), list(s.h_hi)
        for bit, k in enumerate(crossing):
            if mask >> bit & 1:
                lo[k] = ZERO
            else:
                hi[k] = ZERO
        signs = [not (hi[k] <= 0 and lo[k] < 0) for k in range(s.n)]
        a = np.array([[float(s.slope(c, j, k, True, signs[k])) for k in range(s.n)] for j in others])
        a = a.reshape(len(others), s.n)
        beta = np.array([float(s.offset(c, j, True)) for j in others])
        point = _minimize_lse(a, beta, np.array([float(v) for v in lo]), np.array([float(v) for v in hi]))
        h = [min(max(Q(float(v)), l), u) for v, l, u in zip(point, lo, hi)]
        bound, value = _tangent_bound(s, c, others, h, lo, hi, signs)
        best_bound = bound if best_bound is None else min(best_bound, bound)
        if best_value is None or value < best_value:
            best_value, best_h = value, h
    return best_bound, best_h


def _minimize_lse(a: np.ndarray, beta: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A float minimizer of log Σ_j exp(a_j·h + β_j) over the box (convex): L-BFGS-B."""
    if a.shape[1] == 0 or np.all(lo == hi):
        return lo.copy()
    from scipy.optimize import minimize

    def value_and_gradient(h):
        e = a @ h + beta
        m = e.max()
        w = np.exp(e - m)
        total = w.sum()
        return m + np.log(total), a.T @ (w / total)

    start = (lo + hi) / 2
    result = minimize(value_and_gradient, start, jac=True, method="L-BFGS-B", bounds=list(zip(lo, hi)),
                      options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 500})
    return np.clip(result.x, lo, hi)


def _tangent_bound(s: _Structure, c: int, others, h, lo, hi, signs) -> tuple[Fraction, Fraction]:
    """L(h) >= L(ĥ) + ∇L(ĥ)·(h - ĥ) on the orthant box (L is convex there).

    Returns the certified minimum of the right-hand side over the box and the upper end of L(ĥ).
    """
    exps = [IV.exp(_iv(s.exponent(c, j, h, True))) for j in others]
    total = sum(exps, IV.mpf(0))
    value = IV.log(total)
    bound = value
    for k in range(s.n):
        if lo[k] == hi[k]:
            continue
        g = sum((_iv(s.slope(c, j, k, True, signs[k])) * e for j, e in zip(others, exps)), IV.mpf(0)) / total
        down = g * _iv(lo[k] - h[k])
        up = g * _iv(hi[k] - h[k])
        bound = bound + IV.mpf([min(down.a, up.a), min(down.a, up.a)])
    return Enclosure.of_mpi(bound).lo, Enclosure.of_mpi(value).hi


def _fall(s: _Structure, c: int, others: Sequence[int]):
    """Certified upper bound of max_h L'(h) (convex in h: at a vertex) and the best vertex, by branch and bound."""
    free = [k for k in range(s.n) if s.h_lo[k] != s.h_hi[k]]
    fixed_h = list(s.h_lo)

    def term(j: int, k: int, v: Fraction) -> Fraction:
        return s.slope(c, j, k, False, v >= 0) * v

    # per (j, k): the exponent's contribution at each end of unit k, and its larger one
    ends = {(j, k): (term(j, k, s.h_lo[k]), term(j, k, s.h_hi[k])) for j in others for k in free}
    base = {j: s.offset(c, j, False) + sum((term(j, k, fixed_h[k]) for k in range(s.n) if k not in free), ZERO)
            for j in others}
    ends_f = {key: (float(a), float(b)) for key, (a, b) in ends.items()}
    base_f = {j: float(v) for j, v in base.items()}

    def float_bound(assigned: dict) -> float:
        exps = []
        for j in others:
            e = base_f[j]
            for k in free:
                pair = ends_f[(j, k)]
                e += pair[assigned[k]] if k in assigned else max(pair)
            exps.append(e)
        m = max(exps)
        return m + float(np.log(np.sum(np.exp(np.array(exps) - m))))

    order = sorted(free, key=lambda k: -max(abs(ends_f[(j, k)][1] - ends_f[(j, k)][0]) for j in others))
    best_value, best_assign = None, {}
    leaves = []
    stack = [{}]
    nodes = 0
    exhausted = True
    while stack:
        assigned = stack.pop()
        nodes += 1
        bound = float_bound(assigned)
        if len(assigned) == len(free):
            if best_value is None or bound > best_value:
                best_value, best_assign = bound, assigned
            leaves.append(assigned)
            continue
        if best_value is not None and bound <= best_value + 1e-12 * (1 + abs(best_value)):
            leaves.append(assigned)
            continue
        if nodes > MAX_NODES:
            exhausted = False
            leaves.append(assigned)
            continue
        k = order[len(assigned)]
        for end in (0, 1):
            stack.append({**assigned, k: end})
    certified = None
    for assigned in leaves:
        total = IV.mpf(0)
        for j in others:
            e = base[j]
            for k in free:
                pair = ends[(j, k)]
                e += pair[assigned[k]] if k in assigned else max(pair)
            total += IV.exp(_iv(e))
        upper = Enclosure.of_mpi(IV.log(total)).hi
        certified = upper if certified is None else max(certified, upper)
    vertex = list(fixed_h)
    for k in free:
        vertex[k] = s.h_hi[k] if best_assign.get(k, 1) else s.h_lo[k]
    return certified, vertex, exhausted
