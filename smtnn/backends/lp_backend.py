"""The LP engine as a backend: certified LP bounds of piecewise-linear networks, exact optima by branch and bound.

HiGHS solves the triangle relaxation of one or two networks over a box (:mod:`smtnn.twins.relaxation`);
every bound it reports is a rigorous dual bound (:mod:`smtnn.twins.lp`), an infeasible node is dropped
only with a Farkas certificate, and the branch and bound on relu phases (:mod:`smtnn.twins.bnb`) ends at
leaf LPs solved exactly (:mod:`smtnn.twins.leaf`).  So the backend is exact in the sense the core uses:
the proven end is certified and the attained end is an exact replay.  It decides no pySMT formulas
(no :class:`Session`); callers that need one ask for ``formulas=True``.
"""
from __future__ import annotations

from typing import Sequence

from ..errors import UnsupportedQueryError
from .base import Backend, Capabilities


class LPBackend(Backend):
    """HiGHS LP relaxations with certified duals and exact leaves (capability ``linear_relaxation``)."""

    name = "highs"
    capabilities = Capabilities(exact=True, nonlinear=False, transcendental=False, optimization=True,
                                incremental=False, formulas=False, linear_relaxation=True)

    def session(self, encoder):
        raise UnsupportedQueryError(f"{self.name} bounds linear functions of piecewise-linear networks over a box; "
                                    "it does not decide formulas (choose --solver z3)")

    def relaxation(self, networks: Sequence, box, *, tighten: bool = True, deadline: float | None = None):
        """The triangle LP relaxation of ``networks`` (same inputs) over ``box``, built once for many searches;
        its LP tightening stops at ``deadline`` (a perf_counter time; looser, still sound)."""
        from ..twins.relaxation import Relaxation

        return Relaxation(networks, box, tighten=tighten, deadline=deadline)

    def search(self, relaxation, forms: Sequence, exact: Sequence | None = None, constraints: Sequence = (),
               leaf_optimizer: Backend | None = None):
        """A maximization of min_i form_i(z) over the relaxation's box: ``bound`` (one certified LP bound) or
        ``run`` (branch and bound to an exact optimum, or a certified interval at the timeout)."""
        from ..twins.bnb import Search

        return Search(relaxation, forms, exact, constraints, leaf_optimizer)
