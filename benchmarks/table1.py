"""Table 1: the 12 global estimates of case_studies/reproduce.py (3 networks × 2 δ × {ε (Eq. 12), σ (Eq. 13)}), timed.

Uses the case study's networks, domains, δ values and paper values; times only the smtnn calls
(``properties.global_epsilon``; ``properties.global_sigma``, whose one call gives σ for both classes,
male = class 1 and female = class 0), not the case study's dense sampling.  Targets: every gap
<= 1e-6, total < 1 s.
"""
from __future__ import annotations

from fractions import Fraction

from case_studies import reproduce
from case_studies.models import domain, load_case_study
from smtnn import perturbation as perturbations
from smtnn import properties
from smtnn.domain import Box

from .common import Settings, bar, median, repeat

TARGET_TOTAL_SECONDS = 1.0


def problems():
    """(network name, δ, network, perturbation, domain) for every Table 1 problem, in the table's order."""
    for name in reproduce.NETWORKS:
        network = load_case_study(name)
        box = Box(*domain(name))
        for delta in reproduce.DELTAS:
            yield name, delta, network, perturbations.uniform(network, delta), box


def _interval(label: str, est, paper: str) -> dict:
    return {"label": label, "lower": est.lower, "upper": est.upper, "gap": est.gap,
            "lower_exact": str(est.lower), "upper_exact": str(est.upper), "paper": paper,
            "vs_paper": reproduce.compare_with_paper(paper, est.lower, est.upper), "reason": est.reason}


def _row(name, delta, quantity, estimates, runs, tolerance) -> dict:
    """One Table 1 estimate: ε (one interval) or σ (male = class 1 and female = class 0, one call)."""
    gap = max(e["gap"] for e in estimates)
    return {
        "network": name, "paper_column": reproduce.PAPER_COLUMN[name], "delta": delta, "quantity": quantity,
        "values": estimates, "gap": gap, "gap_ok": gap <= tolerance, "seconds": median(runs), "runs": runs,
    }


def run(settings: Settings) -> dict:
    """Time every estimate `settings.repeats` times; rows keep exact Fractions (``lower``, ``upper``, ``gap``)."""
    rows, total = [], 0.0
    tol = settings.tolerance
    progress = bar(len(reproduce.NETWORKS) * len(reproduce.DELTAS) * 2, "table1")
    for name, delta, network, pert, box in problems():
        eps, eps_runs = repeat(lambda: properties.global_epsilon(network, pert, box, tolerance=tol), settings.repeats)
        progress.update()
        sig, sig_runs = repeat(lambda: properties.global_sigma(network, pert, box, tolerance=tol), settings.repeats)
        progress.update()
        total += median(eps_runs) + median(sig_runs)
        male, female = reproduce.PAPER_SIGMA[name][delta]
        rows.append(_row(name, delta, "epsilon", [_interval("ε", eps, reproduce.PAPER_EPSILON[name][delta])], eps_runs, tol))
        rows.append(_row(name, delta, "sigma", [_interval("male", sig[1], male), _interval("female", sig[0], female)], sig_runs, tol))
    progress.close()
    all_gaps = all(r["gap_ok"] for r in rows)
    return {
        "rows": rows,
        "total_seconds": total,
        "largest_gap": max(r["gap"] for r in rows),
        "targets": {"total_seconds": TARGET_TOTAL_SECONDS, "gap": float(tol)},
        "pass": all_gaps and total < TARGET_TOTAL_SECONDS,
        "all_gaps_within_tolerance": all_gaps,
    }


def bands(rows: list[dict]) -> list[dict]:
    """The rows case_studies.figures expects (network, δ, quantity epsilon / sigma_male / sigma_female, exact upper end)."""
    out = []
    for r in rows:
        for v in r["values"]:
            quantity = "epsilon" if r["quantity"] == "epsilon" else f"sigma_{v['label']}"
            out.append({"network": r["network"], "delta": r["delta"], "quantity": quantity, "upper": Fraction(v["upper_exact"])})
    return out


def untimed_rows(tolerance=None) -> list[dict]:
    """Table 1's upper ends without timing (for the figures section when Table 1 is not run)."""
    out = []
    for name, delta, network, pert, box in problems():
        eps = properties.global_epsilon(network, pert, box, tolerance=tolerance)
        sig = properties.global_sigma(network, pert, box, tolerance=tolerance)
        for quantity, est in (("epsilon", eps), ("sigma_male", sig[1]), ("sigma_female", sig[0])):
            out.append({"network": name, "delta": delta, "quantity": quantity, "upper": est.upper})
    return out
