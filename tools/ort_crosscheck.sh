#!/usr/bin/env bash
# Compresses the reference models with qcp and checks that ONNX Runtime 1.30 runs every written
# model and agrees with qcp's engine (relative error ≤ 1e-5 per sample, identical predictions)
# on the 64 fixture images. Used by CTest (label model); needs `tools/install_deps.sh --ort`.
#   tools/ort_crosscheck.sh PATH/TO/qcp [WORKDIR]
set -euo pipefail
QCP=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${2:-$(mktemp -d)}
mkdir -p "$WORK"
if [ ! -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ]; then
  echo "ort_crosscheck: ONNX Runtime is not installed; run tools/install_deps.sh --ort" >&2
  exit 1
fi
INPUT="$ROOT/tests/engine/model_fixtures/input_64.npy"
CALIB=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
fail=0
check() {  # name model.onnx
  local name=$1 model=$2
  rm -rf "$WORK/$name.ort"
  node "$ROOT/tools/ort/ort_run.js" "$model" "$WORK/$name.ort" --input "$INPUT" >/dev/null
  "$QCP" eval "$model" --data "$INPUT" --dump-outputs "$WORK/$name.qcp.npy" --force >/dev/null
  local ort_out
  ort_out=$(ls "$WORK/$name.ort"/*.npy | head -n 1)
  if node "$ROOT/tools/ort/compare_npy.js" "$WORK/$name.qcp.npy" "$ort_out" > "$WORK/$name.cmp"; then
    echo "ok   $name: $(cat "$WORK/$name.cmp")"
  else
    echo "FAIL $name: $(cat "$WORK/$name.cmp")"
    fail=1
  fi
}
while read -r name model args; do
  [ -n "$name" ] || continue
  # shellcheck disable=SC2086
  "$QCP" -q compress "$ROOT/models/$model.onnx" -o "$WORK/$name.onnx" --force --calib "$CALIB" --calib-count 128 $args >/dev/null
  check "$name" "$WORK/$name.onnx"
done <<'CASES'
resnet_admm_qdq     fmnist_resnet    --rank-ratio 4 --bits 4
resnet_admm_channel fmnist_resnet    --rank-ratio 4 --bits 3 --granularity channel
resnet_cpals_float  fmnist_resnet    --rank-ratio 4 --method cp-als --format float
mlp_admm            fmnist_mlp       --rank-ratio 4 --bits 4 --layer fc4=rank=4
mobilenet_admm      fmnist_mobilenet --rank-ratio 4 --bits 4
resnet_rtn4         fmnist_resnet    --method rtn --bits 4
mlp_gptq_asym       fmnist_mlp       --method gptq --bits 4 --asymmetric
mobilenet_rtn8      fmnist_mobilenet --method rtn --bits 8 --granularity tensor
CASES
echo "ort_crosscheck: $([ $fail = 0 ] && echo '8 passed, 0 failed' || echo 'failures above')"
exit $fail
