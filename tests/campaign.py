"""The standing soundness campaign: random small networks, every property, the twins; an independent oracle.

    python -m tests.campaign --minutes 30                   # every property and the twins, z3; failures -> fuzz-failures/
    python -m tests.campaign --minutes 10 --workers 2 --out fuzz-failures --seed 1234
    python -m tests.campaign --minutes 5 --properties global_sigma,verify_global_label --solvers z3,dreal
    python -m tests.campaign --replay fuzz-failures/global_sigma-seed42     # re-run one saved case

Each case draws a network (relu/linear/sigmoid/tanh hidden units; a sigmoid output or three logits read
by argmax or argmin), a perturbation (uniform, relative, per layer, a subset of layers, fixed/float16/int
quantization), a domain and an input (sometimes exactly on a tie), runs smtnn, and checks the answer
three ways:

1. the sampling checkers of tests/test_fuzz_soundness.py (dense float64 sampling, exact confirmation);
2. the independent oracle of tests/oracle.py (float64 sign-gradient ascent over parameters and inputs,
   every candidate rechecked in exact rationals / mpmath intervals by its own code): no "holds"
   contradicted, no upper end below a confirmed value, the witness recomputed independently;
3. every witness replayed from the result's JSON by smtnn.replay.

Twin cases (twins_lrsm, twins_decisions, twins_epsilon) draw a relu network and an int8/int4/pruned/jittered
twin: the LRSM and max |z1 - z2| bounds of every engine must enclose sampled values (rechecked exactly),
witnesses replay, and a "holds" of decision preservation is never contradicted by an ascended disagreement.

Budgets: about one case in five runs with a 0.05 s timeout (it stops early: its bounds so far must hold
all the same, and it must come back within BUDGET_SLACK), and about one core case in ten runs with
``memory=`` (the call then runs in a capped child and its answer comes back through the pipe).  The
summary counts which engine decided each core case (float interval or linear bounds, float branch and
bound, parameter attack, solver, exact corner analysis, ...).

Each case runs in a worker process with a watchdog (--case-limit seconds, default 120): a case that
outlives it is recorded as a hang and the worker is replaced.  Every failing case (a contradicted answer,
a witness that does not replay, an estimate exceeded by a confirmed value, a crash, a hang) is written to
<out>/<property>-seed<N>/ as network.npz + query.json.  The same case is regenerated from its seed with
--replay-seed N --properties P.  Counts are printed every --report seconds and at the end (also saved to
<out>/summary.json).  Exit code 1 when anything failed.
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import random
import sys
import time
import traceback
from fractions import Fraction
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import oracle  # noqa: E402  (the independent oracle)
import test_fuzz_soundness as fz  # noqa: E402  (the shared generators and sampling checkers)
from smtnn import Network  # noqa: E402
from smtnn.exact import logit_bracket  # noqa: E402
from smtnn.loaders import load_network, save_npz  # noqa: E402
from smtnn.replay import replay as replay_json  # noqa: E402
from smtnn.errors import SmtnnError  # noqa: E402
from smtnn.result import Estimate, Verdict, VerificationResult, to_json  # noqa: E402

Q = Fraction
TWIN_PROPERTIES = ("twins_lrsm", "twins_decisions", "twins_epsilon")
SHORT_TIMEOUT = 0.05   # seconds: the budget of the cases drawn to stop early (their bounds so far must still hold)
BUDGET_SLACK = 5.0     # seconds a call may take past its timeout before the campaign calls it over budget
CHILD_MEMORY = 2000    # MB: the cases drawn to run through the capped child (smtnn.budget)
PROPERTIES = fz.PROPERTIES + TWIN_PROPERTIES
LOCAL = ("local_epsilon", "verify_local_epsilon", "verify_local_label")


# =====================================================================================
# oracle checks of the paper's properties
# =====================================================================================
def _space(case: "fz.Case", pert) -> oracle.Space:
    if case.query["property"] in LOCAL:
        x = [Q(v) for v in case.query["x0"]]
        lo, hi = x, x
    else:
        dom = case.domain()
        lo, hi = list(dom.lower), list(dom.upper)
    return oracle.Space(list(pert.lower), list(pert.upper), lo, hi, case.network.parameter_vector())


def _level_logit(net: Network) -> float:
    return float(logit_bracket(net.threshold).lo) if net.binary else 0.0


def _classes(net: Network) -> range:
    return range(2 if net.binary else net.n_outputs)


def _merge(net: Network, pert, witness, report) -> list[Q] | None:
    index = {str(n): i for i, n in enumerate(net.parameter_names())}
    params = list(pert.nominal)
    for name, value in witness.parameters.items():
        i = index.get(name)
        if i is None or not pert.lower[i] <= value <= pert.upper[i]:
            report.fail(f"oracle: witness parameter {name} = {value} is not in the box")
            return None
        params[i] = value
    return params


def oracle_check(case: "fz.Case", result, report: "fz.Report", seed: int) -> int:
    """The independent oracle's checks of one answer; returns the number of exact rechecks made."""
    net, prop = case.network, case.query["property"]
    pert = case.perturbation()
    rule, fnet, layers = oracle.Rule.of(net), oracle.FloatNet(net), oracle.layers_of(net)
    space = _space(case, pert)
    rng = np.random.default_rng(seed)
    t = _level_logit(net)
    local = prop in LOCAL
    nominal = list(pert.nominal)
    exact = lambda x, p: oracle.exact_logits(layers, x, p)  # noqa: E731
    rechecks = 0

    def witness_point(w):
        params = _merge(net, pert, w, report)
        x = [Q(v) for v in case.query["x0"]] if local else (list(w.input) if w.input is not None else None)
        if x is None and params is not None:
            report.fail("oracle: a global witness without an input")
            return None, None
        if x is not None and not local and not all(a <= v <= b for v, a, b in zip(x, space.xlo, space.xhi)):
            report.fail("oracle: the witness input is outside D")
            return None, None
        return x, params

    if prop in ("verify_local_label", "verify_global_label", "verify_global_sigma"):
        sigma = Q(case.query["sigma"]) if prop == "verify_global_sigma" else None
        if result.verdict is Verdict.VIOLATED:
            x, params = witness_point(result.witness)
            if params is not None:
                z0, zp = exact(x, nominal), exact(x, params)
                c = rule.label(z0)
                if c is None or rule.label(zp) is None:   # a logit within the oracle's 2^-2000 floor of the level
                    report.marginal.append("oracle: its enclosure of the witness's logits cannot tell the labels apart")
                elif not rule.flips(c, zp):
                    report.fail("oracle: the VIOLATED witness does not flip the label (independent exact recheck)")
                elif sigma is not None and not rule.sigma(c, z0)[0] >= sigma:
                    report.fail("oracle: the VIOLATED witness is closer than σ to the level")
        elif result.verdict is Verdict.HOLDS:
            for c in _classes(net):
                objective = oracle.flip_objective(rule, c, t, global_=not local, sigma=None if sigma is None else float(sigma))
                for x, p in oracle.ascend(fnet, space, objective, rng):
                    rechecks += 1
                    z0 = exact(x, nominal)
                    c0 = rule.label(z0)
                    if c0 is None or (sigma is not None and not rule.sigma(c0, z0)[0] >= sigma):
                        continue
                    if rule.flips(c0, exact(x, p)):
                        report.fail(f"oracle: HOLDS contradicted: x = {[str(v) for v in x]}, an ascended parameter vector "
                                    f"flips label {c0} (exact)")
                        return rechecks
    elif prop in ("local_epsilon", "global_epsilon", "verify_local_epsilon"):
        threshold = Q(case.query["epsilon"]) if prop == "verify_local_epsilon" else None
        upper = result.upper if isinstance(result, Estimate) else None
        w = result.witness
        if w is not None:
            x, params = witness_point(w)
            if params is not None:
                got = rule.change(exact(x, nominal), exact(x, params))
                floor = result.lower if isinstance(result, Estimate) else threshold
                if got[1] < floor or (threshold is not None and got[1] <= threshold):
                    report.fail(f"oracle: the witness changes f by [{float(got[0])}, {float(got[1])}], short of {float(floor)}")
                elif threshold is not None and not got[0] > threshold:
                    # the oracle's own enclosure straddles ε (e.g. both confidences below its 2^-2000 floor): it cannot tell
                    report.marginal.append(f"oracle: its enclosure [{got[0]}, {got[1]}] of the witness's change straddles ε")
        if threshold is not None and result.verdict is not Verdict.HOLDS:
            return rechecks
        limit = upper if upper is not None else threshold
        for c in (range(1) if net.binary else _classes(net)):
            for sign in (1.0, -1.0):
                for x, p in oracle.ascend(fnet, space, oracle.change_objective(rule, c, sign), rng, starts=6):
                    rechecks += 1
                    got = rule.change(exact(x, nominal), exact(x, p))
                    if got[0] > limit + fz.SLACK:
                        report.fail(f"oracle: x = {[str(v) for v in x]} and an ascended parameter vector change f by "
                                    f"{float(got[0])!r} > {'upper' if upper is not None else 'ε'} {float(limit)!r}")
                        return rechecks
    elif prop == "global_sigma":
        for c, est in result.items():
            if est.witness is not None:
                x, params = witness_point(est.witness)
                if params is not None:
                    z0, zp = exact(x, nominal), exact(x, params)
                    if rule.label(z0) is None or rule.label(zp) is None:   # within the oracle's 2^-2000 floor
                        report.marginal.append(f"oracle: its enclosure of σ[{c}]'s witness cannot tell the labels apart")
                    elif rule.label(z0) != c or not rule.flips(c, zp):
                        report.fail(f"oracle: σ[{c}]'s witness does not flip label {c}")
                    elif rule.sigma(c, z0)[1] < est.lower:
                        report.fail(f"oracle: σ[{c}]'s witness reaches only {float(rule.sigma(c, z0)[1])}")
        for c in _classes(net):
            for weight in (0.0, 0.3, 3.0):
                for x, p in oracle.ascend(fnet, space, oracle.sigma_objective(rule, c, t, weight), rng, starts=5):
                    rechecks += 1
                    z0 = exact(x, nominal)
                    c0 = rule.label(z0)
                    if c0 is None or not rule.flips(c0, exact(x, p)):
                        continue
                    value = rule.sigma(c0, z0)
                    if value[0] > result[c0].upper + fz.SLACK:
                        report.fail(f"oracle: label {c0} flips at x = {[str(v) for v in x]} with σ {float(value[0])!r} "
                                    f"> upper {float(result[c0].upper)!r}")
                        return rechecks
    return rechecks


