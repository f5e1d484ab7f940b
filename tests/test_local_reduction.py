"""The exact reduction of local objectives (first layer to a box, last layer's weights picked) and its LP search.

Each bound is checked against float sampling of the parameter box (vertices and uniform draws) and the
parameter attack; the LP point's parameters are replayed in exact rationals and must reach the bound
(the reduction is exact at a point input); the reduced bound is never looser than the linear and
interval bounds of the original problem; a planted unsound reduction is caught by the same check.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtnn import attack, float_first, linear_bounds, local_reduction
from smtnn import perturbation as P
from smtnn import properties as pr
from smtnn.bounds import linear_value
from smtnn.network import Network

Q = Fraction
FUZZ = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def two_layer_network(rng, d, w1, w2, k, depth=2):
    sizes = [d] + [w1, w2, w2][:depth] + [k]
    weights = [rng.normal(0, np.sqrt(2 / sizes[i]), (sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    biases = [rng.normal(0, 0.3, sizes[i + 1]) for i in range(len(sizes) - 1)]
    for w in weights:
        w[rng.random(w.shape) < 0.05] = 0.0
    return Network.from_arrays(weights, biases, ["relu"] * depth + ["sigmoid" if k == 1 else "linear"])


def sampled_max(net, pert, x, row, rng, count=300):
    """The largest row·z(x, p) over float samples of the box (vertices, uniform draws) and the attack."""
    lo = np.array([float(v) for v in pert.lower])
    hi = np.array([float(v) for v in pert.upper])
    lo, hi = np.minimum(np.nextafter(lo, np.inf), hi), np.maximum(np.nextafter(hi, -np.inf), lo)
    vertices = np.where(rng.random((count // 2, lo.size)) < 0.5, lo, hi)
    inner = lo + rng.random((count - count // 2, lo.size)) * (hi - lo)
    values = [row @ net.with_parameters(p).logits(x) for p in np.vstack([vertices, inner])]
    values.append(attack.vertex_ascent(net, lo, hi, x, row)[1])
    return max(values)


def reduced_search(net, pert, x, row):
    boxes = linear_bounds.parameter_box(net, pert)
    reduced = local_reduction.reduce(boxes, x, x, row)
    result = local_reduction.lp_branch_and_bound(reduced, stop_gap=0.0, seconds=5.0)
    return boxes, reduced, result


def replayed_witness(net, pert, boxes, reduced, result, x, row):
    """The exact value of row·z at the parameters rebuilt from the LP's best point."""
    candidate = local_reduction.witness_parameters(boxes, x, reduced, result.point, row)
    lo_f, hi_f = float_first._float_box(net, boxes)
    params = float_first._exact_parameters(pert, candidate, lo_f, hi_f, net.parameter_vector())
    xq = [Q(float(v)) for v in x]
    return linear_value([int(c) for c in row], float_first.exact_logits(net, xq, params)).lo


cases = st.tuples(st.integers(0, 10 ** 6), st.integers(1, 4), st.integers(1, 7), st.integers(1, 7),
                  st.sampled_from([1, 3]), st.sampled_from([Q(1, 1000), Q(1, 100), Q(1, 10), Q(1, 3)]),
                  st.sampled_from(["uniform", "relative", "first", "middle"]))


