"""Float-first engines: bounds enclose sampling and attacks, exact replay agrees, a planted unsound relaxation is caught.

Random small networks (relu/linear/sigmoid/tanh hidden units), weights mixing tiny, ordinary and
large values, random perturbation boxes (every layer, one layer, relative), inputs as points (local)
or boxes (global).  Every float bound is checked against dense float sampling of (x, p) with the
box's vertices, and against the parameter attack's vertex values; a sampled value outside a bound
by more than the float evaluation's own error is a soundness bug.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtnn import attack, float_first, linear_bounds
from smtnn import perturbation as P
from smtnn import properties as pr
from smtnn.bounds import replay_logits
from smtnn.network import Network
from smtnn.result import Verdict

Q = Fraction
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def random_network(rng, d, widths, activation, k, scale=1.0, alpha=None):
    sizes = [d] + list(widths) + [k]
    weights = [rng.normal(0, scale * np.sqrt(2 / sizes[i]), (sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    biases = [rng.normal(0, 0.3, sizes[i + 1]) for i in range(len(sizes) - 1)]
    # mix in exact zeros, tiny and large weights (they stress the rounding pads)
    for w in weights:
        mask = rng.random(w.shape)
        w[mask < 0.05] = 0.0
        w[(mask > 0.05) & (mask < 0.08)] *= 1e-6
        w[mask > 0.97] *= 50
    out = "sigmoid" if k == 1 else "linear"
    alphas = [alpha] * len(widths) + [None] if activation == "leaky_relu" else None
    return Network.from_arrays(weights, biases, [activation] * len(widths) + [out], alphas=alphas)


def perturbation_of(net, kind, delta):
    if kind == "uniform":
        return P.uniform(net, delta)
    if kind == "last":
        return P.subset(net, delta, layers=[-1])
    if kind == "first":
        return P.subset(net, delta, layers=[0])
    return P.relative(net, delta)


def samples_of(pert, rng, count):
    """Float parameter vectors inside the exact box: vertices and uniform draws (nudged inward by one ulp)."""
    lo = np.array([float(v) for v in pert.lower])
    hi = np.array([float(v) for v in pert.upper])
    lo, hi = np.minimum(np.nextafter(lo, np.inf), hi), np.maximum(np.nextafter(hi, -np.inf), lo)
    vertices = np.where(rng.random((count // 2, lo.size)) < 0.5, lo, hi)
    inner = lo + rng.random((count - count // 2, lo.size)) * (hi - lo)
    return np.vstack([vertices, inner])


def float_logits(net, params, x):
    return net.with_parameters(params).logits(x)


def float_error_bound(net, params_rows, xs):
    """A generous bound of the float forward pass's rounding error (relative 1e-9 of the magnitudes)."""
    mags = [np.abs(float_logits(net, np.abs(p), np.abs(x))).max() for p, x in zip(params_rows[:5], xs[:5])]
    return 1e-9 * (1 + max(mags))


