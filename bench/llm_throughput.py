"""Benchmark: training throughput of the real language-model trainer (wdecay.training.llm.LLMTrainer: batches sampled
from a token file on the device, gradient accumulation, clipping, fused AdamW, EMA) on a random-token corpus in
nanoGPT's layout. Prints tokens/s and MFU (when the GPU's peak is known) per precision.

    .venv/bin/python bench/llm_throughput.py                          # CPU: gpt_mini, ctx 64, fp32
    .venv/bin/python bench/llm_throughput.py --model gpt2_124m --context 256 --micro 32 --batch 256 \\
        --device cuda --precision bf16 --compile                     # the paper's L1 step on a GPU
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
from wdecay.data import tokens  # noqa: E402
from wdecay.models import gpt  # noqa: E402
from wdecay.training import llm  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="gpt_mini")
    p.add_argument("--context", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--micro", type=int, default=8)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", nargs="+", default=["fp32"])
    p.add_argument("--compile", action="store_true")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        train = rng.integers(0, args.vocab, 4_000_000, dtype=np.uint16)
        val = rng.integers(0, args.vocab, 100_000, dtype=np.uint16)
        tokens.write_corpus(tmp, train, val, {"vocab_size": args.vocab, "tokenizer": "random", "source": "bench"})
        for precision in args.precision:
            llm.set_fp32_mode(precision)
            run = {
                "run_id": f"bench_{args.model}_{precision}",
                "model": args.model,
                "context": args.context,
                "batch_size": args.batch,
                "micro_batch": args.micro,
                "seed": 0,
                "lr": 6e-4,
                "wd": 0.1,
                "l2": 0.0,
                "optimizer": "adamw",
                "betas": [0.9, 0.95],
                "momentum": 0.9,
                "decay_ln": False,
                "max_iters": args.steps * 3,
                "precision": precision,
                "grad_clip": 1.0,
                "ema": 0.99,
                "eval_sequences": args.micro,
                "eval_batch": args.micro,
                "compile": args.compile,
            }
            trainer = llm.LLMTrainer(run, tmp, Path(tmp) / "work", device, [6e-4] * run["max_iters"])
            for _ in range(args.steps):  # warm-up (and compilation)
                trainer.train_step(measure=False)
            sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
            sync()
            start = time.perf_counter()
            for _ in range(args.steps):
                trainer.train_step(measure=False)
            sync()
            seconds = (time.perf_counter() - start) / args.steps
            tok_s = args.batch * args.context / seconds
            mfu = gpt.mfu(tok_s, trainer.flops_per_token, trainer.peak)
            print(
                f"{args.model} ctx {args.context} batch {args.batch} ({args.batch // args.micro} x {args.micro}) "
                f"{precision:5s} compile={args.compile}: {seconds * 1e3:8.1f} ms/iteration, {tok_s:10.0f} tokens/s, "
                f"MFU {'n/a' if mfu is None else f'{mfu:.1%}'}"
            )


if __name__ == "__main__":
    main()
