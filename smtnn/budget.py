"""One clock per query: the policy by which a query's sub-searches share its timeout.

Searches that run one after another each get an equal share of what is left of the budget
(what is left / searches still to run): a search that finishes early passes its unused time
on, and the last search may use all that is left.  The query's owner (:meth:`smtnn.tasks.Query.run`)
starts the clock with the query, model loading included.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

FLOOR = 0.001   # seconds: a search is never given less (it then answers at once with its bounds so far)


@dataclass
class Budget:
    """The wall-clock budget of one query (``timeout`` None: unlimited), started at ``start``."""

    start: float = field(default_factory=time.perf_counter)
    timeout: float | None = None

    def remaining(self) -> float | None:
        """What is left of the budget; never below FLOOR."""
        if self.timeout is None:
            return None
        return max(self.timeout - (time.perf_counter() - self.start), FLOOR)

    def share(self, searches_left: int) -> float | None:
        """The time for the next of `searches_left` searches that still run one after another."""
        left = self.remaining()
        return None if left is None else max(left / max(1, searches_left), FLOOR)
