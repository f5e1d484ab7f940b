"""The paper's properties: verification by negation (Defs. 1-5, Eqs. 6-10) and estimation (Eqs. 11-13).

Conventions (the paper's formulas slip in places; these are the evident meanings):
- binary networks: class 1 iff sigmoid(z) >= l, i.e. z >= t with t = logit(l); a label flips when
  the perturbed network puts x on the other side;
- multi-class networks: the class is the first largest score, where the scores are the logits
  (``decision="argmax"``) or their negations (``"argmin"``, the first smallest logit).  One rule
  everywhere: an exact tie goes to the lowest index, so a perturbed network flips the label of
  class c exactly when another class j takes over: s_j >= s_c for j < c, s_j > s_c for j > c;
- Eqs. 9-10 write x0 where the quantified x is meant; Def. 5 / Eq. 10 mean "for all x in D with
  |f_p0(x) - l| >= σ and all p in the box, the label is kept"; Eq. 13's last constraint must be a
  label *flip* (as printed it says the label is kept, which makes σ unbounded);
- σ is estimated per class (the paper's tuple (male, female) is (class 1, class 0)); for
  multi-class networks σ is measured on the logit margin z_c - max_{j≠c} z_j.
Every SAT model is replayed on the concrete network in exact arithmetic before it is reported.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

from . import float_first, global_bounds, global_deep, pieces, planar_epsilon, search, softmax_local
from .backends import Backend, Status, get_backend
from .budget import FLOOR, Bounds, Budget, Stop, budgeted, report
from .child import DONE, ERROR, MEMORY, TIMEOUT, run_in_child
from .child import report as report_to_parent
from .bounds import decouples, extreme_at, linear_value, propagate
from .domain import Box
from .encoder import Encoder, Query
from .errors import InvalidInputError, SolverUnavailableError
from .exact import Enclosure, differ, logit_bracket, sigmoid_end, sigmoid_enclosure, to_fraction
from .network import Network
from .perturbation import Perturbation
from .result import Estimate, Provenance, Verdict, VerificationResult, Witness

DEFAULT_TOLERANCE = Fraction(1, 10 ** 6)
Q = Fraction


# -- shared pieces ----------------------------------------------------------------------
@dataclass
class _Clock(Budget):
    """The query's one time budget (shared by its sub-searches, see :mod:`smtnn.budget`) and its solver calls."""

    calls: int = 0

    @classmethod
    def begin(cls, timeout: float | None = None) -> "_Clock":
        return cls(time.perf_counter(), timeout)

    def provenance(self, solver: str, precision: str, method: str) -> Provenance:
        return Provenance(solver, precision, method, time.perf_counter() - self.start, self.calls)


def _tolerance(value) -> Fraction:
    tol = to_fraction(DEFAULT_TOLERANCE if value is None else value)
    if tol <= 0:
        raise InvalidInputError(f"the tolerance must be positive, got {float(tol)}")
    return tol


def _check(network: Network, perturbation: Perturbation, x0=None, domain: Box | None = None):
    if not perturbation.built_for(network):
        raise InvalidInputError("the perturbation model was built for another network; build it from this one")
    x = network.check_input(x0) if x0 is not None else None
    if domain is not None:
        domain.check_for(network.n_inputs)
        if x is not None:
            domain.check_point(x)
    return x


MEANING_CHANGE = "|f_p(x) - f_p0(x)|, f the sigmoid confidence"
MEANING_CHANGE_MULTI = "|f_p(x) - f_p0(x)|, f a softmax class probability"
MEANING_FLIP_BINARY = "the perturbed logit z (class 1 iff z >= logit(level))"
MEANING_FLIP_MULTI = "the margin of the class that won: s_w - max over j != w of s_j (s the scores of the decision)"
MEANING_SIGMA_BINARY = "σ = |f_p0(x) - level| at the witness input"
MEANING_SIGMA_MULTI = "σ = the nominal margin s_c - max over j != c of s_j at the witness input"


def _witness(network: Network, perturbation: Perturbation, params: Sequence[Fraction], x, value: Enclosure,
             meaning: str = "") -> Witness:
    nominal = perturbation.nominal
    changed = {str(network.parameter_name(i)): params[i] for i in perturbation.free if differ(params[i], nominal[i])}
    return Witness(changed, None if x is None else tuple(x), value.lo, value.hi, meaning)


def _sigma_at(network: Network, c: int, z0: Sequence[Enclosure]) -> Enclosure:
    """Eq. 13's measure at an input with nominal logits z0, for class c: |f_p0(x) - level| (binary) or the nominal
    margin s_c - max over j != c of s_j."""
    if network.binary:
        s = _sigmoid_of(z0[0])
        level = Enclosure.point(network.threshold)
        return s - level if c == 1 else level - s
    gaps = [linear_value(_score_coeffs(network, c, j), z0) for j in range(network.n_outputs) if j != c]
    return Enclosure(min(g.lo for g in gaps), min(g.hi for g in gaps))


def _sigmoid_of(z: Enclosure) -> Enclosure:
    """Certified enclosure of sigmoid over an enclosure of z (sigmoid is increasing)."""
    if z.lo == z.hi:
        return sigmoid_enclosure(z.lo)
    return Enclosure(sigmoid_enclosure(z.lo).lo, sigmoid_enclosure(z.hi).hi)


def _sigma_diff(a: Fraction, b: Fraction) -> Enclosure:
    """Certified enclosure of sigmoid(a) - sigmoid(b)."""
    return sigmoid_enclosure(a) - sigmoid_enclosure(b)


def _query_meta(network, perturbation, prop, **extra) -> dict:
    meta = {"network": network.name, "property": prop, "perturbation": perturbation.description,
            "decision": network.decision}
    if network.binary:
        meta["level"] = str(network.threshold)
    if getattr(perturbation, "spec", None) is not None:
        meta["perturbation_spec"] = perturbation.spec
    meta.update({k: v for k, v in extra.items() if v is not None})
    return meta


# -- answers of calls stopped from outside (memory cap, hard timeout): see smtnn.budget --------
def _stopped_estimate(name: str, trivial_upper):
    """Build a stopped estimate: the Bounds reported so far, else [0, the largest value the quantity can take]."""
    def build(stop: Stop, network, perturbation, region=None, *, tolerance=None, solver="z3", **_):
        raw = stop.progress
        lower, upper, witness = (raw.lower, raw.upper, raw.witness) if isinstance(raw, Bounds) else \
            (Q(0), trivial_upper(network, region), None)
        meta = _query_meta(network, perturbation, name)
        return Estimate(name, lower, max(upper, lower), _tolerance(tolerance),
                        Provenance(solver or "none", "-", "stopped", stop.seconds), witness, stop.reason, meta)
    return build


def _stopped_verdict(prop: str, estimate=None):
    """Build a stopped verdict: decided by the bounds reported so far when they decide it, else UNKNOWN."""
    def build(stop: Stop, network, perturbation, region=None, level=None, *, solver="z3", **kwargs):
        if estimate is not None and isinstance(stop.progress, Bounds):
            est = estimate(stop, network, perturbation, region, solver=solver, tolerance=kwargs.get("tolerance"))
            return _verdict_from_estimate(est, to_fraction(level), prop)
        return VerificationResult(prop, Verdict.UNKNOWN, Provenance(solver, "-", "stopped", stop.seconds), None,
                                  stop.reason, _query_meta(network, perturbation, prop))
    return build


