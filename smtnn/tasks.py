"""Queries as plain data: what the command line, `smtnn batch` and Python programs build and run.

A :class:`Query` holds a command (verify, estimate, export, twins), a property, the model file(s)
and the options as the command line writes them (text: numbers are read exactly as written).
:meth:`Query.check` validates it without reading any file (one-line :class:`InvalidInputError`);
:meth:`Query.run` runs it within its budget and returns the result object.

Properties are data (:mod:`smtnn.specs`): ``PROPERTIES`` maps each name to a ``PropertySpec`` (its
scope, the options it needs, the functions that decide and estimate it, its SMT-LIB negation), and
``TWINS_PROPERTIES`` does the same for `smtnn twins`; option values are checked by :mod:`smtnn.options`.

**The budget** (timeout and memory cap) has one owner, :meth:`Query.run`:

- it follows the one budget policy of :mod:`smtnn.budget`, and holds from the first byte: the model file is checked (a regular file; FIFOs, devices and
  symbolic-link loops are refused) before it is opened, and with a timeout or a memory cap the
  whole query, loading included, runs in a child process whose address space is capped (plus
  Z3's own memory limit) before the model is read, killed at timeout + :func:`grace`;
- inside, the engines share one clock started with the query: searches that run one after
  another each get an equal share of what is left (what is left / searches still to run), so
  time one search does not use passes to the next and the last may use all that is left
  (:class:`smtnn.budget.Budget`). The query's answer then comes back with its bounds so far,
  also when the child is stopped from outside (the last bounds it reported).
"""
from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass, field, replace
from typing import Any

from .budget import ADDRESS_SPACE_SLACK_MB, grace  # noqa: F401
from .errors import InvalidInputError, ModelFileError
from .options import (MAX_MEMORY_MB, MAX_TIMEOUT, as_float, domain, integer, memory_megabytes,  # noqa: F401
                      number, numbers, option_text, timeout_seconds)
from .specs import ESTIMATE, PROPERTIES, TWINS_PROPERTIES, VERIFY, PropertySpec  # noqa: F401
DECISIONS = ("argmax", "argmin")
SOLVERS = ("z3", "cvc5", "dreal")
"""The names smtnn.backends registers (kept here so checking a query imports no solver)."""


_PERTURBATION = ("delta", "layers", "relative", "per_layer", "quantize")
_CORE = _PERTURBATION + ("x0", "domain", "threshold", "activations", "solver", "dreal_path", "timeout", "memory", "decision")
OPTIONS = {
    "verify": _CORE + ("epsilon", "sigma"),
    "estimate": _CORE + ("tolerance",),
    "export": _CORE + ("epsilon", "sigma", "output"),
    "twins": ("x0", "radius", "clip", "domain", "ci", "cj", "engine", "compare", "epsilon", "timeout", "memory"),
}
MODELS = {"verify": ("model",), "estimate": ("model",), "export": ("model",), "twins": ("first", "second")}
DEFAULTS = {"solver": "z3", "tolerance": "1e-6", "engine": "exact", "compare": "relaxation"}


_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_model_file(path: str) -> None:
    """Refuse, before anything opens it, a model path that is a symbolic-link loop or not a regular file.

    Missing files, directories and unreadable files are left to the loader, which names them.
    """
    try:
        info = os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise ModelFileError(f"{path} is a loop of symbolic links (it leads back to itself); give the model file itself") from None
        return
    for test, kind in _FILE_KINDS:
        if test(info.st_mode):
            raise ModelFileError(f"{path} is {kind}, not a model file; give a regular file")


