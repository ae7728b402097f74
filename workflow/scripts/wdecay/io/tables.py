"""Parquet tables: one pyarrow schema per table kind, checked on write and on read; writes are atomic.

Every row describes itself (preset, family, run id, model, dataset, seed, hyper-parameters, epoch, code version),
so per-run files, per-family tables and whole folders can be concatenated and queried as one dataset.
"""

import pyarrow as pa
import pyarrow.parquet as pq

from .files import atomic_path


def _field(name, type_, doc):
    return pa.field(name, type_, metadata={"description": doc})


RUN_FIELDS = [
    _field("preset", pa.string(), "config preset that produced the row"),
    _field("family", pa.string(), "training family (FIGURES.md section 2)"),
    _field("run_id", pa.string(), "run identity slug"),
    _field("model", pa.string(), "architecture"),
    _field("dataset", pa.string(), "dataset name in the preset"),
    _field("seed", pa.int64(), "seed of initialisation and data order"),
    _field("lr", pa.float64(), "learning rate of the large-LR phase"),
    _field("wd", pa.float64(), "weight decay lambda (coupled)"),
    _field("momentum", pa.float64(), "SGD momentum"),
    _field("precision", pa.string(), "fp32 (strict), tf32, or bf16/fp16 autocast"),
    _field("width", pa.float64(), "channel width multiplier"),
    _field("code_version", pa.string(), "package version + hash of its sources"),
]

VISION_TRAIN = pa.schema(
    RUN_FIELDS
    + [
        _field("epoch", pa.int64(), "epochs completed (0 = initialisation)"),
        _field("step", pa.int64(), "SGD steps completed"),
        _field("train_examples", pa.int64(), "size of the training split"),
        _field("weights", pa.string(), "'iterate' or 'ema<coef>'"),
        _field("ema_coef", pa.float64(), "EMA coefficient per step; null for the iterate"),
        _field("lr_now", pa.float64(), "learning rate of the epoch just completed"),
        _field("eta_lambda", pa.float64(), "lr_now * wd"),
        _field("train_err", pa.float64(), "training error over all training examples, eval mode"),
        _field("train_ce", pa.float64(), "training cross-entropy averaged over examples, eval mode"),
        _field("test_err", pa.float64(), "test error"),
        _field("test_ce", pa.float64(), "test cross-entropy averaged over examples"),
        _field("reg_loss", pa.float64(), "train_ce + wd/2 * weight_norm^2 (the regularised objective)"),
        _field("weight_norm", pa.float64(), "l2 norm of the weight-decayed parameters"),
        _field("weight_norm_all", pa.float64(), "l2 norm of all trainable parameters"),
    ],
    metadata={"table": "vision_train", "version": "2"},
)

FINETUNE = pa.schema(
    list(VISION_TRAIN)
    + [
        _field("from_epoch", pa.int64(), "epoch of the checkpoint fine-tuned (epoch counts fine-tuning epochs)"),
        _field("ft_lr", pa.float64(), "constant learning rate of the fine-tuning"),
        _field("ft_wd", pa.float64(), "weight decay during the fine-tuning"),
        _field("ft_epochs", pa.int64(), "length of the fine-tuning in epochs"),
    ],
    metadata={"table": "finetune", "version": "2"},
)

MEASURE = pa.schema(
    RUN_FIELDS
    + [
        _field("epoch", pa.int64(), "checkpoint epoch of the run"),
        _field("weights", pa.string(), "'iterate', 'ema<coef>', or 'finetuned' (the iterate after fine-tuning)"),
        _field("measure", pa.string(), "hessian_trace, jacobian_norm, noise_scale or hessian_noise"),
        _field("quantity", pa.string(), "which number of the measure (e.g. trace, norm, cos_H)"),
        _field("value", pa.float64(), "the estimate"),
        _field("stderr", pa.float64(), "its standard error over probes or draws (0 when exact)"),
        _field("samples", pa.int64(), "probes or draws behind the estimate (0 when exact)"),
        _field("examples", pa.int64(), "training examples the measure is taken over"),
        _field("measured_on", pa.string(), "dataset whose training split was measured"),
        _field("seconds", pa.float64(), "wall time of the measurement"),
    ],
    metadata={"table": "measure", "version": "1"},
)

