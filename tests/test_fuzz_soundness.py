"""Property-based soundness fuzzing: no answer smtnn gives may be contradicted by sampling.

Random small networks (0-2 hidden layers of relu/linear/tanh/sigmoid units; one sigmoid output or
three softmax/linear logits read by argmax or argmin), weights mixing zeros, tiny (1e-6), ordinary and large (1e2) values,
random perturbation models (uniform, relative, per layer, a subset of layers, fixed/float16/int
quantization), random domains and inputs.  For every answer:

- HOLDS is never contradicted by dense float64 sampling of (x, p), box corners included; a
  sampled contradiction counts only when it is confirmed in exact arithmetic
  (:func:`smtnn.bounds.replay_logits`), so float rounding never raises a false alarm;
- a VIOLATED witness lies in the box (and in D) and flips the label in exact replay, its
  parameters merged into the nominal ones;
- an estimate has lower <= upper, its witness achieves at least ``lower`` in exact replay, and
  no sampled value exceeds ``upper`` (by more than SLACK = 1e-9; checked exactly).

Only soundness is checked, not convergence: every solver call has a small timeout.

The generators and checkers here are shared with the long campaign ``tests/campaign.py``
(``python -m tests.campaign --minutes 30``), which runs them on random seeds and saves every
failing case.  The pytest budget (derandomized, a fixed number of examples) stays well below 90 s.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Sequence

import mpmath
import numpy as np
import pytest

from smtnn import perturbation as perturbations
from smtnn import properties
from smtnn.bounds import replay_logits
from smtnn.domain import Box
from smtnn.errors import SmtnnError
from smtnn.exact import Enclosure, logit_bracket, sigmoid_enclosure
from smtnn.network import Network
from smtnn.result import Estimate, Verdict, VerificationResult, Witness

Q = Fraction
SLACK = Q(1, 10 ** 9)
PROPERTIES = ("local_epsilon", "verify_local_epsilon", "verify_local_label", "verify_global_label",
              "global_sigma", "verify_global_sigma", "global_epsilon")
BINARY_ONLY = ("verify_global_sigma",)


# =====================================================================================
# drawing: one interface over hypothesis (shrinkable) and random.Random (the campaign)
# =====================================================================================
class RandomDraw:
    """Draws from a seeded random.Random; the same calls as :class:`HypothesisDraw`."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, options: Sequence):
        return options[self.rng.randrange(len(options))]


class HypothesisDraw:
    """Draws through hypothesis' ``st.data()`` so failing cases shrink."""

    def __init__(self, data):
        from hypothesis import strategies as st

        self.data, self.st = data, st

    def integer(self, lo: int, hi: int) -> int:
        return self.data.draw(self.st.integers(lo, hi))

    def choice(self, options: Sequence):
        return self.data.draw(self.st.sampled_from(list(options)))


# =====================================================================================
# cases
# =====================================================================================
@dataclass
class Case:
    """One query: a network (saved as .npz when it fails) and a JSON-able description of the rest."""

    network: Network
    query: dict[str, Any]

    def perturbation(self):
        return build_perturbation(self.network, self.query["perturbation"])

    def domain(self) -> Box:
        d = self.query["domain"]
        return Box(tuple(d["lower"]), tuple(d["upper"]))


def draw_weight(d) -> float:
    kind = d.choice(("zero", "tiny", "unit", "unit", "unit", "odd", "large"))
    sign = d.choice((1.0, -1.0))
    if kind == "zero":
        return 0.0
    if kind == "tiny":
        return sign * d.integer(1, 9) * 1e-6
    if kind == "unit":
        return sign * d.integer(1, 32) / 16
    if kind == "odd":   # binary expansions that do not terminate early
        return sign * d.integer(1, 30) / d.choice((3, 7, 10, 11))
    return sign * d.integer(1, 4) * 25.0   # up to 1e2


def draw_network(d, output: str) -> Network:
    n_in = d.integer(1, 3)
    n_hidden = d.integer(0, 2)
    widths = [d.integer(1, 3) for _ in range(n_hidden)]
    acts = [d.choice(("relu", "relu", "linear", "tanh", "sigmoid")) for _ in range(n_hidden)]
    if output == "binary":
        sizes, out_act = widths + [1], "sigmoid"
    else:
        sizes, out_act = widths + [3], d.choice(("softmax", "softmax", "linear"))
    weights, biases, prev = [], [], n_in
    for size in sizes:
        weights.append([[draw_weight(d) for _ in range(prev)] for _ in range(size)])
        biases.append([draw_weight(d) for _ in range(size)])
        prev = size
    threshold = d.choice(("1/2", "1/2", "1/2", "3/10", "7/10")) if output == "binary" else "1/2"
    decision = "argmax" if output == "binary" else d.choice(("argmax", "argmax", "argmin"))
    return Network.from_arrays(weights, biases, acts + [out_act], threshold=threshold, name="fuzz", decision=decision)