def json_replay_check(case: "fz.Case", result, report: "fz.Report") -> int:
    """Every witness replays from the result's JSON (smtnn.replay); returns how many were replayed."""
    data = json.loads(to_json(result))
    has = data.get("witness") if "kind" in data else any(r.get("witness") for r in data.values())
    if not has:
        return 0
    got = replay_json(data, case.network)
    for failure in got.failures:
        report.fail(f"JSON replay: {failure}")
    return got.replayed


# =====================================================================================
# twins
# =====================================================================================
def draw_twins(seed: int):
    """A relu reference network and a twin (int8, int4, pruned or jittered), a ball, the decision rule."""
    from smtnn.twins import generate

    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    n_in = pick.randint(1, 3)
    hidden = [pick.randint(1, 4) for _ in range(pick.randint(0, 2))]
    binary = pick.random() < 0.4
    sizes = [n_in, *hidden, 1 if binary else pick.randint(2, 3)]
    weights, biases = [], []
    for a, b in zip(sizes[:-1], sizes[1:]):
        scale = pick.choice((1e-3, 0.5, 1.0, 3.0))
        w = rng.normal(size=(b, a)) * scale
        w[rng.random(size=w.shape) < pick.choice((0.0, 0.3))] = 0.0
        weights.append(w)
        biases.append(rng.normal(size=b) * pick.choice((0.0, 1e-3, 0.5, 1.0)))
    decision = "argmax" if binary else pick.choice(("argmax", "argmin"))
    acts = ["relu"] * len(hidden) + ["sigmoid" if binary else "softmax"]
    reference = Network.from_arrays(weights, biases, acts, name="reference", decision=decision)
    maker = pick.choice(("int8", "int4", "prune", "jitter"))
    if maker == "int8":
        twin = generate.quantize(reference, "int", 8)
    elif maker == "int4":
        twin = generate.quantize(reference, "int", 4)
    elif maker == "prune":
        twin = generate.prune(reference, 0.5)
    else:
        v = reference.parameter_vector()
        twin = reference.with_parameters(v + 0.05 * rng.normal(size=v.size))
    centre = [round(float(c), 3) for c in rng.uniform(-1, 1, size=n_in)]
    radius = pick.choice(("0.01", "0.1", "0.5"))
    return twin, reference, centre, radius, maker


