#!/bin/sh
# isa_baseline_check.sh QCP_BINARY: fails if a function of the portable qcp binary uses AVX
# registers (ymm/zmm) outside the code meant to: the per-ISA solver copies (symbols renamed
# qcp_isa_v3.* / qcp_isa_v4.* and their entry points qcp::<module>::isa_v3|isa_v4::*, see
# cmake/QcpIsa.cmake) and the engine's run-time-dispatched kernels (target("avx2,fma") /
# target("avx512f") functions in src/engine/kernels/gemm.cpp and conv.cpp). Anything else
# would run on every CPU and raise SIGILL on one without AVX.
set -eu
bin=${1:?usage: isa_baseline_check.sh QCP_BINARY}
allowed='^(qcp_isa_v[34]\.|_ZN3qcp[0-9]+[a-z_]+6isa_v[34]|.*(kernel_avx2|kernel_avx512|window_avx512|gather_avx512|padded_row_avx512|depthwise_plane_avx512))'
out=$(mktemp)
trap 'rm -f "$out"' EXIT
objdump -d --no-show-raw-insn "$bin" | awk '
  /^[0-9a-f]+ <.*>:$/ { fn = substr($2, 2, length($2) - 3); next }
  /%[yz]mm[0-9]/ { n[fn]++ }
  END { for (f in n) print n[f], f }' | sort -k2 > "$out"
copies=$(awk '$2 ~ /^qcp_isa_v[34]\./' "$out" | wc -l)
bad=$(awk '{print $2}' "$out" | grep -Ev "$allowed" || true)
echo "isa_baseline_check: $(wc -l < "$out") functions use ymm/zmm, $copies of them in the ISA copies"
if [ "$copies" -eq 0 ]; then
  echo "isa_baseline_check: no ISA copy found in $bin (not a portable build?)" >&2
  exit 1
fi
if [ -n "$bad" ]; then
  echo "isa_baseline_check: AVX registers outside the ISA copies and dispatched kernels:" >&2
  echo "$bad" | c++filt | head -50 >&2
  exit 1
fi
