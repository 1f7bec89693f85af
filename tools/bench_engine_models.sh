#!/usr/bin/env bash
# qcp's engine against ONNX Runtime 1.30 on any model with one float32 input (a benchmark, run on
# demand; needs tools/install_deps.sh --ort). The box may be shared, so every repetition runs each qcp
# and ORT back to back (interleaved) and the ratios are what to quote.
#   tools/bench_engine_models.sh QCP[,QCP2...] MODEL INPUT.npy [COUNT] [BATCH] [REPS] [THREADS...]
# INPUT.npy is float32 (N, ...) as the model takes it (COUNT samples wrap around it). Prints, per thread
# count (default 1 and 2) and qcp binary (several, comma-separated, to compare builds), the median
# samples/s of REPS runs (default 3) of `qcp eval --json` and of `node tools/ort/ort_run.js --bench`,
# and the median of the per-repetition ratios qcp / ORT.
set -euo pipefail
IFS=, read -r -a QCPS <<<"$1"
MODEL=$2
INPUT=$3
COUNT=${4:-64}
BATCH=${5:-16}
REPS=${6:-3}
shift $(($# < 6 ? $# : 6))
THREADS=("$@")
[ ${#THREADS[@]} -gt 0 ] || THREADS=(1 2)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rate() { sed -n 's/.*"samples_per_second": *\([0-9.e+-]*\).*/\1/p'; }
echo "model $(basename "$MODEL"), input $(basename "$INPUT"), $COUNT samples, batch $BATCH, median of $REPS"
for threads in "${THREADS[@]}"; do
  declare -A qs=() rs=()
  os=()
  for ((i = 0; i < REPS; i++)); do
    o=$(node "$ROOT/tools/ort/ort_run.js" "$MODEL" --bench "$COUNT" --batch "$BATCH" --threads "$threads" \
          --input "$INPUT" | rate)
    os+=("$o")
    for ((b = 0; b < ${#QCPS[@]}; b++)); do
      q=$("${QCPS[b]}" -q eval "$MODEL" --data "$INPUT" --count "$COUNT" --batch "$BATCH" --threads "$threads" \
            --json | rate)
      qs[$b]+="$q " rs[$b]+="$(awk -v q="$q" -v o="$o" 'BEGIN { printf "%.3f", q / o }') "
    done
  done
  o=$(printf '%s\n' "${os[@]}" | median)
  for ((b = 0; b < ${#QCPS[@]}; b++)); do
    q=$(printf '%s\n' ${qs[$b]} | median) r=$(printf '%s\n' ${rs[$b]} | median)
    awk -v t="$threads" -v bin="${QCPS[b]}" -v q="$q" -v o="$o" -v r="$r" -v all="${rs[$b]% }" \
      'BEGIN { printf "threads %d, %s: qcp %.2f samples/s, ORT %.2f samples/s, qcp/ORT %.2f (runs: %s)\n", t, bin, q, o, r, all }'
  done
  unset qs rs
done
