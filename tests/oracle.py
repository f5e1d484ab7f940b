"""An oracle for the soundness campaign, written apart from the engines it checks.

It reads only a network's weights and a perturbation box's numbers.  The forward pass, the
gradients, the exact evaluation and the decision rule are written here from the definitions
(paper Defs. 1-5, Eqs. 11-13; README "Guarantees"), not taken from smtnn.properties, bounds,
search or the twins:

- :class:`FloatNet`: float64 forward and backward pass over (input, parameters);
- :func:`ascend`: projected sign-gradient ascent from corners, the nominal point and random
  points, over parameters and (for global properties) inputs; iterates and their snaps to
  box corners are candidates;
- :func:`exact_logits`: exact rationals for relu/linear, mpmath interval enclosures (endpoints
  converted exactly, never rounded) for sigmoid/tanh; every candidate is rechecked with it before it counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import mpmath
import numpy as np

Q = Fraction
_IV = mpmath.iv


# =====================================================================================
# exact evaluation: intervals with rational ends
# =====================================================================================
def _end(raw, down: bool) -> Q:
    """An mpmath interval endpoint (raw mpf tuple) as an exact rational; magnitudes below 2^-2000 rounded outward."""
    sign, man, exp, bits = raw
    if man == 0:
        if exp != 0:
            raise ArithmeticError("infinite or NaN interval endpoint")
        return Q(0)
    if exp + bits < -2000:
        tiny = Q(1, 2 ** 2000)
        return (-tiny if sign else Q(0)) if down else (Q(0) if sign else tiny)
    value = Q(man) * Q(2) ** exp
    return -value if sign else value


def _iv_of(q: Q):
    return _IV.mpf(q.numerator) / q.denominator


def _mono(fn: Callable, lo: Q, hi: Q) -> tuple[Q, Q]:
    """Enclosure of an increasing function over [lo, hi]."""
    a, b = fn(_iv_of(lo)), fn(_iv_of(hi))
    return _end(a._mpi_[0], True), _end(b._mpi_[1], False)


def _sigmoid_iv(v):
    return 1 / (1 + _IV.exp(-v))


def _tanh_iv(v):
    return 1 - 2 / (1 + _IV.exp(2 * v))


def exact_logits(layers, x: Sequence[Q], params: Sequence[Q]) -> list[tuple[Q, Q]]:
    """Enclosures (lo, hi) of the logits of the network with exact parameters at an exact input."""
    h = [(v, v) for v in x]
    k = 0
    for n, (out, inp, act) in enumerate(layers):
        w = params[k:k + out * inp]
        b = params[k + out * inp:k + out * inp + out]
        k += out * inp + out
        pre = []
        for r in range(out):
            lo = hi = b[r]
            for c in range(inp):
                a = w[r * inp + c]
                lo += a * (h[c][0] if a >= 0 else h[c][1])
                hi += a * (h[c][1] if a >= 0 else h[c][0])
            pre.append((lo, hi))
        if n == len(layers) - 1:
            return pre
        if act == "relu":
            h = [(max(lo, Q(0)), max(hi, Q(0))) for lo, hi in pre]
        elif act == "linear":
            h = pre
        elif act == "sigmoid":
            h = [_mono(_sigmoid_iv, lo, hi) for lo, hi in pre]
        elif act == "tanh":
            h = [_mono(_tanh_iv, lo, hi) for lo, hi in pre]
        else:
            raise ValueError(act)
    raise AssertionError("no layers")


def layers_of(network) -> list[tuple[int, int, str]]:
    return [(l.outputs, l.inputs, l.activation) for l in network.layers]


@dataclass(frozen=True)
class Rule:
    """The decision: binary (class 1 iff sigmoid(z) >= level) or argmax/argmin with the lowest index on ties."""

    binary: bool
    sign: int          # +1 argmax, -1 argmin
    level: Q

    @classmethod
    def of(cls, network) -> "Rule":
        return cls(network.layers[-1].activation == "sigmoid", -1 if getattr(network, "decision", "argmax") == "argmin" else 1,
                   Q(network.threshold))

    def scores(self, z):
        return [(v[0], v[1]) if self.sign > 0 else (-v[1], -v[0]) for v in z]

    def sigmoid(self, z: tuple[Q, Q]) -> tuple[Q, Q]:
        return _mono(_sigmoid_iv, z[0], z[1])

    def logit_level(self) -> tuple[Q, Q]:
        """Enclosure of logit(level) (exactly 0 at level 1/2): sigmoid(z) >= level iff z >= logit(level)."""
        if self.level == Q(1, 2):
            return Q(0), Q(0)
        v = _IV.log(_iv_of(self.level) / (1 - _iv_of(self.level)))
        return _end(v._mpi_[0], True), _end(v._mpi_[1], False)

    def label(self, z) -> int | None:
        if self.binary:   # decided on z, not on sigmoid(z): sigmoid(-1e-59) and 1/2 share every 120-bit enclosure
            t = self.logit_level()
            return 1 if z[0][0] >= t[1] else 0 if z[0][1] < t[0] else None
        s = self.scores(z)
        for c in range(len(s)):
            if all(s[c][0] > s[j][1] for j in range(c)) and all(s[c][0] >= s[j][1] for j in range(c + 1, len(s))):
                return c
        return None

    def flips(self, c: int, z) -> bool:
        """Certainly not label c."""
        if self.binary:
            got = self.label(z)
            return got is not None and got != c
        s = self.scores(z)
        return any(s[j][0] >= s[c][1] if j < c else s[j][0] > s[c][1] for j in range(len(s)) if j != c)

    def sigma(self, c: int, z0) -> tuple[Q, Q]:
        """Eq. 13's measure at x for class c: |f_p0(x) - level| (binary) or the nominal score margin."""
        if self.binary:
            s = self.sigmoid(z0[0])
            return (s[0] - self.level, s[1] - self.level) if c == 1 else (self.level - s[1], self.level - s[0])
        s = self.scores(z0)
        gaps = [(s[c][0] - s[j][1], s[c][1] - s[j][0]) for j in range(len(s)) if j != c]
        return min(g[0] for g in gaps), min(g[1] for g in gaps)

    def change(self, z0, zp) -> tuple[Q, Q]:
        """|f_p(x) - f_p0(x)|: sigmoid confidence, or the largest change of a softmax probability."""
        if self.binary:
            return _abs(_sub(self.sigmoid(zp[0]), self.sigmoid(z0[0])))
        changes = [_abs(_sub(_softmax(zp, c), _softmax(z0, c))) for c in range(len(z0))]
        return max(v[0] for v in changes), max(v[1] for v in changes)


