#!/usr/bin/env bash
# The prepared GPU check (issue 15, SPEC §7), run as one call on a lent GPU machine (one H200,
# Python 3.12, torch 2.11, no package registry) from the repository root, with .whl/ beside it
# (made here by dev/gpu_wheels.sh; benchmarks/README.md gives the call). Steps, in order:
#
#   wheels           install .whl/*.whl into a target folder (put on PYTHONPATH)
#   env              nvidia-smi and the versions used
#   build            vps_d2._C with its CUDA kernels for sm_90 (FORCE_CUDA=1, all cores)
#   tests            tests/layers/test_flow_warp.py and tests/test_extension.py, CUDA cases included
#                    (CUDA = CPU kernel = float64 reference, gradients too); none may be skipped
#   flow_warp        benchmarks/bench_flow_warp.py --device cuda
#   model_inference  benchmarks/bench_model.py at 1024x2048, fp32 and AMP: VPSNet++ f, FuseTrack and
#   model_train      Panoptic FPN R50 side by side; then one training step at 800x1600
#   stream_memory    benchmarks/bench_stream_memory.py: the tiny model online over 1,000 synthetic
#                    frames, RSS and CUDA allocated memory every 50 (stream_memory/ in the report)
#   train            R50 VPSNet++ f from scratch on synthetic 512x1024 videos: 200 iterations with
#                    AMP (loss curve, step time), then its VPQ evaluation
#
# Each step has its own time limit (together 9 min 40 s at most) and log; a failed or timed-out step
# does not stop the others. Results go to $OUT (the device tool's folder) or --out DIR:
# gpu_check.json, gpu_check.md, gpu_check.log (every step's full log), loss_curve.png and
# stream_memory/ (memory.csv, memory.png). The exit
# status is 0 when every step ran; whether the speed targets are met is in the report.
#
#   bash dev/gpu_check.sh               # on the GPU machine
#   bash dev/gpu_check.sh --cpu-smoke   # the same steps at toy sizes on the CPU, < 3 minutes, in the
#                                       # current environment (tests/test_gpu_check.py runs it)
# Environment: PYTHON (default python3), TORCH_CUDA_ARCH_LIST (default 9.0), CUDA_HOME.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

MODE=gpu
OUT_DIR=${OUT:-$ROOT/gpu_check_output}
STEP=""  # internal: run one step (the script calls itself so that `timeout` can stop a whole step)
while (($#)); do
  case $1 in
    --cpu-smoke) MODE=smoke ;;
    --out) OUT_DIR=${2:?--out needs a folder}; shift ;;
    --step) STEP=${2:?}; shift ;;
    *) echo "usage: dev/gpu_check.sh [--cpu-smoke] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
PY=${PYTHON:-python3}
CORES=$(nproc)

# Sizes and limits (seconds): GPU run | CPU smoke.
if [[ $MODE == gpu ]]; then
  declare -A LIMIT=([wheels]=25 [env]=15 [build]=110 [tests]=40 [flow_warp]=35 [model_inference]=100
    [model_train]=80 [stream_memory]=45 [train]=130)
  FLOW_ARGS=(--device cuda)
  MODEL_ARGS=(--device cuda --height 1024 --width 2048 --warmup 3 --precisions fp32 amp)
  INFER_ARGS=(--frames 8)
  TRAIN_STEP_ARGS=(--frames 1 --steps 6)
  STREAM_ARGS=(--device cuda --frames 1000 --every 50)
  DATA=(512 1024 10 5); TRAIN_VIDEOS=4; VAL_VIDEOS=2  # height, width, frames, annotation stride
  TRAIN_OPTS=(SOLVER.MAX_ITER 200 SOLVER.STEPS "(150, 185)" SOLVER.WARMUP_ITERS 50 SOLVER.IMS_PER_BATCH 4
    SOLVER.AMP.ENABLED True INPUT.MIN_SIZE_TRAIN "(512, 640)" INPUT.CROP.SIZE "(512, 1024)"
    INPUT.MIN_SIZE_TEST 512 INPUT.MAX_SIZE_TEST 1024 DATALOADER.NUM_WORKERS $((CORES / 2)) MODEL.DEVICE cuda)
