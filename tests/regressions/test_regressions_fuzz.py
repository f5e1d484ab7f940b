"""Regressions for bugs found by the soundness fuzzer (tests/test_fuzz_soundness.py, tests/campaign.py).

The CLI bad-input regressions (--domain '1:', --layers 1.5, --timeout nan/inf, --delta a,b, export -o into a
missing directory or onto a directory) live in tests/test_bad_input.py.
"""
from __future__ import annotations

import time
from fractions import Fraction

import mpmath
import numpy as np

from smtnn import Box, Network, perturbation, properties
from smtnn.exact import sigmoid_enclosure


def test_sigmoid_of_a_very_negative_logit_is_fast_and_still_encloses():
    """sigmoid(-1e9) ~ 2^-1.4e9 used to be built as an exact fraction: ~30 s and gigabytes."""
    start = time.perf_counter()
    tiny = sigmoid_enclosure(Fraction(-10 ** 9))
    assert time.perf_counter() - start < 1.0
    assert tiny.lo == 0 < tiny.hi <= Fraction(1, 2 ** 4096)          # outward: [0, 2^-4096] contains the true value
    one = sigmoid_enclosure(Fraction(10 ** 9))
    assert one.lo < 1 <= one.hi
    # ordinary arguments keep their exact, tight enclosures
    for z in (Fraction(-50), Fraction(-2800), Fraction(1, 3)):   # e^-2800 ~ 2^-4040 is still exact
        e = sigmoid_enclosure(z)
        with mpmath.workprec(300):
            true = mpmath.mpf(1) / (1 + mpmath.exp(-mpmath.mpf(z.numerator) / z.denominator))
            lo, hi = (mpmath.mpf(q.numerator) / q.denominator for q in (e.lo, e.hi))
            assert 0 < lo <= true <= hi and hi - lo < true * mpmath.mpf(2) ** -100


def test_local_epsilon_with_huge_logits_is_fast():
    """Logistic regression with a 1e6 weight at x0 = -100 (z = -1e8): local ε took ~17 s, now milliseconds."""
    net = Network.from_arrays([[[1e6]]], [[0.0]], ["sigmoid"])
    box = perturbation.uniform(net, "0.01")
    start = time.perf_counter()
    est = properties.local_epsilon(net, box, ["-100"])
    verdict = properties.verify_local_epsilon(net, box, ["-100"], "0.1").verdict
    assert time.perf_counter() - start < 2.0
    assert 0 <= est.lower <= est.upper < Fraction(1, 10 ** 100)
    assert verdict.value == "holds"


def test_global_sigma_unknown_bound_is_fast():
    """Found by the fuzzer: when no witness replays, the 1e9 'unknown' objective bound went through sigmoid(-1e9)."""
    net = Network.from_arrays(
        [[[6.666666666666667, -75.0, 0.8125]], [[0.9375], [2.5454545454545454]], [[75.0, -1.75]]],
        [[-1.6363636363636365], [7.333333333333333, 4.9999999999999996e-06], [-0.5625]],
        ["sigmoid", "tanh", "sigmoid"])
    pert = perturbation.per_layer(net, ["1/20", "1", "1/100"])
    domain = Box(("-9/4", "3/4", "9/4"), ("-9/4", "751/1000", "13/4"))
    start = time.perf_counter()
    sigma = properties.global_sigma(net, pert, domain, tolerance="1/20", timeout=1.0)
    assert time.perf_counter() - start < 10.0
    for est in sigma.values():
        assert 0 <= est.lower <= est.upper <= 1


def test_global_epsilon_lower_end_is_never_negative():
    """With nothing perturbed, global ε's lower end was -1.5e-36 (the rounding tail of a sigmoid difference)."""
    net = Network.from_arrays([[[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0, 0.0]]], [[0.0] * 3, [1e-6]],
                              ["relu", "sigmoid"])
    est = properties.global_epsilon(net, perturbation.per_layer(net, ["0", "0"]), Box(("0", "0"), ("0", "0")))
    assert est.lower == 0 <= est.upper < Fraction(1, 10 ** 12)


def test_z3_timeout_below_one_millisecond_is_still_a_limit():
    """Z3 reads timeout=0 as 'no limit'; int(1000 * 0.0004) was 0, so a nearly spent deadline ran unbounded."""
    from smtnn.backends.z3_backend import Z3Backend
    from smtnn.encoder import Encoder

    net = Network.from_arrays([[[1.0]]], [[0.0]], ["sigmoid"])
    encoder = Encoder(net, perturbation.uniform(net, "0.1"))
    session = Z3Backend().session(encoder)
    real, seen = session.solver, []

    class Recorder:
        def set(self, key, value):
            seen.append((key, value))
            real.set(key, value)

        def __getattr__(self, name):
            return getattr(real, name)

    session.solver = Recorder()
    session.add(encoder.mgr.TRUE())
    session.check(0.0004)
    session.check(None)
    assert seen == [("timeout", 1), ("timeout", 0)]


