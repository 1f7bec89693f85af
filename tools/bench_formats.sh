#!/usr/bin/env bash
# Weight formats in ONNX Runtime (a benchmark, run on demand; needs tools/install_deps.sh --ort):
# compresses MODEL with rtn 8-bit, gptq 4-bit, pq (256 codewords) and admm-cp (rank ratio 2, 4 bits),
# each written packed and qdq, and times the input and all eight outputs in one node process
# (tools/ort/latency.js: 1 thread, default options, interleaved rounds, median) at batch 1
# and 64 on the 64 fixture images. Prints one line per model and batch (the input first and
# again last, as a control), then the file sizes.
#   tools/bench_formats.sh PATH/TO/qcp [MODEL] [WORKDIR]
set -euo pipefail
QCP=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=${2:-$ROOT/models/fmnist_resnet.onnx}
WORK=${3:-$(mktemp -d)}
mkdir -p "$WORK"
CALIB=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
INPUT="$ROOT/tests/engine/model_fixtures/input_64.npy"
models=("$MODEL")
while read -r name args; do
  for format in packed qdq; do
    # shellcheck disable=SC2086
    "$QCP" -q compress "$MODEL" -o "$WORK/$name.$format.onnx" --force --format "$format" --calib "$CALIB" --calib-count 256 $args >/dev/null
    models+=("$WORK/$name.$format.onnx")
  done
done <<'CASES'
rtn8   --method rtn --bits 8
gptq4  --method gptq --bits 4
pq256  --method pq --centroids 256
admm4  --method admm-cp --rank-ratio 2 --bits 4
CASES
models+=("$MODEL")  # the input again, last: the spread between its two rows is the noise
for spec in "1 100" "64 5"; do
  read -r batch runs <<<"$spec"
  node "$ROOT/tools/ort/latency.js" --input "$INPUT" --batch "$batch" --runs "$runs" --reps 10 "${models[@]}" |
    /usr/bin/python3 -c 'import json, sys
r = json.load(sys.stdin)
for m in r["models"]:
    print("batch %3d  %9.3f ms  ratio %5.2f  load %6.1f ms  %s" % (r["batch"], m["median_ms"], m["ratio"], m["load_ms"], m["path"]))'
done
for m in "${models[@]:0:${#models[@]}-1}"; do echo "$(stat -c %s "$m") $m"; done
