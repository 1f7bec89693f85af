#!/usr/bin/env bash
# Top-1 of a model on all 10,000 Fashion-MNIST test images as ONNX Runtime 1.30 computes it, and
# how many of its predictions differ from qcp's engine on the same model.
#   tools/ort_top1.sh PATH/TO/qcp MODEL.onnx  -> "ort_top1 0.9348 disagreements 0"
# Needs tools/install_deps.sh --ort and Debian's python3-numpy.
set -euo pipefail
QCP=$1
MODEL=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=/usr/share/datasets/fashion-mnist
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
/usr/bin/python3 - "$D/t10k-images-idx3-ubyte.gz" "$TMP/images.npy" <<'PY'
import gzip, sys, numpy as np
raw = gzip.open(sys.argv[1]).read()
np.save(sys.argv[2], np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255)
PY
node "$ROOT/tools/ort/ort_run.js" "$MODEL" "$TMP" --argmax "$TMP/images.npy" >/dev/null
"$QCP" eval "$MODEL" --data "$TMP/images.npy" --dump-outputs "$TMP/qcp.npy" >/dev/null
/usr/bin/python3 - "$TMP/argmax.npy" "$TMP/qcp.npy" "$D/t10k-labels-idx1-ubyte.gz" <<'PY'
import gzip, sys, numpy as np
ort = np.load(sys.argv[1]); qcp = np.load(sys.argv[2]).argmax(1)
labels = np.frombuffer(gzip.open(sys.argv[3]).read(), np.uint8, offset=8).astype(np.int64)
print(f"ort_top1 {np.mean(ort == labels):.4f} disagreements {int(np.sum(ort != qcp))}")
PY
