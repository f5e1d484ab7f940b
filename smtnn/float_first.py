"""Float first, exact last: decide local properties from outward-rounded bounds and replayed attacks.

Each function returns a proof, a replayed witness, or "nothing decided", so the property code can
fall back to its exact path:

- a proof is an outward-rounded float bound (:mod:`smtnn.linear_bounds`) on the right side of
  the decision boundary, for every class pair at once (one matrix of logit differences);
- a witness is a parameter vector from :mod:`smtnn.attack`, clamped into the exact box and
  replayed in exact rational arithmetic (:func:`exact_logits`) before it counts.
"""
from __future__ import annotations

import functools
import heapq
import time
import weakref
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np

from . import attack, local_reduction, phase_duals
from .budget import FLOOR, Budget
from .bounds import Extreme, decouples, extreme_at, linear_value, replay_logits
from .domain import Box
from .exact import Enclosure, logit_bracket
from .linear_bounds import (KINKED, domain_box, input_box, objective_bounds, parameter_box, refined_pre_activations,
                            root_pre_activations, supported)
from .network import Network
from .perturbation import Perturbation
from .result import Verdict
from .semantics import walk
from .semantics.exactnet import exact_network
from .semantics.integers import DenominatorTooLarge, IntegerDomain, RationalParameterDomain, common_integers

INTERVAL_METHOD = "outward-rounded float interval bounds (all class pairs at once)"
LINEAR_METHOD = "outward-rounded float linear bounds under parameter perturbation (CROWN-style, McCormick/chord products)"
TIGHTEN_METHOD = "outward-rounded float linear bound + replayed parameter attack"
ATTACK_METHOD = "parameter-space attack (vertex ascent) + exact replay"
BRANCH_METHOD = "branch and bound over ReLU phases with outward-rounded float linear bounds"
DUAL_ITERATIONS = 8
"""Adam steps on a node's phase multipliers (:mod:`.phase_duals`), started from its parent's."""
LEAF_DUAL_ITERATIONS = 200
"""Further steps for a node whose every phase is known (nothing left to split), once."""
PAIR_BRANCH_SECONDS = 10.0
"""Time for tightening the pair bounds of multi-class local ε by branch and bound when the call has no timeout."""
PAIR_BRANCH_CAP = 0.5
"""At most this many seconds per pair: a pair that closes does so within a few dozen nodes (ACAS Xu: 3-16)."""
PAIR_CLOSE = 1e-7
"""A pair's bound this close to its replayed value (in logit units) counts as closed: far below the ε tolerances."""
_MAX_DENOMINATOR_BITS = 1 << 16
REPLAY_MARGIN = 2.0   # a search's witness (inside the box) replays in up to about twice the attack's (at its corners)


def _quiet(function):
    """Float overflow in a bound gives inf or NaN, which prove nothing (checked); keep NumPy from warning about it."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
            return function(*args, **kwargs)
    return wrapper


@dataclass(frozen=True)
class Decision:
    """What the float pass settled: a verdict (None: nothing), the method, and a replayed witness (parameters, and
    the input for global properties); the caller measures the witness's value by its own replay."""

    verdict: Verdict | None
    method: str = ""
    parameters: tuple[Fraction, ...] | None = None
    input: tuple[Fraction, ...] | None = None

    @classmethod
    def nothing(cls) -> "Decision":
        return cls(None)


def exact_logits(network: Network, x: Sequence[Fraction], params: Sequence[Fraction] | None = None) -> list[Enclosure]:
    """The logits in exact rationals at `params` (None: the network's own parameters); piecewise-linear networks
    by integer matrix products (same values as :func:`smtnn.bounds.replay_logits`, much faster on wide layers),
    others through replay_logits."""
    if params is not None:
        if not isinstance(params, tuple):
            return _exact_logits(network, x, params)
        key = (id(network), id(params), tuple(x))   # a witness is replayed where it is found and again by its caller
        entry = _RECENT_LOGITS.get(key)
        if entry is None or entry[0]() is not network or entry[1] is not params:
            if len(_RECENT_LOGITS) >= 4:
                _RECENT_LOGITS.pop(next(iter(_RECENT_LOGITS)))
            entry = _RECENT_LOGITS[key] = (weakref.ref(network), params, _exact_logits(network, x, params))
        return list(entry[2])
    key = (id(network), tuple(x))   # the nominal logits: asked for several times per query
    entry = _NOMINAL_LOGITS.get(key)
    if entry is None or entry[0]() is not network:
        if len(_NOMINAL_LOGITS) >= 16:
            _NOMINAL_LOGITS.clear()
        entry = _NOMINAL_LOGITS[key] = (weakref.ref(network), _nominal_logits(network, x))
    return list(entry[1])