def model_name(path: str) -> str:
    """The default network name of a model file: its name without the suffix (as the loaders name it)."""
    name = os.path.basename(str(path))
    for suffix in (".weights.h5", ".h5", ".hdf5", ".keras", ".npz", ".onnx"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return os.path.splitext(name)[0] or name


# -- networks and perturbations (cached, so batches build each once per process) -------------
_NETWORKS: dict = {}
_PERTURBATIONS: dict = {}


def load_model(path: str, activations: str | None = None, *, quantized: bool = False):
    """The network of a model file, after the file checks (cached per file version).

    With ``quantized``, an onnxruntime-quantized ONNX file gives its exact integer network (twins only).
    """
    if quantized:
        from .twins.pair import load_twin as load_network
    else:
        from .loaders import load_network

    check_model_file(path)
    kwargs = {"activations": activations.split(",")} if activations else {}
    if quantized:
        kwargs["quantized"] = True
    try:
        info = os.stat(path)
        version = (str(path), info.st_ino, info.st_mtime_ns, info.st_size, repr(sorted(kwargs.items())))
    except OSError:
        return load_network(path, **kwargs)   # the loader says what is wrong with the path
    if version not in _NETWORKS:
        if len(_NETWORKS) >= 32:
            _NETWORKS.clear()
        _NETWORKS[version] = load_network(path, **kwargs)
    return _NETWORKS[version]


def with_decision(network, decision: str | None):
    """The network with its output decision rule (argmax, argmin) as chosen."""
    return network if decision is None else replace(network, decision=decision)


def perturbation_of(options: dict, network):
    """The perturbation model the options choose (cached per network and options)."""
    key = (id(network), tuple(options.get(name) for name in _PERTURBATION))
    cached = _PERTURBATIONS.get(key)
    if cached is not None and cached[0] is network:
        return cached[1]
    if len(_PERTURBATIONS) >= 256:
        _PERTURBATIONS.clear()
    pert = _new_perturbation(options, network)
    _PERTURBATIONS[key] = (network, pert)
    return pert


def _new_perturbation(options: dict, network):
    from . import perturbation as perturbations

    if options.get("delta") is not None:
        delta = number(options["delta"], "--delta")
        if options.get("layers") is not None:
            return perturbations.subset(network, delta, layers=_layers(options["layers"]))
        return perturbations.uniform(network, delta)
    if options.get("relative") is not None:
        return perturbations.relative(network, number(options["relative"], "--relative"))
    if options.get("per_layer") is not None:
        return perturbations.per_layer(network, numbers(options["per_layer"], "--per-layer"))
    scheme, _, bits = options["quantize"].partition(":")
    return perturbations.quantization(network, scheme, int(bits) if bits else None)


def _layers(text: str) -> list[int]:
    values = [v.strip() for v in str(text).split(",") if v.strip()]
    if not values:
        raise InvalidInputError("--layers: give at least one layer index (comma-separated integers, -1 = output)")
    out = []
    for v in values:
        try:
            out.append(int(v))
        except ValueError:
            raise InvalidInputError(f"--layers: '{v}' is not a layer index (give comma-separated integers, -1 = output)") from None
    return out


# -- the query -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """One query as plain data: command, property, model file(s), options as text (``x0="0.5,1"``, ``delta="0.01"``).

    ``models`` is (model,) for verify/estimate/export and (first, second) for twins.  Option
    names are the long options without dashes, '-' written '_' (``per_layer``).
    """

    command: str
    property: str
    models: tuple[str, ...]
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        """From Python, options may be numbers, lists or (for a domain) pairs: kept as their command-line text."""
        models = (self.models,) if isinstance(self.models, (str, os.PathLike)) else tuple(self.models)
        object.__setattr__(self, "models", tuple(os.fspath(m) if isinstance(m, os.PathLike) else m for m in models))
        object.__setattr__(self, "options", {name: option_text(name, value) for name, value in self.options.items()
                                             if value is not None})

    def option(self, name: str):
        value = self.options.get(name)
        return DEFAULTS.get(name) if value is None else value

    @property
    def spec(self) -> PropertySpec:
        return PROPERTIES[self.property]

    # -- checks without reading files ----------------------------------------------------
    def check(self) -> "Query":
        """Self after checking every value that needs no model file; otherwise one-line InvalidInputError."""
        if self.command not in OPTIONS:
            raise InvalidInputError(f"unknown command '{self.command}'; choose one of {', '.join(OPTIONS)}")
        if len(self.models) != len(MODELS[self.command]) or not all(isinstance(m, str) for m in self.models):
            raise InvalidInputError(f"a {self.command} query needs {' and '.join(MODELS[self.command])}")
        for name in self.options:
            if name not in OPTIONS[self.command]:
                raise InvalidInputError(f"unknown option '{name}' for {self.command}; known: {', '.join(sorted(OPTIONS[self.command]))}")
        timeout_seconds(self.options.get("timeout"))
        memory_megabytes(self.options.get("memory"))
        if self.command == "twins":
            self._check_twins()
        else:
            self._check_core()
        return self

    def _check_core(self) -> None:
        choices = {"verify": VERIFY, "estimate": ESTIMATE, "export": VERIFY}[self.command]
        if self.property not in choices:
            raise InvalidInputError(f"unknown property '{self.property}' for {self.command}; choose one of {', '.join(choices)}")
        o = self.options
        if self.option("solver") not in SOLVERS:
            raise InvalidInputError(f"unknown solver '{self.option('solver')}'; choose one of: {', '.join(SOLVERS)}")
        chosen = [name for name in ("delta", "relative", "per_layer", "quantize") if o.get(name) is not None]
        if len(chosen) != 1:
            raise InvalidInputError("give exactly one perturbation model: --delta, --relative, --per-layer or --quantize")
        if o.get("layers") is not None:
            if chosen != ["delta"]:
                raise InvalidInputError(f"--layers works with --delta only, not with --{chosen[0].replace('_', '-')}; "
                                        "give --delta, or leave --layers out")
            _layers(o["layers"])
        for name in ("delta", "relative"):
            if o.get(name) is not None:
                number(o[name], f"--{name}")
        if o.get("per_layer") is not None:
            numbers(o["per_layer"], "--per-layer")
        if o.get("quantize") is not None:
            bits = o["quantize"].partition(":")[2]
            if bits and not bits.isdigit():
                raise InvalidInputError(f"--quantize: '{bits}' is not a number of bits (examples: fixed:8, float16, int:8)")
        if o.get("x0") is not None:
            numbers(o["x0"], "--x0")
        domain(o.get("domain"))
        for name in ("threshold", "epsilon", "sigma"):
            if o.get(name) is not None:
                number(o[name], f"--{name}")
        if o.get("threshold") is not None and not 0 < as_float(o["threshold"]) < 1:
            raise InvalidInputError(f"the decision level must lie strictly between 0 and 1, got {as_float(o['threshold'])}")
        if o.get("decision") is not None and o["decision"] not in DECISIONS:
            raise InvalidInputError(f"--decision: '{o['decision']}' is not a decision rule; choose argmax or argmin")
        if self.command == "estimate":
            number(self.option("tolerance"), "--tolerance")
        if self.command == "export" and not (o.get("output") or "").strip():
            raise InvalidInputError("export needs -o/--output: the name of the .smt2 file to write")
        spec = self.spec
        self._needs(spec.region)
        if self.command != "estimate" and spec.level is not None:
            self._needs(spec.level)

    def _needs(self, name: str) -> None:
        if self.options.get(name) is None:
            raise InvalidInputError(f"{self.property} needs --{name.replace('_', '-')}")

    def _check_twins(self) -> None:
        if self.property not in TWINS_PROPERTIES:
            raise InvalidInputError(f"unknown twins property '{self.property}'; choose one of {', '.join(TWINS_PROPERTIES)}")
        o = self.options
        ball = o.get("x0") is not None or o.get("radius") is not None
        if ball == (o.get("domain") is not None) or (ball and (o.get("x0") is None or o.get("radius") is None)):
            raise InvalidInputError("give --x0 with --radius (a ball), or --domain (a box)")
        if ball:
            numbers(o["x0"], "--x0")
            number(o["radius"], "--radius")
            if o.get("clip") is not None and len(o["clip"].split(":")) != 2:
                raise InvalidInputError(f"--clip: '{o['clip']}' is not lo:hi (example: --clip 0:1)")
        domain(o.get("domain"))
        for name in ("ci", "cj"):
            if o.get(name) is not None:
                integer(o[name], f"--{name}")
        if o.get("epsilon") is not None:
            number(o["epsilon"], "--epsilon")

    # -- loading and running ---------------------------------------------------------------
    def prepare(self):
        """The runnable task: checked, with its network(s) loaded (a Task, or a TwinsTask for twins)."""
        self.check()
        if self.command == "twins":
            from .twins.command import twins_task

            return twins_task(self, load_model(self.models[0], quantized=True), load_model(self.models[1], quantized=True))
        o = self.options
        from .backends import get_backend

        if o.get("dreal_path") is not None:
            os.environ["SMTNN_DREAL"] = str(o["dreal_path"])   # the query's child process inherits it
        get_backend(self.option("solver"))   # an uninstalled solver is bad input, said before any work
        network = load_model(self.models[0], o.get("activations"))
        if o.get("threshold") is not None:
            network = replace(network, threshold=number(o["threshold"], "--threshold"))
        network = with_decision(network, o.get("decision"))
        pert = perturbation_of(o, network)
        box = domain(o.get("domain"))
        x0 = numbers(o["x0"], "--x0") if o.get("x0") is not None else None
        if box is not None:
            box.check_for(network.n_inputs)
        if x0 is not None:
            x0 = network.check_input(x0)
            if box is not None:
                box.check_point(x0)
        level = lambda name: None if o.get(name) is None else number(o[name], f"--{name}")   # noqa: E731
        return Task(self.command, self.property, network, pert, x0, box, level("epsilon"), level("sigma"),
                    number(self.option("tolerance"), "--tolerance") if self.command == "estimate" else None,
                    self.option("solver"), timeout_seconds(o.get("timeout")), memory_megabytes(o.get("memory")))

    def limits(self, timeout=None, memory_mb=None) -> tuple[float | None, int | None]:
        """The query's own timeout and memory cap, else the ones given (a batch's defaults)."""
        own_timeout, own_memory = timeout_seconds(self.options.get("timeout")), memory_megabytes(self.options.get("memory"))
        return (timeout_seconds(timeout) if own_timeout is None else own_timeout,
                memory_megabytes(memory_mb) if own_memory is None else own_memory)

    def run(self, timeout: float | None = None, memory_mb: int | None = None):
        """The result (VerificationResult, Estimate, dict of Estimates, a twins report, or for export the SMT-LIB text).

        ``timeout``/``memory_mb`` apply when the query gives none of its own.  With either, the query
        (loading included) runs in a child process under both, see the module docstring.
        """
        self.check()
        timeout, memory_mb = self.limits(timeout, memory_mb)
        if timeout is None and memory_mb is None:
            return _compute(self, None, None, time.perf_counter())
        from .child import DIED, DONE, ERROR, MEMORY, TIMEOUT, run_in_child

        for path in self.models:
            check_model_file(path)
        start = time.perf_counter()
        self._import_engines()
        outcome = run_in_child(_compute_capped, self, timeout, memory_mb, start,
                               timeout=None if timeout is None else timeout + grace(timeout),
                               memory_mb=None if memory_mb is None else memory_mb + ADDRESS_SPACE_SLACK_MB)
        if outcome.status == DONE:
            return outcome.value
        if outcome.status == ERROR:
            raise outcome.value
        reason = {TIMEOUT: f"timeout: stopped after {timeout:g} s" if timeout else "timeout",
                  MEMORY: f"memory cap of {memory_mb} MB reached" + (f" ({outcome.detail})" if outcome.detail else ""),
                  DIED: f"the query process died ({outcome.detail})"}[outcome.status]
        return self.stopped(reason, time.perf_counter() - start, outcome.progress)

    def _import_engines(self) -> None:
        """Import the libraries the query needs before the child starts: the memory cap is for its work, not for them."""
        import importlib

        names = ["loaders", "twins"] if self.command == "twins" else ["loaders", "properties", "backends.z3_backend"]
        if self.command == "export":
            names.append("export")
        for name in names:
            try:
                importlib.import_module(f"{__package__}.{name}")
            except ImportError:
                pass

    def stopped(self, reason: str, seconds: float, progress=None):
        """The answer of a query stopped from outside (timeout, memory cap): the bounds it reported so far, else UNKNOWN."""
        from .result import Provenance, Verdict, VerificationResult

        if progress is not None:
            from .budget import stopped_as

            return stopped_as(progress, reason, seconds)

        if self.command == "twins":
            return VerificationResult(f"twins {self.property}", Verdict.UNKNOWN,
                                      Provenance(self.option("engine"), "-", "stopped", seconds), None, reason,
                                      {"first": model_name(self.models[0]), "second": model_name(self.models[1])})
        meta = {"network": model_name(self.models[0]), "property": self.property,
                "decision": self.options.get("decision") or "argmax"}
        return VerificationResult(self.property, Verdict.UNKNOWN, Provenance(self.option("solver"), "-", "stopped", seconds),
                                  None, reason, meta)


def _compute(query: Query, timeout, memory_mb, start: float):
    """Load and compute within what is left of the budget (the loading counts)."""
    task = query.prepare()
    task.timeout = None if timeout is None else max(timeout - (time.perf_counter() - start), 0.001)
    task.memory_mb = memory_mb
    return task.compute()


def _compute_capped(query: Query, timeout, memory_mb, start: float):
    """The child's side of :meth:`Query.run`: Z3's memory limit, then load and compute."""
    from .budget import run_capped

    return run_capped(_compute, (query, timeout, memory_mb, start), {}, memory_mb)


# -- loaded tasks ----------------------------------------------------------------------------
@dataclass
class Task:
    """One verify, estimate or export query with its network loaded; ``compute()`` dispatches through its PropertySpec.

    ``timeout`` is the wall-clock budget of the whole query, shared by its searches (module
    docstring); ``memory_mb`` also bounds the global-ε branch and bound's boxes.
    """

    command: str
    property: str
    network: Any
    perturbation: Any
    x0: list | None = None
    domain: Any = None
    epsilon: str | None = None
    sigma: str | None = None
    tolerance: str | None = None
    solver: str = "z3"
    timeout: float | None = None
    memory_mb: int | None = None

    @property
    def spec(self) -> PropertySpec:
        return PROPERTIES[self.property]

    def compute(self):
        """The result: a VerificationResult, an Estimate, a dict of per-class Estimates, or for export the SMT-LIB text."""
        spec = self.spec
        region = self.x0 if spec.scope == "local" else self.domain
        if self.command == "export":
            from .export import negated_query, to_smtlib

            return to_smtlib(negated_query(self.property, self.network, self.perturbation, x0=self.x0, domain=self.domain,
                                           epsilon=self.epsilon, sigma=self.sigma))
        from . import properties

        opts = {"solver": self.solver, "timeout": self.timeout}
        if spec.box_limited and self.memory_mb is not None:
            opts["max_boxes"] = box_limit(self.network, self.memory_mb)
        if self.command == "estimate":
            result = getattr(properties, spec.estimate)(self.network, self.perturbation, region, tolerance=self.tolerance, **opts)
        else:
            levels = [getattr(self, spec.level)] if spec.level else []
            result = getattr(properties, spec.verify)(self.network, self.perturbation, region, *levels, **opts)
        if "max_boxes" in opts and "max_boxes" in getattr(result, "reason", ""):
            result = replace(result, reason=result.reason.replace(
                "(max_boxes)", f"(the box limit for the memory cap of {self.memory_mb} MB)"))
        return result


def box_limit(network, memory_mb: int) -> int:
    """The most boxes the global-ε branch and bound may split within memory_mb (measured ~440 B/box at 8 inputs; 2x margin)."""
    n = network.n_inputs
    width = max(layer.outputs for layer in network.layers)
    per_box = 2 * (3 * 8 * (3 * n + 1) + 16)   # lo, hi, axis shares and bound, copied up to 3x while splitting
    per_step = 1024 * width * n * 8 * 16        # slope enclosures of one step's 1024 new boxes
    return max(1, (memory_mb * 2 ** 20 - per_step) // per_box)


def write_output(path: str, text: str) -> None:
    """Write an export's text to its output file (see :func:`smtnn.outputs.write_atomically`)."""
    from .outputs import write_atomically

    write_atomically(path, text)
