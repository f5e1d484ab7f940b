"""Figures 6-8: the local queries behind each figure (local ε, Eq. 11, and local label, Def. 3, for 2 δ), timed.

The inputs are the case study's (``case_studies.figures.random_points``, seed 0).  Each loop of
queries runs in this process, one query after another (one core), timed with time.perf_counter,
so the number is the query cost itself, without the worker pool the case study's batch uses.
Answers are cross-checked like the case study does: no local ε above Table 1's global upper
end, no flippable input outside the σ bands (Def. 5).  Target: one figure's 1000 inputs, both
properties and both δ (4000 queries), in under 60 s.  The quick mode runs fewer inputs and
reports what ran, with no extrapolation.
"""
from __future__ import annotations

from case_studies import figures as case_figures
from case_studies import reproduce
from case_studies.models import load_case_study
from smtnn import perturbation as perturbations
from smtnn import properties

from .common import Settings, bar, median, repeat

TARGET_SECONDS = 60.0
TARGET_POINTS = 1000
SEED = 0


def _check(name: str, delta: str, points, network, estimates, verdicts, table_rows) -> None:
    """The case study's cross-checks: local ε <= global ε (Table 1), flips only inside the σ bands (Def. 5)."""
    eps_global = case_figures.global_epsilon_upper(table_rows, name)[delta]
    sigma_male, sigma_female = case_figures.sigma_bands(table_rows, name)[delta]
    assert all(e.lower <= eps_global for e in estimates), f"{name} δ={delta}: a local ε lies above the global upper end"
    for x, f, v in zip(points, network.predict_proba(points), verdicts):
        if v.value == "violated":
            limit = float(sigma_male) if f >= 0.5 else float(sigma_female)
            assert abs(f - 0.5) <= limit + 1e-12, f"{name} δ={delta}: {x} flips outside the σ band"


def run(settings: Settings, table_rows: list[dict]) -> dict:
    """Per network and δ: median seconds of the local-ε loop and of the label loop, verdict counts, largest gap."""
    n = settings.figure_points
    progress = bar(len(reproduce.NETWORKS) * len(case_figures.DELTAS) * 2 * settings.repeats, "figures")
    out = {}
    for name in reproduce.NETWORKS:
        network = load_case_study(name)
        points = case_figures.random_points(name, n, SEED)
        per_delta, runs_total = {}, None
        for delta in case_figures.DELTAS:
            pert = perturbations.uniform(network, delta)

            def epsilons():
                result = [properties.local_epsilon(network, pert, x) for x in points]
                progress.update()
                return result

            def labels():
                result = [properties.verify_local_label(network, pert, x).verdict for x in points]
                progress.update()
                return result

            estimates, eps_runs = repeat(epsilons, settings.repeats)
            verdicts, label_runs = repeat(labels, settings.repeats)
            _check(name, delta, points, network, estimates, verdicts, table_rows)
            eps_s, label_s = median(eps_runs), median(label_runs)
            values = [v.value for v in verdicts]
            per_delta[delta] = {
                "seconds_local_epsilon": eps_s, "seconds_labels": label_s, "runs_local_epsilon": eps_runs,
                "runs_labels": label_runs, "queries": 2 * n, "ms_per_query": 1000 * (eps_s + label_s) / (2 * n),
                "flippable": values.count("violated"), "non_flippable": values.count("holds"), "unknown": values.count("unknown"),
                "local_epsilon_largest_gap": max(e.gap for e in estimates),
                "local_epsilon_max": max(float(e.upper) for e in estimates),
            }
            run_sums = [a + b for a, b in zip(eps_runs, label_runs)]
            runs_total = run_sums if runs_total is None else [a + b for a, b in zip(runs_total, run_sums)]
        total = sum(d["seconds_local_epsilon"] + d["seconds_labels"] for d in per_delta.values())
        out[name] = {
            "figure": case_figures.FIGURE_NUMBER[name], "points": n, "seed": SEED,
            "queries": 2 * len(case_figures.DELTAS) * n, "seconds": total, "runs": runs_total, "per_delta": per_delta,
            "pass": (total < TARGET_SECONDS) if n >= TARGET_POINTS else None,
        }
    progress.close()
    full = n >= TARGET_POINTS
    return {"figures": out, "points": n, "targets": {"seconds_per_figure": TARGET_SECONDS, "points": TARGET_POINTS},
            "pass": all(f["pass"] for f in out.values()) if full else None,
            "note": "" if full else f"{n} inputs per figure (quick mode); the 60 s target is for {TARGET_POINTS} inputs and is not judged"}
