"""σ (Eq. 13) by one certified LP per linear piece (smtnn/pieces.py) against the solver path, sampling and the oracle.

The piece path must give intervals that intersect the solver path's (both are certified), close
the gap, replay its witnesses exactly, survive the sampling checkers and the independent oracle,
and be caught when its upper end is planted too low.
"""
from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import campaign  # noqa: E402
import test_fuzz_soundness as fz  # noqa: E402
from smtnn import Network, pieces, properties  # noqa: E402
from smtnn import perturbation as perturbations  # noqa: E402
from smtnn.domain import Box  # noqa: E402

Q = Fraction
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = dict(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate])


def _draw_net(d, n_in: int, output: str, kinds=("relu", "relu", "linear", "leaky_relu")) -> Network:
    """A network the piece path applies to: no hidden layer or one of width 1-3 (relu, linear, leaky relu)."""
    hidden = d.integer(0, 1)
    widths = [d.integer(1, 3)] * hidden
    acts = [d.choice(kinds)] * hidden
    sizes = widths + ([1] if output == "binary" else [3])
    weights, biases, prev = [], [], n_in
    for size in sizes:
        weights.append([[fz.draw_weight(d) for _ in range(prev)] for _ in range(size)])
        biases.append([fz.draw_weight(d) for _ in range(size)])
        prev = size
    alphas = [0.125 if a == "leaky_relu" else None for a in acts] + [None]
    out = "sigmoid" if output == "binary" else "softmax"
    decision = "argmax" if output == "binary" else d.choice(("argmax", "argmin"))
    return Network.from_arrays(weights, biases, acts + [out], alphas=alphas, name="pieces", decision=decision)


def _draw_case(d, n_in: int, output: str, kinds=("relu", "relu", "linear", "leaky_relu")) -> fz.Case:
    net = _draw_net(d, n_in, output, kinds)
    lower, upper, x0 = fz.draw_domain(d, n_in)
    spec = d.choice(({"model": "uniform", "delta": "1/100"}, {"model": "uniform", "delta": "1/4"},
                     {"model": "relative", "delta": "1/10"}, {"model": "subset", "delta": "1/20", "layers": [-1]}))
    return fz.Case(net, {"property": "global_sigma", "perturbation": spec, "domain": {"lower": lower, "upper": upper},
                         "x0": x0, "timeout": 5.0, "tolerance": "1/1000000", "solver": "z3"})


def _run(case: fz.Case, by_pieces: bool):
    return properties.global_sigma(case.network, case.perturbation(), case.domain(), tolerance=Q(1, 10 ** 6),
                                   timeout=2.0, by_pieces=by_pieces)


def _used_pieces(estimates) -> bool:
    """Did the piece path answer every class (classes that are never the label need no LP: solver "none")?"""
    solvers = {e.provenance.solver for e in estimates.values()}
    return "highs" in solvers and solvers <= {"highs", "none"}


@settings(max_examples=20, **SETTINGS)
@given(st.data(), st.sampled_from((1, 2, 3)), st.sampled_from(("binary", "binary", "multi")))
def test_pieces_agree_with_the_solver_path(data, n_in, output):
    """Both paths are certified, so their intervals must meet; the piece path also closes its gap."""
    case = _draw_case(fz.HypothesisDraw(data), n_in, output)
    fast = _run(case, True)
    if not _used_pieces(fast):
        return   # the pieces grew too many: the solver path answered (covered elsewhere)
    slow = _run(case, False)
    for c in fast:
        a, b = fast[c], slow[c]
        assert a.lower <= b.upper and b.lower <= a.upper, (c, a, b)
        if b.gap <= b.tolerance and not b.reason:
            assert a.gap <= b.tolerance, (c, a, b)   # as tight as an exact solver answer


@settings(max_examples=12, **SETTINGS)
@given(st.data(), st.sampled_from((1, 2, 3)), st.sampled_from(("binary", "multi")))
def test_pieces_pass_sampling_and_the_oracle(data, n_in, output):
    """The sampling checkers and the independent oracle (relu and linear units) find no flip above the upper end
    and no bad witness."""
    case = _draw_case(fz.HypothesisDraw(data), n_in, output, ("relu", "linear"))
    result = _run(case, True)
    report = fz.check_case(case, result, seed=3)
    campaign.oracle_check(case, result, report, 3)
    assert not report.failures, (report.failures, fz.describe(result), fz.case_json(case))


