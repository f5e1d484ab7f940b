"""Scaling series: random ReLU MLPs (1 or 2 hidden layers, widths 2-64, 2-D or 8-D inputs, one sigmoid logit).

Per network, on smtnn's exact path:
- ``global_epsilon``: Eq. 12 over D = [-1, 1]^d, every parameter within δ = 0.01, tolerance 1e-6;
- ``global_epsilon_last``: the same with only the last layer perturbed (2 hidden layers only: with
  one hidden layer both perturbations already decouple, so the variant adds nothing);
- ``local_label``: Def. 3 at a fixed x0, same δ;
- ``lrsm``: exact min and max of log-RSM of the int8 twin (``smtnn.twins.generate.quantize``) against
  the network over the L∞ ball of radius 0.02 around x0.
Every run has a timeout; a run that hits it is reported as a timeout with the bounds it reached.
Target: global ε certified within 60 s for the widest single-hidden-layer network (aim: width 64).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from smtnn import perturbation as perturbations
from smtnn import properties
from smtnn.domain import Box
from smtnn.network import Network
from smtnn.twins import detail, generate, lrsm

from .common import Settings, bar, median, repeat

SEED = 0
DELTA = "0.01"
RADIUS = "0.02"
PROPERTIES = ("global_epsilon", "global_epsilon_last", "local_label", "lrsm")
LABELS = {"global_epsilon": "global ε (Eq. 12), all parameters", "global_epsilon_last": "global ε (Eq. 12), last layer only",
          "local_label": "local δ-robustness (Def. 3)", "lrsm": "exact LRSM vs int8 twin (r = 0.02)"}
TARGET_SECONDS = 60.0
TARGET_WIDTH = 64


def network(dim: int, layers: int, width: int, seed: int = SEED) -> Network:
    """A ReLU MLP dim -> width^layers -> 1 (sigmoid) with He-normal weights and N(0, 0.1) biases, seeded per shape."""
    rng = np.random.default_rng([seed, dim, layers, width])
    sizes = [dim] + [width] * layers + [1]
    weights = [rng.normal(0.0, np.sqrt(2.0 / sizes[k]), (sizes[k + 1], sizes[k])) for k in range(len(sizes) - 1)]
    biases = [rng.normal(0.0, 0.1, sizes[k + 1]) for k in range(len(sizes) - 1)]
    return Network.from_arrays(weights, biases, ["relu"] * layers + ["sigmoid"], name=f"mlp_d{dim}_l{layers}_w{width}")


def domain(dim: int) -> Box:
    return Box(("-1",) * dim, ("1",) * dim)


def x0(dim: int) -> list[Fraction]:
    """A fixed input inside D, away from its faces: (-0.6, -0.2, 0.2, 0.6, -0.6, ...)."""
    return [Fraction(2 * (k % 4) - 3, 5) for k in range(dim)]


def cases(settings: Settings) -> list[tuple[int, int, int]]:
    return [(d, layers, w) for d in settings.dims for layers in settings.layers for w in settings.widths]


def properties_for(layers: int) -> tuple[str, ...]:
    return PROPERTIES if layers >= 2 else tuple(p for p in PROPERTIES if p != "global_epsilon_last")


# -- one measurement per property: (callable, summary of its result) ------------------------------------
def _global_epsilon(net, dim, settings, last_only):
    pert = perturbations.subset(net, DELTA, layers=[-1]) if last_only else perturbations.uniform(net, DELTA)

    def call():
        return properties.global_epsilon(net, pert, domain(dim), tolerance=settings.tolerance, timeout=settings.timeout)

    def summary(est):
        timed_out = est.reason == "timeout"
        status = "converged" if est.converged else ("timeout" if timed_out else "gap")
        return {"status": status, "timed_out": timed_out, "lower": est.lower, "upper": est.upper, "gap": est.gap,
                "reason": est.reason, "method": est.provenance.method}
    return call, summary


def _local_label(net, dim, settings):
    pert = perturbations.uniform(net, DELTA)
    point = x0(dim)

    def call():
        return properties.verify_local_label(net, pert, point, timeout=settings.timeout)

    def summary(res):
        timed_out = res.verdict.value == "unknown" and "timeout" in res.reason
        return {"status": "timeout" if timed_out else res.verdict.value, "timed_out": timed_out, "verdict": res.verdict.value,
                "reason": res.reason, "method": res.provenance.method, "calls": res.provenance.calls}
    return call, summary


def _lrsm(net, dim, settings):
    twin = generate.quantize(net, "int", 8)
    point = x0(dim)

    def call():
        return lrsm(twin, net, point, RADIUS, engine="exact", compare=(), ends=("min", "max"), timeout=settings.timeout)

    def summary(rep):
        lo, hi = detail(rep, sense="min"), detail(rep, sense="max")
        exact = lo.gap == 0 and hi.gap == 0
        reasons = "; ".join(r for r in (lo.reason, hi.reason) if r)
        timed_out = not exact and "timeout" in reasons
        return {"status": "exact" if exact else ("timeout" if timed_out else "gap"), "timed_out": timed_out,
                "min": [lo.lower, lo.upper], "max": [hi.lower, hi.upper], "gap": max(lo.gap, hi.gap), "reason": reasons,
                "nodes": (lo.provenance.stats.get("nodes"), hi.provenance.stats.get("nodes"))}
    return call, summary


def measurement(prop: str, net: Network, dim: int, settings: Settings):
    if prop == "global_epsilon":
        return _global_epsilon(net, dim, settings, False)
    if prop == "global_epsilon_last":
        return _global_epsilon(net, dim, settings, True)
    if prop == "local_label":
        return _local_label(net, dim, settings)
    if prop == "lrsm":
        return _lrsm(net, dim, settings)
    raise KeyError(prop)


def run(settings: Settings) -> dict:
    """Every (dim, layers, width, property) of the series: median seconds (a timed-out run is not repeated) and its result."""
    todo = [(c, p) for c in cases(settings) for p in properties_for(c[1])]
    progress = bar(len(todo), "scaling")
    rows = []
    for (dim, layers, width), prop in todo:
        net = network(dim, layers, width)
        progress.set_postfix_str(f"d={dim} L={layers} w={width} {prop}")
        call, summary = measurement(prop, net, dim, settings)
        result, runs = repeat(call, settings.repeats, stop=lambda r: summary(r)["timed_out"])
        rows.append({"dim": dim, "layers": layers, "width": width, "parameters": net.n_parameters, "property": prop,
                     "seconds": median(runs), "runs": runs, **summary(result)})
        progress.update()
    progress.close()
    single = [r for r in rows if r["property"] == "global_epsilon" and r["layers"] == 1 and r["status"] == "converged"
              and r["seconds"] <= TARGET_SECONDS]
    widest = {d: max((r["width"] for r in single if r["dim"] == d), default=None) for d in settings.dims}
    reached = [w for w in widest.values() if w is not None]
    return {
        "rows": rows, "delta": DELTA, "radius": RADIUS, "seed": SEED, "timeout": settings.timeout,
        "tolerance": settings.tolerance, "widths": list(settings.widths),
        "widest_single_layer_global_epsilon": widest,
        "targets": {"seconds": TARGET_SECONDS, "width": TARGET_WIDTH},
        "pass": (bool(reached) and max(reached) >= TARGET_WIDTH) if TARGET_WIDTH in settings.widths else None,
        "note": ("The target is judged on the widest single-hidden-layer network whose global ε converged within "
                 f"{TARGET_SECONDS:g} s, over all input dimensions")
                + ("" if settings.timeout >= TARGET_SECONDS else f"; this run's timeout is {settings.timeout:g} s"),
    }
