#!/usr/bin/env bash
# Faults while writing (README "Guarantees"): a full disk during the journal append, a trial's
# result, sweep.json, transfer.json, verify.json or the JUnit file (injected with
# MUE_WRITE_FAULT, which fails the chosen writes with ENOSPC; and a real small tmpfs where the
# test may mount one): exit 3 naming the path and the OS error, the journal keeps every line
# written before, and once space returns the same command resumes and ends with every planned
# trial exactly once.
set -u
mue=$1 root=$2
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
tmp=$(mktemp -d); trap 'umount "$tmp/mnt" 2>/dev/null; rm -rf "$tmp"' EXIT
sed -e 's/"steps": 200/"steps": 30/' -e 's/"every": 50/"every": 10/' \
  "$root/sweeps/tiny-cpu.json" >"$tmp/s.json"
check_journal() {  # check_journal JOURNAL WANT: WANT trials, each once, all ok (last line per id)
  ${MUE_PYTHON:-python3} - "$1" "$2" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
final = [r for r in rows if not r.get("retry")]
ids = [r["id"] for r in final]
assert len(ids) == len(set(ids)), f"duplicates: {len(ids)} results for {len(set(ids))} trials"
assert len(ids) == int(sys.argv[2]), f"{len(ids)} trials, want {sys.argv[2]}"
assert all(r["status"] == "ok" for r in final), [r["status"] for r in final]
PY
}
expect3() {  # expect3 PATTERN -- command...: exit 3 and PATTERN in the output
  local pattern=$1; shift 2
  out=$("$@" 2>&1); rc=$?
  [ "$rc" -eq 3 ] && grep -qE -- "$pattern" <<<"$out" || fail "'$*' under MUE_WRITE_FAULT=$MUE_WRITE_FAULT: exit $rc (want 3): $out"
}

# 1-6 inject the fault with the hook; 7 fills a real tmpfs where the test may mount one.
# 1. The journal: its 5th append fails. The 4 lines before stay; the resumed run salvages the
#    5th trial's result file and runs the rest: 18 trials, each once.
export MUE_WRITE_FAULT=trials.jsonl@5
expect3 "cannot append to journal '$tmp/D/trials.jsonl': No space left on device" -- \
  "$mue" -q sweep "$tmp/s.json" --out "$tmp/D" --jobs 1
[ "$(grep -c . "$tmp/D/trials.jsonl")" -eq 4 ] || fail "journal after the fault: $(grep -c . "$tmp/D/trials.jsonl") lines, want 4"
unset MUE_WRITE_FAULT
"$mue" -q sweep "$tmp/s.json" --out "$tmp/D" --jobs 1 >/dev/null 2>&1 || fail "resume after the journal fault"
check_journal "$tmp/D/trials.jsonl" 18 || fail "journal after the resume"

# 2. sweep.json: exit 3, no report and no temporary file left; the re-run reuses all 18.
export MUE_WRITE_FAULT=sweep.json
expect3 "cannot write '$tmp/D/sweep.json': No space left on device" -- "$mue" -q fit "$tmp/D"
unset MUE_WRITE_FAULT
ls -a "$tmp/D" | grep -q "sweep.json.tmp" && fail "a temporary report was left behind"
"$mue" -q fit "$tmp/D" >/dev/null 2>&1 && [ -s "$tmp/D/sweep.json" ] || fail "fit after the fault"

# 3. One trial's result file cannot be written: that trial is journaled to run again and the
#    next run runs it; nothing else is re-run. (--fuse off: a fused pack's result file is named
#    by the pack, and --fuse auto decides by timing.)
id=$("$mue" sweep "$tmp/s.json" --dry-run | awk 'NR > 3 && NF { print $1; exit }')
MUE_WRITE_FAULT="$id.result.json" "$mue" -q sweep "$tmp/s.json" --out "$tmp/R" --jobs 2 --fuse off >/dev/null 2>&1
${MUE_PYTHON:-python3} - "$tmp/R/trials.jsonl" "$id" <<'PY' || fail "trial $id is not journaled to run again"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mine = [r for r in rows if r["id"] == sys.argv[2]]
assert len(mine) == 1 and mine[0]["retry"] and "No space left on device" in mine[0]["error"], mine
PY
out=$("$mue" sweep "$tmp/s.json" --out "$tmp/R" --jobs 2 --fuse off 2>&1) || fail "resume after the result fault: $out"
grep -q "18 trials, 17 already in the journal" <<<"$out" || fail "the resume did not run exactly the one trial: $out"
check_journal "$tmp/R/trials.jsonl" 18 || fail "journal after the result fault"

