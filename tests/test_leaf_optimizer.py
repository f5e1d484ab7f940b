"""The twins' leaf LP reaches an exact optimizer through the backend interface (chosen by capability)."""
from fractions import Fraction as Q

from smtnn.backends import select
from smtnn.twins.leaf import LeafLP, _exact_optimizer, solve_leaf

OPTIMIZER = select(exact=True, optimization=True, formulas=True)


def test_exact_optimizer_matches_the_hand_optimum():
    """max x + 2y on [0, 1]^2 with x + y <= 3/2: by hand the optimum is 5/2 at (1/2, 1)."""
    lp = LeafLP((Q(0), Q(0)), (Q(1), Q(1)), (((Q(-1), Q(-1)), Q(3, 2)),), (Q(1), Q(2)), Q(0))
    leaf = _exact_optimizer(lp, OPTIMIZER, 10.0, "test")
    assert leaf.ok and leaf.value == Q(5, 2) and leaf.point == (Q(1, 2), Q(1))
    assert "optimize" in leaf.method
    assert solve_leaf(lp, optimizer=OPTIMIZER).value == Q(5, 2)         # the HiGHS basis route agrees


def test_exact_optimizer_reports_infeasible_leaves():
    """x >= 2 on [0, 1] has no point."""
    lp = LeafLP((Q(0),), (Q(1),), (((Q(1),), Q(-2)),), (Q(1),), Q(0))
    leaf = _exact_optimizer(lp, OPTIMIZER, 10.0, "test")
    assert not leaf.ok and leaf.infeasible
    assert not solve_leaf(lp, optimizer=OPTIMIZER).ok
