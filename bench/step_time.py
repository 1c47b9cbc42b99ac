#!/usr/bin/env python3
"""Baseline for bench/step_time: the same tiny GPT as muE's LibTorch backend (dense, or the
MoE 8e2a of the same active width with sigmoid-renormalized top-2 gates) in PyTorch eager,
written the way a user would. Run with the pinned environment's Python (.venv, torch 2.x).
Prints one JSON line: per-step times."""
import argparse, json, math, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--model", choices=["dense", "moe"], default="dense")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

V, D, L, H, T, B, FF = 256, 128, 4, 4, 128, 16, 512
N, K, DE = 8, 2, 256  # MoE: experts, active, expert width (K·DE = FF: the same active width)
A = D / FF  # the same output multiplier muE's table gives the FFN (d / H_act)
R = K  # and the route scale of the routed sum (Bridge I: R = a)
SDPA = hasattr(F, "scaled_dot_product_attention")  # torch >= 2.0 (scale= from 2.1)


def rms(x, g):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * g


class Block(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.g1, s.g2 = torch.nn.Parameter(torch.ones(D)), torch.nn.Parameter(torch.ones(D))
        s.w_qkv = torch.nn.Parameter(torch.randn(3 * D, D) * 0.02)
        s.w_out = torch.nn.Parameter(torch.randn(D, D) * 0.02)
        if a.model == "dense":
            s.up = torch.nn.Parameter(torch.randn(FF, D) * 0.02)
            s.down = torch.nn.Parameter(torch.randn(D, FF) * 0.04)
        else:
            s.router = torch.nn.Parameter(torch.randn(N, D) * 0.02)
            s.up = torch.nn.Parameter(torch.randn(N, DE, D) * 0.02)
            s.down = torch.nn.Parameter(torch.randn(N, D, DE) * 0.04)

    def attention(s, x):
        b, t, d = x.shape
        qkv = F.linear(x, s.w_qkv).view(b, t, 3, H, d // H).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if SDPA:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0 / (d // H))
        else:
            att = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / (d // H))
            mask = torch.ones(t, t, dtype=torch.bool).triu(1)
            y = torch.matmul(att.masked_fill(mask, float("-inf")).softmax(-1), v)
        return F.linear(y.transpose(1, 2).reshape(b, t, d), s.w_out)

    def moe(s, x):
        flat = x.reshape(-1, D)
        logits = F.linear(flat, s.router)
        scores = torch.sigmoid(logits)
        idx = logits.topk(K, -1).indices
        sel = scores.gather(1, idx)
        gates = sel / sel.sum(-1, keepdim=True)
        out = torch.zeros_like(flat)
        for e in range(N):  # tokens routed to expert e, with their gate
            tok, slot = (idx == e).nonzero(as_tuple=True)
            if tok.numel() == 0:
                continue
            h = F.gelu(flat[tok] @ s.up[e].t()) @ s.down[e].t()
            out.index_add_(0, tok, h * gates[tok, slot].unsqueeze(1))
        return (out * (R * A)).view_as(x)

    def forward(s, x):
        x = x + s.attention(rms(x, s.g1))
        h = rms(x, s.g2)
        if a.model == "dense":
            return x + F.linear(F.gelu(F.linear(h, s.up)), s.down) * A
        return x + s.moe(h)


class Gpt(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = torch.nn.Parameter(torch.randn(V, D) * 0.02)
        s.blocks = torch.nn.ModuleList(Block() for _ in range(L))
        s.gf = torch.nn.Parameter(torch.ones(D))
        s.unemb = torch.nn.Parameter(torch.randn(V, D) * 0.02)

    def forward(s, tok):
        x = s.emb.index_select(0, tok.reshape(-1)).view(tok.shape[0], tok.shape[1], -1)
        for blk in s.blocks:
            x = blk(x)
        return F.linear(rms(x, s.gf), s.unemb)


m = Gpt()
opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8)
g = torch.Generator().manual_seed(1)
batches = [torch.randint(0, V, (B, T + 1), generator=g) for _ in range(a.warmup + a.steps)]
times = []
for i, batch in enumerate(batches):
    t0 = time.perf_counter()
    loss = F.cross_entropy(m(batch[:, :T]).reshape(-1, V), batch[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step()
    if i >= a.warmup:
        times.append(time.perf_counter() - t0)
print(json.dumps({"step_s": times, "torch": torch.__version__, "threads": torch.get_num_threads(),
                  "sdpa": SDPA}))
