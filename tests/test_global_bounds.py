"""Global ε by slabs of the nominal logit (one hidden ReLU layer) and for multi-class networks (smtnn.global_bounds).

The oracle is written apart from the engine: at a fixed x, the largest and smallest logit over the
parameter box come from enumerating each hidden neuron's parameter vertices (the neurons' parameters
are disjoint, and v·relu(w·x + b) takes its extremes at vertices), and the input is searched by
sampling plus coordinate ascent.  Upper ends must enclose the oracle; lower ends must be reached.
"""
from __future__ import annotations

import itertools
import math
from fractions import Fraction as Q

import numpy as np
import pytest

from smtnn import global_bounds, perturbation as P, properties as pr, search
from smtnn.domain import Box
from smtnn.network import Network

SLACK = 1e-9


def relu_net(d: int, width: int, seed: int) -> Network:
    rng = np.random.default_rng(seed)
    return Network.from_arrays([rng.normal(size=(width, d)) * np.sqrt(2 / d), rng.normal(size=(1, width)) * np.sqrt(2 / width)],
                               [rng.normal(size=width) * 0.1, rng.normal(size=1) * 0.1], ["relu", "sigmoid"])


def ragged_box(net: Network, seed: int) -> P.Perturbation:
    """A box of uneven radii, some parameters fixed (exercises every rounding direction of the LP data)."""
    rng = np.random.default_rng(seed)
    radii = [Q(int(k), 1000) for k in rng.integers(0, 30, net.n_parameters)]
    return P.from_radii(net, radii, "ragged test box")


def _bounds(net: Network, pert: P.Perturbation):
    lo, hi = np.array([float(v) for v in pert.lower]), np.array([float(v) for v in pert.upper])
    (ws, bs), (vs, cs) = net.layer_slices()
    n, d = net.layers[0].weights.shape
    return (lo[ws].reshape(n, d), hi[ws].reshape(n, d), lo[bs], hi[bs], lo[vs], hi[vs], lo[cs][0], hi[cs][0])


def oracle_extremes(net: Network, pert: P.Perturbation, x: np.ndarray) -> tuple[float, float]:
    """min and max over the box of the logit at x, by vertex enumeration per hidden neuron."""
    w_lo, w_hi, b_lo, b_hi, v_lo, v_hi, c_lo, c_hi = _bounds(net, pert)
    n, d = w_lo.shape
    corners = np.array(list(itertools.product((0.0, 1.0), repeat=d + 2)))         # (vertices, d + 2)
    w = w_lo[None] + corners[:, None, :d] * (w_hi - w_lo)[None]                    # (vertices, n, d)
    b = b_lo[None] + corners[:, None, d] * (b_hi - b_lo)[None]
    v = v_lo[None] + corners[:, None, d + 1] * (v_hi - v_lo)[None]
    values = v * np.maximum(w @ x + b, 0.0)                                          # (vertices, n)
    return c_lo + float(values.min(axis=0).sum()), c_hi + float(values.max(axis=0).sum())


def oracle_change(net, pert, x) -> float:
    sig = lambda z: 1 / (1 + np.exp(-z))
    z0 = float(net.logits(x)[0])
    z_min, z_max = oracle_extremes(net, pert, x)
    return max(sig(z_max) - sig(z0), sig(z0) - sig(z_min))


def oracle_max(net, pert, lo, hi, seed: int = 0, samples: int = 300, climbs: int = 6) -> float:
    """Sampling plus coordinate ascent over D of the oracle's change."""
    rng = np.random.default_rng(seed)
    d = len(lo)
    points = np.vstack([lo + (hi - lo) * rng.random((samples, d)), np.where(rng.random((samples, d)) < 0.5, lo, hi)])
    values = np.array([oracle_change(net, pert, x) for x in points])
    best = float(values.max())
    for i in np.argsort(-values)[:climbs]:
        x, f, step = points[i].copy(), values[i], 0.25
        while step > 1e-4:
            moves = [np.clip(x + s * step * e, lo, hi) for e in np.eye(d) for s in (1, -1)]
            vals = [oracle_change(net, pert, m) for m in moves]
            k = int(np.argmax(vals))
            if vals[k] > f:
                x, f = moves[k], vals[k]
            else:
                step /= 2
        best = max(best, f)
    return best


