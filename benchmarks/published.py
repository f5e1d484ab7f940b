"""Published VNN-COMP 2021 networks: local label (Def. 3) on ACAS Xu and mnistfc under parameter perturbation.

Files in ``benchmarks/data/vnncomp2021`` (provenance in its README).  A small converter here reads
their ONNX graphs with ``onnx`` + NumPy (the chain of Gemm/MatMul+Add layers with ReLU; ACAS Xu's
``Sub`` of an all-zero mean image is dropped, MNIST's ``Flatten`` of the (784, 1) input is a
reshape), so the benchmark does not depend on the package's ONNX loader.  ACAS Xu's advisory is the
*smallest* score: the converter negates the last layer (exact in binary64) so the label is an argmax.

Queries (targets from the issue, medians on a 2-core machine):
- ACAS Xu 1_1 and 2_1, 10 seeded points each inside the VNN-COMP property boxes 1-4, every
  parameter perturbed at δ ∈ {1e-5, 1e-4, 1e-3}: definite within 60 s at 9 of 10 points or better;
- mnist-net 256x2 and 256x4 at the centres of the two property images: last layer at δ = 1e-3 and
  every layer at δ = 1e-5: definite within 30 s.
Run: ``python -m benchmarks.published [--quick] [--timeout S]``; writes
``benchmarks/results/published.json`` and ``published.md``.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from smtnn import perturbation as perturbations
from smtnn import properties
from smtnn.network import Network

DATA = Path(__file__).resolve().parent / "data" / "vnncomp2021"
RESULTS = Path(__file__).resolve().parent / "results"
ACAS = ("ACASXU_run2a_1_1_batch_2000.onnx", "ACASXU_run2a_2_1_batch_2000.onnx")
MNIST = ("mnist-net_256x2.onnx", "mnist-net_256x4.onnx")
ACAS_DELTAS = ("0.00001", "0.0001", "0.001")
MNIST_QUERIES = (("last layer, δ = 1e-3", "0.001", True), ("every layer, δ = 1e-5", "0.00001", False))


def load_chain(path: Path, *, negate_output: bool = False) -> Network:
    """A dense ReLU chain from an ONNX graph of Gemm or MatMul+Add nodes (benchmark-only converter)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    weights, biases, activations = [], [], []
    for node in model.graph.node:
        if node.op_type == "Gemm":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            w = init[node.input[1]]
            weights.append(w if attrs.get("transB", 0) else w.T)
            biases.append(init[node.input[2]])
            activations.append("linear")
        elif node.op_type == "MatMul":
            weights.append(init[node.input[1]].T)
            activations.append("linear")
        elif node.op_type == "Add":
            biases.append(init[node.input[1]].reshape(-1))
        elif node.op_type == "Relu":
            activations[-1] = "relu"
        elif node.op_type == "Sub":
            if np.any(init[node.input[1]]):
                raise ValueError(f"{path.name}: a non-zero Sub is not handled by this converter")
        elif node.op_type != "Flatten":
            raise ValueError(f"{path.name}: op {node.op_type} is not handled by this converter")
    if negate_output:
        weights[-1], biases[-1] = -weights[-1], -biases[-1]
    return Network.from_arrays(weights, biases, activations, name=path.stem)


