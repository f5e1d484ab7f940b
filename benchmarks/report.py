"""The benchmark report: targets (pass/miss), one markdown table per section, and the scaling plot."""
from __future__ import annotations

import io
import math
from pathlib import Path

from .common import jsonable, write_atomic

SECTIONS = ("table1", "figures", "twins", "scaling", "dreal", "startup")
QUANTITY = {"epsilon": "ε (Eq. 12)", "sigma": "σ (Eq. 13)"}
SPEEDUP_TARGET = 50.0


def _s(seconds) -> str:
    """Seconds with about three significant digits."""
    if seconds is None:
        return "–"
    if seconds >= 100:
        return f"{seconds:.0f}"
    if seconds >= 10:
        return f"{seconds:.1f}"
    if seconds >= 0.1:
        return f"{seconds:.2f}"
    return f"{seconds:.3f}"


def _e(value) -> str:
    return "–" if value is None else f"{float(value):.1e}"


def _f(value, digits=7) -> str:
    return "–" if value is None else f"{float(value):.{digits}f}"


def verdict(ok) -> str:
    """pass / miss / not judged (None: the run cannot decide the target)."""
    return "not judged" if ok is None else ("**pass**" if ok else "**miss**")



# -- dReal lookups --------------------------------------------------------------------------------------
def _dreal(sections: dict) -> dict:
    return sections.get("dreal") or {}


def _dreal_row(sections, group, method, **keys):
    for r in _dreal(sections).get("rows", []):
        if r["group"] == group and r["method"] == method and all(r.get(k) == v for k, v in keys.items()):
            return r
    return None


def _dreal_missing(sections) -> str:
    d = _dreal(sections)
    if not d:
        return "not run"
    if not d.get("installed"):
        return "not installed"
    return "–"


def _dreal_estimate(sections, method, network, delta, quantity):
    """A Table 1 estimate on dReal: ε is one run; σ is the male and the female run together (seconds added)."""
    names = ("epsilon",) if quantity == "epsilon" else ("sigma_male", "sigma_female")
    parts = [_dreal_row(sections, "table1", method, network=network, delta=delta, quantity=q) for q in names]
    if any(p is None for p in parts):
        return None
    statuses = {p["status"] for p in parts}
    status = "error" if "error" in statuses else ("timeout" if "timeout" in statuses else "done")
    gaps = [p.get("gap") for p in parts]
    return {"status": status, "seconds": sum(p["seconds"] for p in parts), "timed_out": status == "timeout",
            "gap": None if any(g is None for g in gaps) else max(gaps), "parts": parts,
            "no_flip": all(p.get("no_flip") for p in parts)}


def _dreal_cell(row, sections, with_gap=True) -> tuple[str, str]:
    """(seconds text, gap or replayed-value text) of a dReal run or estimate; a timeout shows the timeout."""
    if row is None:
        missing = _dreal_missing(sections)
        return missing, missing
    if row["status"] == "timeout":
        seconds = f"≥ {_s(row['seconds'])} (timeout)"
    elif row["status"] == "error":
        seconds = "error"
    else:
        seconds = _s(row["seconds"])
    if with_gap:
        return seconds, "no flip" if row.get("no_flip") else _e(row.get("gap"))
    values = []
    for part in row.get("parts", [row]):
        if part.get("no_flip"):
            values.append("no flip")
        else:
            values.append(_f(part["lower"]) if part.get("lower") is not None and part["status"] == "done" else "–")
    return seconds, " / ".join(values)


def speedups(sections: dict) -> dict | None:
    """smtnn vs dReal bisection on the 12 Table 1 estimates: per row and in total (a dReal timeout counts as the timeout)."""
    t1, d = sections.get("table1"), _dreal(sections)
    if not t1 or not d.get("installed"):
        return None
    per_row, dreal_total, bounded = [], 0.0, False
    for r in t1["rows"]:
        b = _dreal_estimate(sections, "bisection", r["network"], r["delta"], r["quantity"])
        if b is None or b["status"] == "error":
            return None
        ratio = b["seconds"] / r["seconds"] if r["seconds"] else math.inf
        per_row.append({"network": r["network"], "delta": r["delta"], "quantity": r["quantity"], "ratio": ratio,
                        "at_least": b["timed_out"], "dreal_seconds": b["seconds"], "smtnn_seconds": r["seconds"]})
        dreal_total += b["seconds"]
        bounded |= b["timed_out"]
    total = dreal_total / t1["total_seconds"]
    return {"rows": per_row, "dreal_total_seconds": dreal_total, "smtnn_total_seconds": t1["total_seconds"], "total": total,
            "total_at_least": bounded, "rows_meeting_target": sum(r["ratio"] >= SPEEDUP_TARGET for r in per_row),
            "minimum": min(r["ratio"] for r in per_row), "target": SPEEDUP_TARGET,
            # a ratio with a dReal timeout is a lower bound: below the target it decides nothing
            "pass": True if total >= SPEEDUP_TARGET else (None if bounded else False),
            "pass_every_row": True if all(r["ratio"] >= SPEEDUP_TARGET for r in per_row) else
            (False if any(r["ratio"] < SPEEDUP_TARGET and not r["at_least"] for r in per_row) else None)}