def _float_margin(net: Network, z: np.ndarray, ci: int, cj: int) -> np.ndarray:
    return z[..., 0] * (ci - cj) if net.binary else z[..., ci] - z[..., cj]


def _exact_margin(net: Network, x, ci: int, cj: int) -> Q:
    z = [v[0] for v in oracle.exact_logits(oracle.layers_of(net), list(x), net.exact_parameters())]
    return z[0] * (ci - cj) if net.binary else z[ci] - z[cj]


def _inside(box, x_float) -> list[Q]:
    """A float sample as exact rationals clamped into the box (the box's ends need not be floats)."""
    return [min(max(Q(float(v)), lo), hi) for v, lo, hi in zip(x_float, box.lower, box.upper)]


def _budget_of(seed: int, timeout: float, twins: bool = False) -> tuple[float, int | None, str]:
    """The case's timeout, memory cap and budget kind: mostly the campaign's, sometimes short or capped."""
    r = random.Random(seed ^ 0xB0D6E7).random()
    if r < 0.2:
        return SHORT_TIMEOUT, None, "short"
    if r < 0.3 and not twins:
        return timeout, CHILD_MEMORY, "child"
    return timeout, None, "normal"


def _engine(result) -> str:
    """The family of engine that decided a core answer, from its provenance."""
    results = list(result.values()) if isinstance(result, dict) else [result]
    methods = " ".join(r.provenance.method for r in results if getattr(r, "provenance", None) is not None)
    for key, name in (("stopped", "stopped"), ("branch and bound over ReLU", "float branch and bound"),
                      ("linear bound", "float linear bounds"), ("float interval", "float interval bounds"),
                      ("attack", "parameter attack"), ("corner analysis", "exact corner analysis"),
                      ("polygon pieces", "polygon pieces and edges"),
                      ("branch and bound over D", "branch and bound over D"), ("bisection", "solver bisection"),
                      ("encoding", "solver"), ("optimization", "solver"), ("unsupported", "unsupported"),
                      ("interval bound", "exact interval bounds"), ("margins", "exact pair margins")):
        if key in methods:
            return name
    return "other"


