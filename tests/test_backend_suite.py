"""One backend-independent suite, subclassed per solver (in the manner of DNNV's VerifierTests).

Tiny networks with answers worked out by hand, in robust / non-robust pairs; every VIOLATED
witness is replayed here in exact rationals, independently of the engine.  A solver that is not
installed skips its class with the reason (the install hint).

The 1-input network used throughout: z = w·x + b with w0 = 1, b0 = -1/2, a sigmoid output with
decision level 1/2 (class 1 iff z >= 0), x in [0, 1], every parameter within δ = 1/10.
- Def. 4 (global label) is violated: at x = 1/2 (z0 = 0, class 1), b = -6/10 gives z < 0.
- Eq. 13 by hand: class 1 (x >= 1/2) can flip iff min_p z = 9x/10 - 6/10 < 0, i.e. x < 2/3, so
  σ1 = sigmoid(2/3 - 1/2) - 1/2 = sigmoid(1/6) - 1/2; class 0 (x < 1/2) flips iff
  max_p z = 11x/10 - 4/10 >= 0, i.e. x >= 4/11, so σ0 = 1/2 - sigmoid(4/11 - 1/2).
- On x in [9/10, 1] the label cannot flip (min_p z >= 9/10·9/10 - 6/10 > 0): Def. 4 holds.
"""
from __future__ import annotations

import math
import shutil
import stat
import sys
from fractions import Fraction as Q

import numpy as np
import pytest

from smtnn import perturbation as P
from smtnn import properties as pr
from smtnn.backends import DREAL_ENV, get_backend
from smtnn.backends.base import Status
from smtnn.backends.smtlib import script, solve_script
from smtnn.domain import Box
from smtnn.encoder import Encoder
from smtnn.errors import SolverUnavailableError, UnsupportedQueryError
from smtnn.network import Network
from smtnn.result import Verdict

DELTA = Q(1, 10)
TIMEOUT = 60


def line_network() -> Network:
    return Network.from_arrays([[[1.0]]], [[-0.5]], ["sigmoid"])


def two_layer_network() -> Network:
    """x -> relu(x) -> z = relu(x) - 1/2 on x in [0, 1]: the same answers as the line, through a relu."""
    return Network.from_arrays([[[1.0]], [[1.0]]], [[0.0], [-0.5]], ["relu", "sigmoid"])


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def replay_flip(network: Network, pert, witness) -> bool:
    """Independent exact replay of a binary witness: the label at p0 and at the witness's parameters differ."""
    names = [str(n) for n in network.parameter_names()]
    params = [witness.parameters.get(n, p) for n, p in zip(names, pert.nominal)]
    assert pert.contains(params)
    x = list(witness.input)
    def logit(ps):
        it = iter(ps)
        values = x
        for layer in network.layers:
            w = [[next(it) for _ in range(layer.inputs)] for _ in range(layer.outputs)]
            b = [next(it) for _ in range(layer.outputs)]
            values = [sum((wi * v for wi, v in zip(row, values)), Q(0)) + bi for row, bi in zip(w, b)]
            if layer.activation == "relu":
                values = [max(v, Q(0)) for v in values]
        return values[0]
    return (logit(pert.nominal) >= 0) != (logit(params) >= 0)


