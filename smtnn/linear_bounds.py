"""Float-first bounds under parameter perturbation: outward-rounded interval and linear bounds.

Every bound here is a sound enclosure over the parameter box and an input box, computed in
binary64 with NumPy and rounded outward, so it can stand behind a "holds" without an exact
pass.  Two bounds, always intersected:

- **interval propagation** (:func:`interval_pre_activations`): each layer's pre-activations from
  interval weights times interval activations, summed with a rigorous pad for rounding;
- **linear bounds** (:func:`linear_lower`): a backward pass in the manner of CROWN for weight
  perturbation (Xu et al. 2020, "Automatic perturbation analysis"): a linear function of a
  layer's activations bounds the objective from below; each product w·h of a weight interval and
  an activation interval is replaced by a line a·h + c valid over the whole (w, h) box (the chord
  of min_w w·h, which is w_lo·h exactly when h >= 0), the weight is eliminated at once, and ReLU
  units are relaxed by the usual triangle lines (leaky ReLU by the triangle between α·a, a and the chord).  Any line a (float) is allowed: the constant c is
  computed from a with outward rounding, so the inequality holds exactly.

Rounding is accounted for explicitly: a float matrix product A @ B differs from the exact one by
at most γ_n |A| @ |B| (Higham, *Accuracy and Stability*, Thm. 3.5, any summation order); the
computed coefficients are then taken as the exact coefficients of the next step and the
difference is charged to the constant with the activation magnitudes.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from .network import Network
from .perturbation import Perturbation
from .rounding import TINY as _TINY, UNIT as _UNIT, round_down, round_up
from .semantics import Finished, walk, walk_backward
from .semantics.intervals import leaky_ends

LINEAR_BOUND_ACTIVATIONS = ("relu", "leaky_relu", "linear", "sigmoid", "tanh")
KINKED = ("relu", "leaky_relu")
"""The piecewise-linear activations with a kink at 0, split by branch and bound over phases."""


# -- the parameter box in floats ------------------------------------------------------------
@dataclass(frozen=True)
class LayerBox:
    """One dense layer's parameters as float intervals containing the exact box (fixed: lo is hi)."""

    wlo: np.ndarray
    whi: np.ndarray
    blo: np.ndarray
    bhi: np.ndarray
    activation: str
    alpha: float = 0.0   # leaky relu's negative slope (exactly the model's binary64)
    name: str = ""

    @property
    def fixed(self) -> bool:
        return self.wlo is self.whi and self.blo is self.bhi


_BOX_CACHE: dict[int, tuple[weakref.ref, weakref.ref, list["LayerBox"]]] = {}


def parameter_box(network: Network, perturbation: Perturbation) -> list[LayerBox]:
    """The perturbation box as per-layer float intervals, rounded outward (a superset of the exact box).

    Remembered for the last few (network, perturbation) objects: one query asks for it several times,
    and converting hundreds of thousands of rationals is the slow part.
    """
    key = id(perturbation)
    entry = _BOX_CACHE.get(key)
    if entry is not None and entry[0]() is perturbation and entry[1]() is network:
        return entry[2]
    boxes = _parameter_box(network, perturbation)
    if len(_BOX_CACHE) >= 8:
        _BOX_CACHE.clear()
    _BOX_CACHE[key] = (weakref.ref(perturbation), weakref.ref(network), boxes)
    return boxes


def _parameter_box(network: Network, perturbation: Perturbation) -> list[LayerBox]:
    lo, hi = perturbation.float_box()
    boxes = []
    for layer, (ws, bs) in zip(network.layers, network.layer_slices()):
        shape = layer.weights.shape
        if np.array_equal(lo[ws.start:bs.stop], hi[ws.start:bs.stop]):
            boxes.append(LayerBox(layer.weights, layer.weights, layer.bias, layer.bias, layer.activation, _slope(layer),
                                  layer.name))
        else:
            boxes.append(LayerBox(lo[ws].reshape(shape), hi[ws].reshape(shape), lo[bs], hi[bs], layer.activation,
                                  _slope(layer), layer.name))
    return boxes


def nominal_box(network: Network) -> list[LayerBox]:
    """The unperturbed network as a (point) parameter box."""
    return [LayerBox(l.weights, l.weights, l.bias, l.bias, l.activation, _slope(l), l.name)
            for l in network.layers]


