#!/usr/bin/env bash
# A text-data run through every hop (issue 15): a sweep spec names "corpus.txt" beside itself;
# sweep -> transfer --emit-configs -> verify -> train an emitted config from another working
# directory must all read that file. A missing data file is bad input (exit 2, the file and
# the field named, nothing written) in sweep, verify, train and transfer --emit-configs.
# usage: real_data.sh MUE ROOT
set -u
mue=$1 root=$2
fails=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
py=${MUE_PYTHON:-python3}

# A slice of the real corpus (scripts/corpus builds it; CI's scripts/install-deps runs that).
corpus="$root/data/fortunes.txt"
if [ ! -s "$corpus" ]; then
  corpus="$tmp/fortunes.txt"
  "$root/scripts/corpus" "$corpus" >/dev/null || {
    echo "FAIL: no corpus: $root/data/fortunes.txt is missing and scripts/corpus could not build it" \
         "(install the Debian package 'fortunes': scripts/install-deps)" >&2
    exit 1
  }
fi
w="$tmp/work"
mkdir -p "$w/specs" "$w/targets"
head -c 200000 "$corpus" >"$w/specs/corpus.txt"
head -c 100000 "$corpus" | tail -c 60000 >"$w/targets/other.txt"

model='"vocab": 256, "d_model": 32, "n_layers": 1, "n_heads": 2, "seq_len": 32, "ffn": {"kind": "dense", "d_ff": 32}'
train='"batch_size": 8, "steps": 20, "eval": {"every": 10, "batches": 2}, "seed": 0'
sweep() {  # sweep FILE DATA_PATH
  cat >"$1" <<EOF
{"name": "real-data", "model": {$model},
 "train": {$train, "data": {"kind": "text", "path": "$2", "val_fraction": 0.1}},
 "hparams": {"wd": 0.1, "init_std": 0.02}, "axes": {"lr": [0.004, 0.016]}, "seeds": 1}
EOF
}
sweep "$w/specs/sweep.json" corpus.txt
# Targets in another folder: one of them names its own data, beside the targets file.
cat >"$w/targets/targets.json" <<'EOF'
{"targets": [
  {"name": "width-2x", "model": {"d_model": 64}},
  {"name": "moe-4e2a", "model": {"ffn": {"kind": "moe", "layout": "4e2a", "d_expert": 32}}},
  {"name": "own-data", "train": {"data": {"kind": "text", "path": "other.txt", "val_fraction": 0.2}}}
]}
EOF

# 1. The hops, run from the work folder with relative names as the README does.
cd "$w" || exit 1
"$mue" -q sweep specs/sweep.json --out runs/ref 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && ok "sweep on corpus.txt beside the spec" || { cat "$tmp/err"; fail "sweep rc=$rc"; }
[ "$(grep -c '"status":"ok"' runs/ref/trials.jsonl 2>/dev/null)" = 2 ] || fail "sweep: want 2 ok trials"
"$mue" -q transfer --reference runs/ref/sweep.json --targets targets/targets.json \
  --out runs/transfer.json --emit-configs runs/configs 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && ok "transfer --emit-configs" || { cat "$tmp/err"; fail "transfer rc=$rc"; }
$py - "$w" <<'PY' && ok "reports and configs name the data files absolutely" || fail "data paths in reports"
import json, os, sys
w = sys.argv[1]
spec, other = os.path.join(w, "specs/corpus.txt"), os.path.join(w, "targets/other.txt")
ref = json.load(open(os.path.join(w, "runs/ref/sweep.json")))
assert ref["reference"]["train"]["data"]["path"] == spec, ref["reference"]["train"]["data"]
assert json.load(open(os.path.join(w, "runs/ref/spec.json")))["train"]["data"]["path"] == spec
with open(os.path.join(w, "runs/transfer.json")) as f:
    report = json.loads(f.read())
want = {"width-2x": spec, "moe-4e2a": spec, "own-data": other}
for t in report["targets"]:
    assert t["train"]["data"]["path"] == want[t["name"]], (t["name"], t["train"]["data"])
    c = json.load(open(os.path.join(w, "runs/configs", t["name"] + ".json")))
    assert c["train"]["data"]["path"] == want[t["name"]], (t["name"], c["train"]["data"])
    assert c["reference"]["train"]["data"]["path"] == spec
