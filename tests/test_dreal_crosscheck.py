"""Z3 and dReal agree on the case-study queries up to dReal's precision; every dReal model is replayed.

Runs only where `import dreal` works (it needs the ibex 2.7.4 library dReal's wheel links against;
see README, section "dReal").
"""
from fractions import Fraction

import pytest

dreal = pytest.importorskip("dreal", reason="dReal is not importable: install the dreal wheel and its ibex 2.7.4 library (README, section 'dReal')")

from case_studies.models import domain, load_case_study  # noqa: E402
from smtnn import Box, Network, perturbation, properties  # noqa: E402
from smtnn.bounds import replay_logits  # noqa: E402
from smtnn.result import Verdict  # noqa: E402

CASES = [(name, delta) for name in ("cats", "athletes_relu", "athletes_linear") for delta in ("0.005", "0.01")]
TIMEOUT = 60  # dReal's bisection on the 13-parameter MLPs can run for many minutes per check


def _problem(name, delta):
    net = load_case_study(name)
    lower, upper = domain(name)
    return net, perturbation.uniform(net, delta), Box(tuple(lower), tuple(upper))


@pytest.mark.parametrize("name,delta", [c for c in CASES if c[0] == "cats"])
def test_sigma_agrees_within_precision(name, delta):
    net, pert, box = _problem(name, delta)
    exact = properties.global_sigma(net, pert, box, solver="z3")
    approx = properties.global_sigma(net, pert, box, solver="dreal", timeout=TIMEOUT)
    for c in exact:
        z, d = exact[c], approx[c]
        if d.witness is None:
            assert "timeout" in d.reason, d.reason   # only a timeout may leave dReal without a witness
            continue
        # both lower ends come from replayed witnesses, both upper ends from UNSAT answers
        assert d.lower <= z.upper + Fraction(1, 10 ** 9) and z.lower <= d.upper + Fraction(1, 10 ** 9)
        if d.converged:
            assert abs(d.lower - z.lower) < Fraction(1, 10 ** 4)


@pytest.mark.parametrize("name,delta", CASES)
def test_label_verdicts_agree_and_witnesses_replay(name, delta):
    net, pert, box = _problem(name, delta)
    z = properties.verify_global_label(net, pert, box, solver="z3")
    d = properties.verify_global_label(net, pert, box, solver="dreal", timeout=TIMEOUT)
    assert d.verdict in (z.verdict, Verdict.UNKNOWN)
    if d.verdict is Verdict.VIOLATED:
        names = [str(n) for n in net.parameter_names()]
        params = [d.witness.parameters.get(n, p) for n, p in zip(names, pert.nominal)]
        assert pert.contains(params) and box.contains(d.witness.input)
        before = replay_logits(net, d.witness.input, pert.nominal)[0].lo >= 0
        after = replay_logits(net, d.witness.input, params)[0].lo >= 0
        assert before != after


def test_sigmoid_hidden_layer_on_dreal_is_sound():
    """A sigmoid hidden layer: Z3 sees only certified ranges, dReal the exp terms; a flip found by either replays."""
    net = Network.from_arrays([[[1.5, -0.5], [0.25, 1.0]], [[1.0, -1.0]]], [[0.1, -0.2], [0.05]], ["sigmoid", "sigmoid"])
    pert = perturbation.uniform(net, "0.05")
    box = Box(("-1", "-1"), ("1", "1"))
    for solver in ("z3", "dreal"):
        r = properties.verify_global_label(net, pert, box, solver=solver, timeout=TIMEOUT)
        if r.verdict is Verdict.VIOLATED:
            names = [str(n) for n in net.parameter_names()]
            params = [r.witness.parameters.get(n, p) for n, p in zip(names, pert.nominal)]
            z0 = replay_logits(net, r.witness.input, pert.nominal)[0]
            zp = replay_logits(net, r.witness.input, params)[0]
            assert (z0.lo >= 0) != (zp.hi >= 0) or (z0.hi < 0) != (zp.lo < 0)
