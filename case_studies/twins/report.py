"""Aggregates, the markdown report and the digits figure of the twins case study."""
from __future__ import annotations

import json
import statistics
from fractions import Fraction
from pathlib import Path

import numpy as np

SCHEME_ORDER = ("int8", "int4", "pruned50", "pruned80", "distilled")


def aggregate(rows: list[dict]) -> list[dict]:
    """One summary per (twin, radius)."""
    out = []
    keys = sorted({(r["twin"], r["radius"]) for r in rows}, key=lambda k: (SCHEME_ORDER.index(k[0]), float(k[1])))
    for twin, radius in keys:
        group = [r for r in rows if r["twin"] == twin and r["radius"] == radius]
        lows = [r["exact_min"][0] for r in group]
        ups = [r["exact_min"][1] for r in group]
        worst = min(range(len(group)), key=lambda i: lows[i])
        secs = [r["seconds_exact"] for r in group]
        out.append({
            "twin": twin, "radius": radius, "inputs": len(group),
            "exact": sum(r["exact"] for r in group),
            "worst_lrsm": [min(lows), min(ups)], "worst_input": group[worst]["index"], "worst_cj": group[worst]["worst_cj"],
            "worst_rsm": [float(np.exp(min(lows))), float(np.exp(min(ups)))],
            "median_lrsm": statistics.median(lows),
            "share_degraded": sum(u < 0 for u in ups) / len(group),
            "decisions": {v: sum(r["decisions"] == v for r in group) for v in ("holds", "violated", "unknown")},
            "seconds_exact_mean": statistics.mean(secs), "seconds_exact_median": statistics.median(secs),
            "seconds_exact_max": max(secs),
            "seconds_decisions_mean": statistics.mean(r["decisions_seconds"] for r in group),
            "seconds_relaxation_mean": statistics.mean(r["seconds_relaxation"] for r in group),
            "relaxation_median_lower": statistics.median(r["relaxation_worst_lower"] for r in group),
            "relaxation_median_gap": statistics.median(r["exact_min"][0] - r["relaxation_worst_lower"] for r in group),
            "timeouts": sum(not r["exact"] for r in group),
        })
    return out


def ranking(summary: list[dict]) -> dict[str, list[str]]:
    """Per radius, the schemes from most to least degraded (median of the worst-class minimum)."""
    out = {}
    for radius in sorted({s["radius"] for s in summary}, key=float):
        rows = [s for s in summary if s["radius"] == radius]
        out[radius] = [s["twin"] for s in sorted(rows, key=lambda s: s["median_lrsm"])]
    return out