def draw_perturbation(d, network: Network) -> dict:
    kind = d.choice(("uniform", "uniform", "relative", "per_layer", "subset", "quantize"))
    deltas = ("0", "1/1000000", "1/1000", "1/100", "1/20", "1/4", "1")
    if kind == "uniform":
        return {"model": "uniform", "delta": d.choice(deltas[1:])}
    if kind == "relative":
        return {"model": "relative", "delta": d.choice(("1/1000", "1/100", "1/10", "1/2"))}
    if kind == "per_layer":
        return {"model": "per_layer", "deltas": [d.choice(deltas) for _ in network.layers]}
    if kind == "subset":
        n = len(network.layers)
        layers = sorted({d.choice(list(range(-1, n))) for _ in range(d.integer(1, n))})
        return {"model": "subset", "delta": d.choice(deltas[1:]), "layers": layers}
    scheme = d.choice(("fixed", "float16", "int"))
    bits = None if scheme == "float16" else d.integer(0, 8) if scheme == "fixed" else d.integer(2, 8)
    return {"model": "quantize", "scheme": scheme, "bits": bits}


def build_perturbation(network: Network, spec: dict):
    model = spec["model"]
    if model == "uniform":
        return perturbations.uniform(network, spec["delta"])
    if model == "relative":
        return perturbations.relative(network, spec["delta"])
    if model == "per_layer":
        return perturbations.per_layer(network, spec["deltas"])
    if model == "subset":
        return perturbations.subset(network, spec["delta"], layers=spec["layers"])
    return perturbations.quantization(network, spec["scheme"], spec["bits"])


def draw_domain(d, n: int) -> tuple[list[str], list[str], list[str]]:
    """Lower and upper bounds and an input inside, as exact decimal / fraction strings."""
    lower, upper, x0 = [], [], []
    for _ in range(n):
        lo = Q(d.integer(-12, 12), 4)
        width = Q(d.choice(("0", "1/1000", "1/4", "1", "3")))
        pos = Q(d.choice(("0", "1/2", "1", "1/3", "9/10")))
        lower.append(str(lo))
        upper.append(str(lo + width))
        x0.append(str(lo + pos * width))
    return lower, upper, x0


def with_tie_at(network: Network, x: list[Q], pick: int) -> Network:
    """The network with its output bias moved so that x lies exactly on the decision boundary (if representable).

    Binary (level 1/2): z(x) = 0.  Multi-class: the top logit and another one tie.  Unchanged when the
    logits are not exact points (sigmoid/tanh units) or the new bias is not a float.
    """
    z = replay_logits(network, x, network.exact_parameters())
    if any(v.lo != v.hi for v in z) or (network.binary and network.threshold != Q(1, 2)):
        return network
    bias = [Q(float(b)) for b in network.layers[-1].bias]
    if network.binary:
        bias[0] -= z[0].lo
    else:
        values = [network.score_sign * v.lo for v in z]
        c = values.index(max(values))
        j = [k for k in range(len(values)) if k != c][pick % (len(values) - 1)]
        bias[j] += network.score_sign * (values[c] - values[j])
    if any(Q(float(b)) != b for b in bias):
        return network
    biases = [layer.bias for layer in network.layers[:-1]] + [[float(b) for b in bias]]
    return Network.from_arrays([layer.weights for layer in network.layers], biases,
                               [layer.activation for layer in network.layers], threshold=network.threshold, name=network.name,
                               decision=network.decision)


def draw_case(d, prop: str, *, timeout: float = 2.0, max_boxes: int = 20_000, solver: str = "z3") -> Case:
    output = "binary" if prop in BINARY_ONLY else d.choice(("binary", "binary", "multi"))
    if prop == "global_epsilon":
        output = d.choice(("binary", "binary", "binary", "multi"))
    network = draw_network(d, output)
    lower, upper, x0 = draw_domain(d, network.n_inputs)
    if d.choice((False, False, False, True)):   # put x0 exactly on the decision boundary (a tie), when exact
        network = with_tie_at(network, [Q(v) for v in x0], d.integer(0, 1))
    query = {"property": prop, "perturbation": draw_perturbation(d, network), "domain": {"lower": lower, "upper": upper},
             "x0": x0, "timeout": timeout, "tolerance": d.choice(("1/1000000", "1/1000", "1/20")), "solver": solver}
    if prop.endswith("epsilon") and prop.startswith("verify"):
        query["epsilon"] = d.choice(("0", "1/1000", "1/100", "1/10", "1/2"))
    if prop == "verify_global_sigma":
        query["sigma"] = d.choice(("0", "1/100", "1/10", "1/4", "49/100"))
    if prop == "global_epsilon":
        query["max_boxes"] = max_boxes
    return Case(network, query)


