#!/usr/bin/env bash
# The Slurm launcher against a real local Slurm (scripts/local-slurm): a sweep as one array
# job; a crashing task recorded as failed; --detach then a resume that collects without
# resubmitting; SIGTERM cancels the job and the resume submits only what is missing;
# SIGKILL of the collector leaves the tasks running and the next run collects them; every
# task crashing stops early and cancels the job; fused packs as array tasks. Exit 77 (ctest: skipped) when Slurm cannot run here.
set -u
mue=$1 fx=$2 root=$3
fails=0
tmp=$(mktemp -d)
started=0
cleanup() {
  [ -n "${SLURM_CONF:-}" ] && scancel -n muE-faults 2>/dev/null
  [ $started -eq 1 ] && "$root/scripts/local-slurm" stop
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
command -v sbatch >/dev/null || { echo "skipped: Slurm is not installed (scripts/install-deps)"; exit 77; }
# Bad input first: no Slurm clients on PATH, or a malformed --slurm-* value -> exit 2, nothing written.
PATH=/nonexistent "$mue" sweep "$fx/good/sweep-4.json" --out "$tmp/np" --launcher slurm 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "sbatch' is not on PATH" "$tmp/err" && grep -q "local-slurm start" "$tmp/err" && [ ! -e "$tmp/np" ] \
  || { cat "$tmp/err"; fail "no sbatch: rc=$rc, want 2 with install/start advice"; }
for bad in "--slurm-time=soon" "--slurm-mem=lots" "--slurm-gres=gpu::" "--slurm-extra=account"; do
  "$mue" sweep "$fx/good/sweep-4.json" --out "$tmp/bv" --launcher slurm "$bad" 2>/dev/null
  [ $? -eq 2 ] || fail "$bad: want exit 2"
done
[ "$(id -u)" -eq 0 ] || "$root/scripts/local-slurm" status || { echo "skipped: starting a local Slurm needs root"; exit 77; }
"$root/scripts/local-slurm" status || started=1
# README "Running on a Slurm cluster", as written:
eval "$("$root/scripts/local-slurm" start)" || { echo "skipped: the local Slurm did not start"; exit 77; }
spec="$fx/good/sweep-faults.json"
n=10
mapfile -t ids < <("$mue" sweep "$spec" --out "$tmp/x" --dry-run | awk 'NF == 4 && length($1) == 16 { print $1 }')
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
complete() {
  [ "$(lines "$1/trials.jsonl")" -eq $n ] || { fail "$1: journal has $(lines "$1/trials.jsonl") lines, want $n"; return; }
  for id in "${ids[@]}"; do
    [ "$(grep -c "\"id\":\"$id\"" "$1/trials.jsonl")" -eq 1 ] || fail "$1: $id not journaled exactly once"
  done
}

# 1. One array job; a crashing task is a failed trial with its reason; the sweep fits.
MUE_FAULT="crash:${ids[0]}" "$mue" sweep "$spec" --out "$tmp/a" --launcher slurm --jobs 2 --fuse off \
  >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || { cat "$tmp/err"; fail "slurm sweep rc=$rc"; }
complete "$tmp/a"
[ "$(ls "$tmp/a/slurm" | grep -c '\.sbatch$')" -eq 1 ] || fail "want exactly one sbatch script (one array job)"
grep -q -- "--array=0-9%2" "$tmp/a/slurm/"*.sbatch || fail "array throttle %2 missing"
grep "\"id\":\"${ids[0]}\"" "$tmp/a/trials.jsonl" | grep -q '"status":"failed"' || fail "crash not recorded as failed"
grep -q '"schema": "mue.sweep/1"' "$tmp/a/sweep.json" || fail "no sweep.json"

# 2. README, as written: --detach returns at once; the same command later collects (and fits)
#    without a second submission.
cd "$tmp" && mkdir -p runs
"$mue" sweep "$root/sweeps/tiny-cpu.json" --out runs/slurm --launcher slurm --detach >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q "submitted Slurm job" "$tmp/out" || { cat "$tmp/out"; fail "detach rc=$rc"; }
"$mue" sweep "$root/sweeps/tiny-cpu.json" --out runs/slurm --launcher slurm >"$tmp/out" 2>"$tmp/err" \
  || { cat "$tmp/err"; fail "collect after detach failed"; }
[ "$(lines runs/slurm/trials.jsonl)" -eq 18 ] && grep -q '"schema": "mue.sweep/1"' runs/slurm/sweep.json \
  || fail "detach + collect: want 18 trials and a fit"
[ "$(ls runs/slurm/slurm | grep -c '\.sbatch$')" -eq 1 ] || fail "collecting a detached job submitted again"
cd - >/dev/null

# 2b. scancel of a running array task: recorded with its Slurm state (retry), and the resume
#     reruns exactly that trial. MUE_FAULT makes task 3 hang so it is surely running.
d="$tmp/c"
MUE_FAULT="hang:${ids[3]}" "$mue" sweep "$spec" --out "$d" --launcher slurm --jobs 2 --fuse off >/dev/null 2>"$tmp/err" &
pid=$!
for _ in $(seq 300); do [ -s "$d/slurm/job.json" ] && break; sleep 0.1; done
job=$(sed -n 's/.*"job_id": "\([0-9]*\)".*/\1/p' "$d/slurm/job.json")
for _ in $(seq 300); do squeue -h -r -j "$job" -t R -o %K | grep -qx 3 && break; sleep 0.1; done
scancel "${job}_3"
wait $pid; rc=$?
[ $rc -eq 0 ] || { cat "$tmp/err"; fail "sweep with a cancelled task: rc=$rc"; }
grep "\"id\":\"${ids[3]}\"" "$d/trials.jsonl" | grep -q 'CANCELLED' && grep "\"id\":\"${ids[3]}\"" "$d/trials.jsonl" | grep -q '"retry":true' \
  || { tail -2 "$d/trials.jsonl" | cut -c1-300; fail "the cancelled task is not recorded with its Slurm state"; }
"$mue" -q sweep "$spec" --out "$d" --launcher slurm --fuse off || fail "resume after a cancelled task failed"
last=$(ls -t "$d/slurm/"tasks-*.txt | head -1)
[ "$(wc -l <"$last")" -eq 1 ] && grep -q "${ids[3]}" "$last" || fail "the resume should resubmit exactly the cancelled trial"
grep "\"id\":\"${ids[3]}\"" "$d/trials.jsonl" | tail -1 | grep -q '"status":"ok"' || fail "the cancelled trial did not run again"

# 3. SIGTERM cancels the job; the resume submits only the trials that are missing.
d="$tmp/t"
"$mue" sweep "$spec" --out "$d" --launcher slurm --jobs 1 --fuse off >/dev/null 2>"$tmp/err" &
pid=$!
for _ in $(seq 600); do [ "$(lines "$d/trials.jsonl")" -ge 2 ] && break; sleep 0.1; done
kill -TERM $pid; wait $pid; rc=$?
[ $rc -eq 143 ] || { cat "$tmp/err"; fail "SIGTERM: rc=$rc, want 143"; }
job=$(sed -n 's/.*"job_id": "\([0-9]*\)".*/\1/p' "$d/slurm/job.json")
sleep 1
[ -z "$(squeue -h -j "$job" 2>/dev/null)" ] || fail "SIGTERM left Slurm job $job in the queue"
before=$(lines "$d/trials.jsonl")
"$mue" sweep "$spec" --out "$d" --launcher slurm --jobs 2 --fuse off >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; fail "resume failed"; }
complete "$d"
last=$(ls -t "$d/slurm/"tasks-*.txt | head -1)
[ "$(wc -l <"$last")" -le $((n - before)) ] || fail "the resume submitted $(wc -l <"$last") tasks, more than the $((n - before)) missing"

