#!/usr/bin/env bash
# Converts every engine fixture (tests/engine/fixtures, and tests/onnx_io/opset_fixtures: ops the
# engine lacks) to opsets 13, 17, 18 and 21 with qcp's converter and checks that ONNX Runtime 1.30
# gives each converted model the outputs it gave the original (stored beside it). CTest opset_ort
# (label unit); needs `tools/install_deps.sh --ort`.
#   tools/opset_ort_check.sh PATH/TO/opset_convert_fixtures [WORKDIR]
set -euo pipefail
CONVERT=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${2:-$(mktemp -d)}
if [ ! -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ]; then
  echo "opset_ort_check: ONNX Runtime is not installed; run tools/install_deps.sh --ort" >&2
  exit 1
fi
rm -rf "$WORK"
for set in engine/fixtures onnx_io/opset_fixtures; do
  out="$WORK/$(basename "$(dirname "$set")")"
  "$CONVERT" "$ROOT/tests/$set" "$out" 13 17 18 21
  node "$ROOT/tools/ort/opset_check.js" "$out/manifest.tsv"
done