def _check_epsilon_twins(n1, n2, box, xs, z1, z2, timeout, report: "fz.Report") -> str:
    """max |z1 - z2|_inf: the bounds enclose the exact value at the most extreme samples; the witness replays."""
    from smtnn.twins import epsilon_equivalence

    tick = time.perf_counter()
    result = epsilon_equivalence(n1, n2, box=box, engine="exact", timeout=timeout)
    _over_budget(report, timeout, time.perf_counter() - tick)
    if not isinstance(result, Estimate):   # stopped before any bound was reported
        return "epsilon stopped"
    est = result
    if n1.n_outputs != n2.n_outputs:
        return "epsilon skipped"
    gaps = np.abs(z1 - z2).max(axis=1)
    for i in np.argsort(gaps)[-5:]:
        x = _inside(box, xs[i])
        v = max(abs(a[0] - b[0]) for a, b in zip(oracle.exact_logits(oracle.layers_of(n1), x, n1.exact_parameters()),
                                                   oracle.exact_logits(oracle.layers_of(n2), x, n2.exact_parameters())))
        if v > est.upper:
            report.fail(f"twins: max |z1 - z2| = {float(v)!r} at a sample exceeds the certified upper end {float(est.upper)!r}")
    if est.witness is not None:
        w = list(est.witness.input)
        v = max(abs(a[0] - b[0]) for a, b in zip(oracle.exact_logits(oracle.layers_of(n1), w, n1.exact_parameters()),
                                                   oracle.exact_logits(oracle.layers_of(n2), w, n2.exact_parameters())))
        if not box.contains(w) or v < est.lower:
            report.fail(f"twins: the max |z1 - z2| witness does not replay to at least its lower end ({float(v)!r})")
    return "epsilon " + ("exact" if est.converged else "gap")


