#!/usr/bin/env bash
# The front end and the trainer library (docs/design.md "The front end and the trainer"):
# commands that do not train never load torch; commands that train load the trainer library
# with OMP_WAIT_POLICY=PASSIVE set first when it is unset (a user's value wins), in the same
# process (one execve); argv, stdin and exit codes pass through; a missing library is exit 3
# with a message naming it.
set -u
mue=$1 fx=$2
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
py=${MUE_PYTHON:-python3}
field() { $py -c "import json,sys; j=json.load(sys.stdin); print(j['omp_wait_policy'], j['omp_wait_policy_set_by_muE'])"; }
loads_torch() { LD_DEBUG=files "$@" 2>&1 >/dev/null | grep -q 'file=libtorch'; }

# 1. Commands that do not train: no libtorch in the process.
"$mue" -q transfer --reference "$fx/verify/reference.json" --targets "$fx/verify/targets.json" --out "$tmp/t.json" \
  || fail "transfer failed"
for cmd in "validate $fx/good/sweep-4.json" "transfer --reference $fx/verify/reference.json --targets $fx/verify/targets.json --out $tmp/t2.json" \
           "explain $tmp/t.json" "sweep $fx/good/sweep-4.json --out $tmp/dry --dry-run" "--help" "fit --help"; do
  # shellcheck disable=SC2086
  loads_torch "$mue" $cmd && fail "muE $cmd loaded libtorch"
done
# ... and the commands that train do.
loads_torch "$mue" env || fail "muE env did not load libtorch (LD_DEBUG shows no file=libtorch)"

# 2. OMP_WAIT_POLICY before torch loads: set when unset, a user's value wins, no re-exec.
got=$(env -u OMP_WAIT_POLICY -u MUE_OMP_SET_BY_MUE "$mue" --json env | field)
[ "$got" = "PASSIVE True" ] || fail "unset: got '$got', want 'PASSIVE True'"
got=$(env -u MUE_OMP_SET_BY_MUE OMP_WAIT_POLICY=ACTIVE "$mue" --json env | field)
[ "$got" = "ACTIVE False" ] || fail "user value: got '$got', want 'ACTIVE False'"
if command -v strace >/dev/null; then
  n=$(env -u OMP_WAIT_POLICY strace -f -e trace=execve "$mue" env 2>&1 >/dev/null | grep -c 'execve(')
  [ "$n" -eq 1 ] || fail "want 1 execve (no restart), got $n"
fi

# 3. stdin, argv and exit codes pass through to the trainer.
out=$(env -u OMP_WAIT_POLICY "$mue" trial <"$fx/good/trial.json"); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q '"status":"ok"' || fail "trial on stdin: rc=$rc"
env -u OMP_WAIT_POLICY "$mue" trial <"$fx/good/config.json" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "<stdin>: /config" "$tmp/err" || fail "bad stdin: rc=$rc, want 2"
"$mue" train "$fx/bad/nope-does-not-exist.json" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "nope-does-not-exist.json" "$tmp/err" || fail "argv: rc=$rc, want 2 naming the file"
"$mue" --device cpu train --help >"$tmp/out"; rc=$?
[ $rc -eq 0 ] && grep -q -- "--out" "$tmp/out" || fail "train --help (from the trainer) lacks its options"

# 4. A muE copied without its trainer library: commands that do not train still work; one
#    that trains is exit 3 naming the library.
cp "$mue" "$tmp/muE"
"$tmp/muE" validate "$fx/good/sweep-4.json" >/dev/null || fail "validate without the trainer library failed"
"$tmp/muE" trial <"$fx/good/trial.json" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 3 ] && grep -q "cannot load the training backend '$tmp/libmuE-trainer.so'" "$tmp/err" \
  || { cat "$tmp/err"; fail "trial without the trainer library: rc=$rc, want 3 naming it"; }
# 5. --device: auto resolves to what torch sees; cuda without a GPU is exit 2 before any trial
#    ("no CUDA device" with CUDA compiled in, "built without CUDA" without), no run folder.
rt=$("$mue" --json env) || fail "muE --json env failed"
compiled=$(echo "$rt" | $py -c 'import json,sys; j=json.load(sys.stdin); print(int(j["cuda_compiled"]))')
gpus=$(echo "$rt" | $py -c 'import json,sys; print(json.load(sys.stdin)["cuda_devices"])')
"$mue" --version | grep -q "CUDA $( [ "$compiled" = 1 ] && echo "compiled in, $gpus device" || echo "not compiled in")" \
  || fail "--version disagrees with muE env on CUDA ($compiled, $gpus)"
if [ "$gpus" = 0 ]; then
  if [ "$compiled" = 1 ]; then want="no CUDA device"; else want="built without CUDA"; fi
  "$mue" --device cuda sweep "$fx/good/sweep-4.json" --out "$tmp/cuda" 2>"$tmp/err"; rc=$?
  [ $rc -eq 2 ] && grep -q "$want" "$tmp/err" && [ ! -e "$tmp/cuda" ] \
    || { cat "$tmp/err"; fail "sweep --device cuda without a GPU: rc=$rc, want 2 '$want' and no folder"; }
  "$mue" --device cuda train "$fx/good/config.json" --out "$tmp/cuda.json" 2>"$tmp/err"; rc=$?
  [ $rc -eq 2 ] && grep -q "$want" "$tmp/err" && [ ! -e "$tmp/cuda.json" ] \
    || { cat "$tmp/err"; fail "train --device cuda without a GPU: rc=$rc, want 2 '$want'"; }
  "$mue" --device auto --json sweep "$fx/good/sweep-4.json" --out "$tmp/auto" --dry-run >/dev/null 2>"$tmp/err" \
    || { cat "$tmp/err"; fail "--device auto dry run failed"; }
fi
[ $fails -eq 0 ] && echo "trainer split: ok"
exit $fails
