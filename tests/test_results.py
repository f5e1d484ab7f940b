"""One result family: core and twins answers render through reports.py with the same witness and provenance shape;
the LP engine is a backend chosen by capability, checked against every exact optimizer that is installed."""
from __future__ import annotations

import json
from fractions import Fraction as Q

import numpy as np
import pytest

from smtnn import perturbation as P
from smtnn import properties, reports
from smtnn.backends import available, get_backend, select
from smtnn.errors import UnsupportedQueryError
from smtnn.network import Network
from smtnn.result import Estimate, Verdict, VerificationResult
from smtnn.twins import Analysis, Twins, ball, decisions, detail, epsilon_equivalence, generate, lrsm
from smtnn.twins.optimize import Strategy


def relu_net(seed: int, sizes, name: str = "") -> Network:
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(b, a)) / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(size=b) * 0.2 for b in sizes[1:]]
    return Network.from_arrays(weights, biases, ["relu"] * (len(sizes) - 2) + ["softmax"], name=name or f"net{seed}")


@pytest.fixture(scope="module")
def twins_pair():
    reference = relu_net(4, (2, 6, 5, 3))
    rng = np.random.default_rng(11)
    v = reference.parameter_vector()
    return reference.with_parameters(v + 0.4 * rng.normal(size=v.size)), reference


def core_violation() -> VerificationResult:
    """A violated local label on a 1-input line (z = x - 1/2 at x0 = 1/2, δ = 1/10): a flip exists."""
    net = Network.from_arrays([[[1.0]]], [[-0.5]], ["sigmoid"])
    result = properties.verify_local_label(net, P.uniform(net, Q(1, 10)), [Q(1, 2)])
    assert result.verdict == Verdict.VIOLATED
    return result


def test_core_and_twins_results_have_one_witness_and_provenance_shape(twins_pair):
    n1, n2 = twins_pair
    core = json.loads(reports.to_json(core_violation()))
    found = None
    for centre in ([0.0, 0.0], [0.5, -0.5], [1.0, 1.0], [-1.0, 0.3]):
        found = decisions(n1, n2, centre, "0.6")
        if found.verdict == Verdict.VIOLATED:
            break
    assert found.verdict == Verdict.VIOLATED
    estimate = lrsm(n1, n2, [0.1, 0.2], "0.3")
    assert isinstance(estimate, Estimate) and isinstance(found, VerificationResult)
    twins = [json.loads(reports.to_json(r)) for r in (found, estimate)]
    provenance = ("solver", "precision", "method", "seconds", "solver_calls", "stats")
    for rendered in [core] + twins:
        assert rendered["kind"] in ("verification", "estimate")
        assert set(rendered["witness"]) == set(core["witness"]), rendered["property"]
        assert all(key in rendered for key in provenance)
        assert isinstance(rendered["details"], list)
    for detail_json in twins[1]["details"]:
        assert set(detail_json["witness"]) == set(core["witness"])
        assert detail_json["query"]["sense"] in ("min", "max") and "cj" in detail_json["query"]
    # the counterexample's input and classes are exact and replay: the two networks pick the classes it names
    w = twins[0]["witness"]
    x = [Q(v) for v in w["input_exact"]]
    assert x == list(found.witness.input)
    from smtnn.twins.pair import exact_class

    assert [exact_class(n1, x), exact_class(n2, x)] == [w["classes"]["N1"], w["classes"]["N2"]]
    assert w["classes"]["N1"] != w["classes"]["N2"] and core["witness"]["classes"] is None
    # text goes through the same renderer: the verdict line, the witness input and its classes
    text = reports.text(found)
    assert text.startswith("decisions: VIOLATED [highs, exact") and f"N1 picks {w['classes']['N1']}" in text
    assert reports.exit_code(found) == reports.EXIT_VIOLATED


def test_exit_codes_follow_the_worst_class_tolerance(twins_pair):
    n1, n2 = twins_pair
    exact = lrsm(n1, n2, [0.1, 0.2], "0.3")
    relaxed = lrsm(n1, n2, [0.1, 0.2], "0.3", engine="relaxation", compare=())
    cut = lrsm(n1, n2, [0.1, 0.2], "0.3", timeout=1e-6, compare=())
    assert exact.gap == 0 and reports.exit_code(exact) == reports.EXIT_OK
    assert detail(exact, sense="max").tolerance == 0 and detail(exact).tolerance == 0
    assert relaxed.tolerance is None and relaxed.gap > 0 and reports.exit_code(relaxed) == reports.EXIT_OK
    assert relaxed.lower <= exact.lower <= exact.upper <= relaxed.upper
    if cut.gap or detail(cut, sense="max").gap:   # the timeout left an interval: not converged, said so
        assert reports.exit_code(cut) == reports.EXIT_UNKNOWN
    eps = epsilon_equivalence(n1, n2, [0.1, 0.2], "0.3", epsilon="1000")
    assert eps.verdict == Verdict.HOLDS and reports.exit_code(eps) == reports.EXIT_OK
    (maximum,) = eps.details
    assert maximum.upper <= 1000 and maximum.witness.value_lower == maximum.lower


def test_lp_backend_is_registered_and_chosen_by_capability():
    backend = select(linear_relaxation=True)
    assert backend.name == "highs"
    caps = backend.capabilities
    assert caps.exact and caps.optimization and caps.linear_relaxation and not caps.formulas and not caps.nonlinear
    assert select(exact=True, optimization=True, formulas=True).name == "z3"
    assert get_backend("highs").name == "highs"
    with pytest.raises(UnsupportedQueryError, match="does not decide formulas"):
        backend.session(None)


def exact_optimizers():
    return [b for b in available().values() if not isinstance(b, str) and b.capabilities.exact and b.capabilities.optimization]


@pytest.mark.parametrize("backend", exact_optimizers(), ids=lambda b: b.name)
def test_every_exact_optimizer_agrees_with_sampling_and_the_relaxation(backend):
    """The same twins extremes by each backend with exact optimization (LP branch and bound, Z3's optimizer):
    equal exact rationals, above every sampled value, inside the LP relaxation's certified bound."""
    n2 = relu_net(6, (2, 3, 3, 2))
    n1 = generate.quantize(n2, "int", 4)
    box = ball([0.3, -0.2], "0.4")
    analysis = Analysis((n1, n2), box)
    form = Twins(n1, n2).margin_coeffs(0, 1)
    rng = np.random.default_rng(0)
    lo = np.array([float(v) for v in box.lower])
    hi = np.array([float(v) for v in box.upper])
    xs = np.vstack([rng.uniform(lo, hi, size=(3000, 2)), rng.integers(0, 2, size=(100, 2)) * (hi - lo) + lo])
    values = (n1.logits(xs)[:, 0] - n1.logits(xs)[:, 1]) - (n2.logits(xs)[:, 0] - n2.logits(xs)[:, 1])
    mine = Strategy("exact", backend, True)
    reference = Strategy("exact", select(linear_relaxation=True), True)
    for sense in ("min", "max"):
        got = analysis.extreme([form], sense, mine, timeout=60)
        want = analysis.extreme([form], sense, reference)
        relaxed = analysis.extreme([form], sense, "relaxation")
        assert got.gap == 0 and got.lower == want.lower, (backend.name, sense)
        assert got.provenance.solver == backend.name
        if sense == "max":
            assert values.max() <= float(got.upper) + 1e-9 and got.upper <= relaxed.upper
        else:
            assert values.min() >= float(got.lower) - 1e-9 and got.lower >= relaxed.lower
