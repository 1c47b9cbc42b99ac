#!/usr/bin/env python3
"""Collects bench/transfer_quality's runs into bench/results/transfer_quality.json,
docs/results.md and two plots (gnuplot). Standard library only.
usage: transfer_quality.py OUT_DIR REPO_ROOT WALL_SECONDS"""
import json
import math
import os
import platform
import subprocess
import sys

out, root, wall = sys.argv[1], sys.argv[2], float(sys.argv[3])
KINDS = [("mue", "muE (Complete-muE table)"), ("standard", "standard parameterization")]


def load(path):
    with open(path) as f:
        return json.load(f)


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


data = {}
for kind, _ in KINDS:
    ref = load(f"{out}/{kind}/reference/sweep.json")
    ver = load(f"{out}/{kind}/verify/verify.json")
    lr = ref["optimum"]["axes"]["lr"]
    targets = []
    for c in ver["cases"]:
        best = min((g["objective"] for g in c["grid"] if g["objective"] is not None), default=None)
        targets.append({
            "name": c["target"], "transferred_lr": c["bridged"], "direct_optimum_lr": c["empirical"],
            "direct_ci": c.get("ci"), "drift_log2": c["drift"], "drift_ci": c.get("drift_ci"),
            "at_edge": c["at_edge"], "verdict": c["verdict"], "loss_gap_at_transferred": c["gap"],
            "best_objective": best, "grid": c["grid"]})
    drifts = [abs(t["drift_log2"]) for t in targets if t["drift_log2"] is not None]
    data[kind] = {
        "reference": {"optimum_lr": lr["value"], "ci": [lr["ci_low"], lr["ci_high"]], "at_edge": lr["at_edge"],
                      "method": ref["fit"]["method"], "r2": ref["fit"]["r2"],
                      "best_objective": ref["fit"]["best_objective"], "trials": ref["counts"]["planned"]},
        "targets": targets,
        "mean_abs_drift_log2": sum(drifts) / len(drifts) if drifts else None,
        "max_abs_drift_log2": max(drifts) if drifts else None,
        "direct_trials": ver["trials"]["planned"],
        "verify": {"points": ver["points"], "step": ver["step"], "tolerance": ver["tolerance"],
                   "objective": ver["objective"], "verdict": ver["verdict"], "counts": ver["counts"]},
        "environment": ver["environment"],
    }

mue, sp = data["mue"], data["standard"]
n_ref = mue["reference"]["trials"]
result = {
    "bench": "transfer_quality",
    "what": "dense reference LR sweep (d_model 64, H = d, 200 steps of 16x64 tokens, synthetic language), "
            "transfer to 5 targets, direct LR sweep at each target (11 points, 0.5 log2 apart, centred on the "
            "transferred LR); muE vs the standard parameterization in the same run",
    "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "gpu": None},
    "versions": {"muE": mue["environment"].get("muE"), "torch": mue["environment"].get("torch")},
    "wall_s": wall,
    "drift_log2": {t["name"]: {"mue": t["drift_log2"],
                               "standard": next(s["drift_log2"] for s in sp["targets"] if s["name"] == t["name"])}
                   for t in mue["targets"]},
    "mean_abs_drift_log2": {"mue": mue["mean_abs_drift_log2"], "standard": sp["mean_abs_drift_log2"]},
    "max_abs_drift_log2": {"mue": mue["max_abs_drift_log2"], "standard": sp["max_abs_drift_log2"]},
    "trial_count": {
        "muE_route": n_ref,
        "muE_route_note": "one dense sweep; every target's hyperparameters are closed-form",
        "per_target_route": n_ref + mue["direct_trials"],
        "per_target_route_note": "the dense sweep plus one LR sweep per target (as run here for verification)",
    },
    "parameterizations": data,
}
os.makedirs(f"{root}/bench/results", exist_ok=True)
tmp = f"{root}/bench/results/transfer_quality.json.tmp"
with open(tmp, "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")
os.replace(tmp, f"{root}/bench/results/transfer_quality.json")

