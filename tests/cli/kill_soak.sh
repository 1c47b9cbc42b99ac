#!/usr/bin/env bash
# Kill soak (README "Guarantees"): SIGKILL a sweep at 10 seeded random moments (launch,
# training, journal writes, fit, report write), resuming after each; then the same for verify
# and for `muE fit` alone. After every kill: the journal parses (a torn last line at most),
# no finished trial is lost (every id journaled before is still there), none is journaled twice
# (retry lines aside); at the end every planned trial is there once and the report is valid.
# usage: kill_soak.sh MUE ROOT [SEED]
set -u
mue=$1 root=$2 seed=${3:-1}
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
tmp=$(mktemp -d); trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
RANDOM=$seed
sed -e 's/"steps": 200/"steps": 40/' -e 's/"every": 50/"every": 10/' \
  "$root/sweeps/tiny-cpu.json" >"$tmp/s.json"
# check DIR LABEL: the journal's invariants against the ids seen before (DIR/.seen).
check() {
  ${MUE_PYTHON:-python3} - "$1" "$2" <<'PY' || fail "$2"
import json, os, sys
d, label = sys.argv[1], sys.argv[2]
path = os.path.join(d, "trials.jsonl")
lines = open(path).read().split("\n") if os.path.exists(path) else []
rows = []
for i, l in enumerate(lines):
    if not l.strip():
        continue
    try:
        rows.append(json.loads(l))
    except ValueError:
        assert i == len(lines) - 1 or (i == len(lines) - 2 and not lines[-1]), f"{label}: damaged line {i + 1}"
final = [r["id"] for r in rows if not r.get("retry")]
dups = len(final) - len(set(final))
assert dups == 0, f"{label}: {dups} trials journaled twice"
seen_file = os.path.join(d, ".seen")
before = set(open(seen_file).read().split()) if os.path.exists(seen_file) else set()
lost = before - set(final)
assert not lost, f"{label}: {len(lost)} finished trials lost"
open(seen_file, "w").write("\n".join(sorted(set(final))))
print(f"{label}: {len(set(final))} trials journaled, 0 lost, 0 duplicates")
PY
}
kill_at() {  # kill_at SECONDS -- command...: run it, SIGKILL it after SECONDS (if still running)
  local t=$1; shift 2
  "$@" >/dev/null 2>&1 &
  local pid=$!
  sleep "$t"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

kills=0
for i in $(seq 10); do
  t=$((RANDOM % 8 + 1)).$((RANDOM % 1000))
  kill_at "$t" -- "$mue" -q sweep "$tmp/s.json" --out "$tmp/D" --jobs 2
  kills=$((kills + 1))
  check "$tmp/D" "sweep kill $i at ${t}s"
done
"$mue" -q sweep "$tmp/s.json" --out "$tmp/D" --jobs 2 >/dev/null 2>&1 || fail "the final sweep"
check "$tmp/D" "sweep final"
${MUE_PYTHON:-python3} -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["counts"]["ok"] == 18 and r["counts"]["planned"] == 18, r["counts"]' "$tmp/D/sweep.json" ||
  fail "sweep.json is not valid with 18 trials"
# fit alone: killed within its first 200 ms (reading, fitting, writing the report).
for i in $(seq 5); do
  t=0.$((RANDOM % 200 + 10))
  kill_at "$t" -- "$mue" -q fit "$tmp/D"
  kills=$((kills + 1))
  ${MUE_PYTHON:-python3} -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp/D/sweep.json" ||
    fail "sweep.json damaged by a kill of fit at ${t}s"
done

# verify: the same, 5 kills.
"$mue" -q transfer --reference "$tmp/D/sweep.json" --targets "$root/sweeps/moe-targets.json" \
  --out "$tmp/t.json" >/dev/null || fail "transfer"
for i in $(seq 5); do
  t=$((RANDOM % 8 + 1)).$((RANDOM % 1000))
  kill_at "$t" -- "$mue" -q verify "$tmp/t.json" --out "$tmp/V" --targets moe-8e2a,moe-8e2a1s --points 3
  kills=$((kills + 1))
  check "$tmp/V" "verify kill $i at ${t}s"
done
"$mue" -q verify "$tmp/t.json" --out "$tmp/V" --targets moe-8e2a,moe-8e2a1s --points 3 >/dev/null 2>&1
rc=$?
[ "$rc" -le 1 ] || fail "the final verify: exit $rc"
check "$tmp/V" "verify final"
${MUE_PYTHON:-python3} -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert len(v["cases"]) == 2, v["cases"]' "$tmp/V/verify.json" || fail "verify.json is not valid"
[ "$fails" -eq 0 ] && echo "ok: $kills SIGKILLs (seed $seed): 0 finished trials lost, 0 duplicates, reports valid"
exit "$fails"