LLM_RUN_FIELDS = [
    _field("preset", pa.string(), "config preset that produced the row"),
    _field("family", pa.string(), "training family (FIGURES.md section 2)"),
    _field("run_id", pa.string(), "run identity slug"),
    _field("model", pa.string(), "architecture (gpt2_124m, gpt2_774m, or a preset's small GPT)"),
    _field("dataset", pa.string(), "token corpus name in the preset"),
    _field("context", pa.int64(), "sequence length in tokens"),
    _field("batch_size", pa.int64(), "sequences per iteration (all micro-batches together)"),
    _field("seed", pa.int64(), "seed of initialisation and batch sampling"),
    _field("lr", pa.float64(), "peak learning rate"),
    _field("wd", pa.float64(), "decoupled weight decay lambda (AdamW) or coupled weight decay (SGD)"),
    _field("l2", pa.float64(), "coefficient c of the coupled penalty on the decayed set (0 = none; see l2_penalty)"),
    _field("optimizer", pa.string(), "adamw or sgdm"),
    _field("decay_ln", pa.bool_(), "whether LayerNorm gains are in the decayed set"),
    _field("schedule", pa.string(), "cosine, constant, or mimic (a per-iteration schedule from another run)"),
    _field("lr_decay_iters", pa.int64(), "iterations of the cosine decay (may exceed max_iters)"),
    _field("max_iters", pa.int64(), "iterations of the run"),
    _field("mimic", pa.float64(), "schedule mimic: the lambda of the run whose effective rate it follows (else null)"),
    _field("precision", pa.string(), "fp32 (strict), tf32, or bf16 autocast"),
    _field("code_version", pa.string(), "package version + hash of its sources"),
]

LLM_TRAIN = pa.schema(
    LLM_RUN_FIELDS
    + [
        _field("step", pa.int64(), "optimizer iterations completed (0 = initialisation)"),
        _field("tokens", pa.int64(), "training tokens consumed"),
        _field("lr_now", pa.float64(), "learning rate of the iteration just completed"),
        _field("train_loss", pa.float64(), "mean cross-entropy (nats/token) on the fixed training evaluation batches"),
        _field("val_loss", pa.float64(), "mean cross-entropy on the fixed validation batches"),
        _field("ema_train_loss", pa.float64(), "train_loss of the EMA of the weights"),
        _field("ema_val_loss", pa.float64(), "val_loss of the EMA of the weights"),
        _field("ema_coef", pa.float64(), "EMA coefficient per iteration"),
        _field("grad_norm", pa.float64(), "l2 norm of the gradient of the iteration before clipping"),
        _field("grad_var", pa.float64(), "unbiased E||g_micro - g||^2 over the micro-batches of the iteration"),
        _field("weight_norm", pa.float64(), "l2 norm of the decayed parameter set"),
        _field("weight_norm_all", pa.float64(), "l2 norm of all parameters"),
        _field("eff_lr", pa.float64(), "effective learning rate lr_now / weight_norm"),
        _field("spike", pa.bool_(), "train_loss is non-finite or >= rise nats above its running minimum"),
        _field("diverged", pa.bool_(), "the run diverged (claim C24's definition, scaled to max_iters)"),
        _field("tokens_per_s", pa.float64(), "training throughput since the previous row"),
        _field("mfu", pa.float64(), "model FLOPs utilisation since the previous row (null without a known peak)"),
    ],
    metadata={"table": "llm_train", "version": "1"},
)

LLM_FINETUNE = pa.schema(
    LLM_RUN_FIELDS
    + [
        _field("from_step", pa.int64(), "iteration of the checkpoint fine-tuned"),
        _field("step", pa.int64(), "fine-tuning iterations completed (0 = the checkpoint itself)"),
        _field("ft_lr", pa.float64(), "constant learning rate of the fine-tuning"),
        _field("ft_wd", pa.float64(), "weight decay during the fine-tuning"),
        _field("ft_iters", pa.int64(), "length of the fine-tuning in iterations"),
        _field("train_loss", pa.float64(), "mean cross-entropy on the fixed training evaluation batches"),
        _field("val_loss", pa.float64(), "mean cross-entropy on the fixed validation batches"),
    ],
    metadata={"table": "llm_finetune", "version": "1"},
)

CLAIMS = pa.schema(
    [
        _field("claim", pa.string(), "claim id of FIGURES.md section 4"),
        _field("check", pa.string(), "which inequality of the claim"),
        _field("scope", pa.string(), "panel or configuration the check is about"),
        _field("status", pa.string(), "reproduced, contradicted, inconclusive, or not enough data"),
        _field("claim_status", pa.string(), "the claim's status over all its checks (see claims.md)"),
        _field("effect", pa.float64(), "the check's effect in the units of its threshold (NaN without data)"),
        _field("low", pa.float64(), "lower end of its 95% interval (NaN when there is none)"),
        _field("high", pa.float64(), "upper end of its 95% interval (NaN when there is none)"),
        _field("threshold", pa.float64(), "the catalogue's threshold, in the effect's units"),
        _field("null", pa.float64(), "the no-effect value (>=, <=) or the centre of the tolerance (within)"),
        _field("kind", pa.string(), "'>=' or '<=' (effect vs threshold) or 'within' (|effect - null| <= threshold)"),
        _field("unit", pa.string(), "unit of effect, interval and threshold (pp, nats, x, rho, ...)"),
        _field("n_seeds", pa.int64(), "number of seeds the effect uses"),
        _field("seeds", pa.list_(pa.int64()), "the seeds the effect uses"),
        _field("interval", pa.string(), "how the interval was made: t over seeds, evaluation noise, Fisher z, none"),
        _field("effect_text", pa.string(), "effect, interval and threshold as one readable string"),
        _field("measured", pa.string(), "the numbers the effect is computed from"),
        _field("expected", pa.string(), "the inequality as checked"),
        _field("preset", pa.string(), "preset the data came from"),
        _field("protocol", pa.string(), "as_run or as_written: the view of the runs the tables come from"),
        _field("code_version", pa.string(), "package version + hash of its sources"),
    ],
    metadata={"table": "claims", "version": "2"},
)


