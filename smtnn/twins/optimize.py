"""Certified extremes of linear functions of the logits over a box, by three engines (strategies).

- ``exact``: branch and bound with certified LP bounds and exact leaf LPs, on the backend with the
  ``linear_relaxation`` capability (:mod:`smtnn.backends.lp_backend`); ends meet at an exact
  rational unless the timeout strikes.
- ``z3``: both networks as one pySMT formula (relu as ite) and an exact optimizer; exact but
  practical only for small networks (the dense rational simplex is slow beyond ~16 units).
- ``relaxation``: interval bounds and the triangle LP (HiGHS) with a dual certificate; quick,
  valid, looser.  Its attained end is the best of the LP point and the box centre.
Every witness value is recomputed exactly (integer forward passes); :meth:`Analysis.confirm`
replays a reported witness with :func:`smtnn.bounds.replay_logits` in exact rationals.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import NamedTuple, Sequence

import numpy as np

from ..backends import Backend, select
from ..domain import Box
from ..errors import InvalidInputError
from ..network import Network
from ..result import Estimate
from ..semantics.exactnet import exact_network
from .pair import exact_logits
from .result import attained, extreme as make_extreme

Form = tuple[tuple[int, ...], ...]
ENGINES = {"exact": ({"linear_relaxation": True}, True),
           "z3": ({"formulas": True, "exact": True, "optimization": True}, True),
           "relaxation": ({"linear_relaxation": True}, False)}
"""The user-facing engine values: the capabilities their backend needs, and whether the ends must meet."""


@dataclass(frozen=True)
class Strategy:
    """How an engine value is carried out: the backend (chosen by capability) and whether the ends must meet.

    ``complete`` False: one certified relaxation bound, no search (its gap is the answer, not a shortfall).
    A backend with ``linear_relaxation`` searches by branch and bound; one with ``formulas`` gets both
    networks as one formula and its exact optimizer.
    """

    name: str
    backend: Backend
    complete: bool

    @property
    def formulas(self) -> bool:
        return self.backend.capabilities.formulas


def strategy(engine: "str | Strategy") -> Strategy:
    """The strategy of a user-facing engine value (one of ENGINES), its backend selected by capability."""
    if isinstance(engine, Strategy):
        return engine
    if engine not in ENGINES:
        raise InvalidInputError(f"unknown engine '{engine}'; choose one of {', '.join(ENGINES)}")
    return _strategy(engine)


@functools.lru_cache(maxsize=None)
def _strategy(engine: str) -> Strategy:
    wanted, complete = ENGINES[engine]
    return Strategy(engine, select(**wanted), complete)


RELAXATION = "relaxation"
"""The engine every analysis screens with (one certified LP bound per query)."""


class Found(NamedTuple):
    """A maximum found by one engine: certified ends, the witness attaining the lower end, how, and why not exact."""

    lower: Fraction | float
    upper: Fraction | float
    witness: tuple | None
    method: str
    reason: str
    stats: dict


class Analysis:
    """Networks sharing one input box; the relaxation and exact networks are built once for many queries."""

    def __init__(self, networks: Sequence[Network], box: Box, *, tighten: bool = True):
        self.networks = tuple(networks)
        self.box = box
        self.tighten = tighten
        self.lp = strategy(RELAXATION).backend
        self.leaf_optimizer = select(exact=True, optimization=True, formulas=True)
        self._relaxation = None
        self.exact_networks = [exact_network(n) for n in self.networks]

    @property
    def relaxation(self):
        """The LP relaxation of the networks over the box (built by the LP backend on first use)."""
        return self.relaxation_by(None)

    def relaxation_by(self, deadline: float | None):
        """The relaxation; if it is built now, its LP tightening stops at `deadline` (perf_counter; looser, still sound)."""
        if self._relaxation is None:
            self._relaxation = self.lp.relaxation(self.networks, self.box, tighten=self.tighten, deadline=deadline)
        return self._relaxation

    def search(self, forms: Sequence[Form], constraints: Sequence[Form] = ()):
        """A maximization of min_i form_i over the box, on the LP backend (see :meth:`LPBackend.search`)."""
        return self.lp.search(self.relaxation, forms, self.exact_networks, constraints, self.leaf_optimizer)

    def value(self, forms: Sequence[Form], x: Sequence[Fraction], replay: bool = False) -> Fraction:
        """min_i form_i(z(x)) in exact arithmetic: integer forward passes, or smtnn.bounds.replay_logits."""
        zs = [exact_logits(n, x) for n in self.networks] if replay else [e.logits(x) for e in self.exact_networks]
        return min(sum((c * z for cs, zt in zip(f, zs) for c, z in zip(cs, zt) if c), Fraction(0)) for f in forms)

    def confirm(self, extreme: Estimate, forms: Sequence[Form]) -> Estimate:
        """The extreme after replaying its witness with smtnn.bounds.replay_logits (AssertionError if it differs)."""
        if self.value(forms, extreme.witness.input, replay=True) != attained(extreme):
            raise AssertionError(f"{extreme.property}: the witness does not replay to {float(attained(extreme))}")
        p = extreme.provenance
        return replace(extreme, provenance=replace(p, stats={**p.stats, "replayed": "smtnn.bounds.replay_logits"}))

    def extreme(self, forms: Sequence[Form], sense: str, engine: "str | Strategy" = "exact", *, quantity: str = "",
                timeout: float | None = None, floor: Fraction | None = None, seeds=(), tolerance=0) -> Estimate:
        """max of min_i form_i (sense 'max') or min of a single form (sense 'min') over the box.

        ``floor``: only values beyond it matter (below it for a min, above it for a max); the
        search may then stop with the proven end at the floor.  ``seeds``: inputs to start from.
        ``tolerance``: the exact engine may stop once its certified gap is at most this (0: exact).
        """
        engine = strategy(engine)
        start = time.perf_counter()
        if sense == "min":
            if len(forms) != 1:
                raise ValueError("a minimum is taken of one linear form")
            neg = [tuple(tuple(-c for c in cs) for cs in forms[0])]
            up = self._maximize(neg, engine, timeout, None if floor is None else -floor, seeds, tolerance)
            found = Found(-up.upper, -up.lower, up.witness, up.method, up.reason, up.stats)
        else:
            found = self._maximize(forms, engine, timeout, floor, seeds, tolerance)
        lower, upper, wit, method, reason, stats = found
        check = self.value(forms, wit)
        attained = upper if sense == "min" else lower
        if check != attained:
            raise AssertionError(f"witness replays to {float(check)}, not {float(attained)}")
        return make_extreme(quantity, sense, lower, upper, wit, engine=engine.name, solver=engine.backend.name, method=method,
                            seconds=time.perf_counter() - start, reason=reason, stats=stats, complete=engine.complete,
                            tolerance=tolerance)

    def minima_together(self, forms: Sequence[Form], engine: "str | Strategy" = "exact", *, quantities: Sequence[str] = (),
                        timeout: float | None = None, floor: Fraction | None = None, seeds=(), tolerance=0,
                        known: Sequence[Fraction | None] = ()) -> list[Estimate]:
        """The minima of several forms by one branch and bound (:func:`.bnb.run_together`), for the smallest of them.

        The searches share one incumbent (the smallest value attained by any form) and one timeout; a form whose
        every node lies above it is bounded by it and not searched further (its lower end is then that incumbent or
        `floor`, its upper end its own attained value).  The smallest minimum is exact (to ``tolerance``); the
        others are certified bounds.  ``known``: per form, a certified lower bound of its minimum found before (the
        screening relaxation's); each lower end is at least it.  For the branch-and-bound engine (a backend with
        ``linear_relaxation``).
        """
        from .bnb import run_together

        engine = strategy(engine)
        if not engine.complete or engine.formulas:
            raise ValueError("minima_together needs the branch-and-bound engine")
        start = time.perf_counter()
        relax = self.relaxation
        negated = [[tuple(tuple(-c for c in cs) for cs in f)] for f in forms]
        searches = [self.search(f) for f in negated]
        seeds = list(seeds) + [None] * (len(forms) - len(seeds))
        outs = run_together(searches, timeout=timeout, floor=None if floor is None else -floor,
                            seeds=[[] if s is None else [s] for s in seeds], tolerance=tolerance)
        estimates = []
        quantities = list(quantities) + [""] * (len(forms) - len(quantities))
        known = list(known) + [None] * (len(forms) - len(known))
        for f, out, quantity, before in zip(forms, outs, quantities, known):
            stats = {"nodes": out.nodes, "leaves": out.leaves, "lp_calls": out.lp_calls,
                     "unstable_relus": len(relax.unstable()), **out.stats}
            lower, upper, wit = -out.upper, -out.lower, out.witness
            if before is not None and before > lower:   # two certified bounds: keep the tighter
                lower = min(before, upper)
            if self.value([f], wit) != upper:
                raise AssertionError(f"witness replays to {float(self.value([f], wit))}, not {float(upper)}")
            estimates.append(make_extreme(quantity, "min", lower, upper, wit, engine=engine.name, solver=engine.backend.name,
                                          method="branch and bound: certified LP bounds, exact leaf LPs (classes searched together)",
                                          seconds=time.perf_counter() - start, reason=out.reason, stats=stats, complete=True,
                                          tolerance=tolerance))
        return estimates

    def _maximize(self, forms, engine: Strategy, timeout, floor, seeds=(), tolerance=0) -> "Found":
        relax = self.relaxation
        search = self.search(forms)
        if not engine.complete:
            return self._relaxed(search, forms, {"unstable_relus": len(relax.unstable())}, timeout)
        if engine.formulas:
            return self._formula(engine.backend, search, forms, timeout)
        out = search.run(timeout=timeout, floor=floor, seeds=[s for s in seeds if s is not None], tolerance=tolerance)
        stats = {"nodes": out.nodes, "leaves": out.leaves, "lp_calls": out.lp_calls,
                 "unstable_relus": len(relax.unstable()), **out.stats}
        return Found(out.lower, out.upper, out.witness, "branch and bound: certified LP bounds, exact leaf LPs", out.reason, stats)

    def _relaxed(self, search, forms, stats: dict, timeout: float | None = None) -> "Found":
        upper, point, _ = search.bound({}, time_limit=timeout)
        reason = "timeout" if upper is None and timeout is not None else ""   # the LP stopped: the interval bound stands
        interval_upper = min(hi for _, hi in (self.relaxation.interval(f) for f in forms))
        upper = interval_upper if upper is None else min(upper, interval_upper)
        centre = tuple((a + b) / 2 for a, b in zip(self.box.lower, self.box.upper))
        candidates = [centre] + ([search.clip(point[self.relaxation.x])] if point is not None else [])
        wit = max(candidates, key=search.value)
        lower = search.value(wit)
        return Found(lower, max(upper, lower), wit, "interval bounds + triangle LP (HiGHS), dual certificate", reason, stats)

    def _formula(self, backend: Backend, search, forms, timeout) -> "Found":
        """Both networks as one formula and the backend's exact optimizer; the relaxation and PGD if it gives no optimum."""
        from ..backends import Status
        from .encode import PairEncoding

        backend.require("twins optimization", exact=True, optimization=True, formulas=True)
        deadline = None if timeout is None else time.perf_counter() + timeout   # building the formula counts
        enc = PairEncoding(self.relaxation)
        m = enc.mgr
        session = backend.session(enc.encoders[0])
        session.add(enc.formula)
        if len(forms) == 1:
            objective = enc.objective(forms[0])
        else:
            objective = enc.encoders[0].symbol("t_objective")
            session.add(m.And([m.LE(objective, enc.objective(f)) for f in forms]))
        answer = session.maximize(objective, None if deadline is None else max(0.001, deadline - time.perf_counter()))
        stats = {"unstable_relus": enc.unstable, "solver_calls": session.calls}
        if answer.status == Status.SAT:
            wit = tuple(answer.model[s.symbol_name()] for s in enc.inputs)
            value = search.value(wit)
            if value == answer.value:
                return Found(value, value, wit, f"{backend.name} optimize (ite encoding)", "", stats)
            reason = f"{backend.name} optimum did not replay"
        else:
            reason = answer.reason or f"{backend.name}: no optimum"
        relaxed = self._relaxed(search, forms, stats)
        best = max([relaxed.witness] + [search.clip(x) for x in _attack(search)], key=search.value)
        return Found(search.value(best), relaxed.upper, best, f"relaxation bound + PGD ({backend.name} gave no optimum)", reason, stats)


def _attack(search) -> list[np.ndarray]:
    from .attack import pgd

    box = search.box
    lo = np.array([float(v) for v in box.lower])
    hi = np.array([float(v) for v in box.upper])
    return list(pgd(search.relax.networks, search.forms, lo, hi)[:4])
