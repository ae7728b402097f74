"""Validate the workflow config before any job is planned, and turn it into a plan.

The JSON schema (workflow/schemas/config.schema.yaml) checks types and ranges and fills in defaults; the checks
here cover what a schema cannot (references between keys, run-id collisions). Every error names the key path and
the bad value. Pure Python (no torch): the Snakemake process imports this module.
"""

import copy
import difflib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import jsonschema
import yaml

from ..figures import columns
from . import protocol
from .gpt_sizes import MODELS as GPT_MODELS
from .sweep import (
    LLMRun,
    _matches,
    MeasureJob,
    SweepError,
    VisionRun,
    checkpoint_epochs,
    ema_name,
    finetune_jobs,
    is_llm,
    llm_finetune_jobs,
    measure_jobs,
    mimic_name,
    run_table,
)

FIGURE_DEFAULTS = {"weights": "iterate", "logy": False}


class ConfigError(ValueError):
    """The config is malformed; the message lists every problem found, one per line."""


@dataclass
class Plan:
    """What the selected preset builds."""

    preset: str
    protocol: str  # as_run or as_written
    spec: dict
    runs: dict[str, dict[str, VisionRun | LLMRun]]  # family -> run_id -> run
    figures: dict[str, dict]  # buildable figures, `same_as` resolved
    measures: list[MeasureJob]
    finetunes: list[tuple[str, str, int]]  # (family, run_id, checkpoint epoch)
    llm_finetunes: list[tuple[str, str, int]]  # (family, run_id, checkpoint iteration)
    preflight: dict  # the pre-flight's sizes and safety factors, schema defaults filled in

    def run(self, family: str, run_id: str) -> VisionRun | LLMRun:
        return self.runs[family][run_id]

    def is_llm(self, family: str) -> bool:
        return is_llm(self.spec["families"][family])

    @cached_property
    def mimics(self) -> dict[str, tuple[str, float, float, float]]:
        """{schedule file stem: (family mimicked, lr, its lambda, the reference lambda)} of the mimic runs."""
        out = {}
        for family, runs in self.runs.items():
            for run in runs.values():
                if getattr(run, "schedule", None) == "mimic":
                    of = self.spec["families"][family]["mimic_of"]
                    out[mimic_name(run.lr, run.mimic)] = (of["family"], run.lr, run.mimic, of["reference_wd"])
        return out

    @cached_property
    def measure_jobs(self) -> dict[tuple, MeasureJob]:
        """{(family, run_id, epoch): job}"""
        return {(j.family, j.run_id, j.epoch): j for j in self.measures}


def _defaults_filling(validator_class, protocol_name: str):
    """A validator class that fills in each property's `default` (deep-copied; a default given per protocol takes
    the side of ``protocol_name``) before validating it."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = protocol.resolve(copy.deepcopy(sub["default"]), protocol_name)
        yield from validate_properties(validator, props, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties})


def key_path(path) -> str:
    """'presets.tiny.families.V1.grid[0].lr[1]' from a jsonschema error path."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def yaml_float(x: float) -> str:
    """A float as YAML reads it back as a number: 5.0e-4, 1.25e-3."""
    mantissa, exponent = f"{x:e}".split("e")
    mantissa = mantissa.rstrip("0")
    return f"{mantissa}0e{int(exponent)}" if mantissa.endswith(".") else f"{mantissa}e{int(exponent)}"


def _describe(error: jsonschema.ValidationError) -> str:
    value, where = error.instance, key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(value) - set(allowed)) if allowed else sorted(value)
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        close = [m for key in unknown for m in difflib.get_close_matches(str(key), allowed, n=1)]
        hint += f"; did you mean {' or '.join(dict.fromkeys(close))}?" if close else ""
        panel = value.get("title") if "panels" in error.absolute_path else None
        where += f" (panel {panel!r})" if isinstance(panel, str) else ""
        return f"{where}: unknown key {', '.join(map(repr, unknown))}{hint}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator == "type" and isinstance(value, str):
        try:
            return (
                f"{where}: {value!r} is a string, not a number (YAML reads a mantissa without a dot as a "
                f"string): write {yaml_float(float(value))}"
            )
        except ValueError:
            pass
    if error.validator in ("minItems", "minProperties") and not value:
        return f"{where}: must not be empty"
    if error.validator in ("oneOf", "anyOf") and error.context:
        return _describe_alternatives(error, where)
    return f"{where}: {error.message}"


