"""Scaling frontier of the float-first engines: local label, local ε, global label and global ε on random ReLU MLPs.

Networks from :func:`benchmarks.scaling.network` (d -> width^depth -> 1 sigmoid, He-normal, seeded per
shape), every parameter within δ = 0.01, D = [-1, 1]^d, x0 = :func:`benchmarks.scaling.x0`.  One in-process
call per row through :mod:`smtnn.properties` (so the exact fallback runs whenever the float pass decides
nothing), timed with ``time.perf_counter``.  Run ``python -m benchmarks.frontier``; writes
``benchmarks/results/frontier.json`` and ``frontier.md``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

from smtnn import perturbation as perturbations
from smtnn import properties

from .scaling import domain, network, x0

RESULTS = Path(__file__).resolve().parent / "results"
DELTA = "0.01"
EPS_TOLERANCE = Fraction(1, 1000)
GLOBAL_EPS_TOLERANCE = {1: Fraction(1, 10 ** 4), 2: Fraction(1, 1000)}   # by depth: the targets
GRIDS = {
    "local_label": [(d, depth, w) for d in (2, 4, 8, 12) for depth in (1, 2, 3, 4) for w in (16, 64, 256)]
    + [(d, depth, w) for d in (2, 8) for depth in (5, 6) for w in (16, 64, 256)],   # the depths up to 6
    "global_label": [(d, depth, w) for d in (2, 4, 8, 12) for depth in (1, 2) for w in (16, 64)],
    "local_epsilon": [(d, depth, w) for d in (2, 8) for depth in (1, 2, 3) for w in (16, 64)],
    "global_epsilon": [(d, 1, w) for d in (2, 4, 6, 8, 12, 16) for w in (16, 64)] + [(d, 2, 32) for d in (2, 4)],
    "bound_widths": [(2, 2, 64), (8, 2, 64), (4, 3, 64), (4, 4, 64), (4, 2, 256)],
}
TIMEOUTS = {"local_label": 30.0, "global_label": 60.0, "local_epsilon": 10.0, "global_epsilon": 60.0, "bound_widths": 5.0}


def bound_widths(net, pert, d: int, seconds: float) -> dict:
    """max z(x0, p) over the box (the logit): attack value, and upper bounds by intervals, linear bounds and branch and bound."""
    import numpy as np

    from smtnn import attack, float_first, linear_bounds

    boxes = linear_bounds.parameter_box(net, pert)
    xlo, xhi = linear_bounds.input_box(x0(d))
    row = np.array([[1.0]])
    out = {}
    for name, call in (("interval", lambda: linear_bounds.objective_bounds(net, boxes, xlo, xhi, row, linear=False)[1][0]),
                       ("linear", lambda: linear_bounds.objective_bounds(net, boxes, xlo, xhi, row)[1][0]),
                       ("branch", lambda: float_first.phase_branch_and_bound(net, boxes, xlo, xhi, row, stop_at=-np.inf,
                                                                             seconds=seconds)[0]),
                       ("reduced", lambda: _reduced_bound(net, boxes, xlo, xhi, row, seconds)),
                       ("attack", lambda: attack.vertex_ascent(net, *float_first._float_box(net, boxes), xlo, row[0])[1])):
        start = time.perf_counter()
        out[name] = float(call())
        out[name + "_seconds"] = round(time.perf_counter() - start, 4)
    return out


def _reduced_bound(net, boxes, xlo, xhi, row, seconds: float) -> float:
    """The upper bound of the exact LP searches of `smtnn.local_reduction`: the reduced problem (two hidden layers),
    every layer as an interval-valued affine map (deeper relu networks)."""
    from smtnn import linear_bounds, local_reduction

    reduced = local_reduction.reduce(boxes, xlo, xhi, row[0])
    if reduced is not None and local_reduction.exact_by_lp(reduced):
        return float(local_reduction.lp_branch_and_bound(reduced, stop_gap=0.0, seconds=seconds).upper)
    if not local_reduction.sandwich_searchable(boxes):
        return float("nan")
    pre = linear_bounds.refined_pre_activations(boxes, xlo, xhi).pre
    return float(local_reduction.sandwich_branch_and_bound(boxes, xlo, xhi, row[0], pre, stop_gap=0.0, seconds=seconds).upper)


def run(prop: str, d: int, depth: int, width: int, timeout: float) -> dict:
    net = network(d, depth, width)
    pert = perturbations.uniform(net, DELTA)
    start = time.perf_counter()
    if prop == "bound_widths":
        out = bound_widths(net, pert, d, timeout)
    elif prop == "local_label":
        r = properties.verify_local_label(net, pert, x0(d), timeout=timeout)
        out = {"verdict": r.verdict.value, "method": r.provenance.method, "reason": r.reason}
    elif prop == "global_label":
        r = properties.verify_global_label(net, pert, domain(d), timeout=timeout)
        out = {"verdict": r.verdict.value, "method": r.provenance.method, "reason": r.reason}
    else:
        call = properties.local_epsilon if prop == "local_epsilon" else properties.global_epsilon
        where = x0(d) if prop == "local_epsilon" else domain(d)
        tolerance = EPS_TOLERANCE if prop == "local_epsilon" else GLOBAL_EPS_TOLERANCE[depth]
        e = call(net, pert, where, tolerance=tolerance, timeout=timeout)
        out = {"lower": float(e.lower), "upper": float(e.upper), "gap": float(e.gap), "converged": e.converged,
               "method": e.provenance.method, "reason": e.reason}
    return {"property": prop, "d": d, "depth": depth, "width": width, "parameters": net.n_parameters,
            "seconds": round(time.perf_counter() - start, 3), "timeout": timeout, **out}


def targets(rows: list[dict]) -> list[str]:
    """The issue's targets that these rows can judge, with pass/miss and the numbers behind them."""
    out = ["## Targets", "", "| target | rows | result | verdict |", "|---|---|---|---|"]
    label = [r for r in rows if r["property"] == "global_label" and r["d"] <= 8 and r["width"] <= 64]
    if label:
        ok = [r for r in label if r["verdict"] != "unknown" and r["seconds"] <= 60]
        out.append(f"| global label definite within 60 s, d ≤ 8, width ≤ 64 | {len(label)} | {len(ok)} definite, "
                   f"median {statistics.median(r['seconds'] for r in label):.2f} s, max {max(r['seconds'] for r in label):.2f} s | "
                   f"{'pass' if len(ok) == len(label) else 'miss'} |")
    eps = [r for r in rows if r["property"] == "local_epsilon" and r["depth"] == 2 and r["width"] == 64]
    if eps:
        ok = [r for r in eps if r["gap"] <= 1e-3 and r["seconds"] <= 10]
        out.append(f"| local ε gap ≤ 1e-3 within 10 s, two hidden layers of 64, every layer perturbed | {len(eps)} | gaps "
                   + ", ".join(f"{r['gap']:.2g} ({r['seconds']:.2g} s)" for r in eps) + f" | {'pass' if len(ok) == len(eps) else 'miss'} |")
    glob = [r for r in rows if r["property"] == "global_epsilon" and r["depth"] == 1 and (r["d"], r["width"]) in
            ((8, 16), (8, 64), (12, 16))]
    if glob:
        ok = [r for r in glob if r["gap"] <= 1e-4 and r["seconds"] <= 60]
        out.append(f"| global ε gap ≤ 1e-4 within 60 s, one hidden layer, d = 8 (widths 16, 64) and d = 12 (width 16) | "
                   f"{len(glob)} | gaps " + ", ".join(f"{r['gap']:.2g} (d = {r['d']}, width {r['width']})" for r in glob)
                   + f" | {'pass' if len(ok) == len(glob) else 'miss'} |")
    deep = [r for r in rows if r["property"] == "global_epsilon" and r["depth"] == 2 and r["d"] in (2, 4)]
    if deep:
        ok = [r for r in deep if r["gap"] <= 1e-3 and r["seconds"] <= 60]
        out.append(f"| global ε gap ≤ 1e-3 within 60 s, two hidden layers of 32, every layer perturbed, d = 2 and 4 | "
                   f"{len(deep)} | gaps " + ", ".join(f"{r['gap']:.2g} (d = {r['d']})" for r in deep)
                   + f" | {'pass' if len(ok) == len(deep) else 'miss'} |")
    return out + [""]


