"""Input domains: axis-aligned boxes with exact rational bounds."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .errors import InvalidInputError
from .exact import to_fraction
from .rounding import floats_outward


@dataclass(frozen=True)
class Box:
    """The box D = [lower, upper] of the paper's global properties (Eqs. 7, 9, 10, 12, 13)."""

    lower: tuple[Fraction, ...]
    upper: tuple[Fraction, ...]

    def __post_init__(self):
        lower = tuple(to_fraction(v) for v in self.lower)
        upper = tuple(to_fraction(v) for v in self.upper)
        if len(lower) != len(upper):
            raise InvalidInputError(f"the domain has {len(lower)} lower bounds but {len(upper)} upper bounds")
        if not lower:
            raise InvalidInputError("the domain is empty: give one [lower, upper] pair per input")
        for i, (lo, hi) in enumerate(zip(lower, upper)):
            if lo > hi:
                raise InvalidInputError(
                    f"the domain is empty: input {i} has lower bound {float(lo)} above upper bound {float(hi)}"
                )
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)

    @classmethod
    def around(cls, center, radius) -> "Box":
        """The L-infinity ball of the given radius around a point."""
        r = to_fraction(radius)
        if r < 0:
            raise InvalidInputError(f"the radius must be non-negative, got {float(r)}")
        c = [to_fraction(v) for v in center]
        return cls(tuple(v - r for v in c), tuple(v + r for v in c))

    def float_box(self) -> tuple[np.ndarray, np.ndarray]:
        """The box's ends as the nearest floats outward (largest float <= lower, smallest >= upper)."""
        return floats_outward(self.lower, down=True), floats_outward(self.upper, down=False)

    @property
    def dimension(self) -> int:
        return len(self.lower)

    def contains(self, point) -> bool:
        return all(lo <= to_fraction(v) <= hi for v, lo, hi in zip(point, self.lower, self.upper))

    def check_for(self, n_inputs: int) -> "Box":
        """Self, after checking it has one interval per network input."""
        if self.dimension != n_inputs:
            raise InvalidInputError(f"the domain has {self.dimension} intervals but the network takes {n_inputs} inputs")
        return self

    def check_point(self, point, what: str = "x0") -> None:
        """Raise unless the point lies in the box."""
        for i, (v, lo, hi) in enumerate(zip(point, self.lower, self.upper)):
            if not lo <= v <= hi:
                raise InvalidInputError(
                    f"{what}[{i}] = {float(v)} lies outside the domain [{float(lo)}, {float(hi)}]; move it inside or widen the domain"
                )

    def as_json(self) -> dict:
        return {"lower": [str(v) for v in self.lower], "upper": [str(v) for v in self.upper]}
