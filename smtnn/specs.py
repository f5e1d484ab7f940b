"""The properties as data: each name with its scope, the option it needs, and the functions that decide, estimate and export it.

The command line, batches, :mod:`smtnn.tasks` and :mod:`smtnn.export` all dispatch through
:data:`PROPERTIES` (and :data:`TWINS_PROPERTIES` for `smtnn twins`); a new property is one entry here
plus its functions.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PropertySpec:
    """How a property of the paper runs: its scope, the level option it needs, its deciding and estimating functions.

    ``verify``/``estimate`` name functions of :mod:`smtnn.properties` (None: not offered);
    ``negation`` names the builder of its negated formula in :mod:`smtnn.export`.
    """

    name: str
    scope: str                  # "local": at an input x0; "global": over a domain D
    level: str | None           # the option the verification needs: "epsilon", "sigma" or none
    verify: str
    estimate: str | None
    negation: str
    box_limited: bool = False   # a branch and bound whose box count the memory cap bounds

    @property
    def region(self) -> str:
        return "x0" if self.scope == "local" else "domain"


PROPERTIES = {spec.name: spec for spec in (
    PropertySpec("local-epsilon", "local", "epsilon", "verify_local_epsilon", "local_epsilon", "local_epsilon"),
    PropertySpec("global-epsilon", "global", "epsilon", "verify_global_epsilon", "global_epsilon", "global_epsilon",
                 box_limited=True),
    PropertySpec("local-label", "local", None, "verify_local_label", None, "label"),
    PropertySpec("global-label", "global", None, "verify_global_label", None, "label"),
    PropertySpec("global-sigma", "global", "sigma", "verify_global_sigma", "global_sigma", "label"),
)}
VERIFY = tuple(PROPERTIES)
ESTIMATE = tuple(name for name, spec in PROPERTIES.items() if spec.estimate)
TWINS_PROPERTIES = {"lrsm": "lrsm", "decisions": "decisions", "epsilon": "epsilon_equivalence"}
