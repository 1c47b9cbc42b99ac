#!/usr/bin/env bash
# A bad fixture must make muE exit 2 with "<file>: <pointer>: <reason>" on stderr,
# both in `muE validate` and in the command that consumes it, and that command
# must leave nothing behind in its output location.
# usage: expect_bad.sh MUE FIXTURES NAME POINTER CONSUMER(config|sweep|targets)
set -u
mue=$1 fixtures=$2 name=$3 pointer=$4 consumer=$5
file="$fixtures/bad/$name.json"
fail() { echo "FAIL [$name]: $*" >&2; exit 1; }

check() {  # check LABEL RC STDERR_FILE
  local label=$1 rc=$2 err=$3
  [ "$rc" -eq 2 ] || { cat "$err" >&2; fail "$label exited $rc, expected 2"; }
  grep -qF -- "$file: $pointer: " "$err" || { cat "$err" >&2; fail "$label did not name '$file: $pointer: '"; }
}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$mue" validate "$file" >"$out.stdout" 2>"$out.stderr"; rc=$?
check "muE validate" $rc "$out.stderr"
rm -f "$out.stdout" "$out.stderr"

work="$out/work"
mkdir "$work"
case "$consumer" in
  config)  cmd=("$mue" train "$file" --out "$work/result.json") ;;
  sweep)   cmd=("$mue" sweep "$file" --out "$work/run") ;;
  targets) cmd=("$mue" transfer --reference "$fixtures/good/config.json" --targets "$file"
                --out "$work/transfer.json") ;;
  *) fail "unknown consumer $consumer" ;;
esac
(cd "$work" && "${cmd[@]}") >"$out/stdout" 2>"$out/stderr"; rc=$?
check "muE ${cmd[1]}" $rc "$out/stderr"
left=$(ls -A "$work")
[ -z "$left" ] || fail "muE ${cmd[1]} left output behind: $left"
echo "ok [$name]: exit 2 at $pointer, nothing written"