def _form(schema: dict) -> str:
    """What one alternative of a oneOf accepts, in words: 'a list', 'a mapping with every, last (and optionally
    first, extra)'."""
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        required = [k for k in schema["properties"] if k in schema.get("required", [])]
        optional = [k for k in schema["properties"] if k not in required]
        keys = ", ".join(required) + (f" (and optionally {', '.join(optional)})" if optional else "")
        return f"a mapping with {keys}" if required else f"a mapping with {', '.join(optional)}"
    words = {"array": "a list", "object": "a mapping", "string": "a string", "integer": "an integer"}
    words |= {"number": "a number", "boolean": "a boolean", "null": "null"}
    if isinstance(kind, list):  # one of several types: 'a number, a string or null'
        names = [words.get(k, k) for k in kind]
        return " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]
    item = schema.get("items", {}).get("type") if kind == "array" else None
    if item in ("integer", "string", "number"):
        return f"a list of {item}s"
    if kind in words:
        return words[kind]
    if "enum" in schema:
        return f"one of {schema['enum']}"
    return schema.get("description", "another form").rstrip(".")


def _describe_alternatives(error: jsonschema.ValidationError, where: str) -> str:
    """A value that fits none of a oneOf's forms: the forms, and what is wrong for the closest one (the form whose
    type the value has, with the fewest problems), rather than jsonschema's 'is not valid under any of the given
    schemas'."""
    forms = error.schema[error.validator]
    problems: dict[int, list] = {}
    for sub in error.context:
        problems.setdefault(sub.relative_schema_path[0], []).append(sub)
    names = [_form(f) if isinstance(f, dict) else "another form" for f in forms]
    neither = f"neither {' nor '.join(names)}" if len(names) == 2 else f"none of: {'; '.join(names)}"
    same_type = {
        i: subs for i, subs in problems.items() if not any(s.validator == "type" and not s.relative_path for s in subs)
    }
    if not same_type:
        return f"{where}: {error.instance!r} is {neither}"
    closest = min(same_type, key=lambda i: len(same_type[i]))
    details = []
    for sub in same_type[closest]:
        text = _describe(sub)
        details.append(text[len(where) :].lstrip(".: ") if text.startswith(where) else text)
    others = " or ".join(name for i, name in enumerate(names) if i != closest)
    what = "neither form" if len(names) == 2 else "none of its forms"
    return (
        f"{where}: {error.instance!r} fits {what}; as {names[closest]}: {'; '.join(sorted(set(details)))}; "
        f"or give {others}"
    )


def validate_schema(config: dict, schema: dict) -> dict:
    """A validated copy of ``config`` with its protocol's side of every per-protocol setting and defaults filled
    in; raises ConfigError listing every violation."""
    chosen = config.get("protocol", "as_run")
    if chosen not in protocol.PROTOCOLS:
        raise ConfigError(f"invalid config:\n  protocol: {chosen!r} is not one of {', '.join(protocol.PROTOCOLS)}")
    config = protocol.resolve(copy.deepcopy(config), chosen)
    validator = _defaults_filling(jsonschema.Draft202012Validator, chosen)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        lines = sorted({_describe(e) for e in errors})
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    return config


