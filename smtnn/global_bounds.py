"""Eq. 12 (global ε) for one hidden ReLU layer without splitting the input box: slabs of the nominal logit.

With one hidden layer every hidden neuron j owns its parameters (row W_j, bias b_j, output
weight v_j), so at a fixed x the extremes of the logit over the parameter box are closed forms:
the pre-activation ranges over [L_j(x), U_j(x)] with U_j(x) = mid_j·x + rad_j·|x| + b_hi_j
(convex) and L_j(x) = mid_j·x - rad_j·|x| + b_lo_j (concave), and

    z_max(x) = c_hi + sum_j (v_hi_j relu(U_j(x)) if v_hi_j >= 0 else v_hi_j relu(L_j(x))),
    z_min(x) = c_lo + sum_j (v_lo_j relu(L_j(x)) if v_lo_j >= 0 else v_lo_j relu(U_j(x))).

Eq. 12 is then max over x in D of σ(z_max) - σ(z0) and σ(z0) - σ(z_min), all three logits piecewise
linear in x.  Since σ(t + Δ) - σ(t) has one peak (at t = -Δ/2), a slab t1 <= z0(x) <= t2 of the
nominal logit is bounded through one number, the largest logit change Δ in the slab:

    max over the slab <= max over t in [t1, t2] of σ(t + Δ*) - σ(t),   Δ* >= max Δ(x) on the slab.

Δ* is the certified optimum (weak duality from HiGHS's duals, :func:`smtnn.twins.lp.certified_min`)
of a linear relaxation over x, |x|, the nominal and the perturbed pre-activations and their ReLUs.
The same duals, with the slab's row pinned to one value of the nominal logit, bound Δ along the slab by a line
(:meth:`_Search._slab_line`); where the LP's optimum presses on one end of the slab the bound follows that line
(:func:`slab_bound`) instead of taking Δ* at the σ-change's peak.
Each unit's pair of pre-activations differs by a gap e >= 0 (U - a or a - L), so with l the lower of the
pair its contribution to Δ is T = c_u·relu(l + e) + c_l·relu(l): zero for l <= -e, a ramp up to the kink
at 0, a slope of order δ beyond.  Besides each relu's chord the relaxation carries two cuts through
(l_lo, 0) (valid when e's upper end e_hi on the node is at most -l_lo): relu(l + e) - relu(l) <= e_hi·(l - l_lo)/(-l_lo),
and T <= m·(l - l_lo) with m the largest secant slope of T from l_lo (reached at the kink or at l_hi).
Without them a unit far below its kink counts its whole gap e and the δ·relu(a) part its chord.
Each nominal relu(a_j), a_j = w_j·x + b_j, is tied to x itself over the node's box, not only to a_j: on small networks
(units × inputs <= HULL_SIZE) by its exact convex hull in Balas's disjunctive form (a copy x1 of x and a phase weight z:
relu(a_j) = w_j·x1 + b_j z, x1 in z·box, x - x1 in (1 - z)·box), otherwise by the weight z with big-M rows and one
inequality of Anderson et al.'s hull family ("Strong mixed-integer programming formulations for trained neural
networks", 2020), the one most violated at the parent node's LP point (a unit keeps its parent's inequality while that one
is still violated at least KEEP_CUT times as much, so the parent's basis fits the child).  Both are valid for the real phase
indicator z.  The children of one split start their LPs from the previous sibling's optimal basis.
Branch and bound splits slabs, one unit's three phase cases (both active, only the outer one, none)
or the input box along the axis of most influence (the relaxation's violations at the LP optimum,
shared by the axes' parts of the units' ranges; an axis crossing 0 is cut at 0, where |x_i| becomes
exact), whichever loses most at the LP optimum (input-box splits weighted up: they narrow every unit's
range at once, and at 8-12 inputs they lower the bound faster per LP than phase splits).  Every LP coefficient is a float rounded so that each point
of the real problem (x, |x|, exact activations) is feasible and its objective is not undervalued.
Lower ends come from exact replay of each direction's optimal parameter corner at the best inputs found:
coordinate ascent from the best corners and samples, then from the LP optima of the nodes.
"""
from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .domain import Box
from .network import Network
from .perturbation import Perturbation
from .result import Witness
from .search import epsilon_at
from .rounding import UNIT, float_down, float_up, round_down, round_up, sum_error
from .twins.lp import certified_min, quiet_highs

Q = Fraction
ASCENTS = 128
AXIS_WEIGHT = 3.0
KEEP_CUT = 0.5     # a unit keeps its parent's cut while that cut is violated at least this share as much as the best
HULL_SIZE = 256   # units × inputs up to which every nominal relu gets its hull (4·d rows each); above, one cut per unit
METHOD = ("slabs of the nominal logit with branch and bound over ReLU phases and input boxes (HiGHS LPs with relu hulls, certified duals)"
          " + exact corner replay")


def applies(network: Network, perturbation: Perturbation, domain: Box) -> bool:
    """One hidden ReLU layer, one sigmoid output, a parameter box around the trained values, D of 3 or more inputs.

    2-D domains stay with input-box branch and bound (it converges there in seconds); D's ends must be
    binary64 numbers (the LP works on floats).
    """
    return (network.binary and len(network.layers) == 2 and network.layers[0].activation == "relu"
            and network.n_inputs >= 3 and perturbation.contains(perturbation.nominal)
            and all(Q(float(v)) == v for v in domain.lower + domain.upper))


class _Direction(NamedTuple):
    """Maximize Δ = sum_j coef_j relu(A_j) - sign·z0 + constant (sign +1: z_max - z0; -1: z0 - z_min)."""

    sign: int
    coef: np.ndarray          # rounded up (the g_j are >= 0)
    constant: float           # rounded up
    upper_unit: np.ndarray    # True where A_j = U_j (coefficient >= 0), False where A_j = L_j (coefficient <= 0)
    x_coef: np.ndarray        # (n, d) float mid
    s_up: np.ndarray          # A_j <= x_coef·x + s_up·|x| + b_up
    b_up: np.ndarray
    s_down: np.ndarray        # A_j >= x_coef·x + s_down·|x| + b_down
    b_down: np.ndarray
    # floats for the candidate search (nearest, not rounded)
    v_float: np.ndarray
    c_float: float
    s_float: np.ndarray
    b_float: np.ndarray


@dataclass
class _Node:
    direction: int            # index into the directions
    t1: float
    t2: float
    nominal_phase: np.ndarray  # -1, 0 (undecided), +1 per neuron
    perturbed_phase: np.ndarray
    box: np.ndarray            # (2, d): the node's input box, rows lower and upper
    bound: float = math.inf
    delta: float | None = None         # the certified Δ* of its LP (None: the LP failed)
    point: np.ndarray | None = None    # the LP's optimal point
    guide: np.ndarray | None = None    # the parent's LP point (where the relu cuts are separated)
    basis: object = None               # the LP's optimal basis (the parent's, before the node is solved)
    line: tuple | None = None          # Δ* along the slab from the LP's duals (see _Search._slab_line)
    cuts: np.ndarray | None = None     # the units' Anderson subsets in the LP (the parent's, before the node is solved)


def _float_vector(values, round_fn) -> np.ndarray:
    return np.array([round_fn(v) for v in values], dtype=float)


