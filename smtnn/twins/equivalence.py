"""ε-equivalence of logits: max over a box of |z1 - z2|_inf <= ε, as a certified interval and a verdict."""
from __future__ import annotations

import time
from dataclasses import replace
from fractions import Fraction

from ..budget import Budget, Stop, budgeted, report
from ..errors import InvalidInputError
from ..exact import to_fraction
from ..result import Verdict
from .lrsm import BUILD_SHARE, SCREEN_SHARE, interval_extreme, region
from .optimize import Analysis, check_engine
from .pair import Twins
from .result import EpsilonReport


def _stopped(stop: Stop, first, second, *args, engine: str = "exact", **_):
    """A call stopped from outside: the report it sent last (bounds so far), else UNKNOWN with the reason."""
    from ..result import Provenance, VerificationResult

    if stop.progress is not None:
        return stop.progress

    return VerificationResult("twins epsilon", Verdict.UNKNOWN, Provenance(engine, "-", "stopped", stop.seconds), None,
                              stop.reason, {"first": first.name, "second": second.name})


def _report(results: dict, eps) -> EpsilonReport:
    """The certified max over the forms in `results` (so far: finished searches, the screen bounds for the others)."""
    best_key = max(results, key=lambda k: results[k].lower)
    best = results[best_key]
    top = max(r.upper for r in results.values())
    maximum = replace(best, upper=max(top, best.lower), reason=best.reason if top == best.upper else "")
    verdict = None
    if eps is not None:
        verdict = Verdict.HOLDS if maximum.upper <= eps else Verdict.VIOLATED if maximum.lower > eps else Verdict.UNKNOWN
    return EpsilonReport(maximum, best_key[0], eps, verdict)


@budgeted(_stopped)
def epsilon_equivalence(first, second, x0=None, radius=None, *, box=None, clip=None, epsilon=None,
                        engine: str = "exact", timeout: float | None = None, analysis: Analysis | None = None) -> EpsilonReport:
    """Certified max over the box of max_k |z1_k - z2_k|, the worst output k, and the verdict for ε."""
    twins = Twins(first, second)
    check_engine(engine)
    if first.n_outputs != second.n_outputs:
        raise InvalidInputError(f"N1 has {first.n_outputs} logits and N2 {second.n_outputs}; ε-equivalence compares logits one to one")
    eps = None if epsilon is None else to_fraction(epsilon)
    if eps is not None and eps < 0:
        raise InvalidInputError(f"ε must be non-negative, got {float(eps)}")
    box, _ = region(twins, x0, radius, box, clip)
    budget = Budget(timeout=timeout)
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
    screen = {key: analysis.extreme([f], "max", "relaxation", quantity=label)
              if screen_end is None or time.perf_counter() < screen_end else interval_extreme(analysis, f, label, "max")
              for key, f in forms.items()}
    results = dict(screen) if engine == "relaxation" else {}
    report(_report(dict(screen), eps), force=True)
    floor: Fraction | None = None
    if engine != "relaxation":
        for key in sorted(forms, key=lambda k: -screen[k].upper):
            if (floor is not None and screen[key].upper <= floor) or budget.spent():   # settled, or out of time
                results[key] = screen[key]
                continue
            results[key] = analysis.extreme([forms[key]], "max", engine, quantity=label, timeout=budget.remaining(), floor=floor)
            report(_report({**screen, **results}, eps))
            floor = results[key].lower if floor is None else max(floor, results[key].lower)
    return _report(results, eps)
