"""Figures 6-8 of the paper: local ε (Eq. 11) and local label flips (Eq. 8) on random inputs.

One PNG per network with four panels, for δ = 0.005 and 0.01:

* (a, b) the local ε of each random input x0 (the largest change of the confidence under a
  δ-perturbation, Eq. 11), as a colour, with the nominal decision boundary f = 0.5;
* (c, d) whether the label of x0 can flip under a δ-perturbation (Eq. 8, ``verify_local_label``):
  green = cannot flip (proved), red = flips (replayed witness), grey = unknown; with the σ bands
  f = 0.5 + σ_male and f = 0.5 - σ_female, σ being the upper ends of Table 1 (Eq. 13).

By Def. 5 no input outside the σ bands may flip; this is asserted for every point.
Used by ``python -m case_studies.reproduce``; needs matplotlib (Agg backend).
"""
from __future__ import annotations

import json
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from case_studies.models import NETWORK_FILES, domain, load_case_study
from smtnn import batch
from smtnn.result import Verdict

FIGURE_FILES = {"cats": "fig6_cats.png", "athletes_relu": "fig7_athletes_relu.png",
                "athletes_linear": "fig8_athletes_linear.png"}
FIGURE_NUMBER = {"cats": 6, "athletes_relu": 7, "athletes_linear": 8}
TITLES = {"cats": "Cat classifier (logistic regression, the paper's coefficients)",
          "athletes_relu": "Athletes classifier, 2-3-1 MLP with ReLU hidden units (retrained)",
          "athletes_linear": "Athletes classifier, 2-3-1 MLP with linear hidden units (retrained)"}
AXIS_LABELS = {"heart_weight_g": "heart weight H (g)", "body_weight_kg": "body weight W (kg)",
               "height_m": "height (m)", "weight_kg": "weight (kg)"}
COLOURS = {Verdict.HOLDS: "tab:green", Verdict.VIOLATED: "tab:red", Verdict.UNKNOWN: "tab:grey"}
DELTAS = ("0.005", "0.01")


def random_points(name: str, count: int, seed: int) -> np.ndarray:
    """`count` inputs drawn uniformly from the network's domain D (fixed seed)."""
    lower, upper = (np.array([float(v) for v in side]) for side in domain(name))
    return np.random.default_rng(seed).uniform(lower, upper, size=(count, len(lower)))


def sigma_bands(rows: list[dict], name: str) -> dict[str, tuple[Fraction, Fraction]]:
    """(σ_male, σ_female) upper ends per δ, from Table 1's rows."""
    out = {}
    for delta in DELTAS:
        pick = {r["quantity"]: r["upper"] for r in rows if r["network"] == name and r["delta"] == delta}
        out[delta] = (pick["sigma_male"], pick["sigma_female"])
    return out


def global_epsilon_upper(rows: list[dict], name: str) -> dict[str, Fraction]:
    return {r["delta"]: r["upper"] for r in rows if r["network"] == name and r["quantity"] == "epsilon"}


def queries(name: str, points: np.ndarray) -> list[dict]:
    """The batch of one figure: per δ, the local ε (Eq. 11) and then the label verdict (Eq. 8) of every point."""
    model = str(NETWORK_FILES[name])
    out = []
    for delta in DELTAS:
        for command, prop in (("estimate", "local-epsilon"), ("verify", "local-label")):
            out += [{"command": command, "property": prop, "model": model, "delta": delta, "x0": [float(v) for v in x]}
                    for x in points]
    return out


def analyse(name: str, points: np.ndarray, rows: list[dict], progress=None, workers: int | None = None) -> dict:
    """Local ε and label verdicts for every point and δ, with the Def. 5 and global-ε cross-checks.

    The queries run as one batch (:func:`smtnn.batch.run_batch`, all cores unless `workers` is given);
    `progress` names a progress bar or is a bar to advance.  The seconds are the queries' own, summed.
    """
    network = load_case_study(name)
    bands, eps_global = sigma_bands(rows, name), global_epsilon_upper(rows, name)
    f0 = network.predict_proba(points)
    with tempfile.TemporaryDirectory() as scratch:
        lines = batch.run_batch(queries(name, points), Path(scratch) / "queries.jsonl", workers=workers,
                                progress=progress if progress is not None else False)
    results = iter(line["result"] for line in lines)
    out = {}
    for delta in DELTAS:
        eps = [next(results) for _ in points]
        for e in eps:
            assert e["bounds"][0] <= float(eps_global[delta]), f"{name}: local ε {e['bounds'][0]} above the global upper end"
        labels = [next(results) for _ in points]
        verdicts = [Verdict(r["verdict"]) for r in labels]
        sigma_male, sigma_female = bands[delta]
        # Def. 5: a point whose label flips lies inside the σ band of its class
        for x, f, v in zip(points, f0, verdicts):
            if v is Verdict.VIOLATED:
                limit = float(sigma_male) if f >= 0.5 else float(sigma_female)
                assert abs(f - 0.5) <= limit + 1e-12, f"{name} δ={delta}: {x} flips at |f - 0.5| = {abs(f - 0.5)} > σ = {limit}"
        out[delta] = {
            "epsilon": np.array([e["bounds"][1] for e in eps]),
            "epsilon_gap_max": max(e["gap"] for e in eps),
            "verdicts": verdicts,
            "seconds_local_epsilon": sum(e["seconds"] for e in eps),
            "seconds_labels": sum(r["seconds"] for r in labels),
            "sigma": (float(sigma_male), float(sigma_female)),
        }
    return out


