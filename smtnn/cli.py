"""The `smtnn` command: verify, estimate and export the paper's properties on a model file.

Exit codes: 0 holds / converged estimate / written; 1 violated; 3 unknown or gap above the
tolerance; 2 bad input (one line on stderr, no traceback, nothing written).
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from dataclasses import dataclass

from . import perturbation as perturbations
from . import properties
from .domain import Box
from .errors import InvalidInputError, SmtnnError
from .network import Network
from .perturbation import Perturbation
from .result import Estimate, Provenance, Verdict, VerificationResult, to_json

EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT, EXIT_UNKNOWN = 0, 1, 2, 3
VERIFY = ("local-epsilon", "global-epsilon", "local-label", "global-label", "global-sigma")
ESTIMATE = ("local-epsilon", "global-epsilon", "global-sigma")
MEMORY_HELP = "memory cap in MB: the query ends unknown (with its bounds so far) instead of exhausting the machine"
log = logging.getLogger("smtnn")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InvalidInputError(f"{message} (see '{self.prog} --help')")


def _numbers(text: str, what: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    for v in values:
        try:
            float(v)
        except ValueError:
            raise InvalidInputError(f"{what}: '{v}' is not a number (give comma-separated numbers)") from None
    return values


def _number(text: str, what: str) -> str:
    values = _numbers(text, what)
    if len(values) != 1:
        raise InvalidInputError(f"{what}: give one number, got '{text}'")
    return values[0]


def _domain(text: str | None) -> Box | None:
    if text is None:
        return None
    lower, upper = [], []
    for part in text.split(","):
        bounds = part.split(":")
        if len(bounds) != 2:
            raise InvalidInputError(f"--domain: '{part}' is not lower:upper (example: --domain 6.3:20.5,2.0:3.9)")
        values = _numbers(",".join(bounds), "--domain")
        if len(values) != 2:
            raise InvalidInputError(f"--domain: '{part}' is not lower:upper (example: --domain 6.3:20.5,2.0:3.9)")
        lo, hi = values
        lower.append(lo)
        upper.append(hi)
    return Box(tuple(lower), tuple(upper))


_PERTURBATIONS: dict = {}


def _perturbation(args, network):
    """The perturbation model the options choose (cached per network and options: a batch builds each once)."""
    options = tuple(getattr(args, name) for name in ("delta", "layers", "relative", "per_layer", "quantize"))
    cached = _PERTURBATIONS.get((id(network), options))
    if cached is not None and cached[0] is network:
        return cached[1]
    if len(_PERTURBATIONS) >= 256:
        _PERTURBATIONS.clear()
    pert = _new_perturbation(args, network)
    _PERTURBATIONS[(id(network), options)] = (network, pert)
    return pert


def _new_perturbation(args, network):
    chosen = [name for name in ("delta", "relative", "per_layer", "quantize") if getattr(args, name) is not None]
    if len(chosen) != 1:
        raise InvalidInputError("give exactly one perturbation model: --delta, --relative, --per-layer or --quantize")
    if args.delta is not None:
        delta = _number(args.delta, "--delta")
        if args.layers is not None:
            layers = [_layer_index(v) for v in _numbers(args.layers, "--layers")]
            return perturbations.subset(network, delta, layers=layers)
        return perturbations.uniform(network, delta)
    if args.relative is not None:
        return perturbations.relative(network, _number(args.relative, "--relative"))
    if args.per_layer is not None:
        return perturbations.per_layer(network, _numbers(args.per_layer, "--per-layer"))
    scheme, _, bits = args.quantize.partition(":")
    if bits and not bits.isdigit():
        raise InvalidInputError(f"--quantize: '{bits}' is not a number of bits (examples: fixed:8, float16, int:8)")
    return perturbations.quantization(network, scheme, int(bits) if bits else None)


def _layer_index(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInputError(f"--layers: '{text}' is not a layer index (give comma-separated integers, -1 = output)") from None


def _common(p):
    p.add_argument("property", help="property name")
    p.add_argument("model", help="model file: Keras .h5 / .weights.h5, .npz or .onnx")
    g = p.add_argument_group("perturbation (exactly one)")
    g.add_argument("--delta", help="every parameter within δ (a decimal, taken exactly)")
    g.add_argument("--layers", help="with --delta: only these layers move (comma-separated indices, -1 = output)")
    g.add_argument("--relative", help="every parameter within δ·|p0|")
    g.add_argument("--per-layer", dest="per_layer", help="one δ per layer, comma-separated")
    g.add_argument("--quantize", help="fixed:<fraction bits> | float16 | int:<bits>")
    p.add_argument("--x0", help="input for local properties, comma-separated")
    p.add_argument("--domain", help="input box lower:upper per input, comma-separated (e.g. 6.3:20.5,2.0:3.9)")
    p.add_argument("--threshold", help="decision level l of a sigmoid output (default 0.5)")
    p.add_argument("--activations", help="activations per layer for .weights.h5 files (e.g. relu,sigmoid)")
    p.add_argument("--solver", default="z3", help="z3 (default) or dreal")
    p.add_argument("--timeout", type=float, help="seconds per query (wall clock; the query ends unknown with its bounds so far)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="smtnn", description="Exact verification of neural-network robustness to parameter perturbation.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    v = sub.add_parser("verify", help=f"decide a property: {', '.join(VERIFY)}")
    _common(v)
    v.add_argument("--epsilon", help="ε for local-epsilon / global-epsilon")
    v.add_argument("--sigma", help="σ for global-sigma")
    v.add_argument("--memory", help=MEMORY_HELP)
    e = sub.add_parser("estimate", help=f"certified interval of the largest ε or σ: {', '.join(ESTIMATE)}")
    _common(e)
    e.add_argument("--tolerance", default="1e-6", help="target gap between the bounds (default 1e-6)")
    e.add_argument("--memory", help=MEMORY_HELP)
    x = sub.add_parser("export", help="write the negated query as SMT-LIB 2")
    _common(x)
    x.add_argument("--epsilon")
    x.add_argument("--sigma")
    x.add_argument("-o", "--output", required=True, help="the .smt2 file to write")
    from .twins.command import add_arguments as twins_arguments

    twins_arguments(sub.add_parser("twins", help="compare two networks: lrsm, decisions, epsilon (relative safety margins)"))
    from .batch import add_arguments as batch_arguments

    batch_arguments(sub.add_parser("batch", help="run a file of independent queries in parallel, resumably (JSON Lines)"))
    return parser


_NETWORKS: dict = {}


def _load(args):
    """The network of args.model (cached per file version, so batches load each file once per process)."""
    from .loaders import load_network

    activations = args.activations.split(",") if args.activations else None
    kwargs = {"activations": activations} if activations else {}
    network = _cached_network(args.model, load_network, **kwargs)
    if args.threshold is not None:
        from dataclasses import replace

        network = replace(network, threshold=_number(args.threshold, "--threshold"))
    return network


def _cached_network(path, load, **kwargs):
    import os

    try:
        stat = os.stat(path)
        version = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size, repr(sorted(kwargs.items())))
    except OSError:
        return load(path, **kwargs)   # the loader says what is wrong with the path
    if version not in _NETWORKS:
        if len(_NETWORKS) >= 32:
            _NETWORKS.clear()
        _NETWORKS[version] = load(path, **kwargs)
    return _NETWORKS[version]


def _needs(args, *names):
    for name in names:
        if getattr(args, name) is None:
            raise InvalidInputError(f"{args.property} needs --{name.replace('_', '-')}")


def _memory(value) -> int | None:
    if value is None:
        return None
    try:
        mb = float(value)
    except (TypeError, ValueError):
        mb = math.nan
    if not (math.isfinite(mb) and mb >= 1):
        raise InvalidInputError(f"--memory: '{value}' is not a number of megabytes (give at least 1, e.g. --memory 2000)")
    return int(mb)


def _timeout(value) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise InvalidInputError("--timeout must be a positive, finite number of seconds")
    return value


@dataclass
class Task:
    """One verify or estimate query, checked and loaded: what the CLI and `smtnn batch` run.

    ``timeout`` is the wall-clock budget of the whole query (shared by its searches);
    ``memory_mb`` caps Z3's memory and the branch and bound's boxes, see :func:`execute`.
    """

    command: str
    property: str
    network: Network
    perturbation: Perturbation
    x0: list | None = None
    domain: Box | None = None
    epsilon: str | None = None
    sigma: str | None = None
    tolerance: str | None = None
    solver: str = "z3"
    timeout: float | None = None
    memory_mb: int | None = None

    def compute(self):
        """The result object (a VerificationResult, an Estimate, or a dict of per-class Estimates)."""
        net, pert, local = self.network, self.perturbation, self.property.startswith("local")
        opts = {"solver": self.solver, "timeout": None if self.timeout is None else self.timeout / self._searches()}
        if self.property == "global-epsilon" and self.memory_mb is not None:
            opts["max_boxes"] = box_limit(net, self.memory_mb)
        if self.command == "estimate":
            if self.property == "local-epsilon":
                result = properties.local_epsilon(net, pert, self.x0, tolerance=self.tolerance, **opts)
            elif self.property == "global-epsilon":
                result = properties.global_epsilon(net, pert, self.domain, tolerance=self.tolerance, **opts)
            else:
                result = properties.global_sigma(net, pert, self.domain, tolerance=self.tolerance, **opts)
        elif self.property.endswith("epsilon"):
            fn = properties.verify_local_epsilon if local else properties.verify_global_epsilon
            result = fn(net, pert, self.x0 if local else self.domain, self.epsilon, **opts)
        elif self.property == "local-label":
            result = properties.verify_local_label(net, pert, self.x0, **opts)
        elif self.property == "global-label":
            result = properties.verify_global_label(net, pert, self.domain, **opts)
        else:
            result = properties.verify_global_sigma(net, pert, self.domain, self.sigma, **opts)
        if "max_boxes" in opts and "max_boxes" in getattr(result, "reason", ""):
            from dataclasses import replace

            result = replace(result, reason=result.reason.replace(
                "(max_boxes)", f"(the box limit for the memory cap of {self.memory_mb} MB)"))
        return result

    def _searches(self) -> int:
        """How many searches run one after another, each given an equal share of the timeout."""
        net = self.network
        if self.command == "estimate" and self.property == "global-sigma":
            return net.n_classes
        if self.property == "local-epsilon":
            return 2 if net.binary else 1
        if self.property == "local-label":
            return 1 if net.binary else net.n_outputs - 1
        return 1

    def stopped(self, reason: str, seconds: float) -> VerificationResult:
        """The UNKNOWN answer of a query stopped from outside (timeout, memory cap)."""
        return VerificationResult(self.property, Verdict.UNKNOWN, Provenance(self.solver, "-", "stopped", seconds), None, reason,
                                  {"network": self.network.name, "property": self.property,
                                   "perturbation": self.perturbation.description, "decision": self.network.decision})

    def exit_code(self, result) -> int:
        return _exit_code(result)

    def text(self, result) -> str:
        return _text(result)


def box_limit(network: Network, memory_mb: int) -> int:
    """The most boxes the global-ε branch and bound may split within memory_mb (measured ~440 B/box at 8 inputs; 2x margin)."""
    n = network.n_inputs
    width = max(layer.outputs for layer in network.layers)
    per_box = 2 * (3 * 8 * (3 * n + 1) + 16)   # lo, hi, axis shares and bound, copied up to 3x while splitting
    per_step = 1024 * width * n * 8 * 16        # slope enclosures of one step's 1024 new boxes
    return max(1, (memory_mb * 2 ** 20 - per_step) // per_box)


def prepare(args) -> Task:
    """Check a parsed verify/estimate/export command line and load its network: every bad input fails here."""
    choices = {"verify": VERIFY, "estimate": ESTIMATE, "export": VERIFY}[args.command]
    if args.property not in choices:
        raise InvalidInputError(f"unknown property '{args.property}' for {args.command}; choose one of {', '.join(choices)}")
    if args.solver not in ("z3", "dreal"):
        raise InvalidInputError(f"unknown solver '{args.solver}'; choose z3 or dreal")
    timeout = _timeout(args.timeout)
    memory_mb = _memory(getattr(args, "memory", None))
    from .backends import get_backend

    get_backend(args.solver)
    network = _load(args)
    pert = _perturbation(args, network)
    domain = _domain(args.domain)
    x0 = _numbers(args.x0, "--x0") if args.x0 is not None else None
    local = args.property.startswith("local")
    _needs(args, "x0" if local else "domain")
    if domain is not None:
        domain.check_for(network.n_inputs)
    if x0 is not None:
        x0 = network.check_input(x0)
        if domain is not None:
            domain.check_point(x0)
    epsilon = None if getattr(args, "epsilon", None) is None else _number(args.epsilon, "--epsilon")
    sigma = None if getattr(args, "sigma", None) is None else _number(args.sigma, "--sigma")
    if args.command == "verify":
        if args.property.endswith("epsilon"):
            _needs(args, "epsilon")
        elif args.property == "global-sigma":
            _needs(args, "sigma")
    tolerance = _number(args.tolerance, "--tolerance") if args.command == "estimate" else None
    return Task(args.command, args.property, network, pert, x0, domain, epsilon, sigma, tolerance, args.solver, timeout, memory_mb)


def grace(timeout: float) -> float:
    """Extra seconds a query gets past its timeout to stop by itself (with its bounds) before it is killed."""
    return max(2.0, 0.1 * timeout)


ADDRESS_SPACE_SLACK_MB = 64


def execute(task):
    """Run a task: in this process, or, with a timeout or memory cap, in a child stopped when it exceeds them.

    Z3's memory_max_size and the branch and bound's box limit let a capped query end UNKNOWN with
    its bounds; the child's address space (cap + 64 MB) and a kill at timeout + grace are the backstops.
    """
    if task.timeout is None and task.memory_mb is None:
        return task.compute()
    from .child import DIED, DONE, ERROR, MEMORY, TIMEOUT, run_in_child

    start = time.perf_counter()
    outcome = run_in_child(_compute_capped, task,
                           timeout=None if task.timeout is None else task.timeout + grace(task.timeout),
                           memory_mb=None if task.memory_mb is None else task.memory_mb + ADDRESS_SPACE_SLACK_MB)
    if outcome.status == DONE:
        return outcome.value
    if outcome.status == ERROR:
        raise outcome.value
    reason = {TIMEOUT: f"timeout: stopped after {task.timeout:g} s" if task.timeout else "timeout",
              MEMORY: f"memory cap of {task.memory_mb} MB reached" + (f" ({outcome.detail})" if outcome.detail else ""),
              DIED: f"the query process died ({outcome.detail})"}[outcome.status]
    return task.stopped(reason, time.perf_counter() - start)


def _compute_capped(task):
    if task.memory_mb is not None:
        try:
            from .backends.z3_backend import limit_memory
        except ImportError:
            pass
        else:
            limit_memory(task.memory_mb)
    try:
        return task.compute()
    except Exception as err:
        if task.memory_mb is not None and type(err).__name__ == "Z3Exception" and "memory" in str(err):
            raise MemoryError(str(err)) from None
        raise


def run(args) -> int:
    if args.command == "twins":
        from .twins.command import prepare as prepare_twins

        task = prepare_twins(args)
    elif args.command == "batch":
        from .batch import run_command

        return run_command(args)
    else:
        task = prepare(args)
    if args.command == "export":
        from .export import negated_query, to_smtlib, write_atomically

        text = to_smtlib(negated_query(args.property, task.network, task.perturbation, x0=task.x0, domain=task.domain,
                                       epsilon=task.epsilon, sigma=task.sigma))
        write_atomically(args.output, text)
        print(args.output)
        return EXIT_OK
    result = execute(task)
    print(to_json(result, indent=2) if args.json else task.text(result))
    return task.exit_code(result)


def _exit_code(result) -> int:
    results = list(result.values()) if isinstance(result, dict) else [result]
    if all(isinstance(r, Estimate) for r in results):
        return EXIT_OK if all(r.converged for r in results) else EXIT_UNKNOWN
    verdicts = {r.verdict for r in results}
    if Verdict.VIOLATED in verdicts:
        return EXIT_VIOLATED
    return EXIT_OK if verdicts == {Verdict.HOLDS} else EXIT_UNKNOWN


def _text(result) -> str:
    if isinstance(result, dict):
        return "\n".join(f"class {c}: {_text(r)}" for c, r in result.items())
    p = result.provenance
    tail = f"[{p.solver}, {p.precision}, {p.seconds:.3f} s; {p.method}]"
    if isinstance(result, Estimate):
        text = f"{result.property}: [{float(result.lower):.9g}, {float(result.upper):.9g}] gap {float(result.gap):.2g} {tail}"
    else:
        text = f"{result.property}: {result.verdict.value.upper()} {tail}"
    if result.witness is not None:
        text += "\n  " + result.witness.as_text()
    if result.reason:
        text += f"\n  note: {result.reason}"
    return text


def main(argv=None) -> int:
    parser = build_parser()
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                            format="smtnn: %(message)s")
        return run(args)
    except SmtnnError as err:
        if debug:
            raise
        print(f"smtnn: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as err:
        print(f"smtnn: interrupted{': ' + str(err) if str(err) else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