def _ratio(value, at_least) -> str:
    return ("≥ " if at_least else "") + (f"{value:.0f}×" if value >= 10 else f"{value:.2f}×")


# -- targets -------------------------------------------------------------------------------------------
def targets(sections: dict) -> list[tuple[str, str, bool | None]]:
    out = []
    t1 = sections.get("table1")
    if t1:
        out.append((f"all 12 Table 1 estimates certified to a gap of 1e-6 in under {t1['targets']['total_seconds']:g} s in total",
                    f"{_s(t1['total_seconds'])} s in total; largest gap {_e(t1['largest_gap'])}", t1["pass"]))
    fig = sections.get("figures")
    if fig:
        worst = max(fig["figures"].values(), key=lambda f: f["seconds"])
        measured = f"slowest: Figure {worst['figure']}, {_s(worst['seconds'])} s for {worst['queries']} queries ({fig['points']} inputs)"
        out.append(("one figure's 1000 inputs × 2 properties × 2 δ in under 60 s", measured, fig["pass"]))
    sp = speedups(sections)
    if sp:
        out.append(("at least 50× faster than dReal bisection on the Table 1 queries, in total (same tolerance; a timeout counts as the timeout)",
                    f"{_ratio(sp['total'], sp['total_at_least'])} ({_s(sp['dreal_total_seconds'])} s vs {_s(sp['smtnn_total_seconds'])} s)"
                    + (f"; ≥: dReal timed out at {_s(_dreal(sections)['timeout'])} s" if sp["total_at_least"] else ""),
                    sp["pass"]))
        out.append(("… and on every one of the 12 queries",
                    f"{sp['rows_meeting_target']} of {len(sp['rows'])} queries ≥ 50×; smallest {_ratio(sp['minimum'], False)}",
                    sp["pass_every_row"]))
    elif t1:
        out.append(("at least 50× faster than dReal bisection on the Table 1 queries", f"dReal {_dreal_missing(sections)}", None))
    sc = sections.get("scaling")
    if sc:
        widest = ", ".join(f"{d}-D: {w if w is not None else 'none'}" for d, w in sc["widest_single_layer_global_epsilon"].items())
        ok = sc["pass"] if 64 in sc["widths"] else None
        out.append(("global ε certified within 60 s for the widest single-hidden-layer ReLU MLP (aim: width 64)",
                    f"widest converged: {widest} (widths run: {', '.join(map(str, sc['widths']))})", ok))
    tw = sections.get("twins")
    if tw:
        out.append(("exact LRSM for the digits twins (64-64) at r = 0.02 within 10 s per input",
                    f"{tw['inputs']} inputs: median {_s(tw['median_seconds'])} s, max {_s(tw['max_seconds'])} s"
                    + ("" if tw["all_exact"] else "; some not exact"), tw["pass"]))
    st = sections.get("startup")
    if st:
        rows = {r["command"]: r for r in st["rows"]}
        h, floor = rows["smtnn --help"], rows["python -c pass"]
        out.append((f"`smtnn --help` under {st['target_seconds']:g} s (whole process), importing no solver or numeric library",
                    f"{_s(h['wall_seconds'])} s wall, {_s(h['cpu_seconds'])} s CPU (bare interpreter {_s(floor['wall_seconds'])} s, "
                    f"{_s(floor['cpu_seconds'])} s); heavy imports: {', '.join(st['heavy_imports_of_help']) or 'none'}", st["pass"]))
    return out


# -- markdown -------------------------------------------------------------------------------------------
def _meta_line(section: dict) -> str:
    m = section.get("meta", {})
    return (f"*{m.get('mode', '?')} mode, {m.get('repeats', '?')} repeat(s), ran {m.get('finished', '?')} "
            f"in {_s(m.get('seconds'))} s wall.*")


