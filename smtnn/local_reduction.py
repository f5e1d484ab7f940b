"""Local objectives under parameter perturbation, reduced exactly before any relaxation.

For max_p c·z(x0, p) over the parameter box at one input (Eq. 11's inner problem), two layers need
no relaxation at all:

- **the first layer is a box.**  Each first-layer unit has its own parameter row, so at a fixed
  input the units' pre-activations W1_i·x0 + b1_i move independently, each over an interval, and
  h1 = act(W1 x0 + b1) fills the box of its units' activation intervals exactly;
- **the last two layers pick their weights.**  With h_L >= 0 (relu or sigmoid), the output's
  c·(W h_L + b) is at most a·h_L + β with a_j = Σ_i max(c_i w_lo,ij, c_i w_hi,ij), attained by one
  weight choice; and since the activation increases, a_j·act(W_L,j·h + b_L,j) over row j of layer L
  (h >= 0) is largest at the row's upper corner when a_j >= 0 and at its lower corner otherwise.

So max_p c·z(x0, p) equals the maximum of a smaller network over the box of h1: the middle layers
keep their parameter boxes, the last hidden layer has the fixed picked rows, the output is a·h + β.
With two hidden layers nothing is perturbed any more: the problem is a fixed one-hidden-layer
network over an input box, which :func:`lp_branch_and_bound` solves exactly (certified LP bounds, exact
at the leaves), closing gaps that the bilinear (weight times activation) relaxation of the original
problem cannot; :func:`witness_parameters` turns its best point back into parameters for the exact
replay.  Every float step rounds outward, so the reduced maximum is an upper bound of the original
one (and equals it, up to rounding, at a point input).

Deeper relu networks (:func:`sandwich_branch_and_bound`) use the same observation at every layer:
given the layer's inputs h >= 0, its units' pre-activations range independently and exactly between
w_lo·h + b_lo and w_hi·h + b_hi, two linear rows per unit, so the whole problem is a ReLU network with
interval-valued affine maps, and LP branch and bound over its phases is exact at the leaves.  Other
reducible networks (sigmoid units) go to the phase branch and bound of :mod:`smtnn.float_first` on
the reduced problem.
"""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from .linear_bounds import BoxLayers, LayerBox, _matmul_error, _relu_lines, activate_interval, interval_affine
from .rounding import round_up
from .semantics import walk

REDUCIBLE_ACTIVATIONS = ("relu", "sigmoid")
"""Hidden activations with non-negative values: the weight picks above need h >= 0."""


@dataclass(frozen=True)
class Reduced:
    """A network (float layer boxes) over an input box whose single output bounds c·z from above."""

    boxes: list[LayerBox]
    lower: np.ndarray
    upper: np.ndarray


def reducible(boxes: list[LayerBox]) -> bool:
    """Two or more hidden layers, the last two with non-negative activations."""
    hidden = boxes[:-1]
    return len(hidden) >= 2 and all(box.activation in REDUCIBLE_ACTIVATIONS for box in hidden[-2:])


def reduce(boxes: list[LayerBox], xlo: np.ndarray, xhi: np.ndarray, row: np.ndarray) -> Reduced | None:
    """The reduced problem for the objective row·z over the input box (None when not :func:`reducible`).

    Sound for any input box (the first layer's box encloses its activations); exact at a point input.
    """
    if not reducible(boxes):
        return None
    first, last_hidden, out = boxes[0], boxes[-2], boxes[-1]
    zlo, zhi = interval_affine(first, xlo, xhi)
    hlo, hhi = activate_interval(first.activation, zlo[0], zhi[0], first.alpha)
    c = np.asarray(row, dtype=np.float64).reshape(1, -1)
    pos, neg = np.maximum(c, 0.0), np.minimum(c, 0.0)
    stacked = np.hstack([pos, neg])
    # a_j >= max over the output weights of c·W[:, j] (h_L >= 0), β >= max over the output bias of c·b
    a = round_up(stacked @ np.vstack([out.whi, out.wlo]) + _matmul_error(stacked, np.vstack([out.whi, out.wlo])))[0]
    bias = np.concatenate([out.bhi, out.blo])[:, None]
    beta = round_up(stacked @ bias + _matmul_error(stacked, bias))[0]
    up = a >= 0
    picked_w = np.where(up[:, None], last_hidden.whi, last_hidden.wlo)
    picked_b = np.where(up, last_hidden.bhi, last_hidden.blo)
    picked = LayerBox(picked_w, picked_w, picked_b, picked_b, last_hidden.activation, last_hidden.alpha, last_hidden.name)
    weights = a[None, :]
    output = LayerBox(weights, weights, beta, beta, out.activation, out.alpha, out.name)
    return Reduced(list(boxes[1:-2]) + [picked, output], hlo, hhi)