def _sub(a, b):
    return a[0] - b[1], a[1] - b[0]


def _abs(d):
    if d[0] >= 0:
        return d
    if d[1] <= 0:
        return -d[1], -d[0]
    return Q(0), max(-d[0], d[1])


def _softmax(z, c: int) -> tuple[Q, Q]:
    lo = 1 / (1 + sum(_IV.exp(_iv_of(z[j][1] - z[c][0])) for j in range(len(z)) if j != c))
    hi = 1 / (1 + sum(_IV.exp(_iv_of(z[j][0] - z[c][1])) for j in range(len(z)) if j != c))
    return _end(lo._mpi_[0], True), _end(hi._mpi_[1], False)


# =====================================================================================
# float64 forward / backward
# =====================================================================================
_ACT = {"relu": (lambda a: np.maximum(a, 0.0), lambda a, h: (a > 0).astype(float)),
        "linear": (lambda a: a, lambda a, h: np.ones_like(a)),
        "sigmoid": (lambda a: 1 / (1 + np.exp(-a)), lambda a, h: h * (1 - h)),
        "tanh": (np.tanh, lambda a, h: 1 - h * h)}


class FloatNet:
    """Forward and backward pass of a dense network over (x, flat parameters), in float64."""

    def __init__(self, network):
        self.layers = layers_of(network)

    def forward(self, x: np.ndarray, p: np.ndarray):
        cache, h, k = [], x, 0
        for n, (out, inp, act) in enumerate(self.layers):
            w = p[k:k + out * inp].reshape(out, inp)
            b = p[k + out * inp:k + out * inp + out]
            a = w @ h + b
            cache.append((h, w, a, k))
            k += out * inp + out
            if n == len(self.layers) - 1:
                return a, cache
            h = _ACT[act][0](a)
            cache[-1] = cache[-1] + (h,)

    def backward(self, cache, dz: np.ndarray, n_params: int):
        dp = np.zeros(n_params)
        da = dz
        for n in range(len(self.layers) - 1, -1, -1):
            out, inp, act = self.layers[n]
            h, w, a, k = cache[n][:4]
            dp[k:k + out * inp] = np.outer(da, h).ravel()
            dp[k + out * inp:k + out * inp + out] = da
            dh = w.T @ da
            if n == 0:
                return dh, dp
            prev = cache[n - 1]
            pout, pinp, pact = self.layers[n - 1]
            da = dh * _ACT[pact][1](prev[2], prev[4])
        raise AssertionError


