#!/usr/bin/env bash
# Download into .whl/ (git-ignored) every wheel that the GPU machine lacks, for dev/gpu_check.sh.
# That machine (SPEC §2) has Python 3.12 on manylinux x86_64 with torch 2.11, torchvision, numpy 2.x,
# opencv, scipy, matplotlib, tqdm, tensorboard, tabulate, cloudpickle, portalocker, pyyaml and
# pytest, and no package registry; the device tool carries .whl/ there (benchmarks/README.md).
# Versions are dev/requirements.txt's pins, one version of each package. Run here (PyPI reachable):
#
#   bash dev/gpu_wheels.sh          # PYTHON=python3.11 to choose the interpreter that runs pip
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEST=.whl
LIMIT_MIB=56  # a device call carries at most 64 MiB: the working tree (about 1 MiB) and .whl/
PIP=("$PY" -m pip --disable-pip-version-check -q)

pin() {  # NAME -> NAME==VERSION from dev/requirements.txt
  local line
  line=$(grep -iE "^$1==" dev/requirements.txt | cut -d' ' -f1) \
    || { echo "gpu_wheels: $1 is not pinned in dev/requirements.txt" >&2; exit 1; }
  echo "$line"
}

# Pure-Python packages: a py3-none-any wheel, downloaded or built here from the sdist (fvcore,
# iopath and antlr4 publish only sdists). antlr4 4.9.x is what omegaconf 2.3 / hydra 1.3 require.
# setuptools is installed there only when its own has no pkg_resources (detectron2.model_zoo
# imports it). panopticapi-lite is the `panopticapi` module of SPEC §2.
PURE=(fvcore iopath omegaconf hydra-core yacs termcolor panopticapi-lite setuptools)
# Compiled packages: the cp312 manylinux x86_64 wheels.
BINARY=(pycocotools hotcoco)

rm -rf "$DEST"
mkdir -p "$DEST"
echo "[gpu_wheels] pure-Python wheels"
"${PIP[@]}" wheel --no-deps --wheel-dir "$DEST" antlr4-python3-runtime==4.9.3 \
  $(for name in "${PURE[@]}"; do pin "$name"; done)
echo "[gpu_wheels] cp312 manylinux wheels"
"${PIP[@]}" download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --dest "$DEST" \
  $(for name in "${BINARY[@]}"; do pin "$name"; done)
# detectron2 (SPEC §2): sal-detectron2's cp310 wheel, whose pure-Python modules run on 3.12. It is
# rewritten as the pure wheel it then is: without its compiled detectron2/_C (for 3.10, never
# loaded; 20 MB of the carry), tagged py3-none-any, with its RECORD to match.
echo "[gpu_wheels] detectron2 (sal-detectron2==0.7.2, pure-Python modules)"
"${PIP[@]}" download --no-deps --only-binary=:all: --python-version 3.10 --implementation cp \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --dest "$DEST" sal-detectron2==0.7.2
"$PY" - "$DEST" <<'EOF'
import base64
import glob
import hashlib
import os
import sys
import zipfile

(path,) = glob.glob(os.path.join(sys.argv[1], "sal_detectron2-0.7.2-cp310-*.whl"))
pure = os.path.join(sys.argv[1], "sal_detectron2-0.7.2-py3-none-any.whl")
wheel = "Wheel-Version: 1.0\nGenerator: dev/gpu_wheels.sh\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
records = []
with zipfile.ZipFile(path) as src, zipfile.ZipFile(pure, "w", zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        name = info.filename
        if name.endswith(".so") or name.endswith(".dist-info/RECORD"):
            continue
        data = wheel.encode() if name.endswith(".dist-info/WHEEL") else src.read(info)
        dst.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        records.append(f"{name},sha256={digest},{len(data)}\n")
    dst.writestr("sal_detectron2-0.7.2.dist-info/RECORD",
                 "".join(records) + "sal_detectron2-0.7.2.dist-info/RECORD,,\n")
os.remove(path)
EOF

# Every wheel must install on the GPU machine: pure, or cp312 / abi3 manylinux x86_64.
bad=$(ls "$DEST" | grep -vE -- '-(py3|py2\.py3)-none-any\.whl$|-cp312-(cp312|abi3)-.*manylinux.*x86_64\.whl$|-cp3[0-9]+-abi3-.*manylinux.*x86_64\.whl$' || true)
[[ -z "$bad" ]] || { echo "gpu_wheels: wheels the GPU machine cannot install: $bad" >&2; exit 1; }
dups=$(ls "$DEST" | cut -d- -f1 | tr 'A-Z-' 'a-z_' | sort | uniq -d)
[[ -z "$dups" ]] || { echo "gpu_wheels: more than one version of: $dups" >&2; exit 1; }
ls -l "$DEST" | awk 'NR > 1 {printf "  %8.2f MiB  %s\n", $5 / 2^20, $9}'
size_kib=$(du -sk "$DEST" | cut -f1)
echo "[gpu_wheels] $(ls "$DEST" | wc -l) wheels, $((size_kib / 1024)) MiB in $DEST (limit $LIMIT_MIB MiB)"
((size_kib <= LIMIT_MIB * 1024)) || { echo "gpu_wheels: $DEST is over $LIMIT_MIB MiB" >&2; exit 1; }
