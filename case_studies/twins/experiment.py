"""One digits query: LRSM (exact worst class and the relaxation) and decision preservation for one twin, radius and input."""
from __future__ import annotations

import time
from fractions import Fraction

from smtnn.twins import Analysis, ball, decisions, detail, lrsm, rsm
from smtnn.twins.pair import exact_class

_CACHE: dict = {}


def _networks():
    if "nets" not in _CACHE:
        from case_studies.twins import digits

        _CACHE["nets"] = digits.load()
        _CACHE["data"] = digits.data()
    return _CACHE["nets"], _CACHE["data"]


def row(task: dict) -> dict:
    """The batch form of :func:`query`: task = {"twin", "radius", "index", "timeout"} (``smtnn.batch.run_batch`` runner)."""
    return query((task["twin"], task["radius"], task["index"], task["timeout"]))


def query(task: tuple) -> dict:
    """task = (twin name, radius string, test index, timeout seconds): one row of the results."""
    from case_studies.twins import digits

    name, radius, index, timeout = task
    nets, (_, x_test, _, y_test) = _networks()
    ref, twin = nets[digits.REFERENCE], nets[name]
    x = [Fraction(float(v)) for v in x_test[index]]
    box = ball(x, radius, (0, 1))
    ci = exact_class(ref, x)
    analysis = Analysis((twin, ref), box)
    t0 = time.perf_counter()
    analysis.relaxation
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    relaxed = lrsm(twin, ref, box=box, ci=ci, engine="relaxation", compare=(), ends=("min",), analysis=analysis)
    t_relax = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = lrsm(twin, ref, box=box, ci=ci, engine="exact", compare=(), ends=("min",), timeout=timeout, analysis=analysis)
    t_exact = time.perf_counter() - t0
    dec = decisions(twin, ref, box=box, timeout=timeout, analysis=analysis)
    e = exact
    r_worst = relaxed
    r_same = detail(relaxed, cj=exact.query["worst_cj"])
    rsm_min = rsm(e)
    return {
        "twin": name, "radius": radius, "index": index, "label": int(y_test[index]), "ci": ci,
        "twin_class_at_x": exact_class(twin, x), "worst_cj": exact.query["worst_cj"],
        "exact_min": [float(e.lower), float(e.upper)], "exact_min_rational": [str(e.lower), str(e.upper)],
        "exact": e.gap == 0, "reason": e.reason, "witness": [float(v) for v in e.witness.input],
        "rsm_min": [float(rsm_min[0]), float(rsm_min[1])],
        "nodes": e.provenance.stats.get("nodes"), "unstable_relus": e.provenance.stats.get("unstable_relus"),
        "relaxation_worst_lower": float(r_worst.lower), "relaxation_worst_cj": relaxed.query["worst_cj"],
        "relaxation_same_cj_lower": float(r_same.lower),
        "seconds_exact": t_build + t_exact, "seconds_relaxation": t_build + t_relax, "seconds_build": t_build,
        "decisions": dec.verdict.value, "decisions_reason": dec.reason, "decisions_seconds": dec.provenance.seconds,
        "counterexample": None if dec.witness is None else [float(v) for v in dec.witness.input],
        "counterexample_classes": None if dec.witness is None else list(dec.witness.classes),
    }