class _Problem:
    """The float data of one network, perturbation and domain (see the module docstring)."""

    def __init__(self, network: Network, perturbation: Perturbation, domain: Box):
        hidden, out = network.layers
        n, d = hidden.weights.shape
        self.network, self.perturbation, self.domain = network, perturbation, domain
        self.n, self.d = n, d
        (ws, bs), (vs, cs) = network.layer_slices()
        lo, hi = perturbation.lower, perturbation.upper
        self.w0 = hidden.weights.astype(float)
        self.b0 = hidden.bias.astype(float)
        self.v0 = out.weights[0].astype(float)
        self.c0 = float(out.bias[0])
        self.dlo = _float_vector(domain.lower, float_up)     # D's ends as floats inside D
        self.dhi = _float_vector(domain.upper, float_down)
        w_lo, w_hi = lo[ws], hi[ws]
        mid = [(a + b) / 2 for a, b in zip(w_lo, w_hi)]
        rad = [(b - a) / 2 for a, b in zip(w_lo, w_hi)]
        mid_f = np.array([float(m) for m in mid])
        err = np.array([float_up(abs(m - Q(f))) for m, f in zip(mid, mid_f)])
        rad_up = _float_vector(rad, float_up)
        rad_down = _float_vector(rad, float_down)
        mid_f, err, rad_up, rad_down = (a.reshape(n, d) for a in (mid_f, err, rad_up, rad_down))
        b_hi, b_lo = list(hi[bs]), list(lo[bs])
        v_hi, v_lo = list(hi[vs]), list(lo[vs])
        c_hi, c_lo = hi[cs][0], lo[cs][0]
        c0 = Q(self.c0)
        u_rows = (round_up(rad_up + err), _float_vector(b_hi, float_up), round_down(rad_down - err), _float_vector(b_hi, float_down))
        l_rows = (round_up(-rad_down + err), _float_vector(b_lo, float_up), round_down(-rad_up - err), _float_vector(b_lo, float_down))
        rad_f = np.array([float(r) for r in rad]).reshape(n, d)
        self.directions = []
        for sign in (1, -1):
            if sign > 0:
                upper_unit = np.array([v >= 0 for v in v_hi])
                coef_exact, constant = v_hi, c_hi - c0
            else:
                upper_unit = np.array([v < 0 for v in v_lo])
                coef_exact, constant = [-v for v in v_lo], c0 - c_lo
            pick = upper_unit[:, None]
            s_up = np.where(pick, u_rows[0], l_rows[0])
            b_up = np.where(upper_unit, u_rows[1], l_rows[1])
            s_down = np.where(pick, u_rows[2], l_rows[2])
            b_down = np.where(upper_unit, u_rows[3], l_rows[3])
            self.directions.append(_Direction(
                sign, _float_vector(coef_exact, float_up), float_up(constant), upper_unit, mid_f, s_up, b_up, s_down, b_down,
                np.array([float(v) for v in coef_exact]), float(constant),
                np.where(pick, rad_f, -rad_f), np.array([float(b) for b in np.where(upper_unit, b_hi, b_lo)], dtype=float)))

    # -- float evaluation (candidates only; never a bound) ------------------------------------
    def nominal_logit(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x @ self.w0.T + self.b0, 0) @ self.v0 + self.c0

    def change(self, x: np.ndarray, k: int) -> np.ndarray:
        """Δ(x) in direction k (float): z_max - z0 or z0 - z_min."""
        dr = self.directions[k]
        pre = x @ dr.x_coef.T + np.abs(x) @ dr.s_float.T + dr.b_float
        return np.maximum(pre, 0) @ dr.v_float + dr.c_float - dr.sign * (self.nominal_logit(x) - self.c0)

    def objective(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Float values of σ(z_max) - σ(z0) and σ(z0) - σ(z_min) per row of x."""
        z0 = self.nominal_logit(x)
        up = _sigmoid(z0 + self.change(x, 0)) - _sigmoid(z0)
        down = _sigmoid(z0) - _sigmoid(z0 - self.change(x, 1))
        return up, down

    # -- bounds over a node's box ---------------------------------------------------------------
    def input_box(self, box: np.ndarray):
        xl, xu = box
        sl = np.where((xl < 0) & (xu > 0), 0.0, np.minimum(np.abs(xl), np.abs(xu)))
        su = np.maximum(np.abs(xl), np.abs(xu))
        return xl, xu, sl, su


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _sigmoid_up(z: float) -> float:
    s = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
    return s + 1e-13 * s + 1e-300


def _sigmoid_down(z: float) -> float:
    s = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
    return max(s - 1e-13 * s - 1e-300, 0.0)


def _peak_bound(p: float, q: float, delta: float) -> float:
    """An upper bound of max over t in [p, q] of σ(t + Δ) - σ(t) (Δ >= 0): tanh(Δ/4) at the peak t = -Δ/2, else an end."""
    if delta <= 0:
        return 0.0
    peak = -delta / 2
    if p <= peak <= q:
        v = math.tanh(delta / 4)
        return v + 4 * UNIT * v + 1e-300
    t = q if q < peak else p
    return max(_sigmoid_up(round_up(t + delta)) - _sigmoid_down(t), 0.0) * (1 + 4 * UNIT) + 1e-300


def change_bound(sign: int, t1: float, t2: float, delta: float) -> float:
    """Upper bound of the σ-change in direction `sign` where t1 <= z0 <= t2 (a slab) and the logit moves by at most Δ.

    sign +1: σ(z0 + Δ) - σ(z0); sign -1: σ(z0) - σ(z0 - Δ) = σ(s + Δ) - σ(s) with s = z0 - Δ in [t1 - Δ, t2 - Δ].
    """
    if sign > 0:
        return _peak_bound(t1, t2, delta)
    return _peak_bound(round_down(t1 - delta), round_up(t2 - delta), delta)


def _line_upper(line, c0: float, p: float, q: float) -> float:
    """An upper bound over z0 in [p, q] of the interpolation r -> Δ_lo + (Δ_hi - Δ_lo)(r - r_lo)/(r_hi - r_lo) at r = z0 - c0
    (outward-rounded: the fraction is taken at the end where the line is highest and rounded toward it)."""
    r_lo, r_hi, d_lo, d_hi = line
    width = round_down(r_hi - r_lo)
    if not width > 0:
        return max(d_lo, d_hi)
    if d_hi >= d_lo:
        frac = min(1.0, max(0.0, round_up(round_up(round_up(q - c0) - r_lo) / width)))
        return round_up(d_lo + round_up(round_up(d_hi - d_lo) * frac))
    frac = min(1.0, max(0.0, round_down(round_down(round_down(p - c0) - r_lo) / round_up(r_hi - r_lo))))
    return round_up(d_lo - round_down(round_down(d_lo - d_hi) * frac))


SLAB_PIECES, SLAB_REFINES = 8, 32


def slab_bound(sign: int, t1: float, t2: float, delta: float, line, c0: float) -> float:
    """Upper bound of the σ-change on a slab t1 <= z0 <= t2 where Δ <= delta and, if ``line`` is given, Δ <= the line at z0.

    The slab is cut into pieces, each bounded by :func:`change_bound` with the line's largest value on it; the highest
    piece is bisected SLAB_REFINES times, so the bound follows the line near the peak instead of taking Δ* everywhere.
    """
    if line is None or not (math.isfinite(t1) and math.isfinite(t2)) or not t2 > t1:
        return change_bound(sign, t1, t2, delta)

    def piece(p: float, q: float) -> float:
        return change_bound(sign, p, q, max(min(delta, _line_upper(line, c0, p, q)), 0.0))

    cuts = [t1 + (t2 - t1) * k / SLAB_PIECES for k in range(1, SLAB_PIECES)]
    ends = [t1] + [c for c in cuts if t1 < c < t2] + [t2]
    heap = [(-piece(p, q), p, q) for p, q in zip(ends, ends[1:])]
    heapq.heapify(heap)
    for _ in range(SLAB_REFINES):
        _, p, q = heap[0]
        mid = (p + q) / 2
        if not p < mid < q:
            break
        heapq.heapreplace(heap, (-piece(p, mid), p, mid))
        heapq.heappush(heap, (-piece(mid, q), mid, q))
    return -heap[0][0]


def _interval(coef, lo, hi):
    """Sound float bounds of sum coef_i·v_i over v in [lo, hi] per row of coef."""
    a, b = coef * lo, coef * hi
    low, high = np.minimum(a, b).sum(axis=-1), np.maximum(a, b).sum(axis=-1)
    pad = sum_error(coef.shape[-1], np.maximum(np.abs(a), np.abs(b)).sum(axis=-1))
    return low - pad, high + pad


def _interval_upper(c_lo, c_hi, lo, hi):
    """Sound float upper bound of sum c_i·v_i over c_i in [c_lo, c_hi] and v in [lo, hi] per row."""
    products = np.maximum(np.maximum(c_lo * lo, c_lo * hi), np.maximum(c_hi * lo, c_hi * hi))
    return products.sum(axis=-1) + sum_error(c_lo.shape[-1], np.abs(products).sum(axis=-1))


def _chord(lo: np.ndarray, hi: np.ndarray):
    """relu(a) <= alpha·a + beta on [lo, hi] (lo < 0 < hi), alpha and beta rounded up (see the proof in the body)."""
    # alpha >= hi / (hi - lo) and beta >= -alpha·lo make the line lie on or above relu at both ends
    alpha = round_up(hi / round_down(hi - lo))
    beta = round_up(alpha * -lo)
    return alpha, beta


class _HighsLP:
    """One HiGHS instance, reloaded per node; bounds certified by weak duality (:func:`smtnn.twins.lp.certified_min`)."""

    def __init__(self):
        import highspy

        self.highspy = highspy
        self.h = quiet_highs()
        self.h.setOptionValue("output_flag", False)
        self.h.setOptionValue("presolve", "off")

    def minimize(self, matrix: sp.csr_matrix, cost, col_lo, col_hi, row_lo, row_hi, basis=None, transposes=None):
        """("optimal" | "infeasible" | other status, certified lower bound of min cost·v or None, point or None, basis,
        row duals or None).

        ``basis`` (of an LP of the same shape, e.g. the parent node's) warm-starts the simplex; ``transposes``
        is (A^T, |A|^T) when the caller has them.
        """
        h, hs = self.h, self.highspy
        h.clearModel()
        inf = h.getInfinity()
        m, n = matrix.shape
        h.addCols(n, np.asarray(cost, dtype=float), col_lo, col_hi, 0, np.zeros(0, np.int32), np.zeros(0, np.int32),
                  np.zeros(0))
        h.addRows(m, np.where(np.isneginf(row_lo), -inf, row_lo), np.where(np.isposinf(row_hi), inf, row_hi), matrix.nnz,
                  matrix.indptr[:-1].astype(np.int32), matrix.indices.astype(np.int32), matrix.data)
        if basis is not None:
            h.setBasis(basis)
        h.run()
        status = h.getModelStatus()
        if transposes is None:
            at = matrix.T.tocsr()
            transposes = (at, abs(at))
        if status == hs.HighsModelStatus.kOptimal:
            sol = h.getSolution()
            bound = certified_min(transposes, cost, np.array(sol.row_dual), row_lo, row_hi, col_lo, col_hi)
            return "optimal", bound, np.array(sol.col_value), h.getBasis(), np.array(sol.row_dual)
        if status == hs.HighsModelStatus.kInfeasible:
            has, ray = h.getDualRay()[1:]
            if has:
                ray = np.asarray(ray, dtype=float)
                for y in (ray, -ray):
                    proof = certified_min(transposes, np.zeros(n), y, row_lo, row_hi, col_lo, col_hi)
                    if proof is not None and proof > 0:
                        return "infeasible", None, None, None, None
        return h.modelStatusToString(status), None, None, None, None


class _Search:
    """The nodes' LP relaxations (:meth:`solve`) and the branching rule (:meth:`split`)."""

    def __init__(self, problem: _Problem, tol: float):
        self.p = problem
        self.tol = tol
        self.lps = 0
        n, d = problem.n, problem.d
        # column layout: x, s = |x|, a (nominal pre-activation), A (perturbed), h = relu(a), g = relu(A)
        self.X, self.S = np.arange(d), d + np.arange(d)
        self.A0, self.A1 = 2 * d + np.arange(n), 2 * d + n + np.arange(n)
        self.H, self.G = 2 * d + 2 * n + np.arange(n), 2 * d + 3 * n + np.arange(n)
        self.cols = 2 * d + 4 * n
        # the nominal relus over the node's box: their convex hulls (d + 1 columns and 4d rows per unit) on small
        # networks, else a phase weight per unit with big-M rows and one separated cut (1 column, 3 rows per unit)
        self.hull = n * d <= HULL_SIZE
        self.cut = not self.hull
        self.hull_units = np.arange(n) if self.hull else np.zeros(0, int)
        k = len(self.hull_units)
        base = self.cols + (d + 1) * np.arange(k)
        self.X1, self.Z = base[:, None] + np.arange(d)[None], base + d
        self.cols += (d + 1) * k
        if self.cut:
            self.ZC = self.cols + np.arange(n)
            self.cols += n
        self.lp = _HighsLP()
        self._static: dict = {}
        self._layout: dict = {}

    def ranges(self, node: _Node):
        """Outward-rounded ranges of the nominal and perturbed pre-activations on the node (None: the node is empty)."""
        p, dr = self.p, self.p.directions[node.direction]
        xl, xu, sl, su = p.input_box(node.box)
        a_lo, a_hi = _interval(p.w0, xl, xu)
        a_lo, a_hi = round_down(a_lo + p.b0 - sum_error(1, np.abs(p.b0))), round_up(a_hi + p.b0 + sum_error(1, np.abs(p.b0)))
        lo1, hi1 = _interval(dr.x_coef, xl, xu)
        s_lo, _ = _interval(dr.s_down, sl, su)
        _, s_hi = _interval(dr.s_up, sl, su)
        A_lo = round_down(lo1 + s_lo + dr.b_down - sum_error(3, np.abs(lo1) + np.abs(s_lo) + np.abs(dr.b_down)))
        A_hi = round_up(hi1 + s_hi + dr.b_up + sum_error(3, np.abs(hi1) + np.abs(s_hi) + np.abs(dr.b_up)))
        a_lo = np.where(node.nominal_phase > 0, np.maximum(a_lo, 0.0), a_lo)
        a_hi = np.where(node.nominal_phase < 0, np.minimum(a_hi, 0.0), a_hi)
        A_lo = np.where(node.perturbed_phase > 0, np.maximum(A_lo, 0.0), A_lo)
        A_hi = np.where(node.perturbed_phase < 0, np.minimum(A_hi, 0.0), A_hi)
        if (a_lo > a_hi).any() or (A_lo > A_hi).any():
            return None
        return a_lo, a_hi, A_lo, A_hi

    def gap_upper(self, node: _Node, dr: _Direction) -> np.ndarray:
        """Upper ends over the node's box of each unit's gap e = U - a (upper units) or a - L (lower units)."""
        p = self.p
        xl, xu, sl, su = p.input_box(node.box)
        side = np.where(dr.upper_unit, 1.0, -1.0)
        diff = (dr.x_coef - p.w0) * side[:, None]   # within one rounding of the true difference
        x_part = _interval_upper(round_down(diff), round_up(diff), xl, xu)
        s_part = np.where(dr.upper_unit, _interval(dr.s_up, sl, su)[1], _interval(-dr.s_down, sl, su)[1])
        b_part = round_up(np.where(dr.upper_unit, dr.b_up - p.b0, p.b0 - dr.b_down))
        total = x_part + s_part + b_part
        return np.maximum(round_up(total + sum_error(3, np.abs(x_part) + np.abs(s_part) + np.abs(b_part))), 0.0)

    def solve(self, node: _Node):
        """(certified Δ* or None when the LP failed, LP point or None); Δ* = -inf when the node is empty."""
        ranges = self.ranges(node)
        if ranges is None:
            return -math.inf, None
        if not all(np.isfinite(r).all() for r in ranges):   # an overflow bounds nothing
            return None, None
        matrix, transposes, col_lo, col_hi, row_lo, row_hi = self.model(node, ranges)
        dr = self.p.directions[node.direction]
        cost = np.zeros(self.cols)
        cost[self.G] = -dr.coef
        cost[self.H] = dr.sign * self.p.v0
        self.lps += 1
        status, bound, point, node.basis, duals = self.lp.minimize(matrix, cost, col_lo, col_hi, row_lo, row_hi, node.basis,
                                                                       transposes)
        if status == "infeasible":
            return -math.inf, None
        if bound is None:
            return None, None
        delta = float_up(-bound + Q(dr.constant))
        node.line = self._slab_line(duals, bound, delta, dr, row_lo, row_hi)
        return delta, point

    def _slab_line(self, duals, bound: Fraction, delta: float, dr: _Direction, row_lo, row_hi):
        """Δ* as a function of the nominal logit inside the slab, from the LP's own duals: (r_lo, r_hi, Δ_lo, Δ_hi) or None.

        The slab is the last row, r_lo <= v0·relu(a) <= r_hi (r = z0 - c0).  The duals stay feasible when that row is
        pinned to one value r, and their weak-duality bound is exactly affine in r: it is the certified ``bound`` at the
        end the row's dual y presses on (r_lo where y > 0, else r_hi) and that plus y·(r - end) elsewhere.  So max Δ over
        the relaxation's points at v0·relu(a) = r is at most the interpolation of Δ_lo and Δ_hi.  The line equals Δ* at
        the end the dual presses on and falls away from it, so capping each end by Δ* removes only rounding.  None where
        the row is slack."""
        r_lo, r_hi = row_lo[-1], row_hi[-1]
        if duals is None or duals[-1] == 0 or not (math.isfinite(r_lo) and math.isfinite(r_hi) and r_lo < r_hi):
            return None
        y = Q(float(duals[-1]))
        end = Q(float(r_lo if y > 0 else r_hi))
        ends = [min(float_up(-(bound + y * (Q(float(r)) - end)) + Q(dr.constant)), delta) for r in (r_lo, r_hi)]
        return float(r_lo), float(r_hi), ends[0], ends[1]

    def _static_rows(self, k: int):
        """The rows of direction k that every node shares (columns, values, row bounds per block)."""
        if k in self._static:
            return self._static[k]
        p, dr = self.p, self.p.directions[k]
        n, d = p.n, p.d
        X, S, A0, A1, H, G = self.X, self.S, self.A0, self.A1, self.H, self.G
        one, ones = np.ones(d), np.ones((n, 1))
        xs = np.tile(np.concatenate([X, S]), (n, 1))
        side = np.where(dr.upper_unit, 1.0, -1.0)[:, None]
        blocks = [
            (np.stack([S, X], 1), np.stack([one, -one], 1), np.zeros(d), np.full(d, math.inf)),
            (np.stack([S, X], 1), np.stack([one, one], 1), np.zeros(d), np.full(d, math.inf)),
            (np.hstack([A0[:, None], np.tile(X, (n, 1))]), np.hstack([ones, -p.w0]), p.b0, p.b0),
            (np.hstack([A1[:, None], xs]), np.hstack([ones, -dr.x_coef, -dr.s_up]), np.full(n, -math.inf), dr.b_up),
            (np.hstack([A1[:, None], xs]), np.hstack([ones, -dr.x_coef, -dr.s_down]), dr.b_down, np.full(n, math.inf)),
            (np.stack([A1, A0], 1), np.hstack([side, -side]), np.zeros(n), np.full(n, math.inf)),
            (np.stack([G, H], 1), np.hstack([side, -side]), np.zeros(n), np.full(n, math.inf)),
            (np.stack([G, H, A1, A0], 1), np.hstack([side, -side, -side, side]), np.full(n, -math.inf), np.zeros(n)),
            (np.stack([H, A0], 1), np.hstack([ones, -ones]), np.zeros(n), np.full(n, math.inf)),
            (np.stack([G, A1], 1), np.hstack([ones, -ones]), np.zeros(n), np.full(n, math.inf)),
        ]
        if self.hull:   # relu(a_j) = w_j·x1_j + b_j z_j (x1_j = x and z_j = 1 where a_j >= 0, else both 0)
            u = self.hull_units
            blocks.append((np.hstack([H[u, None], self.X1, self.Z[:, None]]), np.hstack([ones[u], -p.w0[u], -p.b0[u, None]]),
                           np.zeros(len(u)), np.zeros(len(u))))
        self._static[k] = blocks
        return blocks

    def model(self, node: _Node, ranges):
        """The node's linear relaxation as (CSR matrix, column bounds, row bounds).

        Columns x, |x|, a, A, relu(a), relu(A); rows: |x| >= ±x and its chord (exact where x_i keeps
        one sign), a = W0 x + b0, A between its outward-rounded linear forms in (x, |x|), the order
        U >= a >= L, 0 <= relu(U) - relu(a) <= U - a (and the mirror for L: relu is monotone and
        1-Lipschitz), relu >= its argument, relu's chord (or equality where the phase is known), the
        ramp cut (below) and the slab t1 <= v0·relu(a) + c0 <= t2.  Every node has the same rows (a
        row that does not apply gets an infinite bound), so a parent's basis warm-starts its children.
        The matrix and its transposes are the direction's, refilled by every call (valid until the next one).
        """
        p, dr = self.p, self.p.directions[node.direction]
        n, d = p.n, p.d
        xl, xu, sl, su = p.input_box(node.box)
        a_lo, a_hi, A_lo, A_hi = ranges
        col_lo = [xl, sl, a_lo, A_lo, np.maximum(a_lo, 0), np.maximum(A_lo, 0)]
        col_hi = [xu, su, a_hi, A_hi, np.maximum(a_hi, 0), np.maximum(A_hi, 0)]
        if self.hull:
            phase = node.nominal_phase[self.hull_units]
            k = len(phase)
            col_lo += [np.hstack([np.tile(np.minimum(xl, 0.0), (k, 1)), (phase > 0).astype(float)[:, None]]).ravel()]
            col_hi += [np.hstack([np.tile(np.maximum(xu, 0.0), (k, 1)), (phase >= 0).astype(float)[:, None]]).ravel()]
        if self.cut:
            col_lo.append((node.nominal_phase > 0).astype(float))
            col_hi.append((node.nominal_phase >= 0).astype(float))
        col_lo, col_hi = np.concatenate(col_lo), np.concatenate(col_hi)
        X, S, A0, A1, H, G = self.X, self.S, self.A0, self.A1, self.H, self.G
        blocks = list(self._static_rows(node.direction))
        new_layout = node.direction not in self._layout
        # |x_i| <= slope·x_i + offset: the chord on [xl, xu] (|x| - slope·x is convex, so the larger of its values at
        # the ends, rounded up, bounds it), ±x_i exactly where x_i keeps one sign
        crossing = (xl < 0) & (xu > 0)
        slope = np.where(crossing, (xu + xl) / np.where(crossing, xu - xl, 1.0), np.where(xl >= 0, 1.0, -1.0))
        ends = np.maximum(-xl - slope * xl, xu - slope * xu)
        pad = sum_error(2, np.maximum(np.abs(xl) + np.abs(slope * xl), np.abs(xu) + np.abs(slope * xu)))
        offset = np.where(crossing, round_up(ends + pad), 0.0)
        blocks.append((new_layout and np.stack([S, X], 1), np.stack([np.ones(d), -slope], 1), np.full(d, -math.inf), offset))
        if self.hull:
            blocks += self._hull_blocks(xl, xu, new_layout)
        if self.cut:
            blocks += self._cut_blocks(node, xl, xu, a_lo, a_hi, new_layout)
        for pre, post, low, high in ((A0, H, a_lo, a_hi), (A1, G, A_lo, A_hi)):
            crossing = (low < 0) & (high > 0)
            alpha, beta = _chord(np.where(crossing, low, -1.0), np.where(crossing, high, 1.0))
            alpha = np.where(low >= 0, 1.0, np.where(crossing, alpha, 0.0))
            beta = np.where(crossing, beta, 0.0)
            blocks.append((new_layout and np.stack([post, pre], 1), np.stack([np.ones(n), -alpha], 1), np.full(n, -math.inf), beta))
        # the ramp relu(l + e) - relu(l) (l the lower of the unit's two pre-activations, e their gap) is 0 below
        # l = -e, so on [l_lo, .] it lies under the line through (l_lo, 0) and (0, e_hi) when e_hi <= -l_lo
        e_hi = self.gap_upper(node, dr)
        l_lo = np.where(dr.upper_unit, a_lo, A_lo)
        ramp = (l_lo < 0) & (e_hi < -l_lo)
        ramp_slope = np.where(ramp, round_up(e_hi / np.where(ramp, -l_lo, 1.0)), 1.0)
        ramp_hi = np.where(ramp, round_up(ramp_slope * -l_lo), math.inf)
        side = np.where(dr.upper_unit, 1.0, -1.0)[:, None]
        blocks.append((new_layout and np.stack([G, H, np.where(dr.upper_unit, A0, A1)], 1),
                       np.hstack([side, -side, -ramp_slope[:, None]]),
                       np.full(n, -math.inf), ramp_hi))
        # the unit's whole term T = cu·relu(l + e) + cl·relu(l) (cu, cl its objective coefficients on the upper and
        # the lower of the pair) is 0 at l_lo and lies under the line through (l_lo, 0) of the largest slope T(l)/(l - l_lo),
        # reached at a kink (l = 0) or at l_hi, with e = e_hi
        upper_col, lower_col = np.where(dr.upper_unit, G, H), np.where(dr.upper_unit, H, G)
        cu = np.where(dr.upper_unit, dr.coef, -dr.sign * p.v0)
        cl = np.where(dr.upper_unit, -dr.sign * p.v0, dr.coef)
        l_hi = np.where(dr.upper_unit, a_hi, A_hi)
        term = ramp & (cu >= 0)
        span = round_down(np.where(term, l_hi - l_lo, 1.0))
        at_kink = round_up(round_up(np.maximum(cu, 0.0) * e_hi) / np.where(term, -l_lo, 1.0))
        end_hi = round_up(l_hi + e_hi)
        end = cu * end_hi + cl * np.maximum(l_hi, 0.0)
        end = end + sum_error(2, np.abs(cu * end_hi) + np.abs(cl * l_hi))
        at_end = round_up(np.maximum(end, 0.0) / span)
        term_slope = np.where(term, np.maximum(at_kink, at_end), 1.0)
        term_hi = np.where(term, round_up(term_slope * -l_lo), math.inf)
        blocks.append((new_layout and np.stack([upper_col, lower_col, np.where(dr.upper_unit, A0, A1)], 1),
                       np.stack([cu, cl, -term_slope], 1), np.full(n, -math.inf), term_hi))
        t_lo = round_down(node.t1 - p.c0) if math.isfinite(node.t1) else -math.inf
        t_hi = round_up(node.t2 - p.c0) if math.isfinite(node.t2) else math.inf
        blocks.append((H[None], p.v0[None], np.array([t_lo]), np.array([t_hi])))
        static = len(self._static_rows(node.direction))
        if new_layout:
            lengths = np.concatenate([np.full(len(lo), cols.shape[1]) for cols, _, lo, _ in blocks])
            indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
            indices = np.concatenate([c.ravel() for c, _, _, _ in blocks]).astype(np.int32)
            shape = (len(lengths), self.cols)
            order = sp.csr_matrix((np.arange(1, len(indices) + 1, dtype=float), indices, indptr), shape=shape).T.tocsr()
            fixed = [np.concatenate([np.broadcast_to(np.asarray(b[i], dtype=float), b[2].shape if i > 1 else b[1].shape).ravel()
                                     for b in blocks[:static]]) for i in (1, 2, 3)]
            t_order = order.data.astype(int) - 1
            templates = (sp.csr_matrix((np.zeros(len(indices)), indices, indptr), shape=shape),
                         sp.csr_matrix((np.zeros(len(indices)), order.indices, order.indptr), shape=shape[::-1]),
                         sp.csr_matrix((np.zeros(len(indices)), order.indices, order.indptr), shape=shape[::-1]))
            self._layout[node.direction] = (templates, t_order, *fixed)
        (matrix, at, abs_at), t_order, data0, lo0, hi0 = self._layout[node.direction]
        data = np.concatenate([data0] + [v.ravel() for _, v, _, _ in blocks[static:]])
        row_lo = np.concatenate([lo0] + [np.asarray(lo, dtype=float) for _, _, lo, _ in blocks[static:]])
        row_hi = np.concatenate([hi0] + [np.asarray(hi, dtype=float) for _, _, _, hi in blocks[static:]])
        # the sparsity pattern is the direction's; only the values change (no re-validated scipy constructions per node)
        matrix.data = data
        at.data = data[t_order]
        abs_at.data = np.abs(at.data)
        return matrix, (at, abs_at), col_lo, col_hi, row_lo, row_hi

    def _hull_blocks(self, xl: np.ndarray, xu: np.ndarray, new_layout: bool) -> list:
        """x - x1_j in (1 - z_j)·[xl, xu] and x1_j in z_j·[xl, xu], per unit j and axis i (columns only for a new layout).

        With relu(a_j) = w_j·x1_j + b_j z_j (a static row), relu(a_j) >= a_j and relu(a_j) >= 0 these rows describe the
        convex hull of {(x, relu(w_j·x + b_j)) : x in the box} (Balas's disjunctive form of the two phases).
        """
        n, d = len(self.hull_units), self.p.d
        xs, x1s, zs = np.tile(self.X, n), self.X1.ravel(), np.repeat(self.Z, d)
        lo_t, hi_t, ones = np.tile(xl, n), np.tile(xu, n), np.ones(n * d)
        cols3 = new_layout and np.stack([xs, x1s, zs], 1)
        cols2 = new_layout and np.stack([x1s, zs], 1)
        free_lo, free_hi = np.full(n * d, -math.inf), np.full(n * d, math.inf)
        return [(cols3, np.stack([ones, -ones, lo_t], 1), lo_t, free_hi),
                (cols3, np.stack([ones, -ones, hi_t], 1), free_lo, hi_t),
                (cols2, np.stack([ones, -lo_t], 1), np.zeros(n * d), free_hi),
                (cols2, np.stack([ones, -hi_t], 1), free_lo, np.zeros(n * d))]

    def _cut_blocks(self, node: _Node, xl, xu, a_lo, a_hi, new_layout: bool) -> list:
        """Per unit j a phase weight z_j in [0, 1] (1 where a_j >= 0) and three rows: relu(a_j) <= a_hi·z_j,
        relu(a_j) <= a_j - a_lo·(1 - z_j) and one cut of Anderson et al.'s family (the one most violated at the parent's
        LP point): relu(a_j) <= sum over i in I of w_i (x_i - Lw_i) + l(I)·z_j, Lw_i the end of [xl_i, xu_i] where w_i·x_i is
        least and Uw_i the other, l(I) = b + sum over I of w_i Lw_i + sum over the rest of w_i Uw_i (rounded up)."""
        p = self.p
        n, d = p.n, p.d
        w, b = p.w0, p.b0
        low = np.where(w >= 0, xl, xu)
        high = np.where(w >= 0, xu, xl)
        if node.guide is not None:
            x_star, z_star = node.guide[self.X], node.guide[self.ZC]
        else:
            x_star = (xl + xu) / 2
            z_star = np.clip(a_hi / np.where(a_hi > a_lo, a_hi - a_lo, 1.0), 0.0, 1.0)
        inside = w * x_star[None] - (1 - z_star[:, None]) * w * low
        outside = z_star[:, None] * w * high
        take = inside < outside
        if node.cuts is not None and node.guide is not None:
            # keep the parent's subset where its cut still takes most of the violation: the parent's basis then fits
            h_star = node.guide[self.H]
            violation = [h_star - np.where(t, inside, outside).sum(axis=1) - b * z_star for t in (node.cuts, take)]
            take = np.where((violation[0] >= KEEP_CUT * violation[1])[:, None], node.cuts, take)
        node.cuts = take
        coef = np.where(take, w, 0.0)
        low_part = np.where(take, w * low, 0.0).sum(axis=1)
        high_part = np.where(take, 0.0, w * high).sum(axis=1)
        pad = sum_error(d + 1, np.abs(w * low).sum(axis=1) + np.abs(w * high).sum(axis=1) + np.abs(b))
        ell = round_up(b + low_part + high_part + pad)
        rhs = round_up(-low_part + pad)
        H, A0, Z = self.H, self.A0, self.ZC
        ones = np.ones(n)
        inf = np.full(n, -math.inf)
        return [(new_layout and np.stack([H, Z], 1), np.stack([ones, -np.maximum(a_hi, 0.0)], 1), inf, np.zeros(n)),
                (new_layout and np.stack([H, A0, Z], 1), np.stack([ones, -ones, -a_lo], 1), inf, -a_lo),
                (new_layout and np.hstack([H[:, None], np.tile(self.X, (n, 1)), Z[:, None]]),
                 np.hstack([ones[:, None], -coef, -ell[:, None]]), inf, rhs)]

    def split(self, node: _Node, delta: float, point: np.ndarray | None) -> list[_Node]:
        """Children: a slab split, a phase split of one neuron, or a sign split of one input."""
        p, dr = self.p, self.p.directions[node.direction]
        half = (node.t1 + node.t2) / 2
        slab = [_Node(node.direction, node.t1, half, node.nominal_phase, node.perturbed_phase, node.box, node.bound,
                      basis=node.basis, guide=node.point, cuts=node.cuts),
                _Node(node.direction, half, node.t2, node.nominal_phase, node.perturbed_phase, node.box, node.bound,
                      basis=node.basis, guide=node.point, cuts=node.cuts)]
        if point is None:
            return slab if node.t1 < half < node.t2 else []
        x, s = point[self.X], point[self.S]
        a, A, h, g = point[self.A0], point[self.A1], point[self.H], point[self.G]
        z0 = float(np.clip(p.nominal_logit(x[None])[0], node.t1, node.t2))
        true_delta = float(p.change(x[None], node.direction)[0])
        at_point = change_bound(dr.sign, z0, z0, delta)
        slab_loss = node.bound - at_point
        relax_loss = at_point - change_bound(dr.sign, z0, z0, max(true_delta, 0.0))
        nominal = np.where(node.nominal_phase == 0, np.abs(p.v0) * np.abs(h - np.maximum(a, 0)), -1.0)
        perturbed = np.where(node.perturbed_phase == 0, np.abs(dr.coef) * np.abs(g - np.maximum(A, 0)), -1.0)
        weight = np.abs(dr.coef) @ np.maximum(np.abs(dr.s_up), np.abs(dr.s_down))
        xl, xu = node.box
        crossing = (xl < 0) & (xu > 0)
        sign = np.where(crossing, (s - np.abs(x)) * weight, -1.0)
        # an input axis's influence: the violations of the units it moves, by its share of their ranges
        width = xu - xl
        spread = np.abs(p.w0) * width
        share = spread / np.maximum(spread.sum(axis=1, keepdims=True), 1e-300)
        axis_score = (np.maximum(nominal, 0) @ share + np.maximum(perturbed, 0) @ share + np.maximum(sign, 0))
        axis_score = np.where(width > 1e-9, axis_score, -1.0)
        scores = [nominal.max(initial=-1.0), perturbed.max(initial=-1.0), AXIS_WEIGHT * axis_score.max(initial=-1.0)]
        best = int(np.argmax(scores))
        width_ok = node.t1 < half < node.t2 and node.t2 - node.t1 > 1e-12 * (1 + abs(half))
        if width_ok and (slab_loss >= relax_loss or scores[best] <= 1e-15):
            return slab
        if scores[best] <= 1e-15:
            # nothing violated at the LP point: split the widest undecided phase
            open_units = np.flatnonzero(node.nominal_phase == 0)
            if len(open_units) == 0:
                open_units = np.flatnonzero(node.perturbed_phase == 0)
                if len(open_units) == 0:
                    return slab if width_ok else []
                best, j = 1, int(open_units[np.argmax(np.abs(dr.coef[open_units]))])
            else:
                best, j = 0, int(open_units[np.argmax(np.abs(p.v0[open_units]))])
        else:
            j = int(np.argmax((nominal, perturbed, axis_score)[best]))
        if best == 2:
            cut = 0.0 if crossing[j] else (xl[j] + xu[j]) / 2
            left, right = node.box.copy(), node.box.copy()
            left[1, j] = right[0, j] = cut
            return [_Node(node.direction, node.t1, node.t2, node.nominal_phase, node.perturbed_phase, box, node.bound,
                          basis=node.basis, guide=node.point, cuts=node.cuts) for box in (left, right)]
        # one unit's three cases at once (U_j >= a_j >= L_j): both active, only the outer one active, both inactive
        nom_now, per_now = node.nominal_phase[j], node.perturbed_phase[j]
        if dr.upper_unit[j]:
            cases = ((1, 1), (-1, 1), (-1, -1))   # (a, U): a active implies U active
        else:
            cases = ((1, 1), (1, -1), (-1, -1))   # (a, L): L active implies a active
        children = []
        for nom_phase, per_phase in cases:
            if (nom_now and nom_now != nom_phase) or (per_now and per_now != per_phase):
                continue
            nom, per = node.nominal_phase.copy(), node.perturbed_phase.copy()
            nom[j], per[j] = nom_phase, per_phase
            children.append(_Node(node.direction, node.t1, node.t2, nom, per, node.box, node.bound, basis=node.basis, guide=node.point, cuts=node.cuts))
        return children


@dataclass
class EpsilonBounds:
    """A certified [lower, upper] of Eq. 12, the replayed witness of the lower end, the work done and why it stopped."""

    lower: Fraction
    upper: Fraction
    witness: Witness | None
    nodes: int
    reason: str


def _certify(problem: _Problem, x_float: np.ndarray) -> tuple[Fraction, Witness]:
    """The exact ε at an input (x clamped into D): each direction's optimal parameter corner, replayed exactly.

    With one hidden layer every unit's parameters are its own, so the corner that maximises (or minimises) the logit
    at x is the closed form of the module docstring (:func:`smtnn.bounds.extreme_at`), not a float attack's guess.
    """
    domain = problem.domain
    x = [min(max(Fraction(float(v)), lo), hi) for v, lo, hi in zip(x_float, domain.lower, domain.upper)]
    change = epsilon_at(problem.network, problem.perturbation, x, corners=True)
    return max(change.lower, Q(0)), change.witness


def _ascend(problem: _Problem, x: np.ndarray, value: float, steps: int = 60) -> tuple[np.ndarray, float]:
    """Coordinate ascent of the float objective from x (moves of ±step along each axis, halving on failure)."""
    d = problem.d
    moves = np.vstack([np.eye(d), -np.eye(d)])
    step = 0.25 * float(np.max(problem.dhi - problem.dlo, initial=0.0))
    for _ in range(steps):
        if step < 1e-7:
            break
        candidates = np.clip(x + step * moves, problem.dlo, problem.dhi)
        vals = np.maximum(*problem.objective(candidates))
        k = int(vals.argmax())
        if vals[k] > value:
            x, value = candidates[k], float(vals[k])
        else:
            step /= 2
    return x, value


def _seeds(problem: _Problem, rng: np.random.Generator) -> np.ndarray:
    lo, hi = problem.dlo, problem.dhi
    d = problem.d
    if d <= 12:
        corners = np.array(np.meshgrid(*[[a, b] for a, b in zip(lo, hi)])).reshape(d, -1).T
    else:
        corners = np.where(rng.random((4096, d)) < 0.5, lo, hi)
    inside = lo + (hi - lo) * rng.random((2048, d))
    return np.vstack([corners, inside, ((lo + hi) / 2)[None]])


def global_epsilon(network: Network, perturbation: Perturbation, domain: Box, tol: Fraction, timeout: float | None,
                   max_nodes: int = 1_000_000) -> EpsilonBounds:
    """Certified [lower, upper] of Eq. 12 for networks :func:`applies` accepts (see the module docstring)."""
    start = time.perf_counter()
    problem = _Problem(network, perturbation, domain)
    search = _Search(problem, float(tol))
    rng = np.random.default_rng(0)
    seeds = _seeds(problem, rng)
    up, down = problem.objective(seeds)
    values = np.maximum(up, down)
    x_best, best_float = seeds[int(values.argmax())], float(values.max())
    climb_until = start + (2.0 if timeout is None else min(2.0, 0.05 * timeout))
    for i in np.argsort(-values)[:ASCENTS]:   # several climbs (the objective has many local peaks), on a small budget
        if time.perf_counter() > climb_until:
            break
        x, value = _ascend(problem, seeds[i], float(values[i]))
        if value > best_float:
            x_best, best_float = x, value
    lower, witness = _certify(problem, x_best)
    # the nominal logit's range over D (outward-rounded intervals)
    a_lo, a_hi = _interval(problem.w0, problem.dlo, problem.dhi)
    pad = sum_error(1, np.abs(problem.b0))
    h_hi = np.maximum(round_up(a_hi + problem.b0 + pad), 0.0)
    h_lo = np.maximum(round_down(a_lo + problem.b0 - pad), 0.0)
    t_lo, t_hi = _interval(problem.v0[None], h_lo, h_hi)
    t1 = round_down(float(t_lo[0]) + problem.c0 - sum_error(1, abs(float(t_lo[0])) + abs(problem.c0)))
    t2 = round_up(float(t_hi[0]) + problem.c0 + sum_error(1, abs(float(t_hi[0])) + abs(problem.c0)))
    n = problem.n
    heap: list = []
    counter = 0
    dropped = settled = 0.0   # bounds of nodes closed below lower + tol, and of nodes that cannot be split
    reason = ""

    def bound_node(node: _Node) -> bool:
        """Solve the node's LP and set its bound; False when the node holds no point of D."""
        delta, point = search.solve(node)
        if delta == -math.inf:
            return False
        node.delta, node.point = delta, point
        if delta is not None:
            node.bound = min(node.bound, 1.0, slab_bound(problem.directions[node.direction].sign, node.t1, node.t2,
                                                        max(delta, 0.0), node.line, problem.c0))
        elif math.isinf(node.bound):
            node.bound = 1.0
        return True

    for k in range(2):
        root = _Node(k, t1, t2, np.zeros(n, np.int8), np.zeros(n, np.int8), np.stack([problem.dlo, problem.dhi]))
        if bound_node(root):
            heapq.heappush(heap, (-root.bound, counter, root))
            counter += 1
    while heap:
        top = -heap[0][0]
        if top <= float(lower) + search.tol:
            break
        if timeout is not None and time.perf_counter() - start > timeout:
            reason = "timeout"
            break
        if search.lps >= max_nodes:
            reason = f"stopped after {search.lps} LPs (max_nodes)"
            break
        node = heapq.heappop(heap)[2]
        children = search.split(node, 0.0 if node.delta is None else max(node.delta, 0.0), node.point)
        if not children:
            settled = max(settled, node.bound)
            reason = "a node could not be split further (the relaxation is not exact there)"
            continue
        found = []
        warm = None
        for child in children:
            if warm is not None:   # a sibling's optimum is nearer than the parent's: fewer simplex iterations
                child.basis = warm
            if not bound_node(child):
                continue
            warm = child.basis if child.basis is not None else warm
            if child.point is not None:
                found.append(child.point[search.X])
            if child.bound > float(lower) + search.tol:
                heapq.heappush(heap, (-child.bound, counter, child))
                counter += 1
            else:
                dropped = max(dropped, child.bound)
        if found:
            xs = np.clip(np.array(found), problem.dlo, problem.dhi)
            vals = np.maximum(*problem.objective(xs))
            i = int(vals.argmax())
            if vals[i] > best_float:
                x_best, best_float = _ascend(problem, xs[i], float(vals[i]))
                certified, cand = _certify(problem, x_best)
                if certified > lower:
                    lower, witness = certified, cand
    active = -heap[0][0] if heap else 0.0
    upper = min(max(Q(max(active, dropped, settled)), lower), Q(1))
    if upper - lower > tol and not reason:
        reason = "gap above tolerance"
    return EpsilonBounds(lower, max(upper, lower), witness, search.lps, reason)


# -- multi-class networks: the largest change of any softmax class probability ------------------------
MULTICLASS_METHOD = "branch and bound over D (outward-rounded interval softmax bounds) + exact replay of per-pair corner witnesses"


def _softmax_ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sound float bounds of every softmax probability over boxes of logits (rows): p_c = 1 / (1 + sum_j exp(z_j - z_c))."""
    k = lo.shape[1]
    p_lo, p_hi = np.empty_like(lo), np.empty_like(lo)
    with np.errstate(over="ignore", under="ignore"):
        for c in range(k):
            others = [j for j in range(k) if j != c]
            big = np.exp(round_up(hi[:, others] - lo[:, [c]])) * (1 + 1e-13)      # upper ends of exp(z_j - z_c)
            small = np.exp(round_down(lo[:, others] - hi[:, [c]])) * (1 - 1e-13)  # lower ends
            p_lo[:, c] = 1.0 / (1.0 + big.sum(axis=1) * (1 + 4 * k * UNIT)) * (1 - 1e-13)
            p_hi[:, c] = 1.0 / (1.0 + small.sum(axis=1) * (1 - 4 * k * UNIT)) * (1 + 1e-13)
    return np.maximum(p_lo - 1e-300, 0.0), np.minimum(p_hi + 1e-300, 1.0)


def multiclass_epsilon(network: Network, perturbation: Perturbation, domain: Box, tol: Fraction, timeout: float | None,
                       certify, max_boxes: int = 2_000_000, batch: int = 256) -> EpsilonBounds:
    """Certified [lower, upper] of max over x in D, p in the box and classes c of |softmax_c(z_p(x)) - softmax_c(z_p0(x))|.

    Upper ends: branch and bound over sub-boxes of D, each bounded by outward-rounded interval
    logits over (sub-box × parameter box) and (sub-box × trained parameters).  Lower ends:
    ``certify(x)`` gives the exact change at an input (a replayed witness), tried at the box
    centres whose float estimate beats the best so far.
    """
    from .search import interval_logits

    start = time.perf_counter()
    plo, phi = perturbation.float_box()
    p0 = network.parameter_vector()
    dlo, dhi = domain.float_box()
    span = np.where(dhi > dlo, dhi - dlo, 1.0)

    def bounds(lo, hi):
        zp = interval_logits(network, plo, phi, lo, hi)
        z0 = interval_logits(network, p0, p0, lo, hi)
        pp_lo, pp_hi = _softmax_ranges(*zp)
        q_lo, q_hi = _softmax_ranges(*z0)
        change = np.maximum(pp_hi - q_lo, q_hi - pp_lo).max(axis=1)
        change = np.where(np.isnan(change), 1.0, change)   # an overflow (inf - inf) bounds nothing
        return np.minimum(change * (1 + 4 * UNIT) + 1e-300, 1.0)

    def estimates(points):
        zp_lo, zp_hi = interval_logits(network, plo, phi, points, points)
        q = network.predict_proba(points) if network.n_outputs > 1 else None
        p_lo, p_hi = _softmax_ranges(zp_lo, zp_hi)
        return np.maximum(p_hi - q, q - p_lo).max(axis=1)

    lo, hi = dlo[None].copy(), dhi[None].copy()
    ub = bounds(lo, hi)
    seeds = np.vstack([np.where(np.random.default_rng(0).random((64, len(dlo))) < 0.5, dlo, dhi), ((dlo + dhi) / 2)[None]])
    est = estimates(seeds)
    best_estimate = float(est.max())
    lower, witness = certify(seeds[int(est.argmax())])
    dropped, processed, reason = 0.0, 0, ""
    tol_f = float(tol)
    while True:
        keep = ub > float(lower) + tol_f / 2
        if not keep.all():
            dropped = max(dropped, float(ub[~keep].max()))
            lo, hi, ub = lo[keep], hi[keep], ub[keep]
        if len(ub) == 0 or float(ub.max()) <= float(lower) + tol_f:
            break
        if processed >= max_boxes:
            reason = f"stopped after {processed} boxes (max_boxes)"
            break
        if timeout is not None and time.perf_counter() - start > timeout:
            reason = "timeout"
            break
        take = np.argsort(-ub)[:batch]
        rest = np.setdiff1d(np.arange(len(ub)), take)
        tlo, thi = lo[take], hi[take]
        widths = (thi - tlo) / span
        if (widths.max(axis=1) <= 1e-15).all():
            reason = "boxes shrank to points without closing the gap"
            break
        axis = widths.argmax(axis=1)
        rows = np.arange(len(take))
        mid = (tlo[rows, axis] + thi[rows, axis]) / 2
        left_hi, right_lo = thi.copy(), tlo.copy()
        left_hi[rows, axis] = mid
        right_lo[rows, axis] = mid
        new_lo, new_hi = np.vstack([tlo, right_lo]), np.vstack([left_hi, thi])
        new_ub = np.minimum(bounds(new_lo, new_hi), np.concatenate([ub[take], ub[take]]))
        centres = (new_lo + new_hi) / 2
        est = estimates(centres)
        i = int(est.argmax())
        if est[i] > best_estimate:
            best_estimate = float(est[i])
            certified, cand = certify(centres[i])
            if certified > lower:
                lower, witness = certified, cand
        lo, hi = np.vstack([lo[rest], new_lo]), np.vstack([hi[rest], new_hi])
        ub = np.concatenate([ub[rest], new_ub])
        processed += len(take)
    active = float(ub.max()) if len(ub) else 0.0
    upper = min(max(Q(max(active, dropped)), lower), Q(1))
    if upper - lower > tol and not reason:
        reason = "gap above tolerance"
    return EpsilonBounds(lower, upper, witness, processed, reason)
