"""Side by side with auto_LiRPA: bounds of the logit z(x0, p) with every weight and bias within δ, same networks.

Networks from :func:`benchmarks.scaling.network` (d -> width^depth -> 1, He-normal, seeded per shape),
δ = 0.01 on every parameter, x0 = :func:`benchmarks.scaling.x0`.  Per query:

- auto_LiRPA (PyPI ``auto-lirpa``, a benchmark-only dependency: ``pip install .[benchmark]``): the same
  network in torch (float64), every weight and bias a ``BoundedParameter`` with
  ``PerturbationLpNorm(norm=inf, eps=δ)``; bounds by IBP, CROWN-IBP (IBP intermediate bounds, CROWN at
  the output), CROWN and α-CROWN ("CROWN-optimized"); seconds of ``compute_bounds`` and, separately, of
  building the ``BoundedModule``.  Its bounds are float computations without outward rounding.
- smtnn: its first certified bound (no search), and the certified ends min_p z and max_p z (each a
  float-first search, :func:`smtnn.float_first.tighten_extreme`, outward-rounded, with a replayed witness,
  given 4× auto_LiRPA's best seconds, at least 1 s and at most 10 s, per end), seconds of both together.

Run ``python -m benchmarks.lirpa``; writes ``benchmarks/results/lirpa.json`` and ``lirpa.md``.

auto_LiRPA 0.3 (the newest release on PyPI) predates NumPy 2 and torch 2's reorganised ONNX helpers;
:func:`_import_auto_lirpa` gives it three aliases (``numpy.lib.arraysetops.isin``, the ONNX
``_optimize_graph`` and ``_set_opset_version``, and ``torch._C.Node.__getitem__``) so it imports with
the installed versions; nothing else of it is changed.  Its CROWN needs
``sparse_intermediate_bounds=False`` under weight perturbation (otherwise it raises on a ``OneHotC``),
and per-parameter bounds (``x_L``/``x_U``) fail in its concretization, hence the ``eps`` form.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from smtnn import float_first, linear_bounds, local_reduction
from smtnn import perturbation as perturbations
from smtnn.bounds import extreme_at

from .scaling import network, x0

RESULTS = Path(__file__).resolve().parent / "results"
DELTA = 0.01
QUERIES = [(2, 2, 16), (2, 2, 64), (8, 2, 16), (8, 2, 64), (4, 3, 16), (4, 3, 64), (4, 2, 256), (4, 4, 64)]
METHODS = {"IBP": dict(IBP=True, method=None), "CROWN-IBP": dict(IBP=True, method="backward"),
           "CROWN": dict(IBP=False, method="backward"), "alpha-CROWN": dict(method="CROWN-optimized")}
SMTNN_SECONDS = 10.0


def _import_auto_lirpa():
    """auto_LiRPA with the aliases it needs on NumPy 2 and torch 2 (see the module docstring)."""
    import types

    if "numpy.lib.arraysetops" not in sys.modules:
        shim = types.ModuleType("numpy.lib.arraysetops")
        shim.isin = np.isin
        sys.modules["numpy.lib.arraysetops"] = shim
    import torch
    import torch.onnx.symbolic_helper as helper
    import torch.onnx.utils as onnx_utils
    if not hasattr(onnx_utils, "_optimize_graph") or not hasattr(helper, "_set_opset_version"):
        from torch.onnx._internal.torchscript_exporter import _globals
        from torch.onnx._internal.torchscript_exporter import utils as exporter_utils
        onnx_utils._optimize_graph = exporter_utils._optimize_graph

        def set_opset_version(version):
            _globals.GLOBALS.export_onnx_opset_version = version
        helper._set_opset_version = set_opset_version
    if not hasattr(torch._C.Node, "__getitem__"):
        torch._C.Node.__getitem__ = lambda node, key: getattr(node, node.kindOf(key))(key)
    import auto_LiRPA
    return auto_LiRPA


def lirpa_bounds(net, d: int) -> dict:
    """auto_LiRPA's bounds of the logit at x0 under weight perturbation, per method: lower, upper, seconds or error."""
    import torch

    lirpa = _import_auto_lirpa()
    torch.set_default_dtype(torch.float64)
    ptb = lirpa.PerturbationLpNorm(norm=float("inf"), eps=DELTA)
    layers = []
    for k, layer in enumerate(net.layers):
        linear = torch.nn.Linear(layer.weights.shape[1], layer.weights.shape[0])
        linear.weight = lirpa.BoundedParameter(torch.tensor(layer.weights), ptb)
        linear.bias = lirpa.BoundedParameter(torch.tensor(layer.bias), ptb)
        layers.append(linear)
        if k < len(net.layers) - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    x = torch.tensor([[float(v) for v in x0(d)]])
    start = time.perf_counter()
    bounded = lirpa.BoundedModule(model, (x,), bound_opts={"sparse_intermediate_bounds": False}, device="cpu")
    out = {"build_seconds": round(time.perf_counter() - start, 4),
           "nominal_logit": float(model(x)[0, 0]), "smtnn_nominal_logit": float(net.logits(x.numpy()[0])[0])}
    for name, options in METHODS.items():
        start = time.perf_counter()
        try:
            lower, upper = bounded.compute_bounds(x=(x,), **options)
            out[name] = {"lower": float(lower[0, 0]), "upper": float(upper[0, 0]),
                         "seconds": round(time.perf_counter() - start, 4)}
        except Exception as error:   # report what auto_LiRPA says and go on with the other methods
            out[name] = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
    return out