class SchemaError(ValueError):
    """A table does not have the columns and types of its schema."""


PREFLIGHT = pa.schema(
    [
        _field("preset", pa.string(), "config preset"),
        _field("protocol", pa.string(), "as_run or as_written"),
        _field("device", pa.string(), "where the probes ran: cuda or cpu"),
        _field("device_name", pa.string(), "GPU model, or CPU and threads"),
        _field("cpu_figures", pa.bool_(), "timed on a CPU with reduced sizes: not GPU figures"),
        _field("family", pa.string(), "training family"),
        _field("rule", pa.string(), "Snakemake rule of the jobs (names of set-resources)"),
        _field("kind", pa.string(), "what the cost depends on: model, data shape, batch, precision, measure"),
        _field("probe", pa.string(), "the probe(s) timed for this kind"),
        _field("jobs", pa.int64(), "jobs of this family and kind in the plan"),
        _field("unit", pa.string(), "unit of unit_s: step, iteration or weight set"),
        _field("unit_s", pa.float64(), "seconds per unit at the job's full size"),
        _field("hours_per_job", pa.float64(), "projected hours per job (mean over the kind's jobs)"),
        _field("hours_max", pa.float64(), "projected hours of the longest job"),
        _field("hours_total", pa.float64(), "projected hours of all the kind's jobs, one after another"),
        _field("peak_bytes", pa.float64(), "peak memory on the device (CUDA allocator; on a CPU the resident set)"),
        _field("device_total_bytes", pa.float64(), "memory of the device"),
        _field("headroom_bytes", pa.float64(), "device_total_bytes - peak_bytes"),
        _field("host_peak_bytes", pa.float64(), "peak resident set on the host (what SLURM's mem_mb limits)"),
        _field("disk_bytes_per_job", pa.float64(), "outputs a job leaves: checkpoints, models, parquet"),
        _field("disk_bytes_total", pa.float64(), "outputs of all the kind's jobs"),
        _field("runtime_min", pa.int64(), "SLURM runtime for the rule: its longest job x the runtime safety factor"),
        _field("mem_mb", pa.int64(), "SLURM mem_mb for the rule: its largest host peak x the memory safety factor"),
        _field("timed", pa.string(), "what the probe ran"),
        _field("notes", pa.string(), "how the probe differs from the job (reduced sizes, precision)"),
        _field("status", pa.string(), "ok, or the error of the probe"),
        _field("code_version", pa.string(), "package version + hash of its sources"),
    ],
    metadata={"table": "preflight", "version": "1"},
)


def to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows (dicts with exactly the schema's columns) as a table of that schema."""
    names = set(schema.names)
    for i, row in enumerate(rows):
        if set(row) != names:
            missing, extra = sorted(names - set(row)), sorted(set(row) - names)
            raise SchemaError(
                f"row {i} does not match table {schema.metadata[b'table'].decode()}: "
                f"missing {missing}, unexpected {extra}"
            )
    return pa.Table.from_pylist(rows, schema=schema)


def check(table: pa.Table, schema: pa.Schema, where: str) -> pa.Table:
    if not table.schema.equals(schema, check_metadata=False):
        raise SchemaError(
            f"{where}: columns {table.schema.names} with types {table.schema.types} do not match "
            f"table {schema.metadata[b'table'].decode()} ({schema.names})"
        )
    return table.replace_schema_metadata(schema.metadata)


def write(table: pa.Table, schema: pa.Schema, path) -> None:
    table = check(table, schema, str(path))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read(path, schema: pa.Schema) -> pa.Table:
    return check(pq.read_table(path), schema, str(path))


def concat(paths, schema: pa.Schema) -> pa.Table:
    """Concatenate several files of one table kind, checking each."""
    tables = [read(p, schema) for p in paths]
    return pa.concat_tables(tables) if tables else schema.empty_table()
