"""The twins engines at scale: chord rows of the difference, linear pre-activation bounds, the screen, the tolerance.

Every new bound is checked against sampling on small random twins (the LP relaxation must contain
the true values of every column at every sampled input), and a planted unsound tightening of each
kind is shown to be caught by the same check.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from smtnn import Network
from smtnn.twins import ball, decisions, difference, generate, screen
from smtnn.twins.optimize import Analysis
from smtnn.twins.pair import Twins, exact_class
from smtnn.twins import relaxation as relaxation_module
from smtnn.twins.relaxation import Relaxation


def random_net(seed: int, sizes, scale: float = 1.0) -> Network:
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, scale * np.sqrt(2 / a), (b, a)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.2, b) for b in sizes[1:]]
    return Network.from_arrays(weights, biases, ["relu"] * (len(sizes) - 2) + ["softmax"])


def samples(box, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo = np.array([float(v) for v in box.lower])
    hi = np.array([float(v) for v in box.upper])
    corners = rng.integers(0, 2, size=(n // 5, lo.size)) * (hi - lo) + lo
    return np.vstack([rng.uniform(lo, hi, size=(n, lo.size)), corners])


# -- the chords of relu(a1) - relu(a2) in d = a1 - a2 -------------------------------------------
def chord_violations(chords, d_lo: float, d_hi: float, points: int = 60) -> int:
    """How many exact (a1, d) grid points put relu(a1) - relu(a1 - d) outside the chords' band."""
    s_up, c_up, s_low, c_low = (Fraction(v) for v in chords)
    lo, hi = Fraction(d_lo), Fraction(d_hi)
    reach = 2 * max(abs(lo), abs(hi), Fraction(1, 100))
    bad = 0
    for i in range(points + 1):
        d = lo + (hi - lo) * Fraction(i, points)
        for k in range(-points, points + 1):
            a1 = reach * Fraction(k, points)
            delta = max(a1, 0) - max(a1 - d, 0)
            bad += not (s_low * d + c_low <= delta <= s_up * d + c_up)
    return bad


@pytest.mark.parametrize("d_lo, d_hi", [(-0.3, 0.7), (-1e-3, 2e-5), (0.0, 0.5), (0.2, 0.9), (-0.8, -0.1),
                                        (-0.4, 0.0), (-1 / 3, 1 / 7), (0.0, 0.0)])
def test_relu_chords_enclose_the_difference_exactly_and_a_planted_tightening_is_caught(d_lo, d_hi):
    chords = difference.relu_chords(d_lo, d_hi)
    assert chord_violations(chords, d_lo, d_hi) == 0
    s_up, c_up, s_low, c_low = chords
    shave = max(abs(d_lo), abs(d_hi), 1e-3) / 4
    assert chord_violations((s_up, c_up - shave, s_low, c_low), d_lo, d_hi) > 0
    assert chord_violations((s_up, c_up, s_low, c_low + shave), d_lo, d_hi) > 0


# -- the convex hull of (a1, a2, relu(a1), relu(a2)) over the pair's polygon ---------------------------
def hull_violations(rows, ends, points: int = 40) -> int:
    """How many exact grid points (a1, a2) of the polygon put (a1, a2, relu(a1), relu(a2)) outside some row."""
    l1, u1, l2, u2, dl, du = (Fraction(v) for v in ends)
    exact = [([Fraction(v) for v in n], Fraction(c)) for n, c in rows]
    bad = 0
    for i in range(points + 1):
        a1 = l1 + (u1 - l1) * Fraction(i, points)
        for k in range(points + 1):
            a2 = l2 + (u2 - l2) * Fraction(k, points)
            if dl <= a1 - a2 <= du:
                p = (a1, a2, max(a1, 0), max(a2, 0))
                bad += sum(sum(e * v for e, v in zip(n, p)) > c for n, c in exact)
    return bad


HULL_CASES = [(-1.0, 2.0, -1.1, 1.9, -0.2, 0.3), (-0.5, 0.3, -0.52, 0.31, -0.03, 0.02), (-0.3, 0.4, -0.35, 0.45, 0.0, 0.1),
              (-2.0, 0.5, -1.5, 1.0, -1.0, 0.25), (-1 / 3, 1 / 7, -2 / 7, 1 / 5, -1 / 9, 1 / 11),
              (0.1, 0.5, -0.02, 0.52, -0.03, 0.12), (-1.0, 0.0, -1.1, 1.9, -0.2, 0.3)]   # one unit's phase fixed


