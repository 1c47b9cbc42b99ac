#!/usr/bin/python3
"""Baseline for bench/step_time: the same tiny GPT as muE's LibTorch backend in
PyTorch eager (Debian's python3-torch). Prints one JSON line: per-step times."""
import argparse, json, math, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--warmup", type=int, default=3)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

V, D, L, H, T, B, FF = 256, 128, 4, 4, 128, 16, 512
A = D / FF  # the same output multiplier muE's table gives the FFN (d / H_act)


def rms(x, g):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * g


class Block(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.g1, s.g2 = torch.nn.Parameter(torch.ones(D)), torch.nn.Parameter(torch.ones(D))
        s.w_qkv = torch.nn.Parameter(torch.randn(3 * D, D) * 0.02)
        s.w_out = torch.nn.Parameter(torch.randn(D, D) * 0.02)
        s.up = torch.nn.Parameter(torch.randn(FF, D) * 0.02)
        s.down = torch.nn.Parameter(torch.randn(D, FF) * 0.04)

    def forward(s, x):
        b, t, d = x.shape
        qkv = F.linear(rms(x, s.g1), s.w_qkv).view(b, t, 3, H, d // H).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / (d // H))
        mask = torch.ones(t, t, dtype=torch.bool).triu(1)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        x = x + F.linear(torch.matmul(att, v).transpose(1, 2).reshape(b, t, d), s.w_out)
        return x + F.linear(F.gelu(F.linear(rms(x, s.g2), s.up)), s.down) * A


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
print(json.dumps({"step_s": times, "torch": torch.__version__, "threads": torch.get_num_threads()}))
