"""Budgets on wide networks: does a library call given only ``timeout=`` end on time?

Rows: random ReLU MLPs 2 -> width^4 -> 1 (sigmoid; He-normal weights, N(0, 0.1) biases,
``numpy.random.default_rng([0, width])``), every parameter within δ (chosen so that neither the float bounds
nor the attack decide at once, so each query reaches its slow phases), x0 = (0.9, 0.9), D = [-1, 1]^2; the
four public calls ``verify_local_label``, ``local_epsilon``, ``verify_global_label`` and ``global_epsilon``
of :mod:`smtnn.properties`, and the twins' exact LRSM of mnist-net 256x2 against its int8 twin, each with a
timeout T and no memory cap (so it runs in this process under the
cooperative deadline of :mod:`smtnn.budget`).  Target: every call ends within T + grace(T) (grace = max(2 s,
0.1 T)), the margin a capped call gets before it is killed.  Seconds are ``time.perf_counter`` around the
call; building the network and the perturbation is not timed.

Run ``python -m benchmarks.budgets``; writes ``benchmarks/results/budgets.json`` and ``budgets.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from smtnn import Box, Network, perturbation, properties
from smtnn.budget import grace

from .common import machine, write_atomic

RESULTS = Path(__file__).resolve().parent / "results"
CASES = ((64, "0.003"), (256, "0.0003"))   # (width, δ)
TIMEOUTS = (2.0, 10.0)
X0 = ["0.9", "0.9"]
DOMAIN = Box(("-1", "-1"), ("1", "1"))


def network(width: int) -> Network:
    rng = np.random.default_rng([0, width])
    sizes = [2] + [width] * 4 + [1]
    weights = [rng.normal(0.0, np.sqrt(2.0 / a), (b, a)) for a, b in zip(sizes, sizes[1:])]
    biases = [rng.normal(0.0, 0.1, b) for b in sizes[1:]]
    return Network.from_arrays(weights, biases, ["relu"] * 4 + ["sigmoid"], name=f"mlp_2_{width}x4")


def _answer(result) -> str:
    if hasattr(result, "verdict"):
        return result.verdict.value
    return f"[{float(result.lower):.6g}, {float(result.upper):.6g}]"


def run() -> list[dict]:
    rows = []
    for width, delta in CASES:
        net = network(width)
        pert = perturbation.uniform(net, delta)
        calls = {"verify_local_label": lambda t: properties.verify_local_label(net, pert, X0, timeout=t),
                 "local_epsilon": lambda t: properties.local_epsilon(net, pert, X0, timeout=t),
                 "verify_global_label": lambda t: properties.verify_global_label(net, pert, DOMAIN, timeout=t),
                 "global_epsilon": lambda t: properties.global_epsilon(net, pert, DOMAIN, timeout=t)}
        for name, call in calls.items():
            for timeout in TIMEOUTS:
                start = time.perf_counter()
                result = call(timeout)
                seconds = time.perf_counter() - start
                row = {"network": net.name, "parameters": net.n_parameters, "delta": delta, "call": name,
                       "timeout": timeout, "seconds": round(seconds, 3), "within": seconds <= timeout + grace(timeout),
                       "answer": _answer(result), "reason": result.reason, "method": result.provenance.method}
                print(json.dumps(row), file=sys.stderr)
                rows.append(row)
    return rows + _timed_twins()


def _timed_twins() -> list[dict]:
    """The exact LRSM of mnist-net 256x2 against its int8 twin on image 0's ball (r = 0.01), the worst class of all."""
    from fractions import Fraction

    from smtnn.twins import ball, generate, lrsm

    from .published import DATA, load_chain, mnist_images

    reference = load_chain(DATA / "mnistfc" / "mnist-net_256x2.onnx")
    twin = generate.quantize(reference, "int", 8)
    box = ball([Fraction(float(v)) for v in mnist_images()[0]], "0.01", (0, 1))
    rows = []
    for timeout in TIMEOUTS:
        start = time.perf_counter()
        result = lrsm(twin, reference, box=box, engine="exact", compare=(), ends=("min",), timeout=timeout)
        seconds = time.perf_counter() - start
        row = {"network": f"{reference.name} vs int8", "parameters": reference.n_parameters, "delta": "–",
               "call": "twins.lrsm (r = 0.01)", "timeout": timeout, "seconds": round(seconds, 3),
               "within": seconds <= timeout + grace(timeout), "answer": _answer(result), "reason": result.reason,
               "method": result.provenance.method}
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)
    return rows


def summary(rows: list[dict]) -> str:
    held = sum(r["within"] for r in rows)
    worst = max(rows, key=lambda r: r["seconds"] / r["timeout"])
    lines = ["# Budgets on wide networks", "",
             "Command: `python -m benchmarks.budgets`.  Library calls given only `timeout=` T (no memory cap: they run in",
             "the calling process); target: each ends within T + grace(T) = T + max(2 s, 0.1 T).", "",
             "| target | measured | verdict |", "|---|---|---|",
             f"| every call within T + grace(T) | {held} of {len(rows)}; largest ratio {worst['seconds'] / worst['timeout']:.2f} "
             f"({worst['call']}, {worst['parameters']} parameters, T = {worst['timeout']:g} s: {worst['seconds']:.2f} s) | "
             f"{'pass' if held == len(rows) else 'miss'} |", "",
             "| network | parameters | δ | call | T (s) | seconds | answer | reason |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['network']} | {r['parameters']} | {r['delta']} | {r['call']} | {r['timeout']:g} | {r['seconds']:.2f} | "
                     f"{r['answer']} | {r['reason'] or '–'} |")
    return "\n".join(lines + [""])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.budgets", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = run()
    payload = {"command": "python -m benchmarks.budgets", "machine": machine(), "rows": rows}
    write_atomic(args.out / "budgets.json", json.dumps(payload, indent=1) + "\n")
    write_atomic(args.out / "budgets.md", summary(rows))
    print("\n".join(line for line in summary(rows).splitlines() if line.startswith("| every call")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
