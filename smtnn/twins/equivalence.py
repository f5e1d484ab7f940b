"""ε-equivalence of logits: max over a box of |z1 - z2|_inf <= ε, as a certified interval and a verdict."""
from __future__ import annotations

import time
from dataclasses import replace
from fractions import Fraction

from ..budget import Budget, Stop, budgeted, report
from ..errors import InvalidInputError
from ..exact import to_fraction
from ..result import Estimate, Provenance, Verdict, VerificationResult
from .lrsm import BUILD_SHARE, SCREEN_SHARE, interval_extreme, region
from .optimize import RELAXATION, Analysis, strategy
from .pair import Twins


def _stopped(stop: Stop, first, second, *args, engine: str = "exact", **_):
    """A call stopped from outside: the report it sent last (bounds so far), else UNKNOWN with the reason."""
    if stop.progress is not None:
        return stop.progress
    name = engine if isinstance(engine, str) else engine.name
    return VerificationResult("epsilon", Verdict.UNKNOWN, Provenance("none", "exact", "stopped", stop.seconds), None,
                              stop.reason, {"engine": name, "N1": first.name, "N2": second.name})


def _answer(results: dict, eps, main, start: float) -> Estimate | VerificationResult:
    """The certified max over the forms in ``results`` (so far: finished searches, the screen bounds for the others)."""
    best_key = max(results, key=lambda k: results[k].lower)
    best = results[best_key]
    top = max(r.upper for r in results.values())
    k, sign = best_key
    witness = None if best.witness is None else replace(best.witness, meaning=f"z1_{k} - z2_{k}" if sign > 0 else f"z2_{k} - z1_{k}")
    p = best.provenance
    maximum = replace(best, upper=max(top, best.lower), reason=best.reason if top == best.upper else "", witness=witness,
                      tolerance=Fraction(0) if main.complete else None, query={**best.query, "engine": main.name, "output": k},
                      provenance=replace(p, seconds=time.perf_counter() - start, calls=sum(r.provenance.calls for r in results.values())))
    if eps is None:
        return maximum
    verdict = Verdict.HOLDS if maximum.upper <= eps else Verdict.VIOLATED if maximum.lower > eps else Verdict.UNKNOWN
    reason = {Verdict.HOLDS: f"max |z1 - z2|_inf <= {float(maximum.upper):.9g} <= ε",
              Verdict.VIOLATED: f"max |z1 - z2|_inf >= {float(maximum.lower):.9g} > ε"}.get(
        verdict, maximum.reason or "the certified interval contains ε")
    return VerificationResult("epsilon", verdict, maximum.provenance, maximum.witness if verdict == Verdict.VIOLATED else None,
                              reason, {"engine": main.name, "epsilon": str(eps), "output": k}, (maximum,))


@budgeted(_stopped)
def epsilon_equivalence(first, second, x0=None, radius=None, *, box=None, clip=None, epsilon=None,
                        engine: str = "exact", timeout: float | None = None,
                        analysis: Analysis | None = None) -> Estimate | VerificationResult:
    """Certified max over the box of max_k |z1_k - z2_k| (query: the worst output k); with ε, the verdict of ε-equivalence.

    Without ε the result is that Estimate; with ε a VerificationResult whose ``details`` hold it (a violation's
    witness is the maximum's: an input where |z1_k - z2_k| > ε exactly).  ``timeout`` covers the whole call,
    building the relaxation included; ``memory``: MB, see :func:`smtnn.budget.budgeted`.
    """
    start = time.perf_counter()
    twins = Twins(first, second)
    main = strategy(engine)
    if first.n_outputs != second.n_outputs:
        raise InvalidInputError(f"N1 has {first.n_outputs} logits and N2 {second.n_outputs}; ε-equivalence compares logits one to one")
    eps = None if epsilon is None else to_fraction(epsilon)
    if eps is not None and eps < 0:
        raise InvalidInputError(f"ε must be non-negative, got {float(eps)}")
    box, _ = region(twins, x0, radius, box, clip)
    budget = Budget(start, timeout)
    analysis = analysis or Analysis(twins.networks, box)
    analysis.relaxation_by(budget.deadline(BUILD_SHARE))
    n = first.n_outputs
    forms = {}
    for k in range(n):
        e = tuple(int(i == k) for i in range(n))
        neg = tuple(-v for v in e)
        forms[(k, 1)] = (e, neg)
        forms[(k, -1)] = (neg, e)
    label = "max |z1 - z2|_inf"
    screen_end = budget.deadline(SCREEN_SHARE)
    screen = {key: analysis.extreme([f], "max", RELAXATION, quantity=label)
              if screen_end is None or time.perf_counter() < screen_end else interval_extreme(analysis, f, label, "max")
              for key, f in forms.items()}
    results = {} if main.complete else dict(screen)
    report(_answer(dict(screen), eps, main, start), force=True)
    floor: Fraction | None = None
    if main.complete:
        for key in sorted(forms, key=lambda k: -screen[k].upper):
            if (floor is not None and screen[key].upper <= floor) or budget.spent():   # settled, or out of time
                results[key] = screen[key]
                continue
            results[key] = analysis.extreme([forms[key]], "max", main, quantity=label, timeout=budget.remaining(), floor=floor)
            report(_answer({**screen, **results}, eps, main, start))
            floor = results[key].lower if floor is None else max(floor, results[key].lower)
    return _answer(results, eps, main, start)
