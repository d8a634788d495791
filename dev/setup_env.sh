#!/usr/bin/env bash
# One-command set-up (`make setup`): a Python environment with the pinned dependencies of SPEC §2 and
# vps_d2 installed in editable mode with its compiled extension. Idempotent: a second run checks
# stamps and returns in seconds.
#
# Environment: uses the active virtualenv ($VIRTUAL_ENV) if there is one, else creates ./.venv.
#   PYTHON=python3.11     interpreter used to create .venv
#   VPS_D2_NO_EXT=1       skip the C++/CUDA extension (ops use their PyTorch references)
#   FORCE_CUDA=1          compile the CUDA kernels even without a visible GPU (needs nvcc, CUDA_HOME)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [[ -n "${VIRTUAL_ENV:-}" ]]; then
  VENV="$VIRTUAL_ENV"
else
  VENV="$ROOT/.venv"
  if [[ ! -x "$VENV/bin/python" ]]; then
    echo "[setup] creating $VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
  fi
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
"$PY" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' \
  || { echo "[setup] error: Python >= 3.10 is required, $PY is $("$PY" --version)" >&2; exit 1; }

# 1. Pinned dependencies (dev/requirements.txt). Stamped by the file's hash.
REQ="$ROOT/dev/requirements.txt"
STAMP_DIR="$VENV/.vps_d2_stamps"
mkdir -p "$STAMP_DIR"
req_hash=$(sha256sum "$REQ" | cut -c1-16)
if [[ ! -f "$STAMP_DIR/deps-$req_hash" ]]; then
  echo "[setup] installing pinned dependencies (torch CUDA build: several GB the first time)"
  "${PIP[@]}" install -q --upgrade pip
  "${PIP[@]}" install -q -r "$REQ"
  touch "$STAMP_DIR/deps-$req_hash"
else
  echo "[setup] dependencies: up to date"
fi

# 2. detectron2: keep one that is already importable (e.g. a user's git install); otherwise the
#    verified recipe of SPEC §2 (its pure-Python modules from the sal-detectron2 cp310 wheel).
if "$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec('detectron2') is None)" 2>/dev/null; then
  echo "[setup] detectron2: already importable, kept"
else
  echo "[setup] installing detectron2 (sal-detectron2==0.7.2, pure-Python modules)"
  SITE=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  "${PIP[@]}" install -q --no-deps --only-binary=:all: --python-version 3.10 \
    --target "$SITE" --upgrade sal-detectron2==0.7.2
  "$PY" -c "import detectron2.modeling" \
    || { echo "[setup] error: detectron2 did not import after installation" >&2; exit 1; }
fi

# 3. vps_d2 itself, editable, with its extension. Stamped by the sources, torch and build switches.
src_hash=$( (cat setup.py; find vps_d2/layers/csrc -type f \( -name '*.cpp' -o -name '*.cu' -o -name '*.h' -o -name '*.cuh' \) \
  | sort | xargs -r cat; "$PY" -c 'from importlib.metadata import version; print(version("torch"))'; \
  echo "${VPS_D2_NO_EXT:-0} ${FORCE_CUDA:-0} ${TORCH_CUDA_ARCH_LIST:-}") | sha256sum | cut -c1-16)
ext_ok=1
[[ "${VPS_D2_NO_EXT:-0}" == 1 ]] || compgen -G "vps_d2/_C*.so" > /dev/null || ext_ok=0
if [[ -f "$STAMP_DIR/pkg-$src_hash" && $ext_ok == 1 ]]; then
  echo "[setup] vps_d2: up to date"
else
  echo "[setup] building vps_d2 and its extension (about a minute on 2 cores)"
  rm -f "$STAMP_DIR"/pkg-*
  export CUDA_HOME="${CUDA_HOME:-$( [[ -d /usr/local/cuda ]] && echo /usr/local/cuda || true)}"
  [[ -n "$CUDA_HOME" ]] || unset CUDA_HOME
  MAX_JOBS="${MAX_JOBS:-2}" "$PY" setup.py -q build_ext --inplace
  "${PIP[@]}" install -q --no-build-isolation --no-deps -e .
  touch "$STAMP_DIR/pkg-$src_hash"
fi
"$PY" -c "import vps_d2, vps_d2.layers as L; print('[setup] vps_d2', vps_d2.__version__, L.extension_info())"
echo "[setup] done: activate with 'source $VENV/bin/activate' or use $PY"