def _check_preset(name: str, preset: dict) -> list[str]:
    problems, where = [], f"presets.{name}"
    datasets = preset["datasets"]
    for ds, spec in datasets.items():
        seen = [ds]
        while spec["source"] == "subset":
            parent = spec["of"]
            if parent not in datasets:
                problems.append(
                    f"{where}.datasets.{seen[-1]}.of: {parent!r} is not a dataset of preset {name} "
                    f"(known: {', '.join(sorted(datasets))})"
                )
                break
            if parent in seen:
                problems.append(f"{where}.datasets.{ds}.of: subsets form a cycle {' -> '.join(seen + [parent])}")
                break
            seen.append(parent)
            spec = datasets[parent]
    vision = {fam: spec for fam, spec in preset["families"].items() if not is_llm(spec)}
    problems += [p for fam, spec in preset["families"].items() if is_llm(spec) for p in _check_llm(name, fam, preset)]
    for fam, spec in vision.items():
        for g, group in enumerate(spec["grid"]):
            if group["dataset"] not in datasets:
                problems.append(
                    f"{where}.families.{fam}.grid[{g}].dataset: {group['dataset']!r} is not a dataset "
                    f"of preset {name} (known: {', '.join(sorted(datasets))})"
                )
    if preset["device"] == "cpu":  # fp16 autocast on a CPU runs for days (device.check_vision_precision)
        for fam, spec in vision.items():
            keys = set()
            for g, group in enumerate(spec["grid"]):
                if "fp16" in group.get("precision", spec["precision"]):
                    keys.add(f"grid[{g}].precision" if "precision" in group else "precision")
            problems += [
                f"{where}.families.{fam}.{key}: fp16 on device cpu (presets.{name}.device): fp16 autocast on a CPU "
                "takes seconds per image, a run would take days; use bf16 or fp32 on a CPU"
                for key in sorted(keys)
            ]
    for fam, spec in vision.items():
        for g, group in enumerate(spec["grid"]):
            epochs = group.get("epochs", spec["epochs"])
            owner = f"{where}.families.{fam}" + (f".grid[{g}]" if "checkpoints" in group else "")
            late = [e for e in checkpoint_epochs(group.get("checkpoints", spec["checkpoints"])) if e > epochs]
            if late:
                problems.append(f"{owner}.checkpoints: epoch {late[0]} is after the last epoch ({epochs}) of grid[{g}]")
    for key, value in preset["measurement"]["data"].items():
        for dataset in (key, value):
            if dataset not in datasets:
                problems.append(
                    f"{where}.measurement.data.{key}: {dataset!r} is not a dataset of preset {name} "
                    f"(known: {', '.join(sorted(datasets))})"
                )
    return problems


def _check_llm(name: str, fam: str, preset: dict) -> list[str]:
    """References of a language-model family: its corpus, checkpoints within the run, micro-batches, the family
    a mimic schedule follows (a cosine or constant family of this preset with runs at the mimicked lambdas and the
    reference lambda, at the same learning rate)."""
    problems, where, spec = [], f"presets.{name}.families.{fam}", preset["families"][fam]
    corpora = preset.get("corpora", {})
    if spec["dataset"] not in corpora:
        known = ", ".join(sorted(corpora)) or "none"
        problems.append(f"{where}.dataset: {spec['dataset']!r} is not a corpus of preset {name} (corpora: {known})")
    late = [s for s in checkpoint_epochs(spec["checkpoints"]) if s > spec["max_iters"]]
    if late:
        problems.append(f"{where}.checkpoints: iteration {late[0]} is after max_iters ({spec['max_iters']})")
    for key, model in [("model", spec["model"])] + [
        (f"grid[{g}].model", x["model"]) for g, x in enumerate(spec["grid"]) if "model" in x
    ]:
        if model not in GPT_MODELS:
            problems.append(f"{where}.{key}: {model!r} is not a GPT size (known: {', '.join(GPT_MODELS)})")
    micro = spec.get("micro_batch", spec["batch_size"])
    if spec["batch_size"] % micro:
        problems.append(f"{where}.micro_batch: {micro} does not divide batch_size {spec['batch_size']}")
    if spec["schedule"] == "mimic":
        of = spec.get("mimic_of")
        source = preset["families"].get(of["family"]) if of else None
        if of is None:
            problems.append(f"{where}.mimic_of: a mimic schedule needs the family it mimics")
        elif source is None or not is_llm(source) or source["schedule"] == "mimic":
            kind = f"a cosine or constant LLM family of {name}"
            problems.append(f"{where}.mimic_of.family: {of['family']!r} is not {kind}")
        else:
            for g, group in enumerate(spec["grid"]):
                for lr in group["lr"]:
                    have = {(float(r), float(w)) for sg in source["grid"] for r in sg["lr"] for w in sg["wd"]}
                    for wd in [*group.get("mimic", []), of["reference_wd"]]:
                        if (float(lr), float(wd)) not in have:
                            problems.append(
                                f"{where}.grid[{g}]: {of['family']} has no run with lr {lr} and wd {wd} to mimic"
                            )
    return problems


def _epochs_text(epochs) -> str:
    """'0, 5, 10' or, for many, '1, 3, 5, ..., 95, 97, 99' (52 epochs)."""
    epochs = sorted(epochs)
    if len(epochs) <= 12:
        return ", ".join(map(str, epochs))
    return f"{', '.join(map(str, epochs[:3]))}, ..., {', '.join(map(str, epochs[-3:]))} ({len(epochs)} epochs)"


