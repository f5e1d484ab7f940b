"""Projected gradient ascent (PGD, sign steps) on max_x min_i form_i(z(x)) over a box: candidates, never proofs."""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from ..network import Network
from ..semantics import walk
from ..semantics.floats import FloatGradients

Form = Sequence[Sequence[int]]   # coefficients per network over its outputs


def values_and_gradients(networks: Sequence[Network], forms: Sequence[Form], xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """min_i form_i(z(x)) for a batch and its (sub)gradient with respect to x."""
    xs = np.atleast_2d(np.asarray(xs, dtype=float))
    passes, values = [], np.zeros((xs.shape[0], len(forms)))
    for t, net in enumerate(networks):
        domain = FloatGradients()
        z = walk(net, domain, xs)
        values += z @ np.array([form[t] for form in forms], dtype=float).T
        passes.append(domain)
    pick = values.argmin(axis=1)
    grad = np.zeros_like(xs)
    for t, domain in enumerate(passes):
        grad += domain.pullback(np.array([forms[i][t] for i in pick], dtype=float))
    return values[np.arange(len(pick)), pick], grad


def pgd(networks: Sequence[Network], forms: Sequence[Form], lower: np.ndarray, upper: np.ndarray, *,
        starts: int = 16, steps: int = 40, seed: int = 0, extra: Sequence[np.ndarray] = (),
        deadline: float | None = None) -> np.ndarray:
    """Candidate maximizers (best first): sign-gradient ascent from the centre, `extra` and random points; fewer
    steps if the `deadline` (perf_counter) passes."""
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    rng = np.random.default_rng(seed)
    points = [(lower + upper) / 2, *[np.clip(np.asarray(e, dtype=float), lower, upper) for e in extra]]
    points += list(rng.uniform(lower, upper, size=(max(starts - len(points), 0), lower.size)))
    xs = np.array(points)
    best_x, best_v = xs.copy(), values_and_gradients(networks, forms, xs)[0]
    width = upper - lower
    for s in range(steps):
        if deadline is not None and time.perf_counter() > deadline:
            break
        step = width * 0.5 * (1 - s / steps) + width * 0.01
        _, grad = values_and_gradients(networks, forms, xs)
        xs = np.clip(xs + step * np.sign(grad), lower, upper)
        vals = values_and_gradients(networks, forms, xs)[0]
        better = vals > best_v
        best_x[better], best_v[better] = xs[better], vals[better]
    order = np.argsort(-best_v)
    return best_x[order]
