"""One measurement job: load the weight sets of a run at a checkpoint, take each measure asked of them (on the
training split of the measurement dataset; a snapshot ensemble on the test split), and write the rows of the
MEASURE table.

Weight sets: ``iterate`` and ``ema<coef>`` come from the run's checkpoint (an EMA's BatchNorm statistics there were
recomputed for its averaged weights at that epoch's evaluation, which always precedes a checkpoint), ``finetuned``
from the fine-tuning job's output. Inputs are normalised with the statistics of the run's own training split, as
in training.
"""

import functools
import logging
import time


from ..data import images
from ..io import checkpoints, tables
from ..io.joblog import phase
from ..data.loader import DeviceImages, channel_stats
from ..device import memory_format, resolve_device, set_fp32_mode
from ..models.vision import build_model, model_options
from ..io.provenance import code_version
from ..training.vision import ID_COLUMNS
from .common import Estimate

log = logging.getLogger(__name__)


def weight_set(state: dict, path, weights: str) -> tuple[dict, dict]:
    """(model state dict, run settings) of a weight set in a loaded checkpoint or fine-tuned model file."""
    if weights in ("iterate", "finetuned"):
        return state["model"], state["run"]
    if weights not in state["ema"]:
        raise KeyError(f"{path}: no weight set {weights!r} (has {', '.join(state['ema']) or 'no EMA'})")
    return state["ema"][weights], state["run"]


def estimates(measure: str, model, data: DeviceImages, classes: int, run: dict, settings: dict) -> dict[str, Estimate]:
    """{quantity: estimate} of one measure (exact values have stderr 0 and 0 samples)."""
    seed, batch_size = settings["seed"], settings["batch_size"]
    layout = memory_format(data.x.device)  # measures back-propagate: the layout safe for that on the device
    batches = [(x.contiguous(memory_format=layout), y) for x, y in data.sequential(batch_size)]
    if measure == "hessian_trace":
        from . import hessian

        return {"trace": hessian.hessian_trace(model, batches, settings["hessian_probes"], seed)}
    if measure == "jacobian_norm":
        from . import jacobian

        if classes <= settings["exact_jacobian_max_classes"]:
            total = Estimate(jacobian.jacobian_sq_norm_exact(model, batches), 0.0, 0)
        else:
            total = jacobian.jacobian_sq_norm_projected(model, batches, settings["jacobian_probes"], seed)
        root = max(total.mean, 0.0) ** 0.5
        n = len(data)
        return {
            "sq_norm_sum": total,
            "norm": Estimate(root, total.stderr / (2 * root) if root > 0 else float("nan"), total.samples),
            "sq_norm_mean": Estimate(total.mean / n, total.stderr / n, total.samples),
        }
    if measure == "noise_scale":
        from . import noise

        x, y = next(data.sequential(len(data)))
        x = x.contiguous(memory_format=layout)
        return {
            "sigma_sq": noise.noise_scale(
                model, x, y, run["batch_size"], settings["noise_draws"], seed, chunk=batch_size
            )
        }
    if measure == "hessian_noise":
        from . import curvature_noise

        cosines = curvature_noise.hessian_noise_alignment(model, batches, settings["alignment_probes"], seed)
        return {f"cos_{name}": est for name, est in cosines.items()}
    raise ValueError(f"unknown measure {measure!r}")


def ensemble(snapshots: list, model, data: DeviceImages, batch_size: int) -> dict[str, Estimate]:
    """Snapshot ensemble against one weight set (usually an EMA) on ``data``: errors and TVD, exact."""
    from .ensemble import ensemble_vs_ema

    got = ensemble_vs_ema(snapshots, model, list(data.sequential(batch_size)))
    names = {"ensemble_error": "ensemble_err", "ema_error": "ema_err", "snapshot_error": "snapshot_err", "tvd": "tvd"}
    return {names[k]: Estimate(v, 0.0, 0) for k, v in got.items()}


def measure(run: dict, measures: dict, epoch: int, files: dict, data_dir, train_dir, settings: dict, out) -> None:
    """Take every measure of ``measures`` ({measure: [weight sets]}) of ``run`` at checkpoint ``epoch`` and write
    the rows to ``out``; each weight set is loaded once. ``files`` holds the 'checkpoint', when measured the
    'finetuned' model file, and for an ensemble its 'snapshots' checkpoints. Measures are taken on the training
    split of the measurement dataset; an ensemble on the run's test split."""
    device = resolve_device(run["device"])
    set_fp32_mode("fp32")  # measurements in IEEE fp32, whatever precision the run trained in
    train_splits, train_meta = images.load_prepared(train_dir)
    stats = channel_stats(train_splits["train"][0])
    classes = train_meta["classes"]

    @functools.cache
    def read(path: str) -> dict:  # a checkpoint holds the iterate and every EMA: read it once
        tuned = "finetuned" in files and path == str(files["finetuned"])
        writer = "its fine-tuning job, rule finetune" if tuned else f"the training job of run {run['run_id']}"
        return checkpoints.load(path, writer)

    def load(path, name):
        state, saved_run = weight_set(read(str(path)), path, name)
        if saved_run["run_id"] != run["run_id"]:
            raise ValueError(f"{path}: belongs to run {saved_run['run_id']}, not {run['run_id']}")
        model = build_model(run["model"], classes, run["width"], **model_options(run))
        model.load_state_dict(state)
        return model.to(device).eval()

    with phase("setup"):
        if any(m != "ensemble" for m in measures):
            splits, meta = images.load_prepared(data_dir)
            train_data, train_name = DeviceImages(*splits["train"], *stats, device), meta["name"]
        if "ensemble" in measures:
            test_data, test_name = DeviceImages(*train_splits["test"], *stats, device), f"{train_meta['name']}/test"
            snapshots = [load(path, "iterate") for path in list(files["snapshots"])]
    ids = {k: run[k] for k in ID_COLUMNS} | {"code_version": code_version()}
    rows = []
    for name in dict.fromkeys(w for weights in measures.values() for w in weights):
        model = load(files["finetuned" if name == "finetuned" else "checkpoint"], name)
        for measure_name in (m for m, weights in measures.items() if name in weights):
            start = time.perf_counter()
            with phase("measure"):
                if measure_name == "ensemble":
                    data, measured_on = test_data, test_name
                    results = ensemble(snapshots, model, data, settings["batch_size"])
                else:
                    data, measured_on = train_data, train_name
                    results = estimates(measure_name, model, data, classes, run, settings)
            seconds = time.perf_counter() - start
            for quantity, est in results.items():
                log.info(
                    "%s of %s at epoch %d: %s = %.6g +- %.3g (%.1f s)",
                    measure_name,
                    name,
                    epoch,
                    quantity,
                    est.mean,
                    est.stderr,
                    seconds,
                )
                rows.append(
                    ids
                    | {
                        "epoch": epoch,
                        "weights": name,
                        "measure": measure_name,
                        "quantity": quantity,
                        "value": est.mean,
                        "stderr": est.stderr,
                        "samples": est.samples,
                        "examples": len(data),
                        "measured_on": measured_on,
                        "seconds": seconds,
                    }
                )
    with phase("write"):
        tables.write(tables.to_table(rows, tables.MEASURE), tables.MEASURE, out)
