"""Benchmark: what wdecay.heap.keep_freed_memory saves on a CPU. Each unit of the tiny preset's work (a vision
training epoch, the evaluation of the iterate and two EMAs, a language-model iteration and evaluation) runs in a
fresh process with glibc's default malloc and with the job's setting, alternately, ``--repeats`` times; it prints
the median process CPU time of each and the peak resident memory.

    .venv/bin/python bench/heap.py [--repeats 5]
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))


def work(keep: bool, data: Path) -> dict:
    """CPU seconds of each unit of work in this process, and its peak resident set."""
    import numpy as np
    import torch
    from conftest import run_settings
    from wdecay.data import tokens
    from wdecay.heap import keep_freed_memory
    from wdecay.training import llm
    from wdecay.training.vision import VisionTrainer

    if keep:
        assert keep_freed_memory()
    torch.set_num_threads(1)

    def cpu(fn, n: int) -> float:
        fn()  # the first call allocates what the later ones reuse
        start = time.process_time()
        for _ in range(n):
            fn()
        return (time.process_time() - start) / n

    work_dir = Path(tempfile.mkdtemp())
    # V4 at the tiny preset: PreAct ResNet-18 at 1/8 width, 1000 + 500 digits of 16x16, two EMAs
    run = run_settings(width=0.125, batch_size=64, eval_batch_size=1000, ema=[0.97, 0.7], epochs=50)
    vision = VisionTrainer(run, data / "digits", work_dir / "vision", torch.device("cpu"))
    result = {"vision epoch": cpu(lambda: vision.train_epoch(None), 3)}
    result["vision evaluation"] = cpu(vision.evaluate_all, 3)
    # L1 at the tiny preset: a 2-layer 64-wide GPT, context 64, 16 sequences in micro-batches of 8
    lm = dict(preset="bench", family="L1", run_id="bench", model="gpt_mini", dataset="bytes", context=64, seed=0)
    lm |= dict(batch_size=16, micro_batch=8, lr=6e-3, wd=0.1, l2=0.0, optimizer="adamw", betas=[0.9, 0.95])
    lm |= dict(momentum=0.9, decay_ln=False, schedule="cosine", lr_decay_iters=10**4, max_iters=10**4, mimic=None)
    lm |= dict(precision="fp32", grad_clip=1.0, ema=0.99, eval_sequences=256, eval_batch=8, compile=False)
    rng = np.random.default_rng(0)
    train, val = rng.integers(0, 256, 400_000, dtype=np.uint16), rng.integers(0, 256, 40_000, dtype=np.uint16)
    tokens.write_corpus(data / "tokens", train, val, {"vocab_size": 256, "tokenizer": "bytes", "source": "bench"})
    trainer = llm.LLMTrainer(lm, data / "tokens", work_dir / "llm", torch.device("cpu"), [6e-3] * lm["max_iters"])
    result["llm iteration"] = cpu(lambda: trainer.train_step(False), 30)
    result["llm evaluation"] = cpu(trainer.evaluate, 3)
    result["peak MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=["default", "keep"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(work(args.child == "keep", Path(args.data))))
        return

    from wdecay.data import images

    with tempfile.TemporaryDirectory() as tmp:
        splits = images.make_digits(train_size=1000, test_size=500, size=16, seed=0)
        images.save_prepared(Path(tmp) / "digits", splits, {"name": "digits", "source": "digits"})
        runs = {"default": [], "keep": []}
        for _ in range(args.repeats):
            for setting, results in runs.items():
                command = [sys.executable, __file__, "--child", setting, "--data", tmp]
                out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                results.append(json.loads(out.splitlines()[-1]))
    print(f"median of {args.repeats} processes each, CPU ms per unit (peak resident MB)")
    print("| unit | glibc default | keep freed memory | ratio |\n|---|---|---|---|")
    for unit in runs["default"][0]:
        default, keep = (statistics.median(r[unit] for r in runs[s]) for s in runs)
        scale = 1 if unit == "peak MB" else 1000
        print(f"| {unit} | {default * scale:.1f} | {keep * scale:.1f} | {keep / default:.2f} |")


if __name__ == "__main__":
    main()
