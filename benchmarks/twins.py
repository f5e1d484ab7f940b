"""Twins: exact LRSM of the digits int8 twin against the 64-64 reference over L∞ balls of radius 0.02, timed.

The query is the one of the twins case study (case_studies/twins/experiment.py): the exact worst-class
minimum of log-RSM over the ball clipped to [0, 1], ci = the reference's class at x, every cj.  The
timed call builds its own LP relaxation.  Target: at most 10 s per input.
"""
from __future__ import annotations

from fractions import Fraction

from case_studies.twins import digits
from smtnn.twins import ball, lrsm
from smtnn.twins.pair import exact_class

from .common import Settings, bar, median, repeat

TWIN = "int8"
RADIUS = "0.02"
ENDS = ("min",)
TARGET_SECONDS = 10.0


def run(settings: Settings) -> dict:
    """For the first `settings.twins_inputs` test inputs: median seconds of the exact LRSM and its certified result."""
    nets = digits.load()
    _, x_test, _, y_test = digits.data()
    reference, twin = nets[digits.REFERENCE], nets[TWIN]
    rows = []
    progress = bar(settings.twins_inputs * settings.repeats, "twins")
    for index in range(settings.twins_inputs):
        x = [Fraction(float(v)) for v in x_test[index]]
        box = ball(x, RADIUS, (0, 1))
        ci = exact_class(reference, x)

        def query():
            report = lrsm(twin, reference, box=box, ci=ci, engine="exact", compare=(), ends=ENDS, timeout=settings.twins_timeout)
            progress.update()
            return report

        report, runs = repeat(query, settings.repeats, stop=lambda r: r.gap != 0)
        worst = report
        rows.append({
            "index": index, "label": int(y_test[index]), "ci": ci, "worst_cj": report.query["worst_cj"],
            "min_log_rsm": [worst.lower, worst.upper], "min_log_rsm_exact": [str(worst.lower), str(worst.upper)],
            "exact": worst.gap == 0, "reason": worst.reason, "nodes": worst.provenance.stats.get("nodes"),
            "unstable_relus": worst.provenance.stats.get("unstable_relus"),
            "seconds": median(runs), "runs": runs, "timed_out": worst.gap != 0 and "timeout" in worst.reason,
        })
    progress.close()
    seconds = [r["seconds"] for r in rows]
    return {
        "twin": f"{digits.REFERENCE}_{TWIN}", "reference": digits.REFERENCE, "radius": RADIUS, "ends": list(ENDS),
        "inputs": len(rows), "timeout": settings.twins_timeout, "rows": rows,
        "median_seconds": median(seconds), "max_seconds": max(seconds) if seconds else None,
        "all_exact": all(r["exact"] for r in rows),
        "targets": {"seconds_per_input": TARGET_SECONDS},
        "pass": bool(rows) and all(r["exact"] for r in rows) and max(seconds) <= TARGET_SECONDS,
    }