else
  # Hang guards only: about 2.5 CPU-minutes in all, so under 3 minutes on 2 idle cores, but a
  # machine shared with other jobs can take many times that. A stale extension is rebuilt (CPU
  # only) as `make setup` would.
  declare -A LIMIT=([wheels]=300 [env]=300 [build]=600 [tests]=600 [flow_warp]=300 [model_inference]=600
    [model_train]=600 [stream_memory]=300 [train]=600)
  FLOW_ARGS=(--device cpu --sizes 1x8x16x32 --iters 2 --warmup 1 --threads 1)
  MODEL_ARGS=(--device cpu --height 64 --width 128 --warmup 1 --precisions fp32 --threads 1)
  INFER_ARGS=(--frames 1)
  TRAIN_STEP_ARGS=(--frames 1 --steps 1)
  STREAM_ARGS=(--device cpu --frames 20 --every 10 --warmup 10 --height 64 --width 128)
  DATA=(64 128 6 5); TRAIN_VIDEOS=1; VAL_VIDEOS=1
  # detectron2's AMPTrainer needs CUDA: the smoke trains in fp32.
  # 4 iterations: detectron2 times those after its first 3. Few proposals and detections: toy sizes.
  TRAIN_OPTS=(SOLVER.MAX_ITER 4 SOLVER.STEPS "(3,)" SOLVER.WARMUP_ITERS 1 SOLVER.IMS_PER_BATCH 1
    SOLVER.AMP.ENABLED False INPUT.MIN_SIZE_TRAIN "(64, 80)" INPUT.CROP.SIZE "(64, 128)"
    INPUT.MIN_SIZE_TEST 64 INPUT.MAX_SIZE_TEST 128 DATALOADER.NUM_WORKERS 0 MODEL.DEVICE cpu
    MODEL.RPN.POST_NMS_TOPK_TRAIN 100 MODEL.RPN.POST_NMS_TOPK_TEST 100 MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE 64
    TEST.DETECTIONS_PER_IMAGE 10)
fi

# run_step NAME: run step_NAME under its time limit (`timeout` stops its whole process group),
# output to logs/NAME.log; print and record the outcome. Never fails itself.
run_step() {
  local name=$1 lim rc start secs status note="" child=(--step "$1")
  [[ $MODE == gpu ]] || child+=(--cpu-smoke)
  lim=${LIMIT[$name]}
  echo "== $name (limit ${lim} s), $(date +%H:%M:%S)"
  start=$(date +%s%N)
  set +e
  timeout --kill-after=5 "$lim" bash "$ROOT/dev/gpu_check.sh" "${child[@]}" > "$WORK/logs/$name.log" 2>&1 < /dev/null
  rc=$?
  set -e
  secs=$(( ($(date +%s%N) - start) / 1000000 ))
  secs=$(printf '%d.%03d' $((secs / 1000)) $((secs % 1000)))
  case $rc in
    0) status=ok ;;
    124 | 137) status=timeout; note="stopped at its ${lim} s limit" ;;
    *) status=failed; note="exit $rc: $(grep -v '^\s*$' "$WORK/logs/$name.log" | tail -n 1 | tr '\t' ' ' | cut -c1-300)" ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$secs" "$lim" "$note" >> "$STEPS"
  echo "   $status in ${secs} s${note:+ ($note)}"
  [[ $status == ok ]] || tail -n 15 "$WORK/logs/$name.log" | sed 's/^/   | /'
}

# skip_step NAME REASON: record a step that is not run, and why.
skip_step() {
  printf '%s\tskipped\t0\t%s\t%s\n' "$1" "${LIMIT[$1]}" "$2" >> "$STEPS"
  echo "== $1: skipped ($2)"
}

# has_status NAME|- STATUS...: whether step NAME (- for any step) ended with one of the STATUSes.
has_status() {
  awk -F'\t' -v name="$1" -v statuses=" ${*:2} " \
    '($1 == name || name == "-") && index(statuses, " " $2 " ") { found = 1 } END { exit !found }' "$STEPS"
}

