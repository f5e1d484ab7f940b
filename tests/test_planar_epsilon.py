"""Global ε on 2-D inputs by exact polygon pieces and branch and bound along their edges (smtnn.planar_epsilon).

The oracle is written apart from the engine: at a fixed x the extremes of the logit over the parameter
box come from enumerating each hidden neuron's parameter vertices (the neurons' parameters are disjoint
and v·act(w·x + b), act monotone, takes its extremes at vertices), in floats; x is sampled densely.
Upper ends must enclose the sampled changes, lower ends must replay, and the input-box branch and
bound kept as the fallback must give an overlapping interval.
"""
from __future__ import annotations

import itertools
from fractions import Fraction as Q

import numpy as np
import pytest

from smtnn import perturbation as P, planar_epsilon, properties as pr, search
from smtnn.domain import Box
from smtnn.network import Network

SLACK = 1e-9
ACTIVATIONS = {"relu": lambda a: np.maximum(a, 0.0), "linear": lambda a: a,
               "leaky_relu": lambda a: np.where(a >= 0, a, 0.1 * a)}


def random_net(width: int, activation: str | None, seed: int) -> Network:
    """2 inputs, one hidden layer of `width` units with `activation` (None: no hidden layer), a sigmoid output."""
    rng = np.random.default_rng(seed)
    if activation is None:
        return Network.from_arrays([rng.normal(size=(1, 2))], [rng.normal(size=1) * 0.3], ["sigmoid"])
    return Network.from_arrays([rng.normal(size=(width, 2)), rng.normal(size=(1, width))],
                               [rng.normal(size=width) * 0.5, rng.normal(size=1) * 0.3], [activation, "sigmoid"],
                               alphas=[0.1 if activation == "leaky_relu" else None, None])


def random_case(width: int, activation: str | None, seed: int):
    net = random_net(width, activation, seed)
    rng = np.random.default_rng(seed + 100)
    radii = [Q(int(k), 1000) for k in rng.integers(0, 40, net.n_parameters)]   # uneven, some parameters fixed
    pert = P.from_radii(net, radii, "ragged test box")
    lo = [Q(int(v), 4) for v in rng.integers(-8, 0, 2)]
    hi = [Q(int(v), 4) for v in rng.integers(1, 9, 2)]
    return net, pert, Box(tuple(lo), tuple(hi))


def oracle_change(net: Network, pert: P.Perturbation, xs: np.ndarray) -> np.ndarray:
    """|σ(z_p(x)) - σ(z0(x))| maximized over the box at each row of xs, by vertex enumeration (floats)."""
    lo, hi = np.array([float(v) for v in pert.lower]), np.array([float(v) for v in pert.upper])
    sig = lambda z: 1 / (1 + np.exp(-z))
    z0 = net.logits(xs)[:, 0]
    if len(net.layers) == 1:
        (ws, bs), = net.layer_slices()
        terms = np.stack([lo[ws][None] * xs, hi[ws][None] * xs])                    # (2, n, 2)
        z_min, z_max = lo[bs][0] + terms.min(axis=0).sum(axis=1), hi[bs][0] + terms.max(axis=0).sum(axis=1)
    else:
        act = ACTIVATIONS[net.layers[0].activation]
        (ws, bs), (vs, cs) = net.layer_slices()
        n = net.layers[0].outputs
        w_lo, w_hi = lo[ws].reshape(n, 2), hi[ws].reshape(n, 2)
        corners = np.array(list(itertools.product((0.0, 1.0), repeat=4)))                  # (16, 4)
        w = w_lo[None] + corners[:, None, :2] * (w_hi - w_lo)[None]                         # (16, n, 2)
        b = lo[bs][None] + corners[:, None, 2] * (hi[bs] - lo[bs])[None]                    # (16, n)
        v = lo[vs][None] + corners[:, None, 3] * (hi[vs] - lo[vs])[None]
        values = v[None] * act(np.einsum("vnd,sd->svn", w, xs) + b[None])                   # (samples, 16, n)
        z_min = lo[cs][0] + values.min(axis=1).sum(axis=1)
        z_max = hi[cs][0] + values.max(axis=1).sum(axis=1)
    return np.maximum(sig(z_max) - sig(z0), sig(z0) - sig(z_min))