# -- one fixed relu layer over a box: branch and bound with certified LP bounds ------------------------
@dataclass
class SearchResult:
    """A certified upper bound of the reduced maximum, the best float point h found (input of the reduced
    network) with its float value, and the number of LP nodes."""

    upper: Fraction
    point: np.ndarray | None
    value: float
    nodes: int


def exact_by_lp(reduced: Reduced) -> bool:
    """One fixed relu layer and a linear output: the LP of :func:`lp_branch_and_bound` is exact at its leaves."""
    return len(reduced.boxes) == 2 and reduced.boxes[0].activation == "relu"


def lp_branch_and_bound(reduced: Reduced, *, stop_gap: float, seconds: float, max_nodes: int = 5000) -> SearchResult | None:
    """max of a·relu(G h + e) + β over the box of h, by branch and bound over the phases of the units with a_j >= 0.

    Each node is the LP with variables h (the box), z = G h + e (equality rows, columns bounded by the
    interval of z) and y standing for relu(z): for a_j < 0 the rows y >= 0, y >= z are exact (the
    maximum pushes y down); for a_j >= 0 the triangle's chord bounds y from above until the unit's
    phase is fixed (active: y <= z and z >= 0; inactive: y = 0 and z <= 0).  Leaves are exact.  LP
    values are certified from HiGHS's duals (:func:`smtnn.twins.lp.certified_min`), so each node's bound
    is a theorem whatever the solver's accuracy; a node whose LP gives no certificate keeps its
    parent's bound (None when the root has none).  Stops when the bound is within `stop_gap` of the
    best point found (its value in floats, to be replayed by the caller), after `seconds` or `max_nodes`.
    """
    from .twins.lp import LinearModel

    deadline = time.perf_counter() + seconds
    layer, out = reduced.boxes
    g, e, a, beta = layer.wlo, layer.blo, out.wlo[0], Fraction(float(out.blo[0]))
    zlo, zhi = interval_affine(layer, reduced.lower, reduced.upper)
    zlo, zhi = zlo[0], zhi[0]
    n = g.shape[0]
    model = LinearModel()
    h_cols = model.add_cols(reduced.lower, reduced.upper)
    z_cols = model.add_cols(zlo, zhi)
    y_cols = model.add_cols(np.zeros(n), np.maximum(zhi, 0.0))
    rising = a >= 0
    _, slope, intercept = _relu_lines(zlo, zhi)
    y_le_z = {}
    for j in range(n):
        model.add_row(np.concatenate([h_cols, [z_cols[j]]]), np.concatenate([-g[j], [1.0]]), e[j], e[j])
        if rising[j]:
            if zlo[j] < 0 < zhi[j]:
                model.add_row([y_cols[j], z_cols[j]], [1.0, -slope[j]], -np.inf, intercept[j])
            y_le_z[j] = model.add_row([y_cols[j], z_cols[j]], [1.0, -1.0], -np.inf, np.inf)
        else:
            model.add_row([y_cols[j], z_cols[j]], [1.0, -1.0], 0.0, np.inf)
    cost = np.zeros(model.n_cols)
    cost[y_cols] = -a

    def phase_overrides(phases):
        cols, rows = {}, {}
        for j in range(n):
            if not rising[j]:
                continue
            active = phases.get(j, True if zlo[j] >= 0 else (False if zhi[j] <= 0 else None))
            if active is True:
                cols[z_cols[j]] = (max(zlo[j], 0.0), zhi[j])
                rows[y_le_z[j]] = (-np.inf, 0.0)
            elif active is False:
                cols[z_cols[j]] = (zlo[j], min(zhi[j], 0.0))
                cols[y_cols[j]] = (0.0, 0.0)
        return cols, rows

    def solve(phases, parent_bound, basis=None):
        cols, rows = phase_overrides(phases)
        sol = model.minimize(cost, cols, rows, basis, time_limit=deadline - time.perf_counter())
        if sol.infeasible:
            return None
        bound = parent_bound if sol.bound is None else beta - sol.bound
        if parent_bound is not None and bound is not None:
            bound = min(bound, parent_bound)     # the parent's bound holds on its parts too
        return bound, (sol.point[h_cols] if sol.ok else None), sol

    def value_at(h):
        return float(a @ np.maximum(g @ h + e, 0.0) + float(out.blo[0]))

    first = solve({}, None)
    if first is None or first[0] is None:
        return None
    bound, point, sol = first
    best_point, best_value = (point, value_at(point)) if point is not None else (None, -np.inf)
    heap = [(-float(bound), 0, bound, {}, sol)]
    counter, nodes, top = 1, 1, bound
    while heap:
        top = heap[0][2]
        if float(top) - best_value <= stop_gap or time.perf_counter() > deadline or nodes >= max_nodes:
            break
        _, _, bound, phases, sol = heapq.heappop(heap)
        unit = _split_unit(sol, rising, zlo, zhi, phases, a, z_cols, y_cols) if sol.ok else None
        if unit is None:      # a leaf (exact LP) or an uncertain node: its bound is the final one
            break
        for active in (True, False):
            child = dict(phases)
            child[unit] = active
            result = solve(child, bound, sol.basis)
            nodes += 1
            if result is None:
                continue
            child_bound, point, child_sol = result
            if point is not None and value_at(point) > best_value:
                best_point, best_value = point, value_at(point)
            heapq.heappush(heap, (-float(child_bound), counter, child_bound, child, child_sol))
            counter += 1
    return SearchResult(top, best_point, best_value, nodes)


