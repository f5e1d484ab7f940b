"""The one layer walk and its domains, proved on leaky relu (the activation added through the seam).

Every domain is checked on a hand-computed network, then against float sampling and against
each other: exact replay, integers, intervals, slopes, pySMT terms (parametric and eliminated),
the corner extreme, gradients, the twins' LP relaxation, branch and bound and Z3.
"""
from __future__ import annotations

import math
from fractions import Fraction as Q

import numpy as np
import pytest

from smtnn import perturbation as P
from smtnn import properties as pr
from smtnn import linear_bounds, search
from smtnn.bounds import extreme_at, propagate, replay_logits
from smtnn.domain import Box
from smtnn.encoder import Encoder
from smtnn.errors import UnsupportedModelError
from smtnn.exact import Enclosure
from smtnn.network import Dense, Network
from smtnn.rounding import float_down, float_up, round_down, round_up
from smtnn.semantics import walk
from smtnn.semantics.enclosures import EnclosureDomain, PointParameterEnclosures
from smtnn.semantics.floats import ParameterGradients
from smtnn.semantics.integers import DenominatorTooLarge, IntegerDomain, RationalParameterDomain, common_integers
from smtnn.slopes import logit_slopes
from smtnn.twins.attack import values_and_gradients
from smtnn.twins.bnb import Search
from smtnn.semantics.exactnet import ExactNetwork
from smtnn.twins.optimize import Analysis
from smtnn.twins.relaxation import Relaxation

ALPHA = 0.25


def hand_network() -> Network:
    """x -> leaky_relu_{1/4}(W1 x + b1) -> W2 h + b2 (sigmoid output); at x = (1, 0) the logit is 5/2:
    a = (1.5, -1), h = (1.5, -0.25), z = 2·1.5 + 3·(-0.25) + 0.25 = 2.5, dz/dx = 2·(1, -2) + 3·¼·(-1, 1) = (1.25, -3.25)."""
    return Network((Dense(np.array([[1.0, -2.0], [-1.0, 1.0]]), np.array([0.5, 0.0]), "leaky_relu", alpha=ALPHA),
                    Dense(np.array([[2.0, 3.0]]), np.array([0.25]), "sigmoid")))


def random_network(seed: int, dims=(2, 4, 3, 3), alpha=0.1, hidden="leaky_relu") -> Network:
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        kind = ("linear" if n_out > 1 else "sigmoid") if last else hidden
        layers.append(Dense(rng.normal(size=(n_out, n_in)), rng.normal(size=n_out) * 0.3, kind,
                            alpha=alpha if kind == "leaky_relu" else None))
    return Network(tuple(layers))


def float_logits(network: Network, params: np.ndarray, xs: np.ndarray) -> np.ndarray:
    return network.with_parameters(params).logits(xs)