# Plots.
img = f"{root}/docs/img"
os.makedirs(img, exist_ok=True)


def gnuplot(program, path):
    try:
        subprocess.run(["gnuplot"], input=f"set terminal svg size 1000,480 dynamic noenhanced font 'sans,12'\n"
                       f"set output '{path}'\n{program}", text=True, check=True, capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"transfer_quality: no plot {path}: {e}", file=sys.stderr)
        return False


names = [t["name"] for t in mue["targets"]]
rows = []
for i, n in enumerate(names):
    m = next(t for t in mue["targets"] if t["name"] == n)
    s = next(t for t in sp["targets"] if t["name"] == n)
    def ci(t, k):
        return t["drift_ci"][k] if t["drift_ci"] else t["drift_log2"]
    rows.append(f"{i} {m['drift_log2']} {ci(m, 0)} {ci(m, 1)} {s['drift_log2']} {ci(s, 0)} {ci(s, 1)}")
xt = ", ".join(f"'{n}' {i}" for i, n in enumerate(names))
drift_plot = f"""set title 'LR drift: log2(directly tuned LR / transferred LR), 95% CI'
set ylabel 'drift (log2 units; 0 = perfect transfer)'
set xtics ({xt})
set xrange [-0.6:{len(names) - 0.4}]
set grid ytics
set key top left box
set style fill solid 0.3
set object 1 rect from -0.6, -1 to {len(names) - 0.4}, 1 fillcolor rgb '#e8f3e8' fillstyle solid 1.0 noborder behind
set label 1 'verify tolerance ±1' at -0.5, 0.85
plot '-' using ($1-0.12):2:3:4 with yerrorbars pointtype 7 pointsize 1.3 linecolor rgb '#1f4e8c' title 'muE', \\
     '-' using ($1+0.12):5:6:7 with yerrorbars pointtype 5 pointsize 1.3 linecolor rgb '#c0392b' title 'standard parameterization', \\
     0 with lines linecolor rgb '#555555' dashtype 2 notitle
""" + "\n".join(rows) + "\ne\n" + "\n".join(rows) + "\ne\n"
gnuplot(drift_plot, f"{img}/transfer_quality_drift.svg")

curves = ("set multiplot layout 1,2 title 'objective vs LR at each target, x = log2(LR / transferred LR)"
          " (y clipped at best + 0.3)'\n")
for kind, title in KINDS:
    series, blocks = [], []
    lows = [g["objective"] for t in data[kind]["targets"] for g in t["grid"] if g["objective"] is not None]
    y0 = min(lows) if lows else 0
    for t in data[kind]["targets"]:
        pts = [f"{g['offset_log2']} {g['objective']}" for g in t["grid"] if g["objective"] is not None]
        if pts:
            series.append(f"'-' using 1:2 with linespoints pointtype 7 pointsize 0.6 title '{t['name']}'")
            blocks.append("\n".join(pts) + "\ne")
    curves += (f"set title '{title}'\nset xlabel 'log2(LR / transferred LR)'\nset ylabel 'objective (val loss)'\n"
               "set grid\nset key top center box\nset arrow 1 from 0, graph 0 to 0, graph 1 nohead dashtype 2\n"
               f"set yrange [{y0 - 0.01}:{y0 + 0.3}]\n"
               "plot " + ", ".join(series) + "\n" + "\n".join(blocks) + "\n")
curves += "unset multiplot\n"
gnuplot(curves, f"{img}/transfer_quality_curves.svg")


def f(x, spec="{:+.2f}"):
    return "–" if x is None else spec.format(x)


def ci(t):
    return "" if not t["drift_ci"] else f" [{t['drift_ci'][0]:+.2f}, {t['drift_ci'][1]:+.2f}]"


