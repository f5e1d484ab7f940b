"""Budgets that hold in the Python API and in twins: ``timeout=`` and ``memory=`` of library calls, with the bounds so far.

Each test would fail on the code before this policy (:mod:`smtnn.budget`): the API took no
``memory=`` (a capped call was impossible, so a large query could exhaust the machine) and twins
lrsm ran far past its timeout (the relaxation build, the class screen and the final replays
were outside the budget; the command line then answered "stopped" with no bounds).
"""
from __future__ import annotations

import inspect
import json
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from smtnn import Box, Network, perturbation, properties, twins
from smtnn.budget import Bounds, Stop, budgeted, grace, report, stopped_as
from smtnn.result import Estimate, Verdict

ROOT = Path(__file__).resolve().parents[1]
TWINS = ROOT / "case_studies" / "twins" / "models"
LIMITS = (resource.RLIMIT_AS, resource.RLIMIT_DATA, resource.RLIMIT_CPU)


def _limits():
    return [resource.getrlimit(kind) for kind in LIMITS]


def test_every_public_call_takes_memory():
    """One mechanism: every public property and twins function accepts memory= beside its timeout."""
    names = ["local_epsilon", "verify_local_epsilon", "verify_local_label", "verify_global_label", "verify_global_sigma",
             "global_sigma", "global_epsilon", "verify_global_epsilon"]
    from smtnn.twins.quantized import quantized_decisions

    functions = [getattr(properties, n) for n in names] + [twins.lrsm, twins.decisions, twins.epsilon_equivalence,
                                                           quantized_decisions]
    for function in functions:
        assert "memory" in inspect.signature(function).parameters, function.__name__


def _wide_network(width: int) -> Network:
    """8 inputs, one tanh layer of `width` units, a sigmoid output: global ε's input-box branch and bound (the slab engine
    takes only relu layers) needs several arrays of 257 x width x 8 and 1024 x width x 8 floats (about 660 MB at 4,000)."""
    rng = np.random.default_rng(1)
    sizes = [8, width, 1]
    weights = [rng.normal(size=(b, a)) / np.sqrt(a) for a, b in zip(sizes, sizes[1:])]
    biases = [rng.normal(size=b) * 0.1 for b in sizes[1:]]
    return Network.from_arrays(weights=weights, biases=biases, activations=["tanh", "sigmoid"], name="wide")


def test_memory_cap_stops_an_api_call_without_touching_the_caller():
    """memory=200 on a query whose propagation needs more (about 660 MB without a cap, and 25 s for a 5 s timeout): an Estimate with its certified
    bounds and the reason "memory", quickly; the calling process keeps its own limits and its life."""
    net = _wide_network(4000)
    pert = perturbation.uniform(net, "0.001")
    domain = Box(("0",) * 8, ("1",) * 8)
    before = _limits()
    start = time.perf_counter()
    est = properties.global_epsilon(net, pert, domain, timeout=20, memory=200)
    seconds = time.perf_counter() - start
    assert _limits() == before
    assert isinstance(est, Estimate) and "memory" in est.reason
    assert seconds < 30
    # the bounds hold: sampled changes of f lie inside [0, upper]
    rng = np.random.default_rng(2)
    p0 = np.array([float(v) for v in pert.nominal])
    for _ in range(5):
        x = rng.uniform(size=(1, 8))
        p = p0 + rng.uniform(-0.001, 0.001, size=p0.shape)
        change = abs(_sigmoid(net.with_parameters(p).logits(x)[0, 0]) - _sigmoid(net.logits(x)[0, 0]))
        assert est.lower <= 1 and change <= est.upper + 1e-12
    assert properties.verify_global_epsilon(net, pert, domain, "0.5", timeout=20, memory=200).verdict is Verdict.UNKNOWN


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + np.exp(-z))


def _stuck(stop_after: float, timeout=None):
    """A budgeted call that reports its bounds and then never ends on its own."""
    report(Bounds(Fraction(1, 4), Fraction(3, 4), "w"), force=True)
    time.sleep(stop_after)
    return "finished"


_stuck_call = budgeted(lambda stop, *args, **kwargs: Estimate(
    "stuck", *((stop.progress.lower, stop.progress.upper) if isinstance(stop.progress, Bounds) else (Fraction(0), Fraction(1))),
    Fraction(1, 10 ** 6), properties.Provenance("none", "-", "stopped", stop.seconds), None, stop.reason))(_stuck)


