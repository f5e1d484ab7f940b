"""dReal baselines for the global estimates: (a) bisection with δ-sat checks, (b) dReal's Minimize, each in a child process.

The queries use smtnn's parametric encoding (the paper's: parameters as variables, bilinear terms,
ReLU as if-then-else; :class:`smtnn.encoder.Encoder`), translated to dReal expressions by smtnn's
dReal backend, with the sigmoid written as 1 / (1 + exp(-z)):

- ε (Eq. 12): max over x in D, p in the box of |σ(z_p(x)) - σ(z_p0(x))|;
- σ for class 1 / 0 (Eq. 13): max of σ(z_p0(x)) - l (resp. l - σ(z_p0(x))) over the x whose label some p flips.

Bisection narrows [0, 1] (ε) or [0, l] (σ) until the search interval is within the tolerance: an
"unsat" (a proof) lowers the upper end, a δ-sat box raises the search's lower end; the certified
lower end is the exactly replayed value of the best δ-sat box (see :meth:`Problem.replay`).  The reported gap is upper minus
certified lower, so it can exceed the tolerance.  Minimize reports its box's replayed value
(dReal's optimum is δ-optimal, not a proof, so it has no certified gap).  dReal's API has no
timeout: each run (a whole bisection, or one Minimize) is forked into a child that sends its bounds
after every check and is killed when time is up; a timeout keeps the last bounds and counts as the
timeout in speed-ups.
"""
from __future__ import annotations

import multiprocessing
import time
from fractions import Fraction
from typing import Callable

from smtnn import perturbation as perturbations
from smtnn.bounds import extreme_at, replay_logits
from smtnn.domain import Box
from smtnn.encoder import Encoder
from smtnn.exact import Enclosure, logit_bracket, sigmoid_enclosure
from smtnn.network import Network
from smtnn.perturbation import Perturbation

from . import scaling, table1
from .common import Settings, bar, describe_error, median

#: dReal's δ (smtnn's default dReal precision, equal to the 1e-6 tolerance of the estimates).
PRECISION = 1e-6
METHODS = ("bisection", "minimize")
QUANTITIES = ("epsilon", "sigma_male", "sigma_female")


def available() -> tuple[bool, str]:
    """(True, version) when ``import dreal`` works, else (False, why)."""
    try:
        import dreal
    except Exception as err:  # noqa: BLE001 - an ImportError or a missing shared library
        return False, f"not installed ({describe_error(err)})"
    return True, getattr(dreal, "__version__", "4")


