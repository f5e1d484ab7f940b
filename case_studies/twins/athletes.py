"""The athletes ReLU MLP (2-3-1, sigmoid output) against its int8 and int4 twins on its 2-D domain.

log-RSM of the twin N1 w.r.t. the reference N2 for the class ci that N2 gives and cj = 1 - ci is
s * (z1 - z2) with s = +1 for ci = 1 (male) and -1 for ci = 0 (female): negative where the twin
decides the reference's class with a smaller margin.  Computed (a) on a dense grid in float64
(the heat map) and (b) exactly, as the minimum over each cell of an 8 x 8 grid of sub-boxes of
the domain (ci = N2's class at the cell centre), by the branch and bound and, as a cross-check,
by Z3's optimizer, with decision preservation per cell.
"""
from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from case_studies.models import domain, load_case_study
from smtnn.domain import Box
from smtnn.result import Verdict
from smtnn.twins import Analysis, Twins, decisions, generate
from smtnn.twins.pair import exact_class

MODEL_DIR = Path(__file__).parent / "models"
SCHEMES = {"int8": ("int", 8), "int4": ("int", 4)}
CELLS = 8
GRID = 241


def networks() -> tuple:
    """(reference, {scheme: twin}); the twins are saved as .h5 next to the digits models."""
    from smtnn.loaders import load_network

    ref = load_case_study("athletes_relu")
    twins = {}
    for name, (scheme, bits) in SCHEMES.items():
        path = MODEL_DIR / f"athletes_relu_{name}.h5"
        generate.save(generate.quantize(ref, scheme, bits, name=f"athletes_relu_{name}"), path)
        twins[name] = load_network(path)
    return ref, twins


def _frac_box() -> Box:
    lo, hi = domain("athletes_relu")
    return Box(tuple(lo), tuple(hi))


def heat(ref, twin) -> dict:
    """log-RSM for N2's class at every grid point (float64), and both decision boundaries."""
    box = _frac_box()
    hs = np.linspace(float(box.lower[0]), float(box.upper[0]), GRID)
    ws = np.linspace(float(box.lower[1]), float(box.upper[1]), GRID)
    hh, ww = np.meshgrid(hs, ws)
    pts = np.column_stack([hh.ravel(), ww.ravel()])
    z1, z2 = twin.logits(pts)[:, 0], ref.logits(pts)[:, 0]
    sign = np.where(z2 >= 0, 1.0, -1.0)
    return {"h": hs, "w": ws, "log_rsm": (sign * (z1 - z2)).reshape(hh.shape),
            "z_ref": z2.reshape(hh.shape), "z_twin": z1.reshape(hh.shape)}


def cells(ref, twin, timeout: float) -> list[dict]:
    """Exact min of log-RSM (ci = N2's class at the centre) and decision preservation per sub-box."""
    box = _frac_box()
    edges = [[box.lower[d] + (box.upper[d] - box.lower[d]) * Fraction(i, CELLS) for i in range(CELLS + 1)] for d in range(2)]
    pair = Twins(twin, ref)
    out = []
    for i in range(CELLS):
        for j in range(CELLS):
            cell = Box((edges[0][i], edges[1][j]), (edges[0][i + 1], edges[1][j + 1]))
            centre = tuple((a + b) / 2 for a, b in zip(cell.lower, cell.upper))
            ci = exact_class(ref, centre)
            analysis = Analysis((twin, ref), cell)
            start = time.perf_counter()
            exact = analysis.extreme([pair.margin_coeffs(ci, 1 - ci)], "min", "exact", timeout=timeout)
            t_exact = time.perf_counter() - start
            z3 = analysis.extreme([pair.margin_coeffs(ci, 1 - ci)], "min", "z3", timeout=timeout)
            relax = analysis.extreme([pair.margin_coeffs(ci, 1 - ci)], "min", "relaxation")
            dec = decisions(twin, ref, box=cell, timeout=timeout, analysis=analysis)
            out.append({"i": i, "j": j, "box": cell.as_json(), "ci": ci,
                        "min_exact": [float(exact.lower), float(exact.upper)], "exact": exact.gap == 0,
                        "min_exact_rational": str(exact.lower) if exact.gap == 0 else None,
                        "min_z3": [float(z3.lower), float(z3.upper)], "z3_agrees": z3.gap == 0 and z3.lower == exact.lower,
                        "min_relaxation": float(relax.lower), "witness": [float(v) for v in exact.witness.input],
                        "decisions": dec.verdict.value,
                        "counterexample": None if dec.witness is None else [float(v) for v in dec.witness.input],
                        "seconds_exact": t_exact, "seconds_z3": z3.provenance.seconds, "seconds_decisions": dec.provenance.seconds})
    return out


