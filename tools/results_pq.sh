#!/usr/bin/env bash
# Issue 6's evidence: activation-aware product quantization on the reference models, 1,000
# unlabelled calibration images, all 10,000 test images; every written model also runs in ONNX
# Runtime 1.30 (top-1 and disagreements with qcp's engine).
#   tools/results_pq.sh PATH/TO/qcp [OUT_DIR]   -> prints a markdown table
set -euo pipefail
QCP=$1
OUT=${2:-$(mktemp -d)}
mkdir -p "$OUT"
D=/usr/share/datasets/fashion-mnist
CALIB=(--calib "$D/train-images-idx3-ubyte.gz" --calib-count 1000)
echo "| model | setting | top-1 (qcp) | top-1 (ORT) | ORT≠qcp | agreement with fp32 | layer ratio (stored) | layer ratio (ideal) | file bytes | file ratio | seconds |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
run() {  # model label args...
  local model=$1 label=$2; shift 2
  local tag="${model}_$(echo "$label" | tr ' ,=/' '____')"
  "$QCP" -q compress "models/$model.onnx" -o "$OUT/$tag.onnx" --force --method pq "${CALIB[@]}" "$@" --json > "$OUT/$tag.json"
  local ev ort
  ev=$("$QCP" eval "$OUT/$tag.onnx" --data "$D/t10k-images-idx3-ubyte.gz" --labels "$D/t10k-labels-idx1-ubyte.gz" --ref "models/$model.onnx" --json)
  ort=$(tools/ort_top1.sh "$QCP" "$OUT/$tag.onnx")
  /usr/bin/python3 - "$model" "$label" "$OUT/$tag.onnx" "$ev" "$ort" "$OUT/$tag.json" <<'PY'
import json, os, sys
model, label, path, ev, ort, rep = sys.argv[1:7]
e = json.loads(ev); o = ort.split(); r = json.load(open(rep)); t = r["totals"]
print(f"| {model} | {label} | {100*e['top1']:.2f}% | {100*float(o[1]):.2f}% | {o[3]} | {100*e['agreement']:.2f}% | "
      f"{t['compression_ratio']:.1f}x | {t['ideal_compression_ratio']:.1f}x | {os.path.getsize(path)} | {t['file_ratio']:.1f}x | {t['seconds']:.0f} |")
PY
}
run fmnist_resnet "d=kh·kw, k=256"
run fmnist_resnet "d=kh·kw, k=64" --centroids 64
run fmnist_resnet "d=2·kh·kw, k=256" --layer '.=block=18' --layer 'down|fc=block=4'
run fmnist_resnet "d=2·kh·kw, k=64" --centroids 64 --layer '.=block=18' --layer 'down|fc=block=4'
run fmnist_resnet "d=kh·kw, k=256, weight k-means" --no-pq-metric
run fmnist_resnet "d=kh·kw, k=256, no refit" --no-pq-refit
run fmnist_mlp "d=4, k=256"
run fmnist_mobilenet "d=kh·kw, k=256"
