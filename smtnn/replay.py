"""Replay a saved JSON result: re-check its witness exactly, on the network it was computed for.

A user who keeps a result (``smtnn verify ... --json > result.json``) can check it later, or in
a pipeline, without trusting the run that produced it: :func:`replay` rebuilds the perturbation
box from the result's query (``perturbation_spec``), puts the witness's exact parameters
(``parameters_exact``, rationals "p/q") into the network, checks that they lie in the box and
that the input lies at x0 or in the domain D, then recomputes the claimed quantity in exact
rational arithmetic (sigmoid, tanh and softmax by mpmath interval arithmetic at 120 bits, as the
engines do, so a value is a certified enclosure):

- a label flip (Defs. 3-5, "violated"): the nominal label is certain, and the perturbed network
  certainly gives another label under the result's decision rule (argmax or argmin, the lowest
  index winning a tie); with σ (Def. 5) the input is also at least σ from the level;
- a change of f (Defs. 1-2, "violated"): |f_p(x) - f_p0(x)| certainly exceeds ε;
- an estimate (Eqs. 11-13): the witness certainly reaches the reported lower end (σ witnesses
  also flip the label of their class);
- in every case the witness's own value encloses the recomputed one (they overlap).

Results without a witness ("holds", "unknown", an estimate of 0) have nothing to replay.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import mpmath

from . import perturbation as perturbations
from .bounds import replay_logits
from .domain import Box
from .errors import InvalidInputError, SmtnnError
from .exact import Enclosure, logit_bracket, sigmoid_enclosure, to_fraction
from .network import Network
from .perturbation import Perturbation

Q = Fraction
ESTIMATE_SLACK = Q(1, 2 ** 96)   # interval enclosures at 120 bits may round the same value a few ulps apart


@dataclass
class ReplayReport:
    """What was checked and what failed, per witness; ``ok`` when every witness replays."""

    checked: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    replayed: int = 0

    @property
    def ok(self) -> bool:
        return self.replayed > 0 and not self.failures

    def text(self) -> str:
        lines = [f"ok: {c}" for c in self.checked] + [f"FAILED: {f}" for f in self.failures]
        head = "witness replays" if self.ok else "witness does not replay" if self.failures else "nothing replayed"
        return "\n".join([head] + ["  " + line for line in lines])


# -- reading the result -------------------------------------------------------------------
def _results(result_json) -> list[tuple[str, dict]]:
    """The single results inside a result, a class -> estimate mapping (global σ) or a list."""
    if isinstance(result_json, list):
        return [(f"[{i}]", r) for i, r in enumerate(result_json) if isinstance(r, dict)]
    if not isinstance(result_json, dict):
        raise InvalidInputError("the result is not a JSON object: give the JSON that smtnn printed with --json")
    if "kind" in result_json:
        return [("", result_json)]
    return [(f"class {k}", r) for k, r in result_json.items() if isinstance(r, dict) and "kind" in r]


def _fraction(text, what: str) -> Fraction:
    try:
        return to_fraction(text if isinstance(text, str) else float(text))
    except (SmtnnError, TypeError, ValueError):
        raise InvalidInputError(f"{what} = {text!r} is not a number") from None


def _exact_values(witness: dict, key: str):
    exact = witness.get(key + "_exact")
    if exact is not None:
        return exact, True
    return witness.get(key), False


def rebuild_perturbation(spec: dict, network: Network) -> Perturbation:
    """The perturbation box a result's ``perturbation_spec`` describes, rebuilt on this network."""
    model = spec.get("model")
    if model == "uniform":
        return perturbations.uniform(network, spec["delta"])
    if model == "relative":
        return perturbations.relative(network, spec["delta"])
    if model == "per_layer":
        return perturbations.per_layer(network, spec["deltas"])
    if model == "subset":
        return perturbations.subset(network, spec["delta"], layers=spec.get("layers"), indices=spec.get("indices"))
    if model == "quantization":
        return perturbations.quantization(network, spec["scheme"], spec.get("bits"))
    raise InvalidInputError(f"unknown perturbation model {model!r} in the result")


# -- exact semantics ----------------------------------------------------------------------
def _sigmoid_of(z: Enclosure) -> Enclosure:
    return Enclosure(sigmoid_enclosure(z.lo).lo, sigmoid_enclosure(z.hi).hi)