def whole_domain(ref, twin, timeout: float) -> dict:
    """Exact min and max of z_twin - z_ref (= log-RSM for ci = 1) over the domain, and decisions."""
    box = _frac_box()
    pair = Twins(twin, ref)
    analysis = Analysis((twin, ref), box)
    lo = analysis.extreme([pair.margin_coeffs(1, 0)], "min", "exact", timeout=timeout)
    hi = analysis.extreme([pair.margin_coeffs(1, 0)], "max", "exact", timeout=timeout)
    dec = decisions(twin, ref, box=box, timeout=timeout, analysis=analysis)
    return {"min_log_rsm_male": [float(lo.lower), float(lo.upper)], "min_witness": [float(v) for v in lo.witness.input],
            "max_log_rsm_male": [float(hi.lower), float(hi.upper)], "max_witness": [float(v) for v in hi.witness.input],
            "exact": lo.gap == 0 and hi.gap == 0, "decisions": dec.verdict.value,
            "counterexample": None if dec.witness is None else [float(v) for v in dec.witness.input],
            "counterexample_classes": None if dec.witness is None else {"twin": dec.witness.classes[0], "reference": dec.witness.classes[1]},
            "seconds": lo.provenance.seconds + hi.provenance.seconds + dec.provenance.seconds}


def run(timeout: float = 30.0) -> dict:
    ref, twins = networks()
    results = {}
    for name, twin in twins.items():
        results[name] = {"whole_domain": whole_domain(ref, twin, timeout), "cells": cells(ref, twin, timeout),
                         "heat": heat(ref, twin)}
    return {"reference": ref, "twins": twins, "results": results}


def figure(data: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    names = list(data["results"])
    fig, axes = plt.subplots(len(names), 2, figsize=(12, 5 * len(names)), squeeze=False)
    box = _frac_box()
    extent = [float(box.lower[0]), float(box.upper[0]), float(box.lower[1]), float(box.upper[1])]
    for row, name in enumerate(names):
        res = data["results"][name]
        hmap = res["heat"]
        vals = hmap["log_rsm"]
        lim = max(abs(vals.min()), abs(vals.max()), 1e-6)
        ax = axes[row][0]
        im = ax.imshow(vals, origin="lower", extent=extent, aspect="auto", cmap="RdBu", norm=TwoSlopeNorm(0, -lim, lim))
        ax.contour(hmap["h"], hmap["w"], hmap["z_ref"], levels=[0], colors="black", linewidths=1.5)
        ax.contour(hmap["h"], hmap["w"], hmap["z_twin"], levels=[0], colors="orange", linewidths=1.5, linestyles="--")
        ax.set_title(f"{name} twin vs athletes_relu: log-RSM on a grid (float64)\n"
                     "black: reference boundary; orange dashed: twin's; red: twin's margin smaller", fontsize=10)
        ax.set_xlabel("height (m)")
        ax.set_ylabel("weight (kg)")
        fig.colorbar(im, ax=ax, label="log-RSM = (z1_ci - z1_cj) - (z2_ci - z2_cj)")
        ax = axes[row][1]
        grid = np.zeros((CELLS, CELLS))
        for c in res["cells"]:
            grid[c["j"], c["i"]] = c["min_exact"][0]
        lim2 = max(abs(grid.min()), abs(grid.max()), 1e-6)
        im2 = ax.imshow(grid, origin="lower", extent=extent, aspect="auto", cmap="RdBu", norm=TwoSlopeNorm(0, -lim2, lim2))
        dh, dw = (extent[1] - extent[0]) / CELLS, (extent[3] - extent[2]) / CELLS
        for c in res["cells"]:
            x, y = extent[0] + (c["i"] + 0.5) * dh, extent[2] + (c["j"] + 0.5) * dw
            ax.text(x, y, f"{c['min_exact'][0]:.2f}" + ("" if c["exact"] else "?"), ha="center", va="center", fontsize=7)
            if c["decisions"] != Verdict.HOLDS.value:
                ax.plot(x, y + 0.3 * dw, marker="x" if c["decisions"] == "violated" else "o", color="black", markersize=6)
        ax.contour(hmap["h"], hmap["w"], hmap["z_ref"], levels=[0], colors="black", linewidths=1)
        ax.set_title(f"{name}: exact min of log-RSM per sub-box (ci: reference class at its centre)\n"
                     "x: a replayed input of the sub-box where the decisions differ", fontsize=10)
        ax.set_xlabel("height (m)")
        ax.set_ylabel("weight (kg)")
        fig.colorbar(im2, ax=ax, label="exact min log-RSM over the sub-box")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
