"""Long soundness-fuzzing campaign: the generators and checkers of tests/test_fuzz_soundness.py in a loop.

    python tests/fuzz_campaign.py --minutes 30                     # all properties, z3, failures -> fuzz-failures/
    python tests/fuzz_campaign.py --minutes 10 --workers 2 --out fuzz-failures --seed 1234
    python tests/fuzz_campaign.py --minutes 5 --properties global_sigma,verify_global_label --solvers z3,dreal
    python tests/fuzz_campaign.py --replay fuzz-failures/global_sigma-seed42     # re-run one saved case

Each case runs in a worker process with a watchdog (--case-limit seconds, default 120): a case that outlives it
is recorded as a hang and the worker is replaced.  Every failing case (a contradicted answer, a witness that does
not replay, an estimate exceeded by a sampled value, a crash, a hang) is written to <out>/<property>-seed<N>/ as
network.npz (smtnn.loaders.save_npz) + query.json (the query, the seed, the answer and what failed).  The same
case is regenerated from its seed with --replay-seed N --properties P.  Counts are printed every --report
seconds and at the end (also saved to <out>/summary.json).  Exit code 1 when anything failed.
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import random
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import test_fuzz_soundness as fz  # noqa: E402  (the shared generators and checkers)
from smtnn.loaders import load_network, save_npz  # noqa: E402
from smtnn.result import Estimate, VerificationResult  # noqa: E402


def _outcome(result) -> str:
    if result is None:
        return "rejected"
    if isinstance(result, dict):
        return "sigma:" + ",".join("conv" if r.converged else "gap" for r in result.values())
    if isinstance(result, Estimate):
        return "converged" if result.converged else "gap"
    if isinstance(result, VerificationResult):
        return result.verdict.value
    return type(result).__name__


def make_case(seed: int, prop: str, args) -> "fz.Case":
    solver = random.Random(seed).choice(args.solvers)
    return fz.draw_case(fz.RandomDraw(seed), prop, timeout=args.timeout, max_boxes=args.max_boxes, solver=solver)


def evaluate(case: "fz.Case", seed: int) -> dict:
    """Run and check one case; never raises (a crash is a failure)."""
    start = time.perf_counter()
    try:
        result, report = fz.run_and_check(case, seed)
        return {"kind": "fail" if report.failures else "ok", "failures": report.failures, "marginal": report.marginal,
                "outcome": _outcome(result), "answer": fz.describe(result) if result is not None else "",
                "seconds": time.perf_counter() - start}
    except Exception as err:   # a crash inside smtnn (or the checker): record it with its traceback
        return {"kind": "crash", "failures": [f"{type(err).__name__}: {err}"], "marginal": [], "outcome": "crashed",
                "answer": "", "traceback": traceback.format_exc(), "seconds": time.perf_counter() - start}


def _worker(conn, args):
    import warnings

    os.setpgrp()   # its own process group: the watchdog ends the worker together with any solver child it started
    warnings.simplefilter("ignore")
    while True:
        try:
            job = conn.recv()
        except EOFError:   # the campaign went away
            return
        if job is None:
            return
        seed, prop = job
        conn.send(evaluate(make_case(seed, prop, args), seed))


class Worker:
    def __init__(self, args):
        self.args = args
        self.start()

    def start(self):
        parent, child = mp.Pipe()
        self.conn = parent
        # not a daemon: the dReal backend runs each query in a child process of its own
        self.proc = mp.get_context("fork").Process(target=_worker, args=(child, self.args))
        self.proc.start()
        self.job, self.since = None, None

    def submit(self, seed, prop):
        self.job, self.since = (seed, prop), time.monotonic()
        self.conn.send(self.job)

    def poll(self):
        """The finished job's record, a 'hang' record (worker replaced), or None while it runs."""
        if self.job is None:
            return None
        if self.conn.poll():
            try:
                record = self.conn.recv()
            except EOFError:
                record = None
            if record is not None:
                job, self.job = self.job, None
                return job, record
        if not self.proc.is_alive() or time.monotonic() - self.since > self.args.case_limit:
            died = not self.proc.is_alive()
            self.kill()
            job = self.job
            seconds = time.monotonic() - self.since
            self.start()
            what = f"worker died (exit code {self.proc.exitcode})" if died else f"no answer within {self.args.case_limit} s"
            return job, {"kind": "hang" if not died else "crash", "failures": [what], "marginal": [], "outcome": "watchdog",
                         "answer": "", "seconds": seconds}
        return None

    def kill(self):
        """End the worker and its process group (solver children included)."""
        try:
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.kill()
        self.proc.join()

    def stop(self):
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(timeout=2)
        if self.proc.is_alive():
            self.kill()


def save_failure(out: Path, seed: int, prop: str, record: dict, args) -> Path:
    case = make_case(seed, prop, args)
    folder = out / f"{prop}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    save_npz(case.network, folder / "network.npz")
    info = {"seed": seed, "property": prop, "query": case.query, **record,
            "network": [{"weights": l.weights.tolist(), "bias": l.bias.tolist(), "activation": l.activation}
                        for l in case.network.layers],
            "replay": f"python tests/fuzz_campaign.py --replay {folder}"}
    (folder / "query.json").write_text(json.dumps(info, indent=2, default=str))
    return folder