def enclosure_problems(found, net, pert, lo, hi, seed=0) -> list[str]:
    """What is wrong with a result: an upper end the oracle beats, or a lower end no input reaches."""
    problems = []
    reached = oracle_max(net, pert, lo, hi, seed)
    if reached > float(found.upper) + SLACK:
        problems.append(f"the oracle reaches {reached} above the upper end {float(found.upper)}")
    x = np.array([float(v) for v in found.witness.input])
    if abs(oracle_change(net, pert, x) - float(found.lower)) > 1e-9:
        problems.append(f"the witness changes f by {oracle_change(net, pert, x)}, not {float(found.lower)}")
    return problems


CASES = [(3, 4, 1, "uniform"), (3, 6, 2, "ragged"), (4, 5, 3, "uniform"), (3, 5, 4, "last layer")]


def _case(d, width, seed, kind):
    net = relu_net(d, width, seed)
    if kind == "uniform":
        pert = P.uniform(net, Q(1, 50))
    elif kind == "ragged":
        pert = ragged_box(net, seed)
    else:
        pert = P.subset(net, Q(1, 20), layers=[-1])
    lo = np.array([-1.0] * d)
    hi = np.array([1.0, 0.5] + [1.0] * (d - 2))
    return net, pert, Box(tuple(lo), tuple(hi)), lo, hi


@pytest.mark.parametrize("d,width,seed,kind", CASES)
def test_slabs_enclose_the_oracle_and_converge(d, width, seed, kind):
    net, pert, box, lo, hi = _case(d, width, seed, kind)
    assert global_bounds.applies(net, pert, box)
    found = global_bounds.global_epsilon(net, pert, box, Q(1, 10 ** 5), timeout=8)
    assert found.upper - found.lower <= Q(1, 10 ** 5), (float(found.lower), float(found.upper), found.reason)
    assert enclosure_problems(found, net, pert, lo, hi) == []


def _centre_seed_only(monkeypatch):
    """Start the search from D's centre alone, without ascent, so lower ends come from the branch and bound's LP optima."""
    monkeypatch.setattr(global_bounds, "_seeds", lambda problem, rng: ((problem.dlo + problem.dhi) / 2)[None])
    monkeypatch.setattr(global_bounds, "_ascend", lambda problem, x, value: (x, value))


def test_centre_seed_alone_still_encloses(monkeypatch):
    _centre_seed_only(monkeypatch)
    net, pert, box, lo, hi = _case(4, 5, 3, "uniform")
    found = global_bounds.global_epsilon(net, pert, box, Q(1, 10 ** 4), timeout=8)
    assert found.upper - found.lower <= Q(1, 10 ** 4)
    assert enclosure_problems(found, net, pert, lo, hi) == []


def test_a_planted_unsound_slab_bound_is_caught(monkeypatch):
    """Halving the slab bound (an unsound relaxation) prunes the optimum: the oracle beats the upper end."""
    _centre_seed_only(monkeypatch)
    net, pert, box, lo, hi = _case(4, 5, 3, "uniform")
    honest = global_bounds.change_bound
    monkeypatch.setattr(global_bounds, "change_bound", lambda *a: 0.5 * honest(*a))
    found = global_bounds.global_epsilon(net, pert, box, Q(1, 10 ** 5), timeout=8)
    assert any("above the upper end" in p for p in enclosure_problems(found, net, pert, lo, hi))


def test_a_planted_relu_chord_under_the_function_is_caught(monkeypatch):
    """A relu chord with half the slope cuts under relu: the relaxation loses the optimum and the oracle beats the upper end."""
    _centre_seed_only(monkeypatch)
    net, pert, box, lo, hi = _case(4, 5, 3, "uniform")
    monkeypatch.setattr(global_bounds, "_chord", lambda lo, hi: (0.5 * hi / (hi - lo), 0.5 * hi * -lo / (hi - lo)))
    found = global_bounds.global_epsilon(net, pert, box, Q(1, 10 ** 5), timeout=8)
    assert any("above the upper end" in p for p in enclosure_problems(found, net, pert, lo, hi))