def smtnn_first_bound(net, d: int) -> dict:
    """smtnn's first certified bound, without search: the outward-rounded linear bound of the reduced problem
    (:mod:`smtnn.local_reduction`) intersected with the linear bound of the original one, both ends."""
    pert = perturbations.uniform(net, str(DELTA))
    start = time.perf_counter()
    boxes = linear_bounds.parameter_box(net, pert)
    xlo, xhi = linear_bounds.input_box(x0(d))
    out = {}
    for sign, end in ((1, "upper"), (-1, "lower")):
        row = np.array([[float(sign)]])
        bound = linear_bounds.objective_bounds(net, boxes, xlo, xhi, row)[1][0]
        reduced = local_reduction.reduce(boxes, xlo, xhi, row[0])
        if reduced is not None:
            bound = min(bound, linear_bounds.objective_bounds(net, reduced.boxes, reduced.lower, reduced.upper,
                                                              np.array([[1.0]]))[1][0])
        out[end] = sign * float(bound)
    out["seconds"] = round(time.perf_counter() - start, 4)
    return out


def smtnn_bounds(net, d: int, seconds: float) -> dict:
    """smtnn's certified [min_p z, max_p z] with replayed witnesses (two float-first searches)."""
    pert = perturbations.uniform(net, str(DELTA))
    x = x0(d)
    start = time.perf_counter()
    out = {}
    for sign, end in ((1, "upper"), (-1, "lower")):
        start_at = float_first.starting_extreme(net, pert, x, [sign]) or extreme_at(net, pert, x, [sign])
        extreme, method = float_first.tighten_extreme(net, pert, x, [sign], start_at, Fraction(1, 10 ** 6), timeout=seconds)
        out[end] = sign * float(extreme.upper)
        out[end + "_witness"] = sign * float(extreme.witness_value.lo)
        out[end + "_method"] = method
    out["seconds"] = round(time.perf_counter() - start, 4)
    return out


def run(d: int, depth: int, width: int) -> dict:
    net = network(d, depth, width)
    row = {"d": d, "depth": depth, "width": width, "parameters": net.n_parameters}
    try:
        row["lirpa"] = lirpa_bounds(net, d)
    except Exception as error:
        row["lirpa"] = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
    row["smtnn_first"] = smtnn_first_bound(net, d)
    best = best_lirpa(row["lirpa"])
    # each end's search gets 4x auto_LiRPA's best seconds (at least 1 s, at most SMTNN_SECONDS)
    seconds = SMTNN_SECONDS if best is None else min(SMTNN_SECONDS, max(1.0, 4 * best[1]["seconds"]))
    row["smtnn"] = smtnn_bounds(net, d, seconds)
    row["smtnn"]["budget_per_end"] = round(seconds, 3)
    return row


def best_lirpa(lirpa: dict) -> tuple[str, dict] | None:
    """auto_LiRPA's narrowest bound (intersecting methods would be narrower still: that is what 'best' compares to)."""
    ok = [(name, lirpa[name]) for name in METHODS if isinstance(lirpa.get(name), dict) and "upper" in lirpa[name]]
    if not ok:
        return None
    return min(ok, key=lambda item: item[1]["upper"] - item[1]["lower"])


