#!/usr/bin/env bash
# `cmake --install` into a stage folder, then a project outside the tree that uses it:
#   tests/install/install_test.sh BUILD_DIR SOURCE_DIR WORK_DIR CXX_COMPILER
# Checks the installed files, that the exported CMake targets name no build/source paths and none
# of the build-only targets, builds tests/install/consumer against the stage with
# find_package(qcp CONFIG), runs it (qcp::compress, rtn 8-bit, on a shipped model), checks the
# installed qcp reads what it wrote, and loads the installed completion as bash-completion does.
set -euo pipefail
BUILD=$1 SRC=$2 WORK=$3 CXX=$4
fail() { echo "install_test: $*" >&2; exit 1; }
rm -rf "$WORK" && mkdir -p "$WORK"
STAGE=$WORK/stage
cmake --install "$BUILD" --prefix "$STAGE" >"$WORK/install.log" || { cat "$WORK/install.log"; fail "cmake --install failed"; }

CMAKE_DIR=$(dirname "$(find "$STAGE" -name qcpConfig.cmake | head -1)")
[ -f "$CMAKE_DIR/qcpConfig.cmake" ] || fail "no qcpConfig.cmake installed"
for f in bin/qcp include/qcp/pipeline/compress.hpp include/qcp/core/tensor.hpp share/man/man1/qcp.1.gz \
         share/bash-completion/completions/qcp; do
  [ -e "$STAGE/$f" ] || fail "not installed: $f"
done
for m in core ir onnx_io engine decomp quant rewrite data pipeline; do
  [ -n "$(find "$STAGE" -name "libqcp_$m.a")" ] || fail "not installed: libqcp_$m.a"
done
[ -f "$CMAKE_DIR/qcpConfigVersion.cmake" ] && [ -f "$CMAKE_DIR/qcpTargets.cmake" ] || fail "package files missing in $CMAKE_DIR"
# the exported usage requirements: nothing from the build or source tree, no build-only target
if grep -nE "$(realpath "$BUILD")|$(realpath "$SRC")/|qcp_warnings|quiet_intrinsics|Werror" "$CMAKE_DIR"/qcpTargets*.cmake; then
  fail "the exported targets leak build-tree paths or build-only settings (lines above)"
fi

cmake -S "$SRC/tests/install/consumer" -B "$WORK/consumer" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$CXX" \
      -DCMAKE_PREFIX_PATH="$STAGE" -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON >"$WORK/configure.log" 2>&1 \
  || { cat "$WORK/configure.log"; fail "configuring the consumer failed"; }
grep -q "qcp_DIR:PATH=$CMAKE_DIR" "$WORK/consumer/CMakeCache.txt" || fail "the consumer found a qcp other than the stage's"
cmake --build "$WORK/consumer" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; fail "building the consumer failed"; }
"$WORK/consumer/consumer" "$SRC/models/fmnist_mobilenet.onnx" "$WORK/out.onnx" || fail "the consumer failed"
"$STAGE/bin/qcp" inspect "$WORK/out.onnx" >"$WORK/inspect.txt" || fail "the installed qcp cannot read the consumer's output"
[ "$("$STAGE/bin/qcp" --version)" = "$("$BUILD/qcp" --version)" ] || fail "the installed qcp --version differs from the build's"

# the completion as bash-completion loads it: by command name from share/bash-completion/completions
if [ -f /usr/share/bash-completion/bash_completion ]; then
  got=$(PATH="$STAGE/bin:$PATH" XDG_DATA_DIRS="$STAGE/share" bash -c '
    source /usr/share/bash-completion/bash_completion
    __load_completion qcp || exit 1
    COMP_WORDS=(qcp comp); COMP_CWORD=1; _qcp; echo "${COMPREPLY[*]}"')
  [[ " $got " == *" compress "* ]] || fail "the installed completion did not load or complete 'qcp comp' (got '$got')"
fi
echo "install_test: ok"