# -- the problem, built inside the child ---------------------------------------------------------------
class Problem:
    """One estimate as dReal formulas: the region, the level constraint 'value >= m', the objective, exact replay."""

    def __init__(self, network: Network, perturbation: Perturbation, domain: Box, quantity: str):
        import dreal
        from smtnn.backends.dreal_backend import _Translator

        self.network, self.perturbation, self.domain, self.quantity = network, perturbation, domain, quantity
        enc = Encoder(network, perturbation)
        m = enc.mgr
        self.x = enc.input_symbols()
        self.symbols = enc.parameter_symbols()
        defs = []
        z0 = enc.logits(self.x, enc.parameter_terms(), domain, defs, nominal=True)[0]
        zp = enc.logits(self.x, enc.parameter_terms(self.symbols), domain, defs)[0]
        base = m.And(enc.within(self.x, domain.lower, domain.upper), enc.parameter_box(self.symbols))
        self.translate = tr = _Translator()
        parts = [tr(base)] + [tr.definition(d) for d in defs]
        Z0, ZP = tr(z0), tr(zp)

        def sig(z):
            return 1 / (1 + dreal.exp(-z))

        self.level_of = float(network.threshold)
        self.t = logit_bracket(network.threshold)
        t_lo, t_hi = float(self.t.lo), float(self.t.hi)
        if quantity == "epsilon":
            diff = sig(ZP) - sig(Z0)
            self.region = dreal.And(*parts) if len(parts) > 1 else parts[0]
            self.level = lambda v: dreal.Or(diff >= v, -diff >= v)
            self.objective = abs(diff)
            self.top = 1.0
        elif quantity == "sigma_male":     # class 1 (f >= l) whose label some p flips
            value = sig(Z0) - self.level_of
            self.region = dreal.And(*parts, Z0 >= t_lo, ZP < t_hi)
            self.level = lambda v: value >= v
            self.objective = value
            self.top = 1.0 - self.level_of
        elif quantity == "sigma_female":   # class 0
            value = self.level_of - sig(Z0)
            self.region = dreal.And(*parts, Z0 <= t_hi, ZP >= t_lo)
            self.level = lambda v: value >= v
            self.objective = value
            self.top = self.level_of
        else:
            raise KeyError(quantity)

    def replay(self, box) -> Fraction | None:
        """The exact value of the box's midpoint as a witness, None if it is none.

        The input is the midpoint clamped into D; the parameters are the midpoint's (clamped into
        their box) or, if better, the vector :func:`smtnn.bounds.extreme_at` picks for that input
        (a δ-sat box often sits just on the wrong side of a strict inequality).
        """
        mid = {name: Fraction(box[var].mid()) for name, var in self.translate.variables.items()}
        x = [min(max(mid.get(s.symbol_name(), lo), lo), hi) for s, lo, hi in zip(self.x, self.domain.lower, self.domain.upper)]
        pert = self.perturbation
        params = [min(max(mid.get(self.symbols[i].symbol_name(), p), pert.lower[i]), pert.upper[i]) if i in self.symbols else p
                  for i, p in enumerate(pert.nominal)]
        z0 = replay_logits(self.network, x, pert.nominal)[0]
        candidates = [params] + [extreme_at(self.network, pert, x, [sign]).witness for sign in (1, -1)]
        values = [v for v in (self._value(z0, replay_logits(self.network, x, p)[0]) for p in candidates) if v is not None]
        return max(values) if values else None

    def _value(self, z0: Enclosure, zp: Enclosure) -> Fraction | None:
        t, level = self.t, Enclosure.point(self.network.threshold)
        if self.quantity == "epsilon":
            up = sigmoid_enclosure(zp.lo) - sigmoid_enclosure(z0.hi)
            down = sigmoid_enclosure(z0.lo) - sigmoid_enclosure(zp.hi)
            return max(up.lo, down.lo, Fraction(0))
        if self.quantity == "sigma_male":
            return (sigmoid_enclosure(z0.lo) - level).lo if z0.lo >= t.hi and zp.hi < t.lo else None
        return (level - sigmoid_enclosure(z0.hi)).lo if z0.hi < t.lo and zp.lo >= t.hi else None


def bisection(problem: Problem, tolerance: float, send: Callable[[dict], None]) -> None:
    """Bisection on the value with dReal δ-sat checks; sends the bounds after every check and a final 'done'."""
    import dreal

    lower, upper, certified, calls = 0.0, problem.top, Fraction(0), 0

    def report(**extra):
        send({"lower": certified, "upper": Fraction(upper), "search_lower": lower, "calls": calls, **extra})

    report()
    if problem.quantity != "epsilon":
        calls += 1
        first = dreal.CheckSatisfiability(problem.region, PRECISION)
        if first is None:       # no label of this class can flip: σ = 0 (smtnn's convention)
            upper = 0.0
            report(done=True, no_flip=True)
            return
        value = problem.replay(first)
        if value is not None:
            certified = max(certified, value)
            lower = max(lower, float(value))
    while upper - lower > tolerance:
        mid = (lower + upper) / 2
        box = dreal.CheckSatisfiability(dreal.And(problem.region, problem.level(mid)), PRECISION)
        calls += 1
        if box is None:
            upper = mid
        else:
            value = problem.replay(box)
            lower = mid
            if value is not None and value > certified:
                certified = value
                lower = max(lower, float(value))
        report()
    report(done=True)


