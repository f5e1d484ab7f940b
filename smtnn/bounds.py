"""Exact replay and parameter-space extremes at a fixed input.

:func:`replay_logits` is the reference forward pass in exact rational arithmetic (certified
intervals where sigmoid or tanh is involved); every witness smtnn reports goes through it.

:func:`extreme_at` maximizes a linear function c·z of the logits over the parameter box at a
fixed input.  When no perturbed parameter lies before the last hidden layer, the problem
decouples: each hidden neuron's parameters are its own, so its activation ranges over an
interval independently of the others, and each bilinear term g_k·h_k attains its extremes at
a corner of its box.  The bound is then attained by a corner witness (exact).  Otherwise the
bound comes from interval propagation (sound, maybe loose) and ``exact`` is False.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from .exact import Enclosure, sigmoid_enclosure, tanh_enclosure
from .network import Network
from .perturbation import Perturbation

Q = Fraction


def activate(activation: str, value: Enclosure) -> Enclosure:
    """Enclosure of a monotone activation over an enclosure."""
    if activation == "linear":
        return value
    if activation == "relu":
        return Enclosure(max(value.lo, Q(0)), max(value.hi, Q(0)))
    if activation == "sigmoid":
        return Enclosure(sigmoid_enclosure(value.lo).lo, sigmoid_enclosure(value.hi).hi)
    if activation == "tanh":
        return Enclosure(tanh_enclosure(value.lo).lo, tanh_enclosure(value.hi).hi)
    raise ValueError(activation)


def _mul(a: Enclosure, b: Enclosure) -> Enclosure:
    products = (a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)
    return Enclosure(min(products), max(products))


def _add(a: Enclosure, b: Enclosure) -> Enclosure:
    return Enclosure(a.lo + b.lo, a.hi + b.hi)


def _affine(weights: Sequence[Sequence[Enclosure]], bias: Sequence[Enclosure], inputs: Sequence[Enclosure]) -> list[Enclosure]:
    out = []
    for row, b in zip(weights, bias):
        acc = b
        for w, h in zip(row, inputs):
            acc = _add(acc, _mul(w, h))
        out.append(acc)
    return out


def _layer_views(network: Network, lower, upper):
    """Per layer: weight rows and biases as enclosures between the given flat bounds."""
    views = []
    for layer, (ws, bs) in zip(network.layers, network.layer_slices()):
        lo_w, hi_w = lower[ws], upper[ws]
        n_in = layer.inputs
        rows = [[Enclosure(lo_w[r * n_in + c], hi_w[r * n_in + c]) for c in range(n_in)] for r in range(layer.outputs)]
        views.append((rows, [Enclosure(l, h) for l, h in zip(lower[bs], upper[bs])]))
    return views


def propagate(network: Network, inputs: Sequence[Enclosure], lower, upper, upto: int | None = None) -> list[list[Enclosure]]:
    """Interval propagation: the enclosures of every layer's pre-activations (sound for boxes of inputs and parameters)."""
    views = _layer_views(network, list(lower), list(upper))
    h, pre = list(inputs), []
    last = len(network.layers) if upto is None else upto
    for k in range(last):
        a = _affine(*views[k], h)
        pre.append(a)
        if k < len(network.layers) - 1:
            h = [activate(network.layers[k].activation, v) for v in a]
    return pre


def replay_logits(network: Network, x: Sequence[Fraction], params: Sequence[Fraction]) -> list[Enclosure]:
    """The logits of the network with these exact parameters at this exact input (zero width for relu/linear)."""
    params = list(params)
    return propagate(network, [Enclosure.point(v) for v in x], params, params)[-1]


def linear_value(coeffs: Sequence[int], logits: Sequence[Enclosure]) -> Enclosure:
    """Enclosure of c·z."""
    acc = Enclosure.point(Q(0))
    for c, z in zip(coeffs, logits):
        if c:
            acc = _add(acc, _mul(Enclosure.point(Q(c)), z))
    return acc


@dataclass(frozen=True)
class Extreme:
    """max c·z over the parameter box at one input: a sound upper bound and a replayed witness."""

    upper: Fraction
    witness: tuple[Fraction, ...]
    witness_value: Enclosure
    exact: bool


def first_perturbed_layer(network: Network, perturbation: Perturbation) -> int:
    """Index of the first layer with a free parameter (len(layers) if none)."""
    free = set(perturbation.free)
    for k, (ws, bs) in enumerate(network.layer_slices()):
        if any(i in free for i in range(ws.start, bs.stop)):
            return k
    return len(network.layers)


def decouples(network: Network, perturbation: Perturbation) -> bool:
    """True when no free parameter lies before the last hidden layer (then :func:`extreme_at` is exact)."""
    return first_perturbed_layer(network, perturbation) >= len(network.layers) - 2