def _scores(network: Network, z: Sequence[Enclosure]) -> list[Enclosure]:
    return list(z) if network.decision == "argmax" else [-v for v in z]


def certain_label(network: Network, z: Sequence[Enclosure]) -> int | None:
    """The label under the network's decision rule, or None when the enclosures leave it open."""
    if network.binary:   # sigmoid(z) >= level iff z >= logit(level): exact at level 1/2, where sigmoid is not
        t = logit_bracket(network.threshold)
        return 1 if z[0].lo >= t.hi else 0 if z[0].hi < t.lo else None
    s = _scores(network, z)
    for c in range(len(s)):   # c beats every earlier class strictly and every later one or ties
        if all(s[c].lo > s[j].hi for j in range(c)) and all(s[c].lo >= s[j].hi for j in range(c + 1, len(s))):
            return c
    return None


def certainly_not(network: Network, c: int, z: Sequence[Enclosure]) -> bool:
    """Is the label of z certainly other than c?"""
    if network.binary:
        got = certain_label(network, z)
        return got is not None and got != c
    s = _scores(network, z)
    return any((s[j].lo >= s[c].hi) if j < c else (s[j].lo > s[c].hi) for j in range(len(s)) if j != c)


def _winning_margin(network: Network, z: Sequence[Enclosure]) -> Enclosure:
    s = _scores(network, z)
    lows, highs = sorted(v.lo for v in s), sorted(v.hi for v in s)
    return Enclosure(max(lows[-1] - highs[-2], Q(0)), highs[-1] - lows[-2])


def _softmax(z: Sequence[Enclosure], c: int) -> Enclosure:
    iv = mpmath.iv
    iv.prec = 120

    def mp(q: Fraction):
        return iv.mpf(q.numerator) / q.denominator
    low = 1 / (1 + sum(iv.exp(mp(z[j].hi - z[c].lo)) for j in range(len(z)) if j != c))
    high = 1 / (1 + sum(iv.exp(mp(z[j].lo - z[c].hi)) for j in range(len(z)) if j != c))
    return Enclosure(Enclosure.of_mpi(low).lo, Enclosure.of_mpi(high).hi)


def _abs_change(a: Enclosure, b: Enclosure) -> Enclosure:
    d = a - b
    if d.lo >= 0:
        return d
    if d.hi <= 0:
        return -d
    return Enclosure(Q(0), max(-d.lo, d.hi))


def change_of_f(network: Network, z0: Sequence[Enclosure], zp: Sequence[Enclosure]) -> Enclosure:
    """|f_p(x) - f_p0(x)|: the sigmoid confidence, or the largest change of a softmax class probability."""
    if network.binary:
        return _abs_change(_sigmoid_of(zp[0]), _sigmoid_of(z0[0]))
    changes = [_abs_change(_softmax(zp, c), _softmax(z0, c)) for c in range(len(z0))]
    return Enclosure(max(v.lo for v in changes), max(v.hi for v in changes))


def sigma_of(network: Network, c: int, z0: Sequence[Enclosure]) -> Enclosure:
    """Eq. 13's measure: |f_p0(x) - level| for class c (binary) or the nominal margin of c."""
    if network.binary:
        s, level = _sigmoid_of(z0[0]), Enclosure.point(network.threshold)
        return s - level if c == 1 else level - s
    s = _scores(network, z0)
    gaps = [s[c] - s[j] for j in range(len(s)) if j != c]
    return Enclosure(min(g.lo for g in gaps), min(g.hi for g in gaps))


# -- the replay -----------------------------------------------------------------------------
_KINDS = (
    (re.compile(r"^local δ-robustness of the label"), "local-label"),
    (re.compile(r"^global δ-robustness of the label"), "global-label"),
    (re.compile(r"^global δσ-robustness"), "global-sigma-verify"),
    (re.compile(r"^local \(δ,ε\)-robustness|^local epsilon"), "local-epsilon"),
    (re.compile(r"^global \(δ,ε\)-robustness|^global epsilon"), "global-epsilon"),
    (re.compile(r"^global sigma for class (\d+)"), "global-sigma"),
)


