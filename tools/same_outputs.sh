#!/usr/bin/env bash
# Refactoring check: runs one fixed set of `qcp compress` jobs (the main job, every
# tools/results_cp.sh combination, rtn/gptq/pq, budgets, the output objective, --layer rules,
# --dry-run) with two qcp binaries and says whether every written model and every JSON report
# (less its "seconds" and "path" fields) is byte-identical. Exit 0 when all are, 1 otherwise.
#   tools/same_outputs.sh OLD_QCP NEW_QCP [WORK_DIR]      (about 20 min per binary on 2 cores)
# QUICK=1 leaves out the 14 results_cp.sh combinations (about 6 min per binary).
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_QCP NEW_QCP [WORK_DIR]" >&2; exit 2; }
cd "$(dirname "$0")/.."
WORK=${3:-$(mktemp -d)}
D=/usr/share/datasets/fashion-mnist
C="$D/train-images-idx3-ubyte.gz"
jobs() {  # the job list: TAG ARGS...
  echo "main models/fmnist_resnet.onnx --method admm-cp --rank-ratio 2 --bits 4 --calib $C --calib-count 1000"
  [ "${QUICK:-0}" = 1 ] || for r in 1.5 2 3; do for m in admm-cp cp-als; do for k in --correct --no-correct; do
    echo "cp_r${r}_${m}${k} models/fmnist_resnet.onnx --rank-ratio $r --method $m --granularity tensor $k --calib $C --calib-count 1000 --bits 4 --exclude down"
  done; done; done
  [ "${QUICK:-0}" = 1 ] || echo "cp_channel_admm models/fmnist_resnet.onnx --rank-ratio 2 --method admm-cp --granularity channel --calib $C --calib-count 1000 --bits 4 --exclude down"
  [ "${QUICK:-0}" = 1 ] || echo "cp_channel_als models/fmnist_resnet.onnx --rank-ratio 2 --method cp-als --granularity channel --calib $C --calib-count 1000 --bits 4 --exclude down"
  echo "rtn8 models/fmnist_mobilenet.onnx --method rtn --bits 8"
  echo "rtn4_asym_float models/fmnist_mlp.onnx --method rtn --bits 4 --asymmetric --format float"
  echo "gptq4 models/fmnist_mobilenet.onnx --method gptq --bits 4 --calib $C --calib-count 200"
  echo "gptq3_tensor models/fmnist_resnet.onnx --method gptq --bits 3 --granularity tensor --calib $C --calib-count 200"
  echo "pq models/fmnist_resnet.onnx --method pq --calib $C --calib-count 200 --pq-iters 10"
  echo "pq_nocalib models/fmnist_mlp.onnx --method pq --centroids 64"
  echo "budget_ratio models/fmnist_resnet.onnx --target-ratio 8 --calib $C --calib-count 200"
  echo "budget_size_auto models/fmnist_mobilenet.onnx --target-size 60000 --bits auto --calib $C --calib-count 200"
  echo "budget_rtn models/fmnist_mlp.onnx --method rtn --target-ratio 6 --calib $C --calib-count 200"
  echo "budget_macs models/fmnist_resnet.onnx --target-macs 0.6"
  echo "objective_output models/fmnist_resnet.onnx --objective output --calib $C --calib-count 200 --rank-ratio 3"
  echo "rules models/fmnist_resnet.onnx --layer layer1=method=rtn,bits=6 --layer layer2=method=pq,centroids=128 --layer fc=rank=4 --calib $C --calib-count 200"
  echo "dry_run models/fmnist_resnet.onnx --dry-run --target-ratio 5"
}
normalise() {  # JSON report without timings and paths
  /usr/bin/python3 -c '
import json, sys
def strip(x):
    if isinstance(x, dict): return {k: strip(v) for k, v in x.items() if k not in ("seconds", "path")}
    if isinstance(x, list): return [strip(v) for v in x]
    return x
print(json.dumps(strip(json.load(open(sys.argv[1]))), indent=1))' "$1"
}
for side in old new; do
  qcp=$1; [ $side = new ] && qcp=$2
  mkdir -p "$WORK/$side"
  jobs | while read -r tag args; do
    out=(-o "$WORK/$side/$tag.onnx" --force); [ "$tag" = dry_run ] && out=()
    # shellcheck disable=SC2086
    "$qcp" -q compress $args "${out[@]}" --json > "$WORK/$side/$tag.json" 2> "$WORK/$side/$tag.err" || echo "$side $tag: exit $?"
    normalise "$WORK/$side/$tag.json" > "$WORK/$side/$tag.norm"
  done
done
status=0
for f in "$WORK"/old/*.onnx "$WORK"/old/*.norm; do
  g="$WORK/new/$(basename "$f")"
  if cmp -s "$f" "$g"; then echo "same  $(sha256sum < "$f" | cut -c1-16)  $(basename "$f")"; else echo "DIFFERENT  $(basename "$f")"; status=1; fi
done
exit $status
