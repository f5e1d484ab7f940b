"""Exact maximum of min_i form_i(z1, z2) over a box: branch and bound on relu phases.

Nodes fix some phases of the units the certified bounds leave unstable.  A node's upper bound
is the certified dual bound of its triangle LP (:mod:`.lp`); a node whose LP is infeasible is
dropped only with a Farkas certificate.  Every LP point, and every PGD candidate, is replayed
in exact integer arithmetic, so the incumbent (the lower end) is always attained.  When every
phase is fixed the problem is an LP in the inputs, solved exactly (:mod:`.leaf`).  The search
ends when no open node's bound exceeds the incumbent: then lower == upper, an exact rational.
Optional side constraints c·z >= 0 restrict the box (rows in every LP); without a feasible
point the incumbent is -inf, and an upper end of -inf means the constraints are infeasible.
"""
from __future__ import annotations

import heapq
import itertools
import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple, Sequence

import numpy as np

from ..domain import Box
from ..rounding import float_down as down, float_up as up
from .attack import pgd
from ..semantics.exactnet import ExactNetwork, exact_network
from .leaf import LeafLP, solve_leaf
from .relaxation import Key, Relaxation

WARM_START_CAP = 20.0
"""A child LP warm-started from its parent's basis gets this many times the slowest cold solve before it is solved cold."""

Form = tuple[tuple[int, ...], ...]


@dataclass
class SearchOutcome:
    """Certified [lower, upper] of the maximum; lower is attained at `witness`."""

    lower: Fraction | float          # -inf: no feasible point found
    upper: Fraction | float          # -inf: proven infeasible
    witness: tuple[Fraction, ...] | None
    complete: bool
    reason: str = ""
    nodes: int = 0
    leaves: int = 0
    lp_calls: int = 0
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)


class NodeBound(NamedTuple):
    """A node's certified LP bound (None when not certified), the LP point, and whether the LP is infeasible."""

    upper: Fraction | None
    point: np.ndarray | None
    infeasible: bool


@dataclass(order=True)
class _Node:
    key: float
    order: int
    upper: Fraction = field(compare=False)
    phases: dict = field(compare=False)
    point: np.ndarray | None = field(compare=False)
    duals: np.ndarray | None = field(compare=False, default=None)
    basis: object = field(compare=False, default=None)