def samples(box: Box, count: int, seed: int) -> np.ndarray:
    """Random inputs of D, its corners and points along its edges (where a maximum often sits)."""
    rng = np.random.default_rng(seed)
    lo, hi = np.array([float(v) for v in box.lower]), np.array([float(v) for v in box.upper])
    inside = lo + rng.random((count, 2)) * (hi - lo)
    t = np.linspace(0, 1, 401)[:, None]
    edges = [np.hstack([lo[0] + t * (hi[0] - lo[0]), np.full_like(t, end)]) for end in (lo[1], hi[1])] + \
            [np.hstack([np.full_like(t, end), lo[1] + t * (hi[1] - lo[1])]) for end in (lo[0], hi[0])]
    return np.vstack([inside] + edges)


def enclosure_problems(found, net, pert, box, seed: int = 0) -> list[str]:
    problems = []
    sampled = float(oracle_change(net, pert, samples(box, 4000, seed)).max())
    if float(found.upper) < sampled - SLACK:
        problems.append(f"a sampled change {sampled!r} above the upper end {float(found.upper)!r}")
    if found.lower > found.upper:
        problems.append("lower end above the upper end")
    if found.witness is not None:
        at = float(oracle_change(net, pert, np.array([[float(v) for v in found.witness.input]]))[0])
        if at < float(found.lower) - SLACK:
            problems.append(f"the witness's change {at!r} is below the lower end {float(found.lower)!r}")
    return problems


CASES = [(3, "relu", 1), (4, "relu", 2), (3, "linear", 3), (2, "leaky_relu", 4), (0, None, 5), (4, "linear", 6)]


@pytest.mark.parametrize("width, activation, seed", CASES)
def test_encloses_sampling_and_agrees_with_input_box_branch_and_bound(width, activation, seed):
    net, pert, box = random_case(width, activation, seed)
    assert planar_epsilon.applies(net, pert, box)
    found = pr.global_epsilon(net, pert, box, tolerance=Q(1, 10 ** 6), timeout=20)
    assert "polygon pieces" in found.provenance.method
    assert found.converged and found.gap <= Q(1, 10 ** 6), found.reason
    assert not enclosure_problems(found, net, pert, box)
    boxes = search.branch_and_bound_epsilon(net, pert, box, Q(1, 10 ** 4), 8, 2_000_000)
    assert max(found.lower, boxes.lower) <= min(found.upper, boxes.upper)
    assert found.upper - found.lower <= boxes.upper - boxes.lower


def test_a_maximum_at_a_vertex_is_exact():
    """No hidden layer, the logit below 0 on D and growing with x: the change is largest at the corner (2, 3), whose
    exact replay closes the interval (far below the binary64 rounding of the edge bounds)."""
    net = Network.from_arrays([[[0.1, 0.2]]], [[-3.0]], ["sigmoid"])
    pert = P.uniform(net, Q(1, 100))
    box = Box((Q(1), Q(1)), (Q(2), Q(3)))
    found = pr.global_epsilon(net, pert, box, tolerance=Q(1, 10 ** 6))
    assert found.upper - found.lower < Q(1, 10 ** 30)
    assert found.witness.input == (Q(2), Q(3))
    assert abs(float(found.lower) - float(oracle_change(net, pert, samples(box, 4000, 0)).max())) < 1e-12


def test_a_planted_low_edge_bound_is_caught(monkeypatch):
    """Edge bounds that under-report by 0.05 leave a sampled change above the upper end."""
    net, pert, box = random_case(3, "relu", 1)
    real = planar_epsilon._Edges.bound_over

    def planted(self, edge, t1, t2):
        bound, direction = real(self, edge, t1, t2)
        return bound - 0.05, np.zeros_like(direction)

    monkeypatch.setattr(planar_epsilon._Edges, "bound_over", planted)
    monkeypatch.setattr(planar_epsilon, "MAX_REPLAYS", 0)
    found = planar_epsilon.global_epsilon(net, pert, box, Q(1, 10 ** 6), None)
    assert any("above the upper end" in p for p in enclosure_problems(found, net, pert, box))