def test_a_killed_call_returns_the_bounds_it_reported():
    """A call that ignores its deadline is killed at timeout + grace and answers with the last bounds it reported."""
    before = _limits()
    start = time.perf_counter()
    est = _stuck_call(60, timeout=0.5, memory=500)
    seconds = time.perf_counter() - start
    assert _limits() == before
    assert seconds < 0.5 + 2.0 + 3.0
    assert (est.lower, est.upper) == (Fraction(1, 4), Fraction(3, 4))
    assert est.reason.startswith("timeout")
    assert _stuck_call(0.01, memory=500) == "finished"   # an ordinary call comes back whole


def test_stopped_as_keeps_bounds_and_names_the_reason():
    est = Estimate("x", Fraction(1), Fraction(2), Fraction(1), properties.Provenance("none", "-", "m", 1.0), None, "gap")
    out = stopped_as({0: est}, "timeout: stopped after 3 s", 4.0)[0]
    assert (out.lower, out.upper, out.provenance.seconds) == (Fraction(1), Fraction(2), 4.0)
    assert out.reason == "timeout: stopped after 3 s; gap"
    assert Stop("r", 1.0).progress is None


def _digits_case():
    from smtnn.tasks import load_model

    first = load_model(str(TWINS / "digits_mlp_int4.h5"), quantized=True)
    second = load_model(str(TWINS / "digits_mlp.h5"), quantized=True)
    x0 = [Fraction(v) for v in (   # the first test image of the digits case study
        0.0, 0.0, 0.0, 0.0, 0.6875, 0.875, 0.1875, 0.0, 0.0, 0.0, 0.0, 0.125, 1.0, 1.0, 0.125, 0.0, 0.0, 0.0,
        0.0, 0.6875, 1.0, 0.875, 0.0, 0.0, 0.0, 0.0, 0.1875, 1.0, 1.0, 0.9375, 0.0, 0.0, 0.0, 0.0625, 0.8125,
        1.0, 1.0, 0.8125, 0.0, 0.0, 0.0, 0.375, 1.0, 0.5625, 0.9375, 0.8125, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.75,
        1.0, 0.0625, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5625, 0.875, 0.0625, 0.0)]
    return first, second, x0


def test_lrsm_holds_its_timeout_with_bounds_so_far():
    """twins lrsm on the digits int4 twin (64-64 ReLU), timeout 2 s: back within the timeout plus a little slack
    (it took 6-8 s before: relaxation build, class screen and replays were outside the budget), with certified bounds."""
    from smtnn.twins.pair import exact_logits

    first, second, x0 = _digits_case()
    start = time.perf_counter()
    result = twins.lrsm(first, second, x0, Fraction(1, 20), clip=(0, 1), timeout=2)
    seconds = time.perf_counter() - start
    assert seconds < 2 + 2.5, seconds
    worst = result   # the worst class's minimum by the exact engine (bounds so far at the timeout)
    ci, cj = result.query["ci"], result.query["worst_cj"]

    def log_rsm(x):
        z1, z2 = exact_logits(first, x), exact_logits(second, x)
        return (z1[ci] - z1[cj]) - (z2[ci] - z2[cj])

    assert worst.upper == log_rsm(worst.witness.input)    # the attained end replays
    rng = np.random.default_rng(3)
    for _ in range(3):   # no sampled point goes below the certified minimum
        x = [min(max(v + Fraction(float(d)), Fraction(0)), Fraction(1)) for v, d in zip(x0, rng.uniform(-0.05, 0.05, 64))]
        assert log_rsm(x) >= worst.lower


def test_cli_twins_lrsm_with_a_short_timeout_answers_with_bounds():
    """`smtnn twins lrsm ... --timeout 5` on the digits twins: bounds so far, not "stopped"."""
    _, _, x0 = _digits_case()
    cmd = [sys.executable, "-m", "smtnn", "twins", "lrsm", str(TWINS / "digits_mlp_int4.h5"), str(TWINS / "digits_mlp.h5"),
           f"--x0={','.join(str(float(v)) for v in x0)}", "--radius", "0.05", "--clip", "0:1", "--timeout", "5", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)
    data = json.loads(out.stdout)
    assert data["kind"] == "estimate" and data["property"] == "lrsm", data
    assert data["bounds"][0] <= data["bounds"][1]