class Search:
    """One maximization over a shared :class:`Relaxation` (phases are overrides, never new rows there)."""

    def __init__(self, relaxation: Relaxation, forms: Sequence[Form], exact: Sequence[ExactNetwork] | None = None,
                 constraints: Sequence[Form] = (), leaf_optimizer=None):
        """``leaf_optimizer``: the exact formula optimizer for leaves whose HiGHS basis does not verify."""
        self.relax = relaxation
        self.leaf_optimizer = leaf_optimizer
        self.forms = [tuple(tuple(int(v) for v in c) for c in f) for f in forms]
        self.constraints = [tuple(tuple(int(v) for v in c) for c in f) for f in constraints]
        self.exact = list(exact) if exact is not None else [exact_network(n) for n in relaxation.networks]
        self.box: Box = relaxation.box
        # one objective and no side rows add nothing to the relaxation's LP: solve on it (and its warm HiGHS
        # instance, whose basis fits every objective) instead of a copy that would start cold
        shared = len(self.forms) == 1 and not self.constraints
        self.model = relaxation.model if shared else relaxation.model.copy()
        self.model.branching()
        self.cost = np.zeros(0)
        self.t_col = None
        self._objective_rows()
        self.lp_calls = 0
        self._duals = self._basis = None
        self._cold_seconds = 0.0   # the slowest LP solved without a parent's basis (the root's, at first)

    # -- objective as LP rows --------------------------------------------------------------
    def _objective_rows(self) -> None:
        r, m = self.relax, self.model
        for f in self.constraints:
            c = r.cost(f)
            nz = np.flatnonzero(c)
            m.add_row(nz, c[nz], 0.0, np.inf)
        if len(self.forms) == 1:
            self.cost = -r.cost(self.forms[0])
            return
        ends = [r.interval(f) for f in self.forms]
        self.t_bounds = (min(lo for lo, _ in ends), min(hi for _, hi in ends))
        (self.t_col,) = m.add_cols([down(self.t_bounds[0])], [up(self.t_bounds[1])])
        for f in self.forms:
            c = r.cost(f)
            nz = np.flatnonzero(c)
            m.add_row(np.concatenate([[self.t_col], nz]), np.concatenate([[1.0], -c[nz]]), -np.inf, 0.0)
        self.cost = np.zeros(m.n_cols)
        self.cost[self.t_col] = -1.0

    def float_value(self, x: np.ndarray) -> float:
        """The objective in float64 (to skip hopeless exact replays)."""
        zs = [n.logits(x) for n in self.relax.networks]
        return min(sum(float(c) * z for cs, zt in zip(f, zs) for c, z in zip(cs, zt) if c) for f in self.forms)

    def value(self, x: Sequence[Fraction]) -> Fraction | float:
        """The exact objective at an exact input (-inf where a side constraint fails)."""
        zs = [e.logits(x) for e in self.exact]

        def lin(f):
            return sum((c * z for cs, zt in zip(f, zs) for c, z in zip(cs, zt) if c), Fraction(0))
        if any(lin(f) < 0 for f in self.constraints):
            return -math.inf
        return min(lin(f) for f in self.forms)

    # -- nodes ------------------------------------------------------------------------------
    def bound(self, phases: dict[Key, bool], basis=None, time_limit: float | None = None) -> NodeBound:
        """The certified upper bound of a node's LP (None if not certified, or stopped at `time_limit` seconds), its LP
        point, and whether it is infeasible."""
        cols, rows = self.relax.overrides(phases)
        sol = self.model.minimize(self.cost, cols, rows, basis, time_limit=time_limit)
        self.lp_calls += 1
        self._duals, self._basis = sol.duals, sol.basis
        if sol.infeasible:
            return NodeBound(None, None, True)
        if sol.bound is None:
            return NodeBound(None, (sol.point if sol.ok else None), False)
        return NodeBound(-sol.bound, sol.point, False)

    def _leaf(self, phases: dict[Key, bool]) -> LeafLP:
        """The node's problem as an LP in the inputs (and t), all phases fixed."""
        n = self.box.dimension
        unstable = {u.key for u in self.relax.unstable()}
        rows, forms_x = [], []
        for t, en in enumerate(self.exact):
            masks = _PhaseMasks(self.relax, phases, unstable, t, en.network)
            for k, keys in _by_layer(key for key in unstable if key[0] == t).items():
                eye = np.zeros((len(keys), en.network.layers[k].outputs), dtype=object)
                for i, key in enumerate(keys):
                    eye[i, key[2]] = 1
                form = en.forms(k, eye, masks)
                p, e, q = form.numerators, form.exponent, form.constants
                for i, key in enumerate(keys):
                    s = 1 if phases[key] else -1
                    rows.append((tuple(Fraction(s * int(v), 1 << e) for v in p[i]), s * q[i]))
            last = len(en.network.layers) - 1
            everything = self.forms + self.constraints
            coeff = np.array([list(f[t]) for f in everything], dtype=object)
            form = en.forms(last, coeff, masks)
            p, e, q = form.numerators, form.exponent, form.constants
            forms_x.append([([Fraction(int(v), 1 << e) for v in p[i]], q[i]) for i in range(len(everything))])
        combined = []
        for i in range(len(self.forms) + len(self.constraints)):
            g = [sum((forms_x[t][i][0][j] for t in range(len(forms_x))), Fraction(0)) for j in range(n)]
            combined.append((g, sum((forms_x[t][i][1] for t in range(len(forms_x))), Fraction(0))))
        lower, upper = list(self.box.lower), list(self.box.upper)
        rows += [(tuple(g), g0) for g, g0 in combined[len(self.forms):]]
        combined = combined[:len(self.forms)]
        if len(self.forms) == 1:
            g, g0 = combined[0]
            return LeafLP(tuple(lower), tuple(upper), tuple(rows), tuple(g), g0)
        rows = [(p + (Fraction(0),), q) for p, q in rows]
        rows += [(tuple(g) + (Fraction(-1),), g0) for g, g0 in combined]
        zero = (Fraction(0),) * n
        return LeafLP(tuple(lower + [self.t_bounds[0]]), tuple(upper + [self.t_bounds[1]]), tuple(rows), zero + (Fraction(1),), Fraction(0))

    def _branch_unit(self, phases: dict[Key, bool], point: np.ndarray | None, duals: np.ndarray | None) -> Key | None:
        """The open unit whose relaxation costs the bound most, estimated as |duals of its upper rows| (its
        triangle's and its pair hull's, weighted by the hull row's coefficient on its output) x how far the LP
        point's output lies above the relu of its input (what a split on it removes); ties by dual mass x height."""
        free = [u for u in self.relax.unstable() if u.key not in phases]
        if not free:
            return None
        if point is None or duals is None:
            return max(free, key=lambda u: u.height).key

        hulls = self.relax.hull_rows

        def score(u):
            weight = abs(duals[u.tri]) + sum(abs(duals[r]) * w for r, w in hulls.get(u.key, ()))
            excess = max(point[u.h] - max(point[u.a], 0.0), 0.0)
            return (weight * excess, weight * u.height, u.height)
        return max(free, key=score).key

    # -- the search -------------------------------------------------------------------------
    def run(self, *, timeout: float | None = None, target: Fraction | None = None, floor: Fraction | None = None,
            max_nodes: int = 100000, seeds: Sequence[Sequence[Fraction]] = (), attack: bool = True,
            tolerance: Fraction | float = 0) -> SearchOutcome:
        """Maximize; `target`: stop once the maximum is known to be above or below it; `floor`: only values
        above it matter (nodes bounded by it are dropped, and the upper end is then at least `floor`);
        `tolerance`: stop once the certified upper end is within it of the attained lower end (0: exact)."""
        return run_together([self], timeout=timeout, target=target, floor=floor, max_nodes=max_nodes, seeds=[seeds],
                            attack=attack, tolerance=tolerance)[0]

    def _start(self, seeds: Sequence[Sequence[Fraction]], attack: bool, deadline: float | None) -> "_State":
        """The incumbent from the seeds, PGD candidates (``attack``) and the box centre, and the root node."""
        box = self.box
        candidates = [tuple(s) for s in seeds] + (self._attack_points(deadline) if attack and not _past(deadline) else [])
        candidates.append(tuple((a + b) / 2 for a, b in zip(box.lower, box.upper)))
        best, best_x = None, None
        for x in candidates:      # each replayed exactly once; the first of equal values wins
            value = self.value(x)
            if best is None or value > best:
                best, best_x = value, x
        state = _State(self, best, best_x, deadline)
        upper, point, infeasible, duals, basis = None, None, False, None, None
        if not _past(deadline):   # the root LP stops at the deadline too (then the interval bound stands)
            upper, point, infeasible = self._timed_bound({}, None, None if deadline is None else deadline - time.perf_counter())
            duals, basis = self._duals, self._basis
        if upper is None:
            upper = min(hi for _, hi in (self.relax.interval(f) for f in self.forms))
        state.root = None if infeasible else _Node(-float(upper), 0, upper, {}, point, duals, basis)
        return state

    def _attack_points(self, deadline: float | None = None) -> list[tuple[Fraction, ...]]:
        """The best PGD candidates (projected gradient ascent in floats), as exact points of the box."""
        lo_f = np.array([float(v) for v in self.box.lower])
        hi_f = np.array([float(v) for v in self.box.upper])
        return [self.clip(x) for x in pgd(self.relax.networks, self.forms, lo_f, hi_f, deadline=deadline)[:4]]

    def _attack(self, state: "_State") -> None:
        """PGD candidates, replayed exactly, may raise the incumbent."""
        for x in self._attack_points(state.deadline):
            v = self.value(x)
            if v > state.best:
                state.best, state.best_x = v, x

    def _expand(self, node: "_Node", state: "_State") -> list[tuple[Fraction, dict, np.ndarray | None]]:
        """Process one node: its LP point may improve the incumbent; a leaf is solved exactly; otherwise the
        children (certified bound, phases, LP point) of a split on one unit, each with its LP's duals and basis."""
        state.nodes += 1
        if node.point is not None:
            guess = self.float_value(node.point[self.relax.x])
            if guess >= float(state.best) - 1e-9 * (1 + abs(guess)):
                x = self.clip(node.point[self.relax.x])
                v = self.value(x)
                if v > state.best:
                    state.best, state.best_x = v, x
        unit = self._branch_unit(node.phases, node.point, node.duals)
        if unit is None:
            state.leaves += 1
            deadline = state.deadline
            res = solve_leaf(self._leaf(node.phases), None if deadline is None else max(1.0, deadline - time.perf_counter()),
                             self.leaf_optimizer)
            if res.infeasible:
                return []
            x = res.point[:self.box.dimension] if res.ok else None
            if res.ok and self.value(x) == res.value:
                if res.value > state.best:
                    state.best, state.best_x = res.value, x
                return []
            state.unresolved.append(node.upper)
            state.reasons.add(res.reason or "leaf value does not replay")
            return []
        children = []
        for phase in (True, False):
            child = dict(node.phases)
            child[unit] = phase
            up_c, pt, infeasible = self._child_bound(child, node.basis, state.deadline)
            if infeasible:
                continue
            children.append((node.upper if up_c is None else up_c, child, pt, self._duals, self._basis))
        return children

    def _child_bound(self, phases: dict[Key, bool], basis, deadline: float | None) -> NodeBound:
        """A child's LP bound, warm-started from its parent's basis.  A warm start that has not finished within
        WARM_START_CAP × the slowest cold solve so far (HiGHS can stall from some bases) is solved again cold;
        an LP stopped at the deadline has no bound, and the child keeps its parent's."""
        def left():
            return None if deadline is None else max(0.001, deadline - time.perf_counter())

        if basis is None:
            return self._timed_bound(phases, None, left())
        cap = WARM_START_CAP * max(self._cold_seconds, 0.01)
        limit = left()
        found = self.bound(phases, basis, time_limit=cap if limit is None else min(cap, limit))
        if found.upper is not None or found.infeasible or _past(deadline):
            return found
        return self._timed_bound(phases, None, left())

    def _timed_bound(self, phases: dict[Key, bool], basis, time_limit: float | None) -> NodeBound:
        """:meth:`bound`, remembering the slowest solve of this kind (the cap on warm starts)."""
        start = time.perf_counter()
        found = self.bound(phases, basis, time_limit=time_limit)
        self._cold_seconds = max(self._cold_seconds, time.perf_counter() - start)
        return found

    def clip(self, x) -> tuple[Fraction, ...]:
        return tuple(min(max(Fraction(float(v)), lo), hi) for v, lo, hi in zip(x, self.box.lower, self.box.upper))