def _check_measure_epochs(name: str, preset: dict, table: dict) -> list[str]:
    """Each epoch a measurement entry asks for is a checkpoint of some run it selects (else it would be dropped
    without a word); an ensemble entry takes its epochs from `snapshots`, not `epochs`."""
    problems = []
    for fam, runs in table.items():
        spec = preset["families"][fam]
        for i, entry in enumerate([] if is_llm(spec) else spec["measure"]):
            where = f"presets.{name}.families.{fam}.measure[{i}].epochs"
            if "epochs" not in entry:
                continue
            if entry["measure"] == "ensemble":
                problems.append(f"{where}: an ensemble is measured at its last snapshot; drop epochs, set snapshots")
                continue
            kept = {e for run in runs.values() if _matches(run, entry) for e in run.checkpoints}
            missing = sorted(set(checkpoint_epochs(entry["epochs"])) - kept)
            if missing and kept:
                epochs = "epoch" if len(missing) == 1 else "epochs"
                problems.append(
                    f"{where}: {epochs} {_epochs_text(missing)} of {entry['measure']} "
                    f"{'is' if len(missing) == 1 else 'are'} no checkpoint of the runs it selects (their checkpoints: "
                    f"{_epochs_text(kept)}); measure at those, or add the {epochs} to the checkpoints of {fam}"
                )
    return problems


def _identity(run) -> dict:
    return {k: v for k, v in run.params().items() if k not in ("preset", "device")}


def _check_collisions(tables: dict[str, dict]) -> list[str]:
    """Two presets may share a run (same folder) only if it means the same settings."""
    problems, owner = [], {}
    for preset, table in tables.items():
        for fam, runs in table.items():
            for rid, run in runs.items():
                key = (fam, rid)
                if key in owner and _identity(owner[key]) != _identity(run):
                    other = owner[key].preset
                    problems.append(
                        f"presets.{preset}.families.{fam}: run {rid} also exists in preset {other} "
                        f"with other settings; set presets.{preset}.run_tag to keep them apart"
                    )
                owner.setdefault(key, run)
    return problems


def _check_figures(figures: dict, families: set[str]) -> list[str]:
    problems = []
    for name, fig in figures.items():
        where = f"figures.{name}"
        if "same_as" in fig:
            extra = sorted(set(fig) - {"same_as"})
            target = figures.get(fig["same_as"])
            if extra:
                problems.append(f"{where}: same_as cannot be combined with {', '.join(extra)}")
            elif target is None or "same_as" in target:
                problems.append(f"{where}.same_as: {fig['same_as']!r} is not a figure with its own definition")
            continue
        needed = {
            "seed_curves": ("family", "metric", "ylabel"),
            "panels": ("family", "panels"),
            "runs": ("family", "panels"),
            "llm_curves": ("family", "panels"),
            "llm_final": ("family", "panels"),
        }
        missing = [k for k in ("plot", *needed.get(fig.get("plot"), ())) if k not in fig]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)} (or give same_as)")
            continue
        for family in figure_families(fig):
            if family not in families:
                problems.append(f"{where}.family: {family!r} is not a family of any preset")
    return problems


def _check_panel_columns(figures: dict, measures: list[str]) -> list[str]:
    """Each panel key that names a column (y, x, hue, style) names one that its table or plot kind has."""
    problems = []
    for name, fig in figures.items():
        for i, panel in enumerate(fig.get("panels", []) if "same_as" not in fig else []):
            for key, problem in columns.check_panel(fig.get("plot"), panel, measures):
                problems.append(f"figures.{name}.panels[{i}].{key} (panel {panel.get('title')!r}): {problem}")
    return problems


def resolve_emas(spec: dict, families: dict) -> dict:
    """The figure spec with each panel's ema[i] replaced by the name of the i-th EMA of its family."""
    spec = copy.deepcopy(spec)
    for panel in spec.get("panels", []):
        family = panel.get("family", spec["families"][0])
        coefs = families[family]["ema"]
        names = []
        for weights in panel.get("weights", ["iterate"]):
            if weights.startswith("ema["):
                i = int(weights[4:-1])
                if i >= len(coefs):
                    raise ConfigError(f"panel {panel['title']!r} draws {weights}, but {family} has ema {coefs}")
                weights = ema_name(coefs[i])
            names.append(weights)
        panel["weights"] = names
    return spec


