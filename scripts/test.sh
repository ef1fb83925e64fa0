#!/usr/bin/env bash
# Install everything the tests need, then lint and run the whole suite.
# One command on a fresh machine: `bash scripts/test.sh` (extra args go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV="${SMG_VENV:-.venv}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[test]'

# A real inference engine nobody on the team wrote (mlx_lm.server on a tiny
# model made locally); its tests skip without it unless CI demands it.
if [ "${SMG_SKIP_REAL_WORKERS:-0}" != "1" ]; then
    bash scripts/install-real-workers.sh
fi

# Servers the observability tests scrape or feed (Debian's prometheus).
bash scripts/install-test-services.sh

"$VENV/bin/ruff" check src tests scripts bench
"$VENV/bin/ruff" format --check src tests scripts bench
"$VENV/bin/mypy" src/smg

set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
# Exit code 5 means the selection ran no test: not a failure of the suite.
if [ "$status" -eq 5 ]; then
    exit 0
fi
exit "$status"
