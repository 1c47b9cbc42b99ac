#!/usr/bin/env bash
# muE coord-check: exit codes, outputs, and the head-rule hint.
set -u
mue=$1 fx=$2
fails=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

"$mue" coord-check "$fx/good/config-mup-head.json" --widths 32,64,128,256 --steps 5 --out "$tmp/a" >"$tmp/out"; rc=$?
[ $rc -eq 0 ] && grep -q "^width-stable" "$tmp/out" || { cat "$tmp/out"; fail "mup head: rc=$rc, want 0 and width-stable"; }
[ -s "$tmp/a/coord_check.json" ] || fail "no coord_check.json"
if command -v gnuplot >/dev/null; then grep -q "<svg" "$tmp/a/coord_check.svg" || fail "no SVG plot"; fi

"$mue" coord-check "$fx/good/config-mup-head.json" --widths 32,64,128,256 --steps 5 --parameterization standard \
  --out "$tmp/b" >"$tmp/out"; rc=$?
[ $rc -eq 1 ] && grep -q "NOT width-stable" "$tmp/out" || { cat "$tmp/out"; fail "standard: rc=$rc, want 1"; }

sed 's/"head_rule": "mup"/"head_rule": "blog"/' "$fx/good/config-mup-head.json" >"$tmp/blog.json"
"$mue" coord-check "$tmp/blog.json" --widths 32,64,128,256 --steps 5 --out "$tmp/c" >"$tmp/out"; rc=$?
[ $rc -eq 1 ] && grep -q "hint: head_rule=blog" "$tmp/out" || { cat "$tmp/out"; fail "blog head: rc=$rc, want 1 with the hint"; }

"$mue" coord-check "$fx/good/config-mup-head.json" --widths 32,40 --out "$tmp/d" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "not a multiple of d_head" "$tmp/err" || fail "bad width: rc=$rc, want 2"
[ $fails -eq 0 ] && echo "coord-check: ok"
exit $fails
