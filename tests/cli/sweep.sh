#!/usr/bin/env bash
# muE sweep end to end: parallel trials, journal, resume, torn line, changed spec, fit failure.
set -u
mue=$1 fx=$2
fails=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
d="$tmp/run"

"$mue" sweep "$fx/good/sweep-4.json" --out "$d" --dry-run >"$tmp/out"; rc=$?
[ $rc -eq 0 ] && grep -q "4 trials" "$tmp/out" && [ ! -e "$d" ] || fail "dry run: rc=$rc or it wrote $d"

"$mue" sweep "$fx/good/sweep-4.json" --out "$d" --jobs 2 --fuse off >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || { cat "$tmp/err"; fail "sweep rc=$rc"; }
[ "$(wc -l <"$d/trials.jsonl")" -eq 4 ] || fail "journal has $(wc -l <"$d/trials.jsonl") lines, want 4"
# One log per trial (beside the warm trial server's own, logs/trial-server.log).
[ "$(ls "$d/logs" | grep -vc '^trial-server\.log$')" -eq 4 ] && [ -f "$d/logs/trial-server.log" ] || fail "want 4 trial logs and the server's"
grep -q '"schema": "mue.sweep/1"' "$d/sweep.json" || fail "no sweep.json"
"$mue" -q transfer --reference "$d/sweep.json" --targets "$fx/good/targets.json" --out "$tmp/t.json" 2>/dev/null \
  || fail "transfer cannot read the sweep report"

# Resume: nothing re-runs (no new journal line, no log rewritten).
before=$(stat -c %Y "$d"/logs/* | sort | tail -1)
sleep 1
"$mue" sweep "$fx/good/sweep-4.json" --out "$d" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && grep -q "4 already in the journal" "$tmp/err" || fail "resume: rc=$rc"
[ "$(wc -l <"$d/trials.jsonl")" -eq 4 ] || fail "resume re-ran trials"
[ "$(stat -c %Y "$d"/logs/* | sort | tail -1)" = "$before" ] || fail "resume rewrote a trial log"

# A torn last line (killed mid-append) is ignored and that trial runs again.
head -n 3 "$d/trials.jsonl" >"$tmp/j" && tail -n 1 "$d/trials.jsonl" | head -c 40 >>"$tmp/j" && cp "$tmp/j" "$d/trials.jsonl"
"$mue" sweep "$fx/good/sweep-4.json" --out "$d" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && grep -q "torn" "$tmp/err" && grep -q "3 already in the journal" "$tmp/err" || { cat "$tmp/err"; fail "torn line: rc=$rc"; }
# ... and the journal stays whole: the fragment is cut before the next result is appended.
"$mue" fit "$d" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; fail "fit after a torn line"; }
[ "$(wc -l <"$d/trials.jsonl")" -eq 4 ] || fail "journal after a torn line: $(wc -l <"$d/trials.jsonl") lines, want 4"

# Another spec in the same directory is refused, and nothing there changes.
sed 's/"steps": 10/"steps": 12/' "$fx/good/sweep-4.json" >"$tmp/other.json"
"$mue" sweep "$tmp/other.json" --out "$d" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "different spec" "$tmp/err" || fail "changed spec: rc=$rc, want 2"

# Every trial diverged: exit 1 with a message, journal kept.
"$mue" sweep "$fx/good/sweep-all-diverge.json" --out "$tmp/div" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no usable trial" "$tmp/err" && [ "$(wc -l <"$tmp/div/trials.jsonl")" -eq 2 ] \
  || { cat "$tmp/err"; fail "all diverged: rc=$rc, want 1"; }
# --dry-run needs no --out (it writes nothing); a real sweep does.
"$mue" sweep "$fx/good/sweep-4.json" --dry-run >"$tmp/out" 2>"$tmp/err" && grep -q "trials" "$tmp/out" \
  || { cat "$tmp/err"; fail "--dry-run without --out"; }
"$mue" sweep "$fx/good/sweep-4.json" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--out is required" "$tmp/err" || { cat "$tmp/err"; fail "no --out: rc=$rc, want 2"; }
[ $fails -eq 0 ] && echo "sweep: ok"
exit $fails
