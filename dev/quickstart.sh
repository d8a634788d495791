#!/usr/bin/env bash
# `make quickstart`: the synthetic end-to-end job on the CPU. Generates the synthetic dataset
# (train and val) under $DETECTRON2_DATASETS (default ./datasets) and prints its statistics.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${VENV:-${VIRTUAL_ENV:-$(pwd)/.venv}}/bin/python"
DATA="${DETECTRON2_DATASETS:-datasets}"
start=$(date +%s)
for split in train val; do
  videos=$([[ $split == train ]] && echo 24 || echo 8)
  echo "== synthetic_vps_$split: $videos videos x 30 frames at 128x256"
  "$PY" datasets/prepare_synthetic_vps.py --root "$DATA/synthetic_vps" --split "$split" \
    --videos "$videos" --frames 30 --stride 5 --height 128 --width 256 --seed 0
done
echo "== quick start done in $(( $(date +%s) - start )) s; data in $DATA/synthetic_vps"