@dataclass
class _State:
    """One search's incumbent (attained, replayed exactly), leaves left undecided, and counters."""

    search: Search
    best: Fraction | float
    best_x: tuple | None
    deadline: float | None
    root: _Node | None = None
    unresolved: list = field(default_factory=list)
    reasons: set = field(default_factory=set)
    nodes: int = 0
    leaves: int = 0
    floored: bool = False
    dropped_bound: Fraction | float = -math.inf   # the largest bound of a node dropped at the floor / shared incumbent

    def drop(self, bound) -> None:
        self.floored = True
        self.dropped_bound = max(self.dropped_bound, bound)


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.perf_counter() > deadline


def run_together(searches: Sequence[Search], *, timeout: float | None = None, target: Fraction | None = None,
                 floor: Fraction | None = None, max_nodes: int = 100000, seeds: Sequence[Sequence] = (),
                 attack: bool = True, tolerance: Fraction | float = 0) -> list[SearchOutcome]:
    """Maximize max_i (max of search i) by one best-first branch and bound over all the searches' nodes.

    The searches share one heap and one incumbent: a node of any search whose certified bound does not exceed
    the best value attained by any of them (or `floor`) is dropped, so a search whose every node lies below
    another's incumbent ends at once, bounded by that incumbent (reported as a floor: its upper end is then
    the shared incumbent, its lower end its own attained value).  One search alone is :meth:`Search.run`.
    `target` (a single search only): stop once the maximum is known to be above or below it.  ``seeds``: per
    search, inputs to start from.  The whole call shares `timeout` and `max_nodes`; `tolerance` applies to the
    joint maximum.
    """
    tolerance = Fraction(tolerance)
    start = time.perf_counter()
    deadline = None if timeout is None else start + timeout
    seeds = list(seeds) + [()] * (len(searches) - len(seeds))
    alone = len(searches) == 1
    states = [s._start(seed, attack and alone, deadline) for s, seed in zip(searches, seeds)]
    if attack and not alone:   # attack the most promising roots first; a root below the incumbent needs none
        for st in sorted(states, key=lambda st: -math.inf if st.root is None else -st.root.upper):
            if _past(deadline):
                break
            if st.root is not None and st.root.upper > max(max(o.best for o in states), -math.inf if floor is None else floor):
                st.search._attack(st)
    counter = itertools.count(1)
    heap: list[tuple[_Node, int]] = []
    for i, st in enumerate(states):
        if st.root is not None:
            heap.append((replace_order(st.root, next(counter)), i))
    heapq.heapify(heap)

    def incumbent():
        return max(st.best for st in states)

    def bar():   # nodes at or below it are dropped: they cannot raise the joint maximum
        return incumbent() if floor is None else max(incumbent(), floor)

    def open_upper():
        return max([n.upper for n, _ in heap] + [u for st in states for u in st.unresolved], default=-math.inf)

    stop = ""
    while heap:
        if deadline is not None and time.perf_counter() > deadline:
            stop = "timeout"
            break
        if sum(st.nodes for st in states) >= max_nodes:
            stop = f"node limit {max_nodes}"
            break
        if target is not None and (incumbent() > target or max([heap[0][0].upper] + states[0].unresolved) < target):
            stop = "decided"
            break
        if tolerance and heap[0][0].upper - incumbent() <= tolerance and open_upper() - incumbent() <= tolerance:
            stop = "within tolerance"
            break
        node, i = heapq.heappop(heap)
        st = states[i]
        if node.upper <= st.best:
            continue
        if node.upper <= bar():
            st.drop(node.upper)
            continue
        for up_c, child, pt, duals, basis in st.search._expand(node, st):
            if up_c <= st.best:
                continue
            if up_c <= bar():
                st.drop(up_c)
                continue
            heapq.heappush(heap, (_Node(-float(up_c), next(counter), up_c, child, pt, duals, basis), i))
    seconds = time.perf_counter() - start
    shared = bar()
    outcomes = []
    for i, st in enumerate(states):
        mine = [n.upper for n, j in heap if j == i]
        best, best_x = st.best, (st.best_x if math.isfinite(st.best) else None)
        # a node dropped at the floor bounds its region by its own bound; alone, by the floor as before
        dropped = ([shared if len(searches) == 1 else st.dropped_bound] if st.floored else [])
        upper_end = max(mine + st.unresolved + [best] + dropped)
        complete = upper_end == best
        if complete:
            reason = ""
        elif stop == "within tolerance":
            reason = f"stopped within the tolerance {float(tolerance):g} (gap {float(upper_end - best):.3g})"
        elif stop:
            reason = stop
        elif st.unresolved:
            reason = "leaf LP not solved exactly: " + "; ".join(sorted(st.reasons))
        elif st.floored:
            reason = "bounded by the floor only (not needed exactly)"
        else:
            reason = "open nodes remain"
        stats = {"stopped": stop, "unresolved_leaves": len(st.unresolved),
                 "below_floor": st.floored and upper_end in dropped}
        if len(searches) > 1:
            stats["joint_searches"] = len(searches)
        outcomes.append(SearchOutcome(best, upper_end, None if best_x is None else tuple(best_x), complete, reason,
                                      st.nodes, st.leaves, st.search.lp_calls, seconds, stats))
    return outcomes