def test_multi_class_flip_is_decided_on_enclosures():
    """Found by the campaign: z_1 = 5.4e-152 against z_2 in [-6.7e-153, 3.0e-36] (sigmoid units upstream) was read
    as label 1 by comparing lower ends only, and verify_global_label reported VIOLATED with a witness whose
    flip is undecided at the certified precision.  A reported witness must flip on the enclosures."""
    from smtnn.bounds import replay_logits
    from smtnn.result import Verdict

    net = Network.from_arrays(
        [[[0.0], [75.0]], [[-1.6875, -2.6363636363636362], [0.0, 2.0], [3e-06, -1.375]],
         [[0.0, 0.0, 100.0], [-100.0, 3e-06, 1.0], [-1.0, -1.8125, 6e-06]]],
        [[1.5625, -2.4], [-1.5625, 0.0, -0.3125], [-75.0, 0.0, 2.0]], ["relu", "sigmoid", "linear"])
    pert = perturbation.uniform(net, "1/4")
    result = properties.verify_global_label(net, pert, Box(("3",), ("13/4",)), timeout=5)
    if result.verdict is Verdict.VIOLATED:
        index = {str(n): i for i, n in enumerate(net.parameter_names())}
        params = list(pert.nominal)
        for name, value in result.witness.parameters.items():
            params[index[name]] = value
        x = list(result.witness.input)
        z0, zp = replay_logits(net, x, pert.nominal), replay_logits(net, x, params)
        c = max(range(3), key=lambda i: (z0[i].lo, -i))
        assert all(z0[c].lo > z0[j].hi for j in range(c)) and all(z0[c].lo >= z0[j].hi for j in range(c + 1, 3))
        assert any(zp[j].lo >= zp[c].hi for j in range(3) if j != c), "the witness does not flip on the enclosures"
    # the label rule itself: a tie between exact logits goes to the lower index, an enclosure overlap is undecided
    from smtnn.exact import Enclosure
    from smtnn.properties import _label

    point = Enclosure.point
    assert _label(net, [point(Fraction(0)), Enclosure(Fraction(-13), Fraction(-12)), point(Fraction(0))]) == 0
    try:
        _label(net, [point(Fraction(-75)), point(Fraction(1, 10 ** 151)), Enclosure(Fraction(-1, 10 ** 152), Fraction(1, 10 ** 36))])
    except ArithmeticError:
        pass
    else:
        raise AssertionError("an undecided argmax must not be reported as a label")


def test_global_epsilon_of_two_relu_layers_with_a_huge_negative_logit():
    """Found by the campaign (seed 2026120300186): the two-hidden-layer engine's float estimate of the σ-change took
    exp(-z0) of a logit below -709 (math range error, a crash).  It must answer with sound bounds."""
    net = Network.from_arrays(
        [[[0.375, 0.25], [-2.0, 0.25], [0.3125, -2.3636363636363638]],
         [[0.0, -0.3125, -0.9375], [0.8125, 0.625, -9e-06], [-0.5454545454545454, 3e-06, -1.0625]],
         [[-50.0, 2.0, -1e-06]]],
        [[-0.875, 6e-06, 3e-06], [25.0, 3.0, 4.9999999999999996e-06], [25.0]],
        ["relu", "relu", "sigmoid"])
    pert = perturbation.per_layer(net, ["1/100", "1/20", "1/1000"])
    domain = Box(("-2", "5/4"), ("1", "3/2"))
    est = properties.global_epsilon(net, pert, domain, tolerance="1/1000000", timeout=5.0)
    assert "pointwise reduction" in est.provenance.method
    assert 0 <= est.lower <= est.upper <= 1
    # the change of f at sampled points and parameters stays below the upper end
    rng = np.random.default_rng(0)
    lo = np.array([float(v) for v in pert.lower])
    hi = np.array([float(v) for v in pert.upper])
    for _ in range(200):
        x = np.array([rng.uniform(-2, 1), rng.uniform(1.25, 1.5)])
        p = rng.uniform(lo, hi)
        with np.errstate(over="ignore"):
            change = abs(1 / (1 + np.exp(-net.with_parameters(p).logits(x)[0])) - 1 / (1 + np.exp(-net.logits(x)[0])))
        assert change <= float(est.upper) + 1e-12


def test_global_sigma_witness_below_the_oracles_floor_really_flips():
    """Found by the campaign (seed 2026120408734): σ for class 1 came with a witness whose perturbed logit is about
    -5.5e-802, below the oracle's 2^-2000 floor, so the oracle could not tell the label and reported a failure.
    At 20,000 bits the witness does flip the label (z < 0 <= z0); the campaign now counts such cases as marginal."""
    net = Network.from_arrays([[[1.8125]], [[0.0], [25.0], [1.0]], [[0.0, -1.625, -0.8125]]],
                              [[-75.0], [0.0, -50.0, 1.625], [0.25]], ["linear", "sigmoid", "sigmoid"])
    pert = perturbation.uniform(net, "1")
    sigma = properties.global_sigma(net, pert, Box(("-5/4",), ("-1",)), tolerance="1/1000", timeout=5)
    witness = sigma[1].witness
    assert witness is not None
    names = [str(n) for n in net.parameter_names()]
    params = list(pert.nominal)
    for name, value in witness.parameters.items():
        params[names.index(name)] = value

    def logit(p):
        with mpmath.workprec(20000):
            h = [mpmath.mpf(v.numerator) / v.denominator for v in witness.input]
            start = 0
            for layer in net.layers:
                rows, cols = layer.weights.shape
                w = [mpmath.mpf(v.numerator) / v.denominator for v in p[start:start + rows * cols + rows]]
                start += rows * cols + rows
                a = [sum(w[r * cols + c] * h[c] for c in range(cols)) + w[rows * cols + r] for r in range(rows)]
                h = a if layer.activation == "linear" else [1 / (1 + mpmath.exp(-v)) for v in a]
            return a[0]

    assert logit(list(pert.nominal)) >= 0 > logit(params)
