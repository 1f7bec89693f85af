#!/usr/bin/env bash
# The main job on the shipped reference CNN: compress fmnist_resnet with quantized CP (AO-ADMM,
# rank ratio 2, 4-bit factors, statistics correction on 1,000 training images), then evaluate
# the result on all 10,000 test images against the fp32 model and print both reports.
#   tools/main_job.sh [PATH/TO/qcp] [OUT_DIR]
set -euo pipefail
QCP=${1:-build/qcp}
OUT=${2:-build}
D=/usr/share/datasets/fashion-mnist
mkdir -p "$OUT"
"$QCP" compress models/fmnist_resnet.onnx -o "$OUT/fmnist_resnet_cp.onnx" --force \
  --method admm-cp --rank-ratio 2 --bits 4 --calib "$D/train-images-idx3-ubyte.gz" --calib-count 1000 \
  --report "$OUT/fmnist_resnet_cp.json"
echo
"$QCP" eval "$OUT/fmnist_resnet_cp.onnx" --data "$D/t10k-images-idx3-ubyte.gz" --labels "$D/t10k-labels-idx1-ubyte.gz" \
  --ref models/fmnist_resnet.onnx