def check_twins(prop: str, seed: int, timeout: float) -> tuple[str, "fz.Report", dict]:
    from smtnn.twins import ball, decisions, lrsm

    n1, n2, centre, radius, maker = draw_twins(seed)
    timeout, _, kind = _budget_of(seed, timeout, twins=True)
    info = {"centre": centre, "radius": radius, "twin": maker, "decision": n1.decision, "budget": kind}
    report = fz.Report()
    box = ball(centre, radius)
    lo = np.array([float(v) for v in box.lower])
    hi = np.array([float(v) for v in box.upper])
    rng = np.random.default_rng(seed)
    xs = np.vstack([rng.uniform(lo, hi, size=(2000, lo.size)), rng.integers(0, 2, size=(200, lo.size)) * (hi - lo) + lo])
    z1, z2 = np.atleast_2d(n1.logits(xs)), np.atleast_2d(n2.logits(xs))
    if prop == "twins_epsilon":
        return _check_epsilon_twins(n1, n2, box, xs, z1, z2, timeout, report), report, info
    if prop == "twins_lrsm":
        from smtnn.twins import attained, by_pair

        tick = time.perf_counter()
        result = lrsm(n1, n2, centre, radius, engine="exact", compare=("relaxation",), timeout=timeout)
        _over_budget(report, timeout, time.perf_counter() - tick)
        ci = result.query["ci"]
        for cj, pair in by_pair(result).items():
            values = _float_margin(n1, z1, ci, cj) - _float_margin(n2, z2, ci, cj)
            order = np.argsort(values)
            for sense, table, picks in (("min", pair["min"], order[:5]), ("max", pair["max"], order[-5:])):
                for engine, est in table.items():
                    for i in picks:   # exact value at the most extreme samples
                        x = _inside(box, xs[i])
                        v = _exact_margin(n1, x, ci, cj) - _exact_margin(n2, x, ci, cj)
                        if (sense == "min" and v < est.lower) or (sense == "max" and v > est.upper):
                            report.fail(f"twins: log-RSM({ci},{cj}) = {float(v)!r} at a sample is outside "
                                        f"the {engine} {sense} bounds [{float(est.lower)!r}, {float(est.upper)!r}]")
                    if est.witness is not None:
                        w = est.witness.input
                        if not box.contains(w):
                            report.fail(f"twins: {engine} {sense} witness outside the box")
                        elif _exact_margin(n1, w, ci, cj) - _exact_margin(n2, w, ci, cj) != attained(est):
                            report.fail(f"twins: {engine} {sense} witness does not replay to its attained value")
        return f"lrsm ci={ci}", report, info
    tick = time.perf_counter()
    result = decisions(n1, n2, centre, radius, engine="exact", timeout=timeout)
    _over_budget(report, timeout, time.perf_counter() - tick)
    r1, r2 = oracle.Rule.of(n1), oracle.Rule.of(n2)
    layers1, layers2 = oracle.layers_of(n1), oracle.layers_of(n2)
    p1, p2 = n1.exact_parameters(), n2.exact_parameters()
    if result.verdict is Verdict.VIOLATED:
        x = list(result.witness.input)
        a, b = r1.label(oracle.exact_logits(layers1, x, p1)), r2.label(oracle.exact_logits(layers2, x, p2))
        if not box.contains(x) or a is None or b is None or a == b:
            report.fail(f"twins: the decisions counterexample does not replay (classes {a}, {b})")
    elif result.verdict is Verdict.HOLDS:
        s1 = (n1.score_sign * z1) if not n1.binary else np.hstack([np.zeros_like(z1), z1])
        s2 = (n2.score_sign * z2) if not n2.binary else np.hstack([np.zeros_like(z2), z2])
        c1, c2 = s1.argmax(axis=1), s2.argmax(axis=1)
        gap = np.sort(s1, axis=1)[:, -1] - np.sort(s1, axis=1)[:, -2] + np.sort(s2, axis=1)[:, -1] - np.sort(s2, axis=1)[:, -2]
        suspects = [int(i) for i in np.flatnonzero(c1 != c2)] + [int(i) for i in np.argsort(gap)[:20]]
        for i in suspects[:60]:
            x = _inside(box, xs[i])
            a, b = r1.label(oracle.exact_logits(layers1, x, p1)), r2.label(oracle.exact_logits(layers2, x, p2))
            if a is not None and b is not None and a != b:
                report.fail(f"twins: decisions HOLDS contradicted at x = {[str(v) for v in x]} (classes {a}, {b})")
                break
    return f"decisions {result.verdict.value}", report, info


