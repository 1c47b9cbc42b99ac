#!/usr/bin/env bash
# muE transfer / explain end to end on the shipped specs and on transfer-time bad input.
set -u
mue=$1 root=$2
fx="$root/tests/fixtures"
fails=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# The shipped reference config onto the shipped targets, with configs.
if "$mue" transfer --reference "$root/sweeps/tiny-reference.json" --targets "$root/sweeps/moe-targets.json" \
    --out "$tmp/transfer.json" --emit-configs "$tmp/configs" >"$tmp/out" 2>"$tmp/err"; then
  grep -q "H_act" "$tmp/out" && grep -q "moe-32e8a4g" "$tmp/out" && ok "transfer prints its table" || fail "no table"
  grep -q '"schema": *"mue.transfer/1"' "$tmp/transfer.json" && ok "report written" || fail "no report"
  n=$(ls "$tmp/configs" | wc -l)
  [ "$n" -eq 11 ] && ok "11 configs emitted" || fail "$n configs emitted, want 11"
  "$mue" validate "$tmp"/configs/*.json >/dev/null && ok "emitted configs validate" || fail "emitted configs invalid"
else
  cat "$tmp/err" >&2; fail "transfer of the shipped specs failed"
fi
"$mue" --json transfer --reference "$root/sweeps/tiny-reference.json" --targets "$fx/good/targets.json" \
  --out "$tmp/t2.json" | grep -q '"schema": *"mue.transfer/1"' && ok "--json prints the report" || fail "--json"

# explain: every value traced; filters; --rules.
"$mue" explain "$tmp/transfer.json" >"$tmp/explain" && ok "explain exits 0" || fail "explain failed"
for s in "[expert_down]" "bridge1.down_init" "bridge2.down_init" "sde.duration.lr" "completeP.depth.residual" "[scalars]"; do
  grep -qF "$s" "$tmp/explain" || fail "explain does not show $s"
done
"$mue" explain "$tmp/transfer.json" --target moe-8e2a --group expert_down | grep -q "bridge2.output_mult" \
  && ok "explain --target --group" || fail "explain filters"
"$mue" explain --rules | grep -q "bridge2.sde_cancel" && ok "explain --rules" || fail "explain --rules"
"$mue" explain "$tmp/transfer.json" --target nosuch 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "moe-8e2a" "$tmp/err" && ok "unknown target -> 2, lists targets" || fail "unknown target rc=$rc"
"$mue" explain "$fx/good/config.json" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "/schema" "$tmp/err" && ok "explain of a non-report -> 2" || fail "explain non-report rc=$rc"

# A sweep report at the edge: allowed, warned, recorded.
"$mue" transfer --reference "$fx/good/sweep-report-at-edge.json" --targets "$fx/good/targets.json" \
  --out "$tmp/edge.json" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && grep -q "warning.*at_edge" "$tmp/err" && grep -q '"at_edge": *true' "$tmp/edge.json" \
  && ok "at_edge reference: warning and record" || fail "at_edge rc=$rc"

# Bad input found only by the transfer: exit 2, the pointer, nothing written.
expect_bad() {  # expect_bad FILE POINTER [PATTERN]
  local f="$fx/transfer/$1" out="$tmp/bad-$1"
  "$mue" transfer --reference "$root/sweeps/tiny-reference.json" --targets "$f" --out "$out" \
    --emit-configs "$tmp/bad-configs-$1" >/dev/null 2>"$tmp/err"; local rc=$?
  if [ $rc -ne 2 ] || ! grep -qF "$f: $2: " "$tmp/err" || { [ -n "${3:-}" ] && ! grep -qF "$3" "$tmp/err"; }; then
    cat "$tmp/err" >&2; fail "$1: rc=$rc, want 2 naming $2"
  elif [ -e "$out" ] || [ -e "$tmp/bad-configs-$1" ]; then
    fail "$1: output written despite the error"
  else
    ok "$1 -> 2 at $2"
  fi
}
expect_bad beta-out-of-range.json /targets/0/train/optimizer/beta1 "beta_scaling: none"
expect_bad tokens-not-multiple.json /targets/0/train/tokens
expect_bad width-breaks-heads.json /targets/0/model/d_model

"$mue" transfer --reference "$root/sweeps/moe-targets.json" --targets "$fx/good/targets.json" --out "$tmp/x.json" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "expected a reference config" "$tmp/err" && ok "targets file as reference -> 2" || fail "reference kind rc=$rc"
exit $fails
