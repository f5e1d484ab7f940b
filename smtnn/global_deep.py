"""Eq. 12 (global ε) for two hidden ReLU layers with every parameter perturbed: one LP per input box and phase set.

At a fixed input x the perturbed logit's extremes are a small fixed ReLU network
(:mod:`smtnn.local_reduction`): each first-layer unit owns its row, so its pre-activation ranges over
[L_j(x), U_j(x)] and h1_j fills [relu(L_j(x)), relu(U_j(x))]; with h1 >= 0 the second layer's rows and the
output weights are picked by sign (G, e, a, β), so  s·z_max(x) = β + max over h1 of a·relu(G h1 + e).
Inside one orthant of the input space |x| is linear, so L and U are linear in x, and the change of the
logit in direction s (+1: z_max - z0, -1: z0 - z_min),

    Δ_s(x) = max over h1 in [relu(L(x)), relu(U(x))] of  β + a·relu(G h1 + e) - s·z0(x),

is the maximum of one mixed problem in (x, h1) whose only non-linearities are ReLUs: h1 <= relu(U(x)), the
second layer's relu (where a_k >= 0) and the nominal network z0 (h1 >= relu(L(x)) is convex).  Each node of
the branch and bound is an input box inside an orthant with some of these units' phases fixed; its LP
relaxes the unfixed units by their triangles (bounds from outward-rounded interval and linear bounds over
the box; the picked second layer's from the linear bounds of the first layer's box followed by its point
weights, narrower than the whole perturbed network's, so fewer of its units cross zero), so its optimum,
certified from HiGHS's duals (:class:`smtnn.twins.lp.LinearModel`), bounds Δ_s on the node; with every unit
fixed the LP is exact.  The σ-change then follows from the node's range t1 <= z0 <= t2 (σ(t + Δ) - σ(t)
has one peak in t, at t = -Δ/2, and grows with Δ):

    max over the node of σ(z_max) - σ(z0) <= max over t in [t1, t2] of σ(t + Δ*) - σ(t).

Where that maximum sits at an end of [t1, t2], Δ and z0 are correlated over the box: a second LP, its objective
tilted along the σ-change's level line there (z0 is a column, c0 + v0·r2), bounds Δ - λ·z0 by M, and the logit
then moves by at most min(Δ*, M + λ·z0) on each part of [t1, t2].

Nodes split a phase (the unit whose relaxation loses most at the LP optimum) or the input box (where the
spread of z0 over the box loses more).  Every box has the same rows, so a parent's LP multipliers bound a child by
weak duality on the child's own rows and bounds; a child they already prune is dropped without its LP.  Lower ends: inputs from corners, samples and the LPs' optima, each
scored by the exact-at-a-point reduction, and the best one's parameters (realising the reduction's optimum)
replayed in exact arithmetic.
"""
from __future__ import annotations

import heapq
import itertools
import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from . import float_first, local_reduction
from .budget import Bounds, report
from .domain import Box
from .exact import Enclosure, sigmoid_enclosure
from .global_bounds import change_bound
from .linear_bounds import (LayerBox, _relu_lines, interval_affine, nominal_box, objective_bounds, parameter_box,
                            refined_pre_activations)
from .network import Network
from .perturbation import Perturbation
from .result import Witness
from .rounding import float_up, round_down, round_up
from .semantics import walk
from .semantics.floats import FloatDomain, FloatGradients
from .twins.lp import LinearModel, certified_min

Q = Fraction
METHOD = ("branch and bound over input boxes and ReLU phases of the exact pointwise reduction (HiGHS LPs, certified "
          "duals) + exact replay of searched parameters")
INPUT_FIRST = 0.0625
"""Boxes wider than this share of D along some axis split the input before any phase (their LPs are too loose)."""
SEARCH_SHARE = 0.2
"""The most of the search's time spent on lower ends (scoring the LPs' optima, certifying the best)."""
TILT_PIECES = 8
"""Parts of the node's z0 range on which the tilted LP's line caps Δ (see :func:`_tilted`)."""
MEANING = "|f_p(x) - f_p0(x)|, f the sigmoid confidence"


def applies(network: Network, perturbation: Perturbation, domain: Box) -> bool:
    """Two hidden ReLU layers, one sigmoid output, a parameter box around the trained values, D with binary64 ends."""
    return (network.binary and len(network.layers) == 3
            and all(layer.activation == "relu" for layer in network.layers[:2])
            and network.layers[2].activation == "sigmoid"
            and perturbation.contains(perturbation.nominal)
            and all(Q(float(v)) == v for v in domain.lower + domain.upper))