def test_twins_decisions_and_epsilon_hold_their_timeout():
    """timeout=1 on the digits int4 twin at radius 0.1: back within the timeout plus slack (before: 4.5 s and 17 s, the
    pair screens and the per-output searches ran past the deadline), and what comes back is sound."""
    from smtnn.twins.pair import exact_class, exact_logits

    first, second, x0 = _digits_case()
    radius = Fraction(1, 10)
    start = time.perf_counter()
    verdict = twins.decisions(first, second, x0, radius, clip=(0, 1), timeout=1)
    assert time.perf_counter() - start < 1 + 2.5
    if verdict.verdict is Verdict.VIOLATED:
        assert exact_class(first, verdict.witness.input) != exact_class(second, verdict.witness.input)
    start = time.perf_counter()
    report = twins.epsilon_equivalence(first, second, x0, radius, clip=(0, 1), timeout=1)
    assert time.perf_counter() - start < 1 + 2.5
    top = report
    rng = np.random.default_rng(4)
    for x in [top.witness.input] + [[min(max(v + Fraction(float(d)), Fraction(0)), Fraction(1)) for v, d in
                               zip(x0, rng.uniform(-0.1, 0.1, 64))] for _ in range(2)]:
        gap = max(abs(a - b) for a, b in zip(exact_logits(first, x), exact_logits(second, x)))
        assert gap <= top.upper
    assert top.lower <= max(abs(a - b) for a, b in zip(exact_logits(first, top.witness.input), exact_logits(second, top.witness.input)))


def test_a_relaxation_cut_short_by_its_deadline_stays_sound():
    """Past its deadline the relaxation keeps interval bounds (no LP tightening): looser, never wrong."""
    from smtnn.twins import ball
    from smtnn.twins.pair import exact_logits
    from smtnn.twins.relaxation import Relaxation

    first, second, x0 = _digits_case()
    box = ball(x0, Fraction(1, 20), (0, 1))
    full = Relaxation((first, second), box)
    cut = Relaxation((first, second), box, deadline=time.perf_counter())
    assert full.tightened and not cut.tightened and cut.lp_calls < full.lp_calls
    coeffs = ((0, 1, 0, -1, 0, 0, 0, 0, 0, 0), (0, -1, 0, 1, 0, 0, 0, 0, 0, 0))   # log-RSM(1, 3)
    low_full, low_cut = full.minimize(coeffs).bound, cut.minimize(coeffs).bound
    assert low_cut <= low_full
    z1, z2 = exact_logits(first, x0), exact_logits(second, x0)
    assert low_full <= (z1[1] - z1[3]) - (z2[1] - z2[3])


def test_a_query_killed_from_outside_answers_with_its_reported_bounds(monkeypatch):
    """Query.run's child is killed at timeout + grace; its answer is the last result it reported, not a bare 'stopped'."""
    from smtnn.tasks import Query

    def hanging_sigma(network, pert, domain, **_):
        est = Estimate("global sigma for class 1 (Eq. 13)", Fraction(1, 8), Fraction(1, 4), Fraction(1, 10 ** 6),
                       properties.Provenance("z3", "exact", "test", 0.0))
        report({1: est, 0: est}, force=True)
        time.sleep(60)

    monkeypatch.setattr(properties, "global_sigma", budgeted(properties._stopped_sigma)(hanging_sigma))
    query = Query("estimate", "global-sigma", (str(ROOT / "case_studies" / "models" / "cats.h5"),),
                  {"delta": "0.005", "domain": "6.3:20.5,2.0:3.9"})
    start = time.perf_counter()
    result = query.run(timeout=0.5)
    assert time.perf_counter() - start < 0.5 + 2.0 + 3.0
    assert set(result) == {0, 1}
    assert (result[1].lower, result[1].upper) == (Fraction(1, 8), Fraction(1, 4))
    assert result[1].reason.startswith("timeout")


def _deep_network(width: int, depth: int = 4) -> Network:
    rng = np.random.default_rng(0)
    sizes = [2] + [width] * depth + [1]
    weights = [rng.normal(size=(b, a)) * np.sqrt(2 / a) for a, b in zip(sizes, sizes[1:])]
    biases = [rng.normal(size=b) * 0.1 for b in sizes[1:]]
    return Network.from_arrays(weights=weights, biases=biases, activations=["relu"] * depth + ["sigmoid"], name="deep")


