#!/usr/bin/env bash
# Adaptive search end to end (README "Adaptive search"), on a synthetic bowl with a known
# bottom (tests/fixtures/adaptive/bowl.py through the command backend, log2 lr = -6.3):
# the fitted optimum within 0.25 log2 of it and its CI covering it with at most a third of
# the grid's trials; a re-run trains nothing; `muE fit DIR` replays the same rounds; a
# SIGKILL mid-search resumes to exactly the trials an uninterrupted search trains; `muE verify
# --search adaptive` trains part of each case's lattice.
set -u
mue=$1 root=$2
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
spec="$root/tests/fixtures/adaptive/sweep.json"
py=${MUE_PYTHON:-python3}
ids() { $py -c 'import json,sys; print(" ".join(sorted(json.loads(l)["id"] for l in open(sys.argv[1]) if l.strip())))' "$1"; }
lines() { grep -c . "$1"; }

# 0. --dry-run names the search and the first round.
"$mue" sweep "$spec" --dry-run >"$tmp/dry" || fail "dry run failed"
grep -q "adaptive search over a lattice of 53 points × 2 seed(s) = 106 trials; round 0 trains 16" "$tmp/dry" \
  || { cat "$tmp/dry"; fail "dry run does not describe the search"; }

# 1. The search, uninterrupted.
"$mue" sweep "$spec" --out "$tmp/A" --jobs 2 >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "adaptive sweep failed"; }
$py - "$tmp/A/sweep.json" <<'PY' || fail "adaptive sweep.json"
import json, math, sys
j = json.load(open(sys.argv[1]))
s, lr = j["search"], j["optimum"]["axes"]["lr"]
assert s["kind"] == "adaptive" and s["stopped"] in ("ci", "lattice"), s["stopped"]
assert 3 * s["trials"] <= s["grid_trials"] == 106, (s["trials"], s["grid_trials"])
assert abs(math.log2(lr["value"]) + 6.3) <= 0.25, lr
assert math.log2(lr["ci_low"]) <= -6.3 <= math.log2(lr["ci_high"]), lr
assert len(s["rounds"]) >= 2 and s["rounds"][0]["spacing_log2"]["lr"] == 2.0
assert j["counts"]["ok"] == s["trials"]
PY
grep -q "adaptive search: [0-9]* round(s), [0-9]* of the grid's 106 trials (ci\|lattice)" "$tmp/out" \
  || { cat "$tmp/out"; fail "no adaptive summary line"; }
n=$(lines "$tmp/A/trials.jsonl")
[ "$(ids "$tmp/A/trials.jsonl" | wc -w)" -eq "$n" ] || fail "a trial journaled twice"

# 2. The same command again trains nothing; 3. muE fit DIR replays the same search.
"$mue" -q sweep "$spec" --out "$tmp/A" --jobs 2 || fail "re-run failed"
[ "$(lines "$tmp/A/trials.jsonl")" -eq "$n" ] || fail "the re-run trained again"
cp "$tmp/A/sweep.json" "$tmp/before.json"
"$mue" -q fit "$tmp/A" || fail "fit DIR failed"
$py - "$tmp/before.json" "$tmp/A/sweep.json" <<'PY' || fail "fit DIR disagrees with the sweep"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["optimum"] == b["optimum"] and a["search"] == b["search"], (a["optimum"], b["optimum"])
PY

# 4. SIGKILL during the search (each trial sleeps 0.3 s), then resume: the same trials.
BOWL_SLEEP=0.3 "$mue" -q sweep "$spec" --out "$tmp/K" --jobs 2 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 300); do [ -f "$tmp/K/trials.jsonl" ] && [ "$(lines "$tmp/K/trials.jsonl")" -ge 19 ] && break; sleep 0.1; done
kill -KILL $pid; wait $pid 2>/dev/null
[ "$(lines "$tmp/K/trials.jsonl")" -lt "$n" ] || fail "the kill came too late to test anything"
"$mue" -q sweep "$spec" --out "$tmp/K" --jobs 2 >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; fail "resume failed"; }
[ "$(ids "$tmp/K/trials.jsonl")" = "$(ids "$tmp/A/trials.jsonl")" ] \
  || fail "resumed search trained other trials than the uninterrupted one (or some twice)"
# 5. muE verify --search adaptive: each case trains a subset of its 17-point lattice, the
#    report says so and counts every round's trials; the same command again trains nothing.
fx="$root/tests/fixtures"
"$mue" -q transfer --reference "$fx/verify/reference.json" --targets "$fx/verify/targets.json" --out "$tmp/t.json"
"$mue" -q verify "$tmp/t.json" --out "$tmp/V" --points 17 --step 0.25 --search adaptive; rc=$?
[ $rc -le 1 ] || fail "verify --search adaptive: exit $rc"
"$mue" -q verify "$tmp/t.json" --out "$tmp/V" --points 17 --step 0.25 --search adaptive >/dev/null; rc2=$?
[ $rc2 -eq $rc ] || fail "verify re-run: exit $rc2, first run $rc"
$py - "$tmp/V/verify.json" <<'PY' || fail "verify --search adaptive report"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["search"] == "adaptive"
assert v["trials"]["run"] == 0 and v["trials"]["reused"] == v["trials"]["planned"], v["trials"]
assert v["trials"]["planned"] < 2 * 17, v["trials"]
for c in v["cases"]:
    tried = sum(g["objective"] is not None for g in c["grid"])
    assert 3 <= tried < 17, (c["target"], tried)
PY
[ "$fails" -eq 0 ] && echo "ok: adaptive search finds the bowl's bottom with $n of 106 trials, resumes exactly; verify --search adaptive"
exit "$fails"
