"""Writes bench/results/transfer_quality.json, docs/results.md and docs/img/transfer_quality_*.svg
from a bench/transfer_quality run (its state.json and the verify reports it names). Every figure
on the page is computed here from the measured runs; the prose around them states the goals and
reads each one as met or missed from those figures."""
import json
import math
import os
import platform
import subprocess
import sys

GOAL_MEAN, GOAL_MAX, GOAL_SP_RATIO, GOAL_REGRET, GOAL_BEST, GOAL_BEST_SHARE, GOAL_SLOPE = (
    0.25, 0.6, 3.0, 0.005, 0.005, 0.8, 0.25)


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


def mean(v):
    v = [x for x in v if x is not None]
    return sum(v) / len(v) if v else None


def cell(s):
    """Text for a Markdown table cell: a literal | would end the cell."""
    return str(s).replace("|", "\\|")


def fmt(x, spec="{:+.2f}"):
    return "–" if x is None else spec.format(x)


def gnuplot(program, path):
    try:
        subprocess.run(["gnuplot"], input="set terminal svg size 1100,500 dynamic noenhanced font 'sans,12'\n"
                       f"set output '{path}'\n{program}", text=True, check=True, capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"transfer_quality: no plot {path}: {e}", file=sys.stderr)
        return False


def write(bench, state, root):
    out = bench.out
    fams = state["families"]
    bench.families = fams
    targets = fams["default"]["targets"]
    chosen = state["chosen"]
    empty = {"name": "", "targets": [], "source": {}, "kind": "mue", "options": {}}
    final, default = fams.get("chosen", fams["default"]), fams["default"]
    sp = fams.get("standard", dict(empty, kind="standard"))  # a run cut short: not measured
    c_final, c_default, c_sp = bench.cases(final), bench.cases(default), bench.cases(sp)
    c_init = bench.cases(final, "init_std")
    # Best loss found at each target over every muE family tried (lr and init-std sweeps).
    best_all = {}
    for f in fams.values():
        if f["kind"] != "mue":
            continue
        for axis in ("lr", "init_std"):
            for t, c in bench.cases(f, axis).items():
                if c["best"] is not None:
                    best_all[t] = min(best_all.get(t, math.inf), c["best"])
    ref_m, ref_s = load(f"{out}/reference-mue/sweep.json"), load(f"{out}/reference-standard/sweep.json")
    state.setdefault("coord_check", {})

    def ref_info(r):
        ax = r["optimum"]["axes"]
        return {"optimum": {k: {"value": v["value"], "ci": [v["ci_low"], v["ci_high"]], "at_edge": v["at_edge"]}
                            for k, v in ax.items()},
                "fit": {"method": r["fit"]["method"], "r2": r["fit"].get("r2"),
                        "best_objective": r["fit"]["best_objective"]},
                "trials": r["counts"]["planned"]}

    rows = []
    for t in targets:
        m, d, s = c_final.get(t, {}), c_default.get(t, {}), c_sp.get(t, {})
        at = m.get("at_transferred")
        rows.append({
            "target": t, "transferred_lr": m.get("bridged"), "tuned_lr": m.get("empirical"),
            "drift": m.get("drift"), "drift_ci": m.get("drift_ci"), "verdict": m.get("verdict"),
            "fit": m.get("method"), "loss_at_transferred": at, "best_loss_muE": best_all.get(t),
            "regret": (at / best_all[t] - 1) if at is not None and t in best_all else None,
            "init_drift": (c_init.get(t) or {}).get("drift"),
            "default_drift": d.get("drift"), "default_loss_at_transferred": d.get("at_transferred"),
            "sp_drift": s.get("drift"), "sp_drift_ci": s.get("drift_ci"), "sp_verdict": s.get("verdict"),
            "sp_best": s.get("best"), "sp_loss_at_transferred": s.get("at_transferred"),
            "grid": m.get("grid"), "sp_grid": s.get("grid")})
    drifts = [abs(r["drift"]) for r in rows if r["drift"] is not None]
    sp_drifts = [abs(r["sp_drift"]) for r in rows if r["sp_drift"] is not None]
    def_drifts = [abs(r["default_drift"]) for r in rows if r["default_drift"] is not None]
    regrets = [r["regret"] for r in rows if r["regret"] is not None]
    better = [r for r in rows if r["best_loss_muE"] is not None and r["sp_best"] is not None]
    n_ok_best = sum(1 for r in better if r["best_loss_muE"] <= r["sp_best"] * (1 + GOAL_BEST))
    chain = [("reference (d 64)", ref_m["fit"]["best_objective"])] + [
        (f"{t} (d {64 * (2 if t == 'width-2x' else 4)})", c_final.get(t, {}).get("at_transferred"))
        for t in ("width-2x", "width-4x")]
    wider_better = all(a[1] is not None and b[1] is not None and b[1] < a[1] for a, b in zip(chain, chain[1:]))
    coord = {}
    for name, cc in state["coord_check"].items():
        sl = cc.get("slopes", {})
        coord[name] = {"delta_rms": sl.get("delta_rms", {}), "init_rms": sl.get("rms_init", sl.get("init_rms", {}))}
    worst_slope = max((abs(v) for v in coord.get("chosen", {}).get("delta_rms", {}).values()), default=None)
    mean_d, max_d, mean_sp = mean(drifts), max(drifts) if drifts else None, mean(sp_drifts)
    goals = [
        {"goal": f"mean |drift| <= {GOAL_MEAN} log2", "value": mean_d, "met": mean_d is not None and mean_d <= GOAL_MEAN},
        {"goal": f"max |drift| <= {GOAL_MAX} log2", "value": max_d, "met": max_d is not None and max_d <= GOAL_MAX},
        {"goal": f"standard's mean |drift| >= {GOAL_SP_RATIO}x muE's", "value": (mean_sp / mean_d) if mean_d and mean_sp is not None else None,
         "met": bool(mean_d) and mean_sp is not None and mean_sp >= GOAL_SP_RATIO * mean_d},
        {"goal": f"loss at the transferred point within {GOAL_REGRET:.1%} of the best found, at every target",
         "value": max(regrets) if regrets else None,
         "met": bool(regrets) and len(regrets) == len(rows) and max(regrets) <= GOAL_REGRET},
        {"goal": f"muE best loss <= standard's + {GOAL_BEST:.1%} at >= {GOAL_BEST_SHARE:.0%} of targets",
         "value": n_ok_best / len(better) if better else None,
         "met": bool(better) and n_ok_best >= GOAL_BEST_SHARE * len(better)},
        {"goal": "wider is better at the transferred hyperparameters (d 64 > 128 > 256 in loss)",
         "value": [c[1] for c in chain], "met": wider_better},
        {"goal": f"coord-check of the chosen table: |slope| <= {GOAL_SLOPE} for every group's update",
         "value": worst_slope, "met": worst_slope is not None and worst_slope <= GOAL_SLOPE},
    ]
    env = {}
    for f in (final, default):
        for src in f["source"].values():
            try:
                env = load(os.path.join(src, "verify.json"))["environment"]
                break
            except (OSError, KeyError):
                continue
        if env:
            break
    n_trials = 0
    seen = set()
    for f in fams.values():
        for src in f["source"].values():
            if src in seen:
                continue
            seen.add(src)
            try:
                n_trials += load(os.path.join(src, "verify.json"))["trials"]["planned"]
            except (OSError, KeyError):
                pass
    # Compute spent: every trial's own wall time, over every journal of the run (each trial once).
    walls = {}
    for jdir in [f"{out}/reference-mue", f"{out}/reference-standard"] + sorted(seen):
        try:
            for line in open(os.path.join(jdir, "trials.jsonl")):
                try:
                    t = json.loads(line)
                except ValueError:
                    continue
                walls[t["id"]] = t.get("wall_s") or 0
        except OSError:
            pass
    result = {
        "bench": "transfer_quality",
        "what": ("dense reference d_model 64 (H = d, 2 blocks, 500 steps of 16 x 64 tokens, warmup 10%) on the "
                 "Debian fortunes text (data/fortunes.txt), lr x init std swept with 2 seeds; transfer to 16 "
                 "targets; a direct lr sweep at each (5 points 0.5 log2 apart, 2 seeds; init std too at the width "
                 "targets); §9 options chosen by coordinate descent; the standard parameterization in the same run"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "gpu": None},
        "versions": {"muE": env.get("muE"), "torch": env.get("torch")},
        "wall_s_last_invocation": state.get("wall_s"),
        "trial_seconds": {"trials": len(walls), "sum_wall_s": sum(walls.values())},
        "trials": {"reference_muE": ref_m["counts"]["planned"], "reference_standard": ref_s["counts"]["planned"],
                   "verify": n_trials},
        "reference": {"muE": ref_info(ref_m), "standard": ref_info(ref_s),
                      "grid": ref_m["spec"]["axes"]},
        "chosen_options": chosen,
        "decisions": state["decisions"],
        "mean_abs_drift_log2": {"muE": mean_d, "muE_previous_defaults": mean(def_drifts), "standard": mean_sp},
        "max_abs_drift_log2": {"muE": max_d, "standard": max(sp_drifts) if sp_drifts else None},
        "goals": goals,
        "wider_is_better": chain,
        "coord_check": coord,
        "targets": rows,
    }
    os.makedirs(f"{root}/bench/results", exist_ok=True)
    tmp = f"{root}/bench/results/transfer_quality.json.tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, f"{root}/bench/results/transfer_quality.json")
    plots(result, root)
    page(result, root)
    print(json.dumps({"mean_abs_drift_log2": result["mean_abs_drift_log2"], "chosen": chosen,
                      "goals": [(g["goal"], g["met"]) for g in goals]}, indent=1))