class BackendSuite:
    """The checks every backend must pass; subclasses set `solver` (and may mark what they cannot do)."""

    solver = ""

    @pytest.fixture(autouse=True)
    def _installed(self):
        try:
            self.backend = get_backend(self.solver)
        except SolverUnavailableError as err:
            pytest.skip(str(err))

    # -- the session interface -----------------------------------------------------------
    def test_session_sat_unsat_push_pop(self):
        """x·y >= 2 on [1, 3/2]^2 is satisfiable; x·y > 5/2 is not (the maximum is 9/4); pop forgets."""
        net = line_network()
        enc = Encoder(net, P.uniform(net, DELTA))
        m = enc.mgr
        x, y = enc.symbol("x"), enc.symbol("y")
        session = self.backend.session(enc)
        session.add(m.And(enc.within([x, y], [Q(1), Q(1)], [Q(3, 2), Q(3, 2)])))
        session.push()
        session.add(m.GT(m.Times(x, y), enc.real(Q(5, 2))))
        assert session.check(TIMEOUT).status is Status.UNSAT
        session.pop()
        session.push()
        session.add(m.GE(m.Times(x, y), enc.real(Q(2))))
        answer = session.check(TIMEOUT)
        assert answer.status is Status.SAT
        tolerance = self.backend.precision or 0
        assert answer.model["x"] * answer.model["y"] >= 2 - 4 * tolerance
        session.pop()
        assert session.calls == 2

    # -- Def. 4 (global label), a robust / non-robust pair -------------------------------------
    @pytest.mark.parametrize("make,flips", [(line_network, (Q(4, 11), Q(2, 3))),
                                            (two_layer_network, (Q(29, 121), Q(69, 81)))])
    def test_global_label_violated_with_replayed_witness(self, make, flips):
        """Only inside `flips` can a label flip: [4/11, 2/3) for the line (module docstring); for the relu
        net, class 1 flips iff 9/10·(9x/10 - 1/10) - 6/10 < 0 (x < 69/81) and class 0 iff
        11/10·(11x/10 + 1/10) - 4/10 >= 0 (x >= 29/121)."""
        net = make()
        pert = P.uniform(net, DELTA)
        result = pr.verify_global_label(net, pert, Box(("0",), ("1",)), solver=self.solver, timeout=TIMEOUT)
        assert result.verdict is Verdict.VIOLATED
        assert flips[0] <= result.witness.input[0] < flips[1]
        assert replay_flip(net, pert, result.witness)

    @pytest.mark.parametrize("make", [line_network, two_layer_network])
    def test_global_label_holds_where_no_flip_exists(self, make):
        """On [9/10, 1] no label flips: min_p z >= 9/10·(81/100 - 1/10) - 6/10 = 39/1000 > 0 (relu net; the line has more)."""
        net = make()
        result = pr.verify_global_label(net, P.uniform(net, DELTA), Box(("0.9",), ("1",)), solver=self.solver,
                                        timeout=TIMEOUT)
        assert result.verdict is Verdict.HOLDS

    # -- Def. 5 and Eq. 13 (σ), hand-computed --------------------------------------------------
    def test_global_sigma_encloses_the_hand_computed_values(self):
        net = line_network()
        est = pr.global_sigma(net, P.uniform(net, DELTA), Box(("0",), ("1",)), solver=self.solver, timeout=TIMEOUT,
                              by_pieces=False)   # this backend's own path (the LP path is tested in test_pieces.py)
        by_hand = {1: sigmoid(1 / 6) - 0.5, 0: 0.5 - sigmoid(4 / 11 - 0.5)}
        for c, value in by_hand.items():
            assert float(est[c].lower) <= value + 1e-12 and value - 1e-12 <= float(est[c].upper), (c, est[c])
            assert est[c].upper - est[c].lower <= Q(1, 10 ** 4)
            assert replay_flip(net, P.uniform(net, DELTA), est[c].witness)
            optimized = "exact optimization" in est[c].provenance.method
            assert optimized == self.backend.capabilities.optimization   # the method names what really ran

    @pytest.mark.parametrize("sigma,verdict", [("0.05", Verdict.HOLDS), ("0.03", Verdict.VIOLATED)])
    def test_global_sigma_pair(self, sigma, verdict):
        """σ = 0.05 is above both classes' σ (0.0416, 0.0340): holds; σ = 0.03 is below both: violated."""
        net = line_network()
        pert = P.uniform(net, DELTA)
        result = pr.verify_global_sigma(net, pert, Box(("0",), ("1",)), sigma, solver=self.solver, timeout=TIMEOUT)
        assert result.verdict is verdict
        if verdict is Verdict.VIOLATED:
            assert replay_flip(net, pert, result.witness)
            z0 = result.witness.input[0] - Q(1, 2)
            assert abs(sigmoid(float(z0)) - 0.5) >= 0.03 - 1e-12

    # -- Def. 3 (local label): solver bisection when two layers move -------------------------
    @pytest.mark.parametrize("x0,verdict", [("0.9", Verdict.HOLDS), ("0.55", Verdict.VIOLATED)])
    def test_local_label_pair(self, x0, verdict):
        """Two-layer relu net, both layers within 1/10: min_p z(x0) = 0.9·(0.9·x0 - 0.1) - 0.6 by hand.

        x0 = 0.9: 0.9·0.71 - 0.6 = 0.039 > 0, holds; x0 = 0.55: 0.9·0.395 - 0.6 < 0, violated.
        """
        net = two_layer_network()
        pert = P.uniform(net, DELTA)
        result = pr.verify_local_label(net, pert, [x0], solver=self.solver, timeout=TIMEOUT)
        assert result.verdict is verdict
        if verdict is Verdict.VIOLATED:
            witness = result.witness
            assert replay_flip(net, pert, type(witness)(witness.parameters, (Q(x0),), witness.value_lower,
                                                         witness.value_upper))

    # -- transcendental capability ---------------------------------------------------------------
    def test_exp_queries_need_the_transcendental_capability(self):
        net = line_network()
        enc = Encoder(net, P.uniform(net, DELTA))
        x = enc.symbol("x")
        text = script([enc.mgr.LE(x, enc.real(Q(1)))], comments=["x <= 1 and exp(x) > 100"],
                      extra_assertions=["(assert (> (exp x) 100))"], uses_exp=True)
        if not self.backend.capabilities.transcendental:
            with pytest.raises(UnsupportedQueryError, match="no transcendental capability"):
                solve_script(self.backend, text, TIMEOUT)
        elif not hasattr(self.backend, "solve_text"):   # dReal's module: pySMT's parser has no exp
            with pytest.raises(UnsupportedQueryError, match="--dreal-path"):
                solve_script(self.backend, text, TIMEOUT)
        else:   # exp(x) <= e < 100 for x <= 1
            assert solve_script(self.backend, text, TIMEOUT).status is Status.UNSAT

    def test_tanh_hidden_units_refined_only_with_exp(self):
        """Two tanh layers before a perturbed one: only a backend with exp may refine the interval bound.

        The certified interval must contain the largest change seen on random points of the box.
        """
        layers = ([[1.0], [-1.0]], [[1.0, 1.0], [1.0, -1.0]], [[1.0, -1.0]])
        net = Network.from_arrays(list(layers), [[0.0, 0.0], [0.0, 0.0], [0.0]], ["tanh", "tanh", "sigmoid"])
        est = pr.local_epsilon(net, P.uniform(net, DELTA), ["0.3"], solver=self.solver, timeout=TIMEOUT)
        rng = np.random.default_rng(0)

        def confidence(shift):
            v = np.array([0.3])
            for k, w in enumerate(layers):
                w = np.array(w) + shift[k][0]
                v = w @ v + shift[k][1]
                v = np.tanh(v) if k < 2 else v
            return sigmoid(float(v[0]))

        zero = [(np.zeros((len(w), len(w[0]))), np.zeros(len(w))) for w in layers]
        sampled = max(abs(confidence([(rng.uniform(-0.1, 0.1, z.shape), rng.uniform(-0.1, 0.1, b.shape)) for z, b in zero])
                          - confidence(zero)) for _ in range(2000))
        assert 0 <= est.lower <= est.upper and sampled <= float(est.upper) + 1e-12
        if not self.backend.capabilities.transcendental:
            assert f"{self.solver} has no exp" in est.reason and est.provenance.calls == 0


