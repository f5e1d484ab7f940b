"""Regressions for the decision rule: exact ties, argmin networks, witnesses that replay from their JSON.

Each test failed before the fix it names.
"""
from __future__ import annotations

import itertools
import json
from fractions import Fraction

import numpy as np
import pytest

from smtnn import Box, Network, perturbation, properties
from smtnn.bounds import replay_logits
from smtnn.errors import InvalidInputError
from smtnn.replay import replay
from smtnn.result import Verdict, to_json

Q = Fraction


def tie_network() -> Network:
    """z = (x, 0) on one input: at x = 0 the two logits tie exactly (label 0, the lowest index)."""
    return Network.from_arrays([[[1.0], [0.0]]], [[0.0, 0.0]], ["linear"], name="tie")


def test_tie_at_delta_zero_is_not_a_flip():
    """At δ = 0 nothing moves, yet the global label answered VIOLATED with a witness changing no parameter:
    the exact tie z0 = z1 at x = 0 counted as a flip although argmax (lowest index) keeps label 0.
    Local label and σ must agree (σ = [0, 0]: no label can flip)."""
    net = tie_network()
    box = perturbation.uniform(net, "0")
    domain = Box(("-1",), ("1",))
    assert properties.verify_global_label(net, box, domain).verdict is Verdict.HOLDS
    assert properties.verify_local_label(net, box, ["0"]).verdict is Verdict.HOLDS
    for c, est in properties.global_sigma(net, box, domain).items():
        assert est.lower == est.upper == 0, c


def test_tie_with_an_earlier_class_is_a_flip_and_its_witness_replays():
    """z = (0, x): at x = 0 the tie gives label 0; with δ > 0, z1 takes over strictly (x = 0 and p moved)."""
    net = tie_network()
    box = perturbation.uniform(net, "1/10")
    result = properties.verify_global_label(net, box, Box(("-1",), ("1",)))
    assert result.verdict is Verdict.VIOLATED
    data = json.loads(to_json(result))
    assert replay(data, net).ok
    # the value is the margin of the class that won: recomputed here from the exact logits
    x = [Q(v) for v in data["witness"]["input_exact"]]
    params = list(box.nominal)
    names = [str(n) for n in net.parameter_names()]
    for name, text in data["witness"]["parameters_exact"].items():
        params[names.index(name)] = Q(text)
    z = sorted(v.lo for v in replay_logits(net, x, params))
    assert Q(data["witness"]["value_exact"][0]) == z[-1] - z[-2] > 0


def argmin_network() -> Network:
    """3 classes, argmin of the logits (an ACAS-Xu-style advisory), one relu hidden layer of 2 units."""
    return Network.from_arrays([[[1.0, -0.5], [0.25, 1.0]], [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]],
                               [[0.0, 0.125], [0.0, 0.0, 0.0625]], ["relu", "linear"], name="advisory", decision="argmin")


def brute_force_flips(net: Network, pert, x) -> bool:
    """Only the last layer moves (δ on it), so every s_j - s_c is linear in the parameters: a flip exists iff
    it exists at a corner of the box.  Enumerates every corner, exactly, with the network's rule (lowest index on ties)."""
    x = [Q(v) for v in x]
    free = pert.free
    sign = 1 if net.decision == "argmin" else -1
    z0 = [v.lo for v in replay_logits(net, x, pert.nominal)]
    c = min(range(len(z0)), key=lambda k: (sign * z0[k], k))
    for ends in itertools.product((0, 1), repeat=len(free)):
        params = list(pert.nominal)
        for i, e in zip(free, ends):
            params[i] = pert.upper[i] if e else pert.lower[i]
        z = [v.lo for v in replay_logits(net, x, params)]
        if min(range(len(z)), key=lambda k: (sign * z[k], k)) != c:
            return True
    return False


