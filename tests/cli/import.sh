#!/usr/bin/env bash
# README "From a model card to hyperparameters": its code block runs verbatim (muE on PATH,
# from a copy of the repository's layout), then the import's error contract.
set -u
mue=$1 root=$2
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/work"
ln -s "$mue" "$tmp/bin/muE"
ln -s "$root/tests" "$tmp/work/tests"
ln -s "$root/sweeps" "$tmp/work/sweeps"

block=$(awk '/<!-- test: tests\/cli\/import.sh runs the next code block verbatim -->/{f=1; next}
             f && /^```sh/{g=1; next} g && /^```/{exit} g' "$root/README.md")
[ -n "$block" ] || { echo "FAIL: no README block marked for tests/cli/import.sh" >&2; exit 1; }
if ! (cd "$tmp/work" && PATH="$tmp/bin:$PATH" bash -euo pipefail -c "$block") >"$tmp/out.txt" 2>&1; then
  fail "the README block failed:"; cat "$tmp/out.txt" >&2
fi
r=$tmp/work/runs/card
grep -q "bridge1.down_init" "$tmp/out.txt" || fail "explain did not show expert_down's trace"
${MUE_PYTHON:-python3} - "$r" <<'PY' || fail "outputs of the README block"
import json, math, sys
r = sys.argv[1]
t = json.load(open(f"{r}/transfer.json"))["targets"][0]
m = t["model"]
assert (m["d_model"], m["n_layers"], m["n_heads"], m["n_kv_heads"], m["d_head"]) == (4096, 32, 32, 8, 128), m
f = m["ffn"]
assert (f["n_experts"], f["active"], f["d_expert"], f["router"]["gate"]) == (8, 2, 14336, "softmax_renorm"), f
assert t["scalars"]["route_scale"]["value"] == 2
res = json.load(open(f"{r}/proxy-result.json"))
assert res["status"] == "ok" and math.isfinite(res["objective"]), res["status"]
assert res.get("aux_loss") is not None  # Mixtral's aux loss 0.02, reported apart
PY

# Error contract: exit 2 naming file and field, no output file.
expect2() {  # expect2 PATTERN -- args...
  local pattern=$1; shift 2
  rm -f "$tmp/o.json"
  out=$("$mue" import "$@" --out "$tmp/o.json" 2>&1); rc=$?
  if [ "$rc" -ne 2 ] || ! grep -qE -- "$pattern" <<<"$out" || [ -e "$tmp/o.json" ]; then
    fail "import $*: exit $rc, output: $out"
  fi
}
expect2 "deepseek-v3.json: /kv_lora_rank: .*--approximate" -- "$root/tests/fixtures/real/deepseek-v3.json"
expect2 "switch-base-8.json: /model_type: .*encoder-decoder" -- "$root/tests/fixtures/real/switch-base-8.json"
printf '{"model_type": "gpt2", "hidden_size": 8}' >"$tmp/gpt2.json"
expect2 "gpt2.json: /model_type: .*supported: .*mixtral" -- "$tmp/gpt2.json"
printf '{"model_type": "mixtral", ' >"$tmp/trunc.json"
expect2 "trunc.json" -- "$tmp/trunc.json"
expect2 "d_model" -- "$root/tests/fixtures/real/mixtral-8x7b.json" --proxy n_layers=2
# --approximate: exit 0, each change warned and written into the description.
out=$("$mue" import "$root/tests/fixtures/real/deepseek-v3.json" --approximate --out "$tmp/ds.json" 2>&1) ||
  fail "import --approximate: $out"
grep -q "warning: .*deepseek-v3.json: /kv_lora_rank: multi-head latent attention" <<<"$out" ||
  fail "no MLA warning: $out"
grep -q "Approximated (--approximate)" "$tmp/ds.json" || fail "the description does not record the change"
"$mue" validate "$tmp/ds.json" >/dev/null || fail "the imported targets file does not validate"
# Every fixture muE can represent: the real target transfers (and explains), its proxy
# trains a few steps (a short reference: 8 steps).
sed -e 's/"steps": 200/"steps": 8/' -e 's/"every": 50/"every": 4/' \
  "$root/sweeps/tiny-reference.json" >"$tmp/ref8.json"
n=0
for f in "$root"/tests/fixtures/real/*.json; do
  name=$(basename "$f" .json)
  case $name in expected-shapes | switch-base-8 | jetmoe-8b) continue ;; esac
  n=$((n + 1))
  "$mue" -q import "$f" --approximate --out "$tmp/$name.json" 2>/dev/null || { fail "import $name"; continue; }
  "$mue" -q transfer --reference "$tmp/ref8.json" --targets "$tmp/$name.json" \
    --out "$tmp/$name-t.json" >/dev/null 2>"$tmp/$name.err" || { fail "transfer $name: $(cat "$tmp/$name.err")"; continue; }
  "$mue" explain "$tmp/$name-t.json" >/dev/null || fail "explain $name"
  "$mue" -q import "$f" --approximate --proxy d_model=32,n_layers=2,d_head=8 \
    --out "$tmp/$name-p.json" 2>/dev/null || { fail "import --proxy $name"; continue; }
  "$mue" -q transfer --reference "$tmp/ref8.json" --targets "$tmp/$name-p.json" \
    --out "$tmp/$name-pt.json" --emit-configs "$tmp/$name-cfg" >/dev/null 2>&1 || { fail "transfer proxy $name"; continue; }
  if ! "$mue" -q train "$tmp/$name-cfg/$name-proxy.json" --out "$tmp/$name-r.json" 2>"$tmp/$name.err" ||
    ! grep -q '"status": *"ok"' "$tmp/$name-r.json"; then
    fail "proxy of $name did not train: $(tail -2 "$tmp/$name.err")"
  fi
done
[ "$n" -eq 11 ] || fail "expected 11 importable fixtures, saw $n"
[ "$fails" -eq 0 ] && echo "ok: README model-card walk-through, import errors, 11 fixtures transfer and their proxies train"
exit "$fails"