def minimize(problem: Problem, tolerance: float, send: Callable[[dict], None]) -> None:
    """One dReal Minimize of -value over the region; sends the replayed value of its box (no certified upper end)."""
    import dreal

    box = dreal.Minimize(-problem.objective, problem.region, PRECISION)
    if box is None:
        send({"lower": Fraction(0), "upper": Fraction(0), "calls": 1, "done": True, "no_flip": True})
        return
    value = problem.replay(box)
    send({"lower": value, "upper": None, "calls": 1, "done": True, "witness_replays": value is not None})


# -- child processes ----------------------------------------------------------------------------------------
def in_child(work: Callable[[Callable[[dict], None]], None], timeout: float) -> dict:
    """Run work(send) in a forked child; the last message it sent, its status ('done', 'timeout', 'error') and the wall seconds."""
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)

    def child():
        try:
            work(sender.send)
        except BaseException as err:  # noqa: BLE001 - reported to the parent
            sender.send({"error": describe_error(err)})
        finally:
            sender.close()

    start = time.perf_counter()
    process = ctx.Process(target=child, daemon=True)
    process.start()
    sender.close()
    last, status = {}, "timeout"
    try:
        while True:
            left = start + timeout - time.perf_counter()
            if left <= 0 or not receiver.poll(left):
                break
            try:
                message = receiver.recv()
            except EOFError:
                status = "error"
                last.setdefault("error", f"the child exited (code {process.exitcode}) without an answer")
                break
            last.update(message)
            if "error" in message:
                status = "error"
                break
            if message.get("done"):
                status = "done"
                break
    finally:
        seconds = time.perf_counter() - start
        if process.is_alive():
            process.kill()
        process.join()
        receiver.close()
    return {**last, "status": status, "wall_seconds": seconds}


def measure(network: Network, perturbation: Perturbation, domain: Box, quantity: str, method: str, settings: Settings) -> dict:
    """Up to `settings.repeats` child runs (a timeout or an error is not repeated); median seconds, timeouts as the timeout."""
    work_fn = bisection if method == "bisection" else minimize
    tol = float(settings.tolerance)

    def work(send):
        work_fn(Problem(network, perturbation, domain, quantity), tol, send)

    runs, last = [], {}
    for _ in range(settings.repeats):
        last = in_child(work, settings.dreal_timeout)
        runs.append(last["wall_seconds"])
        if last["status"] != "done":
            break
    status = last["status"]
    lower, upper = last.get("lower"), last.get("upper")
    return {
        "method": method, "quantity": quantity, "status": status, "timed_out": status == "timeout",
        "seconds": settings.dreal_timeout if status == "timeout" else median(runs), "runs": runs,
        "lower": lower, "upper": upper,
        "gap": None if lower is None or upper is None else upper - lower,
        "calls": last.get("calls"), "no_flip": bool(last.get("no_flip")), "error": last.get("error"),
        "witness_replays": last.get("witness_replays"),
    }


def run(settings: Settings) -> dict:
    """dReal bisection and Minimize on every Table 1 query and on the small scaling cases (global ε)."""
    ok, version = available()
    if not ok:
        return {"installed": False, "version": version, "rows": [], "timeout": settings.dreal_timeout, "precision": PRECISION}
    jobs = [("table1", {"network": name, "delta": delta}, (net, pert, box), q)
            for name, delta, net, pert, box in table1.problems() for q in QUANTITIES]
    for dim, layers, width in settings.dreal_scaling:
        net = scaling.network(dim, layers, width)
        jobs.append(("scaling", {"network": net.name, "dim": dim, "layers": layers, "width": width, "delta": scaling.DELTA},
                     (net, perturbations.uniform(net, scaling.DELTA), scaling.domain(dim)), "epsilon"))
    progress = bar(len(jobs) * len(METHODS), "dreal")
    rows = []
    for group, keys, (net, pert, box), quantity in jobs:
        for method in METHODS:
            progress.set_postfix_str(f"{keys['network']} {quantity} {method}")
            rows.append({"group": group, **keys, **measure(net, pert, box, quantity, method, settings)})
            progress.update()
    progress.close()
    return {"installed": True, "version": version, "rows": rows, "timeout": settings.dreal_timeout, "precision": PRECISION,
            "tolerance": settings.tolerance}
