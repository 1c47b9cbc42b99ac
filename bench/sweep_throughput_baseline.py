#!/usr/bin/env python3
"""Baseline for bench/sweep_throughput: the trials of sweeps/tiny-cpu.json the way a user
would write the loop in PyTorch — one process, torch's defaults (threads, OpenMP policy,
allocator), one trial after another. Same model, batch, steps, schedule, optimizer and
evaluation as muE's trials; its own random-token data (data generation is not what is
measured). Prints one JSON line: wall time, trials, tokens trained."""
import itertools, json, math, sys, time
import torch
import torch.nn.functional as F

spec = json.load(open(sys.argv[1]))
m, t = spec["model"], spec["train"]
V, D, L, NH, T, FF = m["vocab"], m["d_model"], m["n_layers"], m["n_heads"], m["seq_len"], m["ffn"]["d_ff"]
B, STEPS = t["batch_size"], t["steps"]
lo, hi, st = spec["axes"]["lr"]["log2_grid"]
lrs = [2.0 ** (lo + i * st) for i in range(int(round((hi - lo) / st)) + 1)]
stds = spec["axes"]["init_std"]
wd = spec["hparams"]["wd"]


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
        self.qkv, self.out = torch.nn.Linear(D, 3 * D, bias=False), torch.nn.Linear(D, D, bias=False)
        self.up, self.down = torch.nn.Linear(D, FF, bias=False), torch.nn.Linear(FF, D, bias=False)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.n1(x)).view(b, n, 3, NH, d // NH).permute(2, 0, 3, 1, 4)
        if hasattr(F, "scaled_dot_product_attention"):  # torch 2.x: what a user writes now
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(d // NH)
            att = att.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
            y = att @ v
        x = x + self.out(y.transpose(1, 2).reshape(b, n, d))
        return x + self.down(F.gelu(self.up(self.n2(x))))


class Gpt(torch.nn.Module):
    def __init__(self, std):
        super().__init__()
        self.emb = torch.nn.Embedding(V, D)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(L))
        self.norm, self.head = torch.nn.LayerNorm(D), torch.nn.Linear(D, V, bias=False)
        for p in self.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, 0.0, std)

    def forward(self, tok):
        x = self.emb(tok)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x))


def lr_at(step, peak):
    warm = max(1, int(0.05 * STEPS))
    if step < warm:
        return peak * (step + 1) / warm
    frac = (step - warm) / max(1, STEPS - warm - 1)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


start = time.perf_counter()
tokens = 0
for lr, std in itertools.product(lrs, stds):
    torch.manual_seed(0)
    model = Gpt(std)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(1)
    val = [torch.randint(0, V, (B, T + 1), generator=gen) for _ in range(4)]
    for step in range(STEPS):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, lr)
        batch = torch.randint(0, V, (B, T + 1), generator=gen)
        loss = F.cross_entropy(model(batch[:, :-1]).reshape(-1, V), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens += B * T
        if (step + 1) % 50 == 0:
            with torch.no_grad():
                sum(F.cross_entropy(model(v[:, :-1]).reshape(-1, V), v[:, 1:].reshape(-1)).item() for v in val)
print(json.dumps({"wall_s": time.perf_counter() - start, "trials": len(lrs) * len(stds), "tokens": tokens,
                  "torch_threads": torch.get_num_threads(), "torch": torch.__version__}))