lines = []
for n in names:
    m = next(t for t in mue["targets"] if t["name"] == n)
    s = next(t for t in sp["targets"] if t["name"] == n)
    lines.append(f"| {n} | {m['transferred_lr']:.4g} | {m['direct_optimum_lr']:.4g} | {f(m['drift_log2'])}{ci(m)}"
                 f"{' (edge)' if m['at_edge'] else ''} | {f(m['loss_gap_at_transferred'], '{:.4f}')} | "
                 f"{s['transferred_lr']:.4g} | {s['direct_optimum_lr']:.4g} | {f(s['drift_log2'])}{ci(s)}"
                 f"{' (edge)' if s['at_edge'] else ''} | {f(s['loss_gap_at_transferred'], '{:.4f}')} | "
                 f"{f(m['best_objective'], '{:.4f}')} / {f(s['best_objective'], '{:.4f}')} |")
doc = f"""# Transfer quality: measured results

Produced by `bench/transfer_quality` (one command; {wall / 60:.0f} min on {cpu_model()},
{os.cpu_count()} cores, CPU only) from the specs in `sweeps/experiments/`. The figures
below are copied from `bench/results/transfer_quality.json` by `bench/transfer_quality.py`;
re-running the command regenerates this page.

## What was run

- **Reference**: a dense GPT, d_model 64, 2 layers, FFN width H = d, 200 steps of 16 × 64
  tokens on the built-in synthetic language; init std 0.01, wd 0.1; LR swept over
  2^-12 … 2^-4 in half-octave steps ({n_ref} trials), objective = mean of the last two
  validation losses.
- **Targets**: `width-2x` and `width-4x` (d_model 128 / 256, H = d), `moe-8e2a` and
  `moe-16e4a` (8 experts of 32, top-2; 16 experts of 16, top-4: the same active width
  H_act = 64 = d), `moe-8e2a1s` (8e2a plus one shared expert of 32: H_act = 96). Same
  batch, steps and data as the reference.
- **muE**: the reference sweep and every target use the Complete-muE table
  (`muE transfer`); the transferred LR is the target's `optimizer.lr`.
- **Baseline**: the same with `"options": {{"parameterization": "standard"}}` —
  PyTorch-default init, one global LR — where "transfer" means reusing the reference's
  tuned LR.
- **Direct tuning**: at every target, `muE verify --points 11 --step 0.5`: an LR sweep of
  11 values, 0.5 log2 apart, centred on the transferred LR, and its fitted optimum.
  Drift = log2(directly tuned LR / transferred LR): 0 is a perfect transfer, −1 means the
  target wanted half the LR.

## Results

Reference optimum: muE lr {mue['reference']['optimum_lr']:.4g} (95% CI {mue['reference']['ci'][0]:.4g} – {mue['reference']['ci'][1]:.4g});
standard {sp['reference']['optimum_lr']:.4g} ({sp['reference']['ci'][0]:.4g} – {sp['reference']['ci'][1]:.4g}).

| target | muE: transferred LR | muE: tuned LR | muE drift [95% CI] | muE loss gap | SP: transferred LR | SP: tuned LR | SP drift [95% CI] | SP loss gap | best loss muE / SP |
|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(lines) + f"""

Mean |drift|: muE {mue['mean_abs_drift_log2']:.2f}, standard {sp['mean_abs_drift_log2']:.2f} log2 units;
largest: muE {mue['max_abs_drift_log2']:.2f}, standard {sp['max_abs_drift_log2']:.2f}. "Loss gap" is the
objective at the transferred LR minus the best objective of the direct sweep. "(edge)" marks
an optimum at the end of the 11-point grid: the drift is then at least that large.

![drift per target](img/transfer_quality_drift.svg)

![objective vs LR at each target](img/transfer_quality_curves.svg)

**Trials.** The muE route used {n_ref} trials (one dense sweep; every target's table is
closed-form). Tuning each target directly, as done here to check the transfer, took
{mue['direct_trials']} more ({n_ref + mue['direct_trials']} in all) — and a sweep per architecture
grows with every new MoE shape, while muE's stays at one.

## Reading the numbers honestly