def vnnlib_box(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The input box X_i bounds of a VNN-LIB property."""
    bounds: dict[int, list[float]] = {}
    for op, index, value in re.findall(r"\(assert \((<=|>=) X_(\d+) ([-+0-9.eE]+)\)\)", path.read_text()):
        entry = bounds.setdefault(int(index), [-np.inf, np.inf])
        entry[1 if op == "<=" else 0] = float(value)
    n = max(bounds) + 1
    return np.array([bounds[i][0] for i in range(n)]), np.array([bounds[i][1] for i in range(n)])


def acas_points(count: int = 10, seed: int = 0) -> list[np.ndarray]:
    """Seeded uniform points inside the property boxes 1-4, in turn."""
    rng = np.random.default_rng(seed)
    boxes = [vnnlib_box(DATA / "acasxu" / f"prop_{k}.vnnlib") for k in (1, 2, 3, 4)]
    return [rng.uniform(*boxes[i % 4]) for i in range(count)]


def mnist_images() -> list[np.ndarray]:
    """The images at the centres of the two L∞ property boxes (radius 0.03, clipped to [0, 1])."""
    images = []
    for name in ("prop_0_0.03.vnnlib", "prop_1_0.03.vnnlib"):
        lo, hi = vnnlib_box(DATA / "mnistfc" / name)
        images.append(np.clip(np.where(lo > 0, lo + 0.03, hi - 0.03), 0.0, 1.0))
    return images


def run_query(net: Network, pert, x, timeout: float) -> dict:
    start = time.perf_counter()
    result = properties.verify_local_label(net, pert, x, timeout=timeout)
    seconds = time.perf_counter() - start
    return {"verdict": result.verdict.value, "seconds": round(seconds, 3), "method": result.provenance.method,
            "reason": result.reason}


def acas_section(timeout: float, points: int) -> list[dict]:
    rows = []
    for name in ACAS:
        net = load_chain(DATA / "acasxu" / name, negate_output=True)
        for delta in ACAS_DELTAS:
            pert = perturbations.uniform(net, delta)
            for i, x in enumerate(acas_points(points)):
                row = {"network": name, "delta": delta, "point": i, **run_query(net, pert, x, timeout)}
                print(json.dumps(row), file=sys.stderr)
                rows.append(row)
    return rows


def mnist_section(timeout: float) -> list[dict]:
    rows = []
    for name in MNIST:
        net = load_chain(DATA / "mnistfc" / name)
        for label, delta, last_only in MNIST_QUERIES:
            pert = perturbations.subset(net, delta, layers=[-1]) if last_only else perturbations.uniform(net, delta)
            for i, x in enumerate(mnist_images()):
                row = {"network": name, "perturbation": label, "image": i, **run_query(net, pert, x, timeout)}
                print(json.dumps(row), file=sys.stderr)
                rows.append(row)
    return rows


def summary(acas: list[dict], mnist: list[dict], acas_timeout: float, mnist_timeout: float) -> str:
    lines = ["# Published networks: local label under parameter perturbation", "",
             "Command: `python -m benchmarks.published`. One in-process call of `properties.verify_local_label` per row,",
             "timed with `time.perf_counter` (including the exact label replay; one perturbation serves all points of a",
             "row, so its float parameter box and exact parameters are built in the first point's call).", "",
             f"## ACAS Xu (6 × 50 ReLU, 13,305 parameters), every parameter perturbed; timeout {acas_timeout:g} s", "",
             "| network | δ | definite | holds | violated | unknown | median s | max s | target (≥ 9/10 within 60 s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in ACAS:
        for delta in ACAS_DELTAS:
            rows = [r for r in acas if r["network"] == name and r["delta"] == delta]
            if not rows:
                continue
            definite = [r for r in rows if r["verdict"] != "unknown" and r["seconds"] <= 60]
            counts = {v: sum(r["verdict"] == v for r in rows) for v in ("holds", "violated", "unknown")}
            ok = len(definite) >= 0.9 * len(rows)
            secs = [r["seconds"] for r in rows]
            lines.append(f"| {name.split('_batch')[0]} | {delta} | {len(definite)}/{len(rows)} | {counts['holds']} | "
                         f"{counts['violated']} | {counts['unknown']} | {statistics.median(secs):.2f} | {max(secs):.2f} | "
                         f"{'pass' if ok else 'miss'} |")
    lines += ["", f"## mnistfc (784 inputs, ReLU 256 × 2 and 256 × 4), the two property images; timeout {mnist_timeout:g} s", "",
              "| network | perturbation | image | verdict | seconds | method | target (definite within 30 s) |",
              "|---|---|---|---|---|---|---|"]
    for r in mnist:
        ok = r["verdict"] != "unknown" and r["seconds"] <= 30
        lines.append(f"| {r['network']} | {r['perturbation']} | {r['image']} | {r['verdict']} | {r['seconds']:.2f} | "
                     f"{r['method']} | {'pass' if ok else 'miss'} |")
    methods = sorted({r["method"] for r in acas + mnist})
    lines += ["", "Methods named in the results (unknown rows included): " + "; ".join(methods), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 ACAS points, short timeouts")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per query (default 60 ACAS, 30 MNIST)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    acas_timeout = args.timeout or (10.0 if args.quick else 60.0)
    mnist_timeout = args.timeout or (10.0 if args.quick else 30.0)
    acas = acas_section(acas_timeout, 3 if args.quick else 10)
    mnist = mnist_section(mnist_timeout)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "published.json").write_text(json.dumps({"acasxu": acas, "mnistfc": mnist}, indent=1))
    text = summary(acas, mnist, acas_timeout, mnist_timeout)
    (args.out / "published.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
