#!/usr/bin/env bash
# Regenerates docs/sweep/ (the README's chart, docs/RESULTS.md's sweep table): `qcp sweep` of the
# reference ResNet with every method this build knows at its default settings (CP methods: bits
# 3,4,8 x rank ratios 1.5,2,3; rtn/gptq: bits 2,3,4,8; pq: 256 and 64 codewords), calibration on
# the first 1,000 training images, evaluation on the first COUNT test images (default: all 10,000).
#   tools/sweep_reference.sh [PATH/TO/qcp] [OUT_DIR]      (extra qcp flags: QCP_SWEEP_FLAGS="--threads 4")
set -euo pipefail
QCP=$(realpath "${1:-build/qcp}")
OUT=$(realpath -m "${2:-build/sweep_reference}")
COUNT=${COUNT:-10000}
D=/usr/share/datasets/fashion-mnist
cd "$(dirname "$0")/.."
# shellcheck disable=SC2086
"$QCP" sweep models/fmnist_resnet.onnx --data "$D/t10k-images-idx3-ubyte.gz" --labels "$D/t10k-labels-idx1-ubyte.gz" \
  --count "$COUNT" --calib "$D/train-images-idx3-ubyte.gz" --calib-count 1000 --out "$OUT" --force ${QCP_SWEEP_FLAGS:-}
mkdir -p docs/sweep
cp "$OUT/pareto.svg" "$OUT/pareto_macs.svg" "$OUT/results.csv" "$OUT/results.md" docs/sweep/
echo "docs/sweep/ updated from $OUT"
