"""One branch and bound over several classes (bnb.run_together) and the incremental LP updates it relies on.

The joint search's ends are checked against independent per-class searches (each class solved alone to
its exact minimum) and against sampling; a planted unsound node bound is shown to be caught by the same
checks.  The LP's incremental HiGHS updates are checked against cold solves of fresh copies.
"""
from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import pytest

from smtnn.twins import bnb
from smtnn.semantics.exactnet import ExactNetwork
from smtnn.twins.lp import LinearModel
from smtnn.twins.optimize import Analysis
from smtnn.twins.pair import Twins, exact_class

from test_twins_scale import samples, twin_case

CASES = [(3, (3, 6, 6, 4), "int4", 0.1), (11, (4, 8, 5), "int3", 0.15), (5, (2, 6, 6, 5), "prune", 0.2)]


def setup(seed, sizes, maker, radius):
    twin, reference, box = twin_case(seed, sizes, maker, radius)
    twins = Twins(twin, reference)
    ci = exact_class(reference, [(a + b) / 2 for a, b in zip(box.lower, box.upper)])
    forms = [twins.margin_coeffs(ci, c) for c in range(twins.n_classes) if c != ci]
    return twins, box, forms


def float_minima(twins, forms, xs) -> np.ndarray:
    """Per form, its smallest value over the sample points (float64 forward passes)."""
    zs = [net.logits(xs) for net in twins.networks]
    return np.array([min(zs[0] @ np.array(f[0], float) + zs[1] @ np.array(f[1], float)) for f in forms])


def joint_minima(analysis, forms, **kw):
    return analysis.minima_together(forms, "exact", timeout=30, **kw)


@pytest.mark.parametrize("seed, sizes, maker, radius", CASES)
def test_joint_minima_meet_the_independent_exact_minimum_and_enclose_sampling(seed, sizes, maker, radius):
    twins, box, forms = setup(seed, sizes, maker, radius)
    analysis = Analysis(twins.networks, box)
    alone = [analysis.extreme([f], "min", "exact", timeout=30) for f in forms]
    assert all(e.lower == e.upper for e in alone)
    together = joint_minima(analysis, forms)
    smallest = min(e.upper for e in alone)
    assert min(e.lower for e in together) == min(e.upper for e in together) == smallest
    sampled = float_minima(twins, forms, samples(box, 2000))
    for form, e, exact, seen in zip(forms, together, alone, sampled):
        assert e.lower <= exact.lower and e.upper >= exact.upper     # each class's ends enclose its own minimum
        assert float(e.lower) <= seen + 1e-9
        assert analysis.value([form], e.witness.input, replay=True) == e.upper


def test_a_planted_unsound_node_bound_is_caught(monkeypatch):
    twins, box, forms = setup(*CASES[0])
    analysis = Analysis(twins.networks, box)
    truth = min(analysis.extreme([f], "min", "exact", timeout=30).upper for f in forms)
    honest = bnb.Search.bound

    def shaved(self, phases, basis=None, **limits):   # every node's bound (a max of -form) pulled down by 0.05
        nb = honest(self, phases, basis, **limits)
        return nb if nb.upper is None else nb._replace(upper=nb.upper - Fraction(1, 20))
    monkeypatch.setattr(bnb.Search, "bound", shaved)
    together = analysis.minima_together(forms, "exact", timeout=30)
    assert min(e.lower for e in together) > truth   # the claimed lower end excludes the true minimum


def test_incremental_lp_updates_match_cold_solves():
    rng = np.random.default_rng(7)
    model = LinearModel()
    n, m = 12, 9
    model.add_cols(-rng.uniform(0.5, 2, n), rng.uniform(0.5, 2, n))
    for _ in range(m):
        cols = rng.choice(n, 4, replace=False)
        model.add_row(cols, rng.normal(size=4), -rng.uniform(0.1, 1), rng.uniform(0.1, 1))
    basis = None
    for step in range(25):
        cost = rng.normal(size=n)
        col_over = {int(c): (float(rng.uniform(-0.5, 0)), float(rng.uniform(0, 0.5))) for c in rng.choice(n, 3, replace=False)}
        row_over = {int(r): (-0.05, 0.05) for r in rng.choice(m, 2, replace=False)}
        warm = model.minimize(cost, col_over, row_over, basis if step % 2 else None)
        cold = model.copy().minimize(cost, col_over, row_over)
        assert warm.ok == cold.ok
        if cold.ok:
            assert warm.value == pytest.approx(cold.value, rel=1e-9, abs=1e-9)
            assert warm.bound is not None and warm.bound <= Fraction(cold.value) + Fraction(1, 10**9)
            basis = warm.basis