def _one(network, region) -> Fraction:
    return Q(1)   # a change of a probability


def _sigma_range(network, domain, c: int) -> Fraction:
    """The largest σ class c can have: max(l, 1 - l) (binary), else the interval bound of the nominal margin over D."""
    if network.binary:
        return max(network.threshold, 1 - network.threshold)
    z = propagate(network, [Enclosure(lo, hi) for lo, hi in zip(domain.lower, domain.upper)],
                  list(network.exact_parameters()), list(network.exact_parameters()))[-1]
    s = _scores(network, z)
    return max(Q(0), min(s[c].hi - s[j].lo for j in range(network.n_outputs) if j != c))


def _stopped_sigma(stop: Stop, network, perturbation, domain, *, tolerance=None, solver="z3", **_):
    """Per class: the estimate finished before the stop (reported), else [0, the largest σ the class can have]."""
    done = stop.progress if isinstance(stop.progress, dict) else {}
    classes = (1, 0) if network.binary else tuple(range(network.n_outputs))
    return {c: done[c] if c in done else Estimate(
        f"global sigma for class {c} (Eq. 13)", Q(0), _sigma_range(network, domain, c), _tolerance(tolerance),
        Provenance(solver, "-", "stopped", stop.seconds), None, stop.reason or "not reached before the stop",
        _query_meta(network, perturbation, f"global sigma for class {c} (Eq. 13)")) for c in classes}


def _scores(network: Network, logits: Sequence[Enclosure]) -> list[Enclosure]:
    """The values the decision maximizes: the logits (argmax) or their negations (argmin)."""
    return list(logits) if network.score_sign > 0 else [-z for z in logits]


def _label(network: Network, logits: Sequence[Enclosure]) -> int:
    """The certified class of these logits; ArithmeticError when the enclosures leave it undecided."""
    if network.binary:
        t = logit_bracket(network.threshold)
        if logits[0].lo >= t.hi:
            return 1
        if logits[0].hi < t.lo:
            return 0
        raise ArithmeticError("the input lies on the decision boundary within the certified precision")
    # the first largest score, decided on the enclosures (sigmoid/tanh units make them intervals)
    logits = _scores(network, logits)
    for c in range(len(logits)):
        if all(logits[c].lo > logits[j].hi for j in range(c)) and \
                all(logits[c].lo >= logits[j].hi for j in range(c + 1, len(logits))):
            return c
    raise ArithmeticError("two logits tie within the certified precision; the label is undecided")


def _coeffs(network: Network, plus: int, minus: int | None = None) -> list[int]:
    c = [0] * network.n_outputs
    c[plus] += 1
    if minus is not None:
        c[minus] -= 1
    return c


def _score_coeffs(network: Network, plus: int, minus: int) -> list[int]:
    """Coefficients on the logits of s_plus - s_minus (the scores of the decision rule)."""
    return [network.score_sign * v for v in _coeffs(network, plus, minus)]


def _takes_over(network: Network, j: int, c: int, logits: Sequence[Enclosure]) -> bool:
    """Certainly does class j beat class c (s_j >= s_c for j < c, s_j > s_c for j > c)?"""
    gap = linear_value(_score_coeffs(network, j, c), logits)
    return gap.lo >= 0 if j < c else gap.lo > 0


def _flipped(network: Network, c: int, logits: Sequence[Enclosure]) -> bool:
    """Certainly is the label of these logits other than c?  (False when undecided.)"""
    if network.binary:
        try:
            return _label(network, logits) != c
        except ArithmeticError:
            return False
    return any(_takes_over(network, j, c, logits) for j in range(network.n_outputs) if j != c)


def _flip_meaning(network: Network) -> str:
    return MEANING_FLIP_BINARY if network.binary else MEANING_FLIP_MULTI


def _flip_value(network: Network, logits: Sequence[Enclosure]) -> Enclosure:
    """A flip witness's value: the logit z (binary), else the margin of the class that won, s_w - max_{j≠w} s_j.

    The margin is the gap between the largest and the second largest score (>= 0), enclosed
    without deciding w (sigmoid/tanh units make the logits intervals).
    """
    if network.binary:
        return logits[0]
    s = _scores(network, logits)
    lows, highs = sorted(v.lo for v in s), sorted(v.hi for v in s)
    return Enclosure(max(lows[-1] - highs[-2], Q(0)), highs[-1] - lows[-2])


# -- local properties: decided by exact parameter-space extremes --------------------------
def _local_extreme(network, perturbation, x, coeffs, tol_z, backend_name, timeout, clock, target=None, strict=False):
    """max c·z(x0, p): closed form when the perturbation decouples, else refined by solver bisection.

    With a `target`, the search only decides whether the maximum reaches it (exceeds it when
    `strict`): label queries.
    """
    share = Budget(timeout=timeout)   # this search's share of the query's clock
    ext = float_first.starting_extreme(network, perturbation, x, coeffs) or extreme_at(network, perturbation, x, coeffs)
    fast_method = ""
    if not ext.exact:
        ext, fast_method = float_first.tighten_extreme(network, perturbation, x, coeffs, ext, tol_z, share.remaining(),
                                                     branch=target is None,
                                                     solver_follows=_solver_refines(network, backend_name))
    decided = target is not None and (
        (ext.upper <= target if strict else ext.upper < target) or
        (ext.witness_value.lo > target if strict else ext.witness_value.lo >= target))
    if ext.exact or ext.upper - ext.witness_value.lo <= tol_z or decided:
        method = fast_method or ("exact corner analysis (decoupled parameters)" if ext.exact
                                 else "interval bound (decided without a solver)")
        return ext.witness_value.lo, ext.upper, ext.witness, method, ""
    if share.spent() or clock.spent() or float_first.searched_exactly(fast_method):
        return ext.witness_value.lo, ext.upper, ext.witness, fast_method or "interval bound", "timeout"
    if not network.piecewise_linear and not get_backend(backend_name).capabilities.transcendental:
        return ext.witness_value.lo, ext.upper, ext.witness, "interval bound (not refined)", \
            f"sigmoid/tanh hidden units before perturbed layers: {backend_name} has no exp and cannot refine; use --solver dreal"
    before = search.Maximum(ext.witness_value.lo, ext.upper, ext.witness, "")
    timeout = share.remaining()
    bisection = functools.partial(_solver_bisection, network, perturbation, x, coeffs, before, tol_z, backend_name,
                                  timeout, target, strict)
    (lo, hi, wit, reason), calls = bisection() if timeout is None else _stoppable(bisection, timeout, before)
    clock.calls += calls
    return lo, hi, wit, f"{fast_method or 'interval bound'} + {backend_name} bisection", reason


def _solver_refines(network: Network, backend_name: str) -> bool:
    """Can the solver's bisection refine a local extreme of this network (exp needed past sigmoid/tanh units)?
    An unavailable solver counts as able: its error then comes where the solver is called."""
    if network.piecewise_linear:
        return True
    try:
        return get_backend(backend_name).capabilities.transcendental
    except SolverUnavailableError:
        return True