def replace_order(node: _Node, order: int) -> _Node:
    """The node with a new tie-breaking order (heap entries of several searches must not compare their phases)."""
    return _Node(node.key, order, node.upper, node.phases, node.point, node.duals, node.basis)


class _PhaseMasks:
    """Which units of network t's hidden layer k are active at a node: its phase where branched, else its
    certified sign; read (once per layer) when the backward walk of :meth:`ExactNetwork.forms` reaches layer k."""

    def __init__(self, relax: Relaxation, phases: dict[Key, bool], unstable: set, t: int, network):
        self.relax, self.phases, self.unstable, self.t, self.network = relax, phases, unstable, t, network
        self.read: dict[int, np.ndarray] = {}

    def __call__(self, k: int) -> np.ndarray:
        if k not in self.read:
            units = [self.relax.units[(self.t, k, j)] for j in range(self.network.layers[k].outputs)]
            self.read[k] = np.array([self.phases[u.key] if u.key in self.unstable else u.lo >= 0 for u in units])
        return self.read[k]


def _by_layer(keys) -> dict[int, list[Key]]:
    """Unit keys (network, layer, unit) grouped by layer, each group and the layers in ascending order."""
    out: dict[int, list[Key]] = {}
    for key in sorted(keys):
        out.setdefault(key[1], []).append(key)
    return out