def digits_figure(rows: list[dict], summary: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    radii = sorted({r["radius"] for r in rows}, key=float)
    schemes = [s for s in SCHEME_ORDER if any(r["twin"] == s for r in rows)]
    colours = dict(zip(SCHEME_ORDER, ("tab:blue", "tab:cyan", "tab:orange", "tab:red", "tab:green")))
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    ax = axes[0]
    for s in schemes:
        med = [next(x["median_lrsm"] for x in summary if x["twin"] == s and x["radius"] == r) for r in radii]
        worst = [next(x["worst_lrsm"][0] for x in summary if x["twin"] == s and x["radius"] == r) for r in radii]
        ax.plot([float(r) for r in radii], med, "-o", color=colours[s], label=f"{s} (median)")
        ax.plot([float(r) for r in radii], worst, ":v", color=colours[s], label=f"{s} (worst input)")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("radius r of the L∞ ball")
    ax.set_ylabel("exact min of log-RSM over B(x, r), worst cj")
    ax.set_title("Margin degradation: min over the ball of log(SM_twin / SM_reference)")
    ax.legend(fontsize=7, ncol=2)
    ax = axes[1]
    mid = radii[len(radii) // 2]
    data = [[r["exact_min"][0] for r in rows if r["twin"] == s and r["radius"] == mid] for s in schemes]
    parts = ax.boxplot(data, tick_labels=schemes, patch_artist=True)
    for patch, s in zip(parts["boxes"], schemes):
        patch.set_facecolor(colours[s])
        patch.set_alpha(0.5)
    ax.set_yscale("symlog", linthresh=0.1)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_title(f"r = {mid}: exact worst-class min log-RSM per input")
    ax.set_ylabel("min log-RSM (lower end of the certified interval)")
    ax = axes[2]
    width = 0.8 / len(radii)
    for k, r in enumerate(radii):
        for i, s in enumerate(schemes):
            d = next(x["decisions"] for x in summary if x["twin"] == s and x["radius"] == r)
            n = sum(d.values())
            x = i + (k - (len(radii) - 1) / 2) * width
            ax.bar(x, d["holds"] / n, width, color=colours[s], alpha=0.35 + 0.65 * (k + 1) / len(radii),
                   edgecolor="black", linewidth=0.5)
            ax.bar(x, d["unknown"] / n, width, bottom=d["holds"] / n, color="lightgrey", edgecolor="black", linewidth=0.5)
            ax.text(x, 1.01, r, ha="center", fontsize=6, rotation=90)
    ax.set_xticks(range(len(schemes)), schemes)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("share of inputs: decisions preserved on the whole ball (proved)")
    ax.set_title("Decision preservation (bars per radius; grey: unknown)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_json(path: Path, payload: dict) -> Path:
    """twins.json: the top level indented, one compact line per digits row; points rounded to 1e-10."""
    def tidy(row: dict) -> dict:
        return {k: ([round(v, 10) for v in val] if k in ("witness", "counterexample") and val else val) for k, val in row.items()}
    head = {k: v for k, v in payload.items() if k != "rows"}
    text = json.dumps(head, indent=1)[:-2]
    rows = ",\n  ".join(json.dumps(tidy(r), separators=(",", ":")) for r in payload["rows"])
    path.write_text(text + ',\n "rows": [\n  ' + rows + "\n ]\n}\n")
    return path


def _box(b: dict) -> str:
    lo, hi = [float(Fraction(v)) for v in b["lower"]], [float(Fraction(v)) for v in b["upper"]]
    return f"h {lo[0]:.3f}-{hi[0]:.3f} m, w {lo[1]:.1f}-{hi[1]:.1f} kg"


def _f(v: float, digits: int = 4) -> str:
    return f"{v:.{digits}g}"


def markdown(setup: dict, models: dict, rows: list[dict], summary: list[dict], athletes: dict | None, files: dict) -> str:
    lines = ["# Relative safety margins of compressed twins (digits MLP, athletes MLP)", "",
             "Generated by `python -m case_studies.twins.run`; the same numbers, with exact rationals and every",
             f"input's witness and counterexample, are in `{files['json']}`.", "",
             "## What is measured", "",
             "For a twin N1 of a reference N2, an input x, classes ci (N2's class at x) and cj:",
             "log-RSM(x') = (z1_ci(x') - z1_cj(x')) - (z2_ci(x') - z2_cj(x')), the log of the relative safety margin",
             "RSM = SM_N1 / SM_N2 with SM = exp(z_ci - z_cj).  We report its **exact minimum over the ball**",
             "B(x, r) ∩ [0, 1]^64 (pixels stay in [0, 1]) for the **worst cj** (the smallest minimum), as a",
             "certified interval: the upper end is the exact value of a replayed input x' in the ball, the lower",
             "end is proven (branch and bound over ReLU phases with LP dual certificates; every leaf is an LP solved",
             "exactly in rationals).  `exact` = both ends equal.  Negative = somewhere in the ball the twin decides",
             "ci over cj with a smaller margin than the reference (RSM < 1).  **Decisions preserved** = proved that",
             "N1 and N2 pick the same class at every x' of the ball (else a replayed counterexample x').",
             "The **relaxation** is the interval + triangle-LP bound alone (HiGHS, certified dual bound): valid but looser.", "",
             "## Setup", ""]
    for k, v in setup.items():
        lines.append(f"- {k}: {v}")
    lines += ["", "| network | hidden | parameters | test accuracy | agrees with reference | how |", "|---|---|---|---|---|---|"]
    for name, m in models.items():
        lines.append(f"| {name} | {m['hidden']} | {m['parameters']} | {m['test_accuracy']:.4f} | {m['agreement_with_reference']:.4f} | {m['how']} |")
    lines += ["", "## Headline: worst LRSM per scheme and radius", "",
              "worst LRSM = the smallest exact min log-RSM over the inputs (certified interval, its RSM = exp);",
              "median over inputs; decisions: proved preserved / violated (replayed counterexample) / unknown;",
              "seconds: wall time per input of the exact worst-class search (mean / max), of decision preservation",
              "(mean) and of the relaxation alone (mean); relaxation: median of its worst-class lower bound and of",
              "its gap to the exact minimum.", "",
              "| twin | r | worst LRSM [lo, hi] | RSM of worst | median LRSM | exact | decisions h/v/u | s exact mean/max | s decisions | relaxation median bound (gap) | s relaxation |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        d = s["decisions"]
        lines.append(
            f"| {s['twin']} | {s['radius']} | [{_f(s['worst_lrsm'][0])}, {_f(s['worst_lrsm'][1])}] | {_f(s['worst_rsm'][0], 3)} | "
            f"{_f(s['median_lrsm'])} | {s['exact']}/{s['inputs']} | {d['holds']}/{d['violated']}/{d['unknown']} | "
            f"{s['seconds_exact_mean']:.2f} / {s['seconds_exact_max']:.1f} | {s['seconds_decisions_mean']:.2f} | "
            f"{_f(s['relaxation_median_lower'])} ({_f(s['relaxation_median_gap'], 3)}) | {s['seconds_relaxation_mean']:.2f} |")
    rank = ranking(summary)
    lines += ["", "Most to least degraded (median worst-class min log-RSM): " +
              "; ".join(f"r = {r}: {' > '.join(v)}" for r, v in rank.items()) + ".", ""]
    unknown = [r for r in rows if not r["exact"] or r["decisions"] == "unknown"]
    if unknown:
        lines += ["Inputs where the timeout struck (reported as intervals / unknown, not as results):", ""]
        for r in unknown:
            what = [] if r["exact"] else [f"LRSM interval [{_f(r['exact_min'][0])}, {_f(r['exact_min'][1])}] ({r['reason']})"]
            if r["decisions"] == "unknown":
                what.append("decisions unknown")
            lines.append(f"- {r['twin']}, r = {r['radius']}, test input {r['index']}: " + "; ".join(what))
        lines.append("")
    else:
        lines += ["No query hit the timeout: every interval is exact and every decision verdict is proved or refuted.", ""]
    lines += [f"![digits twins]({files['digits_png']})", ""]
    if athletes:
        lines += athletes_markdown(athletes, files)
    lines += ["## Caveats", "",
              "- Exact means exact in real arithmetic on the stored float64 parameters (the quantized twins store",
              "  the nearest double to each quantized value); float inference rounding is not modelled.",
              "- Classes cj whose certified relaxation bound is already above the worst minimum are not solved",
              "  exactly (they cannot be the worst); the JSON marks them.",
              "- Post-training pruning without fine-tuning: the 80 % twin loses much accuracy, hence its margins.", ""]
    return "\n".join(lines)


def athletes_markdown(data: dict, files: dict) -> list[str]:
    lines = ["## Athletes: athletes_relu (2-3-1) against its int8 and int4 twins on its 2-D domain", "",
             "Domain: height 1.21-2.18 m, weight 31-170 kg.  Over the whole domain, log-RSM for ci = 1 (male)",
             "is z_twin - z_reference (for ci = 0 it is the negation).  Per sub-box of an 8 x 8 grid: the exact min of",
             "log-RSM with ci = the reference's class at the centre, by the branch and bound and by Z3's optimizer",
             "(they must agree exactly), and decision preservation on the sub-box.", "",
             "| twin | min log-RSM (male) over D | at (h, w) | max log-RSM (male) over D | decisions on D | counterexample (twin/ref class) | sub-boxes: exact, z3 agrees, decisions violated | s |",
             "|---|---|---|---|---|---|---|---|"]
    for name, res in data.items():
        w = res["whole_domain"]
        cells = res["cells"]
        ce, cls = w["counterexample"], w["counterexample_classes"]
        counter = "-" if ce is None else f"({ce[0]:.3f}, {ce[1]:.1f}): {cls['twin']}/{cls['reference']}"
        seconds = w["seconds"] + sum(c["seconds_exact"] + c["seconds_decisions"] for c in cells)
        lines.append(
            f"| {name} | {_f(w['min_log_rsm_male'][0])} | ({w['min_witness'][0]:.3f}, {w['min_witness'][1]:.1f}) | "
            f"{_f(w['max_log_rsm_male'][1])} | {w['decisions']} | {counter} | "
            f"{sum(c['exact'] for c in cells)}/{len(cells)}, {sum(c['z3_agrees'] for c in cells)}/{len(cells)}, "
            f"{sum(c['decisions'] == 'violated' for c in cells)}/{len(cells)} | {seconds:.2f} |")
    lines += ["", "Where the margin shrinks: the sub-boxes with the most negative exact minimum (see the figure):", ""]
    for name, res in data.items():
        worst = sorted(res["cells"], key=lambda c: c["min_exact"][0])[:3]
        lines.append(f"- {name}: " + "; ".join(
            f"{_box(c['box'])}: {_f(c['min_exact'][0])}"
            for c in worst))
    lines += ["", f"![athletes twins]({files['athletes_png']})", ""]
    return lines