def replay(folder: Path) -> int:
    info = json.loads((folder / "query.json").read_text())
    case = fz.Case(load_network(folder / "network.npz"), info["query"])
    record = evaluate(case, info["seed"])
    print(json.dumps({k: v for k, v in record.items()}, indent=2))
    return 1 if record["kind"] != "ok" else 0


def campaign(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    props = args.properties
    base = args.seed if args.seed is not None else random.SystemRandom().randrange(10 ** 6)
    seeds = (base * 100_000 + i for i in range(10 ** 9))
    stats = {p: collections.Counter() for p in props}
    seconds = collections.Counter()
    failures = []
    deadline = time.monotonic() + 60 * args.minutes
    last_report = time.monotonic()
    workers = [Worker(args) for _ in range(args.workers)]
    turn = 0
    print(f"fuzz campaign: {args.minutes} min, properties {', '.join(props)}, solvers {', '.join(args.solvers)}, "
          f"base seed {base}, {args.workers} worker(s), failures -> {out}", flush=True)
    try:
        while True:
            busy = False
            for w in workers:
                done = w.poll()
                if done is not None:
                    (seed, prop), record = done
                    s = stats[prop]
                    s["tried"] += 1
                    s[record["outcome"]] += 1
                    seconds[prop] += record["seconds"]
                    if record["marginal"]:
                        s["marginal"] += 1
                    if record["kind"] != "ok":
                        s[record["kind"]] += 1
                        folder = save_failure(out, seed, prop, record, args)
                        failures.append((prop, seed, record["kind"], record["failures"][:1], str(folder)))
                        print(f"!! {record['kind']}: {prop} seed {seed}: {record['failures'][:1]} -> {folder}", flush=True)
                if w.job is None and time.monotonic() < deadline:
                    prop = props[turn % len(props)]
                    turn += 1
                    w.submit(next(seeds), prop)
                busy = busy or w.job is not None
            if not busy and time.monotonic() >= deadline:
                break
            if time.monotonic() - last_report > args.report:
                last_report = time.monotonic()
                total = sum(s["tried"] for s in stats.values())
                bad = sum(s["fail"] + s["crash"] + s["hang"] for s in stats.values())
                print(f"[{time.strftime('%H:%M:%S')}] {total} cases, {bad} failing", flush=True)
            time.sleep(0.005)
    finally:
        for w in workers:
            w.stop()
    summary = {p: dict(stats[p], seconds=round(seconds[p], 1)) for p in props}
    (out / "summary.json").write_text(json.dumps({"base_seed": base, "minutes": args.minutes, "stats": summary,
                                                  "failures": failures}, indent=2))
    print("\nproperty                 tried  fail crash hang marginal  mean s  outcomes")
    for p in props:
        s = stats[p]
        outcomes = {k: v for k, v in s.items() if k not in ("tried", "fail", "crash", "hang", "marginal", "ok")}
        mean = seconds[p] / s["tried"] if s["tried"] else 0.0
        print(f"{p:24s} {s['tried']:5d} {s['fail']:5d} {s['crash']:5d} {s['hang']:4d} {s['marginal']:8d} {mean:7.2f}  "
              f"{dict(sorted(outcomes.items()))}")
    total = sum(s["tried"] for s in stats.values())
    print(f"total {total} cases; {len(failures)} failing (saved under {out})")
    return 1 if failures else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="how long to fuzz (default 10)")
    p.add_argument("--out", default="fuzz-failures", help="directory for failing cases (default fuzz-failures/)")
    p.add_argument("--properties", default=",".join(fz.PROPERTIES), help="comma-separated subset of " + ", ".join(fz.PROPERTIES))
    p.add_argument("--solvers", default="z3", help="comma-separated solvers to draw from (z3, dreal)")
    p.add_argument("--seed", type=int, help="base seed (default: random; printed)")
    p.add_argument("--timeout", type=float, default=5.0, help="solver timeout per query, seconds (default 5)")
    p.add_argument("--max-boxes", type=int, default=20_000, dest="max_boxes", help="global ε branch and bound budget")
    p.add_argument("--case-limit", type=float, default=120.0, dest="case_limit", help="watchdog per case, seconds")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    p.add_argument("--report", type=float, default=30.0, help="seconds between progress lines")
    p.add_argument("--replay", help="re-run a saved failing case (its folder)")
    p.add_argument("--replay-seed", type=int, dest="replay_seed", help="regenerate and re-run the case of one seed")
    args = p.parse_args(argv)
    args.properties = [x for x in args.properties.split(",") if x]
    args.solvers = [x for x in args.solvers.split(",") if x]
    unknown = set(args.properties) - set(fz.PROPERTIES)
    if unknown:
        p.error(f"unknown properties {sorted(unknown)}; choose from {', '.join(fz.PROPERTIES)}")
    if args.replay:
        return replay(Path(args.replay))
    if args.replay_seed is not None:
        record = evaluate(make_case(args.replay_seed, args.properties[0], args), args.replay_seed)
        print(json.dumps(record, indent=2))
        return 1 if record["kind"] != "ok" else 0
    return campaign(args)


if __name__ == "__main__":
    sys.exit(main())
