#!/usr/bin/env bash
# muE report (README "One page: muE report"): one HTML page from a sweep directory, a
# transfer report and a verify directory; strings from the user's files escaped (a sweep
# named <script>alert(1)</script> shows as text); no script anywhere; the same inputs give
# the same bytes; bad input is exit 2 with no file. With chromium installed: the page loads
# headless, its DOM has every section, and a screenshot is written (REPORT_SCREENSHOT=PATH
# keeps it, e.g. for docs/img/).
set -u
mue=$1 root=$2
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fx="$root/tests/fixtures"
py=${MUE_PYTHON:-python3}
$py - "$fx/good/sweep-4.json" "$tmp/s.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["name"] = "<script>alert(1)</script>"
s["description"] = "a sweep whose name & description hold <b>markup</b>"
json.dump(s, open(sys.argv[2], "w"))
s["name"], s["axes"]["init_std"] = "two-axes", [0.01, 0.02]
json.dump(s, open(sys.argv[2].replace(".json", "-2d.json"), "w"))
PY
"$mue" -q sweep "$tmp/s.json" --out "$tmp/sweep" --jobs 2 --fuse off || fail "sweep failed"
"$mue" -q transfer --reference "$tmp/sweep/sweep.json" --targets "$fx/verify/targets.json" --out "$tmp/transfer.json" \
  || fail "transfer failed"
"$mue" -q verify "$tmp/transfer.json" --out "$tmp/verify" --points 3 --step 1; [ $? -le 1 ] || fail "verify failed"
"$mue" report "$tmp/sweep" "$tmp/transfer.json" "$tmp/verify" --out "$tmp/r.html" >"$tmp/out" \
  || fail "report failed"
grep -q "wrote $tmp/r.html" "$tmp/out" || fail "no 'wrote' line"
[ -s "$tmp/sweep/report.html" ] && [ -s "$tmp/verify/report.html" ] || fail "sweep/verify did not write DIR/report.html"
grep -q "command: <code>muE -q sweep" "$tmp/sweep/report.html" || fail "the page does not show the sweep's command line"
# A 2-D sweep gets a heat map; --no-report writes no page.
"$mue" -q sweep "$tmp/s-2d.json" --out "$tmp/sweep2" --jobs 2 --fuse off --no-report || fail "2-D sweep failed"
[ ! -e "$tmp/sweep2/report.html" ] || fail "--no-report wrote a page"
"$mue" -q report "$tmp/sweep2" --out "$tmp/r2d.html" && grep -q 'alt="objective over lr and init_std"' "$tmp/r2d.html" \
  || fail "no heat map for the 2-D sweep"
grep -qi "<script" "$tmp/r.html" && fail "the page holds a <script"
grep -q "&lt;script&gt;alert(1)&lt;/script&gt;" "$tmp/r.html" || fail "the sweep's name is not escaped text"
grep -q "&lt;b&gt;markup&lt;/b&gt;" "$tmp/r.html" || fail "the description is not escaped"
for h in "<h2>Sweep " "<h2>Transfer</h2>" "<h2>Verify: " "data:image/svg+xml;base64," "<details>"; do
  grep -q "$h" "$tmp/r.html" || fail "missing: $h"
done
"$mue" -q report "$tmp/sweep" "$tmp/transfer.json" "$tmp/verify" --out "$tmp/r2.html"
cmp -s "$tmp/r.html" "$tmp/r2.html" || fail "the same inputs gave different bytes"
"$mue" report "$tmp/sweep" "$tmp/nope" --out "$tmp/bad.html" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && [ ! -e "$tmp/bad.html" ] && grep -q "$tmp/nope" "$tmp/err" || fail "bad input: exit $rc, want 2 and no file"
mkdir -p "$tmp/broken" && echo '{"schema": "mue.sweep/1"}' >"$tmp/broken/sweep.json"
"$mue" report "$tmp/broken" --out "$tmp/bad.html" 2>/dev/null; rc=$?
[ $rc -eq 2 ] && [ ! -e "$tmp/bad.html" ] || fail "incomplete report: exit $rc, want 2 and no file"

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$browser" ]; then
  flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir="$tmp/profile")
  timeout 120 "$browser" "${flags[@]}" --enable-logging=stderr --v=0 --dump-dom "file://$tmp/r.html" \
    >"$tmp/dom.html" 2>"$tmp/chromium.log" \
    || fail "chromium could not load the page"
  for h in "Sweep &lt;script&gt;alert(1)&lt;/script&gt;" "Transfer" "Verify: "; do
    grep -q "$h" "$tmp/dom.html" || fail "chromium's DOM lacks: $h"
  done
  grep -qi "<script" "$tmp/dom.html" && fail "chromium's DOM holds a script element"
  # Page errors (a blocked resource, a script error) reach the log as CONSOLE lines.
  grep -q "CONSOLE" "$tmp/chromium.log" && { grep "CONSOLE" "$tmp/chromium.log"; fail "console messages"; }
  shot=${REPORT_SCREENSHOT:-$tmp/shot.png}
  timeout 120 "$browser" "${flags[@]}" --hide-scrollbars --window-size=1200,1600 --screenshot="$shot" \
    "file://$tmp/r.html" >/dev/null 2>&1
  [ -s "$shot" ] || fail "no screenshot"
else
  echo "note: chromium not installed (scripts/install-deps); the headless page check was skipped"
fi
[ "$fails" -eq 0 ] && echo "ok: report page written, escaped, deterministic${browser:+, loads in chromium}"
exit "$fails"