def plots(res, root):
    img = f"{root}/docs/img"
    os.makedirs(img, exist_ok=True)
    rows = res["targets"]
    names = [r["target"] for r in rows]

    def ci(r, key, k):
        c = r[key + "_ci"]
        return c[k] if c else (r[key] if r[key] is not None else 0)
    data = "\n".join(f"{i} {fmt(r['drift'], '{}') if r['drift'] is not None else 'NaN'} {ci(r, 'drift', 0)} "
                     f"{ci(r, 'drift', 1)} {r['sp_drift'] if r['sp_drift'] is not None else 'NaN'} "
                     f"{ci(r, 'sp_drift', 0)} {ci(r, 'sp_drift', 1)}" for i, r in enumerate(rows))
    xt = ", ".join(f"'{n}' {i}" for i, n in enumerate(names))
    gnuplot(f"""set title 'lr drift: log2(directly tuned lr / transferred lr), 95% CI'
set ylabel 'drift (log2; 0 = perfect transfer)'
set xtics ({xt}) rotate by -35
set xrange [-0.6:{len(names) - 0.4}]
set grid ytics
set key top left box
set object 1 rect from -0.6, -{GOAL_MAX} to {len(names) - 0.4}, {GOAL_MAX} fillcolor rgb '#e8f3e8' fillstyle solid 1.0 noborder behind
plot '-' using ($1-0.12):2:3:4 with yerrorbars pointtype 7 pointsize 1.2 linecolor rgb '#1f4e8c' title 'muE (chosen defaults)', \\
     '-' using ($1+0.12):5:6:7 with yerrorbars pointtype 5 pointsize 1.2 linecolor rgb '#c0392b' title 'standard parameterization', \\
     0 with lines linecolor rgb '#555555' dashtype 2 notitle
{data}
e
{data}
e
""", f"{img}/transfer_quality_drift.svg")
    series, blocks = [], []
    for r in rows:
        if not r["grid"] or r["transferred_lr"] is None:
            continue
        pts = [f"{math.log2(v / r['transferred_lr']):.3f} {o / r['best_loss_muE']:.5f}"
               for v, o in r["grid"] if o is not None and r["best_loss_muE"]]
        if pts:
            series.append(f"'-' using 1:2 with linespoints pointtype 7 pointsize 0.5 title '{r['target']}'")
            blocks.append("\n".join(pts) + "\ne")
    gnuplot("set title 'muE: loss vs lr at each target, relative to the best loss found there'\n"
            "set xlabel 'log2(lr / transferred lr)'\nset ylabel 'loss / best loss at the target'\n"
            "set grid\nset key outside right\nset yrange [0.998:1.03]\n"
            "set arrow 1 from 0, graph 0 to 0, graph 1 nohead dashtype 2\n"
            "plot " + ", ".join(series) + "\n" + "\n".join(blocks) + "\n", f"{img}/transfer_quality_curves.svg")


