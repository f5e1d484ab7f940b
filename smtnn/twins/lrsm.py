"""Local relative safety margins: the range of log-RSM = (z1_ci - z1_cj) - (z2_ci - z2_cj) over a box.

RSM = SM_N1 / SM_N2 with SM = exp(z_ci - z_cj), so log-RSM < 0 means N1 (the twin) decides ci
over cj with a smaller margin than N2 (the reference).  Without cj every other class is
examined and the worst (smallest minimum) is reported; classes whose certified relaxation
bound already lies above the worst exact minimum are not solved exactly.  The worst pair's
witnesses are replayed with :func:`smtnn.bounds.replay_logits`.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Sequence

from ..budget import Budget, Stop, budgeted, report
from ..domain import Box
from ..network import Network
from .optimize import Analysis, check_engine
from .pair import Twins, ball, exact_class
from .result import Extreme, LRSMReport, PairReport


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


def interval_extreme(analysis: Analysis, form, quantity: str, sense: str = "min") -> Extreme:
    """A quick certified min (max) of a form: the interval bound on the far side, the box centre's exact value attained."""
    tick = time.perf_counter()
    box = analysis.box
    centre = tuple((a + b) / 2 for a, b in zip(box.lower, box.upper))
    value = analysis.value([form], centre)
    low, high = analysis.relaxation.interval(form)
    lower, upper = (min(low, value), value) if sense == "min" else (value, max(high, value))
    return Extreme(quantity, sense, lower, upper, centre, "relaxation", "interval bounds (no LP: timeout)",
                   time.perf_counter() - tick, "timeout")


def _snapshot(first, second, box, ci, minima, start, relax_seconds) -> LRSMReport:
    """The bounds so far: per class its best minimum yet (exact if solved, else the relaxation's), the worst class."""
    pairs, best = [], {}
    for c, table in minima.items():
        best[c] = min(table.values(), key=lambda e: (e.upper - e.lower, e.lower))
        pairs.append(PairReport(ci, c, {best[c].engine: best[c]}, {}, "bounds so far"))
    worst = min(pairs, key=lambda p: (best[p.cj].lower, best[p.cj].upper))
    return LRSMReport(first.name, second.name, box.as_json(), ci, tuple(pairs), worst, best[worst.cj].engine,
                      time.perf_counter() - start, relax_seconds)


