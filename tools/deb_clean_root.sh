#!/usr/bin/env bash
# shellcheck disable=SC2016  # the chroot scripts are single-quoted: they expand inside the root
# The .deb packages installed as a user would, on a clean minimal Debian root (issue 16):
#   tools/deb_clean_root.sh BUILD_DIR [ROOT_DIR]     (as root; ctest -L debroot, QCP_DEBROOT_TEST=ON)
# ROOT_DIR (default /var/cache/qcp-debroot) keeps base/, a `debootstrap --variant=minbase` root of
# this machine's Debian release from the mirror in its apt sources, made once and then reused; each
# run copies it to run/ (removed after a pass, kept after a failure), so every run starts from the
# same clean root. In it: man-db and the Fashion-MNIST data (the user's side), then apt-get install
# ./qcp_*.deb (its Depends must bring the runtime libraries), qcp --version, man qcp, the bash
# completion loads and completes, a real job (qcp compress --method rtn --bits 8 of the shipped
# fmnist_resnet, qcp inspect and qcp eval of the output); then apt-get install ./qcp-dev_*.deb (its
# Depends must bring every package the CMake config find_dependency()s), cmake, make and g++ (the
# user's side), and tests/install/consumer built against the installed package and run.
# The packages come from BUILD_DIR (cpack -G DEB there when absent or older than BUILD_DIR/qcp;
# configure it with -DQCP_NATIVE=OFF for a portable binary). Prints each step's time and the package
# sizes; exits 1 with one line naming the failed step (2 for bad usage).
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 BUILD_DIR [ROOT_DIR]" >&2; exit 2; }
BUILD=$(realpath "$1")
CACHE=${2:-/var/cache/qcp-debroot}
SRC=$(realpath "$(dirname "$0")/..")
fail() { echo "deb_clean_root: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot, mount)"
[ -f "$BUILD/CPackConfig.cmake" ] || fail "$BUILD is not a configured qcp build (no CPackConfig.cmake)"
for tool in debootstrap chroot mount; do
  command -v "$tool" >/dev/null || fail "$tool not found (apt-get install -y debootstrap)"
done
mkdir -p "$CACHE"
CACHE=$(realpath "$CACHE")
BASE=$CACHE/base ROOT=$CACHE/run LOG=$CACHE/log
mkdir -p "$LOG"
exec 9>"$CACHE/lock"
flock -n 9 || fail "another deb_clean_root is using $CACHE"

t0=$SECONDS step_start=$SECONDS step_name=""
# step NAME: ends the previous step (printing its time) and starts NAME
step() {
  [ -z "$step_name" ] || printf 'deb_clean_root: %-44s %4ds\n' "$step_name" $((SECONDS - step_start))
  step_name=$1 step_start=$SECONDS
}

# The Debian mirror and release of this machine: the first deb.debian.org-like source of its
# codename (deb822 .sources or one-line .list), and its security mirror when it has one.
. /etc/os-release
CODENAME=${VERSION_CODENAME:?/etc/os-release names no VERSION_CODENAME}
apt_sources() {  # one line per source: URI SUITE...
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++; if ($2 ~ /^\[/) i++; print $i, $(i + 1) }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && awk 'BEGIN { RS = ""; FS = "\n" }
      { uri = ""; suites = ""; deb = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:.*(^|[ \t])deb([ \t]|$)/) deb = 1
          if ($i ~ /^URIs:/) { uri = $i; sub(/^URIs:[ \t]*/, "", uri); sub(/[ \t].*/, "", uri) }
          if ($i ~ /^Suites:/) { suites = $i; sub(/^Suites:[ \t]*/, "", suites) }
        }
        if (deb && uri != "") print uri, suites }' "$f"
  done
}
MIRROR=$(apt_sources | awk -v c="$CODENAME" '{ for (i = 2; i <= NF; i++) if ($i == c) { print $1; exit } }')
SECURITY=$(apt_sources | awk -v c="$CODENAME-security" '{ for (i = 2; i <= NF; i++) if ($i == c) { print $1; exit } }')
[ -n "$MIRROR" ] || fail "no apt source for $CODENAME in /etc/apt/sources.list(.d)"

# /proc is mounted in the root being used; the trap unmounts it on any exit.
MOUNTED=""
cleanup() {
  [ -z "$MOUNTED" ] || umount "$MOUNTED" || umount -l "$MOUNTED" || true
  MOUNTED=""
}
trap cleanup EXIT
in_root() {  # in_root SCRIPT: runs SCRIPT with bash in the chroot, a clean environment, as root
  chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive TERM=dumb /bin/bash -euo pipefail -c "$1"
}
# run_step NAME LOGFILE SCRIPT: a step in the chroot, its output in LOG/LOGFILE
run_step() {
  step "$1"
  in_root "$3" >"$LOG/$2" 2>&1 || { tail -20 "$LOG/$2" >&2; fail "$1 failed (log: $LOG/$2)"; }
}

