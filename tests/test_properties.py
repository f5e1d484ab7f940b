"""The properties (Defs. 1-5, Eqs. 6-13) against brute force on small random networks.

Every answer of :mod:`smtnn.properties` is compared with an independent float64 reference:
- random sampling of (x, p) pairs, p uniform in the box and at random corners of the box, x
  uniform in D and at D's corners, evaluated by a vectorized forward pass that is itself checked
  against ``Network.with_parameters(p).logits / predict_proba``;
- exhaustive corner enumeration where theory says the extremes over the parameter box sit at
  corners (at most one hidden layer, monotone activations: each hidden unit's pre-activation is
  linear in its own parameters and each output term is bilinear), on a dense grid of inputs;
  a Lipschitz bound of the logits over the box turns the grid into two-sided brackets;
- closed forms for a one-input logistic regression z = 2x - 1 (and a 3-class linear net).
Witnesses are replayed on the concrete network: in exact arithmetic (replay_logits) for label
flips, in float for ε and σ values.
"""
from __future__ import annotations

import math
import signal
from contextlib import contextmanager
from fractions import Fraction as Q
from functools import lru_cache

import numpy as np
import pytest

from smtnn import perturbation as P
from smtnn import properties as pr
from smtnn.bounds import replay_logits
from smtnn.domain import Box
from smtnn.errors import InvalidInputError
from smtnn.network import Network
from smtnn.result import Verdict

SLACK = 1e-12    # float64 slack on confidences (values in [0, 1])
REPLAY = 1e-9    # a witness's value recomputed in float64 vs the reported lower end
MARGIN = 1e-9    # a float flip counts only when the logits are this far past the boundary
D = Box((-1, -1), (1, 1))

# ------------------------------------------------------------------------------------------
# networks


def _random_net(seed, sizes, hidden, out="sigmoid"):
    """Random weights (3 decimals); the output bias is shifted so the decision boundary crosses D's centre."""
    rng = np.random.default_rng(seed)
    ws = [rng.normal(size=(sizes[i + 1], sizes[i])).round(3) for i in range(len(sizes) - 1)]
    bs = [rng.normal(size=sizes[i + 1]).round(3) for i in range(len(sizes) - 1)]
    acts = [hidden] * (len(sizes) - 2) + [out]
    z = Network.from_arrays(ws, bs, acts).logits(np.zeros(sizes[0]))
    bs[-1] = (bs[-1] - z).round(3) + 0.0005   # never exactly on the boundary at the centre
    return Network.from_arrays(ws, bs, acts, name=f"{hidden}-{seed}")


SPECS = {
    "logreg": (11, [2, 1], None, "sigmoid"),
    "relu": (12, [2, 3, 1], "relu", "sigmoid"),
    "linear": (13, [2, 3, 1], "linear", "sigmoid"),
    "tanh": (14, [2, 3, 1], "tanh", "sigmoid"),
    "sigmoid": (15, [2, 3, 1], "sigmoid", "sigmoid"),
    "deep": (16, [2, 3, 3, 1], "relu", "sigmoid"),
    "deeptanh": (17, [2, 3, 3, 1], "tanh", "sigmoid"),
    "softmax": (18, [2, 3, 3], "relu", "softmax"),
}


@lru_cache(maxsize=None)
def net(name) -> Network:
    seed, sizes, hidden, out = SPECS[name]
    return _random_net(seed, sizes, hidden, out)


def pert_of(name, kind, delta):
    n = net(name)
    if kind == "uniform":
        return P.uniform(n, delta)
    if kind == "per_layer":
        return P.per_layer(n, delta)
    if kind == "relative":
        return P.relative(n, delta)
    if kind == "last2":   # only the last two layers move: the perturbation decouples
        return P.subset(n, delta, layers=[-2, -1])
    raise ValueError(kind)


# ------------------------------------------------------------------------------------------
# float64 reference

