#!/usr/bin/env bash
# A run whose first trials all fail the same way before training (README "Guarantees") stops
# launching after jobs + 1 of them, says why, exits 3 (2 when each was an input error), and
# journals those trials to run again; after the fix the same command runs every trial once.
set -u
mue=$1 root=$2
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sed -e 's/"steps": 200/"steps": 30/' -e 's/"every": 50/"every": 10/' \
  "$root/sweeps/tiny-cpu.json" >"$tmp/s.json"
last_status() {  # last_status JOURNAL: "<ids> <ok>" from the last line per id
  ${MUE_PYTHON:-python3} -c '
import json, sys
last = {}
for l in open(sys.argv[1]):
    if l.strip():
        r = json.loads(l); last[r["id"]] = r
print(len(last), sum(r["status"] == "ok" for r in last.values()))' "$1"
}

# 1. Every trial process crashes at start (MUE_FAULT crash on every trial-id prefix): exit 3
#    after jobs + 1 = 3 failures, the rest never started.
all=$(for c in 0 1 2 3 4 5 6 7 8 9 a b c d e f; do printf 'crash:%s,' "$c"; done)
out=$(MUE_FAULT=${all%,} "$mue" sweep "$tmp/s.json" --out "$tmp/D" --jobs 2 --fuse off 2>&1); rc=$?
[ "$rc" -eq 3 ] || fail "crashing trials: exit $rc (want 3)"
grep -q "the first 3 trial processes failed the same way before training a step, so no more were started" \
  <<<"$out" || fail "no systematic-failure message: $out"
grep -q "died from signal 6" <<<"$out" || fail "the message does not give the cause: $out"
read -r ids ok <<<"$(last_status "$tmp/D/trials.jsonl")"
[ "$ids" -le 4 ] && [ "$ok" -eq 0 ] || fail "after the stop: $ids trials journaled (want <= 4), $ok ok"
[ ! -e "$tmp/D/sweep.json" ] || fail "a sweep.json was written after the systematic failure"
# After the fix, the same command runs all 18, each once.
"$mue" -q sweep "$tmp/s.json" --out "$tmp/D" --jobs 2 --fuse off >/dev/null 2>&1 || fail "the resumed sweep failed"
read -r ids ok <<<"$(last_status "$tmp/D/trials.jsonl")"
[ "$ids" -eq 18 ] && [ "$ok" -eq 18 ] || fail "after the fix: $ids trials, $ok ok (want 18, 18)"

# 2. An input error inside every trial (token ids past the vocabulary): exit 2 with it.
${MUE_PYTHON:-python3} -c '
import struct, sys
open(sys.argv[1], "wb").write(struct.pack("<4000H", *([300] * 4000)))' "$tmp/bad.bin"
${MUE_PYTHON:-python3} - "$tmp/s.json" "$tmp/bad.json" "$tmp/bad.bin" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["train"]["data"] = {"kind": "bin", "path": sys.argv[3], "val_fraction": 0.1}
json.dump(s, open(sys.argv[2], "w"))
PY
out=$("$mue" sweep "$tmp/bad.json" --out "$tmp/B" --jobs 2 --fuse off 2>&1); rc=$?
[ "$rc" -eq 2 ] || fail "out-of-vocabulary tokens: exit $rc (want 2): $out"
grep -q "failed the same way before training a step" <<<"$out" || fail "no early stop: $out"
grep -qi "vocab" <<<"$out" || fail "the cause is not named: $out"
[ "$fails" -eq 0 ] && echo "ok: systematic failures stop early (exit 3 / 2) and resume to every trial once"
exit "$fails"