@budgeted(_stopped)
def lrsm(first: Network, second: Network, x0=None, radius=None, *, box: Box | None = None, clip=None,
         ci: int | None = None, cj: int | None = None, engine: str = "exact", compare: Sequence[str] = ("relaxation",),
         ends: Sequence[str] = ("min", "max"), timeout: float | None = None, analysis: Analysis | None = None) -> LRSMReport:
    """Certified min/max of log-RSM of N1 w.r.t. N2 over B(x0, radius) (or ``box``) for (ci, cj).

    ``engine`` decides the reported worst class; engines in ``compare`` are run on the same
    queries for comparison.  Default ci: N1's class at x0 (the box centre for a box).
    ``timeout``: seconds for the whole call, building the relaxation included, shared by its
    phases as :mod:`smtnn.budget` says (the worst-class search of ``engine`` counts as one search,
    shared by the classes); phases the deadline leaves no time for are skipped and noted.
    ``memory``: MB, see :func:`smtnn.budget.budgeted` (the report then holds the bounds so far).
    """
    start = time.perf_counter()
    budget = Budget(start, timeout)
    twins = Twins(first, second)
    check_engine(engine)
    for e in compare:
        check_engine(e)
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
    engines = [engine] + [e for e in compare if e != engine]
    forms = {c: twins.margin_coeffs(ci, c) for c in others}
    label = lambda c: f"log-RSM(ci={ci}, cj={c})"  # noqa: E731
    minima = {c: {} for c in others}
    screen_end = budget.deadline(SCREEN_SHARE)
    screen = {c: analysis.extreme([forms[c]], "min", "relaxation", quantity=label(c))
              if screen_end is None or time.perf_counter() < screen_end else interval_extreme(analysis, forms[c], label(c))
              for c in others}
    for c in others:
        if "relaxation" in engines:
            minima[c]["relaxation"] = screen[c]
    report(_snapshot(first, second, box, ci, {c: {"relaxation": screen[c]} for c in others}, start, relax_seconds), force=True)
    order = sorted(others, key=lambda c: (screen[c].upper, screen[c].lower))
    replays: dict = {}

    def confirm(c, extreme):   # the second, independent replay of a witness (while the budget lasts)
        if id(extreme) not in replays:
            if budget.spent():
                return replace(extreme, stats={**extreme.stats, "replayed": "integer forward pass only (timeout)"})
            replays[id(extreme)] = analysis.confirm(extreme, [forms[c]])
        return replays[id(extreme)]

    worst_value = min(screen[c].upper for c in others) if cj is None else None   # attained: a replayed point
    notes = {} if relaxation.tightened else {c: "relaxation not LP-tightened in full (timeout)" for c in others}
    for c in others:
        if screen[c].reason:
            notes[c] = "; ".join(filter(None, [notes.get(c), "screened by interval bounds only (timeout)"]))
    later = sum(e not in ("relaxation", engine) for e in engines) * len(others) + \
        (sum(e != "relaxation" for e in engines) * (1 if cj is None else len(others)) if "max" in ends else 0)
    left = budget.remaining()   # the worst-class search counts as one search per class (relaxation ones are not timed)
    phase_end = None if left is None else time.perf_counter() + left * len(others) / (len(others) + later)
    for c in order:
        if engine == "relaxation":
            break
        if cj is None and c != order[0] and screen[c].lower >= worst_value:
            notes[c] = "; ".join(filter(None, [notes.get(c), "not solved exactly: its relaxation bound is above the worst minimum"]))
            continue
        if c != order[0] and budget.spent():   # its certified screen bounds stand in, so the worst class stays sound
            minima[c][engine] = replace(screen[c], engine=engine, method=f"{screen[c].method} (not searched: timeout)",
                                        reason="timeout", seconds=0.0)
            notes[c] = "; ".join(filter(None, [notes.get(c), f"not searched by {engine}: the timeout was used up"]))
            continue
        left = None if phase_end is None else max(0.001, phase_end - time.perf_counter())
        result = analysis.extreme([forms[c]], "min", engine, quantity=label(c), timeout=left, floor=worst_value,
                                  seeds=[screen[c].witness])
        minima[c][engine] = result
        if worst_value is not None and result.upper < worst_value:
            worst_value = result.upper
        report(_snapshot(first, second, box, ci, {k: {"relaxation": screen[k], **minima[k]} for k in others}, start,
                         relax_seconds))
    spent = budget.spent
    skipped = set()
    for e in engines:
        if e in ("relaxation", engine):
            continue
        for c in others:
            if spent():   # a compared engine is left out rather than overrun the query's timeout
                skipped.add(e)
            else:
                minima[c][e] = analysis.extreme([forms[c]], "min", e, quantity=label(c), timeout=budget.share(later))
            later -= 1
    decided = [c for c in others if engine in minima[c]]
    worst = min(decided, key=lambda c: (minima[c][engine].lower, minima[c][engine].upper))
    pairs = []
    for c in others:
        maxima = {}
        if "max" in ends and (c == worst or cj is not None):
            for e in engines:
                if e != "relaxation" and spent():
                    skipped.add(e)
                    later -= 1
                elif e == "relaxation":
                    maxima[e] = analysis.extreme([forms[c]], "max", e, quantity=label(c))
                else:
                    maxima[e] = analysis.extreme([forms[c]], "max", e, quantity=label(c), timeout=budget.share(later))
                    later -= 1
        if skipped:
            notes[c] = "; ".join(filter(None, [notes.get(c, ""), f"not run, the timeout was used up: {', '.join(sorted(skipped))}"]))
        ordered = {e: minima[c][e] for e in engines if e in minima[c]}
        pairs.append(PairReport(ci, c, ordered if "min" in ends or c == worst else {}, maxima, notes.get(c, "")))
    worst_pair = next(p for p in pairs if p.cj == worst)
    confirmed = PairReport(ci, worst, {e: confirm(worst, v) for e, v in worst_pair.minimum.items()},
                           {e: confirm(worst, v) for e, v in worst_pair.maximum.items()}, worst_pair.note)
    pairs = [confirmed if p.cj == worst else p for p in pairs]
    worst_pair = confirmed
    return LRSMReport(first.name, second.name, box.as_json(), ci, tuple(pairs), worst_pair, engine,
                      time.perf_counter() - start, relax_seconds)
