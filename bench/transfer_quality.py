#!/usr/bin/env python3
"""bench/transfer_quality: "tune dense once, transfer to all", measured on real text.

One command, resumable (every trial is journaled by `muE sweep` / `muE verify`; a re-run
skips what finished). Standard library only; drives the muE binary.

  1. Reference sweeps on data/fortunes.txt (the model and training of sweeps/text-cpu.json on
     a wider grid): muE over lr x init std, the standard parameterization (PyTorch fan-in
     init, so only lr) over lr; 2 seeds.
  2. `muE transfer` to the 16 targets of sweeps/text-targets.json and `muE verify` at each:
     a direct lr sweep (5 points 0.5 log2 apart, 2 seeds).
  3. The option study (docs/method.md §9): each row is tried on the targets whose table it
     changes, one row after another, each under the values chosen so far (coordinate
     descent): head_rule, wd_width_scaling, router_rule on the width targets; duration
     exponent then beta_scaling on batch and duration; sigma0_correction on Bridge II.
     A value replaces the current one when the loss at its transferred point is lower by
     more than 0.1% on average over those targets (ties: smaller mean |drift|).
  4. The chosen table where it differs from every table measured; the standard
     parameterization's direct sweeps (5 points 1.0 log2 apart, 1 seed); init-std sweeps at
     the width targets; a 9-point grid for targets whose best lr sits at the grid's end;
     coord-check of the previous and the chosen table. state.json is saved after each stage.
  5. bench/results/transfer_quality.json, docs/results.md and plots (gnuplot) from what was
     measured (bench/transfer_quality_report.py; the hand-written reading is
     bench/transfer_quality_reading.md).

usage: transfer_quality.py [--out DIR] [--mue PATH] [--collect-only] [--jobs N]
"""
import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = 2
SP_SEEDS = 1  # the baseline's direct sweeps: one seed per point (the 2-core time budget)
OBJECTIVE = "mean_last_k:3"
WIDTH_TARGETS = ["width-2x", "width-4x", "moe-width-2x"]
WIDTH_CHAIN = ["reference", "width-2x", "width-4x"]  # for "wider is better"
INIT_TARGETS = ["width-2x", "width-4x", "moe-width-2x"]
SDE_TARGETS = ["batch-2x", "duration-2x"]
SIGMA0_TARGETS = ["bridge2-8e2a", "capacity-32e2a", "shared-8e2a1s"]
# §9 rows, in the order they are decided: (row, key, values (current default first), targets)
ROWS = [
    (1, "head_rule", ["blog", "mup"], WIDTH_TARGETS),
    (2, "wd_width_scaling", ["none", "independent"], WIDTH_TARGETS),
    (3, "router_rule", ["hidden", "readout"], ["moe-width-2x"]),
    (4, "duration_exponent", [0.5, 0.2813], SDE_TARGETS),
    (5, "beta_scaling", ["sde", "none"], SDE_TARGETS),
    (12, "sigma0_correction", ["none", "expert_lr"], SIGMA0_TARGETS),
]
# Every run states these rows' values explicitly, starting from the blog's choices (the defaults
# before this study), so the trials mean the same whatever the binary's defaults are.
BASE = {key: values[0] for _, key, values, _ in ROWS}
LOSS_TIE = 0.001  # relative: closer than 0.1% in loss is a tie, decided by |drift|


def log(*a):
    print("transfer_quality:", *a, file=sys.stderr, flush=True)


def load(path):
    with open(path) as f:
        return json.load(f)


