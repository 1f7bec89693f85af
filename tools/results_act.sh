#!/usr/bin/env bash
# Issue 13's accuracy evidence: --activations 8 (uint8 activations, ORT's int8 kernels) on
# fmnist_resnet and fmnist_mobilenet, 1,000 calibration images, all 10,000 test images, every
# --act-calib; each row beside its weight-only twin. Top-1 is ONNX Runtime 1.30's (the runtime the
# int8 kernels are for); "ORT≠qcp" counts test images where qcp's engine predicts otherwise.
#   tools/results_act.sh PATH/TO/qcp [OUT_DIR]   -> prints a markdown table
# Needs tools/install_deps.sh --ort and Debian's python3-numpy.
set -euo pipefail
QCP=$1
OUT=${2:-$(mktemp -d)}
mkdir -p "$OUT"
D=/usr/share/datasets/fashion-mnist
CALIB=(--calib "$D/train-images-idx3-ubyte.gz" --calib-count 1000)
CALIBRATORS=${CALIBRATORS:-"percentile minmax mse entropy"}
echo "| model | weights | activations | top-1 (ORT) | drop (pt) | ORT≠qcp | int8 kernels (ORT, predicted) |"
echo "|---|---|---|---|---|---|---|"
for model in fmnist_resnet fmnist_mobilenet; do
  base=$(tools/ort_top1.sh "$QCP" "models/$model.onnx" | awk '{print $2}')
  row() {  # weights activations model.onnx [report.json]
    local ort
    ort=$(tools/ort_top1.sh "$QCP" "$3")
    /usr/bin/python3 - "$model" "$1" "$2" "$base" "$ort" "${4:-}" <<'PY'
import json, sys
model, weights, acts, base, ort, rep = sys.argv[1:7]
o = ort.split(); top1 = float(o[1])
kernels = "-"
if rep:
    a = json.load(open(rep)).get("activations")
    if a: kernels = ", ".join(f"{n} {k}" for k, n in a["fusions"].items())
print(f"| {model} | {weights} | {acts} | {100*top1:.2f}% | {100*(float(base)-top1):.2f} | {o[3]} | {kernels} |")
PY
  }
  row fp32 fp32 "models/$model.onnx"
  for cfg in "rtn:8:--method rtn --bits 8" "gptq:4:--method gptq --bits 4" "admm-cp r2:4:--method admm-cp --rank-ratio 2 --bits 4"; do
    IFS=: read -r name bits args <<< "$cfg"
    tag="${model}_${name// /_}$bits"
    # shellcheck disable=SC2086
    "$QCP" -q compress "models/$model.onnx" -o "$OUT/$tag.onnx" --force $args "${CALIB[@]}" --json > "$OUT/$tag.json"
    row "$name $bits-bit" fp32 "$OUT/$tag.onnx"
    for calib in $CALIBRATORS; do
      # shellcheck disable=SC2086
      "$QCP" -q compress "models/$model.onnx" -o "$OUT/${tag}_a8_$calib.onnx" --force $args "${CALIB[@]}" \
        --activations 8 --act-calib "$calib" --json > "$OUT/${tag}_a8_$calib.json"
      row "$name $bits-bit" "uint8 $calib" "$OUT/${tag}_a8_$calib.onnx" "$OUT/${tag}_a8_$calib.json"
    done
  done
done
