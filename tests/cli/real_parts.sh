#!/usr/bin/env bash
# docs/method.md §11: every part of released MoE models that sweeps/real-parts-targets.json
# carries can be written in a targets file, transfers with a traced rule id, and trains on
# the CPU (a few steps of each emitted config), with router losses reported apart from the
# cross-entropy objective.
set -u
mue=$1 root=$2
targets=$root/sweeps/real-parts-targets.json
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

"$mue" validate "$targets" >"$tmp/validate.txt" 2>&1 || fail "validate: $(cat "$tmp/validate.txt")"
# A short reference (8 steps) so each target trains in seconds.
sed -e 's/"steps": 200/"steps": 8/' -e 's/"every": 50/"every": 4/' \
  "$root/sweeps/tiny-reference.json" >"$tmp/ref.json"
"$mue" transfer --reference "$tmp/ref.json" --targets "$targets" --out "$tmp/t.json" \
  --emit-configs "$tmp/configs" >"$tmp/transfer.txt" 2>&1 || fail "transfer: $(cat "$tmp/transfer.txt")"
"$mue" explain "$tmp/t.json" >"$tmp/explain.txt" 2>&1 || fail "explain exited non-zero"

# Each part's rule id appears in the trace of the target that has it.
want_rule() {  # want_rule TARGET RULE
  "$mue" explain "$tmp/t.json" --target "$1" 2>&1 | grep -qF "$2" ||
    fail "target $1: no factor or note of rule $2 in its trace"
}
want_rule mixtral-like bridge1.route_scale
want_rule mixtral-like muP.gqa
want_rule olmoe-like "gate softmax: π₀ = 1/N over all 64 experts, R = 1/π₀ = N"
want_rule olmoe-like muP.qk_norm
want_rule olmoe-like not_transferred
want_rule deepseek-v3-like moe.group_limited
want_rule deepseek-v3-like layout.ffn_kind
want_rule deepseek-v3-like "routed_scaling_factor 2.5"
want_rule llama4-like "gate sigmoid: π₀ = σ(0) = 1/2"
want_rule qwen3-like muP.hidden.fan_in
want_rule granite-like muP.tied
want_rule switch-like layout.ffn_kind
# The un-normalized top-1 kinds (llama4-like, switch-like) are not degenerate: no warning.
if grep -q "warning" "$tmp/transfer.txt"; then fail "unexpected warning: $(grep warning "$tmp/transfer.txt")"; fi

# Every emitted config trains: status ok, a finite cross-entropy objective, and the router
# losses reported apart where the model has them.
for cfg in "$tmp"/configs/*.json; do
  name=$(basename "$cfg" .json)
  if ! "$mue" -q train "$cfg" --out "$tmp/$name.result.json" >"$tmp/$name.log" 2>&1; then
    fail "train $name: $(tail -3 "$tmp/$name.log")"
    continue
  fi
  ${MUE_PYTHON:-python3} - "$tmp/$name.result.json" "$cfg" <<'PY' || fail "train $name: result check"
import json, math, sys
r = json.load(open(sys.argv[1]))
router = json.load(open(sys.argv[2]))["model"]["ffn"].get("router", {})
assert r["status"] == "ok", r["status"]
assert math.isfinite(r["objective"]) and r["objective"] < 6, r["objective"]
for key, coef in (("aux_loss", "aux_loss_coef"), ("z_loss", "z_loss_coef")):
    if router.get(coef, 0) > 0:
        assert key in r and r[key] is not None and r[key] >= 0, (key, r.get(key))
    else:
        assert r.get(key) is None, (key, r.get(key))
PY
done
[ "$(ls "$tmp"/configs/*.json | wc -l)" -eq 7 ] || fail "expected 7 emitted configs"
[ "$fails" -eq 0 ] && echo "ok: 7 real-model part targets transfer with traced rules and train"
exit "$fails"