def _split_unit(sol, rising, zlo, zhi, phases, a, z_cols, y_cols) -> int | None:
    """The free unit with a_j >= 0 whose LP value of y overshoots relu(z) the most (weighted by a_j)."""
    z, y = sol.point[z_cols], sol.point[y_cols]
    free = rising & (zlo < 0) & (zhi > 0)
    for j in phases:
        free[j] = False
    if not free.any():
        return None
    score = np.where(free, a * np.maximum(y - np.maximum(z, 0.0), 0.0) + 1e-300, -1.0)
    return int(np.argmax(score))


def witness_parameters(boxes: list[LayerBox], x: np.ndarray, reduced: Reduced, point: np.ndarray,
                       row: np.ndarray) -> np.ndarray | None:
    """Float parameters (flat, in :meth:`Network.parameter_vector` order) that realise a point h1 of the reduced
    problem with two hidden relu layers: each first-layer row moves along the segment between its lowest and
    highest pre-activation at x until its unit takes h1_i (its lowest when h1_i is 0), the last hidden
    layer takes the picked rows and the output layer the weights that maximise row·z.  A candidate only:
    the caller replays it exactly.  None for other shapes."""
    if len(boxes) != 3 or not exact_by_lp(reduced) or boxes[0].activation != "relu":
        return None
    first, hidden, out = boxes
    up_w = np.where(x[None, :] >= 0, first.whi, first.wlo)
    down_w = np.where(x[None, :] >= 0, first.wlo, first.whi)
    z_max, z_min = up_w @ x + first.bhi, down_w @ x + first.blo
    target = np.where(point > 0, point, z_min)
    span = z_max - z_min
    t = np.clip(np.where(span > 0, (target - z_min) / np.where(span > 0, span, 1.0), 0.0), 0.0, 1.0)
    w1 = down_w + t[:, None] * (up_w - down_w)
    b1 = first.blo + t * (first.bhi - first.blo)
    picked = reduced.boxes[0]
    c = np.asarray(row, dtype=np.float64)
    w3 = np.where(c[:, None] > 0, out.whi, np.where(c[:, None] < 0, out.wlo, (out.wlo + out.whi) / 2))
    b3 = np.where(c > 0, out.bhi, np.where(c < 0, out.blo, (out.blo + out.bhi) / 2))
    return np.concatenate([w1.ravel(), b1, picked.wlo.ravel(), picked.blo, w3.ravel(), b3])