def test_hand_computed_value_in_every_domain():
    net = hand_network()
    x = [Q(1), Q(0)]
    assert net.logits(np.array([1.0, 0.0]))[0] == 2.5
    assert [(z.lo, z.hi) for z in replay_logits(net, x, net.exact_parameters())] == [(Q(5, 2), Q(5, 2))]
    assert ExactNetwork(net).logits(x) == [Q(5, 2)]
    point = np.array([[1.0, 0.0]])
    p = net.parameter_vector()
    lo, hi = search.interval_logits(net, p, p, point, point)
    assert lo[0, 0] <= 2.5 <= hi[0, 0] and hi[0, 0] - lo[0, 0] < 1e-12
    low, high = logit_slopes(net, p, p, point, point)
    assert low.lo[0, 0] <= 2.5 <= low.hi[0, 0]
    assert np.allclose(low.glo[0, 0], [1.25, -3.25]) and np.allclose(low.ghi[0, 0], [1.25, -3.25])
    value, grad = values_and_gradients([net], [((1,),)], point)
    assert value[0] == 2.5 and np.array_equal(grad[0], [1.25, -3.25])
    enc = Encoder(net, P.uniform(net, 0))
    xs = enc.input_symbols()
    term = enc.logits(xs, enc.parameter_terms(), None, [])[0]
    assert evaluate(enc, term, {s: enc.real(v) for s, v in zip(xs, x)}) == Q(5, 2)
    # the parameter-space attack's domain: dz/dW2 = h, dz/db2 = 1, dz/dW1 = (2, 3·¼) ⊗ x, dz/db1 = (2, ¾)
    grads = ParameterGradients(net, p)
    assert walk(net, grads, np.array([1.0, 0.0]))[0] == 2.5
    grad_p, grad_x = grads.parameter_pullback(np.array([1.0]))
    assert np.array_equal(grad_p, [2, 0, 0.75, 0, 2, 0.75, 1.5, -0.25, 1]) and np.array_equal(grad_x, [1.25, -3.25])
    exact = net.exact_parameters()
    integers = walk(net, RationalParameterDomain(net, exact, 64), common_integers(x, 64))
    assert integers.fractions() == [Q(5, 2)]
    with pytest.raises(DenominatorTooLarge):
        walk(net, RationalParameterDomain(net, exact, 64), common_integers([Q(1, 3 ** 50), Q(0)], 64))
    points = walk(net, PointParameterEnclosures(net, exact), [Enclosure.point(v) for v in x])
    assert [(z.lo, z.hi) for z in points] == [(Q(5, 2), Q(5, 2))]
    lo, hi = linear_bounds.objective_bounds(net, linear_bounds.nominal_box(net), point[0], point[0], [[1.0]])
    assert lo[0] <= 2.5 <= hi[0] and hi[0] - lo[0] < 1e-12


def test_a_phase_fixed_by_bounds_drops_the_case_split():
    """With input bounds the unit a2 = -x0 + x1 <= -1/2 is always negative: its term is alpha·a2, no if-then-else."""
    net = hand_network()
    enc = Encoder(net, P.uniform(net, 0))
    xs = enc.input_symbols()
    box = Box((Q(1), Q(-1)), (Q(2), Q(0)))
    term = enc.logits(xs, enc.parameter_terms(), box, [])[0]
    assert "ite" not in term.serialize()


def test_alpha_is_checked_at_construction():
    w, b = np.ones((2, 2)), np.zeros(2)
    out = Dense(np.ones((1, 2)), np.zeros(1), "sigmoid")
    for alpha, words in ((None, "no negative slope"), (1.5, r"slopes in \[0, 1\]"), (-0.1, r"slopes in \[0, 1\]")):
        with pytest.raises(UnsupportedModelError, match=words):
            Network((Dense(w, b, "leaky_relu", alpha=alpha), out))
    with pytest.raises(UnsupportedModelError, match="not a binary64 number"):
        Network((Dense(w, b, "leaky_relu", alpha="0.1"), out))
    with pytest.raises(UnsupportedModelError, match="only leaky_relu layers"):
        Network((Dense(w, b, "relu", alpha=0.1), out))
    net = Network((Dense(w, b, "leaky_relu", alpha=0.1), out))
    assert net.layers[0].alpha == Q(0.1) and net.piecewise_linear
    assert net.with_parameters(net.parameter_vector()).layers[0].alpha == Q(0.1)


def test_a_domain_without_the_activation_is_refused_before_walking():
    net = Network((Dense(np.ones((2, 2)), np.zeros(2), "tanh"), Dense(np.ones((1, 2)), np.zeros(1), "sigmoid")))
    with pytest.raises(UnsupportedModelError, match="hidden layer 0 .* 'tanh'.*supported: relu, leaky_relu, linear"):
        walk(net, IntegerDomain(ExactNetwork(net).layers), None)