_NOMINAL_LOGITS: dict[tuple, tuple[weakref.ref, list[Enclosure]]] = {}
_RECENT_LOGITS: dict[tuple, tuple[weakref.ref, tuple, list[Enclosure]]] = {}   # holds its params, so no id is reused


def _nominal_logits(network: Network, x: Sequence[Fraction]) -> list[Enclosure]:
    """Piecewise-linear networks straight from their float weights as integers (no rational per parameter)."""
    if network.piecewise_linear:
        try:
            inputs = common_integers(list(x), _MAX_DENOMINATOR_BITS)
        except DenominatorTooLarge:
            return replay_logits(network, x, network.exact_vector)
        logits = walk(network, IntegerDomain(exact_network(network).layers), inputs)
        return [Enclosure.point(q) for q in logits.fractions()]
    return _exact_logits(network, x, network.exact_vector)


def _exact_logits(network: Network, x: Sequence[Fraction], params: Sequence[Fraction]) -> list[Enclosure]:
    if not network.piecewise_linear:
        return replay_logits(network, x, params)
    try:
        inputs = common_integers(list(x), _MAX_DENOMINATOR_BITS)
        logits = walk(network, RationalParameterDomain(network, params, _MAX_DENOMINATOR_BITS), inputs)
    except DenominatorTooLarge:
        return replay_logits(network, x, params)
    return [Enclosure.point(q) for q in logits.fractions()]


def _exact_parameters(perturbation: Perturbation, candidate: np.ndarray, lo_f: np.ndarray, hi_f: np.ndarray,
                      nominal_f: np.ndarray) -> tuple[Fraction, ...]:
    """A float candidate as exact rationals in the exact box: a value at a float end of the (outward) box
    becomes that exact end, the nominal float its exact value, anything else is clamped exactly.

    A float strictly between the box's nearest outward floats (:meth:`Perturbation.float_box`) lies strictly
    inside the exact box (the next float above the largest float <= lower exceeds lower), so it needs no clamp.
    """
    out = np.empty(len(candidate), dtype=object)
    at_hi = candidate >= hi_f
    at_lo = (candidate <= lo_f) & ~at_hi
    moved = ~(at_hi | at_lo) & (candidate != nominal_f)
    nearest_lo, nearest_hi = perturbation.float_box()
    inside = moved & (candidate > nearest_lo) & (candidate < nearest_hi)
    clamped = np.flatnonzero(moved & ~inside)
    out[at_hi] = perturbation.ends(np.flatnonzero(at_hi), upper=True)
    out[at_lo] = perturbation.ends(np.flatnonzero(at_lo), upper=False)
    out[inside] = list(map(Fraction.from_float, candidate[inside].tolist()))
    out[clamped] = [min(max(Fraction(float(candidate[i])), lo), hi) for i, lo, hi in
                    zip(clamped.tolist(), perturbation.ends(clamped, upper=False), perturbation.ends(clamped, upper=True))]
    kept = ~(at_hi | at_lo | moved)
    out[kept] = perturbation.nominal_at(np.flatnonzero(kept))
    return tuple(out)


def _replayed_flip(network, perturbation, x, candidate, lo_f, hi_f, label_of, c) -> tuple[Fraction, ...] | None:
    """The attack's candidate as exact parameters in the box, if at x they certainly give a label other than c."""
    params = _exact_parameters(perturbation, candidate, lo_f, hi_f, network.parameter_vector())
    try:
        return params if label_of(exact_logits(network, x, params)) != c else None
    except ArithmeticError:   # the label of the enclosure is undecided: not a witness
        return None


