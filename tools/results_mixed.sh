#!/usr/bin/env bash
# The mixed-method budget against uniform single-method settings of about the same size, on a
# Fashion-MNIST reference model: top-1 on the test set (qcp eval), agreement with fp32.
#   tools/results_mixed.sh PATH/TO/qcp MODEL [OUT_DIR] [CALIB_COUNT]   -> markdown rows
set -euo pipefail
QCP=$1
MODEL=$2
OUT=${3:-$(mktemp -d)}
N=${4:-512}
mkdir -p "$OUT"
D=/usr/share/datasets/fashion-mnist
CALIB=(--calib "$D/train-images-idx3-ubyte.gz" --calib-count "$N")
row() {  # label path [report]
  local ev
  ev=$("$QCP" -q eval "$2" --data "$D/t10k-images-idx3-ubyte.gz" --labels "$D/t10k-labels-idx1-ubyte.gz" --ref "models/$MODEL.onnx" --json)
  /usr/bin/python3 - "$MODEL" "$1" "$ev" "${3:-}" <<'PY'
import json, sys
model, label, ev, rep = sys.argv[1:5]
e = json.loads(ev)
ratio = methods = "-"
if rep:
    j = json.load(open(rep)); ratio = f"{j['totals']['compression_ratio']:.2f}x"
    from collections import Counter
    c = Counter(l['method'] for l in j['layers'])
    methods = ", ".join(f"{m} {n}" for m, n in sorted(c.items()))
agr = "-" if e['agreement'] is None else f"{100*e['agreement']:.2f}%"
print(f"| {model} | {label} | {ratio} | {100*e['top1']:.2f}% | {agr} | {methods} |", flush=True)
PY
}
row fp32 "models/$MODEL.onnx"
run() {  # tag label args...
  local tag=$1 label=$2; shift 2
  "$QCP" -q compress "models/$MODEL.onnx" -o "$OUT/${MODEL}_$tag.onnx" --force "${CALIB[@]}" --json "$@" > "$OUT/${MODEL}_$tag.json"
  row "$label" "$OUT/${MODEL}_$tag.onnx" "$OUT/${MODEL}_$tag.json"
}
for R in 8 16; do
  run "mixed$R" "mixed --target-ratio $R" --method mixed --target-ratio "$R"
  run "mixednosens$R" "mixed --target-ratio $R --no-sensitivity" --method mixed --target-ratio "$R" --no-sensitivity
  run "cp$R" "admm-cp --target-ratio $R" --method admm-cp --target-ratio "$R"
done
for B in 4 2; do
  run "rtn$B" "rtn $B-bit" --method rtn --bits "$B"
  run "gptq$B" "gptq $B-bit" --method gptq --bits "$B"
done
run pq256 "pq k256" --method pq --centroids 256
run pq16 "pq k16" --method pq --centroids 16