# -- any depth of relu layers: every layer as an interval-valued affine map, branch and bound with LPs --------
def sandwich_searchable(boxes: list[LayerBox]) -> bool:
    """Every hidden layer relu (the sandwich below needs h >= 0 after the first layer)."""
    return len(boxes) >= 2 and all(box.activation == "relu" for box in boxes[:-1])


class _SandwichPre(NamedTuple):
    """A hidden layer's pre-activation columns in the sandwich LP, and what its relu step needs."""

    box: LayerBox
    inputs: list | None       # the previous layer's activation columns (None: the first layer, at the fixed x)
    columns: list
    lo: np.ndarray
    hi: np.ndarray


class _SandwichRows:
    """Forward domain of :func:`sandwich_branch_and_bound`: the LP's columns and rows, layer by layer.

    The affine step adds a hidden layer's pre-activation columns z (bounded by ``pre``; the first layer's also
    by its interval at the fixed input); the relu step adds the activation columns h and, unit by unit, the two
    weight rows w_lo·h_prev + b_lo <= z <= w_hi·h_prev + b_hi (below the first layer), h >= z, the triangle's
    chord where the phase is open, and h <= z (relaxed until the phase is fixed active).  The output layer adds
    nothing (its weights are picked by sign).
    """

    description = "the sandwich LP of a relu network at one input"

    def __init__(self, model, pre: list, first: tuple[np.ndarray, np.ndarray], hidden_layers: int):
        self.model, self.pre, self.first, self.hidden_layers = model, pre, first, hidden_layers
        self.z_cols, self.h_cols, self.h_le_z, self.units = [], [], [], []

    def affine(self, k: int, box: LayerBox, inputs) -> "_SandwichPre | None":
        if k == self.hidden_layers:
            return None
        lo, hi = self.pre[k]
        if k == 0:
            lo, hi = np.maximum(lo, self.first[0]), np.minimum(hi, self.first[1])
        return _SandwichPre(box, inputs, self.model.add_cols(lo, np.maximum(hi, lo)), lo, hi)

    def relu(self, k: int, box: LayerBox, z: _SandwichPre) -> list:
        model, lo, hi, zc = self.model, z.lo, z.hi, z.columns
        hc = model.add_cols(np.maximum(lo, 0.0), np.maximum(hi, 0.0))
        _, slope, intercept = _relu_lines(lo, hi)
        h_le_z = {}
        for j in range(len(lo)):
            if z.inputs is not None:
                prev = z.inputs
                model.add_row(np.concatenate([prev, [zc[j]]]), np.concatenate([-box.whi[j], [1.0]]), -np.inf, box.bhi[j])
                model.add_row(np.concatenate([prev, [zc[j]]]), np.concatenate([-box.wlo[j], [1.0]]), box.blo[j], np.inf)
            model.add_row([hc[j], zc[j]], [1.0, -1.0], 0.0, np.inf)
            if lo[j] < 0 < hi[j]:
                model.add_row([hc[j], zc[j]], [1.0, -slope[j]], -np.inf, intercept[j])
                self.units.append((k, j))
            h_le_z[j] = model.add_row([hc[j], zc[j]], [1.0, -1.0], -np.inf, 0.0 if lo[j] >= 0 else np.inf)
        self.z_cols.append(zc)
        self.h_cols.append(hc)
        self.h_le_z.append(h_le_z)
        return hc