def check_enclosure(net, pert, xlo, xhi, rows, lo, hi, rng, count=400):
    """Number of sampled (x, p) whose objective values leave [lo, hi] beyond float error."""
    params = samples_of(pert, rng, count)
    xs = xlo + rng.random((count, xlo.size)) * (xhi - xlo)
    xs[: count // 4] = np.where(rng.random((count // 4, xlo.size)) < 0.5, xlo, xhi)
    values = np.array([rows @ float_logits(net, p, x) for p, x in zip(params, xs)])
    slack = float_error_bound(net, params, xs)
    bad = (values < lo[None] - slack) | (values > hi[None] + slack)
    # the attack's vertices too
    lo_f = np.array([float(v) for v in pert.lower])
    hi_f = np.array([float(v) for v in pert.upper])
    centre = (xlo + xhi) / 2
    outside = 0
    for r in range(rows.shape[0]):
        for sign in (1, -1):   # the attack maximizes sign * (row · z)
            _, value = attack.vertex_ascent(net, lo_f, hi_f, centre, sign * rows[r])
            outside += not (lo[r] - slack <= sign * value <= hi[r] + slack)
    return int(bad.sum()) + outside


network_cases = st.tuples(
    st.integers(0, 10 ** 6),                       # seed
    st.integers(1, 4),                             # input dimension
    st.lists(st.integers(1, 6), min_size=0, max_size=3),   # hidden widths
    st.sampled_from(["relu", "relu", "linear", "sigmoid", "tanh"]),
    st.sampled_from([1, 3]),                       # outputs
    st.sampled_from(["uniform", "last", "first", "relative"]),
    st.sampled_from([Q(1, 1000), Q(1, 100), Q(1, 10), Q(1, 3)]),
    st.booleans(),                                 # point input (local) or box (global)
)


@FUZZ
@given(network_cases)
def test_bounds_enclose_sampling_and_attacks(case):
    seed, d, widths, activation, k, kind, delta, point = case
    rng = np.random.default_rng(seed)
    net = random_network(rng, d, widths, activation, k)
    pert = perturbation_of(net, kind, delta)
    boxes = linear_bounds.parameter_box(net, pert)
    if point:
        x = rng.uniform(-1, 1, d)
        xlo = xhi = x
    else:
        centre, radius = rng.uniform(-1, 1, d), rng.uniform(0, 1, d)
        xlo, xhi = centre - radius, centre + radius
    rows = rng.integers(-1, 2, (3, net.n_outputs)).astype(float)
    rows[0] = 0
    rows[0, 0] = 1
    lo_i, hi_i = linear_bounds.objective_bounds(net, boxes, xlo, xhi, rows, linear=False)
    lo, hi = linear_bounds.objective_bounds(net, boxes, xlo, xhi, rows, linear=True)
    assert (lo >= lo_i).all() and (hi <= hi_i).all(), "the linear bound must never be looser than the interval bound"
    assert (lo <= hi).all()
    assert check_enclosure(net, pert, xlo, xhi, rows, lo, hi, rng) == 0


LEAKY_SLOPES = [Q(0), Q(1, 8), Q(0.01), Q(1, 2), Q(1)]


@FUZZ
@given(st.integers(0, 10 ** 6), st.integers(1, 4), st.lists(st.integers(1, 6), min_size=1, max_size=3),
       st.sampled_from(LEAKY_SLOPES), st.sampled_from([1, 3]), st.sampled_from(["uniform", "last", "first", "relative"]),
       st.sampled_from([Q(1, 1000), Q(1, 100), Q(1, 10), Q(1, 3)]), st.booleans())
def test_leaky_relu_bounds_enclose_sampling_and_attacks(seed, d, widths, alpha, k, kind, delta, point):
    rng = np.random.default_rng(seed)
    net = random_network(rng, d, widths, "leaky_relu", k, alpha=alpha)
    assert linear_bounds.supported(net) and attack.can_attack(net)
    pert = perturbation_of(net, kind, delta)
    boxes = linear_bounds.parameter_box(net, pert)
    if point:
        xlo = xhi = rng.uniform(-1, 1, d)
    else:
        centre, radius = rng.uniform(-1, 1, d), rng.uniform(0, 1, d)
        xlo, xhi = centre - radius, centre + radius
    rows = rng.integers(-1, 2, (3, net.n_outputs)).astype(float)
    rows[0] = 0
    rows[0, 0] = 1
    lo_i, hi_i = linear_bounds.objective_bounds(net, boxes, xlo, xhi, rows, linear=False)
    lo, hi = linear_bounds.objective_bounds(net, boxes, xlo, xhi, rows, linear=True)
    assert (lo >= lo_i).all() and (hi <= hi_i).all()
    assert (lo <= hi).all()
    assert check_enclosure(net, pert, xlo, xhi, rows, lo, hi, rng) == 0


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.floats(-100, -1e-6), st.floats(1e-6, 100), st.sampled_from(LEAKY_SLOPES), st.integers(0, 10 ** 6))
def test_leaky_relu_lines_bound_it_exactly_and_the_chord_is_tight(lo, hi, alpha, seed):
    """In exact rationals: lower line <= leaky relu <= upper line on [lo, hi]; the upper line meets both ends closely."""
    lower, slope, intercept = linear_bounds._leaky_lines(np.array([lo, 0.5, -2.0]), np.array([hi, 1.0, -1.0]), float(alpha))
    leaky = (lambda a: a if a >= 0 else alpha * a)
    rng = np.random.default_rng(seed)
    for unit, (a_lo, a_hi) in enumerate([(lo, hi), (0.5, 1.0), (-2.0, -1.0)]):
        for a in [a_lo, a_hi, 0.0 if a_lo < 0 < a_hi else a_lo, *rng.uniform(a_lo, a_hi, 20)]:
            a = Q(float(a))
            assert Q(lower[unit]) * a <= leaky(a) <= Q(slope[unit]) * a + Q(intercept[unit])
    for a in (lo, hi):
        gap = float(Q(slope[0]) * Q(a) + Q(intercept[0]) - leaky(Q(a)))
        assert gap <= 1e-12 * (abs(lo) + abs(hi))