@FUZZ
@given(cases)
def test_reduced_bound_encloses_sampling_is_reached_by_its_witness_and_beats_the_linear_bound(case):
    seed, d, w1, w2, k, delta, kind = case
    rng = np.random.default_rng(seed)
    net = two_layer_network(rng, d, w1, w2, k)
    pert = {"uniform": P.uniform, "relative": P.relative}[kind](net, delta) if kind in ("uniform", "relative") else \
        P.subset(net, delta, layers=[0] if kind == "first" else [1])
    x = rng.uniform(-1, 1, d)
    row = np.zeros(k)
    row[0] = 1.0 if k == 1 or rng.random() < 0.5 else -1.0
    if k > 1:
        row[1 + int(rng.integers(k - 1))] = -row[0]
    boxes, reduced, result = reduced_search(net, pert, x, row)
    assert result is not None
    upper = result.upper
    slack = 1e-9 * (1 + abs(float(upper)))
    assert sampled_max(net, pert, x, row, rng) <= float(upper) + slack
    witness = replayed_witness(net, pert, boxes, reduced, result, x, row)
    assert witness <= upper
    assert float(upper - witness) <= 1e-7 * (1 + abs(float(upper))), "the reduction is exact at a point input"
    _, linear_hi = linear_bounds.objective_bounds(net, boxes, x, x, row[None, :])
    _, interval_hi = linear_bounds.objective_bounds(net, boxes, x, x, row[None, :], linear=False)
    assert float(upper) <= min(linear_hi[0], interval_hi[0]) + slack


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10 ** 6), st.sampled_from([Q(1, 100), Q(1, 10)]))
def test_deeper_networks_branch_on_the_reduced_problem_soundly_and_never_looser(seed, delta):
    rng = np.random.default_rng(seed)
    net = two_layer_network(rng, 3, 5, 5, 1, depth=3)
    pert = P.uniform(net, delta)
    x = rng.uniform(-1, 1, 3)
    boxes = linear_bounds.parameter_box(net, pert)
    reduced = local_reduction.reduce(boxes, x, x, np.array([1.0]))
    assert reduced is not None and not local_reduction.exact_by_lp(reduced)
    upper, _ = float_first.phase_branch_and_bound(net, reduced.boxes, reduced.lower, reduced.upper, np.array([[1.0]]),
                                                  stop_at=-np.inf, seconds=0.5, max_nodes=60)
    assert sampled_max(net, pert, x, np.array([1.0]), rng) <= upper + 1e-9 * (1 + abs(upper))
    # through the property: the upper end never exceeds the plain linear bound
    xq = [Q(float(v)) for v in x]
    from smtnn.bounds import extreme_at
    ext = extreme_at(net, pert, xq, [1])
    tightened, _ = float_first.tighten_extreme(net, pert, xq, [1], ext, Q(0), timeout=1.0)
    _, linear_hi = linear_bounds.objective_bounds(net, boxes, x, x, np.array([[1.0]]))
    assert tightened.upper <= max(Q(float(linear_hi[0])), ext.upper)
    assert tightened.witness_value.lo <= tightened.upper


def test_planted_unsound_reduction_is_caught(monkeypatch):
    """Pick the last hidden layer's rows the wrong way round: the sampling check must see values above the bound."""
    rng = np.random.default_rng(5)
    net = two_layer_network(rng, 3, 6, 6, 1)
    pert = P.uniform(net, Q(1, 10))
    x = rng.uniform(-1, 1, 3)
    row = np.array([1.0])
    _, _, honest = reduced_search(net, pert, x, row)
    assert sampled_max(net, pert, x, row, np.random.default_rng(0)) <= float(honest.upper) + 1e-9

    original = local_reduction.reduce

    def swapped(boxes, xlo, xhi, row):
        flipped = list(boxes)
        last = boxes[-2]
        flipped[-2] = linear_bounds.LayerBox(last.whi, last.wlo, last.bhi, last.blo, last.activation, last.alpha)
        return original(flipped, xlo, xhi, row)

    monkeypatch.setattr(local_reduction, "reduce", swapped)
    _, _, planted = reduced_search(net, pert, x, row)
    assert sampled_max(net, pert, x, row, np.random.default_rng(0)) > float(planted.upper) + 1e-6


@pytest.mark.parametrize("d,width", [(3, 6), (4, 10)])
def test_local_epsilon_with_every_layer_perturbed_converges_through_the_reduction(d, width):
    rng = np.random.default_rng([d, width])
    net = two_layer_network(rng, d, width, width, 1)
    pert = P.uniform(net, Q(1, 50))
    x = [Q(float(v)) for v in rng.uniform(-1, 1, d)]
    est = pr.local_epsilon(net, pert, x, tolerance=Q(1, 10 ** 6), timeout=20)
    assert est.converged and "reduction" in est.provenance.method
    xf = np.array([float(v) for v in x])
    f0 = 1 / (1 + np.exp(-net.logits(xf)[0]))
    lo = np.array([float(v) for v in pert.lower])
    hi = np.array([float(v) for v in pert.upper])
    samples = np.where(rng.random((200, lo.size)) < 0.5, lo, hi)
    changes = [abs(1 / (1 + np.exp(-net.with_parameters(p).logits(xf)[0])) - f0) for p in samples]
    assert max(changes) <= float(est.upper) + 1e-12
    assert est.lower <= est.upper and est.witness is not None


