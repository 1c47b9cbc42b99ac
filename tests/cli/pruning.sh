#!/usr/bin/env bash
# Pruning end to end (README "Early stopping"): a sweep with the median pruner stops trials
# that are clearly worse at the same step, journals them as "pruned" with the reason and
# their curve so far; the report keeps them (counts.pruned, points) and the fit leaves them
# out; the same command again trains nothing (a decision, not a failure); a spec asking for
# packs still runs pruned trials alone.
set -u
mue=$1 root=$2
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
py=${MUE_PYTHON:-python3}
$py - "$root/sweeps/tiny-cpu.json" "$tmp/s.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["name"] = "prune"
s["train"]["steps"] = 60
s["train"]["eval"] = {"every": 10, "batches": 2}
s["hparams"]["init_std"] = 0.01
s["axes"] = {"lr": {"log2_grid": [-11, -1, 1]}}
s["pruner"] = {"kind": "median", "warmup_evals": 1, "min_trials": 3}
json.dump(s, open(sys.argv[2], "w"))
PY
"$mue" sweep "$tmp/s.json" --out "$tmp/D" --jobs 1 --fuse 4 >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "sweep failed"; }
grep -q "pruned (median pruner: best validation loss" "$tmp/err" || { cat "$tmp/err"; fail "no pruned line"; }
$py - "$tmp/D" <<'PY' || fail "journal/report of the pruned trials"
import json, os, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(d, "trials.jsonl")) if l.strip()]
pruned = [r for r in rows if r["status"] == "pruned"]
assert len(rows) == 11 and len({r["id"] for r in rows}) == 11, len(rows)
assert 1 <= len(pruned) <= 8, len(pruned)
for r in pruned:
    assert "median pruner" in r["error"] and r["curve"], r
    assert r["curve"][-1]["step"] < 60 and r.get("objective") is None, r["curve"][-1]
rep = json.load(open(os.path.join(d, "sweep.json")))
assert rep["counts"]["pruned"] == len(pruned), rep["counts"]
ok = sum(r["status"] == "ok" for r in rows)
assert rep["counts"]["ok"] == ok, (rep["counts"], ok)
assert rep["environment"]["pruner"]["kind"] == "median"
assert rep["environment"]["fuse"]["k"] == 1, rep["environment"]["fuse"]
statuses = [t["status"] for p in rep["points"] for t in p["trials"]]
assert statuses.count("pruned") == len(pruned)
assert rep["fit"]["used_points"] <= ok, rep["fit"]
PY
n=$(grep -c . "$tmp/D/trials.jsonl")
"$mue" -q sweep "$tmp/s.json" --out "$tmp/D" --jobs 1 || fail "re-run failed"
[ "$(grep -c . "$tmp/D/trials.jsonl")" -eq "$n" ] || fail "the re-run trained pruned trials again"
[ "$fails" -eq 0 ] && echo "ok: pruned trials journaled with their reason, kept out of the fit, not re-run"
exit "$fails"