@settings(max_examples=20, deadline=None, derandomize=True)
@given(st.integers(0, 10 ** 6), st.sampled_from(LEAKY_SLOPES))
def test_attack_gradients_match_finite_differences_on_leaky_relu(seed, alpha):
    rng = np.random.default_rng(seed)
    net = random_network(rng, 3, [5, 4], "leaky_relu", 3, alpha=alpha)
    p, x, c = net.parameter_vector(), rng.uniform(-1, 1, 3), rng.normal(size=3)
    value, grad, gx = attack.objective_and_gradients(net, p, x, c)
    assert value == pytest.approx(c @ net.logits(x), rel=1e-12, abs=1e-12)
    h = 1e-7
    for i in rng.choice(p.size, 8, replace=False):
        step = np.zeros_like(p)
        step[i] = h
        numeric = (attack.objective_and_gradients(net, p + step, x, c)[0]
                   - attack.objective_and_gradients(net, p - step, x, c)[0]) / (2 * h)
        assert numeric == pytest.approx(grad[i], rel=1e-5, abs=1e-6)
    for j in range(3):
        step = np.zeros(3)
        step[j] = h
        numeric = (c @ net.logits(x + step) - c @ net.logits(x - step)) / (2 * h)
        assert numeric == pytest.approx(gx[j], rel=1e-5, abs=1e-6)


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10 ** 6), st.sampled_from([Q(1, 8), Q(0.01)]))
def test_branch_and_bound_over_leaky_relu_phases_stays_between_samples_and_root(seed, alpha):
    rng = np.random.default_rng(seed)
    net = random_network(rng, 3, [6, 6], "leaky_relu", 3, alpha=alpha)
    pert = P.uniform(net, Q(1, 10))
    boxes = linear_bounds.parameter_box(net, pert)
    x = rng.uniform(-1, 1, 3)
    rows = np.array([[1.0, -1.0, 0.0]])
    params = samples_of(pert, rng, 200)
    values = np.array([rows[0] @ float_logits(net, p, x) for p in params])
    slack = float_error_bound(net, params, [x] * len(params))
    _, root_hi = linear_bounds.objective_bounds(net, boxes, x, x, rows)
    upper, _ = float_first.phase_branch_and_bound(net, boxes, x, x, rows, stop_at=-np.inf, seconds=0.3, max_nodes=30)
    assert values.max() <= upper + slack
    assert upper <= root_hi[0]


def test_linear_bound_is_tighter_than_intervals_on_a_deep_network():
    """On a 3-hidden-layer relu net with every layer perturbed the linear pass must gain (else it is not running)."""
    rng = np.random.default_rng(7)
    net = random_network(rng, 4, [32, 32, 32], "relu", 3)
    pert = P.uniform(net, Q(1, 100))
    boxes = linear_bounds.parameter_box(net, pert)
    x = rng.uniform(-1, 1, 4)
    rows = np.array([[1.0, -1.0, 0.0]])
    lo_i, hi_i = linear_bounds.objective_bounds(net, boxes, x, x, rows, linear=False)
    lo, hi = linear_bounds.objective_bounds(net, boxes, x, x, rows, linear=True)
    assert hi[0] - lo[0] < 0.8 * (hi_i[0] - lo_i[0])
    assert check_enclosure(net, pert, x, x, rows, lo, hi, rng) == 0