def _solver_bisection(network, perturbation, x, coeffs, before: search.Maximum, tol_z, backend_name, timeout, target,
                      strict, progress=None) -> tuple[search.Maximum, int]:
    """max c·z(x0, p) over the box by solver bisection from the certified interval `before`; and the solver calls.

    `progress` receives each tighter :class:`smtnn.search.Maximum` with the solver calls so far."""
    encoder = Encoder(network, perturbation)
    symbols = encoder.parameter_symbols()
    defs = []
    xs = [encoder.real(v) for v in x]
    logits = encoder.logits(xs, encoder.parameter_terms(symbols), Box(tuple(x), tuple(x)), defs)
    objective = encoder.mgr.Plus([encoder.mgr.Times(encoder.real(c), z) for c, z in zip(coeffs, logits) if c])
    session = get_backend(backend_name).session(encoder)
    session.add(encoder.parameter_box(symbols), defs)
    names = {i: s.symbol_name() for i, s in symbols.items()}

    def replay(model):
        params = [model.get(names[i], p) if i in names else p for i, p in enumerate(perturbation.nominal)]
        params = [min(max(p, lo), hi) for p, lo, hi in zip(params, perturbation.lower, perturbation.upper)]
        return linear_value(coeffs, float_first.exact_logits(network, x, params)).lo, tuple(params)

    found = search.bisect_max(session, encoder, objective, replay, before.lower, before.upper, before.best, tol_z,
                              timeout, target, strict, progress and (lambda tighter: progress((tighter, session.calls))))
    return found, session.calls


PHASE_SLACK = 0.25   # seconds a stoppable phase may run past its time before it is killed


def _stoppable(phase, timeout: float, before: search.Maximum) -> tuple[search.Maximum, int]:
    """Run a solver phase in a child process killed at its deadline, keeping the bounds it reported (or `before`).

    Z3 does not honour its own timeout while it preprocesses polynomial formulas (a 0.5 s check ran 0.9-3.4 s on
    networks of 250-1,200 parameters), and encoding a large network cannot look at the clock, so the phase
    runs where it can be stopped.
    """
    outcome = run_in_child(functools.partial(phase, progress=report_to_parent), timeout=timeout + PHASE_SLACK)
    if outcome.status == DONE:
        return outcome.value
    if outcome.status == ERROR:
        raise outcome.value
    found, calls = outcome.progress if outcome.progress is not None else (before, 0)
    why = {TIMEOUT: "timeout", MEMORY: "memory cap reached in the solver phase"}.get(
        outcome.status, f"the solver phase's process died ({outcome.detail})")
    return found._replace(reason=why), calls + 1   # the call the stop cut short counts


@budgeted(_stopped_estimate("local epsilon", _one))
def local_epsilon(network: Network, perturbation: Perturbation, x0, *, tolerance=None, solver: str = "z3",
                  timeout: float | None = None) -> Estimate:
    """Eq. 11: the largest |f_p0(x0) - f_p(x0)| over the perturbation box, as a certified interval.

    Binary: f is the sigmoid confidence, so the extremes of the logit decide (sigmoid is monotone).
    Multi-class: the largest change of any class probability; exact where the perturbation
    decouples (:mod:`smtnn.softmax_local`), else the upper end comes from per-pair logit margins
    and may leave a gap (reported).
    """
    clock = _Clock.begin(timeout)
    x = _check(network, perturbation, x0)
    tol = _tolerance(tolerance)
    meta = _query_meta(network, perturbation, "local epsilon (Eq. 11)", x0=[str(v) for v in x])
    if not network.binary:   # the same values as replay_logits, by integer arithmetic where it fits
        nominal = float_first.exact_logits(network, x)
        return _local_epsilon_multiclass(network, perturbation, x, nominal, tol, clock, meta)
    z0 = float_first.exact_logits(network, x)
    tol_z = 4 * tol
    best_lo, best_hi, best_wit, methods, reasons = None, None, None, set(), []
    for searches_left, sign in ((2, 1), (1, -1)):
        lo, hi, params, method, reason = _local_extreme(network, perturbation, x, [sign], tol_z, solver,
                                                        clock.share(searches_left), clock)
        methods.add(method)
        if reason:
            reasons.append(reason)
        achieved = _sigmoid_of(float_first.exact_logits(network, x, params)[0])
        diff_w = achieved - _sigmoid_of(z0[0]) if sign > 0 else _sigmoid_of(z0[0]) - achieved
        bound = sign * hi
        diff_hi = _sigma_diff(bound, z0[0].lo) if sign > 0 else _sigma_diff(z0[0].hi, bound)
        if best_lo is None or diff_w.lo > best_lo:
            best_lo, best_wit = diff_w.lo, _witness(network, perturbation, params, None, diff_w, MEANING_CHANGE)
        best_hi = diff_hi.hi if best_hi is None else max(best_hi, diff_hi.hi)
    best_lo = max(best_lo, Q(0))
    prov = clock.provenance(solver if clock.calls else "none", "exact" if clock.calls == 0 or get_backend(solver).exact else "δ",
                            "; ".join(sorted(methods)))
    return Estimate("local epsilon", best_lo, max(best_hi, best_lo), tol, prov, best_wit, "; ".join(reasons), meta)


def _local_epsilon_multiclass(network, perturbation, x, z0, tol, clock, meta) -> Estimate:
    exact = softmax_local.local_change(network, perturbation, x, tol, z0)
    if exact is not None:
        witness = _witness(network, perturbation, exact.witness, None, exact.witness_change, MEANING_CHANGE_MULTI)
        return Estimate("local epsilon", exact.lower, exact.upper, tol, clock.provenance("none", "exact", exact.method),
                        witness, exact.reason, meta)
    import mpmath

    iv = mpmath.iv
    best_lo, best_hi, best_wit = Q(0), Q(0), None
    k = network.n_outputs

    def softmax_enclosure(logits: Sequence[Enclosure], c: int, lo_side: bool):
        terms = 0
        for j in range(k):
            if j != c:
                d = (logits[j].lo - logits[c].hi) if lo_side is False else (logits[j].hi - logits[c].lo)
                terms = terms + iv.exp(iv.mpf(d.numerator) / d.denominator)
        return 1 / (1 + terms)

    p0 = [Enclosure.of_mpi(softmax_enclosure(z0, c, True)) for c in range(k)]
    # {} when the exact corner analysis applies; witnesses found after 80% of the budget are the nominal parameters
    pairs, replayed = float_first.pair_extremes(network, perturbation, x, clock.deadline(0.8))
    replayed_by_witness = {id(pairs[pair].witness): (pairs[pair].witness, zw) for pair, zw in replayed.items()}

    def logits_at(witness):   # each entry keeps its witness alive, so its id names it alone
        entry = replayed_by_witness.get(id(witness))
        if entry is None or entry[0] is not witness:
            entry = replayed_by_witness[id(witness)] = (witness, float_first.exact_logits(network, x, witness))
        return entry[1]

    for c in range(k):
        # largest rise of class c: every margin z_j - z_c at its own minimum (a sound, maybe loose, bound)
        rise_terms, fall_terms = [], []
        for j in range(k):
            if j == c:
                continue
            low = pairs.get((c, j)) or extreme_at(network, perturbation, x, _coeffs(network, c, j))   # max z_c - z_j
            high = pairs.get((j, c)) or extreme_at(network, perturbation, x, _coeffs(network, j, c))  # max z_j - z_c
            rise_terms.append(low.upper)
            fall_terms.append(high.upper)
            for ext in (low, high):
                zw = logits_at(ext.witness)   # replay_logits values, faster; each witness once
                pw = Enclosure.of_mpi(softmax_enclosure(zw, c, True))
                change = max(pw.lo - p0[c].hi, p0[c].lo - pw.hi)
                if change > best_lo:
                    best_lo = change
                    best_wit = _witness(network, perturbation, ext.witness, None,
                                        Enclosure(change, max(pw.hi - p0[c].lo, p0[c].hi - pw.lo)), MEANING_CHANGE_MULTI)
        up = 1 / (1 + sum(iv.exp(-iv.mpf(m.numerator) / m.denominator) for m in rise_terms))
        down = 1 / (1 + sum(iv.exp(iv.mpf(m.numerator) / m.denominator) for m in fall_terms))
        best_hi = max(best_hi, Enclosure.of_mpi(up).hi - p0[c].lo, p0[c].hi - Enclosure.of_mpi(down).lo)
    prov = clock.provenance("none", "exact", float_first.PAIR_METHOD if pairs else "per-pair exact logit margins (bound may be loose)")
    reason = "" if best_hi - best_lo <= tol else "multi-class ε: the pairwise margins need not be attained together"
    return Estimate("local epsilon", best_lo, max(best_hi, best_lo), tol, prov, best_wit, reason, meta)


