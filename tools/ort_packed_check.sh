#!/usr/bin/env bash
# The packed weight format (--format packed, the default) in ONNX Runtime at every opset it
# targets: each fixture of tests/rewrite/fixtures (opsets 7 to 21, written by
# tools/fixtures/gen_packed.py) is compressed by every method at several bit widths, once packed
# and once as float32; tools/ort/check_packed.js then requires ORT's outputs of the two to be
# bit-identical, within 1e-5 of qcp's engine, and the packed graph to fold to the float one.
# Used by CTest (ort_packed, label unit); needs `tools/install_deps.sh --ort`.
#   tools/ort_packed_check.sh PATH/TO/qcp [WORKDIR]
set -euo pipefail
QCP=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${2:-$(mktemp -d)}
mkdir -p "$WORK"
if [ ! -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ]; then
  echo "ort_packed_check: ONNX Runtime is not installed; run tools/install_deps.sh --ort" >&2
  exit 1
fi
FIX="$ROOT/tests/rewrite/fixtures"
INPUT="$FIX/packed_input.npy"
names=()
while read -r name args; do
  [ -n "$name" ] || continue
  for opset in 7 9 11 13 17 21; do
    model="$FIX/packed_opset$opset.onnx" case_name="op${opset}_$name"
    for format in packed float; do
      # shellcheck disable=SC2086
      "$QCP" -q compress "$model" -o "$WORK/$case_name.$format.onnx" --force --threads 1 --format "$format" --calib "$INPUT" $args >/dev/null
    done
    "$QCP" -q eval "$WORK/$case_name.packed.onnx" --threads 1 --data "$INPUT" --dump-outputs "$WORK/$case_name.qcp.npy" --force >/dev/null
    names+=("$case_name")
  done
done <<'CASES'
rtn2        --method rtn --bits 2
rtn3        --method rtn --bits 3
rtn4_asym   --method rtn --bits 4 --asymmetric --granularity tensor
rtn5        --method rtn --bits 5
rtn6        --method rtn --bits 6
rtn7        --method rtn --bits 7
rtn8        --method rtn --bits 8
gptq4       --method gptq --bits 4
pq16        --method pq --centroids 16 --pq-iters 5
pq256       --method pq --centroids 256 --pq-iters 5
admm4       --method admm-cp --bits 4 --rank 3 --layer .=rank=3
cpals3_ch   --method cp-als --bits 3 --rank 2 --granularity channel --no-correct
block4      --method rtn --bits 4 --block-size 4
CASES
node "$ROOT/tools/ort/check_packed.js" "$INPUT" "$WORK" "${names[@]}"
