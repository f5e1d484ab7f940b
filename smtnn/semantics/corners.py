"""The parameter-box corner extreme, derived once for numbers and for terms.

When no free parameter lies before the last hidden layer, max_p c·z(x, p) over the parameter
box decouples (see :mod:`smtnn.bounds`): with u the inputs of the last hidden layer (fixed by
x and the nominal prefix), hidden unit k's pre-activation ranges over
[Σ_j min_w w·u_j + b_lo, Σ_j max_w w·u_j + b_hi], its activation over the monotone images
[h_lo, h_hi], and the output's coefficient g_k = Σ_c c_c W_out[c, k] over an interval; each
product g_k·h_k attains its maximum at a corner.  :func:`corner_extreme` writes this derivation
once against an *arithmetic*: :class:`CornerNumbers` (exact enclosures at one input, with the
corner witness) and :class:`CornerTerms` (piecewise-linear pySMT terms in the inputs).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

from ..exact import Enclosure
from .enclosures import activate, mul

ZERO = Fraction(0)


def corner_extreme(arith, network, perturbation, coeffs: Sequence[int], hidden: Sequence, signs: Sequence,
                   ranges: dict | None = None):
    """max over the parameter box of c·z, given the last hidden layer's inputs `hidden` (their `signs`:
    enclosures whose sign fixes which end of a weight is the larger product).

    ``ranges``: a dict shared by calls with other coefficients on the same `hidden` and `arith`; the ranges
    [h_lo, h_hi] of the last hidden layer do not depend on c, so they are derived once and kept there.
    """
    lower, upper = perturbation.lower, perturbation.upper
    slices = network.layer_slices()
    out_ws, out_bs = slices[-1]
    n_hidden = network.layers[-1].inputs
    constant = ZERO
    for c, a in enumerate(coeffs):
        if a:
            i = out_bs.start + c
            constant += _scaled_range(a, lower[i], upper[i])[1]
            arith.pick(i, upper[i] if a > 0 else lower[i])
    parts = []
    for k in range(n_hidden):
        columns = [(out_ws.start + c * n_hidden + k, a) for c, a in enumerate(coeffs) if a]
        g_lo = g_hi = None
        for i, a in columns:
            lo, hi = _scaled_range(a, lower[i], upper[i])
            g_lo, g_hi = (lo, hi) if g_lo is None else (g_lo + lo, g_hi + hi)
        if g_lo is None:
            g_lo = g_hi = ZERO
        if len(network.layers) == 1:
            choice = arith.product_max(g_lo, g_hi, hidden[k], hidden[k], None, signs[k])
            ends = None
        else:
            layer = network.layers[-2]
            ib = slices[-2][1].start + k
            known = None if ranges is None else ranges.get(k)
            if known is None:
                known = _hidden_range(arith, network, perturbation, k, hidden, signs)
                if ranges is not None:
                    ranges[k] = known
            low, high, h_lo, h_hi = known
            choice = arith.product_max(g_lo, g_hi, h_lo, h_hi, layer, None)
            ends = (low, high)
        parts.append(choice.value)
        for i, a in columns:   # every output weight of column k at the end giving g's chosen end
            arith.pick(i, upper[i] if (a > 0) == choice.g_high else lower[i])
        if ends is not None:
            arith.take(ends[1] if choice.h_high else ends[0], ib, upper[ib] if choice.h_high else lower[ib])
    return arith.result(constant, parts)


def _scaled_range(a: int, lo: Fraction, hi: Fraction) -> tuple[Fraction, Fraction]:
    """(min, max) of a·w over w in [lo, hi]; the coefficients are mostly ±1, which need no multiplication."""
    if a == 1:
        return lo, hi
    if a == -1:
        return -hi, -lo
    return min(a * lo, a * hi), max(a * lo, a * hi)


def _hidden_range(arith, network, perturbation, k: int, hidden: Sequence, signs: Sequence):
    """Hidden unit k of the last hidden layer over the parameter box: (low terms, high terms, h_lo, h_hi)."""
    lower, upper = perturbation.lower, perturbation.upper
    layer = network.layers[-2]
    hws, hbs = network.layer_slices()[-2]
    high, low = [], []
    for j in range(layer.inputs):
        i = hws.start + k * layer.inputs + j
        high.append(arith.weighted_max(i, lower[i], upper[i], hidden[j], signs[j]))
        low.append(arith.weighted_min(i, lower[i], upper[i], hidden[j], signs[j]))
    ib = hbs.start + k
    h_hi = arith.activation(layer, arith.total(high, upper[ib]))
    h_lo = arith.activation(layer, arith.total(low, lower[ib]))
    return low, high, h_lo, h_hi


class Choice:
    """One corner product: its value (a number or a term) and which ends of g and h attain it."""

    __slots__ = ("value", "g_high", "h_high")

    def __init__(self, value, g_high: bool, h_high: bool):
        self.value, self.g_high, self.h_high = value, g_high, h_high


class _Weighted:
    """max or min over w in [lo, hi] of w·u, with the end of w that attains it (for the witness)."""

    __slots__ = ("value", "index", "end")

    def __init__(self, value, index: int, end: Fraction):
        self.value, self.index, self.end = value, index, end


class CornerNumbers:
    """The derivation at one exact input: the bound as an exact number, and a corner witness.

    ``witness`` starts at the nominal parameters; the derivation moves every parameter it uses
    to the end that attains the bound.  Signs come from the nominal prefix.
    """

    def __init__(self, nominal: Sequence[Fraction]):
        self.witness = list(nominal)

    def pick(self, index: int, value: Fraction) -> None:
        self.witness[index] = value

    def take(self, weighted: Sequence[_Weighted], bias_index: int, bias: Fraction) -> None:
        for w in weighted:
            self.witness[w.index] = w.end
        self.witness[bias_index] = bias

    def weighted_max(self, index, lo, hi, u: Enclosure, sign: Enclosure) -> _Weighted:
        return _Weighted(max(lo * u.lo, lo * u.hi, hi * u.lo, hi * u.hi), index, hi if sign.lo >= 0 else lo)

    def weighted_min(self, index, lo, hi, u: Enclosure, sign: Enclosure) -> _Weighted:
        return _Weighted(min(lo * u.lo, lo * u.hi, hi * u.lo, hi * u.hi), index, lo if sign.lo >= 0 else hi)

    def total(self, weighted: Sequence[_Weighted], bias: Fraction) -> Fraction:
        return sum((w.value for w in weighted), ZERO) + bias

    def activation(self, layer, value: Fraction) -> Enclosure:
        return activate(layer.activation, Enclosure.point(value), layer.alpha)

    def product_max(self, g_lo, g_hi, h_lo: Enclosure, h_hi: Enclosure, layer, sign) -> Choice:
        best = None
        for g_high, g in ((False, g_lo), (True, g_hi)):
            for h_high, h in ((False, h_lo), (True, h_hi)):
                product = mul(Enclosure.point(g), h)
                key = (product.lo + product.hi) / 2
                if best is None or key > best[0]:
                    best = (key, g_high, h_high)
        value = max(mul(Enclosure.point(g), h).hi for g in (g_lo, g_hi) for h in (h_lo, h_hi))
        return Choice(value, best[1], best[2])

    def result(self, constant: Fraction, parts: Sequence[Fraction]) -> Fraction:
        return constant + sum(parts, ZERO)


class CornerTerms:
    """The derivation over symbolic inputs: max_p c·z(x, p) as a piecewise-linear pySMT term in x.

    Signs are certified enclosures of the hidden inputs over the input box: where one fixes the
    sign of u_j, the larger product needs no case split.
    """

    def __init__(self, encoder, domain):
        self.encoder, self.mgr, self.domain = encoder, encoder.mgr, domain

    def pick(self, index, value) -> None:
        return None

    def take(self, weighted, bias_index, bias) -> None:
        return None

    def _corner_max(self, lo: Fraction, hi: Fraction, term, bound: Enclosure):
        """max over w in [lo, hi] of w·term."""
        m, real = self.mgr, self.encoder.real
        if lo == hi:
            return m.Times(real(lo), term)
        if bound.lo >= 0:
            return m.Times(real(hi), term)
        if bound.hi <= 0:
            return m.Times(real(lo), term)
        return m.Ite(m.GE(term, real(0)), m.Times(real(hi), term), m.Times(real(lo), term))

    def weighted_max(self, index, lo, hi, u, sign):
        return self._corner_max(lo, hi, u, sign)

    def weighted_min(self, index, lo, hi, u, sign):
        return self.mgr.Times(self.encoder.real(-1), self._corner_max(-hi, -lo, u, sign))

    def total(self, terms, bias: Fraction):
        return self.mgr.Plus(list(terms) + [self.encoder.real(bias)])

    def activation(self, layer, term):
        return getattr(self.domain, layer.activation)(None, layer, [term])[0]

    def product_max(self, g_lo, g_hi, h_lo, h_hi, layer, sign) -> Choice:
        m, real = self.mgr, self.encoder.real
        if layer is None:
            return Choice(self._corner_max(g_lo, g_hi, h_lo, sign), True, True)
        if layer.activation == "relu":   # h >= 0: the larger g, times the end its sign calls for
            return Choice(m.Times(real(g_hi), h_hi if g_hi >= 0 else h_lo), True, True)
        products = [m.Times(real(g), h) for g in sorted({g_lo, g_hi}) for h in (h_lo, h_hi)]
        best = products[0]
        for t in products[1:]:
            best = m.Ite(m.GE(best, t), best, t)
        return Choice(best, True, True)

    def result(self, constant: Fraction, parts):
        return self.mgr.Plus([self.encoder.real(constant)] + list(parts))
