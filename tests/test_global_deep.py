"""Global ε for two hidden ReLU layers with every parameter perturbed (smtnn.global_deep).

The oracles are written apart from the engine: the σ-change sampled at random inputs and parameter
vectors (box corners and interior points), then pushed up by projected gradient ascent over (x, p)
in floats.  Upper ends must enclose them, lower ends must replay exactly, a bound computed for a
shrunken box must fail the same check (the check can fail), and a node's LP at a point input must
equal the pointwise maximum found by an independent search.
"""
from __future__ import annotations

import json
from fractions import Fraction as Q

import numpy as np
import pytest

from smtnn import float_first, global_deep, local_reduction, perturbation as P, properties as pr
from smtnn.domain import Box
from smtnn.exact import sigmoid_enclosure
from smtnn.network import Network
from smtnn.replay import replay
from smtnn.result import to_json

D2 = Box(("-1", "-1"), ("1", "1"))
SLACK = 1e-9


def deep_net(d: int, width: int, seed: int) -> Network:
    rng = np.random.default_rng([seed, d, width])
    sizes = [d, width, width, 1]
    weights = [rng.normal(size=(sizes[k + 1], sizes[k])) * np.sqrt(2 / sizes[k]) for k in range(3)]
    biases = [rng.normal(size=sizes[k + 1]) * 0.1 for k in range(3)]
    return Network.from_arrays(weights, biases, ["relu", "relu", "sigmoid"])


def _layers(net: Network, flat: np.ndarray):
    """Per-sample weights and biases from rows of flat parameter vectors."""
    out, start = [], 0
    for layer in net.layers:
        m, n = layer.weights.shape
        w = flat[:, start:start + m * n].reshape(-1, m, n)
        b = flat[:, start + m * n:start + m * n + m]
        out.append((w, b))
        start += m * n + m
    return out