@pytest.mark.parametrize("ends", HULL_CASES)
def test_the_pair_hull_encloses_both_relus_exactly_and_a_planted_tightening_is_caught(ends):
    rows = difference.relu_pair_hull(*ends)
    assert rows and hull_violations(rows, ends) == 0
    shave = max(ends[1] - ends[0], ends[3] - ends[2]) / 4
    for i in range(len(rows)):   # every row is tight somewhere: lowered, it cuts off true points
        planted = [(n, c - shave if j == i else c) for j, (n, c) in enumerate(rows)]
        assert hull_violations(planted, ends) > 0


def test_the_pair_hull_is_never_looser_than_the_chords_and_triangles_and_sometimes_tighter():
    """LP maxima of random directions over (a1, a2, h1, h2): with the hull rows no larger, some much smaller."""
    from smtnn.twins.lp import LinearModel

    ends = HULL_CASES[0]
    l1, u1, l2, u2, dl, du = ends
    directions = np.random.default_rng(0).normal(size=(40, 4))
    maxima = []
    for hull in (True, False):
        m = LinearModel()
        a1, a2, h1, h2 = m.add_cols([l1, l2, 0.0, 0.0], [u1, u2, max(u1, 0), max(u2, 0)])
        m.add_row([a1, a2], [1.0, -1.0], dl, du)
        for a, h, lo, hi in ((a1, h1, l1, u1), (a2, h2, l2, u2)):
            m.add_row([h, a], [1.0, -1.0], 0.0, np.inf)
            m.add_row([h, a], [1.0, -hi / (hi - lo)], -np.inf, -hi * lo / (hi - lo) + 1e-12)
        s_up, c_up, s_low, c_low = difference.relu_chords(dl, du)
        m.add_row([h1, h2, a1, a2], [1.0, -1.0, -s_up, s_up], -np.inf, c_up)
        m.add_row([h1, h2, a1, a2], [1.0, -1.0, -s_low, s_low], c_low, np.inf)
        if hull:
            for n, c in difference.relu_pair_hull(*ends):
                m.add_row([a1, a2, h1, h2], n, -np.inf, c)
        maxima.append(np.array([-float(m.minimize(-w).bound) for w in directions]))
    with_hull, without = maxima
    assert (with_hull <= without + 1e-9).all()
    assert (with_hull < without - 0.05).any()


# -- the LP relaxation contains the true network values -------------------------------------------
def relaxation_violations(relax: Relaxation, xs: np.ndarray) -> int:
    """Rows and column bounds of the relaxation that the true values at some sampled input break."""
    m = relax.model
    a = m.matrix()
    col_lo, col_hi = np.array(m.col_lo), np.array(m.col_hi)
    row_lo, row_hi = np.array(m.row_lo), np.array(m.row_hi)
    bad = 0
    for x in xs:
        v = np.zeros(m.n_cols)
        v[relax.x] = x
        for t, net in enumerate(relax.networks):
            h = x
            for k, layer in enumerate(net.layers[:-1]):
                pre = layer.weights @ h + layer.bias
                h = np.maximum(pre, 0.0) if layer.activation == "relu" else pre
                for j in range(layer.outputs):
                    u = relax.units[(t, k, j)]
                    v[u.a], v[u.h] = pre[j], h[j]
            v[relax.logits[t]] = net.layers[-1].weights @ h + net.layers[-1].bias
        tol = 1e-9 * (1 + np.abs(v).max())
        rows = a @ v
        bad += int(((rows < row_lo - tol) | (rows > row_hi + tol)).sum() + ((v < col_lo - tol) | (v > col_hi + tol)).sum())
    return bad


CASES = [(1, (4, 8, 6, 3), "int8", "0.1"), (2, (3, 10, 10, 4), "int4", "0.3"), (3, (5, 6, 6, 6, 3), "int8", "0.2"),
         (4, (2, 12, 5), "prune", "0.5")]


def twin_case(seed, sizes, maker, radius):
    reference = random_net(seed, sizes)
    twin = generate.prune(reference, 0.5) if maker == "prune" else generate.quantize(reference, "int", int(maker[3:]))
    rng = np.random.default_rng(seed)
    box = ball([round(float(c), 3) for c in rng.uniform(0, 1, sizes[0])], radius)
    return twin, reference, box


@pytest.mark.parametrize("hulls", [False, True])
@pytest.mark.parametrize("seed, sizes, maker, radius", CASES)
def test_twin_relaxation_contains_the_sampled_networks(seed, sizes, maker, radius, hulls, monkeypatch):
    monkeypatch.setattr(relaxation_module, "PAIR_HULLS", hulls)
    twin, reference, box = twin_case(seed, sizes, maker, radius)
    relax = Relaxation((twin, reference), box)
    assert bool(relax.hull_rows) == hulls
    assert relaxation_violations(relax, samples(box, 400, seed)) == 0