def sandwich_branch_and_bound(boxes: list[LayerBox], xlo: np.ndarray, xhi: np.ndarray, row: np.ndarray, pre: list, *,
                              stop_gap: float,
                              seconds: float, max_nodes: int = 5000) -> SearchResult | None:
    """max_p row·z(x, p) for a relu network at one input (a float box [xlo, xhi] around it: the first layer's rows
    are bounded over it), by branch and bound over ReLU phases with certified LPs.

    At a fixed h_{k-1} >= 0 the rows of layer k move independently, so unit j's pre-activation takes exactly
    the values between w_lo,j·h + b_lo,j and w_hi,j·h + b_hi,j: the reachable (h, z) of every layer are cut out
    by these two linear rows (the first layer, at the fixed x, by its interval), h = relu(z), and the output's
    maximum over its weights is a·h_L + β (as in :func:`reduce`).  The LP keeps the two rows per unit, h >= 0,
    h >= z and, for units whose phase is open, the triangle's chord (from the pre-activation bounds `pre`,
    valid over the whole box); fixing a phase (active: h <= z, z >= 0; inactive: h = 0, z <= 0) makes it exact,
    so leaves are exact.  Bounds certified from HiGHS's duals.  Each LP point becomes parameters by
    :func:`sandwich_witness`; the result's `point` holds the best of them (flat float parameters, to be
    replayed exactly by the caller) and `value` its float value.  None when the root has no certificate.
    """
    from .twins.lp import LinearModel

    deadline = time.perf_counter() + seconds
    hidden, out = boxes[:-1], boxes[-1]
    c = np.asarray(row, dtype=np.float64).reshape(1, -1)
    pos, neg = np.maximum(c, 0.0), np.minimum(c, 0.0)
    stacked = np.hstack([pos, neg])
    weights_out = np.vstack([out.whi, out.wlo])
    a = round_up(stacked @ weights_out + _matmul_error(stacked, weights_out))[0]
    bias = np.concatenate([out.bhi, out.blo])[:, None]
    beta = Fraction(float(round_up(stacked @ bias + _matmul_error(stacked, bias))[0, 0]))
    model = LinearModel()
    first_lo, first_hi = interval_affine(hidden[0], xlo, xhi)
    x = (np.asarray(xlo) + np.asarray(xhi)) / 2
    rows = _SandwichRows(model, pre, (first_lo[0], first_hi[0]), len(hidden))
    walk(BoxLayers(boxes), rows, None)
    z_cols, h_cols, h_le_z, units = rows.z_cols, rows.h_cols, rows.h_le_z, rows.units
    cost = np.zeros(model.n_cols)
    cost[h_cols[-1]] = -a

    def overrides(phases):
        cols, rows = {}, {}
        for (k, j), active in phases.items():
            lo, hi = model.col_lo[z_cols[k][j]], model.col_hi[z_cols[k][j]]
            if active:
                cols[z_cols[k][j]] = (max(lo, 0.0), hi)
                rows[h_le_z[k][j]] = (-np.inf, 0.0)
            else:
                cols[z_cols[k][j]] = (lo, min(hi, 0.0))
                cols[h_cols[k][j]] = (0.0, 0.0)
        return cols, rows

    def solve(phases, parent_bound, basis=None):
        cols, rows = overrides(phases)
        sol = model.minimize(cost, cols, rows, basis, time_limit=deadline - time.perf_counter())
        if sol.infeasible:
            return None
        bound = parent_bound if sol.bound is None else beta - sol.bound
        if parent_bound is not None and bound is not None:
            bound = min(bound, parent_bound)
        return bound, sol

    def split(sol, phases):
        best, best_gap = None, 0.0
        for k, j in units:
            if (k, j) in phases:
                continue
            z, h = sol.point[z_cols[k][j]], sol.point[h_cols[k][j]]
            gap = h - max(z, 0.0)
            if best is None or gap > best_gap:
                best, best_gap = (k, j), gap
        return best

    first = solve({}, None)
    if first is None or first[0] is None:
        return None
    bound, sol = first
    best_params, best_value = None, -np.inf
    candidates = [sol]
    heap = [(-float(bound), 0, bound, {}, sol)]
    counter, nodes, top = 1, 1, bound
    while heap:
        top = heap[0][2]
        for s in candidates:
            if s.ok:
                params, value = sandwich_witness(boxes, x, [s.point[zc] for zc in z_cols], row)
                if value > best_value:
                    best_params, best_value = params, value
        candidates = []
        if float(top) - best_value <= stop_gap or time.perf_counter() > deadline or nodes >= max_nodes:
            break
        _, _, bound, phases, sol = heapq.heappop(heap)
        unit = split(sol, phases) if sol.ok else None
        if unit is None:      # a leaf (exact LP) or an uncertain node: its bound is the final one
            break
        for active in (True, False):
            child = dict(phases)
            child[unit] = active
            result = solve(child, bound, sol.basis)
            nodes += 1
            if result is None:
                continue
            child_bound, child_sol = result
            heapq.heappush(heap, (-float(child_bound), counter, child_bound, child, child_sol))
            counter += 1
            candidates.append(child_sol)
    return SearchResult(top, best_params, best_value, nodes)


