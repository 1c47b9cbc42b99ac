#!/usr/bin/env bash
# The command backend end to end: a sweep through examples/external-trainer/train.py,
# the optimizer settings it applied equal the table muE gave it, and each way an external
# trainer can fail is recorded as its own failure; bad commands are exit 2 up front.
set -u
mue=$1 root=$2
fails=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
py=${MUE_PYTHON:-python3}
$py -c "import torch" 2>/dev/null || { echo "FAIL: $py has no torch (scripts/install-deps makes .venv)" >&2; exit 1; }

# 1. The example sweep, exactly as README "Using your own trainer" runs it.
"$mue" sweep "$root/examples/external-trainer/sweep.json" --out "$tmp/ext" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || { cat "$tmp/err"; fail "example sweep rc=$rc"; }
[ "$(grep -c '"status":"ok"' "$tmp/ext/trials.jsonl")" -eq 3 ] || { cat "$tmp/err"; fail "want 3 ok trials"; }
grep -q '"schema": "mue.sweep/1"' "$tmp/ext/sweep.json" || fail "no fit (sweep.json)"
$py - "$tmp/ext/trials" <<'PY' || fail "the trainer did not apply the table"
import glob, json, os, sys
dirs = glob.glob(os.path.join(sys.argv[1], "*.cmd"))
assert len(dirs) == 3, dirs  # checked before the verify step adds its own
for d in dirs:
    trial = json.load(open(os.path.join(d, "trial.json")))
    applied = json.load(open(os.path.join(d, "applied.json")))
    table = trial["table"]
    assert trial["schema"] == "mue.trial/1" and "config" in trial and "id" in trial
    assert set(applied) == set(table["groups"]), (set(applied), set(table["groups"]))
    for g, got in applied.items():
        want = table["groups"][g]
        for k in ("lr", "wd", "eps"):
            assert got[k] == want[k]["value"], (d, g, k, got[k], want[k]["value"])
        assert got["betas"] == [table["optimizer"]["beta1"], table["optimizer"]["beta2"]], (g, got["betas"])
PY

# 2. Transfer from that sweep and verify a dense target with the same trainer (README).
"$mue" -q transfer --reference "$tmp/ext/sweep.json" --targets "$root/sweeps/experiments/targets-mue.json" \
  --out "$tmp/ext/transfer.json" || fail "transfer from the external sweep failed"
"$mue" verify "$tmp/ext/transfer.json" --out "$tmp/ext/verify" --targets width-2x --points 3 --step 1 \
  --backend "$root/examples/external-trainer/backend.json" >"$tmp/out" 2>"$tmp/err"; rc=$?
v="$tmp/ext/verify"
[ $rc -le 1 ] && [ "$(grep -c '"status":"ok"' "$v/trials.jsonl")" -eq 3 ] && grep -q '"schema": "mue.verify/1"' "$v/verify.json" \
  || { cat "$tmp/err"; fail "verify through the command backend: rc=$rc"; }
ls "$v/trials" | grep -q '\.cmd$' || fail "verify did not run the external trainer"

# 3. Failures, one trial each.
mk() {  # mk NAME ARGV_JSON [TIMEOUT]: a one-trial spec from the example with another command
  $py - "$root/examples/external-trainer/sweep.json" "$tmp/$1.json" "$2" "${3:-0}" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["axes"] = {"lr": [0.01]}
s["backend"] = {"kind": "command", "argv": json.loads(sys.argv[3])}
if float(sys.argv[4]) > 0:
    s["backend"]["timeout_s"] = float(sys.argv[4])
json.dump(s, open(sys.argv[2], "w"))
PY
}
status_is() {  # status_is NAME STATUS TEXT
  "$mue" -q sweep "$tmp/$1.json" --out "$tmp/run-$1" 2>/dev/null
  grep -q "\"status\":\"$2\"" "$tmp/run-$1/trials.jsonl" && grep -q "$3" "$tmp/run-$1/trials.jsonl" \
    || { cat "$tmp/run-$1/trials.jsonl" 2>/dev/null; fail "$1: want status $2 with '$3'"; }
}
mk exit3 '["/bin/sh", "-c", "exit 3"]';                        status_is exit3 failed "exited with status 3"
mk noresult '["/bin/true"]';                                     status_is noresult failed "wrote no result"
mk garbage '["/bin/sh", "-c", "echo nope > \"$0\"", "{result_json}"]'; status_is garbage failed "not valid JSON"
mk hang '["/bin/sleep", "30"]' 1;                                status_is hang timeout "timeout_s"

# 4. Bad commands: exit 2 before any trial runs.
mk unknown '["/bin/echo", "{nope}"]'
"$mue" sweep "$tmp/unknown.json" --out "$tmp/u" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "/backend/argv/1" "$tmp/err" && grep -q "{nope}" "$tmp/err" || { cat "$tmp/err"; fail "unknown placeholder: rc=$rc"; }
mk missing '["no-such-trainer-xyz", "{trial_json}"]'
"$mue" sweep "$tmp/missing.json" --out "$tmp/m" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "/backend/argv/0" "$tmp/err" && grep -q "not found" "$tmp/err" && [ ! -e "$tmp/m/trials.jsonl" ] \
  || { cat "$tmp/err"; fail "missing command: rc=$rc, want 2 and no trial run"; }
[ $fails -eq 0 ] && echo "command backend: ok"
exit $fails