def page(res, root):
    rows = res["targets"]
    ref = res["reference"]
    m_lr, m_init = ref["muE"]["optimum"]["lr"], ref["muE"]["optimum"].get("init_std")
    s_lr = ref["standard"]["optimum"]["lr"]
    lines = []
    for r in rows:
        ci = f" [{r['drift_ci'][0]:+.2f}, {r['drift_ci'][1]:+.2f}]" if r["drift_ci"] else ""
        sci = f" [{r['sp_drift_ci'][0]:+.2f}, {r['sp_drift_ci'][1]:+.2f}]" if r["sp_drift_ci"] else ""
        lines.append(
            f"| {r['target']} | {fmt(r['transferred_lr'], '{:.4g}')} | {fmt(r['drift'])}{ci} | {r['verdict'] or '–'} | "
            f"{fmt(r['init_drift'])} | {fmt(r['loss_at_transferred'], '{:.4f}')} | {fmt(r['best_loss_muE'], '{:.4f}')} | "
            f"{fmt(r['regret'] * 100 if r['regret'] is not None else None, '{:.2f}%')} | {fmt(r['default_drift'])} | "
            f"{fmt(r['sp_drift'])}{sci} | {fmt(r['sp_best'], '{:.4f}')} |")
    dec = []
    for d in res["decisions"]:
        le, dr = d["loss_excess"], d["mean_abs_drift"]
        dec.append(f"| {d['row']} | `{d['key']}` | {d['values'][0]} vs {d['values'][1]} | {', '.join(d['targets'])} | "
                   f"{fmt(le[0] * 100 if le[0] is not None else None, '{:.2f}%')} / "
                   f"{fmt(le[1] * 100 if le[1] is not None else None, '{:.2f}%')} | "
                   f"{fmt(dr[0], '{:.2f}')} / {fmt(dr[1], '{:.2f}')} | **{d['chosen']}** ({cell(d['rule'])}) |")
    goals = "\n".join(f"| {cell(g['goal'])} | {fmt_goal(g['value'])} | {'met' if g['met'] else '**missed**'} |"
                      for g in res["goals"])
    cc = res["coord_check"]
    cc_lines = []
    for name in ("default", "chosen"):
        if name in cc:
            cc_lines.append(f"| {name} | " + ", ".join(f"{k} {v:+.2f}" for k, v in sorted(cc[name]["delta_rms"].items())) + " |")
    chain = " → ".join(f"{n}: {fmt(v, '{:.4f}')}" for n, v in res["wider_is_better"])
    chosen = ", ".join(f"`{k}: {v}`" for k, v in res["chosen_options"].items()) or "the previous defaults"
    doc = f"""# Transfer quality on real text: measured results

Produced by `bench/transfer_quality` (one command, resumable) on {res['machine']['cpu']},
{res['machine']['cores']} cores, CPU only, muE {res['versions']['muE']}: {res['trial_seconds']['trials']} trials
whose own wall times sum to {res['trial_seconds']['sum_wall_s'] / 3600:.1f} h (two at a time). Every figure
below is computed by `bench/transfer_quality_report.py` from the run's verify reports and copied into
`bench/results/transfer_quality.json`; re-running the command regenerates this page.

## Setup

- **Data**: the Debian `fortunes` text, 2.48 MB of ASCII (`scripts/corpus` → `data/fortunes.txt`), bytes as
  tokens, the last 10% held out for validation.
- **Reference** (the model and training of `sweeps/text-cpu.json`, on a wider grid): a dense GPT, d_model 64, 2 blocks, 4 heads, FFN width H = d, 500
  steps of 16 × 64 tokens, cosine schedule with 10% warm-up, AdamW (β 0.9/0.95, wd 0.1); objective = mean of the
  last 3 validation losses (every 50 steps). muE swept lr {grid_text(ref['grid'].get('lr'))} × init std
  {grid_text(ref['grid'].get('init_std'))} with 2 seeds ({ref['muE']['trials']} trials): optimum lr {m_lr['value']:.4g}
  (95% CI {m_lr['ci'][0]:.4g} – {m_lr['ci'][1]:.4g}){f", init std {m_init['value']:.4g}" if m_init else ""}.
  The standard parameterization (PyTorch's fan-in init, one global lr, no multipliers) has no init-std knob
  (σ⋆ is unused by its table), so it swept lr only ({ref['standard']['trials']} trials): optimum
  {s_lr['value']:.4g} ({s_lr['ci'][0]:.4g} – {s_lr['ci'][1]:.4g}).
- **Targets** (`sweeps/text-targets.json`): width ×2 and ×4 (H = d), depth ×2 and ×4, FFN width ×4, Bridge I
  (8 experts of 8, all active), Bridge II at sparsity ½ (8e4a) and ¼ (8e2a) at the same active width, capacity
  ×4 (32e2a), granularity ×2 and ×4 (16e4a, 32e8a), a shared expert (8e2a1s), group-balanced routing
  (8e2a2g), 8e2a at width ×2, batch ×2 at the same tokens, duration ×2.
- **Direct tuning at each target**: `muE verify` — 5 lr values 0.5 log2 apart centred on the transferred lr,
  2 seeds each (the standard parameterization: 1.0 apart, since it drifts further, and one seed per point to fit
  the 2-core time budget), and at the width targets an
  init-std sweep the same way. Drift = log2(tuned lr / transferred lr). {res['trials']['verify']} verify trials.
- **Option study** (docs/method.md §9): each row was tried on the targets whose table it changes, in the order
  below, each under the values chosen before it. A value replaces the current default when its loss at the
  transferred point is lower by more than 0.1% on average over those targets; closer than that, the smaller mean
  |drift| decides (by more than 0.05), else the default stays.

## Defaults chosen by measurement

| § 9 row | option | default vs alternative | targets | loss above the better of the two (default / alternative) | mean \\|drift\\| (default / alternative) | chosen |
|---|---|---|---|---|---|---|
""" + "\n".join(dec) + f"""

Chosen: {chosen}.

## Results with the chosen defaults

| target | transferred global lr | drift [95% CI] | verdict | init-std drift | loss at transferred | best loss found (all muE runs) | regret | drift, previous defaults | standard: drift [95% CI] | standard: best loss |
|---|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(lines) + f"""

