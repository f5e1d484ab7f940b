"""Twins (relative safety margins): exact bounds vs sampling, PGD, relaxation and Z3; replayed witnesses; bad input."""
from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from smtnn import Box, InvalidInputError, Network, Verdict
from smtnn.bounds import replay_logits
from smtnn.twins import Analysis, Twins, attained, ball, by_pair, decisions, detail, epsilon_equivalence, lrsm, rsm
from smtnn.twins import generate
from smtnn.twins.lp import LinearModel
from smtnn.twins.relaxation import Relaxation


def random_net(seed: int, sizes, output: str = "softmax") -> Network:
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(b, a)) / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(size=b) * 0.2 for b in sizes[1:]]
    return Network.from_arrays(weights, biases, ["relu"] * (len(sizes) - 2) + [output], name=f"net{seed}")


def jitter(net: Network, seed: int, scale: float = 0.1) -> Network:
    rng = np.random.default_rng(seed)
    v = net.parameter_vector()
    return net.with_parameters(v + scale * rng.normal(size=v.size))


def margin(net: Network, xs: np.ndarray, ci: int, cj: int) -> np.ndarray:
    z = np.atleast_2d(net.logits(xs))
    return z[:, 0] * (ci - cj) if net.binary else z[:, ci] - z[:, cj]


def log_rsm(n1, n2, xs, ci, cj):
    return margin(n1, xs, ci, cj) - margin(n2, xs, ci, cj)