def test_a_local_label_timeout_holds_through_the_solver_phase():
    """2 -> 64^4 -> 1 (12,737 parameters), δ = 0.003: the float pass and the attack decide nothing, so the query
    reaches Z3 bisection, which ran 11-14 s for a 2 s timeout (Z3 preprocesses the polynomial formula without
    looking at its clock).  Now the phase is stopped at the deadline and the answer keeps the bounds from before it."""
    net = _deep_network(64)
    pert = perturbation.uniform(net, "0.003")
    start = time.perf_counter()
    result = properties.verify_local_label(net, pert, ["0.9", "0.9"], timeout=2)
    seconds = time.perf_counter() - start
    assert result.verdict is Verdict.UNKNOWN and "timeout" in result.reason
    assert seconds < 2 + grace(2), seconds
    # unknown is honest here: sampled parameters keep the label, so no flip was missed by a wrong "violated" either
    rng = np.random.default_rng(3)
    p0 = net.parameter_vector()
    label = net.logits(np.array([0.9, 0.9]))[0] >= 0
    for _ in range(20):
        p = p0 + rng.uniform(-0.003, 0.003, size=p0.shape)
        assert (net.with_parameters(p).logits(np.array([0.9, 0.9]))[0] >= 0) == label


def test_a_stopped_solver_phase_keeps_the_bounds_it_reported():
    """A bisection killed at its deadline keeps the last interval it reported, not only the one it started from."""
    from smtnn import search

    def slow_phase(progress=None):
        progress((search.Maximum(Fraction(1), Fraction(3), ("witness",), ""), 2))
        time.sleep(30)

    found, calls = properties._stoppable(slow_phase, 0.5, search.Maximum(Fraction(0), Fraction(5), None, ""))
    assert (found.lower, found.upper, found.best, found.reason) == (Fraction(1), Fraction(3), ("witness",), "timeout")
    assert calls == 3


def test_global_epsilon_on_a_deep_network_holds_its_timeout():
    """Global ε's seed inputs were certified by exact rational interval propagation (extreme_at), which took 5.8 s on
    2 -> 64^4 -> 1 for a 2 s timeout; the seed witnesses now come from the float attack, replayed exactly."""
    net = _deep_network(64)
    pert = perturbation.uniform(net, "0.003")
    domain = Box(("-1", "-1"), ("1", "1"))
    start = time.perf_counter()
    est = properties.global_epsilon(net, pert, domain, timeout=2)
    seconds = time.perf_counter() - start
    assert seconds < 2 + grace(2), seconds
    assert est.witness is not None and est.lower > 0
    # the lower end is attained: the witness's parameters and input replay to at least `lower` in floats
    p = net.parameter_vector().copy()
    index = {str(name): i for i, name in enumerate(net.parameter_names())}
    for name, value in est.witness.parameters.items():
        p[index[name]] = float(value)
    x = np.array([float(v) for v in est.witness.input])
    change = abs(_sigmoid(net.with_parameters(p).logits(x)[0]) - _sigmoid(net.logits(x)[0]))
    assert change >= float(est.lower) - 1e-9


def test_local_epsilon_on_200k_parameters_holds_a_short_timeout():
    """2 -> 256^4 -> 1 (198,401 parameters), δ = 3e-4, T = 2 s: local ε took 4.1 s (slow machine state) when the
    box was converted to floats one rational at a time and the phase searches were given shares of the timeout
    without counting the time already spent.  The interval it answers encloses sampled changes."""
    net = _deep_network(256)
    pert = perturbation.uniform(net, "0.0003")
    x = ["0.9", "0.9"]
    start = time.perf_counter()
    est = properties.local_epsilon(net, pert, x, timeout=2)
    seconds = time.perf_counter() - start
    assert seconds < 2 + grace(2), seconds
    assert 0 <= est.lower <= est.upper
    _assert_encloses_vertex_samples(net, 3e-4, est.upper, seed=5, count=10)


def _assert_encloses_vertex_samples(net, radius: float, upper, seed: int, count: int) -> None:
    """The σ-change at x = (0.9, 0.9) of `count` random parameter vertices (just inside the box) is at most `upper`."""
    rng = np.random.default_rng(seed)
    p0, xf = net.parameter_vector(), np.array([0.9, 0.9])
    nominal = _sigmoid(net.logits(xf)[0])
    for _ in range(count):
        p = p0 + rng.choice([-radius, radius], size=p0.shape) * (1 - 1e-9)
        assert abs(_sigmoid(net.with_parameters(p).logits(xf)[0]) - nominal) <= float(upper) + 1e-9


