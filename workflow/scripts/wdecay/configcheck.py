"""Validate the workflow config before any job is planned, and turn it into a plan.

The JSON schema (workflow/schemas/config.schema.yaml) checks types and ranges and fills in defaults; the checks
here cover what a schema cannot (references between keys, run-id collisions). Every error names the key path and
the bad value. Pure Python (no torch): the Snakemake process imports this module.
"""

import copy
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

from .sweep import SweepError, VisionRun, run_table

FIGURE_DEFAULTS = {"weights": "iterate", "logy": False}


class ConfigError(ValueError):
    """The config is malformed; the message lists every problem found, one per line."""


@dataclass
class Plan:
    """What the selected preset builds."""

    preset: str
    spec: dict
    runs: dict[str, dict[str, VisionRun]]  # family -> run_id -> run
    figures: dict[str, dict]  # buildable figures, `same_as` resolved

    def run(self, family: str, run_id: str) -> VisionRun:
        return self.runs[family][run_id]


def _defaults_filling(validator_class):
    """A validator class that fills in each property's `default` (deep-copied) before validating it."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
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
    return f"{where}: {error.message}"


def validate_schema(config: dict, schema: dict) -> dict:
    """A validated copy of ``config`` with defaults filled in; raises ConfigError listing every violation."""
    config = copy.deepcopy(config)
    validator = _defaults_filling(jsonschema.Draft202012Validator)(schema)
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
    for fam, spec in preset["families"].items():
        for g, group in enumerate(spec["grid"]):
            if group["dataset"] not in datasets:
                problems.append(
                    f"{where}.families.{fam}.grid[{g}].dataset: {group['dataset']!r} is not a dataset "
                    f"of preset {name} (known: {', '.join(sorted(datasets))})"
                )
        for i, epoch in enumerate(spec["checkpoints"]):
            if epoch > spec["epochs"]:
                problems.append(
                    f"{where}.families.{fam}.checkpoints[{i}]: epoch {epoch} is after the last epoch ({spec['epochs']})"
                )
    return problems


def _identity(run: VisionRun) -> dict:
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
        missing = [k for k in ("plot", "family", "metric", "ylabel") if k not in fig]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)} (or give same_as)")
        elif fig["family"] not in families:
            problems.append(f"{where}.family: {fig['family']!r} is not a family of any preset")
    return problems


def load_yaml(path) -> dict:
    return yaml.safe_load(Path(path).read_text())


def make_plan(config: dict, schema: dict) -> Plan:
    """Validate ``config`` (a dict as Snakemake loaded it) and plan its selected preset."""
    config = validate_schema(config, schema)
    presets = config["presets"]
    problems = [p for name, preset in presets.items() for p in _check_preset(name, preset)]
    tables = {}
    for name, preset in presets.items():
        try:
            tables[name] = run_table(name, preset)
        except SweepError as e:
            problems.append(f"presets.{name}.{e}")
    problems += _check_collisions(tables)
    problems += _check_figures(config["figures"], {f for p in presets.values() for f in p["families"]})
    if config["preset"] not in presets:
        problems.append(f"preset: {config['preset']!r} is not a preset (known: {', '.join(presets)})")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))

    name = config["preset"]
    figures = {}
    for fig_name, fig in config["figures"].items():
        spec = {**FIGURE_DEFAULTS, **config["figures"][fig.get("same_as", fig_name)]}
        if spec["family"] in tables[name]:
            figures[fig_name] = spec
    return Plan(preset=name, spec=presets[name], runs=tables[name], figures=figures)
