"""Solver backends behind one interface; optional ones never break the import."""
from __future__ import annotations

from ..errors import SolverUnavailableError
from .base import Answer, Backend, Session, Status

SOLVERS = ("z3", "dreal")
DREAL_HINT = ("install the 'dreal' extra and the ibex 2.7.4 library its wheel links against "
              "(README, section 'dReal'), or use --solver z3")


def get_backend(name: str, precision=None) -> Backend:
    """The backend called `name`: 'z3' (exact) or 'dreal' (δ-complete with the given precision)."""
    if name == "z3":
        from .z3_backend import Z3Backend

        return Z3Backend()
    if name == "dreal":
        try:
            from .dreal_backend import DRealBackend
        except ImportError as err:
            raise SolverUnavailableError(f"dReal is not available ({err}); {DREAL_HINT}") from None
        return DRealBackend(precision)
    raise SolverUnavailableError(f"unknown solver '{name}'; choose one of: {', '.join(SOLVERS)}")


__all__ = ["Answer", "Backend", "Session", "Status", "SOLVERS", "get_backend"]
