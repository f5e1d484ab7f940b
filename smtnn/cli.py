"""The `smtnn` command: verify, estimate and export the paper's properties on a model file.

Exit codes: 0 holds / converged estimate / written; 1 violated; 3 unknown or gap above the
tolerance; 2 bad input (one line on stderr, no traceback, nothing written).
"""
from __future__ import annotations

import argparse
import logging
import math
import sys

from . import perturbation as perturbations
from . import properties
from .domain import Box
from .errors import InvalidInputError, SmtnnError
from .result import Estimate, Verdict, to_json

EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT, EXIT_UNKNOWN = 0, 1, 2, 3
VERIFY = ("local-epsilon", "global-epsilon", "local-label", "global-label", "global-sigma")
ESTIMATE = ("local-epsilon", "global-epsilon", "global-sigma")
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


def _perturbation(args, network):
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
    p.add_argument("--timeout", type=float, help="seconds per query")
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
    e = sub.add_parser("estimate", help=f"certified interval of the largest ε or σ: {', '.join(ESTIMATE)}")
    _common(e)
    e.add_argument("--tolerance", default="1e-6", help="target gap between the bounds (default 1e-6)")
    x = sub.add_parser("export", help="write the negated query as SMT-LIB 2")
    _common(x)
    x.add_argument("--epsilon")
    x.add_argument("--sigma")
    x.add_argument("-o", "--output", required=True, help="the .smt2 file to write")
    from .twins.command import add_arguments as twins_arguments

    twins_arguments(sub.add_parser("twins", help="compare two networks: lrsm, decisions, epsilon (relative safety margins)"))
    return parser


def _load(args):
    from .loaders import load_network

    activations = args.activations.split(",") if args.activations else None
    kwargs = {"activations": activations} if activations else {}
    network = load_network(args.model, **kwargs)
    if args.threshold is not None:
        from dataclasses import replace

        network = replace(network, threshold=_number(args.threshold, "--threshold"))
    return network


def _needs(args, *names):
    for name in names:
        if getattr(args, name) is None:
            raise InvalidInputError(f"{args.property} needs --{name.replace('_', '-')}")


def run(args) -> int:
    if args.command == "twins":
        from .twins.command import run as run_twins

        return run_twins(args)
    choices = {"verify": VERIFY, "estimate": ESTIMATE, "export": VERIFY}[args.command]
    if args.property not in choices:
        raise InvalidInputError(f"unknown property '{args.property}' for {args.command}; choose one of {', '.join(choices)}")
    if args.solver not in ("z3", "dreal"):
        raise InvalidInputError(f"unknown solver '{args.solver}'; choose z3 or dreal")
    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        raise InvalidInputError("--timeout must be a positive, finite number of seconds")
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
    opts = {"solver": args.solver, "timeout": args.timeout}
    if args.command == "export":
        from .export import negated_query, to_smtlib, write_atomically

        text = to_smtlib(negated_query(args.property, network, pert, x0=x0, domain=domain,
                                       epsilon=None if args.epsilon is None else _number(args.epsilon, "--epsilon"),
                                       sigma=None if args.sigma is None else _number(args.sigma, "--sigma")))
        write_atomically(args.output, text)
        print(args.output)
        return EXIT_OK
    if args.command == "estimate":
        tol = _number(args.tolerance, "--tolerance")
        if args.property == "local-epsilon":
            result = properties.local_epsilon(network, pert, x0, tolerance=tol, **opts)
        elif args.property == "global-epsilon":
            result = properties.global_epsilon(network, pert, domain, tolerance=tol, **opts)
        else:
            result = properties.global_sigma(network, pert, domain, tolerance=tol, **opts)
    else:
        if args.property.endswith("epsilon"):
            _needs(args, "epsilon")
            eps = _number(args.epsilon, "--epsilon")
            fn = properties.verify_local_epsilon if local else properties.verify_global_epsilon
            result = fn(network, pert, x0 if local else domain, eps, **opts)
        elif args.property == "local-label":
            result = properties.verify_local_label(network, pert, x0, **opts)
        elif args.property == "global-label":
            result = properties.verify_global_label(network, pert, domain, **opts)
        else:
            _needs(args, "sigma")
            result = properties.verify_global_sigma(network, pert, domain, _number(args.sigma, "--sigma"), **opts)
    print(to_json(result, indent=2) if args.json else _text(result))
    return _exit_code(result)


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
        w = result.witness
        where = f" at x = {[float(v) for v in w.input]}" if w.input is not None else ""
        text += f"\n  witness{where}: value {float(w.value_lower):.9g}; parameters {', '.join(f'{k}={float(v):.9g}' for k, v in w.parameters.items())}"
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
    except KeyboardInterrupt:
        print("smtnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
