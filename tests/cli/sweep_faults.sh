#!/usr/bin/env bash
# muE sweep under failure: injected crash / hang / NaN / garbage trials, `muE fit DIR`,
# SIGTERM (clean stop, resumable) and SIGKILL (resume finishes, nothing finished re-runs).
set -u
mue=$1 fx=$2
fails=0
tmp=$(mktemp -d)
cleanup() { pkill -KILL -f "$tmp/" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
spec="$fx/good/sweep-faults.json"
n=10

mapfile -t ids < <("$mue" sweep "$spec" --out "$tmp/x" --dry-run | awk 'NF == 4 && length($1) == 16 { print $1 }')
[ ${#ids[@]} -eq $n ] || { fail "dry run listed ${#ids[@]} trial ids, want $n"; exit 1; }
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
status_of() { grep "\"id\":\"$2\"" "$1/trials.jsonl" | sed 's/.*"status":"\([a-z]*\)".*/\1/'; }
# The journal holds every planned id exactly once.
journal_complete() {
  local d=$1
  [ "$(wc -l <"$d/trials.jsonl")" -eq $n ] || { fail "$d: journal has $(wc -l <"$d/trials.jsonl") lines, want $n"; return; }
  for id in "${ids[@]}"; do
    [ "$(grep -c "\"id\":\"$id\"" "$d/trials.jsonl")" -eq 1 ] || fail "$d: trial $id is not in the journal exactly once"
  done
}

# 1. Faults: one crash, one hang past the 20 s timeout, one NaN, one garbage result.
d="$tmp/faults"
MUE_FAULT="crash:${ids[0]},hang:${ids[5]},nan:${ids[4]},garbage:${ids[9]}" \
  "$mue" sweep "$spec" --out "$d" --jobs 2 --fuse off >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || { cat "$tmp/err"; fail "fault sweep rc=$rc, want 0"; }
journal_complete "$d"
[ "$(status_of "$d" "${ids[0]}")" = failed ] && grep "\"id\":\"${ids[0]}\"" "$d/trials.jsonl" | grep -q "signal 6" \
  || fail "crash: $(status_of "$d" "${ids[0]}"), want failed by signal 6"
grep "\"id\":\"${ids[0]}\"" "$d/trials.jsonl" | grep -q "MUE_FAULT crash" || fail "crash: no log tail in the record"
[ "$(status_of "$d" "${ids[5]}")" = timeout ] || fail "hang: $(status_of "$d" "${ids[5]}"), want timeout"
[ "$(status_of "$d" "${ids[4]}")" = diverged ] || fail "nan: $(status_of "$d" "${ids[4]}"), want diverged"
[ "$(status_of "$d" "${ids[9]}")" = failed ] || fail "garbage: $(status_of "$d" "${ids[9]}"), want failed"
[ "$(grep -c '"status":"ok"' "$d/trials.jsonl")" -eq 6 ] || fail "want 6 ok trials"
grep -q '"schema": "mue.sweep/1"' "$d/sweep.json" && grep -q '"excluded": 4' "$d/sweep.json" \
  || fail "sweep.json missing or does not count 4 excluded trials"
grep -q "sweep.json" "$tmp/out" || fail "the sweep does not say where sweep.json is"
if command -v gnuplot >/dev/null; then
  grep -q "<svg" "$d/plots/loss_vs_lr.svg" && grep -q "diverged / failed" "$d/plots/loss_vs_lr.svg" \
    || fail "no plot, or the plot does not mark the failed trials"
fi
pgrep -f "$d/" >/dev/null && fail "trial processes of the fault sweep are still running"

# 2. muE fit DIR rebuilds the same report from the journal alone.
cp "$d/sweep.json" "$tmp/before.json"
rm "$d/sweep.json" "$d/plots/loss_vs_lr.svg"
"$mue" fit "$d" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && [ -s "$d/sweep.json" ] || { cat "$tmp/err"; fail "fit DIR rc=$rc"; }
opt() { sed -n '/"optimum"/,$p' "$1" | grep -m1 '"value"'; }
[ "$(opt "$d/sweep.json")" = "$(opt "$tmp/before.json")" ] || fail "fit DIR gives another optimum"
"$mue" fit "$tmp/nope" 2>/dev/null; [ $? -eq 2 ] || fail "fit on a missing directory: want exit 2"

# 3. SIGTERM: children stopped, exit 128+15, journal resumable; the resume completes it.
d="$tmp/term"
"$mue" sweep "$spec" --out "$d" --jobs 2 --fuse off >/dev/null 2>"$tmp/err" &
pid=$!
for _ in $(seq 300); do [ "$(lines "$d/trials.jsonl")" -ge 2 ] && break; sleep 0.05; done
kill -TERM $pid; wait $pid; rc=$?
[ $rc -eq 143 ] && grep -q "resume" "$tmp/err" || { cat "$tmp/err"; fail "SIGTERM: rc=$rc, want 143 and a resume hint"; }
sleep 0.2
pgrep -f "$d/" >/dev/null && fail "SIGTERM left trial processes running"
"$mue" sweep "$spec" --out "$d" --fuse off >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; fail "resume after SIGTERM failed"; }
journal_complete "$d"

# 4. SIGKILL mid-run: no orphans; the re-run finishes every point once and re-runs nothing
#    that was journaled (its log file is untouched).
d="$tmp/kill"
"$mue" sweep "$spec" --out "$d" --jobs 2 --fuse off >/dev/null 2>&1 &
pid=$!
for _ in $(seq 300); do [ "$(lines "$d/trials.jsonl")" -ge 3 ] && break; sleep 0.05; done
kill -KILL $pid; wait $pid 2>/dev/null
sleep 0.3
pgrep -f "$d/" >/dev/null && fail "SIGKILL left orphaned trial processes"
before=$(wc -l <"$d/trials.jsonl")
[ "$before" -ge 3 ] && [ "$before" -lt $n ] || fail "SIGKILL came at a bad time ($before journaled); test inconclusive"
declare -A stamp
for id in $(sed 's/.*"id":"\([0-9a-f]*\)".*/\1/' "$d/trials.jsonl"); do stamp[$id]=$(stat -c %Y.%y "$d/logs/$id.log"); done
sleep 1
"$mue" sweep "$spec" --out "$d" --fuse off >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; fail "resume after SIGKILL failed"; }
journal_complete "$d"
for id in "${!stamp[@]}"; do
  [ "$(stat -c %Y.%y "$d/logs/$id.log")" = "${stamp[$id]}" ] || fail "journaled trial $id ran again after SIGKILL"
done

[ $fails -eq 0 ] && echo "sweep faults: ok"
exit $fails