def _slope(layer) -> float:
    """Leaky relu's slope as a float (exact: the network keeps only binary64 slopes), 0 elsewhere."""
    return float(layer.alpha) if layer.alpha is not None else 0.0


# -- rigorous float products ------------------------------------------------------------------
def _gamma(n: int) -> float:
    """An upper bound of γ_n = n u / (1 - n u) with room for the rounding of the bound itself."""
    return (n + 2) * _UNIT * (1 + 1e-6)


def _matmul_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """An elementwise bound of |fl(a @ b) - a @ b| (including underflow)."""
    n = a.shape[-1]
    return _gamma(n) * (np.abs(a) @ np.abs(b)) * (1 + 4 * _UNIT) + (n + 1) * _TINY


def lower_matvec(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A float vector at or below the exact a @ v."""
    return round_down(a @ v - _matmul_error(a, v))


def upper_matvec(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A float vector at or above the exact a @ v."""
    return round_up(a @ v + _matmul_error(a, v))


def sum_down(*terms):
    """A float at or below the exact sum of float terms (rounded down after every addition)."""
    acc = terms[0]
    for t in terms[1:]:
        acc = round_down(acc + t)
    return acc


def _pad_sum(lo, hi, magnitude, terms: int):
    pad = _gamma(terms + 1) * magnitude * (1 + 4 * _UNIT) + (terms + 2) * _TINY
    return round_down(lo - pad), round_up(hi + pad)


def interval_affine(box: LayerBox, hlo: np.ndarray, hhi: np.ndarray):
    """Enclosure of W h + b over the weight box and the activation box (rows of hlo/hhi are boxes)."""
    hlo, hhi = np.atleast_2d(hlo), np.atleast_2d(hhi)
    if box.fixed:
        centre = (hlo + hhi) / 2
        radius = np.maximum(round_up(hhi - centre), round_up(centre - hlo))
        mid = centre @ box.wlo.T + box.blo
        spread = radius @ np.abs(box.wlo).T
        magnitude = (np.maximum(np.abs(hlo), np.abs(hhi)) @ np.abs(box.wlo).T + np.abs(box.blo)) * 3
        return _pad_sum(mid - spread, mid + spread, magnitude, box.wlo.shape[1] + 2)
    los, his, mags = [], [], []
    for row_lo, row_hi in zip(hlo, hhi):
        corners = np.stack([box.wlo * row_lo, box.wlo * row_hi, box.whi * row_lo, box.whi * row_hi])
        lo = corners.min(axis=0).sum(axis=1) + box.blo
        hi = corners.max(axis=0).sum(axis=1) + box.bhi
        mags.append(np.abs(corners).max(axis=0).sum(axis=1) + np.maximum(np.abs(box.blo), np.abs(box.bhi)))
        los.append(lo)
        his.append(hi)
    return _pad_sum(np.array(los), np.array(his), np.array(mags), box.wlo.shape[1])


def activate_interval(kind: str, lo, hi, alpha: float = 0.0):
    """Enclosure of a monotone activation over [lo, hi], rounded outward (`alpha`: leaky relu's slope)."""
    if kind == "linear":
        return lo, hi
    if kind == "relu":
        return np.maximum(lo, 0.0), np.maximum(hi, 0.0)
    if kind == "leaky_relu":
        return leaky_ends(alpha, lo, hi)
    with np.errstate(over="ignore"):
        f = (lambda a: 1.0 / (1.0 + np.exp(-a))) if kind == "sigmoid" else np.tanh
        a, b = f(lo), f(hi)
    # np.exp and np.tanh are accurate to a few ulp; 1e-13 relative is far above that
    floor = 0.0 if kind == "sigmoid" else -1.0
    return np.maximum(a - 1e-13 * np.abs(a) - 1e-300, floor), np.minimum(b + 1e-13 * np.abs(b) + 1e-300, 1.0)


def supported(network: Network) -> bool:
    """True when every hidden activation has a relaxation here (else callers decide nothing)."""
    return all(layer.activation in LINEAR_BOUND_ACTIVATIONS for layer in network.layers[:-1])


# -- pre-activation bounds ---------------------------------------------------------------------
@dataclass
class LayerBounds:
    """Bounds of every hidden layer's pre-activations over (input box × parameter box)."""

    pre: list[tuple[np.ndarray, np.ndarray]]      # per hidden layer: (lower, upper) of W h + b
    inputs: tuple[np.ndarray, np.ndarray]

    def activation_bounds(self, boxes: list[LayerBox], k: int):
        """Bounds of the input to layer k (the network input for k = 0)."""
        if k == 0:
            return self.inputs
        lo, hi = self.pre[k - 1]
        return activate_interval(boxes[k - 1].activation, lo, hi, boxes[k - 1].alpha)


class _Empty(Exception):
    """A phase restriction left a unit without values: that part of the box is empty."""


@dataclass(frozen=True)
class BoxLayers:
    """The parameter box as a layer sequence for :func:`smtnn.semantics.walk` (one LayerBox per layer)."""

    layers: Sequence[LayerBox]


class PreActivationDomain:
    """Outward-rounded float intervals over the parameter box, for the walk: each hidden layer's interval
    bound, intersected with the linear bound from the layers below (``refine``) and restricted to the
    ``phases``, is recorded in ``bounds``; the first ``reuse_layers`` bounds are taken from ``reuse``."""

    description = "outward-rounded float interval bounds over a parameter box"

    def __init__(self, boxes: Sequence[LayerBox], bounds: LayerBounds, refine: bool = False,
                 phases: dict[tuple[int, int], bool] | None = None, reuse: LayerBounds | None = None,
                 reuse_layers: int = 0):
        self.boxes, self.bounds, self.refine = boxes, bounds, refine
        self.phases, self.reuse, self.reuse_layers = phases or {}, reuse, reuse_layers

    def _restrict(self, k: int, lo: np.ndarray, hi: np.ndarray) -> None:
        for (layer, unit), active in self.phases.items():
            if layer == k:
                lo[unit], hi[unit] = (max(lo[unit], 0.0), hi[unit]) if active else (lo[unit], min(hi[unit], 0.0))

    def affine(self, k: int, box: LayerBox, value):
        if k < self.reuse_layers:
            lo, hi = self.reuse.pre[k][0].copy(), self.reuse.pre[k][1].copy()
            self._restrict(k, lo, hi)
            if (lo > hi).any():
                raise _Empty
        else:
            lo, hi = interval_affine(box, *value)
            lo, hi = lo[0], hi[0]
            if self.refine and k > 0:
                n = box.wlo.shape[0]
                eye = np.eye(n)
                lower = linear_lower(self.boxes[:k + 1], self.bounds, np.vstack([eye, -eye]))
                lo, hi = np.maximum(lo, lower[:n]), np.minimum(hi, -lower[n:])
            self._restrict(k, lo, hi)
            if (lo > hi).any():
                if self.phases:
                    raise _Empty
                hi = np.maximum(hi, lo)   # both are sound; crossing ends only by rounding
        self.bounds.pre.append((lo, hi))
        return lo, hi

    def _activate(self, k: int, box: LayerBox, value):
        return activate_interval(box.activation, value[0], value[1], box.alpha)

    relu = leaky_relu = linear = sigmoid = tanh = _activate


def interval_pre_activations(boxes: list[LayerBox], xlo: np.ndarray, xhi: np.ndarray) -> LayerBounds:
    """Plain interval propagation through the hidden layers (one input box)."""
    bounds = LayerBounds([], (xlo, xhi))
    walk(BoxLayers(boxes), PreActivationDomain(boxes, bounds), (xlo, xhi), stop=len(boxes) - 1)
    return bounds


def refined_pre_activations(boxes: list[LayerBox], xlo: np.ndarray, xhi: np.ndarray, linear: bool = True,
                            phases: dict[tuple[int, int], bool] | None = None, reuse: LayerBounds | None = None,
                            reuse_layers: int = 0) -> LayerBounds | None:
    """Interval bounds intersected, layer by layer, with linear bounds computed from the layers below.

    The first layer's interval bound is already exact (each term w_ij·x_j has its own variables).
    `phases` restricts the query to the part of the box where unit (layer, index) is active (True:
    pre-activation >= 0) or inactive (False: <= 0), for branch and bound over ReLU phases; every bound
    stays valid on that part.  None when the restriction is provably empty.  The first `reuse_layers`
    layers' bounds are taken from `reuse` (a query on a superset of this part), then restricted.
    """
    bounds = LayerBounds([], (xlo, xhi))
    domain = PreActivationDomain(boxes, bounds, linear, phases, reuse, reuse_layers)
    try:
        walk(BoxLayers(boxes), domain, (xlo, xhi), stop=len(boxes) - 1)
    except _Empty:
        return None
    return bounds


_ROOT_CACHE: list[tuple] = []   # (boxes, xlo bytes, xhi bytes, linear, bounds), the most recent first


def root_pre_activations(boxes: list[LayerBox], xlo: np.ndarray, xhi: np.ndarray, linear: bool = True) -> LayerBounds:
    """:func:`refined_pre_activations` (or the interval ones) over the whole box, remembered for the last few boxes:
    one query asks for the same bounds several times (both signs of ε, the start, the tightening, the search).
    The cached arrays are read-only."""
    xlo, xhi = np.asarray(xlo, dtype=np.float64), np.asarray(xhi, dtype=np.float64)
    key = (xlo.tobytes(), xhi.tobytes(), linear)
    for entry in _ROOT_CACHE:
        if entry[0] is boxes and entry[1:4] == key:
            return entry[4]
    bounds = refined_pre_activations(boxes, xlo, xhi, linear) if linear else interval_pre_activations(boxes, xlo, xhi)
    for lo, hi in bounds.pre:
        lo.flags.writeable = hi.flags.writeable = False
    _ROOT_CACHE.insert(0, (boxes, *key, bounds))
    del _ROOT_CACHE[4:]
    return bounds


# -- the backward linear pass ---------------------------------------------------------------------
def _product_lines(box: LayerBox, hlo: np.ndarray, hhi: np.ndarray):
    """Lines a·h + c below min_w w·h (lower) and above max_w w·h (upper) over the weight and activation box.

    Returns (a_lower, c_lower, a_upper, c_upper), matrices of the weight shape; c from a with
    outward rounding (min/max of the four corners of (w - a)·h), so any float a is sound.
    """
    wlo, whi = box.wlo, box.whi
    hl, hu = hlo[None, :], hhi[None, :]
    span = np.where(hu > hl, hu - hl, 1.0)
    # chord slopes of the concave min_w w·h and of the convex max_w w·h
    g_lo_l, g_lo_u = np.minimum(wlo * hl, whi * hl), np.minimum(wlo * hu, whi * hu)
    g_hi_l, g_hi_u = np.maximum(wlo * hl, whi * hl), np.maximum(wlo * hu, whi * hu)
    a_lower = np.where(hl >= 0, wlo, np.where(hu <= 0, whi, np.clip((g_lo_u - g_lo_l) / span, wlo, whi)))
    a_upper = np.where(hl >= 0, whi, np.where(hu <= 0, wlo, np.clip((g_hi_u - g_hi_l) / span, wlo, whi)))
    out = []
    for a, lower in ((a_lower, True), (a_upper, False)):
        d_lo, d_hi = round_down(wlo - a), round_up(whi - a)
        if lower:
            c = np.minimum(np.minimum(round_down(d_lo * hl), round_down(d_lo * hu)),
                           np.minimum(round_down(d_hi * hl), round_down(d_hi * hu)))
        else:
            c = np.maximum(np.maximum(round_up(d_lo * hl), round_up(d_lo * hu)),
                           np.maximum(round_up(d_hi * hl), round_up(d_hi * hu)))
        out += [a, c]
    return tuple(out)


def _relu_lines(lo: np.ndarray, hi: np.ndarray):
    """Per unit: lower slope (0 or 1, the adaptive CROWN choice) and the upper line slope·a + intercept."""
    active, inactive = lo >= 0, hi <= 0
    unstable = ~(active | inactive)
    lower_slope = np.where(active, 1.0, np.where(unstable & (hi >= -lo), 1.0, 0.0))
    denominator = np.where(unstable, round_down(hi - lo), 1.0)
    slope = np.where(unstable, round_up(np.where(unstable, hi, 0.0) / denominator), np.where(active, 1.0, 0.0))
    intercept = np.where(unstable, round_up(-slope * lo), 0.0)
    return lower_slope, slope, intercept


def _leaky_lines(lo: np.ndarray, hi: np.ndarray, alpha: float):
    """Leaky relu's lines, as :func:`_relu_lines`: below, slope 1 or alpha through 0 (leaky(a) >= s·a for
    every s in [alpha, 1]); above, the chord of the convex function over [lo, hi], its intercept rounded up
    so the line lies above both ends (hence above the whole interval)."""
    active, inactive = lo >= 0, hi <= 0
    unstable = ~(active | inactive)
    lower_slope = np.where(active, 1.0, np.where(inactive, alpha, np.where(hi >= -lo, 1.0, alpha)))
    lo_u, hi_u = np.where(unstable, lo, -1.0), np.where(unstable, hi, 1.0)
    chord = (hi_u - alpha * lo_u) / (hi_u - lo_u)     # any float slope is sound: the intercept covers it
    at_hi = round_up(hi_u - round_down(chord * hi_u))
    at_lo = round_up(round_up(alpha * lo_u) - round_down(chord * lo_u))
    slope = np.where(unstable, chord, np.where(active, 1.0, alpha))
    intercept = np.where(unstable, np.maximum(at_hi, at_lo), 0.0)
    return lower_slope, slope, intercept


class LinearBoundBackward:
    """Backward domain of :func:`linear_lower`: a linear lower bound λ·h + c of the objective, carried down.

    The value is (λ, c), one row per objective row.  ``affine_back`` eliminates the weights (fixed: exactly;
    perturbed: by the product lines of :func:`_product_lines`) and the bias, charging the rounding of
    λ·W to c over the activation box; ``relu_back``/``leaky_relu_back`` take the lower line where λ >= 0
    and the upper line where λ < 0; ``sigmoid_back``/``tanh_back`` bound the activations by their interval
    and end the walk (:class:`~smtnn.semantics.Finished`), as does ``affine_back`` at the inputs: the
    result is the lower bounds over the input box.
    """

    description = "outward-rounded linear bounds over a parameter box (CROWN back-substitution)"

    def __init__(self, boxes: Sequence[LayerBox], bounds: LayerBounds):
        self.boxes, self.bounds = boxes, bounds
        self._activation_box = None   # (layer, lower, upper): the inputs of the layer last eliminated

    @staticmethod
    def _over_box(coeff, const, hlo, hhi):
        return sum_down(const, lower_matvec(np.maximum(coeff, 0.0), hlo), lower_matvec(np.minimum(coeff, 0.0), hhi))

    def affine_back(self, k: int, box: LayerBox, value):
        lam, const = value
        hlo, hhi = self.bounds.activation_bounds(self.boxes, k)
        self._activation_box = (k, hlo, hhi)
        pos, neg = np.maximum(lam, 0.0), np.minimum(lam, 0.0)
        const = sum_down(const, lower_matvec(pos, box.blo), lower_matvec(neg, box.bhi))
        if box.fixed:
            coeff = lam @ box.wlo
            error = _matmul_error(lam, box.wlo)
        else:
            a_lo, c_lo, a_hi, c_hi = _product_lines(box, hlo, hhi)
            stacked_lam, stacked_a = np.hstack([pos, neg]), np.vstack([a_lo, a_hi])
            coeff = stacked_lam @ stacked_a
            error = _matmul_error(stacked_lam, stacked_a)
            row_lo = lower_matvec(c_lo, np.ones(c_lo.shape[1]))
            row_hi = upper_matvec(c_hi, np.ones(c_hi.shape[1]))
            const = sum_down(const, lower_matvec(pos, row_lo), lower_matvec(neg, row_hi))
        magnitude = np.maximum(np.abs(hlo), np.abs(hhi))
        const = round_down(const - upper_matvec(error, magnitude))
        if k == 0:
            return self._over_box(coeff, const, hlo, hhi)
        return coeff, const

    def linear_back(self, k: int, box: LayerBox, value):
        return value

    def _kinked_back(self, k: int, box: LayerBox, value, lower_slopes: np.ndarray | None = None):
        """``lower_slopes`` (relu only; one row per objective row): the slopes α in [0, 1] of the lines α·a below
        the open units (relu(a) >= α·a for every a), instead of the adaptive 0 or 1."""
        coeff, const = value
        pre_lo, pre_hi = self.bounds.pre[k]
        if box.activation == "relu":
            lower_slope, upper_slope, intercept = _relu_lines(pre_lo, pre_hi)
        else:
            lower_slope, upper_slope, intercept = _leaky_lines(pre_lo, pre_hi, box.alpha)
        lower_slope = lower_slope[None, :]
        if lower_slopes is not None:
            open_units = ((pre_lo < 0) & (pre_hi > 0))[None, :]
            lower_slope = np.where(open_units, np.clip(lower_slopes, 0.0, 1.0), lower_slope)
        cpos, cneg = np.maximum(coeff, 0.0), np.minimum(coeff, 0.0)
        lam = cpos * lower_slope + cneg * upper_slope[None, :]
        const = round_down(const + lower_matvec(cneg, intercept))
        rounding = (2 * _UNIT) * np.abs(lam) + _TINY   # the products with non-0/1 slopes
        const = round_down(const - upper_matvec(rounding, np.maximum(np.abs(pre_lo), np.abs(pre_hi))))
        return lam, const

    relu_back = leaky_relu_back = _kinked_back

    def _interval_back(self, k: int, box: LayerBox, value):
        coeff, const = value
        layer, hlo, hhi = self._activation_box
        assert layer == k + 1, "a hidden layer's _back follows the affine_back of the layer above it"
        return Finished(self._over_box(coeff, const, hlo, hhi))

    sigmoid_back = tanh_back = _interval_back


def linear_lower(boxes: list[LayerBox], bounds: LayerBounds, objective: np.ndarray) -> np.ndarray:
    """Lower bounds of objective @ (output of the last layer in `boxes`) over the input and parameter boxes.

    `bounds` must hold the pre-activation bounds of the layers before the last one.  Hidden
    sigmoid/tanh units are bounded by constants (their interval), relu by the triangle relaxation and
    leaky relu by the triangle between its two lines and their chord (:class:`LinearBoundBackward`).
    """
    lam = np.asarray(objective, dtype=np.float64)
    return walk_backward(BoxLayers(boxes), LinearBoundBackward(boxes, bounds), (lam, np.zeros(lam.shape[0])))


def interval_objective_lower(boxes: list[LayerBox], bounds: LayerBounds, objective: np.ndarray) -> np.ndarray:
    """Lower bounds of objective @ z by intervals, the last layer taken per objective row.

    Row r's coefficient of h_k is the interval Σ_i C_ri W_ik (independent weights), so differences of
    logits are bounded without adding two separate logit intervals.
    """
    box = boxes[-1]
    hlo, hhi = bounds.activation_bounds(boxes, len(boxes) - 1)
    c = np.asarray(objective, dtype=np.float64)
    pos, neg = np.maximum(c, 0.0), np.minimum(c, 0.0)
    g_lo = pos @ box.wlo + neg @ box.whi
    g_hi = pos @ box.whi + neg @ box.wlo
    err = _matmul_error(np.hstack([pos, neg]), np.vstack([box.wlo, box.whi]))
    g_lo, g_hi = round_down(g_lo - err), round_up(g_hi + err)
    corners = np.stack([g_lo * hlo, g_lo * hhi, g_hi * hlo, g_hi * hhi])
    total = corners.min(axis=0).sum(axis=1)
    magnitude = np.abs(corners).max(axis=0).sum(axis=1)
    lo, _ = _pad_sum(total, total, magnitude, hlo.size)
    return sum_down(lo, lower_matvec(pos, box.blo), lower_matvec(neg, box.bhi))


def objective_bounds(network: Network, boxes: list[LayerBox], xlo, xhi, objective, *, linear: bool = True,
                     bounds: LayerBounds | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sound [lower, upper] of each row of objective @ logits over the input box and parameter box.

    The intersection of the interval bound and (with `linear`) the linear bound.
    """
    xlo, xhi = np.asarray(xlo, dtype=np.float64), np.asarray(xhi, dtype=np.float64)
    c = np.atleast_2d(np.asarray(objective, dtype=np.float64))
    if bounds is None:
        bounds = root_pre_activations(boxes, xlo, xhi, linear)
    both = np.vstack([c, -c])
    lower = interval_objective_lower(boxes, bounds, both)
    if linear:
        lower = np.maximum(lower, linear_lower(boxes, bounds, both))
    lower = np.where(np.isnan(lower), -np.inf, lower)   # an overflow (inf - inf) bounds nothing
    m = c.shape[0]
    lo, hi = lower[:m], -lower[m:]
    return lo, np.maximum(hi, lo)


def input_box(x: Sequence[Fraction]) -> tuple[np.ndarray, np.ndarray]:
    """Float ends around exact rational inputs (a point when every value is a float)."""
    approx = np.array([float(v) for v in x])
    exact = np.fromiter((Fraction(f) == v for f, v in zip(approx, x)), dtype=bool, count=len(approx))
    return np.where(exact, approx, round_down(approx)), np.where(exact, approx, round_up(approx))


def domain_box(lower: Sequence[Fraction], upper: Sequence[Fraction]) -> tuple[np.ndarray, np.ndarray]:
    """Float ends outward of a box with exact rational ends."""
    return input_box(lower)[0], input_box(upper)[1]
