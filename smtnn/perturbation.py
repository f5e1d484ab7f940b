"""Perturbation models: the box of parameter vectors p a property quantifies over.

Every model is, in the end, one closed interval [lower_i, upper_i] per scalar parameter, with
exact rational ends; the paper's |p - p0| <= δ (Defs. 1-5) is :func:`uniform`.  A parameter
with lower == upper is fixed.
"""
from __future__ import annotations

import functools

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

from .errors import InvalidInputError
from .exact import differ, to_fraction
from .network import Network
from .rounding import floats_outward, floats_shifted, ratios_around, scaled


class _Deferred:
    """Marks an exact vector of a box that is computed on first read (pickles as this module's DEFERRED)."""

    def __reduce__(self):
        return "DEFERRED"

    def __repr__(self) -> str:
        return "DEFERRED"


DEFERRED = _Deferred()


class _ExactVector:
    """The field of an exact vector (nominal, lower or upper): the tuple it is given, or, given DEFERRED, the tuple
    :meth:`Perturbation._exact_vector` computes on first read and keeps (equality, hashing and replace read it so)."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            raise AttributeError(self.name)   # no class-level value, so the dataclass field has no default
        value = obj.__dict__[self.name]
        if value is DEFERRED:
            value = obj.__dict__[self.name] = obj._exact_vector(self.name)
        return value

    def __set__(self, obj, value) -> None:
        obj.__dict__[self.name] = value


@dataclass(frozen=True)
class Perturbation:
    """Interval bounds on every parameter of ``network`` (flat order of Network.parameter_names).

    Boxes built by a radius rule (:func:`uniform`, :func:`per_layer`, :func:`subset`, :func:`relative`,
    :func:`quantization`) compute their exact vectors only when asked: their float box and free parameters come
    from the nominal floats.
    """

    nominal: tuple[Fraction, ...] = _ExactVector()
    lower: tuple[Fraction, ...] = _ExactVector()
    upper: tuple[Fraction, ...] = _ExactVector()
    description: str
    spec: dict | None = field(default=None, compare=False)   # how to rebuild it (replay); None for a custom box

    def _exact_vector(self, name: str) -> tuple[Fraction, ...]:
        """A DEFERRED exact vector: the nominal rationals (the network's own tuple where it is at hand), or p0 -/+ r."""
        if name == "nominal":
            network = self.__dict__.get("_network")
            if network is not None:
                return network.exact_vector
            return tuple(map(Fraction.from_float, self.__dict__["_nominal_floats"].tolist()))
        vector = tuple(self.ends(np.arange(len(self.__dict__["_nominal_floats"])), upper=name == "upper"))
        self.__dict__.pop(f"_{name}_entries", None)   # the whole vector now stands in for them
        return vector

    def ends(self, indices: np.ndarray, upper: bool) -> list[Fraction]:
        """The exact upper (or lower) ends of the parameters at `indices`.  A box whose ends are deferred computes
        p0 +/- r for these alone and keeps them, so a witness at a vertex costs one rational sum per parameter."""
        name = "upper" if upper else "lower"
        if self.__dict__.get(name) is not DEFERRED:
            vector = getattr(self, name)
            return [vector[i] for i in indices.tolist()]
        entries = self.__dict__.get(f"_{name}_entries")
        if entries is None:
            entries = self.__dict__[f"_{name}_entries"] = np.full(len(self.__dict__["_nominal_floats"]), None, dtype=object)
        chosen = entries[indices]
        missing = indices[np.equal(chosen, None)]
        if len(missing):
            nominal = self.nominal_at(missing)
            radii = self.__dict__["_radii"].at(missing, nominal)
            entries[missing] = [p if not r else p + r if upper else p - r for p, r in zip(nominal, radii)]
            chosen = entries[indices]
        return chosen.tolist()

    def nominal_at(self, indices: np.ndarray) -> list[Fraction]:
        """The nominal rationals of the parameters at `indices`: from the nominal floats while the vector is deferred
        and few are asked, else from the whole vector (the network's own, converted once)."""
        floats = self.__dict__.get("_nominal_floats")
        few = floats is not None and (len(indices) * 16 < len(floats) or "_network" not in self.__dict__)
        if self.__dict__.get("nominal") is DEFERRED and few:
            return list(map(Fraction.from_float, floats[indices].tolist()))
        nominal = self.nominal
        return [nominal[i] for i in indices.tolist()]

    def built_for(self, network: Network) -> bool:
        """Whether the box's nominal parameters are exactly ``network``'s; while they are deferred, compared as floats
        (equal floats denote equal rationals), so the check builds no rational per parameter."""
        if self.__dict__.get("_network") is network:
            return True
        floats = self.__dict__.get("_nominal_floats")
        if self.__dict__.get("nominal") is DEFERRED and floats is not None:
            return len(floats) == network.n_parameters and bool(np.array_equal(floats, network.parameter_vector()))
        return len(self.nominal) == network.n_parameters and network.exact_vector == self.nominal

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_network", None)   # a DEFERRED nominal is rebuilt from the nominal floats
        return state

    @functools.cached_property
    def free(self) -> tuple[int, ...]:
        """Indices of the parameters that may move (computed once: the box is immutable)."""
        radii = self.__dict__.get("_radii")
        if radii is not None:   # lower == upper exactly where the radius is 0
            return tuple(np.flatnonzero(radii.moving(self.__dict__["_nominal_floats"])).tolist())
        return tuple(i for i, (lo, hi) in enumerate(zip(self.lower, self.upper)) if differ(lo, hi))

    def float_box(self) -> tuple[np.ndarray, np.ndarray]:
        """The box's ends as the nearest floats outward (largest float <= lower, smallest >= upper)."""
        lower, upper = self._float_ends
        return lower.copy(), upper.copy()

    @functools.cached_property
    def _float_ends(self) -> tuple[np.ndarray, np.ndarray]:
        radii = self.__dict__.get("_radii")
        if radii is not None:
            return radii.float_ends(self.__dict__["_nominal_floats"])
        return floats_outward(self.lower, down=True), floats_outward(self.upper, down=False)

    def contains(self, params: Sequence[Fraction]) -> bool:
        return all(lo <= p <= hi for p, lo, hi in zip(params, self.lower, self.upper))

    def as_json(self) -> dict:
        out = {"model": self.description, "free_parameters": len(self.free)}
        if self.spec is not None:
            out["spec"] = self.spec
        return out


def _checked_delta(delta, what: str = "δ") -> Fraction:
    value = to_fraction(delta)
    if value < 0:
        raise InvalidInputError(f"{what} must be non-negative, got {float(value)}")
    return value


def from_radii(network: Network, radii: Iterable[Fraction], description: str, spec: dict | None = None) -> Perturbation:
    """|p_i - p0_i| <= radii[i] for each parameter."""
    nominal = network.exact_vector
    radii = tuple(radii)
    if len(radii) != len(nominal):
        raise InvalidInputError(f"{len(radii)} radii for {len(nominal)} parameters")
    return Perturbation(
        nominal,
        tuple(p - r for p, r in zip(nominal, radii)),
        tuple(p + r for p, r in zip(nominal, radii)),
        description,
        spec,
    )


@dataclass(frozen=True, eq=False)
class SharedRadii:
    """r_i = values[which[i]]: a few radii shared by many parameters (uniform, per layer, subset)."""

    values: tuple[Fraction, ...]
    which: np.ndarray

    def at(self, indices: np.ndarray, nominal: Sequence[Fraction]) -> list[Fraction]:
        """The exact radii of the parameters at `indices` (whose nominal rationals are `nominal`)."""
        return [self.values[k] for k in self.which[indices].tolist()]

    def moving(self, nominal_floats: np.ndarray) -> np.ndarray:
        """Where r_i != 0."""
        return np.array([v != 0 for v in self.values], dtype=bool)[self.which]

    def float_ends(self, nominal_floats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The float ends of p0 -/+ r, one vectorised pass per distinct radius r; the few entries that pass cannot
        decide are rounded from their exact ends (computed for them alone)."""
        return self._shifted(nominal_floats, down=True), self._shifted(nominal_floats, down=False)

    def _shifted(self, nominal_floats: np.ndarray, down: bool) -> np.ndarray:
        out = np.empty(len(nominal_floats))
        for k, radius in enumerate(self.values):
            chosen = self.which == k
            shifted, undecided = floats_shifted(nominal_floats[chosen], radius, down)
            out[chosen] = shifted
            rest = np.flatnonzero(chosen)[undecided]
            nominal = map(Fraction.from_float, nominal_floats[rest].tolist())
            out[rest] = floats_outward([p - radius if down else p + radius for p in nominal], down)
        return out


@dataclass(frozen=True, eq=False)
class RelativeRadii:
    """r_i = d·|p0_i|."""

    factor: Fraction

    def at(self, indices: np.ndarray, nominal: Sequence[Fraction]) -> list[Fraction]:
        return [self.factor * abs(p) for p in nominal]

    def moving(self, nominal_floats: np.ndarray) -> np.ndarray:
        return (nominal_floats != 0) & (self.factor != 0)

    def float_ends(self, nominal_floats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ends p0 -/+ d·|p0| = (a·den -/+ num·|a|) / (den·2^e) for p0 = a / 2^e, d = num / den, rounded outward."""
        nominal, exponent = scaled(nominal_floats)
        common = np.full(len(nominal), self.factor.denominator << exponent, dtype=object)
        centre, radius = nominal * self.factor.denominator, np.abs(nominal) * self.factor.numerator
        return ratios_around(centre - radius, common)[0], ratios_around(centre + radius, common)[1]


@dataclass(frozen=True, eq=False)
class QuantizedRadii:
    """r_i = |q_i - p0_i| for exact quantized values q_i = numerators[i] / denominators[i] (Python integers)."""

    numerators: np.ndarray
    denominators: np.ndarray
    changed: np.ndarray   # q_i != p0_i, decided exactly

    def quantized_at(self, indices: np.ndarray) -> list[Fraction]:
        return [Fraction(n, d) for n, d in zip(self.numerators[indices].tolist(), self.denominators[indices].tolist())]

    def at(self, indices: np.ndarray, nominal: Sequence[Fraction]) -> list[Fraction]:
        return [abs(q - p) for q, p in zip(self.quantized_at(indices), nominal)]

    def moving(self, nominal_floats: np.ndarray) -> np.ndarray:
        return self.changed

    def float_ends(self, nominal_floats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The box's ends min/max(q, 2 p0 - q) as exact integer ratios over d·2^e, rounded outward elementwise."""
        nominal, exponent = scaled(nominal_floats)   # p0 = nominal / 2^exponent
        common = self.denominators << exponent
        quantized = self.numerators << exponent
        mirrored = 2 * nominal * self.denominators - quantized
        below = (quantized < mirrored).astype(bool)
        lower = np.where(below, quantized, mirrored)
        upper = np.where(below, mirrored, quantized)
        return ratios_around(lower, common)[0], ratios_around(upper, common)[1]


def _deferred(network: Network, radii, description: str, spec: dict) -> Perturbation:
    """A box p0 -/+ r_i whose exact vectors are computed only when asked (the same values as :func:`from_radii`);
    its float ends and free parameters come from vectorised arithmetic on the nominal floats instead."""
    perturbation = Perturbation(DEFERRED, DEFERRED, DEFERRED, description, spec)
    object.__setattr__(perturbation, "_radii", radii)
    object.__setattr__(perturbation, "_nominal_floats", network.parameter_vector())
    object.__setattr__(perturbation, "_network", network)
    return perturbation


def _from_radius_values(network: Network, values: Sequence[Fraction], which: np.ndarray, description: str,
                        spec: dict) -> Perturbation:
    """:func:`from_radii` with radius values[which[i]] for parameter i, deferred (:func:`_deferred`)."""
    return _deferred(network, SharedRadii(tuple(values), which), description, spec)


def uniform(network: Network, delta) -> Perturbation:
    """The paper's box: every parameter within δ of its trained value."""
    d = _checked_delta(delta)
    return _from_radius_values(network, [d], np.zeros(network.n_parameters, dtype=np.intp), f"|p - p0| <= {d}",
                               {"model": "uniform", "delta": str(d)})


def per_layer(network: Network, deltas: Sequence) -> Perturbation:
    """Layer k's parameters within deltas[k] of their trained values."""
    if len(deltas) != len(network.layers):
        raise InvalidInputError(f"{len(deltas)} per-layer δ values for {len(network.layers)} layers; give one per layer")
    ds = [_checked_delta(d, f"δ of layer {k}") for k, d in enumerate(deltas)]
    which = np.repeat(np.arange(len(network.layers), dtype=np.intp), [b.stop - w.start for w, b in network.layer_slices()])
    return _from_radius_values(network, ds, which, "per layer |p - p0| <= " + ", ".join(str(d) for d in ds),
                               {"model": "per_layer", "deltas": [str(d) for d in ds]})


def relative(network: Network, delta) -> Perturbation:
    """Every parameter within δ·|p0| of its trained value (zeros stay fixed)."""
    d = _checked_delta(delta)
    return _deferred(network, RelativeRadii(d), f"|p - p0| <= {d}·|p0|", {"model": "relative", "delta": str(d)})


def subset(network: Network, delta, *, layers: Iterable[int] | None = None, indices: Iterable[int] | None = None) -> Perturbation:
    """Only the chosen parameters (whole layers, or flat indices) move, each within δ."""
    d = _checked_delta(delta)
    n = network.n_parameters
    which = np.zeros(n, dtype=np.intp)   # 1 where the parameter moves (built per layer slice: no name per parameter)
    if layers is not None:
        layers = list(layers)
        for k in layers:
            if not -len(network.layers) <= k < len(network.layers):
                raise InvalidInputError(f"layer {k} does not exist; the network has layers 0..{len(network.layers) - 1}")
        wanted = {k % len(network.layers) for k in layers}
        for k in wanted:
            weights, bias = network.layer_slices()[k]
            which[weights.start:bias.stop] = 1
    if indices is not None:
        indices = list(indices)
        for i in indices:
            if not 0 <= i < n:
                raise InvalidInputError(f"parameter index {i} is out of range 0..{n - 1}")
        which[sorted(set(indices))] = 1
    chosen = np.flatnonzero(which)
    return _from_radius_values(network, [Fraction(0), d], which, f"|p - p0| <= {d} on {len(chosen)} chosen parameters",
                               {"model": "subset", "delta": str(d), "layers": None if layers is None else sorted(wanted),
                                "indices": None if indices is None else sorted({int(i) for i in indices})})


# -- quantization schemes: the exact deviation each parameter suffers -------------------
def _round_half_even(q: Fraction) -> int:
    return round(q)  # Fraction.__round__ rounds half to even


def fixed_point_values(network: Network, fraction_bits: int) -> list[Fraction]:
    """Parameters rounded to the nearest multiple of 2^-b (ties to even)."""
    _check_fraction_bits(fraction_bits)
    step = Fraction(1, 2 ** fraction_bits)
    return [_round_half_even(p / step) * step for p in network.exact_parameters()]


def float16_values(network: Network) -> list[Fraction]:
    """Parameters rounded to IEEE half precision (round to nearest even, as NumPy does)."""
    return [Fraction(h) for h in float16_floats(network.parameter_vector())]


def float16_floats(floats: np.ndarray) -> list[float]:
    """The floats rounded to IEEE half precision (round to nearest even, as NumPy does), as binary64 values."""
    halves = floats.astype(np.float16)
    if not np.isfinite(halves).all():
        raise InvalidInputError("a parameter overflows IEEE half precision (|p| > 65504); float16 cannot represent this network")
    return halves.astype(np.float64).tolist()


def _check_fraction_bits(fraction_bits: int) -> None:
    if fraction_bits < 0:
        raise InvalidInputError(f"the number of fractional bits must be non-negative, got {fraction_bits}")


def _no_bits_for_float16(bits: int | None) -> None:
    if bits is not None:
        raise InvalidInputError(f"float16 quantization has a fixed format and takes no number of bits, got {bits}; "
                                "write float16 alone")


def _fraction_bits(bits: int | None) -> int:
    """The checked number of fractional bits of fixed-point quantization."""
    if bits is None:
        raise InvalidInputError("fixed-point quantization needs the number of fractional bits "
                                "(bits=8 in Python, fixed:8 on the command line)")
    _check_fraction_bits(bits)
    return bits


def _integer_levels(bits: int) -> int:
    """2^(bits-1) - 1, the largest level of symmetric integer quantization."""
    if bits < 2:
        raise InvalidInputError(f"symmetric integer quantization needs at least 2 bits, got {bits}")
    return 2 ** (bits - 1) - 1


def int8_values(network: Network, bits: int = 8) -> list[Fraction]:
    """Symmetric per-tensor integer quantization: scale = max|t| / (2^(bits-1) - 1), q = round(p/scale)·scale."""
    levels = _integer_levels(bits)
    exact = network.exact_parameters()
    out = list(exact)
    for ws, bs in network.layer_slices():
        for sl in (ws, bs):
            tensor = exact[sl]
            scale = max(abs(v) for v in tensor) / levels
            if scale == 0:
                continue
            out[sl] = [max(-levels, min(levels, _round_half_even(v / scale))) * scale for v in tensor]
    return out


QUANTIZATION_SCHEMES = ("fixed", "float16", "int")


def quantized_values(network: Network, scheme: str, bits: int | None = None) -> list[Fraction]:
    """Exact quantized parameters for 'fixed' (b fractional bits), 'float16' or 'int' (symmetric, b bits)."""
    if scheme == "fixed":
        return fixed_point_values(network, _fraction_bits(bits))
    if scheme == "float16":
        _no_bits_for_float16(bits)
        return float16_values(network)
    if scheme == "int":
        return int8_values(network, 8 if bits is None else bits)
    raise InvalidInputError(f"unknown quantization scheme '{scheme}'; choose one of {', '.join(QUANTIZATION_SCHEMES)}")


def quantization(network: Network, scheme: str, bits: int | None = None) -> Perturbation:
    """The per-parameter δ_i = |q(p_i) - p_i| a quantization scheme implies: the box contains the quantized network."""
    numerators, denominators = _quantized_ratios(network, scheme, bits)
    nominal, exponent = scaled(network.parameter_vector())   # p0 = nominal / 2^exponent
    changed = np.not_equal(numerators << exponent, nominal * denominators).astype(bool)
    label = scheme + (f"{bits}" if bits is not None else "")
    return _deferred(network, QuantizedRadii(numerators, denominators, changed),
                     f"quantization {label}: |p_i - p0_i| <= |q(p0_i) - p0_i|",
                     {"model": "quantization", "scheme": scheme, "bits": bits})


def _round_half_even_ratios(numerators: np.ndarray, denominators) -> np.ndarray:
    """round(n / d) for Python integers (d > 0), ties to even, as :func:`_round_half_even` rounds a Fraction."""
    floor = numerators // denominators
    twice_rest = 2 * (numerators - floor * denominators)
    up = (twice_rest > denominators) | ((twice_rest == denominators) & (floor % 2 == 1))
    return floor + up.astype(bool).astype(int).astype(object)


def _quantized_ratios(network: Network, scheme: str, bits: int | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantized_values` as integer numerators and denominators (object arrays), computed tensor by tensor
    from the floats' exact integer forms (:func:`smtnn.rounding.scaled`) instead of one rational at a time."""
    floats = network.parameter_vector()
    if scheme == "float16":
        _no_bits_for_float16(bits)
        quantized, exponent = scaled(np.array(float16_floats(floats), dtype=np.float64))
        return quantized, np.full(len(floats), 1 << exponent, dtype=object)
    if scheme == "fixed":
        bits = _fraction_bits(bits)
        values, exponent = scaled(floats)   # p = values / 2^exponent; q = round(p·2^b) / 2^b
        steps = values << (bits - exponent) if bits >= exponent else _round_half_even_ratios(values, 1 << (exponent - bits))
        return steps, np.full(len(floats), 1 << bits, dtype=object)
    if scheme == "int":
        levels = _integer_levels(8 if bits is None else bits)
        numerators, denominators = np.empty(len(floats), dtype=object), np.empty(len(floats), dtype=object)
        for weights, bias in network.layer_slices():
            for part in (weights, bias):
                values, exponent = scaled(floats[part])   # t = values / 2^exponent, scale = max|values| / (levels·2^exponent)
                largest = int(np.max(np.abs(values))) if len(values) else 0
                if largest == 0:
                    numerators[part], denominators[part] = values, 1 << exponent
                    continue
                steps = np.clip(_round_half_even_ratios(values * levels, largest), -levels, levels)
                numerators[part], denominators[part] = steps * largest, levels << exponent
        return numerators, denominators
    raise InvalidInputError(f"unknown quantization scheme '{scheme}'; choose one of {', '.join(QUANTIZATION_SCHEMES)}")
