#!/usr/bin/env bash
# Install the real inference engine used by tests/realworker: mlx_lm.server
# (MLX's CPU backend, OpenAI HTTP API) in its own venv, plus a tiny random Llama
# generated locally by scripts/make_tiny_model.py, so no model hub is needed.
#
#   bash scripts/install-real-workers.sh
#
# Everything goes under SMG_REAL_WORKERS_DIR (default ~/.cache/smg-real-workers):
#   venv-mlx/     mlx[cpu], mlx-lm and the generator's packages
#   tiny-llama/   the model folder passed to `mlx_lm.server --model`
# Idempotent: each step leaves a marker recording its inputs and is skipped while
# they are unchanged. Needs python3.11 (override with PYTHON) and PyPI.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SMG_REAL_WORKERS_DIR:-$HOME/.cache/smg-real-workers}"
VENV="$DIR/venv-mlx"
MODEL="$DIR/tiny-llama"
GENERATOR="$REPO/scripts/make_tiny_model.py"
MODEL_SEED=0
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3 || true)}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# Pinned so CI and developers run the same engine; bump together and rerun.
# The generator's packages (and transformers, which applies the chat template)
# are pinned too, so the model and its prompts stay byte-identical.
PACKAGES=(
  'mlx[cpu]==0.32.4'
  'mlx-lm==0.31.3'
  'tokenizers==0.23.3'
  'safetensors==0.8.0'
  'numpy==2.4.6'
  'transformers==5.25.0'
)

log() { printf '[install-real-workers] %s\n' "$*"; }

# Hash of the inputs a step depends on; a changed hash re-runs the step.
fingerprint() { printf '%s\n' "$@" | sha256sum | cut -d' ' -f1; }

is_current() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

install_venv() {
  local marker="$VENV/.smg-installed" want
  want="$(fingerprint "$("$PYTHON" -V 2>&1)" "${PACKAGES[@]}")"
  if is_current "$marker" "$want" && [ -x "$VENV/bin/mlx_lm.server" ]; then
    log "venv up to date: $VENV"
    return
  fi

  log "creating venv $VENV with ${PACKAGES[*]}"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet "${PACKAGES[@]}"
  # Import the engine once so a broken wheel fails here, not in the tests.
  "$VENV/bin/python" -c 'import mlx.core, mlx_lm.server'
  echo "$want" >"$marker"
}

generate_model() {
  local marker="$MODEL/.smg-generated" want tmp
  want="$(fingerprint "$(sha256sum <"$GENERATOR")" "$MODEL_SEED" "${PACKAGES[@]}")"
  if is_current "$marker" "$want"; then
    log "model up to date: $MODEL"
    return
  fi

  log "generating tiny model into $MODEL"
  rm -rf "$DIR"/tiny-llama.tmp.*
  # Write beside the target and rename, so an interrupted run never leaves a
  # half-written model that a later run or a test would take for complete.
  tmp="$(mktemp -d "$DIR/tiny-llama.tmp.XXXXXX")"
  chmod 755 "$tmp"
  "$VENV/bin/python" "$GENERATOR" --out "$tmp" --seed "$MODEL_SEED"
  echo "$want" >"$tmp/.smg-generated"
  rm -rf "$MODEL"
  mv "$tmp" "$MODEL"
}

main() {
  local started=$SECONDS
  if [ -z "$PYTHON" ]; then
    log "no python3.11 or python3 on PATH; set PYTHON=/path/to/python3.11" >&2
    exit 1
  fi
  mkdir -p "$DIR"
  install_venv
  generate_model
  log "done in $((SECONDS - started)) s"
  log "engine: $VENV/bin/mlx_lm.server"
  log "model:  $MODEL"
  log "tests find them through SMG_REAL_WORKERS_DIR=$DIR"
}

main "$@"
