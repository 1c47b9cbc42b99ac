#!/usr/bin/env bash
# The OpenMP re-exec: commands that train restart once with OMP_WAIT_POLICY=PASSIVE when
# it is unset; a user's value wins; the marker stops a second restart; argv, stdin and the
# exit code survive the restart.
set -u
mue=$1 fx=$2
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
py=/usr/bin/python3
field() { $py -c "import json,sys; j=json.load(sys.stdin); print(j['omp_wait_policy'], j['omp_wait_policy_set_by_muE'])"; }

got=$(env -u OMP_WAIT_POLICY -u MUE_OMP_REEXEC "$mue" --json env | field)
[ "$got" = "PASSIVE True" ] || fail "unset: got '$got', want 'PASSIVE True'"
got=$(env -u MUE_OMP_REEXEC OMP_WAIT_POLICY=ACTIVE "$mue" --json env | field)
[ "$got" = "ACTIVE False" ] || fail "user value: got '$got', want 'ACTIVE False'"
# The marker already set: no restart, so no loop even if the variable did not stick.
got=$(env -u OMP_WAIT_POLICY MUE_OMP_REEXEC=1 "$mue" --json env | field)
[ "$got" = "None True" ] || fail "marker set: got '$got', want 'None True' (no second exec)"
# Exactly one exec per run, when strace is there to count them.
if command -v strace >/dev/null; then
  n=$(env -u OMP_WAIT_POLICY -u MUE_OMP_REEXEC strace -f -e trace=execve "$mue" env 2>&1 >/dev/null | grep -c 'execve(')
  [ "$n" -eq 2 ] || fail "want 2 execve (start + one restart), got $n"
fi
# stdin, argv and exit codes carry over.
out=$(env -u OMP_WAIT_POLICY -u MUE_OMP_REEXEC "$mue" trial <"$fx/good/trial.json"); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q '"status":"ok"' || fail "trial on stdin after restart: rc=$rc"
env -u OMP_WAIT_POLICY -u MUE_OMP_REEXEC "$mue" trial <"$fx/good/config.json" 2>/tmp/reexec.$$; rc=$?
[ $rc -eq 2 ] && grep -q "<stdin>: /config" /tmp/reexec.$$ || fail "bad stdin after restart: rc=$rc, want 2"
env -u OMP_WAIT_POLICY -u MUE_OMP_REEXEC "$mue" train "$fx/bad/nope-does-not-exist.json" 2>/tmp/reexec.$$; rc=$?
[ $rc -eq 2 ] && grep -q "nope-does-not-exist.json" /tmp/reexec.$$ || fail "argv after restart: rc=$rc, want 2 naming the file"
rm -f /tmp/reexec.$$
[ $fails -eq 0 ] && echo "reexec: ok"
exit $fails
