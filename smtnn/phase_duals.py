"""Lagrangian bounds for branch-and-bound nodes over relu phases (the multipliers of β-CROWN, Wang et al. 2021).

On a node's part of the box every relu unit whose phase is known (fixed by a split, or stable under
the node's pre-activation bounds) satisfies s·a >= 0, with s = +1 (active) or -1 (inactive).  For any
multipliers β >= 0 the objective is then at least L(a) - Σ β s a there, where L is the CROWN lower
bound of :mod:`smtnn.linear_bounds`; so subtracting β·s from the coefficient of each such unit during
the backward pass gives a sound lower bound for every β >= 0.  Without it the split constraints act
only through the triangle relaxation, and a node where every phase is fixed is bounded as if the
phases held on the whole parameter box.

The open units' lower lines α·a take slopes α in [0, 1] per objective row (α-CROWN, Xu et al. 2021)
instead of the adaptive 0 or 1: relu(a) >= α·a for every a, so any such α is sound as well.

β and α are chosen by projected supergradient ascent (Adam steps) on a float copy of the pass: the
bound is a minimum of functions linear in β (and in α), and -s·a (the coefficient times a) at the
minimizing parameters, inputs and relaxed activations is a supergradient.  No rounding care is needed
there: the chosen values are then passed to the outward-rounded pass (:func:`lagrangian_lower`), which
is sound for any β >= 0 and α in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .linear_bounds import (BoxLayers, LayerBounds, LayerBox, LinearBoundBackward, _product_lines, _relu_lines)
from .semantics import walk_backward

ADAM_RATE = 0.05
"""Step size of the Adam ascent on β (objective per unit of pre-activation) and α (a slope)."""


def applicable(boxes: list[LayerBox]) -> bool:
    """Every hidden layer is relu (the multipliers' supergradient assumes h = relu(a) >= 0)."""
    return all(box.activation == "relu" for box in boxes[:-1])


def phase_signs(bounds: LayerBounds) -> list[np.ndarray]:
    """Per hidden layer: +1 where the pre-activation is known >= 0, -1 where known <= 0, 0 where open."""
    return [np.where(lo >= 0, 1.0, np.where(hi <= 0, -1.0, 0.0)) for lo, hi in bounds.pre]


@dataclass
class Multipliers:
    """Per hidden layer, one row per objective row: the multipliers β >= 0 of the units of known phase and the
    slopes α in [0, 1] of the lines α·a below the open units (α-CROWN's optimized lower slopes)."""

    betas: list[np.ndarray]
    slopes: list[np.ndarray]

    def copy(self) -> "Multipliers":
        return Multipliers([b.copy() for b in self.betas], [a.copy() for a in self.slopes])


def starting_multipliers(bounds: LayerBounds, rows: int) -> Multipliers:
    """β = 0 and the adaptive slopes (1 where the unit's range is mostly positive, else 0): the plain linear bound."""
    slopes = [np.broadcast_to(_relu_lines(lo, hi)[0], (rows, len(lo))).copy() for lo, hi in bounds.pre]
    return Multipliers([np.zeros((rows, len(lo))) for lo, _ in bounds.pre], slopes)


class _LagrangianBackward(LinearBoundBackward):
    """:class:`LinearBoundBackward` with the open units' lower slopes α and β·s subtracted from the coefficients
    of each hidden layer's units of known phase.

    The subtraction is done in floats: fl(λ - t) lies between λ and λ - t, so it equals λ - β'·s for some
    β' >= 0 of the same sign pattern, and the bound stays sound without a rounding charge; any α in [0, 1]
    gives a valid line (its products are charged like the adaptive slopes').
    """

    def __init__(self, boxes, bounds: LayerBounds, shifts: list[np.ndarray], slopes: list[np.ndarray]):
        super().__init__(boxes, bounds)
        self.shifts, self.slopes = shifts, slopes

    def relu_back(self, k: int, box: LayerBox, value):
        lam, const = self._kinked_back(k, box, value, self.slopes[k])
        return lam - self.shifts[k], const


def lagrangian_lower(boxes: list[LayerBox], bounds: LayerBounds, objective: np.ndarray,
                     multipliers: Multipliers) -> np.ndarray:
    """Sound lower bounds of objective @ logits on the node's part of the box, for any multipliers β >= 0 and
    slopes α in [0, 1] (clipped to those ranges here)."""
    signs = phase_signs(bounds)
    shifts = [np.maximum(b, 0.0) * s[None, :] for b, s in zip(multipliers.betas, signs)]
    lam = np.asarray(objective, dtype=np.float64)
    backward = _LagrangianBackward(boxes, bounds, shifts, multipliers.slopes)
    return walk_backward(BoxLayers(boxes), backward, (lam, np.zeros(lam.shape[0])))


@dataclass
class _Pass:
    """The float mirror's bound per row and its supergradients: -s·a for β, and, for the open units on their
    lower line, the coefficient times a for α (per hidden layer)."""

    bound: np.ndarray
    beta_gradients: list[np.ndarray]
    slope_gradients: list[np.ndarray]


def _mirror(boxes: list[LayerBox], bounds: LayerBounds, objective: np.ndarray, multipliers: Multipliers,
            signs: list[np.ndarray]) -> _Pass:
    """The backward pass of :func:`lagrangian_lower` in plain floats, then a forward pass at its minimizer."""
    hidden = len(boxes) - 1
    lam = np.asarray(objective, dtype=np.float64)
    const = np.zeros(lam.shape[0])
    on_affine = [None] * (hidden + 1)      # per layer: the coefficients of its affine values
    on_output = [None] * hidden            # per hidden layer: the coefficients of its relu outputs
    lines = [None] * hidden
    for k in range(hidden, -1, -1):
        box = boxes[k]
        if k < hidden:
            lo, hi = bounds.pre[k]
            _, upper_slope, intercept = _relu_lines(lo, hi)
            open_units = ((lo < 0) & (hi > 0))[None, :]
            lower_slope = np.where(open_units, multipliers.slopes[k], np.where(lo >= 0, 1.0, 0.0)[None, :])
            lines[k] = (lower_slope, upper_slope, intercept, open_units)
            on_output[k] = lam
            pos, neg = np.maximum(lam, 0.0), np.minimum(lam, 0.0)
            const = const + neg @ intercept
            lam = pos * lower_slope + neg * upper_slope - multipliers.betas[k] * signs[k][None, :]
        on_affine[k] = lam
        pos, neg = np.maximum(lam, 0.0), np.minimum(lam, 0.0)
        const = const + pos @ box.blo + neg @ box.bhi
        if k == 0:
            xlo, xhi = bounds.inputs
            a_lo, c_lo, a_hi, c_hi = _product_lines(box, xlo, xhi)
            coeff = pos @ a_lo + neg @ a_hi
            const = const + pos @ c_lo.sum(axis=1) + neg @ c_hi.sum(axis=1)
            const = const + np.maximum(coeff, 0.0) @ xlo + np.minimum(coeff, 0.0) @ xhi
            x_star = np.where(coeff >= 0, xlo[None, :], xhi[None, :])
        else:
            lam = pos @ box.wlo + neg @ box.whi       # the inputs h of layer k are >= 0
    beta_gradients, slope_gradients = [], []
    h = x_star
    for k in range(hidden):
        box, lam = boxes[k], on_affine[k]
        low = lam >= 0                                # the minimizer takes the low weight where λ_i >= 0
        if k == 0:   # min (max) over w of w·x is mid·x - (+) rad·|x|
            middle, spread = h @ ((box.wlo + box.whi) / 2).T, np.abs(h) @ ((box.whi - box.wlo) / 2).T
            a = np.where(low, middle - spread, middle + spread)
        else:
            a = np.where(low, h @ box.wlo.T, h @ box.whi.T)
        a = a + np.where(low, box.blo[None, :], box.bhi[None, :])
        beta_gradients.append(-signs[k][None, :] * a)
        lower_slope, upper_slope, intercept, open_units = lines[k]
        upper_line = on_output[k] < 0
        slope_gradients.append(np.where(open_units & ~upper_line, on_output[k] * a, 0.0))
        h = np.where(upper_line, upper_slope * a + intercept, lower_slope * a)
    return _Pass(const, beta_gradients, slope_gradients)


class _Adam:
    """Projected Adam ascent steps on a list of arrays, each clipped to [low, high] after the step."""

    def __init__(self, values: list[np.ndarray], low: float, high: float):
        self.values, self.low, self.high = values, low, high
        self.first = [np.zeros_like(v) for v in values]
        self.second = [np.zeros_like(v) for v in values]

    def step(self, gradients: list[np.ndarray], count: int) -> None:
        for v, g, m, s in zip(self.values, gradients, self.first, self.second):
            g = np.where(np.isfinite(g), g, 0.0)
            m *= 0.9
            m += 0.1 * g
            s *= 0.999
            s += 0.001 * g * g
            v += ADAM_RATE * (m / (1 - 0.9 ** count)) / (np.sqrt(s / (1 - 0.999 ** count)) + 1e-12)
            np.clip(v, self.low, self.high, out=v)


def optimized_multipliers(boxes: list[LayerBox], bounds: LayerBounds, objective: np.ndarray,
                          start: Multipliers | None = None, iterations: int = 30) -> Multipliers:
    """Multipliers β and slopes α that raise the lower bound, by Adam ascent from `start` (default: the plain
    linear bound's) on the float mirror; the best iterate per objective row is kept."""
    objective = np.atleast_2d(np.asarray(objective, dtype=np.float64))
    rows = objective.shape[0]
    signs = phase_signs(bounds)
    current = starting_multipliers(bounds, rows) if start is None else start.copy()
    best = current.copy()
    best_bound = np.full(rows, -np.inf)
    betas, slopes = _Adam(current.betas, 0.0, np.inf), _Adam(current.slopes, 0.0, 1.0)
    for count in range(1, iterations + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            result = _mirror(boxes, bounds, objective, current, signs)
        bound = np.where(np.isfinite(result.bound), result.bound, -np.inf)
        better = bound > best_bound
        if better.any():
            best_bound = np.where(better, bound, best_bound)
            for kept, now in zip(best.betas + best.slopes, current.betas + current.slopes):
                kept[better] = now[better]
        betas.step(result.beta_gradients, count)
        slopes.step(result.slope_gradients, count)
    return best