@pytest.mark.parametrize("seed", range(4))
def test_enclosures_intervals_and_slopes_contain_sampled_values(seed):
    net = random_network(seed, dims=(2, 4, 3, 1))
    pert = P.uniform(net, Q(1, 20))
    rng = np.random.default_rng(seed)
    box = Box((Q(-1), Q(0)), (Q(0), Q(1, 2)))
    xs = rng.uniform([-1, 0], [0, 0.5], size=(300, 2))
    p0 = net.parameter_vector()
    params = [p0 + rng.uniform(-0.05, 0.05, size=p0.size) * (1 - 1e-9) for _ in range(40)]
    sampled = np.array([float_logits(net, p, xs)[:, 0] for p in params])
    exact = propagate(net, [Enclosure(lo, hi) for lo, hi in zip(box.lower, box.upper)], pert.lower, pert.upper)[-1][0]
    plo = np.array([float_down(v) for v in pert.lower])
    phi = np.array([float_up(v) for v in pert.upper])
    lo, hi = search.interval_logits(net, plo, phi, np.array([[-1.0, 0.0]]), np.array([[0.0, 0.5]]))
    low, high = logit_slopes(net, plo, phi, np.array([[-1.0, 0.0]]), np.array([[0.0, 0.5]]))
    for bottom, top in ((float(exact.lo), float(exact.hi)), (lo[0, 0], hi[0, 0]), (low.lo[0, 0], high.hi[0, 0])):
        assert bottom - 1e-9 <= sampled.min() and sampled.max() <= top + 1e-9
    # float point intervals and the float pass agree with exact replay at a sample
    x = [Q(float(v)) for v in xs[0]]
    z = replay_logits(net, x, [Q(float(v)) for v in params[0]])[0]
    assert abs(float(z.lo) - sampled[0, 0]) < 1e-9 and z.lo == z.hi
    assert ExactNetwork(net.with_parameters(params[0])).logits(x) == [z.lo]


@pytest.mark.parametrize("seed,hidden", [(s, h) for s in range(3) for h in ("leaky_relu", "relu", "linear")])
def test_point_parameter_enclosures_equal_the_general_domain(seed, hidden):
    net = random_network(seed, dims=(3, 5, 4, 3), hidden=hidden)
    exact = net.exact_parameters()
    rng = np.random.default_rng(seed)
    for _ in range(5):
        lo = [Q(float(v)) for v in rng.uniform(-1, 0, 3)]
        box = [Enclosure(v, v + Q(int(rng.integers(0, 4)), 7)) for v in lo]
        fast = walk(net, PointParameterEnclosures(net, exact), box)
        general = walk(net, EnclosureDomain(net, exact, exact), box)
        assert [(z.lo, z.hi) for z in fast] == [(z.lo, z.hi) for z in general]


@pytest.mark.parametrize("seed,hidden", [(s, h) for s in range(4) for h in ("leaky_relu", "relu", "linear")])
def test_corner_extreme_is_attained_bounds_samples_and_matches_its_terms(seed, hidden):
    """extreme_at and Encoder.eliminated_extreme are one derivation: the term, evaluated at x, is the number."""
    net = random_network(seed, dims=(2, 3, 4, 1), hidden=hidden)
    pert = P.subset(net, Q(1, 10), layers=[1, 2])
    rng = np.random.default_rng(10 + seed)
    box = Box((Q(-1), Q(-1)), (Q(1), Q(1)))
    enc = Encoder(net, pert)
    xs = enc.input_symbols()
    p0 = net.parameter_vector()
    free = np.array(pert.free)
    for coeffs in ([1], [-1]):
        term = enc.eliminated_extreme(xs, coeffs, box)
        for _ in range(3):
            x = [Q(int(v), 64) for v in rng.integers(-64, 65, size=2)]
            ext = extreme_at(net, pert, x, coeffs)
            assert ext.exact and ext.upper == ext.witness_value.lo == ext.witness_value.hi
            assert pert.contains(ext.witness)
            value = evaluate(enc, term, {s: enc.real(v) for s, v in zip(xs, x)})
            assert value == ext.upper
            samples = np.tile(p0, (400, 1))
            samples[:, free] += rng.uniform(-0.1, 0.1, size=(400, free.size)) * (1 - 1e-9)
            xf = np.array([[float(v) for v in x]])
            sampled = max(coeffs[0] * float_logits(net, p, xf)[0, 0] for p in samples)
            assert sampled <= float(ext.upper) + 1e-9