# ---------------------------------------------------------------- the steps

step_wheels() {
  local wheels=() whl
  for whl in .whl/*.whl; do [[ $whl == */setuptools-* ]] || wheels+=("$whl"); done
  # setuptools only where the machine's own has no pkg_resources (detectron2.model_zoo imports it).
  "$PY" -c "import pkg_resources" 2> /dev/null || wheels+=(.whl/setuptools-*.whl)
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
    --target "$SITE" "${wheels[@]}"
  "$PY" -c "import detectron2.model_zoo, detectron2.modeling, fvcore, iopath, omegaconf, hydra, yacs, termcolor, pycocotools.mask, panopticapi.utils, hotcoco; print('imports ok')"
}

step_env() {
  if command -v nvidia-smi > /dev/null; then
    nvidia-smi
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  else
    echo "nvidia-smi: not found (no NVIDIA driver on this machine)"
  fi
  "$PY" dev/gpu_check_report.py versions "$WORK/versions.json"
}

step_build() {
  local built
  built="vps_d2/_C$("$PY" -c 'import importlib.machinery as m; print(m.EXTENSION_SUFFIXES[0])')"
  # The CPU smoke keeps an up-to-date build of the current environment (make setup makes one).
  if [[ $MODE == smoke ]] && "$PY" dev/gpu_check_report.py extension-up-to-date; then
    echo "vps_d2._C is up to date for this interpreter: not rebuilt"
  elif [[ $MODE == smoke ]]; then
    MAX_JOBS=$CORES "$PY" setup.py build_ext --inplace --build-temp "$WORK/build"
  else
    if [[ -z ${CUDA_HOME:-} ]]; then  # torch would infer it from nvcc's folder, wrongly for /usr/local/bin
      if [[ -x /usr/local/cuda/bin/nvcc ]]; then
        CUDA_HOME=/usr/local/cuda
      else
        CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
      fi
    fi
    echo "CUDA_HOME=$CUDA_HOME TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=$CORES"
    # No stale build of this interpreter may survive a failed one (a warm machine keeps ignored files).
    rm -f "$built"
    FORCE_CUDA=1 CUDA_HOME=$CUDA_HOME TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=$CORES \
      "$PY" setup.py build_ext --inplace --build-temp "$WORK/build"
    ! command -v cuobjdump > /dev/null || cuobjdump --list-elf "$built"  # the GPU code it holds
  fi
  "$PY" dev/gpu_check_report.py extension "$WORK/extension.json" --need-cuda "$([[ $MODE == gpu ]] && echo 1 || echo 0)"
}

step_tests() {
  "$PY" -m pytest -q -rs -p no:cacheprovider --junitxml "$WORK/tests.xml" \
    tests/layers/test_flow_warp.py tests/test_extension.py
  # On the GPU every case runs: a skipped CUDA case would be an unchecked kernel.
  [[ $MODE == smoke ]] || "$PY" dev/gpu_check_report.py no-skips "$WORK/tests.xml"
}

step_flow_warp() {
  "$PY" benchmarks/bench_flow_warp.py "${FLOW_ARGS[@]}" --json "$WORK/flow_warp.json"
}

step_model_inference() {
  "$PY" benchmarks/bench_model.py "${MODEL_ARGS[@]}" --tasks inference "${INFER_ARGS[@]}" --json "$WORK/model_inference.json"
}

step_model_train() {
  "$PY" benchmarks/bench_model.py "${MODEL_ARGS[@]}" --tasks train "${TRAIN_STEP_ARGS[@]}" --json "$WORK/model_train.json"
}

step_stream_memory() {
  "$PY" benchmarks/bench_stream_memory.py "${STREAM_ARGS[@]}" --quiet --out "$WORK/stream_memory"
}