def test_slabs_agree_with_input_box_branch_and_bound():
    """Two engines on one query: the certified intervals overlap and the slab one is at least as tight."""
    net, pert, box, lo, hi = _case(3, 4, 5, "uniform")
    slab = pr.global_epsilon(net, pert, box, tolerance=Q(1, 10 ** 4), timeout=60)   # stops at the tolerance, ~1 s alone
    assert "slabs of the nominal logit" in slab.provenance.method
    boxes = search.branch_and_bound_epsilon(net, pert, box, Q(1, 10 ** 4), 10, 2_000_000)
    assert max(slab.lower, boxes.lower) <= min(slab.upper, boxes.upper)
    assert slab.converged


def test_two_dimensional_domains_do_not_use_slabs():
    net = relu_net(2, 4, 1)
    pert = P.uniform(net, Q(1, 50))
    box = Box((-1, -1), (1, 1))
    assert not global_bounds.applies(net, pert, box)
    assert "slabs" not in pr.global_epsilon(net, pert, box, tolerance=Q(1, 1000), timeout=10).provenance.method


def test_domain_ends_off_binary64_keep_input_box_branch_and_bound():
    net = relu_net(3, 4, 1)
    assert not global_bounds.applies(net, P.uniform(net, Q(1, 50)), Box((Q(-1, 3),) * 3, (1, 1, 1)))


# -- multi-class -----------------------------------------------------------------------------------
def softmax_net(seed: int, depth: int = 1) -> Network:
    rng = np.random.default_rng(seed)
    sizes = [2] + [5] * depth + [3]
    return Network.from_arrays([rng.normal(size=(b, a)) for a, b in zip(sizes, sizes[1:])],
                               [rng.normal(size=b) * 0.1 for b in sizes[1:]], ["relu"] * depth + ["softmax"])


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("seed,depth", [(0, 1), (1, 2)])
def test_multiclass_global_epsilon_encloses_brute_force_sampling(seed, depth):
    net = softmax_net(seed, depth)
    pert = P.uniform(net, Q(1, 50))
    box = Box((-1, -1), (1, 1))
    est = pr.global_epsilon(net, pert, box, tolerance=Q(1, 20), timeout=4)
    assert "softmax" in est.provenance.method and 0 <= est.lower <= est.upper <= 1
    rng = np.random.default_rng(seed)
    xs = np.vstack([rng.uniform(-1, 1, (400, 2)), np.array(list(itertools.product((-1, 1), repeat=2)))])
    lo, hi = np.array([float(v) for v in pert.lower]), np.array([float(v) for v in pert.upper])
    p0 = _softmax(net.logits(xs))
    sampled = 0.0
    for _ in range(60):
        params = np.where(rng.random(len(lo)) < 0.5, lo, hi)
        sampled = max(sampled, float(np.abs(_softmax(net.with_parameters(params).logits(xs)) - p0).max()))
    assert sampled <= float(est.upper) + SLACK
    # the witness replays in floats to its certified value
    w = est.witness
    x = np.array([float(v) for v in w.input])
    names = [str(nm) for nm in net.parameter_names()]
    params = net.parameter_vector().copy()
    for name, value in w.parameters.items():
        params[names.index(name)] = float(value)
    replayed = float(np.abs(_softmax(net.with_parameters(params).logits(x)) - _softmax(net.logits(x))).max())
    assert abs(replayed - float(est.lower)) <= 1e-9
    assert sampled <= float(est.upper) and est.lower <= est.upper


def test_multiclass_global_epsilon_verification_decides_both_sides():
    net = softmax_net(0)
    pert = P.uniform(net, Q(1, 50))
    box = Box((-1, -1), (1, 1))
    est = pr.global_epsilon(net, pert, box, tolerance=Q(1, 20), timeout=3)
    assert pr.verify_global_epsilon(net, pert, box, est.upper + Q(1, 100), tolerance=Q(1, 20), timeout=3).verdict.value == "holds"
    below = pr.verify_global_epsilon(net, pert, box, est.lower / 2, tolerance=Q(1, 20), timeout=3)
    assert below.verdict.value == "violated" and below.witness.input is not None