def test_hand_worked_interior_maximum_is_found_exactly_where_vertices_miss_it():
    """x0 = 1, h1 = relu(w·1 + 0.5) ∈ [1.3, 1.7] (δ = 1/10 on every parameter); layer 2 has units z = h and
    z = h - 1.4, output weights 1 and -2.  The reduction gives F(h) = 1.1·relu(1.1h + 0.1) - 1.9·relu(0.9h - 1.5)
    + 0.1, which rises with slope 1.21 up to the kink h = 5/3 and falls after it: max z = 1.21·5/3 + 0.21 = 167/75,
    reached only with the first layer's parameters strictly inside their box (every vertex stays below 2.22)."""
    net = Network.from_arrays([np.array([[1.0]]), np.array([[1.0], [1.0]]), np.array([[1.0, -2.0]])],
                              [np.array([0.5]), np.array([0.0, -1.4]), np.array([0.0])], ["relu", "relu", "sigmoid"])
    pert = P.uniform(net, Q(1, 10))
    x, row = np.array([1.0]), np.array([1.0])
    boxes, reduced, result = reduced_search(net, pert, x, row)
    assert abs(result.upper - Q(167, 75)) < Q(1, 10 ** 9)
    assert abs(replayed_witness(net, pert, boxes, reduced, result, x, row) - Q(167, 75)) < Q(1, 10 ** 9)
    lo = np.array([float(v) for v in pert.lower])
    hi = np.array([float(v) for v in pert.upper])
    vertices = [np.where([(k >> i) & 1 for i in range(lo.size)], hi, lo) for k in range(2 ** lo.size)]
    assert max(net.with_parameters(p).logits(x)[0] for p in vertices) < 2.22


def sandwich_search(net, pert, x, row, seconds=5.0):
    boxes = linear_bounds.parameter_box(net, pert)
    pre = linear_bounds.refined_pre_activations(boxes, x, x).pre
    return boxes, local_reduction.sandwich_branch_and_bound(boxes, x, x, row, pre, stop_gap=0.0, seconds=seconds)


def replayed_parameters(net, pert, boxes, params, x, row):
    lo_f, hi_f = float_first._float_box(net, boxes)
    exact = float_first._exact_parameters(pert, params, lo_f, hi_f, net.parameter_vector())
    return linear_value([int(c) for c in row], float_first.exact_logits(net, [Q(float(v)) for v in x], exact)).lo


@FUZZ
@given(st.integers(0, 10 ** 6), st.integers(1, 3), st.integers(2, 4), st.integers(1, 5), st.sampled_from([1, 3]),
       st.sampled_from([Q(1, 1000), Q(1, 100), Q(1, 10)]))