# -- the σ-change from a logit change (bounded by global_bounds.change_bound) -----------------------
def _sigmoid(z: float) -> float:
    """σ in floats (an estimate; 0 where exp(-z) overflows)."""
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


# -- the problem's float data ------------------------------------------------------------------------
class _Problem:
    """Float data of the network, its parameter box (outward) and the two directions' picked layers."""

    def __init__(self, network: Network, perturbation: Perturbation, domain: Box):
        self.network, self.perturbation, self.domain = network, perturbation, domain
        self.boxes = parameter_box(network, perturbation)
        self.nominal = nominal_box(network)
        first, second, out = network.layers
        self.w1, self.b1 = first.weights.astype(float), first.bias.astype(float)
        self.w2, self.b2 = second.weights.astype(float), second.bias.astype(float)
        self.v0, self.c0 = out.weights[0].astype(float), float(out.bias[0])
        self.d, self.n1, self.n2 = self.w1.shape[1], self.w1.shape[0], self.w2.shape[0]
        self.dlo = np.array([float(v) for v in domain.lower])
        self.dhi = np.array([float(v) for v in domain.upper])
        self.picked = {}
        for sign in (1, -1):
            reduced = local_reduction.reduce(self.boxes, self.dlo, self.dhi, np.array([float(sign)]))
            layer, output = reduced.boxes
            self.picked[sign] = (layer, output.wlo[0], Q(float(output.blo[0])))

    def nominal_logit(self, x: np.ndarray) -> float:
        return float(walk(self.network, FloatDomain(), x[None])[0, 0])

    def nominal_gradient(self, x: np.ndarray) -> np.ndarray:
        """∂z0/∂x at x (float, a subgradient at kinks): it picks the input axis to split."""
        domain = FloatGradients()
        walk(self.network, domain, x[None])
        return domain.pullback(np.ones((1, 1)))[0]

    def change_at(self, x: np.ndarray, seconds: float = 1.0) -> tuple[float, float]:
        """Float estimates of the σ-change in both directions at x (the reduction is exact at a point)."""
        z0 = self.nominal_logit(x)
        s0 = _sigmoid(z0)
        out = []
        for sign in (1, -1):
            reduced = local_reduction.reduce(self.boxes, x, x, np.array([float(sign)]))
            found = local_reduction.lp_branch_and_bound(reduced, stop_gap=1e-9, seconds=seconds)
            if found is None or found.point is None:
                out.append(0.0)
                continue
            z = sign * found.value
            sz = _sigmoid(z)
            out.append(sz - s0 if sign > 0 else s0 - sz)
        return out[0], out[1]


# -- one node's LP -------------------------------------------------------------------------------------
@dataclass
class _Node:
    sign: int
    lo: np.ndarray
    hi: np.ndarray
    phases: dict = field(default_factory=dict)   # (group, unit) -> True (active) / False (inactive)
    bound: float = 1.0
    delta: float | None = None
    point: np.ndarray | None = None
    split: tuple | None = None                  # what to split next: ("phase", key) or ("input", axis)
    relaxation: "_Relaxation | None" = None     # the LP of its box (shared by the phase splits of one box)
    basis: object = None
    duals: np.ndarray | None = None              # the parent LP's row multipliers (the same rows)


