#!/usr/bin/env bash
# The Debian packages: `cpack -G DEB` from the build, then their control fields and contents.
#   tests/install/deb_test.sh BUILD_DIR VERSION WORK_DIR
# qcp_<version>_<arch>.deb must depend on the Debian runtime libraries qcp links (found by
# dpkg-shlibdeps) and hold bin/qcp, the man page (naming every subcommand) and the bash
# completion; the extracted binary must run. qcp-dev_<version>_<arch>.deb must hold the libraries,
# headers and CMake package and depend on the -dev packages tagged `dev` in tools/debian-packages.txt.
set -euo pipefail
BUILD=$1 VERSION=$2 WORK=$3
fail() { echo "deb_test: $*" >&2; exit 1; }
rm -rf "$WORK" && mkdir -p "$WORK"
cpack -G DEB -B "$WORK" --config "$BUILD/CPackConfig.cmake" >"$WORK/cpack.log" 2>&1 || { cat "$WORK/cpack.log"; fail "cpack failed"; }
ARCH=$(dpkg --print-architecture)
DEB=$WORK/qcp_${VERSION}_${ARCH}.deb DEV=$WORK/qcp-dev_${VERSION}_${ARCH}.deb
[ -f "$DEB" ] || { ls "$WORK"; fail "no $(basename "$DEB")"; }
[ -f "$DEV" ] || { ls "$WORK"; fail "no $(basename "$DEV")"; }

dpkg-deb -I "$DEB" >"$WORK/info.txt"
depends=$(dpkg-deb -f "$DEB" Depends)
echo "qcp Depends: $depends"
for lib in 'libprotobuf[0-9]' 'libonnx[0-9]' 'libspdlog[0-9]' 'libgomp1' 'zlib1g' 'libstdc\+\+6' 'libc6'; do
  grep -qE "(^|, )$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
[ "$(dpkg-deb -f "$DEB" Package) $(dpkg-deb -f "$DEB" Version)" = "qcp $VERSION" ] || fail "wrong Package/Version: $(cat "$WORK/info.txt")"
dpkg-deb -c "$DEB" >"$WORK/contents.txt"
for f in ./usr/bin/qcp ./usr/share/man/man1/qcp.1.gz ./usr/share/bash-completion/completions/qcp; do
  grep -qE " $f\$" "$WORK/contents.txt" || fail "$(basename "$DEB") lacks $f"
done
if grep -E '\.a$|\.hpp$|\.cmake$' "$WORK/contents.txt"; then fail "the runtime package holds development files (above)"; fi

ROOT=$WORK/root
dpkg-deb -x "$DEB" "$ROOT"
[ "$("$ROOT/usr/bin/qcp" --version)" = "$("$BUILD/qcp" --version)" ] || fail "the packaged qcp --version is not the build's"
# the man page names every subcommand that `qcp --help` lists
commands=$("$ROOT/usr/bin/qcp" --help | awk '/^Subcommands:/ { on = 1; next } on && /^[^ ]/ { on = 0 } on && /^  [a-z]/ { print $1 }')
[ "$(wc -w <<<"$commands")" -ge 6 ] || fail "qcp --help lists too few subcommands: $commands"
MANWIDTH=200 man -l "$ROOT/usr/share/man/man1/qcp.1.gz" >"$WORK/man.txt" 2>"$WORK/man.err" || fail "man cannot read the page: $(cat "$WORK/man.err")"
for c in $commands; do
  grep -q "^ *qcp $c\$" "$WORK/man.txt" || fail "the man page has no section for 'qcp $c'"
done
grep -q -- "--method" "$WORK/man.txt" || fail "the man page lacks compress's options"

depends=$(dpkg-deb -f "$DEV" Depends)
echo "qcp-dev Depends: $depends"
for pkg in libeigen3-dev libonnx-dev libprotobuf-dev libspdlog-dev nlohmann-json3-dev zlib1g-dev; do
  grep -qE "(^|, )$pkg(,|$| )" <<<"$depends" || fail "qcp-dev Depends lacks $pkg: $depends"
done
dpkg-deb -c "$DEV" >"$WORK/dev_contents.txt"
for f in 'usr/lib/.*libqcp_pipeline\.a' 'usr/include/qcp/pipeline/compress\.hpp' 'usr/lib/.*cmake/qcp/qcpConfig\.cmake'; do
  grep -qE " \./$f\$" "$WORK/dev_contents.txt" || fail "$(basename "$DEV") lacks $f"
done
echo "deb_test: ok"
