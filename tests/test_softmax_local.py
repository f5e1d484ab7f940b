"""Exact multi-class local ε (smtnn/softmax_local.py) against sampling, the oracle, the pairwise bound and a plant.

The largest change of any class probability at x0 must be enclosed by [lower, upper] (sampling
and gradient attacks from tests/oracle.py never exceed `upper`; the witness replays to `lower`),
the interval must meet the older pairwise-margin interval and be at least as tight, and a planted
optimistic bound must be caught.
"""
from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import campaign  # noqa: E402
import test_fuzz_soundness as fz  # noqa: E402
from smtnn import Network, properties, softmax_local  # noqa: E402

Q = Fraction
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = dict(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate])


def _draw_case(d) -> fz.Case:
    """A softmax network the exact path applies to: no hidden layer, one, or two with only the last two perturbed."""
    n_in = d.integer(1, 3)
    hidden = d.integer(0, 2)
    widths = [d.integer(1, 4) for _ in range(hidden)]
    acts = [d.choice(("relu", "relu", "linear")) for _ in range(hidden)]
    sizes = widths + [d.integer(2, 4)]
    weights, biases, prev = [], [], n_in
    for size in sizes:
        weights.append([[fz.draw_weight(d) for _ in range(prev)] for _ in range(size)])
        biases.append([fz.draw_weight(d) for _ in range(size)])
        prev = size
    decision = d.choice(("argmax", "argmin"))
    net = Network.from_arrays(weights, biases, acts + ["softmax"], name="softmax", decision=decision)
    delta = d.choice(("1/1000", "1/100", "1/20", "1/4"))
    spec = {"model": "subset", "delta": delta, "layers": [-2, -1]} if hidden == 2 else \
        d.choice(({"model": "uniform", "delta": delta}, {"model": "relative", "delta": "1/10"},
                  {"model": "subset", "delta": delta, "layers": [-1]}))
    lower, upper, x0 = fz.draw_domain(d, n_in)
    return fz.Case(net, {"property": "local_epsilon", "perturbation": spec, "domain": {"lower": lower, "upper": upper},
                         "x0": x0, "timeout": 5.0, "tolerance": "1/1000000"})


def _estimate(case: fz.Case):
    return properties.local_epsilon(case.network, case.perturbation(), case.query["x0"], tolerance=Q(1, 10 ** 6))


@settings(max_examples=8, **SETTINGS)
@given(st.data())
def test_exact_change_passes_sampling_and_the_oracle(data):
    """Sampling and the oracle's gradient attack stay below `upper`; the witness replays; the gap is closed."""
    case = _draw_case(fz.HypothesisDraw(data))
    est = _estimate(case)
    assert "exact: hidden-unit box" in est.provenance.method, est.provenance.method
    report = fz.check_case(case, est, seed=5)
    campaign.oracle_check(case, est, report, 5)
    assert not report.failures, (report.failures, fz.describe(est), fz.case_json(case))
    assert est.gap <= Q(1, 10 ** 6) or est.reason


@settings(max_examples=20, **SETTINGS)
@given(st.data())
def test_exact_change_is_within_the_pairwise_bound(data):
    """The pairwise-margin interval (the previous method) is certified too: the two must meet, the exact one at least
    as tight (up to 1e-20: both ends are 120-bit interval enclosures of exp, which may differ in their last bits)."""
    case = _draw_case(fz.HypothesisDraw(data))
    exact = _estimate(case)
    applies = softmax_local.applies
    softmax_local.applies = lambda *args: False
    try:
        pairwise = _estimate(case)
    finally:
        softmax_local.applies = applies
    assert exact.lower <= pairwise.upper and pairwise.lower <= exact.upper
    assert exact.gap <= pairwise.gap + Q(1, 10 ** 20)


def test_two_classes_by_hand():
    """Logits z = (x, 0) at x = 0 with δ = 1/2 on the weight and both biases: z_0 - z_1 ranges over [-1, 1],
    so P_0 ranges over [sigmoid(-1), sigmoid(1)] and the largest change is sigmoid(1) - 1/2."""
    net = Network.from_arrays([[[1.0], [0.0]]], [[0.0, 0.0]], ["softmax"])
    from smtnn import perturbation

    pert = perturbation.subset(net, "1/2", layers=[-1])
    est = properties.local_epsilon(net, pert, ["0"])
    value = 1 / (1 + np.exp(-1.0)) - 0.5
    assert float(est.lower) <= value + 1e-15 and value - 1e-15 <= float(est.upper)
    assert est.gap <= Q(1, 10 ** 12)


def test_a_planted_optimistic_bound_is_caught(monkeypatch):
    """A rise bound raised by 1/2 and a fall bound of -50 (with a poor minimizer, the box centre) let the upper end
    fall below a reachable change."""
    real = softmax_local._tangent_bound

    def planted(*args):
        bound, value = real(*args)
        return bound + Q(1, 2), value

    monkeypatch.setattr(softmax_local, "_tangent_bound", planted)
    monkeypatch.setattr(softmax_local, "_minimize_lse", lambda a, beta, lo, hi: (lo + hi) / 2)
    centre = lambda s: [(a + b) / 2 for a, b in zip(s.h_lo, s.h_hi)]  # noqa: E731
    monkeypatch.setattr(softmax_local, "_fall", lambda s, c, others: (Q(-50), centre(s), True))
    net = Network.from_arrays([[[1.0], [-1.0]], [[1.0, -1.0], [-1.0, 1.0], [0.5, 0.5]]],
                              [[0.5, 0.5], [0.0, 0.0, 0.0]], ["relu", "softmax"])
    case = fz.Case(net, {"property": "local_epsilon", "perturbation": {"model": "uniform", "delta": "1/4"},
                         "domain": {"lower": ["1"], "upper": ["1"]}, "x0": ["1"], "timeout": 5.0})
    est = properties.local_epsilon(net, case.perturbation(), ["1"])
    report = fz.check_case(case, est, seed=0)
    campaign.oracle_check(case, est, report, 0)
    assert report.failures