class _Relaxation:
    """The LP of Δ_sign over one input box inside one orthant (see the module docstring); phases are bound overrides.

    Every relu unit (group "u": h1 <= relu(U(x)); "y": the picked second layer; "r1", "r2": the nominal
    network) has its chord row (valid over the box's bounds, so on every part of it) and the row post - pre,
    whose bounds say what is known: post >= pre where the objective pushes post down or the unit is relaxed,
    post = pre when active (post <= pre for "u", where h1 only lies below relu(U)).  An inactive unit has
    post = 0 and pre <= 0 by column bounds.  h1 >= L(x) and h1 >= 0 are exact (relu(L) is convex).
    """

    def __init__(self, problem: _Problem, sign: int, lo: np.ndarray, hi: np.ndarray):
        self.problem, self.sign, self.lo, self.hi = problem, sign, lo, hi
        p = problem
        first = p.boxes[0]
        positive = lo >= 0
        lc = np.where(positive[None, :], first.wlo, first.whi)
        uc = np.where(positive[None, :], first.whi, first.wlo)
        l_lo, l_hi = interval_affine(LayerBox(lc, lc, first.blo, first.blo, "relu"), lo, hi)
        u_lo, u_hi = interval_affine(LayerBox(uc, uc, first.bhi, first.bhi, "relu"), lo, hi)
        self.layer, self.a, self.beta = p.picked[sign]
        # the first layer's box, then the picked second layer (point weights): its linear bounds over the box are
        # tighter than the whole perturbed network's
        picked = refined_pre_activations([first, self.layer, p.boxes[2]], lo, hi).pre
        nominal = refined_pre_activations(p.nominal, lo, hi)
        u_range = (np.maximum(u_lo[0], picked[0][0]), np.minimum(u_hi[0], picked[0][1]))
        h_range = (np.maximum(l_lo[0], 0.0), np.maximum(u_range[1], 0.0))
        z_lo, z_hi = interval_affine(self.layer, *h_range)
        z_range = (np.maximum(z_lo[0], picked[1][0]), np.minimum(z_hi[0], picked[1][1]))
        t1, t2 = objective_bounds(p.network, p.nominal, lo, hi, np.array([[1.0]]), bounds=nominal)
        self.t = (float(t1[0]), float(t2[0]))
        self.r2_coef = -sign * p.v0   # the objective's coefficients of the nominal second layer's relu
        n1, n2 = p.n1, p.n2
        m = self.model = LinearModel()
        m.branching()
        self.x = m.add_cols(lo, hi)
        self.l = m.add_cols(l_lo[0], l_hi[0])
        self.u = m.add_cols(*u_range)
        self.h = m.add_cols(*h_range)
        self.z = m.add_cols(*z_range)
        self.y = m.add_cols(np.zeros(n2), np.maximum(z_range[1], 0.0))
        self.q1 = m.add_cols(*nominal.pre[0])
        self.r1 = m.add_cols(np.zeros(n1), np.maximum(nominal.pre[0][1], 0.0))
        self.q2 = m.add_cols(*nominal.pre[1])
        self.r2 = m.add_cols(np.zeros(n2), np.maximum(nominal.pre[1][1], 0.0))
        self.z0 = m.add_cols([self.t[0]], [self.t[1]])[0]   # the nominal logit c0 + v0·r2 (its bounds from above)
        self.base_lo, self.base_hi = np.array(m.col_lo), np.array(m.col_hi)
        self.units = {}   # (group, j) -> (pre col, post col, row post - pre, its free bounds)
        # rows are built per block of equal length (interleaved as the units' order) and added in one pass
        ones1, ones2 = np.ones((n1, 1)), np.ones((n2, 1))
        x_cols = np.broadcast_to(self.x, (n1, p.d))
        first_rows = np.stack([np.hstack([x_cols, cols[:, None]]) for cols in (self.l, self.u, self.q1)], axis=1)
        first_vals = np.stack([np.hstack([-w, ones1]) for w in (lc, uc, p.w1)], axis=1)
        first_rhs = np.stack([first.blo, first.bhi, p.b1], axis=1)
        m.add_rows(first_rows.reshape(3 * n1, -1), first_vals.reshape(3 * n1, -1), first_rhs.ravel(), first_rhs.ravel())
        second_rows = np.stack([np.hstack([np.broadcast_to(ins, (n2, n1)), outs[:, None]])
                                for ins, outs in ((self.h, self.z), (self.r1, self.q2))], axis=1)
        second_vals = np.stack([np.hstack([-self.layer.wlo, ones2]), np.hstack([-p.w2, ones2])], axis=1)
        second_rhs = np.stack([self.layer.blo, p.b2], axis=1)
        m.add_rows(second_rows.reshape(2 * n2, -1), second_vals.reshape(2 * n2, -1), second_rhs.ravel(),
                  second_rhs.ravel())
        for group, pre, post, rng, pushed_down in (("u", self.u, self.h, u_range, np.zeros(n1, bool)),
                                                   ("r1", self.q1, self.r1, nominal.pre[0], np.zeros(n1, bool)),
                                                   ("y", self.z, self.y, z_range, self.a < 0),
                                                   ("r2", self.q2, self.r2, nominal.pre[1], self.r2_coef < 0)):
            _, slope, intercept = _relu_lines(*rng)
            n = len(pre)
            # per unit its chord row and the row post - pre: "u": free (h1 >= L(x) is its own row); others:
            # post >= pre always holds
            free = (-np.inf, np.inf) if group == "u" else (0.0, np.inf)
            pair_cols = np.repeat(np.stack([post, pre], axis=1), 2, axis=0)
            pair_vals = np.stack([np.stack([np.ones(n), -slope], axis=1), np.tile([1.0, -1.0], (n, 1))], axis=1)
            pair_lo = np.stack([np.full(n, -np.inf), np.full(n, free[0])], axis=1)
            pair_hi = np.stack([intercept, np.full(n, free[1])], axis=1)
            rows = m.add_rows(pair_cols, pair_vals.reshape(2 * n, 2), pair_lo.ravel(), pair_hi.ravel())
            for j in range(n):
                self.units[(group, j)] = (pre[j], post[j], int(rows[2 * j + 1]), free, float(rng[0][j]),
                                          float(rng[1][j]), bool(pushed_down[j]))
        # h1 >= L(x), and the two networks side by side: h1 - r1 <= relu(U) - relu(q1) <= U - q1, r1 - h1 <= q1 - L
        side = np.tile([1.0, -1.0, -1.0, 1.0], (n1, 1))
        m.add_rows(np.stack([self.h, self.l], axis=1), np.tile([1.0, -1.0], (n1, 1)), np.zeros(n1), np.full(n1, np.inf))
        m.add_rows(np.stack([self.h, self.r1, self.u, self.q1], axis=1), side, np.full(n1, -np.inf), np.zeros(n1))
        m.add_rows(np.stack([self.r1, self.h, self.q1, self.l], axis=1), side, np.full(n1, -np.inf), np.zeros(n1))
        # and relu(z) - relu(q2) <= relu(z - q2) <= its chord over the range of z - q2 (and the mirror image)
        gap_lo, gap_hi = self._second_gap(lc, uc, h_range)
        for k, (lo_k, hi_k) in enumerate(((gap_lo, gap_hi), (-gap_hi, -gap_lo))):
            _, slope, intercept = _relu_lines(lo_k, hi_k)
            first_, second_ = (self.y, self.r2) if k == 0 else (self.r2, self.y)
            pre_a, pre_b = (self.z, self.q2) if k == 0 else (self.q2, self.z)
            m.add_rows(np.stack([first_, second_, pre_a, pre_b], axis=1),
                      np.stack([np.ones(n2), -np.ones(n2), -slope, slope], axis=1), np.full(n2, -np.inf), intercept)
        m.add_row([self.z0] + list(self.r2), np.append(1.0, -p.v0), p.c0, p.c0)
        self.cost = np.zeros(m.n_cols)
        self.cost[self.y] = -self.a
        self.cost[self.r2] = -self.r2_coef
        a_reach = np.abs(self.a) @ np.abs(self.layer.wlo)
        r1_reach = np.abs(self.r2_coef) @ np.abs(p.w2)
        self.reach = {"u": a_reach, "y": np.abs(self.a), "r1": r1_reach, "r2": np.abs(self.r2_coef)}
        # the units as arrays in their order, for phase_losses: keys, columns, reach, relaxed unless fixed
        self.keys = list(self.units)
        unit_rows = list(self.units.values())
        self.pre_cols = np.array([u[0] for u in unit_rows], np.int64)
        self.post_cols = np.array([u[1] for u in unit_rows], np.int64)
        self.unit_reach = np.array([self.reach[group][j] for group, j in self.keys])
        self.is_u = np.array([group == "u" for group, _ in self.keys])
        self.relaxed = np.array([not pushed and lo < 0 < hi for _, _, _, _, lo, hi, pushed in unit_rows])
        self.index = {key: i for i, key in enumerate(self.keys)}

    def _second_gap(self, lc, uc, h_range):
        """Sound bounds of z - q2 (picked second layer minus nominal) over the box: (G - W2) h1 + W2 (h1 - r1) + e - b2,
        with h1 - r1 in [-(q1 - L), U - q1] and both differences linear in x on the orthant (rounded outward)."""
        p, first = self.problem, self.problem.boxes[0]

        def outward_box(weights, bias):
            return LayerBox(round_down(weights), round_up(weights), round_down(bias), round_up(bias), "relu")

        up_lo, up_hi = interval_affine(outward_box(uc - p.w1, first.bhi - p.b1), self.lo, self.hi)
        down_lo, down_hi = interval_affine(outward_box(p.w1 - lc, p.b1 - first.blo), self.lo, self.hi)
        diff = self.layer.wlo - p.w2
        box = LayerBox(np.hstack([round_down(diff), p.w2]), np.hstack([round_up(diff), p.w2]),
                       round_down(self.layer.blo - p.b2), round_up(self.layer.blo - p.b2), "relu")
        inputs_lo = np.concatenate([h_range[0], -np.maximum(down_hi[0], 0.0)])
        inputs_hi = np.concatenate([h_range[1], np.maximum(up_hi[0], 0.0)])
        gap_lo, gap_hi = interval_affine(box, inputs_lo, inputs_hi)
        return gap_lo[0], gap_hi[0]

    def state(self, key, phases) -> int:
        """+1 active, -1 inactive, 0 relaxed (its triangle)."""
        fixed = phases.get(key)
        if fixed is not None:
            return 1 if fixed else -1
        lo, hi = self.units[key][4:6]
        return 1 if lo >= 0 else (-1 if hi <= 0 else 0)

    def _overrides(self, phases: dict):
        """The column bounds and the {column: bounds}, {row: bounds} overrides that fix `phases`; None when a fixed
        phase contradicts the box's sound bounds (no point there)."""
        col_lo, col_hi = self.base_lo.copy(), self.base_hi.copy()
        rows = {}
        for key, active in phases.items():
            pre, post, row, _, _, _, _ = self.units[key]
            if active:
                col_lo[pre] = max(col_lo[pre], 0.0)
                rows[row] = (-np.inf if key[0] == "u" else 0.0, 0.0)
            else:
                col_hi[pre] = min(col_hi[pre], 0.0)
                col_lo[post] = col_hi[post] = 0.0
        if (col_lo > col_hi).any():
            return None
        cols = {i: (col_lo[i], col_hi[i]) for i in np.nonzero((col_lo != self.base_lo) | (col_hi != self.base_hi))[0]}
        return col_lo, col_hi, cols, rows

    def solve(self, phases: dict, basis=None, tilt: float = 0.0):
        """(certified Δ* rounded up, the LP solution); Δ* = -inf when the part is empty, None when uncertified.

        With a tilt λ the LP bounds Δ - λ·z0 instead (so Δ <= that bound + λ·z0 on the node)."""
        fixed = self._overrides(phases)
        if fixed is None:
            return -math.inf, None
        _, _, cols, rows = fixed
        cost = self.cost
        if tilt:
            cost = cost.copy()
            cost[self.z0] = tilt
        sol = self.model.minimize(cost, cols, rows, basis)
        if sol.infeasible:
            return -math.inf, sol
        if sol.bound is None:
            return None, sol
        return float_up(self.beta - self.sign * Q(self.problem.c0) - sol.bound), sol

    def dual_bound(self, phases: dict, duals: np.ndarray) -> float | None:
        """Δ* bounded without solving, from any row multipliers (a parent's: every box has the same rows) by weak
        duality on this node's own rows and bounds (:func:`smtnn.twins.lp.certified_min`); None without a bound."""
        fixed = self._overrides(phases)
        if fixed is None:
            return None
        col_lo, col_hi, _, rows = fixed
        m = self.model
        row_lo, row_hi = np.array(m.row_lo), np.array(m.row_hi)
        for r, (lo, hi) in rows.items():
            row_lo[r], row_hi[r] = lo, hi
        bound = certified_min(m.transposes(), self.cost, duals, row_lo, row_hi, col_lo, col_hi)
        return None if bound is None else float_up(self.beta - self.sign * Q(self.problem.c0) - bound)

    def axis_reach(self, v: np.ndarray, phases: dict) -> np.ndarray:
        """Per input axis: the first-layer weights into the units whose triangles lose at the LP point v, times their losses."""
        p, first = self.problem, self.problem.boxes[0]
        reach = np.zeros(p.d)
        for (group, j), loss in self.phase_losses(v, phases).items():
            if group == "u":
                reach += loss * np.maximum(np.abs(first.wlo[j]), np.abs(first.whi[j]))
            elif group == "r1":
                reach += loss * np.abs(p.w1[j])
            else:   # second-layer units: through every first-layer unit, by the weights into them
                weights = self.layer.wlo[j] if group == "y" else p.w2[j]
                reach += loss * (np.abs(weights) @ np.abs(p.w1))
        return reach + 1e-9 * np.abs(p.w1).sum(axis=0)

    def phase_losses(self, v: np.ndarray, phases: dict) -> dict:
        """Per relaxed unit: what its triangle gains at the LP point v, in logit units (times the unit's reach)."""
        relaxed = self.relaxed.copy()
        relaxed[[self.index[key] for key in phases]] = False
        over = v[self.post_cols] - np.maximum(v[self.pre_cols], 0.0)
        gain = np.where(self.is_u, np.maximum(over, 0.0), np.abs(over)) * self.unit_reach
        return {self.keys[i]: float(gain[i]) for i in np.flatnonzero(relaxed & (gain > 0))}


