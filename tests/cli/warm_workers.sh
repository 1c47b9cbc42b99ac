#!/usr/bin/env bash
# Warm workers (README "Speed"; cli/trial_server.h): with the default --workers warm a crash
# or a NaN still ends only its own trial; the trials' results equal --workers cold's, value
# for value; a SIGKILL of the sweep leaves no trial server or trial process behind; a server
# that cannot start or dies is a clear error or a fallback, never a silent exit.
set -u
mue=$1 root=$2
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
py=${MUE_PYTHON:-python3}
sed -e 's/"steps": 200/"steps": 30/' -e 's/"every": 50/"every": 10/' -e 's/"name": "tiny-cpu"/"name": "warm"/' \
  "$root/sweeps/tiny-cpu.json" >"$tmp/s.json"
mapfile -t ids < <("$mue" sweep "$tmp/s.json" --dry-run | awk 'NF >= 4 && length($1) == 16 { print $1 }')
[ "${#ids[@]}" -eq 18 ] || fail "dry run listed ${#ids[@]} trials, want 18"
faults="crash:${ids[2]},nan:${ids[5]}"
for w in warm cold; do
  MUE_FAULT=$faults "$mue" -q sweep "$tmp/s.json" --out "$tmp/$w" --jobs 2 --fuse off --workers $w \
    2>"$tmp/err-$w" || { cat "$tmp/err-$w"; fail "--workers $w sweep failed"; }
done
$py - "$tmp/warm" "$tmp/cold" "${ids[2]}" "${ids[5]}" <<'PY' || fail "warm and cold results differ"
import json, sys
warm_dir, cold_dir, crash, nan = sys.argv[1:]
def load(d):
    return {r["id"]: r for r in (json.loads(l) for l in open(d + "/trials.jsonl") if l.strip())}
w, c = load(warm_dir), load(cold_dir)
assert set(w) == set(c) and len(w) == 18
assert w[crash]["status"] == c[crash]["status"] == "failed" and "signal 6" in w[crash]["error"], w[crash]
assert w[nan]["status"] == c[nan]["status"] == "diverged", w[nan]["status"]
for i in w:
    if i in (crash, nan):
        continue
    assert w[i]["status"] == c[i]["status"] == "ok", (i, w[i]["status"], c[i]["status"])
    assert w[i]["objective"] == c[i]["objective"], (i, w[i]["objective"], c[i]["objective"])
env = json.load(open(warm_dir + "/sweep.json"))["environment"]
assert env["workers"] == "warm", env["workers"]
PY
# SIGKILL of the sweep while warm trials run: the server and its trial processes follow it.
sed -e 's/"steps": 30/"steps": 2000/' "$tmp/s.json" >"$tmp/long.json"
"$mue" -q sweep "$tmp/long.json" --out "$tmp/k" --jobs 2 --fuse off >/dev/null 2>&1 &
pid=$!
server="" kids=""
for _ in $(seq 300); do
  server=$(pgrep -P $pid -f -- "-q trial --serve" | head -1)
  [ -n "$server" ] && kids=$(pgrep -P "$server" | tr '\n' ' ')
  [ "$(wc -w <<<"$kids")" -ge 2 ] && break
  sleep 0.1
done
[ "$(wc -w <<<"$kids")" -ge 2 ] || fail "no warm server with two trial children appeared"
kill -KILL $pid; wait $pid 2>/dev/null
alive() { for p in $server $kids; do kill -0 "$p" 2>/dev/null && echo "$p"; done; }
for _ in $(seq 50); do [ -z "$(alive)" ] && break; sleep 0.1; done
[ -z "$(alive)" ] || fail "processes left after SIGKILL of the sweep: $(alive)"
# A warm server that cannot start (a muE copied without its trainer library) is exit 3 with
# the loader's message, not a silent death; a server killed mid-sweep: the sweep goes on with
# cold processes, the trials it took along are journaled to run again, and the next run ends
# with every trial once.
mkdir -p "$tmp/bin" && cp "$mue" "$tmp/bin/muE"
"$tmp/bin/muE" sweep "$tmp/s.json" --out "$tmp/nolib" --jobs 2 --fuse off >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 3 ] && grep -q "cannot load the training backend" "$tmp/out" \
  || { cat "$tmp/out"; fail "no trainer library: exit $rc, want 3 naming it"; }
sed -e 's/"steps": 30/"steps": 300/' "$tmp/s.json" >"$tmp/mid.json"
"$mue" sweep "$tmp/mid.json" --out "$tmp/m" --jobs 2 --fuse off >"$tmp/out" 2>&1 &
pid=$!
server=""
for _ in $(seq 300); do
  server=$(pgrep -P $pid -f -- "-q trial --serve" | head -1)
  [ -n "$server" ] && [ "$(pgrep -P "$server" | wc -l)" -ge 2 ] && break
  sleep 0.1
done
kill -KILL "$server"
wait $pid; rc=$?
[ $rc -eq 0 ] && grep -q "warm workers off for this run" "$tmp/out" || { cat "$tmp/out"; fail "after the server died: exit $rc, want 0 with a warning"; }
grep -q "warm trial server died" "$tmp/m/trials.jsonl" || fail "the trials the server took along are not journaled as such"
"$mue" -q sweep "$tmp/mid.json" --out "$tmp/m" --jobs 2 --fuse off || fail "the run after the server died failed"
$py - "$tmp/m/trials.jsonl" <<'PY' || fail "after the rerun: want 18 trials, each ok"
import json, sys
last = {}
for l in open(sys.argv[1]):
    if l.strip():
        r = json.loads(l); last[r["id"]] = r
assert len(last) == 18 and all(r["status"] == "ok" for r in last.values()), [r["status"] for r in last.values()]
PY
[ "$fails" -eq 0 ] && echo "ok: warm workers isolate trials, match cold ones, die with the sweep, survive their server"
exit "$fails"
