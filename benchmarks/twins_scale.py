"""Twins at scale: exact LRSM of int8 twins on larger random MLPs and the published mnist-net 256x2.

Rows (the twins targets of the scale issue):

- random ReLU MLPs d -> width^L -> 10 logits (He-normal weights, N(0, 0.1) biases,
  ``numpy.random.default_rng([0, d, L, width])``), x drawn uniformly from [0, 1]^d by the same
  generator, the L∞ ball of radius 0.02 clipped to [0, 1]; N1 = the int8 twin
  (:func:`smtnn.twins.generate.quantize`), N2 = the network, ci = N2's class at x, every cj: the
  certified worst-class minimum of log-RSM (:func:`smtnn.twins.lrsm`, engine ``exact``) to a gap of at
  most 1e-6 within 60 s;
- mnist-net 256x2 (VNN-COMP 2021, ``benchmarks/data/vnncomp2021``) against its own int8 twin at the two
  property images, radius 0.01 clipped to [0, 1]: decision preservation (:func:`smtnn.twins.decisions`)
  within 10 s and the LRSM as above within 120 s.  ci is the class both twins provably pick on the
  ball when the linear bounds show one (otherwise the reference's exact class at the image).

Each query is one in-process call timed with ``time.perf_counter`` (building the LP relaxation and
the exact replay of the witness included; building the twin is not timed).  The machine is shared:
timings under load are pessimistic.  Run ``python -m benchmarks.twins_scale [--only random mnist]``;
writes ``benchmarks/results/twins_scale.json`` and ``twins_scale.md``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from smtnn.network import Network
from smtnn.twins import ball, decisions, generate, lrsm
from smtnn.twins.pair import exact_class

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 0
CLASSES = 10
TOLERANCE = Fraction(1, 10**6)
RANDOM_RADIUS = "0.02"
MNIST_RADIUS = "0.01"
RANDOM_SHAPES = ((16, 2, 64), (32, 2, 64), (64, 2, 64), (32, 3, 128))
TARGET_SHAPES = ((64, 2, 64), (32, 3, 128))
RANDOM_TIMEOUT = 60.0
MNIST_DECISION_TIMEOUT = 10.0
MNIST_LRSM_TIMEOUT = 120.0


def network(d: int, layers: int, width: int) -> tuple[Network, np.ndarray]:
    """The seeded reference MLP d -> width^layers -> 10 logits and its input point in [0, 1]^d."""
    rng = np.random.default_rng([SEED, d, layers, width])
    sizes = [d] + [width] * layers + [CLASSES]
    weights = [rng.normal(0.0, np.sqrt(2.0 / sizes[k]), (sizes[k + 1], sizes[k])) for k in range(len(sizes) - 1)]
    biases = [rng.normal(0.0, 0.1, sizes[k + 1]) for k in range(len(sizes) - 1)]
    net = Network.from_arrays(weights, biases, ["relu"] * layers + ["softmax"], name=f"mlp_d{d}_l{layers}_w{width}")
    return net, rng.uniform(0.0, 1.0, d)


def lrsm_row(twin: Network, reference: Network, box, ci: int, timeout: float) -> dict:
    """The worst-class minimum of log-RSM to TOLERANCE: certified ends, gap, seconds, search statistics."""
    start = time.perf_counter()
    report = lrsm(twin, reference, box=box, ci=ci, engine="exact", compare=(), ends=("min",), timeout=timeout,
                  tolerance=TOLERANCE)
    seconds = time.perf_counter() - start
    worst = report   # the worst class's minimum, certified to TOLERANCE (or bounds so far at the timeout)
    stats = worst.provenance.stats
    return {"ci": ci, "worst_cj": report.query["worst_cj"], "min_log_rsm": [float(worst.lower), float(worst.upper)],
            "min_log_rsm_exact": [str(worst.lower), str(worst.upper)], "gap": float(worst.gap),
            "certified": worst.gap <= TOLERANCE, "reason": worst.reason, "nodes": stats.get("nodes"),
            "unstable_relus": stats.get("unstable_relus"), "relaxation_seconds": round(stats.get("relaxation_seconds", 0.0), 3),
            "seconds": round(seconds, 3), "timeout": timeout}


def random_section(shapes=RANDOM_SHAPES, timeout: float = RANDOM_TIMEOUT) -> list[dict]:
    rows = []
    for d, layers, width in shapes:
        reference, x = network(d, layers, width)
        twin = generate.quantize(reference, "int", 8)
        point = [Fraction(float(v)) for v in x]
        box = ball(point, RANDOM_RADIUS, (0, 1))
        row = {"network": reference.name, "d": d, "layers": layers, "width": width, "radius": RANDOM_RADIUS,
               **lrsm_row(twin, reference, box, exact_class(reference, point), timeout)}
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)
    return rows


def mnist_section(images=(0, 1)) -> list[dict]:
    from smtnn.twins import screen

    from .published import DATA, load_chain, mnist_images

    reference = load_chain(DATA / "mnistfc" / "mnist-net_256x2.onnx")
    twin = generate.quantize(reference, "int", 8)
    rows = []
    for i in images:
        point = [Fraction(float(v)) for v in mnist_images()[i]]
        box = ball(point, MNIST_RADIUS, (0, 1))
        start = time.perf_counter()
        verdict = decisions(twin, reference, box=box, timeout=MNIST_DECISION_TIMEOUT)
        decision_seconds = time.perf_counter() - start
        guess = screen.guess_class(reference, box)
        robust = screen.robust_class(twin, box, guess) and screen.robust_class(reference, box, guess)
        ci = guess if robust else exact_class(reference, point)
        row = {"network": reference.name, "image": i, "radius": MNIST_RADIUS, "decisions": verdict.verdict.value,
               "decisions_reason": verdict.reason, "decisions_seconds": round(decision_seconds, 3),
               "decisions_timeout": MNIST_DECISION_TIMEOUT, **lrsm_row(twin, reference, box, ci, MNIST_LRSM_TIMEOUT)}
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)
    return rows


def _fmt_interval(row: dict) -> str:
    lo, hi = row["min_log_rsm"]
    return f"[{lo:.9g}, {hi:.9g}]"


def targets(random_rows: list[dict], mnist_rows: list[dict]) -> list[str]:
    """Pass/miss of the twins targets on what ran, with the numbers behind each verdict."""
    out = ["## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    for d, layers, width in TARGET_SHAPES:
        rows = [r for r in random_rows if (r["d"], r["layers"], r["width"]) == (d, layers, width)]
        if rows:
            r = rows[0]
            ok = r["certified"] and r["seconds"] <= RANDOM_TIMEOUT
            out.append(f"| LRSM gap ≤ 1e-6 within 60 s, {layers} × {width} on {d} inputs | gap {r['gap']:.3g} after "
                       f"{r['seconds']:.1f} s ({r['reason'] or 'exact'}) | {'pass' if ok else 'miss'} |")
    if mnist_rows:
        secs = [r["decisions_seconds"] for r in mnist_rows]
        ok = all(r["decisions"] != "unknown" and r["decisions_seconds"] <= MNIST_DECISION_TIMEOUT for r in mnist_rows)
        out.append(f"| mnist-net 256x2 vs int8: decision preservation within 10 s | "
                   f"{', '.join(r['decisions'] for r in mnist_rows)}; median {statistics.median(secs):.2f} s | {'pass' if ok else 'miss'} |")
        ok = all(r["certified"] and r["seconds"] <= MNIST_LRSM_TIMEOUT for r in mnist_rows)
        out.append("| mnist-net 256x2 vs int8: LRSM gap ≤ 1e-6 within 120 s at r = 0.01 | "
                   + "; ".join(f"image {r['image']}: gap {r['gap']:.3g} after {r['seconds']:.0f} s" for r in mnist_rows)
                   + f" | {'pass' if ok else 'miss'} |")
    return out + [""]


def summary(random_rows: list[dict], mnist_rows: list[dict]) -> str:
    lines = ["# Twins at scale: exact LRSM of int8 twins", "",
             "Command: `python -m benchmarks.twins_scale`.  N1 = the int8 twin, N2 = the network; the certified worst-class",
             "minimum of log-RSM over the clipped L∞ ball, stopped at a certified gap ≤ 1e-6 (lower end: a point replayed in",
             "exact rationals; upper end: certified LP bounds).  Seconds include building the LP relaxation and the exact",
             "replay; the machine (2 cores) is shared, so timings under load are pessimistic.", ""]
    lines += targets(random_rows, mnist_rows)
    if random_rows:
        lines += [f"## Random ReLU MLPs (10 logits), r = {RANDOM_RADIUS}, timeout {RANDOM_TIMEOUT:g} s", "",
                  "| d | hidden | unstable relus | min log-RSM [lower, upper] | gap | nodes | relaxation s | seconds | stopped |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in random_rows:
            lines.append(f"| {r['d']} | {r['layers']} × {r['width']} | {r['unstable_relus']} | {_fmt_interval(r)} | {r['gap']:.3g} | "
                         f"{r['nodes']} | {r['relaxation_seconds']:.2f} | {r['seconds']:.2f} | {r['reason'] or 'exact'} |")
        lines.append("")
    if mnist_rows:
        lines += [f"## mnist-net 256x2 against its int8 twin, r = {MNIST_RADIUS}", "",
                  "| image | decisions | s | ci | worst cj | min log-RSM [lower, upper] | gap | relaxation s | seconds | stopped |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in mnist_rows:
            lines.append(f"| {r['image']} | {r['decisions']} | {r['decisions_seconds']:.2f} | {r['ci']} | {r['worst_cj']} | "
                         f"{_fmt_interval(r)} | {r['gap']:.3g} | {r['relaxation_seconds']:.1f} | {r['seconds']:.1f} | "
                         f"{r['reason'] or 'exact'} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.twins_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=("random", "mnist"), help="run only these parts; the others are kept")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "twins_scale.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    parts = args.only or ["random", "mnist"]
    random_rows = random_section() if "random" in parts else old.get("random", [])
    mnist_rows = mnist_section() if "mnist" in parts else old.get("mnist", [])
    path.write_text(json.dumps({"command": "python -m benchmarks.twins_scale", "random": random_rows, "mnist": mnist_rows}, indent=1))
    text = summary(random_rows, mnist_rows)
    (args.out / "twins_scale.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