@budgeted(_stopped_verdict("local (δ,ε)-robustness (Def. 1, Eq. 6)", _stopped_estimate("local epsilon", _one)))
def verify_local_epsilon(network: Network, perturbation: Perturbation, x0, epsilon, **kwargs) -> VerificationResult:
    """Def. 1 via Eq. 6: holds iff no p in the box moves f(x0) by more than ε."""
    eps = to_fraction(epsilon)
    if eps < 0:
        raise InvalidInputError(f"ε must be non-negative, got {float(eps)}")
    est = local_epsilon(network, perturbation, x0, **kwargs)
    return _verdict_from_estimate(est, eps, "local (δ,ε)-robustness (Def. 1, Eq. 6)")


def _verdict_from_estimate(est: Estimate, threshold: Fraction, prop: str) -> VerificationResult:
    query = dict(est.query, property=prop, threshold=str(threshold))
    if est.upper <= threshold:
        return VerificationResult(prop, Verdict.HOLDS, est.provenance, None, f"the largest value is at most {float(est.upper)}", query)
    if est.lower > threshold:
        return VerificationResult(prop, Verdict.VIOLATED, est.provenance, est.witness, "", query)
    reason = est.reason or f"the threshold lies inside the certified interval [{float(est.lower)}, {float(est.upper)}]"
    return VerificationResult(prop, Verdict.UNKNOWN, est.provenance, None, reason, query)


@budgeted(_stopped_verdict("local δ-robustness of the label (Def. 3, Eq. 8)"))
def verify_local_label(network: Network, perturbation: Perturbation, x0, *, solver: str = "z3",
                       timeout: float | None = None) -> VerificationResult:
    """Def. 3 via Eq. 8: holds iff no p in the box changes the label of x0."""
    clock = _Clock.begin(timeout)
    x = _check(network, perturbation, x0)
    prop = "local δ-robustness of the label (Def. 3, Eq. 8)"
    meta = _query_meta(network, perturbation, prop, x0=[str(v) for v in x])
    fast = float_first.local_label(network, perturbation, x, lambda z: _label(network, z), clock.remaining())
    if fast.verdict is not None:
        witness = None if fast.parameters is None else _witness(
            network, perturbation, fast.parameters, None, _flip_value(network, float_first.exact_logits(network, x, fast.parameters)),
            _flip_meaning(network))
        precision = "exact replay" if witness else "outward-rounded binary64"
        return VerificationResult(prop, fast.verdict, clock.provenance("none", precision, fast.method), witness, "", meta)
    z0 = float_first.exact_logits(network, x)
    try:
        c = _label(network, z0)
    except ArithmeticError as err:
        return VerificationResult(prop, Verdict.UNKNOWN, clock.provenance("none", "exact", "replay"), None, str(err), meta)
    t = logit_bracket(network.threshold)
    # flip iff max c·z passes the target: binary class 1: max(-z) > -t; class 0: max z >= t;
    # multi-class: max s_j - s_c >= 0 for j < c, > 0 for j > c (the lowest index wins a tie)
    if network.binary:
        pairs = [([-1], -t.hi, True)] if c == 1 else [([1], t.lo, False)]
    else:
        pairs = [(_score_coeffs(network, j, c), Q(0), j > c) for j in range(network.n_outputs) if j != c]
    methods, reasons = set(), []
    for done, (coeffs, target, strict) in enumerate(pairs):
        lo, hi, params, method, reason = _local_extreme(network, perturbation, x, coeffs, Q(0), solver,
                                                        clock.share(len(pairs) - done), clock, target, strict)
        methods.add(method)
        zw = float_first.exact_logits(network, x, params)
        if _flipped(network, c, zw):
            return VerificationResult(prop, Verdict.VIOLATED, clock.provenance(solver if clock.calls else "none", "exact", "; ".join(methods)),
                                      _witness(network, perturbation, params, None, _flip_value(network, zw), _flip_meaning(network)), "", meta)
        reach = False if reason == search.BELOW_TARGET else _reaches_boundary(network, c, hi, strict)
        if reach is not False:
            reasons.append(reason or "the perturbed logit reaches the decision boundary within the certified precision")
    verdict = Verdict.UNKNOWN if reasons else Verdict.HOLDS
    return VerificationResult(prop, verdict, clock.provenance(solver if clock.calls else "none", "exact", "; ".join(sorted(methods))),
                              None, "; ".join(reasons), meta)


def _reaches_boundary(network: Network, c: int, upper: Fraction, strict: bool) -> bool | None:
    """Can max c·z (bounded by `upper`) reach the flip region?  None when undecided at this precision."""
    if not network.binary:
        return None if (upper > 0 if strict else upper >= 0) else False
    t = logit_bracket(network.threshold)
    if c == 1:   # flip iff min z < t, i.e. max(-z) > -t
        return None if upper > -t.hi else False
    return None if upper >= t.lo else False


# -- global properties ---------------------------------------------------------------------
class _GlobalProblem:
    """The terms of a global query: nominal logits z0(x) and the perturbed extremes over x in D."""

    def __init__(self, network: Network, perturbation: Perturbation, domain: Box, backend: Backend):
        self.network, self.perturbation, self.domain, self.backend = network, perturbation, domain, backend
        self.encoder = enc = Encoder(network, perturbation)
        self.x = enc.input_symbols()
        self.definitions = []
        self.eliminated = network.piecewise_linear and decouples(network, perturbation) and backend.capabilities.exact
        nominal = enc.parameter_terms()
        self.z0 = enc.logits(self.x, nominal, domain, self.definitions, nominal=True)
        base = [enc.within(self.x, domain.lower, domain.upper)]
        if self.eliminated:
            self.symbols = {}
            self.zp = None
        else:
            self.symbols = enc.parameter_symbols()
            self.zp = enc.logits(self.x, enc.parameter_terms(self.symbols), domain, self.definitions)
            base.append(enc.parameter_box(self.symbols))
        self.base = enc.mgr.And(base)
        self.method = "parameter-eliminated encoding (exact, linear arithmetic)" if self.eliminated else "parametric encoding (bilinear terms)"

    def high(self, coeffs):
        """A term that can reach max_p c·z(x, p): the eliminated extreme, or c·z(x, p) with p free."""
        m = self.encoder.mgr
        if self.eliminated:
            return self.encoder.eliminated_extreme(self.x, coeffs, self.domain)
        return m.Plus([m.Times(self.encoder.real(c), z) for c, z in zip(coeffs, self.zp) if c])

    def nominal(self, coeffs):
        m = self.encoder.mgr
        return m.Plus([m.Times(self.encoder.real(c), z) for c, z in zip(coeffs, self.z0) if c])

    def session(self):
        s = self.backend.session(self.encoder)
        s.add(self.base, self.definitions)
        return s

    def query(self, formula, prop: str, **meta) -> Query:
        return Query(self.encoder, self.encoder.mgr.And(self.base, formula), list(self.definitions), self.x,
                     self.symbols, _query_meta(self.network, self.perturbation, prop, domain=self.domain.as_json(), **meta))

    def candidate(self, model) -> tuple[list[Fraction], list[Fraction] | None]:
        """Input (clamped into D) and, for the parametric encoding, parameters from a model."""
        x = [min(max(model.get(s.symbol_name(), lo), lo), hi) for s, lo, hi in zip(self.x, self.domain.lower, self.domain.upper)]
        if self.eliminated:
            return x, None
        pert = self.perturbation
        params = [min(max(model.get(self.symbols[i].symbol_name(), p), pert.lower[i]), pert.upper[i]) if i in self.symbols else p
                  for i, p in enumerate(pert.nominal)]
        return x, params


