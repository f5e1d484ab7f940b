"""Neural-network twins: relative safety margins (LRSM), decision preservation, ε-equivalence, twin generators.

For networks N1, N2 with the same inputs and classes, classes (ci, cj) and a box B (an L∞ ball
``Box.around(x0, r)``, optionally clipped, or any box):

- :func:`lrsm`: certified min and max over B of log-RSM = (z1_ci - z1_cj) - (z2_ci - z2_cj), and
  of RSM = SM_N1 / SM_N2 = exp(log-RSM) (mpmath interval arithmetic); without cj the worst class.
- :func:`decisions`: whether N2 picks N1's class at every x' in B, or a replayed counterexample.
- :func:`epsilon_equivalence`: certified max over B of |z1 - z2|_inf and the verdict for ε.

Results are the core family (:mod:`smtnn.result`; how twins use it: :mod:`.result`).
Engines: ``exact`` (branch and bound with certified LP bounds, exact leaf LPs: exact rationals),
``z3`` (one pySMT formula, Z3's optimizer: exact, small networks only), ``relaxation`` (interval
+ triangle LP with HiGHS and a dual certificate: valid, looser, fast).  A sigmoid output z is the
two-class case with margin z for class 1 and -z for class 0.  Generators: :mod:`.generate`.
"""
from .decisions import decisions
from .equivalence import epsilon_equivalence
from .lrsm import lrsm
from .optimize import Analysis
from .pair import Twins, ball
from .result import attained, by_pair, detail, rsm

__all__ = ["Analysis", "Twins", "attained", "ball", "by_pair", "decisions", "detail", "epsilon_equivalence", "lrsm", "rsm"]
