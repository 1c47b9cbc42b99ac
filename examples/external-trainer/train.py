#!/usr/bin/env python3
"""An external trainer driven by muE's command backend: a template to copy into your own.

muE writes a trial file (mue.trial/1) holding the run config and the full
Parameterization table, runs this script, and reads the result file (mue.result/1).
Everything muE decides — each parameter group's init std, lr, wd, eps and forward
multiplier, the block scalars, Adam's betas — is read from trial["table"]; the trainer
decides nothing about scales itself.

usage: train.py --trial TRIAL_JSON --result RESULT_JSON
"""
import argparse, json, math, os, time

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--trial", required=True)
ap.add_argument("--result", required=True)
a = ap.parse_args()
trial = json.load(open(a.trial))
cfg, table = trial["config"], trial["table"]
m, t = cfg["model"], cfg["train"]
if m["ffn"]["kind"] != "dense":
    raise SystemExit("this example trains dense-FFN models only")
V, D, L, H, T = m["vocab"], m["d_model"], m["n_layers"], m["n_heads"], m["seq_len"]
FF, B, STEPS = m["ffn"]["d_ff"], t["batch_size"], t["steps"]
torch.set_num_threads(trial.get("threads", 1))
torch.manual_seed(t["seed"])


def value(x):  # every table entry is {"value", "base_reason", "trace"?}
    return x["value"] if isinstance(x, dict) else x


groups = {name: {k: value(v) for k, v in g.items()} for name, g in table["groups"].items()}
sc = {k: value(v) for k, v in table["scalars"].items()}
A, r, att_scale, out_mult = sc["A"], sc["residual_multiplier"], sc["attention_scale"], sc["output_multiplier"]
params = {}  # group -> [parameters]


def weight(group, *shape):
    std = groups[group]["init_std"]
    p = torch.nn.Parameter(torch.ones(*shape) if group == "norm" else torch.randn(*shape) * std)
    params.setdefault(group, []).append(p)
    return p


def norm(x, g):  # gain-only RMSNorm (muE's default norm)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * g


emb = weight("embedding", V, D)
blocks = [dict(g1=weight("norm", D), qkv=weight("attn_qkv", 3 * D, D), out=weight("attn_out", D, D),
               g2=weight("norm", D), up=weight("ffn_up", FF, D), down=weight("ffn_down", D, FF)) for _ in range(L)]
gf, unemb = weight("norm", D), weight("unembedding", V, D)
mask = torch.ones(T, T, dtype=torch.bool).triu(1)


def forward(tok):
    x = emb[tok]
    b, n, d = x.shape
    for k in blocks:
        q, kk, v = F.linear(norm(x, k["g1"]), k["qkv"]).view(b, n, 3, H, d // H).permute(2, 0, 3, 1, 4)
        att = ((q @ kk.transpose(-2, -1)) * att_scale).masked_fill(mask, float("-inf")).softmax(-1)
        x = x + r * F.linear((att @ v).transpose(1, 2).reshape(b, n, d), k["out"])
        x = x + r * A * F.linear(F.gelu(F.linear(norm(x, k["g2"]), k["up"])), k["down"])
    return F.linear(norm(x, gf), unemb) * out_mult


opt_t = table["optimizer"]
opt = torch.optim.AdamW([{"params": ps, "lr": groups[g]["lr"], "weight_decay": groups[g]["wd"], "eps": groups[g]["eps"],
                          "name": g} for g, ps in params.items()], betas=(opt_t["beta1"], opt_t["beta2"]))
base_lr = [pg["lr"] for pg in opt.param_groups]


def schedule(step):  # muE's warmup + cosine / WSD / constant, as a factor on every group's lr
    s = t["schedule"]
    warm = math.floor(s.get("warmup_fraction", 0.05) * STEPS)
    if step < warm:
        return (step + 1) / warm
    lo = s.get("min_lr_ratio", 0.1)
    if s["kind"] == "constant":
        return 1.0
    if s["kind"] == "wsd":
        start = STEPS * (1 - s.get("decay_fraction", 0.2))
        return 1.0 if step < start else 1 - (1 - lo) * min(1.0, (step - start) / max(1.0, STEPS - start - 1))
    frac = min(1.0, (step - warm) / max(1.0, STEPS - warm - 1))
    return lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * frac))


