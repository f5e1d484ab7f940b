"""The soundness campaign on a small seeded budget (the long run: ``python -m tests.campaign --minutes 30``).

Also checks the independent oracle itself: its gradients against finite differences, its exact pass
against smtnn's, and that it catches fabricated unsound answers.
"""
from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import campaign  # noqa: E402
import oracle  # noqa: E402
import test_fuzz_soundness as fz  # noqa: E402
from smtnn import Network, perturbation  # noqa: E402
from smtnn.bounds import replay_logits  # noqa: E402
from smtnn.result import Estimate, Provenance, Verdict, VerificationResult  # noqa: E402

Q = Fraction
SEEDS = range(910_000, 910_006)
ARGS = argparse.Namespace(solvers=["z3"], timeout=1.0, max_boxes=3_000)


@pytest.mark.parametrize("prop", campaign.PROPERTIES)
def test_campaign_slice(prop):
    """Six seeded cases per property: sampling checkers, the oracle and the JSON replay find nothing."""
    for seed in SEEDS:
        record = campaign.run_job(seed, prop, ARGS)
        assert record["kind"] == "ok", (prop, seed, record["failures"], record.get("traceback", ""))


def _random_net(rng, acts, out) -> Network:
    sizes = [2, 3, 3][:len(acts) + 1] + [out]
    weights = [rng.normal(size=(b, a)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(size=b) for b in sizes[1:]]
    return Network.from_arrays(weights, biases, list(acts) + ["softmax" if out > 1 else "sigmoid"])


@pytest.mark.parametrize("acts", [("relu",), ("tanh", "sigmoid"), ("linear", "relu")])
def test_oracle_gradient_matches_finite_differences(acts):
    rng = np.random.default_rng(1)
    net = _random_net(rng, acts, 3)
    fnet = oracle.FloatNet(net)
    x, p = rng.normal(size=2), net.parameter_vector() + 0.01 * rng.normal(size=net.n_parameters)
    direction = rng.normal(size=3)
    z, cache = fnet.forward(x, p)
    gx, gp = fnet.backward(cache, direction, p.size)
    h = 1e-6
    for i in range(p.size):
        e = np.zeros(p.size)
        e[i] = h
        numeric = (direction @ fnet.forward(x, p + e)[0] - direction @ fnet.forward(x, p - e)[0]) / (2 * h)
        assert numeric == pytest.approx(gp[i], rel=1e-5, abs=1e-6)
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        numeric = (direction @ fnet.forward(x + e, p)[0] - direction @ fnet.forward(x - e, p)[0]) / (2 * h)
        assert numeric == pytest.approx(gx[i], rel=1e-5, abs=1e-6)
    assert np.allclose(z, net.with_parameters(p).logits(x))


def test_oracle_exact_pass_encloses_smtnns():
    rng = np.random.default_rng(2)
    for acts in (("relu",), ("tanh", "sigmoid")):
        net = _random_net(rng, acts, 3)
        x = [Q(1, 3), Q(-2, 7)]
        mine = oracle.exact_logits(oracle.layers_of(net), x, net.exact_parameters())
        theirs = replay_logits(net, x, net.exact_parameters())
        for (lo, hi), e in zip(mine, theirs):
            assert lo <= hi and max(lo, e.lo) <= min(hi, e.hi)   # both enclose the true logit
            if acts == ("relu",):
                assert lo == hi == e.lo == e.hi


def _fake(prop: str, verdict=Verdict.HOLDS):
    return VerificationResult(prop, verdict, Provenance("none", "exact", "fabricated", 0.0))


def test_oracle_catches_a_false_holds_that_needs_a_search():
    """The flip needs the input and the parameters moved together: the oracle's ascent finds it."""
    net = Network.from_arrays([[[1.0, -1.0], [0.5, 0.5]], [[1.0, -1.0], [-1.0, 1.0], [0.0, 0.0]]],
                              [[0.0, 0.0], [0.0, 0.0, -0.25]], ["relu", "linear"], decision="argmin")
    case = fz.Case(net, {"property": "verify_global_label", "perturbation": {"model": "uniform", "delta": "1/8"},
                         "domain": {"lower": ["-1", "-1"], "upper": ["1", "1"]}, "x0": ["0", "0"], "timeout": 1.0})
    report = fz.Report()
    assert campaign.oracle_check(case, _fake("verify_global_label"), report, 0) > 0
    assert report.failures and "HOLDS contradicted" in report.failures[0]


def test_oracle_catches_an_upper_end_below_a_reachable_value():
    net = Network.from_arrays([[[2.0]]], [[0.0]], ["sigmoid"])
    case = fz.Case(net, {"property": "local_epsilon", "perturbation": {"model": "uniform", "delta": "1/2"},
                         "domain": {"lower": ["1"], "upper": ["1"]}, "x0": ["1"], "timeout": 1.0})
    fake = Estimate("local epsilon", Q(0), Q(1, 100), Q(1, 10 ** 6), Provenance("none", "exact", "fabricated", 0.0))
    report = fz.Report()
    campaign.oracle_check(case, fake, report, 0)
    assert report.failures and "upper" in report.failures[0]


def test_oracle_catches_a_sigma_upper_end_below_a_flip():
    net = Network.from_arrays([[[1.0]]], [[0.0]], ["sigmoid"])
    case = fz.Case(net, {"property": "global_sigma", "perturbation": {"model": "uniform", "delta": "1/2"},
                         "domain": {"lower": ["-1"], "upper": ["1"]}, "x0": ["0"], "timeout": 1.0})
    prov = Provenance("none", "exact", "fabricated", 0.0)
    fake = {1: Estimate("s1", Q(0), Q(0), Q(1, 10 ** 6), prov), 0: Estimate("s0", Q(0), Q(0), Q(1, 10 ** 6), prov)}
    report = fz.Report()
    campaign.oracle_check(case, fake, report, 0)
    assert report.failures and "flips" in report.failures[0]


def test_the_tie_rule_of_the_oracle():
    rule = oracle.Rule(False, 1, Q(1, 2))
    tie = [(Q(0), Q(0)), (Q(0), Q(0)), (Q(-1), Q(-1))]
    assert rule.label(tie) == 0 and not rule.flips(0, tie) and rule.flips(1, tie)
    argmin = oracle.Rule(False, -1, Q(1, 2))
    assert argmin.label(tie) == 2 and argmin.label([(Q(0), Q(0)), (Q(0), Q(0)), (Q(1), Q(1))]) == 0