# -- the node LP's rows hold at real points; enclosure on random nets -------------------------------------
def _real_point(search, node, x: np.ndarray) -> np.ndarray:
    """The LP's column vector of the real problem at input x: x, |x|, a, A (= U or L at x), relu(a), relu(A), then per unit
    the hull's copy x1 and weight z per hull unit (x and 1 where a >= 0, else 0 and 0), or (cut form) the weights z."""
    net, pert = search.p.network, search.p.perturbation
    k = node.direction
    dr = search.p.directions[k]
    w_lo, w_hi, b_lo, b_hi, _, _, _, _ = _bounds(net, pert)
    a = net.layers[0].weights @ x + net.layers[0].bias
    u = np.maximum(w_lo * x, w_hi * x).sum(axis=1) + b_hi
    lower = np.minimum(w_lo * x, w_hi * x).sum(axis=1) + b_lo
    A = np.where(dr.upper_unit, u, lower)
    active = (a[search.hull_units] >= 0).astype(float)
    hull = np.hstack([active[:, None] * x[None], active[:, None]]).ravel()
    weights = (a >= 0).astype(float)[: len(search.ZC) if search.cut else 0]
    return np.concatenate([x, np.abs(x), a, A, np.maximum(a, 0), np.maximum(A, 0), hull, weights])


@pytest.mark.parametrize("form", ["hull", "cut"])
@pytest.mark.parametrize("d,width,seed,kind", [(3, 6, 11, "uniform"), (5, 8, 12, "ragged"), (6, 10, 13, "uniform")])
def test_every_row_of_a_node_lp_holds_at_real_points(d, width, seed, kind, form, monkeypatch):
    """Sub-boxes of D with undecided phases: each LP row (|x| chords, relu chords and hulls or cuts, ramp and term cuts,
    slab) holds at inputs sampled in the box with the exact pre-activations of the extreme parameters; the cuts are
    separated at random points (the parent's LP point in the search), some units keeping random parent subsets."""
    monkeypatch.setattr(global_bounds, "HULL_SIZE", 10 ** 6 if form == "hull" else 0)
    net, pert, box, lo, hi = _case(d, width, seed, kind)
    problem = global_bounds._Problem(net, pert, box)
    search = global_bounds._Search(problem, 1e-4)
    rng, subsets = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    checked = 0
    for trial in range(40):
        cut = lo + (hi - lo) * rng.random((2, d))
        sub = np.sort(np.where(rng.random((2, d)) < 0.3, np.stack([lo, hi]), cut), axis=0)
        guide = None if trial < 5 else rng.random(search.cols) * 2 - 1
        if guide is not None and search.cut:
            guide[search.ZC] = rng.random(width)
        # a parent's Anderson subsets, kept by the units whose old cut is still violated enough at the guide
        cuts = subsets.random((width, d)) < 0.5 if guide is not None and search.cut and trial % 2 else None
        node = global_bounds._Node(trial % 2, -math.inf, math.inf, np.zeros(width, np.int8), np.zeros(width, np.int8), sub,
                                   guide=guide, cuts=cuts)
        ranges = search.ranges(node)
        matrix, _, col_lo, col_hi, row_lo, row_hi = search.model(node, ranges)
        xs = sub[0] + (sub[1] - sub[0]) * rng.random((200, d))
        xs = np.vstack([xs, np.where(rng.random((50, d)) < 0.5, sub[0], sub[1])])
        for x in xs:
            v = _real_point(search, node, x)
            assert (v >= col_lo - 1e-12).all() and (v <= col_hi + 1e-12).all()
            rows = matrix @ v
            assert (rows >= row_lo - 1e-12).all() and (rows <= row_hi + 1e-12).all(), np.flatnonzero(
                (rows < row_lo - 1e-12) | (rows > row_hi + 1e-12))
            checked += 1
    assert checked == 40 * 250


def test_a_planted_understated_unit_gap_is_caught():
    """Halving the upper ends of the units' gaps e makes the ramp and term cuts cut under real points."""
    net, pert, box, lo, hi = _case(5, 8, 12, "ragged")
    problem = global_bounds._Problem(net, pert, box)
    search = global_bounds._Search(problem, 1e-4)
    honest = search.gap_upper
    search.gap_upper = lambda node, dr: 0.5 * honest(node, dr)
    rng = np.random.default_rng(0)
    violated = 0
    for trial in range(20):
        node = global_bounds._Node(trial % 2, -math.inf, math.inf, np.zeros(8, np.int8), np.zeros(8, np.int8), np.stack([lo, hi]))
        matrix, _, col_lo, col_hi, row_lo, row_hi = search.model(node, search.ranges(node))
        for x in lo + (hi - lo) * rng.random((100, 5)):
            rows = matrix @ _real_point(search, node, x)
            violated += int(((rows < row_lo - 1e-12) | (rows > row_hi + 1e-12)).any())
    assert violated > 0