def run_case(case: Case):
    """The smtnn answer to a case (a result, or a dict of class -> Estimate)."""
    net, q = case.network, case.query
    pert = case.perturbation()
    prop = q["property"]
    opts = {"timeout": q["timeout"], "solver": q.get("solver", "z3")}
    if q.get("memory") is not None:   # the capped path: the call runs in a child process (smtnn.budget)
        opts["memory"] = q["memory"]
    if prop == "local_epsilon":
        return properties.local_epsilon(net, pert, q["x0"], tolerance=q["tolerance"], **opts)
    if prop == "verify_local_epsilon":
        return properties.verify_local_epsilon(net, pert, q["x0"], q["epsilon"], tolerance=q["tolerance"], **opts)
    if prop == "verify_local_label":
        return properties.verify_local_label(net, pert, q["x0"], **opts)
    if prop == "verify_global_label":
        return properties.verify_global_label(net, pert, case.domain(), **opts)
    if prop == "global_sigma":
        return properties.global_sigma(net, pert, case.domain(), tolerance=q["tolerance"], **opts)
    if prop == "verify_global_sigma":
        return properties.verify_global_sigma(net, pert, case.domain(), q["sigma"], **opts)
    if prop == "global_epsilon":
        return properties.global_epsilon(net, pert, case.domain(), tolerance=q["tolerance"], max_boxes=q["max_boxes"],
                                         **opts)
    raise ValueError(prop)


# =====================================================================================
# exact semantics (independent of smtnn's search code; replay_logits is the reference pass)
# =====================================================================================
_IV = mpmath.iv


def exact_logits(net: Network, x: Sequence[Q], params: Sequence[Q]) -> list[Enclosure]:
    return replay_logits(net, list(x), list(params))


def sigmoid_of(z: Enclosure) -> Enclosure:
    return Enclosure(sigmoid_enclosure(z.lo).lo, sigmoid_enclosure(z.hi).hi)


def scores_of(net: Network, z: Sequence[Enclosure]) -> list[Enclosure]:
    """The values the decision maximizes: the logits (argmax) or their negations (argmin)."""
    return list(z) if net.decision == "argmax" else [-v for v in z]


def label_of(net: Network, z: Sequence[Enclosure]) -> int | None:
    """Class 1 iff sigmoid(z) >= l (binary), else the first largest score (lowest index on ties); None if undecided."""
    if net.binary:
        if net.threshold == Q(1, 2):
            return 1 if z[0].lo >= 0 else 0 if z[0].hi < 0 else None
        s = sigmoid_of(z[0])
        return 1 if s.lo >= net.threshold else 0 if s.hi < net.threshold else None
    z = scores_of(net, z)
    for c in range(len(z)):   # c beats every earlier logit strictly and every later one or ties (decided on enclosures)
        if all(z[c].lo > z[j].hi for j in range(c)) and all(z[c].lo >= z[j].hi for j in range(c + 1, len(z))):
            return c
    return None


def flips(net: Network, c: int, z: Sequence[Enclosure]) -> bool | None:
    """Does a network with logits z flip the label c?  Multi-class: another class takes over (lowest index on ties)."""
    if net.binary:
        got = label_of(net, z)
        return None if got is None else got != c
    z = scores_of(net, z)
    others = [j for j in range(len(z)) if j != c]
    if any(z[j].lo >= z[c].hi if j < c else z[j].lo > z[c].hi for j in others):
        return True
    if all(z[j].hi < z[c].lo if j < c else z[j].hi <= z[c].lo for j in others):
        return False
    return None


def softmax_of(z: Sequence[Enclosure], c: int) -> Enclosure:
    """Enclosure of softmax(z)_c from logit enclosures."""
    def iv(q: Q):
        return _IV.mpf(q.numerator) / q.denominator
    lo_terms = sum(_IV.exp(iv(z[j].hi - z[c].lo)) for j in range(len(z)) if j != c)
    hi_terms = sum(_IV.exp(iv(z[j].lo - z[c].hi)) for j in range(len(z)) if j != c)
    return Enclosure(Enclosure.of_mpi(1 / (1 + lo_terms)).lo, Enclosure.of_mpi(1 / (1 + hi_terms)).hi)


def abs_change(a: Enclosure, b: Enclosure) -> Enclosure:
    """Enclosure of |a - b|."""
    d = a - b
    if d.lo >= 0:
        return d
    if d.hi <= 0:
        return -d
    return Enclosure(Q(0), max(-d.lo, d.hi))


def epsilon_value(net: Network, z0: Sequence[Enclosure], zp: Sequence[Enclosure]) -> Enclosure:
    """|f_p(x) - f_p0(x)|: sigmoid confidence, or the largest change of a class probability."""
    if net.binary:
        return abs_change(sigmoid_of(zp[0]), sigmoid_of(z0[0]))
    changes = [abs_change(softmax_of(zp, c), softmax_of(z0, c)) for c in range(len(z0))]
    return Enclosure(max(v.lo for v in changes), max(v.hi for v in changes))


