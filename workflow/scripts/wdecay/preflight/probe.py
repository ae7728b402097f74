"""One probe of the pre-flight: a short real job of one kind through the package's own code (VisionTrainer's
train_epoch, evaluate_all and save; the measurement job's estimates and ensemble; LLMTrainer's train_step,
evaluate and save), on synthetic data of the kind's exact shape written in the prepared-array or nanoGPT token
layout and read by the real loaders. It returns the cost of each unit of work (a step, an evaluated image or
sequence, a checkpoint save, a measure of one weight set) and the peak memory, both for the job's full size.

Each probe runs in its own process, so that the peak resident set (``ru_maxrss``, a lifetime maximum) and the CUDA
peak are the probe's own: ``python -m wdecay.preflight.probe requests.json DIR`` imports this module once and forks
one child per probe from it (a child's peak starts at the resident set at the fork, which is a cold process's after
these imports; CUDA is first touched in the child).

On CUDA a probe runs the job's exact sizes. On a CPU it shrinks them (``cpu`` settings) and scales back: vision
steps by images (CPU compute is linear in the batch), measures by examples and probes (two probe counts give the
fixed and the per-probe cost), language models by training FLOPs (PaLM's 6N + 12 L d T per token) from fewer
layers, shorter context and smaller micro-batches; fp16 is timed as bf16 and torch.compile is not used. Every such
change is listed in the result's ``notes``.
"""

import copy
import json
import os
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch

from .. import heap
from ..data import images, tokens
from ..data.loader import DeviceImages, channel_stats
from ..device import resolve_device, set_fp32_mode
from ..io import tables
from ..measure import job as measure_job
from ..models import gpt
from ..models.vision import build_model, model_options
from ..plan.gpt_sizes import MODELS
from ..training import finetune, llm, vision

PROBE_KEYS = {  # the setting that counts a measure's probes (draws, vectors)
    "hessian_trace": "hessian_probes",
    "jacobian_norm": "jacobian_probes",
    "hessian_noise": "alignment_probes",
    "noise_scale": "noise_draws",
}


# --- clocks and memory ------------------------------------------------------------------------------------------


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn, *args) -> float:
    """Seconds ``fn(*args)`` takes, with the device's queue drained before and after."""
    sync(device)
    start = time.perf_counter()
    fn(*args)
    sync(device)
    return time.perf_counter() - start


# A forked child's resident set leaves out the library pages its parent had resident and it has not touched yet
# (the kernel does not copy their page-table entries). Set in the child: those bytes, added back, so that the
# figures bound a cold process's, which holds them from its imports.
NOT_INHERITED = 0


def _rss_peak() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # KiB on Linux, bytes on macOS


def _rss_now() -> int:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return _rss_peak()


def host_now() -> int:
    """Resident set of this process now (bytes)."""
    return _rss_now() + NOT_INHERITED


def host_peak() -> int:
    """Largest resident set of this process so far (bytes)."""
    return _rss_peak() + NOT_INHERITED


def device_peak(device: torch.device) -> int:
    """Peak memory of the probe on its device: CUDA's allocator peak, or on a CPU the peak resident set."""
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else host_peak()


def device_total(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} threads"


# --- synthetic data in the real layouts -------------------------------------------------------------------------


def write_images(folder: Path, shape: dict, train: int, test: int, seed: int = 0) -> int:
    """Random uint8 images of the dataset's side and classes as a prepared dataset; returns their bytes."""
    rng = np.random.default_rng(seed)
    side, classes = shape["side"], shape["classes"]
    splits = {
        split: (rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8), np.arange(n, dtype=np.int64) % classes)
        for split, n in (("train", train), ("test", test))
    }
    splits["test"][1][-1] = classes - 1  # the prepared meta counts classes by the largest label
    images.save_prepared(folder, splits, {"name": "synthetic", "source": "synthetic"})
    return (train + test) * side * side * 3


