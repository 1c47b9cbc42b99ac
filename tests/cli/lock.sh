#!/usr/bin/env bash
# One muE per run directory (README "Guarantees"): a second sweep, verify or fit on a DIR in
# use exits 2 at once naming the holder; --wait-lock waits and then reuses every journaled
# trial; kill -9 leaves no stale lock; an --out that is a file is exit 2 before any trial.
set -u
mue=$1 root=$2
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
sed -e 's/"steps": 200/"steps": 30/' -e 's/"every": 50/"every": 10/' \
  "$root/sweeps/tiny-cpu.json" >"$tmp/s.json"
unique() {  # unique JOURNAL: every journaled trial id once
  ${MUE_PYTHON:-python3} -c '
import json, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1]) if l.strip()]
assert len(ids) == len(set(ids)), f"{len(ids)} lines for {len(set(ids))} ids"
print(len(ids))' "$1"
}
wait_for_lock() {  # the first run holds the lock once its lock file names it
  for _ in $(seq 100); do grep -q "pid" "$1/.muE.lock" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# 1. A second sweep on the same DIR: exit 2 at once, naming the holder; nothing run twice.
"$mue" -q sweep "$tmp/s.json" --out "$tmp/D" --jobs 1 >/dev/null 2>&1 &
first=$!
wait_for_lock "$tmp/D" || fail "the first sweep never took the lock"
out=$("$mue" sweep "$tmp/s.json" --out "$tmp/D" --jobs 1 2>&1); rc=$?
[ "$rc" -eq 2 ] || fail "second sweep: exit $rc (want 2)"
grep -qE "is in use by muE pid $first on .* since .*\(muE sweep tiny-cpu\)" <<<"$out" ||
  fail "second sweep's message: $out"
out=$("$mue" fit "$tmp/D" 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "is in use by muE pid $first" <<<"$out" || fail "fit during the sweep: exit $rc: $out"
# 2. --wait-lock waits for the first, then finds every trial journaled.
out=$("$mue" sweep "$tmp/s.json" --out "$tmp/D" --jobs 1 --wait-lock 2>&1); rc=$?
[ "$rc" -eq 0 ] || fail "sweep --wait-lock: exit $rc: $out"
grep -q "waiting for $tmp/D, in use by muE pid $first" <<<"$out" || fail "no waiting line: $out"
grep -q "18 trials, 18 already in the journal" <<<"$out" || fail "the waiting sweep re-ran trials: $out"
wait "$first" || fail "the first sweep failed"
n=$(unique "$tmp/D/trials.jsonl") || fail "duplicate trials in the journal"
[ "$n" = 18 ] || fail "journal has $n trials, want 18"

# 3. kill -9 of the holder leaves no stale lock: the next run starts at once and resumes.
"$mue" -q sweep "$tmp/s.json" --out "$tmp/K" --jobs 1 >/dev/null 2>&1 &
victim=$!
wait_for_lock "$tmp/K" || fail "the sweep to kill never took the lock"
sleep 2
kill -9 "$victim"; wait "$victim" 2>/dev/null
out=$("$mue" sweep "$tmp/s.json" --out "$tmp/K" --jobs 1 2>&1); rc=$?
[ "$rc" -eq 0 ] || fail "sweep after kill -9: exit $rc: $out"
n=$(unique "$tmp/K/trials.jsonl") || fail "duplicate trials after kill -9"
[ "$n" = 18 ] || fail "after kill -9 and resume the journal has $n trials, want 18"

# 4. verify takes the lock of its --out too.
"$mue" -q transfer --reference "$tmp/D/sweep.json" --targets "$root/sweeps/moe-targets.json" \
  --out "$tmp/t.json" >/dev/null
"$mue" -q verify "$tmp/t.json" --out "$tmp/V" --targets moe-8e2a --points 3 >/dev/null 2>&1 &
v=$!
wait_for_lock "$tmp/V" || fail "verify never took the lock"
out=$("$mue" verify "$tmp/t.json" --out "$tmp/V" --targets moe-8e2a --points 3 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "is in use by muE pid $v" <<<"$out" || fail "second verify: exit $rc: $out"
wait "$v"

# 5. --out that is a file: exit 2 before any trial, the file untouched.
echo keep >"$tmp/file"
out=$("$mue" sweep "$tmp/s.json" --out "$tmp/file" 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "is a file, not a run directory" <<<"$out" || fail "--out FILE: exit $rc: $out"
[ "$(cat "$tmp/file")" = keep ] || fail "--out FILE was changed"
# A directory without write permission (root ignores permissions: skipped then).
if [ "$(id -u)" != 0 ]; then
  mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
  out=$("$mue" sweep "$tmp/s.json" --out "$tmp/ro" 2>&1); rc=$?
  [ "$rc" -eq 2 ] && grep -q "cannot write in the run directory" <<<"$out" || fail "read-only --out: exit $rc: $out"
  chmod 755 "$tmp/ro"
fi
[ "$fails" -eq 0 ] && echo "ok: one muE per run directory (sweep, fit, verify), --wait-lock, kill -9, --out checks"
exit "$fails"
