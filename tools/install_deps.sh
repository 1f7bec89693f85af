#!/usr/bin/env bash
# Installs what qcp needs on Debian 12: the build's -dev packages and the Fashion-MNIST data.
# With --ort it also installs ONNX Runtime for Node (tools/ort), used to cross-check outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PACKAGES=(build-essential cmake libeigen3-dev libcli11-dev libprotobuf-dev protobuf-compiler libonnx-dev
          libspdlog-dev libgtest-dev nlohmann-json3-dev zlib1g-dev libstb-dev dataset-fashion-mnist)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "${1:-}" = "--ort" ]; then
  command -v npm >/dev/null || { $SUDO apt-get install -y -qq nodejs npm >/dev/null; }
  (cd tools/ort && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
