#!/usr/bin/env bash
# Install what the gateway benchmark needs, then run it: one command on a fresh
# machine, `bash scripts/bench.sh [bench/run.py flags]` (for example --quick).
# `bash scripts/bench.sh --setup-only` installs and stops.
#
# Installs, when missing: wrk and nginx (Debian packages, needs root and
# apt-get), this repository's venv, and the released original in its own venv
# (`pip install smg==1.13.0`; SMG_BENCH_ORIGINAL_VENV overrides where).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV="${SMG_VENV:-.venv}"
ORIGINAL_VENV="${SMG_BENCH_ORIGINAL_VENV:-$HOME/.cache/smg-bench/venv-original}"
ORIGINAL_VERSION=1.13.0

missing=()
for tool in wrk nginx taskset; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
        echo "bench: missing ${missing[*]}; install them (Debian: wrk nginx" \
            "util-linux) or run as root with apt-get" >&2
        exit 1
    fi
    packages=()
    for tool in "${missing[@]}"; do
        case "$tool" in
            taskset) packages+=(util-linux) ;;
            # nginx-light would do, but plain nginx exists on every release.
            *) packages+=("$tool") ;;
        esac
    done
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null
    # The package may start a system nginx on port 80; the bench runs its own.
    if command -v service >/dev/null; then
        service nginx stop >/dev/null 2>&1 || true
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q -e .
fi

if [ ! -x "$ORIGINAL_VENV/bin/smg" ]; then
    echo "bench: installing smg==$ORIGINAL_VERSION into $ORIGINAL_VENV" >&2
    mkdir -p "$(dirname "$ORIGINAL_VENV")"
    "$PYTHON" -m venv "$ORIGINAL_VENV"
    "$ORIGINAL_VENV/bin/pip" install -q "smg==$ORIGINAL_VERSION"
fi

if [ "${1:-}" = "--setup-only" ]; then
    exit 0
fi
exec "$VENV/bin/python" bench/run.py "$@"
