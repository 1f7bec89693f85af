#!/usr/bin/env bash
# Issue 4's evidence: quantized CP (admm-cp) against CP-ALS + rounding (cp-als) on fmnist_resnet,
# all 3x3 convs but the stem, 4-bit factors, 1,000 calibration images, all 10,000 test images.
#   tools/results_cp.sh PATH/TO/qcp [OUT_DIR]   -> prints a markdown table; keeps JSON in OUT_DIR
set -euo pipefail
QCP=$1
OUT=${2:-$(mktemp -d)}
mkdir -p "$OUT"
D=/usr/share/datasets/fashion-mnist
MODEL=models/fmnist_resnet.onnx
# 3x3 convs only: the 1x1 downsampling convs are left alone
COMMON=(--calib "$D/train-images-idx3-ubyte.gz" --calib-count 1000 --bits 4 --exclude down --force)
top1() { "$QCP" eval "$1" --data "$D/t10k-images-idx3-ubyte.gz" --labels "$D/t10k-labels-idx1-ubyte.gz" --json |
         sed -n 's/.*"top1": \([0-9.]*\).*/\1/p'; }
fp32=$(top1 "$MODEL")
echo "fp32 top-1: $fp32"
echo
echo "| r | method | granularity | correction | top-1 | drop (points) | rel. weight error per layer | compressed-layer ratio | seconds |"
echo "|---|---|---|---|---|---|---|---|---|"
run() {  # ratio method granularity correct
  local tag="r$1_$2_$3_$4"
  local corr=--correct; [ "$4" = on ] || corr=--no-correct
  "$QCP" -q compress "$MODEL" -o "$OUT/$tag.onnx" --rank-ratio "$1" --method "$2" --granularity "$3" $corr \
    "${COMMON[@]}" --json > "$OUT/$tag.json"
  local acc; acc=$(top1 "$OUT/$tag.onnx")
  /usr/bin/python3 - "$OUT/$tag.json" "$acc" "$fp32" "$1" "$2" "$3" "$4" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); acc, fp32 = float(sys.argv[2]), float(sys.argv[3])
errs = " ".join(f"{l['rel_error']:.3f}" for l in r["layers"] if l["rel_error"] is not None)
t = r["totals"]
print(f"| {sys.argv[4]} | {sys.argv[5]} | {sys.argv[6]} | {sys.argv[7]} | {100*acc:.2f}% | {100*(fp32-acc):.2f} | {errs} | "
      f"{t['compression_ratio']:.2f}x | {t['seconds']:.1f} |")
PY
}
for ratio in 1.5 2 3; do
  for method in admm-cp cp-als; do
    for correct in on off; do run "$ratio" "$method" tensor "$correct"; done
  done
done
run 2 admm-cp channel on
run 2 admm-cp channel off
run 2 cp-als channel on