def _flip_rows(network: Network, c: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows r and float levels t: the label c flips iff some r·z reaches t (multi-class ties count as flips).

    The levels only steer the attack; proofs compare with the exact level in :func:`_kept`.
    """
    if network.binary:
        t = logit_bracket(network.threshold)
        # class 1 flips iff z < t (-z > -t); class 0 flips iff z >= t; the float tests use the bracket outward
        return (np.array([[-1.0]]), np.array([-float(t.hi)])) if c == 1 else (np.array([[1.0]]), np.array([float(t.lo)]))
    k = network.n_outputs
    sign = -1.0 if getattr(network, "decision", "argmax") == "argmin" else 1.0
    rows = np.zeros((k - 1, k))
    for r, j in enumerate(j for j in range(k) if j != c):
        rows[r, j], rows[r, c] = sign, -sign
    return rows, np.zeros(k - 1)


def _kept(network: Network, c: int, upper: np.ndarray) -> bool:
    """No flip when every row's upper bound stays on the kept side (the binary level read outward)."""
    if not np.isfinite(upper).all():
        return False
    if network.binary:
        t = logit_bracket(network.threshold)
        u = Fraction(float(upper[0]))
        return -u >= t.hi if c == 1 else u < t.lo   # class 1: min z >= t.hi; class 0: max z < t.lo
    return bool((upper < 0).all())


@_quiet
def local_label(network: Network, perturbation: Perturbation, x: Sequence[Fraction],
                label_of: Callable[[list[Enclosure]], int], timeout: float | None = None) -> Decision:
    """Def. 3 at x: holds from float bounds, violated from a replayed attack, else nothing decided.

    `label_of` is the property's own label rule on exact logit enclosures (it raises ArithmeticError
    when the label is undecided); a witness counts only if it changes that label.  Branch and bound
    over ReLU phases (beyond tiny networks) takes at most half of `timeout` (default 10 s).
    """
    if not supported(network):
        return Decision.nothing()
    boxes = parameter_box(network, perturbation)
    if all(box.fixed for box in boxes):
        return Decision.nothing()
    z0 = exact_logits(network, x)
    try:
        c = label_of(z0)
    except ArithmeticError:
        return Decision.nothing()
    rows, levels = _flip_rows(network, c)
    xlo, xhi = input_box(x)
    _, upper = objective_bounds(network, boxes, xlo, xhi, rows, linear=False)
    if _kept(network, c, upper):
        return Decision(Verdict.HOLDS, INTERVAL_METHOD)
    _, upper = objective_bounds(network, boxes, xlo, xhi, rows, linear=True)
    if _kept(network, c, upper):
        return Decision(Verdict.HOLDS, LINEAR_METHOD)
    if not attack.can_attack(network):
        return Decision.nothing()
    lo_f, hi_f = _float_box(network, boxes)
    xf = np.array([float(v) for v in x])
    for r in np.argsort(-upper):
        if upper[r] < levels[r]:
            continue
        candidate, value = attack.vertex_ascent(network, lo_f, hi_f, xf, rows[r])
        if value < levels[r] - 1e-9 * (1 + abs(levels[r])):
            continue
        params = _replayed_flip(network, perturbation, x, candidate, lo_f, hi_f, label_of, c)
        if params is not None:
            return Decision(Verdict.VIOLATED, ATTACK_METHOD, params)
    if _exact_is_cheap(network):
        return Decision.nothing()
    budget = _branch_seconds(timeout)
    upper_bound, nodes = phase_branch_and_bound(network, boxes, xlo, xhi, rows, seconds=budget,
                                                stop_at=float(np.nextafter(levels.min(), -np.inf)))
    if _kept(network, c, np.array([upper_bound])):
        return Decision(Verdict.HOLDS, f"{BRANCH_METHOD} ({nodes} nodes)")
    return Decision.nothing()


PAIR_METHOD = ("per-pair outward-rounded float linear bounds, branch and bound over ReLU phases and replayed parameter "
               "attacks (bound may be loose)")


@_quiet
def pair_extremes(network: Network, perturbation: Perturbation, x: Sequence[Fraction], deadline: float | None = None
                  ) -> tuple[dict[tuple[int, int], Extreme], dict[tuple[int, int], list[Enclosure]]]:
    """max (z_a - z_b)(x, p) over the box for every ordered pair of logits at once: a float linear upper bound
    and a replayed attack witness, with the witness's exact logits.  Pairs reached after `deadline` (a
    perf_counter time) keep the nominal parameters as their witness.  Empty when the perturbation decouples
    (the exact corner analysis of :func:`smtnn.bounds.extreme_at` is then exact and cheap) or nothing moves."""
    if network.binary or decouples(network, perturbation) or not supported(network) or not attack.can_attack(network):
        return {}, {}
    boxes = parameter_box(network, perturbation)
    if all(box.fixed for box in boxes):
        return {}, {}
    k = network.n_outputs
    pairs = [(a, b) for a in range(k) for b in range(k) if a != b]
    rows = np.zeros((len(pairs), k))
    for r, (a, b) in enumerate(pairs):
        rows[r, a], rows[r, b] = 1.0, -1.0
    xlo, xhi = input_box(x)
    _, upper = objective_bounds(network, boxes, xlo, xhi, rows)
    if not np.isfinite(upper).all():
        return {}, {}
    lo_f, hi_f = _float_box(network, boxes)
    xf = np.array([float(v) for v in x])
    nominal = None
    extremes, logits = {}, {}
    for r, (a, b) in enumerate(pairs):
        if deadline is not None and time.perf_counter() > deadline:
            if nominal is None:
                nominal = (perturbation.nominal, exact_logits(network, x))
            params, logits[(a, b)] = nominal
        else:
            candidate, _ = attack.vertex_ascent(network, lo_f, hi_f, xf, rows[r])
            params = _exact_parameters(perturbation, candidate, lo_f, hi_f, network.parameter_vector())
            logits[(a, b)] = exact_logits(network, x, params)
        value = linear_value([int(v) for v in rows[r]], logits[(a, b)])
        extremes[(a, b)] = Extreme(max(Fraction(float(upper[r])), value.lo), params, value, False)
    _tighten_pairs(network, boxes, xlo, xhi, rows, pairs, extremes, deadline)
    return extremes, logits


def _tighten_pairs(network, boxes, xlo, xhi, rows, pairs, extremes, deadline: float | None) -> None:
    """Lower each pair's upper end by branch and bound over ReLU phases until it meets its witness's value, widest
    gaps first, sharing the time left before `deadline` (10 s without one), at most PAIR_BRANCH_CAP each."""
    if not any(box.activation in KINKED for box in boxes[:-1]):
        return
    stop = (time.perf_counter() + PAIR_BRANCH_SECONDS) if deadline is None else deadline
    order = sorted(range(len(pairs)), key=lambda r: extremes[pairs[r]].witness_value.lo - extremes[pairs[r]].upper)
    for done, r in enumerate(order):
        left = stop - time.perf_counter()
        if left <= 0:
            break
        ext = extremes[pairs[r]]
        if ext.upper <= ext.witness_value.lo:
            continue
        attained = float(ext.witness_value.lo)
        branched, _ = phase_branch_and_bound(network, boxes, xlo, xhi, rows[r:r + 1], stop_at=attained + PAIR_CLOSE,
                                             seconds=min(left / (len(order) - done), PAIR_BRANCH_CAP))
        if np.isfinite(branched) and branched < ext.upper:
            extremes[pairs[r]] = Extreme(max(Fraction(branched), ext.witness_value.lo), ext.witness, ext.witness_value, False)


def _branch_seconds(timeout: float | None) -> float:
    return 10.0 if timeout is None else max(0.0, timeout / 2)


def _last_phase_seconds(clock: Budget, replay: float) -> float:
    """The seconds of a call's last search: all that is left of `clock` but `replay` seconds kept for replaying its
    witness exactly (10 s without a timeout)."""
    left = clock.remaining()
    return 10.0 if left is None else max(left - replay, FLOOR)


def _float_box(network: Network, boxes) -> tuple[np.ndarray, np.ndarray]:
    """The flat float parameter box (outward) in the order of Network.parameter_vector."""
    lo = np.concatenate([np.concatenate([b.wlo.ravel(), b.blo]) for b in boxes])
    hi = np.concatenate([np.concatenate([b.whi.ravel(), b.bhi]) for b in boxes])
    return lo, hi


@_quiet
def tighten_extreme(network: Network, perturbation: Perturbation, x: Sequence[Fraction], coeffs: Sequence[int],
                    extreme: Extreme, tolerance: Fraction = Fraction(0), timeout: float | None = None,
                    branch: bool = True, solver_follows: bool = True) -> tuple[Extreme, str]:
    """max c·z(x, p) over the box: the given (interval) extreme with its upper end lowered by the float
    linear bound (then, beyond tiny networks, by branch and bound over ReLU phases until the gap is at
    most `tolerance`, if `branch`) and its witness raised by a replayed attack.
    Relu networks are searched exactly (:mod:`smtnn.local_reduction`: the reduced problem for two hidden
    layers, every layer as an interval-valued affine map otherwise; LP branch and bound, exact at its leaves,
    which also supplies the witness); other reducible networks branch over phases on the reduced problem.
    The last search takes all of `timeout` that is left but the time its witness's replay needs; a phase
    branch and bound that a solver's search follows (`solver_follows`) takes at most half of `timeout`.
    Returns (extreme, the method that improved it or "")."""
    if not supported(network):
        return extreme, ""
    clock = Budget(timeout=timeout)
    boxes = parameter_box(network, perturbation)
    if all(box.fixed for box in boxes):
        return extreme, ""
    xlo, xhi = input_box(x)
    row = np.array([coeffs], dtype=np.float64)
    _, upper = objective_bounds(network, boxes, xlo, xhi, row, linear=True)
    bound = Fraction(float(upper[0])) if np.isfinite(upper[0]) else extreme.upper
    method = TIGHTEN_METHOD if bound < extreme.upper else ""
    new_upper = min(bound, extreme.upper)
    witness, value = extreme.witness, extreme.witness_value
    replay = 0.0   # seconds kept after the last search for replaying its witness
    if attack.can_attack(network):
        lo_f, hi_f = _float_box(network, boxes)
        candidate, found = attack.vertex_ascent(network, lo_f, hi_f, np.array([float(v) for v in x]), row[0])
        if found > float(value.lo):
            started = time.perf_counter()
            params = _exact_parameters(perturbation, candidate, lo_f, hi_f, network.parameter_vector())
            replayed = linear_value(coeffs, exact_logits(network, x, params))
            replay = REPLAY_MARGIN * (time.perf_counter() - started)   # the search's witness is replayed the same way
            if replayed.lo > value.lo:
                witness, value, method = params, replayed, method or TIGHTEN_METHOD
    if branch and new_upper - value.lo > tolerance and not _exact_is_cheap(network) and not clock.spent():
        reduced = local_reduction.reduce(boxes, xlo, xhi, row[0]) if local_reduction.reducible(boxes) else None
        found, name = None, ""
        # both searches are exact at their leaves: worth all the budget (a solver fallback rarely does better)
        seconds = _last_phase_seconds(clock, replay)
        if reduced is not None and local_reduction.exact_by_lp(reduced):
            found, name = _reduced_search(network, perturbation, x, coeffs, boxes, reduced, row[0], value, tolerance,
                                          seconds), REDUCED_METHOD
        elif local_reduction.sandwich_searchable(boxes):
            found, name = _sandwich_search(network, perturbation, x, coeffs, boxes, xlo, xhi, row[0], value, tolerance,
                                           seconds), SANDWICH_METHOD
        if found is not None:
            bound, found_witness, found_value, nodes = found
            if found_witness is not None:
                witness, value = found_witness, found_value
            if bound < new_upper or found_witness is not None:
                new_upper, method = min(bound, new_upper), f"{name} ({nodes} nodes) + replayed witness"
        if found is None and new_upper - value.lo > tolerance and not clock.spent():
            seconds = (min(_branch_seconds(timeout), clock.remaining()) if solver_follows and timeout is not None
                       else _last_phase_seconds(clock, replay))
            stop = float(value.lo + tolerance / 2)
            search_boxes, search_lo, search_hi, search_row = boxes, xlo, xhi, row
            if reduced is not None:   # the same maximum with the first layer as a box and the last weights picked
                search_boxes, search_lo, search_hi, search_row = reduced.boxes, reduced.lower, reduced.upper, np.array([[1.0]])
            branched, nodes = phase_branch_and_bound(network, search_boxes, search_lo, search_hi, search_row,
                                                     stop_at=stop, seconds=seconds)
            if np.isfinite(branched) and Fraction(branched) < new_upper:
                prefix = "exact first/last-layer reduction + " if reduced is not None else ""
                new_upper, method = Fraction(branched), f"{prefix}{BRANCH_METHOD} ({nodes} nodes) + replayed parameter attack"
    return Extreme(max(new_upper, value.lo), witness, value, extreme.exact), method


def starting_extreme(network: Network, perturbation: Perturbation, x: Sequence[Fraction],
                      coeffs: Sequence[int]) -> Extreme | None:
    """A cheap start for :func:`tighten_extreme` in place of :func:`smtnn.bounds.extreme_at`'s exact interval
    propagation (seconds of rational arithmetic on wide layers): the outward-rounded float interval bound and
    the nominal parameters as witness.  None where extreme_at is exact or cheap (decoupled perturbations, tiny
    networks) or the float pass does not apply, so those queries keep their exact path."""
    if decouples(network, perturbation) or _exact_is_cheap(network) or not supported(network):
        return None
    boxes = parameter_box(network, perturbation)
    xlo, xhi = input_box(x)
    _, upper = objective_bounds(network, boxes, xlo, xhi, np.array([coeffs], dtype=np.float64), linear=False)
    if not np.isfinite(upper[0]):
        return None
    nominal = tuple(perturbation.nominal)
    value = linear_value(coeffs, exact_logits(network, x))
    return Extreme(max(Fraction(float(upper[0])), value.lo), nominal, value, False)


REDUCED_METHOD = ("exact first/last-layer reduction to a fixed one-layer network over a box + branch and bound over "
                  "ReLU phases with certified LP bounds")


def _reduced_search(network, perturbation, x, coeffs, boxes, reduced, row, value, tolerance, seconds):
    """Upper bound and replayed witness of max c·z(x, p) from the reduced problem (two hidden relu layers):
    (bound, witness or None, its replayed value, nodes), or None when the LP gave no certificate."""
    result = local_reduction.lp_branch_and_bound(reduced, stop_gap=float(tolerance) / 4, seconds=seconds)
    if result is None:
        return None
    witness, found = None, value
    if result.point is not None:
        xf = np.array([float(v) for v in x])
        candidate = local_reduction.witness_parameters(boxes, xf, reduced, result.point, row)
        if candidate is not None:
            lo_f, hi_f = _float_box(network, boxes)
            params = _exact_parameters(perturbation, candidate, lo_f, hi_f, network.parameter_vector())
            replayed = linear_value(coeffs, exact_logits(network, x, params))
            if replayed.lo > value.lo:
                witness, found = params, replayed
    return result.upper, witness, found, result.nodes


SANDWICH_METHOD = ("every layer as an interval-valued affine map (exact at one input) + branch and bound over ReLU "
                   "phases with certified LP bounds")


def searched_exactly(method: str) -> bool:
    """True when :func:`tighten_extreme`'s method was an LP branch and bound that is exact at its leaves: a gap it
    left is a matter of time, and a solver's bisection over every parameter would not close it sooner."""
    return method.startswith((REDUCED_METHOD, SANDWICH_METHOD))


def _sandwich_search(network, perturbation, x, coeffs, boxes, xlo, xhi, row, value, tolerance, seconds):
    """As :func:`_reduced_search`, for relu networks of any depth (:func:`smtnn.local_reduction.sandwich_branch_and_bound`)."""
    bounds = root_pre_activations(boxes, xlo, xhi)
    if bounds is None:
        return None
    result = local_reduction.sandwich_branch_and_bound(boxes, xlo, xhi, row, bounds.pre, stop_gap=float(tolerance) / 4,
                                                       seconds=seconds)
    if result is None:
        return None
    witness, found = None, value
    if result.point is not None:
        lo_f, hi_f = _float_box(network, boxes)
        params = _exact_parameters(perturbation, result.point, lo_f, hi_f, network.parameter_vector())
        replayed = linear_value(coeffs, exact_logits(network, x, params))
        if replayed.lo > value.lo:
            witness, found = params, replayed
    return result.upper, witness, found, result.nodes


SMALL_EXACT_PARAMETERS = 64
GLOBAL_ATTACK_METHOD = "input and parameter attack near the nominal decision boundary + exact replay"
GLOBAL_PROOF_METHOD = "outward-rounded float linear bounds over input boxes (branch and bound on D)"


@_quiet
def global_label(network: Network, perturbation: Perturbation, domain: Box,
                 label_of: Callable[[list[Enclosure]], int], *, samples: int = 256, max_boxes: int = 256,
                 seed: int = 0) -> Decision:
    """Def. 4 on D: a replayed flip found near the nominal decision boundary, a float proof when one
    label covers D robustly (input boxes split by influence), else nothing decided."""
    if not supported(network) or not attack.can_attack(network) or _exact_is_cheap(network):
        return Decision.nothing()
    boxes = parameter_box(network, perturbation)
    if all(box.fixed for box in boxes):
        return Decision.nothing()
    lo_f, hi_f = _float_box(network, boxes)
    dlo, dhi = domain_box(domain.lower, domain.upper)
    inner_lo, inner_hi = np.minimum(np.nextafter(dlo, np.inf), dhi), np.maximum(np.nextafter(dhi, -np.inf), dlo)
    rng = np.random.default_rng(seed)
    points = inner_lo + rng.random((samples, len(dlo))) * (inner_hi - inner_lo)
    points = np.vstack([points, (inner_lo + inner_hi) / 2])
    labels = _float_labels(network, points)
    for candidate in _boundary_points(network, points, labels):
        found = _flip_at(network, perturbation, domain, candidate, lo_f, hi_f, label_of)
        if found is not None:
            return found
    # one label on every sample: search for a flip by ascent on x and p, then try a proof
    c = int(labels[-1])
    rows, _ = _flip_rows(network, c)
    for r in range(rows.shape[0]):
        for start in points[:4]:
            x, _, _ = attack.input_and_parameter_ascent(network, lo_f, hi_f, inner_lo, inner_hi, start.copy(), rows[r])
            found = _flip_at(network, perturbation, domain, x, lo_f, hi_f, label_of)
            if found is not None:
                return found
    if len(set(labels.tolist())) == 1 and _robust_on_domain(network, boxes, dlo, dhi, rows, max_boxes):
        return Decision(Verdict.HOLDS, GLOBAL_PROOF_METHOD)
    return Decision.nothing()


def parameter_witness(network: Network, perturbation: Perturbation, x: Sequence[Fraction],
                      coeffs: Sequence[int]) -> tuple[tuple[Fraction, ...], Enclosure]:
    """Parameters in the exact box that push c·z(x, p) up, for a lower end, and c·z replayed there: the corner
    witness of :func:`smtnn.bounds.extreme_at` on tiny networks, else the float vertex attack's point clamped into
    the exact box (extreme_at's rational propagation takes seconds to minutes on wide layers)."""
    if _exact_is_cheap(network) or not supported(network) or not attack.can_attack(network):
        extreme = extreme_at(network, perturbation, x, coeffs)
        return extreme.witness, extreme.witness_value
    lo_f, hi_f = _float_box(network, parameter_box(network, perturbation))
    candidate, _ = attack.vertex_ascent(network, lo_f, hi_f, np.array([float(v) for v in x]),
                                        np.array(coeffs, dtype=np.float64))
    params = _exact_parameters(perturbation, candidate, lo_f, hi_f, network.parameter_vector())
    return params, linear_value(coeffs, exact_logits(network, x, params))


def _exact_is_cheap(network: Network) -> bool:
    """Tiny 2-D networks: the exact encoding answers Eq. 9 at once and names its own method; leave them to it."""
    return network.n_inputs <= 2 and network.n_parameters <= SMALL_EXACT_PARAMETERS


def _float_labels(network: Network, points: np.ndarray) -> np.ndarray:
    z = network.logits(points)
    if network.binary:
        return (z[:, 0] >= float(logit_bracket(network.threshold).lo)).astype(int)
    return z.argmin(axis=1) if getattr(network, "decision", "argmax") == "argmin" else z.argmax(axis=1)


def _boundary_points(network: Network, points: np.ndarray, labels: np.ndarray, limit: int = 24):
    """Points just inside a class, found by bisecting segments between samples of different labels."""
    found = 0
    for i in range(len(points) - 1):
        j = i + 1 + int(np.argmax(labels[i + 1:] != labels[i])) if (labels[i + 1:] != labels[i]).any() else None
        if j is None:
            continue
        a, b = points[i].copy(), points[j].copy()
        for _ in range(60):
            mid = (a + b) / 2
            if _float_labels(network, mid[None])[0] == labels[i]:
                a = mid
            else:
                b = mid
        yield a
        yield b
        found += 1
        if found >= limit:
            return


def _flip_at(network, perturbation, domain, x_float, lo_f, hi_f, label_of) -> Decision | None:
    """A parameter attack at one input; a Decision only if the flip replays exactly (x clamped into D)."""
    if not np.isfinite(x_float).all():
        return None
    x = tuple(min(max(Fraction(float(v)), lo), hi) for v, lo, hi in zip(x_float, domain.lower, domain.upper))
    xf = np.array([float(v) for v in x])
    c = int(_float_labels(network, xf[None])[0])
    rows, levels = _flip_rows(network, c)
    for r in range(rows.shape[0]):
        candidate, value = attack.vertex_ascent(network, lo_f, hi_f, xf, rows[r])
        if value < levels[r] - 1e-9 * (1 + abs(levels[r])):
            continue
        try:
            c_exact = label_of(exact_logits(network, x))
        except ArithmeticError:
            return None
        params = _replayed_flip(network, perturbation, x, candidate, lo_f, hi_f, label_of, c_exact)
        if params is not None:
            return Decision(Verdict.VIOLATED, GLOBAL_ATTACK_METHOD, params, x)
    return None


def _robust_on_domain(network, boxes, dlo, dhi, rows, max_boxes: int) -> bool:
    """Every flip row stays below 0 over D × parameter box, proven on at most max_boxes input boxes."""
    queue = [(dlo, dhi)]
    done = 0
    while queue:
        lo, hi = queue.pop()
        done += 1
        if done > max_boxes:
            return False
        _, upper = objective_bounds(network, boxes, lo, hi, rows, linear=True)
        if _kept_rows(network, rows, upper):
            continue
        # split the axis with the largest influence: width times the nominal gradient's size at the centre
        centre = (lo + hi) / 2
        _, _, gx = attack.objective_and_gradients(network, network.parameter_vector(), centre, rows[int(np.argmax(upper))])
        axis = int(np.argmax((hi - lo) * (np.abs(gx) + 1e-12)))
        if hi[axis] <= lo[axis]:
            return False
        mid = (lo[axis] + hi[axis]) / 2
        left_hi, right_lo = hi.copy(), lo.copy()
        left_hi[axis], right_lo[axis] = mid, mid
        queue += [(lo, left_hi), (right_lo, hi)]
    return True


def _kept_rows(network: Network, rows: np.ndarray, upper: np.ndarray) -> bool:
    if network.binary:
        c = 1 if rows[0, 0] < 0 else 0
        return _kept(network, c, upper)
    return bool((upper < 0).all())


@_quiet
def phase_branch_and_bound(network: Network, boxes, xlo, xhi, rows: np.ndarray, *, stop_at: float,
                           seconds: float, max_nodes: int = 20_000) -> tuple[float, int]:
    """A certified upper bound of max over rows of row·z over the input and parameter boxes, by branching
    on the phases of unstable ReLU units (each branch's bounds hold on its part; the parts cover the box).

    Stops when the bound reaches `stop_at` (a proof or a closed gap), after `seconds`, or after
    `max_nodes` nodes.  Returns (upper bound, nodes).
    """
    deadline = time.perf_counter() + seconds
    duals = phase_duals.applicable(boxes)

    def evaluate(phases, parent=None, split_layer=0, parent_upper=np.inf, start=None, iterations=DUAL_ITERATIONS):
        bounds = refined_pre_activations(boxes, xlo, xhi, True, phases, parent, split_layer + 1 if parent else 0)
        if bounds is None:
            return None
        _, upper = objective_bounds(network, boxes, xlo, xhi, rows, bounds=bounds)
        multipliers = None
        if duals and iterations > 0 and upper.max() > stop_at:
            multipliers = phase_duals.optimized_multipliers(boxes, bounds, -rows, start, iterations)
            dual = -phase_duals.lagrangian_lower(boxes, bounds, -rows, multipliers)
            upper = np.minimum(upper, np.where(np.isnan(dual), np.inf, dual))   # an overflow bounds nothing
        return min(float(upper.max()), parent_upper), bounds, multipliers   # the parent's bound holds on its parts too

    first = evaluate({})
    heap = [(-first[0], 0, {}, first[1], first[2], False)]
    counter, nodes = 1, 1
    while heap:
        top = -heap[0][0]
        if top <= stop_at or time.perf_counter() > deadline or nodes >= max_nodes:
            return top, nodes
        _, _, phases, bounds, multipliers, polished = heapq.heappop(heap)
        unit = _split_unit(boxes, bounds, phases)
        if unit is None:           # every phase known: only the multipliers can lower this bound further
            if not duals or polished:
                return top, nodes
            result = evaluate(phases, start=multipliers, iterations=LEAF_DUAL_ITERATIONS, parent_upper=top)
            nodes += 1
            if result is not None:
                heapq.heappush(heap, (-result[0], counter, phases, result[1], result[2], True))
                counter += 1
            continue
        for active in (True, False):
            child = dict(phases)
            child[unit] = active
            result = evaluate(child, bounds, unit[0], top, multipliers)
            nodes += 1
            if result is not None:
                heapq.heappush(heap, (-result[0], counter, child, result[1], result[2], False))
                counter += 1
    return -np.inf, nodes          # every branch empty: nothing in the box reaches the objective


def _split_unit(boxes, bounds, phases) -> tuple[int, int] | None:
    """The unstable relu or leaky relu unit with the widest triangle relaxation (area proxy -(1-α)·l·u/(u-l), α = 0
    for relu), earliest layers first on ties."""
    best, best_score = None, 0.0
    for k, (lo, hi) in enumerate(bounds.pre):
        layer = boxes[k]
        if layer.activation not in KINKED:
            continue
        unstable = (lo < 0) & (hi > 0)
        if not unstable.any():
            continue
        kink = 1.0 - layer.alpha
        score = np.where(unstable, kink * (-lo * hi) / np.where(unstable, hi - lo, 1.0), 0.0)
        for unit in np.argsort(-score):
            if score[unit] <= best_score:
                break
            if (k, int(unit)) not in phases:
                best, best_score = (k, int(unit)), float(score[unit])
                break
    return best
