#!/usr/bin/env bash
# tools/completion/qcp.bash against a built qcp: completion_test.sh QCP COMPLETION_FILE
# Sources the file as bash does and completes a few command lines through its _qcp function.
set -euo pipefail
QCP=$1
source "$2"
fail() { echo "completion_test: $*" >&2; exit 1; }
# expect "WORDS..." WORD...: completing the last of WORDS offers every WORD (and only those with --only)
complete_line() {
  COMP_WORDS=("$QCP" "$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  _qcp
  printf '%s\n' "${COMPREPLY[@]}"
}
expect() {
  local line=$1 got
  shift
  got=$(eval "complete_line $line" | sort | tr '\n' ' ')
  for want in "$@"; do
    [[ " $got " == *" $want "* ]] || fail "completing 'qcp $line' gave '$got', without $want"
  done
}
expect_exactly() {
  local line=$1 got
  shift
  got=$(eval "complete_line $line" | sort | tr '\n' ' ')
  [ "$got" = "$(printf '%s\n' "$@" | sort | tr '\n' ' ')" ] || fail "completing 'qcp $line' gave '$got', not '$*'"
}
expect_exactly "comp" compare compress
expect_exactly "compress --met" --method
expect "''" inspect eval compress compare sweep convert
expect "-v conv" convert
expect "--max-memory 8G ev" eval
expect "-" --help --version --verbose --quiet
expect "compress --" --output --bits --rank-ratio --calib --format --threads --seed
expect "eval --" --data --labels --ref --count
expect_exactly "compress --method ''" admm-cp cp-als rtn gptq pq mixed
expect_exactly "compress -o m.onnx --method c" cp-als
# a value that is a path, and a positional, complete as file names
expect "compress --calib $(dirname "$2")/qcp." "$(dirname "$2")/qcp.bash"
expect "inspect $(dirname "$2")/qcp." "$(dirname "$2")/qcp.bash"
echo "completion_test: ok"