_ACT = {"relu": lambda a: np.maximum(a, 0.0), "linear": lambda a: a, "tanh": np.tanh,
        "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a))}


def logits(network, params, x):
    """Logits for parameter rows (..., n_params) and inputs (..., n_inputs), broadcast over the leading axes."""
    h = np.asarray(x, dtype=float)
    params = np.asarray(params, dtype=float)
    last = len(network.layers) - 1
    for k, (layer, (ws, bs)) in enumerate(zip(network.layers, network.layer_slices())):
        w = params[..., ws].reshape(params.shape[:-1] + (layer.outputs, layer.inputs))
        a = (w * h[..., None, :]).sum(-1) + params[..., bs]
        h = a if k == last else _ACT[layer.activation](a)
    return h


def sig(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def confidence(network, z):
    return sig(z[..., 0]) if network.binary else softmax(z)


def floats(values):
    return np.array([float(v) for v in values])


def box_of(pert):
    return floats(pert.lower), floats(pert.upper), floats(pert.nominal)


def param_samples(pert, rng, n):
    """n uniform points of the box, n random corners, and the nominal vector."""
    lo, hi, p0 = box_of(pert)
    uniform = lo + (hi - lo) * rng.random((n, lo.size))
    corners = np.where(rng.random((n, lo.size)) < 0.5, lo, hi)
    return np.vstack([uniform, corners, p0[None]])


def all_corners(pert, indices=None):
    """Every corner of the box over the free parameters in `indices` (others nominal)."""
    lo, hi, p0 = box_of(pert)
    free = [i for i in (pert.free if indices is None else indices) if lo[i] != hi[i]]
    bits = ((np.arange(2 ** len(free))[:, None] >> np.arange(len(free))) & 1).astype(bool)
    out = np.repeat(p0[None], len(bits), axis=0)
    out[:, free] = np.where(bits, hi[free], lo[free])
    return out


def input_samples(rng, n, domain=D):
    lo, hi = floats(domain.lower), floats(domain.upper)
    uniform = lo + (hi - lo) * rng.random((n, lo.size))
    corners = np.array(np.meshgrid(*zip(lo, hi))).reshape(lo.size, -1).T
    return np.vstack([uniform, np.repeat(corners, max(1, n // 20), axis=0)])


def grid(domain=D, n=41):
    lo, hi = floats(domain.lower), floats(domain.upper)
    axes = [np.linspace(a, b, n) for a, b in zip(lo, hi)]
    pts = np.array(np.meshgrid(*axes)).reshape(lo.size, -1).T
    spacing = max((b - a) / (n - 1) for a, b in zip(lo, hi))
    return pts, spacing


def corner_range(network, corners, xs, coeffs=(1,), chunk_elems=3_000_000):
    """min and max of c·z over the given parameter corners at every input row."""
    coeffs = np.asarray(coeffs, dtype=float)
    per_x = len(corners) * max(l.weights.size for l in network.layers)
    step = max(1, chunk_elems // per_x)
    lo, hi = [], []
    for s in range(0, len(xs), step):
        z = logits(network, corners[None], xs[s:s + step, None, :]) @ coeffs
        lo.append(z.min(axis=1))
        hi.append(z.max(axis=1))
    return np.concatenate(lo), np.concatenate(hi)


def lipschitz(network, pert):
    """A bound on ||grad_x z||_1 (z: the first logit) over the box; hidden activations have slope <= 1."""
    lo, hi, _ = box_of(pert)
    amax = np.maximum(np.abs(lo), np.abs(hi))
    m = np.eye(network.n_inputs)
    for layer, (ws, _) in zip(network.layers, network.layer_slices()):
        m = amax[ws].reshape(layer.weights.shape) @ m
    return float(m.sum(axis=1).max())


def float_flips(network, z0, zp):
    """Float flip test with a margin (both labels certain); z0, zp of shape (..., n_outputs)."""
    z0 = np.broadcast_to(z0, np.broadcast_shapes(z0.shape, zp.shape))
    if network.binary:
        a, b = z0[..., 0], zp[..., 0]
        return ((a >= MARGIN) & (b < -MARGIN)) | ((a <= -MARGIN) & (b > MARGIN))
    c = z0.argmax(axis=-1)
    top = np.take_along_axis(z0, c[..., None], -1)[..., 0]
    second = np.sort(z0, axis=-1)[..., -2]
    zc = np.take_along_axis(zp, c[..., None], -1)[..., 0]
    others = np.where(np.arange(zp.shape[-1]) == c[..., None], -np.inf, zp)
    return (top - second > MARGIN) & (others.max(axis=-1) - zc > MARGIN)


def nominal_class(network, z0):
    return (z0[..., 0] >= 0).astype(int) if network.binary else z0.argmax(axis=-1)


# ------------------------------------------------------------------------------------------
# exact replay of witnesses


def witness_params(network, pert, witness):
    """The witness's changed parameters merged into the nominal vector (exact), checked to lie in the box."""
    index = {str(name): i for i, name in enumerate(network.parameter_names())}
    params = list(pert.nominal)
    for name, value in witness.parameters.items():
        i = index[name]
        assert i in pert.free, f"witness changes the fixed parameter {name}"
        params[i] = value
    assert pert.contains(params), "witness parameters leave the perturbation box"
    return params


def exact_label(network, z):
    if network.binary:   # threshold 1/2: logit 0
        if z[0].lo >= 0:
            return 1
        assert z[0].hi < 0, "replayed logit straddles the boundary"
        return 0
    assert all(v.lo == v.hi for v in z)
    tops = [v.lo for v in z]
    return max(range(len(tops)), key=lambda i: (tops[i], -i))


def exact_flip(network, x, params, nominal):
    """Does the label of x change (multi-class: another logit takes over, the lowest index winning a tie)?"""
    x = [v if isinstance(v, Q) else Q(float(v)) for v in x]
    z0 = replay_logits(network, x, nominal)
    zp = replay_logits(network, x, params)
    c = exact_label(network, z0)
    if network.binary:
        return exact_label(network, zp) != c
    return any(zp[j].lo >= zp[c].hi if j < c else zp[j].lo > zp[c].hi for j in range(len(zp)) if j != c)


def near_boundary_points(network, k, rng):
    """k grid points closest to the nominal decision boundary (not on it) and k random points."""
    pts, _ = grid(D, 21)
    z = network.logits(pts)
    gap = np.abs(z[:, 0]) if network.binary else np.sort(z, axis=1)[:, -1] - np.sort(z, axis=1)[:, -2]
    order = np.argsort(np.where(gap > 1e-3, gap, np.inf))
    return [tuple(p) for p in pts[order[:k]]] + [tuple(p) for p in input_samples(rng, k)[:k]]


@contextmanager
def time_limit(seconds, what):
    def fail(signum, frame):
        raise TimeoutError(f"{what} did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, fail)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------------------------------
# the reference itself


@pytest.mark.parametrize("name", sorted(SPECS))
def test_reference_forward_matches_network(name):
    n = net(name)
    rng = np.random.default_rng(0)
    pert = P.uniform(n, 0.1)
    ps = param_samples(pert, rng, 3)
    xs = input_samples(rng, 7)[: len(ps)]
    for p, x in zip(ps, xs):
        other = n.with_parameters(p)
        np.testing.assert_allclose(logits(n, p, x), other.logits(x), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(confidence(n, logits(n, p, x)), other.predict_proba(x), rtol=1e-13, atol=1e-15)
    assert n.predict(np.zeros(2)) == nominal_class(n, n.logits(np.zeros(2)))


# ------------------------------------------------------------------------------------------
# local ε (Def. 1, Eqs. 6, 11)

LOCAL_EPS_CASES = [
    ("logreg", "uniform", Q(1, 100)), ("logreg", "uniform", Q(1, 5)),
    ("relu", "uniform", Q(1, 20)), ("relu", "per_layer", (Q(1, 10), Q(1, 50))), ("relu", "relative", Q(1, 10)),
    ("linear", "uniform", Q(1, 20)), ("linear", "uniform", Q(1, 4)),
    ("tanh", "uniform", Q(1, 20)), ("sigmoid", "uniform", Q(1, 10)),
    ("deep", "last2", Q(1, 20)),
]


@pytest.mark.parametrize("name,kind,delta", LOCAL_EPS_CASES)
def test_local_epsilon_binary_matches_corner_enumeration(name, kind, delta):
    n = net(name)
    pert = pert_of(name, kind, delta)
    rng = np.random.default_rng(1)
    corners = all_corners(pert)
    samples = param_samples(pert, rng, 2000)
    for x0 in near_boundary_points(n, 2, rng) + [(1.0, -1.0)]:
        est = pr.local_epsilon(n, pert, x0)
        assert 0 <= est.lower <= est.upper
        assert "exact corner analysis" in est.provenance.method
        assert est.converged, (est.lower, est.upper, est.reason)
        f0 = sig(n.logits(np.array(x0))[0])
        sampled = np.abs(sig(logits(n, samples, np.array(x0))[:, 0]) - f0).max()
        corner_max = np.abs(sig(logits(n, corners, np.array(x0))[:, 0]) - f0).max()
        assert sampled <= est.upper + SLACK
        assert corner_max <= est.upper + SLACK
        # the max over the box sits at a corner here, and `lower` is attained: it cannot exceed it
        assert float(est.lower) <= corner_max + REPLAY
        # the witness replays to `lower`
        pw = witness_params(n, pert, est.witness)
        value = abs(sig(logits(n, floats(pw), np.array(x0))[0]) - f0)
        assert abs(value - float(est.lower)) <= REPLAY
        # Def. 1 decided consistently just above / below the estimate
        above = pr.verify_local_epsilon(n, pert, x0, est.upper + Q(1, 10 ** 6))
        assert above.verdict is Verdict.HOLDS
        if est.lower > Q(1, 10 ** 6):
            below = pr.verify_local_epsilon(n, pert, x0, est.lower - Q(1, 10 ** 6))
            assert below.verdict is Verdict.VIOLATED
            pw = witness_params(n, pert, below.witness)
            assert abs(sig(logits(n, floats(pw), np.array(x0))[0]) - f0) > float(est.lower) - Q(1, 10 ** 6)


@pytest.mark.parametrize("kind,delta", [("uniform", Q(1, 20)), ("per_layer", (Q(1, 50), Q(1, 5)))])
def test_local_epsilon_multiclass_is_sound(kind, delta):
    n = net("softmax")
    pert = pert_of("softmax", kind, delta)
    rng = np.random.default_rng(2)
    samples = param_samples(pert, rng, 3000)
    for x0 in near_boundary_points(n, 2, rng):
        est = pr.local_epsilon(n, pert, x0)
        assert 0 <= est.lower <= est.upper
        assert est.converged or est.reason
        p0 = softmax(n.logits(np.array(x0)))
        sampled = np.abs(softmax(logits(n, samples, np.array(x0))) - p0).max()
        assert sampled <= est.upper + SLACK
        pw = witness_params(n, pert, est.witness)
        replayed = np.abs(softmax(logits(n, floats(pw), np.array(x0))) - p0).max()
        assert replayed >= float(est.lower) - REPLAY


def test_local_epsilon_deep_perturbation_bisection_is_sound():
    """All layers of a 2-hidden-layer relu net move: no decoupling, the z3 bisection refines the interval bound."""
    n = net("deep")
    pert = P.uniform(n, Q(1, 20))
    rng = np.random.default_rng(3)
    samples = param_samples(pert, rng, 4000)
    x0 = near_boundary_points(n, 1, rng)[0]
    est = pr.local_epsilon(n, pert, x0, solver="z3")
    assert "bisection" in est.provenance.method and "z3" in est.provenance.method
    assert est.provenance.calls > 0
    assert 0 <= est.lower <= est.upper
    assert est.converged or est.reason
    f0 = sig(n.logits(np.array(x0))[0])
    sampled = np.abs(sig(logits(n, samples, np.array(x0))[:, 0]) - f0).max()
    assert sampled <= est.upper + SLACK
    pw = witness_params(n, pert, est.witness)
    assert abs(abs(sig(logits(n, floats(pw), np.array(x0))[0]) - f0) - float(est.lower)) <= REPLAY


def test_local_epsilon_deep_tanh_interval_bound_is_sound():
    """z3 cannot refine through tanh units before a perturbed layer: a sound interval bound with a reason."""
    n = net("deeptanh")
    pert = P.uniform(n, Q(1, 20))
    rng = np.random.default_rng(4)
    samples = param_samples(pert, rng, 4000)
    for x0 in near_boundary_points(n, 1, rng):
        est = pr.local_epsilon(n, pert, x0, solver="z3")
        assert 0 <= est.lower <= est.upper
        assert est.converged or est.reason
        f0 = sig(n.logits(np.array(x0))[0])
        assert np.abs(sig(logits(n, samples, np.array(x0))[:, 0]) - f0).max() <= est.upper + SLACK


# ------------------------------------------------------------------------------------------
# local label (Def. 3, Eq. 8)


def _corner_extreme_per_pair(n, pert, x, c, j, cache):
    """max of z_j - z_c over the corners of the parameters that can move it (at most one hidden layer)."""
    if (c, j) not in cache:
        out_ws, out_bs = n.layer_slices()[-1]
        k = n.layers[-1].inputs
        indices = [i for i in pert.free if i < out_ws.start]
        for row in (c, j):
            indices += [i for i in pert.free if out_ws.start + row * k <= i < out_ws.start + (row + 1) * k
                        or i == out_bs.start + row]
        cache[c, j] = all_corners(pert, indices)
    coeffs = np.zeros(n.n_outputs)
    coeffs[j], coeffs[c] = 1, -1
    return corner_range(n, cache[c, j], np.array([x]), coeffs)[1][0]


LOCAL_LABEL_CASES = [
    ("logreg", "uniform", Q(1, 50)), ("logreg", "uniform", Q(1, 5)),
    ("relu", "uniform", Q(1, 50)), ("relu", "uniform", Q(1, 5)), ("relu", "per_layer", (Q(0), Q(1, 10))),
    ("linear", "uniform", Q(1, 20)), ("tanh", "uniform", Q(1, 20)), ("sigmoid", "uniform", Q(1, 10)),
    ("deep", "last2", Q(1, 20)),
    ("softmax", "uniform", Q(1, 50)), ("softmax", "uniform", Q(1, 10)),
]


@pytest.mark.parametrize("name,kind,delta", LOCAL_LABEL_CASES)
def test_local_label_matches_sampling_and_corners(name, kind, delta):
    n = net(name)
    pert = pert_of(name, kind, delta)
    rng = np.random.default_rng(5)
    samples = param_samples(pert, rng, 2000)
    corners = all_corners(pert) if n.binary else None
    cache = {}
    for x0 in near_boundary_points(n, 3 if n.binary else 2, rng):
        x = np.array(x0)
        res = pr.verify_local_label(n, pert, x0)
        z0 = n.logits(x)
        sampled_flip = float_flips(n, z0, logits(n, samples, x)).any()
        if sampled_flip:
            assert res.verdict is not Verdict.HOLDS, f"sampled flip at {x0} but verdict HOLDS"
        if res.verdict is Verdict.VIOLATED:
            assert exact_flip(n, x0, witness_params(n, pert, res.witness), pert.nominal)
        # the extremes sit at corners (at most one perturbed hidden layer): decide exactly
        if n.binary:
            zlo, zhi = corner_range(n, corners, x[None])
            # class 1 flips iff z_min < 0, class 0 iff z_max >= 0
            reach = zlo[0] if z0[0] >= 0 else zhi[0]
            clearly_flips = (zlo[0] < -MARGIN) if z0[0] >= 0 else (zhi[0] > MARGIN)
            clearly_holds = (zlo[0] > MARGIN) if z0[0] >= 0 else (zhi[0] < -MARGIN)
        else:
            c = int(z0.argmax())
            reach = max(_corner_extreme_per_pair(n, pert, x0, c, j, cache) for j in range(n.n_outputs) if j != c)
            clearly_flips, clearly_holds = reach > MARGIN, reach < -MARGIN
        if clearly_flips:
            assert res.verdict is Verdict.VIOLATED, (x0, reach, res.reason)
        if clearly_holds:
            assert res.verdict is Verdict.HOLDS, (x0, reach, res.reason)


def test_local_label_cases_exercise_both_outcomes():
    seen = set()
    for name, kind, delta in LOCAL_LABEL_CASES:
        n = net(name)
        pert = pert_of(name, kind, delta)
        for x0 in near_boundary_points(n, 2, np.random.default_rng(5)):
            seen.add(pr.verify_local_label(n, pert, x0).verdict)
    assert {Verdict.HOLDS, Verdict.VIOLATED} <= seen


def test_local_label_deep_perturbation_terminates_and_is_sound():
    """All layers of a 2-hidden-layer relu net move (no decoupling), no timeout given: the verdict must still come."""
    n = net("deep")
    pert = P.uniform(n, Q(1, 20))
    rng = np.random.default_rng(6)
    samples = param_samples(pert, rng, 3000)
    pts, _ = grid(D, 21)
    z = n.logits(pts)[:, 0]
    far = tuple(pts[int(np.argmax(np.abs(z)))])       # certainly kept: the interval bound alone proves it
    for x0 in [far] + near_boundary_points(n, 1, rng)[:1]:
        with time_limit(10, f"verify_local_label at {x0} (non-decoupled perturbation)"):
            res = pr.verify_local_label(n, pert, x0)
        x = np.array(x0)
        if float_flips(n, n.logits(x), logits(n, samples, x)).any():
            assert res.verdict is not Verdict.HOLDS
        if res.verdict is Verdict.VIOLATED:
            assert exact_flip(n, x0, witness_params(n, pert, res.witness), pert.nominal)
    assert pr.verify_local_label(n, pert, far, timeout=5).verdict is Verdict.HOLDS


# ------------------------------------------------------------------------------------------
# global label (Def. 4, Eq. 9)

FAR = Box((0.55, 0.55), (0.65, 0.65))   # a small box; whether the boundary is near it depends on the net

GLOBAL_LABEL_CASES = [
    ("logreg", Q(1, 50), D), ("logreg", Q(1, 50), FAR),
    ("relu", Q(1, 50), D), ("relu", Q(1, 5), D), ("relu", Q(1, 100), FAR), ("relu", Q(1, 5), FAR),
    ("linear", Q(1, 20), D), ("linear", Q(1, 100), FAR),
    ("deep", Q(1, 50), D), ("deep", Q(1, 100), FAR),
    ("softmax", Q(1, 20), D), ("softmax", Q(1, 100), FAR),
]


def _grid_flip_bracket(n, pert, domain, m=41):
    """Per grid x: nominal z0 and exact (corner) zmin, zmax; plus the Lipschitz slack of one grid step."""
    pts, h = grid(domain, m)
    zlo, zhi = corner_range(n, all_corners(pert), pts)
    z0 = n.logits(pts)[:, 0]
    return pts, z0, zlo, zhi, lipschitz(n, pert) * h / 2


@pytest.mark.parametrize("name,delta,domain", GLOBAL_LABEL_CASES)
def test_global_label_matches_brute_force(name, delta, domain):
    n = net(name)
    pert = P.uniform(n, delta)
    rng = np.random.default_rng(7)
    res = pr.verify_global_label(n, pert, domain)
    xs = input_samples(rng, 6000, domain)
    ps = param_samples(pert, rng, len(xs))[rng.permutation(2 * len(xs) + 1)[: len(xs)]]
    sampled_flip = float_flips(n, n.logits(xs), logits(n, ps, xs)).any()
    if sampled_flip:
        assert res.verdict is not Verdict.HOLDS
    if res.verdict is Verdict.VIOLATED:
        w = res.witness
        assert w.input is not None and domain.contains(w.input)
        assert exact_flip(n, list(w.input), witness_params(n, pert, w), pert.nominal)
    if n.binary and len(n.layers) <= 2:
        assert "parameter-eliminated" in res.provenance.method
        pts, z0, zlo, zhi, slack = _grid_flip_bracket(n, pert, domain)
        grid_flip = (((z0 >= MARGIN) & (zlo < -MARGIN)) | ((z0 <= -MARGIN) & (zhi > MARGIN))).any()
        if grid_flip:
            assert res.verdict is Verdict.VIOLATED
        # no flip anywhere in D when the whole grid keeps its sign by more than one Lipschitz step
        if zlo.min() > slack or zhi.max() < -slack:
            assert res.verdict is Verdict.HOLDS
        else:
            assert res.verdict is not Verdict.UNKNOWN
    if len(n.layers) == 3:
        assert "parametric" in res.provenance.method


def test_global_label_cases_exercise_both_outcomes():
    seen = {pr.verify_global_label(net(name), P.uniform(net(name), delta), domain).verdict
            for name, delta, domain in GLOBAL_LABEL_CASES if name in ("relu", "softmax", "deep")}
    assert {Verdict.HOLDS, Verdict.VIOLATED} <= seen


# ------------------------------------------------------------------------------------------
# global σ (Def. 5, Eqs. 10, 13)

GLOBAL_SIGMA_CASES = [
    ("logreg", Q(1, 50)), ("logreg", Q(1, 5)),
    ("relu", Q(1, 50)), ("relu", Q(1, 20)), ("relu", Q(1, 5)),
    ("linear", Q(1, 20)),
]
DEEP_SIGMA_DELTA = Q(1, 10)


@lru_cache(maxsize=None)
def sigma_estimates(name, delta):
    """global_sigma on D, shared by the tests below (each call runs several solver queries)."""
    n = net(name)
    return pr.global_sigma(n, P.uniform(n, delta), D, timeout=30)


@pytest.mark.parametrize("name,delta", GLOBAL_SIGMA_CASES)
def test_global_sigma_binary_matches_grid_and_corners(name, delta):
    n = net(name)
    pert = P.uniform(n, delta)
    est = sigma_estimates(name, delta)
    assert set(est) == {0, 1}
    pts, z0, zlo, zhi, slack = _grid_flip_bracket(n, pert, D, 61)
    value = np.abs(sig(z0) - 0.5)
    rng = np.random.default_rng(8)
    xs = input_samples(rng, 6000)
    ps = param_samples(pert, rng, len(xs))[: len(xs)]
    zs0, zsp = n.logits(xs), logits(n, ps, xs)
    for c, e in est.items():
        assert 0 <= e.lower <= e.upper < 0.5
        assert "linear piece" in e.provenance.method   # decoupled: one certified LP per piece (smtnn/pieces.py)
        assert e.converged, (c, e.lower, e.upper, e.reason)
        # soundness: every flipping grid point / sample of class c lies within `upper` of the level
        flips = ((z0 >= MARGIN) & (zlo < -MARGIN)) if c == 1 else ((z0 <= -MARGIN) & (zhi > MARGIN))
        if flips.any():
            assert value[flips].max() <= e.upper + SLACK
            assert e.witness is not None
        sflips = float_flips(n, zs0, zsp) & (nominal_class(n, zs0) == c)
        if sflips.any():
            assert np.abs(sig(zs0[sflips, 0]) - 0.5).max() <= e.upper + SLACK
        # tightness: a flipping x* has a grid point within one step, where the relaxed flip test holds
        relaxed = ((z0 >= -slack) & (zlo < slack)) if c == 1 else ((z0 <= slack) & (zhi > -slack))
        bound = (sig(np.where(relaxed, z0 + slack, -np.inf).max()) - 0.5 if c == 1
                 else 0.5 - sig(np.where(relaxed, z0 - slack, np.inf).min())) if relaxed.any() else 0.0
        assert float(e.lower) <= max(bound, 0.0) + SLACK
        if e.upper == 0:
            assert not flips.any() and e.witness is None
            continue
        # the witness: in D, of class c, flips exactly, and its σ is `lower`
        w = e.witness
        assert D.contains(w.input)
        x = list(w.input)
        assert exact_label(n, replay_logits(n, x, pert.nominal)) == c
        assert exact_flip(n, x, witness_params(n, pert, w), pert.nominal)
        assert abs(abs(sig(n.logits(floats(x))[0]) - 0.5) - float(e.lower)) <= REPLAY
    # consistency with Def. 4
    label = pr.verify_global_label(n, pert, D)
    assert (label.verdict is Verdict.HOLDS) == all(e.upper == 0 for e in est.values())


@pytest.mark.parametrize("name,delta", GLOBAL_SIGMA_CASES + [("deep", DEEP_SIGMA_DELTA)])
def test_verify_global_sigma_agrees_with_the_estimate(name, delta):
    """Def. 5 just above the estimated σ holds; just below it is violated by a replayed flip far enough from l."""
    n = net(name)
    pert = P.uniform(n, delta)
    _check_verify_global_sigma(n, pert, D, sigma_estimates(name, delta))


def _check_verify_global_sigma(n, pert, domain, est):
    top_upper = max(e.upper for e in est.values())
    top_lower = max(e.lower for e in est.values())
    above = top_upper + Q(1, 10 ** 4)
    if above < Q(1, 2):
        assert pr.verify_global_sigma(n, pert, domain, above).verdict is Verdict.HOLDS
    if top_lower > Q(1, 10 ** 4):
        below = top_lower - Q(1, 10 ** 4)
        res = pr.verify_global_sigma(n, pert, domain, below)
        assert res.verdict is Verdict.VIOLATED, (float(below), res.reason)
        x = list(res.witness.input)
        assert domain.contains(x)
        assert exact_flip(n, x, witness_params(n, pert, res.witness), pert.nominal)
        assert abs(sig(n.logits(floats(x))[0]) - 0.5) >= float(below) - SLACK
    else:
        assert pr.verify_global_sigma(n, pert, domain, 0).verdict is Verdict.HOLDS


def test_global_sigma_deep_parametric_is_sound():
    n = net("deep")
    pert = P.uniform(n, DEEP_SIGMA_DELTA)
    est = sigma_estimates("deep", DEEP_SIGMA_DELTA)
    rng = np.random.default_rng(9)
    xs = input_samples(rng, 20000)
    ps = param_samples(pert, rng, len(xs))[rng.permutation(2 * len(xs) + 1)[: len(xs)]]
    zs0, zsp = n.logits(xs), logits(n, ps, xs)
    flips = float_flips(n, zs0, zsp)
    assert flips.any()   # the boundary crosses D and δ moves it
    for c, e in est.items():
        assert 0 <= e.lower <= e.upper
        assert "parametric" in e.provenance.method
        assert e.converged or e.reason
        mine = flips & (nominal_class(n, zs0) == c)
        if mine.any():
            assert np.abs(sig(zs0[mine, 0]) - 0.5).max() <= e.upper + SLACK
        if e.witness is not None:
            x = list(e.witness.input)
            assert D.contains(x) and exact_label(n, replay_logits(n, x, pert.nominal)) == c
            assert exact_flip(n, x, witness_params(n, pert, e.witness), pert.nominal)
            assert abs(abs(sig(n.logits(floats(x))[0]) - 0.5) - float(e.lower)) <= REPLAY


@pytest.mark.parametrize("delta", [Q(1, 50), Q(1, 10)])
def test_global_sigma_multiclass_margin_is_sound(delta):
    n = net("softmax")
    pert = P.uniform(n, delta)
    est = pr.global_sigma(n, pert, D)
    assert set(est) == {0, 1, 2}
    rng = np.random.default_rng(10)
    xs = input_samples(rng, 20000)
    ps = param_samples(pert, rng, len(xs))[rng.permutation(2 * len(xs) + 1)[: len(xs)]]
    zs0, zsp = n.logits(xs), logits(n, ps, xs)
    flips = float_flips(n, zs0, zsp)
    cls = nominal_class(n, zs0)
    margin = zs0.max(axis=1) - np.sort(zs0, axis=1)[:, -2]
    for c, e in est.items():
        assert 0 <= e.lower <= e.upper
        assert e.converged or e.reason
        mine = flips & (cls == c)
        if mine.any():
            assert margin[mine].max() <= e.upper + 1e-9
        if e.upper == 0:
            assert not mine.any()
            continue
        x = list(e.witness.input)
        assert D.contains(x)
        assert exact_label(n, replay_logits(n, x, pert.nominal)) == c
        assert exact_flip(n, x, witness_params(n, pert, e.witness), pert.nominal)
        z = n.logits(floats(x))
        assert abs(min(z[c] - z[j] for j in range(3) if j != c) - float(e.lower)) <= REPLAY
    with pytest.raises(InvalidInputError):
        pr.verify_global_sigma(n, pert, D, Q(1, 10))


def test_global_sigma_eliminated_equals_parametric(monkeypatch):
    """1-hidden-layer relu: the piece LPs, the parameter-eliminated optimum and the bilinear encoding's bisection agree."""
    n = net("relu")
    pert = P.uniform(n, Q(1, 20))
    by_pieces = sigma_estimates("relu", Q(1, 20))
    eliminated = pr.global_sigma(n, pert, D, timeout=30, by_pieces=False)
    monkeypatch.setattr(pr, "decouples", lambda *args: False)
    monkeypatch.setattr(pr.pieces, "applies", lambda *args: False)
    parametric = pr.global_sigma(n, pert, D, timeout=30)
    for c in (0, 1):
        p, a, b = by_pieces[c], eliminated[c], parametric[c]
        assert "linear piece" in p.provenance.method
        assert "parameter-eliminated" in a.provenance.method and "parametric" in b.provenance.method
        assert p.converged and a.converged and b.converged, (p.reason, a.reason, b.reason)
        # all are certified intervals of the same number: they must overlap
        assert max(p.lower, a.lower, b.lower) <= min(p.upper, a.upper, b.upper), (c, p, a, b)


# ------------------------------------------------------------------------------------------
# global ε (Def. 2, Eqs. 7, 12)

GLOBAL_EPS_CASES = [("logreg", Q(1, 20)), ("relu", Q(1, 20)), ("relu", Q(1, 5)), ("linear", Q(1, 50)),
                    ("tanh", Q(1, 20)), ("deep", Q(1, 20))]
EPS_TOL = Q(1, 10 ** 4)   # branch and bound at the default 1e-6 takes minutes on some of these (see below)


@pytest.mark.parametrize("name,delta", GLOBAL_EPS_CASES)
def test_global_epsilon_matches_brute_force(name, delta):
    n = net(name)
    pert = P.uniform(n, delta)
    est = pr.global_epsilon(n, pert, D, tolerance=EPS_TOL, timeout=30)
    assert est.tolerance == EPS_TOL
    assert 0 <= est.lower <= est.upper
    rng = np.random.default_rng(11)
    xs = input_samples(rng, 20000)
    ps = param_samples(pert, rng, len(xs))[rng.permutation(2 * len(xs) + 1)[: len(xs)]]
    sampled = np.abs(sig(logits(n, ps, xs)[:, 0]) - sig(n.logits(xs)[:, 0])).max()
    assert sampled <= est.upper + SLACK
    w = est.witness
    assert D.contains(w.input)
    x = floats(w.input)
    value = abs(sig(logits(n, floats(witness_params(n, pert, w)), x)[0]) - sig(n.logits(x)[0]))
    assert abs(value - float(est.lower)) <= REPLAY
    if len(n.layers) <= 2:
        assert est.converged, (est.lower, est.upper, est.reason)
        pts, h = grid(D, 61)
        zlo, zhi = corner_range(n, all_corners(pert), pts)
        f0 = sig(n.logits(pts)[:, 0])
        grid_max = np.maximum(sig(zhi) - f0, f0 - sig(zlo)).max()
        assert grid_max <= est.upper + SLACK
        # g(x) = max_p |σ(z_p(x)) - σ(z_p0(x))| is (L/2)-Lipschitz: the true max is within one grid step
        assert float(est.lower) <= grid_max + lipschitz(n, pert) / 2 * h / 2 + SLACK
    else:
        assert est.converged or est.reason
    if name in ("relu", "tanh", "deep"):   # each verification reruns the branch and bound
        eps_above = pr.verify_global_epsilon(n, pert, D, est.upper + Q(1, 10 ** 6), tolerance=EPS_TOL)
        assert eps_above.verdict is Verdict.HOLDS
        eps_below = pr.verify_global_epsilon(n, pert, D, est.lower - Q(1, 10 ** 6), tolerance=EPS_TOL)
        assert eps_below.verdict is Verdict.VIOLATED and eps_below.witness is not None
        wx = floats(eps_below.witness.input)
        wp = floats(witness_params(n, pert, eps_below.witness))
        assert abs(sig(logits(n, wp, wx)[0]) - sig(n.logits(wx)[0])) > float(est.lower) - 1e-6


def test_global_epsilon_default_tolerance_needs_few_boxes():
    """A 3-parameter logistic regression on a 2-D box, default tolerance 1e-6: the mean-value bound closes the gap
    around an optimum inside D within a few thousand boxes (first-order bounds alone needed millions)."""
    n = net("logreg")
    pert = P.uniform(n, Q(1, 20))
    est = pr.global_epsilon(n, pert, D, max_boxes=20_000)
    assert est.converged, (float(est.upper - est.lower), est.reason)


def test_global_epsilon_multiclass_is_certified():
    """Multi-class Eq. 12: the largest change of any softmax class probability, a replayed witness below a proof."""
    n = net("softmax")
    est = pr.global_epsilon(n, P.uniform(n, Q(1, 20)), D, tolerance=Q(1, 20), timeout=5)
    assert 0 < est.lower <= est.upper < 1 and est.witness is not None and D.contains(est.witness.input)


@pytest.mark.parametrize("name", ["logreg", "relu", "deep", "softmax"])
def test_zero_delta_changes_nothing(name):
    """δ = 0: the box is the nominal point; nothing moves, nothing flips (multi-class: checked off nominal ties)."""
    n = net(name)
    pert = P.uniform(n, 0)
    assert pert.free == ()
    for x0 in near_boundary_points(n, 2, np.random.default_rng(12)):
        assert pr.local_epsilon(n, pert, x0).upper <= Q(1, 10 ** 30)
        assert pr.verify_local_label(n, pert, x0).verdict is Verdict.HOLDS
    for e in pr.global_sigma(n, pert, D).values():
        assert e.upper <= Q(1, 10 ** 30) and e.witness is None
    if n.binary:
        assert pr.verify_global_label(n, pert, D).verdict is Verdict.HOLDS
        assert pr.verify_global_sigma(n, pert, D, 0).verdict is Verdict.HOLDS


def test_global_epsilon_zero_delta_is_zero():
    """δ = 0 makes ε = 0 on all of D; the branch and bound should certify that at the default tolerance."""
    n = net("logreg")
    est = pr.global_epsilon(n, P.uniform(n, 0), D, max_boxes=20_000)
    assert est.lower == 0 or abs(est.lower) <= Q(1, 10 ** 30)
    assert est.converged, (float(est.upper), est.reason)


# ------------------------------------------------------------------------------------------
# quantization boxes contain the quantized network


def test_quantized_network_respects_local_and_global_answers():
    n = net("relu")
    pert = P.quantization(n, "fixed", 3)
    qv = P.quantized_values(n, "fixed", 3)
    assert pert.contains(qv)
    qnet = n.with_parameters(floats(qv))
    for x0 in [(0.25, -0.5), (0.0, 0.0), (1.0, 1.0)]:
        est = pr.local_epsilon(n, pert, x0)
        assert abs(qnet.predict_proba(np.array(x0)) - n.predict_proba(np.array(x0))) <= est.upper + SLACK
    pts, _ = grid(FAR, 21)
    res = pr.verify_global_label(n, pert, FAR)
    if res.verdict is Verdict.HOLDS:
        assert (qnet.predict(pts) == n.predict(pts)).all()
    pts, _ = grid(D, 41)
    est = pr.global_epsilon(n, pert, D, tolerance=EPS_TOL)
    assert np.abs(qnet.predict_proba(pts) - n.predict_proba(pts)).max() <= est.upper + SLACK


# ------------------------------------------------------------------------------------------
# hand-computed: z = 2x - 1, every parameter within δ, so z_p(x) ranges over z0(x) ± δ(|x| + 1)

def lr1() -> Network:
    return Network.from_arrays([[[2.0]]], [[-1.0]], ["sigmoid"], name="z=2x-1")


def _s(z):
    return 1.0 / (1.0 + math.exp(-z))


@pytest.mark.parametrize("x0,delta", [(0.75, Q(1, 10)), (-0.5, Q(1, 10)), (0.5, Q(1, 4)), (-2.0, Q(1, 3))])
def test_hand_local_epsilon(x0, delta):
    n = lr1()
    est = pr.local_epsilon(n, P.uniform(n, delta), x0)
    z0, r = 2 * x0 - 1, float(delta) * (abs(x0) + 1)
    truth = max(_s(z0 + r) - _s(z0), _s(z0) - _s(z0 - r))
    assert float(est.lower) - 1e-12 <= truth <= float(est.upper) + 1e-12
    assert est.gap <= est.tolerance


@pytest.mark.parametrize("x0,delta,verdict", [
    (1.0, Q(1, 2), Verdict.HOLDS),                       # z_min = 1 - 2δ = 0: still class 1 (σ(0) >= 1/2)
    (1.0, Q(1, 2) + Q(1, 10 ** 9), Verdict.VIOLATED),
    (0.0, Q(1), Verdict.VIOLATED),                       # z_max = -1 + δ = 0: reaches class 1, a flip
    (0.0, Q(1) - Q(1, 10 ** 9), Verdict.HOLDS),
])
def test_hand_local_label_boundary(x0, delta, verdict):
    n = lr1()
    pert = P.uniform(n, delta)
    res = pr.verify_local_label(n, pert, x0)
    assert res.verdict is verdict, res.reason
    if verdict is Verdict.VIOLATED:
        assert exact_flip(n, [Q(x0)], witness_params(n, pert, res.witness), pert.nominal)


@pytest.mark.parametrize("lo,hi,delta,verdict", [
    (1, 2, Q(2, 5), Verdict.HOLDS),
    (1, 2, Q(1, 2), Verdict.HOLDS),                      # at x = 1: z_min = 1 - 2δ = 0, no flip
    (1, 2, Q(1, 2) + Q(1, 10 ** 6), Verdict.VIOLATED),   # flips iff x < (1 + δ)/(2 - δ), i.e. δ > 1/2
    (-2, 0, Q(999, 1000), Verdict.HOLDS),                # class 0 flips iff x >= (1 - δ)/(2 - δ)
    (-2, 0, Q(1), Verdict.VIOLATED),                     # at x = 0: z_max = 0, a tie is a flip
])
def test_hand_global_label(lo, hi, delta, verdict):
    n = lr1()
    pert = P.uniform(n, delta)
    domain = Box((lo,), (hi,))
    res = pr.verify_global_label(n, pert, domain)
    assert res.verdict is verdict, res.reason
    if verdict is Verdict.VIOLATED:
        assert domain.contains(res.witness.input)
        assert exact_flip(n, list(res.witness.input), witness_params(n, pert, res.witness), pert.nominal)


@pytest.mark.parametrize("delta", [Q(1, 10), Q(1, 4)])
def test_hand_global_sigma(delta):
    """On D = [-1, 2]: class 1 flips iff 1/2 <= x < (1+δ)/(2-δ), class 0 iff (1-δ)/(2+δ) <= x < 1/2."""
    n = lr1()
    pert = P.uniform(n, delta)
    domain = Box((-1,), (2,))
    d = float(delta)
    sigma1 = _s(3 * d / (2 - d)) - 0.5      # sup of z0 = 2x - 1 at x -> (1+δ)/(2-δ) (not attained)
    sigma0 = _s(3 * d / (2 + d)) - 0.5      # at x = (1-δ)/(2+δ) (attained)
    est = pr.global_sigma(n, pert, domain)
    for c, truth in ((1, sigma1), (0, sigma0)):
        e = est[c]
        assert float(e.lower) - 1e-12 <= truth <= float(e.upper) + 1e-12, (c, float(e.lower), truth, float(e.upper))
        assert e.converged
        assert exact_flip(n, list(e.witness.input), witness_params(n, pert, e.witness), pert.nominal)
    top = Q(max(sigma0, sigma1))
    assert pr.verify_global_sigma(n, pert, domain, top + Q(1, 10 ** 5)).verdict is Verdict.HOLDS
    assert pr.verify_global_sigma(n, pert, domain, top - Q(1, 10 ** 5)).verdict is Verdict.VIOLATED
    low = Q(min(sigma0, sigma1))
    assert pr.verify_global_sigma(n, pert, domain, low - Q(1, 10 ** 5)).verdict is Verdict.VIOLATED


@pytest.mark.parametrize("delta", [Q(1, 10), Q(1, 2)])
def test_hand_global_epsilon(delta):
    n = lr1()
    pert = P.uniform(n, delta)
    domain = Box((-1,), (2,))
    est = pr.global_epsilon(n, pert, domain)
    x = np.linspace(-1.0, 2.0, 2_000_001)
    z0, r = 2 * x - 1, float(delta) * (np.abs(x) + 1)
    values = np.maximum(sig(z0 + r) - sig(z0), sig(z0) - sig(z0 - r))
    truth_lo = values.max()
    truth_hi = truth_lo + (2 + float(delta)) / 2 * 1.5e-6 / 2   # Lipschitz bound over half a grid step
    assert truth_lo <= float(est.upper) + 1e-12
    assert float(est.lower) <= truth_hi
    assert est.converged


@pytest.mark.parametrize("delta,verdict", [(Q(1, 4) + Q(1, 10 ** 9), Verdict.VIOLATED), (Q(1, 4), Verdict.HOLDS),
                                           (Q(1, 4) - Q(1, 10 ** 9), Verdict.HOLDS)])
def test_hand_multiclass_local_label_tie_with_a_later_class_keeps_the_label(delta, verdict):
    """z = (x, 0, -x) at x = 1: max over the box of z_1 - z_0 = (δ - (1 - δ))·1 + 2δ = 4δ - 1.

    At δ = 1/4 class 1 at best ties class 0, and the lowest index keeps label 0.
    """
    n = Network.from_arrays([[[1.0], [0.0], [-1.0]]], [[0.0, 0.0, 0.0]], ["softmax"], name="3-class")
    pert = P.uniform(n, delta)
    res = pr.verify_local_label(n, pert, [1])
    assert res.verdict is verdict, res.reason
    if verdict is Verdict.VIOLATED:
        assert exact_flip(n, [Q(1)], witness_params(n, pert, res.witness), pert.nominal)


@pytest.mark.parametrize("delta,verdict", [(Q(1, 4), Verdict.VIOLATED), (Q(1, 4) - Q(1, 10 ** 9), Verdict.HOLDS)])
def test_hand_multiclass_local_label_tie_with_an_earlier_class_is_a_flip(delta, verdict):
    """z = (0, x, -x) at x = 1 (label 1): max over the box of z_0 - z_1 = 4δ - 1; at δ = 1/4 class 0 ties and wins."""
    n = Network.from_arrays([[[0.0], [1.0], [-1.0]]], [[0.0, 0.0, 0.0]], ["softmax"], name="3-class")
    pert = P.uniform(n, delta)
    res = pr.verify_local_label(n, pert, [1])
    assert res.verdict is verdict, res.reason
    if verdict is Verdict.VIOLATED:
        assert exact_flip(n, [Q(1)], witness_params(n, pert, res.witness), pert.nominal)
