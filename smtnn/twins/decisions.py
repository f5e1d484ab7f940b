"""Decision preservation: does N2 pick N1's class at every input of a box?

A network picks a at x' when s_a is the first largest score (the logit; its negation for argmin):
s_a - s_m > 0 for m < a and >= 0 for m > a (a sigmoid output picks 1 when z >= 0, else 0).  N2 fails to pick a because of
k when z2_k - z2_a > 0 (k > a) or >= 0 (k < a).  So a disagreement is a point where a set S of
forms is > 0 and a set W is >= 0.  Per (a, k), after screening by certified LP bounds, the
branch and bound decides the sign of max min(S ∪ W): > 0 is a disagreement, < 0 excludes it,
and only an exact tie (= 0) needs the second query max min(S) subject to W >= 0.  Engine 'z3'
asks one satisfiability query instead.  Every counterexample is replayed: both networks'
classes at x' are recomputed exactly.
"""
from __future__ import annotations

import dataclasses
import time
from fractions import Fraction

from ..result import Verdict
from . import screen
from .bnb import Search
from .lrsm import region
from .optimize import Analysis, check_engine
from .pair import Twins, exact_class
from .result import DecisionReport


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


def decisions(first, second, x0=None, radius=None, *, box=None, clip=None, engine: str = "exact",
              timeout: float | None = None, analysis: Analysis | None = None) -> DecisionReport:
    """Verdict of decision preservation of N2 with respect to N1 on B(x0, radius) (or ``box``)."""
    report = _decisions(first, second, x0, radius, box, clip, engine, timeout, analysis)
    return dataclasses.replace(report, decision=first.decision)


def _decisions(first, second, x0, radius, box, clip, engine, timeout, analysis) -> DecisionReport:
    start = time.perf_counter()
    twins = Twins(first, second)
    check_engine(engine)
    box, _ = region(twins, x0, radius, box, clip)
    if _same(first, second):
        return DecisionReport(Verdict.HOLDS, engine, time.perf_counter() - start, reason="N1 and N2 are the same network")
    if engine != "z3":   # both twins provably pick one class on the whole box: no LP needed
        c = screen.guess_class(first, box)
        if screen.robust_class(first, box, c) and screen.robust_class(second, box, c):
            return DecisionReport(Verdict.HOLDS, engine, time.perf_counter() - start,
                                  stats={"screen": f"linear bounds: N1 and N2 pick class {c} on the whole box"})
    analysis = analysis or Analysis(twins.networks, box)
    if engine == "z3":
        return _z3(twins, analysis, timeout, start)
    relax, exact = analysis.relaxation, analysis.exact_networks
    possible = []
    for a in range(twins.n_classes):
        strict, weak = picks(twins, 0, a)
        bound, _, infeasible = Search(relax, strict + weak, exact).bound({})
        if not infeasible and (bound is None or bound >= 0):
            possible.append(a)
    stats = {"classes_N1": possible, "pairs_screened": 0, "pairs_searched": 0, "ties": 0}
    unknown = []
    for a in possible:
        for k in range(twins.n_classes):
            if k == a:
                continue
            stats["pairs_screened"] += 1
            s1, w1 = picks(twins, 0, a)
            s2, w2 = beats(twins, a, k)
            strict, weak = s1 + s2, w1 + w2
            search = Search(relax, strict + weak, exact)
            bound, point, infeasible = search.bound({})
            if infeasible or (bound is not None and bound < 0):
                continue
            if engine == "relaxation":
                wit = search.clip(point[relax.x]) if point is not None else None
                if wit is not None and _disagree(twins, wit):
                    return _violated(twins, wit, engine, start, stats)
                unknown.append(f"N1 picks {a}, N2 prefers {k}: the relaxation cannot exclude it")
                continue
            stats["pairs_searched"] += 1
            out = search.run(timeout=_left(timeout, start), target=Fraction(0))
            if out.lower > 0:
                return _violated(twins, out.witness, engine, start, stats)
            if out.upper < 0:
                continue
            if out.stats.get("stopped") == "timeout" or not (out.upper == 0 == out.lower):
                unknown.append(f"N1 picks {a}, N2 prefers {k}: {out.reason or 'undecided'}")
                continue
            stats["ties"] += 1
            tie = Search(relax, strict, exact, constraints=weak).run(timeout=_left(timeout, start), target=Fraction(0))
            if tie.lower > 0:
                return _violated(twins, tie.witness, engine, start, stats)
            if tie.upper <= 0:
                continue
            unknown.append(f"N1 picks {a}, N2 prefers {k} (tie): {tie.reason or 'undecided'}")
    seconds = time.perf_counter() - start
    if unknown:
        return DecisionReport(Verdict.UNKNOWN, engine, seconds, reason="; ".join(unknown), stats=stats)
    return DecisionReport(Verdict.HOLDS, engine, seconds, stats=stats)


def _left(timeout, start):
    return None if timeout is None else max(0.0, timeout - (time.perf_counter() - start))


def _same(first, second) -> bool:
    return len(first.layers) == len(second.layers) and all(
        a.activation == b.activation and a.alpha == b.alpha and a.weights.shape == b.weights.shape
        and (a.weights == b.weights).all() and (a.bias == b.bias).all() for a, b in zip(first.layers, second.layers))


def _disagree(twins: Twins, x) -> bool:
    return exact_class(twins.first, x) != exact_class(twins.second, x)


def _violated(twins: Twins, x, engine: str, start: float, stats: dict) -> DecisionReport:
    classes = (exact_class(twins.first, x), exact_class(twins.second, x))
    return DecisionReport(Verdict.VIOLATED, engine, time.perf_counter() - start, tuple(x), classes, stats=stats)


def _z3(twins: Twins, analysis: Analysis, timeout, start) -> DecisionReport:
    """One satisfiability query: some x' in the box where N1 picks a and N2 does not."""
    from ..backends import Status, get_backend
    from .encode import PairEncoding

    enc = PairEncoding(analysis.relaxation)
    m = enc.mgr
    picks = [_picks(m, enc, net, zs) for net, zs in zip(twins.networks, enc.logits)]
    session = get_backend("z3").session(enc.encoders[0])
    session.add(enc.formula)
    session.add(m.Or([m.And(p1, m.Not(p2)) for p1, p2 in zip(*picks)]))
    answer = session.check(timeout)
    stats = {"unstable_relus": enc.unstable}
    if answer.status == Status.UNSAT:
        return DecisionReport(Verdict.HOLDS, "z3", time.perf_counter() - start, stats=stats)
    if answer.status == Status.SAT:
        wit = tuple(answer.model[s.symbol_name()] for s in enc.inputs)
        if _disagree(twins, wit):
            return _violated(twins, wit, "z3", start, stats)
        return DecisionReport(Verdict.UNKNOWN, "z3", time.perf_counter() - start, reason="z3 model did not replay", stats=stats)
    return DecisionReport(Verdict.UNKNOWN, "z3", time.perf_counter() - start, reason=answer.reason, stats=stats)


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