def test_parametric_terms_equal_exact_replay_at_sampled_parameters():
    net = random_network(7, dims=(2, 3, 3, 2))
    pert = P.uniform(net, Q(1, 10))
    enc = Encoder(net, pert)
    xs, symbols = enc.input_symbols(), enc.parameter_symbols()
    terms = enc.logits(xs, enc.parameter_terms(symbols), None, [])
    rng = np.random.default_rng(7)
    for _ in range(5):
        x = [Q(int(v), 16) for v in rng.integers(-16, 17, size=2)]
        params = [p + Q(int(rng.integers(-10, 11)), 100) if i in symbols else p for i, p in enumerate(pert.nominal)]
        sub = {s: enc.real(v) for s, v in zip(xs, x)} | {symbols[i]: enc.real(params[i]) for i in symbols}
        got = [evaluate(enc, t, sub) for t in terms]
        assert got == [z.lo for z in replay_logits(net, x, params)]


def test_local_epsilon_on_leaky_relu_is_exact_and_bounds_sampling():
    net = random_network(3, dims=(2, 4, 1))
    pert = P.uniform(net, Q(1, 50))
    x0 = (0.25, -0.5)
    est = pr.local_epsilon(net, pert, x0)
    assert est.converged and est.lower <= est.upper
    rng = np.random.default_rng(3)
    p0 = net.parameter_vector()
    f0 = 1 / (1 + np.exp(-net.logits(np.array(x0))[0]))
    samples = p0 + rng.uniform(-0.02, 0.02, size=(3000, p0.size)) * (1 - 1e-9)
    sampled = max(abs(1 / (1 + np.exp(-float_logits(net, p, np.array(x0))[0])) - f0) for p in samples)
    assert sampled <= float(est.upper) + 1e-12


def leaky_twins(seed: int):
    rng = np.random.default_rng(seed)
    first = random_network(seed, dims=(2, 3, 3, 3), alpha=0.2)
    layers = [Dense(l.weights + rng.normal(size=l.weights.shape) * 0.05, l.bias, l.activation, alpha=l.alpha)
              for l in first.layers]
    return first, Network(tuple(layers))


@pytest.mark.parametrize("seed", [0, 5, 7])   # 2, 7 and 4 open units: small enough for Z3's optimizer
def test_twins_relaxation_and_branch_and_bound_on_leaky_relu(seed):
    """The LP bound encloses sampling, branch and bound closes exactly and Z3's optimizer agrees."""
    first, second = leaky_twins(seed)
    box = Box((Q(-1, 4), Q(-1, 4)), (Q(1, 4), Q(1, 4)))
    form = ((1, -1, 0), (-1, 1, 0))
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-0.25, 0.25, size=(4000, 2))
    sampled = (first.logits(xs) @ np.array(form[0]) + second.logits(xs) @ np.array(form[1])).max()
    relax = Relaxation([first, second], box)
    assert any(u.kind == "leaky_relu" for u in relax.unstable())
    assert float(Search(relax, [form]).bound({}).upper) >= sampled - 1e-9
    analysis = Analysis([first, second], box)
    loose = analysis.extreme([form], "max", "relaxation")
    exact = analysis.extreme([form], "max", "exact", timeout=60)
    assert loose.upper >= exact.upper and float(loose.upper) >= sampled - 1e-9
    assert exact.lower == exact.upper and float(exact.upper) >= sampled - 1e-9
    assert analysis.value([form], exact.witness.input, replay=True) == exact.lower
    by_z3 = analysis.extreme([form], "max", "z3", timeout=60)
    assert by_z3.lower == by_z3.upper == exact.upper


def test_rounding_steps_outward():
    assert round_down(1.0) < 1.0 < round_up(1.0)
    assert (round_down(np.array([0.0, -2.0])) < [0.0, -2.0]).all()
    third = Q(1, 3)
    assert Q(float_down(third)) < third < Q(float_up(third))
    assert float_down(Q(1, 2)) == float_up(Q(1, 2)) == 0.5



def evaluate(enc: Encoder, term, values: dict):
    """A term's rational value after substituting constants, in the encoder's own environment."""
    return enc.env.simplifier.simplify(enc.env.substituter.substitute(term, values)).constant_value()