def table(rows: list[dict]) -> str:
    lines = ["# smtnn and auto_LiRPA on the same weight-perturbation queries", "",
             "Command: `python -m benchmarks.lirpa`. Random ReLU MLPs d → width^depth → 1 (`benchmarks/scaling.py`),",
             f"every weight and bias within δ = {DELTA:g}, the logit z at x0. Bounds [lower, upper] of z over the box;",
             "auto_LiRPA's are float64 without outward rounding, smtnn's are certified (outward-rounded, each end with",
             "a witness replayed in exact rationals: 'witness range' is [min, max] of the replayed values, so the",
             "true range contains it); 'first bound' is smtnn's certified bound before any search (linear bounds of the",
             "original and of the exactly reduced problem, intersected); each end's search had 4× the seconds of",
             "auto_LiRPA's best (narrowest) bound, at least 1 s and at most 10 s. auto_LiRPA's seconds: `compute_bounds` only (building the BoundedModule,",
             "listed apart, is extra). Timings on a shared 2-core machine (other jobs running: 2-3× pessimistic).", "",
             "| d | depth | width | parameters | witness range | smtnn search [lower, upper] (s) | smtnn first bound (s) | IBP (s) | CROWN-IBP (s) | CROWN (s) | α-CROWN (s) | build (s) | smtnn width / best auto_LiRPA width: search / first | smtnn s / best's s: search / first |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ratios, slowdowns, first_ratios, first_slowdowns, within = [], [], [], [], []
    for r in rows:
        s, lirpa, first = r["smtnn"], r["lirpa"], r["smtnn_first"]

        def cell(name):
            m = lirpa.get(name)
            if not isinstance(m, dict) or "upper" not in m:
                return "fails" if isinstance(m, dict) else "–"
            return f"[{m['lower']:.5g}, {m['upper']:.5g}] ({m['seconds']:.3f})"
        best = best_lirpa(lirpa)
        width = s["upper"] - s["lower"]
        if best:
            b_width = best[1]["upper"] - best[1]["lower"]
            ratio, slow = width / b_width, s["seconds"] / max(best[1]["seconds"], 1e-6)
            first_ratio = (first["upper"] - first["lower"]) / b_width
            first_slow = first["seconds"] / max(best[1]["seconds"], 1e-6)
            ratios.append(ratio)
            slowdowns.append(slow)
            first_ratios.append(first_ratio)
            first_slowdowns.append(first_slow)
            compare = f"{ratio:.3g} / {first_ratio:.3g} ({best[0]}) | {slow:.3g} / {first_slow:.3g}"
            # the narrowest smtnn bound available within 10x auto_LiRPA's best seconds
            within.append(ratio if slow <= 10 else (first_ratio if first_slow <= 10 else float("inf")))
        else:
            compare = "– | –"
        lines.append(f"| {r['d']} | {r['depth']} | {r['width']} | {r['parameters']} | "
                     f"[{s['lower_witness']:.6g}, {s['upper_witness']:.6g}] | [{s['lower']:.6g}, {s['upper']:.6g}] ({s['seconds']:.2f}) | "
                     f"[{first['lower']:.5g}, {first['upper']:.5g}] ({first['seconds']:.3f}) | "
                     f"{cell('IBP')} | {cell('CROWN-IBP')} | {cell('CROWN')} | {cell('alpha-CROWN')} | "
                     f"{lirpa.get('build_seconds', float('nan')):.2f} | {compare} |")
    errors = sorted({f"{name}: {m['error']}" for r in rows for name, m in r["lirpa"].items()
                     if isinstance(m, dict) and "error" in m} | {r["lirpa"]["error"] for r in rows if "error" in r["lirpa"]})
    lines.append("")
    if ratios:
        lines.append(f"smtnn's certified width over auto_LiRPA's best width: median {statistics.median(ratios):.3g}, "
                     f"max {max(ratios):.3g} (target ≤ 1); seconds ratio: median {statistics.median(slowdowns):.3g}, "
                     f"max {max(slowdowns):.3g} (target ≤ 10).  First bound alone: width ratio median "
                     f"{statistics.median(first_ratios):.3g}, max {max(first_ratios):.3g}; seconds ratio median "
                     f"{statistics.median(first_slowdowns):.3g}, max {max(first_slowdowns):.3g}.")
    if within:
        ok = sum(r <= 1 for r in within)
        lines.append("")
        lines.append(f"Target (never wider than auto_LiRPA's best bound, within 10× its seconds): smtnn's narrowest certified "
                     f"bound obtained within 10× those seconds (the search where it finished in time, else the first bound) "
                     f"is at most as wide on {ok} of {len(within)} queries (width ratio max {max(within):.3g}): "
                     f"{'pass' if ok == len(within) else 'miss'}.")
    if errors:
        lines += ["", "auto_LiRPA errors (first line):", ""] + [f"- {e}" for e in errors]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    rows = []
    for d, depth, width in QUERIES:
        row = run(d, depth, width)
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lirpa.json").write_text(json.dumps(rows, indent=1))
    text = table(rows)
    (args.out / "lirpa.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
