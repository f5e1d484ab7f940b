"""Decision preservation: does N2 pick N1's class at every input of a box?

A network picks a at x' when s_a is the first largest score (the logit; its negation for argmin):
s_a - s_m > 0 for m < a and >= 0 for m > a (a sigmoid output picks 1 when z >= 0, else 0).  N2 fails to pick a because of
k when z2_k - z2_a > 0 (k > a) or >= 0 (k < a).  So a disagreement is a point where a set S of
forms is > 0 and a set W is >= 0.  Per (a, k), after screening by certified LP bounds, the
branch and bound decides the sign of max min(S ∪ W): > 0 is a disagreement, < 0 excludes it,
and only an exact tie (= 0) needs the second query max min(S) subject to W >= 0.  A formula
backend (engine 'z3') answers one satisfiability query instead.  Every counterexample is replayed: both networks'
classes at x' are recomputed exactly.
"""
from __future__ import annotations

import time
from fractions import Fraction
from typing import NamedTuple

from ..budget import Stop, budgeted
from ..result import Verdict, VerificationResult
from . import screen
from .lrsm import BUILD_SHARE, region
from .optimize import Analysis, strategy
from .pair import Twins, exact_class
from .result import decision_result


def _diff(twins: Twins, which: int, plus: int, minus: int) -> tuple:
    """s_plus - s_minus of one network's scores (its logits, negated for argmin), as coefficients on both.

    A sigmoid output z is the pair (0, z).
    """
    nets = twins.networks
    if nets[which].binary:
        own = ((plus - minus),)
    else:
        sign = nets[which].score_sign
        own = tuple(sign * (int(i == plus) - int(i == minus)) for i in range(nets[which].n_outputs))
    zero = (0,) * nets[1 - which].n_outputs
    return (own, zero) if which == 0 else (zero, own)


def picks(twins: Twins, which: int, a: int) -> tuple[list, list]:
    """(strict, weak) forms of 'network `which` picks a'."""
    if twins.networks[which].binary:   # class 1 iff z >= 0
        return ([], [_diff(twins, which, 1, 0)]) if a == 1 else ([_diff(twins, which, 0, 1)], [])
    strict = [_diff(twins, which, a, m) for m in range(a)]
    weak = [_diff(twins, which, a, m) for m in range(a + 1, twins.n_classes)]
    return strict, weak


def beats(twins: Twins, a: int, k: int) -> tuple[list, list]:
    """(strict, weak) forms of 'N2 does not pick a, because of k'."""
    if twins.second.binary:
        return picks(twins, 1, k)
    form = _diff(twins, 1, k, a)
    return ([form], []) if k > a else ([], [form])


METHODS = {True: "branch and bound: certified LP bounds, exact leaf LPs", False: "certified LP bounds (relaxation)"}


def _stopped(stop: Stop, first, second, *args, engine: str = "exact", **_) -> VerificationResult:
    """A call stopped from outside: UNKNOWN with the reason (a decision has no partial bounds)."""
    return decision_result(Verdict.UNKNOWN, solver="none", method="stopped", seconds=stop.seconds, reason=stop.reason,
                           query={"engine": engine if isinstance(engine, str) else engine.name, "decision": first.decision})


@budgeted(_stopped)
def decisions(first, second, x0=None, radius=None, *, box=None, clip=None, engine: str = "exact",
              timeout: float | None = None, analysis: Analysis | None = None) -> VerificationResult:
    """Verdict of decision preservation of N2 with respect to N1 on B(x0, radius) (or ``box``).

    A counterexample's witness is the input with the classes N1 and N2 pick there (``Witness.classes``).
    """
    start = time.perf_counter()
    twins = Twins(first, second)
    main = strategy(engine)
    box, _ = region(twins, x0, radius, box, clip)
    query = {"engine": main.name, "decision": first.decision}
    if _same(first, second):
        return decision_result(Verdict.HOLDS, solver="none", method="the networks are equal", seconds=time.perf_counter() - start,
                               reason="N1 and N2 are the same network", query=query)
    if not main.formulas:   # both twins provably pick one class on the whole box: no LP needed
        c = screen.guess_class(first, box)
        if screen.robust_class(first, box, c) and screen.robust_class(second, box, c):
            return decision_result(Verdict.HOLDS, solver="none", method="outward-rounded float linear bounds",
                                   seconds=time.perf_counter() - start, query=query,
                                   stats={"screen": f"linear bounds: N1 and N2 pick class {c} on the whole box"})
    analysis = analysis or Analysis(twins.networks, box)
    analysis.relaxation_by(None if timeout is None else start + BUILD_SHARE * timeout)
    if main.formulas:
        return _formula(main.backend, twins, analysis, timeout, start, query)
    verdict, witness, reason, stats, calls = _search(twins, analysis, main, timeout, start)
    classes = None if witness is None else _classes(twins, witness)
    return decision_result(verdict, solver=main.backend.name, method=METHODS[main.complete], seconds=time.perf_counter() - start,
                           witness=witness, classes=classes, reason=reason, stats=stats, query=query, calls=calls)


class _Searched(NamedTuple):
    verdict: Verdict
    witness: tuple | None
    reason: str
    stats: dict
    calls: int


