#!/usr/bin/env bash
# Exit codes and messages outside the bad-fixture table.
set -u
mue=$1 fixtures=$2
fails=0
expect() {  # expect RC PATTERN -- command...
  local want=$1 pattern=$2; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: '$*' -> exit $rc (want $want), output:" >&2; echo "$out" >&2; fails=$((fails + 1))
  else
    echo "ok: '$*' -> exit $rc"
  fi
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

expect 2 "subcommand is required" -- "$mue"
# Size limits: refused with the count before anything is planned (memory stays bounded:
# planning 10^8 trials would need tens of GB; the limit keeps it under ~1 GB of address space).
${MUE_PYTHON:-python3} - "$fixtures/good/sweep.json" "$tmp" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["axes"] = {"lr": {"log2_grid": [-20, -10.01, 0.01]}, "init_std": {"log2_grid": [-20, -10.01, 0.01]}}
json.dump(s, open(sys.argv[2] + "/huge-grid.json", "w"))
s["axes"] = {"lr": {"log2_grid": [-20, -10.01, 0.01]}}
s["seeds"] = 1000
json.dump(s, open(sys.argv[2] + "/huge-seeds.json", "w"))
PY
expect 2 "/axes: grid has 1000000 points; at most 100000" -- \
  bash -c "ulimit -v 1000000; exec '$mue' sweep '$tmp/huge-grid.json' --dry-run"
expect 2 "/seeds: the sweep has 1000 grid points × 1000 seeds = 1000000 trials; at most 100000 per run" -- \
  bash -c "ulimit -v 1000000; exec '$mue' sweep '$tmp/huge-seeds.json' --dry-run"
expect 2 "nosuch" -- "$mue" nosuch
expect 2 "required" -- "$mue" sweep
expect 2 "does not exist" -- "$mue" validate "$tmp/missing.json"
expect 2 "is a directory" -- "$mue" validate "$tmp"
expect 2 "this is a config file, but a sweep spec is expected" -- \
  "$mue" sweep "$fixtures/misc/config-not-sweep.json" --out "$tmp/run"
expect 2 "this is a sweep spec file, but a targets" -- \
  "$mue" transfer --reference "$fixtures/good/config.json" --targets "$fixtures/good/sweep.json"
# Several files: every one is reported, the exit code says any failed.
expect 2 "good/config.json: ok \(config\)" -- \
  "$mue" validate "$fixtures/good/config.json" "$fixtures/bad/negative-lr.json"
expect 2 "bad/negative-lr.json: /hparams/lr: must be > 0" -- \
  "$mue" validate "$fixtures/good/config.json" "$fixtures/bad/negative-lr.json"
expect 0 '"pointer": "/model/ffn/active"|"ok": true' -- \
  "$mue" --json validate "$fixtures/good/config.json"
expect 2 '"pointer": "/targets/0/model/ffn/active"' -- \
  "$mue" --json validate "$fixtures/bad/active-gt-experts.json"
expect 0 "^$" -- "$mue" --quiet validate "$fixtures/good/config.json"
expect 2 "log-level" -- "$mue" --log-level loud validate "$fixtures/good/config.json"
# verify reads transfer reports only: a config is refused at /schema.
expect 2 'config.json: /schema: missing: expected "mue.transfer/1"' -- \
  "$mue" verify "$fixtures/good/config.json" --out "$tmp/run2"
# A renormalized gate with one selected expert cannot train its router: valid, but warned
# about by validate (at the target's ffn) and transfer; the shipped targets hold no such router.
cat >"$tmp/frozen.json" <<'EOF'
{"targets": [{"name": "ok", "model": {"ffn": {"kind": "moe", "layout": "8e2a", "d_expert": 16}}},
             {"name": "top1", "model": {"ffn": {"kind": "moe", "layout": "8e1a", "d_expert": 16}}}]}
EOF
expect 0 "warning: .*frozen.json: /targets/1/model/ffn: 8e1a: a = 1 under the renormalized gate 'sigmoid_renorm'" -- \
  "$mue" validate "$tmp/frozen.json"
expect 0 "warning: top1: 8e1a: a = 1 under the renormalized" -- \
  "$mue" transfer --reference "$fixtures/good/config.json" --targets "$tmp/frozen.json" --out "$tmp/frozen-t.json"
expect 2 "targets × 1 axes × 100001 points × 100 seeds = [0-9]+ trials; at most 100000 per run" -- \
  "$mue" verify "$tmp/frozen-t.json" --out "$tmp/vhuge" --points 100001 --seeds 100
out=$("$mue" validate "$fixtures/../../sweeps/moe-targets.json" 2>&1)
grep -q "warning" <<<"$out" && { echo "FAIL: sweeps/moe-targets.json: $out" >&2; fails=$((fails + 1)); }
expect 0 '"status":"ok"' -- "$mue" trial --spec "$fixtures/good/trial.json"
expect 2 "<stdin>: /config: required field is missing" -- "$mue" trial <"$fixtures/good/config.json"
exit $fails