class TestZ3(BackendSuite):
    solver = "z3"


class TestCVC5(BackendSuite):
    solver = "cvc5"


class TestDReal(BackendSuite):
    """dReal through whichever of its Python module or its program is installed."""

    solver = "dreal"


# A stand-in `dreal` program that solves with z3 and prints its answer as dReal 4 does (a model value v as
# the box [v rounded down, v rounded up]), so the whole suite also runs through the executable route here.
Z3_AS_DREAL = """#!{python}
import math, sys
from fractions import Fraction
import z3
precision, path = sys.argv[2], sys.argv[-1]
solver = z3.Solver()
solver.set("timeout", 5000)   # z3 may loop on exp: answer unknown soon
solver.from_file(path)
answer = solver.check()
if answer == z3.unsat:
    print("unsat")
elif answer == z3.sat:
    print("delta-sat with delta = " + precision)
    model = solver.model()
    for d in model.decls():
        v = model[d]
        v = v.approx(30) if z3.is_algebraic_value(v) else v
        f = float(Fraction(v.numerator_as_long(), v.denominator_as_long()))
        print(d.name() + " : [" + repr(math.nextafter(f, -math.inf)) + ", " + repr(math.nextafter(f, math.inf)) + "]")
else:
    print("unknown")
"""


class TestDRealProgramOnZ3(BackendSuite):
    """The executable backend end to end (script out, model in, exact replay) with z3 standing in for dReal."""

    solver = "dreal"

    @pytest.fixture(autouse=True)
    def _installed(self, tmp_path, monkeypatch):
        program = tmp_path / "dreal"
        program.write_text(Z3_AS_DREAL.format(python=sys.executable))
        program.chmod(program.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setenv(DREAL_ENV, str(program))
        self.backend = get_backend(self.solver)


class TestDRealProgram(BackendSuite):
    """dReal's `dreal` program on PATH, named explicitly so that it runs even where the module is installed too."""

    solver = "dreal"

    @pytest.fixture(autouse=True)
    def _installed(self, monkeypatch):
        program = shutil.which("dreal")
        if program is None:
            pytest.skip("no 'dreal' program on PATH: install dReal's release .deb (dreal_4.21.06.2_amd64.deb), or use the dreal/dreal4 image (docker/README.md)")
        monkeypatch.setenv(DREAL_ENV, program)
        self.backend = get_backend(self.solver)


def test_registry_reports_each_solver_and_selects_by_capability():
    from smtnn.backends import BACKENDS, available, select

    found = available()
    assert list(found) == list(BACKENDS) and found["z3"].capabilities.exact
    for name, backend in found.items():
        assert isinstance(backend, str) and "install" in backend or backend.name == name
    assert select(exact=True, optimization=True).name == "z3"
    inexact = select(exact=False) if not isinstance(found["dreal"], str) else None
    assert inexact is None or not inexact.capabilities.exact
    with pytest.raises(SolverUnavailableError, match="no installed solver"):
        select(exact=True, transcendental=True)   # no exact solver has exp
    with pytest.raises(ValueError, match="unknown capabilities"):
        select(fast=True)