# =====================================================================================
# one case
# =====================================================================================
def _outcome(result) -> str:
    if result is None:
        return "rejected"
    if isinstance(result, dict):
        return "sigma:" + ",".join("conv" if r.converged else "gap" for r in result.values())
    if isinstance(result, Estimate):
        return "converged" if result.converged else "gap"
    if isinstance(result, VerificationResult):
        return result.verdict.value
    return type(result).__name__


def make_case(seed: int, prop: str, args) -> "fz.Case":
    solver = random.Random(seed).choice(args.solvers)
    timeout, memory, _ = _budget_of(seed, args.timeout)
    case = fz.draw_case(fz.RandomDraw(seed), prop, timeout=timeout, max_boxes=args.max_boxes, solver=solver)
    if memory is not None:
        case.query["memory"] = memory
    return case


def _over_budget(report: "fz.Report", timeout: float, seconds: float) -> None:
    if seconds > timeout + BUDGET_SLACK:
        report.fail(f"over budget: {seconds:.1f} s for a timeout of {timeout:g} s")


def evaluate(case: "fz.Case", seed: int) -> dict:
    """Run and check one case of a paper property; never raises (a crash is a failure)."""
    start = time.perf_counter()
    try:
        tick = time.perf_counter()
        try:
            result = fz.run_case(case)
        except SmtnnError as err:
            result, report = None, fz.Report()
            report.fail(f"smtnn rejected a valid case: {err}")
        else:
            report = fz.check_case(case, result, seed)
        _over_budget(report, case.query["timeout"], time.perf_counter() - tick)
        rechecks = replayed = 0
        if result is not None:
            rechecks = oracle_check(case, result, report, seed)
            replayed = json_replay_check(case, result, report)
        return {"kind": "fail" if report.failures else "ok", "failures": report.failures, "marginal": report.marginal,
                "outcome": _outcome(result), "answer": fz.describe(result) if result is not None else "",
                "rechecks": rechecks, "replayed": replayed, "seconds": time.perf_counter() - start,
                "tallies": [f"engine: {_engine(result)}", f"budget: {_budget_of(seed, 0.0)[2]}"]}
    except Exception as err:   # a crash inside smtnn (or the checker): record it with its traceback
        return {"kind": "crash", "failures": [f"{type(err).__name__}: {err}"], "marginal": [], "outcome": "crashed",
                "answer": "", "traceback": traceback.format_exc(), "seconds": time.perf_counter() - start}


def evaluate_twins(prop: str, seed: int, timeout: float) -> dict:
    start = time.perf_counter()
    try:
        outcome, report, info = check_twins(prop, seed, timeout)
        return {"kind": "fail" if report.failures else "ok", "failures": report.failures, "marginal": [],
                "outcome": outcome.split()[0] if prop == "twins_lrsm" else outcome, "answer": outcome,
                "seconds": time.perf_counter() - start, "tallies": [f"budget: {info['budget']}"]}
    except Exception as err:
        return {"kind": "crash", "failures": [f"{type(err).__name__}: {err}"], "marginal": [], "outcome": "crashed",
                "answer": "", "traceback": traceback.format_exc(), "seconds": time.perf_counter() - start}


def run_job(seed: int, prop: str, args) -> dict:
    if prop in TWIN_PROPERTIES:
        return evaluate_twins(prop, seed, args.timeout)
    return evaluate(make_case(seed, prop, args), seed)