def _kind(prop: str) -> tuple[str, re.Match]:
    for pattern, kind in _KINDS:
        match = pattern.search(prop)
        if match:
            return kind, match
    raise InvalidInputError(f"the result's property {prop!r} is not one smtnn replays")


def replay(result_json, network: Network, perturbation: Perturbation | None = None) -> ReplayReport:
    """Re-check every witness in a saved JSON result (a dict as printed by ``--json``) on ``network``.

    Args:
        result_json: one result, a class -> estimate mapping (global σ) or a list of results.
        network: the model the result was computed for (its decision rule and level are taken
            from the result's query when it names them).
        perturbation: the box to check against, for results of a custom box without a
            ``perturbation_spec``; by default rebuilt from the spec.
    Raises:
        InvalidInputError: the JSON is not a smtnn result, or its query does not fit the network.
    """
    report = ReplayReport()
    for label, result in _results(result_json):
        witness = result.get("witness")
        if not witness:
            continue
        where = f"{label}: " if label else ""
        before = len(report.failures)
        try:
            _replay_one(result, witness, network, perturbation, report, where)
        except (KeyError, IndexError, TypeError, AttributeError) as err:
            raise InvalidInputError(f"{where}the result is incomplete or malformed ({type(err).__name__}: {err}); "
                                    "give the JSON smtnn printed with --json") from None
        report.replayed += 1
        if len(report.failures) == before:
            report.checked.append(f"{where}{result.get('property', '?')}: witness replayed exactly")
    return report


def _network_for(query: dict, network: Network) -> Network:
    changes = {}
    decision = query.get("decision")
    if decision is not None and decision != network.decision:
        changes["decision"] = decision
    level = query.get("level")
    if level is not None and network.binary and _fraction(level, "level") != network.threshold:
        changes["threshold"] = _fraction(level, "level")
    return dataclasses.replace(network, **changes) if changes else network