def draw(name: str, points: np.ndarray, analysis: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    network = load_case_study(name)
    lower, upper = ([float(v) for v in side] for side in domain(name))
    gx, gy = np.linspace(lower[0], upper[0], 400), np.linspace(lower[1], upper[1], 400)
    mx, my = np.meshgrid(gx, gy)
    f = network.predict_proba(np.column_stack([mx.ravel(), my.ravel()])).reshape(mx.shape)
    xlabel, ylabel = (AXIS_LABELS.get(n, n) for n in network.input_names)

    fig, axes = plt.subplots(2, 2, figsize=(13, 12), constrained_layout=True)
    boundary_handle = Line2D([], [], color="tab:blue", lw=2, label="decision boundary f = 0.5")
    for col, delta in enumerate(DELTAS):
        a = analysis[delta]
        # (a, b): local ε
        ax = axes[0, col]
        sc = ax.scatter(points[:, 0], points[:, 1], c=a["epsilon"], cmap="viridis", s=12, edgecolors="none")
        ax.contour(mx, my, f, levels=[0.5], colors="tab:blue", linewidths=2)
        fig.colorbar(sc, ax=ax, label="local ε (Eq. 11)")
        ax.set_title(f"({'ab'[col]}) (δ,ε)-parameter robustness, δ = {delta}: local ε")
        ax.legend(handles=[boundary_handle], loc="best", fontsize=9, framealpha=0.6)
        # (c, d): label flips and σ bands
        ax = axes[1, col]
        verdicts = a["verdicts"]
        handles = []
        for verdict, label in ((Verdict.HOLDS, "label cannot flip"), (Verdict.VIOLATED, "label can flip"),
                               (Verdict.UNKNOWN, "unknown")):
            mask = np.array([v is verdict for v in verdicts])
            if mask.any():
                ax.scatter(points[mask, 0], points[mask, 1], c=COLOURS[verdict], s=12, edgecolors="none")
                handles.append(Line2D([], [], ls="", marker="o", color=COLOURS[verdict], label=f"{label} ({int(mask.sum())})"))
        ax.contour(mx, my, f, levels=[0.5], colors="tab:blue", linewidths=2)
        handles.append(boundary_handle)
        s_male, s_female = a["sigma"]
        for level, text in ((0.5 + s_male, f"f = 0.5 + σ_male = {0.5 + s_male:.4f}"),
                            (0.5 - s_female, f"f = 0.5 - σ_female = {0.5 - s_female:.4f}")):
            if f.min() < level < f.max():
                ax.contour(mx, my, f, levels=[level], colors="darkred", linewidths=1.8, linestyles="dashed")
            else:
                text += " (not reached in D)"
            handles.append(Line2D([], [], color="darkred", ls="--", lw=1.8, label=text))
        ax.set_title(f"({'cd'[col]}) δσ-parameter robustness, δ = {delta}: label flips")
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=9)
    for ax in axes.ravel():
        ax.set_xlim(lower[0], upper[0])
        ax.set_ylim(lower[1], upper[1])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    fig.suptitle(f"Figure {FIGURE_NUMBER[name]} (reproduced): {TITLES[name]}, {len(points)} random inputs in D", fontsize=13)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_all(names, rows: list[dict], *, points: int = 1000, seed: int = 0, out: Path) -> dict:
    """Analyse and draw every network's figure; writes figures.json and returns its records."""
    out = Path(out)
    records = {}
    for name in names:
        start = time.perf_counter()
        pts = random_points(name, points, seed)
        analysis = analyse(name, pts, rows, f"Figure {FIGURE_NUMBER[name]} {name}")
        path = out / FIGURE_FILES[name]
        draw(name, pts, analysis, path)
        record = {"file": path.name, "points": len(pts), "seed": seed, "seconds": time.perf_counter() - start}
        for delta, a in analysis.items():
            counts = {v.value: sum(1 for w in a["verdicts"] if w is v) for v in Verdict}
            record[delta] = {
                "flippable": counts["violated"], "non_flippable": counts["holds"], "unknown": counts["unknown"],
                "local_epsilon": {"min": float(a["epsilon"].min()), "max": float(a["epsilon"].max()),
                                  "mean": float(a["epsilon"].mean()), "largest_gap": a["epsilon_gap_max"]},
                "sigma_bands": {"male": a["sigma"][0], "female": a["sigma"][1]},
                "seconds_local_epsilon": a["seconds_local_epsilon"], "seconds_labels": a["seconds_labels"],
            }
        records[name] = record
    (out / "figures.json").write_text(json.dumps(records, indent=1))
    return records


def summary_text(records: dict) -> str:
    lines = [f"{'figure':<26}{'δ':<7}{'flippable':>10}{'unknown':>9}{'local ε max':>13}{'s':>8}"]
    for name, r in records.items():
        for delta in DELTAS:
            d = r[delta]
            lines.append(f"{r['file']:<26}{delta:<7}{d['flippable']:>7}/{r['points']:<4}{d['unknown']:>7}"
                         f"{d['local_epsilon']['max']:>13.5f}{d['seconds_local_epsilon'] + d['seconds_labels']:>8.2f}")
        lines.append(f"{'':<26}{'total':<7}{'':>30}{r['seconds']:>8.2f}")
    return "\n".join(lines)
