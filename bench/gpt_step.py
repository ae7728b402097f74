"""Benchmark: one full training step (forward, loss, backward, AdamW step) of wdecay.models.gpt against a plain eager
GPT of the same shape (separate q/k/v matmuls, an explicit causal mask and softmax, AdamW's per-parameter loop).
Prints ms/step, tokens/s and the speed ratio per size.

    .venv/bin/python bench/gpt_step.py [--device cpu|cuda] [--threads 2] [--steps 10] [--repeats 5] [--batch 8]

Ours: fused scaled_dot_product_attention, one c_attn matmul, fused AdamW where the device has it, else foreach.
"""

import argparse
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
from wdecay.models.gpt import GPT, GPTConfig  # noqa: E402

SIZES = {"mini (2L/2H/64)": (2, 2, 64), "medium (4L/4H/256)": (4, 4, 256)}


class EagerBlock(nn.Module):
    """The textbook block: separate q, k, v projections, scores masked by a causal mask, softmax, weighted sum."""

    def __init__(self, C: int, n_head: int, context: int):
        super().__init__()
        self.n_head = n_head
        self.ln_1, self.ln_2 = nn.LayerNorm(C, bias=False), nn.LayerNorm(C, bias=False)
        self.q, self.k, self.v = (nn.Linear(C, C, bias=False) for _ in range(3))
        self.proj = nn.Linear(C, C, bias=False)
        self.fc, self.fc_out = nn.Linear(C, 4 * C, bias=False), nn.Linear(4 * C, C, bias=False)
        self.register_buffer("mask", torch.tril(torch.ones(context, context, dtype=torch.bool)))

    def attn(self, x):
        B, T, C = x.shape
        q, k, v = (m(x).view(B, T, self.n_head, -1).transpose(1, 2) for m in (self.q, self.k, self.v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        scores = scores.masked_fill(~self.mask[:T, :T], float("-inf"))
        y = F.softmax(scores, dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(B, T, C))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.fc_out(F.gelu(self.fc(self.ln_2(x))))


class EagerGPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(cfg.vocab_size, cfg.n_embd), nn.Embedding(cfg.context, cfg.n_embd)
        self.blocks = nn.ModuleList(EagerBlock(cfg.n_embd, cfg.n_head, cfg.context) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=False)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


def adamw(params, device: torch.device) -> torch.optim.Optimizer:
    """Fused AdamW where the device supports it, else the foreach (multi-tensor) one."""
    try:
        return torch.optim.AdamW(params, lr=1e-4, weight_decay=0.1, fused=True)
    except RuntimeError:
        return torch.optim.AdamW(params, lr=1e-4, weight_decay=0.1, foreach=device.type == "cuda")


def trainer(model, opt, idx, targets):
    """A function running one training step (and waiting for the device)."""

    def step():
        loss = model(idx, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if idx.device.type == "cuda":
            torch.cuda.synchronize()

    return step


def best_of(steps: dict, n: int, repeats: int) -> dict:
    """Seconds per step of each step function: the best over ``repeats`` rounds of n steps, the functions taking
    turns round by round (so a burst of load from elsewhere hits both), after 3 warm-up steps each."""
    for step in steps.values():
        for _ in range(3):
            step()
    best = dict.fromkeys(steps, math.inf)
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(n):
                step()
            best[name] = min(best[name], (time.perf_counter() - start) / n)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds; the best counts")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, args.vocab, (args.batch, args.context), generator=gen).to(device)
    targets = torch.randint(0, args.vocab, (args.batch, args.context), generator=gen).to(device)
    tokens = args.batch * args.context
    print(
        f"training step, batch {args.batch} x context {args.context}, vocab {args.vocab}, device {device}, "
        f"torch threads {torch.get_num_threads()}"
    )
    for label, (n_layer, n_head, n_embd) in SIZES.items():
        cfg = GPTConfig(args.vocab, args.context, n_layer, n_head, n_embd)
        torch.manual_seed(0)
        ours, eager = GPT(cfg).to(device), EagerGPT(cfg).to(device)
        n_ours, n_eager = (sum(p.numel() for p in m.parameters()) for m in (ours, eager))
        assert n_ours == n_eager, (n_ours, n_eager)
        opt = adamw(ours.parameters(), device)
        opt_eager = torch.optim.AdamW(eager.parameters(), lr=1e-4, weight_decay=0.1, foreach=False, fused=False)
        steps = {"ours": trainer(ours, opt, idx, targets), "eager": trainer(eager, opt_eager, idx, targets)}
        times = best_of(steps, args.steps, args.repeats)
        t_ours, t_eager = times["ours"], times["eager"]
        kind = "fused" if opt.defaults["fused"] else "foreach" if opt.defaults["foreach"] else "for-loop"
        print(f"  {label:20s} {n_ours / 1e6:5.2f}M params")
        print(f"    ours  (sdpa, {kind} AdamW): {t_ours * 1e3:8.2f} ms/step  {tokens / t_ours:9.0f} tokens/s")
        print(f"    eager (masked softmax, loop AdamW): {t_eager * 1e3:8.2f} ms/step  {tokens / t_eager:9.0f} tokens/s")
        print(f"    speed ratio eager/ours: {t_eager / t_ours:5.2f}x")


if __name__ == "__main__":
    main()
