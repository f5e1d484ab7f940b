"""Both classes of a binary σ (Eq. 13) from one shared derivation of the pieces (smtnn.pieces.maximize_jointly).

The shared path must give each class exactly what that class gets alone, keep each class's own pieces where
their splits differ, enclose brute-force sampling of inputs and parameter corners, and never hand one class's
answer to the other.
"""
from __future__ import annotations

import itertools
import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_fuzz_soundness as fz  # noqa: E402
from test_pieces import SETTINGS, _draw_case  # noqa: E402
from smtnn import Network, pieces, properties  # noqa: E402
from smtnn import perturbation as perturbations  # noqa: E402
from smtnn.domain import Box  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

Q = Fraction
TOL = Q(1, 10 ** 6)


def _joint(net, pert, box, classes=(1, 0)):
    return properties._sigma_by_pieces(net, pert, box, classes, TOL, properties._Clock.begin())


def _alone(net, pert, box):
    return {c: _joint(net, pert, box, (c,))[c] for c in (1, 0)}


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return (a.lower, a.upper, a.provenance.method, a.reason) == (b.lower, b.upper, b.provenance.method, b.reason) and \
        (a.witness is None) == (b.witness is None) and (a.witness is None or a.witness.input == b.witness.input)


@settings(max_examples=25, **SETTINGS)
@given(st.data(), st.sampled_from((1, 2, 3)))
def test_the_shared_derivation_gives_each_class_what_it_gets_alone(data, n_in):
    """Sigmoid outputs over no hidden layer or one linear / relu / leaky relu layer: the same intervals, witnesses
    and piece counts as deriving each class on its own."""
    case = _draw_case(fz.HypothesisDraw(data), n_in, "binary")
    net, pert, box = case.network, case.perturbation(), case.domain()
    if not pieces.applies(net, pert):
        return
    joint, alone = _joint(net, pert, box), _alone(net, pert, box)
    for c in (1, 0):
        assert _same(joint[c], alone[c]), (c, joint[c], alone[c], fz.case_json(case))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _logit(net: Network, x, params) -> float:
    """The network's output logit in binary64 at an input and a parameter vector (independent of smtnn's walk)."""
    h = np.asarray(x, dtype=float)
    p = np.asarray([float(v) for v in params])
    for layer, (ws, bs) in zip(net.layers, net.layer_slices()):
        w = p[ws].reshape(layer.outputs, layer.inputs)
        z = w @ h + p[bs]
        act = layer.activation
        h = np.maximum(z, 0) if act == "relu" else np.where(z >= 0, z, float(layer.alpha) * z) \
            if act == "leaky_relu" else z
    return float(h[0])