# -- the search ------------------------------------------------------------------------------------
@dataclass
class DeepEpsilonBounds:
    """A certified [lower, upper] of Eq. 12, the replayed witness of the lower end, the nodes bounded (each by its LP or
    by its parent's LP multipliers) and why it stopped."""

    lower: Fraction
    upper: Fraction
    witness: Witness | None
    nodes: int
    reason: str


def _orthants(lo: np.ndarray, hi: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """D cut at 0 on every axis crossing it (|x| is linear on each part)."""
    parts = []
    for axis_parts in itertools.product(*[[(a, 0.0), (0.0, b)] if a < 0 < b else [(a, b)] for a, b in zip(lo, hi)]):
        parts.append((np.array([s for s, _ in axis_parts]), np.array([e for _, e in axis_parts])))
    return parts


def _bound_node(problem: _Problem, node: _Node, live: list, cut: float = -math.inf) -> bool:
    """Solve the node's LP; set its bound and what to split next.  False when the node holds no point.

    A node whose parent's multipliers already bound it to at most `cut` gets that bound without an LP."""
    if node.relaxation is None:
        node.relaxation = _Relaxation(problem, node.sign, node.lo, node.hi)
        live.append(node.relaxation)
        if len(live) > 64:   # keep a bounded number of HiGHS instances alive (a dropped one is rebuilt on demand)
            old = live.pop(0)
            old.model.release()
    relax = node.relaxation
    if node.duals is not None:
        delta = relax.dual_bound(node.phases, node.duals)
        bound = 1.0 if delta is None else change_bound(node.sign, *relax.t, max(delta, 0.0))
        if bound <= cut:
            node.bound = min(node.bound, bound)
            return True
    delta, sol = relax.solve(node.phases, node.basis)
    widths = node.hi - node.lo
    widest = int(np.argmax(widths))
    if delta == -math.inf:
        return False
    node.basis, node.duals = (None, None) if sol is None else (sol.basis, sol.duals)
    node.split = ("input", widest) if widths[widest] > 0 else None
    if delta is None:
        return True
    delta = max(delta, 0.0)
    node.delta = delta
    t1, t2 = relax.t
    node.bound = min(node.bound, change_bound(node.sign, t1, t2, delta))
    if not sol.ok:
        return True
    if node.bound > max(cut, 0.0):   # a node already at or below the cut is dropped: no tilt needed
        node.bound = min(node.bound, _tilted(node, relax, delta, sol))
    point = sol.point
    x = np.clip(point[relax.x], node.lo, node.hi)
    node.point = x
    t = min(max(problem.nominal_logit(x), t1), t2)
    spread_loss = node.bound - change_bound(node.sign, t, t, delta)
    losses = relax.phase_losses(point, node.phases)
    best_phase = max(losses, key=losses.get) if losses else None
    phase_loss = 0.25 * losses[best_phase] if best_phase is not None else 0.0
    narrow = (widths <= INPUT_FIRST * (problem.dhi - problem.dlo)).all()
    if best_phase is not None and (phase_loss >= spread_loss or widths[widest] < 1e-9) and narrow:
        node.split = ("phase", best_phase)
    elif widths[widest] >= 1e-9:
        node.split = ("input", int(np.argmax(widths * relax.axis_reach(point, node.phases) + 1e-12 * widths)))
    else:
        node.split = None
    return True


def _sigmoid_slope(z: float) -> float:
    value = _sigmoid(z)
    return value * (1 - value)


def _tilted(node: _Node, relax: _Relaxation, delta: float, sol) -> float:
    """A second bound of the node where its worst z0 is an end of [t1, t2]: the LP tilted along the σ-change's level
    line there bounds Δ - λ·z0 by M, so on each part [a, b] of [t1, t2] the logit moves by at most
    min(Δ*, M + max(λa, λb)) (Δ and z0 are correlated over the box; the plain bound pairs the largest Δ with the
    worst z0).  1 when the worst z0 is the σ-change's peak (no tilt helps there) or the LP gives no bound."""
    t1, t2 = relax.t
    if node.sign > 0:    # σ(t + Δ) - σ(t), its peak at t = -Δ/2
        worst = min(max(-delta / 2, t1), t2)
        slope_t = _sigmoid_slope(worst + delta) - _sigmoid_slope(worst)
        slope_delta = _sigmoid_slope(worst + delta)
    else:                # σ(t) - σ(t - Δ), its peak at t = Δ/2
        worst = min(max(delta / 2, t1), t2)
        slope_t = _sigmoid_slope(worst) - _sigmoid_slope(worst - delta)
        slope_delta = _sigmoid_slope(worst - delta)
    if slope_delta <= 0 or abs(slope_t) < 1e-12:
        return 1.0
    tilt = -slope_t / slope_delta
    cap, _ = relax.solve(node.phases, sol.basis, tilt=tilt)
    if cap is None or cap == -math.inf:
        return 1.0
    return capped_change(node.sign, t1, t2, delta, cap, tilt)


def capped_change(sign: int, t1: float, t2: float, delta: float, cap: float, tilt: float) -> float:
    """Upper bound of the σ-change in direction `sign` where t1 <= z0 <= t2 and the logit moves by at most
    min(Δ, cap + tilt·z0): on each of TILT_PIECES parts [a, b] the line's larger end (exact, rounded up)."""
    ends = [t1] + [t1 + (t2 - t1) * i / TILT_PIECES for i in range(1, TILT_PIECES)] + [t2]
    out = 0.0
    for a, b in zip(ends, ends[1:]):
        moved = float_up(Q(cap) + max(Q(tilt) * Q(a), Q(tilt) * Q(b)))
        out = max(out, change_bound(sign, a, b, max(min(delta, moved), 0.0)))
    return out


def _children(node: _Node) -> list[_Node]:
    kind, what = node.split
    if kind == "phase":
        return [_Node(node.sign, node.lo, node.hi, {**node.phases, what: active}, node.bound,
                      relaxation=node.relaxation, basis=node.basis, duals=node.duals) for active in (True, False)]
    mid = (node.lo[what] + node.hi[what]) / 2
    left_hi, right_lo = node.hi.copy(), node.lo.copy()
    left_hi[what] = mid
    right_lo[what] = mid
    # the same rows and columns on every box: the parent's optimal basis is a good start for its parts
    return [_Node(node.sign, node.lo, left_hi, dict(node.phases), node.bound, basis=node.basis, duals=node.duals),
            _Node(node.sign, right_lo, node.hi, dict(node.phases), node.bound, basis=node.basis, duals=node.duals)]


def certify_at(network: Network, perturbation: Perturbation, domain: Box, x_float: np.ndarray,
               seconds: float = 2.0) -> tuple[Fraction, Witness | None]:
    """An exact lower end of Eq. 12 at one input: in each direction the parameters realising the pointwise
    reduction's best point (:func:`smtnn.local_reduction.witness_parameters`), the σ-change replayed exactly."""
    x = [min(max(Q(float(v)), lo), hi) for v, lo, hi in zip(x_float, domain.lower, domain.upper)]
    xf = np.array([float(v) for v in x])
    boxes = parameter_box(network, perturbation)
    lo_f, hi_f = float_first._float_box(network, boxes)

    def sigmoid_of(z: Enclosure) -> Enclosure:
        return Enclosure(sigmoid_enclosure(z.lo).lo, sigmoid_enclosure(z.hi).hi)

    s0 = sigmoid_of(float_first.exact_logits(network, x)[0])
    best, best_params = Enclosure.point(Q(0)), tuple(perturbation.nominal)
    for sign in (1, -1):
        row = np.array([float(sign)])
        reduced = local_reduction.reduce(boxes, xf, xf, row)
        found = local_reduction.lp_branch_and_bound(reduced, stop_gap=1e-12, seconds=seconds / 2)
        if found is None or found.point is None:
            continue
        candidate = local_reduction.witness_parameters(boxes, xf, reduced, found.point, row)
        if candidate is None:
            continue
        params = float_first._exact_parameters(perturbation, candidate, lo_f, hi_f, network.parameter_vector())
        sp = sigmoid_of(float_first.exact_logits(network, x, params)[0])
        diff = sp - s0 if sign > 0 else s0 - sp
        if diff.lo > best.lo:
            best, best_params = diff, params
    names = network.parameter_names()
    changed = {str(names[i]): best_params[i] for i in perturbation.free if best_params[i] != perturbation.nominal[i]}
    return max(best.lo, Q(0)), Witness(changed, tuple(x), best.lo, best.hi, MEANING)


def _seconds_left(deadline: float, most: float = 2.0) -> float:
    return max(0.05, min(most, (deadline - time.perf_counter()) / 2))


def _ascend(problem: _Problem, x: np.ndarray, value: float, steps: int = 12,
            deadline: float = math.inf) -> tuple[np.ndarray, float]:
    """Coordinate ascent of the float σ-change from x (moves of ±step along each axis, halving on failure)."""
    step = 0.125 * float(np.max(problem.dhi - problem.dlo))
    for _ in range(steps):
        if step < 1e-6 or time.perf_counter() > deadline:
            break
        improved = False
        for axis, direction in itertools.product(range(problem.d), (1.0, -1.0)):
            if time.perf_counter() > deadline:
                break
            y = x.copy()
            y[axis] = min(max(y[axis] + direction * step, problem.dlo[axis]), problem.dhi[axis])
            v = max(problem.change_at(y, 0.5))
            if v > value:
                x, value, improved = y, v, True
        if not improved:
            step /= 2
    return x, value


def global_epsilon(network: Network, perturbation: Perturbation, domain: Box, tol: Fraction,
                   timeout: float | None, max_nodes: int = 1_000_000) -> DeepEpsilonBounds:
    """Certified [lower, upper] of Eq. 12 for networks :func:`applies` accepts (see the module docstring)."""
    start = time.perf_counter()
    deadline = math.inf if timeout is None else start + timeout
    problem = _Problem(network, perturbation, domain)
    tol_f = float(tol)
    rng = np.random.default_rng(0)
    corners = np.array(list(itertools.product(*zip(problem.dlo, problem.dhi))))
    seeds = np.vstack([corners, (problem.dlo + problem.dhi)[None] / 2,
                       problem.dlo + (problem.dhi - problem.dlo) * rng.random((16, problem.d))])
    values = []
    for x in seeds:
        if time.perf_counter() > deadline and values:
            break
        values.append(max(problem.change_at(x, 0.5)))
    x_best, best_float = _ascend(problem, seeds[int(np.argmax(values))], float(max(values)), deadline=deadline)
    lower, witness = certify_at(network, perturbation, domain, x_best, _seconds_left(deadline))
    heap: list = []
    live: list = []
    counter = itertools.count()
    dropped = settled = 0.0
    nodes, reason = 0, ""
    for lo, hi in _orthants(problem.dlo, problem.dhi):
        for sign in (1, -1):
            node = _Node(sign, lo, hi)
            nodes += 1
            if _bound_node(problem, node, live):
                heapq.heappush(heap, (-node.bound, next(counter), node))
    pending: list[np.ndarray] = []
    searching, search_share = 0.0, SEARCH_SHARE
    while heap:
        top = -heap[0][0]
        if top <= float(lower) + tol_f:
            break
        report(Bounds(lower, max(Q(max(top, dropped, settled)), lower), witness))
        if time.perf_counter() > deadline:
            reason = "timeout"
            break
        if nodes >= max_nodes:
            reason = f"stopped after {nodes} LPs (max_nodes)"
            break
        node = heapq.heappop(heap)[2]
        if node.split is None:
            settled = max(settled, node.bound)
            reason = "a node could not be split further (the relaxation is not exact there)"
            continue
        if node.point is not None:
            pending.append(node.point)
        for child in _children(node):
            nodes += 1
            if not _bound_node(problem, child, live, float(lower) + tol_f):
                continue
            if child.bound > float(lower) + tol_f:
                heapq.heappush(heap, (-child.bound, next(counter), child))
            else:
                dropped = max(dropped, child.bound)
        # lower ends: at most a fifth of the time goes to scoring the LPs' optima and certifying the best, and that
        # share halves after every round that finds nothing better (the seeds' ascent usually finds the maximum)
        if (len(pending) >= 16 and time.perf_counter() < deadline
                and searching < search_share * (time.perf_counter() - start)):
            began = time.perf_counter()
            scores = [max(problem.change_at(x, 0.2)) if time.perf_counter() < deadline else -1.0 for x in pending]
            i = int(np.argmax(scores))
            search_share /= 2
            if scores[i] > best_float + tol_f / 8:
                search_share = SEARCH_SHARE
                x_best, best_float = _ascend(problem, pending[i], scores[i], steps=6, deadline=deadline)
                certified, candidate = certify_at(network, perturbation, domain, x_best, _seconds_left(deadline))
                if certified > lower:
                    lower, witness = certified, candidate
            pending = []
            searching += time.perf_counter() - began
    active = -heap[0][0] if heap else 0.0
    upper = min(max(Q(max(active, dropped, settled)), lower), Q(1))
    if upper - lower > tol and not reason:
        reason = "gap above tolerance"
    return DeepEpsilonBounds(lower, max(upper, lower), witness, nodes, reason)
