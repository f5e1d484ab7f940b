"""The twins task: lrsm, decisions and epsilon for two loaded networks (built by :mod:`smtnn.tasks` from a query)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import UnsupportedModelError
from ..network import Network
from ..options import domain, integer, memory_megabytes, number, numbers, timeout_seconds
from ..specs import TWINS_PROPERTIES

PROPERTIES = tuple(TWINS_PROPERTIES)


@dataclass
class TwinsTask:
    """One checked twins query (lrsm, decisions or epsilon) with both networks loaded; ``timeout`` covers the whole query."""

    property: str
    first: object
    second: object
    region: dict
    engine: str
    timeout: float | None
    ci: int | None = None
    cj: int | None = None
    compare: tuple = ()
    epsilon: str | None = None
    memory_mb: int | None = None
    command: str = "twins"

    @property
    def solver(self) -> str:
        return self.engine

    def compute(self):
        from . import decisions, epsilon_equivalence, lrsm

        common = {"engine": self.engine, "timeout": self.timeout}
        if not (isinstance(self.first, Network) and isinstance(self.second, Network)):
            return _quantized(self)
        if self.property == "lrsm":
            return lrsm(self.first, self.second, **self.region, ci=self.ci, cj=self.cj, compare=self.compare, **common)
        if self.property == "decisions":
            return decisions(self.first, self.second, **self.region, **common)
        return epsilon_equivalence(self.first, self.second, **self.region, epsilon=self.epsilon, **common)


def _quantized(task: TwinsTask):
    """twins decisions of a float network and its statically quantized twin (either order)."""
    from .quantized import quantized_decisions

    first, second = task.first, task.second
    if task.property != "decisions" or isinstance(first, Network) == isinstance(second, Network):
        raise UnsupportedModelError(
            f"twins {task.property} does not model activation quantization; compare a float network with its quantized "
            "twin by twins decisions"
        )
    if isinstance(first, Network):
        return quantized_decisions(first, second, **task.region, timeout=task.timeout)
    result = quantized_decisions(second, first, **task.region, timeout=task.timeout)
    if result.witness is None:
        return result
    a, b = result.witness.classes
    return dataclasses.replace(result, witness=dataclasses.replace(result.witness, classes=(b, a)))


def twins_task(query, first, second) -> TwinsTask:
    """The twins task of a checked :class:`smtnn.tasks.Query` whose two networks are loaded."""
    o = query.options
    region = {"box": domain(o.get("domain"))}
    if o.get("x0") is not None:
        clip = None
        if o.get("clip") is not None:
            clip = tuple(numbers(",".join(o["clip"].split(":")), "--clip"))
        region = {"x0": numbers(o["x0"], "--x0"), "radius": number(o["radius"], "--radius"), "clip": clip}
    compare = tuple(e for e in query.option("compare").split(",") if e.strip())
    eps = number(o["epsilon"], "--epsilon") if o.get("epsilon") is not None else None
    ci = integer(o["ci"], "--ci") if o.get("ci") is not None else None
    cj = integer(o["cj"], "--cj") if o.get("cj") is not None else None
    return TwinsTask(query.property, first, second, region, query.option("engine"), timeout_seconds(o.get("timeout")),
                     ci, cj, compare, eps, memory_megabytes(o.get("memory")))
