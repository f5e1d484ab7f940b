"""Interval slopes and the mean-value branch and bound, against sampling and the first-order reference.

The slopes must enclose (a) the range of each logit end over a box and (b) every difference
quotient along a segment in the box (Lebourg's mean-value theorem); the mean-value branch and
bound must agree with the plain first-order one and with dense sampling.
"""
from __future__ import annotations

from fractions import Fraction as Q

import numpy as np
import pytest

from smtnn import perturbation as P
from smtnn import properties as pr
from smtnn import search
from smtnn.domain import Box
from smtnn.network import Dense, Network
from smtnn.slopes import derivative_range, logit_slopes, sigmoid_second_derivative_range

ACTIVATIONS = ("relu", "linear", "tanh", "sigmoid")


def random_network(rng, dims, hidden_activation, scale=1.0):
    layers = []
    for n_in, n_out in zip(dims[:-2], dims[1:-1]):
        layers.append(Dense(rng.normal(size=(n_out, n_in)) * scale, rng.normal(size=n_out) * 0.3, hidden_activation))
    layers.append(Dense(rng.normal(size=(1, dims[-2])) * scale, rng.normal(size=1) * 0.3, "sigmoid"))
    return Network(tuple(layers))


def parameter_box(network, delta):
    p0 = network.parameter_vector()
    return p0 - delta, p0 + delta


def ends_at(network, plo, phi, points):
    return search.interval_logits(network, plo, phi, points, points)


CASES = [(seed, act, dims) for seed in range(6) for act in ACTIVATIONS for dims in ((2, 3, 1), (3, 4, 3, 1))]


@pytest.mark.parametrize("seed,activation,dims", CASES)
def test_slopes_enclose_ranges_and_difference_quotients(seed, activation, dims):
    rng = np.random.default_rng(seed)
    net = random_network(rng, list(dims), activation)
    plo, phi = parameter_box(net, 0.05)
    d = dims[0]
    centre = rng.uniform(-1, 1, size=d)
    radius = rng.uniform(0.01, 0.5, size=d)
    xlo, xhi = (centre - radius)[None], (centre + radius)[None]
    low, high = logit_slopes(net, plo, phi, xlo, xhi)
    pts = rng.uniform(xlo, xhi, size=(4000, d))
    lo_end, hi_end = ends_at(net, plo, phi, pts)
    for slope, values in ((low, lo_end[:, 0]), (high, hi_end[:, 0])):
        assert (values >= slope.lo[0, 0] - 1e-9).all() and (values <= slope.hi[0, 0] + 1e-9).all()
    # f(y) - f(x) must lie in sum_i [G_i] (y_i - x_i) for pairs in the box
    ys = rng.uniform(xlo, xhi, size=(4000, d))
    lo_y, hi_y = ends_at(net, plo, phi, ys)
    step = ys - pts
    for slope, fx, fy in ((low, lo_end[:, 0], lo_y[:, 0]), (high, hi_end[:, 0], hi_y[:, 0])):
        g_lo, g_hi = slope.glo[0, 0], slope.ghi[0, 0]
        lower = np.minimum(g_lo * step, g_hi * step).sum(axis=1)
        upper = np.maximum(g_lo * step, g_hi * step).sum(axis=1)
        change = fy - fx
        assert (change >= lower - 1e-9).all() and (change <= upper + 1e-9).all()


@pytest.mark.parametrize("seed", range(8))
def test_mean_value_bound_is_above_sampled_maximum(seed):
    rng = np.random.default_rng(100 + seed)
    net = random_network(rng, [2, 5, 1], "relu")
    plo, phi = parameter_box(net, 0.02)
    p0 = net.parameter_vector()
    centre, radius = rng.uniform(-1, 1, size=2), rng.uniform(0.001, 0.3, size=2)
    xlo, xhi = (centre - radius)[None], (centre + radius)[None]
    bound, _, direction = search._mean_value_bounds(net, plo, phi, p0, xlo.copy(), xhi.copy(), -np.inf)
    pts = rng.uniform(xlo, xhi, size=(20000, 2))
    lo_end, hi_end = ends_at(net, plo, phi, pts)
    s0 = 1 / (1 + np.exp(-net.logits(pts)[:, 0]))
    objective = np.maximum(1 / (1 + np.exp(-hi_end[:, 0])) - s0, s0 - 1 / (1 + np.exp(-lo_end[:, 0])))
    assert objective.max() <= bound[0] + 1e-12
    for axis in range(2):   # a claimed monotone axis really is monotone on sampled segments
        if direction[0, axis]:
            moved = pts.copy()
            moved[:, axis] = xhi[0, axis] if direction[0, axis] > 0 else xlo[0, axis]
            lo_m, hi_m = ends_at(net, plo, phi, moved)
            s_m = 1 / (1 + np.exp(-net.logits(moved)[:, 0]))
            moved_objective = np.maximum(1 / (1 + np.exp(-hi_m[:, 0])) - s_m, s_m - 1 / (1 + np.exp(-lo_m[:, 0])))
            assert (moved_objective >= objective - 1e-12).all()


