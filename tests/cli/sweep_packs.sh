#!/usr/bin/env bash
# Fused trials in the sweep engine: packs run as `muE trial --pack` children and journal
# one result per trial; results match unfused runs; a crash fails its pack's trials only;
# SIGKILL + resume with packs loses and re-runs nothing; --fuse auto records its decision.
set -u
mue=$1 fx=$2
fails=0
tmp=$(mktemp -d)
cleanup() { pkill -KILL -f "$tmp/" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
py=${MUE_PYTHON:-python3}
spec="$fx/good/sweep-faults.json"
n=10
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
mapfile -t ids < <("$mue" sweep "$spec" --out "$tmp/x" --dry-run | awk 'NF == 4 && length($1) == 16 { print $1 }')
journal_complete() {
  [ "$(lines "$1/trials.jsonl")" -eq $n ] || { fail "$1: journal has $(lines "$1/trials.jsonl") lines, want $n"; return; }
  for id in "${ids[@]}"; do
    [ "$(grep -c "\"id\":\"$id\"" "$1/trials.jsonl")" -eq 1 ] || fail "$1: trial $id is not in the journal exactly once"
  done
}

# Packs of 4 vs every trial alone: same objectives to float tolerance.
"$mue" -q sweep "$spec" --out "$tmp/off" --fuse off || fail "unfused sweep failed"
"$mue" sweep "$spec" --out "$tmp/k4" --fuse 4 --jobs 2 2>"$tmp/err" || { cat "$tmp/err"; fail "fused sweep failed"; }
journal_complete "$tmp/k4"
[ "$(ls "$tmp/k4/trials" | grep -c '^pack-.*\.spec\.json$')" -eq 3 ] || fail "want 3 packs (4+4+2) of 10 trials"
grep -q "pack of 4" "$tmp/err" || fail "progress lines do not say the trials ran in packs"
$py - "$tmp/off/trials.jsonl" "$tmp/k4/trials.jsonl" <<'PY' || fail "fused objectives differ from unfused ones"
import json, sys
a = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[1])}
b = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[2])}
assert a.keys() == b.keys()
# Float reassociation (batched vs single matmuls) differs at ~1e-7; trials near the
# optimum keep that (1e-4 here). At the largest LRs training is near-chaotic and amplifies
# it (measured: 0.9% at lr 2^-3, loss 4.9): those get 2%.
best = min(r["objective"] for r in a.values() if r["objective"] is not None)
for k in a:
    assert a[k]["status"] == b[k]["status"], (k, a[k]["status"], b[k]["status"])
    if a[k]["objective"] is not None:
        tol = 1e-4 if a[k]["objective"] < best + 0.5 else 2e-2
        assert abs(a[k]["objective"] - b[k]["objective"]) <= tol * abs(a[k]["objective"]), k
PY
for id in "${ids[@]}"; do [ -s "$tmp/k4/logs/$id.log" ] || [ -e "$tmp/k4/logs/$id.log" ] || fail "no log for $id"; done

# A crash in a pack fails that pack's trials, with the reason; the rest of the sweep goes on.
MUE_FAULT="crash:${ids[0]}" "$mue" -q sweep "$spec" --out "$tmp/crash" --fuse 4 --jobs 2 || fail "crash sweep rc != 0"
journal_complete "$tmp/crash"
[ "$(grep -c '"status":"failed"' "$tmp/crash/trials.jsonl")" -eq 4 ] || fail "want the 4 trials of the crashed pack failed"
grep '"status":"failed"' "$tmp/crash/trials.jsonl" | grep -q "signal 6" || fail "failed records do not name the signal"

# SIGKILL with packs in flight, then resume: nothing lost, nothing finished re-run.
d="$tmp/kill"
"$mue" sweep "$spec" --out "$d" --fuse 2 --jobs 2 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 400); do [ "$(lines "$d/trials.jsonl")" -ge 2 ] && break; sleep 0.05; done
kill -KILL $pid; wait $pid 2>/dev/null
sleep 0.3
pgrep -f "$d/" >/dev/null && fail "SIGKILL left orphaned pack processes"
before=$(lines "$d/trials.jsonl")
[ "$before" -ge 2 ] && [ "$before" -lt $n ] || fail "SIGKILL came at a bad time ($before journaled); test inconclusive"
cp "$d/trials.jsonl" "$tmp/before.jsonl"
"$mue" sweep "$spec" --out "$d" --fuse 2 >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; fail "resume after SIGKILL failed"; }
journal_complete "$d"
head -n "$before" "$d/trials.jsonl" | cmp -s - "$tmp/before.jsonl" || fail "the journal's first $before lines changed"

# --fuse auto: the decision and its calibration are in sweep.json.
"$mue" -q sweep "$spec" --out "$tmp/auto" || fail "auto sweep failed"
$py -c "
import json, sys
f = json.load(open('$tmp/auto/sweep.json'))['environment']['fuse']
assert f['mode'] == 'auto' and f['k'] >= 1 and 'single_step_s' in f['calibration'], f
" || fail "sweep.json does not record the --fuse auto decision"
"$mue" sweep "$spec" --out "$tmp/bad" --fuse 0 2>/dev/null; [ $? -eq 2 ] || fail "--fuse 0 should be exit 2"
[ $fails -eq 0 ] && echo "sweep packs: ok"
exit $fails