# 4. transfer.json: exit 3, no report, no temporary file.
export MUE_WRITE_FAULT=t.json
expect3 "cannot write '$tmp/t.json': No space left on device" -- \
  "$mue" -q transfer --reference "$tmp/D/sweep.json" --targets "$root/sweeps/moe-targets.json" --out "$tmp/t.json"
unset MUE_WRITE_FAULT
[ ! -e "$tmp/t.json" ] && ! ls -a "$tmp" | grep -q "t.json.tmp" || fail "transfer left a file behind"
"$mue" -q transfer --reference "$tmp/D/sweep.json" --targets "$root/sweeps/moe-targets.json" \
  --out "$tmp/t.json" >/dev/null || fail "transfer after the fault"

# 5. verify.json, then the JUnit file: exit 3; the re-run reuses every journaled trial.
for f in verify.json junit.xml; do
  export MUE_WRITE_FAULT=$f
  expect3 "cannot write '.*$f': No space left on device" -- \
    "$mue" -q verify "$tmp/t.json" --out "$tmp/V" --targets moe-8e2a --points 3 --junit "$tmp/V/junit.xml"
  unset MUE_WRITE_FAULT
done
out=$("$mue" verify "$tmp/t.json" --out "$tmp/V" --targets moe-8e2a --points 3 --junit "$tmp/V/junit.xml" 2>&1)
rc=$?
{ [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; } && [ -s "$tmp/V/verify.json" ] && [ -s "$tmp/V/junit.xml" ] ||
  fail "verify after the faults: exit $rc: $out"
grep -q "3 trials, 3 already in the journal" <<<"$out" || fail "verify re-ran trials: $out"
check_journal "$tmp/V/trials.jsonl" 3 || fail "verify's journal"
# 7. A real full disk, where this test may mount a tmpfs (root): tmpfs of 64, 176 and 192 KiB
#    fill up at different writes of a sweep (here: the journal, a trial spec, sweep.json);
#    each run is exit 3 naming a path and "No space left on device"; after the tmpfs grows
#    the same command ends with 18 trials, each once.
mnt="$tmp/mnt"
mkdir -p "$mnt"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=64k tmpfs "$mnt" 2>/dev/null; then
  for kb in 64 176 192; do
    rm -rf "$mnt/D"; mount -o remount,size=${kb}k "$mnt" || { fail "cannot resize the tmpfs"; continue; }
    out=$("$mue" -q sweep "$tmp/s.json" --out "$mnt/D" --jobs 2 --fuse off 2>&1); rc=$?
    [ "$rc" -eq 3 ] && grep -q "'$mnt/D/[^']*': No space left on device" <<<"$out" \
      || fail "tmpfs of ${kb} KiB: exit $rc (want 3 naming a path under $mnt/D): $out"
    mount -o remount,size=4m "$mnt"
    "$mue" -q sweep "$tmp/s.json" --out "$mnt/D" --jobs 2 --fuse off >/dev/null 2>&1 \
      || fail "tmpfs of ${kb} KiB: the resume once space returned failed"
    check_journal "$mnt/D/trials.jsonl" 18 || fail "tmpfs of ${kb} KiB: journal after the resume"
  done
  umount "$mnt"
else
  echo "note: cannot mount a tmpfs here (not root); the real full-disk part was skipped"
fi

[ "$fails" -eq 0 ] && echo "ok: write faults exit 3 naming the path; resumes end with every trial once"
exit "$fails"