def test_planted_unsound_relaxation_is_caught(monkeypatch):
    """Shrink every product line's weight range by 1%: the enclosure check must report violations.

    With only the last layer perturbed the bound is attained at a vertex, so any shrinking is
    visible to the attack; this guards the check itself against being vacuous.
    """
    rng = np.random.default_rng(11)
    net = random_network(rng, 3, [8], "relu", 3)
    pert = P.subset(net, Q(1, 10), layers=[-1])
    boxes = linear_bounds.parameter_box(net, pert)
    x = rng.uniform(-1, 1, 3)
    rows = np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])
    lo, hi = linear_bounds.objective_bounds(net, boxes, x, x, rows)
    assert check_enclosure(net, pert, x, x, rows, lo, hi, rng) == 0

    original = linear_bounds._product_lines

    def shrunk(box, hlo, hhi):
        a_lo, c_lo, a_hi, c_hi = original(box, hlo, hhi)
        return a_lo + 0.01 * (box.whi - box.wlo), c_lo, a_hi - 0.01 * (box.whi - box.wlo), c_hi

    monkeypatch.setattr(linear_bounds, "_product_lines", shrunk)
    lo_bad, hi_bad = linear_bounds.objective_bounds(net, boxes, x, x, rows)
    assert check_enclosure(net, pert, x, x, rows, lo_bad, hi_bad, rng) > 0


def test_rounding_helpers_move_outward():
    values = np.array([0.1, -3.0, 0.0, 1e-300])
    assert (linear_bounds.round_down(values) < values).all()
    assert (linear_bounds.round_up(values) > values).all()
    lo, hi = linear_bounds.input_box([Q(1, 10), Q(1, 2)])
    assert Fraction(lo[0]) < Q(1, 10) < Fraction(hi[0])
    assert lo[1] == hi[1] == 0.5


@FUZZ
@given(st.integers(0, 10 ** 6), st.sampled_from(LEAKY_SLOPES), st.integers(1, 3))
def test_exact_logits_match_rational_replay_on_leaky_relu(seed, alpha, hidden):
    rng = np.random.default_rng(seed)
    net = random_network(rng, 3, [4] * hidden, "leaky_relu", 3, alpha=alpha)
    pert = P.uniform(net, Q(1, 7))
    params = [rng.choice([lo, p, hi]) for p, lo, hi in zip(pert.nominal, pert.lower, pert.upper)]
    x = [Q(int(v), 97) for v in rng.integers(-97, 98, 3)]
    fast = float_first.exact_logits(net, x, params)
    reference = replay_logits(net, x, params)
    assert [(e.lo, e.hi) for e in fast] == [(e.lo, e.hi) for e in reference]


@FUZZ
@given(st.integers(0, 10 ** 6), st.sampled_from(["relu", "linear", "tanh"]), st.integers(0, 3))
def test_exact_logits_match_rational_replay(seed, activation, hidden):
    rng = np.random.default_rng(seed)
    net = random_network(rng, 3, [4] * hidden, activation, 3)
    pert = P.uniform(net, Q(1, 7))
    params = [rng.choice([lo, p, hi]) for p, lo, hi in zip(pert.nominal, pert.lower, pert.upper)]
    x = [Q(int(v), 97) for v in rng.integers(-97, 98, 3)]
    fast = float_first.exact_logits(net, x, params)
    reference = replay_logits(net, x, params)
    assert [(e.lo, e.hi) for e in fast] == [(e.lo, e.hi) for e in reference]


def _old_path(monkeypatch):
    monkeypatch.setattr(float_first, "local_label", lambda *a, **k: float_first.Decision.nothing())


@FUZZ
@given(st.integers(0, 10 ** 6), st.sampled_from([1, 3]), st.sampled_from(["uniform", "last", "relative"]),
       st.sampled_from([Q(1, 100), Q(1, 20), Q(1, 5)]), st.sampled_from([Q(1, 2), Q(3, 10), Q(4, 5)]))