def test_a_planted_missing_direction_is_caught(monkeypatch):
    """Pairs for σ(z_max) - σ(z0) only (the other direction dropped) miss the larger change of some cases."""
    caught = 0
    for seed in range(1, 6):
        net, pert, box = random_case(3, "relu", seed)
        real = planar_epsilon._pairs

        def only_up(nominal, extreme, arith):
            z0 = nominal[0]
            highest = extreme([1])
            a = highest.items if highest.kind > 0 else (arith.resolve(highest),)
            b = z0.items if z0.kind < 0 or z0.single else (arith.resolve(z0),)
            return [(x, y) for x in a for y in b]

        monkeypatch.setattr(planar_epsilon, "_pairs", only_up)
        monkeypatch.setattr(planar_epsilon, "MAX_REPLAYS", 0)
        found = planar_epsilon.global_epsilon(net, pert, box, Q(1, 10 ** 6), None)
        caught += bool(enclosure_problems(found, net, pert, box))
        monkeypatch.setattr(planar_epsilon, "_pairs", real)
    assert caught


def test_a_spent_budget_still_answers_soundly():
    net, pert, box = random_case(4, "relu", 2)
    found = pr.global_epsilon(net, pert, box, tolerance=Q(1, 10 ** 6), timeout=1e-9)
    assert not enclosure_problems(found, net, pert, box)


def test_wide_networks_and_unresolvable_tolerances_keep_input_box_branch_and_bound():
    net = random_net(6, "relu", 1)
    pert, box = P.uniform(net, Q(1, 100)), Box((Q(0), Q(0)), (Q(1), Q(1)))
    assert not planar_epsilon.applies(net, pert, box)
    small, box = random_case(2, "relu", 1)[0], Box((Q(0), Q(0)), (Q(1), Q(1)))
    assert planar_epsilon.global_epsilon(small, P.uniform(small, Q(1, 100)), box, Q(1, 10 ** 13), None) is None


def test_flat_domains_and_hidden_sigmoids_keep_input_box_branch_and_bound():
    net, pert, box = random_case(3, "relu", 1)
    flat = Box((box.lower[0], Q(1)), (box.upper[0], Q(1)))
    assert not planar_epsilon.applies(net, pert, flat)
    found = pr.global_epsilon(net, pert, flat, tolerance=Q(1, 10 ** 4), timeout=10)
    assert "branch and bound over D" in found.provenance.method
    smooth = random_net(3, "tanh", 1)
    assert not planar_epsilon.applies(smooth, P.uniform(smooth, Q(1, 100)), box)


def test_sigmoid_enclosure_is_the_interval_contexts_enclosure():
    """The replay's sigmoid calls mpmath's directed-rounding steps directly: the endpoints must equal those of
    mpmath's interval arithmetic for 1 / (1 + exp(-z)), and enclose a 200-bit evaluation."""
    import mpmath

    from smtnn.exact import Enclosure, sigmoid_enclosure

    rng = np.random.default_rng(7)
    values = [Q(0), Q(10 ** 9), Q(-10 ** 9), Q(1, 10 ** 30), Q(-1, 3)]
    values += [Q(float(v)) for v in rng.normal(scale=20, size=300)]
    values += [Q(int(a), int(b)) for a, b in zip(rng.integers(-10 ** 18, 10 ** 18, 100), rng.integers(1, 10 ** 15, 100))]
    for z in values:
        reference = Enclosure.of_mpi(1 / (1 + mpmath.iv.exp(-(mpmath.iv.mpf(z.numerator) / z.denominator))))
        found = sigmoid_enclosure(z)
        assert (found.lo, found.hi) == (reference.lo, reference.hi)
        if abs(z) < 1000:
            with mpmath.workprec(200):
                value = 1 / (1 + mpmath.exp(-mpmath.mpf(z.numerator) / z.denominator))
                assert found.lo <= Q(*value.man_exp[:1]) * Q(2) ** value.man_exp[1] <= found.hi
