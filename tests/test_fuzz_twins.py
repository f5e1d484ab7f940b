"""Soundness fuzzing of twins (LRSM): random networks, twin generators and balls, checked against sampling.

For every drawn case: the exact and the relaxed bounds of log-RSM enclose every sampled value,
the relaxation encloses the exact bounds, and every witness lies in the box and replays exactly.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtnn import Network
from smtnn.bounds import replay_logits
from smtnn.twins import attained, ball, by_pair, generate, lrsm


MAGNITUDES = (0.0, 1e-3, 0.5, 1.0, 3.0)


@st.composite
def twin_cases(draw):
    n_in = draw(st.integers(1, 3))
    hidden = draw(st.lists(st.integers(1, 5), min_size=0, max_size=2))
    binary = draw(st.booleans())
    sizes = [n_in, *hidden, 1 if binary else draw(st.integers(2, 3))]
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    weights, biases = [], []
    for a, b in zip(sizes[:-1], sizes[1:]):
        scale = draw(st.sampled_from(MAGNITUDES[1:]))
        w = rng.normal(size=(b, a)) * scale
        w[rng.random(size=w.shape) < draw(st.sampled_from((0.0, 0.3)))] = 0.0
        weights.append(w)
        biases.append(rng.normal(size=b) * draw(st.sampled_from(MAGNITUDES)))
    acts = ["relu"] * len(hidden) + ["sigmoid" if binary else "softmax"]
    reference = Network.from_arrays(weights, biases, acts)
    maker = draw(st.sampled_from(("int8", "int4", "prune", "jitter")))
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
    radius = draw(st.sampled_from(("0.01", "0.1", "0.5")))
    return twin, reference, centre, radius


def _margin(net: Network, xs: np.ndarray, ci: int, cj: int) -> np.ndarray:
    z = np.atleast_2d(net.logits(xs))
    return z[:, 0] * (ci - cj) if net.binary else z[:, ci] - z[:, cj]


def _exact_log_rsm(n1: Network, n2: Network, x, ci: int, cj: int) -> Fraction:
    def margin(net):
        z = [e.lo for e in replay_logits(net, list(x), net.exact_parameters())]
        return z[0] * (ci - cj) if net.binary else z[ci] - z[cj]
    return margin(n1) - margin(n2)


@settings(max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(twin_cases())
def test_fuzz_lrsm_bounds_contain_sampling_and_relaxation_contains_exact(case):
    n1, n2, centre, radius = case
    report = lrsm(n1, n2, centre, radius, engine="exact", compare=("relaxation",), timeout=10)
    box = ball(centre, radius)
    lo = np.array([float(v) for v in box.lower])
    hi = np.array([float(v) for v in box.upper])
    rng = np.random.default_rng(0)
    corners = rng.integers(0, 2, size=(500, lo.size)) * (hi - lo) + lo
    xs = np.vstack([rng.uniform(lo, hi, size=(3000, lo.size)), corners])
    slack = 1e-9 * (1 + np.abs(n1.parameter_vector()).max() + np.abs(n2.parameter_vector()).max()) * 10
    ci = report.query["ci"]
    for cj, pair in by_pair(report).items():
        values = _margin(n1, xs, ci, cj) - _margin(n2, xs, ci, cj)
        for engine, est in pair["min"].items():
            assert values.min() >= float(est.lower) - slack, (engine, "min", float(est.lower), values.min())
        for engine, est in pair["max"].items():
            assert values.max() <= float(est.upper) + slack, (engine, "max", float(est.upper), values.max())
        if "exact" in pair["min"] and "relaxation" in pair["min"]:
            assert pair["min"]["relaxation"].lower <= pair["min"]["exact"].lower
        if "exact" in pair["max"] and "relaxation" in pair["max"]:
            assert pair["max"]["relaxation"].upper >= pair["max"]["exact"].upper
        for table in (pair["min"], pair["max"]):
            for est in table.values():
                if est.witness is not None:
                    assert box.contains(est.witness.input)
                    assert _exact_log_rsm(n1, n2, est.witness.input, ci, cj) == attained(est)