def figure_families(fig: dict) -> list[str]:
    """The families a figure is drawn from (none for drawings made by code alone)."""
    family = fig.get("family", [])
    return [family] if isinstance(family, str) else list(family)


FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path) -> dict:
    """The YAML file ``path`` as data; a syntax error raises ConfigError naming the file, line and column (the
    workflow checks config.yaml with it before Snakemake reads it, whose own message names neither)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return yaml.load(text, Loader=FAST_LOADER)  # libyaml's parser: 5x faster on config.yaml
    except yaml.MarkedYAMLError:
        pass
    try:  # the pure-Python parser names the problem more precisely (a tab, not just "a character")
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        raise ConfigError(_yaml_problem(path, text, error)) from None


def _yaml_problem(path, text: str, error: yaml.MarkedYAMLError) -> str:
    """'config.yaml:259:7: YAML syntax error: <problem> (<context> at line 258, column 8)', the line, what to do."""
    mark = error.problem_mark or error.context_mark
    problem = error.problem or error.context
    if error.problem and error.context_mark:
        problem += f" ({error.context} at line {error.context_mark.line + 1}, column {error.context_mark.column + 1})"
    if "'\\t'" in problem:
        problem += "; indent with spaces, not tabs"
    lines, marks = text.splitlines(), {mark.line} | ({error.context_mark.line} if error.context_mark else set())
    shown = "".join(f"\n  {n + 1} | {lines[n]}" for n in sorted(marks) if n < len(lines))
    return (
        f"{path}:{mark.line + 1}:{mark.column + 1}: YAML syntax error: {problem}{shown}\n"
        "Fix the file there (the config was not read) and rerun."
    )


def make_plan(config: dict, schema: dict) -> Plan:
    """Validate ``config`` (a dict as Snakemake loaded it) and plan its selected preset."""
    raw, config = config, validate_schema(config, schema)
    presets = config["presets"]
    as_run = None  # the presets under the as-run protocol, against which run ids name what differs
    if config["protocol"] != "as_run":
        as_run = validate_schema(raw | {"protocol": "as_run"}, schema)["presets"]
    problems = [p for name, preset in presets.items() for p in _check_preset(name, preset)]
    tables, measures = {}, {}
    for name, preset in presets.items():
        try:
            tables[name] = run_table(name, preset, as_run and as_run.get(name))
            if epochs := _check_measure_epochs(name, preset, tables[name]):
                problems += epochs
                continue
            measures[name] = [
                job
                for fam, runs in tables[name].items()
                for job in measure_jobs(fam, preset["families"][fam], list(runs.values()))
            ]
        except SweepError as e:
            problems.append(f"presets.{name}.{e}")
    problems += _check_collisions(tables)
    problems += _check_figures(config["figures"], {f for p in presets.values() for f in p["families"]})
    problems += _check_panel_columns(config["figures"], schema["$defs"]["panel"]["properties"]["measure"]["enum"])
    if config["preset"] not in presets:
        problems.append(f"preset: {config['preset']!r} is not a preset (known: {', '.join(presets)})")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))

    name = config["preset"]
    figures = {}
    for fig_name, fig in config["figures"].items():
        spec = {**FIGURE_DEFAULTS, **config["figures"][fig.get("same_as", fig_name)]}
        spec["families"] = figure_families(spec)
        if all(family in tables[name] for family in spec["families"]):
            if spec["plot"].startswith("llm_"):
                figures[fig_name] = spec
                continue
            try:
                figures[fig_name] = resolve_emas(spec, presets[name]["families"])
            except ConfigError as e:
                raise ConfigError(f"invalid config:\n  figures.{fig_name}: {e}") from None
    return Plan(
        preset=name,
        protocol=config["protocol"],
        spec=presets[name],
        runs=tables[name],
        figures=figures,
        measures=measures[name],
        finetunes=finetune_jobs(measures[name]),
        llm_finetunes=[
            job
            for fam, runs in tables[name].items()
            for job in llm_finetune_jobs(fam, presets[name]["families"][fam], list(runs.values()))
        ],
        preflight=config["preflight"],
    )