def _replay_one(result: dict, witness: dict, network: Network, pert: Perturbation | None, report: ReplayReport, where: str):
    fail = lambda text: report.failures.append(where + text)  # noqa: E731
    query = result.get("query") or {}
    kind, match = _kind(str(query.get("property") or result.get("property", "")))
    net = _network_for(query, network)
    if pert is None:
        spec = query.get("perturbation_spec")
        if spec is None:
            fail("the result does not record its perturbation box (perturbation_spec); pass the perturbation to replay()")
            return
        pert = rebuild_perturbation(spec, net)
    elif len(pert.nominal) != net.n_parameters:
        raise InvalidInputError("the perturbation was built for another network")
    # parameters: exact rationals, inside the box
    values, exact = _exact_values(witness, "parameters")
    if not exact:
        fail("the witness gives no exact parameters (parameters_exact); floats cannot be replayed exactly")
        return
    index = {str(n): i for i, n in enumerate(net.parameter_names())}
    params = list(pert.nominal)
    for name, text in (values or {}).items():
        if name not in index:
            fail(f"the witness names parameter {name}, which '{net.name}' does not have")
            return
        i, value = index[name], _fraction(text, name)
        if not pert.lower[i] <= value <= pert.upper[i]:
            fail(f"parameter {name} = {value} lies outside its box [{pert.lower[i]}, {pert.upper[i]}]")
            return
        params[i] = value
    report.checked.append(f"{where}{len(values or {})} changed parameters inside the box ({pert.description})")
    # input: x0 for local properties, inside D for global ones
    inputs, exact = _exact_values(witness, "input")
    if kind.startswith("local"):
        if "x0" not in query:
            raise InvalidInputError("a local result without x0 in its query")
        x = [_fraction(v, "x0") for v in query["x0"]]
        if inputs is not None and [_fraction(v, "input") for v in inputs] != x:
            fail("the witness input is not the query's x0")
            return
    else:
        if inputs is None or not exact:
            fail("a global witness without an exact input (input_exact)")
            return
        x = [_fraction(v, "input") for v in inputs]
        dom = query.get("domain")
        if dom is None:
            raise InvalidInputError("a global result without its domain in the query")
        box = Box(tuple(dom["lower"]), tuple(dom["upper"]))
        if len(x) != box.dimension or not box.contains(x):
            fail(f"the witness input {[str(v) for v in x]} lies outside the domain")
            return
    net.check_input(x, "the witness input")
    z0, zp = replay_logits(net, x, pert.nominal), replay_logits(net, x, params)
    claimed = Enclosure(_fraction(witness.get("value_exact", witness["value"])[0], "value"),
                        _fraction(witness.get("value_exact", witness["value"])[1], "value"))
    if kind in ("local-label", "global-label", "global-sigma-verify"):
        c = certain_label(net, z0)
        if c is None:
            fail("the nominal label at the witness input is not certain")
            return
        if not certainly_not(net, c, zp):
            fail(f"the perturbed network does not certainly change label {c} ({net.decision}, lowest index wins a tie)")
            return
        report.checked.append(f"{where}label {c} changes to {certain_label(net, zp)} under {net.decision if not net.binary else 'the level'}")
        value = zp[0] if net.binary else _winning_margin(net, zp)
        if kind == "global-sigma-verify":
            sigma = _fraction(query.get("sigma"), "sigma")
            if not sigma_of(net, c, z0).lo >= sigma:
                fail(f"the witness input is not certainly σ = {sigma} away from the level")
                return
    elif kind in ("local-epsilon", "global-epsilon"):
        value = change_of_f(net, z0, zp)
        if result.get("kind") == "verification":
            eps = _fraction(query.get("threshold"), "ε")
            if not value.lo > eps:
                fail(f"|f_p(x) - f_p0(x)| = [{float(value.lo)}, {float(value.hi)}] does not certainly exceed ε = {eps}")
                return
            report.checked.append(f"{where}|f_p(x) - f_p0(x)| >= {float(value.lo):.9g} > ε = {eps}")
        else:
            _reaches_lower(result, value, fail, report, where)
    else:   # global σ estimate for one class
        c = int(match.group(1))
        if certain_label(net, z0) != c:
            fail(f"the witness input's nominal label is not certainly {c}")
            return
        if not certainly_not(net, c, zp):
            fail(f"the perturbed network does not certainly change label {c}")
            return
        value = sigma_of(net, c, z0)
        _reaches_lower(result, value, fail, report, where)
    if kind.endswith("epsilon"):   # a multi-class claim may be one class's change, below the largest one
        if value.hi < claimed.lo:
            fail(f"the witness claims value at least {claimed.lo} but replays to [{value.lo}, {value.hi}]")
    elif value.hi < claimed.lo or claimed.hi < value.lo:
        fail(f"the witness claims value [{claimed.lo}, {claimed.hi}] but replays to [{value.lo}, {value.hi}]")


def _reaches_lower(result: dict, value: Enclosure, fail, report: ReplayReport, where: str):
    bounds = result.get("bounds_exact") or result.get("bounds")
    if not bounds:
        raise InvalidInputError("an estimate without bounds")
    lower = _fraction(bounds[0], "lower")
    if value.lo < lower - ESTIMATE_SLACK:
        fail(f"the witness reaches {float(value.lo)!r}, below the reported lower end {float(lower)!r}")
        return
    report.checked.append(f"{where}the witness reaches the lower end {float(lower):.9g}")


# -- command line (``smtnn replay RESULT.json MODEL``) ------------------------------------
def main(argv=None) -> int:
    """Replay a saved result: exit 0 when every witness replays, 1 when one does not, 2 on bad input."""
    parser = argparse.ArgumentParser(prog="smtnn replay", description="Re-check a saved JSON result's witness exactly.")
    parser.add_argument("result", help="the JSON file smtnn printed with --json")
    parser.add_argument("model", help="the model file the result was computed for")
    args = parser.parse_args(argv)
    from .loaders import load_network

    try:
        try:
            text = Path(args.result).read_text()
        except OSError as err:
            raise InvalidInputError(f"cannot read {args.result}: {err.strerror or err}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"{args.result} is not JSON ({err.msg} at line {err.lineno}): give smtnn's --json output") from None
        network = load_network(args.model)
        report = replay(data, network)
    except SmtnnError as err:
        print(f"smtnn replay: error: {err}", file=sys.stderr)
        return 2
    if report.replayed == 0:
        print(f"smtnn replay: error: {args.result} holds no witness (nothing to replay: a 'holds' or 'unknown' answer, "
              "or an estimate without a witness)", file=sys.stderr)
        return 2
    print(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
