"""The multipliers of relu phase constraints (smtnn.phase_duals): sound for any β >= 0, and they decide deep queries.

A node's Lagrangian lower bound must hold at every sampled parameter vector whose phases agree with the
node, for the optimized multipliers and for large random ones; β = 0 is the plain linear bound; a planted
sign error in the shift is caught by the same sampling check.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtnn import attack, float_first, linear_bounds, phase_duals
from smtnn import perturbation as P
from smtnn import properties as pr
from smtnn.result import Verdict

from tests.test_linear_bounds import _pre_activation, float_error_bound, float_logits, random_network, samples_of

Q = Fraction


def _node(seed: int, widths, delta):
    """A random relu net, its box, a point, and a node fixing some phases of one sampled parameter vector."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, 3, widths, "relu", 3)
    pert = P.uniform(net, delta)
    boxes = linear_bounds.parameter_box(net, pert)
    x = rng.uniform(-1, 1, 3)
    params = samples_of(pert, rng, 300)
    root = linear_bounds.refined_pre_activations(boxes, x, x)
    unstable = [(k, int(i)) for k, (lo, hi) in enumerate(root.pre) for i in np.flatnonzero((lo < 0) & (hi > 0))]
    anchor = params[rng.integers(len(params))]
    chosen = [u for u in unstable if rng.random() < 0.7]
    phases = {(k, i): bool(_pre_activation(net, anchor, x, k, i) >= 0) for k, i in chosen}
    bounds = linear_bounds.refined_pre_activations(boxes, x, x, True, phases)
    inside = np.array([all((_pre_activation(net, p, x, k, i) >= 0) == active for (k, i), active in phases.items())
                       for p in params])
    return net, pert, boxes, x, params, bounds, inside, rng


def _violations(net, boxes, x, params, bounds, inside, multipliers, rows) -> int:
    lower = phase_duals.lagrangian_lower(boxes, bounds, rows, multipliers)
    values = np.array([rows @ float_logits(net, p, x) for p in params[inside]])
    slack = float_error_bound(net, params, [x] * len(params))
    return int((values < lower[None, :] - slack).sum())


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10 ** 6), st.sampled_from([[5, 5], [4, 4, 4]]), st.sampled_from([Q(1, 50), Q(1, 10)]))
def test_multipliers_bound_every_sample_of_their_part(seed, widths, delta):
    net, pert, boxes, x, params, bounds, inside, rng = _node(seed, widths, delta)
    if bounds is None:   # an empty part: no sample may lie in it
        assert not inside.any()
        return
    rows = np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])
    signs = phase_duals.phase_signs(bounds)
    optimized = phase_duals.optimized_multipliers(boxes, bounds, rows, iterations=60)
    large = phase_duals.Multipliers([rng.exponential(5.0, (len(rows), len(s))) for s in signs],
                                    [rng.random((len(rows), len(s))) for s in signs])
    for multipliers in (optimized, large):
        assert _violations(net, boxes, x, params, bounds, inside, multipliers, rows) == 0
    # the optimized bound is never below the plain linear bound it starts from (β = 0, adaptive slopes)
    plain = linear_bounds.linear_lower(boxes, bounds, rows)
    assert (phase_duals.lagrangian_lower(boxes, bounds, rows, optimized) >= plain - 1e-12).all()


def test_starting_multipliers_are_the_linear_bound():
    """β = 0 with the adaptive slopes is the plain linear bound, bit for bit."""
    net, pert, boxes, x, params, bounds, inside, rng = _node(3, [5, 5], Q(1, 20))
    rows = np.array([[1.0, 0.0, -1.0]])
    start = phase_duals.starting_multipliers(bounds, 1)
    assert phase_duals.lagrangian_lower(boxes, bounds, rows, start).tolist() == \
        linear_bounds.linear_lower(boxes, bounds, rows).tolist()


def test_a_planted_sign_error_is_caught(monkeypatch):
    """Adding β·s instead of subtracting it is unsound; the sampling check of the first test must see it."""
    def planted(self, k, box, value):
        lam, const = self._kinked_back(k, box, value, self.slopes[k])
        return lam + self.shifts[k], const

    monkeypatch.setattr(phase_duals._LagrangianBackward, "relu_back", planted)
    caught = 0
    for seed in range(6):
        net, pert, boxes, x, params, bounds, inside, rng = _node(seed, [5, 5], Q(1, 10))
        if bounds is None or not inside.any():
            continue
        rows = np.array([[1.0, -1.0, 0.0]])
        large = phase_duals.starting_multipliers(bounds, 1)
        large.betas = [np.full_like(b, 20.0) for b in large.betas]
        caught += _violations(net, boxes, x, params, bounds, inside, large, rows) > 0
    assert caught >= 3, caught


def _scaling_network(d: int, layers: int, width: int):
    from benchmarks.scaling import network, x0

    return network(d, layers, width), x0(d)


