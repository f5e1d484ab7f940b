"""Searches that turn solver answers into certified intervals.

- :func:`maximize`: the optimum of an objective over a query region, by Z3's exact optimizer
  when everything is linear, else by bisection on "objective >= m" (UNSAT lowers the upper end,
  a replayed model raises the lower end);
- :func:`bisect_max`: the same bisection when the region is already asserted;
- :func:`branch_and_bound_epsilon`: Eq. 12 by branch and bound over the input box with
  outward-rounded interval arithmetic (vectorized, :mod:`smtnn.semantics.intervals`), mean-value bounds and monotonicity tests
  from interval slopes (:mod:`smtnn.slopes`), and exact replay of the best candidates.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, NamedTuple

import numpy as np

from .backends.base import Status
from .bounds import extreme_at
from .budget import Bounds, report
from .domain import Box
from .exact import Enclosure, differ, sigmoid_enclosure
from .float_first import exact_logits, parameter_witness
from .network import Network
from .perturbation import Perturbation
from .result import Witness
from .rounding import ULP_ONE
from .semantics import walk
from .semantics.intervals import IntervalDomain
from .slopes import derivative_range, logit_slopes, mean_value_bound, sigmoid_second_derivative_range, times_interval

Q = Fraction
BELOW_TARGET = "proved below the target (UNSAT)"


def _midpoint(lo: Fraction, hi: Fraction) -> Fraction:
    """A short rational between lo and hi (keeps solver numbers small)."""
    mid = (lo + hi) / 2
    width = hi - lo
    if width <= 0:
        return mid
    denominator = 1
    while Fraction(round(mid * denominator), denominator) <= lo or Fraction(round(mid * denominator), denominator) >= hi:
        denominator *= 2
        if denominator > 2 ** 200:
            return mid
    return Fraction(round(mid * denominator), denominator)


class Maximum(NamedTuple):
    """A certified interval [lower, upper] of a maximum, the witness attaining `lower` (or None), and why it is not closed."""

    lower: Fraction | None
    upper: Fraction | None
    best: object
    reason: str


def bisect_max(session, encoder, objective, replay, lower, upper, best, tol, timeout, target=None, strict=False,
               progress=None) -> Maximum:
    """Bisection for max objective with the region asserted in `session`; replay(model) -> (value, witness).

    With a `target`, stop as soon as the maximum is known to be below it or a witness reaches it
    (with `strict`: known to be at most the target, or a witness exceeds it).  `progress`, if given, receives
    each tighter interval as a :class:`Maximum`.
    """
    m = encoder.mgr
    reason = ""
    deadline = None if timeout is None else time.perf_counter() + timeout
    while upper - lower > tol and (target is None or ((lower <= target < upper) if strict else (lower < target <= upper))):
        if target is not None:
            mid = target
            session.push()
            session.add((m.GT if strict else m.GE)(objective, encoder.real(mid)))
            answer = session.check(None if deadline is None else max(deadline - time.perf_counter(), 0.001))
            session.pop()
            if answer.status is Status.UNSAT:
                return Maximum(lower, mid, best, BELOW_TARGET)
            if answer.status is Status.SAT:
                value, witness = replay(answer.model)
                if value > mid if strict else value >= mid:
                    return Maximum(value, upper, witness, "")
            target = None  # undecided: fall back to bisection
            continue
        remaining = None if deadline is None else deadline - time.perf_counter()
        if remaining is not None and remaining <= 0:
            reason = "timeout"
            break
        mid = _midpoint(lower, upper)
        session.push()
        session.add(m.GE(objective, encoder.real(mid)))
        answer = session.check(remaining)
        session.pop()
        if answer.status is Status.UNSAT:
            upper = mid
        elif answer.status is Status.SAT:
            value, witness = replay(answer.model)
            if value < mid:
                reason = "a solver model did not replay above the bisection point"
                break
            lower, best = value, witness
        else:
            reason = answer.reason or "solver returned unknown"
            break
        if progress is not None:
            progress(Maximum(lower, upper, best, ""))
    return Maximum(lower, upper, best, reason)


def maximize(session, encoder, objective, region: Callable, replay: Callable, *, tol_obj: Fraction, linear: bool,
             timeout: float | None, bound: Fraction) -> Maximum:
    """max objective over region(0); witnesses come from region(η > 0), a strict version of the region.

    replay(model) -> (objective value, Witness, value enclosure) or None.  Returns a
    :class:`Maximum` whose ``best`` is (witness, value) or None; upper None means region(0) is UNSAT.
    `bound` is a sound upper bound of the objective (from interval propagation), used until UNSAT answers improve it.
    """
    m = encoder.mgr
    deadline = None if timeout is None else time.perf_counter() + timeout

    def left():
        return None if deadline is None else max(deadline - time.perf_counter(), 0.001)

    session.push()
    session.add(region(Q(0)))
    first = session.check(left())
    if first.status is Status.UNSAT:
        session.pop()
        return Maximum(None, None, None, "")
    if first.status is Status.UNKNOWN:
        session.pop()
        return Maximum(None, bound, None, first.reason or "solver returned unknown")
    upper = None
    if linear:
        optimum = session.maximize(objective, left())
        if optimum.status is Status.SAT:
            upper = optimum.value
    session.pop()
    best, lower, reason = None, None, ""

    def try_witness(floor: Fraction) -> bool:
        nonlocal best, lower
        precision = session.backend.precision or Q(0)
        eta = max(tol_obj / 4, 16 * precision)  # a δ-sat model may miss a constraint by the precision
        for _ in range(6):
            session.push()
            session.add(region(eta))
            session.add(m.GE(objective, encoder.real(floor)))
            answer = session.check(left())
            session.pop()
            if answer.status is Status.SAT:
                replayed = replay(answer.model)
                if replayed is not None and replayed[0] >= floor:
                    if lower is None or replayed[0] > lower:
                        lower, best = replayed[0], (replayed[1], replayed[2])
                    return True
            if answer.status is Status.UNKNOWN:
                return False
            eta /= 16
        return False

    if upper is not None:
        if not try_witness(upper - tol_obj):
            reason = "no strict witness found within the tolerance of the optimum"
        return Maximum(lower, upper, best, reason)
    # bisection: the upper end from UNSAT answers on region(0), the lower end from replayed strict witnesses
    replayed = replay(first.model)
    if replayed is not None:
        lower, best = replayed[0], (replayed[1], replayed[2])
    elif not try_witness(Q(-(10 ** 12))):
        return Maximum(None, bound, None, "no replayable witness of a flip found")
    upper = max(bound, lower)
    while upper - lower > tol_obj:
        if deadline is not None and time.perf_counter() >= deadline:
            reason = "timeout"
            break
        mid = _midpoint(lower, upper)
        session.push()
        session.add(region(Q(0)))
        session.add(m.GE(objective, encoder.real(mid)))
        answer = session.check(left())
        session.pop()
        if answer.status is Status.UNSAT:
            upper = mid
        elif answer.status is Status.SAT:
            got = replay(answer.model)
            if got is not None and got[0] >= mid:
                lower, best = got[0], (got[1], got[2])
            elif not try_witness(mid):
                reason = "near the optimum only boundary (non-strict) models were found"
                break
        else:
            reason = answer.reason or "solver returned unknown"
            break
    return Maximum(lower, upper, best, reason)


# -- branch and bound for Eq. 12 ----------------------------------------------------------
def interval_logits(network: Network, plo, phi, xlo, xhi):
    """Sound float64 bounds of the logits over boxes of inputs (rows of xlo/xhi) and one parameter box."""
    return walk(network, IntervalDomain(network, plo, phi), (xlo, xhi))


def sigmoid_down(z):
    """A float at most sigmoid(z) for every float z (NumPy's exp is within a few ulps; 1e-13 relative covers it)."""
    with np.errstate(over="ignore"):   # exp(-z) = inf gives s = 0, the right limit
        s = 1.0 / (1.0 + np.exp(-z))
    return s - 1e-13 * s - 1e-300


def sigmoid_up(z):
    """A float at least sigmoid(z) for every float z."""
    with np.errstate(over="ignore"):
        s = 1.0 / (1.0 + np.exp(-z))
    return s + 1e-13 * s + 1e-300


def interval_minus(a, b):
    """a - b for float intervals (lo, hi), widened for rounding."""
    lo, hi = a[0] - b[1], a[1] - b[0]
    pad = 2 * ULP_ONE * np.maximum(np.abs(lo), np.abs(hi)) + 1e-300
    return lo - pad, hi + pad


class BoxBounds(NamedTuple):
    """Per box: an upper bound of the objective, each axis's share of its slack, and per axis +1/-1 where the
    objective is monotone increasing/decreasing (0 otherwise)."""

    bound: np.ndarray
    share: np.ndarray
    direction: np.ndarray


def _mean_value_bounds(network: Network, plo, phi, p0, lo, hi, floor: float) -> BoxBounds:
    """Mean-value bounds of σ(z_hi) - σ(z0) and σ(z0) - σ(z_lo) over each box (:mod:`smtnn.slopes`).

    The gradient of σ(z_p) - σ(z0) is enclosed as σ'(z_p)·(∇z_p - ∇z0) + σ''(ξ)·(z_p - z0)·∇z0, both
    terms of the order of the perturbation.  Returns the larger bound, its axis shares of the
    slack, and per axis +1/-1 where every part that can still exceed `floor` is strictly
    increasing/decreasing along it (0 otherwise).
    """
    low, high = logit_slopes(network, plo, phi, lo, hi)
    nominal, _ = logit_slopes(network, p0, p0, lo, hi)
    centre = (lo + hi) / 2
    low_c, high_c = logit_slopes(network, plo, phi, centre, centre, gradients=False)
    nominal_c, _ = logit_slopes(network, p0, p0, centre, centre, gradients=False)
    radius = np.maximum(hi - centre, centre - lo) * (1 + 2 * ULP_ONE)
    g0 = (nominal.glo[:, 0], nominal.ghi[:, 0])
    parts = []
    for zp, zp_c, sign in ((high, high_c, 1), (low, low_c, -1)):
        dg = interval_minus((zp.glo[:, 0], zp.ghi[:, 0]), g0)
        slack = (np.maximum(np.abs(dg[0]), np.abs(dg[1])) * radius).sum(axis=1) * (1 + 1e-12)
        d_lo, d_hi = interval_minus((zp_c.lo[:, 0], zp_c.hi[:, 0]), (nominal_c.lo[:, 0], nominal_c.hi[:, 0]))
        r_lo, r_hi = interval_minus((zp.lo[:, 0], zp.hi[:, 0]), (nominal.lo[:, 0], nominal.hi[:, 0]))
        diff_lo, diff_hi = np.maximum(d_lo - slack, r_lo), np.minimum(d_hi + slack, r_hi)
        dp = derivative_range("sigmoid", zp.lo[:, 0], zp.hi[:, 0])
        t_lo, t_hi = times_interval(dp[0][:, None], dp[1][:, None], dg[0], dg[1])
        c_lo, c_hi = sigmoid_second_derivative_range(np.minimum(zp.lo[:, 0], nominal.lo[:, 0]),
                                                     np.maximum(zp.hi[:, 0], nominal.hi[:, 0]))
        k_lo, k_hi = times_interval(c_lo, c_hi, diff_lo, diff_hi)
        k_lo, k_hi = times_interval(k_lo[:, None], k_hi[:, None], g0[0], g0[1])
        glo, ghi = t_lo + k_lo, t_hi + k_hi
        if sign < 0:
            glo, ghi = -ghi, -glo
        pad = 4 * ULP_ONE * (np.maximum(np.abs(t_lo), np.abs(t_hi)) + np.maximum(np.abs(k_lo), np.abs(k_hi))) + 1e-300
        glo, ghi = glo - pad, ghi + pad
        value = (sigmoid_up(zp_c.hi[:, 0]) - sigmoid_down(nominal_c.lo[:, 0]) if sign > 0
                 else sigmoid_up(nominal_c.hi[:, 0]) - sigmoid_down(zp_c.lo[:, 0]))
        bound, share = mean_value_bound(outward(value), glo, ghi, lo, hi, centre)
        parts.append((bound, share, np.where(glo > 0, 1, np.where(ghi < 0, -1, 0))))
    (up, share_up, dir_up), (down, share_down, dir_down) = parts
    up_matters, down_matters = (up > floor)[:, None], (down > floor)[:, None]
    direction = np.where(~down_matters, dir_up, np.where(~up_matters, dir_down, np.where(dir_up == dir_down, dir_up, 0)))
    return BoxBounds(np.maximum(up, down), np.where((up >= down)[:, None], share_up, share_down), direction)


def outward(v):
    """v widened upward by a few ulps: covers the rounding of a difference of two bounds."""
    return v + 4 * ULP_ONE * np.abs(v) + 1e-300


@dataclass
class BranchAndBoundResult:
    lower: Fraction
    upper: Fraction
    witness: Witness | None
    boxes: int
    reason: str


def certify_epsilon_at(network, perturbation, domain, x_float):
    """Exact ε lower bound at an input: corner witnesses for both directions, replayed."""
    x = [min(max(Fraction(float(v)), lo), hi) for v, lo, hi in zip(x_float, domain.lower, domain.upper)]
    change = epsilon_at(network, perturbation, x)
    return max(change.lower, Q(0)), change.witness   # ε >= 0: no negative rounding tail


class ChangeAt(NamedTuple):
    """|f_p(x) - f_p0(x)| at one input: the better corner witness's replayed value (`lower`, attained by `witness`)
    and the larger upper end of both corners' enclosures (`upper`: a bound of the change over the whole box when
    the perturbation decouples, where the corners are the extremes)."""

    lower: Fraction
    upper: Fraction
    witness: Witness


def epsilon_at(network, perturbation, x, corners: bool = False) -> ChangeAt:
    """The change of the sigmoid confidence at an exact input x under witnesses of both directions, replayed exactly:
    with `corners`, :func:`smtnn.bounds.extreme_at`'s corner witnesses (then `upper` bounds the change over the
    whole box where the perturbation decouples); else :func:`smtnn.float_first.parameter_witness`'s (the corners on
    tiny networks, the float attack's beyond, where exact corner propagation takes seconds to minutes)."""
    x = list(x)

    def sigmoid_of(z):   # certified over the whole enclosure (sigmoid/tanh hidden units make z an interval)
        low = sigmoid_enclosure(z.lo)
        return low if z.hi == z.lo else Enclosure(low.lo, sigmoid_enclosure(z.hi).hi)

    s0 = sigmoid_of(exact_logits(network, x)[0])
    best, upper = None, None
    for sign in (1, -1):
        if corners:
            extreme = extreme_at(network, perturbation, x, [sign])
            params, value = extreme.witness, extreme.witness_value
        else:
            params, value = parameter_witness(network, perturbation, x, [sign])
        sp = sigmoid_of(value if sign > 0 else -value)   # c·z replayed at the witness
        diff = sp - s0 if sign > 0 else s0 - sp
        upper = diff.hi if upper is None else max(upper, diff.hi)
        if best is None or diff.lo > best[0].lo:
            best = (diff, params)
    diff, params = best
    nominal = perturbation.nominal
    changed = {str(network.parameter_name(i)): params[i] for i in perturbation.free if differ(params[i], nominal[i])}
    witness = Witness(changed, tuple(x), diff.lo, diff.hi, "|f_p(x) - f_p0(x)|, f the sigmoid confidence")
    return ChangeAt(diff.lo, upper, witness)


def branch_and_bound_epsilon(network: Network, perturbation: Perturbation, domain: Box, tol: Fraction,
                             timeout: float | None, max_boxes: int, batch: int = 512,
                             mean_value: bool = True) -> BranchAndBoundResult:
    """Certified max over x in D, p in the box of |sigmoid(z_p(x)) - sigmoid(z_p0(x))| (see module docstring).

    `mean_value=False` keeps only first-order interval bounds (the plain reference the tests compare against).
    """
    start = time.perf_counter()
    plo, phi = perturbation.float_box()
    p0 = network.parameter_vector()
    dlo, dhi = domain.float_box()
    span = np.where(dhi > dlo, dhi - dlo, 1.0)
    splittable = dhi > dlo

    def first_order_and_mean_value(lo, hi, floor):
        zp_lo, zp_hi = interval_logits(network, plo, phi, lo, hi)
        z0_lo, z0_hi = interval_logits(network, p0, p0, lo, hi)
        up = sigmoid_up(zp_hi[:, 0]) - sigmoid_down(z0_lo[:, 0])
        down = sigmoid_up(z0_hi[:, 0]) - sigmoid_down(zp_lo[:, 0])
        first_order = outward(np.maximum(up, down))
        if not mean_value:
            return BoxBounds(first_order, np.zeros_like(lo), np.zeros(lo.shape, dtype=int))
        mv, share, direction = _mean_value_bounds(network, plo, phi, p0, lo, hi, floor)
        return BoxBounds(np.minimum(first_order, mv), share, direction)

    def bounds(lo, hi, floor=-np.inf):
        """Per box (collapsed onto a face along axes where the objective is monotone): bound and axis shares."""
        ub, share, direction = first_order_and_mean_value(lo, hi, floor)
        for _ in range(lo.shape[1]):
            moved = (direction != 0) & (hi > lo)
            rows = moved.any(axis=1)
            if not rows.any():
                break
            lo[rows] = np.where(direction[rows] > 0, hi[rows], lo[rows])
            hi[rows] = np.where(direction[rows] < 0, lo[rows], hi[rows])
            ub[rows], share[rows], direction[rows] = first_order_and_mean_value(lo[rows], hi[rows], floor)
        return ub, share

    def estimates(points):
        zp_lo, zp_hi = interval_logits(network, plo, phi, points, points)
        z0 = network.logits(points)[:, 0]
        with np.errstate(over="ignore"):   # exp overflow: the sigmoid's limit 0, as wanted
            s0 = 1.0 / (1.0 + np.exp(-z0))
            return np.maximum(1.0 / (1.0 + np.exp(-zp_hi[:, 0])) - s0, s0 - 1.0 / (1.0 + np.exp(-zp_lo[:, 0])))

    lo = dlo[None].copy()
    hi = dhi[None].copy()
    ub, share = bounds(lo, hi)
    # seed candidates: the corners and the centre of D
    corners = np.array(np.meshgrid(*[[a, b] for a, b in zip(dlo, dhi)])).reshape(len(dlo), -1).T if len(dlo) <= 12 else dlo[None]
    seeds = np.vstack([corners, (dlo + dhi)[None] / 2])
    est = estimates(seeds)
    best_point = seeds[int(np.argmax(est))]
    best_estimate = float(est.max())
    lower, witness = certify_epsilon_at(network, perturbation, domain, best_point)
    dropped = -np.inf
    processed = 0
    per_box = None
    reason = ""
    tol_f = float(tol)
    while True:
        lower_f = float(lower)
        keep = ub > lower_f + tol_f * 0.5
        if not keep.all():
            dropped = max(dropped, float(ub[~keep].max()))
            lo, hi, ub, share = lo[keep], hi[keep], ub[keep], share[keep]
        if len(ub) == 0 or float(ub.max()) <= lower_f + tol_f:
            break
        report(Bounds(lower, max(Fraction(max(float(ub.max()), dropped)), lower), witness))
        if processed >= max_boxes:
            reason = f"stopped after {processed} boxes (max_boxes)"
            break
        if timeout is not None and time.perf_counter() - start > timeout:
            reason = "timeout"
            break
        size = batch if per_box is None else int(min(8 * batch, max(8, 0.25 / per_box)))
        if timeout is not None and per_box is not None:   # do not start a round that would overrun the timeout
            size = max(1, min(size, int((timeout - (time.perf_counter() - start)) / per_box / 2)))
        if len(ub) > size:
            order = np.argpartition(-ub, size - 1)
            take, rest = order[:size], order[size:]
        else:
            take, rest = np.arange(len(ub)), np.arange(0)
        tlo, thi = lo[take], hi[take]
        widths = np.where(splittable, (thi - tlo) / span, -1.0)
        score = np.where(splittable & (widths > 1e-15), share[take] + 1e-30 * widths, -1.0)
        axis = np.where(score.max(axis=1) > 1e-30 * 1e-15, score.argmax(axis=1), widths.argmax(axis=1))
        if (widths.max(axis=1) <= 1e-15).all():
            reason = "boxes shrank to points without closing the gap (the interval bound is not exact here)"
            break
        mid = (tlo[np.arange(len(take)), axis] + thi[np.arange(len(take)), axis]) / 2
        left_hi, right_lo = thi.copy(), tlo.copy()
        left_hi[np.arange(len(take)), axis] = mid
        right_lo[np.arange(len(take)), axis] = mid
        new_lo = np.vstack([tlo, right_lo])
        new_hi = np.vstack([left_hi, thi])
        round_start = time.perf_counter()
        new_ub, new_share = bounds(new_lo, new_hi, float(lower))
        per_box = (time.perf_counter() - round_start) / len(new_ub)
        centres = (new_lo + new_hi) / 2
        est = estimates(centres)
        i = int(np.argmax(est))
        if est[i] > best_estimate:
            best_estimate = float(est[i])
            certified, cand = certify_epsilon_at(network, perturbation, domain, centres[i])
            if certified > lower:
                lower, witness = certified, cand
        lo = np.vstack([lo[rest], new_lo])
        hi = np.vstack([hi[rest], new_hi])
        ub = np.concatenate([ub[rest], new_ub])
        share = np.vstack([share[rest], new_share])
        processed += len(take)
    active = float(ub.max()) if len(ub) else -np.inf
    upper = Fraction(max(active, dropped, float(lower)))
    upper = max(upper, lower)
    if upper - lower > tol and not reason:
        reason = "gap above tolerance"
    return BranchAndBoundResult(lower, upper, witness, processed, reason)