PY
"$mue" verify runs/transfer.json --out runs/verify --points 3 --step 1 >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -le 1 ] || { cat "$tmp/err"; fail "verify rc=$rc"; }
$py - runs/verify <<'PY' && ok "verify: every trial trained (rc=$rc)" || { cat "$tmp/out"; fail "verify trials failed"; }
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/trials.jsonl")]
assert len(rows) == 9, len(rows)
bad = [(r["status"], r.get("error")) for r in rows if r["status"] in ("failed", "timeout")]
assert not bad, bad
v = json.load(open(sys.argv[1] + "/verify.json"))
assert all(c["empirical"] is not None for c in v["cases"]), [c["message"] for c in v["cases"]]
PY
(cd / && "$mue" -q train "$w/runs/configs/moe-4e2a.json" --out "$tmp/moe.json") 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && grep -q '"status": "ok"' "$tmp/moe.json" && ok "an emitted config trains from /" \
  || { cat "$tmp/err"; fail "train from / rc=$rc"; }
(cd / && "$mue" -q train "$w/runs/configs/own-data.json" --out "$tmp/own.json") 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && ok "a target's own data (beside the targets file) trains from /" \
  || { cat "$tmp/err"; fail "train own-data from / rc=$rc"; }

# 2. A missing data file: exit 2 naming FILE: POINTER: cannot open data file, nothing written.
expect_missing() {  # expect_missing LABEL OUT FILE POINTER MISSING -- CMD...
  local label=$1 out=$2 file=$3 pointer=$4 missing=$5; shift 6
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -ne 2 ] || ! grep -qF "$file: $pointer: cannot open data file '$missing': No such file" "$tmp/err"; then
    cat "$tmp/err" >&2; fail "$label: rc=$rc, want 2 naming '$file: $pointer: cannot open data file '$missing''"
  elif [ -e "$out" ]; then
    fail "$label: $out written despite the error"
  else
    ok "$label: missing data -> 2 at $pointer"
  fi
}
sweep "$w/specs/missing.json" nothing.txt
expect_missing sweep runs/missing specs/missing.json /train/data/path "$w/specs/nothing.txt" -- \
  "$mue" sweep specs/missing.json --out runs/missing

mv specs/corpus.txt specs/corpus.away
expect_missing verify runs/verify-missing runs/transfer.json /targets/0/train/data/path "$w/specs/corpus.txt" -- \
  "$mue" verify runs/transfer.json --out runs/verify-missing --points 3 --step 1
expect_missing train "$tmp/r.json" "$w/runs/configs/width-2x.json" /train/data/path "$w/specs/corpus.txt" -- \
  bash -c "cd / && '$mue' train '$w/runs/configs/width-2x.json' --out '$tmp/r.json'"
expect_missing "transfer --emit-configs (the reference's data)" runs/t-missing.json runs/ref/sweep.json \
  /reference/train/data/path "$w/specs/corpus.txt" -- \
  "$mue" transfer --reference runs/ref/sweep.json --targets targets/targets.json \
  --out runs/t-missing.json --emit-configs runs/configs-missing
[ -e runs/configs-missing ] && fail "transfer --emit-configs: configs written despite the error"
# Without --emit-configs transfer only computes tables: it does not need the data.
"$mue" -q transfer --reference runs/ref/sweep.json --targets targets/targets.json --out runs/t-nodata.json \
  && ok "transfer without --emit-configs does not read the data" || fail "transfer without configs failed"
mv specs/corpus.away specs/corpus.txt

mv targets/other.txt targets/other.away
expect_missing "transfer --emit-configs (a target's data)" runs/t-missing.json targets/targets.json \
  /targets/2/train/data/path "$w/targets/other.txt" -- \
  "$mue" transfer --reference runs/ref/sweep.json --targets targets/targets.json \
  --out runs/t-missing.json --emit-configs runs/configs-missing
mv targets/other.away targets/other.txt

# 3. A data file too small for one window of seq_len + 2 tokens: exit 2 before any trial.
head -c 100 specs/corpus.txt >specs/tiny.txt
sweep "$w/specs/tiny.json" tiny.txt
"$mue" sweep specs/tiny.json --out runs/tiny >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 2 ] && grep -qF "specs/tiny.json: /train/data/path: the validation split of this data file has 10 tokens" "$tmp/err" \
  && [ ! -e runs/tiny/trials.jsonl ]; then ok "too small a corpus -> 2 before any trial"
else cat "$tmp/err" >&2; fail "too small a corpus: rc=$rc, want 2 naming /train/data/path"; fi

[ $fails -eq 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "all real-data checks passed"