def test_a_planted_unsound_pre_activation_tightening_is_caught(monkeypatch):
    twin, reference, box = twin_case(*CASES[1])
    sound = screen.pre_activations

    def shrunk(net, b):
        return [(lo + 0.3 * (hi - lo), hi - 0.3 * (hi - lo)) for lo, hi in sound(net, b)]
    monkeypatch.setattr(screen, "pre_activations", shrunk)
    relax = Relaxation((twin, reference), box, tighten=False)
    assert relaxation_violations(relax, samples(box, 400)) > 0


def test_a_planted_unsound_chord_is_caught(monkeypatch):
    twin, reference, box = twin_case(*CASES[0])
    sound = difference.relu_chords

    def shaved(d_lo, d_hi):   # claims relu(a1) - relu(a2) <= s·d + c - |d|max / 2: false where both are active
        s_up, c_up, s_low, c_low = sound(d_lo, d_hi)
        return s_up, c_up - max(abs(d_lo), abs(d_hi)) / 2, s_low, c_low
    monkeypatch.setattr(difference, "relu_chords", shaved)
    monkeypatch.setattr(relaxation_module, "PAIR_HULLS", False)
    relax = Relaxation((twin, reference), box, tighten=False)
    assert relaxation_violations(relax, samples(box, 400)) > 0


def test_a_planted_unsound_pair_hull_is_caught(monkeypatch):
    twin, reference, box = twin_case(*CASES[0])
    sound = difference.relu_pair_hull

    def shaved(*ends):   # every hull row lowered by a quarter of the first unit's range: false at its touching points
        return [(n, c - (ends[1] - ends[0]) / 4) for n, c in sound(*ends)]
    monkeypatch.setattr(difference, "relu_pair_hull", shaved)
    monkeypatch.setattr(relaxation_module, "PAIR_HULLS", True)
    relax = Relaxation((twin, reference), box, tighten=False)
    assert relax.hull_rows and relaxation_violations(relax, samples(box, 400)) > 0


def test_a_planted_unsound_lp_tightening_is_caught(monkeypatch):
    twin, reference, box = twin_case(*CASES[2])
    assert relaxation_violations(Relaxation((twin, reference), box), samples(box, 400)) == 0
    sound = relaxation_module.LinearModel.minimize

    def raised(self, cost, *args, **kwargs):   # every certified lower bound lifted by 0.2: the ranges cut true values
        sol = sound(self, cost, *args, **kwargs)
        if sol.bound is not None:
            sol.bound += Fraction(1, 5)
        return sol
    monkeypatch.setattr(relaxation_module.LinearModel, "minimize", raised)
    relax = Relaxation((twin, reference), box)
    assert relax.lp_calls > 0 and relaxation_violations(relax, samples(box, 400)) > 0


@pytest.mark.parametrize("seed, sizes, maker, radius", CASES[:3])
def test_skipping_the_output_difference_lps_keeps_the_relaxation(seed, sizes, maker, radius, monkeypatch):
    """The bounds of h1 - h2 that LPs would give are implied by the LP they come from: without those LPs the units'
    ranges and the certified bound of every logit difference stay the same (to float noise), with fewer LPs."""
    twin, reference, box = twin_case(seed, sizes, maker, radius)
    built = {}
    for tighten_differences in (True, False):
        monkeypatch.setattr(relaxation_module, "TIGHTEN_OUTPUT_DIFFERENCES", tighten_differences)
        built[tighten_differences] = Relaxation((twin, reference), box)
    full, lean = built[True], built[False]
    assert lean.lp_calls < full.lp_calls
    for key, unit in full.units.items():
        assert lean.units[key].lo == pytest.approx(unit.lo, abs=1e-9) and lean.units[key].hi == pytest.approx(unit.hi, abs=1e-9)
    classes = len(full.logits[0])
    for i in range(classes):
        for j in range(classes):
            if i != j:
                coeffs = [[0] * classes, [0] * classes]
                coeffs[0][i], coeffs[1][j] = 1, -1
                assert float(lean.minimize(coeffs).bound) == pytest.approx(float(full.minimize(coeffs).bound), abs=1e-7)
    assert relaxation_violations(lean, samples(box, 400, seed)) == 0