def sigma_value(net: Network, c: int, z0: Sequence[Enclosure]) -> Enclosure:
    """Eq. 13's measure at x: |f_p0(x) - l| for class c (binary), or the logit margin of c (multi-class)."""
    if net.binary:
        s = sigmoid_of(z0[0])
        l = Enclosure.point(net.threshold)
        return s - l if c == 1 else l - s
    z0 = scores_of(net, z0)
    others = [j for j in range(len(z0)) if j != c]
    return Enclosure(min(z0[c].lo - z0[j].hi for j in others), min(z0[c].hi - z0[j].lo for j in others))


# =====================================================================================
# sampling (float64 as a filter; every contradiction is confirmed exactly)
# =====================================================================================
@dataclass
class Samples:
    xs: np.ndarray                    # (n_x, n_in) float inputs
    xs_exact: list[list[Q]]
    ps: np.ndarray                    # (n_p, n_params) float parameters
    lower: list[Q]
    upper: list[Q]

    def exact_params(self, i: int) -> list[Q]:
        """Sample i as exact rationals, clamped into the box (float rounding of the ends stays inside)."""
        return [min(max(Q(float(v)), lo), hi) for v, lo, hi in zip(self.ps[i], self.lower, self.upper)]


def sample_parameters(net: Network, pert, rng: np.random.Generator, n_corners: int, n_inside: int) -> np.ndarray:
    lo = np.array([float(v) for v in pert.lower])
    hi = np.array([float(v) for v in pert.upper])
    nominal = net.parameter_vector()
    rows = [nominal, lo, hi]
    masks = rng.random((n_corners, lo.size)) < 0.5
    rows += list(np.where(masks, lo, hi))
    # corners that move one layer only (deep perturbations often peak there)
    for ws, bs in net.layer_slices():
        for _ in range(max(2, n_corners // 8)):
            p = nominal.copy()
            m = rng.random(bs.stop - ws.start) < 0.5
            p[ws.start:bs.stop] = np.where(m, lo[ws.start:bs.stop], hi[ws.start:bs.stop])
            rows.append(p)
    t = rng.random((n_inside, lo.size))
    rows += list(lo + t * (hi - lo))
    return np.array(rows)


def sample_inputs(lower: Sequence[Q], upper: Sequence[Q], rng: np.random.Generator, n_inside: int) -> list[list[Q]]:
    n = len(lower)
    points = [[lo if (k >> i) & 1 == 0 else hi for i, (lo, hi) in enumerate(zip(lower, upper))] for k in range(2 ** n)]
    points.append([(lo + hi) / 2 for lo, hi in zip(lower, upper)])
    for _ in range(n_inside):
        points.append([lo + Q(int(rng.integers(0, 1025)), 1024) * (hi - lo) for lo, hi in zip(lower, upper)])
    return points


def make_samples(case: Case, pert, local: bool, seed: int, *, n_corners=None, n_inside=None, n_x=150) -> Samples:
    rng = np.random.default_rng(seed)
    n_corners = n_corners or (400 if local else 100)
    n_inside = n_inside or (150 if local else 40)
    ps = sample_parameters(case.network, pert, rng, n_corners, n_inside)
    if local:
        xs_exact = [[Q(v) for v in case.query["x0"]]]
    else:
        dom = case.domain()
        xs_exact = sample_inputs(dom.lower, dom.upper, rng, n_x)
    xs = np.array([[float(v) for v in x] for x in xs_exact])
    return Samples(xs, xs_exact, ps, list(pert.lower), list(pert.upper))


def float_logits(net: Network, samples: Samples) -> tuple[np.ndarray, np.ndarray]:
    """Nominal logits (n_x, k) and perturbed logits (n_p, n_x, k) in float64, via Network.with_parameters."""
    z0 = np.atleast_2d(net.logits(samples.xs))
    zp = np.stack([np.atleast_2d(net.with_parameters(p).logits(samples.xs)) for p in samples.ps])
    return z0, zp


def _float_labels(net: Network, z: np.ndarray) -> np.ndarray:
    if net.binary:
        return (z[..., 0] >= float(logit_bracket(net.threshold).lo)).astype(int)
    return (net.score_sign * z).argmax(axis=-1)


def _flip_score(net: Network, c: np.ndarray, zp: np.ndarray) -> np.ndarray:
    """> 0 (or >= 0) where the float logits flip label c; larger = more clearly flipped."""
    if net.binary:
        t = float(logit_bracket(net.threshold).lo)
        return np.where(c == 1, t - zp[..., 0], zp[..., 0] - t)
    zp = net.score_sign * zp
    zc = np.take_along_axis(zp, c[..., None], axis=-1)[..., 0]
    others = np.where(np.arange(zp.shape[-1]) == c[..., None], -np.inf, zp)
    return others.max(axis=-1) - zc


def _near(score: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return score >= -1e-9 * (1.0 + scale)


def _top(indices: list[tuple], keys: list[float], n: int) -> list[tuple]:
    order = np.argsort(-np.asarray(keys, dtype=float), kind="stable")[:n] if keys else []
    return [indices[i] for i in order]


# =====================================================================================
# checks
# =====================================================================================
@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    marginal: list[str] = field(default_factory=list)   # within SLACK of a bound (not failures)

    def fail(self, text: str):
        self.failures.append(text)


def witness_params(net: Network, pert, witness: Witness, report: Report) -> list[Q] | None:
    """The witness's parameters merged into the nominal ones, after checking they lie in the box."""
    index = {str(n): i for i, n in enumerate(net.parameter_names())}
    params = list(pert.nominal)
    for name, value in witness.parameters.items():
        if name not in index:
            report.fail(f"witness names an unknown parameter {name}")
            return None
        i = index[name]
        if not pert.lower[i] <= value <= pert.upper[i]:
            report.fail(f"witness parameter {name} = {value} lies outside [{pert.lower[i]}, {pert.upper[i]}]")
            return None
        params[index[name]] = value
    return params


def witness_input(case: Case, witness: Witness, report: Report, local: bool) -> list[Q] | None:
    if local:
        if witness.input is not None and list(witness.input) != [Q(v) for v in case.query["x0"]]:
            report.fail(f"local witness input {witness.input} is not x0")
            return None
        return [Q(v) for v in case.query["x0"]]
    if witness.input is None:
        report.fail("global witness without an input")
        return None
    dom = case.domain()
    if len(witness.input) != len(dom.lower) or not dom.contains(witness.input):
        report.fail(f"witness input {[float(v) for v in witness.input]} lies outside D")
        return None
    return list(witness.input)


ORACLE_POINTS = 3
ORACLE_TIMEOUT = 0.5


def _oracle_ok(case: Case, pert) -> bool:
    """smtnn's local analysis is a cheap, strong sampler when it is exact (decoupled) or interval-only (no solver)."""
    from smtnn.bounds import decouples

    return decouples(case.network, pert) or not case.network.piecewise_linear


def local_flip(case: Case, pert, x: list[Q], report: Report) -> list[Q] | None:
    """Parameters that flip the label at x, found by smtnn's own verify_local_label and replayed exactly here."""
    result = properties.verify_local_label(case.network, pert, x, timeout=ORACLE_TIMEOUT)
    if result.verdict is not Verdict.VIOLATED or result.witness is None:
        return None
    params = witness_params(case.network, pert, result.witness, report)
    c = label_of(case.network, exact_logits(case.network, x, pert.nominal))
    if params is None or c is None:
        return None
    if flips(case.network, c, exact_logits(case.network, x, params)) is not True:
        report.fail(f"oracle: verify_local_label at x = {[str(v) for v in x]} is VIOLATED but its witness does not flip")
        return None
    return params


def check_label_verdict(case: Case, pert, result: VerificationResult, samples: Samples, report: Report,
                        local: bool, sigma: Q | None = None):
    """verify_local_label / verify_global_label / verify_global_sigma (sigma given)."""
    net = case.network
    if result.verdict is Verdict.VIOLATED:
        w = result.witness
        if w is None:
            report.fail("VIOLATED without a witness")
            return
        x = witness_input(case, w, report, local)
        params = witness_params(net, pert, w, report)
        if x is None or params is None:
            return
        z0 = exact_logits(net, x, pert.nominal)
        c = label_of(net, z0)
        if c is None:
            report.fail("VIOLATED witness: the nominal label is undecided at its input")
            return
        if flips(net, c, exact_logits(net, x, params)) is not True:
            report.fail(f"VIOLATED witness does not flip label {c} in exact replay (x = {[str(v) for v in x]})")
        if sigma is not None and not sigma_value(net, c, z0).lo >= sigma:
            report.fail(f"global-sigma witness has |f_p0(x) - l| below σ = {sigma}")
        return
    if result.verdict is not Verdict.HOLDS:
        return
    z0f, zpf = float_logits(net, samples)
    c0 = _float_labels(net, z0f)                                   # (n_x,)
    score = _flip_score(net, np.broadcast_to(c0, zpf.shape[:2]), zpf)   # (n_p, n_x)
    scale = np.abs(zpf).max(axis=-1)
    near = np.argwhere(_near(score, scale))
    candidates = _top([tuple(v) for v in near], [score[i, j] for i, j in near], 40)
    # the nominal label itself may be wrong in float: also try the exact label at every x with a near-tie
    for p_i, x_i in candidates:
        x = samples.xs_exact[x_i]
        z0 = exact_logits(net, x, pert.nominal)
        c = label_of(net, z0)
        if c is None:
            continue
        if sigma is not None and not sigma_value(net, c, z0).lo >= sigma:
            continue
        if flips(net, c, exact_logits(net, x, samples.exact_params(p_i))) is True:
            report.fail(f"HOLDS contradicted: x = {[str(v) for v in x]}, sampled parameters #{p_i} flip label {c}")
            return
    if local or not _oracle_ok(case, pert):
        return
    best_x = [int(i) for i in np.argsort(-score.max(axis=0))[:ORACLE_POINTS]]
    for x_i in best_x:
        x = samples.xs_exact[x_i]
        z0 = exact_logits(net, x, pert.nominal)
        c = label_of(net, z0)
        if c is None or (sigma is not None and not sigma_value(net, c, z0).lo >= sigma):
            continue
        if local_flip(case, pert, x, report) is not None:
            report.fail(f"HOLDS contradicted: verify_local_label flips label {c} at x = {[str(v) for v in x]} (replayed)")
            return


def _check_estimate_shape(est: Estimate, report: Report, what: str):
    if not est.lower <= est.upper:
        report.fail(f"{what}: lower {est.lower} > upper {est.upper}")


def _check_sampled_max(values: list[tuple[Enclosure, str]], upper: Q, report: Report, what: str):
    for value, where in values:
        if value.lo > upper + SLACK:
            report.fail(f"{what}: sampled value {float(value.lo)!r} > upper {float(upper)!r} ({where})")
            return
        if value.lo > upper:
            report.marginal.append(f"{what}: sampled value exceeds upper by {float(value.lo - upper):.3g} ({where})")


def check_epsilon_estimate(case: Case, pert, est: Estimate, samples: Samples, report: Report, local: bool):
    net = case.network
    _check_estimate_shape(est, report, "epsilon")
    if est.lower < 0:
        report.fail(f"epsilon: negative lower end {est.lower}")
    unsupported = not local and not net.binary
    if est.witness is not None and not unsupported:
        x = witness_input(case, est.witness, report, local)
        params = witness_params(net, pert, est.witness, report)
        if x is not None and params is not None:
            got = epsilon_value(net, exact_logits(net, x, pert.nominal), exact_logits(net, x, params))
            if got.hi < est.lower:
                report.fail(f"epsilon witness achieves at most {float(got.hi)!r} < lower {float(est.lower)!r}")
    z0f, zpf = float_logits(net, samples)
    if net.binary:
        with np.errstate(over="ignore"):   # exp overflow: the sigmoid's limit 0
            s0 = 1 / (1 + np.exp(-z0f[:, 0]))
            vals = np.abs(1 / (1 + np.exp(-zpf[..., 0])) - s0[None, :])
    else:
        def softmax(z):
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        vals = np.abs(softmax(zpf) - softmax(z0f)[None]).max(axis=-1)
    flat = [(i, j) for i in range(vals.shape[0]) for j in range(vals.shape[1])]
    keys = [vals[i, j] for i, j in flat]
    best = _top(flat, keys, 8)
    if not best or float(vals.max()) <= float(est.upper) - 1e-6:
        return   # the float values are far below the bound: nothing to confirm
    checked = []
    for p_i, x_i in best:
        x = samples.xs_exact[x_i]
        v = epsilon_value(net, exact_logits(net, x, pert.nominal), exact_logits(net, x, samples.exact_params(p_i)))
        checked.append((v, f"x = {[str(t) for t in x]}, parameters #{p_i}"))
    if not local and net.binary and _oracle_ok(case, pert):   # smtnn's local ε witnesses as a stronger sampler
        for x_i in list(dict.fromkeys(x_i for _, x_i in best))[:ORACLE_POINTS]:
            x = samples.xs_exact[x_i]
            loc = properties.local_epsilon(net, pert, x, timeout=ORACLE_TIMEOUT)
            params = witness_params(net, pert, loc.witness, report) if loc.witness is not None else None
            if params is not None:
                v = epsilon_value(net, exact_logits(net, x, pert.nominal), exact_logits(net, x, params))
                checked.append((v, f"x = {[str(t) for t in x]}, local_epsilon witness"))
    _check_sampled_max(checked, est.upper, report, "epsilon")


def check_epsilon_verdict(case: Case, pert, result: VerificationResult, samples: Samples, report: Report):
    net, eps = case.network, Q(case.query["epsilon"])
    x = [Q(v) for v in case.query["x0"]]
    z0 = exact_logits(net, x, pert.nominal)
    if result.verdict is Verdict.VIOLATED:
        params = witness_params(net, pert, result.witness, report) if result.witness else None
        if params is None:
            report.fail("VIOLATED without a usable witness")
            return
        if not epsilon_value(net, z0, exact_logits(net, x, params)).lo > eps:
            report.fail(f"VIOLATED witness does not move f(x0) by more than ε = {eps}")
    elif result.verdict is Verdict.HOLDS:
        z0f, zpf = float_logits(net, samples)
        if net.binary:
            vals = np.abs(1 / (1 + np.exp(-zpf[:, 0, 0])) - 1 / (1 + np.exp(-z0f[0, 0])))
        else:
            e = np.exp(zpf[:, 0] - zpf[:, 0].max(axis=-1, keepdims=True))
            e0 = np.exp(z0f[0] - z0f[0].max())
            vals = np.abs(e / e.sum(axis=-1, keepdims=True) - e0 / e0.sum()).max(axis=-1)
        for p_i in np.argsort(-vals)[:8]:
            if vals[p_i] < float(eps) - 1e-9:
                break
            v = epsilon_value(net, z0, exact_logits(net, x, samples.exact_params(int(p_i))))
            if v.lo > eps:
                report.fail(f"HOLDS contradicted: parameters #{p_i} move f(x0) by {float(v.lo)!r} > ε = {eps}")
                return


def check_sigma_estimates(case: Case, pert, estimates: dict, samples: Samples, report: Report):
    net = case.network
    classes = (1, 0) if net.binary else tuple(range(net.n_outputs))
    if sorted(estimates) != sorted(classes):
        report.fail(f"global_sigma returned classes {sorted(estimates)}, expected {sorted(classes)}")
        return
    for c, est in estimates.items():
        _check_estimate_shape(est, report, f"sigma[{c}]")
        if est.witness is not None:
            x = witness_input(case, est.witness, report, False)
            params = witness_params(net, pert, est.witness, report)
            if x is not None and params is not None:
                z0 = exact_logits(net, x, pert.nominal)
                if label_of(net, z0) != c:
                    report.fail(f"sigma[{c}] witness input has nominal label {label_of(net, z0)}")
                elif flips(net, c, exact_logits(net, x, params)) is not True:
                    report.fail(f"sigma[{c}] witness does not flip the label in exact replay")
                elif sigma_value(net, c, z0).hi < est.lower:
                    report.fail(f"sigma[{c}] witness value {float(sigma_value(net, c, z0).hi)!r} < lower {float(est.lower)!r}")
    z0f, zpf = float_logits(net, samples)
    c0 = _float_labels(net, z0f)
    score = _flip_score(net, np.broadcast_to(c0, zpf.shape[:2]), zpf)
    near = _near(score, np.abs(zpf).max(axis=-1)).any(axis=0)   # x indices with a (near) flip
    if net.binary:
        s0 = 1 / (1 + np.exp(-z0f[:, 0]))
        measure = np.abs(s0 - float(net.threshold))
    else:
        srt = np.sort(net.score_sign * z0f, axis=1)
        measure = srt[:, -1] - srt[:, -2]
    xs = [int(i) for i in np.flatnonzero(near)]
    for x_i in _top([(i,) for i in xs], [measure[i] for i in xs], 12):
        x_i = x_i[0]
        x = samples.xs_exact[x_i]
        z0 = exact_logits(net, x, pert.nominal)
        c = label_of(net, z0)
        if c is None:
            continue
        ps = np.flatnonzero(_near(score[:, x_i], np.abs(zpf[:, x_i]).max(axis=-1)))
        ps = ps[np.argsort(-score[ps, x_i])][:10]
        if not any(flips(net, c, exact_logits(net, x, samples.exact_params(int(p)))) is True for p in ps):
            continue
        if not _sigma_point_ok(net, c, z0, x, estimates[c], report):
            return
    if _oracle_ok(case, pert):   # smtnn's local label analysis at the x farthest from the boundary
        for x_i in [int(i) for i in np.argsort(-measure)[:3 * ORACLE_POINTS]]:
            x = samples.xs_exact[x_i]
            z0 = exact_logits(net, x, pert.nominal)
            c = label_of(net, z0)
            if c is not None and local_flip(case, pert, x, report) is not None:
                if not _sigma_point_ok(net, c, z0, x, estimates[c], report):
                    return


def _sigma_point_ok(net: Network, c: int, z0, x, est: Estimate, report: Report) -> bool:
    """A proven flip of label c at x: σ's estimate must cover x's measure."""
    where = f"x = {[str(v) for v in x]} (label {c} flips)"
    if est.upper == 0 and est.witness is None and "no label" in est.reason:
        report.fail(f"sigma[{c}] says no label of class {c} can flip, but it flips at {where}")
        return False
    before = len(report.failures)
    _check_sampled_max([(sigma_value(net, c, z0), where)], est.upper, report, f"sigma[{c}]")
    return len(report.failures) == before


def check_case(case: Case, result, seed: int = 0) -> Report:
    """All soundness checks for one answer."""
    report = Report()
    pert = case.perturbation()
    prop = case.query["property"]
    local = prop in ("local_epsilon", "verify_local_epsilon", "verify_local_label")
    samples = make_samples(case, pert, local, seed)
    if prop == "local_epsilon" or prop == "global_epsilon":
        check_epsilon_estimate(case, pert, result, samples, report, local)
    elif prop == "verify_local_epsilon":
        check_epsilon_verdict(case, pert, result, samples, report)
    elif prop in ("verify_local_label", "verify_global_label"):
        check_label_verdict(case, pert, result, samples, report, local)
    elif prop == "verify_global_sigma":
        check_label_verdict(case, pert, result, samples, report, False, sigma=Q(case.query["sigma"]))
    elif prop == "global_sigma":
        check_sigma_estimates(case, pert, result, samples, report)
    return report


def describe(result) -> str:
    if isinstance(result, dict):
        return "; ".join(f"class {c}: {describe(r)}" for c, r in result.items())
    if isinstance(result, Estimate):
        return f"[{float(result.lower)!r}, {float(result.upper)!r}] {result.reason}"
    return f"{result.verdict.value} {result.reason}"


def case_json(case: Case) -> str:
    return json.dumps(case.query, indent=2)


def run_and_check(case: Case, seed: int = 0) -> tuple[Any, Report]:
    """Run smtnn on a case and check the answer; an SmtnnError for a valid case is itself a failure."""
    try:
        result = run_case(case)
    except SmtnnError as err:
        report = Report()
        report.fail(f"smtnn rejected a valid case: {err}")
        return None, report
    return result, check_case(case, result, seed)


# =====================================================================================
# the pytest part: derandomized, bounded budget
# =====================================================================================
try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:   # pragma: no cover
    given = None

EXAMPLES = {"local_epsilon": 60, "verify_local_epsilon": 40, "verify_local_label": 60, "verify_global_label": 60,
            "global_sigma": 50, "verify_global_sigma": 40, "global_epsilon": 50}
TIMEOUTS = {"verify_global_label": 2.0, "global_sigma": 1.0, "verify_global_sigma": 2.0, "global_epsilon": 2.0,
            "local_epsilon": 1.0, "verify_local_epsilon": 1.0, "verify_local_label": 1.0}


def _fuzz_test(prop: str):
    if given is None:
        def missing():
            pytest.fail("hypothesis is not installed: pip install -e '.[test]'")
        return missing

    @settings(max_examples=EXAMPLES[prop], deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def test(data):
        case = draw_case(HypothesisDraw(data), prop, timeout=TIMEOUTS[prop], max_boxes=5_000)
        result, report = run_and_check(case)
        assert not report.failures, f"{report.failures}\nanswer: {describe(result)}\nquery: {case_json(case)}\n" \
                                    f"network: {[(l.weights.tolist(), l.bias.tolist(), l.activation) for l in case.network.layers]}"

    test.__name__ = f"test_fuzz_{prop}"
    return test


test_fuzz_local_epsilon = _fuzz_test("local_epsilon")
test_fuzz_verify_local_epsilon = _fuzz_test("verify_local_epsilon")
test_fuzz_verify_local_label = _fuzz_test("verify_local_label")
test_fuzz_verify_global_label = _fuzz_test("verify_global_label")
test_fuzz_global_sigma = _fuzz_test("global_sigma")
test_fuzz_verify_global_sigma = _fuzz_test("verify_global_sigma")
test_fuzz_global_epsilon = _fuzz_test("global_epsilon")


def test_float_sampling_matches_exact_replay():
    """The float filter and the exact judge agree on a relu network (guards the checkers themselves)."""
    case = draw_case(RandomDraw(7), "verify_global_label")
    pert = case.perturbation()
    samples = make_samples(case, pert, False, 0, n_corners=4, n_inside=2, n_x=3)
    z0f, zpf = float_logits(case.network, samples)
    for i in range(len(samples.ps)):
        for j, x in enumerate(samples.xs_exact):
            exact = exact_logits(case.network, x, samples.exact_params(i))
            assert np.allclose([float(v.lo) for v in exact], zpf[i, j], rtol=1e-9, atol=1e-6)


def test_checkers_catch_a_false_holds():
    """A fabricated HOLDS on a network whose label obviously flips is reported (the checker is not vacuous)."""
    from smtnn.result import Provenance

    net = Network.from_arrays([[[1.0]]], [[0.0]], ["sigmoid"])
    case = Case(net, {"property": "verify_local_label", "perturbation": {"model": "uniform", "delta": "1"},
                      "x0": ["1/10"], "domain": {"lower": ["0"], "upper": ["1"]}, "timeout": 1.0})
    fake = VerificationResult("fake", Verdict.HOLDS, Provenance("none", "exact", "fabricated", 0.0))
    assert check_case(case, fake).failures
    fake_est = Estimate("fake", Q(0), Q(1, 100), Q(1, 10 ** 6), Provenance("none", "exact", "fabricated", 0.0))
    case.query["property"] = "local_epsilon"
    assert check_case(case, fake_est).failures


def test_label_of_decides_point_ties_next_to_enclosures():
    """Two exact logits tie (the lowest index wins) while a third is an enclosure (a tanh unit upstream)."""
    net = Network.from_arrays([[[1.0]], [[0.0], [1.0], [0.0]]], [[0.0], [0.0, -5.0, 0.0]], ["tanh", "softmax"])
    z = [Enclosure.point(Q(0)), Enclosure(Q(-13), Q(-12)), Enclosure.point(Q(0))]
    assert label_of(net, z) == 0
    assert label_of(net, [z[0], Enclosure(Q(-1, 10), Q(1, 10)), z[2]]) is None
    assert flips(net, 0, z) is False                     # class 2 ties z_0: the lowest index keeps label 0
    assert flips(net, 2, z) is True                      # class 0 ties z_2: the lowest index takes label 0