@pytest.mark.parametrize("seed", [0, 7])
def test_decision_preservation_on_leaky_relu_agrees_with_z3_and_sampling(seed):
    from smtnn.result import Verdict
    from smtnn.twins.decisions import decisions

    first, second = leaky_twins(seed)
    box = Box((Q(-1, 4), Q(-1, 4)), (Q(1, 4), Q(1, 4)))
    xs = np.random.default_rng(seed).uniform(-0.25, 0.25, size=(4000, 2))
    disagree = (first.predict(xs) != second.predict(xs)).any()
    by_search = decisions(first, second, box=box, timeout=60)
    by_z3 = decisions(first, second, box=box, engine="z3", timeout=60)
    assert by_search.verdict is by_z3.verdict is not Verdict.UNKNOWN
    if disagree:
        assert by_search.verdict is Verdict.VIOLATED


def test_twins_differing_only_in_the_leaky_slope_are_not_the_same_network():
    """Twins with equal weights but another negative slope must be analysed, not shared or declared identical."""
    from smtnn.result import Verdict
    from smtnn.twins.decisions import decisions

    first = random_network(11, dims=(2, 3, 3), alpha=0.0)
    second = Network(tuple(Dense(l.weights, l.bias, l.activation, alpha=None if l.alpha is None else 1.0) for l in first.layers))
    box = Box((Q(-2), Q(-2)), (Q(2), Q(2)))
    xs = np.random.default_rng(11).uniform(-2, 2, size=(4000, 2))
    form = ((1, -1, 0), (-1, 1, 0))
    sampled = (first.logits(xs) @ np.array(form[0]) + second.logits(xs) @ np.array(form[1])).max()
    exact = Analysis([first, second], box).extreme([form], "max", "exact", timeout=60)
    assert exact.lower == exact.upper and float(exact.upper) >= sampled - 1e-9 and sampled > 1e-6
    assert (first.predict(xs) != second.predict(xs)).any()
    assert decisions(first, second, box=box, timeout=60).verdict is Verdict.VIOLATED


def test_global_epsilon_and_label_on_leaky_relu_bound_sampling():
    """Eq. 12 by branch and bound (interval and slope domains, corner replay) and Def. 4 by Z3 (eliminated terms)."""
    from smtnn.result import Verdict

    net = random_network(5, dims=(2, 4, 1), alpha=0.3)
    pert = P.subset(net, Q(1, 50), layers=[1])
    box = Box((Q(-1), Q(-1)), (Q(1), Q(1)))
    est = pr.global_epsilon(net, pert, box, tolerance=Q(1, 10 ** 4), timeout=120)
    assert est.lower <= est.upper and est.upper - est.lower <= Q(1, 10 ** 4)
    rng = np.random.default_rng(5)
    xs = rng.uniform(-1, 1, size=(2000, 2))
    p0 = net.parameter_vector()
    free = np.array(pert.free)
    f0 = 1 / (1 + np.exp(-net.logits(xs)[:, 0]))
    sampled, flipped = 0.0, False
    for _ in range(200):
        p = p0.copy()
        p[free] += rng.choice([-0.02, 0.02], size=free.size) * (1 - 1e-9)
        zp = float_logits(net, p, xs)[:, 0]
        sampled = max(sampled, np.abs(1 / (1 + np.exp(-zp)) - f0).max())
        flipped |= bool(((zp >= 0) != (f0 >= 0.5)).any())
    assert sampled <= float(est.upper) + 1e-12
    label = pr.verify_global_label(net, pert, box)
    assert label.verdict is not Verdict.UNKNOWN
    if flipped:
        assert label.verdict is Verdict.VIOLATED


def test_floats_outward_agrees_with_float_down_and_up():
    """The batch conversion of a parameter box gives exactly the nearest floats outward, one rational at a time."""
    import random

    from smtnn.rounding import float_down, float_up, floats_outward

    rng = random.Random(7)
    values = [Q(rng.randint(-10 ** 30, 10 ** 30), rng.randint(1, 10 ** 25)) for _ in range(500)]
    values += [Q(x) for x in (0.1, -2.5, 1e-300, 3.0, -7e200)] + [Q(0), Q(-3), Q(1, 3)]
    values += [Q(0.1) + Q(1, 10 ** 40), Q(0.1) - Q(1, 10 ** 40)]
    assert floats_outward(values, down=True).tolist() == [float_down(v) for v in values]
    assert floats_outward(values, down=False).tolist() == [float_up(v) for v in values]