def binary_flip(m, real, z0, z_low, z_high, threshold, sigma_levels=None, eta: Fraction = Q(0)):
    """Eq. 9 (Eq. 10 with σ levels) for a sigmoid output: the nominal logit z0 and the perturbed logit's lowest and
    highest terms (one term twice in the parametric encoding) put the input on two sides of t = logit(threshold).

    The one flip formula of the solving path and of the SMT-LIB export (:mod:`smtnn.export`).
    """
    t = logit_bracket(threshold)
    if eta:
        down = m.And(m.GE(z0, real(t.hi + eta)), m.LE(z_low, real(t.lo - eta)))
        up = m.And(m.LE(z0, real(t.lo - eta)), m.GE(z_high, real(t.hi + eta)))
    else:
        down = m.And(m.GE(z0, real(t.lo)), m.LT(z_low, real(t.hi)))
        up = m.And(m.LT(z0, real(t.hi)), m.GE(z_high, real(t.lo)))
    if sigma_levels is not None:
        hi_level, lo_level = sigma_levels
        down = m.And(down, m.GE(z0, real(hi_level + eta))) if hi_level is not None else m.FALSE()
        up = m.And(up, m.LE(z0, real(lo_level - eta))) if lo_level is not None else m.FALSE()
    return m.Or(down, up)


def _flip_formula(problem: _GlobalProblem, sigma_levels: tuple[Fraction, Fraction] | None = None, eta: Fraction = Q(0)):
    """Eq. 9 (and Eq. 10 with σ): some x in D and p in the box on which the label flips.

    With eta > 0 every inequality is tightened by eta, so a δ-sat model of it is a true flip
    unless the solver's precision exceeds eta (used to turn candidates into witnesses).
    """
    m, enc, net = problem.encoder.mgr, problem.encoder, problem.network
    parts = []
    if net.binary:
        return binary_flip(m, enc.real, problem.nominal([1]), m.Times(enc.real(-1), problem.high([-1])), problem.high([1]),
                           net.threshold, sigma_levels, eta)
    k = net.n_outputs
    for c in range(k):
        is_c = m.And([m.GT(problem.nominal(_score_coeffs(net, c, j)), enc.real(0)) if j < c else
                      m.GE(problem.nominal(_score_coeffs(net, c, j)), enc.real(0)) for j in range(k) if j != c])
        parts.append(m.And(is_c, _takeover_formula(problem, c)))
    return m.Or(parts)


def _takeover_formula(problem: "_GlobalProblem", c: int):
    """Some p in the box lets another class take over from c: s_j >= s_c (j < c) or s_j > s_c (j > c)."""
    m, enc, net = problem.encoder.mgr, problem.encoder, problem.network
    return m.Or([(m.GE if j < c else m.GT)(problem.high(_score_coeffs(net, j, c)), enc.real(0))
                 for j in range(net.n_outputs) if j != c])


def _replay_flip(problem: _GlobalProblem, model) -> tuple[Witness | None, Sequence[Fraction] | None]:
    """Replay a model of a flip query; a witness only if the label really flips on the concrete network."""
    net, pert = problem.network, problem.perturbation
    x, params = problem.candidate(model)
    z0 = float_first.exact_logits(net, x)
    try:
        c = _label(net, z0)
    except ArithmeticError:
        return None, None
    candidates = []
    if params is not None:
        candidates.append(params)
    else:
        if net.binary:
            candidates.append(extreme_at(net, pert, x, [-1] if c == 1 else [1]).witness)
        else:
            candidates += [extreme_at(net, pert, x, _score_coeffs(net, j, c)).witness for j in range(net.n_outputs) if j != c]
    for p in candidates:
        zp = float_first.exact_logits(net, x, p)
        if _flipped(net, c, zp):
            return _witness(net, pert, p, x, _flip_value(net, zp), _flip_meaning(net)), z0
    return None, z0


def _global_verify(network, perturbation, domain, prop, sigma_levels, solver, timeout, extra_check=None, extra_meta=None,
                   clock: _Clock | None = None):
    """Eqs. 9-10 by one solver call; `clock` (the caller's, when it already spent time) times the whole query."""
    clock = clock or _Clock.begin(timeout)
    _check(network, perturbation, None, domain)
    backend = get_backend(solver)
    problem = _GlobalProblem(network, perturbation, domain, backend)
    session = problem.session()
    session.add(_flip_formula(problem, sigma_levels))
    answer = session.check(timeout)
    clock.calls += session.calls
    desc = backend.describe()
    prov = lambda: clock.provenance(desc["solver"], str(desc["precision"]), problem.method)
    meta = _query_meta(network, perturbation, prop, domain=domain.as_json(), **(extra_meta or {}))
    if answer.status is Status.UNSAT:
        return VerificationResult(prop, Verdict.HOLDS, prov(), None, "", meta)
    if answer.status is Status.UNKNOWN:
        return VerificationResult(prop, Verdict.UNKNOWN, prov(), None, answer.reason or "solver returned unknown", meta)
    witness, z0 = _replay_flip(problem, answer.model)
    if (witness is None or (extra_check is not None and not extra_check(z0))) and network.binary:
        session = problem.session()   # retry strictly: a model on the boundary need not replay
        session.add(_flip_formula(problem, sigma_levels, eta=16 * backend.precision if not backend.exact else Q(1, 10 ** 12)))
        strict = session.check(clock.remaining())
        clock.calls += session.calls
        if strict.status is Status.SAT:
            witness, z0 = _replay_flip(problem, strict.model)
    if witness is not None and (extra_check is None or extra_check(z0)):
        return VerificationResult(prop, Verdict.VIOLATED, prov(), witness, "", meta)
    why = "δ-sat candidate did not replay" if not backend.exact else "the solver's model did not replay exactly (relaxed or boundary case)"
    return VerificationResult(prop, Verdict.UNKNOWN, prov(), None, why, meta)