class _WitnessDomain:
    """Forward domain of :func:`sandwich_witness` over the layer boxes: each hidden layer's parameters move toward
    its target pre-activations on the actual activations, the output layer's maximise row·z; ``flat`` collects them."""

    description = "parameters chosen toward target pre-activations (relu layers only)"

    def __init__(self, targets: list[np.ndarray], row: np.ndarray):
        self.targets, self.row, self.flat = targets, row, []

    def affine(self, k: int, box: LayerBox, h: np.ndarray) -> np.ndarray:
        if k < len(self.targets):
            low_w = np.where(h[None, :] >= 0, box.wlo, box.whi)
            high_w = np.where(h[None, :] >= 0, box.whi, box.wlo)
            z_low, z_high = low_w @ h + box.blo, high_w @ h + box.bhi
            span = z_high - z_low
            t = np.clip(np.where(span > 0, (self.targets[k] - z_low) / np.where(span > 0, span, 1.0), 0.0), 0.0, 1.0)
            w = low_w + t[:, None] * (high_w - low_w)
            b = box.blo + t * (box.bhi - box.blo)
        else:
            c = self.row
            w = np.where(c[:, None] > 0, box.whi, np.where(c[:, None] < 0, box.wlo, (box.wlo + box.whi) / 2))
            b = np.where(c > 0, box.bhi, np.where(c < 0, box.blo, (box.blo + box.bhi) / 2))
        self.flat += [w.ravel(), b]
        return w @ h + b

    def relu(self, k: int, box: LayerBox, pre: np.ndarray) -> np.ndarray:
        return np.maximum(pre, 0.0)


def sandwich_witness(boxes: list[LayerBox], x: np.ndarray, targets: list[np.ndarray], row: np.ndarray):
    """Float parameters (flat, :meth:`Network.parameter_vector` order) that follow the LP's pre-activations
    `targets` as closely as the box allows, layer by layer on the actual activations, with the output weights
    that maximise row·z; returns (parameters, row·z in floats).  A candidate only: the caller replays it."""
    c = np.asarray(row, dtype=np.float64)
    domain = _WitnessDomain(targets, c)
    logits = walk(BoxLayers(boxes), domain, np.asarray(x, dtype=np.float64))
    return np.concatenate(domain.flat), float(c @ logits)