def _worker(conn, args):
    import warnings

    os.setpgrp()   # its own process group: the watchdog ends the worker together with any solver child it started
    warnings.simplefilter("ignore")
    while True:
        try:
            job = conn.recv()
        except EOFError:   # the campaign went away
            return
        if job is None:
            return
        seed, prop = job
        conn.send(run_job(seed, prop, args))


class Worker:
    def __init__(self, args):
        self.args = args
        self.start()

    def start(self):
        parent, child = mp.Pipe()
        self.conn = parent
        # not a daemon: the dReal backend runs each query in a child process of its own
        self.proc = mp.get_context("fork").Process(target=_worker, args=(child, self.args))
        self.proc.start()
        self.job, self.since = None, None

    def submit(self, seed, prop):
        self.job, self.since = (seed, prop), time.monotonic()
        self.conn.send(self.job)

    def poll(self):
        """The finished job's record, a 'hang' record (worker replaced), or None while it runs."""
        if self.job is None:
            return None
        if self.conn.poll():
            try:
                record = self.conn.recv()
            except EOFError:
                record = None
            if record is not None:
                job, self.job = self.job, None
                return job, record
        if not self.proc.is_alive() or time.monotonic() - self.since > self.args.case_limit:
            died = not self.proc.is_alive()
            self.kill()
            job = self.job
            seconds = time.monotonic() - self.since
            self.start()
            what = f"worker died (exit code {self.proc.exitcode})" if died else f"no answer within {self.args.case_limit} s"
            return job, {"kind": "hang" if not died else "crash", "failures": [what], "marginal": [], "outcome": "watchdog",
                         "answer": "", "seconds": seconds}
        return None

    def kill(self):
        """End the worker and its process group (solver children included)."""
        try:
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.kill()
        self.proc.join()

    def stop(self):
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(timeout=2)
        if self.proc.is_alive():
            self.kill()


def save_failure(out: Path, seed: int, prop: str, record: dict, args) -> Path:
    folder = out / f"{prop}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    if prop in TWIN_PROPERTIES:
        info = {"seed": seed, "property": prop, **record,
                "replay": f"python -m tests.campaign --replay-seed {seed} --properties {prop}"}
        (folder / "query.json").write_text(json.dumps(info, indent=2, default=str))
        return folder
    case = make_case(seed, prop, args)
    save_npz(case.network, folder / "network.npz")
    info = {"seed": seed, "property": prop, "query": case.query, "decision": case.network.decision, **record,
            "network": [{"weights": l.weights.tolist(), "bias": l.bias.tolist(), "activation": l.activation}
                        for l in case.network.layers],
            "replay": f"python -m tests.campaign --replay {folder}"}
    (folder / "query.json").write_text(json.dumps(info, indent=2, default=str))
    return folder


def replay(folder: Path) -> int:
    info = json.loads((folder / "query.json").read_text())
    network = load_network(folder / "network.npz")
    if info.get("decision", "argmax") != network.decision:
        import dataclasses

        network = dataclasses.replace(network, decision=info["decision"])
    case = fz.Case(network, info["query"])
    record = evaluate(case, info["seed"])
    print(json.dumps({k: v for k, v in record.items()}, indent=2))
    return 1 if record["kind"] != "ok" else 0


