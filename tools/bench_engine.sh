#!/usr/bin/env bash
# qcp's engine against ONNX Runtime 1.30 on the same model, data and thread count (a benchmark,
# run on demand; needs tools/install_deps.sh --ort, Debian's python3-numpy and /usr/bin/time).
#   tools/bench_engine.sh PATH/TO/qcp [MODEL] [COUNT] [BATCH]
# Prints samples/s of both and their ratio at 1 and 2 threads (median of 3 runs each), and
# qcp's peak RSS when evaluating 1,000 and 10,000 samples.
set -euo pipefail
QCP=$1
MODEL=${2:-models/fmnist_resnet.onnx}
COUNT=${3:-10000}
BATCH=${4:-256}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=/usr/share/datasets/fashion-mnist
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
/usr/bin/python3 - "$D/t10k-images-idx3-ubyte.gz" "$TMP/images.npy" <<'PY'
import gzip, sys, numpy as np
raw = gzip.open(sys.argv[1]).read()
x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
np.save(sys.argv[2], x)
PY
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "model $MODEL, $COUNT samples, batch $BATCH"
for threads in 1 2; do
  q=$(for i in 1 2 3; do "$QCP" eval "$MODEL" --data "$TMP/images.npy" --count "$COUNT" --batch "$BATCH" \
        --threads "$threads" --json | sed -n 's/.*"samples_per_second": \([0-9.e+]*\).*/\1/p'; done | median)
  o=$(for i in 1 2 3; do node "$ROOT/tools/ort/ort_run.js" "$MODEL" --bench "$COUNT" --batch "$BATCH" \
        --threads "$threads" --input "$TMP/images.npy" | sed -n 's/.*"samples_per_second": *\([0-9.e+]*\).*/\1/p'; done | median)
  awk -v t="$threads" -v q="$q" -v o="$o" 'BEGIN { printf "threads %d: qcp %.0f samples/s, ORT %.0f samples/s, qcp/ORT %.2f\n", t, q, o, q / o }'
done
for n in 1000 10000; do
  /usr/bin/time -v "$QCP" eval "$MODEL" --data "$D/t10k-images-idx3-ubyte.gz" --count "$n" --batch "$BATCH" \
    >/dev/null 2>"$TMP/time.txt"
  echo "peak RSS, $n samples: $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time.txt") KiB"
done
