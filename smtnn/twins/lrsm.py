"""Local relative safety margins: the range of log-RSM = (z1_ci - z1_cj) - (z2_ci - z2_cj) over a box.

RSM = SM_N1 / SM_N2 with SM = exp(z_ci - z_cj), so log-RSM < 0 means N1 (the twin) decides ci
over cj with a smaller margin than N2 (the reference).  Without cj every other class is
examined and the worst (smallest minimum) is reported; classes whose certified relaxation
bound already lies above the smallest value attained are not solved exactly, and the exact
engine searches the others together (:func:`.bnb.run_together`): one best-first branch and
bound whose shared incumbent drops a class's nodes once they cannot hold the worst minimum.  The worst pair's
witnesses are replayed with :func:`smtnn.bounds.replay_logits`.
"""
from __future__ import annotations

import time
from dataclasses import replace
from fractions import Fraction
from typing import Sequence

from ..budget import Budget, Stop, budgeted, report
from ..domain import Box
from ..network import Network
from ..result import Estimate
from .optimize import RELAXATION, Analysis, strategy
from .pair import Twins, ball, exact_class
from .result import extreme as make_extreme


def region(twins: Twins, x0=None, radius=None, box: Box | None = None, clip=None) -> tuple[Box, tuple]:
    """The box (given, or the L∞ ball around x0, clipped) and the point whose class is the default ci."""
    if (box is None) == (x0 is None) or (box is None and radius is None):
        from ..errors import InvalidInputError

        raise InvalidInputError("give an input x0 with a radius (the ball B(x0, r)), or a box")
    if box is None:
        x0 = twins.first.check_input(x0, "x0")
        box = ball(x0, radius, clip)
    twins.check_box(box)
    if x0 is None:
        return box, tuple((a + b) / 2 for a, b in zip(box.lower, box.upper))
    return box, tuple(x0)


BUILD_SHARE = 0.4
"""With a timeout, building the relaxation may take this share of it; its LP tightening stops there (looser, sound)."""


def _stopped(stop: Stop, first: Network, second: Network, *args, engine: str = "exact", **_):
    """A call stopped from outside: the report it sent last (bounds so far), else UNKNOWN with the reason."""
    from ..result import Provenance, Verdict, VerificationResult

    if stop.progress is not None:
        return stop.progress

    return VerificationResult("twins lrsm", Verdict.UNKNOWN, Provenance(engine, "-", "stopped", stop.seconds), None,
                              stop.reason, {"first": first.name, "second": second.name})


SCREEN_SHARE = 0.6
"""With a timeout, screening the classes by LP may go on until this share of it; later classes get interval bounds."""


def interval_extreme(analysis: Analysis, form, quantity: str, sense: str = "min") -> Estimate:
    """A quick certified min (max) of a form: the interval bound on the far side, the box centre's exact value attained."""
    tick = time.perf_counter()
    box = analysis.box
    centre = tuple((a + b) / 2 for a, b in zip(box.lower, box.upper))
    value = analysis.value([form], centre)
    low, high = analysis.relaxation.interval(form)
    lower, upper = (min(low, value), value) if sense == "min" else (value, max(high, value))
    return make_extreme(quantity, sense, lower, upper, centre, engine=RELAXATION, solver="none",
                        method="interval bounds (no LP: timeout)", seconds=time.perf_counter() - tick, reason="timeout",
                        complete=False)


def _snapshot(first, second, box, ci, minima, start, relax_seconds) -> Estimate:
    """The bounds so far: per class its best minimum yet (exact if solved, else the relaxation's); the worst class heads."""
    details = []
    for c, table in minima.items():
        best = min(table.values(), key=lambda e: (e.upper - e.lower, e.lower))
        details.append(replace(best, tolerance=None, query={**best.query, "ci": ci, "cj": c}))
    head = min(details, key=lambda d: (d.lower, d.upper))
    p = head.provenance
    query = {"N1": first.name, "N2": second.name, "box": box.as_json(), "ci": ci, "worst_cj": head.query["cj"]}
    return replace(head, property="lrsm", tolerance=Fraction(0), reason="bounds so far",
                   provenance=replace(p, seconds=time.perf_counter() - start,
                                      stats={**p.stats, "relaxation_seconds": round(relax_seconds, 6)}),
                   query={**head.query, **query}, details=tuple(details))