prepare_data() {  # both splits in one process: it runs beside the build, which needs few cores
  "$PY" -c "
import sys
from vps_d2.data.synthetic import format_statistics, write_synthetic_split
root, height, width, frames, stride = sys.argv[1], *map(int, sys.argv[2:6])
for split, videos in (('train', int(sys.argv[6])), ('val', int(sys.argv[7]))):
    stats = write_synthetic_split(root, split, videos=videos, frames=frames, stride=stride, height=height,
                                  width=width, seed=0)
    print(split, format_statistics(stats), sep='\\n')
" "$WORK/datasets/synthetic_vps" "${DATA[@]}" "$TRAIN_VIDEOS" "$VAL_VIDEOS"
}

step_train() {
  # Waits for the data that prepare_data started writing before the build (logs/data.log).
  while [[ ! -e "$WORK/data.done" ]]; do sleep 1; done
  [[ $(cat "$WORK/data.done") == 0 ]] || { echo "synthetic data generation failed:"; tail -n 5 "$WORK/logs/data.log"; return 1; }
  # From scratch (nothing is downloaded): a BN trunk trained from the first layer on unit-variance
  # inputs, as the tiny CPU config does; the config's learning rate.
  "$PY" train_net.py --config-file configs/Synthetic-VPS/vpsnet_pp_f_R_50_FPN_3k_synthetic_vps.yaml \
    MODEL.WEIGHTS "" MODEL.RESNETS.NORM BN MODEL.BACKBONE.FREEZE_AT 0 \
    MODEL.PIXEL_STD "[57.375, 57.120, 58.395]" SOLVER.CHECKPOINT_PERIOD 100000 \
    "${TRAIN_OPTS[@]}" SEED 0 OUTPUT_DIR "$WORK/train"
}

if [[ -n $STEP ]]; then  # a child run by run_step, with the parent's WORK, SITE and PYTHONPATH
  "step_$STEP"
  exit
fi

# ---------------------------------------------------------------- the run

mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
WORK=$(mktemp -d -t vps_d2_gpu_check.XXXXXX)  # data, builds, training output: not sent back
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/logs"
STEPS="$WORK/steps.tsv"  # name, status, seconds, limit, note (dev/gpu_check_report.py reads it)
: > "$STEPS"
export WORK SITE="$WORK/site" PYTHONPATH="$WORK/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 DETECTRON2_DATASETS="$WORK/datasets"

echo "vps_d2 GPU check ($MODE), $(date -u +%Y-%m-%dT%H:%M:%SZ), $CORES cores, python: $PY, report: $OUT_DIR"
PY_VERSION=$("$PY" -c 'import platform; print(platform.python_version())')
if ! compgen -G ".whl/*.whl" > /dev/null; then
  [[ $MODE == smoke ]] && note="no .whl/: the CPU smoke uses this environment's packages" \
    || note="no .whl/: run dev/gpu_wheels.sh here and carry .whl (benchmarks/README.md)"
  skip_step wheels "$note"
elif [[ $MODE == smoke && $PY_VERSION != 3.12.* ]]; then
  skip_step wheels ".whl/ holds Python 3.12 wheels: the CPU smoke under $PY_VERSION uses this environment's packages"
else
  run_step wheels
fi
run_step env
# The train step's data, written while the build leaves most cores idle (step_train waits for it).
(
  rc=0
  prepare_data > "$WORK/logs/data.log" 2>&1 || rc=$?
  echo $rc > "$WORK/data.rc" && mv "$WORK/data.rc" "$WORK/data.done"
) &
run_step build
if has_status build ok; then
  run_step tests
  run_step flow_warp
else
  skip_step tests "the build failed"
  skip_step flow_warp "the build failed"
fi
run_step model_inference
run_step model_train
run_step stream_memory
[[ ! -d $WORK/stream_memory ]] || cp -r "$WORK/stream_memory" "$OUT_DIR/"
run_step train
wait

"$PY" dev/gpu_check_report.py report --mode "$MODE" --work "$WORK" --out "$OUT_DIR"
! has_status - failed timeout || { echo "gpu_check: some steps failed (see above)"; exit 1; }
[[ $MODE == smoke ]] || ! has_status - skipped || { echo "gpu_check: some steps were not run"; exit 1; }