Mean |drift|: muE {fmt(res['mean_abs_drift_log2']['muE'], '{:.2f}')} (previous defaults
{fmt(res['mean_abs_drift_log2']['muE_previous_defaults'], '{:.2f}')}), standard parameterization
{fmt(res['mean_abs_drift_log2']['standard'], '{:.2f}')} log2; largest muE {fmt(res['max_abs_drift_log2']['muE'], '{:.2f}')},
standard {fmt(res['max_abs_drift_log2']['standard'], '{:.2f}')}. Regret = loss at the transferred point / the best
loss found at that target over every muE run (its lr and init-std sweeps under every option family) − 1.

Wider is better at the transferred hyperparameters: {chain}.

coord-check (`muE coord-check`, widths 64–512, 10 steps; log-log slope of each group's update RMS vs width):

| table | slopes |
|---|---|
""" + "\n".join(cc_lines) + f"""

![drift per target](img/transfer_quality_drift.svg)

![loss vs lr at each target](img/transfer_quality_curves.svg)

## Goals

| goal | measured | |
|---|---|---|
{goals}

## Reading

READING
"""
    reading_path = f"{root}/bench/transfer_quality_reading.md"
    reading = open(reading_path).read().strip() if os.path.exists(reading_path) else "(not written yet)"
    doc = doc.replace("READING", reading)
    tmp = f"{root}/docs/results.md.tmp"
    with open(tmp, "w") as fh:
        fh.write(doc)
    os.replace(tmp, f"{root}/docs/results.md")


def grid_text(ax):
    """An axis of the sweep spec as the page shows it: {a, b, c} or lo … hi (n values)."""
    if ax is None:
        return "–"
    vals = ax if isinstance(ax, list) else ax.get("values", [])
    if isinstance(ax, dict) and "log2_grid" in ax:
        lo, hi, step = ax["log2_grid"]
        return f"2^{lo:g} … 2^{hi:g} ({step:g} log2 apart)"
    if len(vals) > 5:
        return (f"{vals[0]:.4g} … {vals[-1]:.4g} ({len(vals)} values, "
                f"{math.log2(vals[1] / vals[0]):g} log2 apart)")
    return "{" + ", ".join(f"{v:g}" for v in vals) + "}"


def fmt_goal(v):
    if v is None:
        return "–"
    if isinstance(v, list):
        return " → ".join(fmt(x, "{:.4f}") for x in v)
    return f"{v:.3g}"
