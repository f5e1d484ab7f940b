"""Exact numbers: floats to the rationals they denote, and certified enclosures of exp-based functions.

Every float that enters a formula goes through :func:`to_fraction` (one place, as pySMT's
``Real`` rejects NumPy scalars).  Transcendental values (sigmoid, tanh, logit) are enclosed
by mpmath's interval arithmetic, so a reported bound is a bound, not a rounding.
"""
from __future__ import annotations

import functools
import math
import re
import numbers
from fractions import Fraction

import mpmath
from mpmath.libmp import fone, from_int, mpf_add, mpf_div, mpf_exp, mpf_neg, round_ceiling, round_floor

from .errors import InvalidInputError

_IV = mpmath.iv
_IV.prec = 120


def to_fraction(value) -> Fraction:
    """The exact rational a number denotes: a float's binary value, a string's decimal value."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise InvalidInputError(f"expected a number, got {value!r}")
    if isinstance(value, numbers.Integral):
        return Fraction(int(value))
    if isinstance(value, str):
        return _parse_decimal(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise InvalidInputError(f"{value!r} is not a finite number")
    return Fraction(number)


_EXPONENT = re.compile(r"[eE]([+-]?\d+)\s*$")
MAX_EXPONENT = 1000
MAX_DIGITS = 4_000


def differ(a: Fraction, b: Fraction) -> bool:
    """a != b for rationals in lowest terms (Fractions, ints), without Fraction.__eq__'s type dispatch (hot on big boxes)."""
    return a is not b and (a.numerator != b.numerator or a.denominator != b.denominator)


def _parse_decimal(text: str) -> Fraction:
    """A decimal or fraction string as an exact rational; exponents beyond ±1000 are refused, not expanded."""
    shown = text if len(text) <= 40 else text[:37] + "..."
    if len(text) > MAX_DIGITS:
        raise InvalidInputError(f"{shown!r} has more than {MAX_DIGITS} characters: give a shorter number")
    exponent = _EXPONENT.search(text)
    if exponent and abs(int(exponent.group(1))) > MAX_EXPONENT:
        raise InvalidInputError(f"{shown!r} has a decimal exponent beyond ±{MAX_EXPONENT}: give a number "
                                f"between 1e-{MAX_EXPONENT} and 1e{MAX_EXPONENT} in magnitude (or 0)")
    try:
        return Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise InvalidInputError(f"{shown!r} is not a number") from None


class Enclosure:
    """A certified real interval [lo, hi] with rational endpoints."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo: Fraction, hi: Fraction):
        self.lo, self.hi = lo, hi

    @classmethod
    def of_mpi(cls, value) -> "Enclosure":
        """The rational endpoints of an mpmath interval (endpoints below 2^-4096 in magnitude rounded outward)."""
        lo, hi = value._mpi_
        return cls(_endpoint(lo, down=True), _endpoint(hi, down=False))

    @classmethod
    def point(cls, value: Fraction) -> "Enclosure":
        return cls(value, value)

    @property
    def width(self) -> Fraction:
        return self.hi - self.lo

    def __sub__(self, other: "Enclosure") -> "Enclosure":
        return Enclosure(self.lo - other.hi, self.hi - other.lo)

    def __neg__(self) -> "Enclosure":
        return Enclosure(-self.hi, -self.lo)

    def __repr__(self) -> str:
        return f"Enclosure({float(self.lo)!r}, {float(self.hi)!r})"


_TINY_EXPONENT = -4096


def _endpoint(raw, down: bool) -> Fraction:
    """An interval endpoint as a rational; one of magnitude below 2^-4096 becomes 0 or ±2^-4096, rounded outward.

    sigmoid(-1e9) is about 2^-1.4e9: as an exact fraction it would take seconds and gigabytes to build.
    """
    sign, mantissa, exponent, bits = raw
    if mantissa and exponent + bits <= _TINY_EXPONENT:   # 0 < |value| < 2^(exponent + bits)
        tiny = Fraction(1, 2 ** -_TINY_EXPONENT)
        if sign:
            return -tiny if down else Fraction(0)
        return Fraction(0) if down else tiny
    return _mpf_tuple_to_fraction(raw)


def _mpf_tuple_to_fraction(raw) -> Fraction:
    sign, mantissa, exponent, _ = raw
    if mantissa == 0 and exponent != 0:
        raise ArithmeticError("interval endpoint is infinite or NaN")
    value = Fraction(mantissa << exponent) if exponent >= 0 else Fraction(mantissa, 1 << -exponent)
    return -value if sign else value


def _mpi(q: Fraction):
    return _IV.mpf(q.numerator) / q.denominator


def sigmoid_enclosure(z: Fraction) -> Enclosure:
    """Certified enclosure of 1 / (1 + exp(-z)) for a rational z.

    The steps of mpmath's interval context for ``1 / (1 + exp(-z))`` (``mpi_div``, ``mpi_exp``,
    ``mpi_add`` with their directed roundings), called directly: the same enclosure at a third of the
    cost (it is on the path of every replay).
    """
    return Enclosure(sigmoid_end(z, upper=False), sigmoid_end(z, upper=True))


def sigmoid_end(z: Fraction, upper: bool) -> Fraction:
    """One end of :func:`sigmoid_enclosure` (the same number), for callers that need only that end (one exp)."""
    prec, n, d = _IV.prec, z.numerator, z.denominator
    if upper:   # 1 / (1 + exp(-z_hi)) from below in the denominator, rounded up
        z_hi = mpf_div(from_int(n, prec, round_ceiling), from_int(d, prec, round_floor if n >= 0 else round_ceiling),
                       prec, round_ceiling)
        e_lo = mpf_exp(mpf_neg(z_hi), prec, round_floor)
        return _endpoint(mpf_div(fone, mpf_add(fone, e_lo, prec, round_floor), prec, round_ceiling), down=False)
    z_lo = mpf_div(from_int(n, prec, round_floor), from_int(d, prec, round_ceiling if n >= 0 else round_floor),
                   prec, round_floor)
    e_hi = mpf_exp(mpf_neg(z_lo), prec, round_ceiling)
    return _endpoint(mpf_div(fone, mpf_add(fone, e_hi, prec, round_ceiling), prec, round_floor), down=True)


def tanh_enclosure(z: Fraction) -> Enclosure:
    """Certified enclosure of tanh(z) = 1 - 2 / (1 + exp(2z)) for a rational z."""
    return Enclosure.of_mpi(1 - 2 / (1 + _IV.exp(2 * _mpi(z))))


@functools.lru_cache(maxsize=64)   # a network's level, asked for by every replayed decision
def logit_bracket(y: Fraction) -> Enclosure:
    """Certified enclosure of log(y / (1 - y)) for 0 < y < 1: the threshold that sigmoid maps to y."""
    if not 0 < y < 1:
        raise InvalidInputError(f"a sigmoid level must lie strictly between 0 and 1, got {float(y)}")
    if y == Fraction(1, 2):
        return Enclosure.point(Fraction(0))
    return Enclosure.of_mpi(_IV.log(_mpi(y) / (1 - _mpi(y))))