def write_tokens(folder: Path, n: int, vocab: int, seed: int = 0) -> None:
    """A random corpus of token ids below ``vocab`` in nanoGPT's layout."""
    rng = np.random.default_rng(seed)
    train, val = (rng.integers(0, vocab, size, dtype=np.uint16) for size in (n, n // 2))
    tokens.write_corpus(folder, train, val, {"vocab_size": vocab, "tokenizer": "synthetic", "eot_token": None})


def training_state_bytes(optimizer, params) -> int:
    """Bytes of the gradients and of the optimizer's state (momenta, Adam's moments) once a step has been taken."""
    state = sum(t.nbytes for per_param in optimizer.state.values() for t in per_param.values() if torch.is_tensor(t))
    return state + sum(p.numel() * p.element_size() for p in params)


def parquet_bytes_per_row(rows: list[dict], schema) -> float:
    """Bytes per row of the job's real table kind, written as the job writes it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.parquet"
        tables.write(tables.to_table(rows, schema), schema, path)
        return path.stat().st_size / len(rows)


# --- vision training and fine-tuning ----------------------------------------------------------------------------


def vision_probe(spec: dict, device: torch.device, cfg: dict, work: Path) -> dict:
    """Two epochs of ``steps`` steps (the first untimed), one evaluation of every weight set, one saved state."""
    run, shape, cpu, notes = spec["run"], spec["data"], device.type == "cpu", []
    if spec["kind"] == "finetune":
        run = finetune.settings(run, spec["finetune"], from_epoch=1)
    precision = run["precision"]
    if cpu and precision == "fp16":
        precision = "bf16"
        notes.append("fp16 timed as bf16 (fp16 autocast on a CPU takes seconds per image)")
    batch = min(cfg["vision_batch"], run["batch_size"]) if cpu else run["batch_size"]
    eval_batch = batch if cpu else run["eval_batch_size"]
    if batch != run["batch_size"]:
        notes.append(f"batch {batch} timed, scaled by images to {run['batch_size']}")
    steps = cfg["steps"]
    probe_run = run | {
        "batch_size": batch,
        "eval_batch_size": eval_batch,
        "steps": None,
        "epochs": 2,
        "checkpoints": [],
        "eval_every": 1,
        "resume_every": 10**9,
        "precision": precision,
        "device": device.type,
    }
    data_bytes = write_images(work / "data", shape, batch * steps, eval_batch)
    set_fp32_mode(precision)
    before = host_now()
    init = None
    if spec["kind"] == "finetune":  # from a checkpoint's weights, as the fine-tuning job starts
        torch.manual_seed(0)
        init = build_model(run["model"], shape["classes"], run["width"], **model_options(run)).state_dict()
    trainer = vision.VisionTrainer(probe_run, work / "data", work / "run", device, init_weights=init)
    setup = host_now()
    first = timed(device, trainer.train_epoch)
    step = timed(device, trainer.train_epoch) / steps
    evaluated = []
    seconds = timed(device, lambda: evaluated.extend(trainer.evaluate_all()))
    n_train, n_test, n_ema = len(trainer.train), len(trainer.test), len(trainer.emas)
    eval_images = (1 + n_ema) * (n_train + n_test) + n_ema * (n_train // batch) * batch
    save = timed(device, trainer.save, work / "state.pt")
    model_path = work / "model.pt"  # what a fine-tuning job publishes: the weights and its settings
    torch.save({"run": spec["run"], "finetune": spec.get("finetune"), "model": trainer.model.state_dict()}, model_path)
    scale = run["batch_size"] / batch  # images per step, full over timed
    full_data = (shape["train"] + shape["test"]) * shape["side"] ** 2 * 3
    peak, host = device_peak(device), host_peak()
    if cpu:  # the activations grow with the batch; the state (model, EMAs, gradients, optimizer) does not
        state = setup - before + training_state_bytes(trainer.optimizer, trainer.trainable)
        peak = host = before + state + max(peak - before - state, 0) * scale
    return {
        "unit": "step",
        "first_step_s": first / steps * scale,
        "step_s": step * scale,
        "eval_s_per_image": seconds / eval_images,
        "save_s": save,
        "checkpoint_bytes": (work / "state.pt").stat().st_size,
        "model_bytes": model_path.stat().st_size,
        "row_bytes": parquet_bytes_per_row(evaluated, tables.VISION_TRAIN),
        "peak_bytes": peak + full_data - data_bytes,  # the job holds its whole dataset on the device
        "host_peak_bytes": host + full_data - data_bytes,  # and loads it on the host first
        "timed": f"{steps} steps of batch {batch} after {steps} untimed, 1 evaluation, 1 save",
        "notes": notes,
    }


# --- measurements ----------------------------------------------------------------------------------------------


def _linear(times: dict[int, float]) -> tuple[float, float]:
    """(fixed, per unit) seconds from two timed counts."""
    (p1, t1), (p2, t2) = sorted(times.items())
    per = max((t2 - t1) / (p2 - p1), 0.0)
    return max(t1 - per * p1, 0.0), per


def measure_probe(spec: dict, device: torch.device, cfg: dict, work: Path) -> dict:
    """The measure on one weight set, on ``k`` examples at two probe counts; seconds for the job's examples and
    probes, by examples and a linear fit in the probes."""
    run, shape, measure, settings = spec["run"], spec["data"], spec["measure"], dict(spec["settings"])
    cpu, notes = device.type == "cpu", []
    n = shape["examples"]
    k = min(cfg["measure_examples"] if cpu else settings["batch_size"], n)
    if measure == "noise_scale" and not cpu:
        k = min(max(k, 2 * run["batch_size"]), n)  # the gradient of one batch needs batch_size examples
    kb = min(run["batch_size"], k)  # noise_scale's batch
    if k < n:
        notes.append(f"{k} of {n} examples timed, scaled by examples")
    if measure == "noise_scale" and kb < run["batch_size"]:
        notes.append(f"noise_scale's batches of {kb} timed, scaled to {run['batch_size']}")
    set_fp32_mode("fp32")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (k, shape["side"], shape["side"], 3), dtype=np.uint8)
    y = np.arange(k, dtype=np.int64) % shape["classes"]
    data = DeviceImages(x, y, *channel_stats(x), device)
    torch.manual_seed(0)
    model = build_model(run["model"], shape["classes"], run["width"], **model_options(run)).to(device).eval()
    exact = measure == "jacobian_norm" and shape["classes"] <= settings["exact_jacobian_max_classes"]
    if measure == "ensemble":
        snapshots = [copy.deepcopy(model) for _ in range(spec["snapshots"])]
        measure_job.ensemble(snapshots, model, data, k)  # warm-up
        seconds = n / k * timed(device, measure_job.ensemble, snapshots, model, data, k)
        timed_what = f"{spec['snapshots']} snapshots and the EMA on {k} examples"
    elif exact:
        measure_job.estimates(measure, model, data, shape["classes"], run, settings | {"batch_size": k})
        seconds = (
            n
            / k
            * timed(
                device, measure_job.estimates, measure, model, data, shape["classes"], run, settings | {"batch_size": k}
            )
        )
        timed_what = f"exact, {shape['classes']} classes, {k} examples"
    else:
        key = PROBE_KEYS[measure]
        full = settings[key]
        counts = cfg["cpu_probes"] if cpu else cfg["cuda_probes"]
        counts = sorted({min(counts[0], max(full // 2, 1)), min(counts[1], full)})
        if len(counts) < 2 or counts[-1] != full:
            notes.append(f"{key} {counts} timed, fitted linearly to {full}")
        times = {}
        for count in [counts[0], *counts]:  # the first call warms up
            s = settings | {"batch_size": k, key: count}
            times[count] = timed(
                device, measure_job.estimates, measure, model, data, shape["classes"], run | {"batch_size": kb}, s
            )
        if len(times) == 1:
            times[0] = 0.0
        fixed, per = _linear(times)
        if measure == "noise_scale":  # full gradient over the examples, then one gradient of a batch per draw
            seconds = fixed * n / k + per * full * run["batch_size"] / kb
        else:
            seconds = n / k * (fixed + per * full)
        timed_what = f"{k} examples at {key} {', '.join(map(str, counts))}"
    peak = device_peak(device)
    if measure == "noise_scale" and not cpu:  # it holds every example as fp32 on the device
        peak += (n - k) * shape["side"] ** 2 * 3 * 4
    return {
        "unit": "weight set",
        "seconds": seconds,
        "peak_bytes": peak,
        "host_peak_bytes": host_peak(),
        "timed": timed_what,
        "notes": notes + (["memory at the probe's size"] if cpu else []),
    }


# --- language models --------------------------------------------------------------------------------------------


def _gpt_config(model: str, vocab: int, context: int) -> tuple[gpt.GPTConfig, int, int]:
    """(config, parameters, parameters without position embeddings) of a GPT, built on the meta device."""
    with torch.device("meta"):
        net = gpt.build_gpt(model, gpt.padded_vocab(vocab), context)
    return net.cfg, gpt.num_params(net), gpt.num_params(net, embeddings=False)


def llm_probe(spec: dict, device: torch.device, cfg: dict, work: Path) -> dict:
    """``steps`` iterations after one untimed one (where torch.compile compiles), an evaluation (twice: the first
    compiles), a saved state; on a CPU a shallower, shorter, smaller one, scaled by training FLOPs."""
    run, cpu, notes = spec["run"], device.type == "cpu", []
    full_cfg, full_params, full_n = _gpt_config(run["model"], spec["vocab"], run["context"])
    accumulation = run["batch_size"] // run["micro_batch"]
    probe = dict(model=run["model"], context=run["context"], micro_batch=run["micro_batch"], acc=accumulation)
    vocab = spec["vocab"]
    if cpu:
        layers = min(cfg["llm_layers"], full_cfg.n_layer)
        vocab = min(cfg["llm_vocab"] or vocab, vocab)
        probe.update(
            context=min(cfg["llm_context"], run["context"]),
            micro_batch=min(cfg["llm_micro_batch"], run["micro_batch"]),
            acc=min(2, accumulation),
        )
        if layers < full_cfg.n_layer:
            probe["model"] = f"{run['model']}@{layers}layers"
            MODELS[probe["model"]] = MODELS[run["model"]] | {"n_layer": layers}  # this process only
        fewer_tokens = f", vocabulary {vocab} of {spec['vocab']}" if vocab < spec["vocab"] else ""
        notes.append(
            f"{layers} of {full_cfg.n_layer} layers, context {probe['context']} of {run['context']}{fewer_tokens}, "
            f"micro-batch {probe['micro_batch']} of {run['micro_batch']}, {probe['acc']} of {accumulation} "
            "micro-batches timed, scaled by training FLOPs"
        )
        if run["compile"]:
            notes.append("eager (torch.compile is not timed on a CPU)")
    steps = cfg["steps"]
    eval_sequences = probe["micro_batch"] * 2
    probe_run = run | {
        "model": probe["model"],
        "context": probe["context"],
        "micro_batch": probe["micro_batch"],
        "batch_size": probe["micro_batch"] * probe["acc"],
        "max_iters": steps + 1,
        "eval_sequences": eval_sequences,
        "eval_batch": min(run["eval_batch"], eval_sequences),
        "checkpoints": [],
        "eval_every": 10**9,
        "resume_every": 10**9,
        "compile": run["compile"] and not cpu,
        "device": device.type,
    }
    write_tokens(work / "corpus", max(100_000, 4 * probe["context"]), vocab)
    set_fp32_mode(run["precision"])
    before = host_now()
    trainer = llm.LLMTrainer(probe_run, work / "corpus", work / "run", device, [run["lr"]] * probe_run["max_iters"])
    setup = host_now()
    first = timed(device, trainer.train_step, False)
    step = sum(timed(device, trainer.train_step, False) for _ in range(steps)) / steps
    rows = []
    timed(device, lambda: rows.append(trainer.evaluate()))  # compiles the evaluation graphs
    evaluation = timed(device, lambda: rows.append(trainer.evaluate()))
    save = timed(device, trainer.save, work / "state.pt")
    _, probe_params, probe_n = _gpt_config(probe["model"], vocab, probe["context"])
    per_token = gpt.flops_per_token(full_cfg, full_n) / gpt.flops_per_token(trainer.model.cfg, probe_n)
    micro_flops = per_token * run["micro_batch"] * run["context"] / (probe["micro_batch"] * probe["context"])
    seq_flops = per_token * run["context"] / probe["context"]
    peak = device_peak(device)
    if cpu:  # the state grows with the parameters, the rest with the tokens of a micro-batch
        state = setup - before + training_state_bytes(trainer.optimizer, trainer.params)
        tokens_ratio = run["micro_batch"] * run["context"] / (probe["micro_batch"] * probe["context"])
        peak = before + state * full_params / probe_params + max(peak - before - state, 0) * tokens_ratio
        notes.append("memory: the training state scaled by parameters, the rest by tokens per micro-batch")
    return {
        "unit": "iteration",
        "first_step_s": first / probe["acc"] * accumulation * micro_flops,
        "step_s": step / probe["acc"] * accumulation * micro_flops,
        "eval_s_per_sequence": evaluation / (4 * eval_sequences) * seq_flops,
        "save_s": save * full_params / probe_params,
        "checkpoint_bytes": (work / "state.pt").stat().st_size * full_params / probe_params,
        "row_bytes": parquet_bytes_per_row(llm.flag_divergence(rows, probe_run["max_iters"]), tables.LLM_TRAIN),
        "peak_bytes": peak,
        "host_peak_bytes": peak if cpu else host_peak(),
        "timed": f"{steps} iterations after 1 untimed, 1 evaluation after 1 untimed, 1 save",
        "notes": notes,
    }


PROBES = {"train": vision_probe, "finetune": vision_probe, "measure": measure_probe, "llm": llm_probe}


def run_probe(spec: dict, cfg: dict) -> dict:
    """Run one probe on the device of ``cfg['device']`` (cpu, cuda or auto); its result with what it timed."""
    device = resolve_device(cfg["device"])
    torch.set_num_threads(cfg["threads"])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with tempfile.TemporaryDirectory(dir=cfg.get("tmp")) as tmp:
        result = PROBES[spec["kind"]](spec, device, cfg, Path(tmp))
    return result | {
        "id": spec["id"],
        "device": device.type,
        "device_name": device_name(device),
        "device_total_bytes": device_total(device),
    }


def serve(requests: list[dict], folder: Path) -> None:
    """Run each request ({probe, settings}) in a child of this process, one after another: the child writes its
    result to ``folder/<id>.json`` and its output to ``folder/<id>.log``; this process prints one JSON line per
    probe ({id, code, wall_s}) as it ends. Its malloc keeps freed memory, as a job's does (wdecay.heap)."""
    heap.keep_freed_memory()
    for request in requests:
        start, resident = time.perf_counter(), _rss_now()
        pid = os.fork()
        if pid == 0:
            _child(request, folder, resident)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        wall = time.perf_counter() - start
        print(json.dumps({"id": request["probe"]["id"], "code": code, "wall_s": wall}), flush=True)


def _child(request: dict, folder: Path, resident: int) -> NoReturn:
    """The forked child: its output to its log, the probe, its result; it exits, 0 if the probe ran."""
    global NOT_INHERITED
    NOT_INHERITED = max(resident - _rss_now(), 0)
    probe_id, code = request["probe"]["id"], 1
    try:
        log = os.open(folder / f"{probe_id}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        result = run_probe(request["probe"], request["settings"])
        (folder / f"{probe_id}.json").write_text(json.dumps(result))
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str]) -> None:
    requests, folder = argv
    serve(json.loads(Path(requests).read_text()), Path(folder))


if __name__ == "__main__":
    main(sys.argv[1:])
