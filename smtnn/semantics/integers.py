"""The exact integer domain: a piecewise-linear network's values as integers over a common denominator.

Every float64 parameter is m * 2^e exactly, so each layer is an integer matrix over a power of
two (:func:`scaled`); a value is a vector of Python integers N (NumPy object array) with a
denominator D, the rationals N / D.  Far faster than Fractions and just as exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import lcm
from typing import Callable, Sequence

import numpy as np

from ..rounding import integer_ratios, scaled


class ScaledLayer:
    """One layer as integer weights W / 2^ew and biases b / 2^eb (and leaky relu's slope as N / 2^e)."""

    __slots__ = ("weights", "weight_exponent", "bias", "bias_exponent", "activation", "slope", "slope_exponent")

    def __init__(self, layer):
        self.weights, self.weight_exponent = scaled(layer.weights)
        self.bias, self.bias_exponent = scaled(layer.bias)
        self.activation = layer.activation
        self.slope, self.slope_exponent = (None, 0)
        if layer.alpha is not None:
            ints, e = scaled(np.array([float(layer.alpha)]))
            self.slope, self.slope_exponent = int(ints[0]), e


class IntegerValue:
    """The rationals numerators / denominator."""

    __slots__ = ("numerators", "denominator")

    def __init__(self, numerators: np.ndarray, denominator: int):
        self.numerators, self.denominator = numerators, denominator

    @classmethod
    def of(cls, x: Sequence[Fraction]) -> "IntegerValue":
        den = lcm(*[Fraction(v).denominator for v in x]) if len(x) else 1
        return cls(np.array([int(Fraction(v) * den) for v in x], dtype=object), den)

    def fractions(self) -> list[Fraction]:
        return [Fraction(int(v), self.denominator) for v in self.numerators]


class IntegerDomain:
    """Exact forward passes of relu/leaky relu/linear layers; ``masks`` records which units are active
    (pre-activation >= 0) per hidden layer."""

    description = "exact integer arithmetic (piecewise-linear layers only)"

    def __init__(self, layers: Sequence[ScaledLayer]):
        self.layers = layers
        self.masks: list[np.ndarray] = []

    def affine(self, index, layer, value: IntegerValue) -> IntegerValue:
        s = self.layers[index]
        den, ew, eb = value.denominator, s.weight_exponent, s.bias_exponent
        d_new = lcm(den << ew, 1 << eb)
        a = (s.weights @ value.numerators) * (d_new // (den << ew)) + s.bias * (d_new // (1 << eb))
        return IntegerValue(a, d_new)

    def _mask(self, a: IntegerValue) -> None:
        self.masks.append(np.array([v >= 0 for v in a.numerators]))

    def linear(self, index, layer, a: IntegerValue) -> IntegerValue:
        self._mask(a)
        return a

    def relu(self, index, layer, a: IntegerValue) -> IntegerValue:
        self._mask(a)
        return IntegerValue(np.array([v if v > 0 else 0 for v in a.numerators], dtype=object), a.denominator)

    def leaky_relu(self, index, layer, a: IntegerValue) -> IntegerValue:
        self._mask(a)
        s = self.layers[index]
        e = s.slope_exponent
        out = np.array([v << e if v > 0 else v * s.slope for v in a.numerators], dtype=object)
        return IntegerValue(out, a.denominator << e)


@dataclass(frozen=True)
class AffineForms:
    """rows · a(x) = (numerators x) / 2^exponent + constants, one row per form (exact integers and rationals)."""

    numerators: np.ndarray
    exponent: int
    constants: list[Fraction]

    @classmethod
    def rows(cls, rows) -> "AffineForms":
        """The integer rows themselves, as functionals of the affine values they are given over."""
        rows = np.asarray(rows, dtype=object)
        return cls(rows, 0, [Fraction(0)] * rows.shape[0])


class PatternBackward:
    """Backward domain: exact back-substitution through a fixed activation pattern (piecewise-linear layers only).

    On the region where hidden layer k's units are active as ``active(k)`` says (a bool per unit), every
    layer is affine in the inputs; functionals of a layer's affine values become integer forms over a
    power of two plus exact constants, far faster than Fractions.  ``affine_back`` adds each bias term
    to the constants; ``relu_back`` keeps the active columns; ``leaky_relu_back`` scales the inactive
    ones by the slope N / 2^E (and the active ones by 2^E).
    """

    description = "exact integer back-substitution on an activation pattern (piecewise-linear layers only)"

    def __init__(self, layers: Sequence[ScaledLayer], active: Callable[[int], np.ndarray]):
        self.layers, self.active = layers, active

    def affine_back(self, index, layer, forms: AffineForms) -> AffineForms:
        s = self.layers[index]
        e, constants = forms.exponent, forms.constants
        for i, v in enumerate(forms.numerators @ s.bias):
            constants[i] += Fraction(int(v), 1 << (e + s.bias_exponent))
        return AffineForms(forms.numerators @ s.weights, e + s.weight_exponent, constants)

    def linear_back(self, index, layer, forms: AffineForms) -> AffineForms:
        return forms

    def relu_back(self, index, layer, forms: AffineForms) -> AffineForms:
        return AffineForms(forms.numerators * np.asarray(self.active(index), dtype=bool), forms.exponent, forms.constants)

    def leaky_relu_back(self, index, layer, forms: AffineForms) -> AffineForms:
        s = self.layers[index]   # slope 1 = 2^E / 2^E where active, N / 2^E elsewhere
        factor = np.array([(1 << s.slope_exponent) if on else s.slope for on in np.asarray(self.active(index), dtype=bool)],
                          dtype=object)
        return AffineForms(forms.numerators * factor, forms.exponent + s.slope_exponent, forms.constants)


class DenominatorTooLarge(ArithmeticError):
    """A common denominator outgrew the bound a :class:`RationalParameterDomain` was given."""


def common_integers(fractions: Sequence[Fraction], max_bits: int) -> IntegerValue:
    """Rationals as integer numerators over one common denominator of at most `max_bits` bits."""
    numerators, denominators = integer_ratios(fractions)
    denominator = 1
    for d in set(denominators.tolist()):   # few distinct denominators: one lcm each
        denominator = lcm(denominator, d)
        if denominator.bit_length() > max_bits:
            raise DenominatorTooLarge(f"common denominator above 2^{max_bits}")
    return IntegerValue(numerators * (denominator // denominators), denominator)


class RationalParameterDomain:
    """Exact forward passes of relu/leaky relu/linear layers at rational parameters (a flat sequence in
    the network's layout), as integers over one common denominator per layer.

    Raises :class:`DenominatorTooLarge` once a denominator needs more than `max_bits` bits, so a
    caller can fall back to plain Fractions; the values are the same either way.
    """

    description = "exact integer arithmetic at rational parameters (piecewise-linear layers only)"

    def __init__(self, network, parameters: Sequence[Fraction], max_bits: int):
        self.parameters, self.max_bits = parameters, max_bits
        self.slices = network.layer_slices()

    def affine(self, index, layer, value: IntegerValue) -> IntegerValue:
        ws, bs = self.slices[index]
        w = common_integers(self.parameters[ws], self.max_bits)
        b = common_integers(self.parameters[bs], self.max_bits)
        scale = w.denominator * value.denominator
        common = lcm(scale, b.denominator)
        if common.bit_length() > self.max_bits:
            raise DenominatorTooLarge(f"common denominator above 2^{self.max_bits}")
        a = (w.numerators.reshape(layer.weights.shape).dot(value.numerators) * (common // scale)
             + b.numerators * (common // b.denominator))
        return IntegerValue(a, common)

    def linear(self, index, layer, a: IntegerValue) -> IntegerValue:
        return a

    def relu(self, index, layer, a: IntegerValue) -> IntegerValue:
        return IntegerValue(np.array([v if v > 0 else 0 for v in a.numerators], dtype=object), a.denominator)

    def leaky_relu(self, index, layer, a: IntegerValue) -> IntegerValue:
        alpha = Fraction(layer.alpha)
        out = np.array([v * alpha.denominator if v > 0 else v * alpha.numerator for v in a.numerators], dtype=object)
        return IntegerValue(out, a.denominator * alpha.denominator)