def _recorded_seconds(monkeypatch, network, perturbation_box, timeout, solver_follows):
    """The seconds tighten_extreme gives its exact LP search and then its phase branch and bound (both stubbed: the
    LP search finds no certificate, the phase search keeps the bound it starts from)."""
    from smtnn import float_first, local_reduction
    from smtnn.bounds import linear_value

    given = {}

    def no_certificate(*args, seconds, **kwargs):
        given["exact"] = seconds
        return None

    def no_progress(*args, seconds, **kwargs):
        given["phases"] = seconds
        return np.inf, 1

    monkeypatch.setattr(local_reduction, "sandwich_branch_and_bound", no_certificate)
    monkeypatch.setattr(float_first, "phase_branch_and_bound", no_progress)
    x = (Fraction(9, 10), Fraction(9, 10))
    nominal = tuple(perturbation_box.nominal)
    value = linear_value([1], float_first.exact_logits(network, x, nominal))
    start = float_first.Extreme(value.hi + 100, nominal, value, False)   # a wide gap: every search runs
    float_first.tighten_extreme(network, perturbation_box, x, [1], start, Fraction(0), timeout, branch=True,
                                solver_follows=solver_follows)
    return given


def test_the_last_local_search_takes_all_the_time_left(monkeypatch):
    """Local ε's exact LP search was given 80% of its timeout (and a phase branch and bound half of it, even with no
    solver search after it), so about 2 s of a 10 s local ε on 198,401 parameters went unused.  The last search now
    takes all that is left but the few milliseconds its witness's replay needs on this small network."""
    net = _deep_network(16, depth=3)
    pert = perturbation.uniform(net, "0.01")
    timeout = 2.0
    given = _recorded_seconds(monkeypatch, net, pert, timeout, solver_follows=False)
    assert given["exact"] >= 0.95 * timeout and given["phases"] >= 0.95 * timeout, given
    given = _recorded_seconds(monkeypatch, net, pert, timeout, solver_follows=True)   # a solver's search comes after
    assert given["exact"] >= 0.95 * timeout and given["phases"] <= timeout / 2, given
    sigmoid_hidden = Network.from_arrays([layer.weights for layer in net.layers], [layer.bias for layer in net.layers],
                                         ["sigmoid"] * 4)
    assert not properties._solver_refines(sigmoid_hidden, "z3") and properties._solver_refines(net, "z3")


def test_local_epsilon_uses_its_whole_budget_and_stays_sound():
    """2 -> 64^4 -> 1, δ = 0.003, T = 2 s: local ε ended after 1.3-1.4 s (its LP searches stopped early) with
    [0.216, 0.310]; it now ends at about T ([0.220, 0.300] here), and the interval still encloses sampled changes."""
    net = _deep_network(64)
    pert = perturbation.uniform(net, "0.003")
    start = time.perf_counter()
    est = properties.local_epsilon(net, pert, ["0.9", "0.9"], timeout=2)
    seconds = time.perf_counter() - start
    assert 0.9 * 2 <= seconds < 2 + grace(2), seconds
    _assert_encloses_vertex_samples(net, 3e-3, est.upper, seed=6, count=20)


def test_multiclass_local_epsilon_on_a_wide_network_keeps_its_timeout():
    """mnist-net 256x2 (10 logits, 269,322 parameters), every parameter within 1e-5, T = 4 s: the per-pair witnesses
    were replayed exactly 270 times with no deadline, so the call ran over a minute and the CLI's child was killed
    with no interval at all.  The pairs now stop at 80% of T (later pairs keep the nominal parameters as their
    witness), each witness is replayed once, and the interval still encloses sampled changes of every probability."""
    from benchmarks.published import DATA, load_chain, mnist_images

    net = load_chain(DATA / "mnistfc" / "mnist-net_256x2.onnx")
    x = mnist_images()[0]
    pert = perturbation.uniform(net, "0.00001")
    start = time.perf_counter()
    est = properties.local_epsilon(net, pert, [Fraction(float(v)) for v in x], timeout=4)
    seconds = time.perf_counter() - start
    assert seconds < 4 + grace(4), seconds
    assert 0 < est.lower <= est.upper < 1

    def softmax(z):
        e = np.exp(z - z.max())
        return e / e.sum()

    rng = np.random.default_rng(3)
    p0 = net.parameter_vector()
    nominal = softmax(net.logits(x))
    for _ in range(10):
        p = p0 + rng.choice([-1e-5, 1e-5], size=p0.shape) * (1 - 1e-9)
        assert np.abs(softmax(net.with_parameters(p).logits(x)) - nominal).max() <= float(est.upper) + 1e-9