if [ ! -f "$BASE/.qcp-debroot-complete" ]; then
  step "debootstrap --variant=minbase $CODENAME"
  rm -rf "$BASE"
  debootstrap --variant=minbase "$CODENAME" "$BASE" "$MIRROR" >"$LOG/debootstrap.log" 2>&1 \
    || { tail -20 "$LOG/debootstrap.log" >&2; fail "debootstrap of $CODENAME from $MIRROR failed (log: $LOG/debootstrap.log)"; }
  { echo "deb $MIRROR $CODENAME main"
    echo "deb $MIRROR $CODENAME-updates main"
    [ -z "$SECURITY" ] || echo "deb $SECURITY $CODENAME-security main"; } >"$BASE/etc/apt/sources.list"
  rm -rf "$BASE"/var/cache/apt/archives/*.deb
  touch "$BASE/.qcp-debroot-complete"
fi

step "packages (cpack -G DEB)"
ARCH=$(dpkg --print-architecture)
VERSION=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$BUILD/CPackConfig.cmake")
[ -n "$VERSION" ] || fail "no CPACK_PACKAGE_VERSION in $BUILD/CPackConfig.cmake"
DEB=$BUILD/qcp_${VERSION}_${ARCH}.deb DEV=$BUILD/qcp-dev_${VERSION}_${ARCH}.deb
[ -x "$BUILD/qcp" ] || fail "$BUILD has no qcp binary (cmake --build $BUILD first)"
if [ ! "$DEB" -nt "$BUILD/qcp" ] || [ ! "$DEV" -nt "$BUILD/qcp" ]; then  # absent or older than the build
  (cd "$BUILD" && cpack -G DEB) >"$LOG/cpack.log" 2>&1 || { tail -20 "$LOG/cpack.log" >&2; fail "cpack -G DEB failed in $BUILD"; }
  [ -f "$DEB" ] && [ -f "$DEV" ] || fail "cpack made no $(basename "$DEB") and $(basename "$DEV") in $BUILD"
fi
for f in "$DEB" "$DEV"; do
  printf 'deb_clean_root: %s: %d bytes, Installed-Size %s KiB\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(dpkg-deb -f "$f" Installed-Size)"
done

# remove_root: removes run/, refusing while anything is mounted under it
remove_root() {
  ! grep -q " ${ROOT}[/ ]" /proc/mounts || fail "something is still mounted under $ROOT"
  rm -rf "$ROOT"
}

step "copy the clean root"
remove_root
cp -a "$BASE" "$ROOT"
mount -t proc proc "$ROOT/proc"
MOUNTED=$ROOT/proc
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mkdir -p "$ROOT/root/qcp"
cp "$DEB" "$DEV" "$SRC/models/fmnist_resnet.onnx" "$ROOT/root/qcp/"
cp -r "$SRC/tests/install/consumer" "$ROOT/root/qcp/consumer"

# What the user has before installing qcp: man-db to read man pages, the data set to evaluate on.
run_step "apt-get install man-db dataset-fashion-mnist" user.log \
  'apt-get update -qq && apt-get install -y man-db dataset-fashion-mnist'
run_step "apt-get install ./qcp_*.deb" qcp.log \
  'cd /root/qcp && apt-get install -y ./qcp_*_*.deb && dpkg -s qcp | grep -q "^Status: install ok installed"'
run_step "qcp --version" version.log 'qcp --version | grep -E "^qcp [0-9]+\.[0-9]+\.[0-9]+ \(git [^)]+\)$"'
run_step "man qcp" man.log 'MANWIDTH=100 man qcp >/root/qcp/man.txt && head -20 /root/qcp/man.txt &&
  grep -q "^ *qcp compress" /root/qcp/man.txt && grep -q -- "--method" /root/qcp/man.txt'
run_step "bash completion loads" completion.log \
  '. /usr/share/bash-completion/completions/qcp && complete -p qcp
   COMP_WORDS=(qcp comp); COMP_CWORD=1; _qcp; [[ " ${COMPREPLY[*]} " == *" compress "* ]]'
run_step "qcp compress --method rtn --bits 8" compress.log \
  'cd /root/qcp && qcp compress fmnist_resnet.onnx -o rtn8.onnx --method rtn --bits 8 && test -s rtn8.onnx'
run_step "qcp inspect and eval of the output" eval.log \
  'cd /root/qcp && D=/usr/share/datasets/fashion-mnist && qcp inspect rtn8.onnx >/dev/null &&
   qcp eval rtn8.onnx --data $D/t10k-images-idx3-ubyte.gz --labels $D/t10k-labels-idx1-ubyte.gz \
     --ref fmnist_resnet.onnx --count 1000 --min-top1 90'
run_step "apt-get install ./qcp-dev_*.deb" dev.log \
  'cd /root/qcp && apt-get install -y ./qcp-dev_*_*.deb && dpkg -s qcp-dev | grep -q "^Status: install ok installed"'
run_step "apt-get install cmake make g++" tools.log 'apt-get install -y cmake make g++'
run_step "build tests/install/consumer" consumer.log \
  'cd /root/qcp && cmake -S consumer -B consumer-build -DCMAKE_BUILD_TYPE=Release &&
   grep -q "^qcp_DIR:PATH=/usr/lib/.*cmake/qcp$" consumer-build/CMakeCache.txt && cmake --build consumer-build'
run_step "run the consumer, qcp reads its output" consumer_run.log \
  'cd /root/qcp && consumer-build/consumer fmnist_resnet.onnx consumer.onnx && qcp inspect consumer.onnx >/dev/null'
step ""
cleanup
remove_root  # kept after a failure, for a look inside
printf 'deb_clean_root: ok, %ds in all (logs: %s)\n' $((SECONDS - t0)) "$LOG"