def _sampled_sigma(net, pert, box, rng, n_points: int, n_params: int) -> dict[int, float]:
    """The largest |f_p0(x) - l| of a sampled x whose label some sampled p flips, per class (0 when none)."""
    lower, upper = np.array([float(v) for v in box.lower]), np.array([float(v) for v in box.upper])
    vertices = [np.array(v) for v in itertools.product(*zip(lower, upper))]
    points = vertices + [lower + rng.random(len(lower)) * (upper - lower) for _ in range(n_points)]
    lo, hi = np.array([float(v) for v in pert.lower]), np.array([float(v) for v in pert.upper])
    corners = [np.where(rng.random(len(lo)) < 0.5, lo, hi) for _ in range(n_params)] + \
        [lo + rng.random(len(lo)) * (hi - lo) for _ in range(n_params // 4)]
    t = float(net.threshold)
    best = {1: 0.0, 0: 0.0}
    for x in points:
        z0 = _logit(net, x, pert.nominal)
        c = 1 if _sigmoid(z0) >= t else 0
        margin = 1e-9   # a flip must be clear of the boundary in binary64
        flips = any((_sigmoid(_logit(net, x, p)) < t - margin) if c == 1 else (_sigmoid(_logit(net, x, p)) > t + margin)
                    for p in corners)
        if flips:
            best[c] = max(best[c], abs(_sigmoid(z0) - t))
    return best


@settings(max_examples=12, **SETTINGS)
@given(st.data(), st.sampled_from((1, 2)))
def test_shared_intervals_enclose_sampling(data, n_in):
    """No sampled input (domain vertices and random points) flipped by a sampled parameter corner has σ above the
    upper end; every lower end is at most its upper end and its witness input flips."""
    case = _draw_case(fz.HypothesisDraw(data), n_in, "binary", ("relu", "linear"))
    net, pert, box = case.network, case.perturbation(), case.domain()
    if not pieces.applies(net, pert):
        return
    joint = _joint(net, pert, box)
    sampled = _sampled_sigma(net, pert, box, np.random.default_rng(7), 60, 80)
    for c, est in joint.items():
        if est is None:
            continue
        assert est.lower <= est.upper
        assert sampled[c] <= float(est.upper) + 1e-12, (c, sampled[c], est, fz.case_json(case))
        if est.witness is not None:   # its input has σ = lower and nominal label c, and its parameters flip it
            x, t = [float(v) for v in est.witness.input], float(net.threshold)
            params = [est.witness.parameters.get(str(net.parameter_name(i)), v) for i, v in enumerate(pert.nominal)]
            z0, zp = _logit(net, x, pert.nominal), _logit(net, x, params)
            assert abs(abs(_sigmoid(z0) - t) - float(est.lower)) <= 1e-12
            assert (_sigmoid(z0) >= t - 1e-12 and _sigmoid(zp) <= t + 1e-12) if c == 1 else \
                (_sigmoid(z0) <= t + 1e-12 and _sigmoid(zp) >= t - 1e-12)


def test_the_classes_are_not_swapped():
    """z = x - 1/2 on [0, 1], δ = 1/10 on w and b (by hand): σ_1 = sigmoid(1/6) - 1/2 ≈ 0.0415 (x -> 2/3),
    σ_0 = 1/2 - sigmoid(4/11 - 1/2) ≈ 0.0340 (x = 4/11).  Each class gets its own value in either order of the
    classes, so a shared derivation wired to the wrong class fails here."""
    net = Network.from_arrays([[[1.0]]], [[-0.5]], ["sigmoid"])
    pert, box = perturbations.uniform(net, "1/10"), Box(("0",), ("1",))
    by_hand = {1: _sigmoid(1 / 6) - 0.5, 0: 0.5 - _sigmoid(4 / 11 - 0.5)}
    assert abs(by_hand[1] - by_hand[0]) > 5e-3
    for classes in ((1, 0), (0, 1)):
        got = _joint(net, pert, box, classes)
        for c, value in by_hand.items():
            assert float(got[c].lower) <= value + 1e-15 and value - 1e-15 <= float(got[c].upper), (classes, c, got[c])
            assert got[c].gap <= Q(1, 10 ** 9)
            assert got[c].witness is not None and got[c].property == f"global sigma for class {c} (Eq. 13)"


def test_the_classes_match_the_solver_path_on_a_hidden_layer():
    """Two inputs, a relu layer of 3 and a linear layer of 2 (each its own net): the shared path's upper ends are
    the Z3 path's exact optima, class by class."""
    weights = [[[0.9, -0.4], [0.3, 0.8], [-0.7, 0.5]], [[1.1, -0.9, 0.6]]]
    biases = [[0.1, -0.2, 0.3], [-0.05]]
    for act in ("relu", "linear"):
        net = Network.from_arrays(weights, biases, [act, "sigmoid"])
        pert, box = perturbations.uniform(net, "1/20"), Box(("-1", "-1"), ("1", "1"))
        joint = _joint(net, pert, box)
        slow = properties.global_sigma(net, pert, box, tolerance=TOL, by_pieces=False)
        assert joint[1].upper != joint[0].upper
        for c in (1, 0):
            assert joint[c].upper == slow[c].upper, (act, c)
            assert slow[c].lower <= joint[c].lower <= joint[c].upper


@pytest.mark.parametrize("name", ["athletes_relu"])
def test_each_derivation_keeps_its_own_pieces(name):
    """On the ReLU athletes net the two classes split D differently (8 and 5 pieces at δ = 0.005): derived
    together, each class still gets exactly the pieces (same polygons, same order) it gets alone."""
    from case_studies.models import domain, load_case_study

    net = load_case_study(name)
    pert, box = perturbations.uniform(net, "0.005"), Box(*domain(name))
    derives = [pieces.leaf_programs(properties._sigma_problem(net, pert, box, c, TOL, properties._Clock.begin()).derive)
               for c in (1, 0)]
    lower, upper = list(box.lower), list(box.upper)
    together = pieces.derive_jointly(net, pert, lower, upper, derives)
    counts = []
    for derive, joint in zip(derives, together):
        alone = pieces.derive_on_pieces(net, pert, lower, upper, derive)
        assert [p.vertices for p, _ in joint] == [p.vertices for p, _ in alone]
        assert [[(o, r) for o, r in programs] for _, programs in joint] == \
            [[(o, r) for o, r in programs] for _, programs in alone]
        counts.append(len(joint))
    assert counts[0] != counts[1]


def test_float_bounds_of_leaf_programs_are_above_the_exact_optimum():
    """The binary64 weak-duality bound of a 2-D leaf program is never below its exact optimum (exact polygon
    clipping) and within a few ulps of it; an empty program gets no float bound below the others."""
    rng = np.random.default_rng(11)

    def rational(scale):
        return Q(int(rng.integers(-10 ** 6, 10 ** 6)), int(rng.integers(1, 10 ** 4))) * scale

    checked = 0
    for _ in range(300):
        lower = (rational(Q(1, 100)), rational(Q(1, 100)))
        upper = (lower[0] + abs(rational(Q(1, 50))) + 1, lower[1] + abs(rational(Q(1, 50))) + 1)
        piece = pieces._PolygonPiece.box(list(lower), list(upper))
        objective = tuple(rational(Q(1, 1000)) for _ in range(3))
        rows = [tuple(rational(Q(1, 1000)) for _ in range(3)) for _ in range(int(rng.integers(1, 4)))]
        vertices = piece.vertices
        for row in rows:
            vertices = pieces._clip(vertices, row) if vertices else vertices
        bound = piece.float_bound(objective, rows)
        if not vertices:
            continue
        exact = max(pieces.value_at(objective, v) for v in vertices)
        assert bound >= exact, (objective, rows, bound, exact)
        if math.isfinite(bound):
            checked += 1
            assert bound - exact <= 1e-9 * (1 + abs(exact)) + 1e-9 * max(abs(float(v)) for v in objective)
    assert checked > 100


def test_a_planted_low_float_bound_is_caught(monkeypatch):
    """Float bounds only decide which leaf programs need an exact solve; one that under-reports (here: every
    program's bound -inf, so all but the first are skipped) gives an upper end below the Z3 path's exact optimum."""
    from case_studies.models import domain, load_case_study

    net = load_case_study("athletes_linear")
    pert, box = perturbations.uniform(net, "0.01"), Box(*domain("athletes_linear"))
    slow = properties.global_sigma(net, pert, box, tolerance=TOL, by_pieces=False)
    assert all(_joint(net, pert, box)[c].upper == slow[c].upper for c in (1, 0))
    monkeypatch.setattr(pieces._PolygonPiece, "float_bound", lambda self, objective, rows: -math.inf)
    planted = _joint(net, pert, box)
    assert any(planted[c].upper < slow[c].upper for c in (1, 0))
