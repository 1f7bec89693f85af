#!/usr/bin/env bash
# Issue 13's speed evidence: ONNX Runtime 1.30 (CPU, default session options) on fp32 and
# --activations 8 models, 1 and 2 threads, batch 1 and 64. Every (model, threads, batch) runs once
# per round, rounds interleaved so drifting load hits every model alike; the median over rounds
# is printed as a markdown table with the speed-up over the first model (fp32).
#   tools/bench_act.sh PATH/TO/qcp [OUT_DIR]   (ROUNDS=7 by default)
# Needs tools/install_deps.sh --ort and Debian's python3-numpy.
set -euo pipefail
QCP=$1
OUT=${2:-$(mktemp -d)}
ROUNDS=${ROUNDS:-7}
mkdir -p "$OUT"
D=/usr/share/datasets/fashion-mnist
CALIB=(--calib "$D/train-images-idx3-ubyte.gz" --calib-count 1000)
/usr/bin/python3 - "$D/t10k-images-idx3-ubyte.gz" "$OUT/images.npy" <<'PY'
import gzip, sys, numpy as np
raw = gzip.open(sys.argv[1]).read()
np.save(sys.argv[2], np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28)[:2048].astype(np.float32) / 255)
PY
declare -A MODELS=([fp32]=models/fmnist_resnet.onnx)
NAMES=(fp32)
add() {  # name qcp-compress-args...
  local name=$1
  shift
  "$QCP" -q compress models/fmnist_resnet.onnx -o "$OUT/$name.onnx" --force "$@" "${CALIB[@]}" > /dev/null
  MODELS[$name]=$OUT/$name.onnx
  NAMES+=("$name")
}
add w8a8_rtn --method rtn --bits 8 --activations 8
add w4a8_admm_r2 --method admm-cp --rank-ratio 2 --bits 4 --activations 8
add w8_rtn --method rtn --bits 8
add w4_admm_r2 --method admm-cp --rank-ratio 2 --bits 4
: > "$OUT/runs.tsv"
for round in $(seq "$ROUNDS"); do
  for threads in 1 2; do
    for batch in 1 64; do
      count=$([ "$batch" = 1 ] && echo 1000 || echo 2048)
      for name in "${NAMES[@]}"; do
        sps=$(node tools/ort/ort_run.js "${MODELS[$name]}" --bench "$count" --batch "$batch" --input "$OUT/images.npy" \
              --threads "$threads" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_second"])')
        printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$threads" "$batch" "$sps" >> "$OUT/runs.tsv"
      done
    done
  done
done
/usr/bin/python3 - "$OUT/runs.tsv" "${NAMES[@]}" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    _, name, threads, batch, sps = line.split()
    runs[(name, int(threads), int(batch))].append(float(sps))
names = sys.argv[2:]
print("| model | threads | batch | samples/s (median) | vs fp32 | runs |")
print("|---|---|---|---|---|---|")
for threads in (1, 2):
    for batch in (1, 64):
        base = statistics.median(runs[(names[0], threads, batch)])
        for n in names:
            m = statistics.median(runs[(n, threads, batch)])
            print(f"| {n} | {threads} | {batch} | {m:.0f} | {m / base:.2f}x | {len(runs[(n, threads, batch)])} |")
PY
