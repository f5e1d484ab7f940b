"""The `smtnn` command: verify, estimate and export the paper's properties on a model file; twins; batches.

The command line is parsed into a :class:`smtnn.tasks.Query` (or a batch) and run; rendering and
exit codes come from :mod:`smtnn.reports`.  Exit codes: 0 holds / converged estimate / written;
1 violated; 3 unknown or gap above the tolerance; 2 bad input (one line on stderr, no traceback,
nothing written); 130 interrupted.
"""
from __future__ import annotations

import argparse
import re
import sys

from .errors import InvalidInputError, SmtnnError
from .reports import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNKNOWN
from .tasks import ESTIMATE, MODELS, OPTIONS, VERIFY, Query

MEMORY_HELP = "memory cap in MB: the query ends unknown (with its bounds so far) instead of exhausting the machine"
TIMEOUT_HELP = "seconds for the whole query, model loading included (wall clock; it ends unknown with its bounds so far)"
_NEGATIVE_VALUE = re.compile(r"^-[0-9.]")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InvalidInputError(f"{message} (see '{self.prog} --help')")


def _common(p, command: str) -> None:
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
    p.add_argument("--decision", help="how logits decide the class: argmax (default) or argmin (the smallest logit)")
    p.add_argument("--activations", help="activations per layer for .weights.h5 files (e.g. relu,sigmoid)")
    p.add_argument("--solver", help="z3 (default, exact), cvc5 (exact, no exp) or dreal (δ-complete)")
    p.add_argument("--dreal-path", help="dReal's program for --solver dreal (default: $SMTNN_DREAL, else the dreal module, "
                                        "else dreal on PATH)")
    p.add_argument("--timeout", help=TIMEOUT_HELP)
    p.add_argument("--memory", help=MEMORY_HELP)
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _twins(p) -> None:
    p.add_argument("property", help="lrsm | decisions | epsilon")
    p.add_argument("first", help="N1, the twin under study (model file)")
    p.add_argument("second", help="N2, the reference (model file)")
    p.add_argument("--x0", help="centre of the L-infinity ball, comma-separated")
    p.add_argument("--radius", help="radius r of the ball B(x0, r) (a decimal, taken exactly)")
    p.add_argument("--clip", help="lo:hi, intersect the ball with [lo, hi] on every input (e.g. 0:1)")
    p.add_argument("--domain", help="a box instead of a ball: lower:upper per input, comma-separated")
    p.add_argument("--ci", help="class ci (default: N1's class at x0 or at the box centre)")
    p.add_argument("--cj", help="class cj (default: every other class; the worst is reported)")
    p.add_argument("--engine", help="exact (default), z3 or relaxation")
    p.add_argument("--compare", help="engines run as well, comma-separated ('' for none; default relaxation)")
    p.add_argument("--epsilon", help="ε for the epsilon property")
    p.add_argument("--timeout", help=TIMEOUT_HELP)
    p.add_argument("--memory", help=MEMORY_HELP)
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _batch(p) -> None:
    p.add_argument("queries", help="JSON Lines file, one query per line (see 'Batches' in the README)")
    p.add_argument("--out", required=True, help="JSON Lines file of results; queries already in it are not run again")
    p.add_argument("--workers", help="local worker processes (default: all cores)")
    p.add_argument("--scheduler", help="run on the Dask cluster of this scheduler (e.g. tcp://host:8786)")
    p.add_argument("--timeout", help="seconds per query, for queries without their own timeout")
    p.add_argument("--memory", help="memory cap in MB per query, for queries without their own")
    p.add_argument("--retry-errors", dest="retry_errors", action="store_true",
                   help="run again the queries whose saved status is error")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="smtnn", description="Exact verification of neural-network robustness to parameter perturbation.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (and library warnings) to stderr")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    v = sub.add_parser("verify", help=f"decide a property: {', '.join(VERIFY)}")
    _common(v, "verify")
    v.add_argument("--epsilon", help="ε for local-epsilon / global-epsilon")
    v.add_argument("--sigma", help="σ for global-sigma")
    e = sub.add_parser("estimate", help=f"certified interval of the largest ε or σ: {', '.join(ESTIMATE)}")
    _common(e, "estimate")
    e.add_argument("--tolerance", help="target gap between the bounds (default 1e-6)")
    x = sub.add_parser("export", help="write the negated query as SMT-LIB 2")
    _common(x, "export")
    x.add_argument("--epsilon")
    x.add_argument("--sigma")
    x.add_argument("-o", "--output", required=True, help="the .smt2 file to write (a symbolic link is written through)")
    _twins(sub.add_parser("twins", help="compare two networks: lrsm, decisions, epsilon (relative safety margins)"))
    r = sub.add_parser("replay", help="re-check a saved JSON result's witness exactly (exit 0 replays, 1 does not)")
    r.add_argument("result", help="the JSON file smtnn printed with --json")
    r.add_argument("model", help="the model file the result was computed for")
    _batch(sub.add_parser("batch", help="run a file of independent queries in parallel, resumably (JSON Lines)"))
    return parser


VALUE_OPTIONS = {"--" + name.replace("_", "-") for names in OPTIONS.values() for name in names} | {
    "-o", "--out", "--workers", "--scheduler"}


def joined_negatives(argv: list[str], value_options: set[str] = frozenset()) -> list[str]:
    """`--x0 -0.3,1` as `--x0=-0.3,1`: argparse would take a value starting with '-' for an option."""
    value_options = value_options or VALUE_OPTIONS
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        if token in value_options and i + 1 < len(argv) and _NEGATIVE_VALUE.match(argv[i + 1]):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def query_of(args) -> Query:
    """The query a parsed verify/estimate/export/twins command line stands for."""
    models = tuple(getattr(args, name) for name in MODELS[args.command])
    options = {name: getattr(args, name) for name in OPTIONS[args.command] if getattr(args, name, None) is not None}
    return Query(args.command, args.property, models, options)


def run(args) -> int:
    from . import reports

    if args.command == "batch":
        from .batch import run_command

        return run_command(args)
    if args.command == "replay":
        from .replay import main as replay_main

        return replay_main([args.result, args.model])
    query = query_of(args).check()
    result = query.run()
    if args.command == "export":
        if isinstance(result, str):
            from .tasks import write_output

            write_output(args.output, result)
            print(args.output)
            return EXIT_OK
        print(reports.text(result), file=sys.stderr)   # stopped by its timeout or memory cap: nothing written
        return EXIT_UNKNOWN
    print(reports.to_json(result, indent=2) if args.json else reports.text(result))
    return reports.exit_code(result)


def _quiet_libraries(verbose: bool) -> None:
    """Library warnings (numpy's float16 casts, ...) only with -v: stderr carries one line per error."""
    import logging
    import warnings

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr, format="smtnn: %(message)s")
    if not verbose:
        warnings.simplefilter("ignore")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(joined_negatives(argv, VALUE_OPTIONS))
        _quiet_libraries(args.verbose)
        return run(args)
    except SmtnnError as err:
        if debug:
            raise
        print(f"smtnn: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:   # the reader of stdout went away (smtnn ... | head): nothing more to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt as err:
        print(f"smtnn: interrupted{': ' + str(err) if str(err) else ''}", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