# Data: the bytes of a text file, or (synthetic) this example's own seeded Markov-ish
# token stream — not muE's built-in language, so losses differ from muE's backend.
if t["data"]["kind"] == "text":
    path = os.path.join(trial.get("base_dir", "."), t["data"]["path"])
    tokens = torch.tensor(list(open(path, "rb").read()), dtype=torch.long)
else:
    g = torch.Generator().manual_seed(t["data"].get("seed", 1234))
    succ = torch.randint(0, V, (V, 4), generator=g).tolist()
    pick = torch.multinomial(torch.tensor([8., 4., 2., 1.]), 50_000, replacement=True, generator=g).tolist()
    seq = [0]
    for c in pick:
        seq.append(succ[seq[-1]][c])
    tokens = torch.tensor(seq)
split = int(len(tokens) * 0.9)
gen = torch.Generator().manual_seed(t["seed"])


def batch(lo, hi, gen):
    i = torch.randint(lo, hi - T - 1, (B,), generator=gen)
    return torch.stack([tokens[j:j + T + 1] for j in i])


val = [batch(split, len(tokens), torch.Generator().manual_seed(7 + k)) for k in range(t["eval"].get("batches", 4))]
threshold = trial.get("divergence_loss") or 1.5 * math.log(V)
curve, vals, status, error, t0 = [], [], "ok", None, time.time()
for step in range(STEPS):
    f = schedule(step)
    for pg, lr in zip(opt.param_groups, base_lr):
        pg["lr"] = lr * f
    x = batch(0, split, gen)
    loss = F.cross_entropy(forward(x[:, :-1]).reshape(-1, V), x[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    clip = t["optimizer"].get("grad_clip", 1.0)
    if clip > 0:
        torch.nn.utils.clip_grad_norm_([p for ps in params.values() for p in ps], clip)
    opt.step()
    lv = loss.item()
    point = {"step": step + 1, "train_loss": lv if math.isfinite(lv) else None, "lr": value(opt_t["lr"]) * f}
    if not math.isfinite(lv) or lv > threshold:
        status, error = "diverged", f"train loss {lv} at step {step + 1}"
        curve.append(point)
        break
    every = t["eval"].get("every", 0)
    if step + 1 == STEPS or (every and (step + 1) % every == 0):
        with torch.no_grad():
            point["val_loss"] = sum(F.cross_entropy(forward(v[:, :-1]).reshape(-1, V), v[:, 1:].reshape(-1)).item()
                                    for v in val) / len(val)
        vals.append(point["val_loss"])
    curve.append(point)

obj = trial.get("objective", {"kind": "final_val_loss"})
k = obj.get("k", 1) if obj["kind"] == "mean_last_k" else 1
result = {"schema": "mue.result/1", "id": trial["id"], "status": status, "curve": curve,
          "wall_s": time.time() - t0, "tokens_per_s": len(curve) * B * T / (time.time() - t0)}
if status == "ok":
    result["objective"] = sum(vals[-k:]) / len(vals[-k:])
    result["final_val_loss"] = vals[-1]
else:
    result["error"] = error
# What was applied, for the test that checks it against the table (and for you to look at).
applied = {pg["name"]: {"lr": base, "wd": pg["weight_decay"], "eps": pg["eps"], "betas": list(pg["betas"])}
           for pg, base in zip(opt.param_groups, base_lr)}
json.dump(applied, open(os.path.join(trial["out_dir"], "applied.json"), "w"), indent=1)
tmp = a.result + ".tmp"
json.dump(result, open(tmp, "w"))
os.replace(tmp, a.result)