def table(rows: list[dict]) -> str:
    lines = ["# Scaling frontier (float-first engines, exact fallback)", "",
             "Command: `python -m benchmarks.frontier`. Random ReLU MLPs d → width^depth → 1 (sigmoid), every parameter",
             f"within δ = {DELTA}, D = [-1, 1]^d; local ε to a tolerance of {float(EPS_TOLERANCE):g}, global ε to "
             f"{float(GLOBAL_EPS_TOLERANCE[1]):g} (one hidden layer) and {float(GLOBAL_EPS_TOLERANCE[2]):g} (two).", ""]
    lines += targets(rows)
    for prop in GRIDS:
        part = [r for r in rows if r["property"] == prop]
        if not part:
            continue
        lines += [f"## {prop.replace('_', ' ')} (timeout {TIMEOUTS[prop]:g} s)", ""]
        if prop == "bound_widths":
            lines += ["Upper bounds of the logit max_p z(x0, p) (every parameter within δ) and the attack's replayable value;",
                      "'excess' is bound minus attack value (the certified gap in logit units).", "",
                      "'LP search' is `smtnn/local_reduction.py`: the same maximum with the first layer as a box and the last",
                      "hidden layer's weights picked (two hidden layers), or every layer as an interval-valued affine map (deeper),",
                      "by branch and bound over ReLU phases with certified LP bounds, exact at its leaves.  Where it finishes its",
                      "best point replays to the bound (see `lirpa.md`'s witness ranges), so its excess there is the vertex",
                      "attack's shortfall, not the bound's.", "",
                      "| d | depth | width | attack | interval (s) | linear (s) | phase branch and bound (s) | LP search (s) | excess: interval / linear / branch / LP search |",
                      "|---|---|---|---|---|---|---|---|---|"]
            lines += [f"| {r['d']} | {r['depth']} | {r['width']} | {r['attack']:.6g} | {r['interval']:.6g} ({r['interval_seconds']:.3f}) | "
                      f"{r['linear']:.6g} ({r['linear_seconds']:.3f}) | {r['branch']:.6g} ({r['branch_seconds']:.2f}) | "
                      + (f"{r['reduced']:.6g} ({r['reduced_seconds']:.2f}) | " if "reduced" in r else "– | ")
                      + f"{r['interval'] - r['attack']:.3g} / {r['linear'] - r['attack']:.3g} / {r['branch'] - r['attack']:.3g} / "
                      + (f"{r['reduced'] - r['attack']:.3g} |" if "reduced" in r else "– |")
                      for r in part]
            lines += [""]
        elif "label" in prop:
            lines += ["| d | depth | width | parameters | verdict | seconds | method |", "|---|---|---|---|---|---|---|"]
            lines += [f"| {r['d']} | {r['depth']} | {r['width']} | {r['parameters']} | {r['verdict']} | {r['seconds']:.2f} | {r['method']} |"
                      for r in part]
            definite = [r for r in part if r["verdict"] != "unknown"]
            lines += ["", f"Definite: {len(definite)}/{len(part)}; median seconds {statistics.median(r['seconds'] for r in part):.2f}.", ""]
        else:
            lines += ["| d | depth | width | parameters | lower | upper | gap | seconds | method |", "|---|---|---|---|---|---|---|---|---|"]
            lines += [f"| {r['d']} | {r['depth']} | {r['width']} | {r['parameters']} | {r['lower']:.6g} | {r['upper']:.6g} | "
                      f"{r['gap']:.2g} | {r['seconds']:.2f} | {r['method']} |" for r in part]
            lines += [""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(GRIDS), default=list(GRIDS),
                        help="run only these sections; the others are kept from an existing frontier.json")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    previous = args.out / "frontier.json"
    rows = [r for r in json.loads(previous.read_text()) if r["property"] not in args.only] if previous.exists() else []
    for prop in args.only:
        for d, depth, width in GRIDS[prop]:
            row = run(prop, d, depth, width, TIMEOUTS[prop])
            print(json.dumps(row), file=sys.stderr)
            rows.append(row)
    rows.sort(key=lambda r: list(GRIDS).index(r["property"]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "frontier.json").write_text(json.dumps(rows, indent=1))
    text = table(rows)
    (args.out / "frontier.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