# 4. Fused packs run as array tasks.
"$mue" -q sweep "$spec" --out "$tmp/p" --launcher slurm --fuse 5 || fail "packed slurm sweep failed"
complete "$tmp/p"
[ "$(ls "$tmp/p/trials" | grep -c '^pack-.*\.spec\.json$')" -eq 2 ] || fail "want 2 packs of 5 as 2 array tasks"
# 4b. SIGKILL of the collector while array tasks run (README "Guarantees"): the tasks go on
#     under Slurm; the same command again takes the lock (released by the kernel), collects
#     what they wrote without a second submission, and ends with every trial exactly once.
d="$tmp/k"
"$mue" sweep "$spec" --out "$d" --launcher slurm --jobs 1 --fuse off >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do [ "$(lines "$d/trials.jsonl")" -ge 2 ] && break; sleep 0.1; done
kill -KILL $pid; wait $pid 2>/dev/null
job=$(sed -n 's/.*"job_id": "\([0-9]*\)".*/\1/p' "$d/slurm/job.json")
[ -n "$(squeue -h -j "$job" 2>/dev/null)" ] || fail "after SIGKILL of the collector, job $job should still run"
"$mue" sweep "$spec" --out "$d" --launcher slurm --jobs 1 --fuse off >/dev/null 2>"$tmp/err" \
  || { cat "$tmp/err"; fail "collect after SIGKILL of the collector failed"; }