def test_ratios_around_agrees_with_float_down_and_up():
    """The vectorised rounding of integer ratios n / d gives exactly the nearest floats around each, one rational at a
    time, including ties, subnormals and ratios beyond the float range (between the largest float and infinity)."""
    import random

    from smtnn.rounding import ratios_around

    largest = float(np.finfo(float).max)

    def around(q):
        if abs(q) > Q(largest):
            return (largest, math.inf) if q > 0 else (-math.inf, -largest)
        return float_down(q), float_up(q)

    rng = random.Random(8)
    pairs = [(rng.randint(-10 ** rng.randint(1, 400), 10 ** rng.randint(1, 400)), rng.randint(1, 10 ** rng.randint(1, 400)))
             for _ in range(1000)]
    pairs += [(10 ** 400, 1), (-10 ** 400, 3), (2 ** 1024 - 2 ** 970, 1), (2 ** 1024 - 2 ** 971, 1), (1, 2 ** 1074),
              (3, 2 ** 1076), (1, 2 ** 1080), (0, 7), (1, 3), (-5, 2), (2 ** 53 + 1, 1)]
    lower, upper = ratios_around(np.array([n for n, _ in pairs], dtype=object), np.array([d for _, d in pairs], dtype=object))
    assert list(zip(lower.tolist(), upper.tolist())) == [around(Q(n, d)) for n, d in pairs]


