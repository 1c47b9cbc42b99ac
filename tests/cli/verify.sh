#!/usr/bin/env bash
# muE verify end to end on tiny targets: exit code vs verdicts, verify.json fields, JUnit
# parsed back, plots, reuse of the journal, the inconclusive path, bad input (exit 2).
set -u
mue=$1 fx=$2
fails=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
py=${MUE_PYTHON:-python3}

"$mue" -q transfer --reference "$fx/verify/reference.json" --targets "$fx/verify/targets.json" --out "$tmp/t.json" \
  || { fail "transfer failed"; exit 1; }

d="$tmp/v"
"$mue" verify "$tmp/t.json" --out "$d" --points 5 --step 1 --junit "$tmp/junit.xml" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -le 1 ] || { cat "$tmp/err"; fail "verify rc=$rc"; }
grep -q "verdict" "$tmp/out" && grep -q "moe-4e2a" "$tmp/out" || fail "no verdict table on stdout"
$py - "$d/verify.json" "$tmp/junit.xml" $rc <<'PY' || fail "verify.json / JUnit check failed"
import json, sys, xml.etree.ElementTree as ET
v = json.load(open(sys.argv[1])); rc = int(sys.argv[3])
assert v["schema"] == "mue.verify/1", v["schema"]
assert len(v["cases"]) == 2, len(v["cases"])
for c in v["cases"]:
    for k in ("target", "axis", "bridged", "empirical", "drift", "drift_ci", "ci", "gap", "verdict", "message", "grid", "at_edge"):
        assert k in c, k
    assert c["verdict"] in ("pass", "fail", "inconclusive")
    assert len(c["grid"]) == 5 and abs(c["grid"][2]["value"] - c["bridged"]) < 1e-12 * c["bridged"]
    if c["empirical"] is not None:
        import math
        assert abs(math.log2(c["empirical"] / c["bridged"]) - c["drift"]) < 1e-9
want = 0 if all(c["verdict"] == "pass" for c in v["cases"]) else 1
assert rc == want, (rc, want, [c["verdict"] for c in v["cases"]])
# The run's verdict: fail if any case failed, else inconclusive if any was, else pass.
verdicts = [c["verdict"] for c in v["cases"]]
overall = "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"
assert v["verdict"] == overall, (v["verdict"], verdicts)
root = ET.parse(sys.argv[2]).getroot()
cases = root.findall("./testsuite/testcase")
assert len(cases) == 2, len(cases)
assert {c.get("classname") for c in cases} == {"muE.verify.moe-4e2a", "muE.verify.wide-64"}
fails = sum(1 for c in v["cases"] if c["verdict"] == "fail")
assert int(root.get("failures")) == fails == len(root.findall("./testsuite/testcase/failure"))
PY
for t in moe-4e2a wide-64; do
  if command -v gnuplot >/dev/null; then grep -q "<svg" "$d/plots/$t.svg" || fail "no plot for $t"; fi
done
lines=$(wc -l <"$d/trials.jsonl")
[ "$lines" -eq 10 ] || fail "journal has $lines lines, want 10"

# Same DIR, a 3-point grid: every trial is already in the journal (the 3 middle values).
"$mue" verify "$tmp/t.json" --out "$d" --points 3 --step 1 --targets moe-4e2a >"$tmp/out" 2>"$tmp/err"; rc=$?
grep -q "3 already in" "$tmp/err" && [ "$(wc -l <"$d/trials.jsonl")" -eq 10 ] || { cat "$tmp/err"; fail "re-run did not reuse the journal"; }

# A grid that stops short of the optimum: inconclusive -> exit 1, or 0 with --allow-inconclusive.
sed 's/"lr": 0.04/"lr": 0.005/' "$fx/verify/reference.json" >"$tmp/low.json"
"$mue" -q transfer --reference "$tmp/low.json" --targets "$fx/verify/targets.json" --out "$tmp/low-t.json"
"$mue" verify "$tmp/low-t.json" --out "$tmp/low" --points 3 --step 0.5 --targets moe-4e2a >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "inconclusive" "$tmp/out" && grep -q "widen" "$tmp/out" || { cat "$tmp/out"; fail "edge: rc=$rc, want 1 and 'inconclusive'"; }
"$mue" -q verify "$tmp/low-t.json" --out "$tmp/low" --points 3 --step 0.5 --targets moe-4e2a --allow-inconclusive; rc=$?
[ $rc -eq 0 ] || fail "--allow-inconclusive: rc=$rc, want 0"

# Bad input: exit 2, the problem named, no verify.json.
sed 's/"schema":"mue.transfer\/1"/"schema":"mue.transfer\/2"/' "$tmp/t.json" >"$tmp/t2.json"
"$mue" verify "$tmp/t2.json" --out "$tmp/b1" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "/schema" "$tmp/err" && grep -q "mue.transfer/2" "$tmp/err" && [ ! -e "$tmp/b1/verify.json" ] \
  || { cat "$tmp/err"; fail "unknown schema version: rc=$rc"; }
"$mue" verify "$tmp/t.json" --out "$tmp/b2" --targets nope 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "'nope' is not a target" "$tmp/err" && grep -q "moe-4e2a" "$tmp/err" || { cat "$tmp/err"; fail "unknown target: rc=$rc"; }
"$mue" verify "$tmp/t.json" --out "$tmp/b3" --points 1 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "points" "$tmp/err" || { cat "$tmp/err"; fail "--points 1: rc=$rc"; }
[ ! -e "$tmp/b3/verify.json" ] || fail "--points 1 wrote verify.json"

[ $fails -eq 0 ] && echo "verify: ok"
exit $fails