@budgeted(_stopped_verdict("global δ-robustness of the label (Def. 4, Eq. 9)"))
def verify_global_label(network: Network, perturbation: Perturbation, domain: Box, *, solver: str = "z3",
                        timeout: float | None = None) -> VerificationResult:
    """Def. 4 via Eq. 9: holds iff no x in D and no p in the box flip the label."""
    prop = "global δ-robustness of the label (Def. 4, Eq. 9)"
    clock = _Clock.begin(timeout)
    _check(network, perturbation, None, domain)
    get_backend(solver)   # an unavailable solver is reported whatever decides
    fast = float_first.global_label(network, perturbation, domain, lambda z: _label(network, z))
    if fast.verdict is not None:
        witness = None if fast.parameters is None else _witness(
            network, perturbation, fast.parameters, fast.input,
            _flip_value(network, float_first.exact_logits(network, fast.input, fast.parameters)), _flip_meaning(network))
        precision = "exact replay" if witness else "outward-rounded binary64"
        return VerificationResult(prop, fast.verdict, clock.provenance("none", precision, fast.method), witness, "",
                                  _query_meta(network, perturbation, prop, domain=domain.as_json()))
    return _global_verify(network, perturbation, domain, prop, None, solver, clock.remaining(), clock=clock)


def sigma_levels(threshold: Fraction, sigma: Fraction):
    """Logit levels covering |f_p0(x) - l| >= σ, rounded outward: z0 >= logit(l + σ) or z0 <= logit(l - σ) (None: impossible).

    Outward: every x with |f_p0(x) - l| >= σ satisfies the level constraints, so UNSAT still proves Eq. 10.
    """
    hi = logit_bracket(threshold + sigma).lo if threshold + sigma < 1 else None
    lo = logit_bracket(threshold - sigma).hi if threshold - sigma > 0 else None
    return hi, lo


@budgeted(_stopped_verdict("global δσ-robustness (Def. 5, Eq. 10)"))
def verify_global_sigma(network: Network, perturbation: Perturbation, domain: Box, sigma, *, solver: str = "z3",
                        timeout: float | None = None) -> VerificationResult:
    """Def. 5 via Eq. 10: every x in D with |f_p0(x) - l| >= σ keeps its label under every p in the box (binary)."""
    prop = "global δσ-robustness (Def. 5, Eq. 10)"
    s = to_fraction(sigma)
    if s < 0:
        raise InvalidInputError(f"σ must be non-negative, got {float(s)}")
    if not network.binary:
        raise InvalidInputError("Def. 5 is stated for a sigmoid output; for multi-class networks use estimate sigma (logit margin)")
    levels = sigma_levels(network.threshold, s)
    prop_meta = {"sigma": str(s)}

    def far_enough(z0):
        conf = _sigmoid_of(z0[0])
        return conf.lo - network.threshold >= s or network.threshold - conf.hi >= s

    return _global_verify(network, perturbation, domain, prop, levels, solver, timeout, far_enough, prop_meta)


@budgeted(_stopped_sigma)
def global_sigma(network: Network, perturbation: Perturbation, domain: Box, *, tolerance=None, solver: str = "z3",
                 timeout: float | None = None, by_pieces: bool = True) -> dict[int, Estimate]:
    """Eq. 13 per class: the largest |f_p0(x) - l| (binary) or logit margin (multi-class) of an x in D whose label can flip.

    For σ above the returned upper ends, Def. 5 holds for that class.  Keys are class indices
    (the paper's tuple is (class 1, class 0)).  An estimate [0, 0] means no label of that class can flip.
    Where the perturbation decouples and the hidden units are piecewise linear, each class is one
    certified LP per linear piece of D (:mod:`smtnn.pieces`); otherwise, or when an LP answer cannot
    be certified (or ``by_pieces`` is False), the solver path.
    """
    clock = _Clock.begin(timeout)
    _check(network, perturbation, None, domain)
    tol = _tolerance(tolerance)
    backend = get_backend(solver)
    out = {}
    classes = (1, 0) if network.binary else tuple(range(network.n_outputs))
    by_pieces = by_pieces and pieces.applies(network, perturbation)
    fast = _sigma_by_pieces(network, perturbation, domain, classes, tol, clock, clock.share(1)) \
        if by_pieces and network.binary else {}
    for done, c in enumerate(classes):
        if by_pieces and not network.binary:
            fast.update(_sigma_by_pieces(network, perturbation, domain, (c,), tol, clock,
                                         clock.share(len(classes) - done)))
        if fast.get(c) is not None:
            out[c] = fast[c]
            continue
        problem = _GlobalProblem(network, perturbation, domain, backend)
        out[c] = _sigma_for_class(problem, c, tol, clock.share(len(classes) - done), clock)
        report(dict(out), force=True)
    return out


PIECES_SECONDS = 2.0
"""At most this long per class (and half the share of the budget) for the piece LPs before the solver path takes over."""


def _sigma_by_pieces(network: Network, perturbation: Perturbation, domain: Box, classes: Sequence[int],
                     tol: Fraction, clock: _Clock, share: float | None = None) -> dict[int, Estimate | None]:
    """Eq. 13 for each class as one certified LP per linear piece of D (see :mod:`smtnn.pieces`); None to fall back.

    Classes over the same box of LP variables (both classes of a binary network) share one derivation of the
    pieces, the nominal logits and the hidden ranges (:func:`smtnn.pieces.maximize_jointly`).
    """
    out, groups = {}, {}
    for c in classes:
        problem = _sigma_problem(network, perturbation, domain, c, tol, clock)
        if isinstance(problem, Estimate):
            out[c] = problem
        else:
            groups.setdefault((tuple(problem.lower), tuple(problem.upper)), []).append(problem)
    seconds = PIECES_SECONDS * len(classes) if share is None else min(PIECES_SECONDS * len(classes), share / 2)
    deadline = time.perf_counter() + seconds
    for (lower, upper), problems in groups.items():
        found = pieces.maximize_jointly(network, perturbation, lower, upper,
                                        [(p.derive, p.replay, p.tolerance) for p in problems], deadline)
        for problem, optimum in zip(problems, found):
            out[problem.c] = None if optimum is None else problem.estimate(optimum)
    return out


@dataclass
class _SigmaProblem:
    """Eq. 13 for class c as a :func:`smtnn.pieces.maximize_jointly` problem, and its answer as an Estimate."""

    c: int
    lower: list
    upper: list
    derive: Callable
    replay: Callable
    tolerance: Fraction
    estimate: Callable[[pieces.PieceOptimum], Estimate]


