"""Lagrangian bounds for branch-and-bound nodes over relu phases (the multipliers of β-CROWN, Wang et al. 2021).

On a node's part of the box every relu unit whose phase is known (fixed by a split, or stable under
the node's pre-activation bounds) satisfies s·a >= 0, with s = +1 (active) or -1 (inactive).  For any
multipliers β >= 0 the objective is then at least L(a) - Σ β s a there, where L is the CROWN lower
bound of :mod:`smtnn.linear_bounds`; so subtracting β·s from the coefficient of each such unit during
the backward pass gives a sound lower bound for every β >= 0.  Without it the split constraints act
only through the triangle relaxation, and a node where every phase is fixed is bounded as if the
phases held on the whole parameter box.

β is chosen by projected supergradient ascent (Adam steps) on a float copy of the pass: the bound is
a minimum of functions linear in β, and s·a at the minimizing parameters, inputs and relaxed
activations is a supergradient.  No rounding care is needed there: the chosen β is then passed to
the outward-rounded pass (:func:`lagrangian_lower`), which is sound for any β >= 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .linear_bounds import (BoxLayers, LayerBounds, LayerBox, LinearBoundBackward, _product_lines, _relu_lines)
from .semantics import walk_backward

ADAM_RATE = 0.05
"""Step size of the multipliers' Adam ascent (β is in units of the objective per unit of pre-activation)."""


def applicable(boxes: list[LayerBox]) -> bool:
    """Every hidden layer is relu (the multipliers' supergradient assumes h = relu(a) >= 0)."""
    return all(box.activation == "relu" for box in boxes[:-1])


def phase_signs(bounds: LayerBounds) -> list[np.ndarray]:
    """Per hidden layer: +1 where the pre-activation is known >= 0, -1 where known <= 0, 0 where open."""
    return [np.where(lo >= 0, 1.0, np.where(hi <= 0, -1.0, 0.0)) for lo, hi in bounds.pre]


class _LagrangianBackward(LinearBoundBackward):
    """:class:`LinearBoundBackward` with β·s subtracted from the coefficients of each hidden layer's units.

    The subtraction is done in floats: fl(λ - t) lies between λ and λ - t, so it equals λ - β'·s for some
    β' >= 0 of the same sign pattern, and the bound stays sound without a rounding charge.
    """

    def __init__(self, boxes, bounds: LayerBounds, shifts: list[np.ndarray]):
        super().__init__(boxes, bounds)
        self.shifts = shifts

    def relu_back(self, k: int, box: LayerBox, value):
        lam, const = self._kinked_back(k, box, value)
        return lam - self.shifts[k], const


def lagrangian_lower(boxes: list[LayerBox], bounds: LayerBounds, objective: np.ndarray,
                     betas: list[np.ndarray]) -> np.ndarray:
    """Sound lower bounds of objective @ logits on the node's part of the box, for multipliers betas >= 0
    (per hidden layer, one row per objective row)."""
    signs = phase_signs(bounds)
    shifts = [np.maximum(b, 0.0) * s[None, :] for b, s in zip(betas, signs)]
    lam = np.asarray(objective, dtype=np.float64)
    return walk_backward(BoxLayers(boxes), _LagrangianBackward(boxes, bounds, shifts), (lam, np.zeros(lam.shape[0])))


@dataclass
class _Pass:
    """The float mirror's bound per row and the supergradient -s·a per hidden layer."""

    bound: np.ndarray
    gradients: list[np.ndarray]


def _mirror(boxes: list[LayerBox], bounds: LayerBounds, objective: np.ndarray, betas: list[np.ndarray],
            signs: list[np.ndarray]) -> _Pass:
    """The backward pass of :func:`lagrangian_lower` in plain floats, then a forward pass at its minimizer."""
    hidden = len(boxes) - 1
    lam = np.asarray(objective, dtype=np.float64)
    const = np.zeros(lam.shape[0])
    on_affine = [None] * (hidden + 1)      # per layer: the coefficients of its affine values
    on_output = [None] * hidden            # per hidden layer: the coefficients of its relu outputs
    for k in range(hidden, -1, -1):
        box = boxes[k]
        if k < hidden:
            lower_slope, upper_slope, intercept = _relu_lines(*bounds.pre[k])
            on_output[k] = lam
            pos, neg = np.maximum(lam, 0.0), np.minimum(lam, 0.0)
            const = const + neg @ intercept
            lam = pos * lower_slope + neg * upper_slope - betas[k] * signs[k][None, :]
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
    gradients = []
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
        gradients.append(-signs[k][None, :] * a)
        lower_slope, upper_slope, intercept = _relu_lines(*bounds.pre[k])
        upper_line = on_output[k] < 0
        h = np.where(upper_line, upper_slope * a + intercept, lower_slope * a)
    return _Pass(const, gradients)


def optimized_multipliers(boxes: list[LayerBox], bounds: LayerBounds, objective: np.ndarray,
                          start: list[np.ndarray] | None = None, iterations: int = 30) -> list[np.ndarray]:
    """Multipliers β >= 0 that raise the lower bound, by Adam ascent from `start` (default 0) on the float mirror;
    the best iterate per objective row is kept."""
    objective = np.atleast_2d(np.asarray(objective, dtype=np.float64))
    rows = objective.shape[0]
    signs = phase_signs(bounds)
    betas = [np.zeros((rows, len(s))) for s in signs] if start is None else [b.copy() for b in start]
    best = [b.copy() for b in betas]
    best_bound = np.full(rows, -np.inf)
    first = [np.zeros_like(b) for b in betas]
    second = [np.zeros_like(b) for b in betas]
    for step in range(1, iterations + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            result = _mirror(boxes, bounds, objective, betas, signs)
        bound = np.where(np.isfinite(result.bound), result.bound, -np.inf)
        better = bound > best_bound
        if better.any():
            best_bound = np.where(better, bound, best_bound)
            for b, current in zip(best, betas):
                b[better] = current[better]
        for b, g, m, v in zip(betas, result.gradients, first, second):
            g = np.where(np.isfinite(g), g, 0.0)
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            b += ADAM_RATE * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-12)
            np.maximum(b, 0.0, out=b)
    return best