def campaign(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    props = args.properties
    base = args.seed if args.seed is not None else random.SystemRandom().randrange(10 ** 6)
    seeds = (base * 100_000 + i for i in range(10 ** 9))
    stats = {p: collections.Counter() for p in props}
    seconds = collections.Counter()
    failures = []
    deadline = time.monotonic() + 60 * args.minutes
    last_report = time.monotonic()
    workers = [Worker(args) for _ in range(args.workers)]
    turn = 0
    print(f"soundness campaign: {args.minutes} min, properties {', '.join(props)}, solvers {', '.join(args.solvers)}, "
          f"base seed {base}, {args.workers} worker(s), failures -> {out}", flush=True)
    try:
        while True:
            busy = False
            for w in workers:
                done = w.poll()
                if done is not None:
                    (seed, prop), record = done
                    s = stats[prop]
                    s["tried"] += 1
                    s[record["outcome"]] += 1
                    s["oracle rechecks"] += record.get("rechecks", 0)
                    s["witnesses replayed"] += record.get("replayed", 0)
                    for tally in record.get("tallies", []):
                        s[tally] += 1
                    seconds[prop] += record["seconds"]
                    if record["marginal"]:
                        s["marginal"] += 1
                    if record["kind"] != "ok":
                        s[record["kind"]] += 1
                        folder = save_failure(out, seed, prop, record, args)
                        failures.append((prop, seed, record["kind"], record["failures"][:1], str(folder)))
                        print(f"!! {record['kind']}: {prop} seed {seed}: {record['failures'][:1]} -> {folder}", flush=True)
                if w.job is None and time.monotonic() < deadline:
                    prop = props[turn % len(props)]
                    turn += 1
                    w.submit(next(seeds), prop)
                busy = busy or w.job is not None
            if not busy and time.monotonic() >= deadline:
                break
            if time.monotonic() - last_report > args.report:
                last_report = time.monotonic()
                total = sum(s["tried"] for s in stats.values())
                bad = sum(s["fail"] + s["crash"] + s["hang"] for s in stats.values())
                print(f"[{time.strftime('%H:%M:%S')}] {total} cases, {bad} failing", flush=True)
            time.sleep(0.005)
    finally:
        for w in workers:
            w.stop()
    summary = {p: dict(stats[p], seconds=round(seconds[p], 1)) for p in props}
    (out / "summary.json").write_text(json.dumps({"base_seed": base, "minutes": args.minutes, "stats": summary,
                                                  "failures": failures}, indent=2))
    print("\nproperty                 tried  fail crash hang marginal  mean s  outcomes")
    for p in props:
        s = stats[p]
        outcomes = {k: v for k, v in s.items() if k not in ("tried", "fail", "crash", "hang", "marginal", "ok")}
        mean = seconds[p] / s["tried"] if s["tried"] else 0.0
        print(f"{p:24s} {s['tried']:5d} {s['fail']:5d} {s['crash']:5d} {s['hang']:4d} {s['marginal']:8d} {mean:7.2f}  "
              f"{dict(sorted(outcomes.items()))}")
    total = sum(s["tried"] for s in stats.values())
    print(f"total {total} cases; {len(failures)} failing (saved under {out})")
    return 1 if failures else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="how long to fuzz (default 10)")
    p.add_argument("--out", default="fuzz-failures", help="directory for failing cases (default fuzz-failures/)")
    p.add_argument("--properties", default=",".join(PROPERTIES), help="comma-separated subset of " + ", ".join(PROPERTIES))
    p.add_argument("--solvers", default="z3", help="comma-separated solvers to draw from (z3, dreal)")
    p.add_argument("--seed", type=int, help="base seed (default: random; printed)")
    p.add_argument("--timeout", type=float, default=5.0, help="solver timeout per query, seconds (default 5)")
    p.add_argument("--max-boxes", type=int, default=20_000, dest="max_boxes", help="global ε branch and bound budget")
    p.add_argument("--case-limit", type=float, default=120.0, dest="case_limit", help="watchdog per case, seconds")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    p.add_argument("--report", type=float, default=30.0, help="seconds between progress lines")
    p.add_argument("--replay", help="re-run a saved failing case (its folder)")
    p.add_argument("--replay-seed", type=int, dest="replay_seed", help="regenerate and re-run the case of one seed")
    args = p.parse_args(argv)
    args.properties = [x for x in args.properties.split(",") if x]
    args.solvers = [x for x in args.solvers.split(",") if x]
    unknown = set(args.properties) - set(PROPERTIES)
    if unknown:
        p.error(f"unknown properties {sorted(unknown)}; choose from {', '.join(PROPERTIES)}")
    if args.replay:
        return replay(Path(args.replay))
    if args.replay_seed is not None:
        record = run_job(args.replay_seed, args.properties[0], args)
        print(json.dumps(record, indent=2))
        return 1 if record["kind"] != "ok" else 0
    return campaign(args)


if __name__ == "__main__":
    sys.exit(main())
