#!/usr/bin/env bash
# A model with two inputs (tests/data/fixtures/two_inputs.onnx, tools/fixtures/gen_two_inputs.py)
# compressed with calibration data for each input (--calib x=… --calib s=…) by every method (rtn,
# gptq, pq, admm-cp, cp-als); qcp's engine (eval --data x=… --data s=… --dump-outputs) and ONNX Runtime
# (tools/ort/ort_run.js --input x=… --input s=…) must give the same outputs (rtol 1e-5 per sample).
# The same with s left to its constant (--input-value s=0.5) on the engine and a file of 0.5 in ORT.
# Used by CTest (ort_two_inputs, label unit); needs `tools/install_deps.sh --ort`.
#   tools/ort_two_inputs_check.sh PATH/TO/qcp [WORKDIR]
set -euo pipefail
QCP=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${2:-$(mktemp -d)}
mkdir -p "$WORK"
if [ ! -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ]; then
  echo "ort_two_inputs_check: ONNX Runtime is not installed; run tools/install_deps.sh --ort" >&2
  exit 1
fi
FIX="$ROOT/tests/data/fixtures"
MODEL="$FIX/two_inputs.onnx" X="$FIX/two_inputs_x.npy" S="$FIX/two_inputs_s.npy"
check() {  # name, compressed model, qcp eval data args..., -- ort input args...
  local name=$1 model=$2; shift 2
  local qargs=() oargs=()
  while [ "$1" != "--" ]; do qargs+=("$1"); shift; done
  shift
  oargs=("$@")
  "$QCP" -q eval "$model" --threads 1 "${qargs[@]}" --dump-outputs "$WORK/$name.qcp.npy" --force >/dev/null
  rm -rf "$WORK/$name.ort" && node "$ROOT/tools/ort/ort_run.js" "$model" "$WORK/$name.ort" "${oargs[@]}" >/dev/null
  echo -n "$name: " && node "$ROOT/tools/ort/compare_npy.js" "$WORK/$name.qcp.npy" "$WORK/$name.ort/y.npy" --rtol 1e-5
}
for method in "rtn --bits 4" "gptq --bits 4" "pq --centroids 16" "admm-cp --bits 4 --rank 3 --layer .=rank=3" "cp-als --bits 4 --rank 3 --layer .=rank=3"; do
  name=${method%% *}
  # shellcheck disable=SC2086
  "$QCP" -q compress "$MODEL" -o "$WORK/$name.onnx" --force --threads 1 --method $method \
    --calib "x=$X" --calib "s=$S" --report "$WORK/$name.json" >/dev/null
  check "$name" "$WORK/$name.onnx" --data "x=$X" --data "s=$S" -- --input "x=$X" --input "s=$S"
done
# s as a constant: the engine fills 0.5, ORT reads the same values from a file
/usr/bin/python3 - "$S" "$WORK/s_half.npy" <<'PY'
import sys, numpy as np
np.save(sys.argv[2], np.full(np.load(sys.argv[1]).shape, 0.5, dtype=np.float32))
PY
check rtn_const "$WORK/rtn.onnx" --data "x=$X" --input-value s=0.5 -- --input "x=$X" --input "s=$WORK/s_half.npy"
