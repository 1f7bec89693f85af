#!/usr/bin/env bash
# Issue 5's evidence: round-to-nearest and GPTQ on the three reference models, 1,000 calibration
# images, all 10,000 test images; each written model is also run in ONNX Runtime 1.30.
#   tools/results_ptq.sh PATH/TO/qcp [OUT_DIR]   -> prints a markdown table
set -euo pipefail
QCP=$1
OUT=${2:-$(mktemp -d)}
mkdir -p "$OUT"
D=/usr/share/datasets/fashion-mnist
CALIB=(--calib "$D/train-images-idx3-ubyte.gz" --calib-count 1000)
echo "| model | method | top-1 (qcp) | top-1 (ORT) | ORT≠qcp | agreement with fp32 | file bytes | weight bits (quantized layers) | ratio |"
echo "|---|---|---|---|---|---|---|---|---|"
for model in fmnist_resnet fmnist_mlp fmnist_mobilenet; do
  row() {  # label path
    local ev ort
    ev=$("$QCP" eval "$2" --data "$D/t10k-images-idx3-ubyte.gz" --labels "$D/t10k-labels-idx1-ubyte.gz" --ref "models/$model.onnx" --json)
    ort=$(tools/ort_top1.sh "$QCP" "$2")
    /usr/bin/python3 - "$model" "$1" "$2" "$ev" "$ort" "${3:-}" <<'PY'
import json, os, sys
model, label, path, ev, ort, rep = sys.argv[1:7]
e = json.loads(ev); o = ort.split()
bits = ratio = "-"
if rep:
    t = json.load(open(rep))["totals"]; bits = f"{t['weight_bits_before']} → {t['weight_bits_after']}"; ratio = f"{t['compression_ratio']:.2f}x"
print(f"| {model} | {label} | {100*e['top1']:.2f}% | {100*float(o[1]):.2f}% | {o[3]} | {100*e['agreement']:.2f}% | {os.path.getsize(path)} | {bits} | {ratio} |")
PY
  }
  row fp32 "models/$model.onnx"
  for cfg in "rtn 8" "rtn 4" "rtn 3" "gptq 4" "gptq 3"; do
    set -- $cfg
    tag="${model}_$1$2"
    "$QCP" -q compress "models/$model.onnx" -o "$OUT/$tag.onnx" --force --method "$1" --bits "$2" "${CALIB[@]}" \
      --json > "$OUT/$tag.json"
    row "$1 $2-bit" "$OUT/$tag.onnx" "$OUT/$tag.json"
  done
done