def test_a_time_limit_counts_only_the_solve_it_is_given_to():
    """Regression: HiGHS measures time_limit against its run time summed over the instance's earlier solves, so a
    limit of t seconds given to a long-lived model (the relaxation's, after its LP tightening) stopped at once, with
    no bound, once the model had run for t seconds in total."""
    rng = np.random.default_rng(3)
    model = LinearModel("highspy")
    n = 120
    model.add_cols(-np.ones(n), np.ones(n))
    for _ in range(n):
        cols = rng.choice(n, 30, replace=False)
        model.add_row(cols, rng.normal(size=30), -np.inf, 1.0)
    tick = time.perf_counter()
    model.minimize(rng.normal(size=n))
    limit = max(0.2, 20 * (time.perf_counter() - tick))
    while model._highs.getRunTime() < 2 * limit:   # the instance's earlier solves use up more than the limit
        model.minimize(rng.normal(size=n))
    solution = model.minimize(rng.normal(size=n), time_limit=limit)
    assert solution.ok and solution.bound is not None, solution.status


@pytest.mark.parametrize("seed, sizes, maker, radius", CASES)
def test_an_lrsm_stopped_at_a_tolerance_encloses_the_worst_minimum_within_it(seed, sizes, maker, radius):
    from smtnn.twins import lrsm

    twins, box, forms = setup(seed, sizes, maker, radius)
    analysis = Analysis(twins.networks, box)
    worst = min(analysis.extreme([f], "min", "exact", timeout=30).upper for f in forms)
    tolerance = Fraction(1, 20)
    ci = exact_class(twins.second, [(a + b) / 2 for a, b in zip(box.lower, box.upper)])   # as in setup
    report = lrsm(twins.first, twins.second, box=box, ci=ci, engine="exact", compare=(), ends=("min",), timeout=30,
                  tolerance=tolerance)
    assert report.lower <= worst <= report.upper
    assert report.upper - report.lower <= tolerance


def test_a_search_out_of_time_skips_its_attacks_and_still_encloses_the_minimum(monkeypatch):
    """Past its deadline a search neither attacks (PGD and its exact replays) nor solves root LPs; the ends it
    reports still enclose the true minimum."""
    twins, box, forms = setup(*CASES[1])
    analysis = Analysis(twins.networks, box)
    truth = min(analysis.extreme([f], "min", "exact", timeout=30).upper for f in forms)
    attacked = []
    honest = bnb.Search._attack_points

    def recorded(self, *deadline):
        attacked.append(self)
        return honest(self, *deadline)
    monkeypatch.setattr(bnb.Search, "_attack_points", recorded)
    late = analysis.minima_together(forms, "exact", timeout=1e-9)
    assert attacked == []
    assert min(e.lower for e in late) <= truth <= min(e.upper for e in late)
    analysis.minima_together(forms, "exact", timeout=30)
    assert attacked                                    # with time, the same call does attack


def test_exact_logits_are_remembered_without_sharing_the_list():
    twins, box, _ = setup(*CASES[0])
    exact = ExactNetwork(twins.networks[0])
    x = [(a + b) / 2 for a, b in zip(box.lower, box.upper)]
    first = exact.logits(x)
    first[0] += 1
    assert exact.logits(x) == ExactNetwork(twins.networks[0]).logits(x) != first


def test_pgd_past_its_deadline_takes_no_steps():
    """The attack of a search out of time returns its start points (replayed exactly later) instead of 40 steps."""
    from smtnn.twins.attack import pgd

    twins, box, forms = setup(*CASES[0])
    lo = np.array([float(v) for v in box.lower])
    hi = np.array([float(v) for v in box.upper])
    late = pgd(twins.networks, forms[:1], lo, hi, deadline=time.perf_counter() - 1)
    assert np.array_equal(late, pgd(twins.networks, forms[:1], lo, hi, steps=0))
    assert not np.array_equal(late, pgd(twins.networks, forms[:1], lo, hi))


def test_a_stalled_warm_start_is_solved_again_cold_and_the_minimum_stays_exact(monkeypatch):
    """HiGHS can stall from some parent bases (a decision query that proves in 3 s ran past a 20 s timeout to 80 s).
    Here every warm-started LP stalls (stopped without a bound at its cap): the search solves each child again cold,
    still reaches the exact minimum of the independent search, and every warm solve was given a finite time limit."""
    seed, sizes, maker, radius = CASES[0]
    twins, box, forms = setup(seed, sizes, maker, radius)
    exact = Analysis(twins.networks, box).extreme([forms[0]], "min", "exact", timeout=30)
    original = LinearModel.minimize
    warm_limits = []

    def stalling(self, cost, col_bounds=None, row_bounds=None, basis=None, time_limit=None):
        if basis is None:
            return original(self, cost, col_bounds, row_bounds, basis, time_limit=time_limit)
        warm_limits.append(time_limit)
        solution = original(self, cost, col_bounds, row_bounds, None, time_limit=time_limit)
        solution.bound, solution.ok = None, False   # as HiGHS stopped at its limit
        return solution

    monkeypatch.setattr(LinearModel, "minimize", stalling)
    stalled = Analysis(twins.networks, box).extreme([forms[0]], "min", "exact", timeout=30)
    assert warm_limits and all(t is not None and t <= 30 for t in warm_limits)
    assert stalled.lower == stalled.upper == exact.lower == exact.upper