def test_the_line_by_hand():
    """z = x - 1/2 on [0, 1], δ = 1/10 on w and b: class 1 flips iff (9/10)x - 6/10 < 0, so σ_1 = sigmoid(1/6) - 1/2
    (x -> 2/3); class 0 flips iff (11/10)x - 4/10 >= 0, so σ_0 = 1/2 - sigmoid(4/11 - 1/2) (x = 4/11)."""
    net = Network.from_arrays([[[1.0]]], [[-0.5]], ["sigmoid"])
    est = properties.global_sigma(net, perturbations.uniform(net, "1/10"), Box(("0",), ("1",)))
    by_hand = {1: 1 / (1 + np.exp(-1 / 6)) - 0.5, 0: 0.5 - 1 / (1 + np.exp(-(4 / 11 - 0.5)))}
    for c, value in by_hand.items():
        assert est[c].provenance.solver == "highs"
        assert float(est[c].lower) <= value + 1e-15 and value - 1e-15 <= float(est[c].upper)
        assert est[c].gap <= Q(1, 10 ** 9)


@pytest.mark.parametrize("name", ["cats", "athletes_relu", "athletes_linear"])
def test_case_studies_match_the_exact_optimizer(name):
    """On the paper's networks the piece path's upper ends are Z3's exact optima, to the last digit."""
    from case_studies.models import domain, load_case_study

    net = load_case_study(name)
    pert, box = perturbations.uniform(net, "0.01"), Box(*domain(name))
    fast = properties.global_sigma(net, pert, box)
    slow = properties.global_sigma(net, pert, box, by_pieces=False)
    for c in (0, 1):
        assert "linear piece" in fast[c].provenance.method
        assert fast[c].upper == slow[c].upper
        assert slow[c].lower <= fast[c].lower <= fast[c].upper


@pytest.mark.parametrize("plant", ["low bound", "empty region"])
def test_a_planted_low_upper_end_is_caught(monkeypatch, plant):
    """A leaf solver that under-reports its maximum by 1/10 (without a witness), or calls every region empty,
    is caught by the sampling checkers and the oracle."""
    real = pieces._PolygonPiece.solve

    def planted(self, objective, rows):
        bound, points = real(self, objective, rows)
        if plant == "empty region" or bound is None:
            return None, []
        return bound - Q(1, 10), []

    monkeypatch.setattr(pieces._PolygonPiece, "solve", planted)
    net = Network.from_arrays([[[1.0, 0.5]]], [[-0.5]], ["sigmoid"])
    case = fz.Case(net, {"property": "global_sigma", "perturbation": {"model": "uniform", "delta": "1/10"},
                         "domain": {"lower": ["0", "0"], "upper": ["1", "1"]}, "x0": ["0", "0"], "timeout": 5.0})
    result = properties.global_sigma(net, case.perturbation(), case.domain())
    assert _used_pieces(result)
    report = fz.check_case(case, result, seed=0)
    campaign.oracle_check(case, result, report, 0)
    assert report.failures


def test_a_planted_uncertified_bound_falls_back(monkeypatch):
    """When an LP answer cannot be certified the solver path answers, with the same interval."""
    def refuse(*args, **kwargs):
        raise pieces.NotCertified("planted")

    net = Network.from_arrays([[[1.0], [-2.0]], [[1.0, 0.5]]], [[0.1, 0.2], [-0.3]], ["relu", "sigmoid"])
    pert, box = perturbations.uniform(net, "1/20"), Box(("-1",), ("1",))
    good = properties.global_sigma(net, pert, box)
    assert _used_pieces(good)
    monkeypatch.setattr(pieces._LinearPrograms, "solve", refuse)
    fallback = properties.global_sigma(net, pert, box)
    for c in (0, 1):
        assert fallback[c].provenance.solver.startswith("z3")
        assert fallback[c].lower <= good[c].upper and good[c].lower <= fallback[c].upper


def test_float_signs_fall_back_to_exact_on_ties():
    """A function exactly zero at a vertex is decided exactly (the float error bound leaves it open)."""
    third = Q(1, 3)
    f = (Q(1), Q(-1), ZERO_ := Q(0))
    points = [((float(third), float(third)), (third, third)), ((1.0, 0.0), (Q(1), Q(0)))]
    assert pieces._float_sign(f, points) == 1
    g = (Q(1), Q(-1), Q(-1, 10 ** 30))
    assert pieces._float_sign(g, points[:1]) == -1
    assert ZERO_ == 0


def test_the_float_error_bound_is_the_rounding_modules():
    """The hot-loop error bound of the float sign filter is smtnn.rounding.sum_error, written as slope·m + UNDERFLOW."""
    from smtnn.rounding import UNDERFLOW, sum_error

    for terms in (3, 9, 30):
        for magnitude in (0.0, 1e-300, 1.0, 3.5e7):
            assert pieces._error_slope(terms) * magnitude + UNDERFLOW == float(sum_error(terms, magnitude))