def dump(obj, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


class Bench:
    def __init__(self, out, mue, jobs):
        self.out, self.mue, self.jobs = out, mue, jobs
        self.families = {}  # family name -> {"options", "kind", "targets", "keys", "source"}
        self.swept = set()
        self.measured = {}  # (table key, axis) -> the verify directory holding that case
        self.log = []

    def muE(self, *args, ok=(0,)):
        cmd = [self.mue, *map(str, args)]
        log("+ muE", " ".join(map(str, args)))
        rc = subprocess.call(cmd, stdout=subprocess.DEVNULL)
        if rc not in ok:
            raise SystemExit(f"transfer_quality: '{' '.join(cmd)}' exited {rc}")
        return rc

    # ---- specs, with the corpus path made absolute (the bench runs from any directory) ----
    def reference_spec(self, kind):
        s = load(os.path.join(ROOT, "sweeps", "text-cpu.json"))
        s["train"]["data"]["path"] = os.path.join(ROOT, "data", "fortunes.txt")
        s["name"] = f"text-reference-{kind}"
        s["options"] = dict(BASE)
        s["axes"]["lr"] = {"log2_grid": [-10, -5, 0.5]}
        s["axes"]["init_std"] = [0.01, 0.02, 0.04, 0.08, 0.16]
        if kind == "standard":
            s["options"]["parameterization"] = "standard"
            del s["axes"]["init_std"]  # unused: PyTorch's fan-in init
            s["description"] = "text-cpu.json under the standard parameterization (lr only)"
        path = os.path.join(self.out, "specs", f"reference-{kind}.json")
        dump(s, path)
        return path

    def reference(self, kind):
        """The reference sweep's report; the sweep runs (or resumes, or just refits) once per run."""
        d = os.path.join(self.out, f"reference-{kind}")
        if kind not in self.swept:
            self.muE("sweep", self.reference_spec(kind), "--out", d, "--jobs", self.jobs, "--fuse", "off")
            self.swept.add(kind)
        return os.path.join(d, "sweep.json")

    def measure(self, name, options, targets, kind="mue", init=False):
        """The lr (and, with init, init-std) cases of `targets` under `options`. A target whose
        table (every value of transfer.json's groups, optimizer and scalars, with its model and
        train) was measured before under any options reuses that measurement; only the rest
        is verified, in families/<name>/. Returns the family record."""
        d = os.path.join(self.out, "families", name)
        all_t = {t["name"]: t for t in load(os.path.join(ROOT, "sweeps", "text-targets.json"))["targets"]}
        opts = dict(BASE, **options)
        if kind == "standard":
            opts["parameterization"] = "standard"
        tf = {"schema": "mue.targets/1", "options": opts, "targets": [all_t[t] for t in targets]}
        dump(tf, os.path.join(d, "targets.json"))
        tr = os.path.join(d, "transfer.json")
        self.muE("transfer", "--reference", self.reference(kind), "--targets",
                 os.path.join(d, "targets.json"), "--out", tr)
        keys = {t["name"]: table_key(t) for t in load(tr)["targets"]}
        fam = {"name": name, "options": opts, "kind": kind, "targets": targets, "keys": keys,
               "source": {}}
        step = "1.0" if kind == "standard" else "0.5"
        seeds = SP_SEEDS if kind == "standard" else SEEDS
        common = ["--points", 5, "--step", step, "--seeds", seeds, "--objective", OBJECTIVE,
                  "--jobs", self.jobs, "--fuse", "off", "--allow-inconclusive"]
        for axis, vdir, wanted in [("lr", "verify", targets),
                                   ("init_std", "verify-init",
                                    [t for t in targets if t in INIT_TARGETS] if init else [])]:
            todo = []
            for t in wanted:
                src = self.measured.get((keys[t], axis))
                if src:
                    fam["source"][f"{t}/{axis}"] = src
                else:
                    todo.append(t)
            if todo:
                vd = os.path.join(d, vdir)
                self.muE("verify", tr, "--out", vd, "--targets", ",".join(todo), "--axis", axis,
                         *common, ok=(0, 1))
                for t in todo:
                    fam["source"][f"{t}/{axis}"] = vd
                    self.measured[(keys[t], axis)] = vd
        self.families[name] = fam
        return fam

    def widen(self, fam):
        """A target whose best measured lr is at the end of the 5-point grid gets 9 points (the
        same 0.5 log2 spacing, ±2): its verify journal is copied into <dir>-wide first, so the
        5 points already trained are reused (trials are content-addressed)."""
        by_dir = {}
        for t, c in self.cases(fam).items():
            if c["at_edge"]:
                by_dir.setdefault(c["source"], []).append(t)
        for vd, ts in by_dir.items():
            wide = vd.rstrip("/") + "-wide"
            os.makedirs(wide, exist_ok=True)
            j = os.path.join(wide, "trials.jsonl")
            if not os.path.exists(j):
                with open(os.path.join(vd, "trials.jsonl")) as src, open(j + ".tmp", "w") as dst:
                    dst.write(src.read())
                os.replace(j + ".tmp", j)
            tr = os.path.join(os.path.dirname(vd), "transfer.json")
            self.muE("verify", tr, "--out", wide, "--targets", ",".join(ts), "--axis", "lr",
                     "--points", 9, "--step", "0.5", "--seeds", SEEDS, "--objective", OBJECTIVE,
                     "--jobs", self.jobs, "--fuse", "off", "--allow-inconclusive", ok=(0, 1))
            for t in ts:  # every family that reused this case (same table) reads the wide one
                for f in self.families.values():
                    if f["source"].get(f"{t}/lr") == vd:
                        f["source"][f"{t}/lr"] = wide
                self.measured[(fam["keys"][t], "lr")] = wide

    def cases(self, fam, axis="lr"):
        """target -> {drift, ci, bridged, at_transferred, best, grid, verdict} for one axis."""
        out = {}
        for t in fam["targets"]:
            vd = fam["source"].get(f"{t}/{axis}")
            p = os.path.join(vd, "verify.json") if vd else None
            if not p or not os.path.exists(p):
                continue
            for c in load(p)["cases"]:
                if c["axis"] != axis or c["target"] != t:
                    continue
                pts = [g for g in c["grid"] if g.get("objective") is not None]
                at = [g["objective"] for g in pts if abs(math.log2(g["value"] / c["bridged"])) < 1e-6]
                out[t] = {
                    "bridged": c["bridged"], "empirical": c.get("empirical"), "drift": c.get("drift"),
                    "drift_ci": c.get("drift_ci"), "at_edge": c.get("at_edge"), "verdict": c["verdict"],
                    "message": c.get("message"), "method": (c.get("fit") or {}).get("method"), "gap": c.get("gap"),
                    "at_transferred": at[0] if at else None,
                    "best": min((g["objective"] for g in pts), default=None),
                    "grid": [[g["value"], g.get("objective")] for g in c["grid"]],
                    "source": vd}
        return out

    def compare(self, cur, alt, targets):
        """Chooses between two families on `targets`: lower loss at the transferred point (mean
        relative to the better of the two), ties by mean |drift|. Returns (winner, evidence)."""
        a, b = self.cases(cur), self.cases(alt)
        rel_a, rel_b, dr_a, dr_b = [], [], [], []
        for t in targets:
            if t not in a or t not in b:
                continue
            la, lb = a[t]["at_transferred"], b[t]["at_transferred"]
            if la is None or lb is None:
                continue
            m = min(la, lb)
            rel_a.append(la / m - 1)
            rel_b.append(lb / m - 1)
            if a[t]["drift"] is not None and b[t]["drift"] is not None:
                dr_a.append(abs(a[t]["drift"]))
                dr_b.append(abs(b[t]["drift"]))
        mean = lambda v: sum(v) / len(v) if v else None
        ev = {"targets": targets, "loss_excess": [mean(rel_a), mean(rel_b)],
              "mean_abs_drift": [mean(dr_a), mean(dr_b)]}
        if not rel_a:
            return cur, dict(ev, rule="no comparable trials: kept the current value")
        if mean(rel_b) < mean(rel_a) - LOSS_TIE:
            return alt, dict(ev, rule="lower loss at the transferred point")
        if mean(rel_a) < mean(rel_b) - LOSS_TIE:
            return cur, dict(ev, rule="lower loss at the transferred point")
        if dr_a and mean(dr_b) < mean(dr_a) - 0.05:
            return alt, dict(ev, rule="loss tied within 0.1%: smaller mean |drift|")
        return cur, dict(ev, rule="loss tied within 0.1% and |drift| within 0.05: kept the current value")

    def save(self, chosen, decisions, t0, coord=None):
        dump({"chosen": chosen, "decisions": decisions, "final_family": "chosen",
              "families": self.families, "coord_check": coord or {}, "wall_s": time.time() - t0},
             os.path.join(self.out, "state.json"))

    def run(self):
        """Stages in order of importance, state.json saved after each (a run cut short still
        reports what it measured): the default table's lr sweeps, the option study, the chosen
        table where it differs, the standard parameterization, the init-std sweeps, coord-check."""
        t0 = time.time()
        targets = [t["name"] for t in load(os.path.join(ROOT, "sweeps", "text-targets.json"))["targets"]]
        self.reference("mue")
        self.reference("standard")
        chosen, decisions = {}, []
        self.measure("default", {}, targets)
        self.save(chosen, decisions, t0)
        for row, key, values, tg in ROWS:
            cur_opts = dict(chosen)
            cur = self.measure(f"row{row}-{family_name(cur_opts)}", cur_opts, tg)
            alt_opts = dict(chosen, **{key: values[1]})
            alt = self.measure(f"row{row}-{family_name(alt_opts)}", alt_opts, tg)
            winner, ev = self.compare(cur, alt, tg)
            pick = values[1] if winner is alt else values[0]
            if pick != values[0]:
                chosen[key] = pick
            decisions.append({"row": row, "key": key, "values": values, "chosen": pick,
                              "current_family": cur["name"], "alternative_family": alt["name"], **ev})
            log(f"§9 row {row} {key}: {pick} ({ev['rule']})")
            self.save(chosen, decisions, t0)
        # The chosen table on every target: a target whose table some family measured already
        # reuses it; only the rest is verified.
        self.measure("chosen", dict(chosen), targets)
        self.save(chosen, decisions, t0)
        self.measure("standard", {}, targets, kind="standard")
        self.save(chosen, decisions, t0)
        self.measure("chosen", dict(chosen), targets, init=True)
        self.save(chosen, decisions, t0)
        self.widen(self.families["chosen"])
        self.save(chosen, decisions, t0)
        coord = {}
        for name, opts in [("default", {}), ("chosen", chosen)]:
            coord[name] = self.coord_check(name, opts)
        self.save(chosen, decisions, t0, coord)
        return load(os.path.join(self.out, "state.json"))

    def coord_check(self, name, opts):
        s = load(self.reference_spec("mue"))
        cfg = {"schema": "mue.config/1", "model": s["model"], "train": s["train"],
               "hparams": dict(s["hparams"], lr=2 ** -7), "options": dict(BASE, **opts)}
        p = os.path.join(self.out, "coord", f"{name}.json")
        dump(cfg, p)
        d = os.path.join(self.out, "coord", name)
        self.muE("coord-check", p, "--out", d, ok=(0, 1))
        return load(os.path.join(d, "coord_check.json"))


def table_key(t):
    """What determines a target's training: shape, train spec and every value of its table."""
    def values(x):
        if isinstance(x, dict):
            if "value" in x and "base_reason" in x:
                return round_sig(x["value"])
            return {k: values(v) for k, v in sorted(x.items()) if k not in ("trace", "base_reason", "reason")}
        if isinstance(x, list):
            return [values(v) for v in x]
        return round_sig(x) if isinstance(x, float) else x
    body = {k: values(t[k]) for k in ("model", "train", "groups", "optimizer", "scalars")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def round_sig(v):
    return float(f"{v:.10g}") if isinstance(v, float) else v


def family_name(opts):
    if not opts:
        return "default"
    return "+".join(f"{k}={v}" for k, v in sorted(opts.items()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "transfer-quality"))
    ap.add_argument("--mue", default=os.path.join(ROOT, "build", "muE"))
    ap.add_argument("--jobs", default="0")
    ap.add_argument("--collect-only", action="store_true")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    b = Bench(out, os.path.abspath(a.mue), a.jobs)
    if a.collect_only:
        state = load(os.path.join(out, "state.json"))
    else:
        state = b.run()
    import transfer_quality_report
    transfer_quality_report.write(b, state, ROOT)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