def _values(row) -> str:
    return "; ".join(("" if v["label"] == "ε" else v["label"] + " ") + f"[{_f(v['lower'])}, {_f(v['upper'])}]" for v in row["values"])


def _table1(sections) -> list[str]:
    t1 = sections["table1"]
    sp = speedups(sections)
    ratios = {(r["network"], r["delta"], r["quantity"]): r for r in sp["rows"]} if sp else {}
    lines = ["## Table 1: global ε (Eq. 12) and σ (Eq. 13)", "", _meta_line(t1), "",
             "The 12 estimates of `case_studies/reproduce.py`: smtnn's certified intervals (σ for male = class 1 and female =",
             "class 0, from one `global_sigma` call), the largest gap, seconds (median). dReal: bisection to the same tolerance",
             "(certified gap: upper end from unsat answers, lower end from replayed δ-sat boxes) and Minimize (the replayed value",
             "of its box; no certified upper end); a σ estimate on dReal is two runs, one per class, whose seconds are added.",
             "Speed-up = dReal bisection seconds / smtnn seconds (≥: dReal timed out, counted as the timeout).", "",
             "| network | δ | estimate | smtnn [lower, upper] | gap | s | dReal bisection s | dReal gap | speed-up | dReal Minimize s | Minimize value |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in t1["rows"]:
        b_s, b_gap = _dreal_cell(_dreal_estimate(sections, "bisection", r["network"], r["delta"], r["quantity"]), sections)
        m_s, m_val = _dreal_cell(_dreal_estimate(sections, "minimize", r["network"], r["delta"], r["quantity"]), sections,
                                 with_gap=False)
        ratio = ratios.get((r["network"], r["delta"], r["quantity"]))
        lines.append(f"| {r['paper_column']} | {r['delta']} | {QUANTITY[r['quantity']]} | {_values(r)} | "
                     f"{_e(r['gap'])}{'' if r['gap_ok'] else ' ✘'} | {_s(r['seconds'])} | "
                     f"{b_s} | {b_gap} | {_ratio(ratio['ratio'], ratio['at_least']) if ratio else '–'} | {m_s} | {m_val} |")
    lines += ["", f"Total smtnn seconds (medians): **{_s(t1['total_seconds'])} s**; largest gap {_e(t1['largest_gap'])}."]
    if sp:
        lines.append(f"Total dReal bisection seconds: {_s(sp['dreal_total_seconds'])} s "
                     f"({_ratio(sp['total'], sp['total_at_least'])} smtnn's total).")
    d = _dreal(sections)
    if d.get("installed"):
        lines.append(f"dReal {d['version']}, δ = {d['precision']:g}, timeout {d['timeout']:g} s per run (the whole bisection, or one "
                     "Minimize), each run in a forked child; a run that times out is not repeated.")
    return lines


def _figures(sections) -> list[str]:
    fig = sections["figures"]
    lines = ["## Figures 6-8: local queries", "", _meta_line(fig), "",
             "Per figure and δ: local ε (Eq. 11) and local label (Def. 3) for each of the case study's random inputs, run in this",
             "process one after another (one core); seconds of each loop (median); the figure's total covers both properties and",
             "both δ.", "",
             "| figure | inputs | δ | local ε s | label s | ms / query | flippable | unknown | largest local-ε gap | figure total s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, f in fig["figures"].items():
        for k, (delta, d) in enumerate(f["per_delta"].items()):
            lines.append(f"| {f['figure']} ({name}) | {f['points']} | {delta} | {_s(d['seconds_local_epsilon'])} | {_s(d['seconds_labels'])} | "
                         f"{d['ms_per_query']:.2f} | {d['flippable']} | {d['unknown']} | {_e(d['local_epsilon_largest_gap'])} | "
                         f"{_s(f['seconds']) if k == 0 else ''} |")
    if fig.get("note"):
        lines += ["", fig["note"] + "."]
    return lines


def _twins(sections) -> list[str]:
    tw = sections["twins"]
    lines = ["## Twins: exact LRSM, digits 64-64 reference vs its int8 twin", "", _meta_line(tw), "",
             f"Exact worst-class minimum of log-RSM over the L∞ ball of radius {tw['radius']} (clipped to [0, 1]) around each of",
             f"the first {tw['inputs']} test inputs (N1 = `{tw['twin']}`, N2 = `{tw['reference']}`, ci = the reference's class,",
             f"every cj); timeout {tw['timeout']:g} s per query; seconds include building the LP relaxation.", "",
             "| input | label | ci | worst cj | min log-RSM [lower, upper] | exact | B&B nodes | s |", "|---|---|---|---|---|---|---|---|"]
    for r in tw["rows"]:
        lo, hi = r["min_log_rsm"]
        lines.append(f"| {r['index']} | {r['label']} | {r['ci']} | {r['worst_cj']} | [{float(lo):.6g}, {float(hi):.6g}] | "
                     f"{'yes' if r['exact'] else 'no: ' + r['reason']} | {r['nodes']} | {_s(r['seconds'])} |")
    lines += ["", f"Median {_s(tw['median_seconds'])} s, max {_s(tw['max_seconds'])} s per input."]
    return lines


def _status(row) -> str:
    if row is None:
        return "–", "–"
    s = ("timeout " if row["timed_out"] else "") + _s(row["seconds"])
    if row["property"].startswith("global_epsilon"):
        return s, _e(row["gap"]) + ("" if row["status"] == "converged" else f" ({row['status']})")
    if row["property"] == "local_label":
        return s, row["verdict"]
    lo = row["min"]
    return s, f"{float(lo[0]):.3g}" + ("" if row["status"] == "exact" else f" ({row['status']}, gap {_e(row['gap'])})")


def _scaling(sections) -> list[str]:
    sc = sections["scaling"]
    rows = sc["rows"]
    index = {(r["dim"], r["layers"], r["width"], r["property"]): r for r in rows}
    shapes = sorted({(r["dim"], r["layers"], r["width"]) for r in rows})
    lines = ["## Scaling: random ReLU MLPs", "", _meta_line(sc), "",
             f"Networks d → width^layers → 1 (sigmoid), He-normal weights, seed {sc['seed']} per shape; D = [-1, 1]^d; δ = {sc['delta']}",
             f"on every parameter (\"last\": last layer only); tolerance {_e(sc['tolerance'])}; timeout {sc['timeout']:g} s per run",
             "(a timed-out run is not repeated; its gap is the bound reached). Local label at a fixed x0; LRSM: exact min and",
             f"max of log-RSM of the int8 twin vs the network over the L∞ ball of radius {sc['radius']} around x0 (min shown).",
             "dReal: bisection on global ε (all parameters) where run. Seconds are medians. See `scaling.png`.", "",
             "| d | layers | width | params | global ε s | gap | global ε (last) s | gap | local label s | verdict | LRSM s | min log-RSM | dReal bisection ε s | dReal gap | dReal Minimize ε s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for d, layers, width in shapes:
        cells = []
        for prop in ("global_epsilon", "global_epsilon_last", "local_label", "lrsm"):
            cells += list(_status(index.get((d, layers, width, prop))))
        params = next(r["parameters"] for r in rows if (r["dim"], r["layers"], r["width"]) == (d, layers, width))
        b = _dreal_row(sections, "scaling", "bisection", dim=d, layers=layers, width=width)
        m = _dreal_row(sections, "scaling", "minimize", dim=d, layers=layers, width=width)
        if b is None and m is None and _dreal(sections).get("installed"):
            dreal_cells = ["–", "–", "–"]
        else:
            b_s, b_gap = _dreal_cell(b, sections)
            m_s, _ = _dreal_cell(m, sections, with_gap=False)
            dreal_cells = [b_s, b_gap, m_s]
        lines.append(f"| {d} | {layers} | {width} | {params} | " + " | ".join(cells + dreal_cells) + " |")
    lines += ["", sc["note"] + "."]
    return lines


def _startup(sections: dict) -> list[str]:
    st = sections["startup"]
    lines = ["## Start-up", "", _meta_line(st), "", "| command (whole process) | runs | median wall s | median CPU s |", "|---|---|---|---|"]
    lines += [f"| `{r['command']}` | {r['runs']} | {_s(r['wall_seconds'])} | {_s(r['cpu_seconds'])} |" for r in st["rows"]]
    return lines + ["", f"Heavy modules imported by `smtnn --help`: {', '.join(st['heavy_imports_of_help']) or 'none'}."]


def markdown(payload: dict) -> str:
    sections = payload["sections"]
    m = payload["machine"]
    v = m["versions"]
    lines = ["# smtnn benchmarks", "",
             f"Written by `{payload['command']}` (from the repository root) on {payload['written']}; do not edit by hand.",
             "Machine-readable: `benchmarks.json`; plot: `scaling.png`; what each section measures: `benchmarks/README.md`.", "",
             "## Machine", "",
             "| CPU | cores (usable) | RAM | OS | Python | z3 | pysmt | dReal | numpy | highspy | load at start | commit |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|",
             f"| {m['cpu']} | {m['cores']} ({m['usable_cores']}) | {m['ram_gib']} GiB | {m['os']} | {m['python']} | {v['z3']} | {v['pysmt']} | "
             f"{v['dreal']} | {v['numpy']} | {v['highspy']} | {m['load_average_at_start']} | {m['commit']} |", ""]
    earlier = [k for k, s in sections.items() if s.get("meta", {}).get("run_id") != payload.get("run_id")]
    if earlier:
        lines += [f"Sections kept from an earlier run (see their own date and mode): {', '.join(earlier)}.", ""]
    lines += ["## Targets", "", "| target | measured | |", "|---|---|---|"]
    lines += [f"| {t} | {measured} | {verdict(ok)} |" for t, measured, ok in targets(sections)]
    renderers = {"table1": _table1, "figures": _figures, "twins": _twins, "scaling": _scaling, "startup": _startup}
    for name in SECTIONS:
        if name in sections and name in renderers:
            lines += [""] + renderers[name](sections)
    d = _dreal(sections)
    if d and not d.get("installed"):
        lines += ["", f"dReal baselines: {d['version']}."]
    elif d and not sections.get("table1") and not sections.get("scaling"):
        lines += ["", "dReal baselines ran, but neither Table 1 nor the scaling series is in these results; see `benchmarks.json`."]
    return "\n".join(lines) + "\n"


# -- the plot -------------------------------------------------------------------------------------------
def plot(payload: dict, path: Path) -> bool:
    """scaling.png: seconds against width per property (log y), one line per (layers, input dim); False if not drawn."""
    sc = payload["sections"].get("scaling")
    if not sc:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .scaling import LABELS, PROPERTIES

    rows = jsonable(sc["rows"])
    series = sorted({(r["layers"], r["dim"]) for r in rows})
    colours = {s: c for s, c in zip(series, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"))}
    fig, axes = plt.subplots(2, 2, figsize=(12, 9), sharey=True, constrained_layout=True)
    for ax, prop in zip(axes.ravel(), PROPERTIES):
        for layers, dim in series:
            pts = sorted((r["width"], r["seconds"], r["status"]) for r in rows
                         if r["property"] == prop and r["layers"] == layers and r["dim"] == dim)
            if not pts:
                continue
            colour = colours[(layers, dim)]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", color=colour,
                    label=f"{layers} hidden layer{'s' if layers > 1 else ''}, {dim}-D input")
            for status, marker, face in (("timeout", "x", colour), ("gap", "s", "none")):
                chosen = [p for p in pts if p[2] == status]
                ax.plot([p[0] for p in chosen], [p[1] for p in chosen], marker, color=colour, mfc=face, markersize=8, mew=2)
            done = [p for p in pts if p[2] not in ("timeout", "gap")]
            ax.plot([p[0] for p in done], [p[1] for p in done], "o", color=colour)
        if prop == "global_epsilon":
            dreal_rows = [r for r in jsonable(_dreal(payload["sections"]).get("rows", []))
                          if r["group"] == "scaling" and r["method"] == "bisection"]
            for layers, dim in sorted({(r["layers"], r["dim"]) for r in dreal_rows}):
                pts = sorted((r["width"], r["seconds"]) for r in dreal_rows if r["layers"] == layers and r["dim"] == dim)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "^--", color=colours.get((layers, dim), "grey"), alpha=0.6,
                        label=f"dReal bisection, {layers} hidden layer{'s' if layers > 1 else ''}, {dim}-D")
        ax.axhline(sc["timeout"], color="black", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sc["widths"], [str(w) for w in sc["widths"]])
        ax.set_xlabel("hidden width")
        ax.set_title(LABELS[prop], fontsize=11)
        ax.grid(True, which="both", alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("seconds (median)")
    handles, labels = [], []
    for ax in axes.ravel():
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    from matplotlib.lines import Line2D
    handles += [Line2D([], [], ls="", marker="o", color="black", label="converged / decided"),
                Line2D([], [], ls="", marker="s", mfc="none", mew=2, color="black", label="stopped with a gap"),
                Line2D([], [], ls="", marker="x", mew=2, color="black", label="timeout (bounds reached in the JSON)"),
                Line2D([], [], ls=":", color="black", label=f"timeout = {sc['timeout']:g} s")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=9)
    fig.suptitle(f"smtnn scaling: random ReLU MLPs, seconds against hidden width ({sc.get('meta', {}).get('mode', '')} mode)",
                 fontsize=12)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
    return True
