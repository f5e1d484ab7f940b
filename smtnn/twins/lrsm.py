"""Local relative safety margins: the range of log-RSM = (z1_ci - z1_cj) - (z2_ci - z2_cj) over a box.

RSM = SM_N1 / SM_N2 with SM = exp(z_ci - z_cj), so log-RSM < 0 means N1 (the twin) decides ci
over cj with a smaller margin than N2 (the reference).  Without cj every other class is
examined and the worst (smallest minimum) is reported; classes whose certified relaxation
bound already lies above the worst exact minimum are not solved exactly.  The worst pair's
witnesses are replayed with :func:`smtnn.bounds.replay_logits`.
"""
from __future__ import annotations

import time
from typing import Sequence

from ..budget import FLOOR, Budget
from ..domain import Box
from ..network import Network
from .optimize import Analysis, check_engine
from .pair import Twins, ball, exact_class
from .result import LRSMReport, PairReport


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


def lrsm(first: Network, second: Network, x0=None, radius=None, *, box: Box | None = None, clip=None,
         ci: int | None = None, cj: int | None = None, engine: str = "exact", compare: Sequence[str] = ("relaxation",),
         ends: Sequence[str] = ("min", "max"), timeout: float | None = None, analysis: Analysis | None = None,
         tolerance=0) -> LRSMReport:
    """Certified min/max of log-RSM of N1 w.r.t. N2 over B(x0, radius) (or ``box``) for (ci, cj).

    ``engine`` decides the reported worst class; engines in ``compare`` are run on the same
    queries for comparison.  Default ci: N1's class at x0 (the box centre for a box).
    ``timeout``: seconds for the whole call, shared by its searches as :mod:`smtnn.budget` says
    (the worst-class search of ``engine`` counts as one search, shared by the classes).
    ``tolerance``: the exact engine's searches may stop at a certified gap of at most this (0: exact).
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
    relax_seconds = analysis.relaxation.seconds
    others = [cj] if cj is not None else [c for c in range(twins.n_classes) if c != ci]
    engines = [engine] + [e for e in compare if e != engine]
    forms = {c: twins.margin_coeffs(ci, c) for c in others}
    label = lambda c: f"log-RSM(ci={ci}, cj={c})"  # noqa: E731
    minima = {c: {} for c in others}
    screen = {c: analysis.extreme([forms[c]], "min", "relaxation", quantity=label(c)) for c in others}
    for c in others:
        if "relaxation" in engines:
            minima[c]["relaxation"] = screen[c]
    order = sorted(others, key=lambda c: (screen[c].upper, screen[c].lower))
    worst_value = min(screen[c].upper for c in others) if cj is None else None   # attained: a replayed point
    notes = {}
    later = sum(e not in ("relaxation", engine) for e in engines) * len(others) + \
        (sum(e != "relaxation" for e in engines) * (1 if cj is None else len(others)) if "max" in ends else 0)
    left = budget.remaining()   # the worst-class search counts as one search per class (relaxation ones are not timed)
    phase_end = None if left is None else time.perf_counter() + left * len(others) / (len(others) + later)
    for c in order:
        if engine == "relaxation":
            break
        if cj is None and c != order[0] and screen[c].lower >= worst_value:
            notes[c] = "not solved exactly: its relaxation bound is above the worst minimum"
            continue
        left = None if phase_end is None else max(0.001, phase_end - time.perf_counter())
        result = analysis.extreme([forms[c]], "min", engine, quantity=label(c), timeout=left, floor=worst_value,
                                  seeds=[screen[c].witness], tolerance=tolerance)
        minima[c][engine] = result
        if worst_value is not None and result.upper < worst_value:
            worst_value = result.upper
    spent = lambda: budget.timeout is not None and budget.remaining() <= FLOOR   # noqa: E731
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
                if e not in ("relaxation", engine) and spent():
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
    confirmed = PairReport(ci, worst, {e: analysis.confirm(v, [forms[worst]]) for e, v in worst_pair.minimum.items()},
                           {e: analysis.confirm(v, [forms[worst]]) for e, v in worst_pair.maximum.items()}, worst_pair.note)
    pairs = [confirmed if p.cj == worst else p for p in pairs]
    worst_pair = confirmed
    return LRSMReport(first.name, second.name, box.as_json(), ci, tuple(pairs), worst_pair, engine,
                      time.perf_counter() - start, relax_seconds)
