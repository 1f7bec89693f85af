#!/usr/bin/env bash
# tools/fuzz.sh [MINUTES] — builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/
# and runs fuzz_onnx (ONNX loader, IR build, shape inference) and fuzz_data (IDX/.npy/image/label
# readers) side by side for MINUTES each (default 1). Needs `tools/install_deps.sh --fuzz`.
#
# Seeds: the reference models, the engine's ONNX fixtures, the bad-input corpus, the data test
# fixtures and every saved regression. The growing corpus stays in build-fuzz/corpus/<target>
# between runs. A crash, sanitizer report, timeout or out-of-memory is written to
# build-fuzz/artifacts/<target>/ and fails the script; copy it into tests/fuzz/regressions/<onnx|data>/
# (named after what it found), fix the code, and test_fuzz_regressions replays it in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:-1}"
BUILD=build-fuzz
RSS_LIMIT_MB=2560       # above qcp's 1 GiB budget in the fuzz targets: qcp's guard must fire first
TIMEOUT_S=20            # one input taking longer is a hang
MAX_LEN=65536           # longer inputs are cut: keeps executions fast; big seeds still seed structure

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found; run tools/install_deps.sh --fuzz" >&2; exit 2; }
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DQCP_FUZZ=ON \
      -DQCP_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target fuzz_onnx fuzz_data >/dev/null

seed() {  # seed <target> <file>...: copies seeds into the target's corpus under content names
  local dir="$BUILD/corpus/$1"; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp "$f" "$dir/seed-$(sha1sum "$f" | cut -c1-16)"; done
}
seed onnx models/*.onnx $(find tests/engine/fixtures tests/bad_inputs tests/fuzz/regressions/onnx -type f -name '*.onnx')
seed onnx $(find tests/fuzz/regressions/onnx -type f ! -name README.md)
seed data $(find tests/bad_inputs tests/data/fixtures tests/fuzz/regressions/data -type f \
                 ! -name '*.onnx' ! -name '*.tsv' ! -name '*.md')

pids=()
for target in onnx data; do
  mkdir -p "$BUILD/artifacts/$target"
  "$BUILD/fuzz_$target" "$BUILD/corpus/$target" -max_total_time=$((MINUTES * 60)) -rss_limit_mb=$RSS_LIMIT_MB \
      -timeout=$TIMEOUT_S -max_len=$MAX_LEN -print_final_stats=1 \
      -artifact_prefix="$BUILD/artifacts/$target/" >"$BUILD/fuzz_$target.log" 2>&1 &
  pids+=($!)
done
status=0
for i in 0 1; do wait "${pids[$i]}" || status=1; done
for target in onnx data; do
  echo "== fuzz_$target: $(grep -E '^stat::number_of_executed_units' "$BUILD/fuzz_$target.log" | awk '{print $2}') executions," \
       "corpus $(ls "$BUILD/corpus/$target" | wc -l) inputs, $(grep -cE '^#[0-9]+.*NEW' "$BUILD/fuzz_$target.log" || true) new"
  tail -n 3 "$BUILD/fuzz_$target.log" | sed 's/^/   /'
done
artifacts=$(find "$BUILD/artifacts" -type f)
if [ -n "$artifacts" ] || [ "$status" -ne 0 ]; then
  echo "fuzz.sh: findings (see $BUILD/fuzz_*.log):" >&2
  echo "$artifacts" >&2
  exit 1
fi
echo "fuzz.sh: no findings in ${MINUTES} min per target"