def _sigma_problem(network: Network, perturbation: Perturbation, domain: Box, c: int, tol: Fraction,
                   clock: _Clock) -> _SigmaProblem | Estimate:
    """Eq. 13 for class c over the pieces, or the Estimate when an interval bound already answers it.

    The region is the solver path's region(0) (outward at the level t = logit(l)); the objective
    is z0 (class 1), -z0 (class 0) or the nominal margin μ <= s_c - s_j for every j != c (an extra
    LP variable, multi-class); every lower end is a replayed flip.
    """
    net = network
    d = net.n_inputs
    prop = f"global sigma for class {c} (Eq. 13)"
    meta = _query_meta(net, perturbation, prop, domain=domain.as_json())
    lower, upper = list(domain.lower), list(domain.upper)
    if net.binary:
        t = logit_bracket(net.threshold)
        sign = 1 if c == 1 else -1

        def derive(nominal, extreme, arith):
            # class 1: z0 >= t and min_p z_p <= t, i.e. max_p (-z_p) >= -t; class 0: z0 <= t and max_p z_p >= t
            objective = arith.times(Q(sign), nominal[0])
            level = -t.lo if c == 1 else t.hi
            flip = extreme([-1]) if c == 1 else extreme([1])
            flip_level = t.hi if c == 1 else -t.lo
            flip_row = arith.plus(flip, arith.value(pieces.constant(flip_level, nominal[0].items[0])))
            # one region per alternative of the objective, with its own row "objective >= level"
            alternatives = objective.items if objective.kind > 0 else [arith.resolve(objective)]
            return [pieces.PieceDerivation(arith.value(f), [arith.value(pieces.shift(f, level)), flip_row])
                    for f in alternatives]
    else:
        k = net.n_outputs
        margin_bound = _objective_bound_on(net, perturbation, domain, c)
        if margin_bound < 0:
            return Estimate(prop, Q(0), Q(0), tol, clock.provenance("none", "exact", "interval bound"), None,
                            "no label of this class can flip on D", meta)
        lower.append(Q(0))
        upper.append(margin_bound)

        def derive(nominal, extreme, arith):
            n = d + 1
            mu = arith.value(tuple(Q(1) if i == d else Q(0) for i in range(n)) + (Q(0),))
            scores = [arith.times(Q(net.score_sign), z) for z in nominal]
            # μ <= s_c - s_j for every j != c, and some class j takes over under some p
            below = [arith.plus(arith.plus(scores[c], arith.times(Q(-1), scores[j])), arith.times(Q(-1), mu))
                     for j in range(k) if j != c]
            return [pieces.PieceDerivation(mu, below + [extreme(_score_coeffs(net, j, c))]) for j in range(k) if j != c]

    def value_of(z0):
        return _sigma_at(net, c, z0)

    def replay(point):
        x = point[:d]
        z0 = float_first.exact_logits(net, x)
        try:
            if _label(net, z0) != c:
                return None
        except ArithmeticError:
            return None
        if net.binary:
            directions = [[-1] if c == 1 else [1]]
        else:
            directions = [_score_coeffs(net, j, c) for j in range(net.n_outputs) if j != c]
        for coeffs in directions:
            for params in (pieces.corner_witness(net, perturbation, x, coeffs), None):
                params = params or extreme_at(net, perturbation, x, coeffs).witness
                zp = float_first.exact_logits(net, x, params)
                if _flipped(net, c, zp):
                    break
            if _flipped(net, c, zp):
                value = value_of(z0)
                objective = (z0[0].lo if c == 1 else -z0[0].lo) if net.binary else value.lo
                flip = _witness(net, perturbation, params, x, _flip_value(net, zp), _flip_meaning(net))
                return objective, (flip, value)
        return None

    def estimate(found: pieces.PieceOptimum) -> Estimate:
        below = f"; {found.float_bounded} of them below the upper end by binary64 duals with outward error bounds" \
            if found.float_bounded else ""
        method = (f"decoupled parameters: {found.pieces} linear piece(s) of D, {found.linear_programs} LPs (HiGHS, "
                  f"bounds certified from the duals in exact rationals{below}) + exact replay")
        prov = clock.provenance("highs", "exact", method)
        if found.upper is None:
            return Estimate(prop, Q(0), Q(0), tol, prov, None, "no label of this class can flip on D", meta)
        if found.lower is None:
            upper_value = max(Q(0), _objective_to_upper(net, c, found.upper))
            return Estimate(prop, Q(0), upper_value, tol, prov, None, "no replayed witness", meta)
        flip, value = found.payload
        witness = Witness(flip.parameters, flip.input, value.lo, value.hi,
                          MEANING_SIGMA_BINARY if net.binary else MEANING_SIGMA_MULTI)
        upper_value = max(_objective_to_upper(net, c, found.upper), value.lo)
        return Estimate(prop, value.lo, upper_value, tol, prov, witness, "", meta)

    return _SigmaProblem(c, lower, upper, derive, replay, 4 * tol if net.binary else tol, estimate)


def _objective_bound_on(net: Network, perturbation: Perturbation, domain: Box, c: int) -> Fraction:
    """A sound upper bound of the nominal margin s_c - max_{j≠c} s_j over D (interval propagation)."""
    z = propagate(net, [Enclosure(lo, hi) for lo, hi in zip(domain.lower, domain.upper)],
                  list(perturbation.nominal), list(perturbation.nominal))[-1]
    s = _scores(net, z)
    return min(s[c].hi - s[j].lo for j in range(net.n_outputs) if j != c)


def _sigma_for_class(problem: _GlobalProblem, c: int, tol: Fraction, timeout, clock) -> Estimate:
    net, enc, m = problem.network, problem.encoder, problem.encoder.mgr
    prop = f"global sigma for class {c} (Eq. 13)"
    meta = _query_meta(net, problem.perturbation, prop, domain=problem.domain.as_json())
    if net.binary:
        t = logit_bracket(net.threshold)
        z0, zmin, zmax = problem.nominal([1]), m.Times(enc.real(-1), problem.high([-1])), problem.high([1])
        if c == 1:   # maximize z0 subject to z0 >= t and some p with z_p < t
            objective = z0

            def region(eta):
                if eta == 0:
                    return m.And(m.GE(z0, enc.real(t.lo)), m.LE(zmin, enc.real(t.hi)))
                return m.And(m.GE(z0, enc.real(t.hi + eta)), m.LE(zmin, enc.real(t.lo - eta)))
        else:        # maximize -z0 subject to z0 < t and some p with z_p >= t
            objective = problem.nominal([-1])

            def region(eta):
                if eta == 0:
                    return m.And(m.LE(z0, enc.real(t.hi)), m.GE(zmax, enc.real(t.lo)))
                return m.And(m.LE(z0, enc.real(t.lo - eta)), m.GE(zmax, enc.real(t.hi + eta)))
    else:            # maximize the margin z0_c - max_j z0_j subject to class c and a possible flip
        k = net.n_outputs
        margin = enc.fresh("margin")
        objective = margin

        def region(eta):
            return m.And(
                m.And([m.LE(margin, problem.nominal(_score_coeffs(net, c, j))) for j in range(k) if j != c]),
                m.Or([m.Equals(margin, problem.nominal(_score_coeffs(net, c, j))) for j in range(k) if j != c]),
                m.GE(margin, enc.real(eta)),
                _takeover_formula(problem, c))

    def value_of(z0):
        return _sigma_at(net, c, z0)

    def objective_value(z0) -> Fraction:
        if net.binary:
            return z0[0].lo if c == 1 else -z0[0].lo
        return value_of(z0).lo

    def replay(model):
        witness, z0 = _replay_flip(problem, model)
        if witness is None or _label(net, z0) != c:
            return None
        return objective_value(z0), witness, value_of(z0)

    session = problem.session()
    desc = problem.backend.describe()
    _, hi_obj, best, reason = search.maximize(session, enc, objective, region, replay, tol_obj=(4 * tol if net.binary else tol),
                                              linear=problem.eliminated, timeout=timeout, bound=_objective_bound(problem, c))
    clock.calls += session.calls
    prov = clock.provenance(desc["solver"], str(desc["precision"]), problem.method + ("; exact optimization" if problem.eliminated and problem.backend.capabilities.optimization else "; bisection"))
    if hi_obj is None:   # no flip at all
        return Estimate(prop, Q(0), Q(0), tol, prov, None, "no label of this class can flip on D", meta)
    if best is None:
        upper = max(Q(0), _objective_to_upper(net, c, hi_obj))   # σ is 0 when nothing can flip
        return Estimate(prop, Q(0), upper, tol, prov, None, reason or "no replayed witness", meta)
    flip, value = best
    witness = Witness(flip.parameters, flip.input, value.lo, value.hi, MEANING_SIGMA_BINARY if net.binary else MEANING_SIGMA_MULTI)
    upper = max(_objective_to_upper(net, c, hi_obj), value.lo)
    return Estimate(prop, value.lo, upper, tol, prov, witness, reason, meta)