def samples(box: Box, n: int, seed: int = 0) -> np.ndarray:
    lo = np.array([float(v) for v in box.lower])
    hi = np.array([float(v) for v in box.upper])
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, size=(n // 4, lo.size)) * (hi - lo) + lo
    return np.vstack([rng.uniform(lo, hi, size=(n, lo.size)), corners])


def pgd_min(n1, n2, box: Box, ci, cj, starts=20, steps=60, seed=0) -> float:
    """Independent sign-gradient descent on log-RSM with numerical (central difference) gradients."""
    lo = np.array([float(v) for v in box.lower])
    hi = np.array([float(v) for v in box.upper])
    rng = np.random.default_rng(seed)
    xs = rng.uniform(lo, hi, size=(starts, lo.size))
    best = log_rsm(n1, n2, xs, ci, cj).min()
    h = 1e-6
    for s in range(steps):
        grad = np.zeros_like(xs)
        for i in range(lo.size):
            e = np.zeros(lo.size)
            e[i] = h
            grad[:, i] = (log_rsm(n1, n2, xs + e, ci, cj) - log_rsm(n1, n2, xs - e, ci, cj)) / (2 * h)
        xs = np.clip(xs - (hi - lo) * 0.3 * (1 - s / steps) * np.sign(grad), lo, hi)
        best = min(best, log_rsm(n1, n2, xs, ci, cj).min())
    return float(best)


def exact_value(n1, n2, x, ci, cj) -> Fraction:
    def m(net):
        z = [e.lo for e in replay_logits(net, list(x), net.exact_parameters())]
        return z[0] * (ci - cj) if net.binary else z[ci] - z[cj]
    return m(n1) - m(n2)


CASES = [
    # (reference sizes, seed, twin maker, centre, radius)
    ((3, 6, 5, 3), 1, lambda n: generate.quantize(n, "int", 4), [0.2, -0.1, 0.4], "0.3"),
    ((2, 8, 6, 4), 2, lambda n: generate.prune(n, 0.5), [0.5, 0.1], "0.25"),
    ((4, 7, 3), 3, lambda n: jitter(n, 7), [0.1, 0.2, -0.3, 0.0], "0.2"),
]


@pytest.fixture(scope="module", params=range(len(CASES)))
def case(request):
    sizes, seed, make, centre, radius = CASES[request.param]
    n2 = random_net(seed, sizes)
    n1 = make(n2)
    report = lrsm(n1, n2, centre, radius, engine="exact", compare=("relaxation",))
    return n1, n2, ball(centre, radius), report


def test_exact_bounds_contain_dense_sampling_and_pgd(case):
    n1, n2, box, report = case
    xs = samples(box, 4000)
    ci, worst_cj = report.query["ci"], report.query["worst_cj"]
    for cj, pair in by_pair(report).items():
        exact = pair["min"].get("exact", pair["min"]["relaxation"])   # pruned classes: the relaxation's bound
        assert exact.lower <= exact.upper
        values = log_rsm(n1, n2, xs, ci, cj)
        assert values.min() >= float(exact.lower) - 1e-9
        best = xs[values.argmin()]
        point = tuple(min(max(Fraction(float(v)), lo), hi) for v, lo, hi in zip(best, box.lower, box.upper))
        assert exact_value(n1, n2, point, ci, cj) >= exact.lower
        assert pgd_min(n1, n2, box, ci, cj) >= float(exact.lower) - 1e-9
    low, high = detail(report), detail(report, sense="max")
    assert low.gap == 0 and low.converged, low.reason
    assert high.gap == 0 and high.converged
    assert (report.lower, report.upper) == (low.lower, low.upper)
    values = log_rsm(n1, n2, xs, ci, worst_cj)
    assert values.max() <= float(high.upper) + 1e-9
    # the sampling comes close to the exact minimum: it is attained, not a loose bound
    assert pgd_min(n1, n2, box, ci, worst_cj) <= float(low.lower) + 0.05


def test_the_worst_class_is_the_smallest_minimum(case):
    _, _, _, report = case
    worst = report.lower
    for pair in by_pair(report).values():
        if "exact" not in pair["min"]:
            assert "not solved exactly" in pair["min"]["relaxation"].reason
            assert pair["min"]["relaxation"].lower >= worst
            continue
        assert pair["min"]["exact"].lower >= worst
        assert pair["min"]["relaxation"].lower <= pair["min"]["exact"].lower


def test_relaxation_bounds_contain_exact_bounds(case):
    _, _, _, report = case
    w = by_pair(report)[report.query["worst_cj"]]
    assert w["min"]["relaxation"].lower <= w["min"]["exact"].lower
    assert w["min"]["relaxation"].upper >= w["min"]["exact"].upper
    assert w["max"]["relaxation"].upper >= w["max"]["exact"].upper
    assert w["max"]["relaxation"].lower <= w["max"]["exact"].lower


def test_witnesses_replay_inside_the_box(case):
    n1, n2, box, report = case
    for e in report.details:
        assert box.contains(e.witness.input)
        assert e.witness.value_lower == e.witness.value_upper == attained(e)
        assert exact_value(n1, n2, e.witness.input, e.query["ci"], e.query["cj"]) == attained(e)


def test_rsm_is_the_exponential_of_the_ends(case):
    _, _, _, report = case
    e = report
    lo, hi = rsm(e)
    assert lo <= hi
    assert abs(float(lo) - np.exp(float(e.lower))) <= 1e-12 * max(1.0, float(lo))


def test_decisions_counterexamples_replay():
    n2 = random_net(4, (2, 6, 5, 3))
    n1 = jitter(n2, 11, 0.4)
    seen = set()
    for centre in ([0.0, 0.0], [0.5, -0.5], [1.0, 1.0], [-1.0, 0.3]):
        res = decisions(n1, n2, centre, "0.6")
        seen.add(res.verdict)
        if res.verdict == Verdict.VIOLATED:
            box = ball(centre, "0.6")
            x = res.witness.input
            assert box.contains(x)
            z1 = [e.lo for e in replay_logits(n1, list(x), n1.exact_parameters())]
            z2 = [e.lo for e in replay_logits(n2, list(x), n2.exact_parameters())]
            assert (z1.index(max(z1)), z2.index(max(z2))) == res.witness.classes
            assert res.witness.classes[0] != res.witness.classes[1]
        else:
            xs = samples(ball(centre, "0.6"), 3000)
            if res.verdict == Verdict.HOLDS:
                assert (n1.predict(xs) == n2.predict(xs)).all()
    assert Verdict.VIOLATED in seen and Verdict.HOLDS in seen


def test_identical_twins_have_rsm_exactly_one():
    n = random_net(5, (3, 6, 4, 3))
    report = lrsm(n, n, [0.1, 0.2, 0.3], "0.5", compare=("relaxation", "z3"))
    assert {e.query["engine"] for e in report.details} == {"exact", "relaxation", "z3"}
    for e in report.details:
        if e.query["engine"] == "relaxation":
            assert e.lower <= 0 <= e.upper
        else:
            assert e.lower == e.upper == 0, e
            assert rsm(e) == (1, 1)
    assert decisions(n, n, [0.1, 0.2, 0.3], "0.5").verdict == Verdict.HOLDS
    eq = epsilon_equivalence(n, n, [0.1, 0.2, 0.3], "0.5", epsilon=0)
    (maximum,) = eq.details
    assert maximum.lower == maximum.upper == 0 and eq.verdict == Verdict.HOLDS


def padded(net: Network) -> Network:
    """The same function with one more (always inactive) unit in the last hidden layer."""
    a, b, out = net.layers
    w1 = np.vstack([b.weights, np.zeros((1, b.weights.shape[1]))])
    w2 = np.hstack([out.weights, np.ones((out.weights.shape[0], 1))])
    return Network.from_arrays([a.weights, w1, w2], [a.bias, np.append(b.bias, -1.0), out.bias],
                               ["relu", "relu", out.activation])


def test_equal_functions_on_the_decision_boundary_tie_exactly():
    n = random_net(5, (2, 5, 4, 1), output="sigmoid")
    m = padded(n)
    box = ball([0.0, 0.0], "1")
    assert len(set(n.predict(samples(box, 500)))) == 2          # the box straddles the decision boundary
    res = decisions(m, n, box=box)
    assert res.verdict == Verdict.HOLDS and res.provenance.stats["ties"] > 0
    report = lrsm(m, n, box=box, ci=1, cj=0, compare=())
    assert report.lower == report.upper == 0
    assert detail(report, sense="max").lower == detail(report, sense="max").upper == 0


def test_z3_engine_agrees_exactly_with_branch_and_bound():
    n2 = random_net(6, (2, 3, 3, 2))
    n1 = generate.quantize(n2, "int", 4)
    box = ball([0.3, -0.2], "0.4")
    analysis = Analysis((n1, n2), box)
    twins = Twins(n1, n2)
    for ci, cj in ((0, 1), (1, 0)):
        for sense in ("min", "max"):
            a = analysis.extreme([twins.margin_coeffs(ci, cj)], sense, "exact")
            b = analysis.extreme([twins.margin_coeffs(ci, cj)], sense, "z3", timeout=30)
            assert a.converged and b.converged and a.gap == b.gap == 0
            assert a.lower == b.lower
            assert (a.provenance.solver, b.provenance.solver) == ("highs", "z3")
    d_exact = decisions(n1, n2, box=box)
    d_z3 = decisions(n1, n2, box=box, engine="z3", timeout=30)
    assert d_exact.verdict == d_z3.verdict != Verdict.UNKNOWN


def test_binary_sigmoid_output_is_the_two_class_case():
    n2 = random_net(8, (2, 5, 1), output="sigmoid")
    n1 = generate.quantize(n2, "int", 4)
    box = Box(("-1", "-1"), ("1", "1"))
    up = lrsm(n1, n2, box=box, ci=1, cj=0)
    down = lrsm(n1, n2, box=box, ci=0, cj=1)
    assert up.lower == -detail(down, sense="max").upper
    xs = samples(box, 4000)
    z = n1.logits(xs)[:, 0] - n2.logits(xs)[:, 0]
    assert z.min() >= float(up.lower) - 1e-9
    assert z.min() <= float(up.lower) + 0.05


def test_epsilon_equivalence_bounds_sampling():
    n2 = random_net(9, (3, 5, 4, 3))
    n1 = generate.prune(n2, 0.5)
    box = ball([0.0, 0.1, 0.2], "0.3")
    res = epsilon_equivalence(n1, n2, box=box, epsilon="0.01")
    xs = samples(box, 3000)
    diff = np.abs(n1.logits(xs) - n2.logits(xs)).max()
    (maximum,) = res.details
    assert maximum.converged and maximum.gap == 0
    assert diff <= float(maximum.upper) + 1e-9
    assert res.verdict == (Verdict.VIOLATED if maximum.lower > Fraction(1, 100) else Verdict.HOLDS)
    alone = epsilon_equivalence(n1, n2, box=box)   # without ε: the estimate itself
    assert (alone.lower, alone.upper) == (maximum.lower, maximum.upper)


def test_timeout_reports_an_honest_interval():
    n2 = random_net(10, (4, 12, 12, 3))
    n1 = generate.prune(n2, 0.6)
    box = ball([0.1, 0.2, 0.3, 0.4], "0.5")
    twins = Twins(n1, n2)
    analysis = Analysis((n1, n2), box)
    full = analysis.extreme([twins.margin_coeffs(0, 1)], "min", "exact")
    cut = analysis.extreme([twins.margin_coeffs(0, 1)], "min", "exact", timeout=1e-9)
    assert cut.lower <= full.lower <= cut.upper
    if cut.gap:
        assert cut.reason == "timeout" and not cut.converged


def test_lp_certificate_is_below_the_float_optimum_and_close():
    n2 = random_net(12, (3, 8, 8, 3))
    n1 = jitter(n2, 3)
    box = ball([0.2, 0.2, 0.2], "0.3")
    cost_coeffs = Twins(n1, n2).margin_coeffs(0, 2)
    for backend in ("highspy", "scipy"):
        relax = Relaxation((n1, n2), box)
        relax.model = _rebuilt(relax.model, backend)
        b = relax.minimize(cost_coeffs)
        assert b.bound is not None
        assert float(b.bound) <= b.value + 1e-12
        assert b.value - float(b.bound) <= 1e-6 * (1 + abs(b.value))


def _rebuilt(model: LinearModel, backend: str) -> LinearModel:
    copy = model.copy()
    copy.backend = backend
    return copy


def test_generators_and_h5_round_trip(tmp_path):
    from smtnn import load_network
    from smtnn.perturbation import quantized_values

    n = random_net(13, (4, 10, 6, 3))
    pruned = generate.prune(n, 0.8)
    for layer, orig in zip(pruned.layers, n.layers):
        assert (layer.weights == 0).sum() == int(round(0.8 * orig.weights.size))
        kept = np.abs(orig.weights[layer.weights != 0])
        assert kept.min() >= np.abs(orig.weights[layer.weights == 0]).max()
    q = generate.quantize(n, "int", 8)
    assert np.array_equal(q.parameter_vector(), np.array([float(v) for v in quantized_values(n, "int", 8)]))
    assert generate.quantize(n, "fixed", 6).exact_parameters() == quantized_values(n, "fixed", 6)
    rng = np.random.default_rng(0)
    xs = rng.uniform(-1, 1, size=(300, 4))
    student = generate.distill(n, xs, hidden=(8,), seed=0, max_iter=300)
    assert (student.n_inputs, student.n_outputs, len(student.layers)) == (4, 3, 2)
    assert (student.predict(xs) == n.predict(xs)).mean() > 0.6
    for twin in (pruned, q, student):
        path = generate.save(twin, tmp_path / f"{twin.name}.h5")
        back = load_network(path)
        assert back.exact_parameters() == twin.exact_parameters()


@pytest.mark.parametrize("call, message", [
    (lambda a, b, c: lrsm(a, c, [0, 0, 0], "0.1"), "same inputs"),
    (lambda a, b, c: lrsm(a, random_net(2, (3, 4, 2)), [0, 0, 0], "0.1"), "same classes"),
    (lambda a, b, c: lrsm(a, b, [0, 0, 0], "0.1", ci=3), "not a class index"),
    (lambda a, b, c: lrsm(a, b, [0, 0, 0], "0.1", ci=0, cj=-1), "not a class index"),
    (lambda a, b, c: lrsm(a, b, [0, 0, 0], "0.1", ci=1, cj=1), "both 1"),
    (lambda a, b, c: lrsm(a, b, [0, 0, 0], "-0.1"), "non-negative"),
    (lambda a, b, c: lrsm(a, b, [0, 0], "0.1"), "takes 3 inputs"),
    (lambda a, b, c: decisions(a, b, [0, 0, 0, 0], "0.1"), "takes 3 inputs"),
    (lambda a, b, c: epsilon_equivalence(a, b, [0, 0, 0], "0.1", epsilon="-1"), "non-negative"),
    (lambda a, b, c: lrsm(a, b, [0, 0, 0], "0.1", engine="milp"), "unknown engine"),
    (lambda a, b, c: lrsm(a, b, box=Box(("0", "0"), ("1", "1"))), "intervals"),
    (lambda a, b, c: lrsm(a, b), "give an input x0"),
])
def test_bad_input_raises_one_clear_line(call, message):
    a, b, c = random_net(1, (3, 4, 3)), random_net(2, (3, 5, 3)), random_net(3, (2, 4, 3))
    with pytest.raises(InvalidInputError) as err:
        call(a, b, c)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cli_exit_codes(tmp_path):
    a, b, c = random_net(1, (3, 4, 3)), random_net(2, (3, 5, 3)), random_net(3, (2, 4, 3))
    paths = {k: str(generate.save(n, tmp_path / f"{k}.h5")) for k, n in (("a", a), ("b", b), ("c", c))}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "smtnn", "twins", *args], capture_output=True, text=True)

    ok = cli("lrsm", paths["a"], paths["a"], "--x0", "0,0,0", "--radius", "0.1", "--json")
    assert ok.returncode == 0, ok.stderr
    assert '"worst_cj"' in ok.stdout
    for args in (("lrsm", paths["a"], paths["c"], "--x0", "0,0,0", "--radius", "0.1"),
                 ("lrsm", paths["a"], paths["b"], "--x0", "0,0", "--radius", "0.1"),
                 ("lrsm", paths["a"], paths["b"], "--x0", "0,0,0", "--radius", "-0.1"),
                 ("lrsm", paths["a"], paths["b"], "--x0", "0,0,0", "--radius", "0.1", "--ci", "7"),
                 ("decisions", paths["a"], paths["b"], "--x0", "0,0,0"),
                 ("nonsense", paths["a"], paths["b"], "--x0", "0,0,0", "--radius", "0.1")):
        res = cli(*args)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert res.stderr.count("\n") == 1 and res.stderr.startswith("smtnn: error:"), res.stderr
    same = cli("decisions", paths["a"], paths["a"], "--x0", "0,0,0", "--radius", "0.3")
    assert same.returncode == 0 and "HOLDS" in same.stdout