@pytest.mark.parametrize("form", ["hull", "cut"])
def test_a_planted_narrow_relu_hull_or_cut_is_caught(form, monkeypatch):
    """The relu hulls or cuts built over the middle half of the node's box cut off real points of the box."""
    monkeypatch.setattr(global_bounds, "HULL_SIZE", 10 ** 6 if form == "hull" else 0)
    net, pert, box, lo, hi = _case(5, 8, 12, "ragged")
    problem = global_bounds._Problem(net, pert, box)
    search = global_bounds._Search(problem, 1e-4)
    if form == "hull":
        honest = search._hull_blocks
        search._hull_blocks = lambda xl, xu, new: honest((3 * xl + xu) / 4, (xl + 3 * xu) / 4, new)
    else:
        honest = search._cut_blocks
        search._cut_blocks = lambda node, xl, xu, a_lo, a_hi, new: honest(node, (3 * xl + xu) / 4, (xl + 3 * xu) / 4,
                                                                           a_lo, a_hi, new)
    rng = np.random.default_rng(1)
    violated = 0
    for trial in range(10):
        node = global_bounds._Node(trial % 2, -math.inf, math.inf, np.zeros(8, np.int8), np.zeros(8, np.int8), np.stack([lo, hi]))
        matrix, _, col_lo, col_hi, row_lo, row_hi = search.model(node, search.ranges(node))
        for x in lo + (hi - lo) * rng.random((50, 5)):
            rows = matrix @ _real_point(search, node, x)
            violated += int(((rows < row_lo - 1e-12) | (rows > row_hi + 1e-12)).any())
    assert violated > 0


RANDOM_NETS = [(3, 5, 21, "uniform"), (4, 6, 22, "ragged"), (5, 6, 23, "uniform"), (6, 8, 24, "uniform"), (6, 5, 25, "last layer")]


@pytest.mark.parametrize("d,width,seed,kind", RANDOM_NETS)
def test_slabs_enclose_sampling_and_ascent_on_random_nets(d, width, seed, kind):
    """Random nets of 3-6 inputs, a short budget: converged or not, the upper end encloses the oracle's best and the
    witness reaches the lower end."""
    net, pert, box, lo, hi = _case(d, width, seed, kind)
    found = global_bounds.global_epsilon(net, pert, box, Q(1, 10 ** 5), timeout=2)
    assert found.lower <= found.upper
    assert enclosure_problems(found, net, pert, lo, hi, seed) == []


@pytest.mark.parametrize("d,width,seed", [(4, 48, 7), (6, 40, 9)])
def test_the_lower_end_at_an_input_is_the_exact_change_there(d, width, seed):
    """Wide units (where a float parameter attack stops short of the best corner): the replayed change at an input equals
    the oracle's vertex enumeration there, in both directions' worst case, and its witness replays to that value."""
    net = relu_net(d, width, seed)
    pert = P.uniform(net, Q(1, 50))
    box = Box(tuple([-1.0] * d), tuple([1.0] * d))
    problem = global_bounds._Problem(net, pert, box)
    rng = np.random.default_rng(seed)
    for x in np.where(rng.random((12, d)) < 0.4, np.sign(rng.normal(size=(12, d))), rng.uniform(-1, 1, (12, d))):
        lower, witness = global_bounds._certify(problem, x)
        assert abs(float(lower) - oracle_change(net, pert, x)) <= SLACK
        names = [str(net.parameter_name(i)) for i in range(net.n_parameters)]
        params = np.array([float(witness.parameters.get(name, v)) for name, v in zip(names, net.parameter_vector())])
        assert set(witness.parameters) <= set(names)
        assert np.allclose(np.array(witness.input, dtype=float), x)
        sig = lambda z: 1 / (1 + np.exp(-z))
        replayed = abs(sig(net.with_parameters(params).logits(x)[0]) - sig(net.logits(x)[0]))
        assert abs(replayed - float(lower)) <= SLACK