def _change(net: Network, flat: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """|σ(z_p(x)) - σ(z_p0(x))| in floats for rows of parameters and inputs."""
    h = xs
    for k, (w, b) in enumerate(_layers(net, flat)):
        h = np.einsum("smn,sn->sm", w, h) + b
        if k < 2:
            h = np.maximum(h, 0.0)
    z0 = net.logits(xs)[:, 0]
    return np.abs(1 / (1 + np.exp(-h[:, 0])) - 1 / (1 + np.exp(-z0)))


def oracle(net: Network, pert: P.Perturbation, seed: int = 0, samples: int = 4000, steps: int = 40) -> float:
    """A lower estimate of Eq. 12 by sampling and projected finite-difference ascent over (x, p)."""
    rng = np.random.default_rng(seed)
    lo, hi = np.array([float(v) for v in pert.lower]), np.array([float(v) for v in pert.upper])
    d = net.n_inputs
    corners = rng.random((samples, lo.size)) < 0.5
    ps = np.where(rng.random((samples, 1)) < 0.7, np.where(corners, lo, hi), lo + (hi - lo) * rng.random((samples, lo.size)))
    xs = rng.uniform(-1, 1, (samples, d))
    values = _change(net, ps, xs)
    best = float(values.max())
    top = np.argsort(values)[-8:]
    z = np.hstack([xs[top], ps[top]])
    box_lo, box_hi = np.concatenate([-np.ones(d), lo]), np.concatenate([np.ones(d), hi])
    step = 0.05 * (box_hi - box_lo)
    eps = 1e-7
    for _ in range(steps):
        base = _change(net, z[:, d:], z[:, :d])
        grads = np.empty_like(z)
        for i in range(z.shape[1]):
            moved = z.copy()
            moved[:, i] += eps
            grads[:, i] = (_change(net, moved[:, d:], moved[:, :d]) - base) / eps
        z = np.clip(z + step * np.sign(grads), box_lo, box_hi)
        best = max(best, float(_change(net, z[:, d:], z[:, :d]).max()))
        step = step * 0.9
    return best


def _replayed(net: Network, pert: P.Perturbation, witness) -> Q:
    """The witness's σ-change in exact arithmetic (lower end of its enclosure)."""
    names = [str(n) for n in net.parameter_names()]
    params = list(pert.nominal)
    for name, value in witness.parameters.items():
        params[names.index(name)] = value
    assert pert.contains(params)
    x = list(witness.input)
    z0 = float_first.exact_logits(net, x, pert.nominal)[0]
    zp = float_first.exact_logits(net, x, params)[0]
    s0, sp = sigmoid_enclosure(z0.lo), sigmoid_enclosure(zp.lo)
    return max((sp - s0).lo, (s0 - sp).lo)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bounds_enclose_sampling_and_ascent_and_replay(seed):
    net = deep_net(2, 5, seed)
    pert = P.uniform(net, Q(1, 20))
    found = global_deep.global_epsilon(net, pert, D2, Q(1, 1000), timeout=8)
    assert 0 <= found.lower <= found.upper <= 1
    assert oracle(net, pert, seed) <= float(found.upper) + SLACK
    assert found.witness is not None and D2.contains(found.witness.input)
    assert abs(_replayed(net, pert, found.witness) - found.lower) <= Q(1, 10 ** 12)
    assert found.upper - found.lower <= Q(1, 1000) or found.reason, found


def test_a_bound_for_a_shrunken_box_fails_the_check():
    """The same engine asked about a quarter of the box: its upper end must lie below what the full box reaches."""
    net = deep_net(2, 5, 3)
    shrunken = global_deep.global_epsilon(net, P.uniform(net, Q(1, 80)), D2, Q(1, 1000), timeout=8)
    assert oracle(net, P.uniform(net, Q(1, 20)), 3) > float(shrunken.upper) + 1e-3


def _pointwise_change(problem, x, sign):
    """Δ_sign at the point x by the exact reduction's own branch and bound (the node LP's reference)."""
    reduced = local_reduction.reduce(problem.boxes, x, x, np.array([float(sign)]))
    best = local_reduction.lp_branch_and_bound(reduced, stop_gap=0.0, seconds=5)
    return best.value - sign * problem.nominal_logit(x)


def test_node_lp_is_exact_at_a_point_and_encloses_a_box():
    """At a point input the node LP's Δ equals the pointwise maximum of the exact reduction's own branch and bound;
    over a box it is above the pointwise maxima at sampled inputs of the box."""
    net = deep_net(2, 6, 4)
    pert = P.uniform(net, Q(1, 50))
    problem = global_deep._Problem(net, pert, D2)
    rng = np.random.default_rng(4)

    for _ in range(4):
        x = rng.uniform(-1, 1, 2)
        for sign in (1, -1):
            delta, _ = global_deep._Relaxation(problem, sign, x, x).solve({})
            assert abs(delta - _pointwise_change(problem, x, sign)) <= 1e-7
    lo, hi = np.array([0.1, -0.6]), np.array([0.4, -0.3])
    for sign in (1, -1):
        delta, _ = global_deep._Relaxation(problem, sign, lo, hi).solve({})
        inside = lo + (hi - lo) * rng.random((40, 2))
        assert max(_pointwise_change(problem, x, sign) for x in inside) <= delta + SLACK


def test_change_bound_encloses_the_sigmoid_change():
    rng = np.random.default_rng(5)
    sig = lambda z: 1 / (1 + np.exp(-z))
    for _ in range(200):
        t1 = rng.uniform(-6, 6)
        t2 = t1 + rng.uniform(0, 3)
        delta = rng.uniform(0, 4)
        ts = np.linspace(t1, t2, 101)
        ds = delta * rng.random(101)
        assert (sig(ts + ds) - sig(ts)).max() <= global_deep.change_bound(1, t1, t2, delta)
        assert (sig(ts) - sig(ts - ds)).max() <= global_deep.change_bound(-1, t1, t2, delta)


def test_global_epsilon_dispatches_two_hidden_layers_and_keeps_its_deadline():
    net = deep_net(2, 5, 6)
    pert = P.uniform(net, Q(1, 20))
    est = pr.global_epsilon(net, pert, D2, tolerance=Q(1, 10 ** 6), timeout=1)
    assert global_deep.METHOD in est.provenance.method
    assert est.lower <= est.upper and est.provenance.seconds < 6
    assert oracle(net, pert, 6) <= float(est.upper) + SLACK
    checked = replay(json.loads(to_json(est)), net)     # the saved witness replays on its own
    assert checked.ok, checked.failures


def _tilted_case(seed: int):
    """A small network, one box on which the tilted bound applies (its worst z0 an end of the box's z0 range),
    the node's LP and the σ-changes sampled at inputs of the box (each the exact reduction's maximum there)."""
    net = deep_net(2, 6, seed)
    pert = P.uniform(net, Q(1, 40))
    problem = global_deep._Problem(net, pert, D2)
    rng = np.random.default_rng(seed)
    sig = lambda z: 1 / (1 + np.exp(-z))
    for _ in range(50):
        lo = rng.uniform(0, 0.7, 2)
        hi = lo + 0.3
        for sign in (1, -1):
            relax = global_deep._Relaxation(problem, sign, lo, hi)
            delta, sol = relax.solve({})
            node = global_deep._Node(sign, lo, hi)
            tilted = global_deep._tilted(node, relax, max(delta, 0.0), sol)
            plain = global_deep.change_bound(sign, *relax.t, max(delta, 0.0))
            if tilted < plain - 1e-3:
                changes = []
                for x in lo + (hi - lo) * rng.random((60, 2)):
                    reduced = local_reduction.reduce(problem.boxes, x, x, np.array([float(sign)]))
                    z = sign * local_reduction.lp_branch_and_bound(reduced, stop_gap=0.0, seconds=5).value
                    z0 = problem.nominal_logit(x)
                    changes.append(sig(z) - sig(z0) if sign > 0 else sig(z0) - sig(z))
                return node, relax, delta, sol, max(changes)
    raise AssertionError("no box where the tilt applies")


@pytest.mark.parametrize("seed", [7, 9, 11])
def test_tilted_bound_encloses_the_sampled_change_and_a_lowered_line_does_not(seed):
    """The tilted LP's line Δ <= M + λ·z0 caps the node's bound below the plain one; the sampled σ-changes stay under
    it, and the same bound from a line lowered by 0.1 logit (a planted unsound M) falls below a sampled change."""
    node, relax, delta, sol, sampled = _tilted_case(seed)
    assert sampled <= global_deep._tilted(node, relax, max(delta, 0.0), sol) + SLACK
    solve = relax.solve

    def lowered(phases, basis=None, tilt=0.0):
        cap, found = solve(phases, basis, tilt)
        return (cap - 0.1 if tilt else cap), found

    relax.solve = lowered
    assert sampled > global_deep._tilted(node, relax, max(delta, 0.0), sol) + SLACK


def test_capped_change_encloses_the_sigmoid_change_under_the_line():
    rng = np.random.default_rng(9)
    sig = lambda z: 1 / (1 + np.exp(-z))
    for _ in range(300):
        t1 = rng.uniform(-4, 4)
        t2 = t1 + rng.uniform(0, 3)
        delta, cap, tilt = rng.uniform(0, 3), rng.uniform(-1, 3), rng.uniform(-2, 2)
        ts = np.linspace(t1, t2, 2001)
        moved = np.clip(np.minimum(delta, cap + tilt * ts), 0, None)
        for sign in (1, -1):
            change = sig(ts + moved) - sig(ts) if sign > 0 else sig(ts) - sig(ts - moved)
            assert change.max() <= global_deep.capped_change(sign, t1, t2, delta, cap, tilt) + 1e-12


def test_picked_second_layer_columns_enclose_its_extremes_and_a_lowered_end_is_caught():
    """The node LP's columns of the picked second layer z = G h1 + e: at sampled inputs of the box (corners included)
    each unit's own extremes (h1_j at relu(U_j(x)) or relu(L_j(x)) by the sign of G_kj, L and U the first layer's
    extremes over its weight box at x) stay inside them; the upper ends lowered by a twentieth of their width (a
    planted unsound bound) fall below a sampled extreme."""
    net = deep_net(2, 8, 12)
    pert = P.uniform(net, Q(1, 50))
    problem = global_deep._Problem(net, pert, D2)
    first = problem.boxes[0]
    rng = np.random.default_rng(12)
    lo, hi = np.array([0.2, -0.45]), np.array([0.3, -0.35])
    xs = np.vstack([np.array([[a, b] for a in (lo[0], hi[0]) for b in (lo[1], hi[1])]),
                    lo + (hi - lo) * rng.random((400, 2))])
    caught = False
    for sign in (1, -1):
        relax = global_deep._Relaxation(problem, sign, lo, hi)
        col_lo, col_hi = np.array(relax.model.col_lo)[relax.z], np.array(relax.model.col_hi)[relax.z]
        g, e = relax.layer.wlo, relax.layer.blo
        top, bottom = np.full(len(e), -np.inf), np.full(len(e), np.inf)
        for x in xs:
            low = np.minimum(first.wlo * x, first.whi * x).sum(axis=1) + first.blo
            high = np.maximum(first.wlo * x, first.whi * x).sum(axis=1) + first.bhi
            h_lo, h_hi = np.maximum(low, 0.0), np.maximum(high, 0.0)
            top = np.maximum(top, np.where(g >= 0, g * h_hi, g * h_lo).sum(axis=1) + e)
            bottom = np.minimum(bottom, np.where(g >= 0, g * h_lo, g * h_hi).sum(axis=1) + e)
        assert (top <= col_hi + SLACK).all() and (bottom >= col_lo - SLACK).all()
        caught |= bool((top > col_hi - (col_hi - col_lo) / 20 + SLACK).any())
    assert caught


def test_a_parents_multipliers_bound_its_children_and_shifted_bounds_are_caught():
    """The bound a child box gets from its parent's LP multipliers (no LP solved) lies above the child's own LP optimum
    and above the pointwise maxima sampled in the child box; the same multipliers applied with every finite row bound
    moved inward by 0.05 (planted rows shifted inward) fall below a sampled maximum."""
    net = deep_net(2, 6, 13)
    pert = P.uniform(net, Q(1, 40))
    problem = global_deep._Problem(net, pert, D2)
    rng = np.random.default_rng(13)

    caught = False
    for _ in range(3):
        lo = rng.uniform(0, 0.5, 2)
        hi = lo + 0.5
        mid = (lo + hi) / 2
        for sign in (1, -1):
            _, parent = global_deep._Relaxation(problem, sign, lo, hi).solve({})
            child_hi = hi.copy()
            child_hi[0] = mid[0]
            child = global_deep._Relaxation(problem, sign, lo, child_hi)
            from_parent = child.dual_bound({}, parent.duals)
            own, _ = child.solve({})
            sampled = max(_pointwise_change(problem, x, sign) for x in lo + (child_hi - lo) * rng.random((30, 2)))
            assert from_parent >= own - SLACK and from_parent >= sampled - SLACK
            model = child.model
            model.row_lo = [v + 0.05 if np.isfinite(v) else v for v in model.row_lo]
            model.row_hi = [v - 0.05 if np.isfinite(v) else v for v in model.row_hi]
            caught |= child.dual_bound({}, parent.duals) < sampled - 1e-6
    assert caught
