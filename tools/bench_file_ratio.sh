#!/usr/bin/env bash
# File size of the packed format against the bits it stores (a benchmark, run on demand; needs
# tools/install_deps.sh --ort and Debian's python3-numpy): rtn 4-bit, admm-cp (rank ratio 2,
# 4 bits) and pq (256 and 64 codewords) on the reference models and, when OCR_DIR holds them,
# PP-OCRv4 rec (opset 9), det (opset 11) and cls (opset 9). With OPSETS="9 11 21" the same runs
# also go over each model converted to those opsets (Fashion-MNIST: tools/opset_variants.py;
# PP-OCRv4: `qcp convert`, to the opsets above its own). Every output is also written as float32 and checked
# in ONNX Runtime by tools/ort/check_packed.js (bit-identical to the float file, within 1e-4
# relative (+1e-6 absolute: PP-OCRv4 det compressed without calibration can output ~0) of qcp's
# engine, decoder folded at load). Prints one line per model and method:
#   bits ratio  = weight_bits_before / weight_bits_after of the compressed layers (the report's
#                 compression_ratio: codes at b bits, scales, codebooks, biases)
#   ideal ratio = input bytes / (input bytes − the compressed layers' bytes + their bits / 8),
#                 the file ratio a format with no overhead would reach (layers left alone count)
#   file ratio  = input bytes / output bytes, and its shortfall against the ideal one
#   tools/bench_file_ratio.sh PATH/TO/qcp [WORKDIR] [OCR_DIR]      (ONLY_OCR=1: the PP-OCRv4 models only;
#   METHODS="rtn4 pq256": those cases only; ONLY_CONVERTED=1 with OPSETS: the converted models only)
set -euo pipefail
QCP=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${2:-$(mktemp -d)}
OCR=${3:-/work/ocr/package/assets}
mkdir -p "$WORK"
CALIB=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
# rec: noise in the model's [-1, 1] input range; det: a white page with lines of dark "words",
# normalized as PP-OCR does (on noise det's output is ~1e-8 everywhere and relative errors say nothing)
/usr/bin/python3 - "$WORK" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(0)
np.save(sys.argv[1] + "/rec_input.npy", rng.random((2, 3, 48, 320), dtype=np.float32) * 2 - 1)
np.save(sys.argv[1] + "/cls_input.npy", rng.random((2, 3, 48, 192), dtype=np.float32) * 2 - 1)
img = np.ones((320, 320, 3), np.float32)
for row in range(30, 300, 40):
    x = 20
    while x < 290:
        w = int(rng.integers(15, 50))
        for c in range(x, min(x + w, 300), 6):
            img[row:row + 18, c:c + 4] = 0.1
        x += w + int(rng.integers(8, 20))
mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
np.save(sys.argv[1] + "/det_input.npy", ((img - mean) / std).transpose(2, 0, 1)[None].astype(np.float32))
PY
models=()
[ -n "${ONLY_OCR:-}" ] || for m in fmnist_resnet fmnist_mlp fmnist_mobilenet; do models+=("$m:$ROOT/models/$m.onnx:$ROOT/tests/engine/model_fixtures/input_64.npy:--calib $CALIB --calib-count 256"); done
[ -f "$OCR/ch_PP-OCRv4_rec_infer.onnx" ] && models+=("ocr_rec:$OCR/ch_PP-OCRv4_rec_infer.onnx:$WORK/rec_input.npy:")
[ -f "$OCR/ch_PP-OCRv4_det_infer.onnx" ] && models+=("ocr_det:$OCR/ch_PP-OCRv4_det_infer.onnx:$WORK/det_input.npy:")
[ -f "$OCR/ch_ppocr_mobile_v2.0_cls_infer.onnx" ] && models+=("ocr_cls:$OCR/ch_ppocr_mobile_v2.0_cls_infer.onnx:$WORK/cls_input.npy:")
if [ -n "${OPSETS:-}" ]; then
  [ -n "${ONLY_OCR:-}" ] || /usr/bin/python3 "$ROOT/tools/opset_variants.py" "$WORK/op" >/dev/null
  base=("${models[@]}")
  [ -z "${ONLY_CONVERTED:-}" ] || models=()
  for entry in "${base[@]}"; do
    IFS=: read -r name model input calib <<<"$entry"
    own=$("$QCP" -q compress "$model" --dry-run --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["input"]["opset"])')
    for op in $OPSETS; do
      if [ "${name#fmnist}" != "$name" ]; then
        models+=("${name}_op$op:$WORK/op/${name}_op$op.onnx:$input:$calib")
      elif [ "$op" -gt "$own" ]; then
        "$QCP" -q convert "$model" -o "$WORK/${name}_op$op.onnx" --opset "$op" --force
        models+=("${name}_op$op:$WORK/${name}_op$op.onnx:$input:$calib")
      fi
    done
  done
fi
fail=0
for entry in "${models[@]}"; do
  IFS=: read -r name model input calib <<<"$entry"
  while read -r method args; do
    if [ -n "${METHODS:-}" ] && [[ " $METHODS " != *" $method "* ]]; then continue; fi
    case_name="${name}_$method"
    for format in packed float; do
      # shellcheck disable=SC2086
      "$QCP" -q compress "$model" -o "$WORK/$case_name.$format.onnx" --force --format "$format" --json $calib $args \
        > "$WORK/$case_name.$format.json"
    done
    "$QCP" -q eval "$WORK/$case_name.packed.onnx" --data "$input" --dump-outputs "$WORK/$case_name.qcp.npy" --force >/dev/null
    check=$(node "$ROOT/tools/ort/check_packed.js" "$input" "$WORK" --rtol 1e-4 --atol 1e-6 "$case_name" | head -n 1) || fail=1
    /usr/bin/python3 - "$WORK/$case_name.packed.json" "$case_name" "$check" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); t = r["totals"]
inp, out = r["input"]["bytes"], r["output"]["bytes"]
ideal = inp / (inp - t["weight_bits_before"] / 8 + t["weight_bits_after"] / 8)
print(f"{sys.argv[2]:24s} bits ratio {t['compression_ratio']:6.2f}  ideal ratio {ideal:6.2f}  file ratio {t['file_ratio']:6.2f}"
      f" ({100 * (1 - t['file_ratio'] / ideal):4.1f}% short)  {inp} -> {out} bytes,"
      f" runtime {r['input']['runtime_weight_bytes']} -> {r['output']['runtime_weight_bytes']}  ORT: {sys.argv[3][:4].strip()}")
PY
  done <<'CASES'
rtn4   --method rtn --bits 4
admm4  --method admm-cp --rank-ratio 2 --bits 4
pq256  --method pq --centroids 256
pq64   --method pq --centroids 64
CASES
done
exit $fail