@pytest.mark.parametrize("seed,width", [(s, w) for s in range(4) for w in (2, 6)])
def test_mean_value_branch_and_bound_agrees_with_first_order_reference(seed, width):
    rng = np.random.default_rng(200 + seed)
    net = random_network(rng, [2, width, 1], "relu")
    pert = P.uniform(net, Q(1, 50))
    box = Box((Q(-1), Q(-1)), (Q(1), Q(1)))
    tol = Q(1, 10 ** 4)
    fast = search.branch_and_bound_epsilon(net, pert, box, tol, None, 200_000)
    plain = search.branch_and_bound_epsilon(net, pert, box, tol, None, 2_000_000, mean_value=False)
    assert fast.upper - fast.lower <= tol and plain.upper - plain.lower <= tol
    assert fast.lower <= plain.upper and plain.lower <= fast.upper
    assert fast.boxes <= plain.boxes
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 201), np.linspace(-1, 1, 201)), -1).reshape(-1, 2)
    plo, phi = (np.array([float(v) for v in end]) for end in (pert.lower, pert.upper))
    lo_end, hi_end = ends_at(net, plo, phi, grid)
    s0 = 1 / (1 + np.exp(-net.logits(grid)[:, 0]))
    sampled = np.maximum(1 / (1 + np.exp(-hi_end[:, 0])) - s0, s0 - 1 / (1 + np.exp(-lo_end[:, 0]))).max()
    assert sampled <= float(fast.upper) + 1e-12


def test_logistic_regression_matches_its_closed_form():
    """For a logistic regression z_hi = z0 + δ(1 + |x1| + |x2|) and z_lo = z0 - δ(1 + |x1| + |x2|), by hand; dense grid."""
    net = Network((Dense(np.array([[1.5, -0.7]]), np.array([0.2]), "sigmoid"),))
    delta = 0.01
    pert = P.uniform(net, Q(1, 100))
    box = Box((Q(-1, 2), Q(-3)), (Q(2), Q(3)))
    est = pr.global_epsilon(net, pert, box)
    assert est.converged and est.witness is not None
    grid = np.stack(np.meshgrid(np.linspace(-0.5, 2, 1001), np.linspace(-3, 3, 1001)), -1).reshape(-1, 2)
    z0 = net.logits(grid)[:, 0]
    spread = delta * (1 + np.abs(grid).sum(axis=1))
    s = lambda z: 1 / (1 + np.exp(-z))
    by_hand = np.maximum(s(z0 + spread) - s(z0), s(z0) - s(z0 - spread)).max()
    assert by_hand <= float(est.upper) + 1e-12
    assert float(est.lower) >= by_hand - 1e-6


def test_sigmoid_derivative_ranges_enclose_dense_samples():
    rng = np.random.default_rng(7)
    lo = rng.uniform(-8, 8, 500)
    hi = lo + rng.uniform(0, 6, 500)
    d1_lo, d1_hi = derivative_range("sigmoid", lo, hi)
    d2_lo, d2_hi = sigmoid_second_derivative_range(lo, hi)
    for i in range(len(lo)):
        v = np.linspace(lo[i], hi[i], 4001)
        s = 1 / (1 + np.exp(-v))
        first, second = s * (1 - s), s * (1 - s) * (1 - 2 * s)
        assert d1_lo[i] <= first.min() and first.max() <= d1_hi[i]
        assert d2_lo[i] <= second.min() and second.max() <= d2_hi[i]