def test_multipliers_decide_a_deep_local_label_that_the_linear_bound_cannot(monkeypatch):
    """4 hidden layers of 16, every parameter within 0.01: the branch and bound proves the label with the
    multipliers; without them it ends with every phase fixed and a positive bound (unknown)."""
    net, x = _scaling_network(4, 4, 16)
    pert = P.uniform(net, Q(1, 100))
    boxes = linear_bounds.parameter_box(net, pert)
    xlo, xhi = linear_bounds.input_box(x)
    rows = np.array([[-1.0]])   # the label is 1: a flip needs max(-z) >= 0
    lo_f, hi_f = float_first._float_box(net, boxes)
    _, attacked = attack.vertex_ascent(net, lo_f, hi_f, xlo, rows[0])
    with_duals, _ = float_first.phase_branch_and_bound(net, boxes, xlo, xhi, rows, stop_at=-1e-12, seconds=20)
    assert attacked <= with_duals < 0
    monkeypatch.setattr(phase_duals, "applicable", lambda boxes: False)
    without, _ = float_first.phase_branch_and_bound(net, boxes, xlo, xhi, rows, stop_at=-1e-12, seconds=20)
    assert without > 0
    monkeypatch.undo()
    result = pr.verify_local_label(net, pert, x, timeout=30)
    assert result.verdict is Verdict.HOLDS and "branch and bound" in result.provenance.method


@pytest.mark.parametrize("spec", [(2, 6, 16), (8, 6, 16)])
def test_deep_local_labels_hold_above_every_attack(spec):
    """Six hidden layers: the proof's bound lies above the best of many attacks from random starts."""
    net, x = _scaling_network(*spec)
    pert = P.uniform(net, Q(1, 100))
    boxes = linear_bounds.parameter_box(net, pert)
    xlo, xhi = linear_bounds.input_box(x)
    rows = np.array([[-1.0 if net.predict(np.array([float(v) for v in x])) == 1 else 1.0]])
    upper, _ = float_first.phase_branch_and_bound(net, boxes, xlo, xhi, rows, stop_at=-1e-12, seconds=20)
    lo_f, hi_f = float_first._float_box(net, boxes)
    rng = np.random.default_rng(1)
    best = max(attack.vertex_ascent(net, lo_f, hi_f, xlo, rows[0], start=rng.uniform(lo_f, hi_f))[1] for _ in range(20))
    assert best <= upper < 0


def test_overflowing_multipliers_never_prove_anything():
    """Weights near the float range overflow the float copy and the certified pass: the node bounds stay
    non-NaN (an overflow bounds nothing) and the local label is not claimed to hold."""
    big = 1e300
    from smtnn.network import Network

    net = Network.from_arrays([[[big, -big, big], [big, big, -big]], [[big, big], [-big, big]], [[big, -big], [big, big]]],
                              [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]], ["relu", "relu", "linear"])
    pert = P.uniform(net, Q(1, 10))
    x = [Q(1, 2), Q(1, 3), Q(1, 5)]
    boxes = linear_bounds.parameter_box(net, pert)
    xlo, xhi = linear_bounds.input_box(x)
    with np.errstate(all="ignore"):
        upper, _ = float_first.phase_branch_and_bound(net, boxes, xlo, xhi, np.array([[1.0, -1.0]]), stop_at=-1e-12,
                                                      seconds=1, max_nodes=20)
        decision = float_first.local_label(net, pert, x, lambda z: pr._label(net, z), timeout=2)
    assert not np.isnan(upper)
    assert decision.verdict in (None, Verdict.VIOLATED)


def test_pair_bounds_tightened_by_branch_and_bound_stay_above_attacks():
    """Multi-class local ε's pair extremes: branch and bound lowers some upper ends below the linear bound, and
    every end stays above the best of many attacks from random starts."""
    import time

    rng = np.random.default_rng(5)
    net = random_network(rng, 4, [8, 8, 8], "relu", 3)
    pert = P.uniform(net, Q(1, 20))
    xf = rng.uniform(-1, 1, 4)
    x = [Q(v) for v in xf]
    extremes, _ = float_first.pair_extremes(net, pert, x, deadline=time.perf_counter() + 5)
    boxes = linear_bounds.parameter_box(net, pert)
    lo_f, hi_f = float_first._float_box(net, boxes)
    tightened = 0
    for (a, b), ext in extremes.items():
        row = np.zeros(3)
        row[a], row[b] = 1.0, -1.0
        _, linear = linear_bounds.objective_bounds(net, boxes, xf, xf, row[None, :])
        assert ext.upper <= max(Q(float(linear[0])), ext.witness_value.lo)
        tightened += ext.upper < Q(float(linear[0]))
        best = max(attack.vertex_ascent(net, lo_f, hi_f, xf, row, start=rng.uniform(lo_f, hi_f))[1] for _ in range(10))
        assert best <= float(ext.upper) + 1e-9
    assert tightened >= 1