def _awkward_floats(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random floats of every scale: normal over the whole exponent range, subnormals, ±0, the largest finite."""
    normal = rng.choice([-1.0, 1.0], n) * np.ldexp(rng.uniform(1.0, 2.0, n), rng.integers(-1022, 1023, n))
    subnormal = rng.choice([-1.0, 1.0], n) * rng.integers(1, 2 ** 52, n) * 2.0 ** -1074
    weights = rng.normal(0.0, 0.1, n)
    special = np.array([0.0, -0.0, 5e-324, -5e-324, np.finfo(float).max, -np.finfo(float).max, 1.0, -1.0, 0.5])
    return np.concatenate([normal, subnormal, weights, special])


@pytest.mark.parametrize("radius", [Q(3, 10000), Q(0), Q(1, 3), Q(2) ** -1074, Q(1, 10 ** 320), Q(10) ** 300,
                                    Q(2) ** 1023 * 3, Q(1, 2 ** 60), Q(0.1)])
def test_floats_shifted_is_the_exact_directed_rounding(radius):
    """float_down(p - r) and float_up(p + r) by vectorised TwoSum equal the one-at-a-time exact conversion
    wherever the fast pass claims to know them (and leaves at most a few undecided on ordinary weights)."""
    from smtnn.rounding import float_down, float_up, floats_shifted

    floats = _awkward_floats(np.random.default_rng([5, radius.denominator % 1000]), 400)
    for down in (True, False):
        shifted, undecided = floats_shifted(floats, radius, down)
        for f, s, u in zip(floats.tolist(), shifted.tolist(), undecided.tolist()):
            if not u:
                exact = float_down(Q(f) - radius) if down else float_up(Q(f) + radius)
                assert s == exact, (f, radius, down)


def test_perturbation_float_box_and_free_match_the_exact_box():
    """uniform, per_layer and subset boxes take the vectorised path; their float ends and free parameters equal
    the exact ones computed from the rational tuples, on floats of every scale."""
    from smtnn.network import Network
    from smtnn.rounding import floats_outward

    rng = np.random.default_rng(11)
    floats = rng.permutation(_awkward_floats(rng, 90))
    floats[np.abs(floats) > 1e290] = 0.75   # p0 ± δ must stay within the float range for either conversion
    net = Network.from_arrays([floats[:150].reshape(50, 3), floats[200:250].reshape(1, 50)], [floats[150:200], floats[250:251]],
                              ["relu", "sigmoid"])
    boxes = [P.uniform(net, "0.0003"), P.uniform(net, 0), P.uniform(net, "1e300"), P.uniform(net, 2.0 ** -1074),
             P.per_layer(net, ["0.25", "1e-320"]), P.subset(net, "0.01", layers=[1]), P.subset(net, "3", indices=[0, 7])]
    for box in boxes:
        lo, hi = box.float_box()
        assert lo.tolist() == floats_outward(box.lower, down=True).tolist(), box.description
        assert hi.tolist() == floats_outward(box.upper, down=False).tolist(), box.description
        assert box.free == tuple(i for i, (a, b) in enumerate(zip(box.lower, box.upper)) if a != b)


def test_scaled_layers_are_the_exact_floats():
    """Integer layers (N / 2^E) equal Fraction(float) on floats of every scale, subnormals and ±0 included."""
    from smtnn.semantics.integers import scaled

    values = _awkward_floats(np.random.default_rng(4), 300)[:900].reshape(-1, 4)
    ints, e = scaled(values)
    assert ints.shape == values.shape
    assert [Q(int(n), 2 ** e) for n in ints.ravel()] == [Q(float(v)) for v in values.ravel()]


def test_twins_exact_logits_from_integer_layers_match_rational_replay():
    """The class of an exact input comes from the integer layers; the logits equal the rational replay."""
    from smtnn.network import Network
    from smtnn.twins.pair import exact_logits

    rng = np.random.default_rng(8)
    net = Network.from_arrays([rng.normal(size=(6, 3)), rng.normal(size=(5, 6)), rng.normal(size=(4, 5))],
                              [rng.normal(size=6), rng.normal(size=5), rng.normal(size=4)], ["relu", "leaky_relu", "linear"],
                              alphas=[None, 0.1, None])
    for _ in range(5):
        x = [Q(float(v)) for v in rng.uniform(-1, 1, 3)]
        expected = replay_logits(net, x, net.exact_parameters())
        assert exact_logits(net, x) == [z.lo for z in expected] == [z.hi for z in expected]


def _deferred_boxes(net):
    return [P.uniform(net, "0.0003"), P.uniform(net, 0), P.per_layer(net, ["0.25", "1e-320"]),
            P.subset(net, "0.01", layers=[1]), P.subset(net, "3", indices=[0, 7]), P.relative(net, "0.001"),
            P.relative(net, 0), P.quantization(net, "int", 8), P.quantization(net, "int", 3), P.quantization(net, "fixed", 6)]


def _eager(box, net):
    """The same box through from_radii (every exact vector computed at once), its radii computed one rational at a
    time from its spec: d·|p0| (relative), |q - p0| with q from quantized_values (quantization), or the shared radii."""
    exact, spec = net.exact_parameters(), box.spec
    if spec["model"] == "relative":
        radii = [Q(spec["delta"]) * abs(p) for p in exact]
    elif spec["model"] == "quantization":
        radii = [abs(q - p) for q, p in zip(P.quantized_values(net, spec["scheme"], spec["bits"]), exact)]
    else:
        rule = box.__dict__["_radii"]
        radii = [rule.values[k] for k in rule.which.tolist()]
    return P.from_radii(net, radii, box.description, box.spec)


def test_deferred_boxes_compute_the_same_exact_vectors_when_asked():
    """uniform, per_layer, subset, relative and quantization build no rationals until asked (their float box needs none); then their
    nominal, lower and upper equal from_radii's (so equality and hashing agree), piece by piece or whole."""
    from smtnn.perturbation import DEFERRED

    rng = np.random.default_rng(12)
    floats = rng.permutation(_awkward_floats(rng, 90))
    floats[np.abs(floats) > 1e290] = 0.75
    net = Network.from_arrays([floats[:150].reshape(50, 3), floats[200:250].reshape(1, 50)], [floats[150:200], floats[250:251]],
                              ["relu", "sigmoid"])
    for box in _deferred_boxes(net):
        assert all(box.__dict__[name] is DEFERRED for name in ("nominal", "lower", "upper")), box.description
        box.float_box(), box.free
        assert all(box.__dict__[name] is DEFERRED for name in ("nominal", "lower", "upper")), box.description
        eager = _eager(box, net)
        some = np.array([5, 0, 250, 5, 17])
        assert box.ends(some, upper=True) == [eager.upper[i] for i in some]
        assert box.nominal_at(some) == [eager.nominal[i] for i in some]
        assert box.lower == eager.lower and box.upper == eager.upper and box.nominal == eager.nominal
        assert box.nominal is net.exact_vector
        assert box.ends(some, upper=False) == [eager.lower[i] for i in some]
        assert box == eager and hash(box) == hash(eager) and box.as_json() == eager.as_json()


def test_deferred_boxes_pickle_replace_and_stay_frozen():
    """A deferred box pickles (to a child process) without computing its rationals, and unpickles, compares, hashes
    and replaces like the box it came from; its fields stay read-only."""
    import dataclasses
    import pickle

    from smtnn.perturbation import DEFERRED

    rng = np.random.default_rng(13)
    net = Network.from_arrays([rng.normal(size=(6, 3)), rng.normal(size=(1, 6))], [rng.normal(size=6), rng.normal(size=1)],
                              ["relu", "sigmoid"])
    for box in _deferred_boxes(net):
        copy = pickle.loads(pickle.dumps(box))
        assert copy.__dict__["lower"] is DEFERRED and "_network" not in copy.__dict__
        assert copy.float_box()[0].tolist() == box.float_box()[0].tolist() and copy.free == box.free
        assert copy == box and hash(copy) == hash(box) and copy.upper == _eager(box, net).upper
        again = pickle.loads(pickle.dumps(copy))   # now with its vectors computed
        assert again == box and again.__dict__["lower"] == box.lower
        renamed = dataclasses.replace(box, description="renamed")
        assert renamed.lower == box.lower and renamed.description == "renamed" and renamed != box
        with pytest.raises(dataclasses.FrozenInstanceError):
            box.lower = ()


@pytest.mark.parametrize("model", ["relative", "quantization"])
def test_relative_and_quantization_float_boxes_match_the_exact_box(model):
    """relative (r = d·|p0|, bracketed in floats) and quantization (ends min/max(q, 2 p0 - q) as exact integer ratios)
    boxes take a vectorised path; their float ends equal the one-at-a-time rounding of the exact ends, on floats of every scale,
    with factors and schemes whose ends are floats, ties, subnormal, or beyond the float range."""
    from smtnn.rounding import floats_outward

    rng = np.random.default_rng(14)
    floats = rng.permutation(_awkward_floats(rng, 90))
    floats[np.abs(floats) > 1e290] = 0.75
    small = np.abs(floats) > 6e4   # float16 cannot hold these; other boxes keep them
    halves = np.where(small, floats * 1e-10, floats)
    for values in (floats, halves, np.round(floats * 64) / 64 + 1 / 128, rng.normal(0, 0.1, 251)):
        net = Network.from_arrays([values[:150].reshape(50, 3), values[200:250].reshape(1, 50)], [values[150:200], values[250:251]],
                                  ["relu", "sigmoid"])
        if model == "relative":
            boxes = [P.relative(net, d) for d in ("0.0003", 0, "1e15", 2.0 ** -1074, Q(1, 3), "1e-320", "0.5", 1)]
        else:
            boxes = [P.quantization(net, "fixed", b) for b in (0, 3, 6, 20, 60, 1100)] + \
                    [P.quantization(net, "int", b) for b in (2, 8, 16)]
            if np.abs(values).max() <= 6e4:
                boxes.append(P.quantization(net, "float16"))
        for box in boxes:
            lo, hi = box.float_box()
            assert box.lower == _eager(box, net).lower and box.free == _eager(box, net).free, box.description
            assert lo.tolist() == floats_outward(box.lower, down=True).tolist(), box.description
            assert hi.tolist() == floats_outward(box.upper, down=False).tolist(), box.description