# -- linear bounds: the pre-activation bounds and the decision screen ------------------------------
@pytest.mark.parametrize("seed, sizes, maker, radius", CASES)
def test_linear_pre_activation_bounds_enclose_sampling(seed, sizes, maker, radius):
    twin, reference, box = twin_case(seed, sizes, maker, radius)
    xs = samples(box, 500, seed)
    for net in (twin, reference):
        bounds = screen.pre_activations(net, box)
        h = xs
        for (lo, hi), layer in zip(bounds, net.layers[:-1]):
            pre = h @ layer.weights.T + layer.bias
            assert (pre >= lo - 1e-12).all() and (pre <= hi + 1e-12).all()
            h = np.maximum(pre, 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_the_decision_screen_agrees_with_sampling_and_with_the_lp_path(seed, monkeypatch):
    reference = random_net(seed, (3, 8, 8, 3))
    twin = generate.quantize(reference, "int", 4 if seed % 2 else 8)
    box = ball([0.5, 0.5, 0.5], "0.02" if seed < 3 else "0.4")
    xs = samples(box, 2000, seed)
    guess = screen.guess_class(reference, box)
    if screen.robust_class(reference, box, guess):
        assert (reference.predict(xs) == guess).all()
    if screen.robust_class(twin, box, guess):
        assert (twin.predict(xs) == guess).all()
    screened = decisions(twin, reference, box=box, timeout=20)
    monkeypatch.setattr(screen, "robust_class", lambda net, b, c: False)
    unscreened = decisions(twin, reference, box=box, timeout=20)
    assert screened.verdict == unscreened.verdict
    if (twin.predict(xs) != reference.predict(xs)).any():
        assert screened.verdict.value == "violated"


def test_the_screen_never_claims_a_class_that_a_sample_refutes():
    reference = random_net(11, (2, 6, 3))
    box = ball([0.0, 0.0], "1")
    xs = samples(box, 2000)
    labels = set(reference.predict(xs).tolist())
    assert len(labels) > 1
    assert not any(screen.robust_class(reference, box, c) for c in range(3))


@pytest.mark.parametrize("seed, sizes, maker, radius", CASES[:3])
def test_the_search_on_pair_hulls_finds_the_same_exact_minimum_below_every_sample(seed, sizes, maker, radius, monkeypatch):
    twin, reference, box = twin_case(seed, sizes, maker, radius)
    twins = Twins(twin, reference)
    ci = exact_class(reference, [(a + b) / 2 for a, b in zip(box.lower, box.upper)])
    form = twins.margin_coeffs(ci, (ci + 1) % twins.n_classes)
    found = []
    for hulls in (False, True):
        monkeypatch.setattr(relaxation_module, "PAIR_HULLS", hulls)
        analysis = Analysis(twins.networks, box)
        assert bool(analysis.relaxation.hull_rows) == hulls
        found.append(analysis.extreme([form], "min", "exact", timeout=30))
    assert all(e.converged and e.lower == e.upper for e in found)
    assert found[0].lower == found[1].lower
    xs = samples(box, 300, seed)
    sampled = twin.logits(xs) @ np.array(form[0], float) + reference.logits(xs) @ np.array(form[1], float)
    assert sampled.min() >= float(found[1].lower) - 1e-9

# -- the tolerance of the exact search -------------------------------------------------------------
@pytest.mark.parametrize("seed, sizes, maker, radius", CASES[:3])
def test_a_tolerance_keeps_the_ends_certified_around_the_exact_minimum(seed, sizes, maker, radius):
    twin, reference, box = twin_case(seed, sizes, maker, radius)
    twins = Twins(twin, reference)
    ci = exact_class(reference, [(a + b) / 2 for a, b in zip(box.lower, box.upper)])
    form = twins.margin_coeffs(ci, (ci + 1) % twins.n_classes)
    analysis = Analysis(twins.networks, box)
    exact = analysis.extreme([form], "min", "exact", timeout=30)
    assert exact.converged and exact.lower == exact.upper
    tolerance = Fraction(1, 100)
    loose = analysis.extreme([form], "min", "exact", timeout=30, tolerance=tolerance)
    assert loose.lower <= exact.lower == exact.upper <= loose.upper
    assert loose.upper - loose.lower <= tolerance
    assert analysis.value([form], loose.witness.input, replay=True) == loose.upper


def test_the_twins_scale_benchmark_rows_are_certified_and_reported():
    from benchmarks import twins_scale

    rows = twins_scale.random_section(shapes=((4, 1, 8), (6, 2, 8)), timeout=20)
    for row in rows:
        lo, hi = (Fraction(v) for v in row["min_log_rsm_exact"])
        assert row["certified"] and lo <= hi and hi - lo <= twins_scale.TOLERANCE
        reference, x = twins_scale.network(row["d"], row["layers"], row["width"])
        twin = generate.quantize(reference, "int", 8)
        box = ball([Fraction(float(v)) for v in x], twins_scale.RANDOM_RADIUS, (0, 1))
        xs = samples(box, 500)
        zt, zr = twin.logits(xs), reference.logits(xs)
        ci, cj = row["ci"], row["worst_cj"]
        assert ((zt[:, ci] - zt[:, cj]) - (zr[:, ci] - zr[:, cj])).min() >= float(lo) - 1e-9
    text = twins_scale.summary(rows, [])
    assert "| 6 | 2 × 8 |" in text
