#!/usr/bin/env bash
# The steps of docker/Dockerfile, one command each, so that each can also be run (and tested) outside Docker.
#
# dReal's route for Ubuntu 22.04, as its maintainers document it: their PPA ppa:dreal/dreal for the
# prebuilt ibex 2.7.4 (libibex-dev, installed under /opt/libibex/2.7.4, where the dreal wheel looks for
# it), Clp and nlopt from Ubuntu, and the dreal wheel on the distribution's own Python 3.10.
# Nothing here builds ibex or dReal from source.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
SMTNN_SRC="${SMTNN_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
DREAL_WHEEL="dreal==4.21.6.2"

usage() {
    cat <<EOF
usage: smtnn-docker COMMAND [ARGUMENTS]

  prerequisites        apt: dReal's PPA (libibex-dev), coinor-libclp-dev, libnlopt0, Python 3.10 and pip
                       (root and network; the image's first step)
  install              pip: the $DREAL_WHEEL wheel and smtnn from $SMTNN_SRC (network)
  smoke                fail unless dReal works: 'import dreal' (skipped with --any-dreal, which also accepts
                       dReal's program) and two queries with answers known by hand, run with --solver dreal
  case-studies DIR [OPTIONS]
                       the case studies (Table 1, Figures 6-8) with --solver dreal, written to DIR (the image's
                       default command); OPTIONS go to python -m case_studies.reproduce (e.g. --no-figures)
  smtnn ARGUMENTS...   the smtnn command line, e.g. smtnn verify global-label MODEL --delta 0.01 ...
  help                 this text
EOF
}

fail() {   # one line on stderr, exit code 2 (bad usage) or the given code
    echo "smtnn-docker: $1" >&2
    exit "${2:-2}"
}

prerequisites() {
    [[ $# -eq 0 ]] || fail "prerequisites takes no arguments"
    [[ "${EUID}" -eq 0 ]] || fail "prerequisites installs system packages: run it as root" 1
    apt-get update
    apt-get install -y --no-install-recommends ca-certificates gpg-agent software-properties-common
    add-apt-repository -y --no-update ppa:dreal/dreal
    apt-get update
    apt-get install -y --no-install-recommends libibex-dev coinor-libclp-dev libnlopt0 python3 python3-pip
    rm -rf /var/lib/apt/lists/*
}

install() {
    [[ $# -eq 0 ]] || fail "install takes no arguments"
    [[ -f "$SMTNN_SRC/setup.cfg" ]] || fail "no smtnn source at $SMTNN_SRC (set SMTNN_SRC)"
    "$PYTHON" -m pip install --no-cache-dir "$DREAL_WHEEL" "${SMTNN_SRC}[case-studies]"
}

smoke() {
    local any_dreal=0
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --any-dreal) any_dreal=1 ;;
            *) fail "smoke: unknown argument '$1' (it takes only --any-dreal)" ;;
        esac
        shift
    done
    if [[ $any_dreal -eq 0 ]] && ! "$PYTHON" -c "import dreal" 2>/dev/null; then
        fail "smoke: 'import dreal' fails: is libibex-dev from ppa:dreal/dreal installed (/opt/libibex/2.7.4)?" 1
    fi
    "$PYTHON" - <<'EOF'
"""Two queries on z = w·x + b (w0 = 1, b0 = -1/2, δ = 1/10) whose answers are known by hand."""
import json, subprocess, sys, tempfile
from pathlib import Path

import numpy as np

with tempfile.TemporaryDirectory() as tmp:
    model = Path(tmp) / "line.npz"
    np.savez(model, W0=np.array([[1.0]]), b0=np.array([-0.5]), activations=np.array(["sigmoid"]))
    # on [0, 1] the label of x = 1/2 flips with b = -6/10; on [9/10, 1] min z >= 9/10·9/10 - 6/10 > 0
    for domain, expected in (("0:1", "violated"), ("0.9:1", "holds")):
        run = subprocess.run([sys.executable, "-m", "smtnn", "verify", "global-label", str(model), "--delta", "0.1",
                              "--domain", domain, "--solver", "dreal", "--timeout", "60", "--json"],
                             capture_output=True, text=True)
        try:
            result = json.loads(run.stdout)
        except ValueError:
            sys.exit(f"smtnn-docker: smoke: smtnn gave no result on {domain}: {run.stderr.strip()[-300:]}")
        if result["verdict"] != expected:
            sys.exit(f"smtnn-docker: smoke: {result['solver']} answers {result['verdict']} on {domain}, expected {expected}")
        print(f"smoke: {result['solver']}: {expected} on x in [{domain.replace(':', ', ')}] as worked out by hand")
EOF
}

case_studies() {
    [[ $# -ge 1 ]] || fail "case-studies needs the output directory (e.g. /results), then any reproduce options"
    local out="$1"
    shift
    mkdir -p "$out" 2>/dev/null || fail "case-studies: cannot create $out" 1
    [[ -w "$out" ]] || fail "case-studies: $out is not writable (mount a directory you own with -v)" 1
    out="$(cd "$out" && pwd)"
    cd "$SMTNN_SRC"
    "$PYTHON" -m case_studies.reproduce --solver dreal --out "$out" "$@"
}

command="${1:-help}"
[[ $# -gt 0 ]] && shift
case "$command" in
    prerequisites) prerequisites "$@" ;;
    install) install "$@" ;;
    smoke) smoke "$@" ;;
    case-studies) case_studies "$@" ;;
    smtnn) exec "$PYTHON" -m smtnn "$@" ;;
    help | -h | --help) usage ;;
    *) fail "unknown command '$command'; run 'smtnn-docker help' for the list" ;;
esac