{{honest}}
"""
def over(kind, tol=1.0):
    return [t for t in data[kind]["targets"] if t["drift_log2"] is not None and abs(t["drift_log2"]) > tol]


def listing(ts):
    return ", ".join(f"`{t['name']}` ({t['drift_log2']:+.2f})" for t in ts) or "none"


def sd(t):
    return "{:+.2f}".format(t["drift_log2"])


widths = [t for t in mue["targets"] if t["name"].startswith("width")]
moes = [t for t in mue["targets"] if t["name"].startswith("moe")]
sp_moes = [t for t in sp["targets"] if t["name"].startswith("moe")]
notes = [
    f"- Over the five targets muE's transferred LR is closer to the directly tuned one than the "
    f"standard parameterization's: mean |drift| {mue['mean_abs_drift_log2']:.2f} vs "
    f"{sp['mean_abs_drift_log2']:.2f} log2 units. Past the ±1 tolerance: muE {listing(over('mue'))}; "
    f"standard {listing(over('standard'))}.",
    f"- The MoE bridges hold best: at the same active width (Bridges I and II, with and without a "
    f"shared expert) muE's drift is {', '.join(sd(t) for t in moes)} "
    f"({sum(1 for t in moes if t['drift_ci'] and t['drift_ci'][0] <= 0 <= t['drift_ci'][1])} of {len(moes)} "
    f"CIs contain 0); the baseline's drift there is "
    f"{', '.join(sd(t) for t in sp_moes)} — small too, since these targets keep d_model.",
    "- Width: muE's drift at " + ", ".join("`" + t["name"] + "` " + sd(t) for t in widths) +
    " (positive: the wider model wants *more* LR than the table's η/ρ_d on hidden weights gives), the "
    "baseline's " + ", ".join("`" + t["name"] + "` " + sd(t) for t in sp["targets"] if t["name"].startswith("width")) +
    " (negative: it keeps η while the wider model needs less). " +
    ("muE drifts past the tolerance of 1 at " + listing([t for t in widths if abs(t["drift_log2"]) > 1]) +
     ": more than the blog's \"minor drift\". " if any(abs(t["drift_log2"]) > 1 for t in widths) else "") +
    f"Candidates, not yet tested: docs/method.md §9's open choices most likely to move width optima "
    f"(`head_rule`, `router_rule`, `wd_width_scaling`), and this proxy's short horizon (200 steps, where "
    f"warm-up and the early phase dominate).",
    f"- Best losses: with its own tuned LR the standard parameterization reached a lower objective "
    f"than muE at {sum(1 for m, t in zip(mue['targets'], sp['targets']) if t['best_objective'] < m['best_objective'])} "
    f"of {len(mue['targets'])} targets (`width-4x`: "
    f"{next(t['best_objective'] for t in sp['targets'] if t['name'] == 'width-4x'):.4f} vs "
    f"{next(t['best_objective'] for t in mue['targets'] if t['name'] == 'width-4x'):.4f} muE). muE's init std "
    f"(0.01) was fixed, not tuned, while the baseline uses PyTorch's fan-in init; this experiment "
    f"measures where the optimum LR moves, not which parameterization trains best.",
    "- Limits: one seed per point, 200 steps, a synthetic language, widths up to 4× and MoE at one "
    "active width, CPU only. The drift CIs come from the fit's bootstrap (calibrated on synthetic "
    "sweeps, see README); several are wide (a flat loss basin), so single drifts below ~0.5 log2 "
    "are not distinguishable from 0.",
]
honest = "\n".join(notes)
doc = doc.replace("{honest}", honest)
with open(f"{root}/docs/results.md.tmp", "w") as fh:
    fh.write(doc)
os.replace(f"{root}/docs/results.md.tmp", f"{root}/docs/results.md")
print(json.dumps({"mean_abs_drift_log2": result["mean_abs_drift_log2"], "max_abs_drift_log2": result["max_abs_drift_log2"],
                  "drift_log2": result["drift_log2"], "trial_count": result["trial_count"]}))