@budgeted(_stopped)
def lrsm(first: Network, second: Network, x0=None, radius=None, *, box: Box | None = None, clip=None,
         ci: int | None = None, cj: int | None = None, engine: str = "exact", compare: Sequence[str] = ("relaxation",),
         ends: Sequence[str] = ("min", "max"), timeout: float | None = None, analysis: Analysis | None = None,
         tolerance=0) -> Estimate:
    """Certified min/max of log-RSM of N1 w.r.t. N2 over B(x0, radius) (or ``box``) for (ci, cj).

    The result is the Estimate of the worst class's minimum by ``engine`` (query: ci, worst_cj, engine);
    its ``details`` are every extreme computed, per cj, end and engine (:func:`.result.detail`).  Engines in
    ``compare`` are run on the same queries for comparison.  Default ci: N1's class at x0 (the box centre
    for a box).  ``timeout``: seconds for the whole call, shared by its searches as :mod:`smtnn.budget`
    says (the worst-class search of ``engine`` counts as one search, shared by the classes).
    The worst class's min and max by ``engine`` must converge (to ``tolerance``, default 0: exact); every
    other extreme is a certified bound that was only needed as such (tolerance None).
    """
    start = time.perf_counter()
    budget = Budget(start, timeout)
    twins = Twins(first, second)
    main = strategy(engine)
    compared = [strategy(e) for e in compare]
    box, centre = region(twins, x0, radius, box, clip)
    ci = exact_class(first, centre) if ci is None else twins.check_class(ci, "ci")
    if cj is not None:
        cj = twins.check_class(cj, "cj")
        if cj == ci:
            from ..errors import InvalidInputError

            raise InvalidInputError(f"ci and cj are both {ci}; log-RSM compares two different classes")
    analysis = analysis or Analysis(twins.networks, box)
    relaxation = analysis.relaxation_by(budget.deadline(BUILD_SHARE))
    relax_seconds = relaxation.seconds
    others = [cj] if cj is not None else [c for c in range(twins.n_classes) if c != ci]
    engines = [main] + [e for e in compared if e.name != main.name]
    searched = [e for e in engines if e.complete and e.name != main.name]   # compared engines that search
    forms = {c: twins.margin_coeffs(ci, c) for c in others}
    label = lambda c: f"log-RSM(ci={ci}, cj={c})"  # noqa: E731
    minima = {c: {} for c in others}
    screen_end = budget.deadline(SCREEN_SHARE)
    screen = {c: analysis.extreme([forms[c]], "min", RELAXATION, quantity=label(c),
                                  timeout=None if screen_end is None else screen_end - time.perf_counter())
              if screen_end is None or time.perf_counter() < screen_end else interval_extreme(analysis, forms[c], label(c))
              for c in others}
    for c in others:
        for e in engines:
            if not e.complete:   # a bound-only engine's answer is the screening relaxation bound itself
                minima[c][e.name] = screen[c]
    report(_snapshot(first, second, box, ci, {c: {RELAXATION: screen[c]} for c in others}, start, relax_seconds), force=True)
    order = sorted(others, key=lambda c: (screen[c].upper, screen[c].lower))
    replays: dict = {}

    def confirm(c, estimate):   # the second, independent replay of a witness (while the budget lasts)
        if id(estimate) not in replays:
            if budget.spent():
                p = estimate.provenance
                return replace(estimate, provenance=replace(p, stats={**p.stats, "replayed": "integer forward pass only (timeout)"}))
            replays[id(estimate)] = analysis.confirm(estimate, [forms[c]])
        return replays[id(estimate)]

    worst_value = min(screen[c].upper for c in others) if cj is None else None   # attained: a replayed point
    notes = {} if relaxation.tightened else {c: "relaxation not LP-tightened in full (timeout)" for c in others}
    for c in others:
        if screen[c].reason:
            notes[c] = "; ".join(filter(None, [notes.get(c), "screened by interval bounds only (timeout)"]))
    pruned = set()
    later = len(searched) * len(others) + \
        ((len(searched) + main.complete) * (1 if cj is None else len(others)) if "max" in ends else 0)
    left = budget.remaining()   # the worst-class search counts as one search per class (relaxation ones are not timed)
    phase_end = None if left is None else time.perf_counter() + left * len(others) / (len(others) + later)
    together = cj is None and main.complete and not main.formulas and len(others) > 1
    if together:   # one branch and bound over every class that may be the worst, sharing the incumbent
        for c in order[1:]:
            if screen[c].lower >= worst_value:
                notes[c] = "; ".join(filter(None, [notes.get(c), "not solved exactly: its relaxation bound is above the worst minimum"]))
                pruned.add(c)
        searched_classes = [c for c in order if c not in pruned]
        left = None if phase_end is None else max(0.001, phase_end - time.perf_counter())
        results = analysis.minima_together([forms[c] for c in searched_classes], main, quantities=[label(c) for c in searched_classes],
                                           timeout=left, floor=worst_value, tolerance=tolerance,
                                           known=[screen[c].lower for c in searched_classes],
                                           seeds=[None if screen[c].witness is None else screen[c].witness.input
                                                  for c in searched_classes])
        minima.update({c: {**minima[c], main.name: r} for c, r in zip(searched_classes, results)})
        # the class holding the smallest attained value heads the answer; stopped early (tolerance, timeout), another
        # class may keep a lower bound below its own, so its lower end takes the smallest (looser, still certified)
        holder = min(searched_classes, key=lambda c: (minima[c][main.name].upper, minima[c][main.name].lower))
        lowest = min(r.lower for r in results)
        if minima[holder][main.name].lower > lowest:
            held = minima[holder][main.name]
            minima[holder][main.name] = replace(held, lower=lowest, reason="; ".join(filter(None, [
                held.reason, "lower end: the smallest bound of the classes searched together"])))
        report(_snapshot(first, second, box, ci, {k: {RELAXATION: screen[k], **minima[k]} for k in others}, start,
                         relax_seconds))
    for c in order:
        if not main.complete or together:
            break
        if cj is None and c != order[0] and screen[c].lower >= worst_value:
            notes[c] = "; ".join(filter(None, [notes.get(c), "not solved exactly: its relaxation bound is above the worst minimum"]))
            pruned.add(c)
            continue
        if c != order[0] and budget.spent():   # its certified screen bounds stand in, so the worst class stays sound
            p = screen[c].provenance
            minima[c][main.name] = replace(screen[c], reason="timeout", query={**screen[c].query, "engine": main.name},
                                           provenance=replace(p, method=f"{p.method} (not searched: timeout)", seconds=0.0))
            notes[c] = "; ".join(filter(None, [notes.get(c), f"not searched by {main.name}: the timeout was used up"]))
            continue
        left = None if phase_end is None else max(0.001, phase_end - time.perf_counter())
        result = analysis.extreme([forms[c]], "min", main, quantity=label(c), timeout=left, floor=worst_value,
                                  seeds=[None if screen[c].witness is None else screen[c].witness.input],
                                  tolerance=tolerance)
        minima[c][main.name] = result
        if worst_value is not None and result.upper < worst_value:
            worst_value = result.upper
        report(_snapshot(first, second, box, ci, {k: {RELAXATION: screen[k], **minima[k]} for k in others}, start,
                         relax_seconds))
    spent = budget.spent
    skipped = set()
    for e in searched:
        for c in others:
            if spent():   # a compared engine is left out rather than overrun the query's timeout
                skipped.add(e.name)
            else:
                minima[c][e.name] = analysis.extreme([forms[c]], "min", e, quantity=label(c), timeout=budget.share(later))
            later -= 1
    decided = [c for c in others if main.name in minima[c]]
    worst = min(decided, key=lambda c: (minima[c][main.name].lower, minima[c][main.name].upper))
    details = []
    for c in others:
        maxima = {}
        if "max" in ends and (c == worst or cj is not None):
            for e in engines:
                if e.complete and e.name != main.name and spent():
                    skipped.add(e.name)
                    later -= 1
                elif not e.complete:
                    maxima[e.name] = analysis.extreme([forms[c]], "max", e, quantity=label(c))
                else:
                    maxima[e.name] = analysis.extreme([forms[c]], "max", e, quantity=label(c), timeout=budget.share(later))
                    later -= 1
        if skipped:
            notes[c] = "; ".join(filter(None, [notes.get(c, ""), f"not run, the timeout was used up: {', '.join(sorted(skipped))}"]))
        kept = {e.name: minima[c][e.name] for e in engines if e.name in minima[c]} if "min" in ends or c == worst else {}
        if c in pruned:   # its certified bound is the reason it was not solved; keep it beside the note
            kept.setdefault(RELAXATION, screen[c])
        for sense, table in (("min", kept), ("max", maxima)):
            for name, estimate in table.items():
                if c == worst:
                    estimate = confirm(c, estimate)
                required = name == main.name and main.complete and (c == worst or cj is not None)
                reason = "; ".join(filter(None, [estimate.reason, notes.get(c, "")]))
                details.append(replace(estimate, tolerance=Fraction(tolerance) if required else None, reason=reason,
                                       query={**estimate.query, "ci": ci, "cj": c}))
    head = next(d for d in details if d.query["cj"] == worst and d.query["sense"] == "min" and d.query["engine"] == main.name)
    p = head.provenance
    seconds = time.perf_counter() - start
    provenance = replace(p, seconds=seconds, calls=sum(d.provenance.calls for d in details),
                         stats={**p.stats, "relaxation_seconds": round(relax_seconds, 6)})
    query = {"N1": first.name, "N2": second.name, "box": box.as_json(), "ci": ci, "worst_cj": worst,
             "engine": main.name, "compare": [e.name for e in compared], "ends": list(ends)}
    return replace(head, property="lrsm", provenance=provenance, query={**head.query, **query}, details=tuple(details))