def extreme_at(network: Network, perturbation: Perturbation, x: Sequence[Fraction], coeffs: Sequence[int]) -> Extreme:
    """Maximize c·z(x, p) over the perturbation box at a fixed input x (see the module docstring)."""
    lower, upper, nominal = list(perturbation.lower), list(perturbation.upper), list(perturbation.nominal)
    n_layers = len(network.layers)
    split = max(n_layers - 2, 0)
    exact = decouples(network, perturbation)
    inputs = [Enclosure.point(v) for v in x]
    # layers before `split` run on nominal parameters for the witness; the bound uses their full boxes
    if split:
        prefix_bound = propagate(network, inputs, lower, upper, upto=split)[-1]
        prefix_nominal = propagate(network, inputs, nominal, nominal, upto=split)[-1]
        act = network.layers[split - 1].activation
        u_bound = [activate(act, v) for v in prefix_bound]
        u_witness = [activate(act, v) for v in prefix_nominal]
    else:
        u_bound = u_witness = inputs
    witness = list(nominal)
    slices = network.layer_slices()
    out_layer, (out_ws, out_bs) = network.layers[-1], slices[-1]
    n_hidden = out_layer.inputs
    # coefficient g_k = sum_c coeffs_c * W_out[c, k] and constant sum_c coeffs_c * b_out[c]: independent parameters
    def g_interval(k):
        lo = hi = Q(0)
        for c, a in enumerate(coeffs):
            if a:
                i = out_ws.start + c * n_hidden + k
                lo += min(a * lower[i], a * upper[i])
                hi += max(a * lower[i], a * upper[i])
        return Enclosure(lo, hi)

    def set_g(k, end):  # put every output weight of column k at the end giving g's `end`
        for c, a in enumerate(coeffs):
            if a:
                i = out_ws.start + c * n_hidden + k
                witness[i] = upper[i] if (a > 0) == (end == "hi") else lower[i]

    const_hi = sum((max(a * lower[out_bs.start + c], a * upper[out_bs.start + c]) for c, a in enumerate(coeffs) if a), Q(0))
    for c, a in enumerate(coeffs):
        if a:
            i = out_bs.start + c
            witness[i] = upper[i] if a > 0 else lower[i]
    bound = const_hi
    if n_layers == 1:
        hidden_bounds = [(v, v, None) for v in u_bound]
    else:
        hidden = network.layers[-2]
        hws, hbs = slices[-2]
        hidden_bounds = []
        for k in range(n_hidden):
            lo_pre = hi_pre = Q(0)
            lo_pick, hi_pick = [], []
            for j in range(hidden.inputs):
                i = hws.start + k * hidden.inputs + j
                u = u_bound[j]
                cands = [(lower[i] * u.lo, lower[i]), (lower[i] * u.hi, lower[i]), (upper[i] * u.lo, upper[i]), (upper[i] * u.hi, upper[i])]
                lo_pre += min(cands)[0]
                hi_pre += max(cands)[0]
                uw = u_witness[j].lo
                lo_pick.append((i, lower[i] if uw >= 0 else upper[i]))
                hi_pick.append((i, upper[i] if uw >= 0 else lower[i]))
            ib = hbs.start + k
            lo_pre += lower[ib]
            hi_pre += upper[ib]
            lo_pick.append((ib, lower[ib]))
            hi_pick.append((ib, upper[ib]))
            h_lo = activate(hidden.activation, Enclosure.point(lo_pre))
            h_hi = activate(hidden.activation, Enclosure.point(hi_pre))
            hidden_bounds.append((h_lo, h_hi, (lo_pick, hi_pick)))
    for k, (h_lo, h_hi, picks) in enumerate(hidden_bounds):
        g = g_interval(k)
        best = None
        for g_end, g_val in (("lo", g.lo), ("hi", g.hi)):
            for h_end, h_val in (("lo", h_lo), ("hi", h_hi)):
                prod = _mul(Enclosure.point(g_val), h_val)
                key = (prod.lo + prod.hi) / 2
                if best is None or key > best[0]:
                    best = (key, g_end, h_end)
        products = [_mul(Enclosure.point(gv), hv).hi for gv in (g.lo, g.hi) for hv in (h_lo, h_hi)]
        bound += max(products)
        set_g(k, best[1])
        if picks is not None:
            for i, v in picks[0 if best[2] == "lo" else 1]:
                witness[i] = v
    value = linear_value(coeffs, replay_logits(network, x, witness))
    if not exact:
        full = linear_value(coeffs, propagate(network, inputs, lower, upper)[-1])
        bound = min(bound, full.hi) if split == 0 else full.hi
    return Extreme(upper=max(bound, value.lo), witness=tuple(witness), witness_value=value, exact=exact)