@pytest.mark.parametrize("d,width,seed,kind", [(4, 6, 31, "uniform"), (5, 8, 12, "ragged")])
def test_the_slab_line_bounds_the_change_at_real_points(d, width, seed, kind):
    """Sub-boxes and slabs around sampled nominal logits: at every sampled input of the box whose nominal logit lies in the
    slab, the logit change (vertex enumeration) is at most the node's Δ* and the line of its LP's duals at that logit."""
    net, pert, box, lo, hi = _case(d, width, seed, kind)
    problem = global_bounds._Problem(net, pert, box)
    search = global_bounds._Search(problem, 1e-4)
    rng = np.random.default_rng(seed)
    lines = checked = 0
    for trial in range(30):
        cut = lo + (hi - lo) * rng.random((2, d))
        sub = np.sort(np.where(rng.random((2, d)) < 0.5, np.stack([lo, hi]), cut), axis=0)
        xs = sub[0] + (sub[1] - sub[0]) * rng.random((300, d))
        z0s = net.logits(xs)[:, 0]
        t1, t2 = np.sort(rng.choice(z0s, 2, replace=False))
        node = global_bounds._Node(trial % 2, float(t1), float(t2), np.zeros(width, np.int8), np.zeros(width, np.int8), sub)
        delta, _ = search.solve(node)
        if delta is None or delta == -math.inf:
            continue
        lines += node.line is not None
        for x, z0 in zip(xs, z0s):
            if not t1 <= z0 <= t2:
                continue
            z_min, z_max = oracle_extremes(net, pert, x)
            change = z_max - z0 if trial % 2 == 0 else z0 - z_min
            assert change <= delta + SLACK
            if node.line is not None:
                assert change <= global_bounds._line_upper(node.line, problem.c0, z0, z0) + SLACK
            checked += 1
    assert lines >= 5 and checked >= 500, (lines, checked)


def test_a_planted_steep_slab_line_is_caught(monkeypatch):
    """A line from the duals with its falling end halved cuts under real changes: the oracle beats the upper end."""
    _centre_seed_only(monkeypatch)
    net, pert, box, lo, hi = _case(4, 5, 3, "uniform")
    honest = global_bounds._Search._slab_line

    def steeper(self, *args):
        line = honest(self, *args)
        return None if line is None else (line[0], line[1], min(line[2], 0.5 * line[3]), min(line[3], 0.5 * line[2]))

    monkeypatch.setattr(global_bounds._Search, "_slab_line", steeper)
    found = global_bounds.global_epsilon(net, pert, box, Q(1, 10 ** 5), timeout=8)
    assert any("above the upper end" in p for p in enclosure_problems(found, net, pert, lo, hi))


@pytest.mark.parametrize("d,width,seed,kind", [(4, 6, 31, "uniform"), (5, 8, 12, "ragged")])
def test_a_sibling_warm_start_gives_the_same_certified_bound(d, width, seed, kind):
    """Children of one split start from the previous sibling's optimal basis: each child's certified Δ* equals the Δ*
    it gets from the parent's basis (the LP optimum does not depend on the starting vertex), at many splits."""
    net, pert, box, lo, hi = _case(d, width, seed, kind)
    problem = global_bounds._Problem(net, pert, box)
    search = global_bounds._Search(problem, 1e-4)
    compared = 0
    for direction in range(2):
        queue = [global_bounds._Node(direction, -math.inf, math.inf, np.zeros(width, np.int8), np.zeros(width, np.int8),
                                     np.stack([lo, hi]))]
        queue[0].delta, queue[0].point = search.solve(queue[0])
        while queue and compared < 40:
            node = queue.pop(0)
            if node.point is None:
                continue
            children = search.split(node, max(node.delta, 0.0), node.point)
            warm = None
            for child in children:
                from_parent = global_bounds._Node(child.direction, child.t1, child.t2, child.nominal_phase,
                                                  child.perturbed_phase, child.box, basis=node.basis)
                expected, _ = search.solve(from_parent)
                if warm is not None:
                    child.basis = warm
                child.delta, child.point = search.solve(child)
                if expected is None or child.delta is None or expected == -math.inf:
                    continue
                assert abs(child.delta - expected) <= 1e-7 * (1 + abs(expected)), (child.delta, expected)
                compared += warm is not None
                warm = child.basis
                queue.append(child)
    assert compared >= 20, compared