@pytest.mark.parametrize("delta", ["1/64", "1/16", "1/8", "1/4"])
def test_argmin_local_label_matches_brute_force(delta):
    """Network.decision = "argmin" is honoured: verdicts agree with corner enumeration under argmin, and the
    nominal labels are the argmin ones (before the fix the decision rule did not exist: argmax was checked)."""
    net = argmin_network()
    pert = perturbation.subset(net, delta, layers=[-1])
    rng = np.random.default_rng(5)
    points = [[Q(int(a), 8), Q(int(b), 8)] for a, b in rng.integers(-16, 17, size=(12, 2))]
    assert net.predict(np.array([[1.0, 0.0]]))[0] == int(np.argmin(net.logits([1.0, 0.0])))
    seen = set()
    for x in points:
        result = properties.verify_local_label(net, pert, x)
        truth = brute_force_flips(net, pert, x)
        assert result.verdict is (Verdict.VIOLATED if truth else Verdict.HOLDS), (x, result.reason)
        seen.add(truth)
        if truth:
            assert replay(json.loads(to_json(result)), net).ok
    assert seen == {True, False} or delta == "1/4"
    argmax_twin = Network(net.layers, name="advisory", decision="argmax")
    assert [brute_force_flips(argmax_twin, pert, x) for x in points] != \
        [brute_force_flips(net, pert, x) for x in points] or delta == "1/4"   # the rule matters on these points


def test_argmin_global_label_and_sigma_agree_with_sampling():
    """Global label under argmin: a VIOLATED witness flips the argmin label; σ's witnesses replay under argmin."""
    net = argmin_network()
    pert = perturbation.subset(net, "1/16", layers=[-1])
    domain = Box(("-1", "-1"), ("1", "1"))
    result = properties.verify_global_label(net, pert, domain)
    assert result.verdict is Verdict.VIOLATED
    data = json.loads(to_json(result))
    assert data["query"]["decision"] == "argmin"
    assert replay(data, net).ok
    sigma = properties.global_sigma(net, pert, domain)
    assert replay(json.loads(to_json(sigma)), net).ok


def test_argmin_needs_several_logits():
    with pytest.raises(InvalidInputError, match="argmin"):
        Network.from_arrays([[[1.0]]], [[0.0]], ["sigmoid"], decision="argmin")
    with pytest.raises(InvalidInputError, match="decision"):
        Network.from_arrays([[[1.0], [0.0]]], [[0.0, 0.0]], ["linear"], decision="max")


def test_replay_decides_a_binary_label_on_the_logit_not_on_the_sigmoid():
    """Found by the campaign (verify_global_sigma, seed 202603740): the nominal logit was -1.45e-59, so the
    label is certainly 0 (z < logit(1/2) = 0), but sigmoid(z) and 1/2 share every 120-bit enclosure; the
    replay (and the oracle) compared sigmoid(z) with the level and called the label uncertain."""
    net = Network.from_arrays([[[1.0]]], [[0.0]], ["sigmoid"], name="logistic")
    x0 = f"-1/{2 ** 200}"
    box = perturbation.uniform(net, "1/1000")
    result = properties.verify_local_label(net, box, [x0])
    assert result.verdict is Verdict.VIOLATED
    report = replay(json.loads(to_json(result)), net)
    assert report.ok, report.failures


def test_violation_below_the_oracles_floor_is_not_a_checker_failure():
    """Campaign finding (seed 424200775): local ε = 0 on a net whose confidence is about e^-1698.

    Any parameter change moves f (the relu is active and sigmoid strictly increasing), so VIOLATED is right and
    its witness's exact change is positive; the oracle's enclosures stop at 2^-2000 and straddle 0, which
    used to be reported as an engine failure.  Now the oracle fails only on a contradiction it can see.
    """
    from tests import campaign, test_fuzz_soundness as fz

    net = Network.from_arrays([[[-50.0, 0.375]], [[10.0]], [[-6.666666666666667]]], [[1.8125], [-1.875], [1.3125]],
                              ["linear", "relu", "sigmoid"])
    result = properties.verify_local_epsilon(net, perturbation.uniform(net, "1/1000000"), ["-1/2", "-3"], "0")
    assert result.verdict is Verdict.VIOLATED
    value = json.loads(to_json(result))["witness"]["value_exact"]
    assert Fraction(value[0]) > 0
    case = fz.Case(net, {"property": "verify_local_epsilon", "perturbation": {"model": "uniform", "delta": "1/1000000"},
                         "domain": {"lower": ["-1/2", "-3"], "upper": ["-1/2", "-3"]}, "x0": ["-1/2", "-3"],
                         "timeout": 5.0, "tolerance": "1/20", "solver": "z3", "epsilon": "0"})
    record = campaign.evaluate(case, 424200775)
    assert record["kind"] == "ok", record["failures"]
    assert record["marginal"], "the oracle cannot decide this change and must say so"