def _search(twins: Twins, analysis: Analysis, main, timeout, start) -> _Searched:
    """Per pair (a, k): screen by certified LP bounds, then (complete strategies) branch and bound."""
    possible, searches = [], []

    def search(forms, constraints=()):
        searches.append(analysis.search(forms, constraints))
        return searches[-1]

    for a in range(twins.n_classes):
        if timeout is not None and _left(timeout, start) <= 0:   # out of time: every class N1 may pick stays possible
            possible.append(a)
            continue
        strict, weak = picks(twins, 0, a)
        bound, _, infeasible = search(strict + weak).bound({})
        if not infeasible and (bound is None or bound >= 0):
            possible.append(a)
    stats = {"classes_N1": possible, "pairs_screened": 0, "pairs_searched": 0, "ties": 0}
    calls = lambda: sum(s.lp_calls for s in searches)  # noqa: E731
    unknown = []
    for a in possible:
        for k in range(twins.n_classes):
            if k == a:
                continue
            if timeout is not None and _left(timeout, start) <= 0:
                unknown.append(f"N1 picks {a}, N2 prefers {k}: not examined, the timeout was used up")
                continue
            stats["pairs_screened"] += 1
            s1, w1 = picks(twins, 0, a)
            s2, w2 = beats(twins, a, k)
            strict, weak = s1 + s2, w1 + w2
            pair = search(strict + weak)
            bound, point, infeasible = pair.bound({})
            if infeasible or (bound is not None and bound < 0):
                continue
            if not main.complete:
                wit = pair.clip(point[analysis.relaxation.x]) if point is not None else None
                if wit is not None and _disagree(twins, wit):
                    return _Searched(Verdict.VIOLATED, tuple(wit), "", stats, calls())
                unknown.append(f"N1 picks {a}, N2 prefers {k}: the relaxation cannot exclude it")
                continue
            stats["pairs_searched"] += 1
            out = pair.run(timeout=_left(timeout, start), target=Fraction(0))
            if out.lower > 0:
                return _Searched(Verdict.VIOLATED, tuple(out.witness), "", stats, calls())
            if out.upper < 0:
                continue
            if out.stats.get("stopped") == "timeout" or not (out.upper == 0 == out.lower):
                unknown.append(f"N1 picks {a}, N2 prefers {k}: {out.reason or 'undecided'}")
                continue
            stats["ties"] += 1
            tie = search(strict, weak).run(timeout=_left(timeout, start), target=Fraction(0))
            if tie.lower > 0:
                return _Searched(Verdict.VIOLATED, tuple(tie.witness), "", stats, calls())
            if tie.upper <= 0:
                continue
            unknown.append(f"N1 picks {a}, N2 prefers {k} (tie): {tie.reason or 'undecided'}")
    if unknown:
        return _Searched(Verdict.UNKNOWN, None, "; ".join(unknown), stats, calls())
    return _Searched(Verdict.HOLDS, None, "", stats, calls())


def _left(timeout, start):
    return None if timeout is None else max(0.0, timeout - (time.perf_counter() - start))


def _same(first, second) -> bool:
    return len(first.layers) == len(second.layers) and all(
        a.activation == b.activation and a.alpha == b.alpha and a.weights.shape == b.weights.shape
        and (a.weights == b.weights).all() and (a.bias == b.bias).all() for a, b in zip(first.layers, second.layers))


def _classes(twins: Twins, x) -> tuple[int, int]:
    return exact_class(twins.first, x), exact_class(twins.second, x)


def _disagree(twins: Twins, x) -> bool:
    a, b = _classes(twins, x)
    return a != b


def _formula(backend, twins: Twins, analysis: Analysis, timeout, start, query: dict) -> VerificationResult:
    """One satisfiability query on a formula backend: some x' in the box where N1 picks a and N2 does not."""
    from ..backends import Status
    from .encode import PairEncoding

    def late() -> VerificationResult | None:   # building the formula counts against the timeout
        if timeout is not None and _left(timeout, start) <= 0:
            return decision_result(Verdict.UNKNOWN, solver=backend.name, method=f"{backend.name} satisfiability (ite encoding)",
                                   seconds=time.perf_counter() - start, reason=f"{backend.name}: timeout (while building the formula)",
                                   query=query)
        return None

    enc = PairEncoding(analysis.relaxation)
    m = enc.mgr
    picks = [_picks(m, enc, net, zs) for net, zs in zip(twins.networks, enc.logits)]
    session = backend.session(enc.encoders[0])
    session.add(enc.formula)
    if (stopped := late()) is not None:
        return stopped
    session.add(m.Or([m.And(p1, m.Not(p2)) for p1, p2 in zip(*picks)]))
    answer = session.check(None if timeout is None else max(0.001, _left(timeout, start)))   # building counts
    common = {"solver": backend.name, "method": f"{backend.name} satisfiability (ite encoding)",
              "stats": {"unstable_relus": enc.unstable}, "query": query, "calls": session.calls}
    if answer.status == Status.UNSAT:
        return decision_result(Verdict.HOLDS, seconds=time.perf_counter() - start, **common)
    if answer.status == Status.SAT:
        wit = tuple(answer.model[s.symbol_name()] for s in enc.inputs)
        if _disagree(twins, wit):
            return decision_result(Verdict.VIOLATED, seconds=time.perf_counter() - start, witness=wit,
                                   classes=_classes(twins, wit), **common)
        return decision_result(Verdict.UNKNOWN, seconds=time.perf_counter() - start,
                               reason=f"{backend.name} model did not replay", **common)
    return decision_result(Verdict.UNKNOWN, seconds=time.perf_counter() - start, reason=answer.reason, **common)


def _picks(m, enc, net, zs) -> list:
    """Per class, the formula 'the network picks it' (first largest score; z >= 0 for a sigmoid output)."""
    zero = enc.encoders[0].real(0)
    if net.binary:
        return [m.LT(zs[0], zero), m.GE(zs[0], zero)]
    if net.decision == "argmin":
        zs = [m.Minus(zero, z) for z in zs]
    out = []
    for a in range(len(zs)):
        conds = [m.GT(zs[a], zs[k]) if k < a else m.GE(zs[a], zs[k]) for k in range(len(zs)) if k != a]
        out.append(m.And(conds))
    return out