def _objective_bound(problem: _GlobalProblem, c: int) -> Fraction:
    """A sound upper bound of the maximized objective over D by interval propagation of the nominal network."""
    net, box = problem.network, problem.domain
    z = propagate(net, [Enclosure(lo, hi) for lo, hi in zip(box.lower, box.upper)],
                  list(problem.perturbation.nominal), list(problem.perturbation.nominal))[-1]
    if net.binary:
        return z[0].hi if c == 1 else -z[0].lo
    s = _scores(net, z)
    return min(s[c].hi - s[j].lo for j in range(net.n_outputs) if j != c)


def _objective_to_upper(net: Network, c: int, objective_bound: Fraction) -> Fraction:
    """An upper bound of σ for a bound on the maximized objective (z0 for class 1, -z0 for class 0, margin for
    multi-class): the upper end of σ's certified enclosure there (one sigmoid end)."""
    if not net.binary:
        return objective_bound
    if c == 1:
        return sigmoid_end(objective_bound, upper=True) - net.threshold
    return net.threshold - sigmoid_end(-objective_bound, upper=False)


@budgeted(_stopped_estimate("global epsilon", _one))
def global_epsilon(network: Network, perturbation: Perturbation, domain: Box, *, tolerance=None, solver: str = "z3",
                   timeout: float | None = None, max_boxes: int = 2_000_000) -> Estimate:
    """Eq. 12: the largest |f_p0(x) - f_p(x)| over x in D and p in the box, as a certified interval.

    f is the sigmoid confidence, or for multi-class networks every softmax class probability (the
    largest change of any).  One hidden ReLU layer on 3 or more inputs, and multi-class networks,
    go to :mod:`smtnn.global_bounds`, two hidden ReLU layers to :mod:`smtnn.global_deep`; small decoupled
    piecewise-linear networks on 2 inputs to :mod:`smtnn.planar_epsilon` (exact polygon pieces, searches along their
    edges).  Otherwise branch and bound over D: each sub-box gets a sound upper bound from outward-rounded interval
    arithmetic over (sub-box × parameter box); candidates are certified by exact corner replay.
    The upper end is the largest bound of the boxes left (a proof); it closes on the true value
    when the perturbation decouples (see :mod:`smtnn.bounds`).
    """
    clock = _Clock.begin()
    _check(network, perturbation, None, domain)
    tol = _tolerance(tolerance)
    meta = _query_meta(network, perturbation, "global epsilon (Eq. 12)", domain=domain.as_json())
    fast = _global_epsilon_without_input_boxes(network, perturbation, domain, tol, timeout, clock, meta)
    if fast is not None:
        return fast
    left = None if timeout is None else max(timeout - (time.perf_counter() - clock.start), FLOOR)   # after a fast path gave up
    result = search.branch_and_bound_epsilon(network, perturbation, domain, tol, left, max_boxes)
    method = f"branch and bound over D ({result.boxes} boxes, interval and mean-value bounds) + exact corner replay"
    prov = clock.provenance("none", "exact rationals for witnesses; outward-rounded binary64 intervals for bounds", method)
    return Estimate("global epsilon", result.lower, result.upper, tol, prov, result.witness, result.reason, meta)


def _global_epsilon_without_input_boxes(network, perturbation, domain, tol, timeout, clock, meta) -> Estimate | None:
    """Eq. 12 by :mod:`smtnn.global_bounds` where it applies (None: nothing better than input-box branch and bound).

    Small decoupled piecewise-linear networks on 2 inputs: polygon pieces and their edges (when that engine gives
    up, the next that applies); two hidden ReLU layers: LP branch and bound over input boxes and phases
    (:mod:`smtnn.global_deep`); one hidden ReLU layer on 3 or more inputs: slabs of the nominal logit; multi-class
    networks: the largest change of any softmax class probability, lower ends replayed by the multi-class Eq. 11 at
    an input.
    """
    if network.binary and planar_epsilon.applies(network, perturbation, domain):
        found = planar_epsilon.global_epsilon(network, perturbation, domain, tol, timeout)
        if found is not None:
            method = f"{planar_epsilon.METHOD} ({found.pieces} pieces, {found.edges} edges)"
            precision = "exact rationals for pieces and witnesses; outward-rounded binary64 for bounds along edges"
            return Estimate("global epsilon", found.lower, found.upper, tol, clock.provenance("none", precision, method),
                            found.witness, found.reason, meta)
        timeout = None if timeout is None else max(timeout - (time.perf_counter() - clock.start), FLOOR)
    if global_deep.applies(network, perturbation, domain):
        found = global_deep.global_epsilon(network, perturbation, domain, tol, timeout)
        method, solver = f"{global_deep.METHOD} ({found.nodes} nodes)", "highs"
        precision = "exact rationals for witnesses; certified LP duals and outward-rounded binary64 for bounds"
    elif network.binary and global_bounds.applies(network, perturbation, domain):
        found = global_bounds.global_epsilon(network, perturbation, domain, tol, timeout)
        method, solver = f"{global_bounds.METHOD} ({found.nodes} LPs)", "highs"
        precision = "exact rationals for witnesses; certified LP duals and outward-rounded binary64 for bounds"
    elif not network.binary:
        def certify(x_float):
            x = [min(max(Fraction(float(v)), lo), hi) for v, lo, hi in zip(x_float, domain.lower, domain.upper)]
            local = _local_epsilon_multiclass(network, perturbation, x, float_first.exact_logits(network, x),
                                              tol, _Clock.begin(), {})
            w = local.witness
            return local.lower, w and Witness(w.parameters, tuple(x), w.value_lower, w.value_upper, w.meaning)

        found = global_bounds.multiclass_epsilon(network, perturbation, domain, tol, timeout, certify)
        method, solver = f"{global_bounds.MULTICLASS_METHOD} ({found.nodes} boxes)", "none"
        precision = "exact rationals for witnesses; outward-rounded binary64 intervals for bounds"
    else:
        return None
    prov = clock.provenance(solver, precision, method)
    return Estimate("global epsilon", found.lower, found.upper, tol, prov, found.witness, found.reason, meta)


@budgeted(_stopped_verdict("global (δ,ε)-robustness (Def. 2, Eq. 7)", _stopped_estimate("global epsilon", _one)))
def verify_global_epsilon(network: Network, perturbation: Perturbation, domain: Box, epsilon, **kwargs) -> VerificationResult:
    """Def. 2 via Eq. 7: holds iff no x in D and p in the box move f(x) by more than ε."""
    eps = to_fraction(epsilon)
    if eps < 0:
        raise InvalidInputError(f"ε must be non-negative, got {float(eps)}")
    est = global_epsilon(network, perturbation, domain, tolerance=kwargs.pop("tolerance", None), **kwargs)
    return _verdict_from_estimate(est, eps, "global (δ,ε)-robustness (Def. 2, Eq. 7)")
