#!/usr/bin/env bash
# A CI job in miniature: compress the reference models with several methods, gate each result on
# top-1 (`qcp compress ... --max-drop P --data ... --labels ...`), print a summary, and fail the
# job when any model lost more than P points. Exit status: 0 all passed, 1 a gate failed,
# 2 a command could not run (bad input, missing file).
#   tools/ci_example.sh [PATH/TO/qcp] [OUT_DIR]
#   MAX_DROP=2 (points)  COUNT=1000 (test images used by each gate)
set -uo pipefail
QCP=$(realpath -m "${1:-build/qcp}")
[[ -x $QCP ]] || { echo "ci_example: no qcp executable at $QCP (build it first, see README)" >&2; exit 2; }
OUT=$(realpath -m "${2:-build/ci_example}")
MAX_DROP=${MAX_DROP:-2}
COUNT=${COUNT:-1000}
D=/usr/share/datasets/fashion-mnist
CALIB=(--calib "$D/train-images-idx3-ubyte.gz" --calib-count 256)
cd "$(dirname "$0")/.."
mkdir -p "$OUT"

# model | job name | compress flags
JOBS=(
  "fmnist_resnet|admm-cp-b4-r3|--method admm-cp --bits 4 --rank-ratio 3 ${CALIB[*]}"
  "fmnist_resnet|rtn-b4|--method rtn --bits 4"
  "fmnist_mlp|admm-cp-b8-r3|--method admm-cp --bits 8 --rank-ratio 3"
  "fmnist_mlp|gptq-b4|--method gptq --bits 4 ${CALIB[*]}"
  "fmnist_mobilenet|rtn-b8|--method rtn --bits 8"
  "fmnist_mobilenet|gptq-b4|--method gptq --bits 4 ${CALIB[*]}"
)

rows=()
worst=0
for job in "${JOBS[@]}"; do
  IFS='|' read -r model name flags <<<"$job"
  out="$OUT/$model-$name.onnx"
  # shellcheck disable=SC2086
  table=$("$QCP" -q compress "models/$model.onnx" -o "$out" --force $flags \
            --max-drop "$MAX_DROP" --data "$D/t10k-images-idx3-ubyte.gz" --labels "$D/t10k-labels-idx1-ubyte.gz" \
            --count "$COUNT" --report "$OUT/$model-$name.json")
  rc=$?
  # "gate on N samples: top-1 93.48% -> 93.10% (drop 0.38 points, --max-drop 1.50): passed"
  gate=$(grep '^gate on' <<<"$table" || true)
  before=$(sed -n 's/.*top-1 \([0-9.]*%\) -> .*/\1/p' <<<"$gate")
  after=$(sed -n 's/.* -> \([0-9.]*%\) .*/\1/p' <<<"$gate")
  drop=$(sed -n 's/.*(drop \([-0-9.]*\) points.*/\1/p' <<<"$gate")
  size=$(sed -n 's/^file: \(.*\) (\([0-9.]*x\)) written.*/\2/p' <<<"$table")
  case $rc in
    0) verdict=pass ;;
    1) verdict=REGRESSION ;;
    *) verdict="ERROR (exit $rc)" ;;
  esac
  (( rc > worst )) && worst=$rc
  rows+=("$(printf '%-17s %-14s %8s %8s %7s %8s  %s' "$model" "$name" "${before:--}" "${after:--}" "${drop:--}" "${size:--}" "$verdict")")
done

echo
printf '%-17s %-14s %8s %8s %7s %8s  %s\n' model method before after drop smaller result
printf '%s\n' "${rows[@]}"
echo
case $worst in
  0) echo "all ${#JOBS[@]} compressed models within $MAX_DROP points of fp32 top-1 on $COUNT test images" ;;
  1) echo "FAILED: top-1 fell by more than $MAX_DROP points (the compressed models are kept in $OUT)" ;;
  *) echo "ERROR: some jobs could not run (see the messages above)" ;;
esac
exit $(( worst > 1 ? 2 : worst ))
