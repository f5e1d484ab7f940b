"""Certified extremes of linear functions of the logits over a box, by three engines.

- ``exact``: branch and bound with certified LP bounds and exact leaf LPs (:mod:`.bnb`);
  ends meet at an exact rational unless the timeout strikes.
- ``z3``: both networks as one pySMT formula (relu as ite) and Z3's exact optimizer; exact
  but practical only for small networks (the dense rational simplex is slow beyond ~16 units).
- ``relaxation``: interval bounds and the triangle LP (HiGHS) with a dual certificate; quick,
  valid, looser.  Its attained end is the best of the LP point and the box centre.
Every witness value is recomputed exactly (integer forward passes); :meth:`Analysis.confirm`
replays a reported witness with :func:`smtnn.bounds.replay_logits` in exact rationals.
"""
from __future__ import annotations

import time
from dataclasses import replace
from fractions import Fraction
from typing import NamedTuple, Sequence

import numpy as np

from ..domain import Box
from ..errors import InvalidInputError
from ..network import Network
from .bnb import Search
from .exactnet import ExactNetwork
from .pair import exact_logits
from .relaxation import Relaxation
from .result import ENGINES, Extreme

Form = tuple[tuple[int, ...], ...]


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise InvalidInputError(f"unknown engine '{engine}'; choose one of {', '.join(ENGINES)}")
    return engine


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
        self._relaxation: Relaxation | None = None
        self.exact_networks = [ExactNetwork(n) for n in self.networks]

    @property
    def relaxation(self) -> Relaxation:
        if self._relaxation is None:
            self._relaxation = Relaxation(self.networks, self.box, tighten=self.tighten)
        return self._relaxation

    def value(self, forms: Sequence[Form], x: Sequence[Fraction], replay: bool = False) -> Fraction:
        """min_i form_i(z(x)) in exact arithmetic: integer forward passes, or smtnn.bounds.replay_logits."""
        zs = [exact_logits(n, x) for n in self.networks] if replay else [e.logits(x) for e in self.exact_networks]
        return min(sum((c * z for cs, zt in zip(f, zs) for c, z in zip(cs, zt) if c), Fraction(0)) for f in forms)

    def confirm(self, extreme: Extreme, forms: Sequence[Form]) -> Extreme:
        """The extreme after replaying its witness with smtnn.bounds.replay_logits (AssertionError if it differs)."""
        if self.value(forms, extreme.witness, replay=True) != extreme.attained:
            raise AssertionError(f"{extreme.quantity}: the witness does not replay to {float(extreme.attained)}")
        return replace(extreme, stats={**extreme.stats, "replayed": "smtnn.bounds.replay_logits"})

    def extreme(self, forms: Sequence[Form], sense: str, engine: str = "exact", *, quantity: str = "",
                timeout: float | None = None, floor: Fraction | None = None, seeds=(), tolerance=0) -> Extreme:
        """max of min_i form_i (sense 'max') or min of a single form (sense 'min') over the box.

        ``floor``: only values beyond it matter (below it for a min, above it for a max); the
        search may then stop with the proven end at the floor.  ``seeds``: inputs to start from.
        ``tolerance``: the exact engine may stop once its certified gap is at most this (0: exact).
        """
        check_engine(engine)
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
        return Extreme(quantity, sense, lower, upper, wit, engine, method, time.perf_counter() - start, reason, stats)

    def _maximize(self, forms, engine, timeout, floor, seeds=(), tolerance=0) -> "Found":
        relax = self.relaxation
        search = Search(relax, forms, self.exact_networks)
        if engine == "exact":
            out = search.run(timeout=timeout, floor=floor, seeds=[s for s in seeds if s is not None], tolerance=tolerance)
            stats = {"nodes": out.nodes, "leaves": out.leaves, "lp_calls": out.lp_calls,
                     "unstable_relus": len(relax.unstable()), **out.stats}
            return Found(out.lower, out.upper, out.witness, "branch and bound: certified LP bounds, exact leaf LPs", out.reason, stats)
        if engine == "relaxation":
            return self._relaxed(search, forms, {"unstable_relus": len(relax.unstable())})
        return self._z3(search, forms, timeout)

    def _relaxed(self, search: Search, forms, stats: dict) -> "Found":
        upper, point, _ = search.bound({})
        interval_upper = min(hi for _, hi in (self.relaxation.interval(f) for f in forms))
        upper = interval_upper if upper is None else min(upper, interval_upper)
        centre = tuple((a + b) / 2 for a, b in zip(self.box.lower, self.box.upper))
        candidates = [centre] + ([search.clip(point[self.relaxation.x])] if point is not None else [])
        wit = max(candidates, key=search.value)
        lower = search.value(wit)
        return Found(lower, max(upper, lower), wit, "interval bounds + triangle LP (HiGHS), dual certificate", "", stats)

    def _z3(self, search: Search, forms, timeout) -> "Found":
        from ..backends import Status, get_backend
        from .encode import PairEncoding

        enc = PairEncoding(self.relaxation)
        m = enc.mgr
        session = get_backend("z3").session(enc.encoders[0])
        session.add(enc.formula)
        if len(forms) == 1:
            objective = enc.objective(forms[0])
        else:
            objective = enc.encoders[0].symbol("t_objective")
            session.add(m.And([m.LE(objective, enc.objective(f)) for f in forms]))
        answer = session.maximize(objective, timeout)
        stats = {"unstable_relus": enc.unstable, "solver_calls": session.calls}
        if answer.status == Status.SAT:
            wit = tuple(answer.model[s.symbol_name()] for s in enc.inputs)
            value = search.value(wit)
            if value == answer.value:
                return Found(value, value, wit, "z3 optimize (ite encoding)", "", stats)
            reason = "z3 optimum did not replay"
        else:
            reason = answer.reason or "z3: no optimum"
        relaxed = self._relaxed(search, forms, stats)
        best = max([relaxed.witness] + [search.clip(x) for x in _attack(search)], key=search.value)
        return Found(search.value(best), relaxed.upper, best, "relaxation bound + PGD (z3 gave no optimum)", reason, stats)


def _attack(search: Search) -> list[np.ndarray]:
    from .attack import pgd

    box = search.box
    lo = np.array([float(v) for v in box.lower])
    hi = np.array([float(v) for v in box.upper])
    return list(pgd(search.relax.networks, search.forms, lo, hi)[:4])