def test_sandwich_search_encloses_sampling_and_its_witness_reaches_the_bound(seed, d, depth, width, k, delta):
    rng = np.random.default_rng(seed)
    sizes = [d] + [width] * depth + [k]
    weights = [rng.normal(0, np.sqrt(2 / sizes[i]), (sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    biases = [rng.normal(0, 0.3, sizes[i + 1]) for i in range(len(sizes) - 1)]
    net = Network.from_arrays(weights, biases, ["relu"] * depth + ["sigmoid" if k == 1 else "linear"])
    pert = P.uniform(net, delta)
    x = rng.uniform(-1, 1, d)
    row = np.zeros(k)
    row[0] = 1.0 if rng.random() < 0.5 else -1.0
    if k > 1:
        row[1 + int(rng.integers(k - 1))] = -row[0]
    boxes, result = sandwich_search(net, pert, x, row)
    upper = result.upper
    slack = 1e-9 * (1 + abs(float(upper)))
    assert sampled_max(net, pert, x, row, rng) <= float(upper) + slack
    witness = replayed_parameters(net, pert, boxes, result.point, x, row)
    assert witness <= upper
    assert float(upper - witness) <= 1e-7 * (1 + abs(float(upper))), "leaves are exact: the search closes the gap"
    _, linear_hi = linear_bounds.objective_bounds(net, boxes, x, x, row[None, :])
    assert float(upper) <= linear_hi[0] + slack


def test_planted_unsound_sandwich_is_caught(monkeypatch):
    """Drop the upper sandwich row's weight spread (use the lower weights on both sides): bounds must fall below samples."""
    rng = np.random.default_rng(3)
    net = two_layer_network(rng, 2, 5, 5, 1, depth=3)
    pert = P.uniform(net, Q(1, 10))
    x, row = rng.uniform(-1, 1, 2), np.array([1.0])
    _, honest = sandwich_search(net, pert, x, row)
    assert sampled_max(net, pert, x, row, np.random.default_rng(0)) <= float(honest.upper) + 1e-9

    original = linear_bounds.LayerBox

    def narrowed(boxes, xlo, xhi, row, pre, **kwargs):
        thin = [original(b.wlo, b.wlo, b.blo, b.blo, b.activation, b.alpha) for b in boxes[:-1]] + [boxes[-1]]
        return search(thin, xlo, xhi, row, pre, **kwargs)

    search = local_reduction.sandwich_branch_and_bound
    monkeypatch.setattr(local_reduction, "sandwich_branch_and_bound", narrowed)
    _, planted = sandwich_search(net, pert, x, row)
    assert sampled_max(net, pert, x, row, np.random.default_rng(0)) > float(planted.upper) + 1e-6


def test_local_epsilon_three_hidden_layers_converges_through_the_sandwich_search():
    rng = np.random.default_rng(7)
    net = two_layer_network(rng, 3, 8, 8, 1, depth=3)
    pert = P.uniform(net, Q(1, 50))
    x = [Q(float(v)) for v in rng.uniform(-1, 1, 3)]
    est = pr.local_epsilon(net, pert, x, tolerance=Q(1, 10 ** 6), timeout=20)
    assert est.converged and "interval-valued affine map" in est.provenance.method
    assert est.lower <= est.upper and est.witness is not None


@pytest.mark.parametrize("model", ["uniform", "relative", "quantization"])
def test_exact_parameters_stay_in_the_exact_box_next_to_its_ends(model):
    """Candidates one float either side of the nearest outward floats of each end, at them, and inside: the exact
    parameters lie in the box and equal the one-at-a-time clamp (floats strictly inside the nearest outward floats
    skip the clamp; were the float box one float looser, a candidate just inside it would land outside the box)."""
    rng = np.random.default_rng(9)
    net = two_layer_network(rng, 3, 5, 4, 1)
    pert = {"uniform": lambda: P.uniform(net, "1e-7"), "relative": lambda: P.relative(net, "0.001"),
            "quantization": lambda: P.quantization(net, "fixed", 6)}[model]()
    lo_f, hi_f = pert.float_box()
    nominal = net.parameter_vector()
    picks = [np.nextafter(lo_f, -np.inf), lo_f, np.nextafter(lo_f, np.inf), np.nextafter(hi_f, -np.inf), hi_f,
             np.nextafter(hi_f, np.inf), lo_f + rng.random(lo_f.size) * (hi_f - lo_f), nominal]
    for _ in range(20):
        candidate = np.choose(rng.integers(0, len(picks), lo_f.size), picks)
        params = float_first._exact_parameters(pert, candidate, lo_f, hi_f, nominal)
        assert pert.contains(params)
        clamped = [hi if c >= h else lo if c <= l else p0 if c == n else min(max(Q(float(c)), lo), hi)
                   for c, l, h, n, lo, hi, p0 in zip(candidate, lo_f, hi_f, nominal, pert.lower, pert.upper, pert.nominal)]
        assert list(params) == clamped