# =====================================================================================
# search
# =====================================================================================
@dataclass
class Space:
    """The box searched: parameters [plo, phi] and inputs [xlo, xhi] (x fixed when xlo == xhi), exact and float."""

    plo: list[Q]
    phi: list[Q]
    xlo: list[Q]
    xhi: list[Q]
    p0: np.ndarray          # the nominal parameters (float64, as stored)

    def floats(self):
        f = lambda v: np.array([float(t) for t in v])  # noqa: E731
        return f(self.plo), f(self.phi), f(self.xlo), f(self.xhi)

    def exact(self, x: np.ndarray, p: np.ndarray) -> tuple[list[Q], list[Q]]:
        """Float points as exact rationals clamped into the box."""
        clamp = lambda v, lo, hi: [min(max(Q(float(t)), a), b) for t, a, b in zip(v, lo, hi)]  # noqa: E731
        return clamp(x, self.xlo, self.xhi), clamp(p, self.plo, self.phi)


def ascend(net: FloatNet, space: Space, objective: Callable, rng: np.random.Generator, *, starts: int = 8,
           steps: int = 40, keep: int = 6) -> list[tuple[list[Q], list[Q]]]:
    """Maximize objective(z0, zp) -> (value, dz0, dzp) by projected sign-gradient ascent over (x, p).

    Returns exact candidates (x, p): the best iterates and their snaps to parameter-box corners.
    """
    plo, phi, xlo, xhi = space.floats()
    nominal = space.p0
    n = plo.size
    found = []
    inits = [(0.5 * (xlo + xhi), nominal)]
    for s in range(starts):
        x = xlo + rng.random(xlo.size) * (xhi - xlo)
        p = np.where(rng.random(n) < 0.5, plo, phi) if s % 2 == 0 else plo + rng.random(n) * (phi - plo)
        inits.append((x, p))
    with np.errstate(over="ignore", invalid="ignore"):   # sigmoid/softmax of huge logits saturate in float64
        return _ascend(net, space, objective, inits, steps, keep, n)


def _ascend(net, space, objective, inits, steps, keep, n):
    plo, phi, xlo, xhi = space.floats()
    nominal = space.p0
    found = []
    for x, p in inits:
        best, last_gp = None, np.zeros(n)
        for t in range(steps):
            alpha = 0.25 * (0.02 / 0.25) ** (t / max(steps - 1, 1))
            z0, c0 = net.forward(x, nominal)
            zp, cp = net.forward(x, p)
            value, dz0, dzp = objective(z0, zp)
            if not np.isfinite(value):
                break
            if best is None or value > best[0]:
                best = (value, x.copy(), p.copy())
            gx0, _ = net.backward(c0, dz0, n)
            gxp, gp = net.backward(cp, dzp, n)
            gx = gx0 + gxp
            p = np.clip(p + alpha * (phi - plo) * np.sign(gp), plo, phi)
            x = np.clip(x + alpha * (xhi - xlo) * np.sign(gx), xlo, xhi)
            last_gp = gp
        if best is not None:
            found.append((best[0], best[1], best[2], last_gp))
    found.sort(key=lambda r: -r[0])
    out = []
    for value, x, p, gp in found[:keep]:
        xe, pe = space.exact(x, p)
        out.append((xe, pe))
        out.append((xe, [space.phi[i] if gp[i] > 0 else space.plo[i] if gp[i] < 0 else pe[i] for i in range(n)]))
    return out