complete "$d"
[ "$(ls "$d/slurm" | grep -c '\.sbatch$')" -eq 1 ] || fail "collecting after SIGKILL submitted again"
grep -q '"schema": "mue.sweep/1"' "$d/sweep.json" || fail "no sweep.json after the collect"

# 4c. Early stop under Slurm: every task crashes -> the collector stops after jobs + 1 failures,
#     cancels the array job, exits 3 naming the signal; after the fix every trial runs once.
d="$tmp/e"
all=$(for c in 0 1 2 3 4 5 6 7 8 9 a b c d e f; do printf 'crash:%s,' "$c"; done)
MUE_FAULT=${all%,} "$mue" sweep "$spec" --out "$d" --launcher slurm --jobs 2 --fuse off >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 3 ] && grep -q "failed the same way before training a step" "$tmp/out" \
  && grep -q "died from signal 6" "$tmp/out" || { cat "$tmp/out"; fail "slurm early stop: rc=$rc, want 3 naming signal 6"; }
job=$(sed -n 's/.*"job_id": "\([0-9]*\)".*/\1/p' "$d/slurm/job.json")
[ -z "$(squeue -h -j "$job" 2>/dev/null)" ] || fail "the early stop left Slurm job $job in the queue"
[ ! -e "$d/sweep.json" ] || fail "a sweep.json was written after the systematic failure"
"$mue" -q sweep "$spec" --out "$d" --launcher slurm --jobs 2 --fuse off >/dev/null 2>"$tmp/err" \
  || { cat "$tmp/err"; fail "the sweep after the early stop failed"; }
${MUE_PYTHON:-python3} -c '
import json, sys
last = {}
for l in open(sys.argv[1]):
    if l.strip():
        r = json.loads(l); last[r["id"]] = r
sys.exit(0 if len(last) == int(sys.argv[2]) and all(r["status"] == "ok" for r in last.values()) else 1)' \
  "$d/trials.jsonl" $n || fail "after the early stop and the fix: want $n trials, each ok"

# 5. muE verify through Slurm.
"$mue" -q transfer --reference "$fx/verify/reference.json" --targets "$fx/verify/targets.json" --out "$tmp/vt.json"
"$mue" verify "$tmp/vt.json" --out "$tmp/v" --points 3 --step 1 --launcher slurm >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -le 1 ] && [ "$(lines "$tmp/v/trials.jsonl")" -eq 6 ] && grep -q '"schema": "mue.verify/1"' "$tmp/v/verify.json" \
  || { cat "$tmp/err"; fail "verify --launcher slurm: rc=$rc"; }
[ $fails -eq 0 ] && echo "slurm: ok"
exit $fails