def test_fast_local_label_agrees_with_the_exact_path(seed, k, kind, delta, level):
    """Whenever both the float-first pass and the exact path decide, they agree; witnesses flip exactly
    (binary networks also with decision levels other than 1/2, whose logit is only bracketed)."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, 2, [5], "relu", k)
    if k == 1:
        net = Network(net.layers, threshold=level)
    pert = perturbation_of(net, kind, delta)
    x0 = tuple(rng.uniform(-1, 1, 2))
    fast = pr.verify_local_label(net, pert, x0)
    with pytest.MonkeyPatch.context() as mp:
        _old_path(mp)
        exact = pr.verify_local_label(net, pert, x0)
    if Verdict.UNKNOWN not in (fast.verdict, exact.verdict):
        assert fast.verdict is exact.verdict, (fast.provenance.method, exact.provenance.method)
    if fast.verdict is Verdict.VIOLATED:
        names = [str(n) for n in net.parameter_names()]
        params = [fast.witness.parameters.get(name, p) for name, p in zip(names, pert.nominal)]
        assert pert.contains(params)
        x = [Fraction(v) for v in x0]
        z0, zw = replay_logits(net, x, pert.nominal), replay_logits(net, x, params)
        assert pr._label(net, z0) != pr._label(net, zw)


def test_mnist_sized_local_label_is_decided_by_the_float_pass():
    """784 inputs, last layer at δ = 1e-3: holds by the float pass (no exact per-pair loop) or a replayed flip."""
    rng = np.random.default_rng(3)
    net = random_network(rng, 784, [32, 32], "relu", 10)
    x = rng.random(784)
    pert = P.subset(net, "0.001", layers=[-1])
    res = pr.verify_local_label(net, pert, x, timeout=30)
    assert res.verdict is not Verdict.UNKNOWN and res.provenance.seconds < 10
    if res.verdict is Verdict.VIOLATED:
        assert "attack" in res.provenance.method
    # the same network with a clear margin for its label: a float proof
    c = int(np.argmax(net.logits(x)))
    out = net.layers[-1]
    bias = out.bias.copy()
    bias[c] += 20.0
    wide = Network(net.layers[:-1] + (type(out)(out.weights, bias, out.activation, out.name),))
    res = pr.verify_local_label(wide, P.subset(wide, "0.001", layers=[-1]), x, timeout=30)
    assert res.verdict is Verdict.HOLDS and "float" in res.provenance.method


@FUZZ
@given(st.integers(0, 10 ** 6), st.integers(3, 5), st.sampled_from([1, 3]), st.sampled_from([[8], [6, 6]]),
       st.sampled_from([Q(1, 10 ** 6), Q(1, 1000), Q(1, 50)]), st.booleans())
def test_global_label_fast_path_is_sound(seed, d, k, widths, delta, bias_shift):
    """The float-first global label pass: flips replay exactly with the input in D; HOLDS is never
    contradicted by sampling (with vertices).  Called directly: the exact fallback is tested elsewhere."""
    from smtnn.domain import Box

    rng = np.random.default_rng(seed)
    net = random_network(rng, d, widths, "relu", k)
    if bias_shift:   # one label on most of D, so proofs get exercised too
        out = net.layers[-1]
        bias = out.bias.copy()
        bias[0] += 30.0
        net = Network(net.layers[:-1] + (type(out)(out.weights, bias, out.activation, out.name),))
    pert = P.uniform(net, delta)
    domain = Box(("-1/2",) * d, ("1/2",) * d)
    res = float_first.global_label(net, pert, domain, lambda z: pr._label(net, z))
    if res.verdict is Verdict.VIOLATED:
        x = list(res.input)
        assert domain.contains(x)
        params = list(res.parameters)
        assert pert.contains(params)
        assert pr._label(net, replay_logits(net, x, pert.nominal)) != pr._label(net, replay_logits(net, x, params))
    if res.verdict is Verdict.HOLDS:
        params = samples_of(pert, rng, 200)
        xs = -0.5 + rng.random((200, d))
        nominal = net.predict(xs)
        for p, x, c in zip(params, xs, nominal):
            assert net.with_parameters(p).predict(x) == c


def _pre_activation(net, params, x, layer, unit):
    h = x
    for k, (lay, (ws, bs)) in enumerate(zip(net.layers, net.layer_slices())):
        a = params[ws].reshape(lay.weights.shape) @ h + params[bs]
        if k == layer:
            return a[unit]
        h = np.maximum(a, 0.0)


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10 ** 6), st.sampled_from([[6, 6], [5, 5, 5]]), st.sampled_from([Q(1, 50), Q(1, 10)]))
def test_phase_restricted_bounds_enclose_their_part(seed, widths, delta):
    """Bounds under a ReLU phase hold on the samples in that phase; branch and bound stays between attack and root."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, 3, widths, "relu", 3)
    pert = P.uniform(net, delta)
    boxes = linear_bounds.parameter_box(net, pert)
    x = rng.uniform(-1, 1, 3)
    rows = np.array([[1.0, -1.0, 0.0]])
    root = linear_bounds.refined_pre_activations(boxes, x, x)
    unstable = [(k, i) for k, (lo, hi) in enumerate(root.pre) for i in np.flatnonzero((lo < 0) & (hi > 0))]
    params = samples_of(pert, rng, 200)
    values = np.array([rows[0] @ float_logits(net, p, x) for p in params])
    slack = float_error_bound(net, params, [x] * len(params))
    for layer, unit in unstable[:3]:
        pre = np.array([_pre_activation(net, p, x, layer, int(unit)) for p in params])
        for active in (True, False):
            bounds = linear_bounds.refined_pre_activations(boxes, x, x, True, {(layer, int(unit)): active})
            inside = pre >= 0 if active else pre <= 0
            if bounds is None:
                assert not inside.any()
                continue
            lo, hi = linear_bounds.objective_bounds(net, boxes, x, x, rows, bounds=bounds)
            assert (values[inside] >= lo[0] - slack).all() and (values[inside] <= hi[0] + slack).all()
    _, root_hi = linear_bounds.objective_bounds(net, boxes, x, x, rows)
    upper, _ = float_first.phase_branch_and_bound(net, boxes, x, x, rows, stop_at=-np.inf, seconds=0.3, max_nodes=30)
    lo_f = np.array([float(v) for v in pert.lower])
    hi_f = np.array([float(v) for v in pert.upper])
    _, attacked = attack.vertex_ascent(net, lo_f, hi_f, x, rows[0])
    assert attacked - slack <= upper <= root_hi[0]
    assert values.max() <= upper + slack


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10 ** 6), st.sampled_from([Q(1, 100), Q(1, 20)]))
def test_multiclass_local_epsilon_by_pair_bounds_is_sound(seed, delta):
    """Every layer of a 2-hidden-layer softmax net moves: the pair bounds' estimate encloses sampling, its witness replays."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, 3, [6, 6], "relu", 3)
    pert = P.uniform(net, delta)
    x0 = rng.uniform(-1, 1, 3)
    est = pr.local_epsilon(net, pert, tuple(x0))
    assert est.provenance.method == float_first.PAIR_METHOD
    assert 0 <= est.lower <= est.upper

    def softmax(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    p0 = softmax(net.logits(x0))
    sampled = max(np.abs(softmax(float_logits(net, p, x0)) - p0).max() for p in samples_of(pert, rng, 300))
    assert sampled <= float(est.upper) + 1e-9
    names = [str(n) for n in net.parameter_names()]
    params = [est.witness.parameters.get(name, p) for name, p in zip(names, pert.nominal)]
    assert pert.contains(params)
    replayed = np.abs(softmax(net.with_parameters(np.array([float(v) for v in params])).logits(x0)) - p0).max()
    assert replayed >= float(est.lower) - 1e-9


def test_float_overflow_never_proves_anything():
    """Weights near the float range: the bounds overflow to inf or NaN; the float pass must decide nothing, not crash."""
    net = Network.from_arrays([[[1e300, -1e300], [1e300, 1e300]], [[1e300, 1e300], [-1e300, 1e300]]],
                              [[0.0, 0.0], [0.0, 0.0]], ["relu", "linear"])
    pert = P.uniform(net, Q(1, 10))
    x = [Q(1, 2), Q(1, 3)]
    decision = float_first.local_label(net, pert, x, lambda z: pr._label(net, z), timeout=1)
    assert decision.verdict in (None, Verdict.VIOLATED)
    boxes = linear_bounds.parameter_box(net, pert)
    with np.errstate(all="ignore"):
        lo, hi = linear_bounds.objective_bounds(net, boxes, *linear_bounds.input_box(x), np.array([[1.0, -1.0]]))
    assert not np.isnan(lo).any() and not np.isnan(hi).any()