# -- objectives on float logits (value, d/dz0, d/dzp) -------------------------------------
def _onehot(k: int, i: int, v: float = 1.0) -> np.ndarray:
    e = np.zeros(k)
    e[i] = v
    return e


def flip_objective(rule: Rule, c: int, level_logit: float, *, global_: bool, sigma: float | None = None):
    """min(nominal margin of c [global], how far another class takes over [, σ-distance]): >= 0 is a candidate flip."""
    def objective(z0, zp):
        k = zp.size
        terms = []
        if rule.binary:
            s = 1.0 if c == 1 else -1.0
            terms.append((s * (level_logit - zp[0]), np.zeros(k), _onehot(k, 0, -s)))
            if global_:
                terms.append((s * (z0[0] - level_logit), _onehot(k, 0, s), np.zeros(k)))
            if sigma is not None:
                conf = 1 / (1 + np.exp(-z0[0]))
                g = conf * (1 - conf)
                terms.append((s * (conf - float(rule.level)) - sigma, _onehot(k, 0, s * g), np.zeros(k)))
        else:
            sg = rule.sign
            j = max((i for i in range(k) if i != c), key=lambda i: sg * (zp[i] - zp[c]))
            terms.append((sg * (zp[j] - zp[c]), np.zeros(k), sg * (_onehot(k, j) - _onehot(k, c))))
            if global_:
                m = min((i for i in range(k) if i != c), key=lambda i: sg * (z0[c] - z0[i]))
                terms.append((sg * (z0[c] - z0[m]), sg * (_onehot(k, c) - _onehot(k, m)), np.zeros(k)))
        return min(terms, key=lambda t: t[0])
    return objective


def change_objective(rule: Rule, c: int, sign: float):
    """sign·(f_p(x) - f_p0(x)) for the confidence (binary) or class c's softmax probability."""
    def objective(z0, zp):
        k = zp.size
        if rule.binary:
            s0, sp = 1 / (1 + np.exp(-z0[0])), 1 / (1 + np.exp(-zp[0]))
            return sign * (sp - s0), _onehot(k, 0, -sign * s0 * (1 - s0)), _onehot(k, 0, sign * sp * (1 - sp))

        def soft(z):
            e = np.exp(z - z.max())
            return e / e.sum()
        q0, qp = soft(z0), soft(zp)
        jac = lambda q: q[c] * (_onehot(k, c) - q)  # noqa: E731
        return sign * (qp[c] - q0[c]), -sign * jac(q0), sign * jac(qp)
    return objective


def sigma_objective(rule: Rule, c: int, level_logit: float, weight: float):
    """Take-over of class c plus weight·(class c's σ measure): flips far from the boundary."""
    flip = flip_objective(rule, c, level_logit, global_=True)

    def objective(z0, zp):
        value, d0, dp = flip(z0, zp)
        k = zp.size
        if rule.binary:
            s = 1.0 if c == 1 else -1.0
            meas, dm = s * (z0[0] - level_logit), _onehot(k, 0, s)
        else:
            sg = rule.sign
            m = min((i for i in range(k) if i != c), key=lambda i: sg * (z0[c] - z0[i]))
            meas, dm = sg * (z0[c] - z0[m]), sg * (_onehot(k, c) - _onehot(k, m))
        return value + weight * meas, d0 + weight * dm, dp
    return objective
